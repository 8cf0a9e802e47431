//! Credentials: the caller's Basic credentials go to the registry (Basic or the token flow);
//! refusals become 401 with our own challenge (so pip and uv ask for credentials) or 403.

use reqwest::{Method, StatusCode};

use std::path::Path;

use crate::harness::token_server::{Grant, TokenUser};
use crate::harness::{AuthMode, Backend, DistSpec, Output, TestEnv};

/// Publishes one wheel of `name` 1.0 and returns its spec.
async fn publish_one(env: &TestEnv, name: &str) -> anyhow::Result<DistSpec> {
    let spec = DistSpec::new(name, "1.0");
    env.publish_wheel(&spec).await?;
    Ok(spec)
}

/// `twine upload` of `file` as `username` with `password`.
async fn twine_upload_as(
    env: &TestEnv,
    username: &str,
    password: &str,
    file: &Path,
) -> anyhow::Result<Output> {
    env.sandbox
        .twine_upload(&env.index_url(), username, password, &[file])
        .await
}

/// Without credentials, or with wrong ones, a private registry's project answers 401 with a
/// Basic challenge, and no body ever echoes a password.
async fn refusals_are_401_with_a_challenge(mode: AuthMode) -> anyhow::Result<()> {
    let env = TestEnv::start(mode).await?;
    publish_one(&env, "private-pkg").await?;
    let page = format!("{}/private-pkg/", env.base_path());

    let anonymous = env.get(&page, false).await?;
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
    let out = twine_upload_as(&env, "ci-user", "wrong", &wheel).await?;
    out.assert_failure_saying("401");
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
    let url = env.index_url_as(&reader, &password);
    env.sandbox
        .assert_pip_installs(&url, &["guarded"], &[(&spec.module(), "1.0")])
        .await?;

    let other = DistSpec::new("guarded", "2.0");
    let wheel = env.sandbox.wheel(&other).await?;
    let out = twine_upload_as(&env, &reader, &password, &wheel).await?;
    out.assert_failure_saying("403");

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
    let first = env.get(&page, true).await?;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens = env.registry.token_server().unwrap().requests();
    for _ in 0..5 {
        let again = env.get(&page, true).await?;
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
        config.registry.bearer_username = Some("oauth2accesstoken".to_owned());
    })
    .await?;
    let spec = publish_one(&env, "tokened").await?;
    let token = env
        .registry
        .direct()
        .token("repository:team/python/tokened:pull")
        .await?;
    let url = env.index_url_as("oauth2accesstoken", &token);
    env.sandbox
        .assert_pip_installs(&url, &["tokened"], &[(&spec.module(), "1.0")])
        .await?;
    // Uploads go through with a push token; a pull token may not push.
    let push = env
        .registry
        .direct()
        .token("repository:team/python/tokened:pull,push")
        .await?;
    let two = env.sandbox.wheel(&DistSpec::new("tokened", "2.0")).await?;
    twine_upload_as(&env, "oauth2accesstoken", &push, &two)
        .await?
        .assert_success();
    let three = env.sandbox.wheel(&DistSpec::new("tokened", "3.0")).await?;
    let out = twine_upload_as(&env, "oauth2accesstoken", &token, &three).await?;
    out.assert_failure();
    // The registry answers `insufficient_scope`: valid credentials, not allowed, 403. (The
    // status with its reason: a bare "401" also matches a port such as 40159.)
    let combined = out.combined();
    assert!(
        combined.contains("403 Forbidden") && !combined.contains("401 Unauthorized"),
        "{}",
        out.dump()
    );
    let mut tags = env.storage().tags("team/python/tokened").await?;
    tags.sort();
    assert_eq!(tags, ["1.0", "2.0"]);

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
        let response = env.get(&path, true).await?;
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

/// As ghcr.io takes a PAT as the password of any username, a token registry that does so works
/// through the server with `__token__` and with an empty username (Basic `:secret`, passed on
/// as it came): twine uploads, pip installs. A registry token presented as a password grants
/// what that token holds, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_as_password_works_with_any_username() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let token_server = env.registry.token_server().unwrap();
    let pat = token_server.personal_access_token(Grant::All);
    for (username, version) in [("__token__", "1.0"), ("", "2.0")] {
        let spec = DistSpec::new("pat-pkg", version);
        let wheel = env.sandbox.wheel(&spec).await?;
        twine_upload_as(&env, username, &pat, &wheel)
            .await?
            .assert_success();
        let url = env.index_url_as(username, &pat);
        let requirement = format!("pat-pkg=={version}");
        let (out, target) = env.sandbox.pip_install(&url, &[&requirement]).await?;
        out.assert_success();
        assert_eq!(
            env.sandbox.import_version(&target, &spec.module()).await?,
            version,
            "username `{username}`"
        );
    }
    let log = token_server.request_log();
    for username in ["__token__", ""] {
        assert!(
            log.iter()
                .any(|r| r.user.as_deref() == Some(username) && r.status == 200),
            "no token issued to `{username}`: {log:?}"
        );
    }
    let mut tags = env.storage().tags("team/python/pat_pkg").await?;
    tags.sort();
    assert_eq!(tags, ["1.0", "2.0"]);

    // A pull token of the repository, as the password of any username: installs, no uploads.
    let pull = env
        .registry
        .direct()
        .token("repository:team/python/pat_pkg:pull")
        .await?;
    let url = env.index_url_as("whoever", &pull);
    env.sandbox
        .assert_pip_installs(&url, &["pat-pkg"], &[("pat_pkg", "2.0")])
        .await?;
    let three = env.sandbox.wheel(&DistSpec::new("pat-pkg", "3.0")).await?;
    let out = twine_upload_as(&env, "whoever", &pull, &three).await?;
    out.assert_failure_saying("403");

    // An unknown secret is refused under any username.
    for username in ["__token__", ""] {
        let out = twine_upload_as(&env, username, "pat_not-issued", &three).await?;
        out.assert_failure_saying("401");
    }
    let mut tags = env.storage().tags("team/python/pat_pkg").await?;
    tags.sort();
    assert_eq!(tags, ["1.0", "2.0"]);
    Ok(())
}

crate::in_every_auth_mode!(cached_pages_are_never_shown_to_another_caller);

/// Within a long listing-cache TTL, a page built for one caller is never answered to another:
/// anonymous callers and wrong passwords get 401, and a valid user the registry does not allow
/// on the repository is refused too. Pages for authenticated callers are `private`; on an
/// anonymous registry an anonymous caller's page is not.
async fn cached_pages_are_never_shown_to_another_caller(mode: AuthMode) -> anyhow::Result<()> {
    let env = TestEnv::start_with(mode, |config| config.listing.listing_cache_ttl = 300).await?;
    let spec = publish_one(&env, "cached-page").await?;
    let base = env.base_path();
    let paths = [
        format!("{base}/cached-page/"),
        format!("{base}/cached-page/json"),
        format!("{base}/+simple/"),
        format!("{base}/cached-page/{}.metadata", spec.wheel_filename()),
    ];
    // What only the real answer holds, per path.
    let markers = [
        "#sha256=",
        "\"releases\"",
        "href=\"cached-page/\"",
        "Metadata-Version",
    ];
    let authenticated = mode != AuthMode::Anonymous;
    for (path, marker) in paths.iter().zip(markers) {
        for _ in 0..2 {
            let good = env.get(path, authenticated).await?;
            assert_eq!(good.status(), StatusCode::OK, "{path}");
            let cache_control = good.headers()["cache-control"].to_str()?.to_owned();
            assert_eq!(
                cache_control.starts_with("private"),
                authenticated,
                "{path}: {cache_control}"
            );
            let body = good.text().await?;
            assert!(body.contains(marker), "{path}: {body}");
        }
    }
    if !authenticated {
        return Ok(());
    }

    if mode == AuthMode::Token {
        let outsider = TokenUser::new(
            "outsider",
            "outsider-password",
            Grant::Within(vec!["elsewhere/".to_owned()]),
        );
        env.registry.token_server().unwrap().add_user(outsider);
    }
    let mut callers: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("anonymous", None),
        ("wrong password", Some(("ci-user", "not-the-password"))),
    ];
    if mode == AuthMode::Token {
        callers.push(("outsider", Some(("outsider", "outsider-password"))));
    }
    for (path, marker) in paths.iter().zip(markers) {
        for (who, credentials) in &callers {
            let mut request = env.http(Method::GET, path, false);
            if let Some((user, password)) = credentials {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            let expected = if *who == "outsider" {
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].as_slice()
            } else {
                [StatusCode::UNAUTHORIZED].as_slice()
            };
            assert!(expected.contains(&status), "{who} {path}: {status} {body}");
            assert!(!body.contains(marker), "{who} {path}: {body}");
        }
    }
    // The first caller still gets its page.
    let good = env.get(&paths[0], true).await?;
    assert_eq!(good.status(), StatusCode::OK);
    Ok(())
}
