//! A Vault user's scripts moved from `bao` to `vaultid`: the same
//! invocations through the real `bao` CLI and through `vaultid`, against
//! one OpenBao, compared side by side: the global flags (`-address`,
//! `-namespace`, `-ca-cert`, `-tls-server-name`, `-tls-skip-verify`,
//! `-non-interactive`), the `BAO_*` variables and their precedence over the
//! `VAULT_*` ones, `VAULT_FORMAT`, `login TOKEN` / `login -` /
//! `login token=…`, `login -method=userpass`, and the exit codes whose
//! mapping the README gives.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bao::Bao;
use common::{json_ok, tmpdir};
use serde_json::{json, Value};

/// An address nothing listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    addr
}

/// Run `cmd` with `input` on stdin (none: stdin is /dev/null).
fn output(mut cmd: Command, input: Option<&[u8]>) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// The `bao` CLI with `env` and `HOME`, none of the caller's `BAO_*` or
/// `VAULT_*` variables.
fn bao_cli(bao: &Bao, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(bao.bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("BAO_") || k.starts_with("VAULT_") {
            c.env_remove(k.as_ref());
        }
    }
    c.env("HOME", home).envs(env.iter().copied()).args(args);
    c
}

/// `vaultid` with only `PATH`, `HOME` and `env`.
fn vaultid(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args);
    c
}

/// Variables for one run.
type Env<'a> = Vec<(&'a str, &'a str)>;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A secret with one field `pw`, written by `bao`; its path and value.
fn secret(bao: &Bao) -> (String, String) {
    let path = format!("secret/migrate/{}", uuid::Uuid::new_v4());
    let value = format!("pw-{}", uuid::Uuid::new_v4());
    bao.bao(&["kv", "put", &path, &format!("pw={value}")])
        .unwrap();
    (path, value)
}

/// The same `kv get -field=pw` with the same variables and flags through
/// both CLIs: both succeed with the same bytes, or both fail.
#[test]
fn global_flags_and_bao_variables_as_bao_reads_them() {
    let Some(bao) = Bao::shared() else { return };
    let (path, value) = secret(bao);
    let good = bao.addr();
    let bad = dead_addr();
    let bad = bad.as_str();
    let tok = bao.token();
    let home = tmpdir("migrate-flags");
    type Case<'a> = (&'a str, Env<'a>, Vec<String>, bool);
    let cases: Vec<Case> = vec![
        (
            "BAO_ADDR wins over VAULT_ADDR",
            vec![
                ("BAO_ADDR", good),
                ("VAULT_ADDR", bad),
                ("VAULT_TOKEN", tok),
            ],
            vec![],
            true,
        ),
        (
            "BAO_ADDR wins over VAULT_ADDR (dead)",
            vec![
                ("BAO_ADDR", bad),
                ("VAULT_ADDR", good),
                ("VAULT_TOKEN", tok),
            ],
            vec![],
            false,
        ),
        (
            "BAO_TOKEN wins over VAULT_TOKEN",
            vec![
                ("VAULT_ADDR", good),
                ("BAO_TOKEN", tok),
                ("VAULT_TOKEN", "bad"),
            ],
            vec![],
            true,
        ),
        (
            "BAO_TOKEN wins over VAULT_TOKEN (bad)",
            vec![
                ("VAULT_ADDR", good),
                ("BAO_TOKEN", "bad"),
                ("VAULT_TOKEN", tok),
            ],
            vec![],
            false,
        ),
        (
            "-address wins over both variables",
            vec![("BAO_ADDR", bad), ("VAULT_ADDR", bad), ("VAULT_TOKEN", tok)],
            vec![format!("-address={good}")],
            true,
        ),
        (
            "--address VALUE",
            vec![("VAULT_ADDR", bad), ("VAULT_TOKEN", tok)],
            vec!["--address".into(), good.into()],
            true,
        ),
        (
            "VAULT_AGENT_ADDR wins over -address",
            vec![("VAULT_AGENT_ADDR", bad), ("VAULT_TOKEN", tok)],
            vec![format!("-address={good}")],
            false,
        ),
        (
            "BAO_AGENT_ADDR wins over VAULT_ADDR",
            vec![
                ("BAO_AGENT_ADDR", good),
                ("VAULT_ADDR", bad),
                ("VAULT_TOKEN", tok),
            ],
            vec![],
            true,
        ),
        (
            "-agent-address wins over -address",
            vec![("VAULT_TOKEN", tok)],
            vec![format!("-address={bad}"), format!("-agent-address={good}")],
            true,
        ),
        (
            "BAO_NAMESPACE is sent",
            vec![
                ("VAULT_ADDR", good),
                ("VAULT_TOKEN", tok),
                ("BAO_NAMESPACE", "no-such-namespace"),
            ],
            vec![],
            false,
        ),
        (
            "-namespace= clears VAULT_NAMESPACE",
            vec![
                ("VAULT_ADDR", good),
                ("VAULT_TOKEN", tok),
                ("VAULT_NAMESPACE", "no-such-namespace"),
            ],
            vec!["-namespace=".into()],
            true,
        ),
        (
            "-namespace is sent",
            vec![("VAULT_ADDR", good), ("VAULT_TOKEN", tok)],
            vec!["-namespace=no-such-namespace".into()],
            false,
        ),
        (
            "boolean flags",
            vec![("VAULT_ADDR", good), ("VAULT_TOKEN", tok)],
            vec![
                "-tls-skip-verify".into(),
                "-tls-skip-verify=false".into(),
                "-non-interactive".into(),
            ],
            true,
        ),
        (
            "a boolean flag with a bad value",
            vec![("VAULT_ADDR", good), ("VAULT_TOKEN", tok)],
            vec!["-tls-skip-verify=maybe".into()],
            false,
        ),
    ];
    for (what, mut env, flags, ok) in cases {
        env.push(("VAULT_MAX_RETRIES", "0"));
        let mut args = vec!["kv", "get", "-field=pw"];
        args.extend(flags.iter().map(String::as_str));
        args.push(&path);
        let b = output(bao_cli(bao, &home, &env, &args), None);
        let v = output(vaultid(&home, &env, &args), None);
        assert_eq!(
            b.status.success(),
            ok,
            "{what}: bao {:?}: {}",
            b.status,
            text(&b.stderr)
        );
        assert_eq!(
            v.status.success(),
            ok,
            "{what}: vaultid {:?}: {}",
            v.status,
            text(&v.stderr)
        );
        if ok {
            assert_eq!(v.stdout, b.stdout, "{what}");
            assert_eq!(v.stdout, value.as_bytes(), "{what}");
        } else {
            assert!(v.stdout.is_empty(), "{what}: {}", text(&v.stdout));
            assert!(!text(&v.stderr).contains(tok), "{what}");
        }
    }
}

/// `VAULT_FORMAT` and `BAO_FORMAT` stand in for `-format` in both CLIs.
#[test]
fn the_output_format_from_the_environment() {
    let Some(bao) = Bao::shared() else { return };
    let (path, value) = secret(bao);
    let home = tmpdir("migrate-format");
    let base = [("VAULT_ADDR", bao.addr()), ("VAULT_TOKEN", bao.token())];
    let run = |env: &[(&str, &str)], flags: &[&str]| {
        let env: Vec<_> = base.iter().chain(env).copied().collect();
        let mut args = vec!["kv", "get"];
        args.extend(flags);
        args.push(&path);
        (
            output(bao_cli(bao, &home, &env, &args), None),
            output(vaultid(&home, &env, &args), None),
        )
    };
    let json_of = |o: &Output| serde_json::from_slice::<Value>(&o.stdout).ok();
    let (_, human) = run(&[], &["-format=table"]);
    assert!(human.status.success(), "{}", text(&human.stderr));
    assert!(json_of(&human).is_none());
    for (env, flags, is_json) in [
        (&[("VAULT_FORMAT", "json")][..], &[][..], true),
        (&[("VAULT_FORMAT", "JSON")], &[], true),
        (
            &[("BAO_FORMAT", "json"), ("VAULT_FORMAT", "table")],
            &[],
            true,
        ),
        (&[("VAULT_FORMAT", "table")], &["-format=json"], true),
        (&[("VAULT_FORMAT", "table")], &[], false),
        (
            &[("BAO_FORMAT", "table"), ("VAULT_FORMAT", "json")],
            &[],
            false,
        ),
    ] {
        let (b, v) = run(env, flags);
        assert!(b.status.success(), "{env:?}: {}", text(&b.stderr));
        assert!(v.status.success(), "{env:?}: {}", text(&v.stderr));
        assert_eq!(json_of(&b).is_some(), is_json, "bao {env:?} {flags:?}");
        if is_json {
            // bao prints the whole answer; vaultid its data and metadata.
            let (b, v) = (json_of(&b).unwrap(), json_of(&v).unwrap());
            assert_eq!(v["data"], b["data"]["data"], "{env:?}");
            assert_eq!(v["data"]["pw"], json!(value));
        } else {
            assert_eq!(v.stdout, human.stdout, "vaultid {env:?} {flags:?}");
        }
    }
    // A format neither knows is a usage error in both (bao: 1, vaultid: 2).
    let (b, v) = run(&[("VAULT_FORMAT", "xml")], &[]);
    assert_eq!((b.status.code(), v.status.code()), (Some(1), Some(2)));
    assert!(
        text(&v.stderr).contains("VAULT_FORMAT"),
        "{}",
        text(&v.stderr)
    );
    // The commands that print JSON take -format and VAULT_FORMAT too.
    let env = [
        ("VAULT_ADDR", bao.addr()),
        ("VAULT_TOKEN", bao.token()),
        ("VAULT_FORMAT", "table"),
    ];
    let o = output(
        vaultid(&home, &env, &["cred", "list", "migrate-agent"]),
        None,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("agent_id: migrate-agent\n"));
    let o = output(
        vaultid(&home, &env, &["rotate", &path, "pw", "-format=json"]),
        None,
    );
    assert_eq!(json_ok(&o)["version"], 2);
}

/// Every command that talks to Vault takes the global flags: the
/// environment names a dead server, `-address` the real one.
#[test]
fn every_vault_command_takes_the_global_flags() {
    let Some(bao) = Bao::shared() else { return };
    let (path, _) = secret(bao);
    let home = tmpdir("migrate-every");
    let dead = dead_addr();
    let env = [
        ("VAULT_ADDR", dead.as_str()),
        ("VAULT_TOKEN", bao.token()),
        ("VAULT_MAX_RETRIES", "0"),
    ];
    let address = format!("-address={}", bao.addr());
    let globals = [
        address.as_str(),
        "-tls-skip-verify=false",
        "-non-interactive",
        "-namespace=",
    ];
    let folder = path.rsplit_once('/').unwrap().0;
    let commands: &[(&[&str], Option<&[u8]>)] = &[
        (&["kv", "get", &path], None),
        (&["kv", "put", &path, "pw=two", "other=x"], None),
        (&["kv", "patch", &path, "other=y"], None),
        (&["kv", "list", folder], None),
        (&["kv", "subkeys", &path], None),
        (&["kv", "metadata", "get", &path], None),
        (&["health"], None),
        (&["login"], None),
        (&["rotate", &path, "pw"], None),
        (&["cred", "list", "migrate-agent"], None),
        (&["env", &path, "--", "sh", "-c", "test -n \"$pw\""], None),
        (&["unseal"], Some(b"not-a-share\n")),
        (&["kv", "delete", &path], None),
    ];
    for (cmd, input) in commands {
        let (head, tail) = match cmd.iter().position(|a| *a == "--") {
            Some(i) => cmd.split_at(i),
            None => (*cmd, &[][..]),
        };
        let mut args: Vec<&str> = head.to_vec();
        args.extend(globals);
        args.extend(tail);
        let o = output(vaultid(&home, &env, &args), *input);
        assert!(
            o.status.success(),
            "{args:?}: exit {:?}: {}",
            o.status.code(),
            text(&o.stderr)
        );
    }
    let v = json_ok(&output(
        vaultid(&home, &env, &["kv", "metadata", "get", &address, &path]),
        None,
    ));
    assert_eq!(v["current_version"], 4, "put, patch and rotate wrote");
}

/// `-ca-cert`, `-ca-path`, `-tls-server-name`, `-tls-skip-verify` and
/// `BAO_CACERT` against a TLS server, side by side.
#[test]
fn tls_flags_as_bao_reads_them() {
    let Some(bao) = Bao::start_tls() else { return };
    let (path, value) = secret(&bao);
    let ca = bao.ca_cert().unwrap().to_str().unwrap().to_string();
    let home = tmpdir("migrate-tls");
    let ca_dir = home.join("cas");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(&ca, ca_dir.join("ca.pem")).unwrap();
    let ca_dir = ca_dir.to_str().unwrap().to_string();
    let address = format!("-address={}", bao.addr());
    let cases: Vec<(Env, Vec<String>, bool)> = vec![
        (vec![], vec![], false),
        (vec![], vec![format!("-ca-cert={ca}")], true),
        (vec![], vec![format!("-ca-path={ca_dir}")], true),
        (vec![("BAO_CACERT", ca.as_str())], vec![], true),
        (vec![("VAULT_CACERT", ca.as_str())], vec![], true),
        (vec![], vec!["-tls-skip-verify".into()], true),
        (vec![("BAO_SKIP_VERIFY", "true")], vec![], true),
        (
            vec![],
            vec![
                format!("-ca-cert={ca}"),
                "-tls-server-name=localhost".into(),
            ],
            true,
        ),
        (
            vec![],
            vec![
                format!("-ca-cert={ca}"),
                "-tls-server-name=not-the-server.invalid".into(),
            ],
            false,
        ),
    ];
    for (mut env, flags, ok) in cases {
        env.extend([("VAULT_TOKEN", bao.token()), ("VAULT_MAX_RETRIES", "0")]);
        let mut args = vec!["kv", "get", "-field=pw", address.as_str()];
        args.extend(flags.iter().map(String::as_str));
        args.push(&path);
        let b = output(bao_cli(&bao, &home, &env, &args), None);
        let v = output(vaultid(&home, &env, &args), None);
        assert_eq!(
            b.status.success(),
            ok,
            "bao {env:?} {flags:?}: {}",
            text(&b.stderr)
        );
        assert_eq!(
            v.status.success(),
            ok,
            "vaultid {env:?} {flags:?}: {}",
            text(&v.stderr)
        );
        if ok {
            assert_eq!(v.stdout, b.stdout);
            assert_eq!(v.stdout, value.as_bytes());
        }
    }
}

/// A token made for the test (default policy, 1 h).
fn child_token(bao: &Bao) -> String {
    let out = bao
        .bao(&[
            "token",
            "create",
            "-policy=default",
            "-ttl=1h",
            "-format=json",
        ])
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

fn token_file(home: &Path) -> Option<Vec<u8>> {
    std::fs::read(home.join(".vault-token")).ok()
}

/// `login TOKEN`, `login -` and `login token=…` look the token up and store
/// it in `~/.vault-token` as bao does; a refused token stores nothing.
#[test]
fn login_stores_a_given_token_as_bao_does() {
    let Some(bao) = Bao::shared() else { return };
    let env = [("VAULT_ADDR", bao.addr())];
    for form in ["TOKEN", "-", "token=TOKEN", "token=-"] {
        let token = child_token(bao);
        let arg = form.replace("TOKEN", &token);
        let stdin = form
            .ends_with('-')
            .then(|| format!("{token}\n").into_bytes());
        let (bh, vh) = (tmpdir("migrate-login-bao"), tmpdir("migrate-login-vid"));
        let b = output(
            bao_cli(bao, &bh, &env, &["login", "-no-print", &arg]),
            stdin.as_deref(),
        );
        let v = output(vaultid(&vh, &env, &["login", &arg]), stdin.as_deref());
        assert!(b.status.success(), "bao {form}: {}", text(&b.stderr));
        let out = json_ok(&v);
        assert_eq!(token_file(&bh).as_deref(), Some(token.as_bytes()), "{form}");
        assert_eq!(token_file(&vh), token_file(&bh), "{form}");
        assert_eq!(out["token_file"], vh.join(".vault-token").to_str().unwrap());
        assert_eq!(out["policies"], json!(["default"]));
        // The token is printed only when asked for.
        assert!(!text(&v.stdout).contains(&token), "{form}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(vh.join(".vault-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Later commands of either CLI find it; login never revoked it.
        let lookup = output(
            bao_cli(bao, &vh, &env, &["token", "lookup", "-format=json"]),
            None,
        );
        assert!(lookup.status.success(), "{form}: {}", text(&lookup.stderr));
        json_ok(&output(
            vaultid(&bh, &env, &["login", "-format=json"]),
            None,
        ));
    }
    // A refused token: both fail, neither stores anything.
    let (bh, vh) = (tmpdir("migrate-login-bao"), tmpdir("migrate-login-vid"));
    let b = output(bao_cli(bao, &bh, &env, &["login", "not-a-token"]), None);
    let v = output(vaultid(&vh, &env, &["login", "not-a-token"]), None);
    assert_eq!((b.status.code(), v.status.code()), (Some(2), Some(5)));
    assert!(token_file(&bh).is_none() && token_file(&vh).is_none());
    assert!(
        !text(&v.stderr).contains("not-a-token"),
        "{}",
        text(&v.stderr)
    );
    // -token-only prints the token alone and stores nothing; -no-store
    // stores nothing; -no-print prints nothing.
    let token = child_token(bao);
    let b = output(
        bao_cli(bao, &bh, &env, &["login", "-token-only", &token]),
        None,
    );
    let v = output(vaultid(&vh, &env, &["login", "-token-only", &token]), None);
    assert!(
        b.status.success() && v.status.success(),
        "{}",
        text(&v.stderr)
    );
    assert_eq!(v.stdout, b.stdout);
    assert_eq!(v.stdout, token.as_bytes());
    let v = output(vaultid(&vh, &env, &["login", "-no-store", &token]), None);
    json_ok(&v);
    assert!(token_file(&bh).is_none() && token_file(&vh).is_none());
    let v = output(vaultid(&vh, &env, &["login", "-no-print", &token]), None);
    assert!(
        v.status.success() && v.stdout.is_empty(),
        "{}",
        text(&v.stderr)
    );
    assert_eq!(token_file(&vh).as_deref(), Some(token.as_bytes()));
    // A token with a line break inside is refused without being shown.
    let v = output(
        vaultid(&vh, &env, &["login", "s.abc\r\nX-Injected: 1"]),
        None,
    );
    assert_eq!(v.status.code(), Some(2));
    assert!(!text(&v.stderr).contains("Injected"), "{}", text(&v.stderr));
}

/// A userpass mount with user `alice` who may read `secret/data/migrate/*`;
/// the mount's name and the password.
fn userpass(bao: &Bao) -> (String, String) {
    let mount = format!("up-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let password = format!("pw {}", uuid::Uuid::new_v4());
    bao.bao(&["auth", "enable", &format!("-path={mount}"), "userpass"])
        .unwrap();
    let policy = format!("migrate-{mount}");
    bao.bao_with_input(
        &["policy", "write", &policy, "-"],
        Some("path \"secret/data/migrate/*\" { capabilities = [\"read\"] }\n"),
    )
    .unwrap();
    bao.bao(&[
        "write",
        &format!("auth/{mount}/users/alice"),
        &format!("password={password}"),
        &format!("token_policies=default,{policy}"),
    ])
    .unwrap();
    (mount, password)
}

/// What the token stored in `home` is, as Vault says.
fn stored_token_info(bao: &Bao, home: &Path) -> Value {
    let token = String::from_utf8(token_file(home).expect("a stored token")).unwrap();
    let out = bao
        .bao(&["token", "lookup", "-format=json", &token])
        .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["data"].clone()
}

/// `login -method=userpass` side by side with `bao login -method=userpass`,
/// the password given as `password=`, `password=-`, `password=@FILE`, or
/// (vaultid only: bao asks on a terminal or fails) piped on stdin.
#[test]
fn userpass_login_as_bao_does() {
    let Some(bao) = Bao::shared() else { return };
    let (mount, password) = userpass(bao);
    let env = [("VAULT_ADDR", bao.addr())];
    let path_flag = format!("-path={mount}");
    let pw_file = tmpdir("migrate-up").join("pw");
    std::fs::write(&pw_file, &password).unwrap();
    let at_file = format!("password=@{}", pw_file.display());
    let given = format!("password={password}");
    let piped = password.clone().into_bytes();
    for (arg, stdin) in [
        (given.as_str(), None),
        ("password=-", Some(piped.as_slice())),
        (at_file.as_str(), None),
    ] {
        let (bh, vh) = (tmpdir("migrate-up-bao"), tmpdir("migrate-up-vid"));
        let args = [
            "login",
            "-method=userpass",
            &path_flag,
            "username=alice",
            arg,
        ];
        let b = output(bao_cli(bao, &bh, &env, &args), stdin);
        let v = output(vaultid(&vh, &env, &args), stdin);
        assert!(b.status.success(), "bao {arg}: {}", text(&b.stderr));
        let out = json_ok(&v);
        assert!(!text(&v.stdout).contains(&password) && !text(&v.stderr).contains(&password));
        let (bt, vt) = (stored_token_info(bao, &bh), stored_token_info(bao, &vh));
        for t in [&bt, &vt] {
            assert_eq!(t["path"], format!("auth/{mount}/login/alice"));
            assert_eq!(t["meta"]["username"], "alice");
        }
        assert_eq!(vt["policies"], bt["policies"]);
        assert_eq!(out["accessor"], vt["accessor"]);
    }
    // No password=: vaultid reads the piped password (a line ending
    // dropped); bao refuses, stdin not being a terminal.
    let (bh, vh) = (tmpdir("migrate-up-bao"), tmpdir("migrate-up-vid"));
    let args = ["login", "-method=userpass", &path_flag, "username=alice"];
    let line = format!("{password}\n").into_bytes();
    let b = output(bao_cli(bao, &bh, &env, &args), Some(&line));
    let v = output(vaultid(&vh, &env, &args), Some(&line));
    assert_eq!(b.status.code(), Some(2), "{}", text(&b.stderr));
    json_ok(&v);
    assert_eq!(stored_token_info(bao, &vh)["meta"]["username"], "alice");
    // A wrong password: both refuse (bao 2, vaultid 5), nothing stored,
    // and the password shows nowhere, even in a trace log.
    let (bh, vh) = (tmpdir("migrate-up-bao"), tmpdir("migrate-up-vid"));
    let args = [
        "login",
        "-method=userpass",
        &path_flag,
        "username=alice",
        "password=wrong-canary-pw",
    ];
    let b = output(bao_cli(bao, &bh, &env, &args), None);
    let trace = [("VAULT_ADDR", bao.addr()), ("VAULTID_LOG", "trace")];
    let v = output(vaultid(&vh, &trace, &args), None);
    assert_eq!((b.status.code(), v.status.code()), (Some(2), Some(5)));
    assert!(token_file(&bh).is_none() && token_file(&vh).is_none());
    assert!(
        !text(&v.stderr).contains("wrong-canary-pw"),
        "{}",
        text(&v.stderr)
    );
    // No username: a usage error in vaultid, an error in bao.
    let b = output(
        bao_cli(bao, &bh, &env, &["login", "-method=userpass", "password=x"]),
        None,
    );
    let v = output(
        vaultid(&vh, &env, &["login", "-method=userpass", "password=x"]),
        None,
    );
    assert!(!b.status.success());
    assert_eq!(v.status.code(), Some(2));
    assert!(text(&v.stderr).contains("username="), "{}", text(&v.stderr));
    // -token-only prints the token alone in both.
    let args = [
        "login",
        "-token-only",
        "-method=userpass",
        &path_flag,
        "username=alice",
        &given,
    ];
    let b = output(bao_cli(bao, &bh, &env, &args), None);
    let v = output(vaultid(&vh, &env, &args), None);
    assert!(
        b.status.success() && v.status.success(),
        "{}",
        text(&v.stderr)
    );
    for o in [&b, &v] {
        let t = text(&o.stdout);
        assert!(t.starts_with("s.") && !t.contains('\n'), "{t:?}");
    }
    assert!(token_file(&vh).is_none());
}

/// Run `vaultid ARGS` on a pseudo-terminal (Python's `pty`): wait for
/// `prompt`, type `typed` and a newline, and return (exit code, everything
/// the terminal showed). Bounded: the script gives up after 20 s.
fn on_terminal(
    home: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    prompt: &str,
    typed: &str,
) -> (i32, String) {
    const SCRIPT: &str = r#"
import os, pty, signal, sys
signal.alarm(20)
prompt, typed, argv = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = b""
def read():
    global seen
    try:
        d = os.read(fd, 4096)
    except OSError:
        d = b""
    seen += d
    return d
while prompt not in seen:
    if not read():
        break
if prompt in seen:
    os.write(fd, typed + b"\n")
while read():
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut cmd = Command::new("python3");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(["-c", SCRIPT, prompt, typed, env!("CARGO_BIN_EXE_vaultid")])
        .args(args);
    let o = output(cmd, None);
    assert!(
        o.status.code().is_some(),
        "python3 pty: {}",
        text(&o.stderr)
    );
    (o.status.code().unwrap(), text(&o.stdout) + &text(&o.stderr))
}

/// On a terminal, `login -method=userpass` without `password=` asks for
/// the password with echo off (as `bao login` does): the terminal never
/// shows it; `-non-interactive` refuses to ask.
#[test]
fn userpass_password_typed_on_a_terminal_is_not_echoed() {
    let Some(bao) = Bao::shared() else { return };
    let (mount, password) = userpass(bao);
    let home = tmpdir("migrate-tty");
    let env = [("VAULT_ADDR", bao.addr())];
    let path_flag = format!("-path={mount}");
    let args = [
        "login",
        "-method=userpass",
        &path_flag,
        "username=alice",
        "-no-print",
    ];
    let prompt = "Password (will be hidden): ";
    let (code, shown) = on_terminal(&home, &env, &args, prompt, &password);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains(prompt), "{shown:?}");
    assert!(
        !shown.contains(&password),
        "the password was echoed: {shown:?}"
    );
    assert_eq!(stored_token_info(bao, &home)["meta"]["username"], "alice");
    // A wrong password typed: refused, nothing shown, nothing stored.
    std::fs::remove_file(home.join(".vault-token")).unwrap();
    let (code, shown) = on_terminal(&home, &env, &args, prompt, "wrong-canary-typed");
    assert_eq!(code, 5, "{shown}");
    assert!(!shown.contains("wrong-canary-typed"), "{shown:?}");
    assert!(token_file(&home).is_none());
    let mut quiet = args.to_vec();
    quiet.push("-non-interactive");
    let (code, shown) = on_terminal(&home, &env, &quiet, prompt, &password);
    assert_eq!(code, 2, "{shown}");
    assert!(
        !shown.contains(prompt) && shown.contains("-non-interactive"),
        "{shown:?}"
    );
}

/// The library's userpass method (`VAULT_AUTH_METHOD=userpass`): a
/// one-shot command logs in, reads, and revokes the token it logged in
/// for; the password never reaches a child process. (A server of its own:
/// the test counts the server's tokens.)
#[test]
fn userpass_from_the_environment() {
    let Some(server) = Bao::start() else { return };
    let bao = &server;
    let (mount, password) = userpass(bao);
    let (path, value) = secret(bao);
    let home = tmpdir("migrate-up-env");
    let pw_file = home.join("pw");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let accessors = || {
        let out = bao
            .bao(&["list", "-format=json", "auth/token/accessors"])
            .unwrap();
        serde_json::from_str::<Vec<String>>(&out).unwrap().len()
    };
    let before = accessors();
    for secret_var in [
        ("VAULT_AUTH_PASSWORD", password.clone()),
        (
            "VAULT_AUTH_PASSWORD_FILE",
            pw_file.to_str().unwrap().to_string(),
        ),
    ] {
        let env = [
            ("VAULT_ADDR", bao.addr()),
            ("VAULT_AUTH_METHOD", "userpass"),
            ("VAULT_AUTH_MOUNT", mount.as_str()),
            ("VAULT_AUTH_USERNAME", "alice"),
            (secret_var.0, secret_var.1.as_str()),
        ];
        let o = output(
            vaultid(&home, &env, &["kv", "get", "-field=pw", &path]),
            None,
        );
        assert!(o.status.success(), "{}: {}", secret_var.0, text(&o.stderr));
        assert_eq!(o.stdout, value.as_bytes());
        let script = "test -z \"$VAULT_AUTH_PASSWORD$VAULT_AUTH_PASSWORD_FILE$BAO_TOKEN\"";
        let mut env = env.to_vec();
        env.push(("BAO_TOKEN", "canary-token"));
        let o = output(
            vaultid(&home, &env, &["env", &path, "--", "sh", "-c", script]),
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    assert_eq!(accessors(), before, "every token logged in for was revoked");
}

/// The exit codes a migrating script meets, side by side: the mapping the
/// README's table gives (bao: 1 for a local or usage error, 2 for any
/// error from or reaching the server).
#[test]
fn exit_codes_side_by_side() {
    let Some(bao) = Bao::shared() else { return };
    let (path, _) = secret(bao);
    let home = tmpdir("migrate-exit");
    let dead = dead_addr();
    let ok_env = vec![("VAULT_ADDR", bao.addr()), ("VAULT_TOKEN", bao.token())];
    let missing = format!("secret/migrate/missing-{}", uuid::Uuid::new_v4());
    let cases: Vec<(&str, Env, Vec<&str>, i32, i32)> = vec![
        ("success", ok_env.clone(), vec!["kv", "get", &path], 0, 0),
        (
            "unknown flag",
            ok_env.clone(),
            vec!["kv", "get", "-bogus", &path],
            1,
            2,
        ),
        ("missing argument", ok_env.clone(), vec!["kv", "get"], 1, 2),
        (
            "not found",
            ok_env.clone(),
            vec!["kv", "get", &missing],
            2,
            1,
        ),
        (
            "permission denied",
            vec![("VAULT_ADDR", bao.addr()), ("VAULT_TOKEN", "not-a-token")],
            vec!["kv", "get", &path],
            2,
            5,
        ),
        (
            "unreachable",
            vec![
                ("VAULT_ADDR", dead.as_str()),
                ("VAULT_TOKEN", "t"),
                ("VAULT_MAX_RETRIES", "0"),
            ],
            vec!["kv", "get", &path],
            2,
            3,
        ),
        (
            "check-and-set conflict",
            ok_env.clone(),
            vec!["kv", "put", "-cas=0", &path, "pw=other"],
            2,
            4,
        ),
        (
            "a field the secret lacks",
            ok_env.clone(),
            vec!["kv", "get", "-field=nope", &path],
            1,
            2,
        ),
    ];
    for (what, env, args, bao_code, vaultid_code) in cases {
        let b = output(bao_cli(bao, &home, &env, &args), None);
        let v = output(vaultid(&home, &env, &args), None);
        assert_eq!(
            b.status.code(),
            Some(bao_code),
            "bao, {what}: {}",
            text(&b.stderr)
        );
        assert_eq!(
            v.status.code(),
            Some(vaultid_code),
            "vaultid, {what}: {}",
            text(&v.stderr)
        );
    }
}
