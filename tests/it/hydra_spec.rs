//! The Hydra test double against Hydra's own references: its OpenAPI
//! document (`api.json`) and the JSON saved from its handler tests
//! (`client-snapshots/`). Raw requests are sent with `ureq` directly, so
//! these tests pin the double independently of vaultid's HTTP layer.

use crate::hydra_double;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hydra_double::spec::{is_client_body, snapshot, snapshots, unwrap_snapshot};
use hydra_double::{assert_all_valid, HydraDouble, Spec};
use serde_json::{json, Value};

const DID: &str = "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
const DID_ENCODED: &str =
    "did%3Abindu%3Auser_at_example_com%3Amy-agent%3Afabb74f0-a028-4fe9-efd6-4efcbbd10d44";

struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Raw, ureq::Error> {
    let a = agent();
    let mut resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()?
        }
        ("DELETE", _) => {
            let mut r = a.delete(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()?
        }
        (m, b) => {
            let mut r = match m {
                "POST" => a.post(url),
                "PUT" => a.put(url),
                other => panic!("method {other}"),
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(b.unwrap_or_default())?
        }
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.body_mut().read_to_vec()?;
    Ok(Raw {
        status,
        headers,
        body,
    })
}

fn call(method: &str, url: &str, body: Option<Value>) -> Raw {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    let headers: &[(&str, &str)] = if bytes.is_some() {
        &[("Content-Type", "application/json")]
    } else {
        &[]
    };
    send(method, url, headers, bytes.as_deref()).expect("transport")
}

fn form(url: &str, pairs: &[(&str, &str)], extra: &[(&str, &str)]) -> Raw {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    send("POST", url, &headers, Some(body.join("&").as_bytes())).expect("transport")
}

fn form_encode(s: &str) -> String {
    hydra_double::codec::percent_encode(s).replace("%20", "+")
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn agent_client(secret: &str, auth: &str) -> Value {
    json!({
        "client_id": DID,
        "client_secret": secret,
        "client_name": "my-agent",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types": ["code", "token"],
        "scope": "openid offline agent:read agent:write",
        "token_endpoint_auth_method": auth,
        "metadata": {
            "agent_id": "fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
            "did": DID,
            "public_key": "7Yc1R3dXn6vQ2i4c5HkXrVfN3x1Gv8bT2Zp9Qm4sUwLe",
            "key_type": "Ed25519",
            "verification_method": "Ed25519VerificationKey2020",
            "registered_at": "2024-05-01T12:00:00+00:00",
            "hybrid_auth": true
        }
    })
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Same key set (after removing the keys Hydra's snapshot left out) and
/// the same JSON type for every key both sides have non-null.
fn assert_same_shape(ours: &Value, snap: &Value, except: &[&str], what: &str) {
    let mut ours_keys = keys(ours);
    for e in except {
        ours_keys.remove(*e);
    }
    let mut snap_keys = keys(snap);
    for e in except {
        snap_keys.remove(*e);
    }
    assert_eq!(ours_keys, snap_keys, "{what}: key sets differ");
    for k in &ours_keys {
        let (a, b) = (&ours[k], &snap[k]);
        if !a.is_null() && !b.is_null() {
            assert_eq!(kind(a), kind(b), "{what}: {k} has another type");
        }
    }
}

// ---------------------------------------------------------------------------
// The checker itself

#[test]
fn every_client_snapshot_validates_with_the_known_deviations() {
    let spec = Spec::load();
    let client = Spec::schema("oAuth2Client");
    let err = Spec::schema("errorOAuth2");
    let mut n = 0;
    for (name, snap) in snapshots() {
        let (_, body) = unwrap_snapshot(&snap);
        let schema = if is_client_body(&body) { &client } else { &err };
        let problems = spec.validate(schema, &body);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        n += 1;
    }
    assert!(n >= 30, "only {n} snapshots");
}

#[test]
fn the_null_deviation_is_real_and_limited() {
    let strict = Spec::load_strict();
    let (_, body) = snapshot("create_clients-case=1-description=basic_admin_registration");
    let problems = strict.validate(&Spec::schema("oAuth2Client"), &body);
    assert!(
        problems.iter().any(|p| p.contains("grant_types")),
        "strict checker should reject Hydra's null grant_types: {problems:?}"
    );
    let spec = Spec::load();
    let tolerated = spec.nullable_in_practice();
    for f in [
        "grant_types",
        "response_types",
        "contacts",
        "skip_logout_consent",
    ] {
        assert!(
            tolerated.contains(f),
            "{f} should be tolerated: {tolerated:?}"
        );
    }
    for f in [
        "client_name",
        "scope",
        "metadata",
        "audience",
        "client_secret",
    ] {
        assert!(!tolerated.contains(f), "{f} must not be tolerated");
    }
}

#[test]
fn the_error_shape_deviation_is_real() {
    let (status, body) = snapshot("delete_non-existing_client-path=-admin-clients-foo");
    assert_eq!(status, 404);
    let ct = Some("application/json");
    let bytes = serde_json::to_vec(&body).unwrap();
    let strict = Spec::load_strict();
    assert!(!strict
        .validate_response("DELETE", "/admin/clients/foo", 404, ct, &bytes)
        .is_empty());
    let spec = Spec::load();
    assert!(spec
        .validate_response("DELETE", "/admin/clients/foo", 404, ct, &bytes)
        .is_empty());
}

#[test]
fn the_checker_can_fail() {
    let spec = Spec::load();
    let client = Spec::schema("oAuth2Client");
    // grant_types as a string instead of a list
    let bad = json!({"client_id": "x", "grant_types": "client_credentials"});
    let p = spec.validate(&client, &bad);
    assert!(
        p.iter()
            .any(|p| p.contains("grant_types") && p.contains("array")),
        "{p:?}"
    );
    // a list of the wrong item type
    let p = spec.validate(&client, &json!({"redirect_uris": [1]}));
    assert!(!p.is_empty());
    // null where not tolerated
    let p = spec.validate(&client, &json!({"client_name": null}));
    assert!(!p.is_empty());
    // a missing required property
    let p = spec.validate(
        &Spec::schema("introspectedOAuth2Token"),
        &json!({"sub": "x"}),
    );
    assert!(p.iter().any(|p| p.contains("active")), "{p:?}");
    // integer vs string
    let p = spec.validate(
        &Spec::schema("oAuth2TokenExchange"),
        &json!({"expires_in": "3600"}),
    );
    assert!(!p.is_empty());
    // enum and additionalProperties: false, on inline schemas
    let s = json!({"type": "object", "additionalProperties": false,
                   "properties": {"op": {"type": "string", "enum": ["add", "remove"]}}});
    assert!(spec.validate(&s, &json!({"op": "add"})).is_empty());
    assert!(!spec.validate(&s, &json!({"op": "move"})).is_empty());
    assert!(!spec.validate(&s, &json!({"op": "add", "x": 1})).is_empty());
    // additionalProperties as a schema (healthNotReadyStatus.errors)
    let p = spec.validate(
        &Spec::schema("healthNotReadyStatus"),
        &json!({"errors": {"db": 1}}),
    );
    assert!(!p.is_empty());
    // a status the operation does not list (getVersion has no default)
    assert!(spec.check_status("GET", "/version", 404).is_err());
    assert!(spec.check_status("GET", "/version", 200).is_ok());
    // an unknown operation
    assert!(spec.operation("GET", "/admin/nope").is_none());
    // a request body of the wrong type
    let p = spec.validate_request(
        "POST",
        "/admin/clients",
        Some("application/json"),
        br#"{"grant_types":"client_credentials"}"#,
    );
    assert!(!p.is_empty());
    // a body where none is documented
    let p = spec.validate_response("DELETE", "/admin/clients/x", 204, None, b"{}");
    assert!(!p.is_empty());
    // a form body missing a required field
    let p = spec.validate_request(
        "POST",
        "/oauth2/token",
        Some("application/x-www-form-urlencoded"),
        b"client_id=a",
    );
    assert!(p.iter().any(|p| p.contains("grant_type")), "{p:?}");
}

#[test]
fn operations_are_found_by_template() {
    let spec = Spec::load();
    let op = spec
        .operation("GET", &format!("/admin/clients/{DID_ENCODED}"))
        .unwrap();
    assert_eq!(op.id, "getOAuth2Client");
    assert_eq!(op.template, "/admin/clients/{id}");
    let op = spec.operation("DELETE", "/admin/clients/x").unwrap();
    assert_eq!(op.id, "deleteOAuth2Client");
    // A longer path does not match the shorter template.
    assert!(spec
        .operation("POST", "/admin/clients/x/secrets/rotate")
        .is_none());
}

// ---------------------------------------------------------------------------
// The double against the snapshots

#[test]
fn created_client_has_the_snapshot_shape() {
    let d = HydraDouble::start();
    let mut body = agent_client("averylongsecret", "client_secret_basic");
    body.as_object_mut().unwrap().remove("grant_types");
    body.as_object_mut().unwrap().remove("response_types");
    body["redirect_uris"] = json!(["http://localhost:3000/cb"]);
    let r = call("POST", &format!("{}/admin/clients", d.url()), Some(body));
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/clients/{DID_ENCODED}").as_str())
    );
    let created = r.json();
    let (_, snap) = snapshot("create_clients-case=4-description=non-uuid_works");
    assert_same_shape(
        &created,
        &snap,
        &["created_at", "updated_at", "registration_access_token"],
        "create",
    );
    assert_eq!(created["client_secret"], "averylongsecret");
    assert_eq!(
        created["grant_types"],
        Value::Null,
        "nil slices are null on create"
    );
    assert_eq!(created["audience"], json!([]));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let r = call(
        "GET",
        &format!("{}/admin/clients/{DID_ENCODED}", d.url()),
        None,
    );
    assert_eq!(r.status, 200);
    let got = r.json();
    let (status, snap) = snapshot("fetching_existing_client-endpoint=admin");
    assert_eq!(status, 200);
    assert_same_shape(
        &got,
        &snap,
        &["client_id", "created_at", "updated_at"],
        "get",
    );
    assert!(
        got.get("client_secret").is_none(),
        "GET never returns the secret"
    );
    assert_eq!(got["grant_types"], json!([]), "nil slices read back as []");
    assert_eq!(got["client_id"], DID);
    assert_all_valid(&d);
}

#[test]
fn errors_match_the_snapshots() {
    let d = HydraDouble::start();
    for (method, snap) in [
        (
            "GET",
            "fetching_non-existing_client-path=-admin-clients-foo",
        ),
        (
            "DELETE",
            "delete_non-existing_client-path=-admin-clients-foo",
        ),
    ] {
        let r = call(method, &format!("{}/admin/clients/foo", d.url()), None);
        let (status, body) = snapshot(snap);
        assert_eq!(r.status, status);
        assert_eq!(r.json(), body);
    }
    let r = call(
        "PUT",
        &format!("{}/admin/clients/foo", d.url()),
        Some(json!({})),
    );
    let (status, body) = snapshot("updating_non-existing_client-path=-admin-clients-foo");
    assert_eq!((r.status, r.json()), (status, body));

    let mut short = agent_client("short", "client_secret_post");
    short["client_id"] = json!("create-client-4");
    let r = call("POST", &format!("{}/admin/clients", d.url()), Some(short));
    let (_, body) = snapshot("short_secret_fails_for_admin");
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), body);

    assert_all_valid(&d);
}

#[test]
fn a_badly_typed_request_is_refused_by_the_double_and_flagged_by_the_checker() {
    let d = HydraDouble::start();
    let r = call(
        "POST",
        &format!("{}/admin/clients", d.url()),
        Some(json!({"grant_types": "client_credentials"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("grant_types"));
    let spec = Spec::load();
    let problems = spec.check_exchange(&d.exchanges()[0]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("request: $.grant_types: expected array"),
        "{problems:?}"
    );
}

#[test]
fn conflict_generated_ids_and_secrets() {
    let d = HydraDouble::start();
    let url = format!("{}/admin/clients", d.url());
    assert_eq!(
        call(
            "POST",
            &url,
            Some(agent_client("averylongsecret", "client_secret_post"))
        )
        .status,
        201
    );
    let r = call(
        "POST",
        &url,
        Some(agent_client("anotherlongsecret", "client_secret_post")),
    );
    assert_eq!(r.status, 409);
    let e = r.json();
    assert_eq!(
        e["error"],
        "Unable to insert or update resource because a resource with that value exists already"
    );
    assert_eq!(
        d.client_secret(DID).unwrap(),
        "averylongsecret",
        "the loser changes nothing"
    );

    let r = call("POST", &url, Some(json!({"client_name": "anon"})));
    assert_eq!(r.status, 201);
    let c = r.json();
    assert_eq!(
        c["client_id"].as_str().unwrap().len(),
        36,
        "a UUID is generated"
    );
    assert_eq!(
        c["client_secret"].as_str().unwrap().len(),
        26,
        "a secret is generated"
    );
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["scope"], "offline_access offline openid");
    assert_eq!(d.count("createOAuth2Client"), 3);
    assert_all_valid(&d);
}

#[test]
fn put_without_secret_keeps_it_and_put_with_secret_replaces_it() {
    let d = HydraDouble::start();
    let base = d.url();
    call(
        "POST",
        &format!("{base}/admin/clients"),
        Some(agent_client("averylongsecret", "client_secret_post")),
    );
    let mut update = agent_client("", "client_secret_post");
    update["metadata"]["public_key"] = json!("NEWKEY");
    let r = call(
        "PUT",
        &format!("{base}/admin/clients/{DID_ENCODED}"),
        Some(update.clone()),
    );
    assert_eq!(r.status, 200);
    let c = r.json();
    assert!(
        c.get("client_secret").is_none(),
        "an empty secret is not echoed"
    );
    assert_eq!(c["metadata"]["public_key"], "NEWKEY");
    assert_eq!(d.client_secret(DID).unwrap(), "averylongsecret");
    let tok = form(
        &format!("{base}/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DID),
            ("client_secret", "averylongsecret"),
        ],
        &[],
    );
    assert_eq!(tok.status, 200, "the kept secret still works");

    update["client_secret"] = json!("abrandnewsecret");
    let r = call(
        "PUT",
        &format!("{base}/admin/clients/{DID_ENCODED}"),
        Some(update),
    );
    assert_eq!(r.json()["client_secret"], "abrandnewsecret");
    assert_eq!(d.client_secret(DID).unwrap(), "abrandnewsecret");
    assert_all_valid(&d);
}

#[test]
fn delete_then_get_is_404() {
    let d = HydraDouble::start();
    let base = d.url();
    call(
        "POST",
        &format!("{base}/admin/clients"),
        Some(agent_client("averylongsecret", "client_secret_post")),
    );
    let r = call(
        "DELETE",
        &format!("{base}/admin/clients/{DID_ENCODED}"),
        None,
    );
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(
        call("GET", &format!("{base}/admin/clients/{DID_ENCODED}"), None).status,
        404
    );
    assert_eq!(d.count("deleteOAuth2Client"), 1);
    assert_all_valid(&d);
}

// ---------------------------------------------------------------------------
// OAuth2 public endpoints

#[test]
fn token_with_client_secret_post_and_basic() {
    let d = HydraDouble::start();
    let base = d.url();
    call(
        "POST",
        &format!("{base}/admin/clients"),
        Some(agent_client("s3cret+with/odd=chars", "client_secret_post")),
    );
    let token_url = format!("{base}/oauth2/token");
    let r = form(
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DID),
            ("client_secret", "s3cret+with/odd=chars"),
            ("scope", "agent:read agent:write"),
        ],
        &[],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = r.json();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["scope"], "agent:read agent:write");
    assert!(t["expires_in"].as_i64().unwrap() > 3500);
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // The same client with Basic is refused: its method is client_secret_post.
    let basic = format!(
        "Basic {}",
        b64(format!(
            "{}:{}",
            form_encode(DID),
            form_encode("s3cret+with/odd=chars")
        )
        .as_bytes())
    );
    let r = form(
        &token_url,
        &[("grant_type", "client_credentials")],
        &[("Authorization", &basic)],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("client_secret_basic"));

    // A client registered for Basic: the id with its colons must be form-encoded.
    let mut c = agent_client("s3cret+with/odd=chars", "client_secret_basic");
    c["client_id"] = json!(format!("{DID}:basic"));
    call("POST", &format!("{base}/admin/clients"), Some(c));
    let id = format!("{DID}:basic");
    let basic = format!(
        "Basic {}",
        b64(format!(
            "{}:{}",
            form_encode(&id),
            form_encode("s3cret+with/odd=chars")
        )
        .as_bytes())
    );
    let r = form(
        &token_url,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
        &[("Authorization", &basic)],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Unencoded, Go's BasicAuth splits at the first colon: the id is "did".
    let raw = format!(
        "Basic {}",
        b64(format!("{id}:s3cret+with/odd=chars").as_bytes())
    );
    let r = form(
        &token_url,
        &[("grant_type", "client_credentials")],
        &[("Authorization", &raw)],
    );
    assert_eq!(r.status, 401);

    // wrong secret, unknown scope, wrong grant
    let r = form(
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DID),
            ("client_secret", "nope-nope"),
        ],
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let r = form(
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DID),
            ("client_secret", "s3cret+with/odd=chars"),
            ("scope", "admin"),
        ],
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_scope"))
    );
    let r = form(
        &token_url,
        &[
            ("grant_type", "password"),
            ("client_id", DID),
            ("client_secret", "s3cret+with/odd=chars"),
        ],
        &[],
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("unsupported_grant_type"))
    );
    assert_eq!(d.count("oauth2TokenExchange"), 7);
    assert_all_valid(&d);
}

#[test]
fn introspect_and_revoke() {
    let d = HydraDouble::start();
    let base = d.url();
    call(
        "POST",
        &format!("{base}/admin/clients"),
        Some(agent_client("averylongsecret", "client_secret_post")),
    );
    let creds = [("client_id", DID), ("client_secret", "averylongsecret")];
    let mut p = vec![
        ("grant_type", "client_credentials"),
        ("scope", "agent:read"),
    ];
    p.extend_from_slice(&creds);
    let t = form(&format!("{base}/oauth2/token"), &p, &[]).json();
    let at = t["access_token"].as_str().unwrap().to_string();

    let r = form(
        &format!("{base}/admin/oauth2/introspect"),
        &[("token", &at)],
        &[],
    );
    let i = r.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], DID);
    assert_eq!(i["scope"], "agent:read");
    let r = form(
        &format!("{base}/admin/oauth2/introspect"),
        &[("token", &at), ("scope", "agent:write")],
        &[],
    );
    assert_eq!(r.json()["active"], false, "a scope the token lacks");

    let mut p = vec![("token", at.as_str())];
    p.extend_from_slice(&creds);
    let r = form(&format!("{base}/oauth2/revoke"), &p, &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = form(
        &format!("{base}/admin/oauth2/introspect"),
        &[("token", &at)],
        &[],
    );
    assert_eq!(r.json(), json!({"active": false}));
    let r = form(
        &format!("{base}/admin/oauth2/introspect"),
        &[("token", "unknown")],
        &[],
    );
    assert_eq!(r.json(), json!({"active": false}));
    assert_all_valid(&d);
}

// ---------------------------------------------------------------------------
// Faults, counters, log

#[test]
fn faults_and_counters() {
    let mut d = HydraDouble::start();
    let url = format!("{}/admin/clients/foo", d.url());
    d.fail_next(2, 503);
    assert_eq!(call("GET", &url, None).status, 503);
    assert_eq!(call("GET", &url, None).status, 503);
    assert_eq!(call("GET", &url, None).status, 404);
    d.fail_with(500);
    assert_eq!(call("GET", &url, None).status, 500);
    d.clear_faults();
    assert_eq!(d.count("getOAuth2Client"), 4);
    let log = d.exchanges();
    assert_eq!(log.iter().filter(|e| e.injected).count(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/admin/clients/foo");

    d.set_delay(Duration::from_millis(300));
    let start = Instant::now();
    call("GET", &url, None);
    assert!(start.elapsed() >= Duration::from_millis(300));
    d.set_delay(Duration::ZERO);

    d.set_down(true);
    assert!(
        send("GET", &url, &[], None).is_err(),
        "a down server gives no answer"
    );
    d.set_down(false);
    assert_eq!(call("GET", &url, None).status, 404);
    assert_all_valid(&d);

    d.shutdown();
    assert!(
        send("GET", &url, &[], None).is_err(),
        "after shutdown the port is closed"
    );
}

#[test]
fn unknown_endpoints_fail_validation() {
    let d = HydraDouble::start();
    let r = call("GET", &format!("{}/admin/nothing-here", d.url()), None);
    assert_eq!(r.status, 404);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_all_valid(&d)));
    assert!(
        result.is_err(),
        "an endpoint outside the document must be reported"
    );
}

#[test]
fn keep_alive_connections_are_reused() {
    let d = HydraDouble::start();
    let a = agent();
    for _ in 0..5 {
        let r = a.get(format!("{}/health/alive", d.url())).call().unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(d.count("isAlive"), 5);
    assert_all_valid(&d);
}
