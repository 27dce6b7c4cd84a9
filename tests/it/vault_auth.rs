//! Logins (AppRole, wrapped AppRole, JWT, Kubernetes), re-login after expiry,
//! the background renewer, and leases.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::bao::Bao;
use common::{answer, TestServer};
use serde_json::{json, Map, Value};
use vaultid::config::{AuthMethod, SecretSource, VaultConfig};
use vaultid::fuzzing::codec::base64;
use vaultid::vault::Client;
use vaultid::{Error, SecretString};

/// Enable AppRole (once per server) and create role `name` with the given
/// token settings; returns its role id.
fn approle(bao: &Bao, name: &str, settings: &[&str]) -> String {
    let _ = bao.bao(&["auth", "enable", "approle"]);
    let policy = r#"path "secret/data/*" { capabilities = ["create", "read", "update"] }"#;
    bao.bao_with_input(&["policy", "write", "kv-rw", "-"], Some(policy))
        .unwrap();
    let role = format!("auth/approle/role/{name}");
    let mut args = vec!["write", role.as_str(), "token_policies=kv-rw"];
    args.extend_from_slice(settings);
    bao.bao(&args).unwrap();
    bao.bao(&["read", "-field=role_id", &format!("{role}/role-id")])
        .unwrap()
        .trim()
        .to_string()
}

fn secret_id(bao: &Bao, name: &str) -> String {
    bao.bao(&[
        "write",
        "-f",
        "-field=secret_id",
        &format!("auth/approle/role/{name}/secret-id"),
    ])
    .unwrap()
    .trim()
    .to_string()
}

fn approle_config(bao: &Bao, role_id: String, secret: SecretSource, wrapped: bool) -> VaultConfig {
    let mut cfg = bao.config();
    cfg.token = None;
    cfg.auth = AuthMethod::AppRole {
        mount: "approle".into(),
        role_id,
        secret_id: secret,
        wrapped,
    };
    cfg
}

fn one(k: &str, v: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(k.into(), v.into());
    m
}

#[test]
fn approle_logs_in_on_first_use() {
    let Some(bao) = Bao::shared() else { return };
    let role_id = approle(bao, "lazy", &["token_ttl=5m"]);
    let secret = secret_id(bao, "lazy");
    let dir = bao.dir().join("lazy");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret-id");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let client = Client::new(&approle_config(
        bao,
        role_id.clone(),
        SecretSource::File(file),
        false,
    ))
    .unwrap();
    assert!(client.token().is_none(), "no request, no login");
    client
        .kv2("secret")
        .write("approle/lazy", &one("a", "b"), None)
        .unwrap();
    assert!(client.token().is_some());
    let info = client.lookup_self().unwrap();
    assert!(info.policies.contains(&"kv-rw".to_string()), "{info:?}");
    assert_eq!(info.path, "auth/approle/login");

    // A wrong secret id is an authentication failure (exit code 5).
    let bad = Client::new(&approle_config(
        bao,
        role_id,
        SecretSource::Value(SecretString::new("00000000-0000-0000-0000-000000000000")),
        false,
    ))
    .unwrap();
    match bad.kv2("secret").read("approle/lazy", None) {
        Err(e @ Error::PermissionDenied { .. }) => {
            assert_eq!(e.exit_code(), 5);
            assert!(!e.to_string().contains("00000000-0000"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn approle_with_a_wrapped_secret_id() {
    let Some(bao) = Bao::shared() else { return };
    let role_id = approle(bao, "wrapped", &["token_ttl=5m"]);
    let wrapping = bao
        .bao(&[
            "write",
            "-f",
            "-wrap-ttl=60s",
            "-field=wrapping_token",
            "auth/approle/role/wrapped/secret-id",
        ])
        .unwrap()
        .trim()
        .to_string();
    let cfg = approle_config(
        bao,
        role_id,
        SecretSource::Value(SecretString::new(wrapping.as_str())),
        true,
    );
    let client = Client::new(&cfg).unwrap();
    client.login().unwrap();
    // Logging in again reuses the unwrapped secret id.
    client.login().unwrap();
    client
        .kv2("secret")
        .write("approle/wrapped", &one("a", "b"), None)
        .unwrap();

    // The wrapping token has been used: a second client cannot unwrap it.
    let other = Client::new(&cfg).unwrap();
    assert!(matches!(other.login(), Err(Error::PermissionDenied { .. })));
}

#[test]
fn expired_token_logs_in_again_once() {
    let Some(bao) = Bao::shared() else { return };
    let role_id = approle(bao, "short", &["token_ttl=1s", "token_max_ttl=1s"]);
    let secret = secret_id(bao, "short");
    let cfg = approle_config(bao, role_id, SecretSource::Value(secret.into()), false);
    let client = Client::new(&cfg).unwrap();
    let kv = client.kv2("secret");
    kv.write("approle/short", &one("a", "b"), None).unwrap();
    let first = client.token().unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        kv.read("approle/short", None).unwrap().unwrap().data["a"],
        "b"
    );
    assert_ne!(
        client.token().unwrap(),
        first,
        "a new token after the old one expired"
    );

    // A genuine denial is not retried with a new login.
    let token = client.token().unwrap();
    assert!(matches!(
        client.read("sys/policy/kv-rw"),
        Err(Error::PermissionDenied { .. })
    ));
    assert_eq!(client.token().unwrap(), token);
}

#[test]
fn renewer_renews_then_logs_in_at_max_ttl() {
    let Some(bao) = Bao::shared() else { return };
    let role_id = approle(bao, "renew", &["token_ttl=3s", "token_max_ttl=6s"]);
    let secret = secret_id(bao, "renew");
    let cfg = approle_config(bao, role_id, SecretSource::Value(secret.into()), false);
    let client = Arc::new(Client::new(&cfg).unwrap());
    client.login().unwrap();
    let first = client.token().unwrap();
    let renewer = client.start_renewer();
    assert!(renewer.is_running());

    // Past the first TTL: renewed, so the same token still works (an
    // expired one would have been replaced by a login).
    std::thread::sleep(Duration::from_millis(3300));
    client.lookup_self().unwrap();
    assert_eq!(client.token().unwrap(), first);
    // Past the maximum TTL: the renewer logged in again.
    std::thread::sleep(Duration::from_millis(3300));
    assert_ne!(
        client.token().unwrap(),
        first,
        "the renewer logged in again"
    );
    let info = client.lookup_self().unwrap();
    assert!(info.ttl > 0);
    renewer.stop();
}

#[test]
fn renewer_for_a_plain_token() {
    let Some(bao) = Bao::shared() else { return };
    let token = bao
        .bao(&[
            "token",
            "create",
            "-ttl=2s",
            "-explicit-max-ttl=1m",
            "-field=token",
        ])
        .unwrap();
    let mut cfg = bao.config();
    cfg.token = Some(token.trim().into());
    let client = Arc::new(Client::new(&cfg).unwrap());
    let renewer = client.start_renewer();
    std::thread::sleep(Duration::from_millis(3000));
    client.lookup_self().unwrap();
    drop(renewer);

    // A root token never expires: the renewer has nothing to do.
    let root = Arc::new(bao.client());
    let r = root.start_renewer();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!r.is_running());
}

#[test]
fn jwt_login_with_an_eddsa_token() {
    let Some(bao) = Bao::shared() else { return };
    let kp = ed25519_compact::KeyPair::generate();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(kp.pk.as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::encode(&spki)
    );
    let dir = bao.dir().join("jwt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pub.pem"), &pem).unwrap();

    let _ = bao.bao(&["auth", "enable", "jwt"]);
    bao.bao(&[
        "write",
        "auth/jwt/config",
        &format!("jwt_validation_pubkeys=@{}", dir.join("pub.pem").display()),
    ])
    .unwrap();
    bao.bao(&[
        "write",
        "auth/jwt/role/agent",
        "role_type=jwt",
        "bound_audiences=vaultid",
        "user_claim=sub",
        "token_ttl=5m",
        "token_policies=default",
    ])
    .unwrap();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = base64::encode_url_nopad(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let claims = base64::encode_url_nopad(
        json!({"sub": "agent-1", "aud": "vaultid", "iat": now, "nbf": now - 5, "exp": now + 300})
            .to_string()
            .as_bytes(),
    );
    let signing_input = format!("{header}.{claims}");
    let sig = kp.sk.sign(signing_input.as_bytes(), None);
    let jwt = format!("{signing_input}.{}", base64::encode_url_nopad(sig.as_ref()));
    let jwt_file: PathBuf = dir.join("token");
    std::fs::write(&jwt_file, &jwt).unwrap();

    let mut cfg = bao.config();
    cfg.token = None;
    cfg.auth = AuthMethod::Jwt {
        mount: "jwt".into(),
        role: "agent".into(),
        jwt_file,
    };
    let client = Client::new(&cfg).unwrap();
    let auth = client.login().unwrap();
    assert!(auth.policies.contains(&"default".to_string()), "{auth:?}");
    let info = client.lookup_self().unwrap();
    assert_eq!(info.path, "auth/jwt/login");
}

#[test]
fn kubernetes_login_request_shape() {
    let server = TestServer::start(|req, _| {
        if req.path == "/v1/auth/k8s/login" {
            answer(
                200,
                &[],
                r#"{"auth":{"client_token":"s.from-k8s","accessor":"a","policies":["p"],"lease_duration":60,"renewable":true}}"#,
            )
        } else {
            answer(200, &[], r#"{"data":{"data":{},"metadata":{"version":1}}}"#)
        }
    });
    let dir = std::env::temp_dir().join(format!("vaultid-k8s-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), "header.payload.sig\n").unwrap();
    let mut cfg = VaultConfig::new(server.addr(), None);
    cfg.auth = AuthMethod::Kubernetes {
        mount: "k8s".into(),
        role: "agent".into(),
        jwt_file: dir.join("token"),
    };
    let client = Client::new(&cfg).unwrap();
    client.kv2("secret").read("x", None).unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/auth/k8s/login");
    assert!(seen[0].header("x-vault-token").is_none());
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body, json!({"role": "agent", "jwt": "header.payload.sig"}));
    assert_eq!(seen[1].header("x-vault-token"), Some("s.from-k8s"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn lease_renew_and_revoke_requests() {
    let server = TestServer::start(|req, _| {
        if req.path.ends_with("/renew") {
            answer(
                200,
                &[],
                r#"{"lease_id":"db/creds/x/abc","lease_duration":3600,"renewable":true}"#,
            )
        } else {
            answer(204, &[], "")
        }
    });
    let client = Client::new(&VaultConfig::new(server.addr(), Some("s.t".into()))).unwrap();
    let lease = client
        .renew_lease("db/creds/x/abc", Some(Duration::from_secs(600)))
        .unwrap();
    assert_eq!(lease.lease_duration, 3600);
    assert!(lease.renewable);
    client.revoke_lease("db/creds/x/abc").unwrap();
    let seen = server.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].path, "/v1/sys/leases/renew");
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        body,
        json!({"lease_id": "db/creds/x/abc", "increment": 600})
    );
    assert_eq!(seen[1].path, "/v1/sys/leases/revoke");
}
