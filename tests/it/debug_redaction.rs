//! `Debug` (plain and `{:#?}`) of every public type that holds a secret
//! shows no secret, and neither do the `Display` and `Debug` of the errors
//! that failing calls made with secret inputs produce.
//!
//! Every secret here is a canary: a distinctive value searched for in the
//! output, together with its first and last 12 characters (a truncated
//! secret is still a leak).

use crate::common;
use crate::hydra_double;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::bao::Bao;
use common::{answer, TestServer};
use hydra_double::HydraDouble;
use serde_json::{json, Map};
use vaultid::config::{AuthMethod, HydraConfig, SecretSource, TokenAuth, VaultConfig};
use vaultid::fuzzing::codec::pem;
use vaultid::fuzzing::http::{HeaderValue, Request};
use vaultid::fuzzing::hydra::OAuthClient;
use vaultid::fuzzing::secrets::{EnvBuilder, Precedence};
use vaultid::fuzzing::secrets::{NewCredential, NewValue, Rotated};
use vaultid::hydra::TokenClient;
use vaultid::identity::KeyPair;
use vaultid::secrets::LeaseEvent;
use vaultid::vault::{Client, KvMetadata, VersionMetadata};
use vaultid::{Error, SecretString};

/// A distinctive value.
fn canary(tag: &str) -> String {
    format!("CANARY{tag}-{}", uuid::Uuid::new_v4())
}

/// Panic when `text` holds `secret` or one of its 12-character ends.
fn assert_hidden(what: &str, text: &str, secret: &str) {
    let mut needles = vec![secret];
    if secret.len() >= 20 {
        needles.push(&secret[..12]);
        needles.push(&secret[secret.len() - 12..]);
    }
    for n in needles {
        assert!(
            !text.contains(n),
            "{what} shows a secret ({n:?} is in it): {text}"
        );
    }
}

/// `Debug` and `{:#?}` of `value` hide every one of `secrets`.
fn debug_hides<T: Debug>(what: &str, value: &T, secrets: &[&str]) -> String {
    let plain = format!("{value:?}");
    let pretty = format!("{value:#?}");
    for s in secrets {
        assert_hidden(&format!("Debug of {what}"), &plain, s);
        assert_hidden(&format!("{{:#?}} of {what}"), &pretty, s);
    }
    plain
}

/// `Display` and `Debug` of an error hide every one of `secrets`.
fn error_hides(what: &str, e: &Error, secrets: &[&str]) {
    for s in secrets {
        assert_hidden(&format!("Display of {what}"), &e.to_string(), s);
        assert_hidden(&format!("Debug of {what}"), &format!("{e:?}"), s);
        assert_hidden(&format!("{{:#?}} of {what}"), &format!("{e:#?}"), s);
    }
}

fn tmpdir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("vaultid-redact-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn secret_string_is_exactly_redacted() {
    let s = SecretString::new(canary("SECRETSTRING"));
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(format!("{s:#?}"), "[redacted]");
    assert_eq!(format!("{s}"), "[redacted]");
    assert_eq!(format!("{s:>20}"), "[redacted]");
    assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
    assert_eq!(format!("{:?}", vec![s.clone()]), "[[redacted]]");
    assert_eq!(format!("{:?}", SecretString::default()), "[redacted]");
    let from: SecretString = String::from("x-CANARY").into();
    assert_eq!(format!("{from:?}"), "[redacted]");
}

#[test]
fn key_pair_and_pem_types() {
    let keys = KeyPair::generate();
    let private = keys.private_pem();
    let body: String = private
        .expose()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let decoded = pem::decode_private_key(private.expose()).unwrap();
    let seed_hex: String = decoded.seed.iter().map(|b| format!("{b:02x}")).collect();
    let seed_b58 = vaultid::fuzzing::codec::base58::encode(&decoded.seed);
    let seed_dec = format!("{:?}", decoded.seed);
    // The seed-only part of the PEM body (past the PKCS#8 header).
    let seed_b64 = &body[22..];
    let secrets = [
        body.as_str(),
        seed_b64,
        &seed_hex,
        &seed_b58,
        &seed_dec[1..40],
    ];

    let shown = debug_hides("KeyPair", &keys, &secrets);
    assert!(shown.contains(&keys.public().base58()), "{shown}");
    debug_hides("KeyPair::private_pem", &private, &secrets);
    debug_hides("Ed25519PrivateKey", &decoded, &secrets);
    let block = pem::decode(private.expose()).unwrap();
    let der_dec = format!("{:?}", block.der);
    debug_hides(
        "pem::Block",
        &block,
        &[
            body.as_str(),
            seed_b64,
            &seed_hex,
            &der_dec[der_dec.len() - 60..],
        ],
    );
    let local = vaultid::fuzzing::cache::local_keys(keys.clone(), vec![], false);
    debug_hides("cache::LocalKeys", &local, &secrets);
    debug_hides(
        "Ok(KeyPair)",
        &KeyPair::from_pem(private.expose()),
        &secrets,
    );

    // A key read back from disk.
    let dir = tmpdir();
    let kd = vaultid::cache::KeyDir::new(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("private.pem"), private.expose()).unwrap();
    std::fs::write(dir.join("public.pem"), keys.public_pem()).unwrap();
    let read = kd.read_keys().unwrap();
    debug_hides("KeyDir::read_keys", &read, &secrets);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn broken_key_material_is_not_echoed_in_errors() {
    let keys = KeyPair::generate();
    let private = keys.private_pem();
    let body: String = private
        .expose()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // A private key whose armour is damaged, and one whose base64 is.
    let bad_label = private.expose().replace("PRIVATE KEY", "PRIVATE KEYS");
    let bad_b64 = private.expose().replacen(&body[30..34], "!!!!", 1);
    let truncated = private.expose().replacen(&body[..], &body[..40], 1);
    for (what, text) in [
        ("wrong label", bad_label.as_str()),
        ("bad base64", bad_b64.as_str()),
        ("truncated", truncated.as_str()),
    ] {
        let secrets = [&body[22..], &body[..40][22..]];
        if let Err(e) = KeyPair::from_pem(text) {
            error_hides(&format!("KeyPair::from_pem, {what}"), &e, &secrets);
        }
        if let Err(e) = pem::decode_private_key(text) {
            error_hides(&format!("pem::decode_private_key, {what}"), &e, &secrets);
        }
        if let Err(e) = pem::decode(text) {
            error_hides(&format!("pem::decode, {what}"), &e, &secrets);
        }
    }
}

#[test]
fn vault_config_and_client() {
    let token = canary("TOKEN");
    let secret_id = canary("SECRETID");
    let mut cfg = VaultConfig::new("http://127.0.0.1:1", Some(SecretString::new(&*token)));
    debug_hides("VaultConfig with a token", &cfg, &[&token]);
    let client = Client::new(&cfg).unwrap();
    debug_hides("vault::Client with a token", &client, &[&token]);
    debug_hides(
        "Client::config",
        vaultid::fuzzing::vault::client_config(&client),
        &[&token],
    );
    debug_hides("Client::token", &client.token(), &[&token]);
    debug_hides(
        "Client::http",
        vaultid::fuzzing::vault::client_http(&client),
        &[&token],
    );

    cfg.auth = AuthMethod::AppRole {
        mount: "approle".into(),
        role_id: "role".into(),
        secret_id: SecretSource::Value(SecretString::new(&*secret_id)),
        wrapped: false,
    };
    debug_hides(
        "VaultConfig with an AppRole secret id",
        &cfg,
        &[&token, &secret_id],
    );
    debug_hides(
        "vault::Client with AppRole",
        &Client::new(&cfg).unwrap(),
        &[&token, &secret_id],
    );
    debug_hides(
        "SecretSource::Value",
        &SecretSource::Value(SecretString::new(&*secret_id)),
        &[&secret_id],
    );

    // The whole configuration, from the environment.
    let client_secret_like = canary("WRAPPING");
    let env: BTreeMap<&str, String> = [
        ("VAULT_ADDR", "http://127.0.0.1:8200".to_string()),
        ("VAULT_TOKEN", token.clone()),
        ("VAULT_AUTH_METHOD", "approle".into()),
        ("VAULT_ROLE_ID", "r".into()),
        ("VAULT_SECRET_ID", client_secret_like.clone()),
        ("VAULT_SECRET_ID_WRAPPED", "true".into()),
        ("HYDRA__ADMIN_URL", "http://127.0.0.1:4445".into()),
        ("VAULTID_AUTHOR", "a@example.com".into()),
        ("VAULTID_AGENT_NAME", "n".into()),
    ]
    .into_iter()
    .collect();
    let c = vaultid::fuzzing::config::config_from_lookup(&|n: &str| env.get(n).cloned()).unwrap();
    debug_hides("Config", &c, &[&token, &client_secret_like]);

    // Configuration errors do not repeat the secret they are about.
    let mut env2 = env.clone();
    env2.insert("VAULT_SECRET_ID_FILE", "/tmp/secret-id".into());
    let e =
        vaultid::fuzzing::config::config_from_lookup(&|n: &str| env2.get(n).cloned()).unwrap_err();
    error_hides(
        "config error (both secret id sources)",
        &e,
        &[&client_secret_like],
    );
    let mut env3 = env.clone();
    env3.remove("VAULT_ROLE_ID");
    let e =
        vaultid::fuzzing::config::config_from_lookup(&|n: &str| env3.get(n).cloned()).unwrap_err();
    error_hides(
        "config error (no role id)",
        &e,
        &[&client_secret_like, &token],
    );

    // An unreachable Vault: the error names the request, not the token.
    let e = client.kv2("secret").read("app", None).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    error_hides("Unreachable with a token", &e, &[&token]);
}

#[test]
fn auth_info_and_requests() {
    let token = canary("CLIENTTOKEN");
    let info =
        vaultid::fuzzing::vault::parse_auth(Some(&json!({"auth": {"client_token": token, "accessor": "acc", "policies": ["p"], "lease_duration": 60, "renewable": true}})), "t").unwrap();
    debug_hides("AuthInfo", &info, &[&token]);
    // A broken auth block does not echo the token.
    for bad in [
        json!({"auth": {"client_token": token, "lease_duration": "soon"}}),
        json!({"auth": {"client_token": token, "policies": 7}}),
        json!({"auth": {"client_token": token, "renewable": "yes"}}),
    ] {
        let e = vaultid::fuzzing::vault::parse_auth(Some(&bad), "POST auth/x/login").unwrap_err();
        error_hides("parse_auth error", &e, &[&token]);
    }

    let header = canary("HEADER");
    let query = canary("QUERY");
    let body = canary("BODY");
    let req = Request::new("POST", &format!("/v1/x?secret={query}"))
        .header("X-Plain", "visible")
        .secret_header("X-Vault-Token", SecretString::new(&*header))
        .secret_header(
            "Authorization",
            SecretString::new(format!("Bearer {header}")),
        )
        .json(&json!({"password": body}));
    let shown = debug_hides("http::Request", &req, &[&header, &query, &body]);
    assert!(shown.contains("visible"), "{shown}");
    debug_hides(
        "HeaderValue::Secret",
        &HeaderValue::Secret(SecretString::new(&*header)),
        &[&header],
    );

    let resp = vaultid::fuzzing::http::Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!(r#"{{"auth":{{"client_token":"{token}"}}}}"#).into_bytes(),
        resent: false,
    };
    debug_hides("http::Response", &resp, &[&token]);

    // A refusal's body (which may carry data) is not in its Debug.
    let api = vaultid::fuzzing::vault::parse_response(
        404,
        format!(r#"{{"errors":[],"data":{{"password":"{body}"}}}}"#).as_bytes(),
    )
    .unwrap_err();
    debug_hides("vault::ApiError", &api, &[&body]);
    error_hides(
        "ApiError::into_error",
        &api.into_error("GET", "secret/data/x"),
        &[&body],
    );
}

#[test]
fn kv_secrets_and_runtime_secret_types() {
    let value = canary("KVVALUE");
    let mut data = Map::new();
    data.insert("password".into(), value.clone().into());
    data.insert("nested".into(), json!({"deep": value}));
    let kv = vaultid::fuzzing::vault::kv_secret(data.clone(), VersionMetadata::default());
    let shown = debug_hides("KvSecret", &kv, &[&value]);
    assert!(shown.contains("password"), "the keys show: {shown}");
    debug_hides("Option<KvSecret>", &Some(kv.clone()), &[&value]);
    debug_hides("KvMetadata", &KvMetadata::default(), &[&value]);

    let dynamic = vaultid::fuzzing::secrets::dynamic_from_response(
        "database/creds/app",
        &json!({"lease_id": "database/creds/app/abc", "lease_duration": 60,
                "renewable": true, "data": {"username": "u", "password": value}}),
    )
    .unwrap();
    debug_hides("DynamicSecret", &dynamic, &[&value]);
    debug_hides(
        "LeaseEvent::Rotated",
        &LeaseEvent::Rotated {
            old_lease_id: "database/creds/app/old".into(),
            secret: dynamic.clone(),
        },
        &[&value],
    );

    let new_cred = NewCredential {
        agent_id: "agent".into(),
        credential_id: "cred".into(),
        secret: SecretString::new(&*value),
        version: 1,
        created_at: "now".into(),
    };
    debug_hides("NewCredential", &new_cred, &[&value]);
    let rotated = Rotated {
        path: "secret/app".into(),
        key: "password".into(),
        version: 2,
        previous_version: 1,
        conflicts: 0,
        value: SecretString::new(&*value),
    };
    debug_hides("Rotated", &rotated, &[&value]);
    debug_hides(
        "NewValue::Given",
        &NewValue::Given(SecretString::new(&*value)),
        &[&value],
    );

    let mut env = EnvBuilder::new();
    env.add(
        "secret/app",
        vec![("PASSWORD".into(), SecretString::new(&*value))],
        Precedence::KeepFirst,
    )
    .unwrap();
    debug_hides("EnvBuilder", &env, &[&value]);
    // A clash names both sources, not the values.
    let e = env
        .add(
            "secret/other",
            vec![("PASSWORD".into(), SecretString::new(&*value))],
            Precedence::KeepFirst,
        )
        .unwrap_err();
    error_hides("EnvBuilder clash", &e, &[&value]);
    debug_hides("EnvBuilder::finish", &env.finish(), &[&value]);

    // A field that is not a valid name: the error names the field only.
    let spec = vaultid::secrets::SecretSpec::parse("app").unwrap();
    let mut odd = Map::new();
    odd.insert("not valid".into(), value.clone().into());
    if let Err(e) = vaultid::fuzzing::secrets::fields_to_vars(
        "secret/app",
        &odd,
        &spec,
        &vaultid::secrets::EnvOptions::default(),
    ) {
        error_hides("fields_to_vars error", &e, &[&value]);
    }
}

#[test]
fn cached_and_hydra_credentials() {
    let secret = canary("CLIENTSECRET");
    let mut m = Map::new();
    for (k, v) in [
        ("agent_id", "agent"),
        ("client_id", "did:bindu:a:b:c"),
        ("client_secret", secret.as_str()),
        ("created_at", "2026-01-01T00:00:00Z"),
    ] {
        m.insert(k.into(), v.into());
    }
    m.insert("scopes".into(), json!(["agent:read"]));
    let stored = vaultid::fuzzing::cache::credentials_from_json(&m).unwrap();
    debug_hides("cache::StoredCredentials", &stored, &[&secret]);
    // A credentials entry that is broken elsewhere does not echo the secret.
    let mut broken = m.clone();
    broken.insert("client_id".into(), json!(7));
    let e = vaultid::fuzzing::cache::credentials_from_json(&broken).unwrap_err();
    error_hides("StoredCredentials::from_json error", &e, &[&secret]);

    let client = OAuthClient {
        client_id: "did:bindu:a:b:c".into(),
        client_secret: Some(SecretString::new(&*secret)),
        ..OAuthClient::default()
    };
    debug_hides("hydra::OAuthClient", &client, &[&secret]);
    debug_hides(
        "CreateOutcome::Created",
        &vaultid::fuzzing::hydra::CreateOutcome::Created(Box::new(client.clone())),
        &[&secret],
    );

    let access = canary("ACCESSTOKEN");
    let token = vaultid::fuzzing::hydra::access_token(
        SecretString::new(&*access),
        "bearer",
        Some(3600),
        "agent:read",
        Instant::now(),
    );
    debug_hides("hydra::AccessToken", &token, &[&access]);
    let parsed = vaultid::fuzzing::hydra::parse_token_response(
        format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":3600}}"#)
            .as_bytes(),
    )
    .unwrap();
    debug_hides("parse_token_response", &parsed, &[&access]);
    for bad in [
        format!(r#"{{"access_token":"{access}","expires_in":3600}}"#),
        format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":"soon"}}"#),
        format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":-1}}"#),
        format!(r#"{{"access_token":"{access}","token_type":7}}"#),
    ] {
        if let Err(e) = vaultid::fuzzing::hydra::parse_token_response(bad.as_bytes()) {
            error_hides("parse_token_response error", &e, &[&access]);
        }
    }

    let mut cfg = HydraConfig::new("http://127.0.0.1:1");
    cfg.public_url = Some("http://127.0.0.1:1".into());
    cfg.timeout = Duration::from_secs(1);
    cfg.max_retries = 0;
    cfg.scopes = vec!["agent:read".into()];
    cfg.token_auth = TokenAuth::Post;
    let tc = TokenClient::new(&cfg, "did:bindu:a:b:c", SecretString::new(&*secret)).unwrap();
    debug_hides("hydra::TokenClient", &tc, &[&secret]);
    // Unreachable token endpoint: the error does not carry the secret.
    let e = tc.token().unwrap_err();
    error_hides("token endpoint unreachable", &e, &[&secret]);
}

/// A client as Hydra answers its creation: besides the client secret it
/// carries a `registration_access_token`, a bearer credential for the
/// client's registration endpoint (OpenID Connect Dynamic Client
/// Registration: whoever holds it can read, change and delete the client).
/// Neither may show in `Debug`.
#[test]
fn created_hydra_client_hides_its_registration_access_token() {
    let secret = canary("CLIENTSECRET");
    let rat = format!("ory_at_{}", canary("REGISTRATIONTOKEN"));
    let body = json!({
        "client_id": "did:bindu:a:b:c",
        "client_secret": secret,
        "registration_access_token": rat,
        "registration_client_uri": "http://hydra.local/oauth2/register/did%3Abindu%3Aa%3Ab%3Ac",
        "grant_types": ["client_credentials"],
        "scope": "agent:read"
    });
    let client = vaultid::fuzzing::hydra::parse_client(body.to_string().as_bytes()).unwrap();
    debug_hides("hydra::OAuthClient (parsed)", &client, &[&secret, &rat]);

    // The same through HydraAdmin::create_client against the Hydra double,
    // which answers like Hydra does.
    let hydra = HydraDouble::start();
    let cfg = hydra.config();
    let admin = vaultid::fuzzing::hydra::HydraAdmin::new(&cfg).unwrap();
    let created = admin
        .create_client(&OAuthClient {
            client_id: "did:bindu:redact:rat:00000000-0000-0000-0000-000000000002".into(),
            client_secret: Some(SecretString::new(&*secret)),
            grant_types: vec!["client_credentials".into()],
            ..OAuthClient::default()
        })
        .unwrap();
    let vaultid::fuzzing::hydra::CreateOutcome::Created(c) = &created else {
        panic!("{created:?}")
    };
    let issued = c
        .extra
        .get("registration_access_token")
        .and_then(|v| v.as_str())
        .expect("Hydra answers a creation with a registration_access_token")
        .to_string();
    debug_hides("CreateOutcome::Created", &created, &[&secret, &issued]);
}

#[test]
fn errors_from_real_refusals_hide_the_credentials() {
    let Some(bao) = Bao::shared() else { return };

    // A wrong token.
    let token = format!("hvs.{}", canary("WRONGTOKEN"));
    let mut cfg = bao.config();
    cfg.token = Some(SecretString::new(&*token));
    cfg.max_retries = 0;
    let client = Client::new(&cfg).unwrap();
    let e = client.kv2("secret").read("redact/x", None).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    error_hides("PermissionDenied (wrong token)", &e, &[&token]);
    let e = client.lookup_self().unwrap_err();
    error_hides("lookup-self with a wrong token", &e, &[&token]);
    let e = client
        .write("secret/data/redact/x", &json!({"data": {"a": "b"}}))
        .unwrap_err();
    error_hides("write with a wrong token", &e, &[&token]);

    // A wrong AppRole secret id, plain and as a wrapping token.
    let _ = bao.bao(&["auth", "enable", "approle"]);
    bao.bao(&[
        "write",
        "auth/approle/role/redact",
        "token_policies=default",
    ])
    .unwrap();
    let role_id = bao
        .bao(&["read", "-field=role_id", "auth/approle/role/redact/role-id"])
        .unwrap()
        .trim()
        .to_string();
    let secret_id = canary("WRONGSECRETID");
    for wrapped in [false, true] {
        let mut cfg = bao.config();
        cfg.token = None;
        cfg.auth = AuthMethod::AppRole {
            mount: "approle".into(),
            role_id: role_id.clone(),
            secret_id: SecretSource::Value(SecretString::new(&*secret_id)),
            wrapped,
        };
        let client = Client::new(&cfg).unwrap();
        let e = client.login().unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
        error_hides(
            &format!("PermissionDenied (wrong secret id, wrapped: {wrapped})"),
            &e,
            &[&secret_id],
        );
        let e = client.kv2("secret").read("redact/x", None).unwrap_err();
        error_hides("read after a refused login", &e, &[&secret_id]);
        debug_hides("Client after a refused login", &client, &[&secret_id]);
    }

    // A right secret id: the client and the login's answer hide the token.
    let good = canary("SECRETID");
    bao.bao(&[
        "write",
        "auth/approle/role/redact/custom-secret-id",
        &format!("secret_id={good}"),
    ])
    .unwrap();
    let mut cfg = bao.config();
    cfg.token = None;
    cfg.auth = AuthMethod::AppRole {
        mount: "approle".into(),
        role_id,
        secret_id: SecretSource::Value(SecretString::new(&*good)),
        wrapped: false,
    };
    let client = Client::new(&cfg).unwrap();
    let auth = client.login().unwrap();
    let issued = auth.client_token.expose().to_string();
    debug_hides("AuthInfo from a login", &auth, &[&issued, &good]);
    debug_hides("Client after a login", &client, &[&issued, &good]);
    debug_hides(
        "TokenInfo",
        &client.lookup_self().unwrap(),
        &[&issued, &good],
    );
    // Denied with a valid token: the error hides it.
    let e = client.read("sys/policy/root").unwrap_err();
    error_hides("PermissionDenied (policy)", &e, &[&issued]);

    // A wrapping token that does not exist.
    let wrapping = SecretString::new(canary("WRAPPINGTOKEN"));
    let e = bao.client().unwrap_response(&wrapping).unwrap_err();
    error_hides("unwrap refusal", &e, &[wrapping.expose()]);
}

#[test]
fn hydra_refusal_hides_the_client_secret() {
    let hydra = HydraDouble::start();
    let cfg = hydra.config();
    let secret = canary("HYDRASECRET");
    let id = "did:bindu:redact:agent:00000000-0000-0000-0000-000000000001";
    // An unknown client.
    let tc = TokenClient::new(&cfg, id, SecretString::new(&*secret)).unwrap();
    let e = tc.token().unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    error_hides("Hydra refusal (post)", &e, &[&secret]);
    let mut basic = cfg.clone();
    basic.token_auth = TokenAuth::Basic;
    let e = TokenClient::new(&basic, id, SecretString::new(&*secret))
        .unwrap()
        .token()
        .unwrap_err();
    error_hides("Hydra refusal (basic)", &e, &[&secret]);

    // A real client: its created form, its access token.
    let admin = vaultid::fuzzing::hydra::HydraAdmin::new(&cfg).unwrap();
    let own = canary("OWNSECRET");
    let created = admin
        .create_client(&OAuthClient {
            client_id: id.into(),
            client_secret: Some(SecretString::new(&*own)),
            grant_types: vec!["client_credentials".into()],
            scope: "agent:read".into(),
            token_endpoint_auth_method: "client_secret_post".into(),
            ..OAuthClient::default()
        })
        .unwrap();
    debug_hides("CreateOutcome from Hydra", &created, &[&own]);
    let tc = TokenClient::new(&cfg, id, SecretString::new(&*own)).unwrap();
    let t = tc.token().unwrap();
    let access = t.access_token.expose().to_string();
    debug_hides("AccessToken from Hydra", &t, &[&access, &own]);
    debug_hides("TokenClient with a cached token", &tc, &[&access, &own]);
    let got = admin.get_client(id).unwrap();
    debug_hides("OAuthClient from GET", &got, &[&own]);

    // Hydra failing while the secret is sent.
    hydra.fail_with(500);
    let e = TokenClient::new(&cfg, id, SecretString::new(&*own))
        .unwrap()
        .token()
        .unwrap_err();
    error_hides("Hydra 500", &e, &[&own]);
    hydra.fail_with(503);
    let e = admin
        .create_client(&OAuthClient {
            client_id: format!("{id}-2"),
            client_secret: Some(SecretString::new(&*own)),
            ..OAuthClient::default()
        })
        .unwrap_err();
    error_hides("Hydra 503 on create", &e, &[&own]);
    hydra.clear_faults();
}

#[test]
fn a_server_that_echoes_the_request_does_not_make_errors_leak() {
    // A server answering 500 with the method and path it received: what
    // vaultid adds to the error (method, path, the server's words) holds
    // no token.
    let token = canary("ECHOTOKEN");
    let server = TestServer::start(|req, _| {
        answer(
            500,
            &[],
            &json!({"errors": [format!("saw {} {}", req.method, req.path)]}).to_string(),
        )
    });
    let mut cfg = VaultConfig::new(server.addr(), Some(SecretString::new(&*token)));
    cfg.max_retries = 0;
    let client = Client::new(&cfg).unwrap();
    let e = client
        .kv2("secret")
        .write("x", &Map::new(), None)
        .unwrap_err();
    error_hides("500 from a server", &e, &[&token]);
}
