//! Telling the application: the supervised child, signals to a pid file's
//! process, notification commands. Only ever called on a real change.

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::config::{signal_number, NotifyConfig};
use super::signals::Wakeup;
use crate::error::{Error, Result};
use crate::secrets::process::{send_signal, SIGKILL, SIGTERM};

/// The supervised command.
#[derive(Debug)]
pub struct Supervised {
    argv: Vec<String>,
    child: Option<Child>,
    /// Restarts so far.
    pub restarts: u32,
}

impl Supervised {
    /// A command, not started yet.
    pub fn new(argv: Vec<String>) -> Supervised {
        Supervised {
            argv,
            child: None,
            restarts: 0,
        }
    }

    /// Its pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Start it (its environment is the agent's: secrets reach it through
    /// the files).
    pub fn start(&mut self) -> Result<u32> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| Error::Config("exec.command is empty".into()))?;
        let child = Command::new(program)
            .args(args)
            .spawn()
            .map_err(|e| Error::io(format!("starting {program:?}"), e))?;
        let pid = child.id();
        self.child = Some(child);
        Ok(pid)
    }

    /// Its exit status once it has exited on its own.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status)
    }

    /// Send it a signal; false when it is not running.
    pub fn signal(&self, sig: i32) -> bool {
        self.pid().is_some_and(|p| send_signal(p, sig))
    }

    /// `SIGTERM`, up to `grace` for it to exit (woken by `SIGCHLD`), then
    /// `SIGKILL`. Returns its exit status, if it ran.
    pub fn stop(&mut self, wake: &mut Wakeup, grace: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        send_signal(child.id(), SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                self.child = None;
                return Some(s);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            // SIGCHLD wakes this early; cap each wait so a missed wake-up
            // costs little.
            wake.wait(Some((deadline - now).min(Duration::from_millis(200))));
        }
        send_signal(child.id(), SIGKILL);
        let s = child.wait().ok();
        self.child = None;
        s
    }

    /// Stop it and start it again.
    pub fn restart(&mut self, wake: &mut Wakeup) -> Result<u32> {
        self.stop(wake, Duration::from_secs(10));
        self.restarts += 1;
        self.start()
    }
}

/// Notification commands still running (reaped as they exit).
#[derive(Debug, Default)]
pub struct Commands {
    running: Vec<Child>,
}

impl Commands {
    /// Start `argv` without waiting for it.
    pub fn spawn(&mut self, argv: &[String]) -> Result<()> {
        self.reap();
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Config("notify.command is empty".into()))?;
        let child = Command::new(program)
            .args(args)
            .spawn()
            .map_err(|e| Error::io(format!("starting notify command {program:?}"), e))?;
        self.running.push(child);
        Ok(())
    }

    /// Collect the ones that exited.
    pub fn reap(&mut self) {
        self.running
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// The pid in a pid file.
pub fn read_pid_file(path: &Path) -> Result<u32> {
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
pub struct Done {
    /// Signals sent (`"HUP to child 123"`).
    pub actions: Vec<String>,
    /// Whether the child must be restarted.
    pub restart: bool,
}

/// Carry out `n` (restart is only noted: the loop does it once).
pub fn notify(
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
