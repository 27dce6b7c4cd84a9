//! No token litter: a one-shot command that logged in (AppRole) revokes its
//! token before it exits, a token it was given is never revoked, and
//! `vaultid login` stores its token in ~/.vault-token like `bao login`.
//! Counted on a real OpenBao through `auth/token/accessors`.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::bao::Bao;
use common::{json_ok, tmpdir};
use serde_json::json;

/// An AppRole mount of its own (so that counting its tokens is not
/// disturbed by other tests), with a role whose tokens last an hour.
struct AppRole {
    mount: String,
    role_id: String,
    secret_id: String,
}

impl AppRole {
    fn new(bao: &Bao) -> AppRole {
        let tag = &uuid::Uuid::new_v4().to_string()[..8];
        let mount = format!("ar-{tag}");
        bao.bao(&["auth", "enable", &format!("-path={mount}"), "approle"])
            .unwrap();
        let policy = format!("litter-{tag}");
        bao.bao_with_input(
            &["policy", "write", &policy, "-"],
            Some(
                "path \"secret/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"patch\"] }\n",
            ),
        )
        .unwrap();
        let role = format!("auth/{mount}/role/agent");
        bao.bao(&[
            "write",
            &role,
            &format!("token_policies={policy}"),
            "token_ttl=1h",
        ])
        .unwrap();
        let role_id = bao
            .bao(&["read", "-field=role_id", &format!("{role}/role-id")])
            .unwrap()
            .trim()
            .to_string();
        let secret_id = bao
            .bao(&[
                "write",
                "-f",
                "-field=secret_id",
                &format!("{role}/secret-id"),
            ])
            .unwrap()
            .trim()
            .to_string();
        AppRole {
            mount,
            role_id,
            secret_id,
        }
    }

    /// `vaultid` logging in with this role, HOME in `home`.
    fn vaultid(&self, bao: &Bao, home: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("VAULT_ADDR", bao.addr())
            .env("VAULT_AUTH_METHOD", "approle")
            .env("VAULT_AUTH_MOUNT", &self.mount)
            .env("VAULT_ROLE_ID", &self.role_id)
            .env("VAULT_SECRET_ID", &self.secret_id);
        c
    }

    /// Live tokens created by logins at this mount.
    fn live_tokens(&self, bao: &Bao) -> usize {
        let root = bao.client();
        let want = format!("auth/{}/login", self.mount);
        root.list("auth/token/accessors")
            .unwrap()
            .iter()
            .filter(|a| {
                // A token revoked meanwhile by another test answers an error.
                root.write("auth/token/lookup-accessor", &json!({ "accessor": a }))
                    .ok()
                    .flatten()
                    .is_some_and(|v| v["data"]["path"] == want.as_str())
            })
            .count()
    }
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn one_shot_commands_revoke_the_token_they_logged_in_for() {
    let Some(bao) = Bao::shared() else { return };
    let role = AppRole::new(bao);
    let home = tmpdir("litter");
    let keys = tmpdir("litter-keys");
    let p = format!("secret/litter/{}", uuid::Uuid::new_v4());
    assert_eq!(role.live_tokens(bao), 0);
    let missing = format!("{p}-missing");
    let ident = [
        "--author",
        "litter@example.com",
        "--name",
        "litter",
        "--key-dir",
        keys.to_str().unwrap(),
    ];
    let runs: Vec<(&str, Vec<&str>, bool)> = vec![
        (
            "kv put",
            vec!["kv", "put", &p, "password=pw", "user=u"],
            true,
        ),
        ("kv get", vec!["kv", "get", &p], true),
        ("kv get -field", vec!["kv", "get", "-field=user", &p], true),
        ("kv list", vec!["kv", "list", "secret/litter"], true),
        ("kv patch", vec!["kv", "patch", &p, "user=v"], true),
        ("kv metadata get", vec!["kv", "metadata", "get", &p], true),
        ("up (first)", [&["up"][..], &ident].concat(), true),
        ("up (restart)", [&["up"][..], &ident].concat(), true),
        ("env (export lines)", vec!["env", &p], true),
        ("env -- true", vec!["env", &p, "--", "true"], true),
        ("rotate", vec!["rotate", &p, "password"], true),
        ("cred create", vec!["cred", "create", "litter-agent"], true),
        ("cred list", vec!["cred", "list", "litter-agent"], true),
        ("login -no-store", vec!["login", "-no-store"], true),
        // Failures revoke too.
        ("kv get (missing)", vec!["kv", "get", &missing], false),
        ("rotate (missing field)", vec!["rotate", &p, "nope"], false),
    ];
    for (what, args, succeeds) in runs {
        let o = role.vaultid(bao, &home).args(&args).output().unwrap();
        if succeeds {
            ok(&o, what);
        } else {
            assert!(!o.status.success(), "{what} should fail");
        }
        assert_eq!(role.live_tokens(bao), 0, "{what} left its token behind");
    }
    // `token` reads the OAuth2 credentials from Vault when none are local:
    // it logs in, finds none, fails, and still revokes.
    let o = role
        .vaultid(bao, &home)
        .env("HYDRA__ADMIN_URL", "http://127.0.0.1:9")
        .env("HYDRA__PUBLIC_URL", "http://127.0.0.1:9")
        .args([
            "token",
            "--author",
            "litter@example.com",
            "--name",
            "nobody",
        ])
        .args(["--key-dir", tmpdir("litter-none").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        role.live_tokens(bao),
        0,
        "token left its Vault token behind"
    );
    // Nothing was stored on the way.
    assert!(!home.join(".vault-token").exists());
}

#[test]
fn login_stores_its_token_for_later_commands_and_a_given_token_is_never_revoked() {
    let Some(bao) = Bao::shared() else { return };
    let role = AppRole::new(bao);
    let home = tmpdir("login");
    let p = format!("secret/login/{}", uuid::Uuid::new_v4());
    let v = json_ok(&role.vaultid(bao, &home).arg("login").output().unwrap());
    let file = home.join(".vault-token");
    assert_eq!(v["token_file"], file.display().to_string());
    assert!(
        v.get("token").is_none(),
        "the token is printed only when asked"
    );
    assert_eq!(v["path"], format!("auth/{}/login", role.mount));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(!token.trim().is_empty());
    assert_eq!(role.live_tokens(bao), 1, "login keeps the token it stored");
    // Later commands (the default `token` method, no VAULT_TOKEN) use it,
    // and leave it alive.
    let later = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("HOME", &home)
            .env("VAULT_ADDR", bao.addr())
            .args(args)
            .output()
            .unwrap()
    };
    json_ok(&later(&["kv", "put", &p, "a=b"]));
    json_ok(&later(&["kv", "get", &p]));
    let info = json_ok(&later(&["login"]));
    assert_eq!(info["accessor"], v["accessor"]);
    assert!(
        info.get("token_file").is_none(),
        "a given token is not stored again"
    );
    assert_eq!(role.live_tokens(bao), 1, "a given token is never revoked");
    // So does bao itself.
    let o = Command::new(which_bao())
        .env_clear()
        .env("HOME", &home)
        .env("BAO_ADDR", bao.addr())
        .args(["token", "lookup", "-format=json"])
        .output()
        .unwrap();
    ok(&o, "bao token lookup with the stored token");
    // A second login replaces the file (atomically, still 0600) and the
    // earlier token stays valid until its TTL.
    json_ok(&role.vaultid(bao, &home).arg("login").output().unwrap());
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_ne!(std::fs::read_to_string(&file).unwrap(), token);
    assert_eq!(role.live_tokens(bao), 2);
    json_ok(&later(&["kv", "get", &p]));
    assert_eq!(role.live_tokens(bao), 2);
}

/// The `bao` binary the test server runs.
fn which_bao() -> std::path::PathBuf {
    if let Some(b) = std::env::var_os("BAO_BIN").filter(|b| !b.is_empty()) {
        return b.into();
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("bao"))
        .find(|p| p.is_file())
        .expect("bao on the PATH")
}
