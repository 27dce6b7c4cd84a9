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
//! # Retries
//!
//! Like Vault's Go client, a request is retried up to
//! [`HttpConfig::max_retries`] times after the first attempt when the
//! connection failed (refused, reset, DNS) or the server answered 412, 429 or
//! a 5xx other than 501. A `Retry-After` header in seconds is honoured, capped
//! at [`MAX_RETRY_AFTER`]; otherwise the wait grows linearly (250 ms times the
//! attempt number, plus up to half of that again as jitter). Timeouts and TLS
//! failures (an untrusted certificate, a wrong name) are never retried: the
//! first spent the time budget, the second will not fix itself. See
//! [`retry_delay`].
//!
//! # Redirects
//!
//! ureq follows no redirects here. This layer follows one `307` or `308`
//! answer (what a Vault standby node sends), keeping the method, headers and
//! body, and never from `https` to `http`. Other redirect statuses come back
//! as a [`Response`].
//!
//! Secret headers (a [`HeaderValue::Secret`], such as `X-Vault-Token`) go
//! only to the configured base URL, or to the URL named in a 307/308 answer
//! from it, once. A redirect answer from the redirect target is returned
//! as is and its `Location` is never contacted.

mod resolve;
mod tls;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::config::TlsConfig;
use crate::error::{Error, Result, Service};
use crate::secret_string::{zeroize_bytes, SecretString};

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The longest `Retry-After` honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Step of the linear backoff: the n-th retry waits `n` times this, plus jitter.
pub const BACKOFF_STEP: Duration = Duration::from_millis(250);

/// Largest response body read into memory (16 MiB).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// How to reach one remote service.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL, `http://` or `https://`, without a trailing slash
    /// (e.g. `https://vault.example.com:8200`). Request paths are appended.
    pub base_url: String,
    /// Which service this is; named in errors.
    pub service: Service,
    /// Time limit for one attempt, from connecting to the last byte of the
    /// answer. Default 60 s.
    pub timeout: Duration,
    /// Time limit for opening the connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Retries after the first attempt. Default [`DEFAULT_MAX_RETRIES`].
    pub max_retries: u32,
    /// Certificate authorities, client certificate, server name.
    pub tls: TlsConfig,
    /// Headers sent with every request (e.g. `X-Vault-Request: true`).
    /// Never put a secret here: use [`Request::secret_header`].
    pub default_headers: Vec<(String, String)>,
}

impl HttpConfig {
    /// A configuration with the defaults for everything but the service and
    /// base URL.
    pub fn new(service: Service, base_url: &str) -> HttpConfig {
        HttpConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            service,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            max_retries: DEFAULT_MAX_RETRIES,
            tls: TlsConfig::default(),
            default_headers: Vec::new(),
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
    method: String,
    path: String,
    headers: Vec<(String, HeaderValue)>,
    body: Vec<u8>,
    content_type: Option<String>,
}

impl Request {
    /// A request with the given method (`GET`, `POST`, `LIST`, ...) and path
    /// (with its query string, if any), relative to the base URL.
    pub fn new(method: &str, path: &str) -> Request {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Request {
            method: method.to_ascii_uppercase(),
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
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path with its query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path without its query string: what errors and logs name.
    pub fn path_only(&self) -> &str {
        strip_query(&self.path)
    }

    /// The body (empty when none was set).
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
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
    base_url: String,
    service: Service,
    max_retries: u32,
    default_headers: Vec<(String, String)>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.base_url)
            .field("service", &self.service)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl HttpClient {
    /// Build a client. Fails with [`Error::Config`] when the base URL is not
    /// `http://` or `https://`, or a CA, certificate or key file cannot be
    /// read or parsed.
    pub fn new(config: &HttpConfig) -> Result<HttpClient> {
        let base_url = config.base_url.trim_end_matches('/').to_string();
        if split_url(&base_url).is_none() {
            return Err(Error::Config(format!(
                "{} address {base_url:?} is not an http:// or https:// URL with a host",
                config.service
            )));
        }
        let connector = tls::connector(config.service, &config.tls)?;
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("vaultid/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(agent_config, connector, resolve::Resolver::default());
        Ok(HttpClient {
            agent,
            base_url,
            service: config.service,
            max_retries: config.max_retries,
            default_headers: config.default_headers.clone(),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The service this client talks to.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Send a request, with retries and at most one 307/308 redirect.
    ///
    /// Every status comes back as a [`Response`]. Transport failures that
    /// outlast the retries are [`Error::Unreachable`], naming the method and
    /// the path without its query string.
    pub fn request(&self, req: Request) -> Result<Response> {
        let mut url = format!("{}{}", self.base_url, req.path);
        let mut redirected = false;
        loop {
            let resp = self.send_with_retries(&url, &req)?;
            if redirected || !matches!(resp.status, 307 | 308) {
                return Ok(resp);
            }
            let Some(target) = resp
                .header("location")
                .and_then(|loc| redirect_target(&url, loc))
            else {
                log::debug!(
                    "{} {} {}: redirect not followed",
                    self.service,
                    req.method,
                    req.path_only()
                );
                return Ok(resp);
            };
            log::debug!(
                "{} {} {}: following {} to {}",
                self.service,
                req.method,
                req.path_only(),
                resp.status,
                strip_query(&target)
            );
            url = target;
            redirected = true;
        }
    }

    fn send_with_retries(&self, url: &str, req: &Request) -> Result<Response> {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.send_once(url, req);
            let outcome = match &result {
                Ok(resp) => Outcome::Status {
                    status: resp.status,
                    retry_after: resp.header("retry-after"),
                },
                Err(e) => classify(e),
            };
            let Some(wait) = retry_delay(outcome, attempt, self.max_retries, jitter()) else {
                self.log_done(req, url, &result, attempt - 1, started.elapsed());
                return result.map_err(|e| self.unreachable(req, url, &e));
            };
            match &result {
                Ok(resp) => log::debug!(
                    "{} {} {}: HTTP {}, retry {attempt}/{} in {wait:?}",
                    self.service,
                    req.method,
                    req.path_only(),
                    resp.status,
                    self.max_retries
                ),
                Err(e) => log::debug!(
                    "{} {} {}: {}, retry {attempt}/{} in {wait:?}",
                    self.service,
                    req.method,
                    req.path_only(),
                    describe(e),
                    self.max_retries
                ),
            }
            drop(result);
            std::thread::sleep(wait);
        }
    }

    /// One debug line per request: method, URL without its query string,
    /// status (or transport failure), time taken and retries. Never a
    /// header or a body.
    fn log_done(
        &self,
        req: &Request,
        url: &str,
        result: &Result<Response, ureq::Error>,
        retries: u32,
        took: Duration,
    ) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        let outcome = match result {
            Ok(resp) => format!("HTTP {}", resp.status),
            Err(e) => describe(e),
        };
        log::debug!(
            "{} {} {}: {outcome}, {:.1} ms, {retries} retries",
            self.service,
            req.method,
            strip_query(url),
            took.as_secs_f64() * 1000.0
        );
    }

    fn send_once(&self, url: &str, req: &Request) -> Result<Response, ureq::Error> {
        let method = ureq::http::Method::from_bytes(req.method.as_bytes())
            .map_err(|e| ureq::Error::Http(e.into()))?;
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in &self.default_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut resp = if let Some(ct) = &req.content_type {
            let http_req = builder
                .header("content-type", ct.as_str())
                .body(req.body.as_slice())?;
            self.agent.run(http_req)?
        } else {
            self.agent.run(builder.body(())?)?
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
        })
    }

    fn unreachable(&self, req: &Request, url: &str, e: &ureq::Error) -> Error {
        let path = split_url(url)
            .map(|(_, _, p)| strip_query(p).to_string())
            .unwrap_or_else(|| req.path_only().to_string());
        Error::Unreachable {
            service: self.service,
            method: req.method.clone(),
            path,
            detail: describe(e),
        }
    }
}

/// What one attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The server answered.
    Status {
        /// HTTP status.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<&'a str>,
    },
    /// The connection failed before an answer: refused, reset, closed,
    /// name not resolved.
    Connection,
    /// The connect or overall timeout ran out.
    Timeout,
    /// TLS failed: untrusted certificate, wrong name, handshake refused.
    Tls,
    /// Anything else (a malformed URL or answer).
    Other,
}

/// How long to wait before the next attempt, or `None` to stop.
///
/// `attempt` counts the attempts made so far (1 after the first);
/// `max_retries` is how many may follow the first; `jitter` is a number in
/// `[0, 1)` that spreads the clients of a recovering server apart.
///
/// Retried: connection failures, 412, 429 and 5xx except 501. The wait is
/// the `Retry-After` seconds when given (at most [`MAX_RETRY_AFTER`]), else
/// `attempt * BACKOFF_STEP` plus up to half of that as jitter.
pub fn retry_delay(
    outcome: Outcome<'_>,
    attempt: u32,
    max_retries: u32,
    jitter: f64,
) -> Option<Duration> {
    if attempt > max_retries {
        return None;
    }
    let retry_after = match outcome {
        Outcome::Status {
            status,
            retry_after,
        } => {
            let retryable =
                status == 412 || status == 429 || ((500..600).contains(&status) && status != 501);
            if !retryable {
                return None;
            }
            retry_after.and_then(parse_retry_after)
        }
        Outcome::Connection => None,
        Outcome::Timeout | Outcome::Tls | Outcome::Other => return None,
    };
    if let Some(wait) = retry_after {
        return Some(wait.min(MAX_RETRY_AFTER));
    }
    let base = BACKOFF_STEP * attempt.max(1);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Some(base + base.mul_f64(jitter / 2.0))
}

/// Parse a `Retry-After` value given in seconds. HTTP dates are not
/// understood (`None`: the caller falls back to its backoff).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// Where a 307/308 answer from `from` with this `Location` leads, or `None`
/// when it must not be followed: an unparsable or relative-path location,
/// or a step down from `https` to `http`.
pub fn redirect_target(from: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let (scheme, authority, _) = split_url(from)?;
    let target = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        return None;
    };
    let (target_scheme, target_authority, _) = split_url(&target)?;
    if target_authority.is_empty() || (scheme == "https" && target_scheme != "https") {
        return None;
    }
    Some(target)
}

/// Split an absolute `http(s)` URL into scheme, authority and the rest
/// (path and query, possibly empty).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, path))
}

fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// A number in `[0, 1)` from the standard library's randomly keyed hasher.
pub(crate) fn jitter() -> f64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    h.write_u32(nanos);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Sort a ureq error into an [`Outcome`].
fn classify(e: &ureq::Error) -> Outcome<'static> {
    match e {
        ureq::Error::Timeout(_) => Outcome::Timeout,
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => Outcome::Tls,
        ureq::Error::Io(io) if tls_error(io).is_some() => Outcome::Tls,
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Outcome::Timeout
        }
        ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            Outcome::Connection
        }
        _ => Outcome::Other,
    }
}

fn tls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A short description of a transport error, for [`Error::Unreachable`].
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Rustls(t) => format!("TLS: {t}"),
        ureq::Error::Io(io) => match tls_error(io) {
            Some(t) => format!("TLS: {t}"),
            None => format!("{io}"),
        },
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found (DNS)".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Outcome<'static> {
        Outcome::Status {
            status: s,
            retry_after: None,
        }
    }

    #[test]
    fn retries_the_documented_statuses_only() {
        for s in [412, 429, 500, 502, 503, 504, 599] {
            assert!(retry_delay(status(s), 1, 2, 0.0).is_some(), "{s}");
        }
        for s in [200, 204, 307, 400, 401, 403, 404, 405, 409, 501] {
            assert_eq!(retry_delay(status(s), 1, 2, 0.0), None, "{s}");
        }
    }

    #[test]
    fn retries_connection_errors_but_not_tls_or_timeouts() {
        assert!(retry_delay(Outcome::Connection, 1, 2, 0.0).is_some());
        assert_eq!(retry_delay(Outcome::Tls, 1, 2, 0.0), None);
        assert_eq!(retry_delay(Outcome::Timeout, 1, 2, 0.0), None);
        assert_eq!(retry_delay(Outcome::Other, 1, 2, 0.0), None);
    }

    #[test]
    fn stops_after_max_retries() {
        assert!(retry_delay(status(503), 2, 2, 0.0).is_some());
        assert_eq!(retry_delay(status(503), 3, 2, 0.0), None);
        assert_eq!(retry_delay(status(503), 1, 0, 0.0), None);
    }

    #[test]
    fn linear_backoff_with_bounded_jitter() {
        assert_eq!(
            retry_delay(status(500), 1, 5, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_delay(status(500), 3, 5, 0.0),
            Some(Duration::from_millis(750))
        );
        let d = retry_delay(status(500), 2, 5, 0.999).unwrap();
        assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(750));
        assert_eq!(
            retry_delay(status(500), 1, 5, f64::NAN),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn honours_retry_after_with_a_cap() {
        let o = |v| Outcome::Status {
            status: 429,
            retry_after: Some(v),
        };
        assert_eq!(retry_delay(o("2"), 1, 2, 0.5), Some(Duration::from_secs(2)));
        assert_eq!(retry_delay(o("0"), 1, 2, 0.5), Some(Duration::ZERO));
        assert_eq!(retry_delay(o("3600"), 1, 2, 0.5), Some(MAX_RETRY_AFTER));
        // An HTTP date or garbage falls back to the backoff.
        assert_eq!(
            retry_delay(o("Wed, 21 Oct 2015 07:28:00 GMT"), 1, 2, 0.0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999999999999999999"), None);
    }

    #[test]
    fn redirect_rules() {
        let from = "https://a.example:8200/v1/secret/data/x?version=1";
        assert_eq!(
            redirect_target(from, "https://b.example:8200/v1/secret/data/x").as_deref(),
            Some("https://b.example:8200/v1/secret/data/x")
        );
        assert_eq!(
            redirect_target(from, "/v1/other").as_deref(),
            Some("https://a.example:8200/v1/other")
        );
        assert_eq!(
            redirect_target(from, "//c.example/v1/x").as_deref(),
            Some("https://c.example/v1/x")
        );
        assert_eq!(redirect_target(from, "http://b.example/v1/x"), None);
        assert_eq!(redirect_target(from, "relative/path"), None);
        assert_eq!(redirect_target(from, "ftp://b.example/"), None);
        assert_eq!(redirect_target(from, "https://"), None);
        assert_eq!(
            redirect_target("http://a:1/v1/x", "https://b:2/v1/x").as_deref(),
            Some("https://b:2/v1/x")
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let req = Request::new("post", "v1/x?list=true")
            .secret_header("X-Vault-Token", SecretString::new("hvs.canary"))
            .json(&serde_json::json!({"password": "canary-pw"}));
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.path(), "/v1/x?list=true");
        assert_eq!(req.path_only(), "/v1/x");
        let resp = Response {
            status: 200,
            headers: vec![],
            body: b"{\"token\":\"canary\"}".to_vec(),
        };
        assert!(!format!("{resp:?}").contains("canary"));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
