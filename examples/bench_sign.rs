//! Signs and verifies of the framework's envelope per second on one
//! thread, for `scripts/bench_sign.py` (which pins it to one core and runs
//! PyNaCl doing the same envelope beside it).
//!
//! Each sign is [`vaultid::signing::sign_request`] (UTF-8 check, canonical
//! string, Ed25519, base58); each verify is
//! [`vaultid::signing::verify_request`] (window, UTF-8, base58 decode,
//! canonical string, Ed25519). Prints one JSON object.
//!
//! ```sh
//! cargo run --release --example bench_sign -- BODY_FILE ITERATIONS
//! ```

use std::time::Instant;

use vaultid::identity::KeyPair;
use vaultid::signing::{sign_request, verify_request, VerifyOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let body = std::fs::read(args.next().expect("usage: bench_sign BODY_FILE ITERATIONS"))
        .expect("reading the body");
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let keys = KeyPair::generate();
    let did = "did:bindu:bench_at_example_com:bench:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
    let ts = 1_700_000_000;
    let t = Instant::now();
    let mut last = None;
    for i in 0..n {
        last = Some(sign_request(&keys, did, &body, ts + i64::from(i % 2)).expect("sign"));
    }
    let sign = t.elapsed();
    let h = last.expect("at least one iteration");
    let options = VerifyOptions::at(ts);
    let public = keys.public();
    let t = Instant::now();
    for _ in 0..n {
        verify_request(&h, &body, &public, &options).expect("verify");
    }
    let verify = t.elapsed();
    println!(
        "{}",
        serde_json::json!({
            "iterations": n,
            "body_bytes": body.len(),
            "sign_per_s": f64::from(n) / sign.as_secs_f64(),
            "verify_per_s": f64::from(n) / verify.as_secs_f64(),
        })
    );
}
