//! The agent's Vault token: kept alive by the client's own renewer step
//! (renew at about two thirds of the TTL, log in again when it cannot be
//! renewed), and written to an optional sink file whenever it changes.
//!
//! The sink is written with [`crate::cache::write_atomic`] with its mode
//! from the start (0600 unless configured), so another process reading it
//! sees the old token or the new one. With `wrap_ttl` the sink holds a
//! response-wrapping token that unwraps (once) to `{"token": ...}`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::config::{mode_or_default, TokenConfig};
use crate::error::Result;
use crate::secret_string::SecretString;
use crate::vault::Client;

/// The token's part of the agent.
#[derive(Debug)]
pub(crate) struct TokenKeeper {
    sink: Option<PathBuf>,
    mode: u32,
    wrap_ttl: Option<Duration>,
    /// The token last written to the sink.
    written: Option<SecretString>,
    written_digest: Option<[u8; 32]>,
    /// When the renewer step is due next (`None`: never).
    next: Option<Instant>,
    /// When the token was last renewed or obtained.
    pub(crate) last_change: Option<std::time::SystemTime>,
}

impl TokenKeeper {
    /// A keeper for `config`.
    pub(crate) fn new(config: &TokenConfig) -> TokenKeeper {
        TokenKeeper {
            sink: config.sink.clone(),
            mode: mode_or_default(config.sink_mode.as_deref()),
            wrap_ttl: super::config::duration_of(config.wrap_ttl.as_deref()),
            written: None,
            written_digest: None,
            next: Some(Instant::now()),
            last_change: None,
        }
    }

    /// When the token needs attention next.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// The sink file, if any.
    pub(crate) fn sink(&self) -> Option<&PathBuf> {
        self.sink.as_ref()
    }

    /// Run the renewer step if it is due; say whether the token is now a
    /// different one than the sink holds.
    pub(crate) fn step(&mut self, client: &Client, now: Instant) {
        if self.next.is_none_or(|n| n > now) {
            return;
        }
        // The step may ask to run again at once (it learnt the lease, or
        // renewed): run it until it names a later time, a bounded number of
        // times.
        for _ in 0..4 {
            match client.renew_step() {
                Some(d) if d.is_zero() => continue,
                Some(d) => {
                    self.next = Some(Instant::now() + d);
                    return;
                }
                None => {
                    self.next = None;
                    return;
                }
            }
        }
        self.next = Some(Instant::now());
    }

    /// Write the current token to the sink when it differs from the one
    /// written last. Returns whether the sink was written.
    pub(crate) fn sync_sink(&mut self, client: &Client) -> Result<bool> {
        let Some(path) = self.sink.clone() else {
            return Ok(false);
        };
        let Some(token) = client.token() else {
            return Ok(false);
        };
        if self.written.as_ref() == Some(&token) {
            return Ok(false);
        }
        let content = match self.wrap_ttl {
            Some(ttl) => client.wrap(&json!({ "token": token.expose() }), ttl)?,
            None => token.clone(),
        };
        let wrote = super::render::write_if_changed(
            &path,
            content.expose().as_bytes(),
            self.mode,
            &mut self.written_digest,
        )?;
        self.written = Some(token);
        Ok(wrote)
    }

    /// Whether the sink holds a token written by this keeper.
    pub(crate) fn has_written(&self) -> bool {
        self.written.is_some()
    }
}
