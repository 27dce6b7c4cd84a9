//! The public token endpoint: client_credentials tokens, cached; revocation and introspection.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{HydraConfig, TokenAuth};
use crate::error::{Error, Result};
use crate::http::{HttpClient, Request};
use crate::secret_string::{zeroize_string, SecretString};

use super::*;

/// An access token from the token endpoint. `Debug` hides the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessToken {
    /// The token itself.
    pub access_token: SecretString,
    /// `bearer`.
    pub token_type: String,
    /// Lifetime in seconds when issued, if Hydra said.
    pub expires_in: Option<u64>,
    /// Granted scopes, space separated (may be empty).
    pub scope: String,
    /// When it was received.
    pub received_at: Instant,
}

impl AccessToken {
    /// When it expires, if its lifetime is known. `None` too when the
    /// lifetime is too large to represent (a server may send anything).
    pub fn expires_at(&self) -> Option<Instant> {
        self.received_at
            .checked_add(Duration::from_secs(self.expires_in?))
    }

    /// When a cache should stop handing it out: `TOKEN_REFRESH_MARGIN`
    /// before it expires, or 10 % of its lifetime before when that is
    /// shorter. `None` when the lifetime is unknown (not cacheable).
    pub(crate) fn refresh_at(&self) -> Option<Instant> {
        let life = Duration::from_secs(self.expires_in?);
        let margin = TOKEN_REFRESH_MARGIN.min(life / 10);
        self.received_at.checked_add(life - margin)
    }

    /// `true` while a cache may still hand it out.
    pub(crate) fn is_fresh(&self) -> bool {
        self.refresh_at().is_some_and(|t| Instant::now() < t)
    }
}

/// What `POST /admin/oauth2/introspect` says about a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Introspection {
    /// `true` when the token is neither expired nor revoked.
    pub active: bool,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// The subject.
    pub sub: Option<String>,
    /// Granted scopes, space separated.
    pub scope: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: Option<i64>,
    /// Issue time, seconds since the Unix epoch.
    pub iat: Option<i64>,
    /// `access_token` or `refresh_token`.
    pub token_use: Option<String>,
}

/// The OAuth2 `client_credentials` grant at `{public_url}/oauth2/token`, with
/// an in-memory token cache, plus revocation and introspection.
pub struct TokenClient {
    http: HttpClient,
    admin: Option<HydraAdmin>,
    client_id: String,
    client_secret: SecretString,
    auth: TokenAuth,
    scopes: Vec<String>,
    cache: Mutex<Option<AccessToken>>,
    /// The token cache file shared by processes (`{key_dir}/hydra_token.json`).
    disk: Option<std::path::PathBuf>,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient")
            .field(
                "token_url",
                &format!("{}/oauth2/token", self.http.base_url()),
            )
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    /// A token client for `config.public_url` (required) with the
    /// configured scopes and authentication method; introspection goes to
    /// `config.admin_url`.
    pub fn new(
        config: &HydraConfig,
        client_id: &str,
        client_secret: SecretString,
    ) -> Result<TokenClient> {
        let public = config.public_url.as_deref().ok_or_else(|| {
            Error::Config("HYDRA__PUBLIC_URL is required to request tokens".into())
        })?;
        let http = HttpClient::new(&http_config(config, public))?;
        let mut c = TokenClient::from_http(http, client_id, client_secret, config.token_auth);
        c.scopes = config.scopes.clone();
        c.admin = Some(HydraAdmin::new(config)?);
        Ok(c)
    }

    /// A token client over a ready [`HttpClient`] whose base URL is Hydra's
    /// public URL. It requests no particular scope (see
    /// [`TokenClient::with_scopes`]) and cannot introspect until given an
    /// admin client ([`TokenClient::with_admin`]).
    pub(crate) fn from_http(
        http: HttpClient,
        client_id: &str,
        client_secret: SecretString,
        auth: TokenAuth,
    ) -> TokenClient {
        TokenClient {
            http,
            admin: None,
            client_id: client_id.to_string(),
            client_secret,
            auth,
            scopes: Vec::new(),
            cache: Mutex::new(None),
            disk: None,
        }
    }

    /// Share tokens with other processes through the file at `path` (the
    /// key directory's `hydra_token.json`, 0600): [`TokenClient::token`]
    /// reuses a token another process fetched while it is fresh.
    pub(crate) fn with_disk_cache(mut self, path: std::path::PathBuf) -> TokenClient {
        self.disk = Some(path);
        self
    }

    /// What identifies this client's tokens in the disk cache: token URL,
    /// client id, requested scope.
    fn disk_key(&self) -> (String, String, String) {
        (
            format!("{}/oauth2/token", self.http.base_url()),
            self.client_id.clone(),
            self.scopes.join(" "),
        )
    }

    /// A fresh token from the disk cache, if there is one.
    fn disk_token(&self) -> Option<AccessToken> {
        let path = self.disk.as_ref()?;
        let (url, id, scope) = self.disk_key();
        let now = crate::util::time::unix_secs();
        let e = crate::cache::read_token_cache(path)
            .into_iter()
            .find(|e| e.is_for(&url, &id, &scope))?;
        // Fresh by the rule of the memory cache, on the original lifetime.
        let life = Duration::from_secs(e.expires_in);
        let margin = TOKEN_REFRESH_MARGIN.min(life / 10);
        let refresh_at = e.issued_at.checked_add((life - margin).as_secs())?;
        if e.issued_at > now || now >= refresh_at {
            return None;
        }
        let age = now - e.issued_at;
        log::debug!(
            "Hydra: token for {} reused from {}",
            self.client_id,
            path.display()
        );
        Some(AccessToken {
            access_token: e.access_token,
            token_type: e.token_type,
            expires_in: Some(e.expires_in - age),
            scope: e.scope,
            received_at: Instant::now(),
        })
    }

    /// Put `token` in the disk cache (or, with `None`, take this client's
    /// entry out). A failure is logged, not returned: the cache only
    /// saves requests.
    fn store_on_disk(&self, token: Option<&AccessToken>) {
        let Some(path) = &self.disk else { return };
        let (url, id, scope) = self.disk_key();
        let now = crate::util::time::unix_secs();
        let entry = token.and_then(|t| {
            Some(crate::cache::CachedToken {
                token_url: url.clone(),
                client_id: id.clone(),
                requested_scope: scope.clone(),
                access_token: t.access_token.clone(),
                token_type: t.token_type.clone(),
                scope: t.scope.clone(),
                issued_at: now,
                expires_in: t.expires_in?,
            })
        });
        if token.is_some() && entry.is_none() {
            return; // unknown lifetime: not cacheable
        }
        if let Err(e) = crate::cache::update_token_cache(path, (&url, &id, &scope), entry, now) {
            log::debug!("token cache not written: {e}");
        }
    }

    /// Request these scopes (none: the `scope` parameter is left out).
    pub fn with_scopes(mut self, scopes: Vec<String>) -> TokenClient {
        self.scopes = scopes;
        self
    }

    /// A token: the cached one until shortly before it expires (30 s,
    /// or a tenth of its lifetime when that is shorter), else a new one
    /// from the token endpoint. A client made by
    /// [`crate::bootstrap::token_client`] also shares its tokens with
    /// other processes through the key directory (`hydra_token.json`).
    pub fn token(&self) -> Result<AccessToken> {
        if let Some(t) = self.lock_cache().as_ref().filter(|t| t.is_fresh()) {
            return Ok(t.clone());
        }
        if let Some(t) = self.disk_token() {
            *self.lock_cache() = Some(t.clone());
            return Ok(t);
        }
        self.fetch_token()
    }

    /// A new token from the token endpoint, bypassing (and refreshing) the cache.
    pub fn fetch_token(&self) -> Result<AccessToken> {
        let path = "/oauth2/token";
        let mut form = FormBody::new();
        form.push("grant_type", "client_credentials");
        if !self.scopes.is_empty() {
            form.push("scope", &self.scopes.join(" "));
        }
        let req = self.authenticated(form, path);
        let resp = self.http.request(req)?;
        let resp = check(resp, "POST", path)?;
        let token =
            parse_token_response(&resp.body).map_err(|e| context(e, &format!("POST {path}")))?;
        log::debug!(
            "Hydra: token for {} (expires in {:?} s)",
            self.client_id,
            token.expires_in
        );
        *self.lock_cache() = Some(token.clone());
        self.store_on_disk(Some(&token));
        Ok(token)
    }

    /// Forget the cached token (in memory and in the shared file).
    pub fn invalidate(&self) {
        *self.lock_cache() = None;
        self.store_on_disk(None);
    }

    /// `POST /oauth2/revoke`: revoke `token` (authenticated as this client).
    /// If it is the cached token, the cache is emptied.
    pub fn revoke(&self, token: &SecretString) -> Result<()> {
        let path = "/oauth2/revoke";
        let mut form = FormBody::new();
        form.push("token", token.expose());
        let req = self.authenticated(form, path);
        let resp = self.http.request(req)?;
        check(resp, "POST", path)?;
        let mut cache = self.lock_cache();
        if cache.as_ref().is_some_and(|t| t.access_token == *token) {
            *cache = None;
            drop(cache);
            self.store_on_disk(None);
        }
        Ok(())
    }

    /// Introspect `token` through the admin API (see `HydraAdmin::introspect`).
    pub fn introspect(&self, token: &SecretString) -> Result<Introspection> {
        let admin = self.admin.as_ref().ok_or_else(|| {
            Error::Config("introspection needs Hydra's admin URL (HYDRA__ADMIN_URL)".into())
        })?;
        admin.introspect(token, None)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Option<AccessToken>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add client authentication: `client_id`/`client_secret` in the body
    /// (`client_secret_post`), or HTTP Basic with the id and secret each
    /// form-urlencoded first (`client_secret_basic`, RFC 6749 §2.3.1: a DID's
    /// colons must not reach the `id:secret` split).
    fn authenticated(&self, mut form: FormBody, path: &str) -> Request {
        match self.auth {
            TokenAuth::Post => {
                form.push("client_id", &self.client_id);
                form.push("client_secret", self.client_secret.expose());
                form.into_request(path)
            }
            TokenAuth::Basic => {
                let mut pair = format!(
                    "{}:{}",
                    form_urlencode(&self.client_id),
                    form_urlencode(self.client_secret.expose())
                );
                let header = SecretString::new(format!(
                    "Basic {}",
                    crate::util::base64::encode(pair.as_bytes())
                ));
                zeroize_string(&mut pair);
                form.into_request(path)
                    .secret_header("Authorization", header)
            }
        }
    }
}
