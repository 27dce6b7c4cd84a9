//! Routing: Hydra's `operationId` for a method and path, the handler for
//! each operation, and the answer helpers in Hydra's error shape.

use serde_json::{json, Value};

use super::codec::percent_decode;
use super::oauth::{introspect, revoke, token};
use super::store::{create_client, decode_client, from_db, set_client, State};

/// A request as the routes see it.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

/// Status, headers, body.
pub(super) type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// Hydra's `operationId` for a method and (encoded) path.
pub(super) fn operation_of(method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (method, segs.as_slice()) {
        ("POST", ["admin", "clients"]) => "createOAuth2Client",
        ("GET", ["admin", "clients", _]) => "getOAuth2Client",
        ("PUT", ["admin", "clients", _]) => "setOAuth2Client",
        ("DELETE", ["admin", "clients", _]) => "deleteOAuth2Client",
        ("POST", ["admin", "oauth2", "introspect"]) => "introspectOAuth2Token",
        ("POST", ["oauth2", "token"]) => "oauth2TokenExchange",
        ("POST", ["oauth2", "revoke"]) => "revokeOAuth2Token",
        ("GET", ["health", "alive"]) => "isAlive",
        ("GET", ["health", "ready"]) => "isReady",
        _ => return None,
    })
}

pub(super) fn route(st: &mut State, req: &Request, op: Option<&'static str>) -> Reply {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let id = segs.get(2).map(|s| percent_decode(s)).unwrap_or_default();
    match op {
        Some("createOAuth2Client") => match decode_client(&req.body) {
            Ok(map) => {
                let (status, headers, v) = create_client(st, &map);
                (status, headers, to_bytes(&v))
            }
            Err(e) => e,
        },
        Some("getOAuth2Client") => match st.clients.get(&id) {
            Some(c) => ok_json(200, &Value::Object(from_db(&c.doc))),
            None => not_found(),
        },
        Some("setOAuth2Client") => set_client(st, &id, &req.body),
        Some("deleteOAuth2Client") => match st.clients.remove(&id) {
            Some(_) => {
                st.tokens.retain(|_, t| t.client_id != id);
                (204, Vec::new(), Vec::new())
            }
            None => not_found(),
        },
        Some("oauth2TokenExchange") => token(st, req),
        Some("introspectOAuth2Token") => introspect(st, req),
        Some("revokeOAuth2Token") => revoke(st, req),
        Some("isAlive") | Some("isReady") => ok_json(200, &json!({"status": "ok"})),
        _ => (
            404,
            vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            b"404 page not found\n".to_vec(),
        ),
    }
}

pub(super) fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize")
}

pub(super) fn ok_json(status: u16, v: &Value) -> Reply {
    (status, Vec::new(), to_bytes(v))
}

/// An error in the shape Hydra's error enhancer writes (`errorOAuth2`).
pub(super) fn error(status: u16, error: &str, description: &str) -> Reply {
    ok_json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

pub(super) fn not_found() -> Reply {
    error(404, "Unable to locate the resource", "")
}

pub(super) fn bad_request(reason: &str) -> Reply {
    error(
        400,
        "The request was malformed or contained invalid parameters",
        reason,
    )
}

pub(super) const INVALID_CLIENT_METADATA: &str = "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";

pub(super) fn invalid_metadata(hint: &str) -> Reply {
    error(
        400,
        "invalid_client_metadata",
        &format!("{INVALID_CLIENT_METADATA} {hint}"),
    )
}
