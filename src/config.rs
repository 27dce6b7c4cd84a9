//! [`Config`]: everything vaultid is told, from the environment (and the
//! CLI's flags, which override it), with defaults and validation.
//!
//! Rules: a variable that is set but empty counts as unset; a value that
//! cannot be parsed is a [`Error::Config`] naming the variable, and so is
//! one that is not valid UTF-8 (paths excepted: they are taken as the
//! bytes they are) and a token, secret id, role id or namespace holding a
//! control character (no HTTP header can carry one); such messages never
//! show the value. Nothing here
//! touches the network; the Vault token file (`~/.vault-token`) is the only
//! file read.

pub(crate) mod grammar;

use grammar::Vars;
#[cfg(feature = "cli")]
pub(crate) use grammar::{check_kv_path, parse_bool};
pub(crate) use grammar::{check_vault_path, parse_duration, Lookup, ProcessEnv};

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::secret_string::SecretString;

/// Default local key directory (the Python framework's).
pub(crate) const DEFAULT_KEY_DIR: &str = ".bindu";
/// Default KV v2 mount.
pub(crate) const DEFAULT_KV_MOUNT: &str = "secret";
/// Default path prefix inside the KV mount.
pub(crate) const DEFAULT_PREFIX: &str = "bindu";
/// Default OAuth2 scopes registered for the agent's client.
pub(crate) const DEFAULT_SCOPES: &str = "openid offline agent:read agent:write";
/// Default service-account token path for Kubernetes auth.
pub(crate) const DEFAULT_K8S_JWT_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The whole configuration. Built by [`Config::from_env`],
/// [`Config::from_env`] or [`Config::local`]; fields can be changed after.
/// New settings may be added in minor releases (`#[non_exhaustive]`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Who the agent is.
    pub identity: IdentityConfig,
    /// Local key directory (`VAULTID_KEY_DIR`, default `.bindu`).
    pub key_dir: PathBuf,
    /// Make a new key pair even when one exists (`VAULTID_RECREATE_KEYS`,
    /// default false). The old pair is kept aside, never deleted.
    pub recreate_keys: bool,
    /// Generate keys locally when Vault is unavailable and no local keys
    /// exist (`VAULTID_ALLOW_OFFLINE_GENERATE`, default false). This can
    /// fork the identity; it is off unless asked for.
    pub allow_offline_generate: bool,
    /// How long to wait for the startup lock (`VAULTID_LOCK_TIMEOUT`,
    /// default 30 s).
    pub lock_timeout: Duration,
    /// Vault, when enabled.
    pub vault: Option<VaultConfig>,
    /// Hydra, when an admin URL is set.
    pub hydra: Option<HydraConfig>,
}

/// The agent's name parts.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IdentityConfig {
    /// Author, usually an e-mail address (`VAULTID_AUTHOR`).
    pub author: String,
    /// Agent name (`VAULTID_AGENT_NAME`).
    pub agent_name: String,
    /// Explicit agent id (`VAULTID_AGENT_ID`); when unset it is derived from
    /// author and name.
    pub agent_id: Option<String>,
}

/// How to reach and use Vault.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VaultConfig {
    /// Base URL (`VAULT_AGENT_ADDR`, else `VAULT__URL`, else `VAULT_ADDR`,
    /// else the first of `VAULTID_VAULT_ADDRS`).
    pub addr: String,
    /// The other nodes of the cluster (`VAULTID_VAULT_ADDRS`, a comma
    /// list, without `addr`): requests move on to the next one when a node
    /// cannot be reached or is sealed. Empty for one address.
    pub other_addrs: Vec<String>,
    /// Token for the `token` auth method (`VAULT__TOKEN`, else `VAULT_TOKEN`,
    /// else `~/.vault-token`).
    pub token: Option<SecretString>,
    /// KV v2 mount (`VAULT_KV_MOUNT`, else `VAULT_MOUNT`, default `secret`).
    pub kv_mount: String,
    /// Path prefix inside the mount (`VAULTID_VAULT_PREFIX`, default `bindu`).
    pub prefix: String,
    /// Enterprise namespace (`VAULT_NAMESPACE`), sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Overall request timeout (`VAULT_CLIENT_TIMEOUT`, default 60 s).
    pub timeout: Duration,
    /// Connect timeout (`VAULTID_CONNECT_TIMEOUT`, default 2 s), so an
    /// unreachable Vault fails fast.
    pub connect_timeout: Duration,
    /// Retries after the first attempt (`VAULT_MAX_RETRIES`, default 2).
    pub max_retries: u32,
    /// At startup, when local keys exist, how long Vault gets to answer
    /// before vaultid starts from the local keys (`VAULTID_STARTUP_TIMEOUT`,
    /// default 1.5 s). Without local keys there is no fallback and the
    /// normal timeout applies.
    pub startup_timeout: Duration,
    /// The retry budget of one Vault operation: how long elections,
    /// sealed or unreachable nodes, 429 and 503 answers are waited out,
    /// every wait included (`VAULTID_VAULT_WAIT`, default 30 s). At
    /// start-up with local keys, `startup_timeout` decides instead.
    pub wait: Duration,
    /// How to log in.
    pub auth: AuthMethod,
}

pub use crate::http::TlsConfig;

/// A Vault auth method (`VAULT_AUTH_METHOD`). Methods may be added in
/// minor releases (`#[non_exhaustive]`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A ready token (`VAULT_TOKEN`); the default.
    Token,
    /// AppRole login.
    AppRole {
        /// Auth mount (`VAULT_AUTH_MOUNT`, default `approle`).
        mount: String,
        /// `VAULT_ROLE_ID`.
        role_id: String,
        /// The secret id, or a wrapping token for it.
        secret_id: SecretSource,
        /// `VAULT_SECRET_ID_WRAPPED=true`: the secret id is a response-wrapping
        /// token to unwrap first.
        wrapped: bool,
    },
    /// Kubernetes service-account login.
    Kubernetes {
        /// Auth mount (`VAULT_AUTH_MOUNT`, default `kubernetes`).
        mount: String,
        /// `VAULT_AUTH_ROLE`.
        role: String,
        /// Service-account JWT (`VAULT_AUTH_JWT_FILE`, default the in-pod path).
        jwt_file: PathBuf,
    },
    /// JWT/OIDC login with a JWT from a file.
    Jwt {
        /// Auth mount (`VAULT_AUTH_MOUNT`, default `jwt`).
        mount: String,
        /// `VAULT_AUTH_ROLE`.
        role: String,
        /// `VAULT_AUTH_JWT_FILE`.
        jwt_file: PathBuf,
    },
    /// Username and password login (`auth/{mount}/login/{username}`).
    UserPass {
        /// Auth mount (`VAULT_AUTH_MOUNT`, default `userpass`).
        mount: String,
        /// `VAULT_AUTH_USERNAME`.
        username: String,
        /// The password: `VAULT_AUTH_PASSWORD`, or a file holding it
        /// (`VAULT_AUTH_PASSWORD_FILE`, read at each login).
        password: SecretSource,
    },
}

/// Where a secret comes from: given directly, or read from a file when needed
/// (so a rotated file is picked up at the next login).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SecretSource {
    /// The value itself (`VAULT_SECRET_ID`, `VAULT_AUTH_PASSWORD`).
    Value(SecretString),
    /// A file holding it (`VAULT_SECRET_ID_FILE`,
    /// `VAULT_AUTH_PASSWORD_FILE`), trimmed when read.
    File(PathBuf),
}

impl SecretSource {
    /// The secret: the value, or the trimmed content of the file.
    pub(crate) fn read(&self) -> Result<SecretString> {
        match self {
            SecretSource::Value(v) => Ok(v.clone()),
            SecretSource::File(p) => read_secret_file(p),
        }
    }
}

/// Read a secret from a file, trimming surrounding whitespace; capped at
/// [`crate::input::MAX_CREDENTIAL`].
pub(crate) fn read_secret_file(p: &std::path::Path) -> Result<SecretString> {
    crate::input::read_secret(p, "secret file")
}

/// Token endpoint client authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenAuth {
    /// `client_id` and `client_secret` in the form body (the default; DIDs
    /// contain colons, which `client_secret_basic` has to encode).
    Post,
    /// HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic,
}

impl TokenAuth {
    /// The client's `token_endpoint_auth_method` for this method: Hydra
    /// accepts a token request only with the method the client was
    /// registered with.
    pub(crate) fn method_name(self) -> &'static str {
        match self {
            TokenAuth::Post => "client_secret_post",
            TokenAuth::Basic => "client_secret_basic",
        }
    }
}

/// How to reach Hydra. Built by [`HydraConfig::new`] (or from the
/// environment with [`Config::from_env`]); fields can be changed after.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HydraConfig {
    /// Admin API base URL (`HYDRA__ADMIN_URL`).
    pub admin_url: String,
    /// Public API base URL (`HYDRA__PUBLIC_URL`), for tokens.
    pub public_url: Option<String>,
    /// Request timeout (`HYDRA__TIMEOUT`, default 10 s).
    pub timeout: Duration,
    /// Verify TLS certificates (`HYDRA__VERIFY_SSL`, default true).
    pub verify_ssl: bool,
    /// Retries after the first attempt (`HYDRA__MAX_RETRIES`, default 3).
    pub max_retries: u32,
    /// Register the agent's client at startup (`HYDRA__AUTO_REGISTER_AGENTS`, default true).
    pub auto_register: bool,
    /// Scopes (`HYDRA__SCOPE`, space separated, default `openid offline agent:read agent:write`).
    pub scopes: Vec<String>,
    /// Token endpoint auth (`HYDRA__TOKEN_AUTH_METHOD` = `client_secret_post` | `client_secret_basic`).
    /// The startup flow registers the client with this method (and updates
    /// a client registered with another one in place): Hydra refuses a
    /// token request made with a method the client was not registered for.
    pub token_auth: TokenAuth,
}

impl HydraConfig {
    /// Hydra at `admin_url` with the defaults of the environment variables:
    /// no public URL, 10 s timeout, TLS verified, 3 retries, registration at
    /// startup, scopes `openid offline agent:read agent:write`,
    /// `client_secret_post`.
    pub fn new(admin_url: impl Into<String>) -> HydraConfig {
        HydraConfig {
            admin_url: admin_url.into(),
            public_url: None,
            timeout: Duration::from_secs(10),
            verify_ssl: true,
            max_retries: 3,
            auto_register: true,
            scopes: DEFAULT_SCOPES.split(' ').map(str::to_string).collect(),
            token_auth: TokenAuth::Post,
        }
    }
}

/// The variable naming every node of a Vault cluster, comma separated.
pub(crate) const ADDRS_VAR: &str = "VAULTID_VAULT_ADDRS";

/// Default of [`VaultConfig::wait`]: long enough for an election at
/// OpenBao's default Raft timing (5-15 s).
pub(crate) const DEFAULT_VAULT_WAIT: Duration = Duration::from_secs(30);

fn check_url(name: &str, url: &str) -> Result<String> {
    let u = url.trim().trim_end_matches('/');
    url_problem(u).map_or(Ok(u.to_string()), |why| {
        Err(Error::Config(format!(
            "{name}={:?} is not a usable http:// or https:// URL: {why}",
            crate::util::redact_url(u)
        )))
    })
}

/// What is wrong with a server URL, or `None`: scheme `http`/`https`, a
/// host (an IPv6 literal in brackets), an optional numeric port, no
/// whitespace or control characters.
fn url_problem(u: &str) -> Option<&'static str> {
    let Some(rest) = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
    else {
        return Some("it must start with http:// or https://");
    };
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it holds whitespace or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some(
            "it holds a user name or password (user:***@), which Vault and Hydra do not use \
             and which would end up in logs: remove it",
        );
    }
    let host_port = authority;
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return Some("an IPv6 address is not closed with ']'");
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Some("the address in brackets is not IPv6");
        }
        match after {
            "" => (inside, None),
            a => match a.strip_prefix(':') {
                Some(p) => (inside, Some(p)),
                None => return Some("unexpected text after the IPv6 address"),
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    if host.contains(['[', ']', '@']) {
        return Some("the host is malformed");
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Some("the port is not a number from 0 to 65535");
        }
    }
    None
}

impl Config {
    /// Configuration from the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(&ProcessEnv)
    }

    /// Configuration from any variable source (tests, embedding programs).
    pub(crate) fn from_lookup(env: &dyn Lookup) -> Result<Config> {
        let v = Vars(env);
        let identity = IdentityConfig {
            author: v.get("VAULTID_AUTHOR")?.unwrap_or_default(),
            agent_name: v.get("VAULTID_AGENT_NAME")?.unwrap_or_default(),
            agent_id: v.get("VAULTID_AGENT_ID")?,
        };
        let vault = vault_from(&v)?;
        let hydra = hydra_from(&v)?;
        Ok(Config {
            identity,
            key_dir: v
                .path("VAULTID_KEY_DIR")
                .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_DIR)),
            recreate_keys: v.bool("VAULTID_RECREATE_KEYS", false)?,
            allow_offline_generate: v.bool("VAULTID_ALLOW_OFFLINE_GENERATE", false)?,
            lock_timeout: v.duration("VAULTID_LOCK_TIMEOUT", Duration::from_secs(30))?,
            vault,
            hydra,
        })
    }

    /// A configuration with no Vault and no Hydra: the embedded local default.
    pub fn local(author: &str, agent_name: &str, key_dir: impl Into<PathBuf>) -> Config {
        Config {
            identity: IdentityConfig {
                author: author.to_string(),
                agent_name: agent_name.to_string(),
                agent_id: None,
            },
            key_dir: key_dir.into(),
            recreate_keys: false,
            allow_offline_generate: false,
            lock_timeout: Duration::from_secs(30),
            vault: None,
            hydra: None,
        }
    }
}

impl VaultConfig {
    /// A Vault configuration with defaults for everything but the address
    /// and token.
    pub fn new(addr: &str, token: Option<SecretString>) -> VaultConfig {
        VaultConfig {
            addr: addr.trim_end_matches('/').to_string(),
            other_addrs: Vec::new(),
            token,
            kv_mount: DEFAULT_KV_MOUNT.to_string(),
            prefix: DEFAULT_PREFIX.to_string(),
            namespace: None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
            startup_timeout: Duration::from_millis(1500),
            wait: DEFAULT_VAULT_WAIT,
            auth: AuthMethod::Token,
        }
    }

    /// Vault settings from any variable source, even when `VAULT__ENABLED`
    /// is off (for commands that always talk to Vault, like `kv`). `None`
    /// when no address is set.
    #[cfg(feature = "cli")]
    pub(crate) fn from_lookup(env: &dyn Lookup) -> Result<Option<VaultConfig>> {
        vault_settings(&Vars(env))
    }
}

fn vault_from(v: &Vars) -> Result<Option<VaultConfig>> {
    let enabled = match v.get("VAULT__ENABLED")? {
        Some(_) => v.bool("VAULT__ENABLED", false)?,
        None => v
            .first(&["VAULT_AGENT_ADDR", "VAULT__URL", "VAULT_ADDR", ADDRS_VAR])?
            .is_some(),
    };
    if !enabled {
        return Ok(None);
    }
    match vault_settings(v)? {
        Some(c) => Ok(Some(c)),
        None => Err(Error::Config(
            "VAULT__ENABLED is true but no Vault address is set: set VAULT_ADDR (or VAULT__URL)"
                .into(),
        )),
    }
}

fn vault_settings(v: &Vars) -> Result<Option<VaultConfig>> {
    let mut addrs = Vec::new();
    if let Some((var, a)) = v.first(&["VAULT_AGENT_ADDR", "VAULT__URL", "VAULT_ADDR"])? {
        addrs.push(check_url(&var, &a)?);
    }
    if let Some(list) = v.get(ADDRS_VAR)? {
        for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let a = check_url(ADDRS_VAR, a)?;
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    if addrs.is_empty() {
        return Ok(None);
    }
    let addr = addrs.remove(0);
    // A token goes into the X-Vault-Token header: one an HTTP header
    // cannot carry is refused here, naming the variable (or the file).
    let token = match v.first(&["VAULT__TOKEN", "VAULT_TOKEN"])? {
        Some((name, t)) => match grammar::header_problem(&name, t.trim()) {
            Some(e) => return Err(e),
            None => Some(SecretString::new(t.trim())),
        },
        None => token_file(v)?,
    };
    let tls = TlsConfig {
        ca_cert: v.path("VAULT_CACERT"),
        ca_path: v.path("VAULT_CAPATH"),
        client_cert: v.path("VAULT_CLIENT_CERT"),
        client_key: v.path("VAULT_CLIENT_KEY"),
        skip_verify: v.bool("VAULT_SKIP_VERIFY", false)?,
        server_name: v.get("VAULT_TLS_SERVER_NAME")?,
    };
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        return Err(Error::Config(
            "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together (mTLS needs both)".into(),
        ));
    }
    let prefix = v
        .get("VAULTID_VAULT_PREFIX")?
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    let prefix = prefix.trim_matches('/').to_string();
    if prefix
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(Error::Config(format!(
            "VAULTID_VAULT_PREFIX={prefix:?} must be a relative path without empty, '.' or '..' segments"
        )));
    }
    let kv_mount = check_vault_path(
        "VAULT_KV_MOUNT",
        &v.first(&["VAULT_KV_MOUNT", "VAULT_MOUNT"])?
            .map_or_else(|| DEFAULT_KV_MOUNT.to_string(), |(_, m)| m),
        false,
    )?;
    Ok(Some(VaultConfig {
        addr,
        other_addrs: addrs,
        token,
        kv_mount,
        prefix,
        namespace: v.header("VAULT_NAMESPACE")?,
        tls,
        timeout: v.duration("VAULT_CLIENT_TIMEOUT", Duration::from_secs(60))?,
        connect_timeout: v.duration("VAULTID_CONNECT_TIMEOUT", Duration::from_secs(2))?,
        max_retries: v.u32("VAULT_MAX_RETRIES", 2)?,
        startup_timeout: v.duration("VAULTID_STARTUP_TIMEOUT", Duration::from_millis(1500))?,
        wait: v.duration("VAULTID_VAULT_WAIT", DEFAULT_VAULT_WAIT)?,
        auth: auth_from(v)?,
    }))
}

/// The settings of calls to other agents (`vaultid call`): the Vault
/// client's timeouts and TLS variables, read whether or not Vault is in
/// use: (timeout, connect timeout, TLS). `VAULT_TLS_SERVER_NAME` names
/// Vault's certificate and is not read.
pub(crate) fn peer_settings(env: &dyn Lookup) -> Result<(Duration, Duration, TlsConfig)> {
    let v = Vars(env);
    let tls = TlsConfig {
        ca_cert: v.path("VAULT_CACERT"),
        ca_path: v.path("VAULT_CAPATH"),
        client_cert: v.path("VAULT_CLIENT_CERT"),
        client_key: v.path("VAULT_CLIENT_KEY"),
        skip_verify: v.bool("VAULT_SKIP_VERIFY", false)?,
        server_name: None,
    };
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        return Err(Error::Config(
            "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together (mTLS needs both)".into(),
        ));
    }
    Ok((
        v.duration("VAULT_CLIENT_TIMEOUT", Duration::from_secs(60))?,
        v.duration("VAULTID_CONNECT_TIMEOUT", Duration::from_secs(2))?,
        tls,
    ))
}

/// `~/.vault-token`, when there is one. A file that cannot be read is
/// ignored with a warning (as the Vault CLI does); one whose token an HTTP
/// header cannot carry is an error naming the file.
fn token_file(v: &Vars) -> Result<Option<SecretString>> {
    let Some(home) = v.path("HOME") else {
        return Ok(None);
    };
    let path = home.join(".vault-token");
    if !path.exists() {
        return Ok(None);
    }
    match crate::input::read_secret(&path, "the token file") {
        Ok(t) => match grammar::header_problem(&path.display().to_string(), t.expose()) {
            Some(e) => Err(e),
            None => Ok(Some(t)),
        },
        Err(e) => {
            log::warn!("ignoring {}: {e}", path.display());
            Ok(None)
        }
    }
}

fn auth_from(v: &Vars) -> Result<AuthMethod> {
    let method = v
        .get("VAULT_AUTH_METHOD")?
        .unwrap_or_else(|| "token".into())
        .to_ascii_lowercase();
    let auth_mount = v.get("VAULT_AUTH_MOUNT")?;
    let mount = |default: &str| {
        auth_mount
            .as_deref()
            .map(|m| m.trim_matches('/').to_string())
            .unwrap_or_else(|| default.to_string())
    };
    // Role ids, secret ids and roles go into login bodies: a control
    // character in one is a pasted line break, refused like a token's.
    let need = |name: &str, why: &str| {
        v.header(name)?
            .ok_or_else(|| Error::Config(format!("{name} is required for {why}")))
    };
    Ok(match method.as_str() {
        "token" => AuthMethod::Token,
        "approle" => {
            let secret_id = match (v.header("VAULT_SECRET_ID")?, v.path("VAULT_SECRET_ID_FILE")) {
                (Some(s), None) => SecretSource::Value(SecretString::new(s)),
                (None, Some(p)) => SecretSource::File(p),
                (Some(_), Some(_)) => {
                    return Err(Error::Config(
                        "set only one of VAULT_SECRET_ID and VAULT_SECRET_ID_FILE".into(),
                    ))
                }
                (None, None) => {
                    return Err(Error::Config(
                        "VAULT_SECRET_ID or VAULT_SECRET_ID_FILE is required for VAULT_AUTH_METHOD=approle"
                            .into(),
                    ))
                }
            };
            AuthMethod::AppRole {
                mount: mount("approle"),
                role_id: need("VAULT_ROLE_ID", "VAULT_AUTH_METHOD=approle")?,
                secret_id,
                wrapped: v.bool("VAULT_SECRET_ID_WRAPPED", false)?,
            }
        }
        "kubernetes" => AuthMethod::Kubernetes {
            mount: mount("kubernetes"),
            role: need("VAULT_AUTH_ROLE", "VAULT_AUTH_METHOD=kubernetes")?,
            jwt_file: v
                .path("VAULT_AUTH_JWT_FILE")
                .unwrap_or_else(|| PathBuf::from(DEFAULT_K8S_JWT_FILE)),
        },
        "jwt" => AuthMethod::Jwt {
            mount: mount("jwt"),
            role: need("VAULT_AUTH_ROLE", "VAULT_AUTH_METHOD=jwt")?,
            jwt_file: v.path("VAULT_AUTH_JWT_FILE").ok_or_else(|| {
                Error::Config("VAULT_AUTH_JWT_FILE is required for VAULT_AUTH_METHOD=jwt".into())
            })?,
        },
        "userpass" => AuthMethod::UserPass {
            mount: mount("userpass"),
            username: grammar::check_username(
                "VAULT_AUTH_USERNAME",
                &need("VAULT_AUTH_USERNAME", "VAULT_AUTH_METHOD=userpass")?,
            )?,
            password: match (
                v.get("VAULT_AUTH_PASSWORD")?,
                v.path("VAULT_AUTH_PASSWORD_FILE"),
            ) {
                (Some(p), None) => SecretSource::Value(SecretString::new(p)),
                (None, Some(f)) => SecretSource::File(f),
                (Some(_), Some(_)) => {
                    return Err(Error::Config(
                        "set only one of VAULT_AUTH_PASSWORD and VAULT_AUTH_PASSWORD_FILE".into(),
                    ))
                }
                (None, None) => {
                    return Err(Error::Config(
                        "VAULT_AUTH_PASSWORD or VAULT_AUTH_PASSWORD_FILE is required for VAULT_AUTH_METHOD=userpass"
                            .into(),
                    ))
                }
            },
        },
        other => {
            return Err(Error::Config(format!(
                "VAULT_AUTH_METHOD={other:?} is not one of token, approle, kubernetes, jwt, userpass"
            )))
        }
    })
}

fn hydra_from(v: &Vars) -> Result<Option<HydraConfig>> {
    let Some(admin) = v.get("HYDRA__ADMIN_URL")? else {
        return Ok(None);
    };
    let admin_url = check_url("HYDRA__ADMIN_URL", &admin)?;
    let public_url = match v.get("HYDRA__PUBLIC_URL")? {
        Some(p) => Some(check_url("HYDRA__PUBLIC_URL", &p)?),
        None => None,
    };
    let scopes: Vec<String> = v
        .get("HYDRA__SCOPE")?
        .unwrap_or_else(|| DEFAULT_SCOPES.to_string())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let token_auth = match v.get("HYDRA__TOKEN_AUTH_METHOD")?.as_deref() {
        None | Some("client_secret_post") => TokenAuth::Post,
        Some("client_secret_basic") => TokenAuth::Basic,
        Some(other) => {
            return Err(Error::Config(format!(
            "HYDRA__TOKEN_AUTH_METHOD={other:?} is not client_secret_post or client_secret_basic"
        )))
        }
    };
    Ok(Some(HydraConfig {
        admin_url,
        public_url,
        timeout: v.duration("HYDRA__TIMEOUT", Duration::from_secs(10))?,
        verify_ssl: v.bool("HYDRA__VERIFY_SSL", true)?,
        max_retries: v.u32("HYDRA__MAX_RETRIES", 3)?,
        auto_register: v.bool("HYDRA__AUTO_REGISTER_AGENTS", true)?,
        scopes,
        token_auth,
    }))
}

#[cfg(test)]
mod tests;
