//! The agent's Vault token: kept alive by the client's own renewer step
//! ([`Client::renew_step`]: renew at about two thirds of the TTL, log in
//! again when it cannot be renewed), checked when one of the agent's
//! requests was refused, and written to an optional sink file whenever it
//! changes.
//!
//! What the keeper found last is its [`TokenState`], which the status file
//! carries and `vaultid agent status` judges:
//!
//! - `ok`: the token works (or the last step succeeded);
//! - `unavailable`: the last try failed because Vault is away
//!   (unreachable, sealed, electing, failing): an outage, exit 3;
//! - `denied`: Vault refused the token (revoked, not valid) or the login:
//!   not an outage, exit 5. A login method keeps trying to log in (a new
//!   secret id or JWT in its file is picked up); a token given in
//!   `VAULT_TOKEN` cannot log in again, and the status says so;
//! - `expired`: the token ran out and nothing can replace it (exit 5);
//! - `failing`: any other failure (a secret id file that cannot be read).
//!
//! A failed try is retried after [`crate::util::backoff`] (1 s doubling to
//! `backoff_max`, less up to 20 % jitter; during an outage, before half of
//! the token's remaining life has gone), and each retry first checks the
//! token ([`Client::check_token`]), so a revoked token is noticed at once
//! and a lease that ran out during an outage is learnt again.
//!
//! The sink is written with [`crate::util::fs::write_atomic`] with its mode
//! from the start (0600 unless configured), so another process reading it
//! sees the old token or the new one. With `wrap_ttl` the sink holds a
//! response-wrapping token that unwraps (once) to `{"token": ...}`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::{mode_or_default, TokenConfig};
use super::sources::unix_now;
use crate::config::AuthMethod;
use crate::error::{Error, Result};
use crate::secret_string::SecretString;
use crate::vault::auth::{RenewStep, TokenAction};
use crate::vault::Client;

/// What the token keeper found last (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    /// No step has run yet.
    Starting,
    /// The token works.
    Ok,
    /// Vault is away; retried.
    Unavailable,
    /// Vault refused the token or the login.
    Denied,
    /// The token ran out and cannot be replaced.
    Expired,
    /// Another failure; retried.
    Failing,
}

impl TokenState {
    /// The name in the status file and events.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TokenState::Starting => "starting",
            TokenState::Ok => "ok",
            TokenState::Unavailable => "unavailable",
            TokenState::Denied => "denied",
            TokenState::Expired => "expired",
            TokenState::Failing => "failing",
        }
    }
}

/// One event for the agent to emit: its name and fields.
pub(crate) type Event = (&'static str, Value);

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
    /// Look the token up at the next pass: one of the agent's requests was
    /// refused.
    check: bool,
    /// The client's token as last seen, to notice a login made by a
    /// request.
    seen: Option<SecretString>,
    /// `token`, `approle`, `kubernetes` or `jwt`.
    method: &'static str,
    /// Whether the method can log in.
    can_login: bool,
    /// What the last step found.
    pub(crate) state: TokenState,
    /// Failed tries in a row.
    pub(crate) failures: u32,
    /// The last step's error, cleared by the next success.
    pub(crate) last_error: Option<String>,
    /// The last sink write's error, cleared by the next write.
    pub(crate) sink_error: Option<String>,
    /// What the state means for the operator, when it needs saying.
    note: Option<String>,
    /// When the token expires (Unix seconds), when known.
    expires_at: Option<u64>,
    /// Whether a renewal can extend it, when known.
    renewable: Option<bool>,
    /// When it was last renewed or obtained (Unix seconds).
    changed_at: Option<u64>,
    /// When a failed step is tried again (Unix seconds).
    retry_at: Option<u64>,
}

impl TokenKeeper {
    /// A keeper for `config`, with the client's auth `method`.
    pub(crate) fn new(config: &TokenConfig, method: &AuthMethod) -> TokenKeeper {
        let (method, can_login) = match method {
            AuthMethod::Token => ("token", false),
            AuthMethod::AppRole { .. } => ("approle", true),
            AuthMethod::Kubernetes { .. } => ("kubernetes", true),
            AuthMethod::Jwt { .. } => ("jwt", true),
            AuthMethod::UserPass { .. } => ("userpass", true),
        };
        TokenKeeper {
            sink: config.sink.clone(),
            mode: mode_or_default(config.sink_mode.as_deref()),
            wrap_ttl: super::config::duration_of(config.wrap_ttl.as_deref()),
            written: None,
            written_digest: None,
            next: Some(Instant::now()),
            check: false,
            seen: None,
            method,
            can_login,
            state: TokenState::Starting,
            failures: 0,
            last_error: None,
            sink_error: None,
            note: None,
            expires_at: None,
            renewable: None,
            changed_at: None,
            retry_at: None,
        }
    }

    /// When the token needs attention next.
    pub(crate) fn next(&self) -> Option<Instant> {
        if self.check {
            return Some(Instant::now());
        }
        self.next
    }

    /// The sink file, if any.
    pub(crate) fn sink(&self) -> Option<&PathBuf> {
        self.sink.as_ref()
    }

    /// One of the agent's requests was refused: look the token up at the
    /// next pass, unless a failed step is already being retried.
    pub(crate) fn check_soon(&mut self) {
        if matches!(self.state, TokenState::Ok | TokenState::Starting) {
            self.check = true;
        }
    }

    /// Run the renewer step (or a check) if it is due, with `cap` as the
    /// longest backoff; `stop` says whether to leave at once (a signal to
    /// stop arrived). Returns the events to emit.
    pub(crate) fn step(
        &mut self,
        client: &Client,
        cap: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        self.notice_login(client, &mut events);
        let now = Instant::now();
        if !self.check && self.next.is_none_or(|n| n > now) {
            return events;
        }
        // A retry, or a refused request: is the token still good?
        let checking = std::mem::take(&mut self.check) || self.failures > 0;
        let mut step = if checking {
            client.check_token()
        } else {
            client.renew_step()
        };
        // The step asks to run again at once after it learnt the lease,
        // renewed or logged in: run it until it names a later time, a
        // bounded number of times.
        for _ in 0..4 {
            match step {
                RenewStep::Sleep(d) => {
                    self.succeeded(client);
                    self.next = Some(Instant::now() + d);
                    return events;
                }
                RenewStep::Acted(action) => {
                    self.succeeded(client);
                    if action != TokenAction::LookUp {
                        self.changed_at = Some(unix_now());
                        let name = if action == TokenAction::Login {
                            self.seen = client.token();
                            "token_login"
                        } else {
                            "token_renewed"
                        };
                        events.push((name, json!({"expires_at": self.expires_at})));
                    }
                    if stop() {
                        self.next = Some(Instant::now());
                        return events;
                    }
                    step = client.renew_step();
                }
                RenewStep::Done(None) => {
                    self.succeeded(client);
                    self.next = None;
                    return events;
                }
                RenewStep::Done(Some(left)) if left.is_zero() => {
                    self.next = None;
                    if self.state != TokenState::Expired {
                        self.state = TokenState::Expired;
                        let e = "the token expired: it could not be renewed further, and the \
                                 token auth method cannot log in";
                        self.last_error = Some(e.into());
                        self.note = self.note_for(TokenState::Expired);
                        events.push((
                            "token_error",
                            json!({"action": "renewal", "state": "expired", "error": e}),
                        ));
                    }
                    return events;
                }
                RenewStep::Done(Some(left)) => {
                    self.succeeded(client);
                    self.note = Some(format!(
                        "the token cannot be renewed further and expires in {} s; the token auth \
                         method cannot log in again: the agent needs a new token by then",
                        left.as_secs()
                    ));
                    self.next = Some(Instant::now() + left);
                    return events;
                }
                RenewStep::Failed { action, error } => {
                    events.push(self.failed(action, &error, client, cap));
                    return events;
                }
            }
        }
        self.next = Some(Instant::now());
        events
    }

    /// A request of the agent logged in again (the client replaces a
    /// refused login token by itself): the token is good again.
    fn notice_login(&mut self, client: &Client, events: &mut Vec<Event>) {
        let token = client.token();
        if token == self.seen {
            return;
        }
        let first = self.seen.is_none();
        self.seen = token;
        if first || self.seen.is_none() {
            return;
        }
        self.succeeded(client);
        self.changed_at = Some(unix_now());
        self.next = Some(Instant::now());
        events.push(("token_login", json!({"expires_at": self.expires_at})));
    }

    fn succeeded(&mut self, client: &Client) {
        self.state = TokenState::Ok;
        self.failures = 0;
        self.last_error = None;
        self.note = None;
        self.retry_at = None;
        if let Some((left, renewable)) = client.token_lease() {
            self.expires_at = left.map(|l| unix_now().saturating_add(l.as_secs()));
            self.renewable = Some(renewable);
        }
    }

    fn failed(
        &mut self,
        action: TokenAction,
        error: &Error,
        client: &Client,
        cap: Duration,
    ) -> Event {
        self.failures = self.failures.saturating_add(1);
        let left = client.token_lease().and_then(|(left, _)| left);
        let wait = crate::vault::auth::retry_wait(self.failures, cap, error.is_outage(), left);
        self.next = Some(Instant::now() + wait);
        self.retry_at = Some(unix_now().saturating_add(wait.as_secs()));
        let ran_out = left.is_some_and(|l| l.is_zero());
        self.state = state_after(error, ran_out, self.can_login);
        self.last_error = Some(format!("token {} failed: {error}", action.label()));
        self.note = self.note_for(self.state);
        (
            "token_error",
            json!({"action": action.label(), "state": self.state.label(),
                   "error": error.to_string(), "failures": self.failures,
                   "retry_in_ms": u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)}),
        )
    }

    /// What a refused or expired token means for the operator (`None`:
    /// nothing to say).
    fn note_for(&self, state: TokenState) -> Option<String> {
        match (state, self.can_login) {
            (TokenState::Denied | TokenState::Expired, false) => Some(
                "Vault refuses the token (revoked, expired or not valid there); a token given to \
                 the agent (VAULT_TOKEN or ~/.vault-token) cannot log in again: restart the agent \
                 with a new token, or give it a login method (VAULT_AUTH_METHOD)"
                    .into(),
            ),
            (TokenState::Denied | TokenState::Expired, true) => Some(format!(
                "Vault refuses the {} login; the agent keeps trying (a new secret id or JWT in its \
                 file is used at the next try)",
                self.method
            )),
            _ => None,
        }
    }

    /// Whether the sink holds a token written by this keeper.
    pub(crate) fn has_written(&self) -> bool {
        self.written.is_some()
    }

    /// The token's part of the status file (no secret).
    pub(crate) fn status(&self) -> Value {
        json!({
            "state": self.state.label(),
            "method": self.method,
            "can_login": self.can_login,
            "expires_at": self.expires_at,
            "renewable": self.renewable,
            "last_renewed_at": self.changed_at,
            "failures": self.failures,
            "next_retry_at": self.retry_at,
            "last_error": self.last_error.as_ref().or(self.sink_error.as_ref()),
            "note": self.note,
            "sink": self.sink.as_ref().map(|p| p.display().to_string()),
            "written": self.written.is_some(),
        })
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
            Some(ttl) => client.wrap_response(&json!({ "token": token.expose() }), ttl)?,
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
}

/// The state after a failed step: an outage is `unavailable`; a refusal is
/// `expired` when the token's TTL has `ran_out` and the method cannot log
/// in, else `denied`; anything else is `failing`.
fn state_after(error: &Error, ran_out: bool, can_login: bool) -> TokenState {
    match error {
        e if e.is_outage() => TokenState::Unavailable,
        Error::PermissionDenied { .. } if ran_out && !can_login => TokenState::Expired,
        Error::PermissionDenied { .. } => TokenState::Denied,
        _ => TokenState::Failing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Service;

    fn denied() -> Error {
        Error::PermissionDenied {
            service: Service::Vault,
            method: "GET",
            path: "auth/token/lookup-self".into(),
            status: 403,
            errors: vec!["permission denied".into()],
        }
    }

    #[test]
    fn a_refusal_is_not_an_outage() {
        let unreachable = Error::Unreachable {
            service: Service::Vault,
            method: "GET",
            path: "auth/token/lookup-self".into(),
            kind: crate::error::TransportKind::Connection,
            detail: "connection refused".into(),
        };
        let sealed = Error::Sealed {
            method: "GET",
            path: "x".into(),
        };
        for can_login in [false, true] {
            assert_eq!(
                state_after(&unreachable, true, can_login),
                TokenState::Unavailable
            );
            assert_eq!(
                state_after(&sealed, false, can_login),
                TokenState::Unavailable
            );
            assert_eq!(state_after(&denied(), false, can_login), TokenState::Denied);
            assert_eq!(
                state_after(&Error::Config("no file".into()), false, can_login),
                TokenState::Failing
            );
        }
        assert_eq!(state_after(&denied(), true, false), TokenState::Expired);
        // A login method logs in again: a refusal then is the login's.
        assert_eq!(state_after(&denied(), true, true), TokenState::Denied);
    }

    #[test]
    fn the_status_says_whether_a_new_login_is_possible() {
        let k = TokenKeeper::new(&TokenConfig::default(), &AuthMethod::Token);
        let v = k.status();
        assert_eq!(v["state"], "starting");
        assert_eq!(v["method"], "token");
        assert_eq!(v["can_login"], false);
        assert!(k
            .note_for(TokenState::Denied)
            .is_some_and(|n| n.contains("cannot log in again")));
        assert!(k.note_for(TokenState::Ok).is_none());
    }
}
