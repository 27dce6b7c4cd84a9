//! `PATCH /admin/clients/{id}`: RFC 6902 JSON Patch as Hydra applies it.

use serde_json::{json, Value};

use super::codec::now_rfc3339;
use super::routes::{bad_request, error, invalid_metadata, not_found, ok_json, Reply};
use super::store::{canonical, check_client_types, from_db, str_field, State};

pub(super) fn patch_client(st: &mut State, id: &str, body: &[u8]) -> Reply {
    let Some(stored) = st.clients.get(id) else {
        return not_found();
    };
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(body) else {
        return error(500, "error", "The error is unrecognizable");
    };
    let mut doc = Value::Object(from_db(&stored.doc));
    doc["client_secret"] = json!(stored.secret);
    let old_secret = stored.secret.clone();
    for op in &ops {
        if let Err(_e) = apply_op(&mut doc, op) {
            return error(500, "error", "The error is unrecognizable");
        }
    }
    let Value::Object(mut map) = doc else {
        return error(500, "error", "The error is unrecognizable");
    };
    if let Err(e) = check_client_types(&map) {
        return bad_request(&format!("Unable to decode the request body: {e}"));
    }
    let secret = str_field(&map, "client_secret").to_string();
    map.remove("client_secret");
    if !secret.is_empty() && secret != old_secret && secret.len() < 6 {
        return invalid_metadata(
            "Field client_secret must contain a secret that is at least 6 characters long.",
        );
    }
    let stored = st.clients.get_mut(id).expect("checked above");
    let mut doc = from_db(&canonical(&map));
    doc.insert("client_id".into(), json!(id));
    doc.insert("created_at".into(), stored.doc["created_at"].clone());
    doc.insert("updated_at".into(), json!(now_rfc3339()));
    stored.doc = doc.clone();
    let mut resp = doc;
    if secret != old_secret && !secret.is_empty() {
        stored.secret = secret.clone();
        stored.rotated.clear();
        resp.insert("client_secret".into(), json!(secret));
    }
    ok_json(200, &Value::Object(resp))
}

/// Apply one RFC 6902 operation. Like Hydra (`oryx/jsonx/patch.go`) only
/// `add`, `remove` and `replace` are accepted, and `replace` of an object
/// member that does not exist acts as `add`.
pub(super) fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op["op"].as_str().ok_or("op missing")?;
    let path = op["path"].as_str().ok_or("path missing")?;
    let tokens = parse_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return match kind {
            "add" | "replace" => {
                *doc = op.get("value").cloned().ok_or("value missing")?;
                Ok(())
            }
            _ => Err("cannot remove the root".into()),
        };
    };
    let mut target = &mut *doc;
    for t in parents {
        target = match target {
            Value::Object(m) => m.get_mut(t).ok_or("path not found")?,
            Value::Array(a) => {
                let i: usize = t.parse().map_err(|_| "bad index")?;
                a.get_mut(i).ok_or("index out of range")?
            }
            _ => return Err("path not found".into()),
        };
    }
    match (kind, target) {
        ("add" | "replace", Value::Object(m)) => {
            m.insert(
                last.clone(),
                op.get("value").cloned().ok_or("value missing")?,
            );
        }
        ("remove", Value::Object(m)) => {
            m.remove(last).ok_or("path not found")?;
        }
        ("add", Value::Array(a)) => {
            let v = op.get("value").cloned().ok_or("value missing")?;
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last.parse().map_err(|_| "bad index")?;
                if i > a.len() {
                    return Err("index out of range".into());
                }
                a.insert(i, v);
            }
        }
        ("replace", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            *a.get_mut(i).ok_or("index out of range")? =
                op.get("value").cloned().ok_or("value missing")?;
        }
        ("remove", Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            if i >= a.len() {
                return Err("index out of range".into());
            }
            a.remove(i);
        }
        (other, _) => return Err(format!("unsupported operation: {other}")),
    }
    Ok(())
}

pub(super) fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p.strip_prefix('/').ok_or("a JSON pointer starts with /")?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}
