//! The threads that forward: a connection thread reads a request and
//! writes its answer, and hands the call to Vault or to a peer to one of a
//! few forwarding threads, waiting for its reply.
//!
//! Why: a call through the HTTP client touches a deep stack (about 40 KiB
//! of each thread's stack stays resident for the thread's life) and keeps
//! a connection with its buffers; 200 open connections each calling
//! Vault would hold 200 of both. With the calls in a pool, they exist once
//! per forwarding thread (at most `limit`, started only when all are busy),
//! and a connection thread costs a few KiB. Requests beyond `limit` wait
//! their turn (their connections stay open, within `max_connections`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::util::lock;

/// One unit of work.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Stack of a forwarding thread: the forward path (ureq, rustls) needs
/// well under this; the pages a thread never touches cost no memory.
const STACK: usize = 256 * 1024;

/// A lazily grown, bounded set of threads taking [`Job`]s in turn. The
/// threads end when the pool is dropped.
pub(crate) struct Pool {
    name: &'static str,
    limit: usize,
    jobs: SyncSender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
    /// Threads started.
    started: AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .field("started", &self.started.load(Ordering::Relaxed))
            .finish()
    }
}

impl Pool {
    /// A pool of at most `limit` (at least 1) threads named `name`.
    pub(crate) fn new(name: &'static str, limit: usize) -> Pool {
        // A rendezvous channel: a job is handed over only to a thread
        // that takes it.
        let (jobs, queue) = sync_channel(0);
        Pool {
            name,
            limit: limit.max(1),
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            started: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on a thread of the pool and returns its result; waits
    /// while every thread is busy. `None` when no thread could run it.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        // Taken at once by a thread waiting for work, or else by a new
        // thread (below the limit) or the first one to be free.
        let job = match self.jobs.try_send(job) {
            Ok(()) => None,
            Err(TrySendError::Full(job)) => Some(job),
            Err(TrySendError::Disconnected(_)) => return None,
        };
        if let Some(job) = job {
            self.grow();
            if self.started.load(Ordering::Acquire) == 0 {
                // Not even one thread could be started: nobody would take it.
                return None;
            }
            self.jobs.send(job).ok()?;
        }
        rx.recv().ok()
    }

    /// Starts one more thread, unless `limit` are running.
    fn grow(&self) {
        let n = self.started.fetch_add(1, Ordering::AcqRel);
        if n >= self.limit {
            self.started.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let queue = self.queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("vaultid-{}", self.name))
            .stack_size(STACK)
            .spawn(move || loop {
                let job = lock(&queue).recv();
                match job {
                    Ok(job) => job(),
                    // The pool is gone.
                    Err(_) => break,
                }
            });
        if spawned.is_err() {
            self.started.fetch_sub(1, Ordering::AcqRel);
            log::warn!("gateway: could not start a {} thread", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_jobs_on_at_most_limit_threads() {
        let pool = Arc::new(Pool::new("test", 3));
        let busy = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..12)
            .map(|i| {
                let (pool, busy, most) = (pool.clone(), busy.clone(), most.clone());
                std::thread::spawn(move || {
                    pool.run(move || {
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        busy.fetch_sub(1, Ordering::SeqCst);
                        i * 2
                    })
                })
            })
            .collect();
        let mut got: Vec<usize> = callers
            .into_iter()
            .map(|c| c.join().unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..12).map(|i| i * 2).collect::<Vec<_>>());
        // In parallel (each job sleeps while the others run), never more
        // than the limit.
        let most = most.load(Ordering::SeqCst);
        assert!((2..=3).contains(&most), "{most} at once");
        assert!(pool.started.load(Ordering::SeqCst) <= 3);
    }
}
