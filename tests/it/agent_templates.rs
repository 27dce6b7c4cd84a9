//! The Vault Agent drop-in, differentially: one HCL configuration
//! (`tests/fixtures/templates/agent.hcl`) with 50 templates written from
//! the patterns of Vault Agent's and consul-template's documentation, run
//! once by `bao agent` (the oracle, from PATH) and once by `vaultid agent`
//! against the same OpenBao, each with `exit_after_auth` (one pass, then
//! exit). Every rendered file must be byte for byte the same, with the
//! same mode; certificates and dynamic credentials, which differ on every
//! issue, are compared by structure (PEM blocks, serials and keys masked).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, bao::Bao};
use serde_json::json;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/templates");

/// The data the templates read.
fn seed(bao: &Bao, auth: &Path) {
    let run = |args: &[&str]| {
        bao.bao(args)
            .unwrap_or_else(|e| panic!("bao {args:?}: {e}"));
    };
    let c = bao.client();
    let app_v1 = json!({"data": {"user": "app", "password": "old-password"}});
    c.write("secret/data/app", &app_v1).unwrap();
    let app = json!({"data": {
        "user": "app",
        "password": "s3cr3t&<x> \"q\" ü",
        "host": "DB.internal",
        "port": 5432,
        "ratio": 1.5,
        "big": 12345678901u64,
        "enabled": true,
        "nothing": null,
        "tags": ["a", "b"],
        "empty_list": [],
        "letters": ["a", "b", "c", "d", "e", "f"],
        "nested": {"key": "v", "n": 2},
        "api-key": "k-123",
        "b64": "aGVsbG8gd29ybGQK",
        "csv": " x,y ,z ",
        "padded": "  spaced out \n",
        "json": "{\"a\": 1, \"b\": [1000000, 1.5e-7], \"c\": 2.345}",
    }});
    c.write("secret/data/app", &app).unwrap();
    for (k, v) in [("one", "1"), ("two", "2"), ("three", "3")] {
        c.write(
            &format!("secret/data/cfg/{k}"),
            &json!({"data": {"value": v}}),
        )
        .unwrap();
    }
    c.write(
        "secret/data/yamlish",
        &json!({"data": {"name": "svc", "on": "yes", "num_str": "123", "empty": "",
                          "list": ["x", {"k": "v", "z": [1, 2]}], "map": {"a": {"b": "c"}},
                          "multi": "line1\nline2\n", "colon": "a: b", "n": 3.25}}),
    )
    .unwrap();
    run(&["secrets", "enable", "-path=kv", "-version=1", "kv"]);
    run(&["write", "kv/app", "user=kv1", "password=kv1-pass"]);
    run(&["secrets", "enable", "pki"]);
    run(&["secrets", "tune", "-max-lease-ttl=87600h", "pki"]);
    run(&[
        "write",
        "pki/root/generate/internal",
        "common_name=example.com",
        "ttl=8760h",
    ]);
    run(&[
        "write",
        "pki/roles/web",
        "allowed_domains=example.com",
        "allow_subdomains=true",
        "max_ttl=72h",
    ]);
    run(&["secrets", "enable", "ssh"]);
    run(&[
        "write",
        "ssh/roles/otp",
        "key_type=otp",
        "default_user=app",
        "cidr_list=127.0.0.0/8",
    ]);
    run(&["auth", "enable", "approle"]);
    bao.bao_with_input(
        &["policy", "write", "tmpl", "-"],
        Some("path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }\n"),
    )
    .unwrap();
    run(&[
        "write",
        "auth/approle/role/tmpl",
        "token_policies=tmpl",
        "token_ttl=1h",
    ]);
    let role = c.read("auth/approle/role/tmpl/role-id").unwrap().unwrap();
    let sid = c
        .write("auth/approle/role/tmpl/secret-id", &json!({}))
        .unwrap()
        .unwrap();
    std::fs::write(
        auth.join("role_id"),
        role["data"]["role_id"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        auth.join("secret_id"),
        sid["data"]["secret_id"].as_str().unwrap(),
    )
    .unwrap();
}

/// The configuration for one agent: its output directory filled in.
fn config(bao: &Bao, out: &Path, auth: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("agent.hcl"))
        .unwrap()
        .replace("@FIXTURES@", FIXTURES)
        .replace("@OUT@", &out.display().to_string())
        .replace("@AUTH@", &auth.display().to_string())
        .replace("@ADDR@", bao.addr());
    let p = out.with_extension("hcl");
    std::fs::write(&p, text).unwrap();
    p
}

/// Run `program agent -config=FILE` to its end (at most 90 s).
fn run_agent(program: &Path, cfg: &Path, dir: &Path) -> (bool, String) {
    let log = dir.join(format!(
        "{}.log",
        program.file_name().unwrap().to_string_lossy()
    ));
    let mut child = Command::new(program)
        .arg("agent")
        .arg(format!("-config={}", cfg.display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("TMPL_TEST_VAR", "from the environment")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    (status.is_some_and(|s| s.success()), text)
}

/// Mask what differs on every issue: PEM blocks, serial numbers, keys and
/// ids (UUID-like and long hex), so the structure is what is compared.
fn structure(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(b) = rest.find("-----BEGIN ") {
        out.push_str(&rest[..b]);
        let after = &rest[b..];
        let label_end = after[11..]
            .find("-----")
            .map(|k| k + 11)
            .unwrap_or(after.len());
        let label = &after[11..label_end];
        let end_marker = format!("-----END {label}-----");
        match after.find(&end_marker) {
            Some(e) => {
                out.push_str(&format!("<PEM {label}>"));
                rest = &after[e + end_marker.len()..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Words of hex, colons and dashes at least 16 long: serials, UUIDs, OTPs.
    out.split_inclusive([' ', '\n', '='])
        .map(|w| {
            let core = w.trim_end_matches([' ', '\n', '=']);
            let tail = &w[core.len()..];
            if core.len() >= 16
                && core
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '-')
            {
                format!("<ID>{tail}")
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn files(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "out"))
        .map(|p| {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                (std::fs::read(&p).unwrap(), mode),
            )
        })
        .collect()
}

#[test]
fn bao_agent_and_vaultid_agent_render_the_same_bytes() {
    let Some(bao) = Bao::start() else { return };
    let dir = common::tmpdir("agent-templates");
    let auth = dir.join("auth");
    std::fs::create_dir_all(&auth).unwrap();
    seed(&bao, &auth);
    let templates = std::fs::read_dir(FIXTURES)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "ctmpl")
        })
        .count();
    assert!(templates >= 40, "only {templates} templates");

    // The oracle: the `bao` the test server runs.
    let oracle = bao.bin().to_path_buf();
    let out_bao = dir.join("bao");
    let out_vaultid = dir.join("vaultid");
    std::fs::create_dir_all(&out_bao).unwrap();
    std::fs::create_dir_all(&out_vaultid).unwrap();
    let t0 = Instant::now();
    let (ok, log) = run_agent(&oracle, &config(&bao, &out_bao, &auth), &dir);
    assert!(ok, "bao agent failed:\n{log}");
    let bao_time = t0.elapsed();
    let t0 = Instant::now();
    let (ok, log) = run_agent(
        Path::new(env!("CARGO_BIN_EXE_vaultid")),
        &config(&bao, &out_vaultid, &auth),
        &dir,
    );
    assert!(ok, "vaultid agent failed:\n{log}");
    eprintln!(
        "bao agent {:?}, vaultid agent {:?} for {templates} templates",
        bao_time,
        t0.elapsed()
    );

    let want = files(&out_bao);
    let got = files(&out_vaultid);
    assert_eq!(want.len(), templates + 3, "bao rendered {:?}", want.keys());
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "the same files"
    );
    let mut differ = Vec::new();
    for (name, (bytes, mode)) in &want {
        let (gbytes, gmode) = &got[name];
        let volatile = name.starts_with("dyn-") || name.starts_with("cert-");
        let (w, g) = (
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(gbytes),
        );
        let same = if volatile {
            structure(&w) == structure(&g) && bytes != gbytes
        } else {
            bytes == gbytes
        };
        if !same || mode != gmode {
            differ.push(format!(
                "{name}: mode {mode:o} vs {gmode:o}\n--- bao agent\n{w}\n--- vaultid agent\n{g}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} differ:\n{}",
        differ.len(),
        want.len(),
        differ.join("\n")
    );
    // Both wrote the token sink, and removed their pid file on exit.
    for out in [&out_bao, &out_vaultid] {
        assert!(out.join("token").exists(), "{}", out.display());
        let mode = std::fs::metadata(out.join("token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn structure_masks_only_what_changes() {
    let a = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\nserial 1a:2b:3c:4d:5e:6f:70:81 x\n";
    let b = "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\nserial ff:2b:3c:4d:5e:6f:70:81 x\n";
    assert_eq!(structure(a), structure(b));
    assert_ne!(structure(a), structure(&b.replace(" x", " y")));
    assert_ne!(
        structure(a),
        structure(&b.replace("CERTIFICATE", "PRIVATE KEY"))
    );
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The loop: a static secret re-read every second writes nothing while it
/// is unchanged; a new version reaches the file, runs the template's
/// command once more, and restarts the supervised command with the new
/// `env_template` value in its environment.
#[test]
fn static_secrets_rerender_on_change_only() {
    use std::os::unix::fs::MetadataExt;
    let Some(bao) = Bao::shared() else { return };
    let dir = common::tmpdir("agent-templates-loop");
    let path = format!("secret/data/loop-{}", uuid::Uuid::new_v4());
    let c = bao.client();
    c.write(&path, &json!({"data": {"v": "one"}})).unwrap();
    std::fs::write(dir.join("token"), bao.token()).unwrap();
    let d = dir.display();
    let hcl = format!(
        r#"
vault {{ address = "{addr}" }}
auto_auth {{
  method "token_file" {{ config = {{ token_file_path = "{d}/token" }} }}
}}
template_config {{ static_secret_render_interval = "1s" }}
template {{
  contents    = "{{{{ with secret \"{path}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}"
  destination = "{d}/out/value"
  command     = "echo ran >> {d}/commands"
}}
env_template "LOOP_V" {{
  contents = "{{{{ with secret \"{path}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}"
}}
exec {{
  command                   = ["sh", "-c", "echo \"$LOOP_V\" >> {d}/child; exec sleep 60"]
  restart_on_secret_changes = "always"
}}
"#,
        addr = bao.addr()
    );
    let cfg = dir.join("agent.hcl");
    std::fs::write(&cfg, hcl).unwrap();
    let log = dir.join("agent.log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .arg("agent")
        .arg(format!("--config={}", cfg.display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let out = dir.join("out/value");
    let show = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the first rendering", Duration::from_secs(15), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s == "one")
            && lines(&dir.join("child")) == ["one"]
    });
    // The default mode is Vault Agent's 0644; the command ran once.
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o644
    );
    wait_for("the command", Duration::from_secs(5), || {
        lines(&dir.join("commands")).len() == 1
    });
    let inode = std::fs::metadata(&out).unwrap().ino();
    // Three re-reads of the unchanged secret: no write, no command, no restart.
    std::thread::sleep(Duration::from_millis(3200));
    assert_eq!(std::fs::metadata(&out).unwrap().ino(), inode, "{}", show());
    assert_eq!(lines(&dir.join("commands")).len(), 1, "{}", show());
    assert_eq!(lines(&dir.join("child")), ["one"]);
    // A new version: the file, one more command, a restart with the new value.
    c.write(&path, &json!({"data": {"v": "two"}})).unwrap();
    wait_for("the new version", Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s == "two")
    });
    wait_for("the restart", Duration::from_secs(15), || {
        lines(&dir.join("child")) == ["one", "two"]
    });
    wait_for("the second command", Duration::from_secs(5), || {
        lines(&dir.join("commands")).len() == 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&dir.join("commands")).len(), 2, "{}", show());
    let killed = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "agent did not stop: {}", show());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mistakes are found before any request, named with their line.
#[test]
fn bad_configurations_and_templates_are_refused_at_start() {
    let dir = common::tmpdir("agent-templates-bad");
    let unreachable = common::stalling_listener();
    let cases = [
        ("listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n}\n", "line 1, column 1: `listener`"),
        (
            "vault {\n  address = \"http://127.0.0.1:1\"\n  retry { num_retries = 2 }\n}\n",
            "line 3, column 3: `retry` in `vault`",
        ),
        (
            "vault { address = \"ADDR\" }\nauto_auth {\n  method \"token_file\" { config = { token_file_path = \"TOKEN\" } }\n}\ntemplate {\n  contents = \"{{ writeToFile \\\"x\\\" }}\"\n  destination = \"DIR/x\"\n}\n",
            "function \"writeToFile\" not defined",
        ),
    ];
    std::fs::write(dir.join("token"), "s.none").unwrap();
    for (k, (text, want)) in cases.iter().enumerate() {
        let cfg = dir.join(format!("bad{k}.hcl"));
        let text = text
            .replace("ADDR", &unreachable)
            .replace("TOKEN", &dir.join("token").display().to_string())
            .replace("DIR", &dir.display().to_string());
        std::fs::write(&cfg, &text).unwrap();
        let t0 = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .arg("agent")
            .arg(format!("-config={}", cfg.display()))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{text}");
        assert!(err.contains(want), "{text}: {err}");
        assert!(err.contains(&cfg.display().to_string()) || k == 2, "{err}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no request is waited for"
        );
    }
}

/// `vaultid agent status` counts templates as it counts sources: one
/// never rendered is exit 1, one whose secret Vault refuses exit 5, one
/// that rendered and fails since exit 3 (its file kept); the status file
/// names each template by its destination, never its contents.
#[test]
fn agent_status_reflects_each_template() {
    let Some(bao) = Bao::shared() else { return };
    let c = bao.client();
    let id = uuid::Uuid::new_v4();
    let (a, b, forbidden) = (
        format!("secret/data/health-{id}/a"),
        format!("secret/data/health-{id}/b"),
        format!("secret/data/health-forbidden-{id}"),
    );
    let secret_value = format!("s3cret-{id}");
    c.write(&a, &json!({"data": {"v": secret_value}})).unwrap();
    c.write(&forbidden, &json!({"data": {"v": "x"}})).unwrap();
    let policy = format!("health-{id}");
    c.write(
        &format!("sys/policies/acl/{policy}"),
        &json!({"policy": format!(
            "path \"secret/data/health-{id}/*\" {{ capabilities = [\"read\"] }}\n\
             path \"sys/internal/ui/mounts/*\" {{ capabilities = [\"read\"] }}\n")}),
    )
    .unwrap();
    let token = c
        .write(
            "auth/token/create",
            &json!({"policies": [policy], "ttl": "10m"}),
        )
        .unwrap()
        .unwrap()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let tmpl =
        |path: &str| format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}");
    let env = [
        ("VAULT_ADDR", bao.addr().to_string()),
        ("VAULT_TOKEN", token),
    ];
    let status_text =
        |dir: &Path| std::fs::read_to_string(dir.join("status.json")).unwrap_or_default();
    let template_entry = |doc: &serde_json::Value, dest: &Path| {
        doc["templates"]
            .as_array()
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t["destination"] == dest.display().to_string())
                    .cloned()
            })
            .unwrap_or_default()
    };

    // One template renders, one reads a secret that is not there yet.
    let dir = common::tmpdir("agent-templates-health");
    let (out_a, out_b) = (dir.join("a.txt"), dir.join("b.txt"));
    let agent = crate::agent::AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "backoff_max": "1s",
                "template_config": {"static_secret_render_interval": "1s"},
                "templates": [
                    {"contents": tmpl(&a), "destination": out_a, "error_on_missing_key": true},
                    {"contents": tmpl(&b), "destination": out_b}]}),
        &env,
    );
    agent.wait_for("the first pass", Duration::from_secs(15), |_| {
        let (_, doc) = agent.status();
        template_entry(&doc, &out_a)["rendered"] == true
            && template_entry(&doc, &out_b)["last_error"].is_string()
    });
    let (code, doc) = agent.status();
    assert_eq!(code, 1, "{doc:#}");
    let b_entry = template_entry(&doc, &out_b);
    assert_eq!(b_entry["rendered"], false, "{doc:#}");
    assert_eq!(b_entry["last_error_kind"], "failed", "{doc:#}");
    assert!(b_entry["last_rendered_at"].is_null(), "{doc:#}");
    assert!(
        template_entry(&doc, &out_a)["last_rendered_at"].is_u64(),
        "{doc:#}"
    );
    let problems = doc["healthy"]["problems"].to_string();
    assert!(
        problems.contains(&format!("template {}: not rendered yet", out_b.display())),
        "{problems}"
    );
    assert!(!out_b.exists());
    // Written: both render, exit 0.
    c.write(&b, &json!({"data": {"v": "b"}})).unwrap();
    agent.wait_for("exit 0", Duration::from_secs(15), |a| a.status().0 == 0);
    assert_eq!(std::fs::read_to_string(&out_b).unwrap(), "b");
    // The key a's template needs goes away: exit 3, the file kept.
    c.write(&a, &json!({"data": {"other": "y"}})).unwrap();
    agent.wait_for("exit 3", Duration::from_secs(15), |a| a.status().0 == 3);
    let (_, doc) = agent.status();
    let a_entry = template_entry(&doc, &out_a);
    assert_eq!(a_entry["rendered"], true, "{doc:#}");
    assert!(
        a_entry["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("no entry for key"),
        "{doc:#}"
    );
    assert_eq!(std::fs::read_to_string(&out_a).unwrap(), secret_value);
    // What was rendered is nowhere in the status.
    assert!(
        !status_text(&dir).contains(&secret_value),
        "{}",
        status_text(&dir)
    );
    let human = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .args(["agent", "status", "--human", "--status-file"])
        .arg(dir.join("status.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!("template {}: rendered", out_b.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("template {}: rendered", out_a.display())),
        "{text}"
    );
    assert!(text.contains("no entry for key"), "{text}");
    assert!(!text.contains(&secret_value), "{text}");
    agent.stop();

    // A secret the token may not read: exit 5.
    let dir = common::tmpdir("agent-templates-denied");
    let out = dir.join("f.txt");
    let agent = crate::agent::AgentProc::start(
        &dir,
        &json!({"restore_identity": false, "status_file": dir.join("status.json"),
                "backoff_max": "1s",
                "templates": [{"contents": tmpl(&forbidden), "destination": out}]}),
        &env,
    );
    agent.wait_for("the refusal", Duration::from_secs(15), |a| {
        a.status().0 == 5
    });
    let (_, doc) = agent.status();
    assert_eq!(
        template_entry(&doc, &out)["last_error_kind"],
        "denied",
        "{doc:#}"
    );
    assert!(!out.exists());
    agent.stop();
}
