//! Running a command with secrets added to its environment, forwarding
//! termination signals to it, and passing its exit status through.
//!
//! # Signals
//!
//! While a child runs under [`SignalForwarding`], `SIGTERM`, `SIGINT` and
//! `SIGHUP` sent to vaultid are sent on to the child instead of ending
//! vaultid, so a supervisor (Kubernetes, systemd, a shell) that stops vaultid
//! stops the command, and vaultid stays alive long enough to wait for it and
//! clean up (revoke leases). The handlers are installed with the C library's
//! `signal(3)` (through [`crate::sys`]); the handler only stores the signal
//! number in an atomic and calls `kill(2)`, both async-signal-safe. The
//! previous handlers are restored when the guard is dropped.
//!
//! A Ctrl-C typed at a terminal goes to the whole foreground process group,
//! so an interactive child receives `SIGINT` from the terminal and once more
//! from vaultid; programs that treat a second `SIGINT` as "force quit" may
//! notice.
//!
//! # Exit status
//!
//! [`exit_code`]: the child's own code when it exited, `128 + n` when signal
//! `n` killed it (the shell convention).

use std::collections::BTreeMap;
use std::os::raw::c_int;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::secret_string::SecretString;
use crate::sys;

pub(crate) use crate::sys::{SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// The signals forwarded to the child.
pub(crate) const FORWARDED: [i32; 3] = [SIGHUP, SIGINT, SIGTERM];

/// The child signals go to (0: none yet).
static CHILD_PID: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the child existed, delivered once it does.
static PENDING: AtomicI32 = AtomicI32::new(0);
/// The last signal received while forwarding (0: none).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Only one forwarding guard at a time: the guard holds this lock.
static ACTIVE: Mutex<()> = Mutex::new(());

extern "C" fn forward(sig: c_int) {
    // Async-signal-safe only: atomics and kill(2).
    LAST_SIGNAL.store(sig, Ordering::SeqCst);
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        sys::kill(pid, sig);
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

/// Send signal `sig` to process `pid` (`kill(2)`). Errors (no such process)
/// are returned as `false`.
pub(crate) fn send_signal(pid: u32, sig: i32) -> bool {
    i32::try_from(pid).is_ok_and(|pid| sys::kill(pid, sig))
}

/// While alive, `SIGTERM`, `SIGINT` and `SIGHUP` to this process are sent
/// on to the child set with [`SignalForwarding::set_child`] (or held until
/// one is set). Dropping it restores the previous handlers.
///
/// Signal dispositions are process-wide: only one guard exists at a time
/// ([`SignalForwarding::install`] waits for an earlier one to be dropped, so
/// do not install twice on one thread), and it replaces whatever handlers
/// the embedding program had for these three signals until it is dropped.
pub(crate) struct SignalForwarding {
    previous: Vec<(i32, sys::Disposition)>,
    _active: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for SignalForwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalForwarding")
            .field("child", &CHILD_PID.load(Ordering::SeqCst))
            .finish()
    }
}

impl SignalForwarding {
    /// Install the handlers, first waiting until no other guard is alive.
    /// Fails when the C library refuses a handler.
    pub(crate) fn install() -> Result<SignalForwarding> {
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        CHILD_PID.store(0, Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
        LAST_SIGNAL.store(0, Ordering::SeqCst);
        let mut guard = SignalForwarding {
            previous: Vec::new(),
            _active: active,
        };
        for sig in FORWARDED {
            // `forward` only does async-signal-safe work. On an error the
            // guard's drop restores the handlers installed so far.
            let prev = sys::set_handler(sig, forward)
                .map_err(|e| Error::io(format!("installing a handler for signal {sig}"), e))?;
            guard.previous.push((sig, prev));
        }
        Ok(guard)
    }

    /// Forward signals to `pid` from now on; a signal that arrived while no
    /// child was set is delivered now.
    pub(crate) fn set_child(&self, pid: u32) {
        let pid = i32::try_from(pid).unwrap_or(0);
        CHILD_PID.store(pid, Ordering::SeqCst);
        let pending = PENDING.swap(0, Ordering::SeqCst);
        if pending != 0 {
            // `pid` is our own child (a pid that is not one is refused).
            sys::kill(pid, pending);
        }
    }

    /// Stop forwarding to the current child (it exited); later signals are
    /// held for the next child.
    pub(crate) fn clear_child(&self) {
        CHILD_PID.store(0, Ordering::SeqCst);
    }

    /// The last forwarded signal received, if any.
    pub(crate) fn last_signal(&self) -> Option<i32> {
        match LAST_SIGNAL.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Drop for SignalForwarding {
    fn drop(&mut self) {
        CHILD_PID.store(0, Ordering::SeqCst);
        for (sig, prev) in self.previous.drain(..) {
            sys::restore_handler(sig, prev);
        }
    }
}

/// The shell's view of an exit status: the code, or `128 + signal`.
pub(crate) fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        (code & 0xff) as u8
    } else if let Some(sig) = status.signal() {
        (128 + (sig & 0x7f)) as u8
    } else {
        1
    }
}

/// The variables holding vaultid's own Vault credentials. A child started
/// by `spawn_with_env` does not inherit them: it gets them only when they
/// are among the variables given to it (`vaultid env --pass-credentials`).
pub(crate) const CREDENTIAL_VARS: &[&str] = &[
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT__TOKEN",
    "VAULT_SECRET_ID",
    "VAULT_SECRET_ID_FILE",
    "VAULT_ROLE_ID",
    "VAULT_AUTH_PASSWORD",
    "VAULT_AUTH_PASSWORD_FILE",
];

/// A [`Command`] for `program` that does not inherit [`CREDENTIAL_VARS`]:
/// every process vaultid starts begins from this, so a command that did not
/// ask for the Vault credentials never sees them.
pub(crate) fn command_without_credentials(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for name in CREDENTIAL_VARS {
        cmd.env_remove(name);
    }
    cmd
}

/// Start `argv[0]` with `argv[1..]`, the current environment without
/// [`CREDENTIAL_VARS`], plus `vars`. The secrets are handed to the
/// operating system and go nowhere else. A NUL byte in a name or value is
/// an error naming the variable.
pub(crate) fn spawn_with_env(
    argv: &[String],
    vars: &BTreeMap<String, SecretString>,
) -> Result<Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Config("no command given after --".into()))?;
    let mut cmd = command_without_credentials(program);
    cmd.args(args);
    for (name, value) in vars {
        if name.contains('\0') || value.expose().contains('\0') {
            return Err(Error::Config(format!(
                "the value for {} holds a NUL byte, which an environment variable cannot carry",
                crate::util::escape_invisible(name)
            )));
        }
        cmd.env(name, value.expose());
    }
    cmd.spawn()
        .map_err(|e| Error::io(format!("starting command {program:?}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_process_never_inherits_vault_credentials() {
        let cmd = command_without_credentials("true");
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for name in CREDENTIAL_VARS {
            assert!(removed.iter().any(|r| r == name), "{name} is inherited");
        }
    }

    #[test]
    fn a_credential_asked_for_is_passed() {
        let mut vars = BTreeMap::new();
        vars.insert("VAULT_TOKEN".to_string(), SecretString::from("asked-for"));
        let child = spawn_with_env(
            &[
                "sh".into(),
                "-c".into(),
                "test \"$VAULT_TOKEN\" = asked-for".into(),
            ],
            &vars,
        )
        .unwrap();
        let status = child.wait_with_output().unwrap().status;
        assert!(status.success());
    }
}
