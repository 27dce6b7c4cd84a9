//! Hydra answers: clients, token and introspection answers and error
//! bodies, whatever bytes the server sends.
//!
//! A client that parses must survive being written back (that is how a
//! stale client is updated without losing fields), and a token that parses
//! must be usable by the token cache.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::hydra::{
    is_fresh, parse_client, parse_error, parse_introspection, parse_token_response, refresh_at,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(client) = parse_client(data) {
        let body = serde_json::to_vec(&client.to_json()).expect("a client serialises");
        let again = parse_client(&body).expect("a written client reads back");
        assert_eq!(again, client);
        let _ = (
            client.metadata_public_key(),
            client.scopes(),
            format!("{client:?}"),
        );
    }
    if let Ok(token) = parse_token_response(data) {
        // What the token cache asks of every token it holds.
        let _ = (token.expires_at(), refresh_at(&token), is_fresh(&token));
        let _ = format!("{token:?}");
    }
    let _ = parse_introspection(data);
    for message in parse_error(data) {
        assert!(message.chars().count() <= 501, "error messages are cut");
    }
});
