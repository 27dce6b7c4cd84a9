//! `vaultid env` and `secrets::load_secrets` against a real OpenBao: the
//! child's exact environment, exit codes, signal forwarding, and the
//! `export` lines' round trip through `sh`.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::bao::Bao;
use serde_json::{json, Map, Value};
use vaultid::secrets::{load_secrets, EnvOptions, SecretSpec};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// A unique KV path for one test.
fn unique(name: &str) -> String {
    format!("envtest/{name}-{}", uuid::Uuid::new_v4())
}

/// `vaultid` with only the Vault settings (and PATH) in its environment.
fn vaultid(bao: &Bao) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", bao.token());
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("vaultid runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn library_returns_the_map_and_leaves_the_process_env_alone() {
    let Some(bao) = Bao::shared() else { return };
    let client = bao.client();
    let (a, b) = (unique("lib-a"), unique("lib-b"));
    let kv = client.kv2("secret");
    kv.write(
        &a,
        &obj(json!({"VAULTID_T_USER": "alice", "VAULTID_T_PORT": 5432})),
        None,
    )
    .unwrap();
    kv.write(
        &b,
        &obj(json!({"token": "t0k", "VAULTID_T_USER": "bob"})),
        None,
    )
    .unwrap();
    let specs = [
        SecretSpec::parse(&format!("secret/{a}")).unwrap(),
        SecretSpec::parse(&format!("{b}#token=VAULTID_T_TOKEN")).unwrap(),
    ];
    let m = load_secrets(&client, &specs, &EnvOptions::default()).unwrap();
    let got: BTreeMap<&str, &str> = m.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
    assert_eq!(
        got,
        BTreeMap::from([
            ("VAULTID_T_PORT", "5432"),
            ("VAULTID_T_TOKEN", "t0k"),
            ("VAULTID_T_USER", "alice"),
        ])
    );
    assert!(std::env::var_os("VAULTID_T_USER").is_none());
    // Debug of the map never shows a value.
    assert!(!format!("{m:?}").contains("alice"));

    // Both whole secrets set VAULTID_T_USER: a clash, unless overriding.
    let both = [
        SecretSpec::parse(&a).unwrap(),
        SecretSpec::parse(&b).unwrap(),
    ];
    let e = load_secrets(&client, &both, &EnvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("VAULTID_T_USER") && e.contains("may not override"),
        "{e}"
    );
    assert!(!e.contains("alice") && !e.contains("bob"), "{e}");
    let mut opts = EnvOptions::default();
    opts.allow_override = true;
    let m = load_secrets(&client, &both, &opts).unwrap();
    assert_eq!(m["VAULTID_T_USER"].expose(), "bob");

    // A missing secret is NotFound.
    let missing = [SecretSpec::parse(&unique("missing")).unwrap()];
    assert!(matches!(
        load_secrets(&client, &missing, &EnvOptions::default()),
        Err(vaultid::Error::NotFound { .. })
    ));
}

#[test]
fn child_sees_exactly_the_expected_variables() {
    let Some(bao) = Bao::shared() else { return };
    let p = unique("exact");
    bao.client()
        .kv2("secret")
        .write(
            &p,
            &obj(json!({"DB_USER": "app", "DB_PASS": "p@ss w0rd"})),
            None,
        )
        .unwrap();
    let o = run(vaultid(bao).args(["env", &p, "--", "env", "-0"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let seen: BTreeMap<String, String> = o
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let s = String::from_utf8(kv.to_vec()).unwrap();
            let (k, v) = s.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let mut expected = BTreeMap::from([
        ("DB_USER".to_string(), "app".to_string()),
        ("DB_PASS".to_string(), "p@ss w0rd".to_string()),
        ("VAULT_ADDR".to_string(), bao.addr().to_string()),
        // vaultid's own token is not inherited (--pass-credentials would).
    ]);
    expected.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    assert_eq!(seen, expected);
    // Nothing about the secrets on vaultid's own stderr.
    assert!(!stderr(&o).contains("p@ss"), "{}", stderr(&o));
}

#[test]
fn exit_codes_pass_through() {
    let Some(bao) = Bao::shared() else { return };
    let p = unique("exit");
    bao.client()
        .kv2("secret")
        .write(&p, &obj(json!({"X": "1"})), None)
        .unwrap();
    let o = run(vaultid(bao).args(["env", &p, "--", "sh", "-c", "exit 42"]));
    assert_eq!(o.status.code(), Some(42), "{}", stderr(&o));
    let o = run(vaultid(bao).args(["env", &p, "--", "sh", "-c", "kill -TERM $$"]));
    assert_eq!(o.status.code(), Some(128 + 15), "{}", stderr(&o));
    let o = run(vaultid(bao).args(["env", &p, "--", "/nonexistent/cmd"]));
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
}

fn wait_for(path: &Path, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigterm_to_vaultid_reaches_the_child() {
    let Some(bao) = Bao::shared() else { return };
    let p = unique("sig");
    bao.client()
        .kv2("secret")
        .write(&p, &obj(json!({"X": "1"})), None)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("vaultid-sig-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ready, marker) = (dir.join("ready"), dir.join("marker"));
    let script = r#"trap 'echo "TERM $X" > "$MARKER"; exit 7' TERM
echo ok > "$READY"
while :; do sleep 0.05; done"#;
    let mut child = vaultid(bao)
        .env("READY", &ready)
        .env("MARKER", &marker)
        .args(["env", &p, "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(&ready, Duration::from_secs(20)),
        "child never started"
    );
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "vaultid did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(7),
        "the child's trap exit code passes through"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "TERM 1\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_lines_round_trip_through_sh() {
    let Some(bao) = Bao::shared() else { return };
    let p = unique("quote");
    let values = BTreeMap::from([
        ("Q_SINGLE", "it's a 'quoted' value''"),
        ("Q_DOUBLE", "say \"hi\" \\ back\\slash"),
        ("Q_NEWLINES", "line1\nline2\n\nline4\n"),
        ("Q_DOLLAR", "$HOME ${PATH} $(id) $1"),
        ("Q_BACKTICK", "`id` `echo pwned`"),
        ("Q_SPACES", "  leading and trailing  \t"),
        ("Q_UNICODE", "héllo wörld ✓ 日本語 🦀"),
        ("Q_EMPTY", ""),
        ("Q_MIXED", "a'b\"c$d`e\nf\\g h;rm -rf /tmp/nothing;'"),
    ]);
    let data: Map<String, Value> = values
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    bao.client().kv2("secret").write(&p, &data, None).unwrap();

    // The printed form: one export line per variable.
    let o = run(vaultid(bao).args(["env", &p]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("export "), "{text}");

    for (name, want) in &values {
        let script = format!("eval \"$(\"$VAULTID\" env \"$SPEC\")\"; printf %s \"${name}\"");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VAULT_ADDR", bao.addr())
            .env("VAULT_TOKEN", bao.token())
            .env("VAULTID", env!("CARGO_BIN_EXE_vaultid"))
            .env("SPEC", &p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *want, "{name}");
    }
}

#[test]
fn names_are_validated_and_normalized_on_request() {
    let Some(bao) = Bao::shared() else { return };
    let p = unique("names");
    bao.client()
        .kv2("secret")
        .write(&p, &obj(json!({"db-password": "s3cr3t-value"})), None)
        .unwrap();
    let o = run(vaultid(bao).args(["env", &p]));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("db-password") && e.contains("--normalize"),
        "{e}"
    );
    assert!(!e.contains("s3cr3t"), "{e}");
    let o = run(vaultid(bao).args(["env", "--normalize", &p]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "export DB_PASSWORD='s3cr3t-value'\n"
    );
    let o = run(vaultid(bao).args(["env", &format!("{p}#db-password=PW")]));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "export PW='s3cr3t-value'\n"
    );
}

#[test]
fn missing_vault_address_is_a_configuration_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .args(["env", "app/x", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("VAULT_ADDR"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args(["env", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--dynamic"));
}
