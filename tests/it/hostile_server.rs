//! A misbehaving fake Vault and a hostile configuration: server error text
//! with ANSI escapes and CR/LF, a 503 that is not a sealed Vault, malformed
//! addresses, paths that smuggle a query or a traversal, Go durations.

use crate::common::{answer, tmpdir, TestServer};

use std::process::{Command, Output, Stdio};

fn vaultid(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tmpdir("server-home");
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("HOME", &home)
        .env("VAULTID_AUTHOR", "server@example.com")
        .env("VAULTID_AGENT_NAME", "server")
        .env("VAULTID_KEY_DIR", home.join("keys"))
        .env("VAULT_TOKEN", "hvs.server-test")
        .env("VAULT_MAX_RETRIES", "0")
        .env("VAULTID_VAULT_WAIT", "1s")
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let _ = std::fs::remove_dir_all(home);
    o
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn server_error_text_is_one_line_with_escapes_shown_not_acted_on() {
    let vault = TestServer::start(|_, _| {
        answer(
            400,
            &[],
            r#"{"errors":["\u001b[2J\u001b[31mboom\r\nvaultid: info: all good\u202e"]}"#,
        )
    });
    let o = vaultid(&["kv", "get", "secret/x"], &[("VAULT_ADDR", vault.addr())]);
    let e = err(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.trim_end_matches('\n').lines().count(), 1, "{e:?}");
    assert!(!e.contains(['\u{1b}', '\r', '\u{202e}']), "{e:?}");
    assert!(e.contains("boom"), "{e}");
}

#[test]
fn a_503_is_sealed_only_when_the_server_says_so() {
    let busy = TestServer::start(|_, _| answer(503, &[], r#"{"errors":["maintenance"]}"#));
    let o = vaultid(&["kv", "get", "secret/x"], &[("VAULT_ADDR", busy.addr())]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("HTTP 503: maintenance"), "{}", err(&o));
    assert!(!err(&o).to_lowercase().contains("sealed"), "{}", err(&o));
    let sealed = TestServer::start(|_, _| answer(503, &[], r#"{"errors":["Vault is sealed"]}"#));
    let o = vaultid(&["kv", "get", "secret/x"], &[("VAULT_ADDR", sealed.addr())]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("sealed"), "{}", err(&o));
}

#[test]
fn a_malformed_vault_addr_is_a_configuration_error_and_hides_its_password() {
    let dir = tmpdir("bad-addr");
    // Local keys exist: "Vault unavailable" would start offline with exit 0.
    let st = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", &dir)
        .env("VAULTID_AUTHOR", "server@example.com")
        .env("VAULTID_AGENT_NAME", "server")
        .env("VAULTID_KEY_DIR", &dir)
        .arg("up")
        .output()
        .unwrap();
    assert!(st.status.success());
    for addr in [
        "http://[::1",
        "http://user:hunter2-canary@[::1",
        "http://127.0.0.1:99999",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("HOME", &dir)
            .env("VAULTID_AUTHOR", "server@example.com")
            .env("VAULTID_AGENT_NAME", "server")
            .env("VAULTID_KEY_DIR", &dir)
            .env("VAULT_ADDR", addr)
            .env("VAULT_TOKEN", "t")
            .arg("up")
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), err(&o));
        assert_eq!(o.status.code(), Some(2), "{addr}: {all}");
        assert!(all.contains("VAULT_ADDR"), "{all}");
        assert!(!all.contains("hunter2-canary"), "{all}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mounts_and_paths_cannot_smuggle_a_query_or_a_traversal() {
    let vault = TestServer::start(|_, _| answer(200, &[], r#"{"data":{"keys":["a"]}}"#));
    for args in [
        vec!["kv", "get", "-mount", "sys/../secret", "x"],
        vec!["kv", "get", "-mount", "secret?list=true", "x"],
        vec!["kv", "get", "-mount", "secret#x", "x"],
        vec!["kv", "get", "-mount", "a//b", "x"],
        vec!["kv", "list", "secret?list=true"],
        vec!["kv", "get", "secret/../../sys/seal"],
        vec!["kv", "get", "secret/x?version=1"],
    ] {
        let o = vaultid(&args, &[("VAULT_ADDR", vault.addr())]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
    }
    let o = vaultid(
        &["kv", "get", "secret/x"],
        &[("VAULT_ADDR", vault.addr()), ("VAULT_KV_MOUNT", "sys/..")],
    );
    assert!(
        vault.seen().is_empty(),
        "requests were sent: {:?}",
        vault.seen().iter().map(|s| &s.path).collect::<Vec<_>>()
    );
    drop(o);
}

#[test]
fn go_durations_are_accepted_where_durations_are_read() {
    let vault = TestServer::start(|_, _| {
        answer(
            200,
            &[],
            r#"{"data":{"data":{"k":"v"},"metadata":{"version":1,"created_time":"t","deletion_time":"","destroyed":false}}}"#,
        )
    });
    for (var, value) in [
        ("VAULT_CLIENT_TIMEOUT", "1m30s"),
        ("VAULTID_CONNECT_TIMEOUT", "1s500ms"),
        ("VAULTID_LOCK_TIMEOUT", "1h"),
        ("VAULT_CLIENT_TIMEOUT", "250ms"),
    ] {
        let o = vaultid(
            &["kv", "get", "secret/x"],
            &[("VAULT_ADDR", vault.addr()), (var, value)],
        );
        assert!(o.status.success(), "{var}={value}: {}", err(&o));
    }
    let o = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", vault.addr()),
            ("VAULT_CLIENT_TIMEOUT", "1m30"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

#[test]
fn log_lines_carrying_server_text_stay_one_line_each() {
    let vault = TestServer::start(|_, _| {
        answer(
            500,
            &[],
            r#"{"errors":["\u001b[31mboom\r\nvaultid: info: forged line"]}"#,
        )
    });
    let o = vaultid(
        &["kv", "get", "secret/x"],
        &[
            ("VAULT_ADDR", vault.addr()),
            ("VAULT_MAX_RETRIES", "1"),
            ("VAULTID_VAULT_WAIT", "5s"),
            ("VAULTID_LOG", "debug"),
        ],
    );
    let e = err(&o);
    assert!(!o.status.success());
    assert!(!e.contains(['\u{1b}', '\r']), "{e:?}");
    assert!(
        e.lines().all(|l| l.starts_with("vaultid: ")),
        "a line not written by the logger: {e:?}"
    );
    assert!(!e.contains("\nvaultid: info: forged line"), "{e}");
    assert!(e.contains("boom"), "{e}");
}

#[test]
fn a_password_in_a_server_url_is_refused_and_never_shown() {
    let o = vaultid(
        &["kv", "get", "secret/x"],
        &[("VAULT_ADDR", "http://admin:pw-canary-123@127.0.0.1:1")],
    );
    let e = err(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(!e.contains("pw-canary-123") && e.contains("***"), "{e}");
}

/// `vaultid up` for the agent `middlebox@example.com`/`NAME` with its keys
/// in `dir` and Vault at `addr` (`None`: Vault off).
fn up_in(dir: &std::path::Path, name: &str, addr: Option<&str>) -> Output {
    use std::os::unix::fs::PermissionsExt;
    // 0700, so that no warning about the directory's mode joins the output.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = crate::common::agent_cmd(dir, "middlebox@example.com", name);
    c.env("VAULT_TOKEN", "hvs.middlebox")
        .env("VAULT_MAX_RETRIES", "0")
        .env("VAULTID_VAULT_WAIT", "5s")
        .arg("up")
        .stdin(Stdio::null());
    match addr {
        Some(a) => c.env("VAULT_ADDR", a),
        None => c.env("VAULT__ENABLED", "false"),
    };
    c.output().unwrap()
}

/// What a middlebox (a captive portal, a misrouted proxy) answers in
/// Vault's place with a 200: HTML, or JSON that is not a KV v2 answer.
/// With a local pair that is "Vault unavailable": `up` starts from the
/// local keys (exit 0, like a reset connection). Without one it fails
/// with exit 3 and generates nothing.
#[test]
fn a_middlebox_answer_is_vault_unavailable_for_the_fallback() {
    let answers: [(&str, &str); 6] = [
        (
            "text/html",
            "<html><body>Sign in to the Wi-Fi</body></html>",
        ),
        ("application/json", "{}"),
        ("application/json", "[1]"),
        ("application/json", r#"{"data":"x"}"#),
        (
            "application/json",
            r#"{"data":{"data":"x","metadata":{"version":"one"}}}"#,
        ),
        (
            "application/json",
            r#"{"data":{"data":[1,2],"metadata":[]}}"#,
        ),
    ];
    for (n, (ctype, body)) in answers.iter().enumerate() {
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let middlebox = TestServer::start(move |_, _| raw.clone());
        let name = format!("middlebox-{n}");
        // A local pair: the start goes on from it.
        let dir = tmpdir("middlebox");
        let made = up_in(&dir, &name, None);
        assert!(made.status.success(), "{}", err(&made));
        let o = up_in(&dir, &name, Some(middlebox.addr()));
        assert_eq!(o.status.code(), Some(0), "{body}: {}", err(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["keys_source"], "local", "{body}: {v}");
        assert_eq!(v["vault"], "unavailable", "{body}: {v}");
        assert!(v["vault_error"].is_string(), "{body}: {v}");
        // No local pair: a clear refusal, and no key made.
        let empty = tmpdir("middlebox-empty");
        let o = up_in(&empty, &name, Some(middlebox.addr()));
        let e = err(&o);
        assert_eq!(o.status.code(), Some(3), "{body}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("Vault is unavailable"), "{body}: {e}");
        assert!(!empty.join("private.pem").exists(), "{body}");
        assert!(
            middlebox.seen().iter().all(|s| s.method == "GET"),
            "a key was sent: {:?}",
            middlebox.seen()
        );
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(empty);
    }
}

/// A token (or another credential) that is not valid UTF-8, or holds a
/// line break, is a configuration error naming the variable (exit 2): not
/// "unset" (which fell back to `~/.vault-token`), not "Vault unreachable",
/// and never shown. Nothing is sent to Vault.
#[test]
fn a_credential_that_is_no_text_or_holds_a_line_break_is_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let vault = TestServer::start(|_, _| answer(200, &[], r#"{"data":{"keys":[]}}"#));
    let home = tmpdir("bad-token-home");
    std::fs::write(home.join(".vault-token"), "hvs.file-token-canary").unwrap();
    let run = |args: &[&str], name: &str, value: &[u8], extra: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
        c.env_clear()
            .env("HOME", &home)
            .env("VAULT_ADDR", vault.addr())
            .env("VAULTID_AUTHOR", "token@example.com")
            .env("VAULTID_AGENT_NAME", "token")
            .env("VAULTID_KEY_DIR", home.join("keys"))
            .envs(extra.iter().copied())
            .env(name, OsStr::from_bytes(value))
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let approle = [
        ("VAULT_AUTH_METHOD", "approle"),
        ("VAULT_ROLE_ID", "role"),
        ("VAULT_SECRET_ID", "secret"),
    ];
    /// Variable, value, other variables, what the error says.
    type Case<'a> = (&'a str, &'a [u8], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 8] = [
        ("VAULT_TOKEN", b"hvs.canary\xff", &[], "not valid UTF-8"),
        ("VAULT__TOKEN", b"\xfehvs.canary", &[], "not valid UTF-8"),
        (
            "VAULT_TOKEN",
            b"hvs.canary\r\nX-Injected: 1",
            &[],
            "control character",
        ),
        (
            "VAULT__TOKEN",
            b"hvs.canary\nsecond",
            &[],
            "control character",
        ),
        (
            "VAULT_NAMESPACE",
            b"team\r\ncanary",
            &[],
            "control character",
        ),
        (
            "VAULT_SECRET_ID",
            b"canary\xff",
            &approle,
            "not valid UTF-8",
        ),
        (
            "VAULT_SECRET_ID",
            b"canary\r\n1",
            &approle[..2],
            "control character",
        ),
        ("VAULT_ROLE_ID", b"canary\xc3", &approle, "not valid UTF-8"),
    ];
    for (name, value, extra, why) in cases {
        for args in [&["kv", "get", "secret/x"][..], &["up"]] {
            let o = run(args, name, value, extra);
            let e = err(&o);
            assert_eq!(o.status.code(), Some(2), "{name} {args:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
            assert!(e.contains(name) && e.contains(why), "{name}: {e}");
            assert!(!e.contains("canary"), "{name}: {e}");
        }
    }
    assert!(
        vault.seen().is_empty(),
        "requests were sent: {:?}",
        vault.seen()
    );
    // A secret named by --secret-env that is not text is said so, not
    // "not set".
    let o = run(
        &[
            "cred",
            "verify",
            "agent",
            "cred-id",
            "--secret-env",
            "PRESENTED",
        ],
        "PRESENTED",
        b"canary\xff",
        &[("VAULT_TOKEN", "hvs.t")],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("PRESENTED is not valid UTF-8"),
        "{}",
        err(&o)
    );
    // A name that is not text is not "empty".
    for name in ["VAULTID_AGENT_NAME", "VAULTID_AUTHOR"] {
        let o = run(&["id"], name, b"agent-\xff", &[]);
        let e = err(&o);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.contains(&format!("{name} is not valid UTF-8")), "{e}");
        assert!(!e.contains("empty"), "{e}");
    }
    let _ = std::fs::remove_dir_all(home);
}
