//! `oci-pypi healthcheck`: the container health check.

use super::CommandError;
use crate::config::ServerOptions;

/// `GET /health` of the server these settings describe, over loopback when it listens on
/// every address. Builds no state: a health check must not open stores or read secrets.
pub(super) async fn healthcheck(server: &ServerOptions) -> Result<String, CommandError> {
    let host = match server.host {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let address = std::net::SocketAddr::new(host, server.port());
    let url = format!("http://{address}{}/health", server.subpath);
    let unhealthy = |reason: String| CommandError::Unhealthy {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|error| unhealthy(error.to_string()))?;
    let response = client.get(&url).send().await.map_err(|error| {
        unhealthy(if error.is_timeout() {
            "no answer within 3 s".to_owned()
        } else if error.is_connect() {
            "cannot connect".to_owned()
        } else {
            error.to_string()
        })
    })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(unhealthy(format!("answered {}", response.status())));
    }
    Ok(format!("healthy: {url}"))
}
