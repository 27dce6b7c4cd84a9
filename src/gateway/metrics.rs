//! `/metrics`: the gateway's counters and the agent's state in the
//! Prometheus text exposition format (version 0.0.4): `# HELP` and
//! `# TYPE` lines, then one `name{label="value"} number` line a series;
//! label values escape `\`, `"` and newlines.
//!
//! Counters live in [`Metrics`] (atomics and one small map, shared by the
//! connection threads); the agent's side (token, sources) is read from the
//! status document the agent publishes after every pass, so `/metrics` and
//! `vaultid agent status` never disagree.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::util::lock;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// What the gateway counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (route, status) -> requests answered.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// route -> latency.
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    /// Connections open now.
    pub(crate) open: AtomicUsize,
    /// Connections turned away because `max_connections` were open.
    pub(crate) refused: AtomicU64,
}

impl Metrics {
    /// Count one answered request.
    pub(crate) fn record(&self, route: &'static str, status: u16, took: Duration) {
        *lock(&self.requests).entry((route, status)).or_insert(0) += 1;
        let secs = took.as_secs_f64();
        let mut latency = lock(&self.latency);
        let h = latency.entry(route).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// How many requests to `route` were answered with `status`.
    #[cfg(test)]
    pub(crate) fn count(&self, route: &'static str, status: u16) -> u64 {
        lock(&self.requests)
            .get(&(route, status))
            .copied()
            .unwrap_or(0)
    }

    /// The exposition text: the gateway's counters, the agent's `status`
    /// document, and the process (`rss_bytes`, `open_fds` when known).
    pub(crate) fn render(&self, status: &Value, process: Process) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "vaultid_gateway_requests_total",
            "counter",
            "Requests answered by the gateway, by route and status code.",
        );
        for ((route, code), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "vaultid_gateway_requests_total{{route=\"{route}\",code=\"{code}\"}} {n}"
            );
        }
        header(
            &mut out,
            "vaultid_gateway_request_duration_seconds",
            "histogram",
            "Time from a complete request to the end of its answer.",
        );
        for (route, h) in lock(&self.latency).iter() {
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "vaultid_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "vaultid_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(
                out,
                "vaultid_gateway_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "vaultid_gateway_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        header(
            &mut out,
            "vaultid_gateway_connections_open",
            "gauge",
            "Connections open now.",
        );
        let _ = writeln!(
            out,
            "vaultid_gateway_connections_open {}",
            self.open.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "vaultid_gateway_connections_refused_total",
            "counter",
            "Connections turned away at max_connections.",
        );
        let _ = writeln!(
            out,
            "vaultid_gateway_connections_refused_total {}",
            self.refused.load(Ordering::Relaxed)
        );
        agent_series(&mut out, status);
        if let Some(rss) = process.rss_bytes {
            header(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        if let Some(fds) = process.open_fds {
            header(
                &mut out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
            );
            let _ = writeln!(out, "process_open_fds {fds}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        v => v.as_f64(),
    }
}

/// Series taken from the agent's status document: one gauge per numeric
/// (or boolean) field of the token object and of each source.
fn agent_series(out: &mut String, status: &Value) {
    if let Some(token) = status.get("token").and_then(Value::as_object) {
        for (field, v) in token {
            if let Some(n) = number(v) {
                let name = format!("vaultid_agent_token_{}", metric_name(field));
                header(
                    out,
                    &name,
                    "gauge",
                    &format!("The agent's Vault token: `{field}` of the status file."),
                );
                let _ = writeln!(out, "{name} {n}");
            }
        }
    }
    let Some(sources) = status.get("sources").and_then(Value::as_object) else {
        return;
    };
    let mut fields: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (source, s) in sources {
        let Some(s) = s.as_object() else { continue };
        for (field, v) in s {
            if let Some(n) = number(v) {
                fields
                    .entry(field.clone())
                    .or_default()
                    .push((escape_label(source), n));
            }
        }
        let healthy = s.get("last_error").is_none_or(Value::is_null);
        fields
            .entry("healthy".into())
            .or_default()
            .push((escape_label(source), f64::from(u8::from(healthy))));
    }
    for (field, series) in fields {
        let name = format!("vaultid_agent_source_{}", metric_name(&field));
        header(
            out,
            &name,
            "gauge",
            &format!("Each source's `{field}` (status file; healthy = no last_error)."),
        );
        for (source, n) in series {
            let _ = writeln!(out, "{name}{{source=\"{source}\"}} {n}");
        }
    }
}

/// A status field name as a metric name part: `[a-z0-9_]` only.
fn metric_name(field: &str) -> String {
    field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Facts about this process, read from `/proc/self` where there is one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Process {
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) open_fds: Option<u64>,
}

impl Process {
    /// Reads `/proc/self/statm` (resident pages) and counts `/proc/self/fd`.
    pub(crate) fn read() -> Process {
        let rss_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|pages| pages * 4096);
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count().saturating_sub(1) as u64);
        Process {
            rss_bytes,
            open_fds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exposition_text() {
        let m = Metrics::default();
        m.record("vault", 200, Duration::from_millis(3));
        m.record("vault", 200, Duration::from_millis(30));
        m.record("peers", 502, Duration::from_secs(9));
        let status = json!({
            "token": {"written": true, "ttl_seconds": 3600, "sink": "/x"},
            "sources": {"db \"main\"": {"failures": 2, "rendered": true, "last_action_at": 17, "last_error": "boom"},
                        "app": {"failures": 0, "rendered": false, "last_error": null}}
        });
        let text = m.render(
            &status,
            Process {
                rss_bytes: Some(4096),
                open_fds: Some(7),
            },
        );
        for line in [
            "vaultid_gateway_requests_total{route=\"vault\",code=\"200\"} 2",
            "vaultid_gateway_requests_total{route=\"peers\",code=\"502\"} 1",
            "vaultid_gateway_request_duration_seconds_bucket{route=\"vault\",le=\"0.005\"} 1",
            "vaultid_gateway_request_duration_seconds_bucket{route=\"vault\",le=\"0.05\"} 2",
            "vaultid_gateway_request_duration_seconds_bucket{route=\"peers\",le=\"5\"} 0",
            "vaultid_gateway_request_duration_seconds_bucket{route=\"peers\",le=\"+Inf\"} 1",
            "vaultid_gateway_request_duration_seconds_count{route=\"vault\"} 2",
            "vaultid_agent_token_written 1",
            "vaultid_agent_token_ttl_seconds 3600",
            "vaultid_agent_source_failures{source=\"db \\\"main\\\"\"} 2",
            "vaultid_agent_source_failures{source=\"app\"} 0",
            "vaultid_agent_source_healthy{source=\"app\"} 1",
            "vaultid_agent_source_healthy{source=\"db \\\"main\\\"\"} 0",
            "vaultid_agent_source_last_action_at{source=\"db \\\"main\\\"\"} 17",
            "process_resident_memory_bytes 4096",
            "process_open_fds 7",
            "# TYPE vaultid_gateway_request_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("/x"), "strings are not series");
        assert_eq!(m.count("vault", 200), 2);
    }

    #[test]
    fn process_facts_on_linux() {
        let p = Process::read();
        assert!(p.rss_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() >= 3);
    }
}
