//! Waking the agent's loop: a self-pipe that signal handlers and other
//! threads write one byte to, and `poll(2)` on its read end with the time
//! until the next due event as the timeout. Nothing polls on a timer.
//!
//! [`Wakeup::new`] makes the pipe; [`Wakeup::install_signal_handlers`] makes
//! `SIGTERM`, `SIGINT`, `SIGHUP` and `SIGCHLD` write to it (process-wide, one
//! agent at a time; the previous handlers come back when the [`Wakeup`] is
//! dropped). A program that runs the agent in a thread of its own may skip
//! the handlers and stop the agent with [`Waker::stop`] instead.
//!
//! The handler only sets a bit in an atomic mask and, when the mask was
//! empty, writes one byte (`write(2)` is async-signal-safe); the loop
//! reads the byte and takes the mask, so the pipe never holds more than a
//! byte and never fills.
//!
//! A stop (`SIGTERM`, `SIGINT`, [`Waker::stop`]) does two more things at
//! once, because the loop may be busy in a request for up to `vault_wait`:
//! it notes when it arrived (the shutdown's budget counts from then,
//! [`Wakeup::stop_requested_at`]) and sends `SIGTERM` to the supervised
//! command registered with [`Wakeup::set_child`], once, so the command
//! stops meanwhile. The loop looks for a pending stop between its steps
//! ([`stop_pending`]).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::sys::{self, SIGCHLD, SIGHUP, SIGINT, SIGTERM};

/// The signals the agent handles.
pub(crate) const HANDLED: [i32; 4] = [SIGHUP, SIGINT, SIGTERM, SIGCHLD];

/// Bit `1 << sig` for each signal received and not yet taken; bit 0: a
/// wake-up from another thread.
static MASK: AtomicU64 = AtomicU64::new(0);
/// The write end the handler writes to (-1: none).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// One agent's handlers at a time.
static ACTIVE: Mutex<()> = Mutex::new(());
/// The supervised command's pid (0: none), told `SIGTERM` on a stop.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// Whether that command was told.
static CHILD_TOLD: AtomicBool = AtomicBool::new(false);
/// When the first stop not yet taken arrived: nanoseconds since [`BASE`]
/// plus one (0: none).
static STOP_AT: AtomicU64 = AtomicU64::new(0);
/// The origin of [`STOP_AT`], set before any handler is installed.
static BASE: OnceLock<Instant> = OnceLock::new();

/// The mask bits of a stop.
const STOP_BITS: u64 = (1u64 << SIGTERM) | (1u64 << SIGINT);

/// Whether a stop has arrived that the loop has not taken yet: the loop
/// leaves the rest of its pass for it.
pub(crate) fn stop_pending() -> bool {
    MASK.load(Ordering::SeqCst) & STOP_BITS != 0
}

/// A stop arrived: note when, and tell the command. Called from the signal
/// handler, so only async-signal-safe work: atomics, `clock_gettime(2)`
/// (what `Instant::now` calls; it neither allocates nor locks) and
/// `kill(2)`.
fn stop_arrived() {
    if let Some(base) = BASE.get() {
        let ns = u64::try_from(base.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        let _ = STOP_AT.compare_exchange(0, ns, Ordering::SeqCst, Ordering::SeqCst);
    }
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 && !CHILD_TOLD.swap(true, Ordering::SeqCst) {
        // `pid` is the agent's own child, registered while it runs.
        sys::kill(pid, SIGTERM);
    }
}

fn notify(bit: u64) {
    if MASK.fetch_or(bit, Ordering::SeqCst) == 0 {
        let fd = WRITE_FD.load(Ordering::SeqCst);
        if fd >= 0 {
            sys::write_byte(fd);
        }
    }
}

extern "C" fn on_signal(sig: c_int) {
    if (1..64).contains(&sig) {
        if STOP_BITS & (1u64 << sig) != 0 {
            stop_arrived();
        }
        notify(1u64 << sig);
    }
}

/// The loop's side of the self-pipe.
pub(crate) struct Wakeup {
    reader: std::io::PipeReader,
    writer: Arc<std::io::PipeWriter>,
    previous: Vec<(i32, sys::Disposition)>,
    _active: Option<MutexGuard<'static, ()>>,
}

impl std::fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeup")
            .field("handlers", &!self.previous.is_empty())
            .finish()
    }
}

/// Wakes a running [`Agent`](super::Agent) from another thread: stop it, or
/// make it re-read its sources.
#[derive(Clone, Debug)]
pub struct Waker {
    writer: Arc<std::io::PipeWriter>,
}

impl Waker {
    /// Ask the agent to stop (as `SIGTERM` would).
    pub fn stop(&self) {
        stop_arrived();
        self.send(1u64 << SIGTERM);
    }

    /// Ask the agent to re-read its sources now (as `SIGHUP` would).
    pub fn reread(&self) {
        self.send(1u64 << SIGHUP);
    }

    fn send(&self, bit: u64) {
        if MASK.fetch_or(bit, Ordering::SeqCst) == 0 {
            sys::write_byte(self.writer.as_raw_fd());
        }
    }
}

impl Wakeup {
    /// A new self-pipe (no handlers yet).
    pub(crate) fn new() -> Result<Wakeup> {
        BASE.get_or_init(Instant::now);
        let (reader, writer) =
            std::io::pipe().map_err(|e| Error::io("creating the agent's wake-up pipe", e))?;
        Ok(Wakeup {
            reader,
            writer: Arc::new(writer),
            previous: Vec::new(),
            _active: None,
        })
    }

    /// A handle other threads use to wake the loop.
    pub(crate) fn waker(&self) -> Waker {
        Waker {
            writer: Arc::clone(&self.writer),
        }
    }

    /// Route `SIGTERM`, `SIGINT`, `SIGHUP` and `SIGCHLD` to this pipe until
    /// dropped. Waits while another [`Wakeup`] holds the handlers.
    pub(crate) fn install_signal_handlers(&mut self) -> Result<()> {
        if self._active.is_some() {
            return Ok(());
        }
        self._active = Some(ACTIVE.lock().unwrap_or_else(|e| e.into_inner()));
        MASK.store(0, Ordering::SeqCst);
        WRITE_FD.store(self.writer.as_raw_fd(), Ordering::SeqCst);
        for sig in HANDLED {
            // `on_signal` only does async-signal-safe work.
            let prev = sys::set_handler(sig, on_signal)
                .map_err(|e| Error::io(format!("installing a handler for signal {sig}"), e))?;
            self.previous.push((sig, prev));
        }
        Ok(())
    }

    /// Register the supervised command (`None`: none runs), which a stop
    /// tells `SIGTERM` at once.
    pub(crate) fn set_child(&self, pid: Option<u32>) {
        let pid = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        CHILD_TOLD.store(false, Ordering::SeqCst);
        CHILD.store(pid, Ordering::SeqCst);
    }

    /// Whether a stop already told the command `SIGTERM`.
    pub(crate) fn child_told(&self) -> bool {
        CHILD.load(Ordering::SeqCst) > 0 && CHILD_TOLD.load(Ordering::SeqCst)
    }

    /// When the stop being handled arrived (taken: the next call says
    /// `None` until another one arrives).
    pub(crate) fn stop_requested_at(&self) -> Option<Instant> {
        let ns = STOP_AT.swap(0, Ordering::SeqCst);
        let base = BASE.get()?;
        (ns > 0).then(|| *base + Duration::from_nanos(ns - 1))
    }

    /// Sleep until woken or `timeout` passes (`None`: until woken); return
    /// the signals received since the last call (empty on a timeout). Bit 0
    /// is never returned.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Vec<i32> {
        if MASK.load(Ordering::SeqCst) == 0 {
            let ms: c_int = match timeout {
                None => -1,
                // Round up so a due event is not missed by a millisecond.
                Some(t) => c_int::try_from(t.as_millis().saturating_add(1)).unwrap_or(c_int::MAX),
            };
            // An interruption by a signal simply returns early.
            sys::poll_readable(self.reader.as_fd(), ms);
        }
        let mask = MASK.swap(0, Ordering::SeqCst);
        if mask != 0 {
            // Drain the byte(s) written for this mask; the pipe is only read
            // when poll says so or a byte is known to be there.
            let mut buf = [0u8; 64];
            while sys::poll_readable(self.reader.as_fd(), 0) {
                if self.reader.read(&mut buf).unwrap_or(0) == 0 {
                    break;
                }
            }
        }
        (1..64).filter(|s| mask & (1u64 << s) != 0).collect()
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::SeqCst);
        if self._active.is_some() {
            WRITE_FD.store(-1, Ordering::SeqCst);
            for (sig, prev) in self.previous.drain(..) {
                sys::restore_handler(sig, prev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn waits_for_the_timeout_or_a_wakeup() {
        let mut w = Wakeup::new().unwrap();
        let t = Instant::now();
        assert!(w.wait(Some(Duration::from_millis(50))).is_empty());
        assert!(t.elapsed() >= Duration::from_millis(50));
        let waker = w.waker();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            waker.reread();
        });
        let t = Instant::now();
        assert_eq!(w.wait(Some(Duration::from_secs(10))), vec![1]);
        assert!(t.elapsed() < Duration::from_secs(5));
        h.join().unwrap();
        w.waker().stop();
        assert_eq!(w.wait(None), vec![15]);
        assert!(w.wait(Some(Duration::ZERO)).is_empty());
    }
}
