//! Warm restore with `vaultrs` on a current-thread tokio runtime: two KV v2
//! reads (the agent's keys, then its Hydra credentials) and the two PEM
//! files written, `private.pem` created 0600. Configured like
//! `examples/bench_floor.rs`: `VAULT_ADDR`, `VAULT_TOKEN`, `BENCH_KEYS_PATH`
//! and `BENCH_CREDS_PATH` (paths inside the `secret` mount, without
//! `data/`), `BENCH_OUT_DIR`.

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;

use serde_json::Value;
use std::io::Write;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("vaultrs-restore: {name} is not set");
        std::process::exit(2)
    })
}

/// Small local files: written with `std::fs` (tokio's `fs` feature would
/// only move the same calls to a blocking thread).
fn write(path: std::path::PathBuf, mode: u32, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?
        .write_all(text.as_bytes())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(env("VAULT_ADDR"))
            .token(env("VAULT_TOKEN"))
            .build()?,
    )?;
    let keys: HashMap<String, Value> =
        vaultrs::kv2::read(&client, "secret", &env("BENCH_KEYS_PATH")).await?;
    let creds: HashMap<String, Value> =
        vaultrs::kv2::read(&client, "secret", &env("BENCH_CREDS_PATH")).await?;
    let field = |m: &HashMap<String, Value>, k: &str| -> Result<String, String> {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("field {k} missing"))
    };
    let out = std::path::PathBuf::from(env("BENCH_OUT_DIR"));
    std::fs::create_dir_all(&out)?;
    write(
        out.join("private.pem"),
        0o600,
        &field(&keys, "private_key")?,
    )?;
    write(out.join("public.pem"), 0o644, &field(&keys, "public_key")?)?;
    println!(
        "{{\"client_id\":{}}}",
        Value::from(field(&creds, "client_id")?)
    );
    Ok(())
}
