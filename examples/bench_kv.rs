//! KV v2 read throughput over one kept-alive connection, for
//! `scripts/bench.sh`. Three clients read the same secret in this one
//! process:
//!
//! - `vaultid::vault::Client::kv2("secret").read`;
//! - a bare `ureq::Agent` GET loop (token header, body read, JSON parsed);
//! - the same loop on an agent configured with vaultid's default timeouts
//!   (60 s overall, 2 s connect), which tells the cost of the HTTP stack's
//!   timeout handling apart from vaultid's own work.
//!
//! The reads are done in rounds that go round-robin between the three (the
//! one that goes first moves on each round), so noise on a shared machine
//! hits all alike; each round prints one JSON line with the three rates, the
//! last line their medians.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `VAULT_ADDR`, `VAULT_TOKEN` | — | the server and token |
//! | `BENCH_KV_PATH` | — | path inside the `secret` mount, e.g. `bindu/agents/{id}/did-keys` |
//! | `BENCH_READS` | `2000` | reads per client in all |
//! | `BENCH_ROUNDS` | `10` | rounds the reads are split into |
//!
//! ```sh
//! cargo run --release --example bench_kv
//! ```

use std::time::{Duration, Instant};

use serde_json::Value;
use vaultid::config::VaultConfig;
use vaultid::vault::Client;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("bench_kv: {name} is not set");
        std::process::exit(2)
    })
}

fn num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Reads per second of `reads` calls to `read`, which must succeed.
fn rate(reads: usize, mut read: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..reads {
        read();
    }
    reads as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let addr = env("VAULT_ADDR");
    let token = env("VAULT_TOKEN");
    let path = env("BENCH_KV_PATH");
    let rounds = num("BENCH_ROUNDS", 10);
    let per_round = (num("BENCH_READS", 2000) / rounds).max(1);

    let client =
        Client::new(&VaultConfig::new(&addr, Some(token.as_str().into()))).expect("vaultid client");
    let kv = client.kv2("secret");
    let mut vaultid_read = || {
        let s = kv
            .read(&path, None)
            .expect("vaultid read")
            .expect("secret exists");
        assert!(s.data.contains_key("public_key"));
    };

    let agent = ureq::Agent::new_with_defaults();
    let url = format!("{}/v1/secret/data/{}", addr.trim_end_matches('/'), path);
    let mut raw_read = || {
        let mut resp = agent
            .get(&url)
            .header("X-Vault-Token", &token)
            .call()
            .expect("raw read");
        let body = resp.body_mut().read_to_string().expect("raw body");
        let v: Value = serde_json::from_str(&body).expect("raw json");
        assert!(v["data"]["data"]["public_key"].is_string());
    };

    // The same loop with vaultid's default timeouts.
    let timed_agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .timeout_connect(Some(Duration::from_secs(2)))
        .build()
        .into();
    let mut timed_read = || {
        let mut resp = timed_agent
            .get(&url)
            .header("X-Vault-Token", &token)
            .call()
            .expect("timed read");
        let body = resp.body_mut().read_to_string().expect("timed body");
        let v: Value = serde_json::from_str(&body).expect("timed json");
        assert!(v["data"]["data"]["public_key"].is_string());
    };

    // Warm the three connections up before timing.
    for _ in 0..20 {
        vaultid_read();
        raw_read();
        timed_read();
    }
    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Round-robin, the first of the three moving on each round.
        let mut r = [0.0; 3];
        for i in 0..3 {
            let which = (round + i) % 3;
            r[which] = match which {
                0 => rate(per_round, &mut vaultid_read),
                1 => rate(per_round, &mut raw_read),
                _ => rate(per_round, &mut timed_read),
            };
        }
        println!(
            "{{\"round\":{round},\"reads\":{per_round},\"vaultid_per_s\":{:.1},\"ureq_per_s\":{:.1},\"ureq_timeouts_per_s\":{:.1}}}",
            r[0], r[1], r[2]
        );
        for (v, x) in rates.iter_mut().zip(r) {
            v.push(x);
        }
    }
    let [a, b, c] = rates.map(|mut v| median(&mut v));
    println!(
        "{{\"summary\":true,\"rounds\":{rounds},\"reads_per_round\":{per_round},\"vaultid_per_s\":{a:.1},\"ureq_per_s\":{b:.1},\"ureq_timeouts_per_s\":{c:.1},\"ratio\":{:.3}}}",
        a / b
    );
}
