//! A canary sweep over every CLI command: distinctive secret values (a
//! Vault token, an AppRole secret id, KV values, the Hydra client secret,
//! access tokens, the private key, credential-store secrets, rotated
//! values) are planted, every command runs with `VAULTID_LOG=trace` on its
//! success and failure paths (wrong token, wrong secret id, Hydra answering
//! 500/503 or refusing the client, Vault stopped), and no canary may show
//! up in stderr, nor in stdout unless the command exists to print that
//! very secret (`kv get`, `env` without `--`, `token`, `cred create`,
//! `cred rotate`, `rotate --print`, `login --print-token`).

use crate::common;
use crate::hydra_double;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::bao::Bao;
use hydra_double::HydraDouble;
use serde_json::{Map, Value};

const AUTHOR: &str = "canary@example.com";

/// One command's output, and the canaries its stdout may hold.
struct Run {
    label: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    allowed: Vec<String>,
}

/// The planted secrets and every output collected so far. Outputs are
/// checked at the end, against every canary, including those learned
/// later (the secret a rotation wrote, the Hydra client secret).
struct Sweep {
    canaries: Vec<(String, String)>,
    runs: Vec<Run>,
    base_env: Vec<(String, String)>,
}

impl Sweep {
    fn canary(&mut self, name: &str, value: &str) {
        assert!(value.len() >= 8, "canary {name} is too short to search for");
        self.canaries.push((name.to_string(), value.to_string()));
    }

    /// Run `vaultid args` with the base environment changed by `env`
    /// (a `None` value removes the variable), `stdin` as input; its stdout
    /// may hold the canaries named in `allowed`.
    fn run(
        &mut self,
        label: &str,
        args: &[&str],
        env: &[(&str, Option<&str>)],
        stdin: Option<&str>,
        allowed: &[&str],
    ) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
        c.env_clear();
        for (k, v) in &self.base_env {
            c.env(k, v);
        }
        for (k, v) in env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start vaultid");
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input.write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        self.runs.push(Run {
            label: format!("{label}: vaultid {}", args.join(" ")),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        });
        out
    }

    /// Allow the last run's stdout to hold canary `name` too.
    fn allow_last(&mut self, name: &str) {
        self.runs.last_mut().unwrap().allowed.push(name.to_string());
    }

    fn last_code(&self) -> Option<i32> {
        self.runs.last().unwrap().code
    }

    fn last_stderr(&self) -> &str {
        &self.runs.last().unwrap().stderr
    }

    /// Every place a canary (or a 16-character end of it) shows where it
    /// must not.
    fn leaks(&self) -> Vec<String> {
        let mut found = Vec::new();
        for run in &self.runs {
            for (name, value) in &self.canaries {
                let mut needles = vec![value.as_str()];
                if value.len() >= 24 {
                    needles.push(&value[..16]);
                    needles.push(&value[value.len() - 16..]);
                }
                for (stream, text) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
                    if stream == "stdout" && run.allowed.contains(name) {
                        continue;
                    }
                    if let Some(n) = needles.iter().find(|n| text.contains(**n)) {
                        let at = text.find(n).unwrap();
                        let from = text[..at]
                            .char_indices()
                            .rev()
                            .nth(60)
                            .map_or(0, |(i, _)| i);
                        found.push(format!(
                            "{name} in {stream} of `{}` (exit {:?}), after: {:?}",
                            run.label,
                            run.code,
                            &text[from..at]
                        ));
                    }
                }
            }
        }
        found
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("vaultid-canary-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn kv_value(bao: &Bao, path: &str, key: &str) -> String {
    bao.client()
        .kv2("secret")
        .read(path, None)
        .unwrap()
        .unwrap()
        .data[key]
        .as_str()
        .unwrap()
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn did(name: &str) -> String {
    vaultid::identity::Identity::new(AUTHOR, name, None)
        .unwrap()
        .did
}

/// Plant the private key's canaries: the PEM body line, its seed-only
/// tail, and the seed in hex.
fn key_canaries(s: &mut Sweep, key_dir: &Path, tag: &str) {
    let pem = std::fs::read_to_string(key_dir.join("private.pem")).unwrap();
    let body = pem.lines().nth(1).unwrap().to_string();
    assert_eq!(body.len(), 64, "one body line for an Ed25519 PKCS#8 key");
    s.canary(&format!("{tag} private key PEM body"), &body);
    // Base64 characters 22.. encode only seed bytes (the first 16 bytes are
    // the PKCS#8 header, the same for every Ed25519 key).
    s.canary(&format!("{tag} private key seed (base64)"), &body[22..]);
    let key = vaultid::fuzzing::codec::pem::decode_private_key(&pem).unwrap();
    s.canary(&format!("{tag} private key seed (hex)"), &hex(&key.seed));
}

#[test]
fn no_command_shows_a_secret_it_does_not_exist_to_print() {
    let Some(mut bao) = Bao::start() else { return };
    let mut hydra = HydraDouble::start();
    // Each canary has its own UUID, so that its ends are its own too.
    let fresh = |prefix: &str| format!("{prefix}-{}", uuid::Uuid::new_v4());
    let token = fresh("root-CANARYTOKEN");
    let wrong_token = fresh("root-CANARYWRONGTOKEN");
    let secret_id = fresh("CANARYSECRETID");
    let wrong_secret_id = fresh("CANARYWRONGSECRETID");
    let kv_secret = fresh("CANARYVALUE");
    let put_value = fresh("CANARYPUTVALUE");
    let stdin_value = fresh("CANARYSTDINVALUE");
    let given_rotation = fresh("CANARYROTATEVALUE");
    let wrong_cred = fresh("CANARYWRONGCRED");
    let wrong_client_secret = fresh("CANARYWRONGCLIENTSECRET");

    // Vault: a token with a chosen id, an AppRole with a chosen secret id,
    // a KV secret.
    bao.bao(&["token", "create", &format!("-id={token}"), "-policy=root"])
        .unwrap();
    bao.bao(&["auth", "enable", "approle"]).unwrap();
    let policy = r#"path "secret/*" { capabilities = ["create", "read", "update", "delete", "list", "patch"] }"#;
    bao.bao_with_input(&["policy", "write", "canary-rw", "-"], Some(policy))
        .unwrap();
    bao.bao(&["write", "auth/approle/role/r", "token_policies=canary-rw"])
        .unwrap();
    bao.bao(&[
        "write",
        "auth/approle/role/r/custom-secret-id",
        &format!("secret_id={secret_id}"),
    ])
    .unwrap();
    let role_id = bao
        .bao(&["read", "-field=role_id", "auth/approle/role/r/role-id"])
        .unwrap()
        .trim()
        .to_string();
    let mut data = Map::new();
    data.insert("value".into(), kv_secret.clone().into());
    data.insert("user".into(), "app".into());
    bao.client()
        .kv2("secret")
        .write("canary/app", &data, None)
        .unwrap();
    let mut data = Map::new();
    data.insert("password".into(), fresh("CANARYOLDPASSWORD").into());
    bao.client()
        .kv2("secret")
        .write("canary/rot", &data, None)
        .unwrap();

    let name = format!("canary-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let home = tmpdir("home");
    let dir_a = tmpdir("a");
    let mut s = Sweep {
        canaries: Vec::new(),
        runs: Vec::new(),
        base_env: vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.display().to_string()),
            ("VAULTID_LOG".into(), "trace".into()),
            ("VAULT_ADDR".into(), bao.addr().into()),
            ("VAULT_TOKEN".into(), token.clone()),
            ("VAULT_MAX_RETRIES".into(), "0".into()),
            ("VAULTID_AUTHOR".into(), AUTHOR.into()),
            ("VAULTID_AGENT_NAME".into(), name.clone()),
            ("VAULTID_KEY_DIR".into(), dir_a.display().to_string()),
            ("HYDRA__ADMIN_URL".into(), hydra.admin_url()),
            ("HYDRA__PUBLIC_URL".into(), hydra.public_url()),
            ("HYDRA__MAX_RETRIES".into(), "0".into()),
            ("HYDRA__TIMEOUT".into(), "3s".into()),
        ],
    };
    for (n, v) in [
        ("vault token", &token),
        ("wrong vault token", &wrong_token),
        ("approle secret id", &secret_id),
        ("wrong approle secret id", &wrong_secret_id),
        ("kv value", &kv_secret),
        ("kv put value", &put_value),
        ("kv put stdin value", &stdin_value),
        ("given rotation value", &given_rotation),
        ("wrong credential secret", &wrong_cred),
        ("wrong client secret", &wrong_client_secret),
        ("bao root token", &bao.token().to_string()),
    ] {
        s.canary(n, v);
    }
    let approle_env: [(&str, Option<&str>); 4] = [
        ("VAULT_TOKEN", None),
        ("VAULT_AUTH_METHOD", Some("approle")),
        ("VAULT_ROLE_ID", Some(&role_id)),
        ("VAULT_SECRET_ID", Some(&secret_id)),
    ];

    // --- identity: up (Vault + Hydra), show, sign, ...
    let up = json(&s.run("first start", &["up"], &[], None, &[]));
    assert_eq!(up["hydra"]["status"], "ok", "{up}");
    let agent_id = up["agent_id"].as_str().unwrap().to_string();
    let client_secret = kv_value(
        &bao,
        &format!("bindu/hydra/credentials/{}", did(&name)),
        "client_secret",
    );
    s.canary("hydra client secret", &client_secret);
    key_canaries(&mut s, &dir_a, "agent");
    json(&s.run("warm restart", &["up"], &[], None, &[]));
    s.run("warm restart, human", &["up", "--human"], &[], None, &[]);
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    json(&s.run("show", &["show"], &[], None, &[]));
    json(&s.run("id", &["id"], &[], None, &[]));
    json(&s.run("did document", &["did-document"], &[], None, &[]));
    let sig = json(&s.run("sign", &["sign", "hello"], &[], None, &[]));
    let sig = sig["signature"].as_str().unwrap().to_string();
    json(&s.run("sign stdin", &["sign", "-"], &[], Some("hello"), &[]));
    json(&s.run("verify", &["verify", "hello", &sig], &[], None, &[]));
    s.run("verify bad", &["verify", "hellO", &sig], &[], None, &[]);
    assert_eq!(s.last_code(), Some(4));

    // --- token: prints the access token, which nothing else may show.
    // The second command reuses the first one's token (hydra_token.json).
    let t = json(&s.run("token", &["token"], &[], None, &[]));
    let first = t["access_token"].as_str().unwrap().to_string();
    s.canary("access token #0", &first);
    s.allow_last("access token #0");
    let t = json(&s.run("token", &["token", "--introspect"], &[], None, &[]));
    assert_eq!(
        t["access_token"],
        first.as_str(),
        "the cached token is reused"
    );
    s.allow_last("access token #0");
    // From Vault, with no local credentials.
    let dir_fresh = tmpdir("fresh");
    let fresh = dir_fresh.display().to_string();
    let t = json(&s.run(
        "token from Vault credentials",
        &["token"],
        &[("VAULTID_KEY_DIR", Some(&fresh))],
        None,
        &[],
    ));
    s.canary("access token #2", t["access_token"].as_str().unwrap());
    s.allow_last("access token #2");
    // The token is kept for the next command (0600); tests of Hydra
    // failing below remove it, so that the endpoint is asked.
    let cached = dir_a.join("hydra_token.json");
    assert!(cached.exists(), "`vaultid token` caches its token");

    // --- kv
    json(&s.run(
        "kv get",
        &["kv", "get", "secret/canary/app"],
        &[],
        None,
        &["kv value"],
    ));
    s.run(
        "kv get field",
        &["kv", "get", "secret/canary/app", "--field", "value"],
        &[],
        None,
        &["kv value"],
    );
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    json(&s.run(
        "kv put",
        &["kv", "put", "secret/canary/put", &format!("v={put_value}")],
        &[],
        None,
        &[],
    ));
    json(&s.run(
        "kv put from stdin",
        &["kv", "put", "secret/canary/stdin", "v=-"],
        &[],
        Some(&stdin_value),
        &[],
    ));
    json(&s.run(
        "kv patch",
        &["kv", "patch", "secret/canary/put", "other=x"],
        &[],
        None,
        &[],
    ));
    json(&s.run("kv list", &["kv", "list", "secret/canary"], &[], None, &[]));
    json(&s.run(
        "kv metadata",
        &["kv", "metadata", "get", "secret/canary/app"],
        &[],
        None,
        &[],
    ));
    json(&s.run(
        "kv subkeys",
        &["kv", "subkeys", "secret/canary/app"],
        &[],
        None,
        &[],
    ));
    s.run(
        "wrong role id, kv get",
        &["kv", "get", "secret/canary/app"],
        &approle_env
            .iter()
            .copied()
            .chain([("VAULT_ROLE_ID", Some("not-a-role"))])
            .collect::<Vec<_>>(),
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(5), "{}", s.last_stderr());

    // --- env: into a child (which must not echo), and as export lines.
    let child_out = dir_fresh.join("child-saw");
    let script = format!("printf %s \"$APP_VALUE\" > '{}'", child_out.display());
    let o = s.run(
        "env into a child",
        &[
            "env",
            "canary/app#value=APP_VALUE",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[],
        None,
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", s.last_stderr());
    assert_eq!(std::fs::read_to_string(&child_out).unwrap(), kv_secret);
    s.run(
        "env, child fails",
        &[
            "env",
            "canary/app#value=APP_VALUE",
            "--",
            "sh",
            "-c",
            "exit 7",
        ],
        &[],
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(7));
    s.run(
        "env, no such command",
        &["env", "canary/app", "--", "/nonexistent/cmd"],
        &[("VAULTID_LOG", Some("trace"))],
        None,
        &[],
    );
    assert_ne!(s.last_code(), Some(0));
    s.run(
        "env exports",
        &["env", "secret/canary/app"],
        &[],
        None,
        &["kv value"],
    );
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    s.run(
        "env, missing secret",
        &["env", "canary/nothing-here", "--", "true"],
        &[],
        None,
        &[],
    );
    assert_ne!(s.last_code(), Some(0));

    // --- rotate: the new value shows only with --print.
    json(&s.run(
        "rotate",
        &["rotate", "canary/rot", "password"],
        &[],
        None,
        &[],
    ));
    let v = kv_value(&bao, "canary/rot", "password");
    s.canary("rotated value #1", &v);
    json(&s.run(
        "rotate --print",
        &["rotate", "canary/rot", "password", "--print"],
        &[],
        None,
        &[],
    ));
    let v = kv_value(&bao, "canary/rot", "password");
    s.canary("rotated value #2", &v);
    s.allow_last("rotated value #2");
    json(&s.run(
        "rotate to a given value",
        &["rotate", "canary/rot", "password", "--value", "-"],
        &[],
        Some(&format!("{given_rotation}\n")),
        &[],
    ));
    assert_eq!(kv_value(&bao, "canary/rot", "password"), given_rotation);

    // --- cred: the secret shows on create and rotate only.
    let created = json(&s.run(
        "cred create",
        &["cred", "create", &agent_id],
        &[],
        None,
        &[],
    ));
    let cred_id = created["credential_id"].as_str().unwrap().to_string();
    let cred_secret = created["secret"].as_str().unwrap().to_string();
    s.canary("credential secret #1", &cred_secret);
    s.allow_last("credential secret #1");
    json(&s.run(
        "cred verify",
        &["cred", "verify", &agent_id, &cred_id],
        &[],
        Some(&format!("{cred_secret}\n")),
        &[],
    ));
    json(&s.run(
        "cred verify from env",
        &[
            "cred",
            "verify",
            &agent_id,
            &cred_id,
            "--secret-env",
            "PRESENTED",
        ],
        &[("PRESENTED", Some(&cred_secret))],
        None,
        &[],
    ));
    s.run(
        "cred verify, wrong secret",
        &["cred", "verify", &agent_id, &cred_id],
        &[],
        Some(&format!("{wrong_cred}\n")),
        &[],
    );
    assert_eq!(s.last_code(), Some(4), "{}", s.last_stderr());
    let rotated = json(&s.run(
        "cred rotate",
        &["cred", "rotate", &agent_id, &cred_id],
        &[],
        None,
        &[],
    ));
    s.canary("credential secret #2", rotated["secret"].as_str().unwrap());
    s.allow_last("credential secret #2");
    s.run(
        "cred verify, old secret",
        &["cred", "verify", &agent_id, &cred_id],
        &[],
        Some(&format!("{cred_secret}\n")),
        &[],
    );
    assert_eq!(s.last_code(), Some(4), "{}", s.last_stderr());
    json(&s.run("cred list", &["cred", "list", &agent_id], &[], None, &[]));
    json(&s.run(
        "cred delete",
        &["cred", "delete", &agent_id, &cred_id],
        &[],
        None,
        &[],
    ));

    // --- login and health
    json(&s.run("login with the token", &["login"], &[], None, &[]));
    json(&s.run(
        "login --print-token",
        &["login", "--print-token"],
        &[],
        None,
        &["vault token"],
    ));
    json(&s.run("login with AppRole", &["login"], &approle_env, None, &[]));
    let printed = json(&s.run(
        "AppRole login --print-token",
        &["login", "--print-token"],
        &approle_env,
        None,
        &[],
    ));
    s.canary("approle token", printed["token"].as_str().unwrap());
    s.allow_last("approle token");
    let secret_file = dir_fresh.join("secret-id");
    std::fs::write(&secret_file, format!("{secret_id}\n")).unwrap();
    let file = secret_file.display().to_string();
    json(&s.run(
        "login with an AppRole secret id file",
        &["login"],
        &[
            ("VAULT_TOKEN", None),
            ("VAULT_AUTH_METHOD", Some("approle")),
            ("VAULT_ROLE_ID", Some(&role_id)),
            ("VAULT_SECRET_ID_FILE", Some(&file)),
        ],
        None,
        &[],
    ));
    json(&s.run(
        "kv get with AppRole",
        &["kv", "get", "secret/canary/app"],
        &approle_env,
        None,
        &["kv value"],
    ));
    s.run(
        "env with AppRole",
        &["env", "canary/app", "--", "true"],
        &approle_env,
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    json(&s.run("health", &["health"], &[], None, &[]));

    // --- failure paths: a wrong token.
    let wrong: [(&str, Option<&str>); 1] = [("VAULT_TOKEN", Some(&wrong_token))];
    for (label, args) in [
        ("kv get", &["kv", "get", "secret/canary/app"][..]),
        ("kv put", &["kv", "put", "secret/canary/x", "a=b"][..]),
        ("kv list", &["kv", "list", "secret/canary"][..]),
        ("login", &["login"][..]),
        ("login --print-token", &["login", "--print-token"][..]),
        ("env", &["env", "canary/app", "--", "true"][..]),
        ("env exports", &["env", "canary/app"][..]),
        ("rotate", &["rotate", "canary/rot", "password"][..]),
        ("cred create", &["cred", "create", &agent_id][..]),
        ("cred list", &["cred", "list", &agent_id][..]),
    ] {
        s.run(&format!("wrong token, {label}"), args, &wrong, None, &[]);
        assert_eq!(s.last_code(), Some(5), "{label}: {}", s.last_stderr());
    }
    let dir_b = tmpdir("b");
    let b = dir_b.display().to_string();
    s.run(
        "wrong token, first start",
        &["up"],
        &[
            ("VAULT_TOKEN", Some(&wrong_token)),
            ("VAULTID_KEY_DIR", Some(&b)),
        ],
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());
    s.run("wrong token, restart", &["up"], &wrong, None, &[]);
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    s.run(
        "wrong token, token from Vault credentials",
        &["token"],
        &[
            ("VAULT_TOKEN", Some(&wrong_token)),
            ("VAULTID_KEY_DIR", Some(&b)),
        ],
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(5), "{}", s.last_stderr());

    // A wrong AppRole secret id.
    let wrong_approle: Vec<(&str, Option<&str>)> = approle_env
        .iter()
        .copied()
        .chain([("VAULT_SECRET_ID", Some(wrong_secret_id.as_str()))])
        .collect();
    for (label, args) in [
        ("login", &["login"][..]),
        ("kv get", &["kv", "get", "secret/canary/app"][..]),
        ("env", &["env", "canary/app", "--", "true"][..]),
        ("rotate", &["rotate", "canary/rot", "password"][..]),
        ("cred create", &["cred", "create", &agent_id][..]),
    ] {
        s.run(
            &format!("wrong secret id, {label}"),
            args,
            &wrong_approle,
            None,
            &[],
        );
        assert_eq!(s.last_code(), Some(5), "{label}: {}", s.last_stderr());
    }
    s.run(
        "wrong secret id, first start",
        &["up"],
        &wrong_approle
            .iter()
            .copied()
            .chain([("VAULTID_KEY_DIR", Some(b.as_str()))])
            .collect::<Vec<_>>(),
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());

    // --- Hydra failing.
    for status in [500, 503] {
        hydra.fail_with(status);
        let other = format!("{name}-h{status}");
        let dir_h = tmpdir("h");
        let h = dir_h.display().to_string();
        let env = [
            ("VAULTID_AGENT_NAME", Some(other.as_str())),
            ("VAULTID_KEY_DIR", Some(h.as_str())),
        ];
        s.run(
            &format!("Hydra {status}, first start"),
            &["up"],
            &env,
            None,
            &[],
        );
        assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
        key_canaries(&mut s, &dir_h, &format!("Hydra {status} agent"));
        s.run(
            &format!("Hydra {status}, --require-hydra"),
            &["up", "--require-hydra"],
            &env,
            None,
            &[],
        );
        assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());
        s.run(&format!("Hydra {status}, restart"), &["up"], &[], None, &[]);
        assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
        let _ = std::fs::remove_file(&cached);
        s.run(
            &format!("Hydra {status}, token"),
            &["token"],
            &[],
            None,
            &[],
        );
        assert_ne!(s.last_code(), Some(0), "{}", s.last_stderr());
        hydra.clear_faults();
        // The client registered once Hydra is back; its secret is a canary.
        json(&s.run(
            &format!("after Hydra {status}, start"),
            &["up"],
            &env,
            None,
            &[],
        ));
        let secret = kv_value(
            &bao,
            &format!("bindu/hydra/credentials/{}", did(&other)),
            "client_secret",
        );
        s.canary(&format!("Hydra {status} agent client secret"), &secret);
    }
    // Hydra refusing a wrong client secret (a stale local copy).
    let dir_w = tmpdir("w");
    let creds = std::fs::read_to_string(dir_a.join("oauth_credentials.json")).unwrap();
    std::fs::write(
        dir_w.join("oauth_credentials.json"),
        creds.replace(&client_secret, &wrong_client_secret),
    )
    .unwrap();
    let w = dir_w.display().to_string();
    s.run(
        "Hydra refuses the client secret, token",
        &["token"],
        &[("VAULTID_KEY_DIR", Some(&w))],
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(5), "{}", s.last_stderr());
    // Hydra down (connection closed without an answer). The still-valid
    // token the runs above cached is removed, so the endpoint is asked.
    hydra.set_down(true);
    let _ = std::fs::remove_file(&cached);
    s.run("Hydra down, token", &["token"], &[], None, &[]);
    assert_ne!(s.last_code(), Some(0));
    s.run("Hydra down, restart", &["up"], &[], None, &[]);
    hydra.clear_faults();
    hydra.shutdown();
    let _ = std::fs::remove_file(&cached);
    s.run("Hydra gone, token", &["token"], &[], None, &[]);
    assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());

    // --- through a proxy: Vault named 0.0.0.0 (not loopback, so proxied),
    // the proxy's password a canary of its own.
    let proxy = common::connect_proxy::ConnectProxy::start();
    let proxy_pw = format!("CANARYPROXYPW-{}", uuid::Uuid::new_v4());
    s.canary("proxy password", &proxy_pw);
    let proxy_url = proxy
        .url()
        .replace("http://", &format!("http://user:{proxy_pw}@"));
    let bao_port = bao.addr().rsplit(':').next().unwrap().to_string();
    let remote_addr = format!("http://0.0.0.0:{bao_port}");
    let via_proxy: [(&str, Option<&str>); 3] = [
        ("VAULT_ADDR", Some(&remote_addr)),
        ("HTTP_PROXY", Some(&proxy_url)),
        ("NO_PROXY", Some("example.com")),
    ];
    json(&s.run("proxy: up", &["up"], &via_proxy, None, &[]));
    json(&s.run(
        "proxy: kv get",
        &["kv", "get", "secret/canary/app"],
        &via_proxy,
        None,
        &["kv value"],
    ));
    json(&s.run(
        "proxy: kv put",
        &["kv", "put", "secret/canary/put", &format!("v={put_value}")],
        &via_proxy,
        None,
        &[],
    ));
    json(&s.run("proxy: login", &["login"], &via_proxy, None, &[]));
    s.run(
        "proxy: env into a child",
        &["env", "canary/app#value=APP_VALUE", "--", "true"],
        &via_proxy,
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    let seen = proxy.log();
    assert!(
        seen.requests.len() >= 5 && seen.proxy_auth.len() == seen.requests.len(),
        "the proxy runs did not go through the proxy: {:?}",
        seen.requests
    );
    assert!(
        seen.requests
            .iter()
            .all(|r| r.starts_with(&format!("CONNECT 0.0.0.0:{bao_port}"))),
        "{:?}",
        seen.requests
    );

    // --- a cross-host redirect: Vault's address answers every request
    // with a 307 to another host (127.0.0.2), which must receive no secret.
    let foreign = common::TestServer::start_on("127.0.0.2", |_, _| {
        common::answer(200, &[], r#"{"data":{}}"#)
    });
    let foreign_addr = foreign.addr().to_string();
    let redirector = common::TestServer::start(move |req, _| {
        let location = format!("{foreign_addr}{}", req.path);
        common::answer(307, &[("Location", location.as_str())], "")
    });
    let redirected: [(&str, Option<&str>); 1] = [("VAULT_ADDR", Some(redirector.addr()))];
    for (label, args, stdin) in [
        ("redirect: up", &["up"][..], None),
        (
            "redirect: kv get",
            &["kv", "get", "secret/canary/app"][..],
            None,
        ),
        (
            "redirect: kv put",
            &["kv", "put", "secret/canary/put", "v=-"][..],
            Some(put_value.as_str()),
        ),
        ("redirect: login", &["login"][..], None),
        ("redirect: token", &["token"][..], None),
        (
            "redirect: env",
            &["env", "canary/app#value=APP_VALUE", "--", "true"][..],
            None,
        ),
    ] {
        s.run(label, args, &redirected, stdin, &[]);
    }
    assert!(
        redirector.seen().len() >= 4,
        "the redirector was not asked: {:?}",
        redirector
            .seen()
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );
    for req in foreign.seen() {
        let text = format!(
            "{} {} {:?} {}",
            req.method,
            req.path,
            req.headers,
            String::from_utf8_lossy(&req.body)
        );
        for (name, value) in &s.canaries {
            assert!(
                !text.contains(value.as_str()),
                "{name} reached another host through a redirect: {text}"
            );
        }
    }

    // --- Vault stopped.
    bao.stop();
    for (label, args) in [
        ("kv get", &["kv", "get", "secret/canary/app"][..]),
        ("kv put", &["kv", "put", "secret/canary/x", "a=b"][..]),
        ("login", &["login"][..]),
        ("health", &["health"][..]),
        ("env", &["env", "canary/app", "--", "true"][..]),
        ("rotate", &["rotate", "canary/rot", "password"][..]),
        ("cred create", &["cred", "create", &agent_id][..]),
    ] {
        s.run(&format!("Vault stopped, {label}"), args, &[], None, &[]);
        assert_eq!(s.last_code(), Some(3), "{label}: {}", s.last_stderr());
    }
    s.run(
        "Vault stopped, login with AppRole",
        &["login"],
        &approle_env,
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());
    s.run("Vault stopped, restart", &["up"], &[], None, &[]);
    assert_eq!(s.last_code(), Some(0), "{}", s.last_stderr());
    s.run(
        "Vault stopped, first start",
        &["up"],
        &[("VAULTID_KEY_DIR", Some(&b))],
        None,
        &[],
    );
    assert_eq!(s.last_code(), Some(3), "{}", s.last_stderr());
    s.run("Vault stopped, show", &["show"], &[], None, &[]);
    s.run("Vault stopped, sign", &["sign", "hello"], &[], None, &[]);

    // The trace log was on: make sure it said something, so the sweep did
    // look at log output.
    assert!(
        s.runs.iter().any(|r| r.stderr.contains("vaultid: debug:")
            || r.stderr.contains("vaultid: info:")
            || r.stderr.contains("vaultid: trace:")),
        "no log lines at VAULTID_LOG=trace"
    );
    // The search does find what it looks for: every secret a command
    // exists to print was seen in that command's stdout.
    for (name, value) in &s.canaries {
        let printers: Vec<&Run> = s.runs.iter().filter(|r| r.allowed.contains(name)).collect();
        assert!(
            printers.is_empty() || printers.iter().any(|r| r.stdout.contains(value.as_str())),
            "{name} was never seen where it is printed"
        );
    }
    if std::env::var_os("VAULTID_CANARY_DUMP").is_some() {
        for r in &s.runs {
            eprintln!("=== {} (exit {:?})\n{}", r.label, r.code, r.stderr);
        }
    }
    let leaks = s.leaks();
    assert!(
        leaks.is_empty(),
        "{} leak(s) over {} runs:\n{}",
        leaks.len(),
        s.runs.len(),
        leaks.join("\n")
    );
    for d in [home, dir_a, dir_b, dir_fresh, dir_w] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A malformed `kv put`/`kv patch` argument is refused without repeating
/// it: the argument is usually `KEY=SECRET` with a typo (`=SECRET`, or the
/// value alone), and stderr often ends up in a log collector.
#[test]
fn malformed_kv_arguments_are_not_echoed() {
    let value = format!("CANARYTYPOVALUE-{}", uuid::Uuid::new_v4());
    let home = tmpdir("typo");
    for sub in ["put", "patch"] {
        for arg in [value.clone(), format!("={value}")] {
            let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("VAULTID_LOG", "trace")
                .env("VAULT_ADDR", "http://127.0.0.1:1")
                .env("VAULT_TOKEN", "not-used")
                .args(["kv", sub, "secret/app", &arg])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(
                !err.contains(&value) && o.stdout.is_empty(),
                "`vaultid kv {sub} secret/app {arg:?}` repeats the value: {err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(home);
}
