//! `up`, `id`, `show`, `did-document`, `sign`, `verify`.

use crate::cache::KeyDir;
use crate::identity::{did_document, did_key, now_iso8601, Identity, KeyPair, PublicKey};
use crate::{Config, Error};
use serde_json::json;

use super::{config_with_flags, emit, opt, parse_or_help, switch, Flag, IDENTITY_FLAGS};

fn spec(extra: &[Flag]) -> Vec<Flag> {
    IDENTITY_FLAGS.iter().chain(extra).copied().collect()
}

/// Run one of the identity commands.
pub(crate) fn run(cmd: &str, rest: &[String]) -> Result<u8, Error> {
    match cmd {
        "up" => up(rest),
        "id" => id(rest),
        "show" => show(rest),
        "did-document" => document(rest),
        "sign" => sign(rest),
        "verify" => verify(rest),
        "token" => token(rest),
        _ => unreachable!("dispatched by cli::run"),
    }
}

pub(super) fn identity(c: &Config) -> Result<Identity, Error> {
    Identity::new(
        &c.identity.author,
        &c.identity.agent_name,
        c.identity.agent_id.as_deref(),
    )
}

pub(super) fn local_keys(c: &Config) -> Result<KeyPair, Error> {
    match KeyDir::new(&c.key_dir).read_keys_locked_repair(c.lock_timeout)? {
        Some(l) => Ok(l.keys),
        None => Err(Error::Config(format!(
            "no keys in {}: run `vaultid up` first",
            c.key_dir.display()
        ))),
    }
}

fn up(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        switch(
            "recreate-keys",
            "make a new key pair (the old one is kept aside) (VAULTID_RECREATE_KEYS)",
        ),
        switch(
            "require-hydra",
            "exit 3 when Hydra is configured but unreachable (default: the identity comes up, exit 0)",
        ),
        switch(
            "allow-offline-generate",
            "generate keys when Vault is unavailable and none exist locally (VAULTID_ALLOW_OFFLINE_GENERATE)",
        ),
    ]);
    let Some(a) = parse_or_help(
        rest,
        &spec,
        "vaultid up [options]",
        "Restore the agent's identity, or create it on first start: local keys, Vault (when enabled), Hydra (when configured).",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, "vaultid up [options]")?;
    let mut c = config_with_flags(&a)?;
    if a.has("recreate-keys") {
        c.recreate_keys = true;
    }
    if a.has("allow-offline-generate") {
        c.allow_offline_generate = true;
    }
    let outcome = crate::bootstrap::ensure(&c)?;
    let v = serde_json::to_value(&outcome)
        .map_err(|e| Error::Config(format!("encoding the outcome: {e}")))?;
    let hydra_down = outcome
        .hydra
        .as_ref()
        .is_some_and(|h| h.status != crate::bootstrap::HydraStatus::Ok);
    if hydra_down && a.has("require-hydra") {
        // A failure prints no success object: one line on stderr, exit 3.
        let detail = outcome
            .hydra
            .as_ref()
            .and_then(|h| h.error.as_deref())
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        eprintln!(
            "vaultid: {}",
            super::one_line(&format!(
                "Hydra is unavailable and --require-hydra was given; the keys are in place \
                 ({}){detail}",
                outcome.did
            ))
        );
        return Ok(3);
    }
    emit(&v, a.human()?);
    Ok(0)
}

fn id(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(
        rest,
        &spec(&[]),
        "vaultid id [options]",
        "Compute the agent id and DID from author and name (or --agent-id). Reads and writes nothing.",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, "vaultid id [options]")?;
    let c = config_with_flags(&a)?;
    let i = identity(&c)?;
    emit(&json!({"agent_id": i.agent_id, "did": i.did}), a.human()?);
    Ok(0)
}

fn show(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(
        rest,
        &spec(&[]),
        "vaultid show [options]",
        "Show the local identity: agent id, DID, public key (base58 and did:key). Never generates keys.",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, "vaultid show [options]")?;
    let c = config_with_flags(&a)?;
    let i = identity(&c)?;
    let keys = local_keys(&c)?;
    emit(
        &json!({
            "agent_id": i.agent_id,
            "did": i.did,
            "public_key_base58": keys.public().base58(),
            "did_key": did_key(&keys.public()),
            "key_dir": c.key_dir.display().to_string(),
        }),
        a.human()?,
    );
    Ok(0)
}

fn document(rest: &[String]) -> Result<u8, Error> {
    let Some(a) = parse_or_help(
        rest,
        &spec(&[]),
        "vaultid did-document [options]",
        "Print the agent's DID document (from the local keys).",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, "vaultid did-document [options]")?;
    let c = config_with_flags(&a)?;
    let i = identity(&c)?;
    let keys = local_keys(&c)?;
    let doc = did_document(&i.did, &keys.public(), &now_iso8601());
    if a.human()? {
        print!("{}", human_document(&doc));
    } else {
        emit(&doc, false);
    }
    Ok(0)
}

/// A readable form of a DID document: the DID, each key with its type
/// and base58 value, the creation time.
fn human_document(doc: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let mut out = format!("DID document for {}\n", s(&doc["id"]));
    for m in doc["authentication"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  authentication key {}\n    type:       {}\n    controller: {}\n    public key: {} (base58)\n",
            s(&m["id"]),
            s(&m["type"]),
            s(&m["controller"]),
            s(&m["publicKeyBase58"]),
        ));
    }
    out.push_str(&format!("  created: {}\n", s(&doc["created"])));
    out
}

/// The message: the positional text, `--file F`, or stdin for `-`.
fn message(a: &super::Args, positional: Option<&String>) -> Result<Vec<u8>, Error> {
    match (positional.map(String::as_str), a.value("file")) {
        (Some(_), Some(_)) => Err(Error::Config(
            "give the text either as an argument or with --file, not both".into(),
        )),
        (None, Some(f)) => crate::input::read(
            crate::input::Input::File(std::path::Path::new(f)),
            "the message",
            crate::input::MAX_DATA,
        ),
        (Some("-"), None) => crate::input::read(
            crate::input::Input::Stdin,
            "the message",
            crate::input::MAX_DATA,
        ),
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, None) => Err(Error::Config(
            "nothing to sign or verify: give TEXT, - (stdin) or --file F".into(),
        )),
    }
}

fn sign(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[opt("file", "sign the bytes of this file")]);
    let usage = "vaultid sign (TEXT | - | --file F) [options]";
    let Some(a) = parse_or_help(
        rest,
        &spec,
        usage,
        "Sign text with the agent's private key; prints the base58 Ed25519 signature.",
    )?
    else {
        return Ok(0);
    };
    a.at_most(1, usage)?;
    let c = config_with_flags(&a)?;
    let i = identity(&c)?;
    let msg = message(&a, a.positional.first())?;
    let keys = local_keys(&c)?;
    emit(
        &json!({
            "signature": keys.sign(&msg),
            "did": i.did,
            "public_key_base58": keys.public().base58(),
        }),
        a.human()?,
    );
    Ok(0)
}

fn verify(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        opt("file", "verify the bytes of this file"),
        opt(
            "public-key",
            "base58 public key to verify against (default: the local key)",
        ),
    ]);
    let usage = "vaultid verify (TEXT | - | --file F) SIGNATURE [options]";
    let Some(a) = parse_or_help(
        rest,
        &spec,
        usage,
        "Verify a base58 Ed25519 signature. Exit 0 when valid, 4 when not.",
    )?
    else {
        return Ok(0);
    };
    let want = if a.has("file") { 1 } else { 2 };
    a.exactly(want, usage)?;
    let (text, sig) = match (a.positional.as_slice(), a.value("file")) {
        ([sig], Some(_)) => (None, sig),
        ([t, sig], None) => (Some(t), sig),
        _ => return Err(Error::Config(format!("usage: {usage}"))),
    };
    let msg = message(&a, text)?;
    let public = match a.value("public-key") {
        Some(b58) => PublicKey::from_base58(b58)?,
        None => {
            let c = config_with_flags(&a)?;
            local_keys(&c)?.public()
        }
    };
    public.verify(&msg, sig)?;
    emit(
        &json!({"valid": true, "public_key_base58": public.base58()}),
        a.human()?,
    );
    Ok(0)
}

fn token(rest: &[String]) -> Result<u8, Error> {
    let spec = spec(&[
        opt(
            "scope",
            "space-separated scopes to request (default: HYDRA__SCOPE)",
        ),
        switch(
            "introspect",
            "also show what Hydra's introspection says about the token",
        ),
    ]);
    let Some(a) = parse_or_help(
        rest,
        &spec,
        "vaultid token [--scope S] [--introspect]",
        "An OAuth2 access token for the agent (client_credentials grant at HYDRA__PUBLIC_URL). Prints the token: it exists to.",
    )?
    else {
        return Ok(0);
    };
    a.exactly(0, "vaultid token [--scope S]")?;
    let c = config_with_flags(&a)?;
    let mut client = crate::bootstrap::token_client(&c)?;
    if let Some(s) = a.value("scope") {
        client = client.with_scopes(s.split_whitespace().map(str::to_string).collect());
    }
    let t = client.token()?;
    let mut v = json!({
        "access_token": t.access_token.expose(),
        "token_type": t.token_type,
        "expires_in": t.expires_in,
        "scope": t.scope,
    });
    if a.has("introspect") {
        let i = client.introspect(&t.access_token)?;
        v["active"] = json!(i.active);
        v["client_id"] = json!(i.client_id);
    }
    emit(&v, a.human()?);
    Ok(0)
}
