//! Telling the application: the supervised child, signals to a pid file's
//! process, notification commands. Only ever called on a real change.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;

use super::config::{signal_number, NotifyConfig};
use crate::error::{Error, Result};
use crate::secrets::process::send_signal;
use crate::secrets::Supervisor;

/// The supervised command: a [`Supervisor`] without signal forwarding
/// (the agent decides what reaches the child).
#[derive(Debug)]
pub(crate) struct Supervised {
    sup: Supervisor,
    /// Restarts so far.
    pub restarts: u32,
}

impl Supervised {
    /// A command, not started yet.
    pub(crate) fn new(argv: Vec<String>) -> Result<Supervised> {
        Ok(Supervised {
            sup: Supervisor::without_forwarding(argv)?,
            restarts: 0,
        })
    }

    /// Its pid while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.sup.pid()
    }

    /// Start it with `vars` added to the agent's environment (the
    /// `env_template` variables; other secrets reach it through the files).
    pub(crate) fn start_with(
        &mut self,
        vars: &BTreeMap<String, crate::SecretString>,
    ) -> Result<u32> {
        self.sup.spawn(vars)?;
        Ok(self.sup.pid().unwrap_or(0))
    }

    /// Stop it (with `stop_signal` first when given, up to 10 s, then as
    /// [`Supervised::stop`]) and start it again with `vars`.
    pub(crate) fn restart_with(
        &mut self,
        vars: &BTreeMap<String, crate::SecretString>,
        stop_signal: Option<i32>,
    ) -> Result<u32> {
        if let Some(s) = stop_signal {
            if self.signal(s) {
                let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while std::time::Instant::now() < until && self.exited().is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
        self.sup.restart(vars)?;
        self.restarts += 1;
        Ok(self.sup.pid().unwrap_or(0))
    }

    /// Its exit code once it has exited on its own.
    pub(crate) fn exited(&mut self) -> Option<u8> {
        self.sup.pid()?;
        self.sup.try_wait().ok().flatten()
    }

    /// Send it any signal; false when it is not running.
    pub(crate) fn signal(&self, sig: i32) -> bool {
        self.pid().is_some_and(|p| send_signal(p, sig))
    }

    /// Stop it by `deadline`: `SIGTERM` unless `signal_first` is false (a
    /// stop signal's handler sent it), then `SIGKILL` at the deadline. Its
    /// exit code, if it ran.
    pub(crate) fn stop_by(
        &mut self,
        deadline: std::time::Instant,
        signal_first: bool,
    ) -> Option<u8> {
        self.sup.pid()?;
        self.sup.stop_by(deadline, signal_first).ok()
    }
}

/// Notification commands still running (reaped as they exit).
#[derive(Debug, Default)]
pub(crate) struct Commands {
    running: Vec<Child>,
}

impl Commands {
    /// Start `argv` without waiting for it.
    pub(crate) fn spawn(&mut self, argv: &[String]) -> Result<()> {
        self.reap();
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Config("notify.command is empty".into()))?;
        // Like every process vaultid starts: no Vault credentials.
        let child = crate::secrets::process::command_without_credentials(program)
            .args(args)
            .spawn()
            .map_err(|e| Error::io(format!("starting notify command {program:?}"), e))?;
        self.running.push(child);
        Ok(())
    }

    /// Collect the ones that exited.
    pub(crate) fn reap(&mut self) {
        self.running
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// The pid in a pid file.
pub(crate) fn read_pid_file(path: &Path) -> Result<u32> {
    let text = crate::config::read_secret_file(path)?;
    text.expose()
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| Error::Config(format!("{} does not hold a process id", path.display())))
}

/// What one notification did, for the log.
#[derive(Debug, Default)]
pub(crate) struct Done {
    /// Signals sent (`"HUP to child 123"`).
    pub actions: Vec<String>,
    /// Whether the child must be restarted.
    pub restart: bool,
}

/// Carry out `n` (restart is only noted: the loop does it once).
pub(crate) fn notify(
    n: &NotifyConfig,
    child: Option<&Supervised>,
    commands: &mut Commands,
) -> Result<Done> {
    let mut done = Done::default();
    let sig = n.signal.as_deref().and_then(signal_number);
    if let Some(path) = &n.pid_file {
        let pid = read_pid_file(path)?;
        let s = sig.unwrap_or(crate::secrets::process::SIGHUP);
        if !send_signal(pid, s) {
            return Err(Error::Config(format!(
                "signal {s} to process {pid} (from {}) failed: no such process?",
                path.display()
            )));
        }
        done.actions.push(format!("signal {s} to pid {pid}"));
    } else if let Some(s) = sig {
        if let Some(c) = child {
            if c.signal(s) {
                done.actions
                    .push(format!("signal {s} to child {}", c.pid().unwrap_or(0)));
            }
        }
    }
    if let Some(argv) = &n.command {
        commands.spawn(argv)?;
        done.actions.push(format!("command {:?}", argv[0]));
    }
    done.restart = n.restart;
    Ok(done)
}
