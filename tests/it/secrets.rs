//! Secrets carried in URLs stay out of what the server shows (issue 15, findings 3 and 6):
//! credentials in an upstream index URL and the query of a presigned object-storage redirect
//! never reach a response body or the log, which still name the host that failed. Upstream
//! traffic ignores the proxy environment variables and uses only the proxy configured.
//!
//! The server runs as a child process (its log is the subject), in debug logging.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use reqwest::StatusCode;

use crate::harness::assert_status;
use crate::harness::background::{self, Background};
use crate::harness::fake_registry::{self, Endpoint, FILENAME, FakeRegistry, Fault, NAMESPACE};
use crate::harness::process::ServerProcess;

/// The token of the upstream index's URL: it must never be shown.
const UPSTREAM_TOKEN: &str = "upstream-TOKEN-5e1f0b7a";
/// The signature of the presigned redirect: it must never be shown.
const SIGNATURE: &str = "SIGNATURE-SECRET-0f9d2c41";
/// A registry origin that is never contacted (the tests below use the local store or their
/// own fake registry).
const UNUSED_REGISTRY: &str = "http://127.0.0.1:9";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An HTTP server that answers every request with `status`, recording each request's target.
struct Answering {
    server: Background,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Answering {
    fn start(status: StatusCode) -> anyhow::Result<Self> {
        let targets = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .fallback(
                move |State(targets): State<Arc<Mutex<Vec<String>>>>, request: Request| async move {
                    lock(&targets).push(request.uri().to_string());
                    status.into_response()
                },
            )
            .with_state(Arc::clone(&targets));
        let listener = background::bind("an answering server")?;
        let server = Background::serve(listener, "answering", app)?;
        Ok(Self { server, targets })
    }

    fn targets(&self) -> Vec<String> {
        lock(&self.targets).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A server that accepts connections and closes them at once, without answering.
fn resetting() -> anyhow::Result<Background> {
    let listener = background::bind("a resetting server")?;
    Background::run(listener, "resetting", 1, |listener| async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    })
}

/// Asserts that `secret` is in neither the body nor the log, and that both name `host`.
fn assert_hidden_but_named(what: &str, body: &str, log: &str, secret: &str, host: &str) {
    assert!(
        !body.contains(secret),
        "{what}: the body shows the secret: {body}"
    );
    assert!(
        !log.contains(secret),
        "{what}: the log shows the secret:\n{log}"
    );
    assert!(
        body.contains(host) || log.contains(host),
        "{what}: `{host}` is never named:\n{body}\n{log}"
    );
}

/// An upstream index configured as `http://user:TOKEN@127.0.0.1:PORT/simple/` fails (its port
/// is closed, or it answers 500): the 502 names it without the token, and so does the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_credentials_stay_out_of_errors_and_logs() -> anyhow::Result<()> {
    let failing = Answering::start(StatusCode::INTERNAL_SERVER_ERROR)?;
    let closed = format!("127.0.0.1:{}", closed_port()?);
    let answering = failing.server.address().to_string();
    let store = tempfile::tempdir()?;
    let store_dir = store.path().join("store").display().to_string();
    let upstreams = format!(
        "local/closed=http://user:{UPSTREAM_TOKEN}@{closed}/simple/,\
         local/failing=http://user:{UPSTREAM_TOKEN}@{answering}/simple/?key={UPSTREAM_TOKEN}"
    );
    let settings = [
        ("OCI_PYPI_STORE_DIR", store_dir.as_str()),
        ("OCI_PYPI_UPSTREAMS", upstreams.as_str()),
    ];
    let server = ServerProcess::start(UNUSED_REGISTRY, &settings).await?;
    for (namespace, host) in [("closed", &closed), ("failing", &answering)] {
        let url = format!("{}/local/{namespace}/requests/", server.url());
        let response = client().get(&url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{namespace}: {body}");
        assert!(
            body.contains(host.as_str()),
            "{namespace}: the body does not name the upstream: {body}"
        );
        assert_hidden_but_named(namespace, &body, &server.log(), UPSTREAM_TOKEN, host);
        // Logged once, with its cause and the request's path (the span), not once per layer.
        let path = format!("/local/{namespace}/requests/");
        let log = server.log();
        let errors: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("ERROR") && line.contains(&path))
            .collect();
        assert_eq!(errors.len(), 1, "{namespace}: {errors:#?}");
        assert!(errors[0].contains(host.as_str()), "{errors:#?}");
    }
    assert!(
        !failing.targets().is_empty(),
        "the failing upstream was never asked (the check would be vacuous)"
    );
    assert!(
        server.log().contains(&answering),
        "the log does not name the upstream"
    );
    Ok(())
}

/// The registry redirects a blob download to presigned object storage
/// (`?X-Amz-Signature=...`) that fails: its port is closed, or it resets the connection. The
/// client gets a 502 and neither the body nor the log carries the signature; the log still
/// names the object-storage host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_redirect_queries_stay_out_of_logs() -> anyhow::Result<()> {
    let reset = resetting()?;
    let targets = [
        format!("127.0.0.1:{}", closed_port()?),
        reset.address().to_string(),
    ];
    for storage in targets {
        let fake = FakeRegistry::start()?;
        let presigned = format!(
            "http://{storage}/bucket/blob?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAEXAMPLE%2F20250101&X-Amz-Signature={SIGNATURE}&digest="
        );
        for endpoint in [Endpoint::BlobGet, Endpoint::BlobHead] {
            fake.set_fault(endpoint, Fault::RedirectBlob(presigned.clone()));
        }
        let settings = [
            ("OCI_PYPI_CONNECT_TIMEOUT", "2"),
            ("OCI_PYPI_READ_TIMEOUT", "5"),
        ];
        let server = ServerProcess::start(&fake.origin(), &settings).await?;
        let url = format!(
            "{}/{}/{NAMESPACE}/{}/{FILENAME}",
            server.url(),
            fake.host(),
            fake_registry::PROJECT
        );
        let response = client().get(&url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{storage}: {body}");
        assert!(
            fake.requests(Endpoint::BlobGet) > 0,
            "{storage}: the blob endpoint was never reached"
        );
        let log = server.log();
        assert_hidden_but_named(&storage, &body, &log, SIGNATURE, &storage);
        assert!(
            log.contains(&storage),
            "{storage}: the log does not name object storage:\n{log}"
        );
    }
    Ok(())
}

/// `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (either case) do not route upstream traffic:
/// a "proxy" named by them receives nothing, and the upstream itself is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_ignores_proxy_environment_variables() -> anyhow::Result<()> {
    let proxy = Answering::start(StatusCode::NOT_FOUND)?;
    let upstream = Answering::start(StatusCode::NOT_FOUND)?;
    let proxy_url = format!("http://{}", proxy.server.address());
    let store = tempfile::tempdir()?;
    let upstream_url = format!("http://{}/simple/", upstream.server.address());
    let mut settings = Vec::new();
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        settings.push((name, proxy_url.as_str()));
    }
    ask_upstream_for_a_page(store.path(), &upstream_url, &settings).await?;
    assert_eq!(proxy.targets(), Vec::<String>::new(), "the proxy was used");
    assert_eq!(upstream.targets(), vec!["/simple/requests/".to_owned()]);
    Ok(())
}

/// `--upstream-proxy` routes upstream requests through the proxy named, and only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_uses_the_configured_proxy() -> anyhow::Result<()> {
    let proxy = Answering::start(StatusCode::NOT_FOUND)?;
    let upstream = closed_port()?;
    let proxy_url = format!("http://proxy-user:proxy-secret@{}", proxy.server.address());
    let store = tempfile::tempdir()?;
    let upstream_url = format!("http://127.0.0.1:{upstream}/simple/");
    let settings = [("OCI_PYPI_UPSTREAM_PROXY", proxy_url.as_str())];
    let server = ask_upstream_for_a_page(store.path(), &upstream_url, &settings).await?;
    // An HTTP proxy is sent the absolute URL.
    assert_eq!(
        proxy.targets(),
        vec![format!("http://127.0.0.1:{upstream}/simple/requests/")]
    );
    assert!(!server.log().contains("proxy-secret"), "{}", server.log());
    Ok(())
}

/// Starts the server with a local store in `store` whose `local/team` has the upstream index
/// `upstream`, and `settings`; asks it for the page of `requests`, which upstream does not
/// have: 404. The server.
async fn ask_upstream_for_a_page(
    store: &std::path::Path,
    upstream: &str,
    settings: &[(&str, &str)],
) -> anyhow::Result<ServerProcess> {
    let store_dir = store.join("store").display().to_string();
    let upstreams = format!("local/team={upstream}");
    let mut settings = settings.to_vec();
    settings.extend([
        ("OCI_PYPI_STORE_DIR", store_dir.as_str()),
        ("OCI_PYPI_UPSTREAMS", upstreams.as_str()),
    ]);
    let server = ServerProcess::start(UNUSED_REGISTRY, &settings).await?;
    let response = client()
        .get(format!("{}/local/team/requests/", server.url()))
        .send()
        .await?;
    assert_status(response, StatusCode::NOT_FOUND).await?;
    Ok(server)
}

/// The binary run once with `args` and `env` (no other `OCI_PYPI_*`): its exit status, stdout
/// and stderr.
async fn run_binary(
    args: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<(std::process::ExitStatus, String, String)> {
    let dir = tempfile::tempdir()?;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"));
    for (key, _) in std::env::vars() {
        if key.starts_with("OCI_PYPI_") || key == "PORT" {
            command.env_remove(key);
        }
    }
    let store = dir.path().join("store").display().to_string();
    let output = command
        .args(args)
        .env("OCI_PYPI_STORE_DIR", store)
        .env("OCI_PYPI_PORT", "0")
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output).await??;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Settings that carry credentials are refused without showing them (naming the host), and
/// `--help` does not print their values from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_settings_and_help_hide_credentials() -> anyhow::Result<()> {
    let refused = [
        (
            "OCI_PYPI_UPSTREAMS",
            format!("local/ns https://u:{UPSTREAM_TOKEN}@up.example/simple/"),
        ),
        (
            "OCI_PYPI_UPSTREAMS",
            format!("local/ns=ftp://u:{UPSTREAM_TOKEN}@up.example/simple/"),
        ),
        (
            "OCI_PYPI_UPSTREAMS",
            format!("local/ns=u:{UPSTREAM_TOKEN}@up.example/simple/"),
        ),
    ];
    for (name, value) in &refused {
        let (status, _, stderr) = run_binary(&[], &[(name, value.as_str())]).await?;
        assert!(!status.success(), "{value} was accepted");
        assert!(!stderr.contains(UPSTREAM_TOKEN), "{value}: {stderr}");
        assert!(stderr.contains("up.example"), "{value}: {stderr}");
    }
    let proxy = format!("socks5://u:{UPSTREAM_TOKEN}@proxy.example:1080");
    let settings = [
        ("OCI_PYPI_UPSTREAMS", "local/ns=https://pypi.org/simple/"),
        ("OCI_PYPI_UPSTREAM_PROXY", proxy.as_str()),
    ];
    let (status, _, stderr) = run_binary(&[], &settings).await?;
    assert!(!status.success(), "a SOCKS proxy was accepted");
    assert!(!stderr.contains(UPSTREAM_TOKEN), "{stderr}");
    assert!(stderr.contains("proxy.example"), "{stderr}");

    let upstreams = format!("local/ns=https://u:{UPSTREAM_TOKEN}@up.example/simple/");
    let proxy = format!("http://u:{UPSTREAM_TOKEN}@proxy.example:3128");
    let settings = [
        ("OCI_PYPI_UPSTREAMS", upstreams.as_str()),
        ("OCI_PYPI_UPSTREAM_PROXY", proxy.as_str()),
    ];
    let (status, help, _) = run_binary(&["--help"], &settings).await?;
    assert!(status.success());
    assert!(help.contains("OCI_PYPI_UPSTREAM_PROXY"), "{help}");
    assert!(!help.contains(UPSTREAM_TOKEN), "{help}");
    Ok(())
}
