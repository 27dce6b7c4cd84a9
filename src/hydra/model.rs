//! The OAuth2 client model and the agent's registration body.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::secret_string::{zeroize_string, SecretString};

use super::*;

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
    /// create, on a PUT that sets one); `None` otherwise. On a PUT, `None`
    /// keeps the current secret.
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

pub(super) fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub(super) fn ser_secret<S: Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

pub(super) fn de_secret<'de, D: Deserializer<'de>>(
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
    #[cfg(feature = "fuzzing")]
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
pub(crate) fn registration_body_at(
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
