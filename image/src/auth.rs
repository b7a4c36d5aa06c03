//! Talking to a registry as someone: the one place pull, push and login build their
//! oci-client (plain http for insecure hosts) and their credentials, and `login`'s check of
//! a user and password (distribution spec "API version check" /v2/ with basic auth, or the
//! token server named in a bearer challenge, as `docker login` does).

use oci_client::secrets::RegistryAuth;
use oci_client::{client::ClientConfig, client::ClientProtocol, Client};

use crate::error::{Error, IoContext, Result};

/// A user and password for one registry (from `login`, kept by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Whether `registry` is spoken to over plain http: named with --insecure-registry, or on
/// loopback.
pub fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    insecure.iter().any(|i| i == registry)
        || registry.starts_with("localhost")
        || registry.starts_with("127.0.0.1")
}

/// The client for `registry`; `monolithic`: one PUT per blob (push).
pub(crate) fn client_for(registry: &str, insecure: &[String], monolithic: bool) -> Client {
    let protocol = if is_insecure(registry, insecure) {
        ClientProtocol::HttpsExcept(vec![registry.to_string()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        use_monolithic_push: monolithic,
        ..Default::default()
    })
}

/// oci-client's form of the credentials: it answers the registry's challenge with them
/// (basic, or a bearer token fetched with them), anonymously without.
pub(crate) fn registry_auth(c: Option<&Credentials>) -> RegistryAuth {
    match c {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => RegistryAuth::Anonymous,
    }
}

fn login_err(registry: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("login to {registry}: {e}"))
}

/// Checks `c` against `registry`: Ok if the registry (or its token server) accepts them.
pub fn login(registry: &str, insecure: &[String], c: &Credentials) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ctx("start async runtime", "login")?;
    rt.block_on(login_async(registry, insecure, c))
}

async fn login_async(registry: &str, insecure: &[String], c: &Credentials) -> Result<()> {
    let scheme = if is_insecure(registry, insecure) {
        "http"
    } else {
        "https"
    };
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| login_err(registry, e))?;
    let url = format!("{scheme}://{registry}/v2/");
    let res = http
        .get(&url)
        .basic_auth(&c.username, Some(&c.password))
        .send()
        .await
        .map_err(|e| login_err(registry, e))?;
    if res.status().is_success() {
        return Ok(());
    }
    if res.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Err(login_err(registry, format!("{url}: {}", res.status())));
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        // Basic auth, refused.
        return Err(login_err(
            registry,
            "unauthorized: incorrect username or password",
        ));
    };
    // Bearer: the token server decides (realm, service; no scope: just the login).
    let param = |k: &str| {
        params.split(',').find_map(|p| {
            let (pk, v) = p.trim().split_once('=')?;
            (pk == k).then(|| v.trim_matches('"').to_string())
        })
    };
    let realm =
        param("realm").ok_or_else(|| login_err(registry, "bearer challenge without a realm"))?;
    let mut req = http.get(&realm).basic_auth(&c.username, Some(&c.password));
    if let Some(s) = param("service") {
        req = req.query(&[("service", s)]);
    }
    let res = req.send().await.map_err(|e| login_err(registry, e))?;
    if res.status().is_success() {
        Ok(())
    } else if res.status() == reqwest::StatusCode::UNAUTHORIZED {
        Err(login_err(
            registry,
            "unauthorized: incorrect username or password",
        ))
    } else {
        Err(login_err(
            registry,
            format!("token server {realm}: {}", res.status()),
        ))
    }
}
