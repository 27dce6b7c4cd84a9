//! `vaultid::hydra` against the Hydra test double. Every exchange of every
//! test is checked against Hydra's OpenAPI document.

use crate::hydra_double;

use std::time::Duration;

use hydra_double::{assert_all_valid, HydraDouble};
use serde_json::json;
use vaultid::config::{HydraConfig, TokenAuth};
use vaultid::fuzzing::hydra::{
    registration_body, AgentRegistration, CreateOutcome, HydraAdmin, OAuthClient,
};
use vaultid::hydra::TokenClient;
use vaultid::{Error, SecretString, Service};

const AGENT_ID: &str = "fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
const DID: &str = "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
const SECRET: &str = "a-long-agent-secret";

fn config(d: &HydraDouble, retries: u32, auth: TokenAuth) -> HydraConfig {
    let mut c = d.config();
    c.max_retries = retries;
    c.scopes = ["openid", "offline", "agent:read", "agent:write"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    c.token_auth = auth;
    c
}

fn admin(d: &HydraDouble) -> HydraAdmin {
    HydraAdmin::new(&config(d, 0, TokenAuth::Post)).unwrap()
}

fn agent(public_key: &str) -> AgentRegistration<'_> {
    AgentRegistration {
        agent_id: AGENT_ID,
        did: DID,
        agent_name: "my-agent",
        public_key_base58: public_key,
        agent_url: Some("http://localhost:3773"),
    }
}

fn register(a: &HydraAdmin, auth_method: &str) -> OAuthClient {
    let cfg_scopes: Vec<String> = ["openid", "offline", "agent:read", "agent:write"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut body = registration_body(&agent("PUBKEY1"), &SecretString::new(SECRET), &cfg_scopes);
    body.token_endpoint_auth_method = auth_method.to_string();
    match a.create_client(&body).unwrap() {
        CreateOutcome::Created(c) => *c,
        CreateOutcome::Conflict { errors } => panic!("conflict: {errors:?}"),
    }
}

#[test]
fn client_lifecycle() {
    let d = HydraDouble::start();
    let a = admin(&d);
    assert!(a.get_client(DID).unwrap().is_none());

    let created = register(&a, "client_secret_post");
    assert_eq!(created.client_id, DID);
    assert_eq!(created.client_secret.as_ref().unwrap().expose(), SECRET);
    assert_eq!(created.metadata_public_key(), Some("PUBKEY1"));
    assert!(created.created_at.is_some());
    // the DID went into the path percent-encoded
    let log = d.exchanges();
    assert_eq!(
        log[0].path,
        format!("/admin/clients/{}", DID.replace(':', "%3A"))
    );
    assert_eq!(
        log[1].request_json().unwrap()["metadata"]["hybrid_auth"],
        true
    );

    let got = a.get_client(DID).unwrap().expect("registered");
    assert!(
        got.client_secret.is_none(),
        "Hydra never returns the secret on GET"
    );
    assert_eq!(
        got.grant_types,
        ["client_credentials", "authorization_code", "refresh_token"]
    );
    assert_eq!(got.scope, "openid offline agent:read agent:write");

    // Replace with a new public key, keeping the secret (no secret sent).
    let mut updated = got.clone();
    updated.metadata["public_key"] = json!("PUBKEY2");
    let replaced = a.replace_client(DID, &updated).unwrap();
    assert!(replaced.client_secret.is_none());
    assert_eq!(replaced.metadata_public_key(), Some("PUBKEY2"));
    assert_eq!(d.client_secret(DID).unwrap(), SECRET, "the secret was kept");
    let put = d.exchanges().pop().unwrap().request_json().unwrap();
    assert!(put.get("client_secret").is_none());
    assert!(
        put.get("skip_consent").is_some(),
        "unknown fields survive a round trip"
    );

    // A client that is not there cannot be replaced.
    let e = a
        .replace_client("did:bindu:x:never-registered", &updated)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                service: Service::Hydra,
                ..
            }
        ),
        "{e}"
    );
    assert_all_valid(&d);
}

#[test]
fn create_conflict_is_an_outcome() {
    let d = HydraDouble::start();
    let a = admin(&d);
    register(&a, "client_secret_post");
    let scopes = vec!["openid".to_string()];
    let body = registration_body(
        &agent("OTHER"),
        &SecretString::new("another-secret"),
        &scopes,
    );
    match a.create_client(&body).unwrap() {
        CreateOutcome::Conflict { errors } => {
            assert!(errors[0].contains("exists already"), "{errors:?}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(d.client_secret(DID).unwrap(), SECRET);
    assert_all_valid(&d);
}

#[test]
fn short_secret_is_refused_with_hydras_words() {
    let d = HydraDouble::start();
    let a = admin(&d);
    let body = registration_body(&agent("K"), &SecretString::new("short"), &[]);
    let e = a.create_client(&body).unwrap_err();
    match &e {
        Error::Http {
            service: Service::Hydra,
            status: 400,
            errors,
            method,
            path,
        } => {
            assert_eq!((*method, path.as_str()), ("POST", "/admin/clients"));
            assert!(
                errors[0].starts_with("invalid_client_metadata: "),
                "{errors:?}"
            );
            assert!(errors[0].contains("at least 6 characters"), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !e.to_string().contains("short\""),
        "the secret is not in the error"
    );
    assert_all_valid(&d);
}

#[test]
fn both_error_shapes_and_status_mapping() {
    let d = HydraDouble::start();
    let a = admin(&d);
    d.fail_next_with(
        1,
        500,
        json!({"message": "The resource could not be found", "reason": "database is down", "code": 500}),
    );
    match a.get_client(DID).unwrap_err() {
        Error::Http {
            status: 500,
            errors,
            ..
        } => {
            assert_eq!(
                errors,
                ["The resource could not be found: database is down"]
            )
        }
        other => panic!("{other:?}"),
    }
    d.fail_next_with(
        1,
        401,
        json!({"error": "request_unauthorized", "error_description": "no token"}),
    );
    match a.get_client(DID).unwrap_err() {
        Error::PermissionDenied {
            status: 401,
            errors,
            service: Service::Hydra,
            ..
        } => {
            assert_eq!(errors, ["request_unauthorized: no token"])
        }
        other => panic!("{other:?}"),
    }
    d.fail_next(1, 403);
    let e = a.replace_client(DID, &OAuthClient::default()).unwrap_err();
    assert!(
        matches!(e, Error::PermissionDenied { status: 403, .. }),
        "{e}"
    );
    assert_eq!(e.exit_code(), 5);
    d.fail_next(1, 503);
    let e = a.get_client(DID).unwrap_err();
    assert!(matches!(e, Error::Http { status: 503, .. }), "{e}");
    assert!(e.is_unavailable());
    assert_all_valid(&d);
}

#[test]
fn retries_ride_out_a_503() {
    let d = HydraDouble::start();
    let a = HydraAdmin::new(&config(&d, 2, TokenAuth::Post)).unwrap();
    d.fail_next(2, 503);
    assert!(a.get_client(DID).unwrap().is_none());
    assert_eq!(d.count("getOAuth2Client"), 3);
    assert_all_valid(&d);
}

#[test]
fn unreachable_hydra() {
    let mut d = HydraDouble::start();
    let a = admin(&d);
    d.set_down(true);
    let e = a.get_client(DID).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unreachable {
                service: Service::Hydra,
                ..
            }
        ),
        "{e}"
    );
    d.shutdown();
    let e = a.get_client(DID).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert_eq!(e.exit_code(), 3);
}

#[test]
fn token_with_client_secret_post_is_cached() {
    let d = HydraDouble::start();
    let cfg = config(&d, 0, TokenAuth::Post);
    register(&HydraAdmin::new(&cfg).unwrap(), "client_secret_post");
    let tc = TokenClient::new(&cfg, DID, SecretString::new(SECRET)).unwrap();
    let t1 = tc.token().unwrap();
    assert_eq!(t1.token_type, "bearer");
    assert_eq!(t1.scope, "openid offline agent:read agent:write");
    assert!(t1.expires_in.unwrap() > 3000);
    let t2 = tc.token().unwrap();
    assert_eq!(t1.access_token, t2.access_token);
    assert_eq!(
        d.count("oauth2TokenExchange"),
        1,
        "the second call made no request"
    );
    let t3 = tc.fetch_token().unwrap();
    assert_ne!(t1.access_token, t3.access_token);
    assert_eq!(d.count("oauth2TokenExchange"), 2);

    let form = d.exchanges().pop().unwrap().request_form();
    assert!(form.contains(&("client_id".into(), DID.into())));
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
    for s in [format!("{tc:?}"), format!("{t3:?}")] {
        assert!(
            !s.contains(SECRET) && !s.contains(t3.access_token.expose()),
            "{s}"
        );
    }
    assert_all_valid(&d);
}

#[test]
fn token_cache_expires_before_the_token_does() {
    let d = HydraDouble::start();
    let cfg = config(&d, 0, TokenAuth::Post);
    register(&HydraAdmin::new(&cfg).unwrap(), "client_secret_post");
    d.set_token_lifespan(Duration::from_secs(3)); // expires_in 2: fresh for 1.8 s
    let tc = TokenClient::new(&cfg, DID, SecretString::new(SECRET)).unwrap();
    tc.token().unwrap();
    tc.token().unwrap();
    assert_eq!(d.count("oauth2TokenExchange"), 1);
    std::thread::sleep(Duration::from_millis(1900));
    tc.token().unwrap();
    assert_eq!(d.count("oauth2TokenExchange"), 2);
    tc.invalidate();
    tc.token().unwrap();
    assert_eq!(d.count("oauth2TokenExchange"), 3);
    assert_all_valid(&d);
}

#[test]
fn token_with_client_secret_basic_and_a_did_client_id() {
    let d = HydraDouble::start();
    let cfg = config(&d, 0, TokenAuth::Basic);
    register(&HydraAdmin::new(&cfg).unwrap(), "client_secret_basic");
    let tc = TokenClient::new(&cfg, DID, SecretString::new(SECRET))
        .unwrap()
        .with_scopes(vec!["agent:read".into()]);
    let t = tc.token().unwrap();
    assert_eq!(t.scope, "agent:read");
    let ex = d.exchanges().pop().unwrap();
    let auth = ex.header("authorization").expect("Basic header");
    assert!(auth.starts_with("Basic "));
    assert!(ex.request_form().iter().all(|(k, _)| k != "client_secret"));

    // The same client through client_secret_post is refused by Hydra.
    let post = TokenClient::new(
        &config(&d, 0, TokenAuth::Post),
        DID,
        SecretString::new(SECRET),
    )
    .unwrap();
    let e = post.token().unwrap_err();
    match &e {
        Error::PermissionDenied {
            status: 401,
            errors,
            ..
        } => {
            assert!(errors[0].starts_with("invalid_client"), "{errors:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains(SECRET));
    assert_all_valid(&d);
}

#[test]
fn token_errors() {
    let d = HydraDouble::start();
    let cfg = config(&d, 0, TokenAuth::Post);
    register(&HydraAdmin::new(&cfg).unwrap(), "client_secret_post");
    let wrong = TokenClient::new(&cfg, DID, SecretString::new("not-the-secret")).unwrap();
    let e = wrong.token().unwrap_err();
    assert!(
        matches!(e, Error::PermissionDenied { status: 401, .. }),
        "{e}"
    );
    let greedy = TokenClient::new(&cfg, DID, SecretString::new(SECRET))
        .unwrap()
        .with_scopes(vec!["admin".into()]);
    match greedy.token().unwrap_err() {
        Error::Http {
            status: 400,
            errors,
            ..
        } => {
            assert!(errors[0].starts_with("invalid_scope"), "{errors:?}")
        }
        other => panic!("{other:?}"),
    }
    let mut no_public = cfg.clone();
    no_public.public_url = None;
    let e = TokenClient::new(&no_public, DID, SecretString::new(SECRET)).unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert_all_valid(&d);
}

#[test]
fn introspect_and_revoke() {
    let d = HydraDouble::start();
    let cfg = config(&d, 0, TokenAuth::Post);
    let a = HydraAdmin::new(&cfg).unwrap();
    register(&a, "client_secret_post");
    let tc = TokenClient::new(&cfg, DID, SecretString::new(SECRET)).unwrap();
    let t = tc.token().unwrap();
    let i = tc.introspect(&t.access_token).unwrap();
    assert!(i.active);
    assert_eq!(i.client_id.as_deref(), Some(DID));
    assert_eq!(
        i.scope.as_deref(),
        Some("openid offline agent:read agent:write")
    );
    assert!(!a.introspect(&t.access_token, Some("admin")).unwrap().active);

    tc.revoke(&t.access_token).unwrap();
    assert!(!tc.introspect(&t.access_token).unwrap().active);
    let fresh = tc.token().unwrap();
    assert_ne!(
        fresh.access_token, t.access_token,
        "revoking emptied the cache"
    );
    assert_eq!(d.count("oauth2TokenExchange"), 2);
    assert!(!tc.introspect(&SecretString::new("unknown")).unwrap().active);
    assert_all_valid(&d);
}
