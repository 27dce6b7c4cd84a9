//! `docs/vault-policy.hcl` grants exactly what vaultid needs: a token with
//! only that policy runs the startup flow, and is denied another agent's keys.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

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
