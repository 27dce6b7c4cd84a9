//! `sign-request`, `call`, `verify-request`: the framework's DID-signed
//! envelope (`crate::signing`) on the command line.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::identity_cmds::{identity, local_keys};
use super::{
    config_with_flags, emit, multi, opt, parse_or_help, switch, Args, Flag, IDENTITY_FLAGS,
};
use crate::input::{self, Input, MAX_DATA};
use crate::signing::{self, CallConfig, Caller, HydraKeys, SignatureHeaders, VerifyOptions};
use crate::Error;

fn spec(extra: &[Flag]) -> Vec<Flag> {
    IDENTITY_FLAGS.iter().chain(extra).copied().collect()
}

/// Run one of the signing commands.
pub(crate) fn run(cmd: &str, rest: &[String]) -> Result<u8, Error> {
    match cmd {
        "sign-request" => sign_request(rest),
        "call" => call(rest),
        "verify-request" => verify_request(rest),
        _ => unreachable!("dispatched by cli::run"),
    }
}

/// The body: the positional text, `-` (stdin) or `--file F`; none is the
/// empty body (a GET).
fn body(a: &Args, file_flag: &str) -> Result<Vec<u8>, Error> {
    match (a.positional.first().map(String::as_str), a.value(file_flag)) {
        (Some(_), Some(_)) => Err(Error::Config(format!(
            "give the body either as an argument or with --{file_flag}, not both"
        ))),
        (None, Some("-")) | (Some("-"), None) => input::read(Input::Stdin, "the body", MAX_DATA),
        (None, Some(f)) => input::read(Input::File(Path::new(f)), "the body", MAX_DATA),
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, None) => Ok(Vec::new()),
    }
}

/// `-format=json` (default) or `-format=headers` (`--human` is the same).
fn headers_format(a: &Args) -> Result<bool, Error> {
    match a.value("format") {
        None | Some("json") => Ok(a.has("human")),
        Some("headers") | Some("table") => Ok(true),
        Some(other) => Err(Error::Config(format!(
            "-format={other:?} is not supported: use json (the default) or headers"
        ))),
    }
}

fn sign_request(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        opt(
            "file",
            "sign the bytes of this file as the body (- for stdin)",
        ),
        opt("timestamp", "the signing time, Unix seconds (default: now)"),
        opt(
            "format",
            "json (default): one object; headers: `Name: value` lines",
        ),
    ]);
    let usage = "vaultid sign-request [BODY | - | --file F] [--timestamp UNIX] [-format=headers]";
    let Some(a) = parse_or_help(
        rest,
        &spec,
        usage,
        "The three headers (X-DID, X-DID-Signature, X-DID-Timestamp) the framework's agents \
         require with a call, for this exact body, signed with the agent's key.",
    )?
    else {
        return Ok(0);
    };
    a.at_most(1, usage)?;
    let lines = headers_format(&a)?;
    let timestamp = match a.value("timestamp") {
        None => crate::signing::unix_now(),
        Some(t) => {
            SignatureHeaders::parse("x", "x", t)
                .map_err(|e| Error::Config(format!("--timestamp: {e}")))?
                .timestamp
        }
    };
    let c = config_with_flags(&a)?;
    let id = identity(&c)?;
    let body = body(&a, "file")?;
    let keys = local_keys(&c)?;
    let h = signing::sign_request(&keys, &id.did, &body, timestamp)?;
    let v = json!({
        signing::HEADER_DID: h.did,
        signing::HEADER_SIGNATURE: h.signature,
        signing::HEADER_TIMESTAMP: h.timestamp.to_string(),
    });
    emit(&v, lines);
    Ok(0)
}

fn call(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        opt("X", "the method (default: GET, or POST with a body)"),
        opt("d", "the body, as given"),
        opt("data-file", "the body from a file (- for stdin)"),
        multi("H", "an extra header 'Name: value' (repeatable)"),
        switch(
            "include",
            "print the status line and headers before the body",
        ),
        opt("ca-cert", "CA certificates (PEM) to trust (VAULT_CACERT)"),
        opt("ca-path", "a directory of CA certificates (VAULT_CAPATH)"),
        opt(
            "client-cert",
            "client certificate for mTLS (VAULT_CLIENT_CERT)",
        ),
        opt("client-key", "client key for mTLS (VAULT_CLIENT_KEY)"),
        switch(
            "tls-skip-verify",
            "do not verify the server's certificate (VAULT_SKIP_VERIFY; dangerous)",
        ),
    ]);
    let usage = "vaultid call [-X METHOD] URL [-d BODY | --data-file F | --data-file -] \
                 [-H 'K: V']... [--include]";
    let Some(a) = parse_or_help(
        rest,
        &spec,
        usage,
        "Call another agent as this one: Authorization: Bearer <the agent's Hydra token> and the \
         DID signature over exactly the bytes sent. Prints the answer's body. Exit 0 on 2xx, 5 on \
         401/403, 3 when the agent cannot be reached, 1 otherwise.",
    )?
    else {
        return Ok(0);
    };
    let [url] = a.exactly(1, usage)? else {
        return Err(Error::Config(format!("usage: {usage}")));
    };
    let body = match (a.value("d"), a.value("data-file")) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(
                "give the body either with -d or with --data-file, not both".into(),
            ))
        }
        (Some(d), None) => Some(d.as_bytes().to_vec()),
        (None, Some("-")) => Some(input::read(Input::Stdin, "the body", MAX_DATA)?),
        (None, Some(f)) => Some(input::read(
            Input::File(Path::new(f)),
            "the body",
            MAX_DATA,
        )?),
        (None, None) => None,
    };
    let method = match a.value("X") {
        Some(m) => check_method(m)?,
        None if body.is_some() => "POST".to_string(),
        None => "GET".to_string(),
    };
    let mut headers = Vec::new();
    for h in a.values("H") {
        let (name, value) = h.split_once(':').ok_or_else(|| {
            Error::Config(format!(
                "-H {:?} is not 'Name: value'",
                h.chars().take(64).collect::<String>()
            ))
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let c = config_with_flags(&a)?;
    let mut cc = CallConfig::from_env()?;
    if let Some(p) = a.value("ca-cert") {
        cc.tls.ca_cert = Some(p.into());
    }
    if let Some(p) = a.value("ca-path") {
        cc.tls.ca_path = Some(p.into());
    }
    if let Some(p) = a.value("client-cert") {
        cc.tls.client_cert = Some(p.into());
    }
    if let Some(p) = a.value("client-key") {
        cc.tls.client_key = Some(p.into());
    }
    if a.has("tls-skip-verify") {
        cc.tls.skip_verify = true;
    }
    let id = identity(&c)?;
    let keys = local_keys(&c)?;
    let tokens = crate::bootstrap::token_client(&c)?;
    let caller = Caller::new(keys, &id.did, tokens, cc);
    let resp = caller.call(&method, url, &headers, body.as_deref().unwrap_or_default())?;
    let mut out = std::io::stdout().lock();
    if a.has("include") {
        let reason = ureq::http::StatusCode::from_u16(resp.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", resp.status);
        for (n, v) in &resp.headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let _ = write!(out, "\r\n");
    }
    let _ = out.write_all(&resp.body);
    let _ = out.flush();
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let code = match resp.status {
        200..=299 => 0,
        401 | 403 => 5,
        _ => 1,
    };
    if code != 0 {
        eprintln!(
            "vaultid: {}",
            super::one_line(&crate::escape_invisible(&format!(
                "the called agent answered HTTP {} ({method} {}){}",
                resp.status,
                crate::util::redact_url(path),
                if code == 5 {
                    "; it refused the token or the DID signature"
                } else {
                    ""
                }
            )))
        );
    }
    Ok(code)
}

/// An HTTP method: a token of letters (upper-cased, as curl sends it).
fn check_method(m: &str) -> Result<String, Error> {
    if m.is_empty() || m.len() > 32 || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::Config(format!(
            "-X {:?} is not an HTTP method",
            m.chars().take(32).collect::<String>()
        )));
    }
    Ok(m.to_ascii_uppercase())
}

fn verify_request(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        opt(
            "file",
            "verify the bytes of this file as the body (- for stdin)",
        ),
        opt("did", "the X-DID header"),
        opt("signature", "the X-DID-Signature header"),
        opt("timestamp", "the X-DID-Timestamp header"),
        opt("public-key", "the caller's base58 Ed25519 public key"),
        opt("did-document", "the caller's DID document (JSON file)"),
        switch(
            "hydra",
            "the key in the caller's Hydra client (metadata.public_key), as the framework reads it",
        ),
        opt(
            "window",
            "accepted clock distance, seconds either way (default 300)",
        ),
        opt("format", "json (default) or table (same as --human)"),
    ]);
    let usage = "vaultid verify-request [BODY | - | --file F] --did D --signature S --timestamp T \
                 [--public-key B58 | --did-document F | --hydra]";
    let Some(a) = parse_or_help(
        rest,
        &spec,
        usage,
        "Check a DID-signed request as the framework's middleware does. Exit 0 when valid, 4 \
         with the reason when not (timestamp_out_of_window, malformed_input, did_mismatch, \
         crypto_mismatch, public_key_unavailable). Without a key flag a did:key DID is its own key.",
    )?
    else {
        return Ok(0);
    };
    a.at_most(1, usage)?;
    let need = |name: &str| {
        a.value(name)
            .ok_or_else(|| Error::Config(format!("--{name} is required; usage: {usage}")))
    };
    let headers = SignatureHeaders::parse(need("did")?, need("signature")?, need("timestamp")?)?;
    let mut options = VerifyOptions::default();
    if let Some(w) = a.number::<u64>("window")? {
        options.window = std::time::Duration::from_secs(w);
    }
    let human = a.human()?;
    let given = ["public-key", "did-document", "hydra"]
        .iter()
        .filter(|f| a.has(f))
        .count();
    if given > 1 {
        return Err(Error::Config(
            "give one of --public-key, --did-document and --hydra".into(),
        ));
    }
    let body = body(&a, "file")?;
    let did = headers.did.as_str();
    let key = if let Some(k) = a.value("public-key") {
        signing::public_key_from_base58(k)?
    } else if let Some(f) = a.value("did-document") {
        let doc = input::read(
            Input::File(Path::new(f)),
            "the DID document",
            signing::MAX_DID_DOCUMENT as u64,
        )?;
        signing::public_key_from_did_document(&doc, did)?
    } else if a.has("hydra") {
        let c = config_with_flags(&a)?;
        let hydra = c.hydra.as_ref().ok_or_else(|| {
            Error::Config("--hydra needs Hydra's admin API: set HYDRA__ADMIN_URL".into())
        })?;
        HydraKeys::new(hydra)?.public_key(did)?
    } else {
        match signing::public_key_from_did(did) {
            Some(k) => k?,
            None => {
                return Err(Error::Config(format!(
                    "{did:?} is not a did:key, so its key must be given: --public-key, \
                     --did-document or --hydra"
                )))
            }
        }
    };
    signing::verify_request(&headers, &body, &key, &options)?;
    emit(
        &json!({"valid": true, "did": did, "public_key_base58": key.base58()}),
        human,
    );
    Ok(0)
}
