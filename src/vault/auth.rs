//! Authentication: the token itself (`auth/token/*-self`), logins
//! (AppRole, Kubernetes, JWT, username and password) and keeping the token
//! alive.
//!
//! With a login method the [`Client`] logs in on its first request that
//! needs a token. A request refused with 403 whose token turns out to be no
//! longer valid (expired, revoked) logs in again and is sent once more.
//! [`Client::start_renewer`] keeps the token alive in a background thread:
//! it renews at about two thirds of the TTL (minus 10-20 % jitter) and logs
//! in again when the token is not renewable, reaches its maximum TTL or a
//! renewal is refused. A failed try is retried after 1 s, doubling to 30 s
//! (less up to 20 % jitter), and while Vault is away, before half of what
//! is left of a token that still works has gone. A renewal that failed
//! because Vault is away is retried, not answered with a login.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{lock, Client};
use crate::config::{read_secret_file, AuthMethod};
use crate::error::{Error, Result, Service};
use crate::secret_string::{zeroize_string, SecretString};

/// What is known of the current token's lifetime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenLease {
    /// Lifetime granted at `obtained` (zero: never expires).
    pub(crate) ttl: Duration,
    /// What to ask for when renewing.
    pub(crate) increment: Duration,
    /// Whether a renewal can extend it.
    pub(crate) renewable: bool,
    /// Set when a renewal granted less than asked: the maximum TTL is near.
    pub(crate) capped: bool,
    /// When `ttl` was granted.
    pub(crate) obtained: Instant,
}

/// What Vault says about the current token (`auth/token/lookup-self`).
/// The token itself is not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token's accessor (names the token without being it).
    #[serde(default)]
    pub accessor: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Policies attached.
    #[serde(default, deserialize_with = "null_as_default")]
    pub policies: Vec<String>,
    /// Seconds left (0: never expires).
    #[serde(default)]
    pub ttl: u64,
    /// TTL at creation, seconds.
    #[serde(default)]
    pub creation_ttl: u64,
    /// Hard limit, seconds (0: none).
    #[serde(default)]
    pub explicit_max_ttl: u64,
    /// Whether `renew-self` can extend it.
    #[serde(default)]
    pub renewable: bool,
    /// Expiry time (RFC 3339), when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// The identity entity, if any.
    #[serde(default)]
    pub entity_id: String,
    /// The auth path that created it (e.g. `auth/approle/login`).
    #[serde(default)]
    pub path: String,
    /// `service` or `batch`.
    #[serde(default, rename = "type")]
    pub token_type: String,
    /// Metadata attached at login.
    #[serde(default, deserialize_with = "null_as_default")]
    pub meta: BTreeMap<String, String>,
}

impl TokenInfo {
    /// Time left, `None` for a token that does not expire.
    pub fn ttl(&self) -> Option<Duration> {
        (self.ttl > 0).then(|| Duration::from_secs(self.ttl))
    }
}

/// The `auth` block of a login or renewal: a token and its lease.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthInfo {
    /// The token.
    pub client_token: SecretString,
    /// Its accessor.
    pub accessor: String,
    /// Policies attached.
    pub policies: Vec<String>,
    /// Seconds the token lasts from now (0: no expiry).
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// The identity entity, if any.
    pub entity_id: String,
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInfo")
            .field("client_token", &self.client_token)
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .finish()
    }
}

impl AuthInfo {
    /// The lease as a [`Duration`], `None` when the token does not expire.
    pub fn ttl(&self) -> Option<Duration> {
        (self.lease_duration > 0).then(|| Duration::from_secs(self.lease_duration))
    }
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Read the `auth` block of an answer (login, renew, unwrap of a token).
/// Pure, and never panics.
pub fn parse_auth(answer: Option<&Value>, what: &str) -> Result<AuthInfo> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        client_token: String,
        #[serde(default)]
        accessor: String,
        #[serde(default, deserialize_with = "null_as_default")]
        policies: Vec<String>,
        #[serde(default)]
        lease_duration: u64,
        #[serde(default)]
        renewable: bool,
        #[serde(default)]
        entity_id: String,
    }
    let protocol = |detail: String| Error::Protocol {
        service: Service::Vault,
        detail: format!("{what}: {detail}"),
    };
    let auth = answer
        .and_then(|a| a.get("auth"))
        .filter(|a| !a.is_null())
        .ok_or_else(|| protocol("the answer has no `auth` block".into()))?;
    let mut raw: Raw = Raw::deserialize(auth).map_err(|e| protocol(e.to_string()))?;
    if raw.client_token.is_empty() {
        return Err(protocol("the answer has no client_token".into()));
    }
    if !crate::http::header_value_ok(&raw.client_token) {
        zeroize_string(&mut raw.client_token);
        return Err(protocol(
            "the client_token holds a control character, which an HTTP header cannot carry".into(),
        ));
    }
    let client_token = SecretString::new(raw.client_token.as_str());
    zeroize_string(&mut raw.client_token);
    Ok(AuthInfo {
        client_token,
        accessor: raw.accessor,
        policies: raw.policies,
        lease_duration: raw.lease_duration,
        renewable: raw.renewable,
        entity_id: raw.entity_id,
    })
}

impl Client {
    /// Look up the current token (`auth/token/lookup-self`).
    pub fn lookup_self(&self) -> Result<TokenInfo> {
        let answer = self.request("GET", "auth/token/lookup-self", None)?;
        super::data_as(answer, "GET auth/token/lookup-self")
    }

    /// Renew the current token, asking for `increment` more time (Vault
    /// may grant less). The token stays the same.
    pub fn renew_self(&self, increment: Option<Duration>) -> Result<AuthInfo> {
        let body = match increment {
            Some(i) => json!({ "increment": format!("{}s", i.as_secs()) }),
            None => json!({}),
        };
        let answer = self.request("POST", "auth/token/renew-self", Some(&body))?;
        parse_auth(answer.as_ref(), "POST auth/token/renew-self")
    }

    /// Revoke the current token and forget it.
    pub fn revoke_self(&self) -> Result<()> {
        self.request("POST", "auth/token/revoke-self", None)?;
        self.set_token(None);
        Ok(())
    }

    /// `true` when the current token came from this client's own login
    /// ([`Client::login`] or a login on first use), not from the
    /// configuration or [`Client::set_token`].
    pub(crate) fn owns_token(&self) -> bool {
        self.own_token.load(Ordering::SeqCst) && self.token().is_some()
    }

    /// Revoke the current token if this client obtained it by logging in
    /// (`auth/token/revoke-self`), and forget it; a token it was given is
    /// left alone. Returns whether a token was revoked. Never logs in: an
    /// expired token is simply forgotten.
    ///
    /// One-shot programs call this before they exit, so that every run does
    /// not leave a live token behind in Vault's token store.
    pub(crate) fn revoke_own_token(&self) -> Result<bool> {
        if !self.owns_token() {
            return Ok(false);
        }
        let Some(token) = self.token() else {
            return Ok(false);
        };
        let path = "auth/token/revoke-self";
        let answer = self.exchange_as("POST", path, None, Some(&token))?;
        self.set_token(None);
        match answer {
            Ok(_) => Ok(true),
            // Already expired or revoked: nothing left to do.
            Err(e) if matches!(e.status, 401 | 403) => Ok(false),
            Err(e) => Err(e.into_error("POST", path)),
        }
    }

    /// A guard that calls [`Client::revoke_own_token`] when dropped (on
    /// every way out of a scope, errors included); failures are logged as
    /// warnings.
    pub(crate) fn revoke_own_token_on_drop(&self) -> RevokeOnDrop<'_> {
        RevokeOnDrop {
            client: self,
            armed: true,
        }
    }

    /// Fail early with [`Error::Config`] when no request could carry a
    /// token: the `token` method with none configured. Other methods log in
    /// on the first request that needs a token.
    pub(crate) fn require_credentials(&self) -> Result<()> {
        if !self.can_login() && self.token().is_none() {
            return Err(Error::Config(
                "no Vault token: set VAULT_TOKEN (or write ~/.vault-token), choose VAULT_AUTH_METHOD, \
                 or turn Vault off with VAULT__ENABLED=false"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `true` when the configured auth method can log in (not `token`).
    pub(crate) fn can_login(&self) -> bool {
        !matches!(self.config().auth, AuthMethod::Token)
    }

    /// Log in with the configured method and use the new token.
    ///
    /// AppRole reads the secret id (from its file each time, so a rotated
    /// file is picked up) and unwraps it first when it is a wrapping token;
    /// Kubernetes and JWT read the JWT from its file. With the `token`
    /// method this is an [`Error::Config`].
    pub fn login(&self) -> Result<AuthInfo> {
        match &self.config().auth {
            AuthMethod::Token => Err(Error::Config(
                "VAULT_AUTH_METHOD=token cannot log in: set VAULT_TOKEN, or choose approle, kubernetes, jwt or userpass"
                    .into(),
            )),
            AuthMethod::UserPass {
                mount,
                username,
                password,
            } => {
                let password = password.read()?;
                self.login_userpass(mount, username, &password)
            }
            AuthMethod::AppRole {
                mount,
                role_id,
                secret_id,
                wrapped,
            } => {
                let secret = secret_id.read()?;
                let secret = if *wrapped {
                    self.unwrapped_secret_id(&secret)?
                } else {
                    secret
                };
                self.login_approle(mount, role_id, &secret)
            }
            AuthMethod::Kubernetes {
                mount,
                role,
                jwt_file,
            }
            | AuthMethod::Jwt {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = read_secret_file(jwt_file)?;
                self.login_jwt(mount, role, &jwt)
            }
        }
    }

    /// AppRole login (`auth/{mount}/login`); the client uses the new token.
    pub(crate) fn login_approle(
        &self,
        mount: &str,
        role_id: &str,
        secret_id: &SecretString,
    ) -> Result<AuthInfo> {
        let body = json!({ "role_id": role_id, "secret_id": secret_id.expose() });
        self.login_with(mount, body)
    }

    /// Kubernetes or JWT login (`auth/{mount}/login` with `role` and
    /// `jwt`); the client uses the new token.
    pub(crate) fn login_jwt(
        &self,
        mount: &str,
        role: &str,
        jwt: &SecretString,
    ) -> Result<AuthInfo> {
        let body = json!({ "role": role, "jwt": jwt.expose() });
        self.login_with(mount, body)
    }

    /// Username and password login (`auth/{mount}/login/{username}` with
    /// `password`, as `bao login -method=userpass` sends it); the client
    /// uses the new token. A user name that would change the request's path
    /// (`/`, `?`, `..`, ...) is an [`Error::Config`].
    pub(crate) fn login_userpass(
        &self,
        mount: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<AuthInfo> {
        let username = crate::config::grammar::check_username("the user name", username)?;
        let path = format!("auth/{}/login/{username}", mount.trim_matches('/'));
        self.login_at(&path, json!({ "password": password.expose() }))
    }

    fn login_with(&self, mount: &str, body: Value) -> Result<AuthInfo> {
        self.login_at(&format!("auth/{}/login", mount.trim_matches('/')), body)
    }

    /// POST `body` to the login endpoint `path`, zeroize the body's
    /// strings, and adopt the token of the answer.
    fn login_at(&self, path: &str, mut body: Value) -> Result<AuthInfo> {
        let path = path.to_string();
        let answer = self.exchange_as("POST", &path, Some(&body), None);
        if let Some(m) = body.as_object_mut() {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    zeroize_string(s);
                }
            }
        }
        let answer = answer?.map_err(|e| login_error(e, &path))?;
        let auth = parse_auth(answer.as_ref(), &format!("POST {path}"))?;
        log::info!(
            "logged in to Vault at {path} (policies: {}, ttl {}s)",
            auth.policies.join(","),
            auth.lease_duration
        );
        self.adopt(&auth);
        Ok(auth)
    }

    /// Use a freshly obtained token.
    fn adopt(&self, auth: &AuthInfo) {
        self.set_token(Some(auth.client_token.clone()));
        self.own_token.store(true, Ordering::SeqCst);
        let ttl = Duration::from_secs(auth.lease_duration);
        *lock(&self.lease) = Some(TokenLease {
            ttl,
            increment: ttl,
            renewable: auth.renewable,
            capped: false,
            obtained: Instant::now(),
        });
    }

    /// Unwrap a response-wrapping token (`sys/wrapping/unwrap`) and return
    /// the wrapped answer. A wrapping token works once.
    pub fn unwrap_response(&self, wrapping_token: &SecretString) -> Result<Option<Value>> {
        let path = "sys/wrapping/unwrap";
        self.exchange_as("POST", path, None, Some(wrapping_token))?
            .map_err(|e| login_error(e, path))
    }

    /// Response-wrap `data` (`sys/wrapping/wrap` with `X-Vault-Wrap-TTL`):
    /// the returned wrapping token works once, for `ttl`, and unwraps to
    /// `data`.
    pub(crate) fn wrap_response(&self, data: &Value, ttl: Duration) -> Result<SecretString> {
        let path = "sys/wrapping/wrap";
        let token = self.token_or_login()?;
        let mut body = serde_json::to_vec(data).unwrap_or_default();
        let mut req = crate::http::Request::new("POST", &super::api_path(path))
            .header("X-Vault-Wrap-TTL", &format!("{}s", ttl.as_secs().max(1)))
            .body(body.clone(), "application/json");
        crate::secret_string::zeroize_bytes(&mut body);
        if let Some(t) = token {
            req = req.secret_header(super::TOKEN_HEADER, t);
        }
        let resp = self.http.request(req)?;
        let answer = super::parse_response(resp.status, &resp.body)
            .map_err(|e| e.into_error("POST", path))?;
        answer
            .as_ref()
            .and_then(|a| a.get("wrap_info"))
            .and_then(|w| w.get("token"))
            .and_then(Value::as_str)
            .map(SecretString::new)
            .ok_or_else(|| Error::Protocol {
                service: Service::Vault,
                detail: format!("POST {path}: the answer has no wrap_info.token"),
            })
    }

    /// The secret id inside a wrapping token, unwrapped once and kept (the
    /// wrapping token cannot be used twice).
    fn unwrapped_secret_id(&self, wrapping: &SecretString) -> Result<SecretString> {
        if let Some((w, s)) = lock(&self.unwrapped).as_ref() {
            if w == wrapping {
                return Ok(s.clone());
            }
        }
        let answer = self.unwrap_response(wrapping)?;
        let secret = answer
            .as_ref()
            .and_then(|a| a.get("data"))
            .and_then(|d| d.get("secret_id"))
            .and_then(Value::as_str)
            .map(SecretString::new)
            .ok_or_else(|| Error::Protocol {
                service: Service::Vault,
                detail: "POST sys/wrapping/unwrap: the wrapped answer holds no secret_id".into(),
            })?;
        *lock(&self.unwrapped) = Some((wrapping.clone(), secret.clone()));
        Ok(secret)
    }

    /// The current token; with a login method and no token yet, log in.
    pub(crate) fn token_or_login(&self) -> Result<Option<SecretString>> {
        if let Some(t) = self.token() {
            return Ok(Some(t));
        }
        if !self.can_login() {
            return Ok(None);
        }
        let _guard = lock(&self.login_lock);
        if let Some(t) = self.token() {
            return Ok(Some(t));
        }
        Ok(Some(self.login()?.client_token))
    }

    /// Log in again, unless another thread already replaced `used`.
    pub(crate) fn relogin(&self, used: &SecretString) -> Result<SecretString> {
        let _guard = lock(&self.login_lock);
        if let Some(current) = self.token() {
            if &current != used {
                return Ok(current);
            }
        }
        Ok(self.login()?.client_token)
    }

    /// Whether Vault still accepts `token` (`lookup-self`). Anything but a
    /// 401/403 counts as valid: only a refused token is replaced.
    pub(crate) fn token_is_valid(&self, token: &SecretString) -> Result<bool> {
        match self.exchange_as("GET", "auth/token/lookup-self", None, Some(token))? {
            Ok(_) => Ok(true),
            Err(e) => Ok(!matches!(e.status, 401 | 403)),
        }
    }

    /// Keep the token alive in a background thread until the returned
    /// [`Renewer`] is stopped or dropped, or the client is dropped.
    ///
    /// At about two thirds of the token's TTL (minus 10-20 % jitter) the
    /// token is renewed; when it is not renewable, a renewal is refused, or
    /// the maximum TTL is near, a login method logs in again. Failures are
    /// retried after a backoff (see the module docs of `vault::auth`). A
    /// `token`-method token that cannot be renewed is left to expire, with
    /// a warning.
    pub fn start_renewer(self: &Arc<Self>) -> Renewer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = Arc::downgrade(self);
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vault-token-renewer".into())
            .spawn(move || renew_loop(weak, &s))
            .ok();
        if thread.is_none() {
            log::warn!("could not start the Vault token renewer thread");
        }
        Renewer { stop, thread }
    }

    /// One step of the renewer: act if due, and say what happened. The
    /// caller sleeps, steps again at once, stops, or backs off after a
    /// failure ([`RenewStep`]); the agent runs these steps in its own loop
    /// instead of a renewer thread.
    ///
    /// Before the lease is known it is learnt (a login, or a look-up of the
    /// given token). At about two thirds of the TTL the token is renewed
    /// with exactly that token (no login on the way); a renewal refused
    /// outright, a token that is not renewable and one near its maximum
    /// TTL are replaced by a login when the method can log in. A renewal
    /// that failed because Vault is away is a failure to retry, not a
    /// reason to log in.
    pub(crate) fn renew_step(&self) -> RenewStep {
        let lease = *lock(&self.lease);
        let Some(lease) = lease else {
            if self.token().is_none() && self.can_login() {
                return self.login_step(None);
            }
            return self.check_token();
        };
        if lease.ttl.is_zero() && !lease.capped {
            return RenewStep::Done(None);
        }
        let due = renew_due(lease.ttl, crate::util::random::jitter());
        let elapsed = lease.obtained.elapsed();
        if elapsed < due {
            return RenewStep::Sleep(due - elapsed);
        }
        let remaining = lease.ttl.saturating_sub(elapsed);
        let used = self.token();
        if lease.renewable && !lease.capped {
            if let Some(token) = &used {
                match self.renew_token(token, lease.increment) {
                    Ok(auth) => {
                        let granted = Duration::from_secs(auth.lease_duration);
                        log::debug!("Vault token renewed for {granted:?}");
                        *lock(&self.lease) = Some(TokenLease {
                            ttl: granted,
                            increment: lease.increment,
                            renewable: auth.renewable,
                            capped: granted < lease.increment,
                            obtained: Instant::now(),
                        });
                        return RenewStep::Acted(TokenAction::Renew);
                    }
                    Err(error) if error.is_outage() || !self.can_login() => {
                        return RenewStep::Failed {
                            action: TokenAction::Renew,
                            error,
                        }
                    }
                    Err(e) => log::debug!("Vault token renewal refused ({e}); logging in again"),
                }
            }
        }
        if !self.can_login() {
            return RenewStep::Done(Some(remaining));
        }
        self.login_step(used.as_ref())
    }

    /// Ask Vault whether the current token is still good (`lookup-self`
    /// with exactly that token, no login on the way) and learn its lease
    /// from the answer. A refused token is replaced by a login when the
    /// method can log in. The agent checks after one of its requests was
    /// refused, and before it retries a failed step.
    pub(crate) fn check_token(&self) -> RenewStep {
        let failed = |error| RenewStep::Failed {
            action: TokenAction::LookUp,
            error,
        };
        let Some(token) = self.token() else {
            if self.can_login() {
                return self.login_step(None);
            }
            return failed(Error::Config(
                "no Vault token: set VAULT_TOKEN or choose VAULT_AUTH_METHOD".into(),
            ));
        };
        let path = "auth/token/lookup-self";
        let answer = match self.exchange_as("GET", path, None, Some(&token)) {
            Ok(a) => a,
            Err(e) => return failed(e),
        };
        match answer {
            Ok(v) => match super::data_as::<TokenInfo>(v, "GET auth/token/lookup-self") {
                Ok(info) => {
                    let ttl = Duration::from_secs(info.ttl);
                    let increment = Duration::from_secs(info.creation_ttl.max(info.ttl));
                    *lock(&self.lease) = Some(TokenLease {
                        ttl,
                        increment,
                        renewable: info.renewable,
                        capped: false,
                        obtained: Instant::now(),
                    });
                    RenewStep::Acted(TokenAction::LookUp)
                }
                Err(e) => failed(e),
            },
            Err(e) if matches!(e.status, 401 | 403) && self.can_login() => {
                self.login_step(Some(&token))
            }
            Err(e) => failed(e.into_error("GET", path)),
        }
    }

    /// What is known of the current token's lease: (time left, `None`
    /// when it does not expire; whether a renewal can extend it), or
    /// `None` while nothing is known.
    pub(crate) fn token_lease(&self) -> Option<(Option<Duration>, bool)> {
        let l = (*lock(&self.lease))?;
        let left = (!l.ttl.is_zero()).then(|| l.ttl.saturating_sub(l.obtained.elapsed()));
        Some((left, l.renewable && !l.capped))
    }

    /// Renew `token` itself (`auth/token/renew-self`), never logging in.
    fn renew_token(&self, token: &SecretString, increment: Duration) -> Result<AuthInfo> {
        let path = "auth/token/renew-self";
        let body = json!({ "increment": format!("{}s", increment.as_secs()) });
        let answer = self
            .exchange_as("POST", path, Some(&body), Some(token))?
            .map_err(|e| e.into_error("POST", path))?;
        parse_auth(answer.as_ref(), "POST auth/token/renew-self")
    }

    /// Log in (again, when `used` is the token being replaced).
    fn login_step(&self, used: Option<&SecretString>) -> RenewStep {
        let result = match used {
            Some(u) => self.relogin(u).map(drop),
            None => self.token_or_login().map(drop),
        };
        match result {
            Ok(()) => RenewStep::Acted(TokenAction::Login),
            Err(error) => RenewStep::Failed {
                action: TokenAction::Login,
                error,
            },
        }
    }
}

/// What one step of the token renewer did ([`Client::renew_step`]).
#[derive(Debug)]
pub(crate) enum RenewStep {
    /// Nothing is due for this long.
    Sleep(Duration),
    /// The lease was learnt, the token renewed, or a new one logged in
    /// for: step again at once.
    Acted(TokenAction),
    /// Nothing is left to do for this token: it does not expire (`None`),
    /// or it cannot be renewed further and the auth method cannot log in
    /// (`Some(time left)`, zero once it has expired).
    Done(Option<Duration>),
    /// A look-up, renewal or login failed; the caller picks when to try
    /// again ([`crate::util::backoff`]).
    Failed {
        /// What failed.
        action: TokenAction,
        /// Why.
        error: Error,
    },
}

/// What the renewer does to the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenAction {
    /// `auth/token/lookup-self`: learn or check the token's lease.
    LookUp,
    /// `auth/token/renew-self`.
    Renew,
    /// A login with the configured method.
    Login,
}

impl TokenAction {
    /// `look-up`, `renewal` or `login`, for messages and events.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TokenAction::LookUp => "look-up",
            TokenAction::Renew => "renewal",
            TokenAction::Login => "login",
        }
    }
}

/// The longest wait of the renewer thread between two failed tries.
const RENEWER_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The wait before trying a failed token step again: the backoff
/// ([`crate::util::backoff`], `cap` at most); but during an `outage` a
/// token with time `left` is tried again before half of that has gone (at
/// least 1 s apart), so that an outage shorter than the token's life does
/// not cost the token. Once it has run out, the backoff alone.
pub(crate) fn retry_wait(
    failures: u32,
    cap: Duration,
    outage: bool,
    left: Option<Duration>,
) -> Duration {
    let wait = crate::util::backoff(failures, cap);
    match left {
        Some(l) if outage && !l.is_zero() => wait.min((l / 2).max(Duration::from_secs(1))),
        _ => wait,
    }
}

/// When to act on a token of lifetime `ttl`: two thirds of it, less 10 to
/// 20 % (`jitter` in `[0, 1)` picks where).
pub(crate) fn renew_due(ttl: Duration, jitter: f64) -> Duration {
    let j = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // ttl / 3 * 2 rather than ttl * 2 / 3: a TTL from the server may be
    // as large as u64::MAX seconds.
    (ttl / 3 * 2).mul_f64(1.0 - (0.1 + 0.1 * j))
}

/// Login refusals are authentication failures, whatever the status Vault
/// picked (AppRole answers 400 for a wrong secret id).
fn login_error(e: super::ApiError, path: &str) -> Error {
    match e.status {
        400 | 401 | 403 if e.invalid.is_none() && !e.is_sealed() => Error::PermissionDenied {
            service: Service::Vault,
            method: "POST",
            path: path.to_string(),
            status: e.status,
            errors: e.errors,
        },
        _ => e.into_error("POST", path),
    }
}

fn renew_loop(client: Weak<Client>, stop: &(Mutex<bool>, Condvar)) {
    let mut failures = 0u32;
    let mut acted = 0u32;
    loop {
        let Some(c) = client.upgrade() else { return };
        let wait = match c.renew_step() {
            RenewStep::Sleep(d) => {
                failures = 0;
                acted = 0;
                d
            }
            RenewStep::Acted(_) => {
                failures = 0;
                acted += 1;
                if acted < 4 {
                    continue;
                }
                acted = 0;
                Duration::from_secs(1)
            }
            RenewStep::Done(None) => {
                log::debug!("Vault token does not expire; the renewer stops");
                return;
            }
            RenewStep::Done(Some(left)) => {
                log::warn!(
                    "the Vault token cannot be renewed further and expires in {} s; \
                     set a renewable token or use a login method",
                    left.as_secs()
                );
                return;
            }
            RenewStep::Failed { action, error } => {
                failures = failures.saturating_add(1);
                let left = c.token_lease().and_then(|(left, _)| left);
                let wait = retry_wait(failures, RENEWER_BACKOFF_MAX, error.is_outage(), left);
                log::warn!(
                    "Vault token {}: {error}; trying again in {:.1} s",
                    action.label(),
                    wait.as_secs_f64()
                );
                wait
            }
        };
        drop(c);
        let (flag, cvar) = stop;
        let guard = lock(flag);
        let (guard, _) = match cvar.wait_timeout_while(guard, wait, |stopped| !*stopped) {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *guard {
            return;
        }
    }
}

/// Revokes the client's own login token when dropped; see
/// [`Client::revoke_own_token_on_drop`].
#[must_use = "the token is revoked when the guard is dropped"]
pub(crate) struct RevokeOnDrop<'a> {
    client: &'a Client,
    armed: bool,
}

impl RevokeOnDrop<'_> {
    /// Keep the token: nothing is revoked (it was stored or handed out).
    #[cfg(feature = "cli")]
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl fmt::Debug for RevokeOnDrop<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokeOnDrop")
            .field("owns_token", &self.client.owns_token())
            .finish()
    }
}

impl Drop for RevokeOnDrop<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.client.revoke_own_token() {
            Ok(true) => log::debug!("revoked the Vault token this run logged in for"),
            Ok(false) => {}
            Err(e) => log::warn!(
                "could not revoke the Vault token this run logged in for ({e}); it expires at the end of its TTL"
            ),
        }
    }
}

/// The background token renewer of [`Client::start_renewer`]. Stops when
/// dropped.
pub struct Renewer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Renewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renewer")
            .field(
                "running",
                &self.thread.as_ref().is_some_and(|t| !t.is_finished()),
            )
            .finish()
    }
}

impl Renewer {
    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.halt();
    }

    /// `true` while the thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn halt(&mut self) {
        let (flag, cvar) = &*self.stop;
        *lock(flag) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_but_save_a_token_that_still_works() {
        let cap = Duration::from_secs(60);
        let s = Duration::from_secs;
        // An outage with 10 s left: tried again within 5 s whatever the backoff.
        assert!(retry_wait(10, cap, true, Some(s(10))) <= s(5));
        // Never closer than 1 s, and nothing to save once it ran out.
        assert!(retry_wait(10, cap, true, Some(s(1))) >= s(1));
        assert!(retry_wait(10, cap, true, Some(Duration::ZERO)) >= s(48));
        // A refusal is not an outage: the plain backoff.
        assert!(retry_wait(10, cap, false, Some(s(10))) >= s(48));
        assert!(retry_wait(1, cap, true, None) <= s(1));
    }

    #[test]
    fn renew_due_survives_any_server_ttl() {
        let d = renew_due(Duration::from_secs(u64::MAX), 0.5);
        assert!(d > Duration::from_secs(u64::MAX / 2));
        assert_eq!(renew_due(Duration::ZERO, 0.5), Duration::ZERO);
    }

    #[test]
    fn renews_at_two_thirds_less_jitter() {
        let ttl = Duration::from_secs(300);
        assert_eq!(renew_due(ttl, 0.0), Duration::from_secs(180));
        let late = renew_due(ttl, 0.999);
        assert!(late > Duration::from_secs(159) && late <= Duration::from_secs(161));
        assert_eq!(renew_due(ttl, f64::NAN), Duration::from_secs(180));
    }

    #[test]
    fn auth_block_parsing() {
        let a = json!({"auth": {"client_token": "s.canary", "accessor": "acc",
            "policies": null, "lease_duration": 60, "renewable": true}});
        let info = parse_auth(Some(&a), "t").unwrap();
        assert_eq!(info.client_token.expose(), "s.canary");
        assert!(!format!("{info:?}").contains("canary"));
        assert!(parse_auth(Some(&json!({"auth": null})), "t").is_err());
        assert!(parse_auth(Some(&json!({"auth": {"client_token": 1}})), "t").is_err());
        assert!(parse_auth(None, "t").is_err());
        // A token no header can carry is the server's fault, not "unreachable".
        let e =
            parse_auth(Some(&json!({"auth": {"client_token": "hvs.a\r\nb"}})), "t").unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    }
}
