//! The Hydra test double's handle: a [`TestServer`] on `127.0.0.1:0` that
//! keeps OAuth2 clients and access tokens in memory and answers the admin
//! and public endpoints vaultid uses, with the status codes, headers and
//! JSON shapes Hydra's handlers produce (see `client/handler.go`,
//! `x/error_enhancer.go` and fosite's client authentication in Hydra's
//! sources, and the handler answers under `tests/fixtures/hydra/`).
//!
//! HTTP is the shared test server's ([`TestServer`]: keep-alive,
//! `Content-Length` and chunked bodies). Admin and public endpoints share
//! one port. The concerns live apart: [`super::routes`] (operation ids and
//! handlers), [`super::store`] (clients and tokens), [`super::oauth`] (token
//! endpoint, client authentication) and [`super::codec`].
//!
//! Tests steer faults through [`HydraDouble::fail_with`],
//! [`HydraDouble::fail_next`], [`HydraDouble::set_delay`],
//! [`HydraDouble::set_down`] and [`HydraDouble::shutdown`], read per-operation
//! counters with [`HydraDouble::count`] and the full request/response log
//! with [`HydraDouble::exchanges`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::codec::parse_form;
use super::routes::{error, ok_json, operation_of, route, Request};
use super::store::{create_client, from_db, State};
use crate::common::{Reply, Seen, TestServer};

/// One request the double received and the response it sent.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The request target as received: path and query, still percent-encoded.
    pub target: String,
    /// The path part of the target, still percent-encoded.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Request headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Response status.
    pub status: u16,
    /// Response headers, names lowercased.
    pub response_headers: Vec<(String, String)>,
    /// Response body.
    pub response_body: Vec<u8>,
    /// Hydra's `operationId` for the endpoint, `None` for an unknown endpoint.
    pub operation: Option<&'static str>,
    /// `true` when the response was a fault injected by the test.
    pub injected: bool,
}

impl Exchange {
    /// A request header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// A response header by (case-insensitive) name.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find_header(&self.response_headers, name)
    }

    /// The request body as JSON, if it is JSON.
    pub fn request_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The request body decoded as `application/x-www-form-urlencoded`.
    pub fn request_form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }
}

pub(super) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Default)]
struct Faults {
    /// Answer every request with this status.
    fail_status: Option<u16>,
    /// Only for this many more requests (then clear), when set.
    fail_remaining: Option<u32>,
    /// Body of the injected failures (default: an `errorOAuth2` body).
    fail_body: Option<Value>,
    delay: Duration,
    down: bool,
}

struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Hydra test double. Dropping it stops the listener.
pub struct HydraDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: TestServer,
}

/// The issuer the double writes into introspection results.
pub const ISSUER: &str = "http://hydra-test-double.local/";

impl HydraDouble {
    /// Start the double on a free loopback port.
    pub fn start() -> HydraDouble {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                clients: BTreeMap::new(),
                tokens: HashMap::new(),
                log: Vec::new(),
                counts: HashMap::new(),
                token_lifespan: Duration::from_secs(3600),
            }),
            faults: Mutex::new(Faults::default()),
        });
        let s = shared.clone();
        let server = TestServer::start_with(Duration::from_secs(30), move |req, _| handle(&s, req));
        HydraDouble {
            addr: server.socket(),
            shared,
            server,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the admin API (the same port as the public API).
    pub fn admin_url(&self) -> String {
        self.url()
    }

    /// Base URL of the public API (the same port as the admin API).
    pub fn public_url(&self) -> String {
        self.url()
    }

    /// A client configuration for the double: both URLs, a 5 s timeout, no
    /// retries, scope `agent:read`, `client_secret_post`. Tests change the
    /// fields they care about on the returned value.
    pub fn config(&self) -> vaultid::config::HydraConfig {
        let mut c = vaultid::config::HydraConfig::new(self.admin_url());
        c.public_url = Some(self.public_url());
        c.timeout = Duration::from_secs(5);
        c.max_retries = 0;
        c.scopes = vec!["agent:read".into()];
        c.token_auth = vaultid::config::TokenAuth::Post;
        c
    }

    /// Answer every request with `status` (e.g. 503) and an error body in
    /// Hydra's shape, until [`HydraDouble::clear_faults`].
    pub fn fail_with(&self, status: u16) {
        let mut f = self.shared.faults();
        f.fail_status = Some(status);
        f.fail_remaining = None;
        f.fail_body = None;
    }

    /// Answer the next `n` requests with `status`, then behave normally.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut f = self.shared.faults();
        f.fail_status = Some(status);
        f.fail_remaining = Some(n);
        f.fail_body = None;
    }

    /// Answer the next `n` requests with `status` and this JSON body (for
    /// instance Hydra's other error shape, `{"message": .., "reason": ..}`).
    pub fn fail_next_with(&self, n: u32, status: u16, body: Value) {
        let mut f = self.shared.faults();
        f.fail_status = Some(status);
        f.fail_remaining = Some(n);
        f.fail_body = Some(body);
    }

    /// Wait this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.faults().delay = delay;
    }

    /// Simulate a dead server: when `true`, every request is read and the
    /// connection is closed without an answer (nothing is logged).
    pub fn set_down(&self, down: bool) {
        self.shared.faults().down = down;
    }

    /// Remove all faults (failure status, delay, down).
    pub fn clear_faults(&self) {
        *self.shared.faults() = Faults::default();
    }

    /// Stop listening: new connections are refused from now on.
    pub fn shutdown(&mut self) {
        self.server.shutdown();
    }

    /// Lifetime of the access tokens issued from now on (default one hour).
    pub fn set_token_lifespan(&self, lifespan: Duration) {
        self.shared.state().token_lifespan = lifespan;
    }

    /// How many requests reached the operation with Hydra's `operationId`
    /// `op` (e.g. `createOAuth2Client`, `oauth2TokenExchange`), faults included.
    pub fn count(&self, op: &str) -> u64 {
        self.shared.state().counts.get(op).copied().unwrap_or(0)
    }

    /// How many requests were answered in total.
    pub fn total_requests(&self) -> u64 {
        self.shared.state().log.len() as u64
    }

    /// A copy of the request/response log.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.state().log.clone()
    }

    /// The stored client as `GET /admin/clients/{id}` would return it.
    pub fn client(&self, id: &str) -> Option<Value> {
        self.shared
            .state()
            .clients
            .get(id)
            .map(|c| Value::Object(from_db(&c.doc)))
    }

    /// The stored client's current secret (tests only; Hydra keeps a hash).
    pub fn client_secret(&self, id: &str) -> Option<String> {
        self.shared
            .state()
            .clients
            .get(id)
            .map(|c| c.secret.clone())
    }

    /// The ids of all stored clients, sorted.
    pub fn client_ids(&self) -> Vec<String> {
        self.shared.state().clients.keys().cloned().collect()
    }

    /// Add a client directly, bypassing HTTP (and the log): `body` is what a
    /// `POST /admin/clients` would carry. Returns the stored secret.
    pub fn seed_client(&self, body: Value) -> String {
        let mut st = self.shared.state();
        let map = body.as_object().cloned().unwrap_or_default();
        let (status, _, resp) = create_client(&mut st, &map);
        assert_eq!(status, 201, "seed_client: {resp}");
        resp["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for HydraDouble {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------------------
// One request

/// Answer one request: faults first (down, delay, injected failures), then
/// the route; the exchange is logged before the answer goes out, so a test
/// that has its response also sees the exchange.
fn handle(shared: &Shared, seen: &Seen) -> Reply {
    let (down, delay) = {
        let f = shared.faults();
        (f.down, f.delay)
    };
    if down {
        return Reply::Hangup;
    }
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let (path, query) = match seen.path.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_form(q)),
        None => (seen.path.clone(), Vec::new()),
    };
    let req = Request {
        method: seen.method.clone(),
        path,
        query,
        headers: seen.headers.clone(),
        body: seen.body.clone(),
    };
    let op = operation_of(&req.method, &req.path);
    let injected = {
        let mut f = shared.faults();
        let body = f.fail_body.clone();
        match (f.fail_status, f.fail_remaining) {
            (Some(s), None) => Some((s, body)),
            (Some(s), Some(n)) if n > 0 => {
                f.fail_remaining = Some(n - 1);
                if n == 1 {
                    f.fail_status = None;
                    f.fail_remaining = None;
                    f.fail_body = None;
                }
                Some((s, body))
            }
            _ => None,
        }
    };
    let mut st = shared.state();
    if let Some(op) = op {
        *st.counts.entry(op.to_string()).or_insert(0) += 1;
    }
    let (status, mut headers, body) = match &injected {
        Some((s, Some(body))) => ok_json(*s, body),
        Some((s, None)) => error(
            *s,
            reason_phrase(*s),
            "The Hydra test double was told to fail this request.",
        ),
        None => route(&mut st, &req, op),
    };
    drop(st);
    if !body.is_empty() && find_header(&headers, "content-type").is_none() {
        headers.push((
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        ));
    }
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if status != 204 {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    if seen.wants_close() {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if status != 204 {
        bytes.extend_from_slice(&body);
    }
    shared.state().log.push(Exchange {
        method: req.method,
        target: seen.path.clone(),
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
        status,
        response_headers: headers,
        response_body: body,
        operation: op,
        injected: injected.is_some(),
    });
    Reply::Answer(bytes)
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
