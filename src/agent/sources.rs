//! The secrets the agent keeps, one [`SourceState`] each, and when each needs
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
//! again after an exponential backoff with jitter, capped. A step's new
//! content ([`Fresh`]) changes the source's state (KV version, lease,
//! certificate serial, renewal times) only once every file holds it
//! ([`SourceState::apply`]); a write that failed (a full disk) is a failed step
//! whose content is written by the retry, without another request.

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

/// One source and its files, as the running agent keeps them (its
/// configuration is a [`SourceConfig`](super::config::SourceConfig)).
#[derive(Debug)]
pub(crate) struct SourceState {
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
    /// What kind of error it was (`unavailable`, `denied`, `failed`:
    /// [`super::status::error_kind`]).
    pub last_error_kind: Option<&'static str>,
    /// When the current secret needs renewing or re-issuing, when known
    /// (Unix seconds).
    pub next_renewal: Option<u64>,
    /// When the current secret stops working, when known (Unix seconds).
    pub expires_at: Option<u64>,
    /// Content read but not yet on disk (its write failed): the next try
    /// writes it without asking Vault again.
    pub pending: Option<Fresh>,
}

/// What a step produced.
pub(crate) enum StepOutput {
    /// New content to write ([`SourceState::apply`]).
    Data(Fresh),
    /// Nothing to render (`unchanged`, `renewed`, ...).
    Nothing(&'static str),
}

/// A secret's fields, zeroed when dropped.
pub(crate) struct Fields(pub Map<String, Value>);

impl Drop for Fields {
    fn drop(&mut self) {
        self.0
            .values_mut()
            .for_each(crate::secret_string::zeroize_json);
    }
}

/// New content for a source's files and the state that comes with it
/// (version, lease, serial, times), applied to the source only once every
/// file holds the content ([`SourceState::apply`]): what the source reports is
/// always what is on disk.
pub(crate) struct Fresh {
    /// The action that produced it (`read`, `issued`, ...).
    pub action: &'static str,
    /// The fields to render.
    pub data: Fields,
    state: FreshState,
    /// When the source is due once this is written.
    next: Instant,
    next_renewal: Option<u64>,
    expires_at: Option<u64>,
}

impl std::fmt::Debug for Fresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fresh")
            .field("action", &self.action)
            .field("keys", &self.data.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Fresh {
    /// Whether it stopped being worth writing while it waited (its lease,
    /// certificate or token ran out).
    fn ran_out(&self) -> bool {
        self.expires_at.is_some_and(|e| e <= unix_now())
    }
}

/// What a [`Fresh`] brings to each kind of source.
enum FreshState {
    Kv {
        version: u64,
    },
    Dynamic(DynamicSecret),
    Pki {
        serial: Option<String>,
        expiration: u64,
    },
    Hydra,
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

impl SourceState {
    /// A source from its configuration. `default_mount` and `kv_interval`
    /// fill in what it leaves out; `agent_name` is the PKI common name
    /// default.
    pub(crate) fn new(
        c: &SourceConfig,
        default_mount: &str,
        kv_interval: Duration,
        agent_name: Option<&str>,
    ) -> Result<SourceState> {
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
        Ok(SourceState {
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
            last_error_kind: None,
            next_renewal: None,
            expires_at: None,
            pending: None,
        })
    }

    /// Make a KV source (or one that is failing) due now: `SIGHUP`.
    pub(crate) fn reread_now(&mut self) {
        if matches!(self.kind, Kind::Kv { .. }) || self.failures > 0 {
            self.next = Instant::now();
        }
    }

    /// Do what is due. `hydra` makes the token client on first use.
    ///
    /// State that describes the files (KV version, current lease,
    /// certificate serial, renewal and expiry times) changes here only for
    /// what needs no file written (an unchanged version, a renewal); new
    /// content comes back as a [`Fresh`] for [`SourceState::apply`]. Content
    /// whose write failed is handed out again, without a request, until it
    /// is written (or runs out).
    pub(crate) fn step(
        &mut self,
        client: &Client,
        policy: &LeasePolicy,
        hydra: &dyn Fn() -> Result<TokenClient>,
    ) -> Result<StepOutput> {
        if let Some(p) = self.pending.take() {
            if !p.ran_out() {
                return Ok(StepOutput::Data(p));
            }
            self.discard(p);
        }
        let SourceState {
            kind,
            next,
            rendered,
            next_renewal,
            expires_at,
            ..
        } = self;
        let mut due = Due {
            now: Instant::now(),
            next,
            rendered: *rendered,
            next_renewal,
            expires_at,
        };
        match kind {
            Kind::Kv {
                mount,
                path,
                interval,
                version,
            } => kv_step(client, mount, path, *interval, *version, &mut due),
            Kind::Dynamic {
                path,
                current,
                asked,
                capped,
                retired,
            } => {
                retired.retain(|(_, exp)| *exp > due.now);
                dynamic_step(client, policy, path, current, *asked, capped, &mut due)
            }
            Kind::Pki {
                config,
                common_name,
                ..
            } => pki_step(client, config, common_name, &due),
            Kind::Hydra { client: tc, scopes } => hydra_step(tc, scopes, hydra, &due),
        }
    }

    /// Render `fresh` into every file of the source and write the ones
    /// that change ([`super::render::write_source`]); once all are written,
    /// take on its state (version, lease, serial, times). Returns the paths
    /// written. A rendering that fails (a missing field, a bad name) drops
    /// it: the next try asks Vault again. A write that fails keeps it for
    /// the next try ([`SourceState::step`] hands it out again): the source keeps
    /// describing what the files hold.
    pub(crate) fn apply(&mut self, fresh: Fresh) -> Result<Vec<String>> {
        let rendered = match super::render::render_source(&self.name, &self.files, &fresh.data.0) {
            Ok(r) => r,
            Err(e) => {
                self.discard(fresh);
                return Err(e);
            }
        };
        match super::render::write_source(&mut self.files, rendered) {
            Ok(written) => {
                self.commit(fresh);
                Ok(written)
            }
            Err(e) => {
                self.pending = Some(fresh);
                Err(e)
            }
        }
    }

    /// Take on the state of content now on disk.
    fn commit(&mut self, fresh: Fresh) {
        let Fresh {
            state,
            next,
            next_renewal,
            expires_at,
            ..
        } = fresh;
        self.next = next;
        self.next_renewal = next_renewal;
        self.expires_at = expires_at;
        match (&mut self.kind, state) {
            (Kind::Kv { version, .. }, FreshState::Kv { version: v }) => *version = v,
            (
                Kind::Dynamic {
                    current,
                    asked,
                    capped,
                    retired,
                    ..
                },
                FreshState::Dynamic(new),
            ) => {
                if let Some(old) = current.take() {
                    if old.expires_at() > Instant::now() {
                        retired.push((old.lease_id.clone(), old.expires_at()));
                    }
                }
                *asked = new.lease_duration;
                *capped = !new.renewable;
                *current = Some(new);
            }
            (
                Kind::Pki {
                    serial, expiration, ..
                },
                FreshState::Pki {
                    serial: s,
                    expiration: e,
                },
            ) => {
                *serial = s;
                *expiration = Some(e);
            }
            _ => {}
        }
    }

    /// Drop content that will not be written: a lease it holds is kept
    /// for revocation on exit, as a replaced one is.
    fn discard(&mut self, fresh: Fresh) {
        if let (Kind::Dynamic { retired, .. }, FreshState::Dynamic(d)) =
            (&mut self.kind, &fresh.state)
        {
            if d.expires_at() > Instant::now() {
                retired.push((d.lease_id.clone(), d.expires_at()));
            }
        }
    }

    /// A failed step: try again after a backoff (1 s doubling to `cap`, less
    /// up to 20 % jitter).
    pub(crate) fn failed(&mut self, e: &Error, cap: Duration) {
        self.failures = self.failures.saturating_add(1);
        let wait = crate::util::backoff(self.failures, cap);
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
                .chain(self.pending.iter().filter_map(|p| match &p.state {
                    FreshState::Dynamic(d) => Some(d.lease_id.clone()),
                    _ => None,
                }))
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

/// What a step reads and sets of its source besides the kind's own state.
struct Due<'a> {
    /// When the step began.
    now: Instant,
    /// When the source is next due.
    next: &'a mut Instant,
    /// Whether its files were rendered before (an issue is then a re-issue).
    rendered: bool,
    /// When the secret needs renewing (Unix seconds), set by a renewal.
    next_renewal: &'a mut Option<u64>,
    /// When it stops working (Unix seconds), set by a renewal.
    expires_at: &'a mut Option<u64>,
}

/// A KV v2 source's step: one metadata read; the secret only when its
/// version changed (or nothing was rendered yet).
fn kv_step(
    client: &Client,
    mount: &str,
    path: &str,
    interval: Duration,
    version: u64,
    due: &mut Due<'_>,
) -> Result<StepOutput> {
    let kv = client.kv2(mount);
    let meta = kv.read_metadata(path)?.ok_or_else(|| Error::NotFound {
        service: Service::Vault,
        method: "GET",
        path: format!("{mount}/metadata/{path}"),
    })?;
    *due.next = due.now + interval;
    if meta.current_version == version && due.rendered {
        return Ok(StepOutput::Nothing("unchanged"));
    }
    let secret = kv
        .read(path, Some(meta.current_version))?
        .ok_or_else(|| Error::NotFound {
            service: Service::Vault,
            method: "GET",
            path: format!("{mount}/data/{path}"),
        })?;
    Ok(StepOutput::Data(Fresh {
        action: "read",
        data: Fields(secret.data.clone()),
        state: FreshState::Kv {
            version: secret.metadata.version,
        },
        next: *due.next,
        next_renewal: None,
        expires_at: None,
    }))
}

/// A dynamic secret's step: renew its lease while it can be renewed and
/// is not capped, else read new credentials.
fn dynamic_step(
    client: &Client,
    policy: &LeasePolicy,
    path: &str,
    current: &mut Option<DynamicSecret>,
    asked: Duration,
    capped: &mut bool,
    due: &mut Due<'_>,
) -> Result<StepOutput> {
    let renewable = current
        .as_ref()
        .filter(|c| c.renewable && !*capped && c.expires_at() > due.now)
        .map(|c| (c.lease_id.clone(), asked));
    if let Some((lease_id, wanted)) = renewable {
        match client.renew(&lease_id, wanted) {
            Ok(granted) => {
                if let Some(c) = current.as_mut() {
                    c.obtained_at = Instant::now();
                    c.lease_duration = granted;
                }
                *due.expires_at = Some(unix_in(granted));
                let wait = policy.wait_for(granted);
                *due.next = Instant::now() + wait;
                *due.next_renewal = Some(unix_in(wait));
                if granted < wanted {
                    *capped = true;
                    return Ok(StepOutput::Nothing("renewed_capped"));
                }
                return Ok(StepOutput::Nothing("renewed"));
            }
            Err(e) if e.is_unavailable() => return Err(e),
            // The lease is gone (revoked, expired during an
            // outage) or cannot be renewed: new credentials.
            Err(e) => log::info!(
                "{path}: renewing lease {lease_id} failed ({e}); reading new credentials"
            ),
        }
    }
    let fresh = client.fetch(path)?;
    let wait = policy.wait_for(fresh.lease_duration);
    Ok(StepOutput::Data(Fresh {
        action: if due.rendered { "reissued" } else { "issued" },
        data: Fields(fresh.data.clone()),
        next: Instant::now() + wait,
        next_renewal: Some(unix_in(wait)),
        expires_at: Some(unix_in(fresh.lease_duration)),
        state: FreshState::Dynamic(fresh),
    }))
}

/// A PKI source's step: issue a certificate, due again at two thirds of
/// its validity.
fn pki_step(
    client: &Client,
    config: &PkiConfig,
    common_name: &str,
    due: &Due<'_>,
) -> Result<StepOutput> {
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
    let serial = data
        .get("serial_number")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(StepOutput::Data(Fresh {
        action: if due.rendered { "reissued" } else { "issued" },
        data: Fields(data),
        state: FreshState::Pki {
            serial,
            expiration: exp,
        },
        next: Instant::now() + wait,
        next_renewal: Some(unix_in(wait)),
        expires_at: Some(exp),
    }))
}

/// A Hydra token source's step: a token from the token client (made on
/// first use by `hydra`), due again when it should be refreshed.
fn hydra_step(
    tc: &mut Option<Box<TokenClient>>,
    scopes: &[String],
    hydra: &dyn Fn() -> Result<TokenClient>,
    due: &Due<'_>,
) -> Result<StepOutput> {
    if tc.is_none() {
        let mut c = hydra()?;
        if !scopes.is_empty() {
            c = c.with_scopes(scopes.to_vec());
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
    let mut data = Map::new();
    data.insert(
        "access_token".into(),
        Value::String(t.access_token.expose().to_string()),
    );
    data.insert("token_type".into(), Value::String(t.token_type.clone()));
    data.insert("scope".into(), Value::String(t.scope.clone()));
    Ok(StepOutput::Data(Fresh {
        action: if due.rendered { "refreshed" } else { "issued" },
        data: Fields(data),
        state: FreshState::Hydra,
        next: Instant::now() + refresh,
        next_renewal: Some(unix_in(refresh)),
        expires_at: t.expires_in.map(|e| unix_now().saturating_add(e)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_content_and_changes_no_state_until_it_is_written() {
        let dir = std::env::temp_dir().join(format!(
            "vaultid-sources-{}-{}",
            std::process::id(),
            jitter().to_bits()
        ));
        let dest = dir.join("db.json");
        // A directory where the file goes: every write fails.
        std::fs::create_dir_all(&dest).unwrap();
        let cfg: SourceConfig = serde_json::from_value(
            json!({"name": "db", "kv": "app/db", "files": [{"path": dest}]}),
        )
        .unwrap();
        let mut s = SourceState::new(&cfg, "secret", Duration::from_secs(60), None).unwrap();
        let fresh = |v: u64| Fresh {
            action: "read",
            data: Fields(
                json!({"password": format!("v{v}")})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            state: FreshState::Kv { version: v },
            next: Instant::now() + Duration::from_secs(60),
            next_renewal: None,
            expires_at: None,
        };
        assert!(s.apply(fresh(2)).is_err());
        assert_eq!(s.detail()["version"], 0);
        assert!(s.pending.is_some());
        // The next step hands the same content out again, without asking
        // Vault (nothing listens on port 9).
        std::fs::remove_dir(&dest).unwrap();
        let client = Client::new(&crate::config::VaultConfig::new(
            "http://127.0.0.1:9",
            Some("t".into()),
        ))
        .unwrap();
        let hydra = || Err(Error::Config("no Hydra".into()));
        let again = match s.step(&client, &LeasePolicy::default(), &hydra) {
            Ok(StepOutput::Data(f)) => f,
            Ok(StepOutput::Nothing(a)) => panic!("{a}"),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(s.apply(again).unwrap(), [dest.display().to_string()]);
        assert_eq!(s.detail()["version"], 2);
        assert!(s.pending.is_none());
        assert_eq!(
            std::fs::read_to_string(&dest).unwrap(),
            "{\"password\":\"v2\"}\n"
        );
        // A rendering that fails drops the content: the next step asks Vault.
        let mut bad = fresh(3);
        bad.data = Fields(Map::new());
        let cfg: SourceConfig = serde_json::from_value(json!({"name": "db", "kv": "app/db",
            "files": [{"path": dest, "format": "raw", "field": "password"}]}))
        .unwrap();
        let mut s = SourceState::new(&cfg, "secret", Duration::from_secs(60), None).unwrap();
        assert!(s.apply(bad).is_err());
        assert!(s.pending.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
