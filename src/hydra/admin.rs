//! The admin API: create, read and replace a client, introspect a token.

use serde_json::Value;

use crate::config::HydraConfig;
use crate::error::{Error, Result, Service};
use crate::http::TlsConfig;
use crate::http::{HttpClient, HttpConfig, Request, Response};
use crate::secret_string::SecretString;

use super::*;

/// Hydra's admin API for OAuth2 clients (`{admin_url}/admin/...`).
#[derive(Debug)]
pub struct HydraAdmin {
    http: HttpClient,
}

pub(super) fn http_config(config: &HydraConfig, base_url: &str) -> HttpConfig {
    let mut c = HttpConfig::new(Service::Hydra, base_url);
    c.timeout = config.timeout;
    c.connect_timeout = c.connect_timeout.min(config.timeout);
    c.max_retries = config.max_retries;
    c.tls = TlsConfig {
        skip_verify: !config.verify_ssl,
        ..TlsConfig::default()
    };
    c.default_headers = vec![("Accept".into(), "application/json".into())];
    c
}

impl HydraAdmin {
    /// A client for `config.admin_url`, with its timeout, retries and TLS
    /// verification setting.
    pub fn new(config: &HydraConfig) -> Result<HydraAdmin> {
        Ok(HydraAdmin {
            http: HttpClient::new(&http_config(config, &config.admin_url))?,
        })
    }

    /// `POST /admin/clients`. A 409 (the id exists) is
    /// [`CreateOutcome::Conflict`]; other failures are errors (a secret
    /// shorter than 6 characters is a 400 [`Error::Http`]).
    pub fn create_client(&self, client: &OAuthClient) -> Result<CreateOutcome> {
        let req = Request::new("POST", "/admin/clients").json(&client.to_json());
        let resp = self.http.request(req)?;
        if resp.status == 409 {
            log::debug!("Hydra: client {:?} already exists", client.client_id);
            return Ok(CreateOutcome::Conflict {
                errors: parse_error(&resp.body),
            });
        }
        let resp = check(resp, "POST", "/admin/clients")?;
        let client = parse_client(&resp.body).map_err(|e| context(e, "POST /admin/clients"))?;
        Ok(CreateOutcome::Created(Box::new(client)))
    }

    /// `GET /admin/clients/{id}`; `Ok(None)` when there is no such client.
    pub fn get_client(&self, client_id: &str) -> Result<Option<OAuthClient>> {
        let path = client_path(client_id);
        let resp = self.http.request(Request::get(&path))?;
        if resp.status == 404 {
            return Ok(None);
        }
        let resp = check(resp, "GET", &path)?;
        let client = parse_client(&resp.body).map_err(|e| context(e, &format!("GET {path}")))?;
        Ok(Some(client))
    }

    /// `PUT /admin/clients/{id}`: replace the client with `client`. When
    /// `client.client_secret` is `None` Hydra keeps the current secret;
    /// when set, it replaces it. A missing client is [`Error::NotFound`].
    pub fn replace_client(&self, client_id: &str, client: &OAuthClient) -> Result<OAuthClient> {
        let path = client_path(client_id);
        let mut body = client.to_json();
        if let Some(m) = body.as_object_mut() {
            m.insert("client_id".into(), Value::String(client_id.to_string()));
        }
        let resp = self.http.request(Request::new("PUT", &path).json(&body))?;
        let resp = check(resp, "PUT", &path)?;
        parse_client(&resp.body).map_err(|e| context(e, &format!("PUT {path}")))
    }

    /// `POST /admin/oauth2/introspect`: is `token` active, and for whom.
    /// `scope`, when given, must all be granted to the token or Hydra
    /// reports it inactive.
    pub fn introspect(&self, token: &SecretString, scope: Option<&str>) -> Result<Introspection> {
        let path = "/admin/oauth2/introspect";
        let mut form = FormBody::new();
        form.push("token", token.expose());
        if let Some(s) = scope {
            form.push("scope", s);
        }
        let resp = self.http.request(form.into_request(path))?;
        let resp = check(resp, "POST", path)?;
        parse_introspection(&resp.body).map_err(|e| context(e, &format!("POST {path}")))
    }
}

/// `/admin/clients/{id}` with the id percent-encoded as one path segment.
pub(super) fn client_path(client_id: &str) -> String {
    format!("/admin/clients/{}", encode_path_segment(client_id))
}

/// Turn a non-2xx response into the crate's error, keeping Hydra's words.
pub(super) fn check(resp: Response, method: &'static str, path: &str) -> Result<Response> {
    if resp.is_success() {
        return Ok(resp);
    }
    let errors = parse_error(&resp.body);
    Err(Error::from_status(
        Service::Hydra,
        resp.status,
        method,
        path,
        errors,
    ))
}

pub(super) fn context(e: Error, what: &str) -> Error {
    match e {
        Error::Protocol { service, detail } => Error::Protocol {
            service,
            detail: format!("{detail} (in the answer to {what})"),
        },
        other => other,
    }
}

pub(super) fn protocol(detail: impl Into<String>) -> Error {
    Error::Protocol {
        service: Service::Hydra,
        detail: detail.into(),
    }
}
