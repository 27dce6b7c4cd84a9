//! The I/O shell: one signed call to another agent with the agent's
//! Hydra token, over the crate's HTTP layer.

use std::path::PathBuf;
use std::time::Duration;

use super::envelope::{sign_request, unix_now, HEADER_DID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::config::{Lookup, ProcessEnv, TlsConfig};
use crate::error::{Error, Result, Service};
use crate::http::{HttpClient, HttpConfig, Request};
use crate::hydra::TokenClient;
use crate::identity::KeyPair;
use crate::SecretString;

/// How calls reach the other agent: the HTTP rules of the Vault client
/// (timeouts, proxy variables, TLS settings), without retries (a call may
/// not be idempotent) and without following a redirect to another origin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallConfig {
    /// Time for the whole call (`VAULT_CLIENT_TIMEOUT`, default 60 s).
    pub timeout: Duration,
    /// Time to connect (`VAULTID_CONNECT_TIMEOUT`, default 2 s).
    pub connect_timeout: Duration,
    /// CA certificates and client certificate (`VAULT_CACERT`,
    /// `VAULT_CAPATH`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`,
    /// `VAULT_SKIP_VERIFY`; `VAULT_TLS_SERVER_NAME` is Vault's alone and
    /// not read).
    pub tls: TlsConfig,
}

impl Default for CallConfig {
    fn default() -> CallConfig {
        CallConfig {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            tls: TlsConfig::default(),
        }
    }
}

impl CallConfig {
    /// The settings from the process environment (the variables on the
    /// fields); an unparsable one is an [`Error::Config`] naming it.
    pub fn from_env() -> Result<CallConfig> {
        CallConfig::from_lookup(&ProcessEnv)
    }

    pub(crate) fn from_lookup(env: &dyn Lookup) -> Result<CallConfig> {
        let (timeout, connect_timeout, tls) = crate::config::peer_settings(env)?;
        Ok(CallConfig {
            timeout,
            connect_timeout,
            tls,
        })
    }

    /// Use this CA bundle (PEM) instead of the built-in roots.
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> CallConfig {
        self.tls.ca_cert = Some(path.into());
        self
    }
}

/// What the other agent answered, whatever the status.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Calls other agents as this agent: each request carries
/// `Authorization: Bearer <the agent's Hydra token>` and the three
/// signature headers over exactly the bytes of its body.
///
/// ```no_run
/// # fn main() -> vaultid::Result<()> {
/// use vaultid::cache::KeyDir;
/// use vaultid::signing::{CallConfig, Caller};
///
/// let config = vaultid::Config::from_env()?;
/// let keys = KeyDir::new(&config.key_dir).read_keys()?.expect("run `vaultid up` first").keys;
/// let id = vaultid::identity::Identity::new(&config.identity.author, &config.identity.agent_name, None)?;
/// let caller = Caller::new(keys, &id.did, vaultid::bootstrap::token_client(&config)?, CallConfig::from_env()?);
/// let answer = caller.call("POST", "https://peer.example/a2a", &[], br#"{"jsonrpc":"2.0"}"#)?;
/// println!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Caller {
    keys: KeyPair,
    did: String,
    tokens: TokenClient,
    config: CallConfig,
}

impl Caller {
    /// A caller signing as `did` with `keys`, its tokens from `tokens`.
    pub fn new(keys: KeyPair, did: &str, tokens: TokenClient, config: CallConfig) -> Caller {
        Caller {
            keys,
            did: did.to_string(),
            tokens,
            config,
        }
    }

    /// Send `method` to `url` (`http://` or `https://`, no user
    /// information) with `headers` and `body`, signed and with the token.
    ///
    /// `headers` may not set `Authorization` or the `X-DID` headers; a
    /// `Content-Type` among them is used, else a body is sent as
    /// `application/json`. A body that is not UTF-8 cannot be signed
    /// ([`Error::Signature`]). A `401` is answered once more with a new
    /// token (the cached one may have been revoked); every other status
    /// comes back as the [`CallResponse`]. Transport failures are
    /// [`Error::Unreachable`] (`Service::Peer`).
    pub fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<CallResponse> {
        let method = crate::http::known_method(method).ok_or_else(|| {
            Error::Config(format!(
                "HTTP method {method:?} is not supported: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
            ))
        })?;
        let (origin, target) = split_call_url(url)?;
        let mut content_type = None;
        let mut extra = Vec::new();
        for (name, value) in headers {
            check_header(name, value)?;
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.clone());
            } else {
                extra.push((name.clone(), value.clone()));
            }
        }
        if content_type.is_none() && !body.is_empty() {
            content_type = Some("application/json".to_string());
        }
        let mut http = HttpConfig::new(Service::Peer, &origin);
        http.timeout = self.config.timeout;
        http.connect_timeout = self.config.connect_timeout.min(self.config.timeout);
        http.deadline = self.config.timeout;
        http.max_retries = 0;
        http.tls = self.config.tls.clone();
        http.same_origin_redirects = true;
        let client = HttpClient::new(&http)?;
        let send = |token: &SecretString| -> Result<CallResponse> {
            let signed = sign_request(&self.keys, &self.did, body, unix_now())?;
            let mut req = Request::new(method, &target).secret_header(
                "Authorization",
                SecretString::new(format!("Bearer {}", token.expose())),
            );
            for (name, value) in signed.to_pairs() {
                req = req.header(name, &value);
            }
            for (name, value) in &extra {
                req = req.header(name, value);
            }
            if let Some(ct) = &content_type {
                req = req.body(body.to_vec(), ct);
            }
            let mut resp = client.request(req)?;
            Ok(CallResponse {
                status: resp.status,
                headers: std::mem::take(&mut resp.headers),
                body: std::mem::take(&mut resp.body),
            })
        };
        let first = send(&self.tokens.token()?.access_token)?;
        if first.status != 401 {
            return Ok(first);
        }
        log::debug!("the called agent answered 401; once more with a new token");
        send(&self.tokens.fetch_token()?.access_token)
    }
}

/// `https://host:port/path?query` into the origin and the rest (at least
/// `/`); a fragment is dropped.
fn split_call_url(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::Config(format!(
            "URL {:?} {why}",
            crate::util::redact_url(url)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("holds whitespace or control characters"));
    }
    let url = url.split('#').next().unwrap_or(url);
    let rest = rest.split('#').next().unwrap_or(rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "holds user information (user:password@); the agent's token is the credential",
        ));
    }
    let origin = &url[..url.len() - rest.len() + end];
    let target = match &rest[end..] {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    Ok((origin.to_string(), target))
}

/// A header the caller may add: a token name, a value without CR, LF or
/// NUL, and none of the headers the call sets itself.
fn check_header(name: &str, value: &str) -> Result<()> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(Error::Config(format!(
            "header name {:?} is not a valid HTTP header name",
            name.chars().take(64).collect::<String>()
        )));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::Config(format!(
            "the value of header {name} holds a line break or NUL"
        )));
    }
    for own in [
        "Authorization",
        HEADER_DID,
        HEADER_SIGNATURE,
        HEADER_TIMESTAMP,
        "Host",
        "Content-Length",
    ] {
        if name.eq_ignore_ascii_case(own) {
            return Err(Error::Config(format!(
                "header {name} is set by the call itself (the agent's token, the signature, the \
                 length of the body) and may not be given"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_target() {
        let s = |u: &str| split_call_url(u).map_err(|e| e.to_string());
        assert_eq!(
            s("http://127.0.0.1:8080/a2a?x=1#frag").unwrap(),
            ("http://127.0.0.1:8080".to_string(), "/a2a?x=1".to_string())
        );
        assert_eq!(s("https://h").unwrap(), ("https://h".into(), "/".into()));
        assert_eq!(
            s("https://h?q").unwrap(),
            ("https://h".into(), "/?q".into())
        );
        assert_eq!(
            s("http://[::1]:9/p").unwrap(),
            ("http://[::1]:9".into(), "/p".into())
        );
        for bad in [
            "ftp://h/",
            "http:///p",
            "http://u:pw@h/",
            "http://h/ x",
            "h/p",
        ] {
            let e = s(bad).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn headers_the_call_sets_may_not_be_given() {
        assert!(check_header("X-Trace", "a b").is_ok());
        for (n, v) in [
            ("authorization", "Bearer x"),
            ("X-DID", "d"),
            ("x-did-signature", "s"),
            ("Bad Name", "v"),
            ("", "v"),
            ("X-Ok", "a\r\nInjected: 1"),
        ] {
            assert!(check_header(n, v).is_err(), "{n}");
        }
    }
}
