//! Where requests may go: the proxy variables (scheme-specific, upper and
//! lower case), loopback never proxied, `NO_PROXY` forms, and the redirect
//! rule for other hosts. A logging CONNECT proxy and fake Vaults on loopback
//! (`127.0.0.2` plays another host; `0.0.0.0` is a non-loopback name for
//! this host, which the proxy policy treats as remote). Nothing leaves
//! loopback: the test proxy tunnels every CONNECT to 127.0.0.1, and Linux
//! routes a direct connection to 0.0.0.0 to 127.0.0.1 over `lo`.

use std::process::{Command, Output, Stdio};

use crate::common::connect_proxy::ConnectProxy;
use crate::common::{answer, kv2_mount_answer, without_mount_questions, TestServer};

const TOKEN: &str = "hvs.proxy-canary-token";
const SECRET_OK: &str = r#"{"data":{"data":{"k":"v"},"metadata":{"version":1,"created_time":"t","deletion_time":"","destroyed":false}}}"#;
const WRITE_OK: &str =
    r#"{"data":{"version":2,"created_time":"t","deletion_time":"","destroyed":false}}"#;

fn vaultid(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = crate::common::tmpdir("proxy-home");
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("HOME", &home)
        .env("VAULT_TOKEN", TOKEN)
        .env("VAULT_MAX_RETRIES", "0")
        .env("VAULT_CLIENT_TIMEOUT", "5s")
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let _ = std::fs::remove_dir_all(home);
    out
}

fn fake_vault() -> TestServer {
    TestServer::start(|req, _| {
        if let Some(a) = kv2_mount_answer(req) {
            return a;
        }
        if req.method == "GET" {
            answer(200, &[], SECRET_OK)
        } else {
            answer(200, &[], WRITE_OK)
        }
    })
}

fn port(server: &TestServer) -> &str {
    server.addr().rsplit(':').next().unwrap()
}

#[test]
fn proxy_variables_never_carry_loopback_traffic() {
    let vault = fake_vault();
    let proxy = ConnectProxy::start();
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        for addr in [
            vault.addr().to_string(),
            format!("http://localhost:{}", port(&vault)),
        ] {
            let before = vault.seen().len();
            let out = vaultid(
                &["kv", "get", "secret/x"],
                &[("VAULT_ADDR", &addr), (var, &proxy.url())],
            );
            assert!(
                out.status.success(),
                "{var} {addr}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            // The mount question and the read, both straight to Vault.
            assert_eq!(vault.seen().len(), before + 2, "{var} {addr}");
        }
    }
    // A proxy vaultid cannot use, set for other programs, does not stop
    // a loopback Vault.
    let out = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", vault.addr()),
            ("ALL_PROXY", "socks5://u:p@socks.example:1080"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = proxy.log();
    assert!(
        log.requests.is_empty(),
        "the proxy was asked: {:?}",
        log.requests
    );
    assert!(!proxy.saw(TOKEN));
}

#[test]
fn proxy_is_chosen_by_scheme_for_other_hosts() {
    let vault = fake_vault();
    let proxy = ConnectProxy::start();
    let remote = format!("http://0.0.0.0:{}", port(&vault));
    // An http:// address goes through HTTP_PROXY (or ALL_PROXY) ...
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        let out = vaultid(
            &["kv", "get", "secret/x"],
            &[("VAULT_ADDR", &remote), (var, &proxy.url())],
        );
        assert!(
            out.status.success(),
            "{var}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = proxy.log();
    assert_eq!(log.requests.len(), 3, "{:?}", log.requests);
    assert!(log
        .requests
        .iter()
        .all(|r| r.starts_with(&format!("CONNECT 0.0.0.0:{}", port(&vault)))));
    // ... never through HTTPS_PROXY.
    let out = vaultid(
        &["kv", "get", "secret/x"],
        &[("VAULT_ADDR", &remote), ("HTTPS_PROXY", &proxy.url())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        proxy.log().requests.len(),
        3,
        "HTTPS_PROXY carried an http:// request"
    );
}

#[test]
fn no_proxy_forms_go_direct() {
    let vault = fake_vault();
    let proxy = ConnectProxy::start();
    let p = port(&vault).to_string();
    let remote = format!("http://0.0.0.0:{p}");
    for no_proxy in [
        "0.0.0.0".to_string(),
        "0.0.0.0/8".to_string(),
        "example.com, 0.0.0.0/32".to_string(),
        format!("0.0.0.0:{p}"),
        "*".to_string(),
    ] {
        for var in ["NO_PROXY", "no_proxy"] {
            let out = vaultid(
                &["kv", "get", "secret/x"],
                &[
                    ("VAULT_ADDR", &remote),
                    ("HTTP_PROXY", &proxy.url()),
                    (var, &no_proxy),
                ],
            );
            assert!(
                out.status.success(),
                "{var}={no_proxy}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                proxy.log().requests.is_empty(),
                "{var}={no_proxy} still went through the proxy"
            );
        }
    }
    assert!(!proxy.saw(TOKEN));
    // Another port is not exempt.
    let out = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", &remote),
            ("HTTP_PROXY", &proxy.url()),
            ("NO_PROXY", "0.0.0.0:1"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.log().requests.len(), 1);
}

#[test]
fn proxy_password_is_sent_to_the_proxy_only_and_never_printed() {
    let proxy = ConnectProxy::start();
    let url = proxy
        .url()
        .replace("http://", "http://user:proxy-pw-canary@");
    // Nothing listens behind the proxy at port 1: the request fails.
    let out = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", "http://0.0.0.0:1"),
            ("HTTP_PROXY", &url),
            ("VAULTID_LOG", "trace"),
        ],
    );
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("proxy-pw-canary"), "{all}");
    assert_eq!(proxy.log().proxy_auth.len(), 1);
    // A bad proxy value is a configuration error that does not echo the password.
    let out = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", "http://0.0.0.0:1"),
            ("HTTPS_PROXY", "socks5://u:proxy-pw-canary@h:1"),
            ("VAULT_ADDR", "https://0.0.0.0:1"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTPS_PROXY") && !err.contains("proxy-pw-canary"),
        "{err}"
    );
}

/// A Vault at 127.0.0.1 that redirects every request to `target`.
/// A Vault that answers which mount holds a path itself and redirects
/// every other request to `target`.
fn redirecting_vault(target: &str, status: u16) -> TestServer {
    let target = target.to_string();
    TestServer::start(move |req, _| {
        if let Some(a) = kv2_mount_answer(req) {
            return a;
        }
        let location = format!("{target}{}", req.path);
        answer(status, &[("Location", location.as_str())], "")
    })
}

#[test]
fn a_redirect_to_another_host_carries_no_body_and_no_plain_http_token() {
    for status in [307, 308] {
        let other = TestServer::start_on("127.0.0.2", |req, _| {
            if req.method == "GET" {
                answer(200, &[], SECRET_OK)
            } else {
                answer(200, &[], WRITE_OK)
            }
        });
        let origin = redirecting_vault(other.addr(), status);
        // A write carries secrets in its body: not sent to another host.
        let out = vaultid(
            &["kv", "put", "secret/x", "private_key=body-canary-material"],
            &[("VAULT_ADDR", origin.addr())],
        );
        assert!(!out.status.success());
        // A read over plain http: the token does not follow.
        let out = vaultid(&["kv", "get", "secret/x"], &[("VAULT_ADDR", origin.addr())]);
        assert!(!out.status.success());
        assert!(
            other.seen().is_empty(),
            "{status}: another host received {:?}",
            other.seen()
        );
        assert_eq!(without_mount_questions(origin.seen()).len(), 2);
    }
}

#[test]
fn a_redirect_within_the_same_origin_is_still_followed() {
    // Same scheme, host and port: a relative Location for a write, an
    // absolute one (spelling the default-less port out) for a read.
    let own: std::sync::Arc<std::sync::OnceLock<String>> = Default::default();
    let me = own.clone();
    let vault = TestServer::start(move |req, _| match req.path.strip_prefix("/v1/moved") {
        _ if kv2_mount_answer(req).is_some() => kv2_mount_answer(req).unwrap_or_default(),
        Some(_) if req.method == "GET" => answer(200, &[], SECRET_OK),
        Some(_) => answer(200, &[], WRITE_OK),
        None if req.method == "GET" => {
            let location = format!("{}/v1/moved{}", me.get().unwrap(), req.path);
            answer(307, &[("Location", location.as_str())], "")
        }
        None => {
            let location = format!("/v1/moved{}", req.path);
            answer(307, &[("Location", location.as_str())], "")
        }
    });
    own.set(vault.addr().to_string()).unwrap();
    for args in [
        &["kv", "put", "secret/x", "k=v"][..],
        &["kv", "get", "secret/x"],
    ] {
        let out = vaultid(args, &[("VAULT_ADDR", vault.addr())]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let seen = without_mount_questions(vault.seen());
    assert_eq!(seen.len(), 4, "{seen:?}");
    for s in [&seen[1], &seen[3]] {
        assert!(s.path.starts_with("/v1/moved/"), "{seen:?}");
        assert_eq!(s.header("x-vault-token"), Some(TOKEN));
    }
    assert!(String::from_utf8_lossy(&seen[1].body).contains("\"k\""));
}

/// A 307 from 127.0.0.1:A to 127.0.0.1:B: another port is another origin
/// (any local user may listen on a high port), so neither the token nor a
/// body (the private key PEM of `up`) goes there, and the command ends at
/// once with an error naming the redirect instead of hanging.
#[test]
fn a_redirect_to_another_port_of_the_same_host_gets_no_token_and_no_key() {
    let other = TestServer::start(|_, _| answer(200, &[], WRITE_OK));
    let other_addr = other.addr().to_string();
    // Vault at A: the keys are missing (404), every write is redirected.
    let vault = TestServer::start(move |req, _| {
        if req.method == "GET" {
            answer(404, &[], r#"{"errors":[]}"#)
        } else {
            let location = format!("{other_addr}{}", req.path);
            answer(307, &[("Location", location.as_str())], "")
        }
    });
    let dir = crate::common::tmpdir("redirect-port");
    let up = |keys: &std::path::Path| {
        let t = std::time::Instant::now();
        let out = vaultid(
            &["up"],
            &[
                ("VAULT_ADDR", vault.addr()),
                ("VAULTID_AUTHOR", "port@example.com"),
                ("VAULTID_AGENT_NAME", "port"),
                ("VAULTID_KEY_DIR", keys.to_str().unwrap()),
            ],
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "{out:?}");
        out
    };
    // No local keys: the new pair cannot be stored; a clear error, and
    // no key is kept locally that Vault does not hold.
    let out = up(&dir.join("none"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("307"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.join("none/private.pem").exists());
    // With a local pair, the backup that cannot be stored is left for a
    // later run: the start goes on from the local keys.
    let local = dir.join("local");
    let made = vaultid(
        &["up"],
        &[
            ("VAULT__ENABLED", "false"),
            ("VAULTID_AUTHOR", "port@example.com"),
            ("VAULTID_AGENT_NAME", "port"),
            ("VAULTID_KEY_DIR", local.to_str().unwrap()),
        ],
    );
    assert!(made.status.success(), "{made:?}");
    let out = up(&local);
    let v = crate::common::json_ok(&out);
    assert_eq!(v["keys_source"], "local", "{v}");
    assert_eq!(v["vault"], "unavailable", "{v}");
    // The same for a token-bearing read and a KV write.
    let redirect_all = {
        let other_addr = other.addr().to_string();
        TestServer::start(move |req, _| {
            let location = format!("{other_addr}{}", req.path);
            answer(308, &[("Location", location.as_str())], "")
        })
    };
    for args in [
        &["kv", "get", "secret/x"][..],
        &["kv", "put", "secret/x", "private_key=body-canary-material"][..],
    ] {
        let out = vaultid(args, &[("VAULT_ADDR", redirect_all.addr())]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("HTTP 308"), "{args:?}: {err}");
    }
    assert!(
        other.seen().is_empty(),
        "another port received {:?}",
        other.seen()
    );
    // Both ports configured as nodes: then B is one of Vault's own nodes
    // and gets the write, body and token.
    let nodes = format!("{},{}", vault.addr(), other.addr());
    let out = vaultid(
        &["kv", "put", "secret/x", "k=v"],
        &[
            ("VAULT_ADDR", vault.addr()),
            ("VAULTID_VAULT_ADDRS", &nodes),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = without_mount_questions(other.seen());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("x-vault-token"), Some(TOKEN));
    let _ = std::fs::remove_dir_all(dir);
}

/// Hydra's admin and token calls under the same rule: the client secret
/// (in the registration body, the token form or the Basic header) never
/// follows a 307 to another port.
#[test]
fn hydra_calls_do_not_follow_a_redirect_to_another_port() {
    use vaultid::config::{HydraConfig, TokenAuth};
    use vaultid::fuzzing::hydra::{registration_body, AgentRegistration, HydraAdmin};
    use vaultid::SecretString;

    const CANARY: &str = "hydra-secret-canary-307";
    let other = TestServer::start(|_, _| answer(201, &[], "{}"));
    let other_addr = other.addr().to_string();
    let hydra = TestServer::start(move |req, _| {
        let location = format!("{other_addr}{}", req.path);
        answer(307, &[("Location", location.as_str())], "")
    });
    let mut cfg = HydraConfig::new(hydra.addr());
    cfg.public_url = Some(hydra.addr().to_string());
    cfg.max_retries = 0;
    let admin = HydraAdmin::new(&cfg).unwrap();
    let agent = AgentRegistration {
        agent_id: "fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
        did: "did:bindu:a:b:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
        agent_name: "b",
        public_key_base58: "PUBKEY",
        agent_url: None,
    };
    let body = registration_body(&agent, &SecretString::new(CANARY), &cfg.scopes);
    let e = admin.create_client(&body).unwrap_err();
    assert!(e.to_string().contains("307"), "{e}");
    for auth in [TokenAuth::Post, TokenAuth::Basic] {
        cfg.token_auth = auth;
        let tokens =
            vaultid::hydra::TokenClient::new(&cfg, "client", SecretString::new(CANARY)).unwrap();
        let e = tokens.fetch_token().unwrap_err();
        assert!(e.to_string().contains("307"), "{auth:?}: {e}");
    }
    assert_eq!(hydra.seen().len(), 3);
    assert!(
        other.seen().is_empty(),
        "another port received {:?}",
        other.seen()
    );
}
