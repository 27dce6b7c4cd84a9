//! KV mounts of either version, told apart as the bao CLI tells them apart,
//! and the KV version 1 engine.
//!
//! `bao kv get secret/app` does not know where the mount ends or which
//! version it runs, so before anything else it asks
//! `GET sys/internal/ui/mounts/secret/app`. The answer describes the mount
//! that holds the path: `data.path` is the mount (`secret/`, or
//! `team/kv/` for a nested one) and `data.options.version` its KV version:
//! `"2"` for KV v2; `"1"`, empty or no options at all for KV v1 (and for
//! any engine that is not KV, such as `cubbyhole`, which the CLI then
//! treats as v1). The server answers this endpoint for any token with some
//! capability under the mount, and 403 when there is none or nothing is
//! mounted there (it does not tell the two apart). A 404 comes only from
//! servers older than the endpoint, which had KV v1 alone.
//!
//! KV version 1 has no versions, metadata, check-and-set, patch, soft
//! delete or undelete: a secret is the data map at `{mount}/{path}`, read
//! with `GET`, written whole with `POST`, listed with `LIST` and deleted
//! for good with `DELETE`. Sent to a v1 mount, KV v2's paths
//! (`secret/data/x`) are just secrets with other names, which is why a
//! client that assumes v2 gets silently wrong results there.
//!
//! Internal: the `kv` command uses [`Client::kv_mount`] and [`Kv1`]; a
//! program gets [`Kv2`](super::Kv2).

// The `kv` command is the one user of the mount detection and of KV v1;
// the library keeps the per-client cache of mounts it fills.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

use serde_json::{Map, Value};

use super::{kv2::clean, Client, KvSecret, VersionMetadata};
use crate::error::{Error, Result, Service};
use crate::secret_string::zeroize_json;
use crate::util::lock;

/// The KV engine version of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvVersion {
    /// KV version 1 (or another engine read and written as plainly).
    V1,
    /// KV version 2: versioned, with metadata.
    V2,
}

/// What the server said of the mount holding a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvMount {
    /// The mount, without slashes at either end (`secret`, `team/kv`);
    /// `None` when the server did not say (a server older than the
    /// endpoint, or an answer without `data.path`).
    pub(crate) path: Option<String>,
    /// Its KV version.
    pub(crate) version: KvVersion,
}

/// The mount and version in an answer of `sys/internal/ui/mounts/PATH`,
/// read as the bao CLI reads it: `data.options.version` `"2"` is KV v2,
/// anything else (or nothing) v1. `None` when the answer names no mount
/// (`data.path`): that is not the endpoint's answer (a proxy's, a stand-in's),
/// and says nothing about the path. Pure; never panics.
pub(crate) fn parse_mount(answer: Option<&Value>) -> Option<KvMount> {
    let data = answer?.get("data")?;
    let path = data
        .get("path")
        .and_then(Value::as_str)
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && p.len() <= 1024)?;
    let version = match data
        .get("options")
        .and_then(|o| o.get("version"))
        .and_then(Value::as_str)
    {
        Some("2") => KvVersion::V2,
        _ => KvVersion::V1,
    };
    Some(KvMount {
        path: Some(path),
        version,
    })
}

/// `true` when `mount` is `path` or a whole-segment prefix of it.
pub(crate) fn holds(mount: &str, path: &str) -> bool {
    path == mount || (path.starts_with(mount) && path[mount.len()..].starts_with('/'))
}

impl Client {
    /// The mount that holds `path` and its KV version, asked of
    /// `sys/internal/ui/mounts/{path}` once per mount for the client's
    /// life (later paths under a mount already seen are answered from
    /// what it said). `Ok(None)` when the server does not say: it refuses
    /// (403: no capability under that path, or nothing mounted there; the
    /// request itself will then say which), or its answer names no mount.
    /// A 404 is a server older than the endpoint: KV v1, mount unknown, as
    /// the bao CLI takes it. Transport failures and other refusals are
    /// errors.
    pub(crate) fn kv_mount(&self, path: &str) -> Result<Option<KvMount>> {
        let path = clean(path)?;
        if let Some(m) = lock(&self.kv_mounts)
            .iter()
            .find(|m| m.path.as_deref().is_some_and(|p| holds(p, path)))
        {
            return Ok(Some(m.clone()));
        }
        let probe = format!("sys/internal/ui/mounts/{path}");
        let mount = match self.exchange("GET", &probe, None)? {
            Ok(answer) => match parse_mount(answer.as_ref()) {
                Some(m) => m,
                None => return Ok(None),
            },
            Err(e) if e.status == 404 => KvMount {
                path: None,
                version: KvVersion::V1,
            },
            Err(e) if e.status == 403 => return Ok(None),
            Err(e) => return Err(e.into_error("GET", &probe)),
        };
        if let Some(p) = &mount.path {
            if !holds(p, path) {
                // An answer about another path is no answer about this one.
                return Err(Error::Protocol {
                    service: Service::Vault,
                    detail: format!(
                        "{probe}: the answer names mount {p:?}, which does not hold {path:?}"
                    ),
                });
            }
            lock(&self.kv_mounts).push(mount.clone());
        }
        Ok(Some(mount))
    }

    /// The KV version 1 engine mounted at `mount`.
    pub(crate) fn kv1(&self, mount: &str) -> Kv1<'_> {
        Kv1 {
            client: self,
            mount: mount.trim_matches('/').to_string(),
        }
    }
}

/// A KV version 1 engine at one mount. Paths are relative to the mount.
#[derive(Debug, Clone)]
pub(crate) struct Kv1<'a> {
    client: &'a Client,
    mount: String,
}

impl Kv1<'_> {
    /// `{mount}/{path}`, refusing an empty path.
    fn api(&self, path: &str) -> Result<String> {
        let path = clean(path)?;
        if path.is_empty() {
            return Err(Error::Config(format!(
                "a KV path under {}/ is required",
                self.mount
            )));
        }
        Ok(format!("{}/{path}", self.mount))
    }

    /// The secret, `None` when there is none. Its metadata is empty: KV v1
    /// keeps none.
    pub(crate) fn read(&self, path: &str) -> Result<Option<KvSecret>> {
        let p = self.api(path)?;
        let Some(mut answer) = self.client.read(&p)? else {
            return Ok(None);
        };
        let data = match answer.get_mut("data").map(Value::take) {
            Some(Value::Object(data)) => data,
            other => {
                zeroize_json(&mut answer);
                return Err(Error::Protocol {
                    service: Service::Vault,
                    detail: format!(
                        "reading {p}: `data` is {}, not an object",
                        other.map_or("missing", |v| if v.is_null() {
                            "null"
                        } else {
                            "another value"
                        })
                    ),
                });
            }
        };
        zeroize_json(&mut answer);
        Ok(Some(KvSecret {
            data,
            metadata: VersionMetadata::default(),
        }))
    }

    /// Write the secret whole (what was there is replaced).
    pub(crate) fn write(&self, path: &str, data: &Map<String, Value>) -> Result<()> {
        let p = self.api(path)?;
        let mut body = Value::Object(data.clone());
        let answer = self.client.request("POST", &p, Some(&body));
        zeroize_json(&mut body);
        answer.map(drop)
    }

    /// The keys directly under `path` (folders end in `/`); empty when
    /// nothing is there.
    pub(crate) fn list(&self, path: &str) -> Result<Vec<String>> {
        let p = format!("{}/{}", self.mount, clean(path)?);
        self.client.list(p.trim_end_matches('/'))
    }

    /// Delete the secret for good (KV v1 keeps no deleted data). Deleting
    /// what does not exist succeeds.
    pub(crate) fn delete(&self, path: &str) -> Result<()> {
        let p = self.api(path)?;
        self.client.delete(&p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mount_answer_is_read_as_the_bao_cli_reads_it() {
        let v2 = json!({"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}});
        assert_eq!(
            parse_mount(Some(&v2)),
            Some(KvMount {
                path: Some("secret".into()),
                version: KvVersion::V2
            })
        );
        let v1 = json!({"data": {"path": "team/kv1/", "options": {"version": "1"}}});
        let m = parse_mount(Some(&v1)).unwrap();
        assert_eq!(m.path.as_deref(), Some("team/kv1"));
        assert_eq!(m.version, KvVersion::V1);
        // No options (cubbyhole, another engine), an empty or odd version:
        // version 1.
        for a in [
            json!({"data": {"path": "cubbyhole/", "options": null}}),
            json!({"data": {"path": "kv/", "options": {"version": ""}}}),
            json!({"data": {"path": "kv/", "options": {"version": 2}}}),
            json!({"data": {"path": "kv/"}}),
        ] {
            assert_eq!(parse_mount(Some(&a)).unwrap().version, KvVersion::V1, "{a}");
        }
        // An answer that names no mount says nothing.
        for a in [
            json!({"data": {"version": 1}}),
            json!({"data": {"path": "/", "options": {"version": "2"}}}),
            json!({"data": []}),
            json!({}),
        ] {
            assert_eq!(parse_mount(Some(&a)), None, "{a}");
        }
        assert_eq!(parse_mount(None), None);
    }

    #[test]
    fn a_mount_holds_whole_segments_only() {
        assert!(holds("secret", "secret"));
        assert!(holds("secret", "secret/a/b"));
        assert!(holds("team/kv", "team/kv/a"));
        assert!(!holds("secret", "secret2/a"));
        assert!(!holds("team/kv", "team/kvx"));
    }
}
