//! Kubernetes auth against a real OpenBao: the `kubernetes` auth method
//! checks a service-account JWT with the TokenReview API, which a small
//! loopback server plays here. The library logs in on its first request;
//! `vaultid login` and `vaultid up` log in the same way; a JWT for another
//! service account, or one the TokenReview API does not accept, is refused
//! with exit code 5.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use common::bao::Bao;
use serde_json::{json, Map, Value};
use vaultid::config::{AuthMethod, VaultConfig};
use vaultid::fuzzing::codec::base64;
use vaultid::vault::Client;
use vaultid::Error;

const NAMESPACE: &str = "agents";
const SERVICE_ACCOUNT: &str = "my-agent";
const ROLE: &str = "my-agent";
const AUTHOR: &str = "k8s@example.com";

/// A TokenReview request as the fake API server saw it.
#[derive(Debug, Clone)]
struct Review {
    path: String,
    authorization: Option<String>,
    token: String,
}

/// The TokenReview path of the Kubernetes API.
const TOKENREVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// A loopback stand-in for the Kubernetes API server that answers only
/// `POST /apis/authentication.k8s.io/v1/tokenreviews`: authenticated when
/// the presented token is `accepted`, not authenticated otherwise.
struct TokenReviewApi {
    addr: String,
    server: common::TestServer,
}

impl TokenReviewApi {
    fn start(accepted: String, uid: String) -> TokenReviewApi {
        let server = common::TestServer::start(move |req, _| {
            if req.method != "POST" || req.path != TOKENREVIEWS {
                let body = json!({"kind": "Status", "status": "Failure", "code": 404});
                return common::answer(404, &[], &body.to_string());
            }
            let token = review_token(&req.body);
            let status = if token == accepted {
                json!({"authenticated": true, "user": {
                    "username": format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"),
                    "uid": uid,
                    "groups": [
                        "system:serviceaccounts",
                        format!("system:serviceaccounts:{NAMESPACE}"),
                        "system:authenticated"
                    ]
                }})
            } else {
                json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})
            };
            let body = json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "metadata": {"creationTimestamp": null},
                "spec": {"token": token},
                "status": status
            });
            common::answer(201, &[], &body.to_string())
        });
        TokenReviewApi {
            addr: server.addr().to_string(),
            server,
        }
    }

    /// The TokenReview requests received so far.
    fn seen(&self) -> Vec<Review> {
        self.server
            .seen()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == TOKENREVIEWS)
            .map(|r| Review {
                authorization: r.header("authorization").map(str::to_string),
                token: review_token(&r.body),
                path: r.path,
            })
            .collect()
    }
}

/// The token a TokenReview request body presents.
fn review_token(body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    request["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A service-account JWT (legacy secret-based token claims) for
/// `namespace/name`, RS256-signed with the throwaway RSA key `key` (the
/// kubernetes auth method accepts RSA and ECDSA signatures, not EdDSA).
/// OpenBao does not check the signature when no `pem_keys` are configured:
/// the TokenReview API decides.
fn service_account_jwt(key: &Path, namespace: &str, name: &str, uid: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = base64::encode_url_nopad(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = base64::encode_url_nopad(
        json!({
            "iss": "kubernetes/serviceaccount",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": format!("{name}-token-x7k2p"),
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        })
        .to_string()
        .as_bytes(),
    );
    let input = format!("{header}.{claims}");
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.len() == 256,
        "openssl dgst: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{input}.{}", base64::encode_url_nopad(&out.stdout))
}

fn openssl(args: &[&str], dir: &Path) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One OpenBao with Kubernetes auth configured against the fake API, and
/// the JWT files of this process's tests.
struct Fixture {
    bao: Bao,
    api: TokenReviewApi,
    dir: PathBuf,
    /// The accepted service account's JWT.
    jwt_file: PathBuf,
    jwt: String,
    /// A JWT naming another service account (refused by the role).
    other_file: PathBuf,
    /// A JWT for the right service account that the API does not accept
    /// (a deleted or rotated token).
    stale_file: PathBuf,
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let bao = Bao::start()?;
        let dir = bao.dir().join("k8s");
        std::fs::create_dir_all(&dir).unwrap();
        // The service-account signing key, and a CA certificate: any will
        // do, as the API is plain http and the CA is never used, but the
        // config wants one when there is no in-pod CA.
        openssl(&["genrsa", "-out", "sa.key", "2048"], &dir);
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ed25519",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=vaultid test k8s CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &dir,
        );
        let key = dir.join("sa.key");
        let ca = dir.join("ca.pem");

        let uid = uuid::Uuid::new_v4().to_string();
        let jwt = service_account_jwt(&key, NAMESPACE, SERVICE_ACCOUNT, &uid);
        let api = TokenReviewApi::start(jwt.clone(), uid.clone());
        let jwt_file = dir.join("token");
        std::fs::write(&jwt_file, format!("{jwt}\n")).unwrap();
        let other_file = dir.join("other-token");
        let other_uid = uuid::Uuid::new_v4().to_string();
        let other = service_account_jwt(&key, NAMESPACE, "someone-else", &other_uid);
        std::fs::write(&other_file, &other).unwrap();
        let stale_file = dir.join("stale-token");
        // Same service account, another token (a distinct `jti`): one the
        // API does not know, like a token of a deleted secret.
        let stale = service_account_jwt(&key, NAMESPACE, SERVICE_ACCOUNT, &uid);
        std::fs::write(&stale_file, &stale).unwrap();

        bao.bao(&["auth", "enable", "kubernetes"]).unwrap();
        bao.bao(&[
            "write",
            "auth/kubernetes/config",
            &format!("kubernetes_host={}", api.addr),
            "disable_local_ca_jwt=true",
            &format!("kubernetes_ca_cert=@{}", ca.display()),
        ])
        .unwrap();
        let policy = r#"
path "secret/data/k8s/*" { capabilities = ["create", "read", "update"] }
path "secret/data/bindu/*" { capabilities = ["create", "read", "update"] }
"#;
        bao.bao_with_input(&["policy", "write", "k8s-agent", "-"], Some(policy))
            .unwrap();
        bao.bao(&[
            "write",
            &format!("auth/kubernetes/role/{ROLE}"),
            &format!("bound_service_account_names={SERVICE_ACCOUNT}"),
            &format!("bound_service_account_namespaces={NAMESPACE}"),
            "token_policies=default,k8s-agent",
            "ttl=1h",
        ])
        .unwrap();
        Some(Fixture {
            bao,
            api,
            dir,
            jwt_file,
            jwt,
            other_file,
            stale_file,
        })
    })
    .as_ref()
}

fn k8s_config(f: &Fixture, jwt_file: &Path) -> VaultConfig {
    let mut cfg = f.bao.config();
    cfg.token = None;
    cfg.auth = AuthMethod::Kubernetes {
        mount: "kubernetes".into(),
        role: ROLE.into(),
        jwt_file: jwt_file.to_path_buf(),
    };
    cfg
}

/// `vaultid` with Kubernetes auth and no token anywhere.
fn vaultid(f: &Fixture, jwt_file: &Path) -> Command {
    let home = f.dir.join(format!("home-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&home).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_vaultid"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("VAULT_ADDR", f.bao.addr())
        .env("VAULT_AUTH_METHOD", "kubernetes")
        .env("VAULT_AUTH_ROLE", ROLE)
        .env("VAULT_AUTH_JWT_FILE", jwt_file);
    c
}

fn ok(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Tests that count TokenReviews of the accepted JWT run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn reviews_of(f: &Fixture, token: &str) -> usize {
    f.api.seen().iter().filter(|r| r.token == token).count()
}

#[test]
fn library_logs_in_on_first_request_and_reads_a_secret() {
    let Some(f) = fixture() else { return };
    let _serial = serial();
    let mut data = Map::new();
    data.insert("password".into(), "from-kv".into());
    f.bao
        .client()
        .kv2("secret")
        .write("k8s/db", &data, None)
        .unwrap();

    let before = reviews_of(f, &f.jwt);
    let client = Client::new(&k8s_config(f, &f.jwt_file)).unwrap();
    assert!(client.token().is_none(), "no request, no login");
    let secret = client.kv2("secret").read("k8s/db", None).unwrap().unwrap();
    assert_eq!(secret.data["password"], "from-kv");
    assert!(client.token().is_some());

    let info = client.lookup_self().unwrap();
    assert_eq!(info.path, "auth/kubernetes/login");
    assert!(info.policies.contains(&"k8s-agent".to_string()), "{info:?}");
    assert_eq!(
        info.meta.get("service_account_name").map(String::as_str),
        Some(SERVICE_ACCOUNT),
        "{info:?}"
    );
    assert_eq!(
        info.meta
            .get("service_account_namespace")
            .map(String::as_str),
        Some(NAMESPACE)
    );

    // OpenBao asked the API about exactly this JWT, with the JWT itself as
    // the bearer (no token_reviewer_jwt is configured).
    assert_eq!(reviews_of(f, &f.jwt), before + 1);
    let review = f
        .api
        .seen()
        .into_iter()
        .rfind(|r| r.token == f.jwt)
        .unwrap();
    assert_eq!(review.path, "/apis/authentication.k8s.io/v1/tokenreviews");
    assert_eq!(
        review.authorization.as_deref(),
        Some(format!("Bearer {}", f.jwt).as_str())
    );

    // Outside the role's policy: denied, and no new login is attempted.
    assert!(matches!(
        client.kv2("secret").read("elsewhere/x", None),
        Err(Error::PermissionDenied { .. })
    ));
    assert_eq!(reviews_of(f, &f.jwt), before + 1);
}

#[test]
fn cli_login_prints_an_accessor_and_the_role_policies() {
    let Some(f) = fixture() else { return };
    let _serial = serial();
    let before = reviews_of(f, &f.jwt);
    let o = vaultid(f, &f.jwt_file).arg("login").output().unwrap();
    let v = ok(&o);
    let accessor = v["accessor"].as_str().unwrap();
    assert!(!accessor.is_empty(), "{v}");
    let policies: Vec<&str> = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(policies.contains(&"k8s-agent"), "{v}");
    assert!(policies.contains(&"default"), "{v}");
    assert_eq!(v["path"], "auth/kubernetes/login");
    assert!(v.get("token").is_none(), "no token without --print-token");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains(&f.jwt), "the JWT is not printed");
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&f.jwt));
    assert_eq!(
        reviews_of(f, &f.jwt),
        before + 1,
        "one TokenReview per login"
    );

    // The accessor names a live token with the role's policies.
    let looked = f
        .bao
        .bao(&["token", "lookup", "-format=json", "-accessor", accessor])
        .unwrap();
    let looked: Value = serde_json::from_str(&looked).unwrap();
    assert_eq!(looked["data"]["path"], "auth/kubernetes/login");
}

#[test]
fn cli_up_stores_the_keys_in_vault() {
    let Some(f) = fixture() else { return };
    let _serial = serial();
    let name = format!("k8s-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let key_dir = f.dir.join(&name);
    let first = ok(&vaultid(f, &f.jwt_file)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", &name)
        .env("VAULTID_KEY_DIR", &key_dir)
        .arg("up")
        .output()
        .unwrap());
    assert_eq!(first["vault"], "ok", "{first}");
    assert_eq!(first["keys_source"], "generated", "{first}");
    let agent_id = first["agent_id"].as_str().unwrap();
    let stored = f
        .bao
        .client()
        .kv2("secret")
        .read(&format!("bindu/agents/{agent_id}/did-keys"), None)
        .unwrap()
        .expect("keys in Vault");
    assert_eq!(stored.data["did"], first["did"]);
    assert!(stored.data["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));

    // A pod with an empty disk comes back as the same agent.
    let second = ok(&vaultid(f, &f.jwt_file)
        .env("VAULTID_AUTHOR", AUTHOR)
        .env("VAULTID_AGENT_NAME", &name)
        .env("VAULTID_KEY_DIR", f.dir.join(format!("{name}-b")))
        .arg("up")
        .output()
        .unwrap());
    assert_eq!(second["keys_source"], "vault", "{second}");
    assert_eq!(second["public_key_base58"], first["public_key_base58"]);
    assert_eq!(stored.metadata.version, 1);
}

#[test]
fn another_service_account_is_refused() {
    let Some(f) = fixture() else { return };
    let o = vaultid(f, &f.other_file).arg("login").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(o.stdout.is_empty());
    assert!(err.contains("auth/kubernetes/login"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    let other = std::fs::read_to_string(&f.other_file).unwrap();
    assert!(!err.contains(other.trim()), "the JWT is not in the error");

    // The library says the same.
    let client = Client::new(&k8s_config(f, &f.other_file)).unwrap();
    match client.kv2("secret").read("k8s/db", None) {
        Err(e @ Error::PermissionDenied { .. }) => assert_eq!(e.exit_code(), 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_token_the_api_rejects_is_refused() {
    let Some(f) = fixture() else { return };
    let stale = std::fs::read_to_string(&f.stale_file).unwrap();
    let o = vaultid(f, &f.stale_file).arg("login").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("auth/kubernetes/login"), "{err}");
    assert!(!err.contains(stale.trim()), "the JWT is not in the error");
    // OpenBao did ask the API, which said no.
    assert!(reviews_of(f, stale.trim()) >= 1);
}

#[test]
fn a_missing_jwt_file_is_a_clear_error() {
    let Some(f) = fixture() else { return };
    let missing = f.dir.join("no-such-token");
    let o = vaultid(f, &missing).arg("login").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("no-such-token"), "{err}");
}

/// A refused login says so: the path alone ("POST auth/kubernetes/login")
/// with the generic advice to check "the policy for this path" sends the
/// reader to policies, which play no part in a login.
#[test]
fn a_refused_login_says_the_login_was_refused() {
    let Some(f) = fixture() else { return };
    let o = vaultid(f, &f.other_file).arg("login").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(
        err.contains("login") && (err.contains("refused") || err.contains("rejected")),
        "the message should say that the login was refused: {err}"
    );
}
