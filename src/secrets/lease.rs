//! Dynamic secrets kept alive: a background thread that renews a lease,
//! fetches new credentials when the lease cannot be extended any more, and
//! revokes what it holds on shutdown.
//!
//! A dynamic secret (`database/creds/<role>`, `aws/creds/<role>`, ...) comes
//! with a lease: an id, a duration, and whether it can be renewed. A
//! [`LeaseWatcher`] reads one, then in a std thread:
//!
//! - **renews** it at about two thirds of its duration (minus 10–20 %
//!   random jitter, so many replicas do not renew in lockstep) through
//!   `sys/leases/renew`, asking for the lease's original duration again;
//! - **rotates** when renewal stops extending the lease: Vault granted less
//!   than was asked (the role's max TTL is near) or the lease is not
//!   renewable. It then schedules a fresh read of the path at two thirds of
//!   what is left, and sends [`LeaseEvent::Rotated`] with the new
//!   credentials. The old lease is left to run out on its own (whoever
//!   still uses the old credentials keeps working until then) and is
//!   revoked on shutdown if still alive;
//! - **rides out outages** (offline grace): when Vault cannot be reached (or
//!   is sealed, refusing, failing with 5xx), the current credentials stay
//!   in use until their lease runs out, and the watcher retries with
//!   exponential backoff capped at [`LeasePolicy::backoff_max`] and at the
//!   time left on the lease, sending [`LeaseEvent::Retrying`]. When the
//!   lease runs out meanwhile it sends [`LeaseEvent::Expired`] and keeps
//!   trying to read new credentials;
//! - **revokes** the current lease and any older lease still alive when
//!   stopped ([`LeaseWatcher::stop`] or drop), unless
//!   [`LeasePolicy::revoke_on_stop`] is off.
//!
//! Events arrive on a [`std::sync::mpsc`] channel ([`LeaseWatcher::events`]);
//! [`LeaseWatcher::current`] always returns the newest credentials.
//!
//! The Vault calls go through the [`LeaseBackend`] trait, implemented for
//! [`Client`]; tests drive the watcher with a scripted backend.

use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::{Error, Result, Service};
use crate::util::lock;
use crate::vault::Client;

/// A secret read from a path that returned a lease.
///
/// `Debug` shows the field names, never their values; string values are
/// overwritten with zeros when it is dropped.
#[derive(Clone)]
#[non_exhaustive]
pub struct DynamicSecret {
    /// The logical path it was read from (`database/creds/app`).
    pub path: String,
    /// The lease id (not a secret: revoking needs a token).
    pub lease_id: String,
    /// How long the lease lasts from `obtained_at`.
    pub lease_duration: Duration,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// The secret's fields (`username`, `password`, ...).
    pub data: Map<String, Value>,
    /// When it was read (or its lease last renewed).
    pub obtained_at: Instant,
}

impl Drop for DynamicSecret {
    fn drop(&mut self) {
        self.data
            .values_mut()
            .for_each(crate::secret_string::zeroize_json);
    }
}

impl fmt::Debug for DynamicSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicSecret")
            .field("path", &self.path)
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl DynamicSecret {
    /// When the lease runs out, as last known.
    pub fn expires_at(&self) -> Instant {
        // A lease duration from the server may not fit an Instant: treat it
        // as a century.
        self.obtained_at
            .checked_add(self.lease_duration)
            .unwrap_or_else(|| self.obtained_at + Duration::from_secs(100 * 365 * 86400))
    }

    /// Parse Vault's answer to a read of `path`. [`Error::NotDynamic`] when
    /// it carries no lease.
    pub(crate) fn from_response(path: &str, answer: &Value) -> Result<DynamicSecret> {
        let lease_id = answer
            .get("lease_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if lease_id.is_empty() {
            return Err(Error::NotDynamic {
                path: path.to_string(),
            });
        }
        Ok(DynamicSecret {
            path: path.to_string(),
            lease_id: lease_id.to_string(),
            lease_duration: Duration::from_secs(
                answer
                    .get("lease_duration")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            ),
            renewable: answer
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            data: answer
                .get("data")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            obtained_at: Instant::now(),
        })
    }
}

/// The three Vault operations a watcher needs.
pub trait LeaseBackend: Send + Sync + 'static {
    /// Read `path` and return the leased secret.
    fn fetch(&self, path: &str) -> Result<DynamicSecret>;
    /// Renew `lease_id` by `increment`; return the duration Vault granted.
    fn renew(&self, lease_id: &str, increment: Duration) -> Result<Duration>;
    /// Revoke `lease_id`.
    fn revoke(&self, lease_id: &str) -> Result<()>;
}

impl LeaseBackend for Client {
    fn fetch(&self, path: &str) -> Result<DynamicSecret> {
        let answer = self.read(path)?.ok_or_else(|| Error::NotFound {
            service: Service::Vault,
            method: "GET",
            path: path.to_string(),
        })?;
        DynamicSecret::from_response(path, &answer)
    }

    fn renew(&self, lease_id: &str, increment: Duration) -> Result<Duration> {
        Ok(self.renew_lease(lease_id, Some(increment))?.ttl())
    }

    fn revoke(&self, lease_id: &str) -> Result<()> {
        self.revoke_lease(lease_id)
    }
}

/// When and how the watcher acts. Start from `LeasePolicy::default()`
/// and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LeasePolicy {
    /// Renew after this fraction of the lease's duration (default 2/3),
    /// before jitter.
    pub renew_fraction: f64,
    /// Jitter: the wait is shortened by a random fraction between these two
    /// (default 0.10 and 0.20).
    pub jitter: (f64, f64),
    /// What to ask for at each renewal; `None` (default) asks for the
    /// lease's original duration.
    pub increment: Option<Duration>,
    /// First wait after a failed call (default 500 ms); doubles each time.
    pub backoff_initial: Duration,
    /// Longest wait between retries (default 30 s).
    pub backoff_max: Duration,
    /// Revoke the leases on stop (default true).
    pub revoke_on_stop: bool,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy {
            renew_fraction: 2.0 / 3.0,
            jitter: (0.10, 0.20),
            increment: None,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            revoke_on_stop: true,
        }
    }
}

impl LeasePolicy {
    /// The wait before acting on a lease that lasts `d`: `d` times
    /// `renew_fraction`, less the jitter.
    pub(crate) fn wait_for(&self, d: Duration) -> Duration {
        let (lo, hi) = self.jitter;
        let j = lo + (hi - lo).max(0.0) * crate::util::random::jitter();
        d.mul_f64((self.renew_fraction * (1.0 - j)).clamp(0.0, 1.0))
    }
}

/// What happened to the lease.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LeaseEvent {
    /// The lease was renewed and now lasts `ttl`.
    Renewed {
        /// The lease.
        lease_id: String,
        /// The duration granted.
        ttl: Duration,
    },
    /// Renewal no longer extends the lease (max TTL reached or not
    /// renewable): new credentials will be read in `rotate_in`.
    Capped {
        /// The lease.
        lease_id: String,
        /// What is left of it.
        ttl: Duration,
        /// When new credentials will be read.
        rotate_in: Duration,
    },
    /// New credentials: from now on [`LeaseWatcher::current`] returns them.
    Rotated {
        /// The lease that was replaced (left to run out, revoked on stop).
        old_lease_id: String,
        /// The new credentials.
        secret: DynamicSecret,
    },
    /// A call to Vault failed; the current credentials stay in use and the
    /// call is retried in `retry_in`.
    Retrying {
        /// What failed (never holds a secret).
        error: String,
        /// When it is tried again.
        retry_in: Duration,
    },
    /// The current lease ran out before it could be renewed or replaced;
    /// its credentials no longer work. New ones are being fetched.
    Expired {
        /// The lease.
        lease_id: String,
    },
}

/// Revokes a lease by id (the backend, with its type erased).
type Revoker = Box<dyn Fn(&str) -> Result<()> + Send + Sync>;

/// The renewer: keeps a dynamic secret's lease alive in a background
/// thread, renewing before it expires and fetching a new secret when the
/// lease cannot be renewed (see [`LeasePolicy`] and [`LeaseEvent`]).
pub struct LeaseWatcher {
    current: Arc<Mutex<DynamicSecret>>,
    events: Receiver<LeaseEvent>,
    stop_tx: Option<Sender<()>>,
    thread: Option<JoinHandle<Vec<(String, Instant)>>>,
    revoke: Option<Revoker>,
}

impl fmt::Debug for LeaseWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseWatcher")
            .field("current", &self.current())
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl LeaseWatcher {
    /// Read `path` (it must return a lease) and start renewing it.
    pub fn start<B: LeaseBackend>(
        backend: Arc<B>,
        path: &str,
        policy: LeasePolicy,
    ) -> Result<LeaseWatcher> {
        let first = backend.fetch(path)?;
        Ok(LeaseWatcher::watch(backend, first, policy))
    }

    /// Start renewing an already-read secret.
    pub fn watch<B: LeaseBackend>(
        backend: Arc<B>,
        secret: DynamicSecret,
        policy: LeasePolicy,
    ) -> LeaseWatcher {
        let current = Arc::new(Mutex::new(secret));
        let (ev_tx, ev_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        let revoke_on_stop = policy.revoke_on_stop;
        let runner = Runner {
            backend: Arc::clone(&backend),
            policy,
            current: Arc::clone(&current),
            events: ev_tx,
            stop: stop_rx,
            retired: Vec::new(),
            asked: Duration::ZERO,
        };
        let thread = std::thread::Builder::new()
            .name("vaultid-lease".into())
            .spawn(move || runner.run())
            .ok();
        if thread.is_none() {
            log::warn!("could not start the lease renewal thread; the lease will not be renewed");
        }
        let revoke: Option<Revoker> = if revoke_on_stop {
            Some(Box::new(move |id: &str| backend.revoke(id)))
        } else {
            None
        };
        LeaseWatcher {
            current,
            events: ev_rx,
            stop_tx: Some(stop_tx),
            thread,
            revoke,
        }
    }

    /// The newest credentials.
    pub fn current(&self) -> DynamicSecret {
        lock(&self.current).clone()
    }

    /// The events channel.
    pub fn events(&self) -> &Receiver<LeaseEvent> {
        &self.events
    }

    /// Stop renewing and revoke every lease still alive (unless the policy
    /// says not to); leases that already ran out are skipped. Waits for a
    /// Vault call in flight to finish (bounded by the client's timeout).
    /// Returns the first revocation error; the others are logged.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(tx) = self.stop_tx.take() else {
            return Ok(());
        };
        let _ = tx.send(());
        let mut leases = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(retired)) => retired,
            _ => Vec::new(),
        };
        let cur = self.current();
        leases.push((cur.lease_id.clone(), cur.expires_at()));
        let Some(revoke) = self.revoke.as_ref() else {
            return Ok(());
        };
        let now = Instant::now();
        let mut first_err = None;
        for (id, expires) in leases {
            if expires <= now {
                continue;
            }
            match revoke(&id) {
                Ok(()) => log::info!("revoked lease {id}"),
                Err(e) => {
                    log::warn!("could not revoke lease {id}: {e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for LeaseWatcher {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

enum Next {
    Renew,
    Rotate,
}

struct Runner<B: LeaseBackend> {
    backend: Arc<B>,
    policy: LeasePolicy,
    current: Arc<Mutex<DynamicSecret>>,
    events: Sender<LeaseEvent>,
    stop: Receiver<()>,
    /// Replaced leases and when they run out, for revocation on stop.
    retired: Vec<(String, Instant)>,
    /// What each renewal asks for: the current lease's first duration.
    asked: Duration,
}

impl<B: LeaseBackend> Runner<B> {
    fn emit(&self, e: LeaseEvent) {
        let _ = self.events.send(e);
    }

    /// Sleep `d` unless told to stop; `false` means stop.
    fn sleep(&self, d: Duration) -> bool {
        matches!(self.stop.recv_timeout(d), Err(RecvTimeoutError::Timeout))
    }

    fn run(mut self) -> Vec<(String, Instant)> {
        let first = lock(&self.current).clone();
        self.asked = self.policy.increment.unwrap_or(first.lease_duration);
        let (mut next, mut wait) = self.plan(first.renewable, first.lease_duration);
        let mut backoff = self.policy.backoff_initial;
        let mut expired_reported = false;
        loop {
            if !self.sleep(wait) {
                break;
            }
            let cur = lock(&self.current).clone();
            let outcome = match next {
                Next::Renew => self.renew(&cur),
                Next::Rotate => self.rotate(&cur),
            };
            match outcome {
                Ok((n, w)) => {
                    next = n;
                    wait = w;
                    backoff = self.policy.backoff_initial;
                    expired_reported = false;
                }
                Err((n, e)) => {
                    let now = Instant::now();
                    let left = cur.expires_at().saturating_duration_since(now);
                    if left.is_zero() && !expired_reported {
                        expired_reported = true;
                        log::warn!(
                            "lease {} ran out while Vault could not be used",
                            cur.lease_id
                        );
                        self.emit(LeaseEvent::Expired {
                            lease_id: cur.lease_id.clone(),
                        });
                    }
                    // Once the lease is gone only new credentials help.
                    next = if left.is_zero() { Next::Rotate } else { n };
                    wait = if left.is_zero() {
                        backoff
                    } else {
                        backoff.min(left.max(Duration::from_millis(100)))
                    };
                    log::warn!(
                        "{}: {e}; keeping the current credentials, retrying in {:.1}s",
                        cur.path,
                        wait.as_secs_f64()
                    );
                    self.emit(LeaseEvent::Retrying {
                        error: e.to_string(),
                        retry_in: wait,
                    });
                    backoff = (backoff * 2).min(self.policy.backoff_max);
                }
            }
        }
        self.retired
    }

    /// What to do next for a lease that lasts `ttl` from now: renew while
    /// renewal gives what is asked, else read new credentials.
    fn plan(&self, renewable: bool, ttl: Duration) -> (Next, Duration) {
        let next = if !renewable || ttl < self.asked || ttl.is_zero() {
            Next::Rotate
        } else {
            Next::Renew
        };
        (next, self.policy.wait_for(ttl))
    }

    fn renew(
        &mut self,
        cur: &DynamicSecret,
    ) -> std::result::Result<(Next, Duration), (Next, Error)> {
        match self.backend.renew(&cur.lease_id, self.asked) {
            Ok(granted) => {
                {
                    let mut c = lock(&self.current);
                    if c.lease_id == cur.lease_id {
                        c.obtained_at = Instant::now();
                        c.lease_duration = granted;
                    }
                }
                let (next, wait) = self.plan(cur.renewable, granted);
                match next {
                    Next::Renew => {
                        log::debug!("renewed lease {} for {}s", cur.lease_id, granted.as_secs());
                        self.emit(LeaseEvent::Renewed {
                            lease_id: cur.lease_id.clone(),
                            ttl: granted,
                        });
                    }
                    Next::Rotate => {
                        log::info!(
                            "lease {} reached its maximum ({}s left); new credentials in {:.1}s",
                            cur.lease_id,
                            granted.as_secs(),
                            wait.as_secs_f64()
                        );
                        self.emit(LeaseEvent::Capped {
                            lease_id: cur.lease_id.clone(),
                            ttl: granted,
                            rotate_in: wait,
                        });
                    }
                }
                Ok((next, wait))
            }
            Err(e) if e.is_unavailable() => Err((Next::Renew, e)),
            Err(e) => {
                // The lease is gone or cannot be renewed (revoked elsewhere,
                // unknown): read new credentials now.
                log::warn!(
                    "renewing lease {} failed: {e}; reading new credentials",
                    cur.lease_id
                );
                self.rotate(cur)
            }
        }
    }

    fn rotate(
        &mut self,
        cur: &DynamicSecret,
    ) -> std::result::Result<(Next, Duration), (Next, Error)> {
        match self.backend.fetch(&cur.path) {
            Ok(new) => {
                let old_id = cur.lease_id.clone();
                self.retired.push((old_id.clone(), cur.expires_at()));
                let now = Instant::now();
                self.retired.retain(|(_, exp)| *exp > now);
                *lock(&self.current) = new.clone();
                log::info!(
                    "new credentials from {} (lease {}, {}s); the running consumers of the old ones keep them until lease {} runs out",
                    new.path,
                    new.lease_id,
                    new.lease_duration.as_secs(),
                    old_id
                );
                self.asked = self.policy.increment.unwrap_or(new.lease_duration);
                let plan = self.plan(new.renewable, new.lease_duration);
                self.emit(LeaseEvent::Rotated {
                    old_lease_id: old_id,
                    secret: new,
                });
                Ok(plan)
            }
            Err(e) => Err((Next::Rotate, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_lease_duration_does_not_overflow() {
        let s = DynamicSecret::from_response(
            "database/creds/x",
            &serde_json::json!({"lease_id": "database/creds/x/1", "lease_duration": u64::MAX, "renewable": true, "data": {}}),
        )
        .unwrap();
        assert!(s.expires_at() > Instant::now());
    }

    /// A backend whose leases last `ttl` and end for good `max` after
    /// they were read; `offline` makes every call fail as unreachable.
    struct Fake {
        ttl: Duration,
        max: Duration,
        offline: std::sync::atomic::AtomicBool,
        state: Mutex<FakeState>,
    }

    #[derive(Default)]
    struct FakeState {
        issued: Vec<(String, Instant)>,
        renewals: u32,
        revoked: Vec<String>,
    }

    impl Fake {
        fn new(ttl_ms: u64, max_ms: u64) -> Fake {
            Fake {
                ttl: Duration::from_millis(ttl_ms),
                max: Duration::from_millis(max_ms),
                offline: Default::default(),
                state: Default::default(),
            }
        }

        fn down(&self) -> Result<()> {
            if self.offline.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::Unreachable {
                    service: Service::Vault,
                    method: "PUT",
                    path: "sys/leases/renew".into(),
                    kind: crate::TransportKind::Connection,
                    detail: "connection refused".into(),
                });
            }
            Ok(())
        }
    }

    impl LeaseBackend for Fake {
        fn fetch(&self, path: &str) -> Result<DynamicSecret> {
            self.down()?;
            let mut st = lock(&self.state);
            let id = format!("{path}/lease-{}", st.issued.len() + 1);
            st.issued.push((id.clone(), Instant::now()));
            let mut data = Map::new();
            data.insert(
                "username".into(),
                Value::String(format!("user{}", st.issued.len())),
            );
            Ok(DynamicSecret {
                path: path.into(),
                lease_id: id,
                lease_duration: self.ttl,
                renewable: true,
                data,
                obtained_at: Instant::now(),
            })
        }

        fn renew(&self, lease_id: &str, increment: Duration) -> Result<Duration> {
            self.down()?;
            let mut st = lock(&self.state);
            st.renewals += 1;
            let (_, at) = st
                .issued
                .iter()
                .find(|(i, _)| i == lease_id)
                .cloned()
                .unwrap();
            let left = (at + self.max).saturating_duration_since(Instant::now());
            // Whole "seconds" of 100 ms, like Vault's whole seconds.
            let left = Duration::from_millis(left.as_millis() as u64 / 100 * 100);
            Ok(increment.min(left))
        }

        fn revoke(&self, lease_id: &str) -> Result<()> {
            self.down()?;
            lock(&self.state).revoked.push(lease_id.to_string());
            Ok(())
        }
    }

    fn policy() -> LeasePolicy {
        LeasePolicy {
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            ..LeasePolicy::default()
        }
    }

    #[test]
    fn parses_leased_answers() {
        let a = serde_json::json!({
            "lease_id": "database/creds/app/abc",
            "lease_duration": 300,
            "renewable": true,
            "data": {"username": "u", "password": "p"}
        });
        let s = DynamicSecret::from_response("database/creds/app", &a).unwrap();
        assert_eq!(s.lease_duration, Duration::from_secs(300));
        assert!(s.renewable);
        assert_eq!(s.data["username"], "u");
        let dbg = format!("{s:?}");
        assert!(dbg.contains("password") && !dbg.contains("\"p\""), "{dbg}");
        let kv = serde_json::json!({"lease_id": "", "data": {"k": "v"}});
        let e = DynamicSecret::from_response("secret/data/x", &kv).unwrap_err();
        assert!(e.to_string().contains("no lease"), "{e}");
    }

    #[test]
    fn wait_is_two_thirds_less_jitter() {
        let p = LeasePolicy::default();
        for _ in 0..200 {
            let w = p.wait_for(Duration::from_secs(300)).as_secs_f64();
            assert!((159.9..=180.1).contains(&w), "{w}");
        }
    }

    #[test]
    fn renews_then_rotates_at_max_ttl_then_revokes() {
        let b = Arc::new(Fake::new(600, 2000));
        let w = LeaseWatcher::start(Arc::clone(&b), "database/creds/app", policy()).unwrap();
        let first = w.current();
        let (mut renewed, mut capped) = (0, 0);
        let rotated = loop {
            match w
                .events()
                .recv_timeout(Duration::from_secs(5))
                .expect("an event")
            {
                LeaseEvent::Renewed { .. } => renewed += 1,
                LeaseEvent::Capped { .. } => capped += 1,
                LeaseEvent::Rotated {
                    old_lease_id,
                    secret,
                } => {
                    assert_eq!(old_lease_id, first.lease_id);
                    break secret;
                }
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(renewed >= 2, "{renewed}");
        assert_eq!(capped, 1);
        assert_ne!(rotated.lease_id, first.lease_id);
        assert_eq!(w.current().lease_id, rotated.lease_id);
        assert_eq!(w.current().data["username"], "user2");
        w.stop().unwrap();
        let st = lock(&b.state);
        assert!(st.revoked.contains(&rotated.lease_id), "{:?}", st.revoked);
        // The first lease had time left at the rotation: revoked too.
        assert!(st.revoked.contains(&first.lease_id), "{:?}", st.revoked);
    }

    #[test]
    fn offline_keeps_credentials_until_the_lease_runs_out() {
        let b = Arc::new(Fake::new(600, 60_000));
        let w = LeaseWatcher::start(Arc::clone(&b), "database/creds/app", policy()).unwrap();
        let first = w.current();
        b.offline.store(true, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        let mut retries = 0;
        loop {
            match w
                .events()
                .recv_timeout(Duration::from_secs(5))
                .expect("an event")
            {
                LeaseEvent::Retrying { error, .. } => {
                    assert!(error.contains("unreachable"), "{error}");
                    assert_eq!(w.current().lease_id, first.lease_id);
                    retries += 1;
                }
                LeaseEvent::Expired { lease_id } => {
                    assert_eq!(lease_id, first.lease_id);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(retries >= 2, "{retries}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // Vault is back: new credentials arrive.
        b.offline.store(false, std::sync::atomic::Ordering::SeqCst);
        let new = loop {
            match w
                .events()
                .recv_timeout(Duration::from_secs(5))
                .expect("an event")
            {
                LeaseEvent::Rotated { secret, .. } => break secret,
                LeaseEvent::Retrying { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_ne!(new.lease_id, first.lease_id);
        w.stop().unwrap();
        // The expired first lease is not revoked (it is gone already).
        assert_eq!(lock(&b.state).revoked, vec![new.lease_id.clone()]);
    }
}
