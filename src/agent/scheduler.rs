//! The agent's one loop: do what is due, then sleep in `poll(2)` until the
//! next due time or a signal. Nothing runs on a timer of its own: the sleep
//! is exactly as long as the earliest of the token's next renewal and each
//! source's next check, renewal or retry.
//!
//! Signals: `SIGHUP` re-reads every KV source (and retries failing ones)
//! now; `SIGCHLD` checks the supervised command (its exit ends the agent
//! with its exit code); `SIGTERM` and `SIGINT` shut down: the command is
//! stopped (`SIGTERM`, then `SIGKILL`), leases revoked unless
//! `revoke_leases_on_exit` is off, the token revoked when
//! `token.revoke_on_exit` is on, the files removed when
//! `remove_files_on_exit` is on, and the status file marked `stopped`.
//!
//! The whole shutdown fits in `vault_wait`, counted from the signal: a
//! pending stop is looked for between two steps (so a pass of several
//! steps that each wait for an unreachable Vault does not add them up),
//! the command gets its `SIGTERM` from the signal handler itself (so it
//! stops while a request is still in flight) and what is left of the
//! budget until `SIGKILL` (at most 10 s), and every revocation request is
//! cut to the budget's end ([`crate::http::HttpClient::set_deadline`]);
//! one that no longer fits is reported as failed, and its lease or token
//! runs out at the end of its TTL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::notify::{self, Supervised};
use super::signals;
use super::sources::StepOutput;
use super::Agent;
use crate::error::{Error, Result};
use crate::secrets::lease::{LeaseBackend, LeasePolicy};
use crate::sys::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use crate::vault::Client;

/// How a step ended for the loop.
struct Changed {
    changed: bool,
    restart: bool,
}

impl Agent {
    /// Run until [`Waker::stop`](super::Waker::stop) (or `SIGTERM`/`SIGINT`
    /// after [`Agent::handle_signals`]), or until the supervised command
    /// exits; returns the exit code to leave with (the command's, else 0).
    pub fn run(&mut self) -> Result<u8> {
        if let Some(p) = self.config.pid_file.clone() {
            crate::util::fs::write_atomic(
                &p,
                format!("{}\n", std::process::id()).as_bytes(),
                0o644,
            )?;
        }
        if self.config.restore_identity {
            let out = crate::bootstrap::ensure(&self.env)?;
            self.event(
                "identity_restored",
                json!({"did": out.did, "keys_source": out.keys_source, "vault": out.vault}),
            );
        }
        self.remove_stale_temp_files();
        if let Some(settings) = self.listener.take() {
            let peers: Vec<String> = settings.peers.keys().cloned().collect();
            let signer = super::peer_signer(&self.env, !peers.is_empty());
            let signed = signer.is_some();
            let gw = crate::gateway::Gateway::new(
                settings,
                self.client.clone(),
                signer,
                &super::peer_tls(&self.env),
            )?
            .start()?;
            self.event(
                "gateway_listening",
                json!({"address": gw.address(), "peers": peers, "peers_signed": signed}),
            );
            self.gateway = Some(gw);
        }
        self.event(
            "started",
            json!({"pid": std::process::id(), "sources": self.sources.len(),
                   "token_sink": self.token.sink().map(|p| p.display().to_string())}),
        );
        let policy = LeasePolicy {
            backoff_max: self.config.backoff_max(),
            ..LeasePolicy::default()
        };
        let cap = self.config.backoff_max();
        let wait_for_sources = self
            .config
            .exec
            .as_ref()
            .is_some_and(|e| e.wait_for_sources);
        // A stop that arrived during a step is handled before the next one.
        let stopping = signals::stop_pending;
        loop {
            if !stopping() {
                for (name, fields) in self.token.step(&self.client, cap, &stopping) {
                    self.event(name, fields);
                }
                self.sync_token_sink();
            }

            let mut any_changed = false;
            let mut restart = false;
            for i in 0..self.sources.len() {
                if stopping() {
                    break;
                }
                if self.sources[i].next > Instant::now() {
                    continue;
                }
                let c = self.step_source(i, &policy, cap);
                any_changed |= c.changed;
                restart |= c.restart;
            }
            let (r, exit) = self.step_templates(cap);
            restart |= r;
            if let Some(code) = exit {
                return Ok(self.shutdown(code));
            }
            // A request may have logged in again.
            self.sync_token_sink();

            if any_changed {
                if let Some(n) = self.config.notify.clone() {
                    restart |= self.run_notify(&n, "*");
                }
            }
            let all_rendered = self.sources.iter().all(|s| s.rendered) && self.templates.rendered;
            if let Some(child) = self.child.as_mut().filter(|_| !stopping()) {
                if child.pid().is_none()
                    && child.restarts == 0
                    && (all_rendered || !wait_for_sources)
                {
                    match child.start_with(&self.templates.env_values) {
                        Ok(pid) => {
                            self.wake.set_child(Some(pid));
                            let argv0 = self.config.exec.as_ref().map(|e| e.command[0].clone());
                            self.event("child_started", json!({"pid": pid, "command": argv0}));
                        }
                        Err(e) => {
                            self.event("child_failed", json!({"error": e.to_string()}));
                            let code = crate::secrets::spawn_failure_code(&e).unwrap_or(1);
                            return Ok(self.shutdown(code));
                        }
                    }
                } else if restart && child.pid().is_some() {
                    self.wake.set_child(None);
                    let stop = self
                        .config
                        .exec
                        .as_ref()
                        .and_then(|e| e.restart_stop_signal.as_deref())
                        .and_then(super::config::signal_number);
                    match child.restart_with(&self.templates.env_values, stop) {
                        Ok(pid) => {
                            self.wake.set_child(Some(pid));
                            let n = child.restarts;
                            self.event("child_restarted", json!({"pid": pid, "restarts": n}));
                        }
                        Err(e) => {
                            self.event("child_failed", json!({"error": e.to_string()}));
                            return Ok(self.shutdown(1));
                        }
                    }
                }
            }
            self.commands.reap();
            self.write_status("running");
            if self.config.exit_after_auth
                && all_rendered
                && (self.token.sink().is_none() || self.token.has_written())
            {
                return Ok(self.shutdown(0));
            }

            let next = self
                .sources
                .iter()
                .map(|s| s.next)
                .chain(self.token.next())
                .chain(self.templates.next)
                .min();
            let timeout = next.map(|n| n.saturating_duration_since(Instant::now()));
            for sig in self.wake.wait(timeout) {
                match sig {
                    SIGTERM | SIGINT => {
                        self.event("signal", json!({"signal": sig, "action": "shutdown"}));
                        return Ok(self.shutdown(0));
                    }
                    SIGHUP => {
                        self.event("signal", json!({"signal": sig, "action": "reread"}));
                        for s in &mut self.sources {
                            s.reread_now();
                        }
                    }
                    SIGCHLD => {
                        if let Some(code) = self.child.as_mut().and_then(Supervised::exited) {
                            self.wake.set_child(None);
                            self.event("child_exited", json!({"exit_code": code}));
                            return Ok(self.shutdown(code));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn sync_token_sink(&mut self) {
        match self.token.sync_sink(&self.client) {
            Ok(true) => {
                self.token.sink_error = None;
                let sink = self.token.sink().map(|p| p.display().to_string());
                self.event("token_written", json!({"sink": sink}));
            }
            Ok(false) => {}
            Err(e) => {
                let msg = format!("writing the token sink failed: {e}");
                if self.token.sink_error.as_deref() != Some(msg.as_str()) {
                    self.event(
                        "token_error",
                        json!({"action": "sink", "error": e.to_string()}),
                    );
                }
                self.token.sink_error = Some(msg);
            }
        }
    }

    /// One source's due step, its files, and its notification.
    fn step_source(&mut self, i: usize, policy: &LeasePolicy, cap: Duration) -> Changed {
        let env = &self.env;
        let hydra = || crate::bootstrap::token_client(env);
        let outcome = self.sources[i].step(&self.client, policy, &hydra);
        let mut out = Changed {
            changed: false,
            restart: false,
        };
        let name = self.sources[i].name.clone();
        match outcome {
            Ok(StepOutput::Nothing(action)) => {
                let s = &mut self.sources[i];
                let recovered = s.failures > 0;
                s.failures = 0;
                s.last_error = None;
                if action != "unchanged" || recovered {
                    s.last_action = action.into();
                    s.last_action_at = super::sources::unix_now();
                }
                let next = s.next_renewal;
                self.event(action, json!({"source": name, "next_renewal": next}));
            }
            Ok(StepOutput::Data(fresh)) => {
                let action = fresh.action;
                match self.sources[i].apply(fresh) {
                    Ok(written) => {
                        let s = &mut self.sources[i];
                        s.failures = 0;
                        s.last_error = None;
                        let first = !s.rendered;
                        s.rendered = true;
                        out.changed = !written.is_empty() && !first;
                        if !written.is_empty() || first {
                            s.last_action = action.into();
                            s.last_action_at = super::sources::unix_now();
                        }
                        let (next, detail) = (s.next_renewal, s.detail());
                        self.event(
                            action,
                            json!({"source": name, "written": written, "next_renewal": next, "detail": detail}),
                        );
                        if out.changed {
                            if let Some(n) = self.sources[i].notify.clone() {
                                out.restart |= self.run_notify(&n, &name);
                            }
                        }
                    }
                    Err(e) => self.source_failed(i, &e, cap),
                }
            }
            Err(e) => self.source_failed(i, &e, cap),
        }
        out
    }

    fn source_failed(&mut self, i: usize, e: &Error, cap: Duration) {
        if matches!(e, Error::PermissionDenied { .. }) {
            // Refused: is it the token?
            self.token.check_soon();
        }
        let s = &mut self.sources[i];
        s.failed(e, cap);
        s.last_error_kind = Some(super::status::error_kind(e));
        let retry = s.next.saturating_duration_since(Instant::now());
        let (name, failures) = (s.name.clone(), s.failures);
        self.event(
            "error",
            json!({"source": name, "error": e.to_string(), "failures": failures,
                   "retry_in_ms": retry.as_millis() as u64, "files": "kept"}),
        );
    }

    /// Carry out a notification; returns whether the child must restart.
    fn run_notify(&mut self, n: &super::config::NotifyConfig, source: &str) -> bool {
        match notify::notify(n, self.child.as_ref(), &mut self.commands) {
            Ok(done) => {
                if !done.actions.is_empty() || done.restart {
                    self.event(
                        "notified",
                        json!({"source": source, "actions": done.actions, "restart": done.restart}),
                    );
                }
                done.restart
            }
            Err(e) => {
                self.event(
                    "notify_failed",
                    json!({"source": source, "error": e.to_string()}),
                );
                false
            }
        }
    }

    /// The status document.
    fn status_doc(&self, state: &str) -> Value {
        let mut sources = serde_json::Map::new();
        for s in &self.sources {
            sources.insert(
                s.name.clone(),
                json!({
                    "kind": s.kind.label(),
                    "rendered": s.rendered,
                    "last_action": s.last_action,
                    "last_action_at": s.last_action_at,
                    "next_renewal": s.next_renewal,
                    "expires_at": s.expires_at,
                    "last_error": s.last_error,
                    "last_error_kind": s.last_error.as_ref().and(s.last_error_kind),
                    "failures": s.failures,
                    "files": s.files.iter().map(|f| f.config.path.display().to_string()).collect::<Vec<_>>(),
                    "detail": s.detail(),
                }),
            );
        }
        json!({
            "pid": std::process::id(),
            "state": state,
            "started_at": self.started_at,
            "token": self.token.status(),
            "child": self.child.as_ref().map(|c| json!({"pid": c.pid(), "restarts": c.restarts})),
            "sources": sources,
            "templates": self.templates.status(),
        })
    }

    fn write_status(&mut self, state: &str) {
        if self.gateway.is_none() && self.config.status_file.is_none() {
            return;
        }
        let doc = self.status_doc(state);
        if let Some(gw) = &self.gateway {
            gw.publish(&doc, super::status::judge(doc.clone()));
        }
        let Some(path) = self.config.status_file.clone() else {
            return;
        };
        if let Err(e) = super::status::write(&path, &doc, &mut self.status_digest) {
            self.event("status_error", json!({"error": e.to_string()}));
        }
    }

    /// Stop the command, revoke, clean up, all within `vault_wait` from
    /// the stop signal (from now when the command's exit is the reason);
    /// returns `code`.
    fn shutdown(&mut self, code: u8) -> u8 {
        let stop_at = self.wake.stop_requested_at().unwrap_or_else(Instant::now);
        let deadline = stop_at + self.config.vault_wait();
        let left = || deadline.saturating_duration_since(Instant::now());
        self.client.http().set_deadline(Some(deadline));
        self.event(
            "stopping",
            json!({"budget_ms": u64::try_from(left().as_millis()).unwrap_or(u64::MAX)}),
        );
        let told = self.wake.child_told();
        if let Some(child) = self.child.as_mut() {
            // SIGTERM (unless the signal handler sent it), what is left of
            // the budget (at most the usual 10 s) to exit, then SIGKILL.
            let grace_from = if told { stop_at } else { Instant::now() };
            let until = deadline.min(grace_from + crate::secrets::supervisor::DEFAULT_STOP_GRACE);
            if let Some(c) = child.stop_by(until, !told) {
                self.event("child_stopped", json!({"exit_code": c}));
            }
            self.wake.set_child(None);
        }
        let no_time = || {
            format!(
                "not tried: the shutdown's vault_wait ({:.1} s) ran out; it expires at the end of its TTL",
                self.config.vault_wait().as_secs_f64()
            )
        };
        if self.config.revoke_leases_on_exit {
            let leases: Vec<(String, String)> = self
                .sources
                .iter()
                .flat_map(|s| s.leases().into_iter().map(move |l| (s.name.clone(), l)))
                .collect();
            for (source, lease) in leases {
                let result = if left().is_zero() {
                    Err(no_time())
                } else {
                    LeaseBackend::revoke(&*self.client, &lease).map_err(|e| e.to_string())
                };
                match result {
                    Ok(()) => self.event("revoked", json!({"source": source, "lease_id": lease})),
                    Err(e) => self.event(
                        "revoke_failed",
                        json!({"source": source, "lease_id": lease, "error": e}),
                    ),
                }
            }
        }
        if self.config.token.revoke_on_exit {
            let result = if left().is_zero() {
                Err(no_time())
            } else {
                revoke_token(&self.client).map_err(|e| e.to_string())
            };
            match result {
                Ok(()) => self.event("token_revoked", json!({})),
                Err(e) => self.event("token_revoke_failed", json!({"error": e})),
            }
        }
        self.client.http().set_deadline(None);
        if self.config.remove_files_on_exit {
            let mut paths: Vec<_> = self
                .sources
                .iter()
                .flat_map(|s| s.files.iter().map(|f| f.config.path.clone()))
                .collect();
            paths.extend(self.token.sink().cloned());
            for p in paths {
                if std::fs::remove_file(&p).is_ok() {
                    self.event("removed", json!({"file": p.display().to_string()}));
                }
            }
        }
        if let Some(p) = &self.config.pid_file {
            let _ = std::fs::remove_file(p);
        }
        self.write_status("stopped");
        if let Some(gw) = self.gateway.take() {
            gw.stop(std::time::Duration::from_secs(1));
        }
        self.event("stopped", json!({"exit_code": code}));
        code
    }
}

fn revoke_token(client: &Client) -> Result<()> {
    client.revoke_self()
}
