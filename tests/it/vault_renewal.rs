//! A short-lived token kept alive by the background renewer, for real.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bao::Bao;
use vaultid::vault::Client;

#[test]
fn a_four_second_token_lives_for_fifteen_seconds() {
    let Some(bao) = Bao::shared() else { return };
    let token = bao
        .bao(&[
            "token",
            "create",
            "-ttl=4s",
            "-explicit-max-ttl=2m",
            "-field=token",
        ])
        .unwrap();
    let mut cfg = bao.config();
    cfg.token = Some(token.trim().into());
    let client = Arc::new(Client::new(&cfg).unwrap());
    let renewer = client.start_renewer();
    let start = Instant::now();
    let mut checks = 0;
    while start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(1000));
        // The same token (a plain token cannot log in again), still valid.
        let info = client.lookup_self().unwrap();
        assert!(info.ttl > 0, "expired after {:?}", start.elapsed());
        assert_eq!(client.token().unwrap().expose(), token.trim());
        checks += 1;
    }
    assert!(checks >= 14);
    assert!(renewer.is_running());
    renewer.stop();
    // Without the renewer it runs out.
    std::thread::sleep(Duration::from_millis(5000));
    let e = client.lookup_self().unwrap_err();
    assert_eq!(e.exit_code(), 5, "{e}");
}
