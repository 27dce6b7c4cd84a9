//! The startup decision, every branch, on in-memory stores: no server, no
//! files, no sockets. Each table row sets up Vault, the key directory and
//! Hydra, runs the step, and checks what was chosen and what was written.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::oauth::{ClientAction, Step, VaultCreds};
use super::store::memory::{Dir, Hydra, Kv, AFTER_CONFLICT_READS};
use super::store::Local;
use super::{keys_path, Policy, Run, VaultKeys, VaultStatus};
use crate::bootstrap::{credentials_path, HydraStatus, Place, Source};
use crate::cache::StoredCredentials;
use crate::config::{HydraConfig, TokenAuth};
use crate::error::Error;
use crate::hydra::OAuthClient;
use crate::identity::{Identity, KeyPair};
use crate::secret_string::SecretString;

fn identity() -> Identity {
    Identity::new("user@example.com", "decider", None).unwrap()
}

fn key_data(keys: &KeyPair, did: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("private_key".into(), keys.private_pem().expose().into());
    m.insert("public_key".into(), keys.public_pem().into());
    m.insert("did".into(), did.into());
    m
}

// ---------------------------------------------------------------------------
// The key step

#[derive(Clone, Copy, Debug)]
enum VaultState {
    /// Not configured.
    Off,
    /// Answers, holds nothing.
    Empty,
    /// Answers, holds pair A.
    HoldsA,
    /// Answers, holds a pair for another DID.
    HoldsForeign,
    /// Does not answer.
    Down,
}

#[derive(Clone, Copy, Debug)]
enum LocalState {
    None,
    A,
    B,
    Unreadable,
}

/// Which key the run ended with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Key {
    A,
    B,
    /// Another host's, stored while this run raced it.
    Racer,
    /// Made by this run.
    New,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok {
        key: Key,
        source: Source,
        /// Writes of the pair to Vault (and the cas of the first).
        vault_writes: usize,
        local_writes: usize,
        set_aside: usize,
    },
    Err(&'static str),
}

struct KeyCase {
    name: &'static str,
    vault: VaultState,
    local: LocalState,
    recreate: bool,
    offline_generate: bool,
    /// Another host stores its pair just before this run's Vault write.
    race: bool,
    /// Reads after the write that answer empty.
    stale_reads: usize,
    expect: Expect,
}

const fn case(name: &'static str, vault: VaultState, local: LocalState, expect: Expect) -> KeyCase {
    KeyCase {
        name,
        vault,
        local,
        recreate: false,
        offline_generate: false,
        race: false,
        stale_reads: 0,
        expect,
    }
}

const fn ok(
    key: Key,
    source: Source,
    vault_writes: usize,
    local_writes: usize,
    set_aside: usize,
) -> Expect {
    Expect::Ok {
        key,
        source,
        vault_writes,
        local_writes,
        set_aside,
    }
}

fn key_cases() -> Vec<KeyCase> {
    use LocalState as L;
    use Source::{Generated, Local as FromLocal, Vault};
    use VaultState as V;
    vec![
        case(
            "no Vault, no local: generate",
            V::Off,
            L::None,
            ok(Key::New, Generated, 0, 1, 0),
        ),
        case(
            "no Vault, local: use it, write nothing",
            V::Off,
            L::A,
            ok(Key::A, FromLocal, 0, 0, 0),
        ),
        case(
            "no Vault, unreadable local: refuse",
            V::Off,
            L::Unreadable,
            Expect::Err("never overwrites"),
        ),
        KeyCase {
            recreate: true,
            ..case(
                "no Vault, recreate: new pair, old aside",
                V::Off,
                L::A,
                ok(Key::New, Generated, 0, 1, 1),
            )
        },
        KeyCase {
            recreate: true,
            ..case(
                "no Vault, recreate without keys",
                V::Off,
                L::None,
                ok(Key::New, Generated, 0, 1, 0),
            )
        },
        case(
            "Vault keys = local keys: nothing written",
            V::HoldsA,
            L::A,
            ok(Key::A, Vault, 0, 0, 0),
        ),
        case(
            "Vault keys differ from local: Vault wins, local aside",
            V::HoldsA,
            L::B,
            ok(Key::A, Vault, 0, 1, 1),
        ),
        case(
            "Vault keys, no local: restored",
            V::HoldsA,
            L::None,
            ok(Key::A, Vault, 0, 1, 0),
        ),
        case(
            "Vault keys, unreadable local: set aside, restored",
            V::HoldsA,
            L::Unreadable,
            ok(Key::A, Vault, 0, 1, 1),
        ),
        KeyCase {
            recreate: true,
            ..case(
                "Vault keys, recreate: cas on the version read",
                V::HoldsA,
                L::A,
                ok(Key::New, Generated, 1, 1, 1),
            )
        },
        KeyCase {
            recreate: true,
            race: true,
            ..case(
                "Vault keys, recreate loses its CAS: error",
                V::HoldsA,
                L::A,
                Expect::Err("check-and-set"),
            )
        },
        case(
            "Vault keys for another DID: refuse",
            V::HoldsForeign,
            L::A,
            Expect::Err("Refusing to overwrite"),
        ),
        case(
            "Vault empty, local: migrated with cas=0",
            V::Empty,
            L::A,
            ok(Key::A, FromLocal, 1, 0, 0),
        ),
        case(
            "Vault empty, no local: generated, both written",
            V::Empty,
            L::None,
            ok(Key::New, Generated, 1, 1, 0),
        ),
        case(
            "Vault empty, unreadable local: refuse",
            V::Empty,
            L::Unreadable,
            Expect::Err("never overwrites"),
        ),
        KeyCase {
            recreate: true,
            ..case(
                "Vault empty, recreate: new pair, old aside",
                V::Empty,
                L::A,
                ok(Key::New, Generated, 1, 1, 1),
            )
        },
        KeyCase {
            race: true,
            ..case(
                "first start loses the CAS: adopt the winner",
                V::Empty,
                L::None,
                ok(Key::Racer, Vault, 0, 1, 0),
            )
        },
        KeyCase {
            race: true,
            ..case(
                "migration loses the CAS: winner adopted, local aside",
                V::Empty,
                L::A,
                ok(Key::Racer, Vault, 0, 1, 1),
            )
        },
        KeyCase {
            race: true,
            stale_reads: 1,
            ..case(
                "lost CAS, a stale read, then the winner shows: adopted",
                V::Empty,
                L::None,
                ok(Key::Racer, Vault, 0, 1, 0),
            )
        },
        KeyCase {
            race: true,
            stale_reads: AFTER_CONFLICT_READS,
            ..case(
                "lost CAS, no node shows the winner: error, nothing adopted",
                V::Empty,
                L::None,
                Expect::Err("no Vault node showed"),
            )
        },
        case(
            "Vault down, local: offline from local",
            V::Down,
            L::A,
            ok(Key::A, FromLocal, 0, 0, 0),
        ),
        case(
            "Vault down, no local: refuse to fork",
            V::Down,
            L::None,
            Expect::Err("fork the identity"),
        ),
        KeyCase {
            offline_generate: true,
            ..case(
                "Vault down, no local, offline generation allowed",
                V::Down,
                L::None,
                ok(Key::New, Generated, 0, 1, 0),
            )
        },
        KeyCase {
            recreate: true,
            ..case(
                "Vault down, recreate: refuse",
                V::Down,
                L::A,
                Expect::Err("needs Vault"),
            )
        },
        case(
            "Vault down, unreadable local: refuse",
            V::Down,
            L::Unreadable,
            Expect::Err("never overwrites"),
        ),
    ]
}

#[test]
fn key_step_table() {
    let id = identity();
    let a = KeyPair::generate();
    let b = KeyPair::generate();
    let racer = KeyPair::generate();
    let path = keys_path("vaultid", &id.agent_id);
    for c in key_cases() {
        let kv = Kv::default();
        match c.vault {
            VaultState::HoldsA => kv.put(&path, key_data(&a, &id.did)),
            VaultState::HoldsForeign => kv.put(&path, key_data(&a, "did:key:someone-else")),
            VaultState::Down => *kv.unavailable.borrow_mut() = true,
            VaultState::Off | VaultState::Empty => {}
        }
        if c.race {
            *kv.racer.borrow_mut() = Some((path.clone(), key_data(&racer, &id.did)));
        }
        *kv.stale_reads.borrow_mut() = 0;
        let dir = match c.local {
            LocalState::None => Dir::default(),
            LocalState::A => Dir::with_keys(&a),
            LocalState::B => Dir::with_keys(&b),
            LocalState::Unreadable => {
                let d = Dir::default();
                *d.unreadable.borrow_mut() = true;
                d
            }
        };
        let policy = Policy {
            recreate_keys: c.recreate,
            allow_offline_generate: c.offline_generate,
        };
        let mut run = Run::new(&id, &dir, policy);
        let local = dir.read_keys();
        let store = VaultKeys {
            kv: &kv,
            path: path.clone(),
        };
        // The stale reads start after the first (deciding) read.
        let result = match c.vault {
            VaultState::Off => run.local_only(local),
            _ if c.stale_reads > 0 => {
                let found = store.read(&id.did);
                *kv.stale_reads.borrow_mut() = c.stale_reads;
                match found {
                    Ok(found) => {
                        run.vault = VaultStatus::Ok;
                        run.vault_version = found.as_ref().map(|(_, v)| *v);
                        run.decide(&store, found, local)
                    }
                    Err(e) => Err(e),
                }
            }
            _ => run.with_vault(&store, local),
        };
        let name = c.name;
        match (c.expect, result) {
            (Expect::Err(text), Err(e)) => {
                assert!(e.to_string().contains(text), "{name}: error {e}");
                // A failed run never loses the pair it found.
                match c.local {
                    LocalState::A => assert_eq!(dir.public(), Some(a.public().base58()), "{name}"),
                    LocalState::None => assert!(!dir.has_private_key() || c.race, "{name}"),
                    _ => {}
                }
            }
            (Expect::Err(text), Ok((k, s))) => {
                panic!(
                    "{name}: expected an error with {text:?}, got {s:?} {}",
                    k.public().base58()
                )
            }
            (Expect::Ok { .. }, Err(e)) => panic!("{name}: {e}"),
            (
                Expect::Ok {
                    key,
                    source,
                    vault_writes,
                    local_writes,
                    set_aside,
                },
                Ok((keys, got_source)),
            ) => {
                let got_key = if keys.public() == a.public() {
                    Key::A
                } else if keys.public() == b.public() {
                    Key::B
                } else if keys.public() == racer.public() {
                    Key::Racer
                } else {
                    Key::New
                };
                assert_eq!((got_key, got_source), (key, source), "{name}");
                assert_eq!(
                    kv.writes.borrow().len(),
                    vault_writes,
                    "{name}: Vault writes"
                );
                assert_eq!(
                    *dir.key_writes.borrow(),
                    local_writes,
                    "{name}: local writes"
                );
                assert_eq!(run.set_aside.len(), set_aside, "{name}: set aside");
                assert_eq!(
                    dir.aside.borrow().len()
                        + usize::from(matches!(c.local, LocalState::Unreadable) && set_aside > 0),
                    set_aside,
                    "{name}: pairs kept aside"
                );
                // The local pair is the one in use, and Vault (when it
                // answered) holds it too.
                assert_eq!(
                    dir.public(),
                    Some(keys.public().base58()),
                    "{name}: local pair"
                );
                let status = match c.vault {
                    VaultState::Off => VaultStatus::Disabled,
                    VaultState::Down => VaultStatus::Unavailable,
                    _ => VaultStatus::Ok,
                };
                assert_eq!(run.vault, status, "{name}");
                if status == VaultStatus::Ok {
                    let stored = kv.latest(&path).expect("Vault holds the pair");
                    assert_eq!(
                        stored["public_key"],
                        json!(keys.public_pem()),
                        "{name}: Vault pair"
                    );
                    assert_eq!(
                        run.vault_version,
                        Some(kv.version(&path)),
                        "{name}: version"
                    );
                }
                if status == VaultStatus::Unavailable {
                    assert!(run.vault_error.is_some(), "{name}: the cause is kept");
                    assert!(
                        run.warnings.iter().any(|w| w.contains("Vault unavailable")),
                        "{name}"
                    );
                }
                // Every write is reported, Vault's with its version.
                let vault_lines = run
                    .written
                    .iter()
                    .filter(|w| w.place == Place::Vault)
                    .count();
                let local_lines = run
                    .written
                    .iter()
                    .filter(|w| w.place == Place::Local)
                    .count();
                assert_eq!(
                    (vault_lines, local_lines),
                    (vault_writes, local_writes),
                    "{name}: {:?}",
                    run.written
                );
            }
        }
    }
}

#[test]
fn an_unchanged_restart_writes_nothing() {
    let id = identity();
    let a = KeyPair::generate();
    let path = keys_path("vaultid", &id.agent_id);
    let kv = Kv::default();
    kv.put(&path, key_data(&a, &id.did));
    let dir = Dir::with_keys(&a);
    for _ in 0..3 {
        let mut run = Run::new(&id, &dir, Policy::default());
        let store = VaultKeys {
            kv: &kv,
            path: path.clone(),
        };
        let (keys, source) = run.with_vault(&store, dir.read_keys()).unwrap();
        assert_eq!((keys.public(), source), (a.public(), Source::Vault));
        assert!(run.written.is_empty() && run.warnings.is_empty());
    }
    assert_eq!(kv.version(&path), 1);
}

// ---------------------------------------------------------------------------
// The Hydra step

fn hydra_config() -> HydraConfig {
    HydraConfig {
        admin_url: "http://127.0.0.1:9".into(),
        public_url: None,
        timeout: Duration::from_secs(1),
        verify_ssl: true,
        max_retries: 0,
        auto_register: true,
        scopes: vec!["agent:read".into()],
        token_auth: TokenAuth::Post,
    }
}

fn creds(id: &Identity, secret: &str) -> StoredCredentials {
    StoredCredentials {
        agent_id: id.agent_id.clone(),
        client_id: id.did.clone(),
        client_secret: SecretString::new(secret),
        created_at: "2026-01-01T00:00:00+00:00".into(),
        scopes: vec!["agent:read".into()],
    }
}

/// The client as registered for `keys` with `secret` and `scope`.
fn client(id: &Identity, keys: &KeyPair, secret: &str, scope: &str) -> OAuthClient {
    let agent = crate::hydra::AgentRegistration {
        agent_id: &id.agent_id,
        did: &id.did,
        agent_name: &id.agent_name,
        public_key_base58: &keys.public().base58(),
        agent_url: None,
    };
    let mut c =
        crate::hydra::registration_body(&agent, &SecretString::new(secret), &[scope.to_string()]);
    c.scope = scope.to_string();
    c
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum HydraClient {
    Missing,
    /// Registered with the held secret, up to date.
    Current,
    /// Registered with the held secret for an older public key.
    StaleKey,
    /// Registered with the held secret and another scope.
    StaleScope,
    /// Registered with the held secret for another token endpoint
    /// authentication method than the configured one.
    StaleMethod,
    /// Missing at the GET; "another replica" creates it (secret R) before
    /// this run's create, which gets a 409.
    RacedCreate,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Held {
    Nothing,
    /// Secret V in Vault.
    Vault,
    /// Secret L in the local file only.
    Local,
    /// Something in Vault that is not credentials.
    Corrupt,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Secret {
    V,
    L,
    /// Another replica's.
    R,
    New,
}

struct HydraCase {
    name: &'static str,
    held: Held,
    client: HydraClient,
    /// The client exists but its secret is held nowhere (orphaned).
    orphaned: bool,
    vault_down: bool,
    hydra_down: bool,
    /// Another replica stores secret R in Vault just before this run's
    /// next Vault write.
    vault_race: bool,
    /// Reads of Vault's credentials that answer empty, from the first.
    stale_reads: usize,
    expect: HydraExpect,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum HydraExpect {
    Ok {
        action: ClientAction,
        source: Source,
        /// The secret in use, which Hydra accepts and the local file holds.
        secret: Secret,
        /// Requests to Hydra.
        calls: &'static [&'static str],
        vault_writes: usize,
    },
    Unavailable,
    Err(&'static str),
}

const fn hcase(
    name: &'static str,
    held: Held,
    client: HydraClient,
    expect: HydraExpect,
) -> HydraCase {
    HydraCase {
        name,
        held,
        client,
        orphaned: false,
        vault_down: false,
        hydra_down: false,
        vault_race: false,
        stale_reads: 0,
        expect,
    }
}

const fn hok(
    action: ClientAction,
    source: Source,
    secret: Secret,
    calls: &'static [&'static str],
    vault_writes: usize,
) -> HydraExpect {
    HydraExpect::Ok {
        action,
        source,
        secret,
        calls,
        vault_writes,
    }
}

fn hydra_cases() -> Vec<HydraCase> {
    use ClientAction as A;
    use HydraClient as C;
    use Source as S;
    vec![
        hcase(
            "missing, nothing held: claim a new secret, create",
            Held::Nothing,
            C::Missing,
            hok(A::Created, S::Generated, Secret::New, &["GET", "POST"], 1),
        ),
        HydraCase {
            vault_race: true,
            ..hcase(
                "missing, the claim loses: create with the winner's secret",
                Held::Nothing,
                C::Missing,
                hok(A::Created, S::Vault, Secret::R, &["GET", "POST"], 0),
            )
        },
        hcase(
            "missing, secret in Vault: recreated with it",
            Held::Vault,
            C::Missing,
            hok(A::Created, S::Vault, Secret::V, &["GET", "POST"], 0),
        ),
        hcase(
            "missing, secret only local: created, backed up to Vault",
            Held::Local,
            C::Missing,
            hok(A::Created, S::Local, Secret::L, &["GET", "POST"], 1),
        ),
        HydraCase {
            stale_reads: 1,
            ..hcase(
                "409: another replica created it, its secret adopted",
                Held::Nothing,
                C::RacedCreate,
                hok(A::Adopted, S::Vault, Secret::R, &["GET", "POST"], 0),
            )
        },
        HydraCase {
            vault_race: true,
            ..hcase(
                "409 while Vault changed: ours kept locally, Vault left as it is",
                Held::Local,
                C::RacedCreate,
                hok(A::Adopted, S::Local, Secret::L, &["GET", "POST"], 0),
            )
        },
        hcase(
            "present and current: reused, nothing written",
            Held::Vault,
            C::Current,
            hok(A::Reused, S::Vault, Secret::V, &["GET"], 0),
        ),
        hcase(
            "present with a stale public key: PUT, secret kept",
            Held::Vault,
            C::StaleKey,
            hok(A::Updated, S::Vault, Secret::V, &["GET", "PUT"], 0),
        ),
        hcase(
            "present with a stale scope: PUT, secret kept",
            Held::Vault,
            C::StaleScope,
            hok(A::Updated, S::Vault, Secret::V, &["GET", "PUT"], 0),
        ),
        hcase(
            "present with another token auth method: PUT, secret kept",
            Held::Vault,
            C::StaleMethod,
            hok(A::Updated, S::Vault, Secret::V, &["GET", "PUT"], 0),
        ),
        HydraCase {
            orphaned: true,
            ..hcase(
                "orphaned: new secret PUT on the same client, then claimed",
                Held::Nothing,
                C::Current,
                hok(
                    A::SecretReset,
                    S::Generated,
                    Secret::New,
                    &["GET", "PUT"],
                    1,
                ),
            )
        },
        HydraCase {
            orphaned: true,
            vault_race: true,
            ..hcase(
                "orphaned, the claim loses: the winner's secret PUT last",
                Held::Nothing,
                C::Current,
                hok(
                    A::SecretReset,
                    S::Vault,
                    Secret::R,
                    &["GET", "PUT", "PUT"],
                    0,
                ),
            )
        },
        HydraCase {
            orphaned: true,
            stale_reads: 1,
            ..hcase(
                "orphaned at the first read, claimed since: adopted",
                Held::Nothing,
                C::Current,
                hok(A::Adopted, S::Vault, Secret::R, &["GET"], 0),
            )
        },
        HydraCase {
            hydra_down: true,
            ..hcase(
                "Hydra down: unavailable, the identity still up",
                Held::Vault,
                C::Current,
                HydraExpect::Unavailable,
            )
        },
        HydraCase {
            vault_down: true,
            ..hcase(
                "Vault down, no local secret: deferred, Hydra untouched",
                Held::Nothing,
                C::Missing,
                HydraExpect::Unavailable,
            )
        },
        HydraCase {
            vault_down: true,
            ..hcase(
                "Vault down, local secret: used as it is",
                Held::Local,
                C::Current,
                hok(A::Reused, S::Local, Secret::L, &["GET"], 0),
            )
        },
        HydraCase {
            vault_race: true,
            stale_reads: 2,
            ..hcase(
                "claim loses, a stale read, then the winner shows: created with its secret",
                Held::Nothing,
                C::Missing,
                hok(A::Created, S::Vault, Secret::R, &["GET", "POST"], 0),
            )
        },
        hcase(
            "Vault holds no credentials but something else: error, nothing changed",
            Held::Corrupt,
            C::Current,
            HydraExpect::Err("hydra/credentials"),
        ),
        HydraCase {
            vault_race: true,
            stale_reads: 1 + AFTER_CONFLICT_READS,
            ..hcase(
                "claim loses, no node shows the winner: deferred, Hydra untouched",
                Held::Nothing,
                C::Missing,
                HydraExpect::Unavailable,
            )
        },
    ]
}

#[test]
fn hydra_step_table() {
    let id = identity();
    let keys = KeyPair::generate();
    let old_keys = KeyPair::generate();
    let cfg = hydra_config();
    let path = credentials_path("vaultid", &id.did);
    let secret_of = |s: Secret| match s {
        Secret::V => "vault-held-secret",
        Secret::L => "local-held-secret",
        Secret::R => "racing-replica-secret",
        Secret::New => "",
    };
    for c in hydra_cases() {
        let name = c.name;
        let kv = Kv::default();
        let dir = Dir::with_keys(&keys);
        let hydra = Hydra::default();
        let held_secret = match c.held {
            Held::Vault => {
                kv.put(&path, creds(&id, secret_of(Secret::V)).to_json());
                secret_of(Secret::V)
            }
            Held::Local => {
                *dir.creds.borrow_mut() = Some(creds(&id, secret_of(Secret::L)));
                secret_of(Secret::L)
            }
            Held::Nothing => "some-forgotten-secret",
            Held::Corrupt => {
                kv.put(&path, json!({"client_id": 7}).as_object().unwrap().clone());
                "some-forgotten-secret"
            }
        };
        if c.stale_reads > 0 && c.client != HydraClient::Missing {
            // Another replica's secret is in Vault, unseen by the first read.
            kv.put(&path, creds(&id, secret_of(Secret::R)).to_json());
        }
        // An orphaned client that another replica has claimed since carries
        // that replica's secret already.
        let held_secret = if c.orphaned && c.stale_reads > 0 {
            secret_of(Secret::R)
        } else {
            held_secret
        };
        *kv.stale_reads.borrow_mut() = c.stale_reads;
        if c.vault_race {
            *kv.racer.borrow_mut() =
                Some((path.clone(), creds(&id, secret_of(Secret::R)).to_json()));
        }
        let registered = match c.client {
            HydraClient::Missing | HydraClient::RacedCreate => None,
            HydraClient::Current => Some(client(&id, &keys, held_secret, "agent:read")),
            HydraClient::StaleKey => Some(client(&id, &old_keys, held_secret, "agent:read")),
            HydraClient::StaleScope => {
                Some(client(&id, &keys, held_secret, "agent:read agent:write"))
            }
            HydraClient::StaleMethod => {
                let mut c = client(&id, &keys, held_secret, "agent:read");
                c.token_endpoint_auth_method = "client_secret_basic".into();
                Some(c)
            }
        };
        if let Some(r) = registered {
            hydra.clients.borrow_mut().insert(id.did.clone(), r);
        }
        if c.client == HydraClient::RacedCreate {
            *hydra.racer.borrow_mut() =
                Some(client(&id, &keys, secret_of(Secret::R), "agent:read"));
        }
        *hydra.unavailable.borrow_mut() = c.hydra_down;
        assert!(
            c.orphaned == (c.held == Held::Nothing && registered_exists(&c)),
            "{name}: case set-up"
        );

        let step = Step {
            config: &cfg,
            identity: &id,
            keys: &keys,
            local: &dir,
            hydra: &hydra,
            vault: (!c.vault_down).then(|| VaultCreds {
                kv: &kv,
                path: path.clone(),
            }),
            vault_unavailable: c.vault_down,
            written: Vec::new(),
            warnings: Vec::new(),
        };
        let result = step.run();
        match (c.expect, result) {
            (HydraExpect::Err(text), Err(e)) => {
                assert!(e.to_string().contains(text), "{name}: {e}");
                assert!(!matches!(e, Error::Unavailable(_)), "{name}");
                assert!(hydra.calls.borrow().is_empty(), "{name}: Hydra untouched");
                assert!(dir.creds.borrow().is_none(), "{name}: nothing written");
            }
            (HydraExpect::Err(text), Ok((o, ..))) => panic!("{name}: expected {text:?}, got {o:?}"),
            (_, Err(e)) => panic!("{name}: {e}"),
            (HydraExpect::Unavailable, Ok((o, written, warnings))) => {
                assert_eq!(o.status, HydraStatus::Unavailable, "{name}");
                assert_eq!(o.client, ClientAction::None, "{name}");
                assert!(
                    o.error.is_some() && o.credentials_source.is_none(),
                    "{name}"
                );
                assert!(written.is_empty(), "{name}: {written:?}");
                assert!(
                    warnings.iter().any(|w| w.contains("Hydra unavailable")),
                    "{name}"
                );
                if c.vault_down || c.vault_race {
                    assert!(
                        hydra.calls.borrow().iter().all(|m| *m == "GET"),
                        "{name}: no secret reaches Hydra"
                    );
                }
            }
            (
                HydraExpect::Ok {
                    action,
                    source,
                    secret,
                    calls,
                    vault_writes,
                },
                Ok((o, written, warnings)),
            ) => {
                assert_eq!(o.status, HydraStatus::Ok, "{name}");
                assert_eq!(
                    (o.client, o.credentials_source),
                    (action, Some(source)),
                    "{name}"
                );
                assert_eq!(
                    hydra.calls.borrow().as_slice(),
                    calls,
                    "{name}: Hydra requests"
                );
                assert_eq!(
                    kv.writes.borrow().len(),
                    vault_writes,
                    "{name}: Vault writes"
                );
                // One secret everywhere: Hydra's, the local file's and
                // (when Vault answered) Vault's. The exception: a 409 while
                // Vault changed under this run keeps what it held, and the
                // next run reads the winner's from Vault.
                let used = dir
                    .creds
                    .borrow()
                    .clone()
                    .expect("local credentials")
                    .client_secret;
                let used = used.expose().to_string();
                let raced_both = c.vault_race && c.client == HydraClient::RacedCreate;
                let in_hydra = hydra.secret(&id.did).expect("client registered");
                if raced_both {
                    assert_eq!(in_hydra, secret_of(Secret::R), "{name}");
                    assert_eq!(
                        kv.latest(&path).unwrap()["client_secret"],
                        json!(secret_of(Secret::R)),
                        "{name}"
                    );
                    assert!(
                        warnings
                            .iter()
                            .any(|w| w.contains("changed during this run")),
                        "{name}: {warnings:?}"
                    );
                } else {
                    assert_eq!(used, in_hydra, "{name}: Hydra and the local file agree");
                }
                let in_hydra = used;
                match secret {
                    Secret::New => {
                        for s in [Secret::V, Secret::L, Secret::R] {
                            assert_ne!(in_hydra, secret_of(s), "{name}");
                        }
                        assert_eq!(in_hydra.len(), 43, "{name}: 32 random bytes");
                    }
                    s => assert_eq!(in_hydra, secret_of(s), "{name}"),
                }
                if !c.vault_down && !raced_both {
                    let v = kv.latest(&path).expect("Vault holds the credentials");
                    assert_eq!(v["client_secret"], json!(in_hydra), "{name}: Vault agrees");
                }
                if action == ClientAction::Updated {
                    let c = hydra.clients.borrow()[&id.did].clone();
                    assert_eq!(
                        c.metadata_public_key(),
                        Some(keys.public().base58().as_str()),
                        "{name}"
                    );
                    assert_eq!(c.scope, "agent:read", "{name}");
                    assert_eq!(c.token_endpoint_auth_method, "client_secret_post", "{name}");
                }
                if let Some(c) = hydra.clients.borrow().get(&id.did) {
                    assert_eq!(
                        c.token_endpoint_auth_method, "client_secret_post",
                        "{name}: registered with the configured method"
                    );
                }
                let vault_lines = written.iter().filter(|w| w.place == Place::Vault).count();
                assert_eq!(vault_lines, vault_writes, "{name}: {written:?}");
            }
        }
    }
}

fn registered_exists(c: &HydraCase) -> bool {
    !matches!(c.client, HydraClient::Missing | HydraClient::RacedCreate)
}

/// `HYDRA__TOKEN_AUTH_METHOD=client_secret_basic`: a new client is
/// registered for Basic, and a client registered for `client_secret_post`
/// is updated in place with `PUT`, its secret kept: never deleted and
/// recreated. An empty method is Hydra's default, Basic: left alone.
#[test]
fn the_client_is_registered_with_the_configured_auth_method() {
    let id = identity();
    let keys = KeyPair::generate();
    let mut cfg = hydra_config();
    cfg.token_auth = TokenAuth::Basic;
    let path = credentials_path("vaultid", &id.did);
    for (existing, calls, action) in [
        (None, &["GET", "POST"][..], ClientAction::Created),
        (
            Some("client_secret_post"),
            &["GET", "PUT"][..],
            ClientAction::Updated,
        ),
        // Empty: Hydra's default, which is Basic.
        (Some(""), &["GET"][..], ClientAction::Reused),
        (
            Some("client_secret_basic"),
            &["GET"][..],
            ClientAction::Reused,
        ),
    ] {
        let kv = Kv::default();
        kv.put(&path, creds(&id, "vault-held-secret").to_json());
        let dir = Dir::with_keys(&keys);
        let hydra = Hydra::default();
        if let Some(method) = existing {
            let mut c = client(&id, &keys, "vault-held-secret", "agent:read");
            c.token_endpoint_auth_method = method.into();
            hydra.clients.borrow_mut().insert(id.did.clone(), c);
        }
        let step = Step {
            config: &cfg,
            identity: &id,
            keys: &keys,
            local: &dir,
            hydra: &hydra,
            vault: Some(VaultCreds {
                kv: &kv,
                path: path.clone(),
            }),
            vault_unavailable: false,
            written: Vec::new(),
            warnings: Vec::new(),
        };
        let (o, ..) = step.run().unwrap();
        assert_eq!(o.client, action, "{existing:?}");
        assert_eq!(hydra.calls.borrow().as_slice(), calls, "{existing:?}");
        let c = hydra.clients.borrow()[&id.did].clone();
        let method = c.token_endpoint_auth_method.as_str();
        assert!(
            method == "client_secret_basic" || existing == Some(""),
            "{existing:?}: {method}"
        );
        assert_eq!(
            hydra.secret(&id.did).unwrap(),
            "vault-held-secret",
            "{existing:?}"
        );
    }
}
