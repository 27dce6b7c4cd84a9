//! The headers of a signed call, for a long-running process: the agent's
//! Hydra token (reused until shortly before it expires, shared with the
//! other processes of the key directory through `hydra_token.json`) and
//! the DID signature over a body, with the key pair read from the key
//! directory and read again whenever `private.pem` is replaced (as
//! `vaultid up --recreate-keys` does), so a restored or recreated identity
//! signs from the next call on.
//!
//! [`Caller`](super::Caller) makes one call from a key pair it is given;
//! a [`Signer`] serves many threads for a whole life (the gateway's
//! `/peers/`).

use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use super::envelope::{sign_request, unix_now};
use crate::cache::KeyDir;
use crate::error::{Error, Result};
use crate::hydra::TokenClient;
use crate::identity::KeyPair;
use crate::secret_string::SecretString;
use crate::util::lock;

/// Builds the token client when it is first needed (and again after it
/// failed: the credentials may have been restored since).
pub(crate) type TokenSource = Box<dyn Fn() -> Result<TokenClient> + Send + Sync>;

/// What identifies one version of `private.pem`: device, inode, size,
/// modification time. An atomic replacement is a new inode.
type Stamp = (u64, u64, u64, i64, i64);

#[derive(Default)]
struct State {
    keys: Option<(Stamp, KeyPair)>,
    tokens: Option<TokenClient>,
    /// The last token was refused by a peer: fetch a new one.
    refused: bool,
}

/// Signs requests as the agent `did` with the key pair of a key directory.
pub(crate) struct Signer {
    did: String,
    key_dir: KeyDir,
    token_source: TokenSource,
    state: Mutex<State>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `did`, its keys in `key_dir`, its tokens from the
    /// client `token_source` builds.
    pub(crate) fn new(did: &str, key_dir: KeyDir, token_source: TokenSource) -> Signer {
        Signer {
            did: did.to_string(),
            key_dir,
            token_source,
            state: Mutex::new(State::default()),
        }
    }

    /// `Authorization: Bearer <token>`, `X-DID`, `X-DID-Timestamp` and
    /// `X-DID-Signature` for exactly `body`, signed now.
    ///
    /// A body that is not UTF-8 is [`Error::Signature`] (the framework
    /// could not check it); no key pair in the key directory is
    /// [`Error::Config`]; a token that cannot be had is Hydra's error.
    pub(crate) fn headers(&self, body: &[u8]) -> Result<Vec<(String, SecretString)>> {
        let mut state = lock(&self.state);
        let stamp = self.stamp()?;
        if state.keys.as_ref().map(|(s, _)| *s) != Some(stamp) {
            let keys = self
                .key_dir
                .read_keys()?
                .ok_or_else(|| self.no_keys())?
                .keys;
            state.keys = Some((stamp, keys));
        }
        if state.tokens.is_none() {
            state.tokens = Some((self.token_source)()?);
        }
        let refused = std::mem::take(&mut state.refused);
        let token = {
            let tokens = state.tokens.as_ref().ok_or_else(|| self.no_keys())?;
            if refused {
                tokens.fetch_token()
            } else {
                tokens.token()
            }
        };
        let token = match token {
            Ok(t) => t.access_token,
            Err(e) => {
                // Built again next time: the credentials may change.
                state.tokens = None;
                return Err(e);
            }
        };
        let keys = &state.keys.as_ref().ok_or_else(|| self.no_keys())?.1;
        let signed = sign_request(keys, &self.did, body, unix_now()).map_err(Error::Signature)?;
        let mut out = vec![(
            "Authorization".to_string(),
            SecretString::new(format!("Bearer {}", token.expose())),
        )];
        for (name, value) in signed.to_pairs() {
            out.push((name.to_string(), SecretString::new(value)));
        }
        Ok(out)
    }

    /// A peer refused the token (401): the next call fetches a new one.
    pub(crate) fn token_refused(&self) {
        lock(&self.state).refused = true;
    }

    fn stamp(&self) -> Result<Stamp> {
        let path = self.key_dir.file(crate::cache::PRIVATE_PEM);
        match std::fs::symlink_metadata(&path) {
            Ok(m) => Ok((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.no_keys()),
            Err(e) => Err(Error::io(format!("inspecting {}", path.display()), e)),
        }
    }

    fn no_keys(&self) -> Error {
        Error::Config(format!(
            "no key pair in {} to sign with (the agent restores it with `restore_identity`, \
             or run `vaultid up`)",
            self.key_dir.path().display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_keys_no_headers_and_the_key_is_read_again_when_replaced() {
        let dir = std::env::temp_dir().join(format!("vaultid-signer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let kd = KeyDir::new(&dir);
        let signer = Signer::new(
            "did:bindu:a:b:c",
            KeyDir::new(&dir),
            Box::new(|| Err(Error::Config("no Hydra in this test".into()))),
        );
        let e = signer.headers(b"{}").unwrap_err().to_string();
        assert!(e.contains("no key pair"), "{e}");
        let first = KeyPair::generate();
        kd.ensure_dir().unwrap();
        kd.write_keys(&first).unwrap();
        // Keys read; the token is what fails now.
        let e = signer.headers(b"{}").unwrap_err().to_string();
        assert!(e.contains("no Hydra"), "{e}");
        let stamp = lock(&signer.state).keys.as_ref().unwrap().0;
        let second = KeyPair::generate();
        kd.replace_keys(&second).unwrap();
        let _ = signer.headers(b"{}");
        let state = lock(&signer.state);
        let (s, k) = state.keys.as_ref().unwrap();
        assert_ne!(*s, stamp);
        assert_eq!(k.public().base58(), second.public().base58());
        drop(state);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
