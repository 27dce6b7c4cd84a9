//! `vaultid agent`: one small long-running process that keeps an agent's
//! credentials alive for its whole life.
//!
//! In order, an [`Agent`]
//!
//! 1. restores the identity (the `up` flow, [`crate::bootstrap::ensure`];
//!    skippable),
//! 2. keeps a Vault token alive and optionally writes it to a sink file
//!    (`token`),
//! 3. renders secrets into files (`sources`, `render`) and keeps them
//!    current, writing a file only when its content changes,
//! 4. tells the application on a real change only (`notify`): a signal to
//!    the supervised command or a pid file's process, a command, a restart,
//! 5. rides out Vault outages: failed steps (sources, token renewals and
//!    logins) back off with jitter to a cap and the last good files stay
//!    exactly as they are; a refused token is not an outage (`token`),
//! 6. reports one JSON line per event (never a secret value) and a status
//!    file (`status`, read back by `vaultid agent status`),
//! 7. stops cleanly on `SIGTERM`/`SIGINT` (`scheduler`), within
//!    `vault_wait`: stops the command, revokes leases (and the token when
//!    configured), keeps or removes its files.
//!
//! Everything runs in one thread, in one loop ([`Agent::run`]) that sleeps
//! in `poll(2)` until the next event is due or a signal arrives
//! (`signals`): an idle agent uses no CPU. A program can run an agent in a
//! thread of its own and stop it with a [`signals::Waker`].

pub(crate) mod config;
pub(crate) mod hcl;
pub(crate) mod hcl_config;
pub(crate) mod notify;
pub(crate) mod render;
pub(crate) mod scheduler;
pub(crate) mod signals;
pub(crate) mod sources;
pub(crate) mod status;
pub(crate) mod templates;
pub(crate) mod token;

use std::sync::Arc;

use serde_json::{json, Map, Value};

pub use crate::gateway::{ListenerConfig, PeerConfig, VaultRouteConfig};
pub use config::AgentConfig;
pub use signals::Waker;
use signals::Wakeup;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::vault::Client;

/// Events that say only that nothing happened (a KV version checked and
/// found unchanged, as often as once a second): emitted only when debug
/// logging is on (`VAULTID_LOG=debug`; for a program, the `log` crate's
/// debug level).
pub(crate) const DEBUG_EVENTS: &[&str] = &["unchanged"];

/// Where the agent's events go: one JSON object per event.
pub type EventSink = Box<dyn Fn(&Value) + Send>;

/// Events as JSON lines on stderr (the CLI's choice).
pub(crate) fn stderr_events() -> EventSink {
    Box::new(|v: &Value| {
        use std::io::Write;
        let mut line = v.to_string();
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    })
}

/// Refuse a `hydra_token` source that could never get a token: Hydra (its
/// public URL, where the token endpoint is) or the agent's identity (whose
/// client asks for it) is not configured.
fn hydra_token_possible(source: &str, env: &Config, identity: Option<&Error>) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::Config(format!(
            "source {source:?} (hydra_token): {what}"
        )))
    };
    match &env.hydra {
        None => refuse(
            "Hydra is not configured: set HYDRA__ADMIN_URL and HYDRA__PUBLIC_URL (the token endpoint)"
                .into(),
        ),
        Some(h) if h.public_url.is_none() => {
            refuse("Hydra's public URL (the token endpoint) is not set: set HYDRA__PUBLIC_URL".into())
        }
        Some(_) => match identity {
            Some(e) => refuse(format!(
                "the token is asked for with the agent's own OAuth2 client, and its identity is not usable: {e}"
            )),
            None => Ok(()),
        },
    }
}

/// The agent: configuration, Vault client, sources, child.
pub struct Agent {
    pub(crate) config: AgentConfig,
    pub(crate) env: Config,
    pub(crate) client: Arc<Client>,
    pub(crate) token: token::TokenKeeper,
    pub(crate) sources: Vec<sources::SourceState>,
    pub(crate) templates: templates::Templates,
    pub(crate) child: Option<notify::Supervised>,
    pub(crate) commands: notify::Commands,
    pub(crate) events: EventSink,
    pub(crate) status_digest: Option<[u8; 32]>,
    pub(crate) started_at: u64,
    pub(crate) wake: Wakeup,
    /// The gateway's checked settings, when `listener` is configured.
    pub(crate) listener: Option<crate::gateway::config::Settings>,
    /// The gateway, once started.
    pub(crate) gateway: Option<crate::gateway::Running>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("sources", &self.sources.len())
            .field("client", &self.client)
            .finish()
    }
}

/// Start the local gateway alone, without the agent's loop: `listener`
/// as in the agent's configuration (its default socket is in `env`'s key
/// directory), `/v1/` forwarded through `vault` with its token (the
/// program keeps that token alive, e.g. with
/// [`crate::vault::Client::start_renewer`]), `/peers/` signed with `env`'s
/// identity and Hydra token when Hydra's public URL is set (else peers
/// answer `503`). `/healthz` answers `503` until
/// [`crate::gateway::Running::set_health`] says otherwise.
///
/// # Errors
///
/// [`Error::Config`] for a `listener` that is not valid (a non-loopback
/// address, an unknown peer URL scheme, ...), and the I/O error of binding
/// the socket or address.
pub fn start_gateway(
    listener: &ListenerConfig,
    env: &Config,
    vault: Arc<Client>,
) -> Result<crate::gateway::Running> {
    let settings = listener.resolve(&env.key_dir)?;
    let wanted = !settings.peers.is_empty();
    crate::gateway::Gateway::new(settings, vault, peer_signer(env, wanted), &peer_tls(env))?.start()
}

/// The gateway's signer for `/peers/`: the agent's Hydra token (the
/// client `bootstrap::token_client` builds from the key directory's
/// credentials, else Vault's, sharing `hydra_token.json`) and its DID
/// signature. `None` when no peer is configured, or when Hydra's public
/// URL or the identity is not: the peers then answer `503`.
fn peer_signer(env: &Config, wanted: bool) -> Option<Box<dyn crate::gateway::PeerAuth>> {
    if !wanted || env.hydra.as_ref()?.public_url.is_none() {
        return None;
    }
    let id = crate::identity::Identity::new(
        &env.identity.author,
        &env.identity.agent_name,
        env.identity.agent_id.as_deref(),
    )
    .ok()?;
    let token_env = env.clone();
    Some(Box::new(crate::signing::Signer::new(
        &id.did,
        crate::cache::KeyDir::new(&env.key_dir),
        Box::new(move || crate::bootstrap::token_client(&token_env)),
    )))
}

/// TLS for peers: the Vault client's CA and client certificate settings,
/// as `vaultid call` uses (the server name is Vault's alone).
fn peer_tls(env: &Config) -> crate::http::TlsConfig {
    let mut tls = env
        .vault
        .as_ref()
        .map(|v| v.tls.clone())
        .unwrap_or_default();
    tls.server_name = None;
    tls
}

impl Agent {
    /// An agent for `config`, with the Vault, Hydra and identity settings
    /// of `env` (from the environment in the CLI). Vault is required; a
    /// source that could never work is refused here ([`Error::Config`]): a
    /// `hydra_token` source without Hydra's public URL or the identity, a
    /// `pki` source without a common name. No request is made yet.
    pub fn new(config: AgentConfig, mut env: Config) -> Result<Agent> {
        // An HCL file's `vault` stanza and `auto_auth` method win over the
        // environment, as they do for Vault Agent.
        hcl_config::apply_vault(&config, &mut env)?;
        let vault = env.vault.as_ref().ok_or_else(|| {
            Error::Config(
                "vaultid agent needs Vault: set VAULT_ADDR (and VAULT_TOKEN or an auth method)"
                    .into(),
            )
        })?;
        let mut vault = vault.clone();
        vault.wait = config.vault_wait();
        let vault = &vault;
        let client = Client::new(vault)?;
        client.require_credentials()?;
        let identity = crate::identity::Identity::new(
            &env.identity.author,
            &env.identity.agent_name,
            env.identity.agent_id.as_deref(),
        );
        if let Some(s) = config.sources.iter().find(|s| s.hydra_token.is_some()) {
            hydra_token_possible(&s.name, &env, identity.as_ref().err())?;
        }
        let agent_name = identity.ok().map(|i| i.agent_id);
        let sources = config
            .sources
            .iter()
            .map(|s| {
                sources::SourceState::new(
                    s,
                    &vault.kv_mount,
                    config.kv_interval(),
                    agent_name.as_deref(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let child = match &config.exec {
            Some(e) => Some(notify::Supervised::new(e.command.clone())?),
            None => None,
        };
        let listener = match &config.listener {
            Some(l) => Some(l.resolve(&env.key_dir)?),
            None => None,
        };
        let templates = templates::Templates::new(&config)?;
        Ok(Agent {
            templates,
            token: token::TokenKeeper::new(&config.token, &vault.auth),
            config,
            env,
            client: Arc::new(client),
            sources,
            child,
            commands: notify::Commands::default(),
            events: stderr_events(),
            status_digest: None,
            started_at: sources::unix_now(),
            wake: Wakeup::new()?,
            listener,
            gateway: None,
        })
    }

    /// A handle with which another thread stops the agent or makes it
    /// re-read its sources ([`Waker::stop`], [`Waker::reread`]).
    pub fn waker(&self) -> Waker {
        self.wake.waker()
    }

    /// Take this process's `SIGTERM`, `SIGINT` and `SIGHUP` (stop, stop,
    /// re-read) and `SIGCHLD` until the agent is dropped: for a process
    /// that is the agent, as `vaultid agent` is. Signal handlers are
    /// process-wide; a second agent doing this waits for the first to be
    /// dropped.
    pub fn handle_signals(&mut self) -> Result<()> {
        self.wake.install_signal_handlers()
    }

    /// Send events somewhere else than stderr.
    pub fn with_events(mut self, sink: EventSink) -> Agent {
        self.events = sink;
        self
    }

    /// Remove the temporary files an agent killed during a write left
    /// beside its files, the token sink and the status file (exact names,
    /// regular files only: [`render::remove_stale_temp_files`]).
    pub(crate) fn remove_stale_temp_files(&self) -> usize {
        let paths = self
            .sources
            .iter()
            .flat_map(|s| s.files.iter().map(|f| f.config.path.as_path()))
            .chain(self.token.sink().map(|p| p.as_path()))
            .chain(self.config.status_file.as_deref());
        render::remove_stale_temp_files(paths)
    }

    /// Emit one event: `{"ts", "event", ...fields}`. Events named in
    /// [`DEBUG_EVENTS`] are emitted only when debug logging is on.
    pub(crate) fn event(&self, name: &str, fields: Value) {
        if DEBUG_EVENTS.contains(&name) && !log::log_enabled!(log::Level::Debug) {
            return;
        }
        let mut m = Map::new();
        m.insert("ts".into(), json!(crate::identity::now_iso8601()));
        m.insert("event".into(), json!(name));
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        (self.events)(&Value::Object(m));
    }
}
