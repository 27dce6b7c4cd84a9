//! The command line's contract against a real OpenBao: log levels, one-line
//! errors, strict arguments, the Vault CLI's spellings, mount-root listing.

use crate::common;

use std::process::{Command, Output};

use common::bao::Bao;
use common::{json_ok, tmpdir};

fn vaultid(addr: &str, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tmpdir("cli-contract"))
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token);
    c
}

fn run(bao: &Bao, args: &[&str]) -> Output {
    vaultid(bao.addr(), bao.token())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit `code`, nothing on stdout, exactly one line on stderr, which
/// contains `naming`.
fn refused(o: &Output, code: i32, naming: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert!(err.contains(naming), "{naming:?} not named in {err:?}");
}

fn secret_path() -> String {
    format!("secret/contract/{}", uuid::Uuid::new_v4())
}

#[test]
fn unknown_log_level_is_a_usage_error_naming_the_variable() {
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("VAULTID_LOG", "loud")
        .args(["id", "--author", "a@example.com", "--name", "n"])
        .output()
        .unwrap();
    refused(&o, 2, "VAULTID_LOG");
    for level in ["off", "error", "warn", "info", "debug", "trace", "DEBUG"] {
        let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("VAULTID_LOG", level)
            .args(["id", "--author", "a@example.com", "--name", "n"])
            .output()
            .unwrap();
        json_ok(&o);
    }
}

#[test]
fn debug_logs_every_request_and_no_secret() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    json_ok(&run(bao, &["kv", "put", &p, "password=canary-value-1"]));
    let o = vaultid(bao.addr(), bao.token())
        .env("VAULTID_LOG", "debug")
        .args(["kv", "get", &p])
        .output()
        .unwrap();
    json_ok(&o);
    let err = stderr(&o);
    let (_, inner) = p.split_once('/').unwrap();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(&format!("GET {}/v1/secret/data/{inner}", bao.addr())))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line = lines[0];
    assert!(line.contains("HTTP 200"), "{line}");
    assert!(line.contains(" ms"), "{line}");
    assert!(line.contains("0 retries"), "{line}");
    assert!(!err.contains("canary-value-1"), "{err}");
    assert!(!err.contains(bao.token()), "{err}");
    // A query string (a version, or a list flag) is not logged.
    let o = vaultid(bao.addr(), bao.token())
        .env("VAULTID_LOG", "debug")
        .args(["kv", "get", &p, "--version", "1"])
        .output()
        .unwrap();
    json_ok(&o);
    assert!(!stderr(&o).contains('?'), "{}", stderr(&o));
    // Without debug, nothing.
    let o = run(bao, &["kv", "get", &p]);
    json_ok(&o);
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_policy_denial_is_one_line() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    json_ok(&run(bao, &["kv", "put", &p, "a=b"]));
    let policy = format!("narrow-{}", uuid::Uuid::new_v4());
    bao.bao_with_input(
        &["policy", "write", &policy, "-"],
        Some("path \"secret/data/elsewhere\" { capabilities = [\"read\"] }\n"),
    )
    .unwrap();
    let token = bao
        .bao(&["token", "create", "-policy", &policy, "-field=token"])
        .unwrap();
    // OpenBao answers `1 error occurred:\n\t* permission denied\n\n`.
    let o = vaultid(bao.addr(), token.trim())
        .args(["kv", "get", &p])
        .output()
        .unwrap();
    refused(&o, 5, "permission denied");
    assert!(!stderr(&o).contains("error occurred"), "{}", stderr(&o));
}
