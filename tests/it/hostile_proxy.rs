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
fn a_redirect_on_the_same_host_is_still_followed() {
    let target = fake_vault();
    let origin = redirecting_vault(target.addr(), 307);
    let out = vaultid(
        &["kv", "put", "secret/x", "k=v"],
        &[("VAULT_ADDR", origin.addr())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = without_mount_questions(target.seen());
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-vault-token"), Some(TOKEN));
    assert!(String::from_utf8_lossy(&seen[0].body).contains("\"k\""));
}
