//! What the startup flow decides through: three small storage traits, each
//! with its real implementation here and an in-memory one for the unit
//! tests ([`memory`], test builds only).
//!
//! - [`Versioned`]: a versioned key/value store with check-and-set (Vault
//!   KV v2, [`Kv2`]): the keys and the Hydra credentials in Vault.
//! - [`Local`]: the key directory ([`KeyDir`]): the key pair, the
//!   credentials file, setting a pair aside.
//! - [`Clients`]: Hydra's admin API for the agent's own client
//!   ([`HydraAdmin`]).
//!
//! The flow ([`super::Run`], [`super::oauth::Step`]) never sees a socket or
//! a file, so every branch of its decision runs in a unit test.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::cache::{
    KeyDir, LocalKeys, StoredCredentials, CREDENTIALS_FILE, PRIVATE_PEM, PUBLIC_PEM,
};
use crate::error::Result;
use crate::hydra::{CreateOutcome, HydraAdmin, OAuthClient};
use crate::identity::KeyPair;
use crate::vault::{Kv2, KvSecret};

/// A versioned key/value store with check-and-set.
pub(crate) trait Versioned {
    /// The latest version at `path`, if any.
    fn read(&self, path: &str) -> Result<Option<KvSecret>>;
    /// Write a new version; `cas = Some(n)`: only when the current version
    /// is `n` (`0`: only when there is none), else `Error::CasMismatch`.
    /// Returns the new version.
    fn write(&self, path: &str, data: &Map<String, Value>, cas: Option<u64>) -> Result<u64>;
    /// After a write with `cas` was refused: the version that won, read
    /// until a node shows it; `None` when none did within the wait.
    fn read_after_conflict(&self, path: &str, cas: Option<u64>) -> Result<Option<KvSecret>>;
    /// `mount/path`, for messages.
    fn display(&self, path: &str) -> String;
}

impl Versioned for Kv2<'_> {
    fn read(&self, path: &str) -> Result<Option<KvSecret>> {
        Kv2::read(self, path, None)
    }

    fn write(&self, path: &str, data: &Map<String, Value>, cas: Option<u64>) -> Result<u64> {
        Ok(Kv2::write(self, path, data, cas)?.version)
    }

    fn read_after_conflict(&self, path: &str, cas: Option<u64>) -> Result<Option<KvSecret>> {
        Kv2::read_after_conflict(self, path, cas)
    }

    fn display(&self, path: &str) -> String {
        format!("{}/{path}", self.mount())
    }
}

/// The local key directory.
pub(crate) trait Local {
    /// The key pair, validated; writes nothing.
    fn read_keys(&self) -> Result<Option<LocalKeys>>;
    /// Put `keys` in place, the new pair written before the current one is
    /// kept aside (see [`KeyDir::replace_keys`]); the names of what was
    /// kept aside.
    fn replace_keys(&self, keys: &KeyPair) -> Result<Vec<PathBuf>>;
    /// `true` when a private key file exists (readable or not).
    fn has_private_key(&self) -> bool;
    /// The agent's entry in the credentials file.
    fn read_credentials(&self, did: &str) -> Result<Option<StoredCredentials>>;
    /// A warning when the credentials file can be read by group or others.
    fn credentials_mode_warning(&self) -> Option<String> {
        None
    }
    /// Store the agent's entry; a warning when something was mended.
    fn write_credentials(&self, did: &str, creds: &StoredCredentials) -> Result<Option<String>>;
    /// The key files, for messages.
    fn describe_keys(&self) -> String;
    /// The credentials file, for messages.
    fn describe_credentials(&self) -> String;
    /// The directory, for messages.
    fn display(&self) -> String;
}

impl Local for KeyDir {
    fn read_keys(&self) -> Result<Option<LocalKeys>> {
        KeyDir::read_keys(self)
    }

    fn replace_keys(&self, keys: &KeyPair) -> Result<Vec<PathBuf>> {
        KeyDir::replace_keys(self, keys)
    }

    fn has_private_key(&self) -> bool {
        // Whatever is there, a link included (not followed).
        std::fs::symlink_metadata(self.file(PRIVATE_PEM)).is_ok()
    }

    fn read_credentials(&self, did: &str) -> Result<Option<StoredCredentials>> {
        KeyDir::read_credentials(self, did)
    }

    fn credentials_mode_warning(&self) -> Option<String> {
        match self.read_credentials_checked() {
            Ok(Some((_, loose))) => loose,
            _ => None,
        }
    }

    fn write_credentials(&self, did: &str, creds: &StoredCredentials) -> Result<Option<String>> {
        KeyDir::write_credentials(self, did, creds)
    }

    fn describe_keys(&self) -> String {
        format!(
            "{} and {}",
            self.file(PRIVATE_PEM).display(),
            self.file(PUBLIC_PEM).display()
        )
    }

    fn describe_credentials(&self) -> String {
        self.file(CREDENTIALS_FILE).display().to_string()
    }

    fn display(&self) -> String {
        self.path().display().to_string()
    }
}

/// Hydra's admin API, as far as the agent's own client goes.
pub(crate) trait Clients {
    /// The client, `None` when Hydra does not know it.
    fn get_client(&self, id: &str) -> Result<Option<OAuthClient>>;
    /// Create it; a 409 is [`CreateOutcome::Conflict`].
    fn create_client(&self, client: &OAuthClient) -> Result<CreateOutcome>;
    /// Replace it (`PUT`); a `None` secret keeps the current one.
    fn replace_client(&self, id: &str, client: &OAuthClient) -> Result<()>;
}

impl Clients for HydraAdmin {
    fn get_client(&self, id: &str) -> Result<Option<OAuthClient>> {
        HydraAdmin::get_client(self, id)
    }

    fn create_client(&self, client: &OAuthClient) -> Result<CreateOutcome> {
        HydraAdmin::create_client(self, client)
    }

    fn replace_client(&self, id: &str, client: &OAuthClient) -> Result<()> {
        HydraAdmin::replace_client(self, id, client).map(|_| ())
    }
}

/// In-memory stores with scripted faults, for the unit tests.
#[cfg(test)]
pub(crate) mod memory {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::{Map, Value};

    use super::{Clients, Local, Versioned};
    use crate::cache::{LocalKeys, StoredCredentials};
    use crate::error::{Error, Result, Service};
    use crate::hydra::{CreateOutcome, OAuthClient};
    use crate::identity::KeyPair;
    use crate::vault::{KvSecret, VersionMetadata};

    /// How many reads [`Versioned::read_after_conflict`] makes before it
    /// gives up (the real client reads for as long as its wait allows).
    pub(crate) const AFTER_CONFLICT_READS: usize = 3;

    fn unreachable(service: Service, method: &'static str, path: &str) -> Error {
        Error::Unreachable {
            service,
            method,
            path: path.into(),
            kind: crate::TransportKind::Connection,
            detail: "connection refused (in-memory store)".into(),
        }
    }

    /// A KV v2 mount in memory.
    #[derive(Default)]
    pub(crate) struct Kv {
        /// path -> versions (the last is the latest).
        pub data: RefCell<BTreeMap<String, Vec<Map<String, Value>>>>,
        /// Every request fails as if the server were unreachable.
        pub unavailable: RefCell<bool>,
        /// Written at `path` by "another replica" just before this run's
        /// next write there (so a check-and-set loses).
        pub racer: RefCell<Option<(String, Map<String, Value>)>>,
        /// How many of the reads after a write answer as if nothing were
        /// stored (a server that has not seen the write yet).
        pub stale_reads: RefCell<usize>,
        /// Successful writes by this run.
        pub writes: RefCell<Vec<(String, Option<u64>)>>,
    }

    impl Kv {
        /// Store a version directly (setting up a test).
        pub(crate) fn put(&self, path: &str, data: Map<String, Value>) {
            self.data
                .borrow_mut()
                .entry(path.into())
                .or_default()
                .push(data);
        }

        /// The latest version's data at `path`.
        pub(crate) fn latest(&self, path: &str) -> Option<Map<String, Value>> {
            self.data.borrow().get(path)?.last().cloned()
        }

        /// The latest version number at `path` (0: none).
        pub(crate) fn version(&self, path: &str) -> u64 {
            self.data.borrow().get(path).map_or(0, |v| v.len() as u64)
        }
    }

    impl Versioned for Kv {
        fn read(&self, path: &str) -> Result<Option<KvSecret>> {
            if *self.unavailable.borrow() {
                return Err(unreachable(Service::Vault, "GET", path));
            }
            {
                let mut stale = self.stale_reads.borrow_mut();
                if *stale > 0 {
                    *stale -= 1;
                    return Ok(None);
                }
            }
            let data = self.data.borrow();
            Ok(data.get(path).and_then(|versions| {
                versions.last().map(|d| KvSecret {
                    data: d.clone(),
                    metadata: VersionMetadata {
                        version: versions.len() as u64,
                        ..VersionMetadata::default()
                    },
                })
            }))
        }

        fn write(&self, path: &str, data: &Map<String, Value>, cas: Option<u64>) -> Result<u64> {
            if *self.unavailable.borrow() {
                return Err(unreachable(Service::Vault, "POST", path));
            }
            let racer = self.racer.borrow_mut().take();
            match racer {
                Some((p, d)) if p == path => self.put(path, d),
                other => *self.racer.borrow_mut() = other,
            }
            let current = self.version(path);
            if cas.is_some_and(|c| c != current) {
                return Err(Error::CasMismatch {
                    path: self.display(path),
                    cas,
                });
            }
            self.put(path, data.clone());
            self.writes.borrow_mut().push((path.into(), cas));
            Ok(current + 1)
        }

        /// Up to [`AFTER_CONFLICT_READS`] reads; stale ones answer empty.
        fn read_after_conflict(&self, path: &str, _cas: Option<u64>) -> Result<Option<KvSecret>> {
            for _ in 0..AFTER_CONFLICT_READS {
                if let Some(s) = self.read(path)? {
                    return Ok(Some(s));
                }
            }
            Ok(None)
        }

        fn display(&self, path: &str) -> String {
            format!("secret/{path}")
        }
    }

    /// A key directory in memory.
    #[derive(Default)]
    pub(crate) struct Dir {
        pub keys: RefCell<Option<KeyPair>>,
        /// The key files exist but cannot be read as a key.
        pub unreadable: RefCell<bool>,
        pub aside: RefCell<Vec<KeyPair>>,
        pub creds: RefCell<Option<StoredCredentials>>,
        /// Key pair writes.
        pub key_writes: RefCell<usize>,
        /// Credentials file writes.
        pub creds_writes: RefCell<usize>,
    }

    impl Dir {
        /// A directory holding `keys`.
        pub(crate) fn with_keys(keys: &KeyPair) -> Dir {
            let d = Dir::default();
            *d.keys.borrow_mut() = Some(keys.clone());
            d
        }

        /// The public key held, base58.
        pub(crate) fn public(&self) -> Option<String> {
            self.keys.borrow().as_ref().map(|k| k.public().base58())
        }
    }

    impl Local for Dir {
        fn read_keys(&self) -> Result<Option<LocalKeys>> {
            if *self.unreadable.borrow() {
                return Err(Error::InvalidKey("private.pem is not PEM".into()));
            }
            Ok(self.keys.borrow().clone().map(|keys| LocalKeys {
                keys,
                repaired: Vec::new(),
                public_missing: false,
            }))
        }

        fn replace_keys(&self, keys: &KeyPair) -> Result<Vec<PathBuf>> {
            let unreadable = self.unreadable.replace(false);
            let aside = match self.keys.borrow_mut().take() {
                Some(k) => {
                    self.aside.borrow_mut().push(k);
                    vec![PathBuf::from("private.pem.aside")]
                }
                None if unreadable => vec![PathBuf::from("private.pem.aside")],
                None => Vec::new(),
            };
            *self.keys.borrow_mut() = Some(keys.clone());
            *self.key_writes.borrow_mut() += 1;
            Ok(aside)
        }

        fn has_private_key(&self) -> bool {
            self.keys.borrow().is_some() || *self.unreadable.borrow()
        }

        fn read_credentials(&self, _did: &str) -> Result<Option<StoredCredentials>> {
            Ok(self.creds.borrow().clone())
        }

        fn write_credentials(
            &self,
            _did: &str,
            creds: &StoredCredentials,
        ) -> Result<Option<String>> {
            *self.creds.borrow_mut() = Some(creds.clone());
            *self.creds_writes.borrow_mut() += 1;
            Ok(None)
        }

        fn describe_keys(&self) -> String {
            "mem/private.pem and mem/public.pem".into()
        }

        fn describe_credentials(&self) -> String {
            "mem/oauth_credentials.json".into()
        }

        fn display(&self) -> String {
            "mem".into()
        }
    }

    /// Hydra's clients in memory.
    #[derive(Default)]
    pub(crate) struct Hydra {
        pub clients: RefCell<BTreeMap<String, OAuthClient>>,
        /// Every request fails as if Hydra were unreachable.
        pub unavailable: RefCell<bool>,
        /// Created by "another replica" between this run's GET and its
        /// create (so the create answers 409).
        pub racer: RefCell<Option<OAuthClient>>,
        /// Requests by this run: `GET`, `POST`, `PUT`.
        pub calls: RefCell<Vec<&'static str>>,
    }

    impl Hydra {
        /// The secret the stored client has.
        pub(crate) fn secret(&self, id: &str) -> Option<String> {
            self.clients
                .borrow()
                .get(id)?
                .client_secret
                .as_ref()
                .map(|s| s.expose().to_string())
        }

        fn call(&self, method: &'static str, id: &str) -> Result<()> {
            self.calls.borrow_mut().push(method);
            if *self.unavailable.borrow() {
                return Err(unreachable(Service::Hydra, method, id));
            }
            Ok(())
        }
    }

    impl Clients for Hydra {
        fn get_client(&self, id: &str) -> Result<Option<OAuthClient>> {
            self.call("GET", id)?;
            // Hydra never returns the secret on GET.
            Ok(self.clients.borrow().get(id).cloned().map(|mut c| {
                c.client_secret = None;
                c
            }))
        }

        fn create_client(&self, client: &OAuthClient) -> Result<CreateOutcome> {
            self.call("POST", &client.client_id)?;
            if let Some(r) = self.racer.borrow_mut().take() {
                self.clients.borrow_mut().insert(r.client_id.clone(), r);
            }
            let mut clients = self.clients.borrow_mut();
            if clients.contains_key(&client.client_id) {
                return Ok(CreateOutcome::Conflict {
                    errors: vec!["resource exists".into()],
                });
            }
            clients.insert(client.client_id.clone(), client.clone());
            Ok(CreateOutcome::Created(Box::new(client.clone())))
        }

        fn replace_client(&self, id: &str, client: &OAuthClient) -> Result<()> {
            self.call("PUT", id)?;
            let mut clients = self.clients.borrow_mut();
            let Some(stored) = clients.get_mut(id) else {
                return Err(Error::NotFound {
                    service: Service::Hydra,
                    method: "PUT",
                    path: id.into(),
                });
            };
            let secret = client
                .client_secret
                .clone()
                .or_else(|| stored.client_secret.clone());
            *stored = client.clone();
            stored.client_secret = secret;
            Ok(())
        }
    }
}
