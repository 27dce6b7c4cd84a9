//! The KV version 2 secrets engine: versioned secrets with check-and-set.
//!
//! [`Kv2`] is a view of one mount; get it with
//! [`Client::kv2`](super::Client::kv2). Paths are relative to the mount
//! (`app/db`, not `secret/data/app/db`). Errors name the secret as
//! `{mount}/{path}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{data_as, ApiError, Client};
use crate::error::{Error, Result, Service};
use crate::secret_string::zeroize_json;

/// One version of a secret: its key/value pairs and their metadata.
///
/// `Debug` shows the keys only, never the values; string values are
/// overwritten with zeros when it is dropped.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct KvSecret {
    /// The key/value pairs.
    pub data: Map<String, Value>,
    /// The version's metadata.
    pub metadata: VersionMetadata,
}

impl Drop for KvSecret {
    fn drop(&mut self) {
        self.data.values_mut().for_each(zeroize_json);
    }
}

impl fmt::Debug for KvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSecret")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// What [`Kv2::read_any`] found: a version, or a deleted version's
/// metadata.
pub(crate) enum KvRead {
    /// A version with its data.
    Secret(KvSecret),
    /// A soft-deleted or destroyed version: its metadata alone.
    Deleted(VersionMetadata),
}

/// Metadata of one version of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionMetadata {
    /// The version number, from 1.
    #[serde(default)]
    pub version: u64,
    /// When it was written (RFC 3339).
    #[serde(default)]
    pub created_time: String,
    /// When it was soft-deleted (RFC 3339), empty if it was not.
    #[serde(default)]
    pub deletion_time: String,
    /// `true` when destroyed for good.
    #[serde(default)]
    pub destroyed: bool,
    /// The secret's custom metadata (the same for every version), as the
    /// server sends it with a version; `None` when it has none.
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

impl VersionMetadata {
    /// `true` when the version was soft-deleted or destroyed.
    pub fn is_deleted(&self) -> bool {
        self.destroyed || !self.deletion_time.is_empty()
    }
}

/// Metadata of a secret across its versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KvMetadata {
    /// Every write must carry `cas`.
    #[serde(default)]
    pub cas_required: bool,
    /// When the secret was first written.
    #[serde(default)]
    pub created_time: String,
    /// The latest version.
    #[serde(default)]
    pub current_version: u64,
    /// The oldest version still kept.
    #[serde(default)]
    pub oldest_version: u64,
    /// How many versions are kept (0: the mount's default).
    #[serde(default)]
    pub max_versions: u64,
    /// Versions are deleted this long after being written (`0s`: never).
    #[serde(default, deserialize_with = "null_as_default")]
    pub delete_version_after: String,
    /// Free-form string metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_metadata: BTreeMap<String, String>,
    /// When the secret was last written.
    #[serde(default)]
    pub updated_time: String,
    /// Every kept version's metadata, by version number.
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: BTreeMap<u64, VersionMetadata>,
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Changes to a secret's metadata; `None` fields are left as they are.
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetadataUpdate {
    /// How many versions to keep (0: the mount's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u64>,
    /// Require `cas` on every write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Delete versions this long after they are written (`"768h"`, `"0s"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<String>,
    /// Free-form string metadata; replaces the whole map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

/// A KV version 2 engine at one mount.
#[derive(Debug, Clone)]
pub struct Kv2<'a> {
    client: &'a Client,
    mount: String,
}

impl<'a> Kv2<'a> {
    pub(crate) fn new(client: &'a Client, mount: &str) -> Kv2<'a> {
        Kv2 {
            client,
            mount: mount.trim_matches('/').to_string(),
        }
    }

    /// The mount.
    pub(crate) fn mount(&self) -> &str {
        &self.mount
    }

    /// Read the latest version, or `version`.
    ///
    /// `Ok(None)` when the secret (or that version) never existed;
    /// [`Error::VersionDeleted`] when it was soft-deleted or destroyed.
    pub fn read(&self, path: &str, version: Option<u64>) -> Result<Option<KvSecret>> {
        match self.read_any(path, version)? {
            None => Ok(None),
            Some(KvRead::Secret(s)) => Ok(Some(s)),
            Some(KvRead::Deleted(m)) => Err(self.deleted(path, m, version)),
        }
    }

    /// Read the latest version, or `version`, deleted or not: a version
    /// that was soft-deleted or destroyed is its metadata alone (what
    /// `bao kv get` shows for it, with `data: null`). `Ok(None)` when the
    /// secret (or that version) never existed.
    pub(crate) fn read_any(&self, path: &str, version: Option<u64>) -> Result<Option<KvRead>> {
        let p = self.api("data", path)?;
        let q = match version {
            Some(v) => format!("{p}?version={v}"),
            None => p.clone(),
        };
        let answer = match self.client.exchange("GET", &q, None)? {
            Ok(v) => v,
            Err(e) if e.status == 404 && !e.is_missing_mount() => {
                return Ok(deleted_version(&e).map(|mut m| {
                    if m.version == 0 {
                        m.version = version.unwrap_or(0);
                    }
                    KvRead::Deleted(m)
                }))
            }
            Err(e) => return Err(self.error(e, "GET", &p)),
        };
        #[derive(Deserialize)]
        struct Data {
            data: Option<Map<String, Value>>,
            #[serde(default)]
            metadata: VersionMetadata,
        }
        let d: Data = data_as(answer, &format!("reading {}", self.display(path)))?;
        match d.data {
            Some(data) => Ok(Some(KvRead::Secret(KvSecret {
                data,
                metadata: d.metadata,
            }))),
            None if d.metadata.is_deleted() => Ok(Some(KvRead::Deleted(d.metadata))),
            None => Err(Error::Protocol {
                service: Service::Vault,
                detail: format!("reading {}: the answer has no data", self.display(path)),
            }),
        }
    }

    /// Write a new version. With `cas = Some(n)` the write succeeds only if
    /// the current version is `n` (`Some(0)`: only if the secret does not
    /// exist yet), else [`Error::CasMismatch`].
    ///
    /// A check-and-set write may have been applied by an earlier try that
    /// got no answer (the HTTP layer resent it, or a standby forwarding it
    /// to a changing leader did); a refusal is therefore checked: when
    /// version `n + 1` holds exactly `data`, that version is the write's
    /// result, not a conflict. A write is never applied twice. (Another
    /// writer storing exactly the same data at `n + 1` also counts as this
    /// write's result: the secret is then what this write asked for.)
    pub fn write(
        &self,
        path: &str,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMetadata> {
        let p = self.api("data", path)?;
        let mut body = data_body(data, cas);
        let answer = self.client.exchange_resent("POST", &p, Some(&body));
        zeroize_json(&mut body);
        match answer? {
            (Ok(v), _) => data_as(v, &format!("writing {}", self.display(path))),
            (Err(e), resent) if e.is_cas_mismatch() => {
                // Checked whether or not this client resent it: a standby
                // forwarding the write to a changing leader may itself
                // have sent it twice.
                if let Some(n) = cas {
                    if let Some(mine) = self.landed(path, n, data)? {
                        log::info!(
                            "{}: check-and-set refused, but version {} holds exactly this write \
                             (an earlier try was applied{})",
                            self.display(path),
                            mine.version,
                            if resent {
                                "; it was sent more than once"
                            } else {
                                ""
                            }
                        );
                        return Ok(mine);
                    }
                }
                Err(Error::CasMismatch {
                    path: self.display(path),
                    cas,
                })
            }
            (Err(e), _) => Err(self.error(e, "POST", &p)),
        }
    }

    /// Whether version `n + 1` of `path` holds exactly `data`: a write with
    /// `cas = n`, sent twice, whose first try was applied.
    fn landed(
        &self,
        path: &str,
        n: u64,
        data: &Map<String, Value>,
    ) -> Result<Option<VersionMetadata>> {
        let latest = match self.read_after_conflict(path, Some(n)) {
            Ok(Some(s)) => s,
            Ok(None) | Err(Error::VersionDeleted { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let candidate = match latest.metadata.version {
            v if v == n + 1 => latest,
            v if v > n + 1 => match self.read(path, Some(n + 1)) {
                Ok(Some(s)) => s,
                Ok(None) | Err(Error::VersionDeleted { .. }) => return Ok(None),
                Err(e) => return Err(e),
            },
            _ => return Ok(None),
        };
        Ok((&candidate.data == data).then(|| candidate.metadata.clone()))
    }

    /// Read after a check-and-set write with `cas` was refused: the
    /// secret's current version is then known to differ from `cas`
    /// (`Some(0)`: the secret exists). A standby that has not applied the
    /// winning write yet still shows the old state; this re-reads, with
    /// growing waits inside the client's retry budget, until a node shows
    /// the new state. `Ok(None)` only when none did within the budget
    /// (the secret was deleted meanwhile, or the cluster lags that much):
    /// never a reason to write as if the path were empty.
    pub(crate) fn read_after_conflict(
        &self,
        path: &str,
        cas: Option<u64>,
    ) -> Result<Option<KvSecret>> {
        let seen = |r: &Result<Option<KvSecret>>| match (r, cas) {
            (Ok(None), _) => false,
            (Ok(Some(s)), Some(n)) => s.metadata.version != n,
            _ => true,
        };
        match self.read_settled(path, None, seen)? {
            Some(s) if cas.is_none_or(|n| s.metadata.version != n) => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// Read `path` (at `version`) until `done` accepts the result or the
    /// retry budget ends; the last result.
    fn read_settled(
        &self,
        path: &str,
        version: Option<u64>,
        done: impl Fn(&Result<Option<KvSecret>>) -> bool,
    ) -> Result<Option<KvSecret>> {
        let start = std::time::Instant::now();
        let end = self.client.http().deadline_for(start);
        let mut wait = std::time::Duration::from_millis(20);
        let mut tries = 0u32;
        loop {
            let r = self.read(path, version);
            tries += 1;
            if done(&r) {
                if tries > 1 {
                    log::debug!(
                        "{}: a node showed the new state after {} reads ({} ms)",
                        self.display(path),
                        tries,
                        start.elapsed().as_millis()
                    );
                }
                return r;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            let pause = wait + wait.mul_f64(crate::util::random::jitter() / 2.0);
            if pause >= left {
                log::warn!(
                    "{}: no node showed the state a refused check-and-set implies within {:.1} s ({} reads)",
                    self.display(path),
                    start.elapsed().as_secs_f64(),
                    tries
                );
                return r;
            }
            std::thread::sleep(pause);
            wait = (wait * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// Merge `data` into the latest version (JSON merge patch: a `null`
    /// value removes the key) and write the result as a new version.
    ///
    /// Uses `PATCH`; on servers without it (405) reads, merges and writes
    /// with check-and-set. [`Error::NotFound`] when the secret does not
    /// exist.
    pub fn patch(
        &self,
        path: &str,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMetadata> {
        let p = self.api("data", path)?;
        let mut body = data_body(data, cas);
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        zeroize_json(&mut body);
        let answer =
            self.client
                .exchange_bytes("PATCH", &p, &bytes, "application/merge-patch+json");
        crate::secret_string::zeroize_bytes(&mut bytes);
        match answer? {
            Ok(v) => data_as(v, &format!("patching {}", self.display(path))),
            Err(e) if e.status == 405 => self.patch_by_rewrite(path, data, cas),
            Err(e) if e.is_cas_mismatch() => Err(Error::CasMismatch {
                path: self.display(path),
                cas,
            }),
            Err(e) if e.status == 404 && !e.is_missing_mount() => match deleted_version(&e) {
                Some(m) => Err(self.deleted(path, m, None)),
                None => Err(self.error(e, "PATCH", &p)),
            },
            Err(e) => Err(self.error(e, "PATCH", &p)),
        }
    }

    fn patch_by_rewrite(
        &self,
        path: &str,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMetadata> {
        let Some(mut current) = self.read(path, None)? else {
            return Err(Error::NotFound {
                service: Service::Vault,
                method: "PATCH",
                path: self.display(path),
            });
        };
        let version = current.metadata.version;
        if cas.is_some_and(|c| c != version) {
            return Err(Error::CasMismatch {
                path: self.display(path),
                cas,
            });
        }
        merge_patch(&mut current.data, data);
        let result = self.write(path, &current.data, Some(version));
        let mut v = Value::Object(std::mem::take(&mut current.data));
        zeroize_json(&mut v);
        result
    }

    /// The keys directly under `path` (folders end in `/`). Empty when
    /// nothing is there.
    pub fn list(&self, path: &str) -> Result<Vec<String>> {
        let p = format!("{}/metadata/{}", self.mount, clean(path)?);
        let p = p.trim_end_matches('/');
        self.client.list(p)
    }

    /// The secret's metadata and version history; `None` when it does not
    /// exist.
    pub fn read_metadata(&self, path: &str) -> Result<Option<KvMetadata>> {
        let p = self.api("metadata", path)?;
        match self.client.exchange("GET", &p, None)? {
            Ok(v) => {
                let mut m: KvMetadata =
                    data_as(v, &format!("reading metadata of {}", self.display(path)))?;
                for (n, meta) in m.versions.iter_mut() {
                    meta.version = *n;
                }
                Ok(Some(m))
            }
            Err(e) if e.status == 404 && !e.is_missing_mount() => Ok(None),
            Err(e) => Err(self.error(e, "GET", &p)),
        }
    }

    /// The secret's metadata as the server sent it (the `data` of
    /// `GET {mount}/metadata/{path}`, every field the server has, as `bao kv
    /// metadata get` shows it); `None` when the secret does not exist.
    #[cfg(feature = "cli")]
    pub(crate) fn metadata_answer(&self, path: &str) -> Result<Option<Value>> {
        let p = self.api("metadata", path)?;
        match self.client.exchange("GET", &p, None)? {
            Ok(v) => Ok(Some(
                v.and_then(|mut v| v.get_mut("data").map(Value::take))
                    .unwrap_or(Value::Null),
            )),
            Err(e) if e.status == 404 && !e.is_missing_mount() => Ok(None),
            Err(e) => Err(self.error(e, "GET", &p)),
        }
    }

    /// Soft-delete the latest version (it can be undeleted).
    pub fn delete(&self, path: &str) -> Result<()> {
        let p = self.api("data", path)?;
        self.send("DELETE", &p, None)
    }

    fn send(&self, method: &'static str, p: &str, body: Option<&Value>) -> Result<()> {
        match self.client.exchange(method, p, body)? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(e, method, p)),
        }
    }

    /// `{mount}/{kind}/{path}`.
    fn api(&self, kind: &str, path: &str) -> Result<String> {
        let path = clean(path)?;
        if path.is_empty() {
            return Err(Error::Config(format!(
                "a KV path under {}/ is required",
                self.mount
            )));
        }
        Ok(format!("{}/{kind}/{path}", self.mount))
    }

    fn display(&self, path: &str) -> String {
        format!("{}/{}", self.mount, path.trim_matches('/'))
    }

    fn deleted(&self, path: &str, m: VersionMetadata, asked: Option<u64>) -> Error {
        Error::VersionDeleted {
            path: self.display(path),
            version: if m.version > 0 {
                m.version
            } else {
                asked.unwrap_or(0)
            },
            destroyed: m.destroyed,
        }
    }

    fn error(&self, e: ApiError, method: &'static str, p: &str) -> Error {
        e.into_error(method, p)
    }
}

/// The operator side of KV v2, as `vaultid kv` offers it: versions
/// (delete, undelete, destroy), metadata settings and removal, subkeys.
/// Internal: a program gets reads, writes, patches, lists, soft deletes
/// and metadata reads on [`Kv2`] itself.
#[cfg(feature = "cli")]
pub trait KvAdmin {
    /// Change the secret's settings (kept versions, cas requirement,
    /// automatic deletion, custom metadata). Creates the metadata when the
    /// secret does not exist yet.
    fn write_metadata(&self, path: &str, update: &MetadataUpdate) -> Result<()>;

    /// Delete the secret with all its versions and metadata, for good.
    fn delete_metadata(&self, path: &str) -> Result<()>;

    /// Soft-delete the given versions.
    fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()>;

    /// Restore soft-deleted versions.
    fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()>;

    /// Destroy the given versions for good (their data is gone; the
    /// metadata remains).
    fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()>;

    /// The key structure of the latest version without its values (every
    /// leaf is `null`), down to `depth` levels (`None` or `0`: all).
    /// `Ok(None)` when the secret never existed; [`Error::VersionDeleted`]
    /// when the latest version is deleted.
    fn subkeys(&self, path: &str, depth: Option<u32>) -> Result<Option<Value>>;
}

#[cfg(feature = "cli")]
impl KvAdmin for Kv2<'_> {
    fn write_metadata(&self, path: &str, update: &MetadataUpdate) -> Result<()> {
        let p = self.api("metadata", path)?;
        let body = serde_json::to_value(update).unwrap_or_else(|_| json!({}));
        self.send("POST", &p, Some(&body))
    }

    fn delete_metadata(&self, path: &str) -> Result<()> {
        let p = self.api("metadata", path)?;
        self.send("DELETE", &p, None)
    }

    fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        let p = self.api("delete", path)?;
        self.send("POST", &p, Some(&json!({ "versions": versions })))
    }

    fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        let p = self.api("undelete", path)?;
        self.send("POST", &p, Some(&json!({ "versions": versions })))
    }

    fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        let p = self.api("destroy", path)?;
        self.send("PUT", &p, Some(&json!({ "versions": versions })))
    }

    fn subkeys(&self, path: &str, depth: Option<u32>) -> Result<Option<Value>> {
        let p = self.api("subkeys", path)?;
        let q = match depth {
            Some(d) => format!("{p}?depth={d}"),
            None => p.clone(),
        };
        match self.client.exchange("GET", &q, None)? {
            Ok(v) => {
                let subkeys = v
                    .as_ref()
                    .and_then(|v| v.get("data"))
                    .and_then(|d| d.get("subkeys"))
                    .cloned()
                    .unwrap_or(Value::Null);
                Ok(Some(subkeys))
            }
            Err(e) if e.status == 404 && !e.is_missing_mount() => match deleted_version(&e) {
                Some(m) => Err(self.deleted(path, m, None)),
                None => Ok(None),
            },
            Err(e) => Err(self.error(e, "GET", &p)),
        }
    }
}

/// The version metadata in a 404 answer, when it says the version was
/// deleted or destroyed.
fn deleted_version(e: &ApiError) -> Option<VersionMetadata> {
    let meta = e.body.as_ref()?.get("data")?.get("metadata")?;
    let m: VersionMetadata = serde_json::from_value(meta.clone()).ok()?;
    m.is_deleted().then_some(m)
}

/// Trim slashes and refuse `.`/`..` segments, which could step out of the
/// mount.
pub(super) fn clean(path: &str) -> Result<&str> {
    let p = path.trim_matches('/');
    if p.split('/').any(|s| s == "." || s == "..") || p.contains('?') || p.contains('#') {
        return Err(Error::Config(format!(
            "KV path {path:?} may not contain '.' or '..' segments, '?' or '#'"
        )));
    }
    Ok(p)
}

/// The body of a KV v2 write: `{"data": ..., "options": {"cas": n}}`.
fn data_body(data: &Map<String, Value>, cas: Option<u64>) -> Value {
    let mut body = json!({ "data": data });
    if let Some(c) = cas {
        body["options"] = json!({ "cas": c });
    }
    body
}

/// RFC 7396 JSON merge patch of `patch` into `target`.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => {
                let entry = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(t) = entry {
                    merge_patch(t, p);
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_only() {
        let mut data = Map::new();
        data.insert("password".into(), "canary-value".into());
        let s = KvSecret {
            data,
            metadata: VersionMetadata::default(),
        };
        let d = format!("{s:?}");
        assert!(d.contains("password") && !d.contains("canary-value"), "{d}");
    }

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}})
            .as_object()
            .cloned()
            .unwrap();
        let p = json!({"a": "z", "c": {"f": null}, "n": {"x": 1}})
            .as_object()
            .cloned()
            .unwrap();
        merge_patch(&mut t, &p);
        assert_eq!(
            Value::Object(t),
            json!({"a": "z", "c": {"d": "e"}, "n": {"x": 1}})
        );
    }

    #[test]
    fn paths_stay_in_the_mount() {
        assert!(clean("../sys/seal").is_err());
        assert!(clean("a/./b").is_err());
        assert!(clean("a?list=true").is_err());
        assert_eq!(clean("/a/b/").unwrap(), "a/b");
    }

    #[test]
    fn metadata_parses_nulls() {
        let m: KvMetadata = serde_json::from_value(json!({
            "cas_required": false, "current_version": 2, "custom_metadata": null,
            "delete_version_after": "0s", "max_versions": 0,
            "versions": {"1": {"created_time": "t", "deletion_time": "", "destroyed": true}}
        }))
        .unwrap();
        assert!(m.versions[&1].destroyed);
        assert!(m.custom_metadata.is_empty());
    }

    #[test]
    fn deleted_version_from_404_body() {
        let body = br#"{"data":{"data":null,"metadata":{"deletion_time":"2024-01-01T00:00:00Z","destroyed":false,"version":2}}}"#;
        let e = crate::vault::parse_response(404, body).unwrap_err();
        let m = deleted_version(&e).unwrap();
        assert_eq!(m.version, 2);
        assert!(!m.destroyed);
        let e = crate::vault::parse_response(404, br#"{"errors":[]}"#).unwrap_err();
        assert!(deleted_version(&e).is_none());
    }
}
