//! `vaultid env ... -- CMD`: the child does not inherit vaultid's own
//! Vault credentials unless asked for; a NUL byte in a value is refused,
//! naming the variable, for the child and in export lines.

use crate::common::{answer, tmpdir, TestServer};

use std::process::{Command, Output, Stdio};

fn fake_vault(data: &'static str) -> TestServer {
    TestServer::start(move |req, _| {
        if req.path.contains("/data/") {
            answer(
                200,
                &[],
                &format!(
                    r#"{{"data":{{"data":{data},"metadata":{{"version":1,"created_time":"t","deletion_time":"","destroyed":false}}}}}}"#
                ),
            )
        } else {
            answer(204, &[], "")
        }
    })
}

fn vaultid(args: &[&str], addr: &str) -> Output {
    let home = tmpdir("env-home");
    let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", "hvs.env-token-canary")
        .env("VAULT_SECRET_ID", "secret-id-canary")
        .env("VAULT_ROLE_ID", "role-id-canary")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(home);
    o
}

#[test]
fn the_child_gets_no_vault_credentials_unless_asked() {
    let vault = fake_vault(r#"{"DB_PASSWORD":"db-pw"}"#);
    let o = vaultid(&["env", "secret/app", "--", "env"], vault.addr());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("DB_PASSWORD=db-pw"), "{out}");
    for canary in ["hvs.env-token-canary", "secret-id-canary", "role-id-canary"] {
        assert!(!out.contains(canary), "the child saw {canary}: {out}");
    }
    let o = vaultid(
        &["env", "--pass-credentials", "secret/app", "--", "env"],
        vault.addr(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("VAULT_TOKEN=hvs.env-token-canary"), "{out}");
    assert!(out.contains("VAULT_SECRET_ID=secret-id-canary"), "{out}");
}

#[test]
fn a_nul_in_a_value_is_refused_naming_the_variable() {
    let vault = fake_vault(r#"{"GOOD":"x","BAD_ONE":"a\u0000b"}"#);
    for args in [
        vec!["env", "secret/app", "--", "true"],
        vec!["env", "secret/app"],
    ] {
        let o = vaultid(&args, vault.addr());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("BAD_ONE") && err.contains("NUL"),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: export lines were printed");
    }
}
