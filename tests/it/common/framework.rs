//! A loopback agent server that decides as the Python framework's Hydra
//! middleware does, for the tests that call another agent through vaultid
//! (`signing.rs`'s `vaultid call`, `gateway.rs`'s `/peers/`): the bearer
//! token introspected at the Hydra double (active, `sub`, `exp` in the future, else 401); for a `did:`
//! client the signature is mandatory and checked by the framework's own
//! code (the [`Oracle`], `scripts/bindu_oracle.py`'s `middleware`) with the
//! key in the client's `metadata.public_key`; 403 when refused. Accepted
//! requests are answered with their body echoed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use vaultid::fuzzing::hydra::HydraAdmin;
use vaultid::SecretString;

use super::bindu::{b64, Oracle};
use super::{Reply, Seen, TestServer};
use crate::hydra_double::HydraDouble;

/// The server and the verdict on every request it saw.
pub struct FrameworkServer {
    /// The HTTP server (its `seen()` holds every request as received).
    pub server: TestServer,
    verdicts: Arc<Mutex<Vec<String>>>,
}

impl FrameworkServer {
    /// Serve on a free loopback port, introspecting at `hydra`.
    pub fn start(hydra: &HydraDouble, oracle: Oracle) -> FrameworkServer {
        let admin = HydraAdmin::new(&hydra.config()).unwrap();
        let oracle = Mutex::new(oracle);
        let verdicts = Arc::new(Mutex::new(Vec::new()));
        let v = verdicts.clone();
        let server = TestServer::start_with(Duration::from_secs(10), move |req, _| {
            let (status, verdict) = decide(&admin, &oracle, req);
            v.lock().unwrap().push(verdict.clone());
            let body = if status == 200 {
                json!({"ok": true, "path": req.path, "echo": String::from_utf8_lossy(&req.body)})
            } else {
                json!({"error": "Invalid DID signature", "details": {"reason": verdict}})
            }
            .to_string();
            Reply::Answer(super::answer(status, &[], &body).into_bytes())
        });
        FrameworkServer { server, verdicts }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.addr())
    }

    /// The verdict on the last request (`ok` or the framework's reason).
    pub fn last(&self) -> String {
        self.verdicts
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    /// How many requests it decided on.
    pub fn count(&self) -> usize {
        self.verdicts.lock().unwrap().len()
    }
}

fn decide(admin: &HydraAdmin, oracle: &Mutex<Oracle>, req: &Seen) -> (u16, String) {
    let Some(token) = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        return (401, "no_token".into());
    };
    let intro = match admin.introspect(&SecretString::new(token), Some("")) {
        Ok(i) => i,
        Err(e) => return (503, format!("introspection failed: {e}")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if !intro.active || intro.sub.is_none() || intro.exp.is_none_or(|e| e < now) {
        return (401, "token_not_active".into());
    }
    let client = intro.client_id.unwrap_or_default();
    if !client.starts_with("did:") {
        return (200, "ok".into());
    }
    let public_key = admin
        .get_client(&client)
        .ok()
        .flatten()
        .and_then(|c| c.metadata_public_key().map(str::to_string));
    let answer = oracle.lock().unwrap().ask(&json!({
        "op": "middleware",
        "headers": req.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body_b64": b64(&req.body),
        "client_did": client,
        "public_key": public_key,
    }));
    if answer["ok"] == true {
        (200, "ok".into())
    } else {
        (403, answer["reason"].as_str().unwrap_or("?").to_string())
    }
}
