//! The Python agent framework's own signature code, run as an oracle:
//! `scripts/bindu_oracle.py` loads `bindu/utils/did/signature.py` from the
//! framework's wheel (extracted by `scripts/setup.sh` into
//! `~/.cache/vaultid/bindu-2026.36.7/`, or `$VAULTID_BINDU_SIGNATURE`) with
//! base58 and PyNaCl, and answers JSON lines. One process per test.
//!
//! Missing Python, base58, PyNaCl or the file skips a test, except under
//! `CI=true`, where that is a failure.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};
use vaultid::fuzzing::codec::base64;

/// The framework's signature module, behind a pipe.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

fn signature_py() -> PathBuf {
    if let Some(p) = std::env::var_os("VAULTID_BINDU_SIGNATURE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("vaultid/bindu-2026.36.7/signature.py")
}

fn missing(why: &str) -> Option<Oracle> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the framework's signature code is required under CI=true: {why}; \
             run scripts/setup.sh (python3, base58, PyNaCl, the bindu wheel)"
        );
    }
    eprintln!("note: {why} (scripts/setup.sh installs it); skipping this test");
    None
}

/// Base64 of a body, as the oracle reads it.
pub fn b64(body: &[u8]) -> String {
    base64::encode(body)
}

impl Oracle {
    /// Start the oracle, or `None` (skip) when something it needs is missing.
    pub fn start() -> Option<Oracle> {
        let module = signature_py();
        if !module.is_file() {
            return missing(&format!("{} is missing", module.display()));
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bindu_oracle.py");
        let probe = Command::new("python3")
            .args(["-c", "import base58, nacl.signing"])
            .output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return missing(&format!(
                    "python3 cannot import base58 and PyNaCl: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return missing(&format!("python3 cannot be run: {e}")),
        }
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&module)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/bindu_oracle.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut o = Oracle {
            child,
            stdin,
            stdout,
        };
        assert!(o.ask(&json!({"op": "now"}))["now"].is_i64());
        Some(o)
    }

    /// One request, one answer.
    pub fn ask(&mut self, req: &Value) -> Value {
        let mut line = req.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        assert!(
            !answer.is_empty(),
            "the oracle died on {}",
            &line[..line.len().min(200)]
        );
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert!(v.get("error").is_none(), "oracle: {v}");
        v
    }

    /// The oracle's clock (the framework reads `time.time()`).
    pub fn now(&mut self) -> i64 {
        self.ask(&json!({"op": "now"}))["now"].as_i64().unwrap()
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
