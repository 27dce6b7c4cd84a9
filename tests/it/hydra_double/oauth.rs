//! The OAuth2 public endpoints: client authentication as fosite does it,
//! the `client_credentials` token endpoint, introspection and revocation.

use serde_json::{json, Value};

use super::codec::{base64_decode, form_decode_strict, parse_form, random_secret, unix_now};
use super::routes::{ok_json, Reply, Request};
use super::server::{find_header, ISSUER};
use super::store::{str_field, State, Token};

pub(super) fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    let (s, mut h, b) = super::routes::error(status, error, description);
    h.push(("cache-control".into(), "no-store".into()));
    h.push(("pragma".into(), "no-cache".into()));
    (s, h, b)
}

pub(super) const INVALID_CLIENT: &str = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
pub(super) const INVALID_REQUEST: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

/// fosite's client authentication: HTTP Basic (id and secret each
/// form-urlencoded, RFC 6749 §2.3.1) or `client_id`/`client_secret` in the
/// body, and the method must be the client's `token_endpoint_auth_method`.
pub(super) fn authenticate(
    st: &State,
    req: &Request,
    form: &[(String, String)],
) -> Result<String, Reply> {
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let basic = find_header(&req.headers, "authorization").and_then(parse_basic);
    let (id, secret) = match &basic {
        Some(Ok((id, secret))) => (id.clone(), secret.clone()),
        Some(Err(which)) => {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("{INVALID_REQUEST} The client {which} in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'."),
            ))
        }
        None => {
            let id = field("client_id");
            if id.is_empty() {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    &format!("{INVALID_REQUEST} Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body."),
                ));
            }
            (id, field("client_secret"))
        }
    };
    let Some(client) = st.clients.get(&id) else {
        return Err(oauth_error(401, "invalid_client", INVALID_CLIENT));
    };
    let method = str_field(&client.doc, "token_endpoint_auth_method");
    let mismatch = |requested: &str| {
        oauth_error(
            401,
            "invalid_client",
            &format!("{INVALID_CLIENT} The OAuth 2.0 Client supports client authentication method '{method}', but method '{requested}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{requested}'."),
        )
    };
    if !field("client_id").is_empty()
        && !field("client_secret").is_empty()
        && method != "client_secret_post"
    {
        return Err(mismatch("client_secret_post"));
    }
    if matches!(&basic, Some(Ok((_, s))) if !s.is_empty()) && method != "client_secret_basic" {
        return Err(mismatch("client_secret_basic"));
    }
    if secret != client.secret {
        return Err(oauth_error(401, "invalid_client", INVALID_CLIENT));
    }
    Ok(id)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
/// `Err` names the part that could not be form-decoded.
pub(super) fn parse_basic(h: &str) -> Option<Result<(String, String), &'static str>> {
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64_decode(rest.trim())?;
    let raw = String::from_utf8(raw).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let Some(id) = form_decode_strict(id) else {
        return Some(Err("id"));
    };
    let Some(secret) = form_decode_strict(secret) else {
        return Some(Err("secret"));
    };
    Some(Ok((id, secret)))
}

pub(super) fn token(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let grant = field("grant_type");
    if grant.is_empty() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} Request parameter 'grant_type' is missing"),
        );
    }
    let id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if grant != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    let client = &st.clients[&id];
    let allowed: Vec<&str> = str_field(&client.doc, "scope").split_whitespace().collect();
    let requested = field("scope");
    for s in requested.split_whitespace() {
        if !allowed.contains(&s) {
            return oauth_error(
                400,
                "invalid_scope",
                &format!("The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '{s}'."),
            );
        }
    }
    let grants = client.doc.get("grant_types").and_then(Value::as_array);
    if !grants.is_some_and(|g| g.iter().any(|v| v == "client_credentials")) {
        return oauth_error(
            400,
            "unauthorized_client",
            "The client is not authorized to request a token using this method. The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'.",
        );
    }
    let scope = requested.split_whitespace().collect::<Vec<_>>().join(" ");
    let access_token = format!("ory_at_{}.{}", random_secret(43), random_secret(43));
    let now = unix_now();
    let life = st.token_lifespan.as_secs();
    st.tokens.insert(
        access_token.clone(),
        Token {
            client_id: id,
            scope: scope.clone(),
            iat: now,
            exp: now + life,
            revoked: false,
        },
    );
    let (s, _, b) = ok_json(
        200,
        &json!({
            "access_token": access_token,
            "expires_in": life.saturating_sub(1),
            "scope": scope,
            "token_type": "bearer",
        }),
    );
    (
        s,
        vec![
            ("cache-control".into(), "no-store".into()),
            ("pragma".into(), "no-cache".into()),
        ],
        b,
    )
}

pub(super) fn introspect(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let Some((_, tok)) = form.iter().find(|(k, _)| k == "token") else {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} The POST body can not be empty."),
        );
    };
    let required: Vec<String> = form
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let now = unix_now();
    match st.tokens.get(tok) {
        Some(t)
            if !t.revoked
                && t.exp > now
                && required
                    .iter()
                    .all(|r| t.scope.split_whitespace().any(|s| s == r)) =>
        {
            ok_json(
                200,
                &json!({
                    "active": true,
                    "aud": [],
                    "client_id": t.client_id,
                    "exp": t.exp,
                    "iat": t.iat,
                    "iss": ISSUER,
                    "nbf": t.iat,
                    "scope": t.scope,
                    "sub": t.client_id,
                    "token_type": "Bearer",
                    "token_use": "access_token",
                }),
            )
        }
        _ => ok_json(200, &json!({"active": false})),
    }
}

pub(super) fn revoke(st: &mut State, req: &Request) -> Reply {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let id = match authenticate(st, req, &form) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some((_, tok)) = form.iter().find(|(k, _)| k == "token") else {
        return oauth_error(
            400,
            "invalid_request",
            &format!("{INVALID_REQUEST} The POST body can not be empty."),
        );
    };
    if let Some(t) = st.tokens.get_mut(tok) {
        if t.client_id != id {
            return oauth_error(
                400,
                "unauthorized_client",
                "The client is not authorized to request a token using this method. Token was not issued to the client making the revocation request.",
            );
        }
        t.revoked = true;
    }
    (200, Vec::new(), Vec::new())
}
