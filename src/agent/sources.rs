//! The secrets the agent keeps, one [`Source`] each, and when each needs
//! attention:
//!
//! - **KV v2**: one metadata read per interval (and on `SIGHUP`) compares
//!   the current version with the one rendered; only a new version is read
//!   and rendered.
//! - **dynamic**: read once, then renewed at about two thirds of the lease
//!   (less jitter, [`LeasePolicy::wait_for`]) through the same
//!   [`LeaseBackend`] calls as `vaultid env --dynamic`; when Vault grants
//!   less than asked (the max TTL is near) or the lease cannot be renewed,
//!   new credentials are read at two thirds of what is left. The replaced
//!   lease is remembered until it runs out and revoked on exit.
//! - **PKI**: `{mount}/issue/{role}`, re-issued at about two thirds of the
//!   certificate's validity.
//! - **Hydra token**: the agent's `client_credentials` token, fetched again
//!   at [`AccessToken::refresh_at`](crate::hydra::AccessToken::refresh_at).
//!
//! A failed step keeps everything as it was (files included) and is tried
//! again after an exponential backoff with jitter, capped.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::config::{FileConfig, NotifyConfig, PkiConfig, SourceConfig};
use crate::error::{Error, Result, Service};
use crate::hydra::TokenClient;
use crate::secrets::lease::{DynamicSecret, LeaseBackend, LeasePolicy};
use crate::vault::Client;

/// What a source is.
pub(crate) enum Kind {
    /// A KV v2 secret.
    Kv {
        /// Mount.
        mount: String,
        /// Path in the mount.
        path: String,
        /// Re-read interval.
        interval: Duration,
        /// The version rendered last (0: none yet).
        version: u64,
    },
    /// A dynamic secret.
    Dynamic {
        /// Path (`database/creds/app`).
        path: String,
        /// The current credentials.
        current: Option<DynamicSecret>,
        /// What renewals ask for.
        asked: Duration,
        /// Renewal stopped extending the lease: re-issue next.
        capped: bool,
        /// Replaced leases still alive: (lease id, expiry).
        retired: Vec<(String, Instant)>,
    },
    /// A PKI certificate.
    Pki {
        /// The request.
        config: PkiConfig,
        /// The common name asked for.
        common_name: String,
        /// The current certificate's serial number.
        serial: Option<String>,
        /// When it expires (Unix seconds).
        expiration: Option<u64>,
    },
    /// The Hydra access token.
    Hydra {
        /// The token client (made on first use).
        client: Option<Box<TokenClient>>,
        /// Scopes to ask for.
        scopes: Vec<String>,
    },
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Kind {
    /// `kv`, `dynamic`, `pki` or `hydra_token`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Kind::Kv { .. } => "kv",
            Kind::Dynamic { .. } => "dynamic",
            Kind::Pki { .. } => "pki",
            Kind::Hydra { .. } => "hydra_token",
        }
    }
}

/// A rendered file's state.
#[derive(Debug)]
pub(crate) struct FileState {
    /// Its configuration.
    pub config: FileConfig,
    /// The digest of what was last written (or found in place).
    pub last: Option<[u8; 32]>,
}

/// One source and its files.
#[derive(Debug)]
pub(crate) struct Source {
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Where it goes.
    pub files: Vec<FileState>,
    /// What to do when its files change.
    pub notify: Option<NotifyConfig>,
    /// When it is due.
    pub next: Instant,
    /// Failures in a row.
    pub failures: u32,
    /// Whether every file has been rendered at least once.
    pub rendered: bool,
    /// What it did last (`rendered`, `unchanged`, `renewed`, ...).
    pub last_action: String,
    /// When (Unix seconds).
    pub last_action_at: u64,
    /// The last error, cleared by the next success.
    pub last_error: Option<String>,
    /// When the current secret needs renewing or re-issuing, when known
    /// (Unix seconds).
    pub next_renewal: Option<u64>,
    /// When the current secret stops working, when known (Unix seconds).
    pub expires_at: Option<u64>,
}

/// What a step produced.
pub(crate) enum Outcome {
    /// New fields to render, with the action that produced them.
    Data(&'static str, Map<String, Value>),
    /// Nothing to render (`unchanged`, `renewed`, ...).
    Nothing(&'static str),
}

/// The seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unix_in(d: Duration) -> u64 {
    unix_now().saturating_add(d.as_secs())
}

impl Source {
    /// A source from its configuration. `default_mount` and `kv_interval`
    /// fill in what it leaves out; `agent_name` is the PKI common name
    /// default.
    pub(crate) fn new(
        c: &SourceConfig,
        default_mount: &str,
        kv_interval: Duration,
        agent_name: Option<&str>,
    ) -> Result<Source> {
        let kind = if let Some(spec) = &c.kv {
            let (mount, path) = match &c.mount {
                Some(m) => (
                    m.trim_matches('/').to_string(),
                    spec.trim_matches('/').to_string(),
                ),
                None => {
                    let s = crate::secrets::SecretSpec {
                        path: spec.clone(),
                        fields: Vec::new(),
                    };
                    s.kv_location(default_mount)
                }
            };
            Kind::Kv {
                mount,
                path,
                interval: super::config::duration_of(c.interval.as_deref()).unwrap_or(kv_interval),
                version: 0,
            }
        } else if let Some(p) = &c.dynamic {
            Kind::Dynamic {
                path: p.trim_matches('/').to_string(),
                current: None,
                asked: Duration::ZERO,
                capped: false,
                retired: Vec::new(),
            }
        } else if let Some(p) = &c.pki {
            let common_name = match (&p.common_name, agent_name) {
                (Some(cn), _) => cn.clone(),
                (None, Some(n)) => n.to_string(),
                (None, None) => {
                    return Err(Error::Config(format!(
                        "source {:?}: pki.common_name is not set and the agent's identity is not \
                         configured (set VAULTID_AUTHOR and VAULTID_AGENT_NAME, or common_name)",
                        c.name
                    )))
                }
            };
            Kind::Pki {
                config: p.clone(),
                common_name,
                serial: None,
                expiration: None,
            }
        } else {
            Kind::Hydra {
                client: None,
                scopes: c
                    .hydra_token
                    .as_ref()
                    .map(|h| h.scopes.clone())
                    .unwrap_or_default(),
            }
        };
        Ok(Source {
            name: c.name.clone(),
            kind,
            files: c
                .files
                .iter()
                .map(|f| FileState {
                    config: f.clone(),
                    last: None,
                })
                .collect(),
            notify: c.notify.clone(),
            next: Instant::now(),
            failures: 0,
            rendered: false,
            last_action: "starting".into(),
            last_action_at: unix_now(),
            last_error: None,
            next_renewal: None,
            expires_at: None,
        })
    }

    /// Make a KV source (or one that is failing) due now: `SIGHUP`.
    pub(crate) fn reread_now(&mut self) {
        if matches!(self.kind, Kind::Kv { .. }) || self.failures > 0 {
            self.next = Instant::now();
        }
    }

    /// Do what is due. `hydra` makes the token client on first use.
    pub(crate) fn step(
        &mut self,
        client: &Client,
        policy: &LeasePolicy,
        hydra: &dyn Fn() -> Result<TokenClient>,
    ) -> Result<Outcome> {
        let now = Instant::now();
        match &mut self.kind {
            Kind::Kv {
                mount,
                path,
                interval,
                version,
            } => {
                let kv = client.kv2(mount);
                let meta = kv.read_metadata(path)?.ok_or_else(|| Error::NotFound {
                    service: Service::Vault,
                    method: "GET",
                    path: format!("{mount}/metadata/{path}"),
                })?;
                self.next = now + *interval;
                if meta.current_version == *version && self.rendered {
                    return Ok(Outcome::Nothing("unchanged"));
                }
                let secret =
                    kv.read(path, Some(meta.current_version))?
                        .ok_or_else(|| Error::NotFound {
                            service: Service::Vault,
                            method: "GET",
                            path: format!("{mount}/data/{path}"),
                        })?;
                *version = secret.metadata.version;
                Ok(Outcome::Data("read", secret.data.clone()))
            }
            Kind::Dynamic {
                path,
                current,
                asked,
                capped,
                retired,
            } => {
                retired.retain(|(_, exp)| *exp > now);
                let renewable = current
                    .as_ref()
                    .filter(|c| c.renewable && !*capped && c.expires_at() > now)
                    .map(|c| (c.lease_id.clone(), *asked));
                if let Some((lease_id, wanted)) = renewable {
                    match client.renew(&lease_id, wanted) {
                        Ok(granted) => {
                            if let Some(c) = current.as_mut() {
                                c.obtained_at = Instant::now();
                                c.lease_duration = granted;
                            }
                            self.expires_at = Some(unix_in(granted));
                            let wait = policy.wait_for(granted);
                            self.next = Instant::now() + wait;
                            self.next_renewal = Some(unix_in(wait));
                            if granted < wanted {
                                *capped = true;
                                return Ok(Outcome::Nothing("renewed_capped"));
                            }
                            return Ok(Outcome::Nothing("renewed"));
                        }
                        Err(e) if e.is_unavailable() => return Err(e),
                        // The lease is gone (revoked, expired during an
                        // outage) or cannot be renewed: new credentials.
                        Err(e) => log::info!("{path}: renewing lease {lease_id} failed ({e}); reading new credentials"),
                    }
                }
                let fresh = client.fetch(path)?;
                if let Some(old) = current.take() {
                    if old.expires_at() > Instant::now() {
                        retired.push((old.lease_id.clone(), old.expires_at()));
                    }
                }
                *asked = fresh.lease_duration;
                *capped = !fresh.renewable;
                let wait = policy.wait_for(fresh.lease_duration);
                self.next = Instant::now() + wait;
                self.next_renewal = Some(unix_in(wait));
                self.expires_at = Some(unix_in(fresh.lease_duration));
                let data = fresh.data.clone();
                let first = !self.rendered;
                *current = Some(fresh);
                Ok(Outcome::Data(
                    if first { "issued" } else { "reissued" },
                    data,
                ))
            }
            Kind::Pki {
                config,
                common_name,
                serial,
                expiration,
            } => {
                let mount = config.mount.as_deref().unwrap_or("pki").trim_matches('/');
                let path = format!("{mount}/issue/{}", config.role);
                let mut body = json!({ "common_name": common_name });
                if !config.alt_names.is_empty() {
                    body["alt_names"] = json!(config.alt_names.join(","));
                }
                if !config.ip_sans.is_empty() {
                    body["ip_sans"] = json!(config.ip_sans.join(","));
                }
                if let Some(t) = super::config::duration_of(config.ttl.as_deref()) {
                    body["ttl"] = json!(format!("{}s", t.as_secs().max(1)));
                }
                let answer = client.write(&path, &body)?;
                let data = answer
                    .as_ref()
                    .and_then(|a| a.get("data"))
                    .and_then(Value::as_object)
                    .filter(|d| d.get("certificate").is_some_and(Value::is_string))
                    .cloned()
                    .ok_or_else(|| Error::Protocol {
                        service: Service::Vault,
                        detail: format!("POST {path}: the answer has no certificate"),
                    })?;
                let exp = data.get("expiration").and_then(Value::as_u64).unwrap_or(0);
                let left = Duration::from_secs(exp.saturating_sub(unix_now()));
                // Two thirds of the validity left, less 0-10 % jitter; at
                // least one second.
                let wait = (left / 3 * 2)
                    .mul_f64(1.0 - 0.1 * jitter())
                    .max(Duration::from_secs(1));
                self.next = Instant::now() + wait;
                self.next_renewal = Some(unix_in(wait));
                self.expires_at = Some(exp);
                *expiration = Some(exp);
                *serial = data
                    .get("serial_number")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Ok(Outcome::Data(
                    if self.rendered { "reissued" } else { "issued" },
                    data,
                ))
            }
            Kind::Hydra { client: tc, scopes } => {
                if tc.is_none() {
                    let mut c = hydra()?;
                    if !scopes.is_empty() {
                        c = c.with_scopes(scopes.clone());
                    }
                    *tc = Some(Box::new(c));
                }
                let Some(tc) = tc.as_ref() else {
                    return Err(Error::Config("no Hydra token client".into()));
                };
                let t = tc.fetch_token()?;
                let refresh = t
                    .refresh_at()
                    .map(|r| r.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(300))
                    .max(Duration::from_secs(1));
                self.next = Instant::now() + refresh;
                self.next_renewal = Some(unix_in(refresh));
                self.expires_at = t.expires_in.map(|e| unix_now().saturating_add(e));
                let mut data = Map::new();
                data.insert(
                    "access_token".into(),
                    Value::String(t.access_token.expose().to_string()),
                );
                data.insert("token_type".into(), Value::String(t.token_type.clone()));
                data.insert("scope".into(), Value::String(t.scope.clone()));
                Ok(Outcome::Data(
                    if self.rendered { "refreshed" } else { "issued" },
                    data,
                ))
            }
        }
    }

    /// A failed step: try again after a backoff (1 s doubling to `cap`, less
    /// up to 20 % jitter).
    pub(crate) fn failed(&mut self, e: &Error, cap: Duration) {
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(self.failures, cap);
        self.next = Instant::now() + wait;
        self.last_error = Some(e.to_string());
        self.last_action = "failed".into();
        self.last_action_at = unix_now();
    }

    /// The leases to revoke on exit: the current one and replaced ones
    /// still alive.
    pub(crate) fn leases(&self) -> Vec<String> {
        match &self.kind {
            Kind::Dynamic {
                current, retired, ..
            } => current
                .iter()
                .map(|c| c.lease_id.clone())
                .chain(retired.iter().map(|(l, _)| l.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A description for the status file (no secret values).
    pub(crate) fn detail(&self) -> Value {
        match &self.kind {
            Kind::Kv {
                mount,
                path,
                version,
                interval,
            } => {
                json!({"mount": mount, "path": path, "version": version, "interval_s": interval.as_secs()})
            }
            Kind::Dynamic { path, current, .. } => json!({
                "path": path,
                "lease_id": current.as_ref().map(|c| c.lease_id.clone()),
            }),
            Kind::Pki {
                common_name,
                serial,
                expiration,
                ..
            } => {
                json!({"common_name": common_name, "serial_number": serial, "expiration": expiration})
            }
            Kind::Hydra { .. } => json!({}),
        }
    }
}

/// A random number in `[0, 1)` (jitter only).
pub(crate) fn jitter() -> f64 {
    crate::util::random::jitter()
}

/// The wait after `failures` failures in a row: 1 s doubling, capped, less
/// up to 20 % jitter.
pub(crate) fn backoff(failures: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(cap);
    base.mul_f64(1.0 - 0.2 * jitter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let cap = Duration::from_secs(30);
        assert!(backoff(1, cap) <= Duration::from_secs(1));
        assert!(backoff(1, cap) >= Duration::from_millis(800));
        assert!(backoff(3, cap) <= Duration::from_secs(4));
        assert!(backoff(3, cap) >= Duration::from_millis(3200));
        assert!(backoff(50, cap) <= cap && backoff(50, cap) >= Duration::from_secs(24));
    }
}
