//! The tiny HTTP layer over ureq and rustls: TLS, timeouts, retries,
//! redirects, errors. Knows nothing of Vault or Hydra.
//!
//! One [`HttpClient`] holds one [`ureq::Agent`], so connections are kept
//! alive and reused between requests. A request is a method, a path (with
//! its query string) relative to the configured base URL, headers and an
//! optional body; the answer is a [`Response`] whatever its status. Only
//! transport failures (refused connection, DNS, timeout, TLS) become errors,
//! as [`Error::Unreachable`]; the service layers above turn statuses into
//! their own errors.
//!
//! # Retries: one budget per request
//!
//! Every request has one deadline ([`HttpConfig::deadline`], 30 s by
//! default, or earlier when [`HttpClient::set_deadline`] says so): each
//! attempt's timeout is cut to what is left, and every wait between attempts
//! (backoff with jitter, or the server's `Retry-After`) must fit inside it;
//! a wait that does not fit ends the request at once with the last answer
//! or error. Never a sleep past the deadline.
//!
//! What is retried:
//! - for a clustered service ([`HttpConfig::transient`] set, as for Vault):
//!   a `307`/`308` whose target does not answer (a leader that is gone),
//!   `503`, `429` and the answers the service's function recognises (an
//!   election) are passing states, retried until the deadline;
//! - an unreachable node (refused, reset, DNS; with several nodes also a
//!   connect timeout), a `503` and an answer the
//!   service's function calls [`Verdict::NodeDown`] (a sealed node) move
//!   the client on to the next configured node, at once when that one was
//!   not tried since the last wait; the client then stays with the node that
//!   answers;
//! - 412, other 5xx except 501, and every node refusing connections or
//!   sealed (a service that is down, not electing): at most
//!   [`HttpConfig::max_retries`] times (like Vault's Go client); for a
//!   service that is not clustered every retryable failure counts this way;
//! - never: timeouts (the attempt spent its time), TLS failures (an
//!   untrusted certificate will not fix itself), other statuses.
//!
//! `max_retries = 0` turns waiting off: each configured node is tried once.
//! The n-th wait is [`retry::backoff`]: `n` times [`BACKOFF_STEP`], at most
//! [`MAX_BACKOFF`], plus up to half again as jitter; a `Retry-After` in
//! seconds replaces it. What was waited for is logged (the first retry of a
//! request at `info`) and summed up in [`HttpClient::waited`].
//!
//! # Redirects
//!
//! ureq follows no redirects here. This layer follows one `307` or `308`
//! answer (what a Vault standby node sends), keeping the method, headers and
//! body, and never from `https` to `http`. Other redirect statuses come back
//! as a [`Response`].
//!
//! Secret headers (a [`HeaderValue::Secret`], such as `X-Vault-Token`) go
//! only to the configured base URLs, or to the URL named in a 307/308 answer
//! from one of them, once per attempt. A redirect answer from the redirect target is returned
//! as is and its `Location` is never contacted.
//!
//! Where a redirect leads is judged by [`Origin`](redirect::Origin): scheme, host and port
//! together, the port spelled out when the URL leaves it to the scheme
//! (`http` 80, `https` 443). Another port on the same host is another
//! origin: any local user may listen on a high port (curl's fix for
//! CVE-2022-27774 draws the same line). A redirect to another origin is
//! followed only when nothing secret would cross over unprotected: never
//! for a request with a body (Vault bodies carry secrets and key material:
//! KV writes, logins, unseal keys; Hydra's carry client secrets), and never
//! over plain `http` for a request with a secret header. Such a 307/308
//! comes back as the [`Response`] it is. The origins of the other
//! configured base URLs are not "another origin": they get what the node
//! itself gets, so a 307 from one node of a cluster to another configured
//! node (same scheme, host and port as configured) is followed with its
//! body and token (list every node when they have different names or
//! ports: a standby redirects writes to the leader's address during an
//! election).
//!
//! # Proxies
//!
//! ureq's own reading of the proxy variables is off; [`ProxyPolicy`] (read
//! from the environment when the client is built, unless
//! [`HttpConfig::proxy`] gives one) decides for each request URL, redirect
//! targets included: `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` by scheme, never
//! for loopback, `NO_PROXY` with names, domains, CIDR blocks and ports. See
//! [`proxy`].

mod clock;
mod failure;
pub mod proxy;
mod redirect;
mod resolve;
mod retry;
#[cfg(feature = "fuzzing")]
pub use redirect::redirect_target;
#[cfg(test)]
use retry::backoff;
pub use retry::parse_retry_after;
mod tls;

#[allow(unused_imports)] // for the fuzz targets
pub use proxy::NoProxy;
pub use proxy::ProxyPolicy;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use crate::error::{Error, Result, Service};
use crate::secret_string::{zeroize_bytes, SecretString};
use crate::util::random::jitter;
use crate::util::{lock, strip_query};
use failure::{classify, connect_timeout, describe, transport_kind, Failure};
use redirect::split_url;
use retry::{Retry, Rules, Seen, Then};

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The longest `Retry-After` honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Step of the linear backoff: the n-th retry waits `n` times this (at most
/// [`MAX_BACKOFF`]), plus up to half of that as jitter.
pub const BACKOFF_STEP: Duration = Duration::from_millis(250);

/// The longest backoff step before jitter.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Default retry budget of one request ([`HttpConfig::deadline`]).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Largest response body read into memory (16 MiB).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Largest response header accepted: 16 KiB (ureq's default is 64 KiB).
/// Vault, Hydra and the framework's agents answer heads of well under
/// 2 KiB; a larger one is an error.
const MAX_RESPONSE_HEADER: usize = 16 * 1024;

/// Per-connection input buffer: the whole response header must fit, and a
/// header one byte over [`MAX_RESPONSE_HEADER`] must too, to be refused as
/// too large; bodies stream through it. ureq zero-fills each new
/// connection's buffers (128 KiB each way by default): that cost a
/// one-request `vaultid up` more instructions than everything else it
/// does, and the gateway's concurrent forwards 256 KiB resident each.
const INPUT_BUFFER: usize = MAX_RESPONSE_HEADER + 4 * 1024;

/// Per-connection output buffer: a request header must fit (tokens,
/// signature headers, `call -H` headers; at most 16 KiB); bodies stream
/// through it.
const OUTPUT_BUFFER: usize = 16 * 1024;

/// TLS settings for a server connection.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM file of CA certificates that replace the built-in roots (`VAULT_CACERT`).
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA certificates that replace the built-in roots (`VAULT_CAPATH`).
    pub ca_path: Option<PathBuf>,
    /// Client certificate PEM for mTLS (`VAULT_CLIENT_CERT`).
    pub client_cert: Option<PathBuf>,
    /// Client private key PEM for mTLS (`VAULT_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// Do not verify the server certificate (`VAULT_SKIP_VERIFY`). Dangerous;
    /// warned about on every start.
    pub skip_verify: bool,
    /// Name to verify the server certificate against and send as SNI,
    /// instead of the URL's host (`VAULT_TLS_SERVER_NAME`).
    pub server_name: Option<String>,
}

/// How to reach one remote service.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL, `http://` or `https://`, without a trailing slash
    /// (e.g. `https://vault.example.com:8200`). Request paths are appended.
    pub base_url: String,
    /// Further base URLs of the same service (the other nodes of a
    /// cluster), tried in order after `base_url` when a node cannot be
    /// reached or answers 503. Empty for one address.
    pub other_urls: Vec<String>,
    /// Which service this is; named in errors.
    pub service: Service,
    /// Time limit for one attempt, from connecting to the last byte of the
    /// answer. Default 60 s.
    pub timeout: Duration,
    /// Time limit for opening the connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Retries after the first attempt for ordinary server errors (412, 5xx).
    /// Default [`DEFAULT_MAX_RETRIES`]. Passing states of a cluster (the
    /// transient answers in the module docs) are retried until the deadline
    /// instead; 0 turns every retry off (each node is still tried once).
    pub max_retries: u32,
    /// The retry budget: how long one request may take with all its
    /// attempts and every wait between them (`Retry-After` included).
    /// Default [`DEFAULT_DEADLINE`].
    pub deadline: Duration,
    /// `Some` for a clustered service (Vault): its passing states are
    /// waited out until the deadline (redirect targets that do not answer,
    /// 503, 429, and what this function calls [`Verdict::Passing`], e.g.
    /// Vault's `500 local node not active`); what it calls
    /// [`Verdict::NodeDown`] moves on to the next node. `None`: every
    /// failure is retried at most `max_retries` times.
    pub transient: Option<fn(u16, &[u8]) -> Verdict>,
    /// Certificate authorities, client certificate, server name.
    pub tls: TlsConfig,
    /// Headers sent with every request (e.g. `X-Vault-Request: true`).
    /// Never put a secret here: use [`Request::secret_header`].
    pub default_headers: Vec<(String, String)>,
    /// Which requests go through a proxy; `None` reads the environment
    /// ([`ProxyPolicy::from_env`]) when the client is built.
    pub proxy: Option<ProxyPolicy>,
    /// Follow a 307/308 only to a configured base URL's origin (scheme,
    /// host and port); any other comes back as the [`Response`] it is.
    /// For calls to other agents: the token and the signed body go to the
    /// origin that was named, nowhere else. Default `false` (the redirect
    /// rule of the [module docs](self)).
    pub same_origin_redirects: bool,
}

/// What a clustered service's answer means for retrying (see
/// [`HttpConfig::transient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing special: the generic rules apply.
    Generic,
    /// The cluster is changing leader: wait it out until the deadline.
    Passing,
    /// This node cannot serve (e.g. sealed): move on to the next node;
    /// when no node can, an ordinary failure.
    NodeDown,
}

impl HttpConfig {
    /// A configuration with the defaults for everything but the service and
    /// base URL.
    pub fn new(service: Service, base_url: &str) -> HttpConfig {
        HttpConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            other_urls: Vec::new(),
            service,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            max_retries: DEFAULT_MAX_RETRIES,
            deadline: DEFAULT_DEADLINE,
            transient: None,
            tls: TlsConfig::default(),
            default_headers: Vec::new(),
            proxy: None,
            same_origin_redirects: false,
        }
    }
}

/// A header value: plain, or secret (never logged or shown, and subject to
/// the redirect rule in the [module docs](self)).
#[derive(Clone)]
pub enum HeaderValue {
    /// An ordinary value.
    Plain(String),
    /// A token or other credential.
    Secret(SecretString),
}

impl HeaderValue {
    fn as_str(&self) -> &str {
        match self {
            HeaderValue::Plain(v) => v,
            HeaderValue::Secret(s) => s.expose(),
        }
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Plain(v) => fmt::Debug::fmt(v, f),
            HeaderValue::Secret(_) => f.write_str("[redacted]"),
        }
    }
}

/// One request: method, path relative to the base URL, headers, body.
///
/// The body is overwritten with zeros when the request is dropped; `Debug`
/// shows only its length and hides secret headers.
pub struct Request {
    method: &'static str,
    path: String,
    headers: Vec<(String, HeaderValue)>,
    body: Vec<u8>,
    content_type: Option<String>,
}

impl Request {
    /// A request with the given method (`GET`, `POST`, `LIST`, ...: upper
    /// case, as sent) and path (with its query string, if any), relative to
    /// the base URL.
    pub fn new(method: &'static str, path: &str) -> Request {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Request {
            method,
            path,
            headers: Vec::new(),
            body: Vec::new(),
            content_type: None,
        }
    }

    /// A `GET` request.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// Add a plain header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers
            .push((name.to_string(), HeaderValue::Plain(value.to_string())));
        self
    }

    /// Add a secret header, such as `X-Vault-Token`.
    pub fn secret_header(mut self, name: &str, value: SecretString) -> Request {
        self.headers
            .push((name.to_string(), HeaderValue::Secret(value)));
        self
    }

    /// Set the body and its content type.
    pub fn body(mut self, bytes: Vec<u8>, content_type: &str) -> Request {
        zeroize_bytes(&mut self.body);
        self.body = bytes;
        self.content_type = Some(content_type.to_string());
        self
    }

    /// Set a JSON body (`Content-Type: application/json`).
    pub fn json(self, value: &serde_json::Value) -> Request {
        // Serialising a `Value` into memory cannot fail: its map keys are strings.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.body(bytes, "application/json")
    }

    /// The method.
    #[cfg(test)]
    pub fn method(&self) -> &str {
        self.method
    }

    /// The path with its query string.
    #[cfg(test)]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path without its query string: what errors and logs name.
    pub fn path_only(&self) -> &str {
        strip_query(&self.path)
    }

    fn has_secret_header(&self) -> bool {
        self.headers
            .iter()
            .any(|(_, v)| matches!(v, HeaderValue::Secret(_)))
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path_only())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        zeroize_bytes(&mut self.body);
    }
}

/// An answer, whatever its status. The body is overwritten with zeros when
/// the response is dropped; `Debug` shows only its length.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `true` when the request was sent more than once before this answer
    /// (a write may then have been applied by an earlier attempt).
    pub resent: bool,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `true` for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        zeroize_bytes(&mut self.body);
    }
}

/// A blocking client for one service: one connection pool, one TLS setup,
/// the retry and redirect rules of the [module docs](self).
pub struct HttpClient {
    agent: ureq::Agent,
    bases: Vec<String>,
    /// The node in use: requests stay with it until it fails.
    current: AtomicUsize,
    service: Service,
    max_retries: u32,
    timeout: Duration,
    connect_timeout: Duration,
    deadline: Duration,
    /// A deadline set for a whole operation ([`HttpClient::set_deadline`]).
    scope_deadline: Mutex<Option<Instant>>,
    /// No retry once every node refused ([`HttpClient::set_unreachable_final`]).
    unreachable_final: AtomicBool,
    transient: Option<fn(u16, &[u8]) -> Verdict>,
    default_headers: Vec<(String, String)>,
    waited: Mutex<Waited>,
    proxy: ProxyPolicy,
    same_origin_redirects: bool,
}

/// What the client waited for so far (see [`HttpClient::waited`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waited {
    /// Time spent sleeping between attempts.
    pub total: Duration,
    /// Retries made.
    pub retries: u32,
    /// Why, one short line per distinct reason (at most 5).
    pub reasons: Vec<String>,
    /// Why the latest request that stopped retrying at its deadline did,
    /// e.g. `gave up after 2.0 s: the next try would be in 1.2 s, past the
    /// 3.0 s deadline`.
    pub gave_up: Option<String>,
}

impl Waited {
    /// One line for a message, or `None` when there was no retry and no
    /// giving up: `waited 1.0 s over 2 retries for Vault: REASONS[; GAVE
    /// UP]`, or `Vault: GAVE UP` when the first wait already did not fit.
    pub fn summary(&self, service: Service) -> Option<String> {
        if self.retries == 0 {
            return self.gave_up.as_ref().map(|g| format!("{service}: {g}"));
        }
        let mut line = format!(
            "waited {:.1} s over {} retries for {service}: {}",
            self.total.as_secs_f64(),
            self.retries,
            self.reasons.join("; ")
        );
        if let Some(g) = &self.gave_up {
            line.push_str("; ");
            line.push_str(g);
        }
        Some(line)
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_urls", &self.bases)
            .field("service", &self.service)
            .field("max_retries", &self.max_retries)
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// What one attempt (with its redirect, if any) came to.
enum Attempt {
    /// An answer from the node or from the redirect target.
    Answer(Response),
    /// The node itself could not be reached.
    NodeFailed(ureq::Error),
    /// The node answered 307/308 and its target could not be reached (the
    /// node names a leader that is gone).
    TargetFailed(ureq::Error),
}

/// Which side of an attempt failed.
enum Kind {
    Node,
    Target,
}

/// Where a request stands when it ends.
struct Progress {
    node: usize,
    tries: u32,
    retries: u32,
    start: Instant,
}

impl HttpClient {
    /// Build a client. Fails with [`Error::Config`] when a base URL is not
    /// `http://` or `https://`, or a CA, certificate or key file cannot be
    /// read or parsed.
    pub fn new(config: &HttpConfig) -> Result<HttpClient> {
        let mut bases = Vec::new();
        for url in std::iter::once(&config.base_url).chain(&config.other_urls) {
            let url = url.trim_end_matches('/').to_string();
            if split_url(&url).is_none() {
                return Err(Error::Config(format!(
                    "{} address {:?} is not an http:// or https:// URL with a host",
                    config.service,
                    crate::util::redact_url(&url)
                )));
            }
            if !bases.contains(&url) {
                bases.push(url);
            }
        }
        let proxy = match &config.proxy {
            Some(p) => p.clone(),
            None => ProxyPolicy::from_env()?,
        };
        for url in &bases {
            proxy.check(url)?;
        }
        let https = bases.iter().any(|u| u.starts_with("https://"));
        let connector = tls::connector(config.service, &config.tls, https)?;
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .allow_non_standard_methods(true)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("vaultid/", env!("CARGO_PKG_VERSION")))
            .max_response_header_size(MAX_RESPONSE_HEADER)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            // Connections kept for reuse (ureq keeps 3 per host): a
            // gateway under load reuses them instead of opening one per
            // request.
            .max_idle_connections(32)
            .max_idle_connections_per_host(16)
            .build();
        let agent = ureq::Agent::with_parts(agent_config, connector, resolve::Resolver::default());
        Ok(HttpClient {
            agent,
            bases,
            current: AtomicUsize::new(0),
            service: config.service,
            max_retries: config.max_retries,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            deadline: config.deadline,
            scope_deadline: Mutex::new(None),
            unreachable_final: AtomicBool::new(false),
            transient: config.transient,
            default_headers: config.default_headers.clone(),
            waited: Mutex::new(Waited::default()),
            proxy,
            same_origin_redirects: config.same_origin_redirects,
        })
    }

    /// The base URL requests go to now (the node in use).
    pub fn base_url(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Every configured base URL, in order.
    #[cfg(test)]
    pub fn base_urls(&self) -> &[String] {
        &self.bases
    }

    /// End every request's retries at `deadline` at the latest (besides
    /// each request's own budget), e.g. for a start-up that must finish in
    /// time. `None` lifts it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *lock(&self.scope_deadline) = deadline;
    }

    /// With `true`, a request whose nodes were all unreachable (refused,
    /// reset, DNS), each tried once without a wait, ends there instead of
    /// being retried after a backoff: for a caller that has something
    /// better to do at once, such as a start-up with local keys. Nodes that
    /// accept and answer slowly still get their timeouts and the deadline.
    pub fn set_unreachable_final(&self, yes: bool) {
        self.unreachable_final.store(yes, Ordering::Relaxed);
    }

    /// When a request started at `start` must end: its own budget or the
    /// one set by [`HttpClient::set_deadline`], whichever comes first.
    pub fn deadline_for(&self, start: Instant) -> Instant {
        let own = start + self.deadline;
        match *lock(&self.scope_deadline) {
            Some(d) => own.min(d),
            None => own,
        }
    }

    /// What this client waited for between attempts so far.
    pub fn waited(&self) -> Waited {
        lock(&self.waited).clone()
    }

    /// Send a request to the node in use, with the retry, failover and
    /// redirect rules of the [module docs](self).
    ///
    /// Every status comes back as a [`Response`]. Transport failures that
    /// outlast the retries are [`Error::Unreachable`], naming the method and
    /// the path without its query string.
    pub fn request(&self, req: Request) -> Result<Response> {
        // A value the HTTP stack would refuse is not a transport failure
        // ("unreachable"): say which header, never what it holds.
        if let Some((name, _)) = req
            .headers
            .iter()
            .find(|(_, v)| !header_value_ok(v.as_str()))
        {
            return Err(Error::Config(format!(
                "{} {} {}: the value of the {name} header holds a control character (a line \
                 break, tab or NUL), which HTTP cannot carry; nothing was sent",
                self.service,
                req.method,
                req.path_only()
            )));
        }
        let start = Instant::now();
        let deadline = self.deadline_for(start);
        let n = self.bases.len();
        let mut retry = Retry::new(Rules {
            nodes: n,
            clustered: self.transient.is_some(),
            max_retries: self.max_retries,
            unreachable_final: self.unreachable_final.load(Ordering::Relaxed),
        });
        loop {
            let node = self.current.load(Ordering::Relaxed) % n;
            let attempt = self.attempt(&self.bases[node], &req, deadline);
            let left = deadline.saturating_duration_since(Instant::now());
            let decision = retry.next(&self.seen(&attempt), left, jitter());
            if decision.move_on {
                let _ = self.current.compare_exchange(
                    node,
                    (node + 1) % n,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            let reason = self.reason(&attempt, node);
            let progress = Progress {
                node,
                tries: retry.tries(),
                retries: retry.retries(),
                start,
            };
            match decision.then {
                Then::Now => {
                    log::debug!(
                        "{} {} {}: {reason}; trying {}",
                        self.service,
                        req.method,
                        req.path_only(),
                        self.base_url()
                    );
                    self.note(Duration::ZERO, &reason);
                }
                Then::Stop => return self.finish(attempt, &req, None, progress),
                Then::GiveUp(wait) => {
                    let why = format!(
                        "gave up after {:.1} s: the next try would be in {:.1} s, past the {:.1} s deadline",
                        start.elapsed().as_secs_f64(),
                        wait.as_secs_f64(),
                        (deadline - start).as_secs_f64()
                    );
                    // A fact of the result, not a warning of its own: an
                    // error carries it (the detail of an unreachable node,
                    // or [`Waited::gave_up`] for the caller's message).
                    log::debug!(
                        "{} {} {}: {reason}; {why}",
                        self.service,
                        req.method,
                        req.path_only()
                    );
                    lock(&self.waited).gave_up = Some(why.clone());
                    return self.finish(attempt, &req, Some(why), progress);
                }
                Then::Wait(wait) => {
                    let retries = retry.retries();
                    let msg = format!(
                        "{} {} {}: {reason}; retry {retries} in {} ms ({:.1} s left)",
                        self.service,
                        req.method,
                        req.path_only(),
                        wait.as_millis(),
                        left.as_secs_f64()
                    );
                    if retries == 1 {
                        log::info!("{msg}");
                    } else {
                        log::debug!("{msg}");
                    }
                    self.note(wait, &reason);
                    drop(attempt);
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// What an attempt came to, for [`Retry::next`]: the service's
    /// verdict on an answer, the sort of a transport failure.
    fn seen(&self, attempt: &Attempt) -> Seen {
        match attempt {
            Attempt::Answer(resp) => Seen::Answer {
                status: resp.status,
                verdict: self.transient.map(|f| f(resp.status, &resp.body)),
                retry_after: resp.header("retry-after").and_then(parse_retry_after),
            },
            Attempt::NodeFailed(e) => Seen::NodeFailed {
                failure: classify(e),
                connect_timeout: connect_timeout(e),
            },
            Attempt::TargetFailed(e) => Seen::TargetFailed(classify(e)),
        }
    }

    /// One debug line per request: method, URL without its query string,
    /// status (or transport failure), time taken and retries. Never a
    /// header or a body.
    fn log_done(&self, req: &Request, url: &str, attempt: &Attempt, retries: u32, took: Duration) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        let outcome = match attempt {
            Attempt::Answer(resp) => format!("HTTP {}", resp.status),
            Attempt::NodeFailed(e) => describe(e),
            Attempt::TargetFailed(e) => format!("redirect target: {}", describe(e)),
        };
        log::debug!(
            "{} {} {}: {outcome}, {:.1} ms, {retries} retries",
            self.service,
            req.method,
            strip_query(url),
            took.as_secs_f64() * 1000.0
        );
    }

    fn reason(&self, attempt: &Attempt, node: usize) -> String {
        let base = &self.bases[node];
        match attempt {
            Attempt::Answer(r) => {
                let detail = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("errors")?.get(0)?.as_str().map(|e| truncate(e, 120)))
                    .unwrap_or_default();
                if detail.is_empty() {
                    format!("{base} answered HTTP {}", r.status)
                } else {
                    format!("{base} answered HTTP {} ({detail})", r.status)
                }
            }
            Attempt::NodeFailed(e) => format!("{base}: {}", describe(e)),
            Attempt::TargetFailed(e) => {
                format!(
                    "{base} redirected to a node that does not answer ({})",
                    describe(e)
                )
            }
        }
    }

    fn note(&self, wait: Duration, reason: &str) {
        let mut w = lock(&self.waited);
        w.total += wait;
        w.retries += 1;
        // Reasons without the numbers that change between tries.
        let short: String = reason.chars().take(160).collect();
        if w.reasons.len() < 5 && !w.reasons.contains(&short) {
            w.reasons.push(short);
        }
    }

    /// The result of the last attempt.
    fn finish(
        &self,
        attempt: Attempt,
        req: &Request,
        why: Option<String>,
        p: Progress,
    ) -> Result<Response> {
        let (node, resent) = (p.node, p.tries > 1);
        let url = format!("{}{}", self.bases[node], req.path);
        self.log_done(req, &url, &attempt, p.retries, p.start.elapsed());
        let attempt_kind = match &attempt {
            Attempt::TargetFailed(_) => Kind::Target,
            _ => Kind::Node,
        };
        let err = match attempt {
            Attempt::Answer(mut resp) => {
                resp.resent = resent;
                return Ok(resp);
            }
            Attempt::NodeFailed(e) => self.unreachable(req, &url, &e),
            Attempt::TargetFailed(e) => {
                let mut err = self.unreachable(req, &url, &e);
                if let Error::Unreachable { detail, .. } = &mut err {
                    *detail = format!("redirect target: {detail}");
                }
                err
            }
        };
        // "None answered" only when the last node itself did not.
        let n = if matches!(attempt_kind, Kind::Node) {
            self.bases.len()
        } else {
            1
        };
        match err {
            Error::Unreachable {
                service,
                method,
                path,
                kind,
                detail,
            } => {
                let mut detail = detail;
                if n > 1 {
                    detail = format!("{detail}; none of the {n} configured nodes answered");
                }
                if let Some(why) = why {
                    detail = format!("{detail} ({why})");
                }
                Err(Error::Unreachable {
                    service,
                    method,
                    path,
                    kind,
                    detail,
                })
            }
            other => Err(other),
        }
    }

    fn send_once(
        &self,
        url: &str,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, ureq::Error> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ureq::Error::Timeout(ureq::Timeout::Global));
        }
        let method = ureq::http::Method::from_bytes(req.method.as_bytes())
            .map_err(|e| ureq::Error::Http(e.into()))?;
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in &self.default_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let timeout = self.timeout.min(left);
        let connect = self.connect_timeout.min(left);
        let proxy = self.proxy.proxy_for_url(url);
        if let Some(p) = proxy {
            log::trace!(
                "{} {}: through the proxy {} ({})",
                self.service,
                strip_query(url),
                p.address,
                p.variable
            );
        }
        let proxy = proxy.map(|p| p.proxy.clone());
        let mut resp = if let Some(ct) = &req.content_type {
            let http_req = builder
                .header("content-type", ct.as_str())
                .body(req.body.as_slice())?;
            let http_req = self
                .agent
                .configure_request(http_req)
                .timeout_global(Some(timeout))
                .timeout_connect(Some(connect))
                .proxy(proxy)
                .build();
            self.agent.run(http_req)?
        } else {
            let http_req = self
                .agent
                .configure_request(builder.body(())?)
                .timeout_global(Some(timeout))
                .timeout_connect(Some(connect))
                .proxy(proxy)
                .build();
            self.agent.run(http_req)?
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()?;
        Ok(Response {
            status,
            headers,
            body,
            resent: false,
        })
    }

    fn unreachable(&self, req: &Request, url: &str, e: &ureq::Error) -> Error {
        let path = split_url(url)
            .map(|(_, _, p)| strip_query(p).to_string())
            .unwrap_or_else(|| req.path_only().to_string());
        Error::Unreachable {
            service: self.service,
            method: req.method,
            path,
            kind: transport_kind(e),
            detail: describe(e),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The methods a [`Request`] can carry (errors name them as
/// `&'static str`): the method's own spelling when it is one of them.
/// Methods are case-sensitive (RFC 9110 §9.1), so `get` is not `GET`.
pub(crate) fn known_method(method: &str) -> Option<&'static str> {
    const KNOWN: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "LIST",
    ];
    KNOWN.iter().find(|m| **m == method).copied()
}

/// `true` when `value` can be sent as an HTTP header value by this layer:
/// it holds no control character (CR and LF would end the header, NUL and
/// the others are refused by the HTTP stack). Tokens, namespaces and the
/// like are checked with this where they are read, so that the error names
/// their source; [`HttpClient::request`] checks every header again.
pub(crate) fn header_value_ok(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
