//! The agent's local gateway against a real OpenBao: an application with
//! no Vault library (raw HTTP here, Python's `urllib` in the soak) reads
//! and writes KV through it with no token of its own; the hostile-client
//! cases (slowloris, huge heads, bad chunking, request smuggling,
//! absolute-form targets, CONNECT, unknown peers, oversize bodies) are
//! each refused with their status while the gateway keeps serving the
//! others; `/metrics` and `/healthz` say what happened. Through
//! `/peers/NAME/`, `urllib` calls a server that decides as the framework's
//! middleware (`common::framework`: the Hydra double's introspection and
//! the framework's own signature code): accepted at first start, after a
//! restart on an empty key dir and after `vaultid up --recreate-keys`.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hydra_double::HydraDouble;
use common::bao::Bao;
use common::bindu::Oracle;
use common::framework::FrameworkServer;
use common::{json_ok, TestServer};
use serde_json::{json, Value};
use vaultid::identity::{Identity, KeyPair};
use vaultid::signing::sign_request;

/// An agent with a listener, stopped (SIGTERM, then waited for) on drop.
struct Gw {
    child: Child,
    log: PathBuf,
    address: String,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vaultid-gw-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts `vaultid agent` with `listener` and waits for it to listen.
fn start(bao: &Bao, dir: &Path, listener: Value, env: &[(&str, String)]) -> Gw {
    let cfg = dir.join("agent.json");
    let config = json!({"restore_identity": false, "listener": listener,
                        "status_file": dir.join("status.json")});
    std::fs::write(&cfg, config.to_string()).unwrap();
    let log = dir.join("agent.log");
    let mut c = common::agent_cmd(dir, "gw@example.com", "gateway");
    c.args(["agent", "--config"])
        .arg(&cfg)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut gw = Gw {
        child: c.spawn().unwrap(),
        log,
        address: String::new(),
    };
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&gw.log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"gateway_listening\"")) {
            let v: Value = serde_json::from_str(line).unwrap();
            gw.address = v["address"].as_str().unwrap().to_string();
            return gw;
        }
        assert!(Instant::now() < until, "the gateway did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One request over a fresh TCP connection; the raw answer (until the
/// server closes or the content is complete).
fn raw(addr: &str, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(request);
    read_answer(&mut s)
}

fn read_answer(s: &mut impl Read) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed inside a body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return (status, head, buf[end + 4..end + 4 + len].to_vec());
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!(
                "closed without an answer: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no answer: {e}; got {:?}", String::from_utf8_lossy(&buf)),
        }
    }
}

fn get(addr: &str, path: &str) -> (u16, Value) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nX-Vault-Token: not-a-real-token\r\nConnection: close\r\n\r\n");
    let (status, _, body) = raw(addr, req.as_bytes());
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn put_json(addr: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = raw(addr, req.as_bytes());
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn agent_alive(gw: &mut Gw) {
    assert!(gw.child.try_wait().unwrap().is_none(), "the agent exited");
}

#[test]
fn kv_through_the_gateway_with_the_agents_token() {
    let Some(bao) = Bao::shared() else { return };
    let dir = scratch("kv");
    let port = common::bao::free_port();
    let mut gw = start(bao, &dir, json!({"tcp": format!("127.0.0.1:{port}")}), &[]);
    let a = gw.address.clone();
    assert_eq!(a, format!("127.0.0.1:{port}"));

    // The application sends no token, or a wrong one: the agent's goes.
    let (s, v) = put_json(
        &a,
        "/v1/secret/data/gateway/app",
        &json!({"data": {"pw": "s3cret-1"}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["version"], 1);
    let (s, v) = get(&a, "/v1/secret/data/gateway/app");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["data"]["pw"], "s3cret-1");
    // What Vault holds is what was written through the gateway.
    let out = bao
        .bao(&["kv", "get", "-field=pw", "secret/gateway/app"])
        .unwrap();
    assert_eq!(out.trim(), "s3cret-1");
    // Vault's own errors pass through unchanged.
    let (s, _) = get(&a, "/v1/secret/data/gateway/missing");
    assert_eq!(s, 404);

    // Keep-alive: three requests on one connection.
    let mut conn = TcpStream::connect(&a).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for _ in 0..3 {
        conn.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: gw\r\n\r\n")
            .unwrap();
        let (s, head, _) = read_answer(&mut conn);
        assert_eq!(s, 200);
        assert!(head.contains("Connection: keep-alive"), "{head}");
    }

    let (s, v) = get(&a, "/healthz");
    assert_eq!(s, 200, "{v}");
    let (s, _, metrics) = raw(
        &a,
        b"GET /metrics HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("vaultid_gateway_requests_total{route=\"vault\",code=\"200\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 5, "{line}");
    assert!(
        metrics.contains("process_resident_memory_bytes "),
        "{metrics}"
    );
    assert!(metrics
        .contains("vaultid_gateway_request_duration_seconds_bucket{route=\"vault\",le=\"+Inf\"}"));

    // Neither the root token nor the secret reached the agent's log.
    agent_alive(&mut gw);
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(!log.contains(bao.token()), "token in the log");
    assert!(!log.contains("s3cret-1"), "secret in the log");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_clients_are_refused_and_the_others_served() {
    let Some(bao) = Bao::shared() else { return };
    let dir = scratch("hostile");
    let port = common::bao::free_port();
    let mut gw = start(
        bao,
        &dir,
        json!({"tcp": format!("127.0.0.1:{port}"), "header_timeout": "1s", "body_timeout": "1s",
               "vault": {"allow": ["sys/health", "secret/data/gateway/"]}}),
        &[],
    );
    let a = gw.address.clone();
    let big_head = format!(
        "GET /v1/sys/health HTTP/1.1\r\nHost: gw\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("1 MiB header", big_head.into_bytes(), 431),
        ("bad chunking", b"POST /v1/secret/data/gateway/c HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("CL+TE smuggling", b"POST /v1/sys/health HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/sys/mounts HTTP/1.1\r\nHost: gw\r\n\r\n".to_vec(), 400),
        ("two lengths", b"POST /v1/sys/health HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(), 400),
        ("absolute URL to another host", b"GET http://127.0.0.2:1/v1/sys/health HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n".to_vec(), 400),
        ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n".to_vec(), 405),
        ("peer not configured", b"GET /peers/elsewhere/x HTTP/1.1\r\nHost: gw\r\n\r\n".to_vec(), 404),
        ("outside the allow-list", b"GET /v1/sys/mounts HTTP/1.1\r\nHost: gw\r\n\r\n".to_vec(), 403),
        ("dot segments", b"GET /v1/secret/data/gateway/../../../sys/mounts HTTP/1.1\r\nHost: gw\r\n\r\n".to_vec(), 400),
        ("3 MiB body", format!("PUT /v1/secret/data/gateway/big HTTP/1.1\r\nHost: gw\r\nContent-Length: {}\r\n\r\n", 3 << 20).into_bytes(), 413),
        ("no Host", b"GET /v1/sys/health HTTP/1.1\r\n\r\n".to_vec(), 400),
    ];
    for (name, request, want) in cases {
        let (status, head, _) = raw(&a, &request);
        assert_eq!(status, want, "{name}: {head}");
        // The parser's refusals close the connection; a path without a
        // route is answered like any other request.
        if !matches!(
            name,
            "peer not configured" | "outside the allow-list" | "dot segments"
        ) {
            assert!(head.contains("Connection: close"), "{name}: {head}");
        }
        let (s, _) = get(&a, "/v1/sys/health");
        assert_eq!(s, 200, "served after {name}");
    }
    // A 3 MiB chunked body is cut off at the cap too.
    let mut s = TcpStream::connect(&a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"PUT /v1/secret/data/gateway/big HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "b".repeat(1 << 20));
    for _ in 0..3 {
        if s.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    assert_eq!(read_answer(&mut s).0, 413);
    assert!(
        bao.bao(&["kv", "get", "secret/gateway/big"]).is_err(),
        "nothing was written"
    );

    // Slowloris: a head trickled a byte at a time is cut off at the
    // header deadline (1 s), not kept open by each byte; meanwhile other
    // clients are served.
    let addr = a.clone();
    let slowloris = std::thread::spawn(move || {
        let start = Instant::now();
        let mut slow = TcpStream::connect(&addr).unwrap();
        for b in b"GET /v1/sys/health HTTP/1.1\r\nHost: gw\r\nX-Slow: "
            .iter()
            .chain([b'a'; 40].iter())
        {
            if slow.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            let mut probe = [0u8; 1];
            slow.set_nonblocking(true).unwrap();
            let got = slow.peek(&mut probe);
            slow.set_nonblocking(false).unwrap();
            if matches!(got, Ok(n) if n > 0) {
                break;
            }
        }
        slow.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (read_answer(&mut slow).0, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(&a, "/v1/sys/health").0,
        200,
        "served beside the slow client"
    );
    let (status, waited) = slowloris.join().unwrap();
    assert_eq!(status, 408, "slowloris answered after {waited:?}");
    assert!(waited < Duration::from_secs(3), "cut off after {waited:?}");

    agent_alive(&mut gw);
    let (s, _, metrics) = raw(&a, b"GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n");
    assert_eq!(s, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("vaultid_gateway_requests_total{route=\"refused\",code=\"431\"} 1"),
        "{metrics}"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_unix_socket_with_its_mode() {
    let Some(bao) = Bao::shared() else { return };
    let dir = scratch("unix");
    let sock = dir.join("run").join("gw.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let gw = start(bao, &dir, json!({"socket": sock, "mode": "0660"}), &[]);
    assert_eq!(Path::new(&gw.address), sock);
    let m = std::fs::symlink_metadata(&sock).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.mode() & 0o777, 0o660);
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /v1/auth/token/lookup-self HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let (status, _, body) = read_answer(&mut s);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["data"]["policies"].to_string().contains("root"), "{v}");
    drop(gw);
    assert!(!sock.exists(), "the socket is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_non_loopback_address_is_refused() {
    let Some(bao) = Bao::shared() else { return };
    let dir = scratch("refuse");
    let cfg = dir.join("agent.json");
    std::fs::write(
        &cfg,
        json!({"restore_identity": false, "listener": {"tcp": "0.0.0.0:8100"}}).to_string(),
    )
    .unwrap();
    let out = common::agent_cmd(&dir, "gw@example.com", "gateway")
        .args(["agent", "--config"])
        .arg(&cfg)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Python's `urllib` (no Vault library, no token) reads and writes KV
/// through the gateway for two minutes while the agent's AppRole token
/// (10 s, at most 25 s) is renewed and then replaced by new logins: every
/// request succeeds.
#[test]
fn an_unmodified_python_client_through_token_renewals_and_relogins() {
    let Some(bao) = Bao::shared() else { return };
    let _ = bao.bao(&["auth", "enable", "-path=approle-gw", "approle"]);
    let policy = r#"path "secret/data/gw-soak/*" { capabilities = ["create", "read", "update"] }"#;
    bao.bao_with_input(&["policy", "write", "gw-soak", "-"], Some(policy))
        .unwrap();
    bao.bao(&[
        "write",
        "auth/approle-gw/role/soak",
        "token_policies=gw-soak",
        "token_ttl=10s",
        "token_max_ttl=25s",
    ])
    .unwrap();
    let role_id = bao
        .bao(&[
            "read",
            "-field=role_id",
            "auth/approle-gw/role/soak/role-id",
        ])
        .unwrap();
    let secret_id = bao
        .bao(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle-gw/role/soak/secret-id",
        ])
        .unwrap();
    let dir = scratch("soak");
    let port = common::bao::free_port();
    let cfg = dir.join("agent.json");
    let sink = dir.join("token");
    std::fs::write(
        &cfg,
        json!({"restore_identity": false, "token": {"sink": sink},
               "listener": {"tcp": format!("127.0.0.1:{port}")}})
        .to_string(),
    )
    .unwrap();
    let log = dir.join("agent.log");
    let mut c = common::agent_cmd(&dir, "gw@example.com", "gateway");
    c.args(["agent", "--config"])
        .arg(&cfg)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_AUTH_METHOD", "approle")
        .env("VAULT_AUTH_MOUNT", "approle-gw")
        .env("VAULT_ROLE_ID", role_id.trim())
        .env("VAULT_SECRET_ID", secret_id.trim())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let gw = Gw {
        child: c.spawn().unwrap(),
        log,
        address: format!("127.0.0.1:{port}"),
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&gw.log)
        .unwrap_or_default()
        .contains("gateway_listening")
    {
        assert!(Instant::now() < until, "no gateway");
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = r#"
import json, sys, time, urllib.request, urllib.error
base, seconds = sys.argv[1], float(sys.argv[2])
ok = errors = 0
first_error = None
end = time.time() + seconds
i = 0
while time.time() < end:
    i += 1
    try:
        body = json.dumps({"data": {"n": str(i)}}).encode()
        req = urllib.request.Request(base + "/v1/secret/data/gw-soak/app", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        got = json.load(urllib.request.urlopen(base + "/v1/secret/data/gw-soak/app", timeout=10))
        if got["data"]["data"]["n"] != str(i):
            raise ValueError("read %r after writing %d" % (got["data"]["data"]["n"], i))
        ok += 2
    except Exception as e:
        errors += 1
        if first_error is None:
            first_error = repr(e)
    time.sleep(0.05)
print(json.dumps({"ok": ok, "errors": errors, "first_error": first_error}))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &format!("http://{}", gw.address), "120"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["errors"], 0, "{summary}");
    assert!(summary["ok"].as_u64().unwrap() > 200, "{summary}");
    // The token was replaced by new logins (each one written to the sink).
    let log = std::fs::read_to_string(&gw.log).unwrap();
    let logins = log
        .lines()
        .filter(|l| l.contains("\"token_written\""))
        .count();
    assert!(
        logins >= 4,
        "{logins} tokens in 120 s with a 25 s maximum TTL:\n{log}"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// `/peers/NAME/...`: signed calls to a server that decides as the framework

const PEER_AUTHOR: &str = "peers@example.com";

/// `vaultid agent` with the identity restored at start (`restore_identity`),
/// Hydra (the double) and Vault (OpenBao) configured, and `listener`.
fn start_signed(bao: &Bao, hydra: &HydraDouble, name: &str, dir: &Path, listener: &Value) -> Gw {
    let cfg = dir.join("agent.json");
    std::fs::write(
        &cfg,
        json!({"restore_identity": true, "listener": listener}).to_string(),
    )
    .unwrap();
    let log = dir.join("agent.log");
    let mut c = peer_env(common::agent_cmd(dir, PEER_AUTHOR, name), bao, hydra);
    c.args(["agent", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut gw = Gw {
        child: c.spawn().unwrap(),
        log,
        address: String::new(),
    };
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&gw.log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"gateway_listening\"")) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["peers_signed"], true, "{line}");
            gw.address = v["address"].as_str().unwrap().to_string();
            return gw;
        }
        assert!(
            gw.child.try_wait().unwrap().is_none() && Instant::now() < until,
            "the gateway did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn peer_env(mut c: Command, bao: &Bao, hydra: &HydraDouble) -> Command {
    c.env("HYDRA__ADMIN_URL", hydra.admin_url())
        .env("HYDRA__PUBLIC_URL", hydra.public_url())
        .env("HYDRA__MAX_RETRIES", "0")
        .env("HYDRA__TIMEOUT", "3s")
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token());
    c
}

/// One request with Python's `urllib` (an unmodified client: no token, no
/// signature of its own): (status, body).
fn urllib(
    gw: &Gw,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Vec<u8>) {
    let script = r#"
import base64, json, sys, urllib.request, urllib.error
url, method, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
data = sys.stdin.buffer.read()
req = urllib.request.Request(url, data=data if data else None, method=method, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(json.dumps({"status": status, "body_b64": base64.b64encode(body).decode()}))
"#;
    let hs: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut child = Command::new("python3")
        .args([
            "-c",
            script,
            &format!("http://{}{path}", gw.address),
            method,
            &Value::Object(hs).to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let body = vaultid::fuzzing::codec::base64::decode(v["body_b64"].as_str().unwrap()).unwrap();
    (v["status"].as_u64().unwrap() as u16, body)
}

#[test]
fn peers_are_called_signed_across_restarts_and_recreated_keys() {
    let Some(bao) = Bao::shared() else { return };
    let Some(oracle) = Oracle::start() else {
        return;
    };
    let hydra = HydraDouble::start();
    let peer = FrameworkServer::start(&hydra, oracle);
    // A peer that redirects to another origin, which must see nothing.
    let elsewhere = TestServer::start(|_, _| common::answer(200, &[], "{}"));
    let target = format!("{}/stolen", elsewhere.addr());
    let mover =
        TestServer::start(move |_, _| common::answer(307, &[("Location", target.as_str())], ""));
    // A peer that refuses the first token it sees (as after a revocation).
    let flaky = TestServer::start(|_, i| {
        if i == 0 {
            common::answer(401, &[], "{\"error\":\"token_not_active\"}")
        } else {
            common::answer(200, &[], "{}")
        }
    });
    let name = format!("gw-peer-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let did = Identity::new(PEER_AUTHOR, &name, None).unwrap().did;
    let port = common::bao::free_port();
    // max_body allows 8 MiB for Vault; a signed call still stops at 2 MiB.
    let listener = json!({"tcp": format!("127.0.0.1:{port}"), "max_body": 8 << 20,
        "peers": {"bindu": {"url": peer.url("/agent")}, "mover": {"url": mover.addr()},
                  "flaky": {"url": flaky.addr()}}});
    let body = "{\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"text\":\"h\u{e9}llo \u{1F600} \\n\"},\"id\":1}";
    let accepted = |gw: &Gw, what: &str| {
        let (status, answer) = urllib(
            gw,
            "POST",
            "/peers/bindu/a2a?x=1",
            body.as_bytes(),
            // What the application sends of its own is not what goes.
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer not-the-agents"),
                ("X-DID", "did:bindu:someone:else:1"),
            ],
        );
        assert_eq!(
            status,
            200,
            "{what}: {} / {}",
            peer.last(),
            String::from_utf8_lossy(&answer)
        );
        let v: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(v["echo"], body, "{what}: the exact bytes were sent");
        assert_eq!(v["path"], "/agent/a2a?x=1", "{what}");
        let seen = peer.server.seen().pop().unwrap();
        assert_eq!(seen.body, body.as_bytes(), "{what}");
        assert_eq!(seen.header("x-did"), Some(did.as_str()), "{what}");
        assert!(
            seen.header("authorization")
                .unwrap()
                .starts_with("Bearer ory_at_"),
            "{what}"
        );
    };

    // First start, on an empty key dir: the agent makes the identity.
    let a = scratch("peer-a");
    let mut gw = start_signed(bao, &hydra, &name, &a, &listener);
    let before = hydra.count("oauth2TokenExchange");
    accepted(&gw, "first start");
    // A GET without a body signs the empty body; the token is reused.
    let (s, _) = urllib(&gw, "GET", "/peers/bindu/status", b"", &[]);
    assert_eq!(s, 200, "{}", peer.last());
    for i in 0..3 {
        let (s, _) = urllib(&gw, "PUT", "/peers/bindu/x", b"{}", &[]);
        assert_eq!(s, 200, "call {i}: {}", peer.last());
    }
    assert_eq!(
        hydra.count("oauth2TokenExchange") - before,
        1,
        "five calls, one token"
    );

    // Refused, and nothing sent: a peer not configured, a route with dot
    // segments, a body above the framework's 2 MiB, a body the framework
    // could not check (not UTF-8).
    let sent = peer.count();
    let raw_to = |req: &[u8]| raw(&gw.address, req).0;
    assert_eq!(
        raw_to(b"POST /peers/billing/a2a HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
        404
    );
    assert_eq!(
        raw_to(b"GET /peers/bindu/../../v1/sys/mounts HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        400
    );
    assert_eq!(
        raw_to(b"GET /peers/bindu/%2e%2e/admin HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        400
    );
    assert_eq!(
        raw_to(b"GET /peers/bindu%2fx/a HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        404
    );
    let (s, _) = urllib(
        &gw,
        "POST",
        "/peers/bindu/big",
        &vec![b'a'; (2 << 20) + 1],
        &[],
    );
    assert_eq!(s, 413);
    let (s, v) = urllib(&gw, "POST", "/peers/bindu/a2a", b"\xff\xfe", &[]);
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&v));
    assert_eq!(peer.count(), sent, "nothing reached the peer");
    // A 401 is answered once more, with a new token.
    let exchanges = hydra.count("oauth2TokenExchange");
    let (s, _) = urllib(&gw, "POST", "/peers/flaky/a2a", b"{}", &[]);
    assert_eq!(s, 200);
    let seen = flaky.seen();
    assert_eq!(seen.len(), 2);
    assert_ne!(
        seen[0].header("authorization"),
        seen[1].header("authorization")
    );
    assert_eq!(hydra.count("oauth2TokenExchange"), exchanges + 1);
    // A redirect to another origin is passed back, not followed.
    let (s, _) = urllib(&gw, "POST", "/peers/mover/a2a", b"{\"secret\":1}", &[]);
    assert_eq!(s, 307);
    assert!(elsewhere.seen().is_empty(), "another origin was contacted");
    assert_eq!(mover.seen().len(), 1);
    agent_alive(&mut gw);
    let first_key = KeyPair::from_pem(&std::fs::read_to_string(a.join("private.pem")).unwrap())
        .unwrap()
        .public()
        .base58();
    drop(gw);

    // A restart on an empty key dir: the identity comes back from OpenBao.
    let b = scratch("peer-b");
    let mut gw = start_signed(bao, &hydra, &name, &b, &listener);
    let log = std::fs::read_to_string(&gw.log).unwrap();
    let restored = log
        .lines()
        .find(|l| l.contains("\"identity_restored\""))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(restored.contains("\"keys_source\":\"vault\""), "{restored}");
    accepted(&gw, "after a restart on an empty disk");
    let old_keys =
        KeyPair::from_pem(&std::fs::read_to_string(b.join("private.pem")).unwrap()).unwrap();
    assert_eq!(old_keys.public().base58(), first_key);

    // `vaultid up --recreate-keys` beside the running agent: the next call
    // is signed with the new key, and the old key is refused.
    let re = json_ok(
        &peer_env(common::agent_cmd(&b, PEER_AUTHOR, &name), bao, &hydra)
            .args(["up", "--recreate-keys"])
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_ne!(re["public_key_base58"], first_key.as_str());
    assert_eq!(
        hydra.client(&did).unwrap()["metadata"]["public_key"],
        re["public_key_base58"]
    );
    accepted(&gw, "after --recreate-keys");
    let t = json_ok(
        &peer_env(common::agent_cmd(&b, PEER_AUTHOR, &name), bao, &hydra)
            .arg("token")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    let token = t["access_token"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let by_old = sign_request(&old_keys, &did, body.as_bytes(), now).unwrap();
    let mut req = format!(
        "POST /agent/a2a HTTP/1.1\r\nHost: peer\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in by_old.to_pairs() {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let peer_addr = peer.server.addr().trim_start_matches("http://").to_string();
    assert_eq!(raw(&peer_addr, req.as_bytes()).0, 403);
    assert_eq!(peer.last(), "crypto_mismatch");

    // Nothing secret reached the agent's log.
    agent_alive(&mut gw);
    let log = std::fs::read_to_string(&gw.log).unwrap();
    assert!(!log.contains(token), "token in the log");
    assert!(!log.contains(bao.token()), "Vault token in the log");
    drop(gw);
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// The gateway as a library type: a program starts it in its own thread
/// with its own Vault client, reads KV through it, and decides what
/// `/healthz` answers.
#[test]
fn a_program_runs_the_gateway_in_its_own_thread() {
    let Some(bao) = Bao::shared() else { return };
    let dir = scratch("library");
    let port = common::bao::free_port();
    let listener: vaultid::agent::ListenerConfig =
        serde_json::from_value(json!({"tcp": format!("127.0.0.1:{port}")})).unwrap();
    let env = vaultid::Config::local("lib@example.com", "gateway-lib", dir.join("keys"));
    let client = std::sync::Arc::new(vaultid::vault::Client::new(&bao.config()).unwrap());
    let running = vaultid::agent::start_gateway(&listener, &env, client).unwrap();
    let addr = running.address().to_string();
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    bao.client()
        .write("secret/data/gw-lib/app", &json!({"data": {"pw": "lib-1"}}))
        .unwrap();
    // The program's client token replaces the application's.
    let (status, body) = get(&addr, "/v1/secret/data/gw-lib/app");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["data"]["pw"], "lib-1");
    // Without the agent's loop, /healthz waits to be told.
    assert_eq!(get(&addr, "/healthz").0, 503);
    running.set_health(true, json!({"healthy": true}));
    let (status, body) = get(&addr, "/healthz");
    assert_eq!((status, &body["healthy"]), (200, &json!(true)));
    running.set_health(false, json!({"healthy": false, "problems": ["told so"]}));
    assert_eq!(get(&addr, "/healthz").0, 503);
    running.stop(Duration::from_secs(2));
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still listening after stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
