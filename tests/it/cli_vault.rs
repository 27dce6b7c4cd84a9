//! `vaultid kv`, `health`, `login` against a real OpenBao, with the exit
//! codes of the CLI contract.

use crate::common;

use std::process::{Command, Output, Stdio};

use common::bao::Bao;
use common::{json_ok, tmpdir};
use serde_json::{json, Value};

fn vaultid(addr: &str, token: &str) -> Command {
    common::vaultid_cmd(addr, token, "cli-vault")
}

fn run(bao: &Bao, args: &[&str]) -> Output {
    vaultid(bao.addr(), bao.token())
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn kv_round_trip_through_the_cli() {
    let Some(bao) = Bao::shared() else { return };
    let p = format!("secret/cli/{}", uuid::Uuid::new_v4());
    let put = json_ok(&run(
        bao,
        &["kv", "put", &p, "user=app", "password=s3 cr'et"],
    ));
    assert_eq!(put["version"], 1);
    let got = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(got["data"], json!({"user": "app", "password": "s3 cr'et"}));
    assert_eq!(got["metadata"]["version"], 1);
    let field = run(bao, &["kv", "get", &p, "--field", "password"]);
    // The raw value, as `bao kv get -field` prints it to a pipe.
    assert_eq!(String::from_utf8_lossy(&field.stdout), "s3 cr'et");
    // CAS conflict: exit 4.
    let o = run(bao, &["kv", "put", &p, "user=x", "--cas", "0"]);
    assert_eq!(code(&o), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
    let patched = json_ok(&run(bao, &["kv", "patch", &p, "user=other", "--cas", "1"]));
    assert_eq!(patched["version"], 2);
    let got = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(
        got["data"],
        json!({"user": "other", "password": "s3 cr'et"})
    );
    let v1 = json_ok(&run(bao, &["kv", "get", &p, "--version", "1"]));
    assert_eq!(v1["data"]["user"], "app");
    // --mount form and list.
    let (_, rest) = p.split_once('/').unwrap();
    let listed = json_ok(&run(bao, &["kv", "list", "secret/cli"]));
    let leaf = rest.rsplit('/').next().unwrap();
    assert!(listed["keys"].as_array().unwrap().contains(&json!(leaf)));
    let same = json_ok(&run(bao, &["kv", "get", rest, "--mount", "secret"]));
    assert_eq!(same["data"]["user"], "other");
    // Soft delete: as `bao kv get`, the version's metadata with no data
    // (exit 0); a field of it fails with a distinct message. Undelete,
    // destroy.
    json_ok(&run(bao, &["kv", "delete", &p]));
    let gone = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(gone["data"], Value::Null, "{gone}");
    assert_eq!(gone["metadata"]["version"], 2);
    assert_ne!(gone["metadata"]["deletion_time"], "");
    let o = run(bao, &["kv", "get", &p, "-field=user"]);
    assert_eq!(code(&o), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("soft-deleted"));
    json_ok(&run(bao, &["kv", "undelete", &p, "--versions", "2"]));
    json_ok(&run(bao, &["kv", "get", &p]));
    json_ok(&run(bao, &["kv", "destroy", &p, "--versions", "1"]));
    let gone = json_ok(&run(bao, &["kv", "get", &p, "--version", "1"]));
    assert_eq!(gone["data"], Value::Null, "{gone}");
    assert_eq!(gone["metadata"]["destroyed"], true);
    let o = run(bao, &["kv", "get", &p, "--version", "1", "-field=user"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("destroyed"));
    let sub = json_ok(&run(bao, &["kv", "subkeys", &p]));
    assert_eq!(sub["subkeys"], json!({"user": null, "password": null}));
    // Metadata.
    json_ok(&run(
        bao,
        &[
            "kv",
            "metadata",
            "put",
            &p,
            "--max-versions",
            "5",
            "--custom",
            "owner=agent",
        ],
    ));
    let m = json_ok(&run(bao, &["kv", "metadata", "get", &p]));
    assert_eq!(m["max_versions"], 5);
    assert_eq!(m["custom_metadata"]["owner"], "agent");
    assert_eq!(m["current_version"], 2);
    json_ok(&run(bao, &["kv", "metadata", "delete", &p]));
    let o = run(bao, &["kv", "get", &p]);
    assert_eq!(code(&o), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
    // Values from stdin as JSON.
    let mut child = vaultid(bao.addr(), bao.token())
        .args(["kv", "put", &p, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"n": 1, "s": "x"}"#)
        .unwrap();
    json_ok(&child.wait_with_output().unwrap());
    let got = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(got["data"], json!({"n": 1, "s": "x"}));
}

#[test]
fn health_and_login() {
    let Some(bao) = Bao::shared() else { return };
    let h = json_ok(&run(bao, &["health"]));
    assert_eq!(h["initialized"], true);
    assert_eq!(h["sealed"], false);
    assert_eq!(h["standby"], false);
    assert!(h["version"].as_str().unwrap().starts_with('2'));
    let l = json_ok(&run(bao, &["login"]));
    assert!(!l["accessor"].as_str().unwrap().is_empty());
    assert!(l.get("token").is_none());
    assert!(!String::from_utf8_lossy(&run(bao, &["login"]).stdout).contains(bao.token()));
    let l = json_ok(&run(bao, &["login", "--print-token"]));
    assert_eq!(l["token"], bao.token());
}

#[test]
fn exit_codes() {
    let Some(bao) = Bao::shared() else { return };
    // No address: configuration, 2.
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", tmpdir("cli-vault"))
        .args(["kv", "get", "secret/x"])
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(2));
    // No token: 2.
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", tmpdir("cli-vault"))
        .env("VAULT_ADDR", bao.addr())
        .args(["kv", "get", "secret/x"])
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    // `up` with Vault on and no token: 2, and nothing generated.
    let dir = tmpdir("cli-vault-up");
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &dir)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULTID_KEY_DIR", &dir)
        .args(["up", "--author", "a@b.c", "--name", "n"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("VAULT_TOKEN"));
    assert!(!dir.join("private.pem").exists());
    // Bad token: permission denied, 5; the token is not echoed.
    let o = vaultid(bao.addr(), "hvs.canary-not-a-token")
        .args(["kv", "get", "secret/x"])
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(5));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("canary"));
    // Path without a mount: usage, 2.
    assert_eq!(code(&run(bao, &["kv", "get", "nomount"])), Some(2));
    // Nothing listens: unreachable, 3.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let o = vaultid(&addr, "t")
        .env("VAULT_MAX_RETRIES", "0")
        .args(["kv", "get", "secret/x"])
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(3));
    let o = vaultid(&addr, "t").args(["health"]).output().unwrap();
    assert_eq!(code(&o), Some(3));
}

#[test]
fn sealed_health_exits_3() {
    let Some(bao) = Bao::start() else { return };
    bao.bao(&["operator", "seal"]).unwrap();
    let o = run(&bao, &["health"]);
    assert_eq!(code(&o), Some(3));
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h["sealed"], true);
    let o = run(&bao, &["kv", "get", "secret/x"]);
    assert_eq!(code(&o), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sealed"));
}
