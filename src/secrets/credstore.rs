//! A Vault-backed store of client credentials for agents.
//!
//! A credential is a random secret (32 bytes from the operating system,
//! URL-safe base64) handed out once, at creation or rotation. Vault keeps
//! only its SHA-256, in the KV v2 mount at
//!
//! ```text
//! {prefix}/agents/{agent_id}/credentials/{credential_id}
//!     secret_sha256   hex SHA-256 of the secret
//!     algorithm       "sha256"
//!     created_at      RFC 3339 time this version was made
//!     agent_id, credential_id
//! ```
//!
//! # Why a hash and not the secret
//!
//! Verification needs only the hash, so the store never needs the secret
//! itself: somebody who can read the KV path (a backup, a too-broad policy)
//! cannot use what they read. A fast hash is enough because the secret is
//! 256 bits of randomness, not a password: there is nothing to guess. The
//! cost is that a lost secret cannot be recovered, only rotated.
//!
//! # Verification
//!
//! [`constant_time_eq`] compares the SHA-256 of the presented secret with
//! the stored one by hashing both sides once more and folding the XOR of the
//! two 32-byte digests: the time taken does not depend on where the inputs
//! differ, nor on their lengths.
//!
//! # Rotation and deletion
//!
//! [`CredentialStore::rotate`] writes a new KV version with check-and-set;
//! the old version stays in the secret's history (for audit) but only the
//! latest is checked, so the old secret fails from then on.
//! [`CredentialStore::delete`] removes the metadata and every version.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Service};
use crate::secret_string::SecretString;
use crate::util::random::random_secret_urlsafe;
use crate::vault::{Client, KvAdmin};

/// Random bytes in a credential secret.
pub(crate) const SECRET_BYTES: usize = 32;

/// `true` when `a` and `b` are equal, in time that does not depend on their
/// contents or lengths: both are hashed with SHA-256 and the two digests
/// are compared by folding their XOR, with no early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    let mut acc = 0u8;
    for (x, y) in da.iter().zip(db.iter()) {
        acc |= x ^ y;
    }
    std::hint::black_box(acc) == 0
}

/// Lower-case hex of the SHA-256 of `secret`.
pub fn secret_sha256_hex(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// A credential as created or rotated: the only time its secret is seen.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The agent it belongs to.
    pub agent_id: String,
    /// Its id, a UUID v4.
    pub credential_id: String,
    /// The secret. Hand it to the agent; it cannot be read back.
    pub secret: SecretString,
    /// The KV version holding its hash.
    pub version: u64,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

/// The credential store: a view of one KV v2 mount and prefix.
#[derive(Debug, Clone)]
pub struct CredentialStore<'a> {
    client: &'a Client,
    mount: String,
    prefix: String,
}

fn check_segment(what: &str, v: &str) -> Result<()> {
    if v.is_empty()
        || v == "."
        || v == ".."
        || v.contains('/')
        || v.contains('#')
        || v.contains('?')
        || v.chars().any(char::is_control)
    {
        return Err(Error::InvalidIdentity(format!(
            "{what} {v:?} cannot be used in a Vault path (empty, '.', '..', or holds '/', '#', '?', a control character)"
        )));
    }
    Ok(())
}

fn check_credential_id(v: &str) -> Result<String> {
    uuid::Uuid::parse_str(v)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Error::InvalidIdentity(format!("credential id {v:?} is not a UUID")))
}

impl<'a> CredentialStore<'a> {
    /// A store in KV v2 `mount` under `prefix` (e.g. `secret`, `bindu`).
    pub fn new(client: &'a Client, mount: &str, prefix: &str) -> CredentialStore<'a> {
        CredentialStore {
            client,
            mount: mount.trim_matches('/').to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// The path (inside the mount) of a credential.
    pub(crate) fn path(&self, agent_id: &str, credential_id: &str) -> String {
        let tail = format!("agents/{agent_id}/credentials/{credential_id}");
        if self.prefix.is_empty() {
            tail
        } else {
            format!("{}/{tail}", self.prefix)
        }
    }

    fn record(
        agent_id: &str,
        credential_id: &str,
        secret: &SecretString,
    ) -> (Map<String, Value>, String) {
        let created_at = crate::identity::did::now_iso8601();
        let v = json!({
            "secret_sha256": secret_sha256_hex(secret.expose()),
            "algorithm": "sha256",
            "created_at": created_at,
            "agent_id": agent_id,
            "credential_id": credential_id,
        });
        match v {
            Value::Object(m) => (m, created_at),
            _ => unreachable!("json! of an object is an object"),
        }
    }

    /// Make a new credential for `agent_id`: a fresh UUID v4 id and random
    /// secret; the secret's hash is written with `cas=0` (never over an
    /// existing credential).
    pub fn create(&self, agent_id: &str) -> Result<NewCredential> {
        check_segment("agent id", agent_id)?;
        let credential_id = uuid::Uuid::new_v4().hyphenated().to_string();
        self.store_new_secret(agent_id, credential_id, 0)
    }

    /// `true` when `presented` is the current secret of the credential;
    /// `false` when it is not, or the credential does not exist (or was
    /// deleted). The comparison is [`constant_time_eq`] of the hashes.
    pub fn verify(&self, agent_id: &str, credential_id: &str, presented: &str) -> Result<bool> {
        check_segment("agent id", agent_id)?;
        let credential_id = check_credential_id(credential_id)?;
        let path = self.path(agent_id, &credential_id);
        let stored = match self.client.kv2(&self.mount).read(&path, None) {
            Ok(Some(s)) => s,
            Ok(None) | Err(Error::VersionDeleted { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(Value::String(expected)) = stored.data.get("secret_sha256") else {
            return Err(Error::Protocol {
                service: Service::Vault,
                detail: format!("{}/{path} holds no secret_sha256", self.mount),
            });
        };
        let presented_hex = secret_sha256_hex(presented);
        Ok(constant_time_eq(
            expected.as_bytes(),
            presented_hex.as_bytes(),
        ))
    }

    /// Give the credential a new secret: a new KV version written with
    /// check-and-set on the version read. The old secret fails from now on;
    /// its hash stays in the version history. [`Error::NotFound`] when the
    /// credential does not exist.
    pub fn rotate(&self, agent_id: &str, credential_id: &str) -> Result<NewCredential> {
        check_segment("agent id", agent_id)?;
        let credential_id = check_credential_id(credential_id)?;
        let path = self.path(agent_id, &credential_id);
        let kv = self.client.kv2(&self.mount);
        let current = kv.read(&path, None)?.ok_or_else(|| Error::NotFound {
            service: Service::Vault,
            method: "GET",
            path: format!("{}/{path}", self.mount),
        })?;
        self.store_new_secret(agent_id, credential_id, current.metadata.version)
    }

    /// A new random secret for the credential, its hash written with
    /// check-and-set `cas`; the secret is returned once.
    fn store_new_secret(
        &self,
        agent_id: &str,
        credential_id: String,
        cas: u64,
    ) -> Result<NewCredential> {
        let secret = SecretString::new(random_secret_urlsafe(SECRET_BYTES));
        let (data, created_at) = Self::record(agent_id, &credential_id, &secret);
        let meta = self.client.kv2(&self.mount).write(
            &self.path(agent_id, &credential_id),
            &data,
            Some(cas),
        )?;
        Ok(NewCredential {
            agent_id: agent_id.to_string(),
            credential_id,
            secret,
            version: meta.version,
            created_at,
        })
    }

    /// Delete the credential: every version and the metadata. Returns
    /// whether it existed.
    pub fn delete(&self, agent_id: &str, credential_id: &str) -> Result<bool> {
        check_segment("agent id", agent_id)?;
        let credential_id = check_credential_id(credential_id)?;
        let path = self.path(agent_id, &credential_id);
        let kv = self.client.kv2(&self.mount);
        let existed = kv.read_metadata(&path)?.is_some();
        kv.delete_metadata(&path)?;
        Ok(existed)
    }

    /// The ids of the agent's credentials.
    pub fn list(&self, agent_id: &str) -> Result<Vec<String>> {
        check_segment("agent id", agent_id)?;
        let dir = match self.prefix.is_empty() {
            true => format!("agents/{agent_id}/credentials"),
            false => format!("{}/agents/{agent_id}/credentials", self.prefix),
        };
        Ok(self
            .client
            .kv2(&self.mount)
            .list(&dir)?
            .into_iter()
            .filter(|k| !k.ends_with('/'))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn eq_and_hex() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
        assert_eq!(
            secret_sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_segment("agent id", "../x").is_err());
        assert!(check_segment("agent id", "a/b").is_err());
        assert!(check_segment("agent id", "fabb74f0-a028-4fe9-efd6-4efcbbd10d44").is_ok());
        assert!(check_credential_id("nope").is_err());
        assert_eq!(
            check_credential_id("6E8BC430-9C3A-11D9-9669-0800200C9A66").unwrap(),
            "6e8bc430-9c3a-11d9-9669-0800200c9a66"
        );
    }

    /// The time of a comparison must not depend on where the inputs differ.
    /// Early-exit comparison of 64 KiB inputs differs by orders of magnitude
    /// between "differs at byte 0" and "differs at the last byte"; hashing
    /// both sides makes them equal. The bound is loose (3x on the median of
    /// interleaved batches) so a noisy machine does not fail it.
    #[test]
    fn compare_time_does_not_depend_on_where_inputs_differ() {
        let n = 64 * 1024;
        let base = vec![b'a'; n];
        let mut late = base.clone();
        late[n - 1] = b'b';
        let mut early = base.clone();
        early[0] = b'b';
        let batch = |other: &[u8]| {
            let t = Instant::now();
            for _ in 0..20 {
                assert!(!constant_time_eq(std::hint::black_box(&base), other));
            }
            t.elapsed().as_nanos() as f64
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            a.push(batch(&late));
            b.push(batch(&early));
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (ma, mb) = (a[a.len() / 2], b[b.len() / 2]);
        let ratio = ma.max(mb) / ma.min(mb);
        assert!(ratio < 3.0, "late {ma} ns vs early {mb} ns (ratio {ratio})");
    }
}
