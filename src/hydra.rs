//! Ory Hydra: the admin API for the agent's OAuth2 client ([`HydraAdmin`])
//! and the public token endpoint ([`TokenClient`]).
//!
//! The agent is registered as an OAuth2 client whose `client_id` is its
//! DID, with the body the Python agent framework sends
//! ([`registration_body`]). Everything here is one HTTP call per method;
//! the startup decisions (reuse, create, update keeping the secret,
//! converge after a lost race) belong to [`crate::bootstrap`].
//!
//! Errors keep Hydra's own words: both of its error shapes are read
//! (`error`/`error_description` and `message`/`reason`, see
//! [`parse_error`]). 401 and 403 are [`Error::PermissionDenied`]; a client
//! that already exists on create is [`CreateOutcome::Conflict`], not an
//! error. Client secrets and access tokens are [`SecretString`]s: they are
//! never logged, shown by `Debug`, or put in an error.
//!
//! The parsers [`parse_client`], [`parse_clients`], [`parse_token_response`],
//! [`parse_introspection`], [`parse_error`] and [`next_page_token`] take
//! untrusted bytes and never panic.
//!
//! ```no_run
//! # fn main() -> vaultid::Result<()> {
//! use vaultid::hydra::{HydraAdmin, TokenClient};
//! use vaultid::SecretString;
//! let config = vaultid::Config::from_env()?;
//! let hydra = config.hydra.as_ref().expect("HYDRA__ADMIN_URL is set");
//! let admin = HydraAdmin::new(hydra)?;
//! if let Some(client) = admin.get_client("did:bindu:alice:bot:0000")? {
//!     println!("registered as {}", client.client_name);
//! }
//! let tokens = TokenClient::new(hydra, "did:bindu:alice:bot:0000", SecretString::new("..."))?;
//! let token = tokens.token()?; // cached until shortly before it expires
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::config::{HydraConfig, TlsConfig, TokenAuth};
use crate::error::{Error, Result, Service};
use crate::http::{HttpClient, HttpConfig, Request, Response};
use crate::secret_string::{zeroize_string, SecretString};

/// The grant types the agent's client is registered with.
pub const AGENT_GRANT_TYPES: [&str; 3] =
    ["client_credentials", "authorization_code", "refresh_token"];
/// The response types the agent's client is registered with.
pub const AGENT_RESPONSE_TYPES: [&str; 2] = ["code", "token"];
/// The token endpoint authentication method the agent's client is registered with.
pub const AGENT_TOKEN_AUTH_METHOD: &str = "client_secret_post";
/// The page size [`HydraAdmin::list_clients`] asks for.
pub const DEFAULT_PAGE_SIZE: u32 = 250;
/// A cached token is renewed this long before it expires, or 10 % of its
/// lifetime when that is shorter.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Longest server message kept in an error, in characters.
const MAX_MESSAGE: usize = 500;

// ---------------------------------------------------------------------------
// The client model

/// An OAuth2 client as Hydra's admin API reads and writes it (`oAuth2Client`
/// in Hydra's OpenAPI document).
///
/// The fields vaultid uses are typed; every other field Hydra sends is kept
/// in [`OAuthClient::extra`] so that a client read with
/// [`HydraAdmin::get_client`] can be written back with
/// [`HydraAdmin::replace_client`] without losing anything. Lists that Hydra
/// writes as `null` read as empty. `Debug` never shows the secret, and
/// shows only the names of the [`OAuthClient::extra`] fields (Hydra puts a
/// `registration_access_token` there on create).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// The client id; for an agent, its DID.
    #[serde(default, deserialize_with = "null_default")]
    pub client_id: String,
    /// The secret. Hydra returns it only when it was set or generated (on
    /// create, on a PUT that sets one, on rotation); `None` otherwise. On a
    /// PUT, `None` keeps the current secret.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_secret",
        deserialize_with = "de_secret"
    )]
    pub client_secret: Option<SecretString>,
    /// Human-readable name; for an agent, its name.
    #[serde(default, deserialize_with = "null_default")]
    pub client_name: String,
    /// Allowed grant types.
    #[serde(default, deserialize_with = "null_default")]
    pub grant_types: Vec<String>,
    /// Allowed response types.
    #[serde(default, deserialize_with = "null_default")]
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    #[serde(default, deserialize_with = "null_default")]
    pub scope: String,
    /// `client_secret_post`, `client_secret_basic`, ... (empty: Hydra's
    /// default, `client_secret_basic`).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub token_endpoint_auth_method: String,
    /// Free-form metadata; for an agent, its DID and public key.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
    /// Owner (empty when unset).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub owner: String,
    /// When Hydra created the client (RFC 3339), as Hydra reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When Hydra last changed the client (RFC 3339), as Hydra reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Every other field, as Hydra sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn ser_secret<S: Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<SecretString>, D::Error> {
    let mut raw: Option<String> = Option::deserialize(d)?;
    let out = raw
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(SecretString::new);
    if let Some(s) = raw.as_mut() {
        zeroize_string(s);
    }
    Ok(out)
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_name", &self.client_name)
            .field("grant_types", &self.grant_types)
            .field("response_types", &self.response_types)
            .field("scope", &self.scope)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("metadata", &self.metadata)
            .field("owner", &self.owner)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OAuthClient {
    /// The public key (base58) recorded in the metadata, if any.
    pub fn metadata_public_key(&self) -> Option<&str> {
        self.metadata.get("public_key").and_then(Value::as_str)
    }

    /// The scopes as a list.
    pub fn scopes(&self) -> Vec<String> {
        self.scope.split_whitespace().map(str::to_string).collect()
    }

    /// The client as the JSON body of a create or replace request.
    pub fn to_json(&self) -> Value {
        // Serialising this struct cannot fail: all map keys are strings.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Who is being registered: the parts of [`registration_body`] that come
/// from the agent's identity.
#[derive(Debug, Clone, Copy)]
pub struct AgentRegistration<'a> {
    /// The agent id (UUID).
    pub agent_id: &'a str,
    /// The DID; becomes the client id.
    pub did: &'a str,
    /// The agent's name; becomes the client name.
    pub agent_name: &'a str,
    /// The Ed25519 public key, base58.
    pub public_key_base58: &'a str,
    /// The agent's URL, recorded in the metadata (`null` when unknown).
    pub agent_url: Option<&'a str>,
}

/// The client the Python agent framework registers for an agent, with
/// `registered_at` set to now (`datetime.now(timezone.utc).isoformat()`).
///
/// `client_id` = the DID, `client_name` = the agent name, grant types
/// [`AGENT_GRANT_TYPES`], response types [`AGENT_RESPONSE_TYPES`], `scope` =
/// the scopes joined by spaces, `token_endpoint_auth_method`
/// `client_secret_post`, and `metadata` = `agent_id`, `agent_url`, `did`,
/// `public_key` (base58), `key_type` `Ed25519`, `verification_method`
/// `Ed25519VerificationKey2020`, `registered_at`, `hybrid_auth` true.
pub fn registration_body(
    agent: &AgentRegistration<'_>,
    secret: &SecretString,
    scopes: &[String],
) -> OAuthClient {
    registration_body_at(agent, secret, scopes, &crate::identity::did::now_iso8601())
}

/// [`registration_body`] with a given `registered_at` timestamp.
pub fn registration_body_at(
    agent: &AgentRegistration<'_>,
    secret: &SecretString,
    scopes: &[String],
    registered_at: &str,
) -> OAuthClient {
    OAuthClient {
        client_id: agent.did.to_string(),
        client_secret: Some(secret.clone()),
        client_name: agent.agent_name.to_string(),
        grant_types: AGENT_GRANT_TYPES.iter().map(|s| s.to_string()).collect(),
        response_types: AGENT_RESPONSE_TYPES.iter().map(|s| s.to_string()).collect(),
        scope: scopes.join(" "),
        token_endpoint_auth_method: AGENT_TOKEN_AUTH_METHOD.to_string(),
        metadata: json!({
            "agent_id": agent.agent_id,
            "agent_url": agent.agent_url,
            "did": agent.did,
            "public_key": agent.public_key_base58,
            "key_type": "Ed25519",
            "verification_method": "Ed25519VerificationKey2020",
            "registered_at": registered_at,
            "hybrid_auth": true,
        }),
        ..OAuthClient::default()
    }
}

/// One RFC 6902 JSON Patch operation for [`HydraAdmin::patch_client`].
/// Hydra accepts `add`, `remove` and `replace`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    /// `add`, `remove` or `replace`.
    pub op: String,
    /// A JSON Pointer, e.g. `/metadata/public_key`.
    pub path: String,
    /// The value, for `add` and `replace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// `add` `value` at `path`.
    pub fn add(path: &str, value: Value) -> PatchOp {
        PatchOp {
            op: "add".into(),
            path: path.into(),
            value: Some(value),
        }
    }

    /// `replace` the value at `path` (Hydra adds it when missing).
    pub fn replace(path: &str, value: Value) -> PatchOp {
        PatchOp {
            op: "replace".into(),
            path: path.into(),
            value: Some(value),
        }
    }

    /// `remove` the value at `path`.
    pub fn remove(path: &str) -> PatchOp {
        PatchOp {
            op: "remove".into(),
            path: path.into(),
            value: None,
        }
    }
}

/// What [`HydraAdmin::create_client`] ended with.
#[derive(Debug)]
pub enum CreateOutcome {
    /// Hydra created the client (201); the answer echoes the secret.
    Created(Box<OAuthClient>),
    /// A client with this id already exists (409): another replica won the
    /// race, or an earlier run registered it. Nothing was changed.
    Conflict {
        /// Hydra's own words.
        errors: Vec<String>,
    },
}

/// One page of [`HydraAdmin::list_page`].
#[derive(Debug, Clone)]
pub struct ClientPage {
    /// The clients on this page (Hydra never includes secrets).
    pub clients: Vec<OAuthClient>,
    /// The token for the next page, from the `Link` header's `rel="next"`;
    /// `None` on the last page.
    pub next_page_token: Option<String>,
}

// ---------------------------------------------------------------------------
// The admin API

/// Hydra's admin API for OAuth2 clients (`{admin_url}/admin/...`).
#[derive(Debug)]
pub struct HydraAdmin {
    http: HttpClient,
}

fn http_config(config: &HydraConfig, base_url: &str) -> HttpConfig {
    let mut c = HttpConfig::new(Service::Hydra, base_url);
    c.timeout = config.timeout;
    c.connect_timeout = c.connect_timeout.min(config.timeout);
    c.max_retries = config.max_retries;
    c.tls = TlsConfig {
        skip_verify: !config.verify_ssl,
        ..TlsConfig::default()
    };
    c.default_headers = vec![("Accept".into(), "application/json".into())];
    c
}

impl HydraAdmin {
    /// A client for `config.admin_url`, with its timeout, retries and TLS
    /// verification setting.
    pub fn new(config: &HydraConfig) -> Result<HydraAdmin> {
        Ok(HydraAdmin {
            http: HttpClient::new(&http_config(config, &config.admin_url))?,
        })
    }

    /// A client over a ready [`HttpClient`] whose base URL is Hydra's admin URL.
    pub fn from_http(http: HttpClient) -> HydraAdmin {
        HydraAdmin { http }
    }

    /// The admin base URL.
    pub fn base_url(&self) -> &str {
        self.http.base_url()
    }

    /// `POST /admin/clients`. A 409 (the id exists) is
    /// [`CreateOutcome::Conflict`]; other failures are errors (a secret
    /// shorter than 6 characters is a 400 [`Error::Http`]).
    pub fn create_client(&self, client: &OAuthClient) -> Result<CreateOutcome> {
        let req = Request::new("POST", "/admin/clients").json(&client.to_json());
        let resp = self.http.request(req)?;
        if resp.status == 409 {
            log::debug!("Hydra: client {:?} already exists", client.client_id);
            return Ok(CreateOutcome::Conflict {
                errors: parse_error(&resp.body),
            });
        }
        let resp = check(resp, "POST", "/admin/clients")?;
        let client = parse_client(&resp.body).map_err(|e| context(e, "POST /admin/clients"))?;
        Ok(CreateOutcome::Created(Box::new(client)))
    }

    /// `GET /admin/clients/{id}`; `Ok(None)` when there is no such client.
    pub fn get_client(&self, client_id: &str) -> Result<Option<OAuthClient>> {
        let path = client_path(client_id);
        let resp = self.http.request(Request::get(&path))?;
        if resp.status == 404 {
            return Ok(None);
        }
        let resp = check(resp, "GET", &path)?;
        let client = parse_client(&resp.body).map_err(|e| context(e, &format!("GET {path}")))?;
        Ok(Some(client))
    }

    /// `PUT /admin/clients/{id}`: replace the client with `client`. When
    /// `client.client_secret` is `None` Hydra keeps the current secret;
    /// when set, it replaces it (and clears rotated secrets). A missing
    /// client is [`Error::NotFound`].
    pub fn replace_client(&self, client_id: &str, client: &OAuthClient) -> Result<OAuthClient> {
        let path = client_path(client_id);
        let mut body = client.to_json();
        if let Some(m) = body.as_object_mut() {
            m.insert("client_id".into(), Value::String(client_id.to_string()));
        }
        let resp = self.http.request(Request::new("PUT", &path).json(&body))?;
        let resp = check(resp, "PUT", &path)?;
        parse_client(&resp.body).map_err(|e| context(e, &format!("PUT {path}")))
    }

    /// `PATCH /admin/clients/{id}` with a JSON Patch. A missing client is
    /// [`Error::NotFound`].
    pub fn patch_client(&self, client_id: &str, ops: &[PatchOp]) -> Result<OAuthClient> {
        let path = client_path(client_id);
        let body = serde_json::to_value(ops).unwrap_or(Value::Array(Vec::new()));
        let resp = self
            .http
            .request(Request::new("PATCH", &path).json(&body))?;
        let resp = check(resp, "PATCH", &path)?;
        parse_client(&resp.body).map_err(|e| context(e, &format!("PATCH {path}")))
    }

    /// `DELETE /admin/clients/{id}`. `Ok(true)` when it was deleted,
    /// `Ok(false)` when there was no such client.
    pub fn delete_client(&self, client_id: &str) -> Result<bool> {
        let path = client_path(client_id);
        let resp = self.http.request(Request::new("DELETE", &path))?;
        if resp.status == 404 {
            return Ok(false);
        }
        check(resp, "DELETE", &path)?;
        Ok(true)
    }

    /// `POST /admin/clients/{id}/secrets/rotate`: Hydra generates a new
    /// secret and returns it in the answer; the old one stays valid (up to
    /// five are kept) until [`HydraAdmin::delete_rotated_secrets`].
    pub fn rotate_secret(&self, client_id: &str) -> Result<OAuthClient> {
        let path = format!("{}/secrets/rotate", client_path(client_id));
        let resp = self.http.request(Request::new("POST", &path))?;
        let resp = check(resp, "POST", &path)?;
        parse_client(&resp.body).map_err(|e| context(e, &format!("POST {path}")))
    }

    /// `DELETE /admin/clients/{id}/secrets/rotate`: forget the rotated-out
    /// secrets, leaving only the current one valid.
    pub fn delete_rotated_secrets(&self, client_id: &str) -> Result<OAuthClient> {
        let path = format!("{}/secrets/rotate", client_path(client_id));
        let resp = self.http.request(Request::new("DELETE", &path))?;
        let resp = check(resp, "DELETE", &path)?;
        parse_client(&resp.body).map_err(|e| context(e, &format!("DELETE {path}")))
    }

    /// One page of `GET /admin/clients` (`page_size` 1..=1000; `page_token`
    /// from the previous page's [`ClientPage::next_page_token`]).
    pub fn list_page(&self, page_size: u32, page_token: Option<&str>) -> Result<ClientPage> {
        let mut path = format!("/admin/clients?page_size={}", page_size.clamp(1, 1000));
        if let Some(t) = page_token {
            path.push_str("&page_token=");
            path.push_str(&form_urlencode(t));
        }
        let resp = self.http.request(Request::get(&path))?;
        let resp = check(resp, "GET", "/admin/clients")?;
        let clients = parse_clients(&resp.body).map_err(|e| context(e, "GET /admin/clients"))?;
        let next_page_token = resp.header("link").and_then(next_page_token);
        Ok(ClientPage {
            clients,
            next_page_token,
        })
    }

    /// Every client, following the `Link` header page by page. Stops at the
    /// last page (no `rel="next"`), at an empty page, or when a page token
    /// repeats (a server that would loop forever).
    pub fn list_clients(&self, page_size: u32) -> Result<Vec<OAuthClient>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self.list_page(page_size, token.as_deref())?;
            if page.clients.is_empty() {
                break;
            }
            all.extend(page.clients);
            match page.next_page_token {
                Some(next) if seen.insert(next.clone()) => token = Some(next),
                _ => break,
            }
        }
        Ok(all)
    }

    /// `POST /admin/oauth2/introspect`: is `token` active, and for whom.
    /// `scope`, when given, must all be granted to the token or Hydra
    /// reports it inactive.
    pub fn introspect(&self, token: &SecretString, scope: Option<&str>) -> Result<Introspection> {
        let path = "/admin/oauth2/introspect";
        let mut form = FormBody::new();
        form.push("token", token.expose());
        if let Some(s) = scope {
            form.push("scope", s);
        }
        let resp = self.http.request(form.into_request(path))?;
        let resp = check(resp, "POST", path)?;
        parse_introspection(&resp.body).map_err(|e| context(e, &format!("POST {path}")))
    }
}

/// `/admin/clients/{id}` with the id percent-encoded as one path segment.
fn client_path(client_id: &str) -> String {
    format!("/admin/clients/{}", encode_path_segment(client_id))
}

/// Turn a non-2xx response into the crate's error, keeping Hydra's words.
fn check(resp: Response, method: &str, path: &str) -> Result<Response> {
    if resp.is_success() {
        return Ok(resp);
    }
    let errors = parse_error(&resp.body);
    let (method, path) = (method.to_string(), strip_query(path).to_string());
    Err(match resp.status {
        401 | 403 => Error::PermissionDenied {
            service: Service::Hydra,
            method,
            path,
            status: resp.status,
            errors,
        },
        404 => Error::NotFound {
            service: Service::Hydra,
            method,
            path,
        },
        status => Error::Http {
            service: Service::Hydra,
            method,
            path,
            status,
            errors,
        },
    })
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn context(e: Error, what: &str) -> Error {
    match e {
        Error::Protocol { service, detail } => Error::Protocol {
            service,
            detail: format!("{detail} (in the answer to {what})"),
        },
        other => other,
    }
}

fn protocol(detail: impl Into<String>) -> Error {
    Error::Protocol {
        service: Service::Hydra,
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------------------
// The token endpoint

/// An access token from the token endpoint. `Debug` hides the token.
#[derive(Debug, Clone)]
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

    /// When a cache should stop handing it out: [`TOKEN_REFRESH_MARGIN`]
    /// before it expires, or 10 % of its lifetime before when that is
    /// shorter. `None` when the lifetime is unknown (not cacheable).
    pub fn refresh_at(&self) -> Option<Instant> {
        let life = Duration::from_secs(self.expires_in?);
        let margin = TOKEN_REFRESH_MARGIN.min(life / 10);
        self.received_at.checked_add(life - margin)
    }

    /// `true` while a cache may still hand it out.
    pub fn is_fresh(&self) -> bool {
        self.refresh_at().is_some_and(|t| Instant::now() < t)
    }
}

/// What `POST /admin/oauth2/introspect` says about a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    pub fn from_http(
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
        }
    }

    /// Request these scopes (none: the `scope` parameter is left out).
    pub fn with_scopes(mut self, scopes: Vec<String>) -> TokenClient {
        self.scopes = scopes;
        self
    }

    /// Use this admin client for [`TokenClient::introspect`].
    pub fn with_admin(mut self, admin: HydraAdmin) -> TokenClient {
        self.admin = Some(admin);
        self
    }

    /// The client id tokens are requested for.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A token: the cached one while it is fresh ([`AccessToken::is_fresh`]),
    /// else a new one from the token endpoint.
    pub fn token(&self) -> Result<AccessToken> {
        if let Some(t) = self.lock_cache().as_ref().filter(|t| t.is_fresh()) {
            return Ok(t.clone());
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
        Ok(token)
    }

    /// Forget the cached token.
    pub fn invalidate(&self) {
        *self.lock_cache() = None;
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
        }
        Ok(())
    }

    /// Introspect `token` through the admin API (see [`HydraAdmin::introspect`]).
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
                    crate::identity::base64::encode(pair.as_bytes())
                ));
                zeroize_string(&mut pair);
                form.into_request(path)
                    .secret_header("Authorization", header)
            }
        }
    }
}

/// An `application/x-www-form-urlencoded` body that is zeroed when dropped.
struct FormBody(String);

impl FormBody {
    fn new() -> FormBody {
        FormBody(String::new())
    }

    fn push(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(&form_urlencode(key));
        self.0.push('=');
        let mut v = form_urlencode(value);
        self.0.push_str(&v);
        zeroize_string(&mut v);
    }

    fn into_request(mut self, path: &str) -> Request {
        let body = std::mem::take(&mut self.0).into_bytes();
        Request::new("POST", path).body(body, "application/x-www-form-urlencoded")
    }
}

impl Drop for FormBody {
    fn drop(&mut self) {
        zeroize_string(&mut self.0);
    }
}

// ---------------------------------------------------------------------------
// Encoders

/// Percent-encode `s` as one URL path segment: everything but RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so a DID's
/// `:` becomes `%3A` and a `/` cannot split the segment.
///
/// ```
/// use vaultid::hydra::encode_path_segment;
/// assert_eq!(encode_path_segment("did:bindu:a_b:x"), "did%3Abindu%3Aa_b%3Ax");
/// ```
pub fn encode_path_segment(s: &str) -> String {
    percent_encode(s, false)
}

/// `application/x-www-form-urlencoded` encoding of one name or value:
/// like [`encode_path_segment`], with a space as `+`.
///
/// ```
/// use vaultid::hydra::form_urlencode;
/// assert_eq!(form_urlencode("a b+c:d"), "a+b%2Bc%3Ad");
/// ```
pub fn form_urlencode(s: &str) -> String {
    percent_encode(s, true)
}

fn percent_encode(s: &str, space_as_plus: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[(b >> 4) as usize]));
            out.push(char::from(HEX[(b & 15) as usize]));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsers (fuzzed: they never panic)

/// Parse one client (`oAuth2Client`). Fails with [`Error::Protocol`] when
/// the bytes are not a JSON object of the right shape or the client id is
/// missing.
pub fn parse_client(body: &[u8]) -> Result<OAuthClient> {
    let c: OAuthClient =
        serde_json::from_slice(body).map_err(|e| protocol(format!("not an OAuth2 client: {e}")))?;
    if c.client_id.is_empty() {
        return Err(protocol("OAuth2 client without a client_id"));
    }
    Ok(c)
}

/// Parse a list of clients (the body of `GET /admin/clients`).
pub fn parse_clients(body: &[u8]) -> Result<Vec<OAuthClient>> {
    let list: Vec<OAuthClient> = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("not a list of OAuth2 clients: {e}")))?;
    Ok(list)
}

/// Parse a token endpoint answer: `access_token` (required, non-empty),
/// `token_type` (required), `expires_in` (seconds; a non-negative integer,
/// or a string of one), `scope`.
pub fn parse_token_response(body: &[u8]) -> Result<AccessToken> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("token response is not JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| protocol("token response is not a JSON object"))?;
    let access_token = match obj.remove("access_token") {
        Some(Value::String(mut s)) if !s.is_empty() => {
            let t = SecretString::new(s.as_str());
            zeroize_string(&mut s);
            t
        }
        Some(Value::String(_)) => return Err(protocol("token response has an empty access_token")),
        _ => return Err(protocol("token response has no access_token string")),
    };
    let token_type = match obj.get("token_type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(protocol("token response has no token_type")),
    };
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s) => Some(s),
            None if n.as_i64().is_some() => Some(0),
            None => return Err(protocol("token response expires_in is not an integer")),
        },
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| protocol("token response expires_in is not an integer"))?,
        ),
        Some(_) => return Err(protocol("token response expires_in is not an integer")),
    };
    let scope = match obj.get("scope") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Ok(AccessToken {
        access_token,
        token_type,
        expires_in,
        scope,
        received_at: Instant::now(),
    })
}

/// Parse an introspection answer (`introspectedOAuth2Token`); `active` is required.
pub fn parse_introspection(body: &[u8]) -> Result<Introspection> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("introspection is not JSON: {e}")))?;
    let active = v
        .get("active")
        .and_then(Value::as_bool)
        .ok_or_else(|| protocol("introspection has no boolean 'active'"))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| v.get(k).and_then(Value::as_i64);
    Ok(Introspection {
        active,
        client_id: s("client_id"),
        sub: s("sub"),
        scope: s("scope"),
        exp: n("exp"),
        iat: n("iat"),
        token_use: s("token_use"),
    })
}

/// The messages in a Hydra error body, in Hydra's words. Reads both shapes
/// Hydra uses: `{"error": "...", "error_description": "...", "error_hint":
/// "..."}` (`errorOAuth2`) and `{"message": "...", "reason": "..."}`
/// (`genericError`, also nested as `{"error": {...}}`). A body that is
/// neither gives its first line of text; an empty body gives nothing.
/// Each message is cut to 500 characters.
pub fn parse_error(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => collect_error(&v, &mut out, 0),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            if let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) {
                out.push(line.to_string());
            }
        }
    }
    out.into_iter().map(|m| truncate(&m)).collect()
}

fn collect_error(v: &Value, out: &mut Vec<String>, depth: u32) {
    let Some(obj) = v.as_object() else {
        if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
            out.push(s.to_string());
        }
        return;
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match obj.get("error") {
        Some(Value::String(e)) => {
            let mut m = e.clone();
            if let Some(d) = s("error_description") {
                m.push_str(": ");
                m.push_str(d);
            }
            if let Some(h) = s("error_hint").filter(|h| !m.contains(h)) {
                m.push_str(" (");
                m.push_str(h);
                m.push(')');
            }
            out.push(m);
            return;
        }
        Some(inner @ Value::Object(_)) if depth < 4 => {
            collect_error(inner, out, depth + 1);
            return;
        }
        _ => {}
    }
    if let Some(msg) = s("message") {
        let mut m = msg.to_string();
        if let Some(r) = s("reason") {
            m.push_str(": ");
            m.push_str(r);
        }
        out.push(m);
    } else if let Some(r) = s("reason") {
        out.push(r.to_string());
    }
}

fn truncate(m: &str) -> String {
    if m.chars().count() <= MAX_MESSAGE {
        m.to_string()
    } else {
        let mut t: String = m.chars().take(MAX_MESSAGE).collect();
        t.push('…');
        t
    }
}

/// The `page_token` of the `rel="next"` link in a `Link` header, as Hydra's
/// keyset pagination writes it:
/// `</admin/clients?page_size=2&page_token=a>; rel="first",</admin/clients?page_size=2&page_token=b>; rel="next"`.
/// `None` when there is no next link (the last page).
///
/// ```
/// use vaultid::hydra::next_page_token;
/// let link = r#"</admin/clients?page_size=2&page_token=a>; rel="first",</admin/clients?page_size=2&page_token=b%3D>; rel="next""#;
/// assert_eq!(next_page_token(link).as_deref(), Some("b="));
/// ```
pub fn next_page_token(link: &str) -> Option<String> {
    for part in split_links(link) {
        let Some((target, params)) = part.split_once(';') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=").is_some_and(|r| {
                r.trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if !is_next {
            continue;
        }
        let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let query = url.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or(query);
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("page_token=") {
                return form_urldecode(v).filter(|t| !t.is_empty());
            }
        }
        return None;
    }
    None
}

/// Split a `Link` header at the commas between links (not inside `<...>`
/// or quotes).
fn split_links(link: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_angle, mut in_quote) = (0, false, false);
    for (i, c) in link.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                parts.push(&link[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&link[start..]);
    parts
}

/// Decode `application/x-www-form-urlencoded` (`+` is a space); `None` on a
/// bad escape or invalid UTF-8.
fn form_urldecode(s: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {

    /// Found by fuzzing: a lifetime of u64::MAX seconds overflowed Instant.
    #[test]
    fn huge_token_lifetime_is_not_a_panic() {
        let t = parse_token_response(
            br#"{"access_token":"x","token_type":"bearer","expires_in":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(t.expires_at(), None);
        assert_eq!(t.refresh_at(), None);
        assert!(!t.is_fresh());
    }

    use super::*;

    #[test]
    fn path_segment_encoding() {
        assert_eq!(
            encode_path_segment("did:bindu:user_at_example_com:my-agent:fabb74f0"),
            "did%3Abindu%3Auser_at_example_com%3Amy-agent%3Afabb74f0"
        );
        assert_eq!(encode_path_segment("a/b c%"), "a%2Fb%20c%25");
        assert_eq!(encode_path_segment("é"), "%C3%A9");
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_urlencode("did:x"), "did%3Ax");
        assert_eq!(form_urlencode(" a  b "), "+a++b+");
        assert_eq!(form_urlencode(""), "");
        for s in ["did:x y", "+%&=", " ", "ü"] {
            assert_eq!(form_urldecode(&form_urlencode(s)).as_deref(), Some(s));
        }
    }

    #[test]
    fn both_error_shapes() {
        assert_eq!(
            parse_error(br#"{"error":"Unable to locate the resource","error_description":""}"#),
            vec!["Unable to locate the resource"]
        );
        assert_eq!(
            parse_error(br#"{"error":"invalid_scope","error_description":"The requested scope is invalid.","error_hint":"x"}"#),
            vec!["invalid_scope: The requested scope is invalid. (x)"]
        );
        assert_eq!(
            parse_error(
                br#"{"message":"The resource could not be found","reason":"no client","code":404}"#
            ),
            vec!["The resource could not be found: no client"]
        );
        assert_eq!(
            parse_error(br#"{"error":{"code":409,"message":"conflict","reason":"exists"}}"#),
            vec!["conflict: exists"]
        );
        assert_eq!(
            parse_error(b"404 page not found\n"),
            vec!["404 page not found"]
        );
        assert!(parse_error(b"").is_empty());
        assert!(parse_error(b"[1,2]").is_empty());
        assert_eq!(
            parse_error(&[b'x'; 2000])[0].chars().count(),
            MAX_MESSAGE + 1
        );
    }

    #[test]
    fn token_responses() {
        let t = parse_token_response(
            br#"{"access_token":"ory_at_x","expires_in":3599,"scope":"a b","token_type":"bearer"}"#,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "ory_at_x");
        assert_eq!(t.expires_in, Some(3599));
        assert!(!format!("{t:?}").contains("ory_at_x"));
        assert!(t.is_fresh());
        let t = parse_token_response(
            br#"{"access_token":"x","token_type":"bearer","expires_in":"60"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(60));
        let t =
            parse_token_response(br#"{"access_token":"x","token_type":"bearer","expires_in":-5}"#)
                .unwrap();
        assert!(!t.is_fresh());
        for bad in [
            &br#"{"token_type":"bearer"}"#[..],
            br#"{"access_token":"","token_type":"bearer"}"#,
            br#"{"access_token":"x"}"#,
            br#"{"access_token":"x","token_type":"bearer","expires_in":1.5}"#,
            br#"[]"#,
            b"\xff",
        ] {
            let e = parse_token_response(bad).unwrap_err();
            assert!(matches!(e, Error::Protocol { .. }), "{e}");
        }
    }

    #[test]
    fn refresh_margin() {
        let mk = |s| AccessToken {
            access_token: SecretString::new("t"),
            token_type: "bearer".into(),
            expires_in: Some(s),
            scope: String::new(),
            received_at: Instant::now(),
        };
        let t = mk(3600);
        assert_eq!(
            t.refresh_at().unwrap() - t.received_at,
            Duration::from_secs(3570)
        );
        let t = mk(60);
        assert_eq!(
            t.refresh_at().unwrap() - t.received_at,
            Duration::from_secs(54)
        );
        let t = mk(0);
        assert!(!t.is_fresh());
    }

    #[test]
    fn clients_parse_with_nulls_and_keep_unknown_fields() {
        let c = parse_client(
            br#"{"client_id":"did:x","client_name":"","grant_types":null,"response_types":null,
                "scope":"openid","metadata":{"public_key":"abc"},"skip_logout_consent":null,
                "client_secret":"","jwks":{},"created_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert!(c.grant_types.is_empty());
        assert!(c.client_secret.is_none(), "an empty secret is no secret");
        assert_eq!(c.metadata_public_key(), Some("abc"));
        assert_eq!(c.extra["jwks"], json!({}));
        let back = c.to_json();
        assert_eq!(back["jwks"], json!({}));
        assert!(back.get("client_secret").is_none());
        assert!(parse_client(br#"{"client_name":"x"}"#).is_err());
        assert!(parse_client(br#"{"client_id":"x","grant_types":"client_credentials"}"#).is_err());
        assert!(parse_client(b"null").is_err());
        assert!(parse_clients(b"[]").unwrap().is_empty());
    }

    #[test]
    fn registration_matches_the_python_framework() {
        let agent = AgentRegistration {
            agent_id: "fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
            did: "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
            agent_name: "my-agent",
            public_key_base58: "PUB",
            agent_url: None,
        };
        let scopes: Vec<String> = ["openid", "offline", "agent:read", "agent:write"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = registration_body_at(
            &agent,
            &SecretString::new("sekret"),
            &scopes,
            "2024-05-01T12:00:00+00:00",
        );
        assert_eq!(
            c.to_json(),
            json!({
                "client_id": agent.did,
                "client_secret": "sekret",
                "client_name": "my-agent",
                "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
                "response_types": ["code", "token"],
                "scope": "openid offline agent:read agent:write",
                "token_endpoint_auth_method": "client_secret_post",
                "metadata": {
                    "agent_id": agent.agent_id,
                    "agent_url": null,
                    "did": agent.did,
                    "public_key": "PUB",
                    "key_type": "Ed25519",
                    "verification_method": "Ed25519VerificationKey2020",
                    "registered_at": "2024-05-01T12:00:00+00:00",
                    "hybrid_auth": true
                }
            })
        );
        assert!(!format!("{c:?}").contains("sekret"));
        let now = registration_body(&agent, &SecretString::new("s"), &scopes);
        assert!(now.metadata["registered_at"]
            .as_str()
            .unwrap()
            .ends_with("+00:00"));
    }

    #[test]
    fn link_headers() {
        let link = r#"</admin/clients?page_size=3&page_token=pt1.>; rel="first",</admin/clients?page_size=3&page_token=pt1.6332>; rel="next""#;
        assert_eq!(next_page_token(link).as_deref(), Some("pt1.6332"));
        let last = r#"</admin/clients?page_size=3&page_token=pt1.>; rel="first""#;
        assert_eq!(next_page_token(last), None);
        assert_eq!(next_page_token(""), None);
        assert_eq!(next_page_token("<>; rel=next"), None);
        assert_eq!(
            next_page_token(r#"<https://h/x?a=1&page_token=a%2Cb>; rel="next""#).as_deref(),
            Some("a,b")
        );
        assert_eq!(next_page_token(r#"<x?page_token=%zz>; rel="next""#), None);
    }
}
