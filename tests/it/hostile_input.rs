//! Endless and oversized inputs: every file, stdin and FIFO the CLI reads
//! stops at a cap with an error naming the source and the cap. Each run is
//! limited to 2 GB of address space and 30 s, so an unbounded reader fails
//! the test instead of the machine.

use crate::common::{answer, tmpdir, without_mount_questions, TestServer};

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `vaultid args` under `ulimit -v`, with `env`; `endless_stdin` feeds
/// zeros until the process stops reading.
fn vaultid(args: &[&str], env: &[(&str, &str)], endless_stdin: bool) -> (Output, Duration) {
    let home = tmpdir("input-home");
    let mut script = String::from("ulimit -v 2000000; exec \"$0\"");
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${i}\""));
    }
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_vaultid"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("VAULTID_AUTHOR", "input@example.com")
        .env("VAULTID_AGENT_NAME", "input")
        .env("VAULTID_KEY_DIR", home.join("keys"))
        .stdin(if endless_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let start = Instant::now();
    let mut child = c.spawn().unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let block = vec![b'a'; 65536];
            while stdin.write_all(&block).is_ok() {}
        });
    }
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    let _ = std::fs::remove_dir_all(home);
    (out, start.elapsed())
}

fn assert_capped(label: &str, (out, took): (Output, Duration), source: &str, cap: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{label}: {err}");
    assert!(
        err.contains(source) && err.contains(cap),
        "{label}: the error names neither {source} nor {cap}: {err}"
    );
    assert!(took < Duration::from_secs(20), "{label} took {took:?}");
}

#[test]
fn endless_inputs_stop_at_their_cap_with_a_clear_error() {
    let vault = TestServer::start(|_, _| answer(200, &[], r#"{"data":{"version":1}}"#));
    let v = [
        ("VAULT_ADDR", vault.addr()),
        ("VAULT_TOKEN", "hvs.input-test"),
    ];
    assert_capped(
        "kv put K=@/dev/zero",
        vaultid(&["kv", "put", "secret/x", "K=@/dev/zero"], &v, false),
        "/dev/zero",
        "32 MiB",
    );
    assert_capped(
        "kv put K=- (endless stdin)",
        vaultid(&["kv", "put", "secret/x", "K=-"], &v, true),
        "stdin",
        "32 MiB",
    );
    assert_capped(
        "kv put - (endless stdin)",
        vaultid(&["kv", "put", "secret/x", "-"], &v, true),
        "stdin",
        "32 MiB",
    );
    assert_capped(
        "sign --file /dev/zero",
        vaultid(&["sign", "--file", "/dev/zero"], &[], false),
        "/dev/zero",
        "32 MiB",
    );
    assert_capped(
        "sign - (endless stdin)",
        vaultid(&["sign", "-"], &[], true),
        "stdin",
        "32 MiB",
    );
    assert_capped(
        "VAULT_SECRET_ID_FILE=/dev/zero",
        vaultid(
            &["kv", "get", "secret/x"],
            &[
                ("VAULT_ADDR", vault.addr()),
                ("VAULT_AUTH_METHOD", "approle"),
                ("VAULT_ROLE_ID", "r"),
                ("VAULT_SECRET_ID_FILE", "/dev/zero"),
            ],
            false,
        ),
        "/dev/zero",
        "64 KiB",
    );
    assert_capped(
        "VAULT_AUTH_JWT_FILE=/dev/zero",
        vaultid(
            &["kv", "get", "secret/x"],
            &[
                ("VAULT_ADDR", vault.addr()),
                ("VAULT_AUTH_METHOD", "jwt"),
                ("VAULT_AUTH_ROLE", "r"),
                ("VAULT_AUTH_JWT_FILE", "/dev/zero"),
            ],
            false,
        ),
        "/dev/zero",
        "64 KiB",
    );
    assert_capped(
        "VAULT_CACERT=/dev/zero",
        vaultid(
            &["kv", "get", "secret/x"],
            &[
                ("VAULT_ADDR", "https://127.0.0.1:1"),
                ("VAULT_TOKEN", "t"),
                ("VAULT_CACERT", "/dev/zero"),
            ],
            false,
        ),
        "VAULT_CACERT",
        "4 MiB",
    );
    // Nothing reached Vault with a truncated value.
    assert!(vault
        .seen()
        .iter()
        .all(|r| r.method == "GET" || r.body.is_empty()));
}

#[test]
fn a_fifo_as_input_is_read_to_its_end_within_the_cap() {
    let dir = tmpdir("input-fifo");
    let fifo = dir.join("value");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(b"from-a-fifo").unwrap();
        })
    };
    let vault = TestServer::start(|_, _| answer(200, &[], r#"{"data":{"version":1}}"#));
    let arg = format!("K=@{}", fifo.display());
    let (out, _) = vaultid(
        &["kv", "put", "secret/x", &arg],
        &[("VAULT_ADDR", vault.addr()), ("VAULT_TOKEN", "t")],
        false,
    );
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = String::from_utf8_lossy(&without_mount_questions(vault.seen())[0].body).into_owned();
    assert!(body.contains("from-a-fifo"), "{body}");
    std::fs::remove_dir_all(dir).unwrap();
}
