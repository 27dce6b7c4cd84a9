//! Vault client.
//!
//! [`Client`] talks to HashiCorp Vault or OpenBao over the
//! `http` layer: it adds the token (`X-Vault-Token`), the
//! namespace (`X-Vault-Namespace`) and `X-Vault-Request: true` to every
//! request, and turns Vault's answers into values or [`Error`](crate::Error)s:
//!
//! | answer | error |
//! |---|---|
//! | 401, 403 | [`Error::PermissionDenied`](crate::Error::PermissionDenied) with Vault's `errors` |
//! | 404 | [`Error::NotFound`](crate::Error::NotFound) (reads answer `Ok(None)` instead) |
//! | 503 from Vault, or "Vault is sealed" | [`Error::Sealed`](crate::Error::Sealed) |
//! | 400 naming "check-and-set" | [`Error::CasMismatch`](crate::Error::CasMismatch) |
//! | any other non-2xx | [`Error::Http`](crate::Error::Http) |
//! | a 2xx that is not a JSON object | [`Error::Protocol`](crate::Error::Protocol) |
//!
//! The mapping is a pure function of status and body (`parse_response`),
//! which never panics on any input.
//!
//! ```no_run
//! # fn main() -> Result<(), vaultid::Error> {
//! use vaultid::config::VaultConfig;
//! let config = VaultConfig::new("http://127.0.0.1:8200", Some("hvs.example".into()));
//! let client = vaultid::vault::Client::new(&config)?;
//! let mut data = serde_json::Map::new();
//! data.insert("password".into(), "hunter2".into());
//! client.kv2("secret").write("app/db", &data, Some(0))?;
//! let secret = client.kv2("secret").read("app/db", None)?;
//! # Ok(())
//! # }
//! ```

pub(crate) mod auth;
#[cfg(feature = "cli")]
pub(crate) mod cluster;
pub(crate) mod kv;
pub(crate) mod kv2;
pub(crate) mod lease;
pub(crate) mod response;
pub(crate) mod sys;

use std::fmt;
use std::sync::{Mutex, RwLock};

use serde_json::Value;

use crate::config::{AuthMethod, VaultConfig};
use crate::error::{Result, Service};
use crate::http::{HttpClient, HttpConfig, Request, Response, Verdict};
use crate::secret_string::{zeroize_bytes, SecretString};
use crate::util::lock;

pub use auth::{AuthInfo, Renewer, TokenInfo};
#[cfg(feature = "cli")]
pub(crate) use kv::{holds, KvMount, KvVersion};
pub use kv2::{Kv2, KvMetadata, KvSecret, VersionMetadata};
#[cfg(feature = "cli")]
pub(crate) use kv2::{KvAdmin, KvRead, MetadataUpdate};
pub use lease::LeaseInfo;
pub(crate) use response::{api_path, data_as, list_keys, parse_response, ApiError};
pub use sys::Health;

/// The header that carries the token.
pub(crate) const TOKEN_HEADER: &str = "X-Vault-Token";

/// A blocking Vault client. Cheap to share between threads by reference
/// (or in an `Arc`): the token sits behind a lock so a renewer can swap it.
pub struct Client {
    http: HttpClient,
    token: RwLock<Option<SecretString>>,
    config: VaultConfig,
    /// What is known of the current token's lifetime.
    lease: Mutex<Option<auth::TokenLease>>,
    /// Held while logging in, so concurrent callers log in once.
    login_lock: Mutex<()>,
    /// A secret id unwrapped from a wrapping token (which works only once),
    /// with that wrapping token.
    unwrapped: Mutex<Option<(SecretString, SecretString)>>,
    /// The `X-Vault-Index` of this client's latest write, sent back on reads
    /// (read-your-writes on a cluster; see [`Client::request`]).
    index: Mutex<Option<String>>,
    /// Whether the current token came from this client's own login (and so
    /// nobody else holds it).
    own_token: std::sync::atomic::AtomicBool,
    /// The KV mounts `sys/internal/ui/mounts` described ([`Client::kv_mount`]).
    kv_mounts: Mutex<Vec<kv::KvMount>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.config.addr)
            .field("namespace", &self.config.namespace)
            .field("has_token", &self.token().is_some())
            .finish()
    }
}

impl Client {
    /// A client for the configured address. No request is made: with the
    /// `token` auth method the configured token is used as is; with a login
    /// method (AppRole, Kubernetes, JWT) the first request that needs a
    /// token logs in.
    ///
    /// Fails with [`Error::Config`](crate::Error::Config) when the address is not a URL or a TLS
    /// file cannot be read.
    pub fn new(config: &VaultConfig) -> Result<Client> {
        let mut default_headers = vec![("X-Vault-Request".to_string(), "true".to_string())];
        if let Some(ns) = config.namespace.as_deref().filter(|n| !n.is_empty()) {
            default_headers.push(("X-Vault-Namespace".to_string(), ns.to_string()));
        }
        let http = HttpClient::new(&HttpConfig {
            base_url: config.addr.clone(),
            other_urls: config.other_addrs.clone(),
            service: Service::Vault,
            deadline: config.wait,
            transient: Some(cluster_verdict),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            max_retries: config.max_retries,
            tls: config.tls.clone(),
            default_headers,
            proxy: None,
            same_origin_redirects: false,
        })?;
        let token = match config.auth {
            AuthMethod::Token => config.token.clone().filter(|t| !t.is_empty()),
            _ => None,
        };
        Ok(Client {
            http,
            token: RwLock::new(token),
            config: config.clone(),
            lease: Mutex::new(None),
            login_lock: Mutex::new(()),
            unwrapped: Mutex::new(None),
            index: Mutex::new(None),
            own_token: std::sync::atomic::AtomicBool::new(false),
            kv_mounts: Mutex::new(Vec::new()),
        })
    }

    /// The configuration the client was built from.
    pub(crate) fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The HTTP layer underneath.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The current token, if any.
    pub fn token(&self) -> Option<SecretString> {
        match self.token.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replace the token (after a login or by a renewer). What was known
    /// of the old token's lifetime is forgotten.
    pub fn set_token(&self, token: Option<SecretString>) {
        {
            let mut guard = match self.token.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = token.filter(|t| !t.is_empty());
        }
        *lock(&self.lease) = None;
        self.own_token
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// A KV version 2 engine mounted at `mount` (e.g. `secret`).
    pub fn kv2(&self, mount: &str) -> Kv2<'_> {
        Kv2::new(self, mount)
    }

    /// Read any logical path (`GET /v1/{path}`). Returns the whole answer
    /// (`data`, `lease_id`, `auth`, ...), or `None` on 404.
    pub fn read(&self, path: &str) -> Result<Option<Value>> {
        match self.exchange("GET", path, None)? {
            Ok(v) => Ok(v),
            Err(e) if e.status == 404 && !e.is_missing_mount() => Ok(None),
            Err(e) => Err(e.into_error("GET", path)),
        }
    }

    /// Write any logical path (`POST /v1/{path}` with a JSON body). Returns
    /// the answer, or `None` when Vault answered 204.
    pub fn write(&self, path: &str, body: &Value) -> Result<Option<Value>> {
        self.request("POST", path, Some(body))
    }

    /// Delete any logical path (`DELETE /v1/{path}`).
    pub fn delete(&self, path: &str) -> Result<()> {
        self.request("DELETE", path, None).map(drop)
    }

    /// List the keys under a logical path (`GET /v1/{path}?list=true`).
    /// Empty when the path does not exist.
    pub fn list(&self, path: &str) -> Result<Vec<String>> {
        let p = format!("{}?list=true", path.trim_end_matches('/'));
        match self.exchange("GET", &p, None)? {
            Ok(v) => Ok(list_keys(v.as_ref())),
            Err(e) if e.status == 404 && !e.is_missing_mount() => Ok(Vec::new()),
            Err(e) => Err(e.into_error("LIST", path)),
        }
    }

    /// Send any request to `/v1/{path}` (the path may carry a query string)
    /// and map the answer as the [module docs](self) describe.
    ///
    /// Read-your-writes: the `X-Vault-Index` of this client's latest write
    /// goes with every later `GET`, with
    /// `X-Vault-Inconsistent: forward-active-node`, so a standby that has
    /// not applied the write yet forwards the read to the active node
    /// instead of answering from older data (OpenBao >= 2.5, Vault
    /// Enterprise; servers without these headers ignore them).
    pub(crate) fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        self.exchange(method, path, body)?
            .map_err(|e| e.into_error(method, path))
    }

    /// Send a request with the token; transport failures are the outer
    /// error, Vault's refusals the inner one.
    pub(crate) fn exchange(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<std::result::Result<Option<Value>, ApiError>> {
        Ok(self.exchange_with(method, path, body, TokenUse::Current)?.0)
    }

    /// Like [`Client::exchange`] with a body of any content type.
    pub(crate) fn exchange_bytes(
        &self,
        method: &'static str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<std::result::Result<Option<Value>, ApiError>> {
        let resp = self.send(method, path, Some((body, content_type)), TokenUse::Current)?;
        Ok(parse_response(resp.status, &resp.body))
    }

    /// Send a request with the given token, or none (login, unwrap).
    pub(crate) fn exchange_as(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        token: Option<&SecretString>,
    ) -> Result<std::result::Result<Option<Value>, ApiError>> {
        let use_token = match token {
            Some(t) => TokenUse::Given(t),
            None => TokenUse::None,
        };
        Ok(self.exchange_with(method, path, body, use_token)?.0)
    }

    /// The `X-Vault-Index` of this client's latest write, if the server
    /// sent one.
    pub(crate) fn last_index(&self) -> Option<String> {
        lock(&self.index).clone()
    }

    /// Like [`Client::exchange`], also saying whether the request was sent
    /// more than once (a write may have been applied by an earlier try).
    pub(crate) fn exchange_resent(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(std::result::Result<Option<Value>, ApiError>, bool)> {
        self.exchange_with(method, path, body, TokenUse::Current)
    }

    /// Send a JSON request (the serialized body is zeroed after sending):
    /// Vault's answer, and whether the request was sent more than once.
    fn exchange_with(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        token: TokenUse<'_>,
    ) -> Result<(std::result::Result<Option<Value>, ApiError>, bool)> {
        let mut bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let body = bytes.as_deref().map(|b| (b, "application/json"));
        let resp = self.send(method, path, body, token);
        if let Some(b) = bytes.as_mut() {
            zeroize_bytes(b);
        }
        let resp = resp?;
        Ok((parse_response(resp.status, &resp.body), resp.resent))
    }

    /// Forward a request from the gateway to `/v1/{path}` as it came:
    /// its method, the headers given, its body; with the agent's current
    /// token (`token = None`, logging in again once when a login token
    /// was refused as no longer valid) or with the application's own
    /// (`Some(t)`, possibly no token at all). The answer is returned
    /// whatever its status; the HA rules of the HTTP layer apply.
    pub(crate) fn forward(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Option<(&[u8], &str)>,
        token: Option<Option<SecretString>>,
    ) -> Result<Response> {
        let method = crate::http::known_method(method).ok_or_else(|| {
            crate::Error::Config(format!(
                "HTTP method {method:?} is not one Vault serves (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, LIST)"
            ))
        })?;
        let target = response::api_path_query(path, query);
        let build = |token: Option<SecretString>| {
            let mut req = Request::new(method, &target);
            for (name, value) in headers {
                req = req.header(name, value);
            }
            if let Some(t) = token {
                req = req.secret_header(TOKEN_HEADER, t);
            }
            if let Some((bytes, content_type)) = body {
                req = req.body(bytes.to_vec(), content_type);
            }
            req
        };
        let token = match &token {
            None => TokenUse::Current,
            Some(None) => TokenUse::None,
            Some(Some(t)) => TokenUse::Given(t),
        };
        self.request_with(token, method, path, build)
    }

    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&[u8], &str)>,
        token: TokenUse<'_>,
    ) -> Result<Response> {
        let resp = self.send_inner(method, path, body, token)?;
        if method != "GET" {
            if let Some(index) = resp.header("x-vault-index").filter(|i| valid_index(i)) {
                *lock(&self.index) = Some(index.to_string());
            }
        }
        Ok(resp)
    }

    fn send_inner(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&[u8], &str)>,
        token: TokenUse<'_>,
    ) -> Result<Response> {
        let index = if method == "GET" {
            self.last_index()
        } else {
            None
        };
        let build = |token: Option<SecretString>| {
            let mut req = Request::new(method, &api_path(path));
            if let Some(i) = &index {
                req = req
                    .header(INDEX_HEADER, i)
                    .header(INCONSISTENT_HEADER, "forward-active-node");
            }
            if let Some(t) = token {
                req = req.secret_header(TOKEN_HEADER, t);
            }
            if let Some((bytes, content_type)) = body {
                req = req.body(bytes.to_vec(), content_type);
            }
            req
        };
        self.request_with(token, method, path, build)
    }

    /// Send what `build` makes with the token `token` says: none, the one
    /// given, or the client's (logging in first when there is none yet).
    /// With the client's, a 403 to a login token that Vault no longer
    /// knows logs in once more and sends the request again with the new
    /// token; any other answer is returned as it came.
    fn request_with(
        &self,
        token: TokenUse<'_>,
        method: &str,
        path: &str,
        build: impl Fn(Option<SecretString>) -> Request,
    ) -> Result<Response> {
        let used = match token {
            TokenUse::None => return self.http.request(build(None)),
            TokenUse::Given(t) => return self.http.request(build(Some(t.clone()))),
            TokenUse::Current => self.token_or_login()?,
        };
        let resp = self.http.request(build(used.clone()))?;
        if resp.status == 403 && self.can_login() {
            if let Some(used) = used {
                if !self.token_is_valid(&used)? {
                    log::info!("Vault token no longer valid ({method} {path}); logging in again");
                    let fresh = self.relogin(&used)?;
                    return self.http.request(build(Some(fresh)));
                }
            }
        }
        Ok(resp)
    }
}

/// Store a token where a later command finds it, as Vault's CLI keeps
/// `~/.vault-token`: written atomically (temporary file, fsync, rename),
/// created with mode 0600.
#[cfg(feature = "cli")]
pub(crate) fn store_token(path: &std::path::Path, token: &SecretString) -> Result<()> {
    crate::util::fs::write_atomic(path, token.expose().as_bytes(), 0o600)?;
    Ok(())
}

/// How a Vault or OpenBao answer counts for retrying across a cluster:
/// a sealed node is [`Verdict::NodeDown`] (try the next node);
/// `500 local node not active but active cluster node not found` and
/// `no active … instance` (an election) are [`Verdict::Passing`]; anything
/// else follows the generic rules (503 and 429 are waited out).
pub(crate) fn cluster_verdict(status: u16, body: &[u8]) -> Verdict {
    if !(500..600).contains(&status) {
        return Verdict::Generic;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    if text.contains("vault is sealed") {
        Verdict::NodeDown
    } else if text.contains("node not active")
        || (text.contains("no active") && text.contains("instance"))
    {
        Verdict::Passing
    } else {
        Verdict::Generic
    }
}

/// The header a write's answer carries and a read may send back.
pub(crate) const INDEX_HEADER: &str = "X-Vault-Index";

/// Asks a standby that is behind the sent index to forward the read.
pub(crate) const INCONSISTENT_HEADER: &str = "X-Vault-Inconsistent";

/// An index worth sending back: short, printable, no spaces.
fn valid_index(v: &str) -> bool {
    !v.is_empty() && v.len() <= 1024 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// Which token a request carries.
#[derive(Clone, Copy)]
enum TokenUse<'a> {
    /// None (health, login).
    None,
    /// This one (unwrapping).
    Given(&'a SecretString),
    /// The client's, logging in first when there is none yet.
    Current,
}
