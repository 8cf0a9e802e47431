//! Credentials: the caller's Basic credentials go to the registry (Basic or the token flow);
//! refusals become 401 with our own challenge (so pip and uv ask for credentials) or 403.

use reqwest::{Method, StatusCode};

use crate::harness::{AuthMode, Backend, DistSpec, TestEnv};

/// Publishes one wheel of `name` 1.0 and returns its spec.
async fn publish_one(env: &TestEnv, name: &str) -> anyhow::Result<DistSpec> {
    let spec = DistSpec::new(name, "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    Ok(spec)
}

/// Without credentials, or with wrong ones, a private registry's project answers 401 with a
/// Basic challenge, and no body ever echoes a password.
async fn refusals_are_401_with_a_challenge(mode: AuthMode) -> anyhow::Result<()> {
    let env = TestEnv::start(mode).await?;
    publish_one(&env, "private-pkg").await?;
    let page = format!("{}/private-pkg/", env.base_path());

    let anonymous = env.http(Method::GET, &page, false).send().await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers().get("www-authenticate").cloned();
    assert_eq!(challenge.unwrap(), "Basic realm=\"oci-pypi\"");

    let wrong = env
        .http(Method::GET, &page, false)
        .basic_auth("ci-user", Some("not-the-password"))
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body = wrong.text().await?;
    assert!(!body.contains("not-the-password"), "{body}");

    // pip without credentials fails (after its 401, it has nothing to offer).
    let (out, _) = env
        .sandbox
        .pip_install(&env.index_url(), &["private-pkg"])
        .await?;
    out.assert_failure();

    // twine with a wrong password fails with 401.
    let spec = DistSpec::new("private-pkg", "2.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let url = env.index_url();
    let path = wheel.display().to_string();
    let args = [
        "upload",
        "--non-interactive",
        "--repository-url",
        &url,
        "-u",
        "ci-user",
        "-p",
        "wrong",
        &path,
    ];
    let out = env.sandbox.twine(&args).await?;
    out.assert_failure();
    assert!(out.combined().contains("401"), "{}", out.dump());
    assert!(
        env.registry
            .direct()
            .tags("team/python/private_pkg")
            .await?
            == vec!["1.0".to_owned()]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_refusals_are_401_with_a_challenge() -> anyhow::Result<()> {
    refusals_are_401_with_a_challenge(AuthMode::Htpasswd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_refusals_are_401_with_a_challenge() -> anyhow::Result<()> {
    refusals_are_401_with_a_challenge(AuthMode::Token).await
}

/// A user the token server lets read but not write: installs work, uploads and deletes are
/// 403 (valid credentials, not allowed), and the registry is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_user_gets_403_on_writes() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let spec = publish_one(&env, "guarded").await?;
    let (reader, password) = env.registry.reader_credentials().unwrap();
    let url = format!(
        "http://{reader}:{password}@{}/{}/{}/",
        env.server.authority(),
        env.registry.host(),
        env.namespace
    );
    let (out, target) = env.sandbox.pip_install(&url, &["guarded"]).await?;
    out.assert_success();
    assert_eq!(
        env.sandbox.import_version(&target, &spec.module()).await?,
        "1.0"
    );

    let other = DistSpec::new("guarded", "2.0");
    let wheel = env.sandbox.wheel(&other).await?;
    let index = env.index_url();
    let path = wheel.display().to_string();
    let args = [
        "upload",
        "--non-interactive",
        "--repository-url",
        &index,
        "-u",
        &reader,
        "-p",
        &password,
        &path,
    ];
    let out = env.sandbox.twine(&args).await?;
    out.assert_failure();
    assert!(out.combined().contains("403"), "{}", out.dump());

    let file = format!("{}/guarded/{}", env.base_path(), spec.wheel_filename());
    let delete = env
        .http(Method::DELETE, &file, false)
        .basic_auth(&reader, Some(&password))
        .send()
        .await?;
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        env.storage().tags("team/python/guarded").await?,
        vec!["1.0".to_owned()]
    );
    Ok(())
}

/// Registry tokens are cached per caller and scope: repeated pages cost no new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_tokens_are_cached() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    publish_one(&env, "cached").await?;
    let page = format!("{}/cached/", env.base_path());
    let first = env.http(Method::GET, &page, true).send().await?;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens = env.registry.token_server().unwrap().requests();
    for _ in 0..5 {
        let again = env.http(Method::GET, &page, true).send().await?;
        assert_eq!(again.status(), StatusCode::OK);
    }
    assert_eq!(env.registry.token_server().unwrap().requests(), tokens);

    // Another caller (the reader) never reuses the first caller's token.
    let (reader, password) = env.registry.reader_credentials().unwrap();
    let other = env
        .http(Method::GET, &page, false)
        .basic_auth(reader, Some(password))
        .send()
        .await?;
    assert_eq!(other.status(), StatusCode::OK);
    assert!(env.registry.token_server().unwrap().requests() > tokens);
    Ok(())
}

/// With a configured bearer username, the password is used as the registry token itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_username_passes_a_ready_token() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Token, |config| {
        config.bearer_username = Some("oauth2accesstoken".to_owned());
    })
    .await?;
    let spec = publish_one(&env, "tokened").await?;
    let token = env
        .registry
        .direct()
        .token("repository:team/python/tokened:pull")
        .await?;
    let url = format!(
        "http://oauth2accesstoken:{token}@{}/{}/{}/",
        env.server.authority(),
        env.registry.host(),
        env.namespace
    );
    let (out, target) = env.sandbox.pip_install(&url, &["tokened"]).await?;
    out.assert_success();
    assert_eq!(
        env.sandbox.import_version(&target, &spec.module()).await?,
        "1.0"
    );
    let tokens = env.registry.token_server().unwrap().requests();
    let page = format!("{}/tokened/", env.base_path());
    let response = env
        .http(Method::GET, &page, false)
        .basic_auth("oauth2accesstoken", Some("not-a-token"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        env.registry.token_server().unwrap().requests(),
        tokens,
        "no token flow for bearer users"
    );
    Ok(())
}

/// An unknown project is a plain 404 for a caller the registry accepts (uv and pip then move
/// on), in every mode.
async fn unknown_project_is_404(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    publish_one(&env, "known").await?;
    for path in [
        format!("{}/unknown-project/", env.base_path()),
        format!("{}/unknown-project/json", env.base_path()),
        format!(
            "{}/unknown-project/unknown_project-1.0.tar.gz",
            env.base_path()
        ),
        format!("{}/known/known-9.9.tar.gz", env.base_path()),
    ] {
        let response = env.http(Method::GET, &path, true).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (out, _) = env
        .sandbox
        .pip_install(&env.index_url_with_credentials(), &["unknown-project"])
        .await?;
    out.assert_failure();
    Ok(())
}

crate::in_every_backend!(unknown_project_is_404);
