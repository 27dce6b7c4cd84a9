//! `{key_dir}/hydra_token.json`: the agent's still-valid Hydra access
//! tokens, so that a script running `vaultid call` or `vaultid token` many
//! times asks Hydra once per token lifetime instead of once per command.
//!
//! The file is a secret like `oauth_credentials.json`: created `0600`
//! (temporary file, fsync, rename, directory fsync), opened only through
//! `open_in_dir` (no links, regular files, capped), never logged. One
//! entry per (token URL, client id, requested scope); expired entries are
//! dropped on every write; at most [`MAX_ENTRIES`] are kept. A file that
//! cannot be read, is corrupt or is readable by others is not used (and
//! is replaced by the next write): the cache is only an optimisation.

use std::path::Path;

use serde_json::{json, Value};

use super::{open_in_dir, read_capped, write_atomic, OpenMode, MAX_FILE};
use crate::error::{Error, Result};
use crate::secret_string::{zeroize_bytes, SecretString};

/// File name of the token cache in the key directory.
pub(crate) const TOKEN_CACHE_FILE: &str = "hydra_token.json";

/// Entries kept at most.
pub(crate) const MAX_ENTRIES: usize = 16;

/// One cached token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedToken {
    /// Where it came from: `{public_url}/oauth2/token`.
    pub token_url: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The scope parameter that was sent (empty: none).
    pub requested_scope: String,
    /// The token.
    pub access_token: SecretString,
    /// `bearer`.
    pub token_type: String,
    /// The scopes granted.
    pub scope: String,
    /// When it was issued, Unix seconds.
    pub issued_at: u64,
    /// Its lifetime from then, seconds.
    pub expires_in: u64,
}

impl CachedToken {
    /// Whether the entry is for this (URL, client, scope).
    pub(crate) fn is_for(&self, token_url: &str, client_id: &str, requested_scope: &str) -> bool {
        self.token_url == token_url
            && self.client_id == client_id
            && self.requested_scope == requested_scope
    }

    fn expires_at(&self) -> u64 {
        self.issued_at.saturating_add(self.expires_in)
    }

    fn to_json(&self) -> Value {
        json!({
            "token_url": self.token_url,
            "client_id": self.client_id,
            "requested_scope": self.requested_scope,
            "access_token": self.access_token.expose(),
            "token_type": self.token_type,
            "scope": self.scope,
            "issued_at": self.issued_at,
            "expires_in": self.expires_in,
        })
    }
}

/// Parse the file: `{"tokens": [entry, ...]}`. Entries that do not have
/// every field with the right type are left out; a file that is not such
/// an object is an [`Error::Integrity`].
pub(crate) fn parse_token_cache(bytes: &[u8]) -> Result<Vec<CachedToken>> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Integrity(format!("{TOKEN_CACHE_FILE} is not valid JSON ({e})")))?;
    let list = v
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Integrity(format!("{TOKEN_CACHE_FILE} has no \"tokens\" list")))?;
    let entry = |e: &Value| -> Option<CachedToken> {
        let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        let access_token = s("access_token").filter(|t| !t.is_empty())?;
        Some(CachedToken {
            token_url: s("token_url")?,
            client_id: s("client_id")?,
            requested_scope: s("requested_scope")?,
            access_token: SecretString::new(access_token),
            token_type: s("token_type")?,
            scope: s("scope")?,
            issued_at: e.get("issued_at")?.as_u64()?,
            expires_in: e.get("expires_in")?.as_u64()?,
        })
    };
    Ok(list.iter().take(MAX_ENTRIES).filter_map(entry).collect())
}

/// The entries of the file at `path`; none when it is missing, unusable
/// or readable by others (said at debug level, never with a token).
pub(crate) fn read_token_cache(path: &Path) -> Vec<CachedToken> {
    let read = || -> Result<Vec<CachedToken>> {
        let Some(opened) = open_in_dir(path, OpenMode::Read)? else {
            return Ok(Vec::new());
        };
        if super::loose_mode(path, &opened.meta).is_some() {
            return Err(Error::Integrity(format!(
                "{} can be read by group or others",
                path.display()
            )));
        }
        let mut bytes = read_capped(opened, path, MAX_FILE)?;
        let parsed = parse_token_cache(&bytes);
        zeroize_bytes(&mut bytes);
        parsed
    };
    read().unwrap_or_else(|e| {
        log::debug!("token cache not used: {e}");
        Vec::new()
    })
}

/// Replace the entry for `entry`'s (URL, client, scope) (or remove it,
/// with `None` and `key`), dropping expired ones (as of `now`), and write
/// the file atomically, `0600` from creation.
pub(crate) fn update_token_cache(
    path: &Path,
    key: (&str, &str, &str),
    entry: Option<CachedToken>,
    now: u64,
) -> Result<()> {
    let mut entries: Vec<CachedToken> = read_token_cache(path)
        .into_iter()
        .filter(|e| !e.is_for(key.0, key.1, key.2) && e.expires_at() > now)
        .collect();
    if let Some(e) = entry {
        entries.insert(0, e);
    }
    entries.truncate(MAX_ENTRIES);
    let doc = json!({"tokens": entries.iter().map(CachedToken::to_json).collect::<Vec<_>>()});
    let mut text = doc.to_string();
    text.push('\n');
    let text = SecretString::new(text);
    Ok(write_atomic(path, text.expose().as_bytes(), 0o600)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry(scope: &str, token: &str, issued_at: u64) -> CachedToken {
        CachedToken {
            token_url: "http://h/oauth2/token".into(),
            client_id: "did:x".into(),
            requested_scope: scope.into(),
            access_token: SecretString::new(token),
            token_type: "bearer".into(),
            scope: scope.into(),
            issued_at,
            expires_in: 3600,
        }
    }

    #[test]
    fn entries_are_replaced_expired_ones_dropped_and_the_file_is_0600() {
        let dir = std::env::temp_dir().join(format!("vaultid-tokcache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(TOKEN_CACHE_FILE);
        assert!(read_token_cache(&path).is_empty());
        let k = |s| ("http://h/oauth2/token", "did:x", s);
        update_token_cache(&path, k("a"), Some(entry("a", "t1", 1000)), 1000).unwrap();
        update_token_cache(&path, k("b"), Some(entry("b", "t2", 1000)), 1000).unwrap();
        update_token_cache(&path, k("a"), Some(entry("a", "t3", 1500)), 1500).unwrap();
        let got = read_token_cache(&path);
        assert_eq!(got, vec![entry("a", "t3", 1500), entry("b", "t2", 1000)]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Written at a time when "b" has expired (but not "a"): dropped.
        update_token_cache(&path, k("c"), Some(entry("c", "t4", 5000)), 5000).unwrap();
        let got = read_token_cache(&path);
        assert_eq!(got, vec![entry("c", "t4", 5000), entry("a", "t3", 1500)]);
        update_token_cache(&path, k("c"), None, 5000).unwrap();
        assert_eq!(read_token_cache(&path), vec![entry("a", "t3", 1500)]);
        // A loose file is not used.
        update_token_cache(&path, k("a"), Some(entry("a", "t5", 5000)), 5000).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_token_cache(&path).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_errors_bad_entries_are_left_out() {
        assert!(parse_token_cache(b"").is_err());
        assert!(parse_token_cache(b"[]").is_err());
        assert!(parse_token_cache(br#"{"tokens":7}"#).is_err());
        let ok = entry("a", "t", 1).to_json();
        let mut no_token = ok.clone();
        no_token["access_token"] = json!("");
        let mut neg = ok.clone();
        neg["issued_at"] = json!(-1);
        let doc = json!({"tokens": [ok, no_token, neg, 5, null]}).to_string();
        assert_eq!(
            parse_token_cache(doc.as_bytes()).unwrap(),
            vec![entry("a", "t", 1)]
        );
    }
}
