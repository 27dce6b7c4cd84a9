//! The agent's local gateway: an HTTP/1.1 listener through which the
//! applications beside the agent get authentication for free, whatever
//! their language.
//!
//! | path | what it does |
//! |---|---|
//! | `/v1/...` | forwarded to the configured Vault nodes (the HA rules of the Vault client: stickiness, elections waited out, redirects) with the agent's current token replacing whatever token the application sent (`vault.token = "replace"`, as OpenBao Proxy's `use_auto_auth_token = "force"`), or with the application's own (`"pass"`); an optional allow-list of path prefixes |
//! | `/peers/NAME/...` | forwarded to the peer's configured base URL with `Authorization: Bearer` (the agent's Hydra token, reused until shortly before it expires) and the DID signature headers over exactly the bytes forwarded |
//! | `/metrics` | Prometheus text: requests by route and status, latency, connections, the agent's token and sources, RSS and open fds |
//! | `/healthz` | `200` when `vaultid agent status` would exit 0, else `503`; the body is the status document |
//!
//! It listens on a Unix socket (mode 0600 by default) or a loopback TCP
//! address, never another address. Requests are parsed by the gateway's own
//! strict HTTP/1.1 reader (`request`), capped and time-limited; a request
//! is never forwarded anywhere but to a configured Vault node or peer
//! (`route`), and tokens and bodies never reach the logs.
//!
//! Layout: `config` (the `listener` object), `request` (the parser, pure),
//! `route` (where a path goes, pure), `metrics` (counters and the
//! exposition text), `server` (sockets, threads, deadlines), `pool` (the
//! few threads that make the calls to Vault and to peers), and this file:
//! what each route answers.
//!
//! A call to a peer carries at most 2 MiB (`PEER_MAX_BODY`, the
//! framework's verifier cap; `413` before the body is read), follows a
//! redirect only to the same origin, and is answered `401` only after one
//! more try with a new token.

pub(crate) mod config;
pub(crate) mod metrics;
mod pool;
pub(crate) mod request;
pub(crate) mod route;
mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result, Service};
use crate::http::{HttpClient, HttpConfig, Request};
use crate::secret_string::{zeroize_bytes, SecretString};
use crate::util::lock;
use crate::vault::Client;
use config::{Settings, TokenMode};
use metrics::{Metrics, Process};
use request::Head;
use route::Route;

pub use config::{ListenerConfig, PeerConfig, VaultRouteConfig};

/// An answer to write: status, headers (without `Content-Length` and
/// `Connection`), body. The body is zeroed on drop (it may be a secret
/// read from Vault).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Drop for Reply {
    fn drop(&mut self) {
        zeroize_bytes(&mut self.body);
    }
}

impl Reply {
    /// A Vault-style error answer: `{"errors": [message]}`.
    pub(crate) fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({ "errors": [message] }).to_string().into_bytes(),
        }
    }
}

/// Signs calls to peers: the headers to add for a body.
pub(crate) trait PeerAuth: Send + Sync {
    /// `Authorization` and the DID signature headers for `body`, as
    /// (name, secret value) pairs.
    fn headers(&self, body: &[u8]) -> Result<Vec<(String, SecretString)>>;

    /// A peer answered `401`: the token may have been revoked, so the next
    /// [`PeerAuth::headers`] should carry a new one.
    fn token_refused(&self) {}
}

/// The agent's own signer: its Hydra token and the DID signature with the
/// key pair of its key directory ([`crate::signing::Signer`]).
impl PeerAuth for crate::signing::Signer {
    fn headers(&self, body: &[u8]) -> Result<Vec<(String, SecretString)>> {
        crate::signing::Signer::headers(self, body)
    }

    fn token_refused(&self) {
        crate::signing::Signer::token_refused(self);
    }
}

/// The largest body sent to a peer, whatever `max_body` says: the
/// framework's verifier reads at most 2 MiB, so a larger signed body could
/// never be accepted (`413` before any of it is read).
pub(crate) const PEER_MAX_BODY: u64 = 2 * 1024 * 1024;

/// Request headers an application may pass on to Vault (besides the
/// token, which depends on the token mode).
const VAULT_REQUEST_HEADERS: [&str; 9] = [
    "accept",
    "x-vault-namespace",
    "x-vault-wrap-ttl",
    "x-vault-wrap-format",
    "x-vault-request",
    "x-vault-index",
    "x-vault-inconsistent",
    "x-vault-policy-override",
    "x-vault-mfa",
];

/// Response headers never passed back (hop-by-hop, or rewritten here).
const DROPPED_RESPONSE_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-connection",
    "content-length",
];

/// Request headers an application may pass on to a peer.
const PEER_REQUEST_HEADERS: [&str; 3] = ["accept", "content-type", "user-agent"];

/// The gateway's shared state: settings, upstreams, counters, the agent's
/// latest status document.
pub(crate) struct Gateway {
    settings: Settings,
    vault: Arc<Client>,
    peers: BTreeMap<String, HttpClient>,
    peer_auth: Option<Box<dyn PeerAuth>>,
    status: Mutex<Value>,
    /// The agent's verdict on that document (`vaultid agent status`'s exit
    /// code and summary), for `/healthz`.
    health: Mutex<(u8, Value)>,
    metrics: Metrics,
    stop: AtomicBool,
    /// The threads that call Vault, and the ones that call peers (apart,
    /// so that slow peers never hold up Vault).
    vault_pool: pool::Pool,
    peer_pool: pool::Pool,
}

/// Calls to Vault forwarded at once; more wait their turn.
const VAULT_FORWARDS: usize = 32;

/// Calls to peers forwarded at once.
const PEER_FORWARDS: usize = 16;

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.settings.listen)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A gateway serving in its own thread; stopped (and its socket removed)
/// by [`Running::stop`] or on drop. `vaultid agent` runs one when its
/// configuration has a `listener`; a program of its own starts one with
/// [`crate::agent::start_gateway`].
pub struct Running {
    gateway: Arc<Gateway>,
    address: String,
    poke: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("address", &self.address)
            .finish()
    }
}

impl Gateway {
    /// A gateway with `settings`, forwarding `/v1/` through `vault`, and
    /// `/peers/` with `peer_auth` (peers answer `503` without it).
    pub(crate) fn new(
        settings: Settings,
        vault: Arc<Client>,
        peer_auth: Option<Box<dyn PeerAuth>>,
        peer_tls: &crate::http::TlsConfig,
    ) -> Result<Gateway> {
        let max_connections = settings.max_connections;
        let mut peers = BTreeMap::new();
        for (name, base) in &settings.peers {
            let mut c = HttpConfig::new(Service::Peer, base);
            c.tls = peer_tls.clone();
            c.max_retries = 0;
            c.deadline = Duration::from_secs(30);
            // The token and the signed body never go to another origin.
            c.same_origin_redirects = true;
            peers.insert(name.clone(), HttpClient::new(&c)?);
        }
        Ok(Gateway {
            settings,
            vault,
            peers,
            peer_auth,
            status: Mutex::new(json!({})),
            health: Mutex::new((
                1,
                json!({"healthy": false, "exit_code": 1,
                       "problems": ["the agent has not published its status yet"]}),
            )),
            metrics: Metrics::default(),
            stop: AtomicBool::new(false),
            vault_pool: pool::Pool::new("gateway-vault", VAULT_FORWARDS.min(max_connections)),
            peer_pool: pool::Pool::new("gateway-peer", PEER_FORWARDS.min(max_connections)),
        })
    }

    /// Binds the listener and serves in a new thread.
    pub(crate) fn start(self) -> Result<Running> {
        let listener = server::bind(&self.settings)?;
        let address = listener.describe();
        let gateway = Arc::new(self);
        let poke_target = match &gateway.settings.listen {
            config::Listen::Tcp(_) => {
                let a: std::net::SocketAddr = address
                    .parse()
                    .map_err(|_| Error::Config(format!("listener: bound to {address}?")))?;
                Box::new(move || {
                    let _ = std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200));
                }) as Box<dyn FnOnce() + Send>
            }
            config::Listen::Socket(p, _) => {
                let p = p.clone();
                Box::new(move || {
                    let _ = std::os::unix::net::UnixStream::connect(&p);
                }) as Box<dyn FnOnce() + Send>
            }
        };
        let worker = gateway.clone();
        let thread = std::thread::Builder::new()
            .name("vaultid-gateway-accept".into())
            .spawn(move || server::serve(worker, listener))
            .map_err(|e| Error::io("starting the gateway thread".to_string(), e))?;
        Ok(Running {
            gateway,
            address,
            poke: Some(poke_target),
            thread: Some(thread),
        })
    }

    /// Answers one request; also names its route for the metrics. Calls
    /// to Vault and to peers run on the forwarding threads ([`pool`]).
    fn answer(self: &Arc<Self>, head: &Head, body: Vec<u8>) -> (&'static str, Reply) {
        let route = match route::route(&head.path, &self.settings) {
            Ok(r) => r,
            Err(no) => return ("other", Reply::error(no.status, &no.message)),
        };
        let (gw, owned) = (self.clone(), head.clone());
        let busy = || {
            Reply::error(
                503,
                "gateway: no thread to forward the request; retry later",
            )
        };
        match route {
            Route::Metrics => ("metrics", self.metrics_reply()),
            Route::Healthz => ("healthz", self.health_reply()),
            Route::Vault(path) => (
                "vault",
                self.vault_pool
                    .run(move || gw.forward_vault(&owned, &path, body))
                    .unwrap_or_else(busy),
            ),
            Route::Peer { name, rest, .. } => (
                "peers",
                self.peer_pool
                    .run(move || gw.forward_peer(&owned, &name, &rest, body))
                    .unwrap_or_else(busy),
            ),
        }
    }

    fn metrics_reply(&self) -> Reply {
        let status = lock(&self.status).clone();
        Reply {
            status: 200,
            headers: vec![(
                "Content-Type".into(),
                "text/plain; version=0.0.4; charset=utf-8".into(),
            )],
            body: self.metrics.render(&status, Process::read()).into_bytes(),
        }
    }

    fn health_reply(&self) -> Reply {
        let (code, verdict) = lock(&self.health).clone();
        Reply {
            status: if code == 0 { 200 } else { 503 },
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: verdict.to_string().into_bytes(),
        }
    }

    fn forward_vault(&self, head: &Head, path: &str, mut body: Vec<u8>) -> Reply {
        if crate::http::known_method(&head.method).is_none() {
            zeroize_bytes(&mut body);
            return Reply::error(501, "gateway: method not implemented");
        }
        let mut headers = Vec::new();
        for name in VAULT_REQUEST_HEADERS {
            if let Some(v) = head.field(name).and_then(|v| std::str::from_utf8(v).ok()) {
                headers.push((name.to_string(), v.to_string()));
            }
        }
        let token = match self.settings.token_mode {
            TokenMode::Replace => None,
            TokenMode::Pass => Some(app_token(head)),
        };
        let content_type = head
            .field("content-type")
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("application/json")
            .to_string();
        let body_arg = (!body.is_empty() || head.method != "GET")
            .then_some((body.as_slice(), content_type.as_str()))
            .filter(|(b, _)| !b.is_empty());
        let result = self.vault.forward(
            &head.method,
            path,
            head.query.as_deref(),
            &headers,
            body_arg,
            token,
        );
        zeroize_bytes(&mut body);
        match result {
            Ok(mut resp) => Reply {
                status: resp.status,
                headers: pass_headers(&resp.headers),
                body: std::mem::take(&mut resp.body),
            },
            Err(e) => Reply::error(502, &format!("gateway: {e}")),
        }
    }

    fn forward_peer(&self, head: &Head, name: &str, rest: &str, mut body: Vec<u8>) -> Reply {
        let reply = self.forward_peer_inner(head, name, rest, &body);
        zeroize_bytes(&mut body);
        reply
    }

    /// Sends `body` to the peer `name`, signed; once more with a new token
    /// when the peer answers `401` (the token may have been revoked).
    fn forward_peer_inner(&self, head: &Head, name: &str, rest: &str, body: &[u8]) -> Reply {
        let Some(client) = self.peers.get(name) else {
            return Reply::error(404, "no such peer in the gateway's configuration");
        };
        let Some(auth) = self.peer_auth.as_ref() else {
            return Reply::error(
                503,
                "gateway: calls to peers need Hydra (HYDRA__ADMIN_URL, HYDRA__PUBLIC_URL) and the agent's identity",
            );
        };
        if body.len() as u64 > PEER_MAX_BODY {
            return Reply::error(413, "request body too large for a signed call (2 MiB)");
        }
        let Some(method) = crate::http::known_method(&head.method) else {
            return Reply::error(501, "gateway: method not implemented");
        };
        let target = match &head.query {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        let target = if target.is_empty() || target.starts_with('?') {
            format!("/{target}")
        } else {
            target
        };
        let content_type = head
            .field("content-type")
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("application/json");
        for attempt in 0..2 {
            let signed = match auth.headers(body) {
                Ok(h) => h,
                Err(Error::Signature(r)) => {
                    return Reply::error(
                        400,
                        &format!("gateway: the body cannot be signed ({r}): the framework's signature covers UTF-8 text only"),
                    )
                }
                Err(e) => {
                    return Reply::error(502, &format!("gateway: signing the call failed: {e}"))
                }
            };
            let mut req = Request::new(method, &target);
            for name in PEER_REQUEST_HEADERS {
                if let Some(v) = head.field(name).and_then(|v| std::str::from_utf8(v).ok()) {
                    if name != "content-type" {
                        req = req.header(name, v);
                    }
                }
            }
            for (name, value) in signed {
                req = req.secret_header(&name, value);
            }
            if !body.is_empty() {
                req = req.body(body.to_vec(), content_type);
            }
            match client.request(req) {
                Ok(resp) if resp.status == 401 && attempt == 0 => {
                    log::debug!("gateway: peer {name} answered 401; once more with a new token");
                    auth.token_refused();
                }
                Ok(mut resp) => {
                    return Reply {
                        status: resp.status,
                        headers: pass_headers(&resp.headers),
                        body: std::mem::take(&mut resp.body),
                    }
                }
                Err(e) => return Reply::error(502, &format!("gateway: {e}")),
            }
        }
        // The second attempt always returns above.
        Reply::error(502, "gateway: no answer from the peer")
    }
}

/// The application's own token: `X-Vault-Token`, else a bearer token.
fn app_token(head: &Head) -> Option<SecretString> {
    if let Some(t) = head.field("x-vault-token") {
        return SecretString::from_utf8(t.to_vec());
    }
    let auth = head.field("authorization")?;
    let t = auth
        .strip_prefix(b"Bearer ")
        .or_else(|| auth.strip_prefix(b"bearer "))?;
    SecretString::from_utf8(t.to_vec())
}

fn pass_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !DROPPED_RESPONSE_HEADERS.contains(&n.as_str()))
        .filter(|(_, v)| !v.bytes().any(|b| b == b'\r' || b == b'\n'))
        .cloned()
        .collect()
}

impl Running {
    /// Where it listens (a socket path or `127.0.0.1:PORT`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Publishes the agent's status document (for `/metrics`) and its
    /// verdict on it (exit code and summary, for `/healthz`: 200 when the
    /// code is 0, else 503).
    pub(crate) fn publish(&self, status: &Value, health: (u8, Value)) {
        *lock(&self.gateway.status) = status.clone();
        *lock(&self.gateway.health) = health;
    }

    /// What `/healthz` answers from now on: `200` when `healthy`, else
    /// `503`, with `summary` (a JSON object) as the body. A gateway that
    /// runs without the agent's loop answers `503` until told.
    pub fn set_health(&self, healthy: bool, summary: Value) {
        *lock(&self.gateway.health) = (u8::from(!healthy), summary);
    }

    /// Stops accepting, lets open requests finish (up to `grace`), removes
    /// the socket.
    pub fn stop(mut self, grace: Duration) {
        self.stop_inner(grace);
    }

    fn stop_inner(&mut self, grace: Duration) {
        self.gateway.stop.store(true, Ordering::Relaxed);
        if let Some(poke) = self.poke.take() {
            poke();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let until = std::time::Instant::now() + grace;
        while self.gateway.metrics.open.load(Ordering::Acquire) > 0
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_inner(Duration::from_millis(100));
    }
}
