//! The double's state: stored OAuth2 clients (as Hydra's database keeps
//! them) and issued access tokens, and the client operations on them
//! (create, replace) with Hydra's JSON shapes (`client/handler.go`,
//! `client/client.go`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::codec::{now_rfc3339, percent_encode, random_secret};
use super::routes::{bad_request, error, invalid_metadata, not_found, ok_json, Reply};
use super::server::{Exchange, ISSUER};

/// One client.
pub(super) struct StoredClient {
    /// The client as Hydra's database would return it, without the secret.
    pub(super) doc: Map<String, Value>,
    pub(super) secret: String,
}

/// One issued access token.
pub(super) struct Token {
    pub(super) client_id: String,
    pub(super) scope: String,
    pub(super) iat: u64,
    pub(super) exp: u64,
    pub(super) revoked: bool,
}

/// Everything the double remembers.
pub(super) struct State {
    pub(super) clients: BTreeMap<String, StoredClient>,
    pub(super) tokens: HashMap<String, Token>,
    pub(super) log: Vec<Exchange>,
    pub(super) counts: HashMap<String, u64>,
    pub(super) token_lifespan: Duration,
}

pub(super) const STRING_FIELDS: &[&str] = &[
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
pub(super) const LIST_FIELDS: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "audience",
    "allowed_cors_origins",
    "contacts",
    "request_uris",
    "post_logout_redirect_uris",
];
pub(super) const BOOL_FIELDS: &[&str] = &[
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
pub(super) const OMIT_EMPTY: &[&str] = &[
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
pub(super) fn decode_client(body: &[u8]) -> Result<Map<String, Value>, Reply> {
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

pub(super) fn check_client_types(map: &Map<String, Value>) -> Result<(), String> {
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

pub(super) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The client as Hydra echoes a decoded request body after validation:
/// every field of the snapshots present, defaults filled in, absent lists
/// `null` (Go nil slices) except `audience` and `allowed_cors_origins`.
pub(super) fn canonical(input: &Map<String, Value>) -> Map<String, Value> {
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
pub(super) fn from_db(doc: &Map<String, Value>) -> Map<String, Value> {
    let mut m = doc.clone();
    for f in ["redirect_uris", "grant_types", "response_types", "contacts"] {
        if m.get(f).is_some_and(Value::is_null) {
            m.insert(f.into(), json!([]));
        }
    }
    m
}

pub(super) fn create_client(
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

pub(super) fn set_client(st: &mut State, id: &str, body: &[u8]) -> Reply {
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
        // A new secret replaces the old one.
        stored.secret = new_secret.clone();
        resp.insert("client_secret".into(), json!(new_secret));
    }
    ok_json(200, &Value::Object(resp))
}
