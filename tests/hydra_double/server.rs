//! The Hydra test double: a std-only HTTP/1.1 server on `127.0.0.1:0` that
//! keeps OAuth2 clients and access tokens in memory and answers the admin
//! and public endpoints vaultid uses, with the status codes, headers and
//! JSON shapes Hydra's handlers produce (see `client/handler.go`,
//! `x/error_enhancer.go` and fosite's client authentication in Hydra's
//! sources, and the handler-test snapshots under
//! `../shared/reference/hydra/client-snapshots/`).
//!
//! One thread per connection, HTTP/1.1 keep-alive, `Content-Length` (and
//! chunked) request bodies. Admin and public endpoints share one port.
//!
//! Tests steer faults through [`HydraDouble::fail_with`],
//! [`HydraDouble::fail_next`], [`HydraDouble::set_delay`],
//! [`HydraDouble::set_down`] and [`HydraDouble::shutdown`], read per-operation
//! counters with [`HydraDouble::count`] and the full request/response log
//! with [`HydraDouble::exchanges`].

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

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

    /// The response body as JSON, if it is JSON.
    pub fn response_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.response_body).ok()
    }

    /// The request body decoded as `application/x-www-form-urlencoded`.
    pub fn request_form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
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

struct StoredClient {
    /// The client as Hydra's database would return it, without the secret.
    doc: Map<String, Value>,
    secret: String,
    rotated: Vec<String>,
}

struct Token {
    client_id: String,
    scope: String,
    iat: u64,
    exp: u64,
    revoked: bool,
}

struct State {
    clients: BTreeMap<String, StoredClient>,
    tokens: HashMap<String, Token>,
    log: Vec<Exchange>,
    counts: HashMap<String, u64>,
    token_lifespan: Duration,
}

struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    stopping: AtomicBool,
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
    accept: Option<JoinHandle<()>>,
}

/// The issuer the double writes into introspection results.
pub const ISSUER: &str = "http://hydra-test-double.local/";

impl HydraDouble {
    /// Start the double on a free loopback port.
    pub fn start() -> HydraDouble {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                clients: BTreeMap::new(),
                tokens: HashMap::new(),
                log: Vec::new(),
                counts: HashMap::new(),
                token_lifespan: Duration::from_secs(3600),
            }),
            faults: Mutex::new(Faults::default()),
            stopping: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve_connection(stream, &s));
            }
        });
        HydraDouble {
            addr,
            shared,
            accept: Some(accept),
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
    /// fields they care about with struct update syntax.
    pub fn config(&self) -> vaultid::config::HydraConfig {
        vaultid::config::HydraConfig {
            admin_url: self.admin_url(),
            public_url: Some(self.public_url()),
            timeout: Duration::from_secs(5),
            verify_ssl: true,
            max_retries: 0,
            auto_register: true,
            scopes: vec!["agent:read".into()],
            token_auth: vaultid::config::TokenAuth::Post,
        }
    }

    /// The socket address the double listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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
        if self.shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
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

    /// Forget the log and the counters (clients and tokens stay).
    pub fn clear_log(&self) {
        let mut s = self.shared.state();
        s.log.clear();
        s.counts.clear();
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
// HTTP/1.1

struct Request {
    method: String,
    target: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let version = parts.next().unwrap_or("HTTP/1.1").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let chunked = find_header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size_hex = size_line.trim().split(';').next()?.trim();
            let size = usize::from_str_radix(size_hex, 16).ok()?;
            if size == 0 {
                // trailers until an empty line
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    } else if let Some(len) = find_header(&headers, "content-length") {
        let len: usize = len.parse().ok()?;
        body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
    }
    let conn = find_header(&headers, "connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    let close = conn.contains("close") || (version == "HTTP/1.0" && !conn.contains("keep-alive"));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_form(q)),
        None => (target.clone(), Vec::new()),
    };
    Some(Request {
        method,
        target,
        path,
        query,
        headers,
        body,
        close,
    })
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Some(req) = read_request(&mut reader) {
        if shared.stopping.load(Ordering::SeqCst) {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        let (down, delay) = {
            let f = shared.faults();
            (f.down, f.delay)
        };
        if down {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
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
        if req.close {
            out.push_str("connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if status != 204 {
            bytes.extend_from_slice(&body);
        }
        let close = req.close;
        shared.state().log.push(Exchange {
            method: req.method,
            target: req.target,
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
        // Logged before the answer goes out, so a test that has its
        // response also sees the exchange.
        let write_ok = writer
            .write_all(&bytes)
            .and_then(|_| writer.flush())
            .is_ok();
        if close || !write_ok {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
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

// ---------------------------------------------------------------------------
// Routing

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// Hydra's `operationId` for a method and (encoded) path.
pub fn operation_of(method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (method, segs.as_slice()) {
        ("GET", ["admin", "clients"]) => "listOAuth2Clients",
        ("POST", ["admin", "clients"]) => "createOAuth2Client",
        ("GET", ["admin", "clients", _]) => "getOAuth2Client",
        ("PUT", ["admin", "clients", _]) => "setOAuth2Client",
        ("PATCH", ["admin", "clients", _]) => "patchOAuth2Client",
        ("DELETE", ["admin", "clients", _]) => "deleteOAuth2Client",
        ("POST", ["admin", "clients", _, "secrets", "rotate"]) => "rotateOAuth2ClientSecret",
        ("DELETE", ["admin", "clients", _, "secrets", "rotate"]) => {
            "deleteRotatedOAuth2ClientSecrets"
        }
        ("POST", ["admin", "oauth2", "introspect"]) => "introspectOAuth2Token",
        ("POST", ["oauth2", "token"]) => "oauth2TokenExchange",
        ("POST", ["oauth2", "revoke"]) => "revokeOAuth2Token",
        ("GET", ["health", "alive"]) => "isAlive",
        ("GET", ["health", "ready"]) => "isReady",
        _ => return None,
    })
}

fn route(st: &mut State, req: &Request, op: Option<&'static str>) -> Reply {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let id = segs.get(2).map(|s| percent_decode(s)).unwrap_or_default();
    match op {
        Some("listOAuth2Clients") => list_clients(st, req),
        Some("createOAuth2Client") => match decode_client(&req.body) {
            Ok(map) => {
                let (status, headers, v) = create_client(st, &map);
                (status, headers, to_bytes(&v))
            }
            Err(e) => e,
        },
        Some("getOAuth2Client") => match st.clients.get(&id) {
            Some(c) => ok_json(200, &Value::Object(from_db(&c.doc))),
            None => not_found(),
        },
        Some("setOAuth2Client") => set_client(st, &id, &req.body),
        Some("patchOAuth2Client") => patch_client(st, &id, &req.body),
        Some("deleteOAuth2Client") => match st.clients.remove(&id) {
            Some(_) => {
                st.tokens.retain(|_, t| t.client_id != id);
                (204, Vec::new(), Vec::new())
            }
            None => not_found(),
        },
        Some("rotateOAuth2ClientSecret") => rotate_secret(st, &id),
        Some("deleteRotatedOAuth2ClientSecrets") => match st.clients.get_mut(&id) {
            Some(c) => {
                c.rotated.clear();
                ok_json(200, &Value::Object(from_db(&c.doc)))
            }
            None => not_found(),
        },
        Some("oauth2TokenExchange") => token(st, req),
        Some("introspectOAuth2Token") => introspect(st, req),
        Some("revokeOAuth2Token") => revoke(st, req),
        Some("isAlive") | Some("isReady") => ok_json(200, &json!({"status": "ok"})),
        _ => (
            404,
            vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            b"404 page not found\n".to_vec(),
        ),
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize")
}

fn ok_json(status: u16, v: &Value) -> Reply {
    (status, Vec::new(), to_bytes(v))
}

/// An error in the shape Hydra's error enhancer writes (`errorOAuth2`).
fn error(status: u16, error: &str, description: &str) -> Reply {
    ok_json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn not_found() -> Reply {
    error(404, "Unable to locate the resource", "")
}

fn bad_request(reason: &str) -> Reply {
    error(
        400,
        "The request was malformed or contained invalid parameters",
        reason,
    )
}

const INVALID_CLIENT_METADATA: &str = "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";

fn invalid_metadata(hint: &str) -> Reply {
    error(
        400,
        "invalid_client_metadata",
        &format!("{INVALID_CLIENT_METADATA} {hint}"),
    )
}

// ---------------------------------------------------------------------------
// Client JSON

const STRING_FIELDS: &[&str] = &[
    "client_id",
    "client_name",
    "client_secret",
    "scope",
    "owner",
    "policy_uri",
    "tos_uri",
    "client_uri",
    "logo_uri",
    "subject_type",
    "token_endpoint_auth_method",
    "userinfo_signed_response_alg",
    "jwks_uri",
    "sector_identifier_uri",
    "token_endpoint_auth_signing_alg",
    "request_object_signing_alg",
    "frontchannel_logout_uri",
    "backchannel_logout_uri",
    "access_token_strategy",
    "registration_access_token",
    "registration_client_uri",
    "created_at",
    "updated_at",
];
const LIST_FIELDS: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "audience",
    "allowed_cors_origins",
    "contacts",
    "request_uris",
    "post_logout_redirect_uris",
];
const BOOL_FIELDS: &[&str] = &[
    "skip_consent",
    "skip_logout_consent",
    "frontchannel_logout_session_required",
    "backchannel_logout_session_required",
];
/// The token lifespans (`x.NullDuration`): a Go duration string or null.
pub const LIFESPAN_FIELDS: &[&str] = &[
    "authorization_code_grant_access_token_lifespan",
    "authorization_code_grant_id_token_lifespan",
    "authorization_code_grant_refresh_token_lifespan",
    "client_credentials_grant_access_token_lifespan",
    "implicit_grant_access_token_lifespan",
    "implicit_grant_id_token_lifespan",
    "jwt_bearer_grant_access_token_lifespan",
    "refresh_token_grant_id_token_lifespan",
    "refresh_token_grant_access_token_lifespan",
    "refresh_token_grant_refresh_token_lifespan",
    "device_authorization_grant_id_token_lifespan",
    "device_authorization_grant_access_token_lifespan",
    "device_authorization_grant_refresh_token_lifespan",
];
/// Fields Hydra's JSON omits when empty (`omitempty` in `client/client.go`).
const OMIT_EMPTY: &[&str] = &[
    "jwks_uri",
    "sector_identifier_uri",
    "token_endpoint_auth_signing_alg",
    "request_uris",
    "request_object_signing_alg",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "access_token_strategy",
];

/// Decode a client body the way Go's `encoding/json` decodes into Hydra's
/// `client.Client`: unknown fields are ignored, `null` leaves the zero
/// value, a wrong type is a 400.
fn decode_client(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("Unable to decode the request body: {e}")))?;
    let Value::Object(map) = v else {
        return Err(bad_request(
            "Unable to decode the request body: json: cannot unmarshal into Go value of type client.Client",
        ));
    };
    check_client_types(&map)
        .map_err(|e| bad_request(&format!("Unable to decode the request body: {e}")))?;
    Ok(map)
}

fn check_client_types(map: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in map {
        if v.is_null() {
            continue;
        }
        let k = k.as_str();
        let ok = if STRING_FIELDS.contains(&k) {
            v.is_string()
        } else if LIST_FIELDS.contains(&k) {
            v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        } else if BOOL_FIELDS.contains(&k) {
            v.is_boolean()
        } else if LIFESPAN_FIELDS.contains(&k) {
            v.is_string()
        } else if k == "client_secret_expires_at" {
            v.is_i64() || v.is_u64()
        } else if k == "jwks" {
            v.is_object()
        } else {
            true
        };
        if !ok {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field Client.{k}",
                json_type(v)
            ));
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The client as Hydra echoes a decoded request body after validation:
/// every field of the snapshots present, defaults filled in, absent lists
/// `null` (Go nil slices) except `audience` and `allowed_cors_origins`.
fn canonical(input: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    let s = |k: &str, default: &str| -> Value {
        let v = str_field(input, k);
        Value::String(if v.is_empty() { default } else { v }.to_string())
    };
    let list = |k: &str, nil_as_empty: bool| -> Value {
        match input.get(k) {
            Some(Value::Array(a)) => Value::Array(a.clone()),
            _ if nil_as_empty => json!([]),
            _ => Value::Null,
        }
    };
    m.insert("client_id".into(), s("client_id", ""));
    m.insert("client_name".into(), s("client_name", ""));
    m.insert("redirect_uris".into(), list("redirect_uris", false));
    m.insert("grant_types".into(), list("grant_types", false));
    m.insert("response_types".into(), list("response_types", false));
    m.insert("scope".into(), s("scope", "offline_access offline openid"));
    m.insert("audience".into(), list("audience", true));
    m.insert("owner".into(), s("owner", ""));
    m.insert("policy_uri".into(), s("policy_uri", ""));
    m.insert(
        "allowed_cors_origins".into(),
        list("allowed_cors_origins", true),
    );
    m.insert("tos_uri".into(), s("tos_uri", ""));
    m.insert("client_uri".into(), s("client_uri", ""));
    m.insert("logo_uri".into(), s("logo_uri", ""));
    m.insert("contacts".into(), list("contacts", false));
    m.insert("client_secret_expires_at".into(), json!(0));
    m.insert("subject_type".into(), s("subject_type", "public"));
    m.insert(
        "jwks".into(),
        input
            .get("jwks")
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    m.insert(
        "token_endpoint_auth_method".into(),
        s("token_endpoint_auth_method", "client_secret_basic"),
    );
    m.insert(
        "userinfo_signed_response_alg".into(),
        s("userinfo_signed_response_alg", "none"),
    );
    m.insert(
        "metadata".into(),
        input
            .get("metadata")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    m.insert(
        "skip_consent".into(),
        json!(input
            .get("skip_consent")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
    );
    m.insert(
        "skip_logout_consent".into(),
        input
            .get("skip_logout_consent")
            .filter(|v| v.is_boolean())
            .cloned()
            .unwrap_or(Value::Null),
    );
    for f in LIFESPAN_FIELDS {
        m.insert(
            (*f).into(),
            input
                .get(*f)
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    for f in OMIT_EMPTY {
        if let Some(v) = input.get(*f) {
            let empty = match v {
                Value::Null => true,
                Value::Bool(b) => !b,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => false,
            };
            if !empty {
                m.insert((*f).into(), v.clone());
            }
        }
    }
    m
}

/// The stored client as Hydra reads it back from its database: nil lists
/// come back as `[]` (see the `fetching_existing_client` snapshot).
fn from_db(doc: &Map<String, Value>) -> Map<String, Value> {
    let mut m = doc.clone();
    for f in ["redirect_uris", "grant_types", "response_types", "contacts"] {
        if m.get(f).is_some_and(Value::is_null) {
            m.insert(f.into(), json!([]));
        }
    }
    m
}

fn create_client(
    st: &mut State,
    input: &Map<String, Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let reply_err = |r: Reply| -> (u16, Vec<(String, String)>, Value) {
        (
            r.0,
            r.1,
            serde_json::from_slice(&r.2).unwrap_or(Value::Null),
        )
    };
    let mut id = str_field(input, "client_id").to_string();
    if id.is_empty() {
        id = uuid::Uuid::new_v4().to_string();
    }
    let mut secret = str_field(input, "client_secret").to_string();
    if secret.is_empty() {
        secret = random_secret(26);
    } else if secret.len() < 6 {
        return reply_err(invalid_metadata(
            "Field client_secret must contain a secret that is at least 6 characters long.",
        ));
    }
    if st.clients.contains_key(&id) {
        return reply_err(error(
            409,
            "Unable to insert or update resource because a resource with that value exists already",
            "",
        ));
    }
    let now = now_rfc3339();
    let mut doc = canonical(input);
    doc.insert("client_id".into(), json!(id));
    doc.insert("created_at".into(), json!(now));
    doc.insert("updated_at".into(), json!(now));
    st.clients.insert(
        id.clone(),
        StoredClient {
            doc: doc.clone(),
            secret: secret.clone(),
            rotated: Vec::new(),
        },
    );
    let mut resp = doc;
    resp.insert("client_secret".into(), json!(secret));
    resp.insert(
        "registration_access_token".into(),
        json!(format!("ory_at_{}", random_secret(43))),
    );
    resp.insert(
        "registration_client_uri".into(),
        json!(format!("{ISSUER}oauth2/register/{}", percent_encode(&id))),
    );
    let location = format!("/admin/clients/{}", percent_encode(&id));
    (
        201,
        vec![("location".into(), location)],
        Value::Object(resp),
    )
}

fn set_client(st: &mut State, id: &str, body: &[u8]) -> Reply {
    let input = match decode_client(body) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let new_secret = str_field(&input, "client_secret").to_string();
    if !new_secret.is_empty() && new_secret.len() < 6 {
        return invalid_metadata(
            "Field client_secret must contain a secret that is at least 6 characters long.",
        );
    }
    let Some(stored) = st.clients.get_mut(id) else {
        return not_found();
    };
    let mut doc = canonical(&input);
    doc.insert("client_id".into(), json!(id));
    doc.insert("created_at".into(), stored.doc["created_at"].clone());
    doc.insert("updated_at".into(), json!(now_rfc3339()));
    stored.doc = doc.clone();
    let mut resp = doc;
    if !new_secret.is_empty() {
        // A new secret replaces the old one and clears rotated secrets.
        stored.secret = new_secret.clone();
        stored.rotated.clear();
        resp.insert("client_secret".into(), json!(new_secret));
    }
    ok_json(200, &Value::Object(resp))
}

fn patch_client(st: &mut State, id: &str, body: &[u8]) -> Reply {
    let Some(stored) = st.clients.get(id) else {
        return not_found();
    };
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(body) else {
        return error(500, "error", "The error is unrecognizable");
    };
    let mut doc = Value::Object(from_db(&stored.doc));
    doc["client_secret"] = json!(stored.secret);
    let old_secret = stored.secret.clone();
    for op in &ops {
        if let Err(_e) = apply_op(&mut doc, op) {
            return error(500, "error", "The error is unrecognizable");
        }
    }
    let Value::Object(mut map) = doc else {
        return error(500, "error", "The error is unrecognizable");
    };
    if let Err(e) = check_client_types(&map) {
        return bad_request(&format!("Unable to decode the request body: {e}"));
    }
    let secret = str_field(&map, "client_secret").to_string();
    map.remove("client_secret");
    if !secret.is_empty() && secret != old_secret && secret.len() < 6 {
        return invalid_metadata(
            "Field client_secret must contain a secret that is at least 6 characters long.",
        );
    }
    let stored = st.clients.get_mut(id).expect("checked above");
    let mut doc = from_db(&canonical(&map));
    doc.insert("client_id".into(), json!(id));
    doc.insert("created_at".into(), stored.doc["created_at"].clone());
    doc.insert("updated_at".into(), json!(now_rfc3339()));
    stored.doc = doc.clone();
    let mut resp = doc;
    if secret != old_secret && !secret.is_empty() {
        stored.secret = secret.clone();
        stored.rotated.clear();
        resp.insert("client_secret".into(), json!(secret));
    }
    ok_json(200, &Value::Object(resp))
}

/// Apply one RFC 6902 operation. Like Hydra (`oryx/jsonx/patch.go`) only
/// `add`, `remove` and `replace` are accepted, and `replace` of an object
/// member that does not exist acts as `add`.
fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op["op"].as_str().ok_or("op missing")?;
    let path = op["path"].as_str().ok_or("path missing")?;
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return match kind {
            "add" | "replace" => {
                *doc = op.get("value").cloned().ok_or("value missing")?;
                Ok(())
            }
            _ => Err("cannot remove the root".into()),
        };
    };
    let mut target = &mut *doc;
    for t in parents {
        target = match target {
            Value::Object(m) => m.get_mut(t).ok_or("path not found")?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| "bad index")?;
                a.get_mut(i).ok_or("index out of range")?
            }
            _ => return Err("path not found".into()),
        };
    }
    match (kind, target) {
        ("add" | "replace", Value::Object(m)) => {
            m.insert(
                last.clone(),
                op.get("value").cloned().ok_or("value missing")?,
            );
        }
        ("remove", Value::Object(m)) => {
            m.remove(last).ok_or("path not found")?;
        }
        ("add", Value::Array(a)) => {
            let v = op.get("value").cloned().ok_or("value missing")?;
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last.parse().map_err(|_| "bad index")?;
                if i > a.len() {
                    return Err("index out of range".into());
                }
                a.insert(i, v);
            }
        }
        ("replace", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            *a.get_mut(i).ok_or("index out of range")? =
                op.get("value").cloned().ok_or("value missing")?;
        }
        ("remove", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            if i >= a.len() {
                return Err("index out of range".into());
            }
            a.remove(i);
        }
        (other, _) => return Err(format!("unsupported operation: {other}")),
    }
    Ok(())
}

fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p.strip_prefix('/').ok_or("a JSON pointer starts with /")?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn rotate_secret(st: &mut State, id: &str) -> Reply {
    let Some(c) = st.clients.get_mut(id) else {
        return not_found();
    };
    let method = str_field(&c.doc, "token_endpoint_auth_method").to_string();
    if method != "client_secret_basic" && method != "client_secret_post" {
        return bad_request(&format!(
            "The client is configured to use the {method:?} authentication method, which does not support client secret rotation."
        ));
    }
    let old = std::mem::replace(&mut c.secret, random_secret(26));
    c.rotated.insert(0, old);
    c.rotated.truncate(5);
    c.doc.insert("updated_at".into(), json!(now_rfc3339()));
    let mut resp = from_db(&c.doc);
    resp.insert("client_secret".into(), json!(c.secret));
    ok_json(200, &Value::Object(resp))
}

/// Keyset pagination as Hydra does it: clients ordered by id, page tokens
/// opaque, a `Link` header with `rel="first"` and (unless this is the last
/// page) `rel="next"`.
fn list_clients(st: &mut State, req: &Request) -> Reply {
    let q = |k: &str| {
        req.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let size = match q("page_size").filter(|s| !s.is_empty()) {
        None => 250,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(1000),
            _ => {
                return bad_request(&format!(
                    "Unable to parse pagination parameters: invalid page_size {s:?}"
                ))
            }
        },
    };
    let after = match q("page_token").filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => match decode_page_token(&t) {
            Some(after) => after,
            None => {
                return bad_request(
                    "Unable to parse pagination parameters: the page token is invalid",
                )
            }
        },
    };
    let name = q("client_name").filter(|s| !s.is_empty());
    let owner = q("owner").filter(|s| !s.is_empty());
    let matching: Vec<&StoredClient> = st
        .clients
        .iter()
        .filter(|(id, _)| after.as_ref().is_none_or(|a| id.as_str() > a.as_str()))
        .map(|(_, c)| c)
        .filter(|c| {
            name.as_ref()
                .is_none_or(|n| str_field(&c.doc, "client_name") == n)
        })
        .filter(|c| {
            owner
                .as_ref()
                .is_none_or(|o| str_field(&c.doc, "owner") == o)
        })
        .take(size + 1)
        .collect();
    let is_last = matching.len() <= size;
    let page: Vec<Value> = matching
        .iter()
        .take(size)
        .map(|c| Value::Object(from_db(&c.doc)))
        .collect();
    let link_to = |token: &str| {
        let mut params: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "page_token" && k != "page_size")
            .cloned()
            .collect();
        params.push(("page_size".into(), size.to_string()));
        params.push(("page_token".into(), token.to_string()));
        params.sort();
        let qs: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        format!("{}?{}", req.path, qs.join("&"))
    };
    let mut link = vec![format!(
        "<{}>; rel=\"first\"",
        link_to(&encode_page_token(None))
    )];
    if !is_last {
        let last_id = page
            .last()
            .and_then(|c| c["client_id"].as_str())
            .unwrap_or_default()
            .to_string();
        link.push(format!(
            "<{}>; rel=\"next\"",
            link_to(&encode_page_token(Some(&last_id)))
        ));
    }
    (
        200,
        vec![("link".into(), link.join(","))],
        to_bytes(&Value::Array(page)),
    )
}

fn encode_page_token(after: Option<&str>) -> String {
    let hex: String = after
        .unwrap_or("")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("pt1.{hex}")
}

/// `Some(None)` for the first page, `Some(Some(id))` after `id`.
fn decode_page_token(t: &str) -> Option<Option<String>> {
    let hex = t.strip_prefix("pt1.")?;
    if hex.is_empty() {
        return Some(None);
    }
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some(Some(String::from_utf8(bytes?).ok()?))
}

// ---------------------------------------------------------------------------
// OAuth2 public endpoints

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    let (s, mut h, b) = self::error(status, error, description);
    h.push(("cache-control".into(), "no-store".into()));
    h.push(("pragma".into(), "no-cache".into()));
    (s, h, b)
}

const INVALID_CLIENT: &str = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
const INVALID_REQUEST: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

/// fosite's client authentication: HTTP Basic (id and secret each
/// form-urlencoded, RFC 6749 §2.3.1) or `client_id`/`client_secret` in the
/// body, and the method must be the client's `token_endpoint_auth_method`.
fn authenticate(st: &State, req: &Request, form: &[(String, String)]) -> Result<String, Reply> {
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let basic = find_header(&req.headers, "authorization").and_then(parse_basic);
    let (id, secret) = match &basic {
        Some(Ok((id, secret))) => (id.clone(), secret.clone()),
        Some(Err(which)) => {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("{INVALID_REQUEST} The client {which} in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'."),
            ))
        }
        None => {
            let id = field("client_id");
            if id.is_empty() {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    &format!("{INVALID_REQUEST} Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body."),
                ));
            }
            (id, field("client_secret"))
        }
    };
    let Some(client) = st.clients.get(&id) else {
        return Err(oauth_error(401, "invalid_client", INVALID_CLIENT));
    };
    let method = str_field(&client.doc, "token_endpoint_auth_method");
    let mismatch = |requested: &str| {
        oauth_error(
            401,
            "invalid_client",
            &format!("{INVALID_CLIENT} The OAuth 2.0 Client supports client authentication method '{method}', but method '{requested}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{requested}'."),
        )
    };
    if !field("client_id").is_empty()
        && !field("client_secret").is_empty()
        && method != "client_secret_post"
    {
        return Err(mismatch("client_secret_post"));
    }
    if matches!(&basic, Some(Ok((_, s))) if !s.is_empty()) && method != "client_secret_basic" {
        return Err(mismatch("client_secret_basic"));
    }
    if secret != client.secret && !client.rotated.contains(&secret) {
        return Err(oauth_error(401, "invalid_client", INVALID_CLIENT));
    }
    Ok(id)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
/// `Err` names the part that could not be form-decoded.
fn parse_basic(h: &str) -> Option<Result<(String, String), &'static str>> {
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64_decode(rest.trim())?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let Some(id) = form_decode_strict(id) else {
        return Some(Err("id"));
    };
    let Some(secret) = form_decode_strict(secret) else {
        return Some(Err("secret"));
    };
    Some(Ok((id, secret)))
}

fn token(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let grant = field("grant_type");
    if grant.is_empty() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} Request parameter 'grant_type' is missing"),
        );
    }
    let id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if grant != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    let client = &st.clients[&id];
    let allowed: Vec<&str> = str_field(&client.doc, "scope").split_whitespace().collect();
    let requested = field("scope");
    for s in requested.split_whitespace() {
        if !allowed.contains(&s) {
            return oauth_error(
                400,
                "invalid_scope",
                &format!("The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '{s}'."),
            );
        }
    }
    let grants = client.doc.get("grant_types").and_then(Value::as_array);
    if !grants.is_some_and(|g| g.iter().any(|v| v == "client_credentials")) {
        return oauth_error(
            400,
            "unauthorized_client",
            "The client is not authorized to request a token using this method. The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'.",
        );
    }
    let scope = requested.split_whitespace().collect::<Vec<_>>().join(" ");
    let access_token = format!("ory_at_{}.{}", random_secret(43), random_secret(43));
    let now = unix_now();
    let life = st.token_lifespan.as_secs();
    st.tokens.insert(
        access_token.clone(),
        Token {
            client_id: id,
            scope: scope.clone(),
            iat: now,
            exp: now + life,
            revoked: false,
        },
    );
    let (s, _, b) = ok_json(
        200,
        &json!({
            "access_token": access_token,
            "expires_in": life.saturating_sub(1),
            "scope": scope,
            "token_type": "bearer",
        }),
    );
    (
        s,
        vec![
            ("cache-control".into(), "no-store".into()),
            ("pragma".into(), "no-cache".into()),
        ],
        b,
    )
}

fn introspect(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let Some((_, tok)) = form.iter().find(|(k, _)| k == "token") else {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} The POST body can not be empty."),
        );
    };
    let required: Vec<String> = form
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let now = unix_now();
    match st.tokens.get(tok) {
        Some(t)
            if !t.revoked
                && t.exp > now
                && required
                    .iter()
                    .all(|r| t.scope.split_whitespace().any(|s| s == r)) =>
        {
            ok_json(
                200,
                &json!({
                    "active": true,
                    "aud": [],
                    "client_id": t.client_id,
                    "exp": t.exp,
                    "iat": t.iat,
                    "iss": ISSUER,
                    "nbf": t.iat,
                    "scope": t.scope,
                    "sub": t.client_id,
                    "token_type": "Bearer",
                    "token_use": "access_token",
                }),
            )
        }
        _ => ok_json(200, &json!({"active": false})),
    }
}

fn revoke(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some((_, tok)) = form.iter().find(|(k, _)| k == "token") else {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} The POST body can not be empty."),
        );
    };
    if let Some(t) = st.tokens.get_mut(tok) {
        if t.client_id != id {
            return oauth_error(
                400,
                "unauthorized_client",
                "The client is not authorized to request a token using this method. Token was not issued to the client making the revocation request.",
            );
        }
        t.revoked = true;
    }
    (200, Vec::new(), Vec::new())
}

// ---------------------------------------------------------------------------
// Small codecs

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form_encode(s: &str) -> String {
    percent_encode(s).replace("%20", "+")
}

/// Decode `%XX` escapes (lenient: a bad escape is kept as is).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `url.QueryUnescape`: `+` is a space, a bad escape is an error.
fn form_decode_strict(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parse `a=b&c=d` (form-urlencoded, lenient).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |x: &str| {
                form_decode_strict(x).unwrap_or_else(|| percent_decode(&x.replace('+', " ")))
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn random_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(ALPHABET[(*b as usize) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Now as RFC 3339 UTC with second precision, e.g. `2024-05-01T12:00:00Z`.
pub fn now_rfc3339() -> String {
    let secs = unix_now();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
