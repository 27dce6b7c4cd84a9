//! The status file: what each source last did, when, its next renewal and
//! its last error, written atomically (0644: it holds no secret) and only
//! when it changes; [`check`] turns it into an exit code for probes.
//!
//! Exit codes of [`check`]: 0 the agent runs and every source is rendered
//! and healthy; 3 it runs and every source is rendered, but some last
//! attempt failed (Vault unreachable: the files are kept); 1 it is not
//! running, or some source has never been rendered, or the file cannot be
//! read.

use std::path::Path;

#[cfg(feature = "cli")]
use serde_json::json;
use serde_json::Value;

#[cfg(feature = "cli")]
use crate::error::Error;
use crate::error::Result;

/// Largest status file read (bytes).
#[cfg(feature = "cli")]
pub(crate) const MAX_STATUS_BYTES: u64 = 4 << 20;

/// Write `status` to `path` when it differs from `last` (the bytes written
/// last). Returns whether it wrote.
pub(crate) fn write(path: &Path, status: &Value, last: &mut Option<[u8; 32]>) -> Result<bool> {
    let mut bytes = serde_json::to_vec_pretty(status).unwrap_or_default();
    bytes.push(b'\n');
    super::render::write_if_changed(path, &bytes, 0o644, last)
}

/// Read a status file and judge it: (exit code, the status with a
/// `healthy` summary).
#[cfg(feature = "cli")]
pub(crate) fn check(path: &Path) -> Result<(u8, Value)> {
    use std::io::Read;
    let what = || {
        format!(
            "reading the agent status file {} (is the agent running?)",
            path.display()
        )
    };
    let f = std::fs::File::open(path).map_err(|e| Error::io(what(), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(what(), e))?;
    if bytes.len() as u64 > MAX_STATUS_BYTES {
        return Err(Error::Config(format!(
            "{} is larger than {MAX_STATUS_BYTES} bytes: not an agent status file",
            path.display()
        )));
    }
    let status: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{} is not an agent status file: {e}",
            path.display()
        ))
    })?;
    Ok(judge(status))
}

/// The verdict on a status document (pure; never panics).
#[cfg(feature = "cli")]
pub(crate) fn judge(mut status: Value) -> (u8, Value) {
    let pid = status.get("pid").and_then(Value::as_u64).unwrap_or(0);
    let state = status.get("state").and_then(Value::as_str).unwrap_or("");
    let alive =
        pid > 1 && u32::try_from(pid).is_ok_and(|p| crate::secrets::process::send_signal(p, 0));
    let mut problems = Vec::new();
    let mut degraded = Vec::new();
    if !alive || state == "stopped" {
        problems.push(format!("the agent (pid {pid}) is not running"));
    }
    if let Some(sources) = status.get("sources").and_then(Value::as_object) {
        for (name, s) in sources {
            if !s.get("rendered").and_then(Value::as_bool).unwrap_or(false) {
                problems.push(format!("{name}: not rendered yet"));
            } else if let Some(e) = s.get("last_error").and_then(Value::as_str) {
                degraded.push(format!("{name}: {e}"));
            }
        }
    }
    if let Some(e) = status
        .get("token")
        .and_then(|t| t.get("last_error"))
        .and_then(Value::as_str)
    {
        degraded.push(format!("token: {e}"));
    }
    let code = if !problems.is_empty() {
        1
    } else if !degraded.is_empty() {
        3
    } else {
        0
    };
    if let Value::Object(m) = &mut status {
        m.insert(
            "healthy".into(),
            json!({"ok": code == 0, "exit_code": code, "problems": problems, "degraded": degraded}),
        );
    }
    (code, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let me = std::process::id();
        let ok = json!({"pid": me, "state": "running", "sources": {"a": {"rendered": true}}});
        assert_eq!(judge(ok).0, 0);
        let degraded = json!({"pid": me, "state": "running",
            "sources": {"a": {"rendered": true, "last_error": "Vault unreachable"}}});
        assert_eq!(judge(degraded).0, 3);
        let fresh = json!({"pid": me, "state": "running", "sources": {"a": {"rendered": false}}});
        assert_eq!(judge(fresh).0, 1);
        let gone = json!({"pid": 0, "state": "running", "sources": {}});
        assert_eq!(judge(gone).0, 1);
        assert_eq!(judge(json!([1])).0, 1);
    }
}
