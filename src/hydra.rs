//! Hydra admin and OAuth2 token client.
