//! The retry rule of the [HTTP layer](super), pure: after each attempt,
//! [`Retry::next`] says whether to try the next node at once, wait and try
//! again, or stop, from what the attempt came to ([`Seen`]), the rules of
//! the client ([`Rules`]) and the time left before the deadline. No clock,
//! no sleep, no I/O: [`HttpClient::request`](super::HttpClient::request)
//! sends, sleeps and logs; the table in the tests below walks every branch.
//!
//! The rule, as the [module docs](super) tell it: a passing state of a
//! cluster (an election, `503`, `429`, a redirect target that does not
//! answer) is waited out until the deadline; an ordinary failure (`412`,
//! other 5xx but `501`, every node refusing or sealed) is retried at most
//! `max_retries` times; anything else stops. A node that refuses, times
//! out connecting (with several nodes), is sealed or answers `503` is left
//! for the next one, at once when that one was not tried since the last
//! wait. Every wait must fit inside the deadline with room for an attempt.

use std::time::Duration;

use super::{Failure, Verdict, MAX_RETRY_AFTER};

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// An answer from the node or from its redirect target.
    Answer {
        /// The HTTP status.
        status: u16,
        /// What the service's function says of it (`None`: the service is
        /// not clustered).
        verdict: Option<Verdict>,
        /// Its `Retry-After`, in seconds, when it has one.
        retry_after: Option<Duration>,
    },
    /// The node itself could not be reached.
    NodeFailed {
        /// How.
        failure: Failure,
        /// Whether the connection could not even be set up in time.
        connect_timeout: bool,
    },
    /// The node answered 307/308 and its target could not be reached (the
    /// node names a leader that is gone).
    TargetFailed(Failure),
}

/// A client's settings that the rule reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// How many nodes are configured (at least one).
    pub(super) nodes: usize,
    /// Whether the service is clustered ([`super::HttpConfig::transient`]):
    /// only then are passing states waited out.
    pub(super) clustered: bool,
    /// [`super::HttpConfig::max_retries`].
    pub(super) max_retries: u32,
    /// [`super::HttpClient::set_unreachable_final`].
    pub(super) unreachable_final: bool,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    /// Leave the node for the next one (later requests start there too).
    pub(super) move_on: bool,
    /// What follows.
    pub(super) then: Then,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Try the next node now, without a wait.
    Now,
    /// Sleep this long, then try again.
    Wait(Duration),
    /// Return what the attempt came to.
    Stop,
    /// Return it: the wait this long would not fit before the deadline.
    GiveUp(Duration),
}

/// How an answer or failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// Final: return it.
    Stop,
    /// A passing state: retried until the deadline.
    Transient,
    /// An ordinary server error: retried up to `max_retries` times.
    Ordinary,
}

/// The least room left for an attempt after a wait.
const ROOM: Duration = Duration::from_millis(10);

/// One request's retry state: the four counters the rule keeps.
#[derive(Debug, Clone)]
pub(super) struct Retry {
    rules: Rules,
    /// Waits so far.
    retries: u32,
    /// Waits after ordinary failures (bounded by `max_retries`).
    ordinary: u32,
    /// Nodes tried since the last wait: moving on to one of the others
    /// needs no wait.
    tried: usize,
    /// Attempts so far.
    tries: u32,
}

impl Retry {
    /// A request's state before its first attempt.
    pub(super) fn new(rules: Rules) -> Retry {
        Retry {
            rules: Rules {
                nodes: rules.nodes.max(1),
                ..rules
            },
            retries: 0,
            ordinary: 0,
            tried: 0,
            tries: 0,
        }
    }

    /// The waits so far.
    pub(super) fn retries(&self) -> u32 {
        self.retries
    }

    /// The attempts so far (more than one: the request may have been
    /// applied by an earlier one).
    pub(super) fn tries(&self) -> u32 {
        self.tries
    }

    /// What to do after an attempt that came to `seen`, with `left` before
    /// the deadline; `jitter` (in `0..1`) goes into a backoff.
    pub(super) fn next(&mut self, seen: &Seen, left: Duration, jitter: f64) -> Decision {
        let n = self.rules.nodes;
        self.tried += 1;
        self.tries += 1;
        // A node that accepts no connection is left for the next one at
        // once; when every node refuses, the cluster is down rather than
        // electing, and that counts as an ordinary failure.
        let (count, move_on) = match *seen {
            Seen::Answer {
                status, verdict, ..
            } => judge(status, verdict),
            Seen::NodeFailed {
                failure: Failure::Connection,
                ..
            } => (Count::Ordinary, true),
            // A node that cannot be connected to in time (a host that is
            // gone) is left for the next one; alone, it is not retried (the
            // wait spent the time).
            Seen::NodeFailed {
                connect_timeout: true,
                ..
            } if n > 1 => (Count::Ordinary, true),
            Seen::NodeFailed { .. } => (Count::Stop, false),
            Seen::TargetFailed(Failure::Connection | Failure::Timeout) => (Count::Transient, false),
            Seen::TargetFailed(_) => (Count::Stop, false),
        };
        // Only a cluster's passing states are waited out; elsewhere they
        // count as ordinary failures.
        let count = match count {
            Count::Transient if !self.rules.clustered => Count::Ordinary,
            other => other,
        };
        let move_on = move_on && n > 1;
        let decide = |then| Decision { move_on, then };
        // Another node not yet tried: go there at once.
        if move_on && self.tried < n && count != Count::Stop {
            return decide(Then::Now);
        }
        let unreachable = matches!(
            seen,
            Seen::NodeFailed {
                failure: Failure::Connection,
                ..
            }
        );
        let allowed = match count {
            Count::Stop => false,
            Count::Ordinary if unreachable && self.rules.unreachable_final => false,
            Count::Ordinary => self.ordinary < self.rules.max_retries,
            Count::Transient => self.rules.max_retries > 0,
        };
        if !allowed {
            return decide(Then::Stop);
        }
        let wait = match *seen {
            Seen::Answer {
                retry_after: Some(after),
                ..
            } => after.min(MAX_RETRY_AFTER),
            _ => backoff(self.retries + 1, jitter),
        };
        // Every wait fits inside the deadline, with room for an attempt.
        if wait >= left || left - wait < ROOM {
            return decide(Then::GiveUp(wait));
        }
        self.retries += 1;
        if count == Count::Ordinary {
            self.ordinary += 1;
        }
        self.tried = 0;
        decide(Then::Wait(wait))
    }
}

/// Sort an answer: passing, ordinary server error, or final; and whether
/// to move on to the next node. `verdict` is the service's own reading
/// (`None`: not clustered).
fn judge(status: u16, verdict: Option<Verdict>) -> (Count, bool) {
    match verdict {
        Some(Verdict::Passing) => return (Count::Transient, false),
        Some(Verdict::NodeDown) => return (Count::Ordinary, true),
        _ => {}
    }
    match status {
        503 => (Count::Transient, true),
        429 => (Count::Transient, false),
        412 => (Count::Ordinary, false),
        501 => (Count::Stop, false),
        500..=599 => (Count::Ordinary, false),
        _ => (Count::Stop, false),
    }
}

/// The wait before retry number `n` (from 1): `n` times [`BACKOFF_STEP`](super::BACKOFF_STEP),
/// at most [`MAX_BACKOFF`](super::MAX_BACKOFF), plus up to half of that as jitter.
pub(crate) fn backoff(n: u32, jitter: f64) -> Duration {
    let base = (super::BACKOFF_STEP * n.max(1)).min(super::MAX_BACKOFF);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    base + base.mul_f64(jitter / 2.0)
}

/// Parse a `Retry-After` value given in seconds. HTTP dates are not
/// understood (`None`: the caller falls back to its backoff).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn answer(status: u16) -> Seen {
        Seen::Answer {
            status,
            verdict: Some(Verdict::Generic),
            retry_after: None,
        }
    }

    fn refused() -> Seen {
        Seen::NodeFailed {
            failure: Failure::Connection,
            connect_timeout: false,
        }
    }

    #[test]
    fn sorts_answers() {
        for s in [412, 500, 502, 504, 599] {
            assert_eq!(
                judge(s, Some(Verdict::Generic)),
                (Count::Ordinary, false),
                "{s}"
            );
        }
        for s in [200, 204, 307, 400, 401, 403, 404, 405, 409, 501] {
            assert_eq!(
                judge(s, Some(Verdict::Generic)),
                (Count::Stop, false),
                "{s}"
            );
        }
        assert_eq!(judge(503, None), (Count::Transient, true));
        assert_eq!(judge(503, Some(Verdict::NodeDown)), (Count::Ordinary, true));
        assert_eq!(judge(429, None), (Count::Transient, false));
        assert_eq!(
            judge(500, Some(Verdict::Passing)),
            (Count::Transient, false)
        );
    }

    /// One row: a client's rules, then each attempt's result with the time
    /// left and the decision expected after it, from a fresh request.
    struct Row {
        what: &'static str,
        rules: Rules,
        steps: Vec<(Seen, Duration, Decision)>,
    }

    fn rules(nodes: usize, clustered: bool, max_retries: u32) -> Rules {
        Rules {
            nodes,
            clustered,
            max_retries,
            unreachable_final: false,
        }
    }

    fn d(move_on: bool, then: Then) -> Decision {
        Decision { move_on, then }
    }

    #[test]
    fn every_branch_of_the_rule() {
        // Jitter 0: the n-th backoff is n x 250 ms, at most 1 s.
        let long = Duration::from_secs(30);
        let b = |n: u32| Then::Wait(backoff(n, 0.0));
        let rows = vec![
            Row {
                what: "a success stops at once",
                rules: rules(1, true, 2),
                steps: vec![(answer(200), long, d(false, Then::Stop))],
            },
            Row {
                what: "ordinary failures: max_retries waits, then the answer",
                rules: rules(1, true, 2),
                steps: vec![
                    (answer(502), long, d(false, b(1))),
                    (answer(500), long, d(false, b(2))),
                    (answer(500), long, d(false, Then::Stop)),
                ],
            },
            Row {
                what: "a passing state is waited out past max_retries",
                rules: rules(1, true, 1),
                steps: vec![
                    (answer(429), long, d(false, b(1))),
                    (answer(429), long, d(false, b(2))),
                    (answer(429), long, d(false, b(3))),
                    (answer(429), long, d(false, b(4))),
                    (answer(429), long, d(false, b(5))),
                ],
            },
            Row {
                what: "without a cluster a passing state is ordinary",
                rules: rules(1, false, 1),
                steps: vec![
                    (answer(429), long, d(false, b(1))),
                    (answer(429), long, d(false, Then::Stop)),
                ],
            },
            Row {
                what: "max_retries 0: no wait at all, not even for a passing state",
                rules: rules(1, true, 0),
                steps: vec![(answer(503), long, d(false, Then::Stop))],
            },
            Row {
                what: "Retry-After replaces the backoff, capped",
                rules: rules(1, true, 2),
                steps: vec![
                    (
                        Seen::Answer {
                            status: 503,
                            verdict: None,
                            retry_after: Some(Duration::from_secs(2)),
                        },
                        long,
                        d(false, Then::Wait(Duration::from_secs(2))),
                    ),
                    (
                        Seen::Answer {
                            status: 429,
                            verdict: None,
                            retry_after: Some(Duration::from_secs(3600)),
                        },
                        Duration::from_secs(3600),
                        d(false, Then::Wait(MAX_RETRY_AFTER)),
                    ),
                ],
            },
            Row {
                what: "a wait that does not fit the deadline gives up",
                rules: rules(1, true, 2),
                steps: vec![(answer(502), 200 * MS, d(false, Then::GiveUp(250 * MS)))],
            },
            Row {
                what: "a wait must leave room for an attempt",
                rules: rules(1, true, 2),
                steps: vec![(answer(502), 255 * MS, d(false, Then::GiveUp(250 * MS)))],
            },
            Row {
                what: "refusing nodes are left at once, then the cluster counts as down",
                rules: rules(3, true, 1),
                steps: vec![
                    (refused(), long, d(true, Then::Now)),
                    (refused(), long, d(true, Then::Now)),
                    (refused(), long, d(true, b(1))),
                    (refused(), long, d(true, Then::Now)),
                    (refused(), long, d(true, Then::Now)),
                    (refused(), long, d(true, Then::Stop)),
                ],
            },
            Row {
                what: "a sealed node moves on; a 503 moves on and is passing",
                rules: rules(2, true, 1),
                steps: vec![
                    (
                        Seen::Answer {
                            status: 503,
                            verdict: Some(Verdict::NodeDown),
                            retry_after: None,
                        },
                        long,
                        d(true, Then::Now),
                    ),
                    (answer(503), long, d(true, b(1))),
                    (answer(503), long, d(true, Then::Now)),
                    (answer(503), long, d(true, b(2))),
                ],
            },
            Row {
                what: "one node: moving on is moot, a refusal is ordinary",
                rules: rules(1, true, 1),
                steps: vec![
                    (refused(), long, d(false, b(1))),
                    (refused(), long, d(false, Then::Stop)),
                ],
            },
            Row {
                what: "unreachable is final when asked: each node once, no wait",
                rules: Rules {
                    unreachable_final: true,
                    ..rules(2, true, 2)
                },
                steps: vec![
                    (refused(), long, d(true, Then::Now)),
                    (refused(), long, d(true, Then::Stop)),
                ],
            },
            Row {
                what: "unreachable-final leaves other failures to the usual rule",
                rules: Rules {
                    unreachable_final: true,
                    ..rules(1, true, 2)
                },
                steps: vec![(answer(502), long, d(false, b(1)))],
            },
            Row {
                what: "a connect timeout moves on with several nodes, stops alone",
                rules: rules(2, true, 1),
                steps: vec![(
                    Seen::NodeFailed {
                        failure: Failure::Timeout,
                        connect_timeout: true,
                    },
                    long,
                    d(true, Then::Now),
                )],
            },
            Row {
                what: "a timeout alone is never retried",
                rules: rules(1, true, 2),
                steps: vec![(
                    Seen::NodeFailed {
                        failure: Failure::Timeout,
                        connect_timeout: true,
                    },
                    long,
                    d(false, Then::Stop),
                )],
            },
            Row {
                what: "TLS failures are never retried",
                rules: rules(2, true, 2),
                steps: vec![(
                    Seen::NodeFailed {
                        failure: Failure::Tls,
                        connect_timeout: false,
                    },
                    long,
                    d(false, Then::Stop),
                )],
            },
            Row {
                what: "a redirect target that does not answer is passing, on the same node",
                rules: rules(2, true, 1),
                steps: vec![
                    (
                        Seen::TargetFailed(Failure::Connection),
                        long,
                        d(false, b(1)),
                    ),
                    (Seen::TargetFailed(Failure::Timeout), long, d(false, b(2))),
                    (Seen::TargetFailed(Failure::Tls), long, d(false, Then::Stop)),
                ],
            },
            Row {
                what: "an election answer is passing",
                rules: rules(1, true, 1),
                steps: vec![
                    (
                        Seen::Answer {
                            status: 500,
                            verdict: Some(Verdict::Passing),
                            retry_after: None,
                        },
                        long,
                        d(false, b(1)),
                    ),
                    (
                        Seen::Answer {
                            status: 500,
                            verdict: Some(Verdict::Passing),
                            retry_after: None,
                        },
                        long,
                        d(false, b(2)),
                    ),
                ],
            },
        ];
        for row in rows {
            let mut r = Retry::new(row.rules);
            for (i, (seen, left, want)) in row.steps.iter().enumerate() {
                let got = r.next(seen, *left, 0.0);
                assert_eq!(got, *want, "{}: attempt {}", row.what, i + 1);
            }
            assert_eq!(r.tries() as usize, row.steps.len(), "{}", row.what);
            let waits = row
                .steps
                .iter()
                .filter(|s| matches!(s.2.then, Then::Wait(_)))
                .count();
            assert_eq!(r.retries() as usize, waits, "{}", row.what);
        }
    }
}
