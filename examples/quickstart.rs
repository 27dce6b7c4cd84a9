//! Create or restore an agent identity on local disk only: no Vault, no
//! Hydra. Run it twice: the second run loads the key the first one made.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

fn main() -> Result<(), vaultid::Error> {
    let key_dir = std::env::temp_dir().join("vaultid-quickstart");
    let config = vaultid::Config::local("user@example.com", "my-agent", &key_dir);
    let outcome = vaultid::bootstrap::ensure(&config)?;
    println!("agent id   {}", outcome.agent_id);
    println!("DID        {}", outcome.did);
    println!("public key {}", outcome.public_key_base58);
    println!("keys from  {:?}", outcome.keys_source);

    // Sign something with the agent's key and check it.
    let keys = vaultid::cache::KeyDir::new(&key_dir)
        .read_keys()?
        .expect("ensure() wrote the keys")
        .keys;
    let signature = keys.sign(b"hello from my-agent");
    keys.public().verify(b"hello from my-agent", &signature)?;
    println!("signature  {signature} (verified)");
    Ok(())
}
