//! Support module for the Hydra integration tests: the Hydra test double and
//! the OpenAPI checker that pins it to Hydra's published API.
//!
//! No real Hydra runs in the test environment. Its behaviour is pinned by
//! [`server::HydraDouble`], a stateful in-memory HTTP/1.1 server, and every
//! request it receives and every response it sends can be checked against
//! the facts of Hydra's own OpenAPI document (`tests/fixtures/hydra/openapi.json`)
//! with [`assert_all_valid`]. The shapes of its client JSON are compared with
//! the answers saved from Hydra's handler tests
//! (`tests/fixtures/hydra/handler-answers.json`). Both fixtures are written by
//! `scripts/hydra-fixtures.py` from Hydra's published references.
//!
//! Use from a test crate:
//!
//! ```ignore
//! mod hydra_double;
//! use hydra_double::{assert_all_valid, HydraDouble};
//!
//! let double = HydraDouble::start();
//! // ... talk to double.url() ...
//! assert_all_valid(&double);
//! ```

pub mod codec;
pub mod oauth;
pub mod routes;
pub mod server;
pub mod spec;
pub mod store;

pub use server::HydraDouble;
pub use spec::Spec;

/// Check every exchange the double has recorded so far against Hydra's
/// OpenAPI document: the operation exists, the status is one the operation
/// lists (or it has a `default`), the request body matches the operation's
/// request schema and the response body matches the response schema.
///
/// Panics with one line per problem, naming the exchange.
pub fn assert_all_valid(double: &HydraDouble) {
    let spec = Spec::load();
    let exchanges = double.exchanges();
    assert!(
        !exchanges.is_empty(),
        "the Hydra test double recorded no exchanges to validate"
    );
    let mut problems = Vec::new();
    for (i, ex) in exchanges.iter().enumerate() {
        for p in spec.check_exchange(ex) {
            problems.push(format!(
                "#{i} {} {} -> {}: {p}",
                ex.method, ex.target, ex.status
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} exchange(s) do not match Hydra's OpenAPI document:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
