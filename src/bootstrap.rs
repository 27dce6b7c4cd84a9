//! The startup flow: `vaultid up`, [`ensure`].
//!
//! 1. agent id and DID from the configuration;
//! 2. the exclusive lock on `{key_dir}/.lock` (bounded wait);
//! 3. local keys read and validated;
//! 4. Vault keys (one read), then exactly one of:
//!    - Vault has keys: they win; written locally when missing or different
//!      (a differing local pair is set aside, never deleted);
//!    - Vault empty, local present: local backed up with `cas=0`;
//!    - both empty: generate, write to Vault with `cas=0`; when that CAS
//!      loses (another host won the race) read the winner and use it;
//!    - Vault unavailable ([`Error::is_unavailable`]: unreachable, sealed,
//!      denying, failing, or answering with something that is not a usable
//!      Vault answer, such as a captive portal's HTML page or a redirect
//!      that is not followed): start from local keys and say so (backed up
//!      on a later run); without local keys fail, unless offline generation was
//!      asked for, since a new key would fork the identity. With local
//!      keys, Vault gets `VAULTID_STARTUP_TIMEOUT` to answer, and nodes
//!      that refuse connections are tried once each, without a retry;
//! 5. Hydra, when configured (see [`crate::hydra`]);
//! 6. the lock is released and the outcome reports what came from where.
//!
//! A restart that changes nothing writes nothing (so a read-only key
//! directory holding a complete pair is enough).
//!
//! **After any failure during `up`, the key directory holds at least the
//! complete pair it held before.** Keys are replaced by writing the new pair
//! first and swapping it in (`KeyDir::replace_keys`); an I/O error (a full
//! disk, a read-only directory) while reading or repairing local keys is
//! never taken for "the local key is unusable", so it never leads to a pair
//! being replaced; only content that cannot be a key (bad PEM, a link, a
//! FIFO) is replaced from Vault, and even then it is kept aside.

use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

mod oauth;
mod store;
#[cfg(test)]
mod tests;

pub use oauth::{credentials_path, token_client, ClientAction, HydraOutcome, HydraStatus};

use crate::cache::{KeyDir, LocalKeys};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity::{Identity, KeyPair};
use crate::vault;
use store::{Local, Versioned};

/// Where something the run uses came from: the key pair
/// ([`Outcome::keys_source`]) or the OAuth2 client secret
/// ([`HydraOutcome::credentials_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Source {
    /// Restored from (or confirmed by) Vault.
    Vault,
    /// Read from the local key directory.
    Local,
    /// Made by this run.
    Generated,
}

/// Where a run wrote something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Place {
    /// Vault (KV v2).
    Vault,
    /// The local key directory.
    Local,
}

/// One thing a run wrote. Serialized (and displayed) as one line,
/// `vault: {what}` or `local: {what}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// Where it went.
    pub place: Place,
    /// What was written: the Vault path and version, or the files.
    pub what: String,
}

impl Written {
    fn vault(what: String) -> Written {
        Written {
            place: Place::Vault,
            what,
        }
    }

    fn local(what: String) -> Written {
        Written {
            place: Place::Local,
            what,
        }
    }
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.place {
            Place::Vault => "vault",
            Place::Local => "local",
        };
        write!(f, "{place}: {}", self.what)
    }
}

impl Serialize for Written {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The state of Vault as seen by this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VaultStatus {
    /// Vault is not configured.
    Disabled,
    /// Vault answered.
    Ok,
    /// Vault could not be used (unreachable, sealed, denying, or what
    /// answered was not a usable Vault answer); the run went on from local
    /// keys.
    Unavailable,
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Outcome {
    /// The agent id.
    pub agent_id: String,
    /// The agent's DID.
    pub did: String,
    /// The public key, base58.
    pub public_key_base58: String,
    /// Where the key pair came from.
    pub keys_source: Source,
    /// Vault's state during this run.
    pub vault: VaultStatus,
    /// Why Vault was unavailable, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_error: Option<String>,
    /// The KV v2 version of the keys in Vault after this run, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_version: Option<u64>,
    /// What this run waited for in Vault (an election, an unreachable or
    /// sealed node, a rate limit), when it had to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_waited: Option<String>,
    /// Everything written.
    pub written: Vec<Written>,
    /// Files moved aside instead of being overwritten.
    pub set_aside: Vec<String>,
    /// Warnings worth a human's attention.
    pub warnings: Vec<String>,
    /// The OAuth2 client in Hydra, when Hydra is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hydra: Option<HydraOutcome>,
    /// Wall time of the whole flow, milliseconds.
    pub elapsed_ms: u64,
}

/// The KV v2 path (inside the mount) of an agent's keys:
/// `{prefix}/agents/{agent_id}/did-keys`.
pub fn keys_path(prefix: &str, agent_id: &str) -> String {
    format!("{prefix}/agents/{agent_id}/did-keys")
}

/// Run the startup flow for `config`: make sure the agent has its one key
/// pair, locally and (when enabled) in Vault.
pub fn ensure(config: &Config) -> Result<Outcome> {
    let start = Instant::now();
    let identity = Identity::new(
        &config.identity.author,
        &config.identity.agent_name,
        config.identity.agent_id.as_deref(),
    )?;
    let dir = KeyDir::new(&config.key_dir);
    let lock = dir.lock(config.lock_timeout)?;
    let stale = dir.remove_stale_temp_files()?;
    let mut run = Run::new(&identity, &dir, Policy::of(config));
    if stale > 0 {
        run.warnings.push(format!(
            "removed {stale} temporary file(s) left in {} by an interrupted run",
            dir.path().display()
        ));
    }
    for w in dir.inspect() {
        run.warn(w);
    }
    let mut local = dir.read_keys();
    if let Ok(Some(l)) = &mut local {
        if l.public_missing {
            let note = dir.restore_public(&l.keys, &lock);
            l.repaired.push(note);
        }
    }
    // One Vault client for the whole run (one kept-alive connection). A
    // readable local pair means there is a fallback, so Vault then gets a
    // short deadline to answer.
    let vault = match &config.vault {
        Some(v) => {
            let mut v = v.clone();
            let has_local = matches!(local, Ok(Some(_)));
            if has_local {
                v.timeout = v.timeout.min(v.startup_timeout);
                v.connect_timeout = v.connect_timeout.min(v.startup_timeout);
                v.max_retries = v.max_retries.min(1);
                v.wait = v.wait.min(v.startup_timeout);
            }
            let client = vault::Client::new(&v)?;
            // One deadline for the whole run: with local keys the short
            // start-up one, else the wait for the cluster (elections,
            // unreachable or sealed nodes).
            client.http().set_deadline(Some(start + v.wait));
            // With a local pair, nodes that refuse connections (each tried
            // once, without a wait in between) are final: a retry after a
            // backoff would only delay a start the local keys can make now.
            client.http().set_unreachable_final(has_local);
            Some((client, v))
        }
        None => None,
    };
    // A token this run logged in for is revoked on the way out, whatever
    // the outcome: nobody else can use it, and each start would otherwise
    // leave one behind in Vault's token store.
    let _revoke = vault.as_ref().map(|(c, _)| c.revoke_own_token_on_drop());
    let kv = match &vault {
        Some((client, v)) => {
            client.require_credentials()?;
            Some((client.kv2(&v.kv_mount), v))
        }
        None => None,
    };
    let (keys, source) = match (&kv, &vault) {
        (Some((kv, v)), Some((client, _))) => {
            let store = VaultKeys {
                kv,
                path: keys_path(&v.prefix, &identity.agent_id),
            };
            let r = run.with_vault(&store, local);
            run.note_waits(client, r)?
        }
        _ => run.local_only(local)?,
    };
    let hydra = match &config.hydra {
        Some(h) if h.auto_register => {
            let creds = match &kv {
                Some((kv, v)) if run.vault == VaultStatus::Ok => Some(oauth::VaultCreds {
                    kv,
                    path: credentials_path(&v.prefix, &identity.did),
                }),
                _ => None,
            };
            let admin = crate::hydra::HydraAdmin::new(h)?;
            let step = oauth::Step {
                config: h,
                identity: &identity,
                keys: &keys,
                local: &dir,
                hydra: &admin,
                vault: creds,
                vault_unavailable: run.vault == VaultStatus::Unavailable,
                written: Vec::new(),
                warnings: Vec::new(),
            };
            let (outcome, written, warnings) = step.run()?;
            run.written.extend(written);
            run.warnings.extend(warnings);
            Some(outcome)
        }
        _ => None,
    };
    Ok(run.finish(&keys, source, hydra, start))
}

/// What the run may do beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
struct Policy {
    /// Replace the key pair with a new one.
    recreate_keys: bool,
    /// Generate keys while Vault is unavailable and no local keys exist.
    allow_offline_generate: bool,
}

impl Policy {
    fn of(config: &Config) -> Policy {
        Policy {
            recreate_keys: config.recreate_keys,
            allow_offline_generate: config.allow_offline_generate,
        }
    }
}

/// The key step's state: what it decided through, and what it did.
struct Run<'a> {
    identity: &'a Identity,
    local: &'a dyn Local,
    policy: Policy,
    written: Vec<Written>,
    set_aside: Vec<String>,
    warnings: Vec<String>,
    vault: VaultStatus,
    vault_error: Option<String>,
    vault_version: Option<u64>,
    vault_waited: Option<String>,
}

impl<'a> Run<'a> {
    fn new(identity: &'a Identity, local: &'a dyn Local, policy: Policy) -> Run<'a> {
        Run {
            identity,
            local,
            policy,
            written: Vec::new(),
            set_aside: Vec::new(),
            warnings: Vec::new(),
            vault: VaultStatus::Disabled,
            vault_error: None,
            vault_version: None,
            vault_waited: None,
        }
    }

    /// Say what the Vault client waited for, if anything: in the outcome
    /// (`vault_waited`) when the step succeeded, in the error when it
    /// failed ([`Error::AfterWaiting`]), so that a failure is one message.
    fn note_waits<T>(&mut self, client: &vault::Client, r: Result<T>) -> Result<T> {
        let mut w = client.http().waited();
        match r {
            Ok(v) => {
                if let Some(msg) = w.summary(crate::Service::Vault) {
                    log::info!("{msg}");
                    self.vault_waited = Some(msg);
                }
                Ok(v)
            }
            Err(e) => {
                // An unreachable node's detail already says why it gave up.
                if w.gave_up
                    .as_deref()
                    .is_some_and(|g| e.to_string().contains(g))
                {
                    w.gave_up = None;
                }
                Err(match w.summary(crate::Service::Vault) {
                    Some(waited) => Error::AfterWaiting {
                        error: Box::new(e),
                        waited,
                    },
                    None => e,
                })
            }
        }
    }

    fn finish(
        self,
        keys: &KeyPair,
        source: Source,
        hydra: Option<HydraOutcome>,
        start: Instant,
    ) -> Outcome {
        Outcome {
            agent_id: self.identity.agent_id.clone(),
            did: self.identity.did.clone(),
            public_key_base58: keys.public().base58(),
            keys_source: source,
            vault: self.vault,
            vault_error: self.vault_error,
            vault_version: self.vault_version,
            vault_waited: self.vault_waited,
            written: self.written,
            set_aside: self.set_aside,
            warnings: self.warnings,
            hydra,
            elapsed_ms: start.elapsed().as_millis() as u64,
        }
    }

    fn warn(&mut self, msg: String) {
        log::warn!("{msg}");
        self.warnings.push(msg);
    }

    fn note_local(&mut self, local: &LocalKeys) {
        for r in &local.repaired {
            self.warnings.push(r.clone());
        }
    }

    fn write_local(&mut self, keys: &KeyPair) -> Result<()> {
        for p in self.local.replace_keys(keys)? {
            self.set_aside.push(p.display().to_string());
        }
        self.written
            .push(Written::local(self.local.describe_keys()));
        Ok(())
    }

    /// Replace local keys by `keys`, keeping whatever differs aside. The
    /// new pair is written before the old one moves (see the module docs).
    fn replace_local(&mut self, keys: &KeyPair, why: &str) -> Result<()> {
        let before = self.set_aside.len();
        self.write_local(keys)?;
        if self.set_aside.len() > before {
            let msg = format!(
                "{why}; the previous local pair is kept at {}",
                self.set_aside[before..].join(", ")
            );
            self.warn(msg);
        }
        Ok(())
    }

    /// A new pair replacing `old` (recreate): the reason to give.
    fn recreated(old: Option<&KeyPair>, new: &KeyPair) -> String {
        match old {
            Some(old) => format!(
                "key recreation asked for: replaced key {} with {}",
                old.public().base58(),
                new.public().base58()
            ),
            None => "key recreation asked for: no previous key".to_string(),
        }
    }

    fn local_only(&mut self, local: Result<Option<LocalKeys>>) -> Result<(KeyPair, Source)> {
        let local = local.map_err(unreadable_local)?;
        if self.policy.recreate_keys {
            let keys = KeyPair::generate();
            let why = Run::recreated(local.as_ref().map(|l| &l.keys), &keys);
            self.replace_local(&keys, &why)?;
            return Ok((keys, Source::Generated));
        }
        match local {
            Some(l) => {
                self.note_local(&l);
                Ok((l.keys, Source::Local))
            }
            None => {
                let keys = KeyPair::generate();
                self.write_local(&keys)?;
                Ok((keys, Source::Generated))
            }
        }
    }

    fn with_vault(
        &mut self,
        store: &VaultKeys<'_>,
        local: Result<Option<LocalKeys>>,
    ) -> Result<(KeyPair, Source)> {
        match store.read(&self.identity.did) {
            Ok(found) => {
                self.vault = VaultStatus::Ok;
                self.vault_version = found.as_ref().map(|(_, v)| *v);
                self.decide(store, found, local)
            }
            Err(e) if e.is_unavailable() => {
                self.vault = VaultStatus::Unavailable;
                self.vault_error = Some(e.to_string());
                self.offline(local, e)
            }
            Err(e) => Err(e),
        }
    }

    /// Vault answered: `found` is its pair and version, if any.
    fn decide(
        &mut self,
        store: &VaultKeys<'_>,
        found: Option<(KeyPair, u64)>,
        local: Result<Option<LocalKeys>>,
    ) -> Result<(KeyPair, Source)> {
        let local = match local {
            Ok(l) => l,
            // Vault holds a good pair: local content that cannot be a key
            // (bad PEM, a link, a FIFO) is kept aside and replaced. Without
            // one in Vault, nothing can replace it. An I/O error says
            // nothing about the key: it stops the run and touches nothing.
            Err(e @ (Error::InvalidKey(_) | Error::Integrity(_))) if found.is_some() => {
                self.warn(format!("local keys unusable ({e}); restoring from Vault"));
                None
            }
            Err(e) => return Err(unreadable_local(e)),
        };
        if let Some(l) = &local {
            self.note_local(l);
        }
        match found {
            Some((vault_keys, version)) if self.policy.recreate_keys => {
                self.recreate_in_vault(store, &vault_keys, version)
            }
            Some((vault_keys, _)) => self.restore_from_vault(vault_keys, local),
            None => self.first_in_vault(store, local),
        }
    }

    /// Vault holds keys and a new pair was asked for: replace them with
    /// check-and-set on the version read, then locally.
    fn recreate_in_vault(
        &mut self,
        store: &VaultKeys<'_>,
        vault_keys: &KeyPair,
        version: u64,
    ) -> Result<(KeyPair, Source)> {
        let keys = KeyPair::generate();
        let v = store.write(&keys, &self.identity.did, Some(version))?;
        self.vault_version = Some(v);
        self.written.push(store.describe(v));
        let why = format!(
            "{} (Vault version {version} -> {v})",
            Run::recreated(Some(vault_keys), &keys)
        );
        self.replace_local(&keys, &why)?;
        Ok((keys, Source::Generated))
    }

    /// Vault holds keys: they win; the local copy follows.
    fn restore_from_vault(
        &mut self,
        vault_keys: KeyPair,
        local: Option<LocalKeys>,
    ) -> Result<(KeyPair, Source)> {
        match local {
            Some(l) if l.keys.public() == vault_keys.public() => {}
            Some(l) => {
                let why = format!(
                    "local key {} differs from Vault's {}; Vault wins",
                    l.keys.public().base58(),
                    vault_keys.public().base58()
                );
                self.replace_local(&vault_keys, &why)?;
            }
            None => {
                // A set-aside of an unreadable pair, if one is there.
                self.replace_local(&vault_keys, "local keys were unusable")?;
            }
        }
        Ok((vault_keys, Source::Vault))
    }

    /// Vault holds no keys: store the local pair (or a new one) with
    /// `cas=0`; when another host stored one first, adopt it.
    fn first_in_vault(
        &mut self,
        store: &VaultKeys<'_>,
        local: Option<LocalKeys>,
    ) -> Result<(KeyPair, Source)> {
        let (keys, source) = match local {
            Some(l) if !self.policy.recreate_keys => (l.keys, Source::Local),
            other => {
                let keys = KeyPair::generate();
                if let Some(l) = other {
                    let why = Run::recreated(Some(&l.keys), &keys);
                    self.replace_local(&keys, &why)?;
                }
                (keys, Source::Generated)
            }
        };
        match store.write(&keys, &self.identity.did, Some(0)) {
            Ok(v) => {
                self.vault_version = Some(v);
                self.written.push(store.describe(v));
                if !self.local.has_private_key() {
                    self.write_local(&keys)?;
                }
                Ok((keys, source))
            }
            Err(Error::CasMismatch { .. }) => self.adopt_winner(store),
            // The local pair stays in use; it is backed up on a later run.
            Err(e) if source == Source::Local && e.is_unavailable() => {
                self.vault = VaultStatus::Unavailable;
                self.vault_error = Some(e.to_string());
                self.warn(format!(
                    "Vault answered the read but not the backup ({e}); starting from local keys, \
                     they will be backed up on a later run"
                ));
                Ok((keys, source))
            }
            Err(e) => Err(e),
        }
    }

    /// Another host stored a pair first: read it and use it locally. A
    /// standby may not have applied the winner's write yet: read until a
    /// node shows it.
    fn adopt_winner(&mut self, store: &VaultKeys<'_>) -> Result<(KeyPair, Source)> {
        let (winner, v) = store.read_winner(&self.identity.did)?.ok_or_else(|| {
            Error::Unavailable(format!(
                "check-and-set on {} lost, but no Vault node showed the winner's keys \
                 within the wait; retry",
                store.display()
            ))
        })?;
        self.vault_version = Some(v);
        if self.local.has_private_key() {
            let ours = self.local.read_keys()?.map(|l| l.keys);
            if ours.as_ref().map(|k| k.public()) != Some(winner.public()) {
                let why = format!(
                    "another host stored key {} in Vault first; adopting it",
                    winner.public().base58()
                );
                self.replace_local(&winner, &why)?;
            }
        } else {
            self.write_local(&winner)?;
        }
        Ok((winner, Source::Vault))
    }

    /// Vault could not be used.
    fn offline(
        &mut self,
        local: Result<Option<LocalKeys>>,
        cause: Error,
    ) -> Result<(KeyPair, Source)> {
        match local.map_err(unreadable_local)? {
            Some(l) => {
                self.note_local(&l);
                self.warn(format!(
                    "Vault unavailable ({cause}); starting from local keys, they will be backed up on a later run"
                ));
                if self.policy.recreate_keys {
                    return Err(Error::Unavailable(format!(
                        "recreating the keys needs Vault, which is unavailable: {cause}"
                    )));
                }
                Ok((l.keys, Source::Local))
            }
            None if self.policy.allow_offline_generate => {
                let keys = KeyPair::generate();
                self.write_local(&keys)?;
                self.warn(format!(
                    "Vault unavailable ({cause}); generated a new key pair locally because offline generation is allowed. \
                     If Vault already holds keys for this agent, the next run sets this pair aside and uses Vault's"
                ));
                Ok((keys, Source::Generated))
            }
            None => Err(Error::WouldForkIdentity {
                key_dir: self.local.display(),
                cause: Box::new(cause),
            }),
        }
    }
}

fn unreadable_local(e: Error) -> Error {
    match e {
        Error::InvalidKey(m) => Error::InvalidKey(format!(
            "{m}. vaultid never overwrites a key it cannot read: move the files away or repair them"
        )),
        other => other,
    }
}

/// The agent's keys at their KV v2 path.
struct VaultKeys<'a> {
    kv: &'a dyn Versioned,
    path: String,
}

impl VaultKeys<'_> {
    fn display(&self) -> String {
        self.kv.display(&self.path)
    }

    fn describe(&self, version: u64) -> Written {
        Written::vault(format!("{} version {version}", self.display()))
    }

    /// The pair stored in Vault and its version, checked against `did`.
    fn read(&self, did: &str) -> Result<Option<(KeyPair, u64)>> {
        match self.kv.read(&self.path)? {
            Some(secret) => self.check(secret, did).map(Some),
            None => Ok(None),
        }
    }

    /// After a lost `cas=0` write: the winner's pair, read until a node
    /// shows it (see [`vault::Kv2::read_after_conflict`]).
    fn read_winner(&self, did: &str) -> Result<Option<(KeyPair, u64)>> {
        match self.kv.read_after_conflict(&self.path, Some(0))? {
            Some(secret) => self.check(secret, did).map(Some),
            None => Ok(None),
        }
    }

    fn check(&self, secret: vault::KvSecret, did: &str) -> Result<(KeyPair, u64)> {
        let field = |k: &str| -> Result<&str> {
            secret.data.get(k).and_then(Value::as_str).ok_or_else(|| {
                Error::Integrity(format!(
                    "{} version {} lacks the string field {k:?}",
                    self.display(),
                    secret.metadata.version
                ))
            })
        };
        let stored_did = field("did")?;
        if stored_did != did {
            return Err(Error::Integrity(format!(
                "Vault holds keys for DID {stored_did} at {}, but this configuration computes DID {did}; \
                 was the author or agent name changed? Refusing to overwrite",
                self.display()
            )));
        }
        let keys =
            KeyPair::from_pems(field("private_key")?, field("public_key")?).map_err(|e| {
                Error::Integrity(format!(
                    "{} holds an unusable key pair: {e}",
                    self.display()
                ))
            })?;
        Ok((keys, secret.metadata.version))
    }

    /// Store `keys` with check-and-set `cas`; returns the new version.
    fn write(&self, keys: &KeyPair, did: &str, cas: Option<u64>) -> Result<u64> {
        let private = keys.private_pem();
        let mut data = Map::new();
        data.insert("private_key".into(), private.expose().to_string().into());
        data.insert("public_key".into(), keys.public_pem().into());
        data.insert("did".into(), did.to_string().into());
        let r = self.kv.write(&self.path, &data, cas);
        if let Some(Value::String(s)) = data.get_mut("private_key") {
            crate::secret_string::zeroize_string(s);
        }
        r
    }
}
