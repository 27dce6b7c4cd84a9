//! Step 5 of the startup flow: the agent's OAuth2 client in Hydra.
//!
//! Credentials come from Vault (`{prefix}/hydra/credentials/{did}`), then
//! the local `oauth_credentials.json`, then a new random secret. Then one
//! `GET` of the client decides:
//! - missing: a new secret is first claimed in Vault with `cas=0` (racing
//!   replicas adopt the winner's), then the client is created with the
//!   secret held (a deleted client comes back with the same id and secret);
//!   a `409` means another replica created it, with the secret in Vault;
//! - present, and a secret was held: reuse it; when its
//!   `metadata.public_key` (or scope) is stale, replace it with `PUT`,
//!   keeping the secret;
//! - present, and no secret held anywhere: the new secret is put on the
//!   same client first and claimed in Vault after; a replica whose claim
//!   loses puts the winner's secret on the client. Never delete and
//!   recreate.
//!
//! Either order leaves a crash at any point recoverable by the next run:
//! what Vault holds is what Hydra accepts.
//!
//! Then what changed is backed up: Vault (check-and-set) and the local file.
//! When Hydra is unreachable the identity still comes up; the outcome says
//! so and the next run completes the registration.

use serde::Serialize;
use serde_json::Value;

use super::store::{Clients, Local, Versioned};
use super::{Source, Written};
use crate::cache::{KeyDir, StoredCredentials};
use crate::config::HydraConfig;
use crate::error::{Error, Result};
use crate::hydra::{registration_body, AgentRegistration, CreateOutcome, OAuthClient};
use crate::identity::{Identity, KeyPair};
use crate::secret_string::SecretString;
use crate::util::random::random_secret_urlsafe;

/// Whether Hydra could be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HydraStatus {
    /// The client is registered and its secret held.
    Ok,
    /// Hydra (or, for a new secret, Vault) could not be used; the identity
    /// is up and a later run completes the registration.
    Unavailable,
}

/// What happened to the client in Hydra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAction {
    /// It existed and was used as it was.
    Reused,
    /// It was created.
    Created,
    /// Another replica created it at the same time; its secret was adopted.
    Adopted,
    /// Its metadata (public key, scope) was brought up to date, secret kept.
    Updated,
    /// It existed but no secret was held anywhere: a new secret was set on it.
    SecretReset,
    /// Nothing was done (Hydra unreachable, or no usable credentials).
    None,
}

/// The Hydra part of the outcome.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct HydraOutcome {
    /// Whether the registration completed.
    pub status: HydraStatus,
    /// The client id (the DID).
    pub client_id: String,
    /// What happened to the client.
    pub client: ClientAction,
    /// Where the secret came from, when one is in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_source: Option<Source>,
    /// Why Hydra was unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The KV v2 path (inside the mount) of an agent's Hydra credentials:
/// `{prefix}/hydra/credentials/{did}`.
pub fn credentials_path(prefix: &str, did: &str) -> String {
    format!("{prefix}/hydra/credentials/{did}")
}

/// Vault access for this step, when Vault answered during the key step.
pub(super) struct VaultCreds<'a> {
    pub kv: &'a dyn Versioned,
    pub path: String,
}

impl VaultCreds<'_> {
    fn display(&self) -> String {
        self.kv.display(&self.path)
    }

    fn read(&self) -> Result<Option<(StoredCredentials, u64)>> {
        self.parse(self.kv.read(&self.path)?)
    }

    /// After a lost `cas=0` claim: the winner's credentials, read until a
    /// node shows them.
    fn read_winner(&self) -> Result<Option<(StoredCredentials, u64)>> {
        self.parse(self.kv.read_after_conflict(&self.path, Some(0))?)
    }

    fn parse(
        &self,
        found: Option<crate::vault::KvSecret>,
    ) -> Result<Option<(StoredCredentials, u64)>> {
        match found {
            None => Ok(None),
            Some(s) => StoredCredentials::from_json(&s.data)
                .map(|c| Some((c, s.metadata.version)))
                .map_err(|e| Error::Integrity(format!("{}: {e}", self.display()))),
        }
    }

    fn write(&self, c: &StoredCredentials, cas: Option<u64>) -> Result<u64> {
        let mut data = c.to_json();
        let r = self.kv.write(&self.path, &data, cas);
        if let Some(Value::String(s)) = data.get_mut("client_secret") {
            crate::secret_string::zeroize_string(s);
        }
        r
    }
}

/// The step's inputs: what it decides through, and what it has done.
pub(super) struct Step<'a> {
    pub config: &'a HydraConfig,
    pub identity: &'a Identity,
    pub keys: &'a KeyPair,
    pub local: &'a dyn Local,
    pub hydra: &'a dyn Clients,
    pub vault: Option<VaultCreds<'a>>,
    /// Vault is configured but did not answer during the key step.
    pub vault_unavailable: bool,
    pub written: Vec<Written>,
    pub warnings: Vec<String>,
}

/// The secret this run uses and who holds what.
struct Held {
    /// The credentials in use.
    creds: StoredCredentials,
    /// Where they came from.
    source: Source,
    /// A secret was held (Vault or local) when the run started.
    held_before: bool,
    /// Vault's credentials and version when the run started.
    in_vault: Option<(StoredCredentials, u64)>,
    /// The local entry when the run started.
    local: Option<StoredCredentials>,
    /// What Vault holds now, as far as this run knows.
    vault_has: Option<StoredCredentials>,
}

impl Held {
    /// Use the credentials Vault holds (another replica's).
    fn adopt(&mut self, c: StoredCredentials) {
        self.creds = c.clone();
        self.vault_has = Some(c);
        self.source = Source::Vault;
    }
}

impl Step<'_> {
    fn warn(&mut self, msg: String) {
        log::warn!("{msg}");
        self.warnings.push(msg);
    }

    fn new_credentials(&self) -> StoredCredentials {
        StoredCredentials {
            agent_id: self.identity.agent_id.clone(),
            client_id: self.identity.did.clone(),
            client_secret: SecretString::new(random_secret_urlsafe(32)),
            created_at: crate::identity::now_iso8601(),
            scopes: self.config.scopes.clone(),
        }
    }

    fn vault_display(&self) -> String {
        self.vault
            .as_ref()
            .map(VaultCreds::display)
            .unwrap_or_default()
    }

    /// The registration body for `secret`, with the configured token
    /// endpoint authentication method (`HYDRA__TOKEN_AUTH_METHOD`): Hydra
    /// refuses a token request made with any other.
    fn wanted(&self, public_key: &str, secret: &SecretString) -> OAuthClient {
        let agent = AgentRegistration {
            agent_id: &self.identity.agent_id,
            did: &self.identity.did,
            agent_name: &self.identity.agent_name,
            public_key_base58: public_key,
            agent_url: None,
        };
        let mut c = registration_body(&agent, secret, &self.config.scopes);
        c.token_endpoint_auth_method = self.config.token_auth.method_name().to_string();
        c
    }

    /// Run the step: the outcome, and the lines written and warnings. Errors
    /// that mean "Hydra is unreachable" become an `unavailable` outcome;
    /// others (integrity, configuration) are errors.
    pub(super) fn run(mut self) -> Result<(HydraOutcome, Vec<Written>, Vec<String>)> {
        let did = self.identity.did.clone();
        let outcome = match self.register() {
            Ok((client, source)) => HydraOutcome {
                status: HydraStatus::Ok,
                client_id: did,
                client,
                credentials_source: Some(source),
                error: None,
            },
            Err(e) if is_hydra_unavailable(&e) => {
                self.warn(format!(
                    "Hydra unavailable ({e}); the identity is up, the OAuth2 client will be registered on a later run"
                ));
                HydraOutcome {
                    status: HydraStatus::Unavailable,
                    client_id: did,
                    client: ClientAction::None,
                    credentials_source: None,
                    error: Some(e.to_string()),
                }
            }
            Err(e) => return Err(e),
        };
        Ok((outcome, self.written, self.warnings))
    }

    fn register(&mut self) -> Result<(ClientAction, Source)> {
        let mut held = self.held()?;
        // One GET decides.
        let action = match self.hydra.get_client(&self.identity.did)? {
            None => self.create(&mut held)?,
            Some(existing) if held.held_before => self.refresh(existing, &held)?,
            Some(existing) => self.orphaned(existing, &mut held)?,
        };
        self.back_up(&held)?;
        Ok((action, held.source))
    }

    /// The secret to use: Vault's, else the local one, else a new one.
    fn held(&mut self) -> Result<Held> {
        let in_vault = match &self.vault {
            Some(v) => v.read()?,
            None => None,
        };
        if let Some(loose) = self.local.credentials_mode_warning() {
            self.warn(loose);
        }
        let local = match self.local.read_credentials(&self.identity.did) {
            Ok(c) => c,
            Err(e @ Error::Integrity(_)) => {
                self.warn(format!("ignoring the local credentials: {e}"));
                None
            }
            Err(e) => return Err(e),
        };
        if self.vault_unavailable && local.is_none() {
            // Making a secret now could break replicas holding the one in
            // Vault: wait for Vault.
            return Err(Error::Unavailable(
                "no local OAuth2 credentials and Vault is unavailable; registration deferred"
                    .into(),
            ));
        }
        let (creds, source, held_before) = match (&in_vault, &local) {
            (Some((c, _)), _) => (c.clone(), Source::Vault, true),
            (None, Some(c)) => (c.clone(), Source::Local, true),
            (None, None) => (self.new_credentials(), Source::Generated, false),
        };
        Ok(Held {
            creds,
            source,
            held_before,
            vault_has: in_vault.as_ref().map(|(c, _)| c.clone()),
            in_vault,
            local,
        })
    }

    /// The client is missing. A new secret is claimed in Vault before
    /// Hydra sees it, so racing replicas create the client with one secret;
    /// a crash after the claim leaves the secret in Vault, and the next run
    /// creates the client with it.
    fn create(&mut self, held: &mut Held) -> Result<ClientAction> {
        if !held.held_before {
            if let Some(winner) = self.claim(&held.creds)? {
                held.creds = winner;
                held.source = Source::Vault;
            }
            held.vault_has = Some(held.creds.clone());
        }
        let wanted = self.wanted(&self.keys.public().base58(), &held.creds.client_secret);
        match self.hydra.create_client(&wanted)? {
            CreateOutcome::Created(c) => {
                log::debug!("Hydra created client {}", c.client_id);
                Ok(ClientAction::Created)
            }
            CreateOutcome::Conflict { errors } => {
                log::debug!(
                    "Hydra already holds client {} (409: {})",
                    wanted.client_id,
                    errors.join("; ")
                );
                // Another replica created it in the meantime, with the
                // secret it stored in Vault.
                if let Some(c) = self.read_vault()? {
                    held.adopt(c);
                }
                Ok(ClientAction::Adopted)
            }
        }
    }

    /// The client exists and a secret is held: reuse it, bringing a stale
    /// public key, scope or token endpoint authentication method up to
    /// date with `PUT` (the secret kept).
    fn refresh(&mut self, existing: OAuthClient, held: &Held) -> Result<ClientAction> {
        let public_key = self.keys.public().base58();
        let wanted = self.wanted(&public_key, &held.creds.client_secret);
        let stale_key = existing.metadata_public_key() != Some(public_key.as_str());
        let stale_method = auth_method(&existing) != wanted.token_endpoint_auth_method;
        if !stale_key && !stale_method && existing.scope == wanted.scope {
            return Ok(ClientAction::Reused);
        }
        let mut updated = existing;
        updated.client_secret = None; // keep the secret
        updated.scope = wanted.scope.clone();
        updated.token_endpoint_auth_method = wanted.token_endpoint_auth_method.clone();
        match &mut updated.metadata {
            Value::Object(m) => {
                m.insert("public_key".into(), public_key.into());
                m.insert("agent_id".into(), self.identity.agent_id.clone().into());
                m.insert("did".into(), self.identity.did.clone().into());
            }
            other => *other = wanted.metadata.clone(),
        }
        self.hydra.replace_client(&self.identity.did, &updated)?;
        Ok(ClientAction::Updated)
    }

    /// The client exists but nobody held a secret when this run started; a
    /// replica racing this one may have claimed one since.
    fn orphaned(&mut self, existing: OAuthClient, held: &mut Held) -> Result<ClientAction> {
        if let Some(c) = self.read_vault()? {
            held.adopt(c);
            return Ok(ClientAction::Adopted);
        }
        self.reset_secret(existing, held)
    }

    /// Set our secret on the same client first, then claim it in Vault. A
    /// crash in between leaves nothing held, and the next run does this
    /// again. When another replica's claim won, its secret is put on the
    /// client too: the last PUT is always the winner's.
    fn reset_secret(&mut self, existing: OAuthClient, held: &mut Held) -> Result<ClientAction> {
        let did = self.identity.did.clone();
        let wanted = self.wanted(&self.keys.public().base58(), &held.creds.client_secret);
        let mut updated = existing;
        updated.scope = self.config.scopes.join(" ");
        updated.token_endpoint_auth_method = wanted.token_endpoint_auth_method;
        updated.metadata = wanted.metadata;
        updated.client_secret = Some(held.creds.client_secret.clone());
        self.hydra.replace_client(&did, &updated)?;
        match self.claim(&held.creds)? {
            None => held.vault_has = self.vault.as_ref().map(|_| held.creds.clone()),
            Some(winner) => {
                updated.client_secret = Some(winner.client_secret.clone());
                self.hydra.replace_client(&did, &updated)?;
                held.adopt(winner);
            }
        }
        self.warn(format!(
            "Hydra client {did} existed but no secret was held in Vault or locally; a new secret was set on it"
        ));
        Ok(ClientAction::SecretReset)
    }

    /// The credentials in Vault now, if Vault is in use and holds them.
    fn read_vault(&self) -> Result<Option<StoredCredentials>> {
        match &self.vault {
            Some(v) => Ok(v.read()?.map(|(c, _)| c)),
            None => Ok(None),
        }
    }

    /// Store a new secret in Vault with `cas=0`. `Ok(None)` when it was
    /// stored (or there is no Vault); `Ok(Some(winner))` when another
    /// replica stored one first.
    fn claim(&mut self, creds: &StoredCredentials) -> Result<Option<StoredCredentials>> {
        let Some(v) = &self.vault else {
            return Ok(None);
        };
        match v.write(creds, Some(0)) {
            Ok(ver) => {
                let line = format!("{} version {ver}", self.vault_display());
                self.written.push(Written::vault(line));
                Ok(None)
            }
            Err(Error::CasMismatch { .. }) => {
                v.read_winner()?.map(|(c, _)| Some(c)).ok_or_else(|| {
                    Error::Unavailable(format!(
                        "check-and-set on {} lost, but no Vault node showed the winner's \
                         credentials within the wait; retry",
                        self.vault_display()
                    ))
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Back up what changed: Vault (check-and-set) and the local file.
    fn back_up(&mut self, held: &Held) -> Result<()> {
        if let Some(v) = &self.vault {
            let same = held
                .vault_has
                .as_ref()
                .is_some_and(|c| c.client_secret == held.creds.client_secret);
            if !same {
                let cas = match &held.in_vault {
                    Some((_, ver)) if held.vault_has.is_some() => Some(*ver),
                    _ => Some(0),
                };
                match v.write(&held.creds, cas) {
                    Ok(ver) => {
                        let line = format!("{} version {ver}", self.vault_display());
                        self.written.push(Written::vault(line));
                    }
                    Err(Error::CasMismatch { .. }) => {
                        self.warn(format!(
                            "credentials at {} changed during this run; left as they are",
                            self.vault_display()
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if held.local.as_ref() != Some(&held.creds) {
            if let Some(w) = self
                .local
                .write_credentials(&self.identity.did, &held.creds)?
            {
                self.warnings.push(w);
            }
            self.written
                .push(Written::local(self.local.describe_credentials()));
        }
        Ok(())
    }
}

/// The client's token endpoint authentication method as Hydra applies
/// it: an empty one is Hydra's default, `client_secret_basic`.
fn auth_method(c: &OAuthClient) -> &str {
    match c.token_endpoint_auth_method.as_str() {
        "" => "client_secret_basic",
        m => m,
    }
}

/// Errors after which the identity still comes up without Hydra.
fn is_hydra_unavailable(e: &Error) -> bool {
    match e {
        Error::Unavailable(_) => true,
        Error::Unreachable { service, .. } => *service == crate::Service::Hydra,
        Error::Http {
            service, status, ..
        } => *service == crate::Service::Hydra && *status >= 500,
        _ => false,
    }
}

/// A token client for the agent's own OAuth2 client: its DID as client id,
/// the secret from the local `oauth_credentials.json`, else from Vault.
/// Needs Hydra configured with a public URL. Run [`super::ensure`] first
/// so the client is registered.
///
/// Its tokens are shared with other processes of the agent through
/// `{key_dir}/hydra_token.json` (0600, written atomically): a script that
/// runs `vaultid token` or `vaultid call` many times asks Hydra for one
/// token per token lifetime, not one per command.
pub fn token_client(config: &crate::Config) -> Result<crate::hydra::TokenClient> {
    let hydra = config.hydra.as_ref().ok_or_else(|| {
        Error::Config("Hydra is not configured: set HYDRA__ADMIN_URL and HYDRA__PUBLIC_URL".into())
    })?;
    let identity = Identity::new(
        &config.identity.author,
        &config.identity.agent_name,
        config.identity.agent_id.as_deref(),
    )?;
    let dir = KeyDir::new(&config.key_dir);
    let creds = match dir.read_credentials(&identity.did)? {
        Some(c) => c,
        None => {
            let v = config.vault.as_ref().ok_or_else(|| Error::NoCredentials {
                did: identity.did.clone(),
                key_dir: dir.path().to_path_buf(),
                vault_searched: false,
            })?;
            let client = crate::vault::Client::new(v)?;
            let _revoke = client.revoke_own_token_on_drop();
            let kv = client.kv2(&v.kv_mount);
            let store = VaultCreds {
                kv: &kv,
                path: credentials_path(&v.prefix, &identity.did),
            };
            store
                .read()?
                .map(|(c, _)| c)
                .ok_or_else(|| Error::NoCredentials {
                    did: identity.did.clone(),
                    key_dir: dir.path().to_path_buf(),
                    vault_searched: true,
                })?
        }
    };
    Ok(
        crate::hydra::TokenClient::new(hydra, &creds.client_id, creds.client_secret.clone())?
            .with_disk_cache(dir.file(crate::cache::TOKEN_CACHE_FILE)),
    )
}
