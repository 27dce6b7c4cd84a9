//! Authentication: the token itself (`auth/token/*-self`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Client;
use crate::error::{Error, Result, Service};
use crate::secret_string::{zeroize_string, SecretString};

/// What Vault says about the current token (`auth/token/lookup-self`).
/// The token itself is not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}
