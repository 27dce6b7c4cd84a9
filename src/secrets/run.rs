//! A command run with secrets: static KV secrets plus dynamic secrets kept
//! alive for as long as the command runs, what `vaultid env -- COMMAND`
//! does.
//!
//! [`run_command`] starts the command under a [`Supervisor`] with the
//! static variables and each dynamic secret's current credentials, keeps
//! the Vault token renewed and every lease renewed by a
//! [`LeaseWatcher`], and when a dynamic secret gets new credentials (its
//! lease reached the max TTL) restarts the command with them
//! ([`OnRotate::Restart`]) or leaves it running with the old ones. A
//! termination signal this process receives goes to the command and is
//! never followed by a restart. When the command exits every lease is
//! revoked and the command's exit code returned.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::env::{fields_to_vars, EnvBuilder, EnvOptions, Precedence, SecretSpec};
use super::lease::{LeaseEvent, LeasePolicy, LeaseWatcher};
use super::supervisor::Supervisor;
use crate::error::Result;
use crate::secret_string::SecretString;
use crate::vault::Client;

/// What happens to a running command when a dynamic secret gets new
/// credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnRotate {
    /// The command keeps the variables it started with; they stop working
    /// when the old lease runs out.
    #[default]
    KeepRunning,
    /// The command is stopped (`SIGTERM`, then `SIGKILL`) and started again
    /// with the new credentials.
    Restart,
}

/// How often the run looks at lease events while the command runs.
const TICK: Duration = Duration::from_millis(50);

/// Run `argv` with `statics` and the credentials of every `dynamic` secret
/// in its environment, renewing the token and the leases while it runs and
/// revoking the leases after it exits. Returns the command's exit code; an
/// error when it could not be started (`spawn_failure_code`
/// maps that to 127/126) or a secret could not be read.
pub fn run_command(
    client: &Arc<Client>,
    argv: Vec<String>,
    statics: &BTreeMap<String, SecretString>,
    dynamic: &[SecretSpec],
    opts: &EnvOptions,
    on_rotate: OnRotate,
) -> Result<u8> {
    if dynamic.is_empty() {
        return super::supervisor::run_with_env(&argv, statics);
    }
    // From here on a SIGTERM must not end this process before the leases
    // are revoked: the supervisor holds it and delivers it to the command.
    let mut sup = Supervisor::new(argv)?;
    // The token must outlive the command: keep it renewed (or logged in
    // again) until the leases are revoked.
    let renewer = client.start_renewer();
    let mut watchers = Vec::new();
    let mut started = Ok(());
    for spec in dynamic {
        match LeaseWatcher::start(Arc::clone(client), &spec.path, LeasePolicy::default()) {
            Ok(w) => watchers.push((spec.clone(), w)),
            Err(e) => {
                started = Err(e);
                break;
            }
        }
    }
    let result = started.and_then(|()| supervise(&mut sup, statics, &watchers, opts, on_rotate));
    for (spec, w) in watchers {
        if let Err(e) = w.stop() {
            log::warn!("{}: revoking the lease failed: {e}", spec.path);
        }
    }
    renewer.stop();
    drop(sup);
    result
}

/// The variables: static ones plus each watcher's current credentials.
fn build_env(
    statics: &BTreeMap<String, SecretString>,
    watchers: &[(SecretSpec, LeaseWatcher)],
    opts: &EnvOptions,
) -> Result<BTreeMap<String, SecretString>> {
    let mut b = EnvBuilder::new();
    b.add("static secrets", statics.clone(), Precedence::KeepFirst)?;
    for (spec, w) in watchers {
        let cur = w.current();
        b.add(
            &spec.path,
            fields_to_vars(&spec.path, &cur.data, spec, opts)?,
            Precedence::from_override(opts.allow_override),
        )?;
    }
    Ok(b.finish())
}

/// `true` when an event asks for a restart.
fn note_event(spec: &SecretSpec, ev: LeaseEvent, on_rotate: OnRotate) -> bool {
    match ev {
        LeaseEvent::Rotated {
            old_lease_id,
            secret,
        } => {
            if on_rotate == OnRotate::Restart {
                log::warn!(
                    "{}: new credentials (lease {}); restarting the command",
                    spec.path,
                    secret.lease_id
                );
                return true;
            }
            log::warn!(
                "{}: new credentials were issued at the lease's max TTL, but the running \
                 command keeps the old ones until lease {old_lease_id} runs out",
                spec.path
            );
        }
        LeaseEvent::Expired { lease_id } => log::warn!(
            "{}: lease {lease_id} ran out while Vault was unavailable; the command's credentials no longer work",
            spec.path
        ),
        _ => {}
    }
    false
}

/// Run the command while the watchers renew; restart it on rotation when
/// asked to.
fn supervise(
    sup: &mut Supervisor,
    statics: &BTreeMap<String, SecretString>,
    watchers: &[(SecretSpec, LeaseWatcher)],
    opts: &EnvOptions,
    on_rotate: OnRotate,
) -> Result<u8> {
    loop {
        let vars = build_env(statics, watchers, opts)?;
        sup.spawn(&vars)?;
        drop(vars);
        let mut restart = false;
        let code = loop {
            if let Some(code) = sup.try_wait()? {
                break code;
            }
            for (spec, w) in watchers {
                while let Ok(ev) = w.events().try_recv() {
                    restart |= note_event(spec, ev, on_rotate);
                }
            }
            if restart && sup.received_signal().is_none() {
                break sup.stop()?;
            }
            std::thread::sleep(TICK);
        };
        if !restart || sup.received_signal().is_some() {
            return Ok(code);
        }
    }
}
