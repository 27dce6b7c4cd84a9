//! Where a verifier finds the caller's public key: a base58 key, a
//! `did:key`, a DID document, or the Hydra client's `metadata.public_key`
//! (what the framework's middleware uses), the last one briefly cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::envelope::Rejection;
use crate::config::HydraConfig;
use crate::error::{Error, Result};
use crate::hydra::HydraAdmin;
use crate::identity::{parse_did, ParsedDid, PublicKey};

/// Largest DID document read: 1 MiB.
pub const MAX_DID_DOCUMENT: usize = 1024 * 1024;

/// A base58 (Bitcoin alphabet) raw Ed25519 public key, as in Hydra's
/// `metadata.public_key` and a DID document's `publicKeyBase58`.
pub fn public_key_from_base58(key: &str) -> Result<PublicKey, Rejection> {
    PublicKey::from_base58(key.trim()).map_err(|e| Rejection::Malformed {
        detail: format!("the public key: {e}"),
    })
}

/// The key a `did:key:z...` DID holds; `None` for any other DID method.
pub fn public_key_from_did(did: &str) -> Option<Result<PublicKey, Rejection>> {
    if !did.starts_with("did:key:") {
        return None;
    }
    Some(match parse_did(did) {
        Ok(ParsedDid::Key(k)) => Ok(k),
        Ok(_) => Err(Rejection::Malformed {
            detail: format!("{did:?} is not a did:key"),
        }),
        Err(e) => Err(Rejection::Malformed {
            detail: e.to_string(),
        }),
    })
}

/// The authentication key of a DID document (JSON) for `did`.
///
/// The document's `id` must be `did` ([`Rejection::DidMismatch`]
/// otherwise). The first `authentication` entry that is an Ed25519 key
/// wins: an embedded verification method with `publicKeyBase58` (as
/// vaultid and the framework write it) or `publicKeyMultibase` (`z` +
/// base58 of `0xed 0x01` and the key), or a reference to one of the
/// document's `verificationMethod` entries by its `id`.
pub fn public_key_from_did_document(document: &[u8], did: &str) -> Result<PublicKey, Rejection> {
    let bad = |detail: String| Rejection::Malformed {
        detail: format!("the DID document: {detail}"),
    };
    if document.len() > MAX_DID_DOCUMENT {
        return Err(bad(format!(
            "{} bytes is more than the {MAX_DID_DOCUMENT} read",
            document.len()
        )));
    }
    let doc: Value = serde_json::from_slice(document).map_err(|e| bad(format!("not JSON: {e}")))?;
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"id\"".into()))?;
    if id != did {
        return Err(Rejection::DidMismatch {
            expected: did.to_string(),
            got: id.to_string(),
        });
    }
    let auth = doc
        .get("authentication")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"authentication\" list".into()))?;
    let methods = doc.get("verificationMethod").and_then(Value::as_array);
    for entry in auth {
        let method = match entry {
            Value::String(r) => methods.and_then(|m| {
                m.iter().find(|v| {
                    v.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i == r || format!("{did}{i}") == *r)
                })
            }),
            v @ Value::Object(_) => Some(v),
            _ => None,
        };
        let Some(method) = method else { continue };
        if let Some(b58) = method.get("publicKeyBase58").and_then(Value::as_str) {
            return public_key_from_base58(b58);
        }
        if let Some(mb) = method.get("publicKeyMultibase").and_then(Value::as_str) {
            return match public_key_from_did(&format!("did:key:{mb}")) {
                Some(r) => r,
                None => Err(bad("unreadable publicKeyMultibase".into())),
            };
        }
    }
    Err(bad(format!(
        "no authentication entry holds an Ed25519 key (publicKeyBase58 or publicKeyMultibase) for {did}"
    )))
}

/// How long [`HydraKeys`] keeps a key by default: 60 s.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(60);

/// Keys held at most by one [`HydraKeys`]; a full cache is emptied.
const MAX_CACHED_KEYS: usize = 1024;

/// The callers' public keys from Hydra, as the framework's middleware
/// reads them: `GET /admin/clients/{did}`, `metadata.public_key` (base58).
/// Each key is kept [`DEFAULT_KEY_TTL`] (or [`HydraKeys::with_ttl`]), so a
/// busy verifier asks Hydra once a minute per caller, and a key replaced
/// by `vaultid up --recreate-keys` is picked up within that time.
pub struct HydraKeys {
    admin: HydraAdmin,
    ttl: Duration,
    cache: Mutex<HashMap<String, (PublicKey, Instant)>>,
}

impl std::fmt::Debug for HydraKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HydraKeys")
            .field("admin", &self.admin)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl HydraKeys {
    /// Keys from the Hydra admin API at `config.admin_url`.
    pub fn new(config: &HydraConfig) -> Result<HydraKeys> {
        Ok(HydraKeys {
            admin: HydraAdmin::new(config)?,
            ttl: DEFAULT_KEY_TTL,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Keep keys this long (zero: ask Hydra every time).
    pub fn with_ttl(mut self, ttl: Duration) -> HydraKeys {
        self.ttl = ttl;
        self
    }

    /// The public key of the client `did`. A missing client or one
    /// without a usable `metadata.public_key` is
    /// [`Error::Signature`] with [`Rejection::KeyUnavailable`]; Hydra
    /// failures are the usual errors.
    pub fn public_key(&self, did: &str) -> Result<PublicKey> {
        let now = Instant::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((k, at)) = cache.get(did) {
                if now.duration_since(*at) < self.ttl {
                    return Ok(*k);
                }
            }
        }
        let unavailable = |detail: String| {
            Error::Signature(Rejection::KeyUnavailable {
                did: did.to_string(),
                detail,
            })
        };
        let client = self
            .admin
            .get_client(did)?
            .ok_or_else(|| unavailable("Hydra has no client with this id".into()))?;
        let b58 = client
            .metadata_public_key()
            .ok_or_else(|| unavailable("the Hydra client has no metadata.public_key".into()))?;
        let key = PublicKey::from_base58(b58)
            .map_err(|e| unavailable(format!("the Hydra client's metadata.public_key: {e}")))?;
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
            cache.insert(did.to_string(), (key, now));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{did_document, did_key, KeyPair};

    #[test]
    fn keys_from_every_source() {
        let keys = KeyPair::generate();
        let pk = keys.public();
        assert_eq!(public_key_from_base58(&pk.base58()).unwrap(), pk);
        assert!(public_key_from_base58("0OIl").is_err());
        assert_eq!(public_key_from_did(&did_key(&pk)).unwrap().unwrap(), pk);
        assert!(public_key_from_did("did:bindu:a:b:c").is_none());
        assert!(public_key_from_did("did:key:zzz").unwrap().is_err());
        let did = "did:bindu:a:b:c";
        let doc = did_document(did, &pk, "2026-01-01T00:00:00Z").to_string();
        assert_eq!(
            public_key_from_did_document(doc.as_bytes(), did).unwrap(),
            pk
        );
        let e = public_key_from_did_document(doc.as_bytes(), "did:bindu:x:y:z").unwrap_err();
        assert_eq!(e.reason(), "did_mismatch");
        let multibase = &did_key(&pk)["did:key:".len()..];
        let by_ref = serde_json::json!({
            "id": did,
            "verificationMethod": [{"id": "#k", "type": "Ed25519VerificationKey2020",
                                    "controller": did, "publicKeyMultibase": multibase}],
            "authentication": ["#k"],
        })
        .to_string();
        assert_eq!(
            public_key_from_did_document(by_ref.as_bytes(), did).unwrap(),
            pk
        );
        for bad in [
            "".to_string(),
            "[]".into(),
            format!(r#"{{"id":"{did}"}}"#),
            format!(r##"{{"id":"{did}","authentication":[7,"#nope"]}}"##),
        ] {
            assert_eq!(
                public_key_from_did_document(bad.as_bytes(), did)
                    .unwrap_err()
                    .reason(),
                "malformed_input",
                "{bad}"
            );
        }
    }
}
