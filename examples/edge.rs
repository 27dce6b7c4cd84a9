//! An edge device: Vault is reachable only some of the time.
//!
//! The device keeps its key directory on local flash. When Vault answers,
//! the identity is restored from it (or backed up to it); when Vault is
//! away, the device starts from its local keys within
//! `VAULTID_STARTUP_TIMEOUT` and backs them up on a later run. It never
//! generates a second identity while Vault is unreachable, unless told to.
//!
//! ```sh
//! VAULT_ADDR=http://vault.local:8200 VAULT_AUTH_METHOD=approle \
//! VAULT_ROLE_ID=... VAULT_SECRET_ID_FILE=/etc/agent/secret-id \
//! VAULTID_AUTHOR=ops@example.com VAULTID_AGENT_NAME=sensor-17 \
//! VAULTID_KEY_DIR=/var/lib/agent/keys cargo run --example edge
//! ```

use vaultid::bootstrap::{Source, VaultStatus};

fn main() {
    let config = match vaultid::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            std::process::exit(e.exit_code());
        }
    };
    let outcome = match vaultid::bootstrap::ensure(&config) {
        Ok(o) => o,
        Err(e) => {
            // Exit 3: Vault unreachable and no local keys. A supervisor
            // (systemd Restart=on-failure) retries later.
            eprintln!("identity: {e}");
            std::process::exit(e.exit_code());
        }
    };
    match (outcome.vault, outcome.keys_source) {
        (VaultStatus::Unavailable, _) => println!(
            "offline start as {} (Vault: {}); keys will be backed up on a later run",
            outcome.did,
            outcome.vault_error.as_deref().unwrap_or("unavailable")
        ),
        (VaultStatus::Ok, Source::Vault) => println!("restored {} from Vault", outcome.did),
        (VaultStatus::Ok, _) => println!("{} backed up to Vault", outcome.did),
        (VaultStatus::Disabled, _) => println!("{} (local only)", outcome.did),
        // `VaultStatus` is `#[non_exhaustive]`: a later release may add one.
        (other, _) => println!("{} (Vault: {other:?})", outcome.did),
    }
    // The device proves who it is by signing with its key.
    let keys = vaultid::cache::KeyDir::new(&config.key_dir)
        .read_keys()
        .ok()
        .flatten()
        .map(|l| l.keys);
    if let Some(keys) = keys {
        let heartbeat = format!("{} alive", outcome.did);
        println!("heartbeat signature {}", keys.sign(heartbeat.as_bytes()));
    }
}
