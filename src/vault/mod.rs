//! Vault client.
