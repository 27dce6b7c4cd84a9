//! The HTTP layer: retries, redirects, keep-alive, headers, timeouts and TLS,
//! against a scripted local server and real OpenBao dev servers.

use crate::common;

use std::time::{Duration, Instant};

use common::bao::Bao;
use common::{answer, TcpProxy, TestServer};
use serde_json::json;
use vaultid::config::VaultConfig;
use vaultid::fuzzing::http::{HttpClient, HttpConfig, Request};
use vaultid::vault::Client;
use vaultid::{Error, SecretString, Service, TransportKind};

const SECRET_OK: &str = r#"{"data":{"data":{"k":"v"},"metadata":{"version":1,"created_time":"t","deletion_time":"","destroyed":false}}}"#;

fn vault_config(addr: &str) -> VaultConfig {
    let mut c = VaultConfig::new(addr, Some(SecretString::new("s.test-token")));
    c.timeout = Duration::from_secs(5);
    c
}

#[test]
fn retries_5xx_then_succeeds() {
    let server = TestServer::start(|_, i| {
        if i < 2 {
            answer(500, &[], r#"{"errors":["internal"]}"#)
        } else {
            answer(200, &[], SECRET_OK)
        }
    });
    let client = Client::new(&vault_config(server.addr())).unwrap();
    let s = client.kv2("secret").read("x", None).unwrap().unwrap();
    assert_eq!(s.data["k"], "v");
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn gives_up_after_max_retries() {
    let server = TestServer::start(|_, _| answer(502, &[], r#"{"errors":["bad gateway"]}"#));
    let mut cfg = vault_config(server.addr());
    cfg.max_retries = 1;
    let client = Client::new(&cfg).unwrap();
    match client.kv2("secret").read("x", None) {
        Err(Error::Http {
            status: 502,
            errors,
            ..
        }) => assert_eq!(errors, vec!["bad gateway"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn does_not_retry_501_or_4xx() {
    for status in [501, 400, 403] {
        let server = TestServer::start(move |_, _| answer(status, &[], r#"{"errors":["no"]}"#));
        let client = Client::new(&vault_config(server.addr())).unwrap();
        assert!(client.kv2("secret").read("x", None).is_err());
        assert_eq!(server.seen().len(), 1, "status {status}");
    }
}

#[test]
fn honours_retry_after_on_429() {
    let server = TestServer::start(|_, i| {
        if i == 0 {
            answer(
                429,
                &[("Retry-After", "1")],
                r#"{"errors":["rate limited"]}"#,
            )
        } else {
            answer(200, &[], SECRET_OK)
        }
    });
    let client = Client::new(&vault_config(server.addr())).unwrap();
    let start = Instant::now();
    client.kv2("secret").read("x", None).unwrap().unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn keeps_one_connection_alive() {
    let server = TestServer::start(|_, _| answer(200, &[], SECRET_OK));
    let client = Client::new(&vault_config(server.addr())).unwrap();
    for _ in 0..5 {
        client.kv2("secret").read("x", None).unwrap().unwrap();
    }
    assert_eq!(server.seen().len(), 5);
    assert_eq!(server.accepted(), 1, "five requests, one TCP connection");
}

#[test]
fn sends_vault_headers() {
    let server = TestServer::start(|_, _| answer(204, &[], ""));
    let mut cfg = vault_config(server.addr());
    cfg.namespace = Some("team-a".into());
    let client = Client::new(&cfg).unwrap();
    client.write("secret/data/x", &json!({"data": {}})).unwrap();
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/secret/data/x");
    assert_eq!(seen.header("x-vault-token"), Some("s.test-token"));
    assert_eq!(seen.header("x-vault-request"), Some("true"));
    assert_eq!(seen.header("x-vault-namespace"), Some("team-a"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
}

/// The target is another configured node (another port of this host is
/// another origin: only a configured one gets the body and the token).
#[test]
fn follows_one_307_with_method_body_and_token() {
    let target = TestServer::start(|_, _| answer(200, &[], r#"{"data":{"version":4}}"#));
    let location = format!("{}/v1/secret/data/x", target.addr());
    let origin = TestServer::start(move |_, _| answer(307, &[("Location", location.as_str())], ""));
    let mut cfg = vault_config(origin.addr());
    cfg.other_addrs = vec![target.addr().to_string()];
    let client = Client::new(&cfg).unwrap();
    let mut data = serde_json::Map::new();
    data.insert("k".into(), "v".into());
    let v = client.kv2("secret").write("x", &data, Some(3)).unwrap();
    assert_eq!(v.version, 4);
    let seen = &target.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("x-vault-token"), Some("s.test-token"));
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body, json!({"data": {"k": "v"}, "options": {"cas": 3}}));
}

#[test]
fn never_follows_a_second_redirect() {
    let third = TestServer::start(|_, _| answer(200, &[], SECRET_OK));
    let third_url = format!("{}/v1/secret/data/x", third.addr());
    let second =
        TestServer::start(move |_, _| answer(307, &[("Location", third_url.as_str())], ""));
    let second_url = format!("{}/v1/secret/data/x", second.addr());
    let first =
        TestServer::start(move |_, _| answer(307, &[("Location", second_url.as_str())], ""));
    // The second is a configured node, so the first redirect is followed;
    // the third is not, and a redirect from a redirect target never is.
    let mut cfg = vault_config(first.addr());
    cfg.other_addrs = vec![second.addr().to_string(), third.addr().to_string()];
    let client = Client::new(&cfg).unwrap();
    match client.kv2("secret").read("x", None) {
        Err(Error::Http { status: 307, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(second.seen().len(), 1);
    assert!(
        third.seen().is_empty(),
        "the token went no further than one redirect"
    );
}

#[test]
fn other_redirects_are_not_followed() {
    let target = TestServer::start(|_, _| answer(200, &[], SECRET_OK));
    let location = format!("{}/v1/secret/data/x", target.addr());
    let origin = TestServer::start(move |_, _| answer(302, &[("Location", location.as_str())], ""));
    let http = HttpClient::new(&HttpConfig::new(Service::Vault, origin.addr())).unwrap();
    let resp = http
        .request(Request::get("/v1/x").secret_header("X-Vault-Token", "t".into()))
        .unwrap();
    assert_eq!(resp.status, 302);
    assert!(target.seen().is_empty());
}

/// The connection buffers are sized for what the layer sends and accepts:
/// a response header up to ureq's 64 KiB limit, a request header of tens
/// of KiB, and bodies larger than either buffer, streamed through them.
#[test]
fn large_headers_and_bodies_pass_through_the_connection_buffers() {
    let pad = "p".repeat(14 * 1024);
    let body = format!(r#"{{"data":"{}"}}"#, "b".repeat(3 * 1024 * 1024));
    let expected = body.clone();
    let server = TestServer::start(move |_, _| answer(200, &[("X-Pad", pad.as_str())], &body));
    let http = HttpClient::new(&HttpConfig::new(Service::Vault, server.addr())).unwrap();
    let big = "h".repeat(12 * 1024);
    let upload = vec![b'u'; 1024 * 1024];
    let resp = http
        .request(
            Request::new("PUT", "/v1/x")
                .header("X-Big", &big)
                .body(upload.clone(), "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-pad").map(str::len), Some(14 * 1024));
    assert_eq!(resp.body, expected.as_bytes());
    let seen = server.seen();
    assert_eq!(seen[0].header("x-big"), Some(big.as_str()));
    assert_eq!(seen[0].body, upload);
    // A response header past the limit is refused, not read without bound.
    let pad = "p".repeat(20 * 1024);
    let server = TestServer::start(move |_, _| answer(200, &[("X-Pad", pad.as_str())], "{}"));
    let http = HttpClient::new(&HttpConfig::new(Service::Vault, server.addr())).unwrap();
    assert!(http.request(Request::get("/v1/x")).is_err());
}

#[test]
fn stopped_server_is_unreachable_fast() {
    let Some(mut bao) = Bao::start() else { return };
    let client = bao.client();
    client
        .kv2("secret")
        .write("x", &serde_json::Map::new(), None)
        .unwrap();
    bao.stop();
    let start = Instant::now();
    let err = client.kv2("secret").read("x", None).unwrap_err();
    let took = start.elapsed();
    match &err {
        Error::Unreachable {
            service: Service::Vault,
            method,
            path,
            kind,
            ..
        } => {
            assert_eq!(*method, "GET");
            assert_eq!(*kind, TransportKind::Connection);
            assert_eq!(path, "/v1/secret/data/x");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit_code(), 3);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_name_that_does_not_resolve_is_unreachable_by_dns() {
    // A label longer than 63 bytes: the system resolver refuses the name
    // without sending a query, so nothing leaves the machine.
    let addr = format!("http://{}.invalid:8200", "a".repeat(64));
    let mut cfg = vault_config(&addr);
    cfg.max_retries = 0;
    let start = Instant::now();
    let e = Client::new(&cfg)
        .unwrap()
        .kv2("secret")
        .read("x", None)
        .unwrap_err();
    match &e {
        Error::Unreachable { kind, detail, .. } => {
            assert_eq!(*kind, TransportKind::Dns, "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.exit_code(), 3);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn slow_server_times_out_without_retry() {
    let server = TestServer::start(|_, _| {
        std::thread::sleep(Duration::from_secs(3));
        answer(200, &[], SECRET_OK)
    });
    let mut cfg = vault_config(server.addr());
    cfg.timeout = Duration::from_millis(500);
    let client = Client::new(&cfg).unwrap();
    let start = Instant::now();
    let err = client.kv2("secret").read("x", None).unwrap_err();
    let took = start.elapsed();
    match &err {
        Error::Unreachable { detail, kind, .. } => {
            assert!(detail.contains("timed out"), "{detail}");
            assert_eq!(*kind, TransportKind::Timeout);
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(server.seen().len(), 1, "a timeout is not retried");
}

#[test]
fn sealed_server() {
    let Some(bao) = Bao::start() else { return };
    let client = bao.client();
    bao.bao(&["operator", "seal"]).unwrap();
    let h = client.health().unwrap();
    assert!(h.sealed);
    match client.kv2("secret").read("x", None) {
        Err(e @ Error::Sealed { .. }) => assert_eq!(e.exit_code(), 3),
        other => panic!("expected Sealed, got {other:?}"),
    }
}

#[test]
fn tls_with_the_dev_ca() {
    let Some(bao) = Bao::start_tls() else { return };
    // Verified with the CA.
    let client = bao.client();
    assert!(!client.health().unwrap().sealed);
    client
        .kv2("secret")
        .write("tls", &serde_json::Map::new(), None)
        .unwrap();

    // Refused without it (the webpki roots do not know the dev CA), at once.
    let mut cfg = bao.config();
    cfg.tls.ca_cert = None;
    let start = Instant::now();
    match Client::new(&cfg).unwrap().health() {
        Err(Error::Unreachable { detail, kind, .. }) => {
            assert!(detail.contains("TLS"), "{detail}");
            assert_eq!(kind, TransportKind::Tls);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "TLS failures are not retried"
    );

    // The CA from a directory works too.
    let mut cfg = bao.config();
    let dir = bao.dir().join("cas");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(bao.ca_cert().unwrap(), dir.join("ca.pem")).unwrap();
    cfg.tls.ca_cert = None;
    cfg.tls.ca_path = Some(dir);
    Client::new(&cfg).unwrap().health().unwrap();

    // A server name the certificate does not hold is refused...
    let mut cfg = bao.config();
    cfg.tls.server_name = Some("vault.example.com".into());
    assert!(matches!(
        Client::new(&cfg).unwrap().health(),
        Err(Error::Unreachable { .. })
    ));
    // ...one it holds is accepted, though the URL says 127.0.0.1.
    cfg.tls.server_name = Some("localhost".into());
    Client::new(&cfg).unwrap().health().unwrap();

    // skip_verify accepts anything.
    let mut cfg = bao.config();
    cfg.tls.ca_cert = None;
    cfg.tls.skip_verify = true;
    Client::new(&cfg).unwrap().health().unwrap();
}

/// N requests to a real server, counted at a TCP proxy in front of it.
fn count_connections(bao: &Bao) -> usize {
    let target = bao.addr().split("://").nth(1).unwrap().to_string();
    let proxy = TcpProxy::start(&target);
    let mut cfg = bao.config();
    cfg.addr = format!(
        "{}://127.0.0.1:{}",
        bao.addr().split("://").next().unwrap(),
        proxy.port()
    );
    let client = Client::new(&cfg).unwrap();
    let kv = client.kv2("secret");
    let mut data = serde_json::Map::new();
    data.insert("k".into(), "v".into());
    for _ in 0..4 {
        kv.write("keepalive", &data, None).unwrap();
        kv.read("keepalive", None).unwrap().unwrap();
    }
    proxy.accepted()
}

#[test]
fn keep_alive_against_bao() {
    let Some(bao) = Bao::start() else { return };
    assert_eq!(count_connections(&bao), 1);
}

#[test]
fn keep_alive_against_bao_over_tls() {
    let Some(bao) = Bao::start_tls() else { return };
    assert_eq!(count_connections(&bao), 1);
}

#[test]
fn bad_ca_file_is_a_config_error() {
    let mut cfg = vault_config("https://127.0.0.1:1");
    cfg.tls.ca_cert = Some("/nonexistent/ca.pem".into());
    match Client::new(&cfg) {
        Err(Error::Config(m)) => {
            assert!(m.contains("VAULT_CACERT") && m.contains("/nonexistent/ca.pem"))
        }
        other => panic!("{other:?}"),
    }
}

/// Issue a certificate from a PKI mount of `bao`; writes `{name}.pem`
/// (certificate, then the issuing CA) and `{name}-key.pem` into `dir`.
fn issue(bao: &Bao, mount: &str, dir: &std::path::Path, name: &str, extra: &[&str]) {
    let mut args = vec![
        "write".to_string(),
        "-format=json".into(),
        format!("{mount}/issue/any"),
        format!("common_name={name}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out: serde_json::Value = serde_json::from_str(&bao.bao(&args).unwrap()).unwrap();
    let d = &out["data"];
    std::fs::write(
        dir.join(format!("{name}.pem")),
        format!(
            "{}\n{}\n",
            d["certificate"].as_str().unwrap(),
            d["issuing_ca"].as_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}-key.pem")),
        format!("{}\n", d["private_key"].as_str().unwrap()),
    )
    .unwrap();
}

#[test]
fn mutual_tls() {
    // A CA and certificates from one server's PKI engine...
    let Some(pki) = Bao::start() else { return };
    let dir = pki.dir().join("mtls");
    std::fs::create_dir_all(&dir).unwrap();
    pki.bao(&["secrets", "enable", "pki"]).unwrap();
    let ca: serde_json::Value = serde_json::from_str(
        &pki.bao(&[
            "write",
            "-format=json",
            "pki/root/generate/internal",
            "common_name=test-ca",
            "ttl=24h",
        ])
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        format!("{}\n", ca["data"]["certificate"].as_str().unwrap()),
    )
    .unwrap();
    pki.bao(&[
        "write",
        "pki/roles/any",
        "allow_any_name=true",
        "enforce_hostnames=false",
        "key_type=ec",
        "key_bits=256",
        "ttl=1h",
    ])
    .unwrap();
    issue(&pki, "pki", &dir, "localhost", &["ip_sans=127.0.0.1"]);
    issue(&pki, "pki", &dir, "client-sec1", &[]);
    issue(
        &pki,
        "pki",
        &dir,
        "client-pkcs8",
        &["private_key_format=pkcs8"],
    );

    // ...for a second server with a listener that requires client certificates.
    let port = common::bao::free_port();
    let hcl = format!(
        r#"listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_cert_file = "{d}/localhost.pem"
  tls_key_file = "{d}/localhost-key.pem"
  tls_client_ca_file = "{d}/ca.pem"
  tls_require_and_verify_client_cert = true
}}"#,
        d = dir.display()
    );
    let Some(server) = Bao::start_with_config(&hcl) else {
        return;
    };
    let mut cfg = server.config();
    cfg.addr = format!("https://127.0.0.1:{port}");
    cfg.tls.ca_cert = Some(dir.join("ca.pem"));
    // Refused without a client certificate.
    assert!(matches!(
        Client::new(&cfg).unwrap().health(),
        Err(Error::Unreachable { .. })
    ));
    // Accepted with one, whether its key is SEC1 or PKCS#8.
    for name in ["client-sec1", "client-pkcs8"] {
        cfg.tls.client_cert = Some(dir.join(format!("{name}.pem")));
        cfg.tls.client_key = Some(dir.join(format!("{name}-key.pem")));
        let client = Client::new(&cfg).unwrap();
        client.health().unwrap();
        client
            .kv2("secret")
            .write("mtls", &serde_json::Map::new(), None)
            .unwrap();
    }
    // A key file without a key is a configuration error naming the variable.
    cfg.tls.client_key = Some(dir.join("ca.pem"));
    match Client::new(&cfg) {
        Err(Error::Config(m)) => assert!(m.contains("VAULT_CLIENT_KEY"), "{m}"),
        other => panic!("{other:?}"),
    }
}
