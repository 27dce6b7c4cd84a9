//! A supervised child process: started with secrets added to its
//! environment, sent the termination signals this process receives, stopped
//! with `SIGTERM` then `SIGKILL`, restarted with new variables, and its exit
//! status passed through as a shell would ([`process::exit_code`]).
//!
//! [`Supervisor`] is what `vaultid env -- COMMAND` runs on, and what a
//! long-running program uses to restart (or signal) a command when its
//! secrets change:
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use vaultid::secrets::Supervisor;
//! use vaultid::SecretString;
//!
//! # fn main() -> Result<(), vaultid::Error> {
//! let mut vars = BTreeMap::new();
//! vars.insert("DB_PASSWORD".to_string(), SecretString::new("s3cret"));
//! let mut sup = Supervisor::new(vec!["my-server".into(), "--port=8080".into()])?;
//! sup.spawn(&vars)?;
//! // ... later, the password changed:
//! vars.insert("DB_PASSWORD".to_string(), SecretString::new("n3w"));
//! sup.restart(&vars)?;
//! // Its exit code as a shell reports it (128 + N after signal N); on
//! // shutdown `sup.stop()` sends SIGTERM, then SIGKILL after the grace.
//! let code = sup.wait()?;
//! # let _ = code;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use super::process::{self, SignalForwarding};
use crate::error::{Error, Result};
use crate::secret_string::SecretString;

/// How long [`Supervisor::stop`] waits after `SIGTERM` before `SIGKILL`.
pub(crate) const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// How often a wait looks at the child.
const POLL: Duration = Duration::from_millis(50);

/// A signal a [`Supervisor`] can send to its child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGHUP`: many servers reload their configuration.
    Hangup,
    /// `SIGINT`.
    Interrupt,
    /// `SIGTERM`: asks the child to exit.
    Terminate,
    /// `SIGKILL`: ends the child at once.
    Kill,
}

impl Signal {
    /// The signal's number on Linux and the BSDs.
    pub(crate) fn number(self) -> i32 {
        match self {
            Signal::Hangup => process::SIGHUP,
            Signal::Interrupt => process::SIGINT,
            Signal::Terminate => process::SIGTERM,
            Signal::Kill => process::SIGKILL,
        }
    }

    fn from_number(n: i32) -> Option<Signal> {
        [
            Signal::Hangup,
            Signal::Interrupt,
            Signal::Terminate,
            Signal::Kill,
        ]
        .into_iter()
        .find(|s| s.number() == n)
    }
}

/// Runs one command at a time with secrets in its environment.
///
/// While a `Supervisor` is alive, `SIGTERM`, `SIGINT` and `SIGHUP` sent to
/// this process go to the child instead (held until a child runs), so
/// whoever stops this process stops the command and this process lives on
/// to clean up; its exit code then says so.
/// Signal handlers are process-wide: one `Supervisor` (or other signal
/// forwarding) exists at a time, and [`Supervisor::new`] waits for an
/// earlier one to be dropped. Dropping it stops a child still running.
#[derive(Debug)]
pub struct Supervisor {
    argv: Vec<String>,
    child: Option<Child>,
    stop_grace: Duration,
    /// `None` for a program that handles signals itself
    /// ([`Supervisor::without_forwarding`]).
    forwarding: Option<SignalForwarding>,
}

impl Supervisor {
    /// A supervisor for `argv` (program and arguments); installs the
    /// signal forwarding. Fails when `argv` is empty or the handlers cannot
    /// be installed.
    pub fn new(argv: Vec<String>) -> Result<Supervisor> {
        Supervisor::build(argv, true)
    }

    /// A supervisor that leaves signal handling alone: for a program that
    /// handles `SIGTERM`/`SIGINT`/`SIGHUP` itself (`vaultid agent`) and
    /// decides what reaches the child. Fails when `argv` is empty.
    pub(crate) fn without_forwarding(argv: Vec<String>) -> Result<Supervisor> {
        Supervisor::build(argv, false)
    }

    fn build(argv: Vec<String>, forward: bool) -> Result<Supervisor> {
        if argv.is_empty() {
            return Err(Error::Config("no command given".into()));
        }
        let forwarding = match forward {
            true => Some(SignalForwarding::install()?),
            false => None,
        };
        Ok(Supervisor {
            argv,
            child: None,
            stop_grace: DEFAULT_STOP_GRACE,
            forwarding,
        })
    }

    /// How long [`Supervisor::stop`] waits between `SIGTERM` and `SIGKILL`
    /// (default 10 seconds).
    pub fn with_stop_grace(mut self, grace: Duration) -> Supervisor {
        self.stop_grace = grace;
        self
    }

    /// Start the command with this process's environment plus `vars`. A
    /// termination signal that arrived while no child ran is delivered to
    /// it now. Fails when a child is already running, or when the command
    /// cannot be started (`spawn_failure_code` gives the shell's
    /// 127/126 for the error).
    pub fn spawn(&mut self, vars: &BTreeMap<String, SecretString>) -> Result<()> {
        if self.child.is_some() {
            return Err(Error::Config(format!(
                "command {:?} is already running",
                self.argv[0]
            )));
        }
        let child = process::spawn_with_env(&self.argv, vars)?;
        if let Some(f) = &self.forwarding {
            f.set_child(child.id());
        }
        self.child = Some(child);
        Ok(())
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Send `signal` to the running child; `false` when none runs (or it
    /// is already gone).
    pub fn signal(&self, signal: Signal) -> bool {
        self.pid()
            .is_some_and(|pid| process::send_signal(pid, signal.number()))
    }

    /// The last termination signal this process received while
    /// supervising (and forwarded to the child), if any.
    pub(crate) fn received_signal(&self) -> Option<Signal> {
        self.forwarding
            .as_ref()
            .and_then(SignalForwarding::last_signal)
            .and_then(Signal::from_number)
    }

    /// The child's exit code if it has exited (reaping it), `None` while it
    /// runs. Fails when no child was started.
    pub(crate) fn try_wait(&mut self) -> Result<Option<u8>> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| Error::Config("no command is running".into()))?;
        match child
            .try_wait()
            .map_err(|e| Error::io("waiting for the command", e))?
        {
            Some(status) => {
                self.reaped();
                Ok(Some(process::exit_code(status)))
            }
            None => Ok(None),
        }
    }

    /// Wait until the child exits or `deadline` passes: its exit code, or
    /// `None` when it still runs at the deadline.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Result<Option<u8>> {
        loop {
            if let Some(code) = self.try_wait()? {
                return Ok(Some(code));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// Wait for the child to exit, however long it takes: its exit code.
    pub fn wait(&mut self) -> Result<u8> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| Error::Config("no command is running".into()))?;
        let status = child
            .wait()
            .map_err(|e| Error::io("waiting for the command", e))?;
        self.reaped();
        Ok(process::exit_code(status))
    }

    /// Stop the child: `SIGTERM`, up to the stop grace to exit, then
    /// `SIGKILL`. Its exit code (`128 + n` when signal `n` ended it).
    pub fn stop(&mut self) -> Result<u8> {
        self.stop_by(Instant::now() + self.stop_grace, true)
    }

    /// Stop the child by `deadline`: `SIGTERM` (unless `signal_first` is
    /// false: it was sent already), a wait until `deadline` at most, then
    /// `SIGKILL`. Its exit code.
    pub(crate) fn stop_by(&mut self, deadline: Instant, signal_first: bool) -> Result<u8> {
        if self.child.is_none() {
            return Err(Error::Config("no command is running".into()));
        }
        if signal_first {
            self.signal(Signal::Terminate);
        }
        if let Some(code) = self.wait_until(deadline)? {
            return Ok(code);
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.wait()
    }

    /// Stop the running child (if any) and start the command again with
    /// `vars`; the stopped child's exit code, if one ran.
    pub fn restart(&mut self, vars: &BTreeMap<String, SecretString>) -> Result<Option<u8>> {
        let code = match self.child {
            Some(_) => Some(self.stop()?),
            None => None,
        };
        self.spawn(vars)?;
        Ok(code)
    }

    fn reaped(&mut self) {
        self.child = None;
        if let Some(f) = &self.forwarding {
            f.clear_child();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

/// Run `argv` once with `vars` added to its environment, forwarding
/// termination signals to it, and return its exit code.
pub(crate) fn run_with_env(argv: &[String], vars: &BTreeMap<String, SecretString>) -> Result<u8> {
    let mut sup = Supervisor::new(argv.to_vec())?;
    sup.spawn(vars)?;
    sup.wait()
}

/// The exit code a shell uses when it cannot start a command: 127 when it
/// does not exist, 126 when it cannot be executed, `None` for other errors.
pub(crate) fn spawn_failure_code(err: &Error) -> Option<u8> {
    match err {
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => Some(127),
            std::io::ErrorKind::PermissionDenied => Some(126),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn passes_exit_codes_and_env() {
        let mut vars = BTreeMap::new();
        vars.insert("VAULTID_T_X".to_string(), SecretString::new("a b'c"));
        let code = run_with_env(&sh("[ \"$VAULTID_T_X\" = \"a b'c\" ] && exit 7"), &vars).unwrap();
        assert_eq!(code, 7);
        let code = run_with_env(&sh("kill -KILL $$"), &BTreeMap::new()).unwrap();
        assert_eq!(code, 128 + 9);
    }

    #[test]
    fn missing_program_is_127() {
        let e = run_with_env(&["/nonexistent/vaultid-x".into()], &BTreeMap::new()).unwrap_err();
        assert_eq!(spawn_failure_code(&e), Some(127));
    }

    #[test]
    fn restart_signal_stop_and_deadline() {
        let mut sup = Supervisor::new(sh(
            "trap 'exit 3' HUP; : > \"$READY\"; while :; do sleep 0.05; done",
        ))
        .unwrap()
        .with_stop_grace(Duration::from_millis(300));
        let (ready, vars) = ready_file("restart");
        sup.spawn(&vars).unwrap();
        assert!(sup.spawn(&vars).is_err(), "one child at a time");
        let first = sup.pid().unwrap();
        // Still running at the deadline.
        let soon = Instant::now() + Duration::from_millis(100);
        assert_eq!(sup.wait_until(soon).unwrap(), None);
        // A restart stops the first child (SIGTERM: 128 + 15) and starts another.
        wait_for(&ready);
        let _ = std::fs::remove_file(&ready);
        assert_eq!(sup.restart(&vars).unwrap(), Some(128 + 15));
        assert_ne!(sup.pid().unwrap(), first);
        // The trap answers SIGHUP with exit 3.
        wait_for(&ready);
        let _ = std::fs::remove_file(&ready);
        assert!(sup.signal(Signal::Hangup));
        let code = sup
            .wait_until(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(code, Some(3));
        assert_eq!(sup.pid(), None);
        assert!(!sup.signal(Signal::Terminate));
        assert_eq!(sup.received_signal(), None);
    }

    #[test]
    fn stop_kills_a_child_that_ignores_sigterm() {
        let mut sup = Supervisor::new(sh(
            "trap '' TERM; : > \"$READY\"; while :; do sleep 0.05; done",
        ))
        .unwrap()
        .with_stop_grace(Duration::from_millis(200));
        let (ready, vars) = ready_file("ignore");
        sup.spawn(&vars).unwrap();
        wait_for(&ready);
        let _ = std::fs::remove_file(&ready);
        let started = Instant::now();
        assert_eq!(sup.stop().unwrap(), 128 + 9);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(sup.stop().is_err(), "nothing left to stop");
    }

    /// A file the child creates once its traps are set, and the variable
    /// (`READY`) that names it.
    fn ready_file(tag: &str) -> (std::path::PathBuf, BTreeMap<String, SecretString>) {
        let p =
            std::env::temp_dir().join(format!("vaultid-supervisor-{tag}-{}", uuid::Uuid::new_v4()));
        let mut vars = BTreeMap::new();
        vars.insert("READY".to_string(), SecretString::new(p.to_string_lossy()));
        (p, vars)
    }

    fn wait_for(p: &std::path::Path) {
        let end = Instant::now() + Duration::from_secs(10);
        while !p.exists() {
            assert!(Instant::now() < end, "the child never got ready");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
