//! Trusted publishing: a CI job's OIDC token, from a test issuer on loopback, is exchanged at
//! `/_/oidc/mint-token` for a short-lived upload token that publishes with the policy's
//! registry credential, to the policy's namespaces only, and does nothing else.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::oidc_issuer::{KEY_ID, OidcIssuer, unix_now};
use crate::harness::registry::CI_USER;
use crate::harness::tls_front::TlsFront;
use crate::harness::{AuthMode, DistSpec, Registry, Sandbox, Server, UploadForm};

const NAMESPACE: &str = "team/python";
const OTHER_NAMESPACE: &str = "team/other";

/// A token-auth registry, a test issuer, and the server with one trust policy: tokens of
/// `acme/app` on a protected tag may publish to `team/python` as the registry's ci-user.
struct Setup {
    registry: Registry,
    issuer: OidcIssuer,
    server: Server,
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(configure: impl FnOnce(&mut oci_pypi::config::Config)) -> anyhow::Result<Setup> {
        Self::start_with_policy(CLAIMS, configure).await
    }

    /// [`Setup::start`] with these fields in the policy instead of [`CLAIMS`].
    async fn start_with_policy(
        fields: &str,
        configure: impl FnOnce(&mut oci_pypi::config::Config),
    ) -> anyhow::Result<Setup> {
        let registry = Registry::start(AuthMode::Token).await?;
        let issuer = OidcIssuer::start()?;
        let dir = tempfile::tempdir()?;
        let (_, password) = registry.credentials().unwrap();
        std::fs::write(
            dir.path().join("registry-password"),
            format!("{password}\n"),
        )?;
        let path = dir.path().join("publishers.toml");
        std::fs::write(
            &path,
            policy_file(&issuer.url(), &registry.origin(), fields),
        )?;
        let server = Server::start_for(&registry, |config| {
            config.publishing.trusted_publishers = Some(path);
            configure(config);
        })
        .await?;
        Ok(Setup {
            registry,
            issuer,
            server,
            sandbox: Sandbox::new()?,
            dir,
        })
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `POST /_/oidc/mint-token` with `body`: the status and the JSON answer.
    async fn exchange(&self, body: String) -> anyhow::Result<(StatusCode, Value)> {
        let response = Self::client()
            .post(format!("{}/_/oidc/mint-token", self.server.url()))
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        Ok((status, json))
    }

    /// Exchanges an OIDC token for an upload token.
    async fn mint(&self, oidc_token: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.exchange(json!({ "token": oidc_token }).to_string())
            .await
    }

    /// An upload token for the good claims.
    async fn upload_token(&self) -> anyhow::Result<String> {
        let (status, body) = self.mint(&self.issuer.mint(good_claims())).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        Ok(body["token"].as_str().unwrap().to_owned())
    }

    /// `http://127.0.0.1:P/<registry>/<namespace>/`
    fn index_url(&self, namespace: &str) -> String {
        format!(
            "{}/{}/{namespace}/",
            self.server.url(),
            self.registry.host()
        )
    }

    /// A request to the server with Basic `username:password`.
    fn request(
        &self,
        method: Method,
        path: &str,
        username: &str,
        password: &str,
    ) -> reqwest::RequestBuilder {
        Self::client()
            .request(method, format!("{}{path}", self.server.url()))
            .basic_auth(username, Some(password))
    }

    /// `uv publish --trusted-publishing always` of `file` to `team/python`, through `tls`, in
    /// a GitHub Actions environment whose ID tokens come from the test issuer.
    async fn uv_publish(
        &self,
        tls: &TlsFront,
        file: &Path,
    ) -> anyhow::Result<crate::harness::Output> {
        self.uv_publish_with(tls, file, self.issuer.github_env())
            .await
    }

    /// [`Setup::uv_publish`] in the CI environment `env`.
    async fn uv_publish_with(
        &self,
        tls: &TlsFront,
        file: &Path,
        mut env: Vec<(&'static str, String)>,
    ) -> anyhow::Result<crate::harness::Output> {
        let publish_url = format!("{}/{}/{NAMESPACE}/", tls.url(), self.registry.host());
        env.push(("SSL_CERT_FILE", tls.cert_path().display().to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = file.display().to_string();
        let args = [
            "publish",
            "--trusted-publishing",
            "always",
            "--publish-url",
            publish_url.as_str(),
            path.as_str(),
        ];
        self.sandbox.run_with_env("uv", &args, &env).await
    }

    /// A legacy-API upload of `file` to `namespace`, straight with reqwest.
    async fn upload(
        &self,
        namespace: &str,
        spec: &DistSpec,
        file: &Path,
        username: &str,
        password: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let filename = file.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(file)?;
        let upload = UploadForm::new(&spec.project_name(), &spec.version, &filename, &bytes);
        self.send_upload(namespace, &upload, username, password)
            .await
    }

    /// Builds `spec`'s wheel and uploads it to [`NAMESPACE`] as `__token__` with `token`:
    /// the status and the body.
    async fn upload_wheel_with_token(
        &self,
        spec: &DistSpec,
        token: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let wheel = self.sandbox.wheel(spec).await?;
        self.upload(NAMESPACE, spec, &wheel, "__token__", token)
            .await
    }

    /// POSTs `upload` to `namespace` as `username`: the status and the body.
    async fn send_upload(
        &self,
        namespace: &str,
        upload: &UploadForm,
        username: &str,
        password: &str,
    ) -> anyhow::Result<(StatusCode, String)> {
        let path = format!("/{}/{namespace}/", self.registry.host());
        let response = self
            .request(Method::POST, &path, username, password)
            .multipart(upload.form())
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }
}

/// The claims of the policy of [`Setup::start`].
const CLAIMS: &str =
    r#"claims = { repository = "acme/app", ref = "refs/tags/*", ref_protected = true }"#;

/// A trusted publishers file with one policy, `acme-app`, that publishes to `registry`'s
/// `team/python` as [`CI_USER`] (its password in `registry-password` next to the file) and holds
/// `fields` (its claims, maybe `projects`).
fn policy_file(issuer: &str, registry: &str, fields: &str) -> String {
    format!(
        r#"
allow_insecure_issuer = true

[[policy]]
name = "acme-app"
issuer = "{issuer}"
registry = "{registry}"
namespaces = ["{NAMESPACE}"]
{fields}
credential = {{ username = "{CI_USER}", password_file = "registry-password" }}
"#
    )
}

/// Claims of a tag build of `acme/app` (over the issuer's defaults).
fn good_claims() -> Value {
    json!({
        "repository": "acme/app",
        "repository_owner": "acme",
        "ref": "refs/tags/v1.0",
        "ref_protected": true,
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0",
    })
}

fn with(mut claims: Value, overrides: Value) -> Value {
    for (name, value) in overrides.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

/// `(errors[0].code, errors[0].description)` of a refused exchange.
fn first_error(body: &Value) -> (String, String) {
    let error = &body["errors"][0];
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["description"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Stock uv, told it runs in GitHub Actions, gets an OIDC token from the test issuer,
/// exchanges it at the server (over https, as uv insists), and publishes; pip installs the
/// package with the registry's credentials. A job whose claims match no policy cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_publishes_with_trusted_publishing() -> anyhow::Result<()> {
    let setup = Setup::start(|_| {}).await?;
    let tls = TlsFront::start(setup.server.authority())?;
    setup.issuer.set_github_claims(good_claims());
    let spec = DistSpec::new("tp-app", "1.0");
    let wheel = setup.sandbox.wheel(&spec).await?;
    let out = setup.uv_publish(&tls, &wheel).await?;
    out.assert_success();
    assert!(setup.issuer.token_requests() >= 1);
    let direct = setup.registry.direct();
    assert_eq!(
        direct.tags("team/python/tp_app").await?,
        vec!["1.0".to_owned()]
    );

    let (user, password) = setup.registry.credentials().unwrap();
    let index = format!(
        "http://{user}:{password}@{}/{}/{NAMESPACE}/",
        setup.server.authority(),
        setup.registry.host()
    );
    setup
        .sandbox
        .assert_pip_installs(&index, &["tp-app"], &[(&spec.module(), "1.0")])
        .await?;

    // On GitLab CI, uv reads the ID token that `id_tokens:` put in `<AUDIENCE>_ID_TOKEN`.
    let gitlab = setup.sandbox.wheel(&DistSpec::new("tp-app", "1.1")).await?;
    let env = vec![
        ("GITLAB_CI", "true".to_owned()),
        ("OCI_PYPI_ID_TOKEN", setup.issuer.mint(good_claims())),
    ];
    let out = setup.uv_publish_with(&tls, &gitlab, env).await?;
    out.assert_success();
    let mut tags = direct.tags("team/python/tp_app").await?;
    tags.sort();
    assert_eq!(tags, ["1.0", "1.1"]);

    // A branch build matches no policy: uv shows why, and nothing is stored.
    setup
        .issuer
        .set_github_claims(with(good_claims(), json!({"ref": "refs/heads/main"})));
    let other = setup.sandbox.wheel(&DistSpec::new("tp-app", "2.0")).await?;
    let out = setup.uv_publish(&tls, &other).await?;
    out.assert_failure_saying("invalid-publisher");
    let tags = direct.tags("team/python/tp_app").await?;
    assert!(!tags.contains(&"2.0".to_owned()), "{tags:?}");
    Ok(())
}

/// Every refused exchange is a 4xx with PyPI's error shape, a code and a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_exchanges_say_why() -> anyhow::Result<()> {
    let setup = Setup::start(|_| {}).await?;
    let issuer = &setup.issuer;
    let now = unix_now();
    let modulus = issuer.published_jwk()["n"].as_str().unwrap().to_owned();
    let cases = [
        (
            "wrong audience",
            issuer.mint(with(good_claims(), json!({"aud": "pypi"}))),
            "invalid-token",
            "audience is `pypi`",
        ),
        (
            "expired",
            issuer.mint(with(
                good_claims(),
                json!({"iat": now - 900, "nbf": now - 900, "exp": now - 300}),
            )),
            "invalid-token",
            "expired",
        ),
        (
            "not yet valid",
            issuer.mint(with(good_claims(), json!({"nbf": now + 600}))),
            "invalid-token",
            "not valid yet",
        ),
        (
            "key not in the JWKS",
            issuer.mint_rogue(good_claims(), Some("rogue-key")),
            "invalid-token",
            "does not publish",
        ),
        (
            "bad signature under the published kid",
            issuer.mint_rogue(good_claims(), Some(KEY_ID)),
            "invalid-token",
            "signature does not verify",
        ),
        (
            "key embedded in the header",
            issuer.mint_with_embedded_key(good_claims()),
            "invalid-token",
            "signature does not verify",
        ),
        (
            "unknown issuer",
            issuer.mint(with(good_claims(), json!({"iss": "https://token.example"}))),
            "invalid-token",
            "issuer `https://token.example` is not trusted here",
        ),
        (
            "claims that match no policy",
            issuer.mint(with(good_claims(), json!({"repository": "acme/other"}))),
            "invalid-publisher",
            "no trusted publisher matches",
        ),
        (
            "unprotected ref",
            issuer.mint(with(good_claims(), json!({"ref_protected": false}))),
            "invalid-publisher",
            "no trusted publisher matches",
        ),
        (
            "alg none",
            issuer.mint_unsigned(good_claims()),
            "invalid-token",
            "algorithm `none` is not accepted",
        ),
        (
            "HS256 keyed with the public key",
            issuer.mint_hs256(good_claims(), modulus.as_bytes()),
            "invalid-token",
            "algorithm `HS256` is not accepted",
        ),
        (
            "no iat",
            issuer.mint(with(good_claims(), json!({"iat": null}))),
            "invalid-token",
            "`iat`",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "invalid-token",
            "not a JWT",
        ),
    ];
    for (case, token, code, reason) in cases {
        let (status, body) = setup.mint(&token).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        let (got_code, description) = first_error(&body);
        assert_eq!(got_code, code, "{case}: {body}");
        assert!(
            description.contains(reason),
            "{case}: `{description}` lacks `{reason}`"
        );
        assert!(body.get("token").is_none(), "{case}: {body}");
    }
    for (body, reason) in [
        ("not json".to_owned(), "expected"),
        (json!({"jwt": "x"}).to_string(), "missing field `token`"),
    ] {
        let (status, answer) = setup.exchange(body).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let (code, description) = first_error(&answer);
        assert_eq!(code, "invalid-payload", "{answer}");
        assert!(description.contains(reason), "{description}");
    }
    // Keys were fetched once, and once more for the unknown kid at most: the cache is bounded.
    assert_eq!(issuer.discovery_requests(), issuer.jwks_requests());
    assert!(
        issuer.jwks_requests() <= 2,
        "{} JWKS fetches",
        issuer.jwks_requests()
    );

    // And a good token still works, once: the same token again (its `jti`) is refused.
    let good = issuer.mint(good_claims());
    let (status, body) = setup.mint(&good).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].as_str().unwrap().starts_with("oci-pypi."));
    let expires = body["expires"].as_i64().unwrap();
    assert!((now + 890..=unix_now() + 900).contains(&expires), "{body}");
    let (status, body) = setup.mint(&good).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "replayed: {body}");
    let (code, description) = first_error(&body);
    assert_eq!(code, "invalid-token", "{body}");
    assert!(description.contains("already exchanged"), "{description}");
    assert!(body.get("token").is_none(), "{body}");
    Ok(())
}

/// An upload token publishes to its namespace only (with the policy's credential, whatever
/// the username) and cannot read, delete or yank; an altered one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_tokens_publish_to_their_namespace_only() -> anyhow::Result<()> {
    let setup = Setup::start(|_| {}).await?;
    let token = setup.upload_token().await?;
    let spec = DistSpec::new("scoped", "1.0");
    let wheel = setup.sandbox.wheel(&spec).await?;

    // twine, as a CI job would run it after its own exchange.
    let url = setup.index_url(NAMESPACE);
    setup
        .sandbox
        .twine_upload(&url, "__token__", &token, &[&wheel])
        .await?
        .assert_success();
    let direct = setup.registry.direct();
    assert_eq!(
        direct.tags("team/python/scoped").await?,
        vec!["1.0".to_owned()]
    );
    // The registry saw the policy's user, never the token.
    let log = setup.registry.token_server().unwrap().request_log();
    assert!(
        log.iter()
            .any(|r| r.user.as_deref() == Some("ci-user") && r.status == 200)
    );
    assert!(log.iter().all(|r| r.user.as_deref() != Some("__token__")));

    // Any username works; another namespace does not.
    let second = DistSpec::new("scoped", "2.0");
    let file = setup.sandbox.wheel(&second).await?;
    let (status, body) = setup.upload(NAMESPACE, &second, &file, "", &token).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = setup
        .upload(OTHER_NAMESPACE, &second, &file, "__token__", &token)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("may publish only to"), "{body}");
    assert!(body.contains(OTHER_NAMESPACE), "{body}");
    assert!(direct.tags("team/other/scoped").await?.is_empty());

    // Reads, deletes and yanks are refused.
    let base = format!("/{}/{NAMESPACE}", setup.registry.host());
    let file_path = format!("{base}/scoped/{}", spec.wheel_filename());
    let refused = [
        (Method::GET, format!("{base}/scoped/")),
        (Method::GET, format!("{base}/")),
        (Method::GET, format!("{base}/scoped/json")),
        (Method::GET, file_path.clone()),
        (Method::DELETE, file_path),
        (Method::DELETE, format!("{base}/scoped/1.0")),
        (Method::POST, format!("{base}/+yank/scoped/1.0")),
    ];
    for (method, path) in refused {
        let response = setup
            .request(method.clone(), &path, "__token__", &token)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(
            body.contains("allows uploads only"),
            "{method} {path}: {body}"
        );
    }
    let mut tags = direct.tags("team/python/scoped").await?;
    tags.sort();
    assert_eq!(tags, ["1.0", "2.0"]);

    // An altered token (one character of its claims) is refused, as is a truncated one.
    let mut altered = token.clone().into_bytes();
    let position = "oci-pypi.".len() + 5;
    altered[position] = if altered[position] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let altered = String::from_utf8(altered)?;
    for bad in [altered, token[..token.len() - 3].to_owned()] {
        let third = DistSpec::new("scoped", "3.0");
        let (status, body) = setup.upload_wheel_with_token(&third, &bad).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains("upload token is not valid"), "{body}");
        assert!(!body.contains(&bad), "{body}");
    }
    Ok(())
}

/// An upload token stops working when it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_tokens_expire() -> anyhow::Result<()> {
    let setup = Setup::start(|config| config.publishing.upload_token_lifetime = 1).await?;
    let (status, body) = setup.mint(&setup.issuer.mint(good_claims())).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(
        body["expires"].as_i64().unwrap() <= unix_now() + 1,
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let spec = DistSpec::new("late", "1.0");
    let (status, body) = setup.upload_wheel_with_token(&spec, &token).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(
        setup
            .registry
            .direct()
            .tags("team/python/late")
            .await?
            .is_empty()
    );
    Ok(())
}

/// Replicas that share `--token-secret-file` accept each other's upload tokens; a replica
/// with its own random secret does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_tokens_work_on_replicas_sharing_the_secret() -> anyhow::Result<()> {
    let secrets = tempfile::tempdir()?;
    let secret = secrets.path().join("token-secret");
    std::fs::write(&secret, format!("{}\n", "s".repeat(48)))?;
    let shared = secret.clone();
    let setup =
        Setup::start(move |config| config.publishing.token_secret_file = Some(shared)).await?;
    let token = setup.upload_token().await?;
    let policies = setup.dir.path().join("publishers.toml");
    let (replica_policies, replica_secret) = (policies.clone(), secret.clone());
    let replica = Server::start_for(&setup.registry, move |config| {
        config.publishing.trusted_publishers = Some(replica_policies);
        config.publishing.token_secret_file = Some(replica_secret);
    })
    .await?;
    let stranger = Server::start_for(&setup.registry, move |config| {
        config.publishing.trusted_publishers = Some(policies);
    })
    .await?;

    let spec = DistSpec::new("replicated", "1.0");
    let wheel = setup.sandbox.wheel(&spec).await?;
    for (server, accepted) in [(&stranger, false), (&replica, true)] {
        let url = format!("{}/{}/{NAMESPACE}/", server.url(), setup.registry.host());
        let out = setup
            .sandbox
            .twine_upload(&url, "__token__", &token, &[&wheel])
            .await?;
        if accepted {
            out.assert_success();
        } else {
            out.assert_failure_saying("401");
        }
    }
    let direct = setup.registry.direct();
    assert_eq!(direct.tags("team/python/replicated").await?, ["1.0"]);
    Ok(())
}

/// The endpoints answer at the host root and under the subpath, with the configured
/// audience; a server without policies says trusted publishing is not enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_live_at_the_root_and_under_the_subpath() -> anyhow::Result<()> {
    let setup = Setup::start(|config| {
        config.server.subpath = "/pypi".to_owned();
        config.publishing.oidc_audience = "pypi.example.org".to_owned();
    })
    .await?;
    let client = Setup::client();
    for prefix in ["", "/pypi"] {
        // PyPI's URL, where gh-action-pypi-publish and pdm exchange their tokens.
        let token = setup
            .issuer
            .mint(with(good_claims(), json!({"aud": "pypi.example.org"})));
        let response = client
            .post(format!(
                "{}{prefix}/_/oidc/github/mint-token",
                setup.server.url()
            ))
            .json(&json!({ "token": token }))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{prefix}");
        let minted: Value = response.json().await?;
        assert!(
            minted["token"].as_str().unwrap().starts_with("oci-pypi."),
            "{minted}"
        );
        let url = format!("{}{prefix}/_/oidc/audience", setup.server.url());
        let response = client.get(&url).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(
            response.json::<Value>().await?,
            json!({"audience": "pypi.example.org"})
        );
        let token = setup
            .issuer
            .mint(with(good_claims(), json!({"aud": "pypi.example.org"})));
        let response = client
            .post(format!("{}{prefix}/_/oidc/mint-token", setup.server.url()))
            .json(&json!({ "token": token }))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{prefix}");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    let wrong_method = client
        .get(format!("{}/_/oidc/mint-token", setup.server.url()))
        .send()
        .await?;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);

    let plain = Server::start_for(&setup.registry, |_| {}).await?;
    for (method, path) in [
        (Method::GET, "/_/oidc/audience"),
        (Method::POST, "/_/oidc/mint-token"),
    ] {
        let response = client
            .request(method, format!("{}{path}", plain.url()))
            .body(json!({"token": "x"}).to_string())
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let (code, description) = first_error(&response.json().await?);
        assert_eq!(code, "not-enabled");
        assert!(
            description.contains("--trusted-publishers"),
            "{description}"
        );
    }
    Ok(())
}

/// The claims inside an upload token (`oci-pypi.<base64url JSON>.<MAC>`).
fn upload_token_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token
        .strip_prefix("oci-pypi.")
        .and_then(|rest| rest.split('.').next())
        .unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// Security review, finding 8a: a policy that lists `projects` mints upload tokens that
/// publish those projects only (compared PEP 503-normalised), not every project of the
/// namespace. The list travels in the token, so a replica whose policy lost its `projects`
/// still holds the token to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_tokens_publish_only_the_projects_of_their_policy() -> anyhow::Result<()> {
    let secrets = tempfile::tempdir()?;
    let secret = secrets.path().join("token-secret");
    std::fs::write(&secret, "p".repeat(48))?;
    let shared = secret.clone();
    let fields = format!("{CLAIMS}\nprojects = [\"TP.Listed\"]");
    let setup = Setup::start_with_policy(&fields, move |config| {
        config.publishing.token_secret_file = Some(shared);
    })
    .await?;
    let token = setup.upload_token().await?;
    assert_eq!(
        upload_token_claims(&token)["projects"],
        json!(["tp-listed"]),
        "{token}"
    );

    let listed = DistSpec::new("tp_listed", "1.0");
    let (status, body) = setup.upload_wheel_with_token(&listed, &token).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another project of the same namespace: refused before any byte reaches the registry.
    let other = DistSpec::new("tp-unlisted", "1.0");
    let file = setup.sandbox.wheel(&other).await?;
    let (status, body) = setup
        .upload(NAMESPACE, &other, &file, "__token__", &token)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("`tp-unlisted`"), "{body}");
    assert!(body.contains("`tp-listed`"), "{body}");
    let direct = setup.registry.direct();
    assert!(direct.tags("team/python/tp_unlisted").await?.is_empty());
    assert_eq!(direct.tags("team/python/tp_listed").await?, ["1.0"]);

    // A replica sharing the secret whose policy has no `projects`: the token's list holds.
    let dir = setup.dir.path().join("replica");
    std::fs::create_dir(&dir)?;
    std::fs::copy(
        setup.dir.path().join("registry-password"),
        dir.join("registry-password"),
    )?;
    let origin = setup.registry.origin();
    let policies = policy_file(&setup.issuer.url(), &origin, CLAIMS);
    std::fs::write(dir.join("publishers.toml"), policies)?;
    let replica = Server::start_for(&setup.registry, move |config| {
        config.publishing.trusted_publishers = Some(dir.join("publishers.toml"));
        config.publishing.token_secret_file = Some(secret);
    })
    .await?;
    let url = format!("{}/{}/{NAMESPACE}/", replica.url(), setup.registry.host());
    let out = setup
        .sandbox
        .twine_upload(&url, "__token__", &token, &[&file])
        .await?;
    out.assert_failure_saying("403");
    assert!(direct.tags("team/python/tp_unlisted").await?.is_empty());
    Ok(())
}

/// What `oci_pypi::serve` says when started with a policy holding `fields` (for the test
/// issuer on loopback, which is never contacted at startup); fails when it starts.
async fn startup_refusal(fields: &str) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("registry-password"), "pw\n")?;
    let path = dir.path().join("publishers.toml");
    let registry = "http://127.0.0.1:9";
    std::fs::write(&path, policy_file("http://127.0.0.1:9", registry, fields))?;
    let mut config =
        oci_pypi::config::Config::for_registries(vec![oci_pypi::net::Origin::parse(registry)?]);
    config.publishing.trusted_publishers = Some(path);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let serving = oci_pypi::serve(listener, &config, std::future::pending());
    match tokio::time::timeout(std::time::Duration::from_secs(5), serving).await {
        Ok(Err(error)) => Ok(error.to_string()),
        Ok(Ok(())) => anyhow::bail!("the server stopped without an error: {fields}"),
        Err(_) => anyhow::bail!("the server started with the policy {fields}"),
    }
}

/// Security review, finding 8b and 8c: the server refuses to start with a policy that pins
/// no publisher identity (whatever the issuer: a self-hosted GitLab, GHES, or this loopback
/// issuer), with a `*` that could match more than whole segments (`acme*` would match
/// `acme-evil`), or with an empty `projects`; the error names the policy and the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_that_trust_too_much_are_refused_at_startup() -> anyhow::Result<()> {
    let cases = [
        (
            r#"claims = { ref = "refs/tags/*", ref_protected = true }"#,
            "`claims` must pin one of",
        ),
        (
            r#"claims = { repository_owner = "acme*" }"#,
            "`claims` `repository_owner` = `acme*`",
        ),
        (
            r#"claims = { repository = "acme/app", ref = "refs/tags/v*" }"#,
            "`claims` `ref` = `refs/tags/v*`",
        ),
        (r#"claims = { sub = "repo:*" }"#, "`claims` must pin one of"),
        (
            &format!("{CLAIMS}\nprojects = []"),
            "`projects` must list at least one project",
        ),
        (
            &format!("{CLAIMS}\nprojects = [\"-bad-\"]"),
            "`projects` invalid project name `-bad-`",
        ),
    ];
    for (fields, expected) in cases {
        let error = startup_refusal(fields).await?;
        assert!(
            error.contains("policy `acme-app`: "),
            "{fields}: `{error}` does not name the policy"
        );
        assert!(
            error.contains(expected),
            "{fields}: `{error}` lacks `{expected}`"
        );
    }
    Ok(())
}

/// Security review, finding 8c, through the real exchange: `*` stands for whole trailing
/// segments, so `acme/*` matches `acme/app` but neither `acme-evil/app` nor `acme/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_wildcards_match_whole_segments_only() -> anyhow::Result<()> {
    let fields = r#"claims = { repository = "acme/*", ref = "refs/tags/*" }"#;
    let setup = Setup::start_with_policy(fields, |_| {}).await?;
    let issuer = &setup.issuer;
    let cases = [
        (json!({"repository": "acme/app"}), true),
        (
            json!({"repository": "acme/app", "ref": "refs/tags/release/2"}),
            true,
        ),
        (json!({"repository": "acme-evil/app"}), false),
        (json!({"repository": "acmeevil/app"}), false),
        (json!({"repository": "acme/"}), false),
        (json!({"repository": "acme"}), false),
        (
            json!({"repository": "acme/app", "ref": "refs/tags/"}),
            false,
        ),
        (
            json!({"repository": "acme/app", "ref": "refs/tagsx/v1"}),
            false,
        ),
    ];
    for (overrides, accepted) in cases {
        let (status, body) = setup
            .mint(&issuer.mint(with(good_claims(), overrides.clone())))
            .await?;
        if accepted {
            assert_eq!(status, StatusCode::OK, "{overrides}: {body}");
        } else {
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{overrides}: {body}"
            );
            assert_eq!(
                first_error(&body).0,
                "invalid-publisher",
                "{overrides}: {body}"
            );
        }
    }
    Ok(())
}

/// Security review, low finding: an issuer whose discovery document cannot be fetched is
/// not asked again for every exchange (anyone can send tokens naming a trusted issuer, and
/// each would make the server fetch): the failure is remembered for a short while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_failures_are_not_refetched_for_every_exchange() -> anyhow::Result<()> {
    let setup = Setup::start(|_| {}).await?;
    let issuer = &setup.issuer;
    issuer.set_failing(true);
    for attempt in 0..5 {
        let (status, body) = setup.mint(&issuer.mint(good_claims())).await?;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{attempt}: {body}");
        let (code, description) = first_error(&body);
        assert_eq!(code, "issuer-unavailable", "{body}");
        assert!(description.contains("503"), "{description}");
    }
    assert_eq!(
        (issuer.discovery_requests(), issuer.jwks_requests()),
        (1, 0),
        "fetches for 5 exchanges"
    );
    // Back up: still refused, without a fetch, until the failure is forgotten.
    issuer.set_failing(false);
    let (status, body) = setup.mint(&issuer.mint(good_claims())).await?;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(first_error(&body).1.contains("retried"), "{body}");
    assert_eq!(issuer.discovery_requests(), 1);
    Ok(())
}

/// A policy with `promotions` lets its tokens promote, from CI with no stored secret, between
/// the namespaces it names (of its projects, never a move), with its registry credential; a
/// password file rewritten with a rotated token is read again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_tokens_promote_where_their_policy_allows() -> anyhow::Result<()> {
    let fields = format!(
        "{CLAIMS}\nprojects = [\"promoted-by-ci\", \"other-project\"]\npromotions = [{{ from = \"{NAMESPACE}\", to = \"team/production\" }}]"
    );
    let setup = Setup::start_with_policy(&fields, |_| {}).await?;
    let token = setup.upload_token().await?;
    let spec = DistSpec::new("promoted-by-ci", "1.0");
    let wheel = setup.sandbox.wheel(&spec).await?;
    let (status, body) = setup
        .upload(NAMESPACE, &spec, &wheel, "__token__", &token)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let promote = |to: &str, extra: &str| {
        let path = format!(
            "/{}/{NAMESPACE}/+promote/promoted-by-ci/1.0?to={}/{to}{extra}",
            setup.registry.host(),
            setup.registry.host()
        );
        setup
            .request(Method::POST, &path, "__token__", &token)
            .send()
    };
    let response = promote("team/production", "").await?;
    let status = response.status();
    let body = response.text().await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let direct = setup.registry.direct();
    assert_eq!(
        direct.tags("team/production/promoted_by_ci").await?,
        ["1.0"]
    );

    for (to, extra, named) in [
        ("team/other", "", "team/other"),
        ("team/production", "&move=true", "a move"),
    ] {
        let response = promote(to, extra).await?;
        let status = response.status();
        let body = response.text().await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{to}{extra}: {body}");
        assert!(body.contains(named), "{body}");
        assert!(body.contains("`team/python` → `team/production`"), "{body}");
    }
    assert!(direct.tags("team/other/promoted_by_ci").await?.is_empty());
    assert_eq!(direct.tags("team/python/promoted_by_ci").await?, ["1.0"]);

    // The registry token rotates: a wrong one first, then the right one, no restart.
    let password_file = setup.dir.path().join("registry-password");
    let (_, password) = setup.registry.credentials().unwrap();
    std::fs::write(&password_file, "expired-token-of-another-length\n")?;
    let next = DistSpec::new("other-project", "1.0");
    let file = setup.sandbox.wheel(&next).await?;
    let (status, body) = setup
        .upload(NAMESPACE, &next, &file, "__token__", &token)
        .await?;
    assert!(status.is_client_error(), "{status}: {body}");
    std::fs::write(&password_file, format!("{password}\n"))?;
    let (status, body) = setup
        .upload(NAMESPACE, &next, &file, "__token__", &token)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(direct.tags("team/python/other_project").await?, ["1.0"]);
    Ok(())
}

/// PEP 740 with trusted publishing: an upload token's uploads carry attestations only when
/// their certificate names the CI job that minted the token (its workflow as GitHub's
/// signing identity, and its issuer); any other signer is refused with 400 and nothing is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_must_be_signed_by_the_trusted_publisher() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let ca = keys.path().join("ca");
    crate::attestations::make(&["ca", ca.to_str().unwrap()]).await?;
    // The trust root as a Sigstore trusted_root.json (the other tests give a PEM file).
    let trust_root = ca.join("trusted_root.json");
    let setup =
        Setup::start(|config| config.publishing.attestation_trust_root = Some(trust_root)).await?;
    let workflow = "acme/app/.github/workflows/release.yml@refs/tags/v1.0";
    let claims = with(good_claims(), json!({ "job_workflow_ref": workflow }));
    let (status, body) = setup.mint(&setup.issuer.mint(claims)).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let identity = format!("https://github.com/{workflow}");
    let issuer = setup.issuer.url();

    let upload = |version: &'static str, signer: (String, String)| {
        let (setup, token, ca) = (&setup, token.clone(), ca.clone());
        async move {
            let spec = DistSpec::new("tp-attested", version);
            let wheel = setup.sandbox.wheel(&spec).await?;
            let (identity, issuer) = signer;
            let extra = ["--identity", identity.as_str(), "--issuer", issuer.as_str()];
            let attestation = crate::attestations::attest(&ca, &wheel, &extra).await?;
            let filename = wheel.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&wheel)?;
            let upload = UploadForm::new(&spec.project_name(), &spec.version, &filename, &bytes)
                .after_file("attestations", format!("[{attestation}]"));
            setup
                .send_upload(NAMESPACE, &upload, "__token__", &token)
                .await
        }
    };
    let (status, body) = upload("1.0", (identity.clone(), issuer.clone())).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let evil = "https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.0";
    let (status, body) = upload("1.1", (evil.to_owned(), issuer.clone())).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("signed by https://github.com/evil/app"),
        "{body}"
    );
    let github = "https://token.actions.githubusercontent.com".to_owned();
    let (status, body) = upload("1.2", (identity.clone(), github)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("issuer"), "{body}");

    let mut tags = setup
        .registry
        .direct()
        .tags("team/python/tp_attested")
        .await?;
    tags.retain(|tag| tag != oci_pypi::layout::LISTING_TAG);
    tags.sort();
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert_eq!(tags[0], "1.0");
    assert!(tags[1].starts_with("sha256-"), "{tags:?}");
    Ok(())
}
