//! `docs/vault-policy.hcl` grants exactly what vaultid needs: a token with
//! only that policy runs every command an agent runs, and is denied another
//! agent's keys and secrets.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use crate::hydra_double::HydraDouble;
use common::bao::Bao;
use common::tmpdir;
use serde_json::Value;

#[test]
fn documented_policy_is_enough_and_no_more() {
    let Some(bao) = Bao::shared() else { return };
    let name = format!("policy-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let id = vaultid::identity::Identity::new("ops@example.com", &name, None).unwrap();
    let hcl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/vault-policy.hcl"
    ))
    .unwrap()
    .replace("AGENT_ID", &id.agent_id)
    .replace("DID", &id.did);
    let policy = format!("vaultid-{name}");
    bao.bao_with_input(&["policy", "write", &policy, "-"], Some(&hcl))
        .unwrap();
    let token = bao
        .bao(&[
            "token",
            "create",
            "-no-default-policy",
            "-policy",
            &policy,
            "-field=token",
        ])
        .unwrap();
    let token = token.trim();
    let run = |dir: &PathBuf, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("HOME", dir)
            .env("VAULT_ADDR", bao.addr())
            .env("VAULT_TOKEN", token)
            .env("VAULTID_AUTHOR", "ops@example.com")
            .env("VAULTID_AGENT_NAME", &name)
            .env("VAULTID_KEY_DIR", dir)
            .arg("up")
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = |o: std::process::Output| -> Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let first = ok(run(&tmpdir("policy"), &[]));
    assert_eq!(first["vault"], "ok");
    assert_eq!(first["vault_version"], 1);
    let second = ok(run(&tmpdir("policy"), &[]));
    assert_eq!(second["keys_source"], "vault");
    let third = ok(run(&tmpdir("policy"), &["--recreate-keys"]));
    assert_eq!(third["vault_version"], 2);
    // login works with this policy alone.
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", tmpdir("policy"))
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", token)
        .arg("login")
        .output()
        .unwrap();
    ok(o);
    // Another agent's keys are out of reach.
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("HOME", tmpdir("policy"))
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_TOKEN", token)
        .args([
            "kv",
            "get",
            "secret/bindu/agents/00000000-0000-0000-0000-000000000000/did-keys",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The policy of `docs/vault-policy.hcl` for agent `name`, with the
/// documented example rules for the agent's own static secrets enabled.
fn agent_policy(name: &str) -> String {
    let id = vaultid::identity::Identity::new("ops@example.com", name, None).unwrap();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/vault-policy.hcl"
    ))
    .unwrap();
    let examples: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("#   path \"secret/data/apps/"))
        .collect();
    assert_eq!(examples.len(), 2, "the static-secret examples moved");
    let mut hcl = doc
        .replace("AGENT_ID", &id.agent_id)
        .replace("DID", &id.did);
    for e in examples {
        hcl.push_str(&format!(
            "path \"secret/data/apps/{}\n",
            e.replace("NAME", name)
        ));
    }
    hcl
}

/// Every command an agent is meant to run, logged in through AppRole with
/// a token that carries the documented policy and nothing else (not even
/// `default`): the startup flow with Hydra, the identity commands, login,
/// health, env, rotate, the whole credential store, and the revocation of
/// each command's token on exit.
#[test]
fn every_agent_command_runs_under_the_policy_alone() {
    let Some(bao) = Bao::shared() else { return };
    let hydra = HydraDouble::start();
    let name = format!("agent-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let policy = format!("vaultid-{name}");
    bao.bao_with_input(
        &["policy", "write", &policy, "-"],
        Some(&agent_policy(&name)),
    )
    .unwrap();
    let mount = format!("ar-{name}");
    bao.bao(&["auth", "enable", &format!("-path={mount}"), "approle"])
        .unwrap();
    let role = format!("auth/{mount}/role/{name}");
    bao.bao(&[
        "write",
        &role,
        &format!("token_policies={policy}"),
        "token_no_default_policy=true",
        "token_ttl=10m",
    ])
    .unwrap();
    let role_id = bao
        .bao(&["read", "-field=role_id", &format!("{role}/role-id")])
        .unwrap();
    let secret_id = bao
        .bao(&[
            "write",
            "-f",
            "-field=secret_id",
            &format!("{role}/secret-id"),
        ])
        .unwrap();
    // The operator's side: the agent's static secrets.
    let app = format!("secret/apps/{name}");
    bao.bao(&[
        "kv",
        "put",
        &format!("{app}/db"),
        "password=pw",
        "user=agent",
    ])
    .unwrap();
    bao.bao(&["kv", "put", &format!("{app}/rotated"), "api_key=old"])
        .unwrap();
    let dir = tmpdir("policy-agent");
    let vaultid = |args: &[&str]| -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("VAULT_ADDR", bao.addr())
            .env("VAULT_AUTH_METHOD", "approle")
            .env("VAULT_AUTH_MOUNT", &mount)
            .env("VAULT_ROLE_ID", role_id.trim())
            .env("VAULT_SECRET_ID", secret_id.trim())
            .env("VAULTID_AUTHOR", "ops@example.com")
            .env("VAULTID_AGENT_NAME", &name)
            .env("VAULTID_KEY_DIR", &dir)
            .env("HYDRA__ADMIN_URL", hydra.admin_url())
            .env("HYDRA__PUBLIC_URL", hydra.public_url())
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |what: &str, o: std::process::Output| -> Vec<u8> {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success(),
            "{what}: exit {:?}: {err}",
            o.status.code()
        );
        // Revoking the command's own token is allowed too.
        assert!(!err.contains("could not revoke"), "{what}: {err}");
        assert!(!err.contains("permission denied"), "{what}: {err}");
        o.stdout
    };
    let json = |what: &str, o| -> Value { serde_json::from_slice(&ok(what, o)).unwrap() };
    let first = json("up", vaultid(&["up"]));
    assert_eq!(first["vault"], "ok");
    assert_eq!(first["hydra"]["status"], "ok");
    assert_eq!(json("up again", vaultid(&["up"]))["keys_source"], "vault");
    json("up --recreate-keys", vaultid(&["up", "--recreate-keys"]));
    // The Hydra credentials come from Vault when the local file is gone.
    std::fs::remove_file(dir.join("oauth_credentials.json")).unwrap();
    json("token", vaultid(&["token"]));
    let agent_id = json("id", vaultid(&["id"]))["agent_id"]
        .as_str()
        .unwrap()
        .to_string();
    json("show", vaultid(&["show"]));
    json("did-document", vaultid(&["did-document"]));
    let sig = json("sign", vaultid(&["sign", "hello"]));
    json(
        "verify",
        vaultid(&["verify", "hello", sig["signature"].as_str().unwrap()]),
    );
    json("login", vaultid(&["login", "-no-store"]));
    json("health", vaultid(&["health"]));
    let db = format!("{app}/db");
    let lines = ok("env", vaultid(&["env", &db]));
    assert!(String::from_utf8_lossy(&lines).contains("export password='pw'"));
    ok("env -- true", vaultid(&["env", &db, "--", "true"]));
    assert_eq!(
        ok("kv get -field", vaultid(&["kv", "get", "-field=user", &db])),
        b"agent"
    );
    json(
        "rotate",
        vaultid(&["rotate", &format!("{app}/rotated"), "api_key"]),
    );
    let c = json("cred create", vaultid(&["cred", "create", &agent_id]));
    let cred_id = c["credential_id"].as_str().unwrap().to_string();
    let secret = c["secret"].as_str().unwrap().to_string();
    // The presented secret comes from the environment, not the arguments.
    let mut verify = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    verify
        .env_clear()
        .env("HOME", &dir)
        .env("VAULT_ADDR", bao.addr())
        .env("VAULT_AUTH_METHOD", "approle")
        .env("VAULT_AUTH_MOUNT", &mount)
        .env("VAULT_ROLE_ID", role_id.trim())
        .env("VAULT_SECRET_ID", secret_id.trim())
        .env("PRESENTED", &secret)
        .args([
            "cred",
            "verify",
            &agent_id,
            &cred_id,
            "--secret-env",
            "PRESENTED",
        ]);
    json("cred verify", verify.output().unwrap());
    json(
        "cred rotate",
        vaultid(&["cred", "rotate", &agent_id, &cred_id]),
    );
    let listed = json("cred list", vaultid(&["cred", "list", &agent_id]));
    assert_eq!(listed["credential_ids"], serde_json::json!([cred_id]));
    let deleted = json(
        "cred delete",
        vaultid(&["cred", "delete", &agent_id, &cred_id]),
    );
    assert_eq!(deleted["existed"], true);
    let listed = json("cred list", vaultid(&["cred", "list", &agent_id]));
    assert_eq!(listed["credential_ids"], serde_json::json!([]));
    // And no more: another agent's credentials, an unlisted secret.
    let o = vaultid(&["cred", "list", "someone-else"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = vaultid(&["kv", "get", "secret/apps/someone-else/db"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
