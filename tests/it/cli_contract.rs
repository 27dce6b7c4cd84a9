//! The command line's contract against a real OpenBao: log levels, one-line
//! errors, strict arguments, the Vault CLI's spellings, mount-root listing.

use crate::common;

use std::process::{Command, Output};

use common::bao::Bao;
use common::{json_ok, tmpdir};

fn vaultid(addr: &str, token: &str) -> Command {
    common::vaultid_cmd(addr, token, "cli-contract")
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

fn put(bao: &Bao, p: &str) {
    json_ok(&run(
        bao,
        &["kv", "put", p, "password=hunter2 x", "user=alice"],
    ));
}

#[test]
fn field_prints_exactly_what_bao_prints() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    put(bao, &p);
    let theirs = bao.bao(&["kv", "get", "-field=password", &p]).unwrap();
    assert_eq!(theirs, "hunter2 x");
    // Flags after the path too (bao itself refuses that order).
    for args in [
        &["kv", "get", &p, "-field=password"][..],
        &["kv", "get", "-field=password", &p],
        &["kv", "get", "-field", "password", &p],
        &["kv", "get", &p, "--field", "password"],
        &["kv", "get", &p, "--field=password"],
    ] {
        let o = run(bao, args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(String::from_utf8(o.stdout).unwrap(), theirs, "{args:?}");
    }
    // A missing field is refused, naming it.
    refused(&run(bao, &["kv", "get", &p, "-field=nope"]), 2, "\"nope\"");
    // On a terminal (a pty from util-linux's `script`) a newline follows,
    // as bao's does.
    let o = Command::new("script")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", tmpdir("cli-contract"))
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token())
        .args(["-qec"])
        .arg(format!(
            "{} kv get -field=password {p}",
            env!("CARGO_BIN_EXE_vaultid")
        ))
        .arg("/dev/null")
        .output()
        .expect("util-linux `script` runs the command on a pty");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hunter2 x\r\n");
}

#[test]
fn vault_cli_spellings_are_accepted() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    let (mount, inner) = p.split_once('/').unwrap();
    json_ok(&run(bao, &["kv", "put", "-cas=0", &p, "a=1"]));
    json_ok(&run(bao, &["kv", "put", &p, "-cas", "1", "a=2"]));
    refused(
        &run(bao, &["kv", "put", &p, "--cas=1", "a=3"]),
        4,
        "check-and-set",
    );
    for args in [
        &["kv", "get", "-version=1", &p][..],
        &["kv", "get", "-version", "1", &p],
        &["kv", "get", &p, "--version=1"],
        &["kv", "get", "-mount=secret", "-version=1", inner],
        &["kv", "get", "-mount", mount, inner, "-version", "1"],
        &[
            "kv",
            "get",
            "--mount",
            mount,
            inner,
            "--version",
            "1",
            "-format=json",
        ],
    ] {
        let v = json_ok(&run(bao, args));
        assert_eq!(v["data"]["a"], "1", "{args:?}");
    }
    // -format=table is the readable form; other formats are refused.
    let o = run(bao, &["kv", "get", &p, "-format=table"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("== Data =="));
    refused(&run(bao, &["kv", "get", &p, "-format=yaml"]), 2, "yaml");
    // delete / undelete / destroy with -versions, metadata with Vault's flags.
    json_ok(&run(bao, &["kv", "delete", "-versions=1", &p]));
    json_ok(&run(bao, &["kv", "undelete", &p, "-versions", "1"]));
    json_ok(&run(
        bao,
        &[
            "kv",
            "metadata",
            "put",
            "-max-versions=7",
            "-custom-metadata=owner=ops",
            &p,
        ],
    ));
    let m = json_ok(&run(
        bao,
        &["kv", "metadata", "get", "-mount=secret", inner],
    ));
    assert_eq!(m["max_versions"], 7);
    assert_eq!(m["custom_metadata"], serde_json::json!({"owner": "ops"}));
    json_ok(&run(bao, &["kv", "destroy", "-versions=1", &p]));
}

#[test]
fn arguments_a_command_does_not_understand_are_refused() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    put(bao, &p);
    // `kv delete PATH junk` deletes nothing.
    refused(
        &run(bao, &["kv", "delete", &p, "junk"]),
        2,
        "unexpected argument 2",
    );
    let v = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(v["data"]["user"], "alice");
    // A repeated single-valued flag, in either spelling.
    refused(
        &run(
            bao,
            &["kv", "get", &p, "--field", "user", "-field=password"],
        ),
        2,
        "-field",
    );
    // A flag another subcommand has.
    refused(&run(bao, &["kv", "get", &p, "-cas=1"]), 2, "-cas");
    refused(
        &run(bao, &["kv", "list", &p, "-versions=1"]),
        2,
        "-versions",
    );
    refused(
        &run(bao, &["kv", "metadata", "get", &p, "-max-versions=3"]),
        2,
        "-max-versions",
    );
    // Every command refuses an unknown flag (before touching anything).
    let commands: &[&[&str]] = &[
        &["up"],
        &["id"],
        &["show"],
        &["did-document"],
        &["sign", "text"],
        &["verify", "text", "sig"],
        &["token"],
        &["kv", "get", &p],
        &["kv", "put", &p, "a=b"],
        &["kv", "list", "secret"],
        &["kv", "metadata", "get", &p],
        &["login"],
        &["health"],
        &["env", &p],
        &["rotate", &p, "user"],
        &["cred", "list", "agent"],
        &["unseal"],
        &["agent", "status"],
    ];
    for cmd in commands {
        for bad in ["-bogus-flag", "--bogus-flag=1"] {
            let mut args = cmd.to_vec();
            args.push(bad);
            refused(&run(bao, &args), 2, bad.split('=').next().unwrap());
        }
        // An extra positional (env takes any number of secrets).
        if !["env", "kv", "agent"].contains(&cmd[0]) {
            let mut args = cmd.to_vec();
            args.extend(["extra1", "extra2", "extra3"]);
            refused(&run(bao, &args), 2, "unexpected argument");
        }
    }
    let v = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(v["metadata"]["version"], 1, "nothing was written");
    // Repeated single-valued flags on the other command groups.
    refused(
        &run(
            bao,
            &[
                "id",
                "--author",
                "a@example.com",
                "-author=b@example.com",
                "--name",
                "n",
            ],
        ),
        2,
        "-author",
    );
    refused(
        &run(bao, &["rotate", &p, "user", "-length=8", "--length", "9"]),
        2,
        "-length",
    );
    refused(
        &run(bao, &["env", &p, "--mount=secret", "-mount", "secret"]),
        2,
        "-mount",
    );
    refused(
        &run(bao, &["cred", "list", "a", "-prefix=x", "-prefix=y"]),
        2,
        "-prefix",
    );
}

#[test]
fn a_mount_root_lists_and_a_missing_mount_says_so() {
    let Some(bao) = Bao::shared() else { return };
    let top = format!("root-{}", uuid::Uuid::new_v4());
    json_ok(&run(bao, &["kv", "put", &format!("secret/{top}/x"), "a=b"]));
    let theirs: serde_json::Value =
        serde_json::from_str(&bao.bao(&["kv", "list", "-format=json", "secret"]).unwrap()).unwrap();
    for args in [
        &["kv", "list", "secret"][..],
        &["kv", "list", "secret/"],
        &["kv", "list", "-mount=secret"],
    ] {
        let v = json_ok(&run(bao, args));
        assert!(
            v["keys"]
                .as_array()
                .unwrap()
                .contains(&format!("{top}/").into()),
            "{args:?}: {v}"
        );
        assert_eq!(v["keys"], theirs, "{args:?}");
    }
    let nosuch = format!("nosuch-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    for args in [
        &["kv", "list", nosuch.as_str()][..],
        &["kv", "get", &format!("{nosuch}/app")],
        &["kv", "put", &format!("{nosuch}/app"), "a=b"],
        &["kv", "metadata", "get", &format!("{nosuch}/app")],
    ] {
        let o = run(bao, args);
        refused(&o, 2, "mount does not exist");
        assert!(stderr(&o).contains(&nosuch), "{}", stderr(&o));
    }
    // A missing secret in a mount that exists is "not found".
    let o = run(bao, &["kv", "get", &format!("secret/{top}/nothing")]);
    refused(&o, 1, "not found");
}

#[test]
fn rotating_a_field_that_does_not_exist_needs_create() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    put(bao, &p);
    let o = run(bao, &["rotate", &p, "pasword"]);
    refused(&o, 2, "\"pasword\"");
    assert!(stderr(&o).contains("--create"), "{}", stderr(&o));
    let v = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(v["metadata"]["version"], 1, "nothing was written");
    assert_eq!(v["data"]["password"], "hunter2 x");
    let r = json_ok(&run(bao, &["rotate", &p, "token", "--create"]));
    assert_eq!(r["version"], 2);
    let v = json_ok(&run(bao, &["kv", "get", &p]));
    assert_eq!(v["data"]["password"], "hunter2 x");
    assert_eq!(v["data"]["token"].as_str().unwrap().len(), 43);
}

#[test]
fn every_command_takes_human() {
    let Some(bao) = Bao::shared() else { return };
    let p = secret_path();
    put(bao, &p);
    let dir = tmpdir("human");
    let d = dir.display().to_string();
    let ident = [
        "--author",
        "h@example.com",
        "--name",
        "human",
        "--key-dir",
        &d,
    ];
    json_ok(&run(bao, &[&["up"][..], &ident].concat()));
    let sig = json_ok(&run(bao, &[&["sign", "hello"][..], &ident].concat()));
    let sig = sig["signature"].as_str().unwrap().to_string();
    let commands: Vec<Vec<&str>> = vec![
        [&["up"][..], &ident].concat(),
        [&["id"][..], &ident].concat(),
        [&["show"][..], &ident].concat(),
        [&["did-document"][..], &ident].concat(),
        [&["sign", "hello"][..], &ident].concat(),
        [&["verify", "hello", &sig][..], &ident].concat(),
        vec!["kv", "get", &p],
        vec!["kv", "list", "secret"],
        vec!["kv", "metadata", "get", &p],
        vec!["kv", "subkeys", &p],
        vec!["login", "-no-store"],
        vec!["health"],
        vec!["env", &p],
        vec!["cred", "list", "human-agent"],
        vec!["version"],
    ];
    for cmd in commands {
        let mut args = cmd.clone();
        args.push("--human");
        let o = run(bao, &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.starts_with('{'), "{args:?} printed JSON: {out}");
    }
    // The token command (Hydra) accepts it too: it fails on the missing
    // Hydra configuration, not on the flag.
    let o = run(bao, &[&["token", "--human"][..], &ident].concat());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Hydra"), "{}", stderr(&o));
    // So does the agent's status (it fails on the missing file instead).
    let o = run(
        bao,
        &[
            "agent",
            "status",
            "--human",
            "--status-file",
            "/nonexistent",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("status file"), "{}", stderr(&o));
    // env --human names the variables and their secret, never a value.
    let o = run(bao, &["env", &p, "--human"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("password") && out.contains(&p), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    // did-document --human shows the DID and the key.
    let o = run(bao, &[&["did-document", "--human"][..], &ident].concat());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("did:bindu:") && out.contains("public key"),
        "{out}"
    );
}

/// A failure after retries is one stderr line: the error, and in it what
/// was waited for (no warning line of its own before it).
#[test]
fn a_failure_after_retries_is_one_line_saying_what_was_waited_for() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let busy =
        common::TestServer::start(|_, _| common::answer(503, &[], r#"{"errors":["maintenance"]}"#));
    for (what, addr, waited) in [
        (
            "closed port",
            closed.as_str(),
            format!(" s over 2 retries for Vault: {closed}: Connection refused"),
        ),
        (
            "503",
            busy.addr(),
            format!(
                " retries for Vault: {} answered HTTP 503 (maintenance); gave up after ",
                busy.addr()
            ),
        ),
    ] {
        let home = tmpdir("cli-contract-waited");
        // A key dir that does not exist yet: made 0700, no mode warning.
        let o = common::agent_cmd(&home.join("keys"), "wait@example.com", "wait")
            .env("HOME", &home)
            .env("VAULT_ADDR", addr)
            .env("VAULT_TOKEN", "hvs.wait")
            .env("VAULT_MAX_RETRIES", "2")
            .env("VAULTID_VAULT_WAIT", "2s")
            .arg("up")
            .output()
            .unwrap();
        refused(&o, 3, "no local keys");
        let err = stderr(&o);
        assert!(!err.contains("vaultid: warn"), "{what}: {err}");
        // The error first, then what was waited for (its numbers vary).
        let (error, wait) = err
            .split_once("; waited ")
            .unwrap_or_else(|| panic!("{what}: no wait summary in {err}"));
        assert!(error.contains("Vault is unavailable"), "{what}: {err}");
        assert!(wait.contains(&waited), "{what}: {waited:?} in {err}");
        let _ = std::fs::remove_dir_all(home);
    }
}
