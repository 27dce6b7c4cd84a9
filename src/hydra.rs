//! Ory Hydra: the admin API for the agent's OAuth2 client (`HydraAdmin`)
//! and the public token endpoint ([`TokenClient`]).
//!
//! The agent is registered as an OAuth2 client whose `client_id` is its
//! DID, with the body the Python agent framework sends
//! (`registration_body`). Everything here is one HTTP call per method;
//! the startup decisions (reuse, create, update keeping the secret,
//! converge after a lost race) belong to [`crate::bootstrap`].
//!
//! Errors keep Hydra's own words: both of its error shapes are read
//! (`error`/`error_description` and `message`/`reason`, see
//! `parse_error`). 401 and 403 are `Error::PermissionDenied`; a client
//! that already exists on create is `CreateOutcome::Conflict`, not an
//! error. Client secrets and access tokens are [`SecretString`](crate::SecretString)s: they are
//! never logged, shown by `Debug`, or put in an error.
//!
//! The parsers `parse_client`, `parse_token_response`,
//! `parse_introspection` and `parse_error` take untrusted bytes and never
//! panic.
//!
//! ```no_run
//! # fn main() -> vaultid::Result<()> {
//! use vaultid::hydra::TokenClient;
//! use vaultid::SecretString;
//! let config = vaultid::Config::from_env()?;
//! let hydra = config.hydra.as_ref().expect("HYDRA__ADMIN_URL is set");
//! let tokens = TokenClient::new(hydra, "did:bindu:alice:bot:0000", SecretString::new("..."))?;
//! let token = tokens.token()?; // cached until shortly before it expires
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

pub(crate) mod admin;
pub(crate) mod model;
mod token;
pub(crate) mod wire;

use std::time::Duration;

pub use token::{AccessToken, Introspection, TokenClient};
#[allow(unused_imports)]
pub(crate) use {admin::*, model::*, token::*, wire::*};

/// The grant types the agent's client is registered with.
pub(crate) const AGENT_GRANT_TYPES: [&str; 3] =
    ["client_credentials", "authorization_code", "refresh_token"];
/// The response types the agent's client is registered with.
pub(crate) const AGENT_RESPONSE_TYPES: [&str; 2] = ["code", "token"];
/// The token endpoint authentication method the agent's client is registered with.
pub(crate) const AGENT_TOKEN_AUTH_METHOD: &str = "client_secret_post";
/// A cached token is renewed this long before it expires, or 10 % of its
/// lifetime when that is shorter.
pub(crate) const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Longest server message kept in an error, in characters.
pub(crate) const MAX_MESSAGE: usize = 500;

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use crate::{Error, SecretString};

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
        // The round trip through a decoder is checked against the Hydra
        // test double's (tests/it/hydra_double/codec.rs).
        assert_eq!(form_urlencode("did:x"), "did%3Ax");
        assert_eq!(form_urlencode(" a  b "), "+a++b+");
        assert_eq!(form_urlencode(""), "");
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
}
