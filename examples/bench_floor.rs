//! The floor for the warm-restore benchmark (`scripts/bench.sh`): the least
//! a program can do to restore an agent from Vault. Two KV v2 GETs with the
//! token header over one `ureq` agent (plain HTTP, no timeouts, no retries,
//! no lock, no validation), then the two PEM files written (`private.pem`
//! created 0600, `public.pem` 0644), without fsync unless `BENCH_DURABLE=1`.
//!
//! Not a way to restore an identity — it checks nothing — only the yardstick
//! `vaultid up` is measured against. Configured by the environment:
//!
//! | variable | meaning |
//! |---|---|
//! | `VAULT_ADDR`, `VAULT_TOKEN` | the server and token |
//! | `BENCH_KEYS_PATH` | in the `secret` mount, e.g. `bindu/agents/{agent_id}/did-keys` |
//! | `BENCH_CREDS_PATH` | in the `secret` mount, e.g. `bindu/hydra/credentials/{did}` |
//! | `BENCH_OUT_DIR` | where the PEM files go (created if missing) |
//! | `BENCH_DURABLE` | `1`: write each file as vaultid does — a temporary file, fsync, rename over the target, fsync of the directory |
//!
//! ```sh
//! cargo build --release --example bench_floor
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("bench_floor: {name} is not set");
        std::process::exit(2)
    })
}

fn get(agent: &ureq::Agent, addr: &str, token: &str, path: &str) -> Value {
    let url = format!("{}/v1/secret/data/{}", addr.trim_end_matches('/'), path);
    let mut resp = match agent.get(&url).header("X-Vault-Token", token).call() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_floor: GET {path}: {e}");
            std::process::exit(3)
        }
    };
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["data"].clone()
}

fn write(path: &Path, mode: u32, text: &str, durable: bool) {
    let fail = |e: std::io::Error| -> ! {
        eprintln!("bench_floor: {}: {e}", path.display());
        std::process::exit(1)
    };
    if !durable {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .unwrap_or_else(|e| fail(e));
        f.write_all(text.as_bytes()).unwrap_or_else(|e| fail(e));
        return;
    }
    let dir = path.parent().unwrap();
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .unwrap_or_else(|e| fail(e));
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| fs::rename(&tmp, path))
        .and_then(|_| fs::File::open(dir))
        .and_then(|d| d.sync_all())
        .unwrap_or_else(|e| fail(e));
}

fn main() {
    let addr = env("VAULT_ADDR");
    let token = env("VAULT_TOKEN");
    let out = env("BENCH_OUT_DIR");
    let agent = ureq::Agent::new_with_defaults();
    let keys = get(&agent, &addr, &token, &env("BENCH_KEYS_PATH"));
    let creds = get(&agent, &addr, &token, &env("BENCH_CREDS_PATH"));
    let (Some(private), Some(public), Some(client_id)) = (
        keys["private_key"].as_str(),
        keys["public_key"].as_str(),
        creds["client_id"].as_str(),
    ) else {
        eprintln!("bench_floor: the keys or the credentials are missing");
        std::process::exit(4)
    };
    let durable = std::env::var("BENCH_DURABLE").is_ok_and(|v| v == "1");
    let out = Path::new(&out);
    fs::create_dir_all(out).unwrap();
    write(&out.join("private.pem"), 0o600, private, durable);
    write(&out.join("public.pem"), 0o644, public, durable);
    println!("{{\"client_id\":{}}}", Value::from(client_id));
}
