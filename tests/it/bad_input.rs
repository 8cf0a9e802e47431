//! The bad-input table of issue 5, against the real registry: every malformed upload gets a
//! 4xx whose one-line reason names the bad value, and leaves the registry exactly as it was
//! (same repositories, same tags, each tag on the same manifest: no orphan tag, no half
//! index).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt as _;

use crate::harness::raw;
use crate::harness::upload::BOUNDARY;
use crate::harness::{AuthMode, DistSpec, TestEnv, UploadForm};

/// The server's `max_upload_size` in this test: small, so that oversized bodies are cheap.
const LIMIT: u64 = 1 << 20;
/// The server's limit of one text field it keeps (`MAX_FIELD_SIZE` in src/http/upload.rs).
const FIELD_LIMIT: usize = 256 * 1024;
/// The server's limit of all the form's parts but the file (`MAX_FORM_SIZE`).
const FORM_LIMIT: usize = 4 * 1024 * 1024;
/// The project every row uploads to.
const PROJECT: &str = "x";

/// A complete, valid-looking upload of `filename` as twine sends it, filenames sent verbatim.
fn upload(version: &str, filename: &str, bytes: &[u8]) -> UploadForm {
    UploadForm::new(PROJECT, version, filename, bytes)
        .field("metadata_version", "2.1")
        .verbatim_filenames()
}

/// How a row's request is sent.
enum Request {
    /// A reqwest multipart form to the namespace's upload URL.
    Form(Form),
    /// A reqwest multipart form to another path.
    FormAt(String, Form),
    /// A hand-built `multipart/form-data` body ([`BOUNDARY`]) with its `Content-Length`.
    Raw(Vec<u8>),
    /// A body of another content type.
    Typed(&'static str, Vec<u8>),
    /// A hand-built multipart body over a bare TCP connection, to a path sent exactly as
    /// given (reqwest's URL parser would resolve `%2E%2E` segments before sending).
    RawAt(String, Vec<u8>),
    /// Over a bare TCP connection: the head announces `Content-Length` and no body byte is
    /// sent, so only an answer given from the head alone can arrive.
    DeclaredLength(u64),
    /// Over a bare TCP connection, `Transfer-Encoding: chunked` (no `Content-Length`): these
    /// bytes as chunks, and then nothing (no last chunk) while the answer is awaited.
    Chunked(Vec<u8>),
}

/// One bad upload and what the server must answer.
struct Row {
    name: &'static str,
    request: Request,
    status: StatusCode,
    /// A substring of the one-line reason, naming the bad value.
    reason: String,
}

/// A row's request: `upload` as reqwest's multipart encoder sends it.
fn form(upload: UploadForm) -> Request {
    Request::Form(upload.form())
}

fn row(name: &'static str, request: Request, status: StatusCode, reason: &str) -> Row {
    Row {
        name,
        request,
        status,
        reason: reason.to_owned(),
    }
}

/// Repository → tag → manifest digest, as the registry itself reports them.
type Snapshot = BTreeMap<String, BTreeMap<String, String>>;

async fn snapshot(env: &TestEnv) -> anyhow::Result<Snapshot> {
    let storage = env.storage();
    let mut snapshot = Snapshot::new();
    for repository in storage.catalog().await? {
        let mut tags = BTreeMap::new();
        for tag in storage.tags(&repository).await? {
            let digest = match storage.manifest(&repository, &tag).await? {
                Some((_, digest, _)) => digest,
                None => "(tag without a manifest)".to_owned(),
            };
            tags.insert(tag, digest);
        }
        snapshot.insert(repository, tags);
    }
    Ok(snapshot)
}

/// Every bad upload of issue 5, one row each: status, reason, registry unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_with_a_reason_and_change_nothing() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.publishing.max_upload_size = LIMIT;
    })
    .await?;
    let spec = DistSpec::new(PROJECT, "1.0");
    let wheel = std::fs::read(env.sandbox.wheel(&spec).await?)?;
    let wheel_name = spec.wheel_filename();
    let sdist = std::fs::read(env.sandbox.sdist(&spec).await?)?;
    let other_wheel = std::fs::read(env.sandbox.wheel(&DistSpec::new("y", "1.0")).await?)?;
    let other_sdist = std::fs::read(env.sandbox.sdist(&DistSpec::new(PROJECT, "6.0")).await?)?;
    let (wheel_bomb, sdist_bomb) = bombs(&env).await?;
    let long_version = format!("1.0+{}", "a".repeat(130));
    let long_wheel = format!("x-{long_version}-py3-none-any.whl");
    assert_eq!(wheel_name, "x-1.0-py3-none-any.whl");
    assert_eq!(spec.sdist_filename(), "x-1.0.tar.gz");

    // A release that the rows could damage: `x` 1.0 with its sdist.
    let first = upload("1.0", "x-1.0.tar.gz", &sdist).sha256();
    let (status, body) = send(&env, Request::Form(first.form())).await?;
    assert_eq!(status, StatusCode::OK, "uploading the sdist: {body}");
    let initial = snapshot(&env).await?;
    assert!(
        initial
            .get("team/python/x")
            .is_some_and(|tags| tags.contains_key("1.0")),
        "{initial:?}"
    );

    let good = upload("1.0", &wheel_name, &wheel);
    let zeros = |n: usize| "0".repeat(n);
    let bad = StatusCode::BAD_REQUEST;
    let rows = vec![
        row(
            "missing `:action`",
            form(good.clone().without(":action")),
            bad,
            "missing form field `:action`",
        ),
        row(
            "unknown `:action`",
            form(good.clone().set(":action", "frobnicate")),
            bad,
            "`:action`: `frobnicate`",
        ),
        row(
            "`protocol_version` 2",
            form(good.clone().set("protocol_version", "2")),
            bad,
            "`protocol_version`: `2`",
        ),
        row(
            "missing `name`",
            form(good.clone().without("name")),
            bad,
            "missing form field `name`",
        ),
        row(
            "missing `version`",
            form(good.clone().without("version")),
            bad,
            "missing form field `version`",
        ),
        row(
            "filename not matching `name`",
            form(good.clone().set("name", "other")),
            bad,
            "`x-1.0-py3-none-any.whl` does not match form field `name` = `other`",
        ),
        row(
            "filename not matching `version`",
            form(good.clone().set("version", "1.1")),
            bad,
            "`x-1.0-py3-none-any.whl` does not match form field `version` = `1.1`",
        ),
        row(
            "filename with `/`",
            form(
                good.clone()
                    .file(Some("sub/x-1.0-py3-none-any.whl"), &wheel),
            ),
            bad,
            "`sub/x-1.0-py3-none-any.whl`",
        ),
        row(
            // Raw: reqwest escapes `\` as `\\` inside the quoted filename, which the
            // server's multipart parser keeps as two backslashes.
            "filename with `\\` (raw multipart)",
            Request::Raw(
                good.clone()
                    .file(Some("sub\\x-1.0-py3-none-any.whl"), &wheel)
                    .raw(),
            ),
            bad,
            // Quoted with the backslash escaped.
            "`sub\\\\x-1.0-py3-none-any.whl`",
        ),
        row(
            "filename `..`",
            form(good.clone().file(Some(".."), &wheel)),
            bad,
            "invalid filename `..`",
        ),
        row(
            "filename with `..` inside",
            form(good.clone().file(Some("x-1.0-py3-none-any..whl"), &wheel)),
            bad,
            "`x-1.0-py3-none-any..whl`",
        ),
        row(
            "filename with a tab (raw multipart)",
            Request::Raw(
                good.clone()
                    .file(Some("x-1.0\t-py3-none-any.whl"), &wheel)
                    .raw(),
            ),
            bad,
            // Quoted with the control character escaped.
            "`x-1.0\\t-py3-none-any.whl`",
        ),
        row(
            "filename with the C1 control character U+0085 (raw multipart)",
            Request::Raw(
                good.clone()
                    .file(Some("x-1.0\u{85}-py3-none-any.whl"), &wheel)
                    .raw(),
            ),
            bad,
            "`x-1.0\\u{85}-py3-none-any.whl`",
        ),
        row(
            "invalid PEP 440 version in the filename",
            form(
                good.clone()
                    .file(Some("x-1.0.banana-py3-none-any.whl"), &wheel),
            ),
            bad,
            "invalid version `1.0.banana`",
        ),
        row(
            "project name `-bad-`",
            form(
                good.clone()
                    .set("name", "-bad-")
                    .file(Some("-bad--1.0.tar.gz"), &sdist),
            ),
            bad,
            "invalid project name `-bad-`",
        ),
        row(
            "sha256 digest mismatch",
            form(good.clone().set("sha256_digest", zeros(64))),
            bad,
            &format!("`sha256_digest` sent (`{}`)", zeros(64)),
        ),
        row(
            "blake2_256 digest mismatch",
            form(good.clone().set("blake2_256_digest", zeros(64))),
            bad,
            &format!("`blake2_256_digest` sent (`{}`)", zeros(64)),
        ),
        row(
            "an md5 digest sent after the file, when it can no longer be checked",
            form(good.clone().after_file("md5_digest", zeros(32))),
            bad,
            "the `md5_digest` field came after the file content",
        ),
        row(
            "md5 digest mismatch",
            form(good.clone().set("md5_digest", zeros(32))),
            bad,
            &format!("`md5_digest` sent (`{}`)", zeros(32)),
        ),
        row(
            "a second sdist for the release (`X-1.0.tar.gz` after `x-1.0.tar.gz`)",
            form(upload("1.0", "X-1.0.tar.gz", &sdist)),
            bad,
            "already has the sdist `x-1.0.tar.gz`: only one sdist",
        ),
        row(
            "a `.whl` that is not a zip",
            form(
                good.clone()
                    .file(Some(&wheel_name), b"PK? not a zip archive"),
            ),
            bad,
            "`x-1.0-py3-none-any.whl` is not a valid distribution",
        ),
        row(
            "a `.tar.gz` that is not gzip",
            form(upload("2.0", "x-2.0.tar.gz", b"plain text, not gzip")),
            bad,
            "`x-2.0.tar.gz` is not a valid distribution",
        ),
        row(
            "a wheel of another project under this name",
            form(good.clone().file(Some(&wheel_name), &other_wheel)),
            bad,
            "`x-1.0-py3-none-any.whl` is not a valid distribution",
        ),
        row(
            "an sdist of another version under this name",
            form(upload("2.0", "x-2.0.tar.gz", &other_sdist)),
            bad,
            "`x-2.0.tar.gz` is not a valid distribution",
        ),
        row(
            "a wheel whose METADATA inflates to 17 MiB (zip bomb)",
            form(upload("4.0", "x-4.0-py3-none-any.whl", &wheel_bomb)),
            bad,
            "`x-4.0-py3-none-any.whl` is not a valid distribution",
        ),
        row(
            "an sdist whose PKG-INFO inflates to 70 MiB (gzip bomb)",
            form(upload("5.0", "x-5.0.tar.gz", &sdist_bomb)),
            bad,
            "`x-5.0.tar.gz` is not a valid distribution",
        ),
        row(
            "`Content-Length` over the limit (refused before the body is read)",
            Request::DeclaredLength(64 * LIMIT),
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("limit of {LIMIT} bytes"),
        ),
        row(
            "chunked body growing over the limit",
            Request::Chunked({
                let upload = upload("3.0", "x-3.0-py3-none-any.whl", b"");
                let mut bytes = upload.raw_head();
                bytes.resize(bytes.len() + usize::try_from(LIMIT)? + (64 << 10), b'z');
                bytes
            }),
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("limit of {LIMIT} bytes"),
        ),
        row(
            "truncated multipart (cut inside the file, no closing boundary)",
            Request::Raw({
                let mut body = good.raw();
                body.truncate(body.len() - 200);
                body
            }),
            bad,
            "the upload body could not be read",
        ),
        row(
            "empty file",
            form(good.clone().file(Some(&wheel_name), b"")),
            bad,
            "`x-1.0-py3-none-any.whl` is empty",
        ),
        row(
            "no `content` part",
            form(good.clone().no_file()),
            bad,
            "the upload has no file",
        ),
        row(
            "`content` without a filename",
            form(good.clone().file(None, &wheel)),
            bad,
            "`content` with a filename",
        ),
        row(
            "`:action` = `submit`",
            form(good.clone().set(":action", "submit")),
            StatusCode::GONE,
            "`:action` = `submit` is no longer supported",
        ),
        row(
            "malformed percent-encoding in the upload path",
            Request::FormAt(
                format!("/{}/team/py%zzthon/", env.registry.host()),
                good.form(),
            ),
            bad,
            "malformed percent-encoding in path segment `py%zzthon`",
        ),
        row(
            "a `..` namespace segment in the upload path",
            Request::RawAt(format!("/{}/team/%2E%2E/", env.registry.host()), good.raw()),
            bad,
            "invalid namespace `team/..`",
        ),
        row(
            "two `content` parts",
            Request::Form(good.form().part(
                "content",
                Part::bytes(wheel.clone()).file_name(wheel_name.clone()),
            )),
            bad,
            "more than one `content` part",
        ),
        row(
            "a field that is not UTF-8 (raw multipart)",
            Request::Raw(replace(
                &good.clone().set("summary", "@NOT-UTF-8@").raw(),
                b"@NOT-UTF-8@",
                b"caf\xe9",
            )),
            bad,
            "form field `summary` is not UTF-8",
        ),
        row(
            "a version too long for a tag",
            form(
                good.clone()
                    .set("version", &long_version)
                    .file(Some(&long_wheel), &wheel),
            ),
            bad,
            "too long to be stored as an OCI tag (at most 128 characters)",
        ),
        row(
            "a malformed `sha256_digest`",
            form(good.clone().set("sha256_digest", "not-hex")),
            bad,
            "`sha256_digest`: `not-hex`",
        ),
        row(
            "a filename over 255 characters",
            form(good.clone().file(
                Some(&format!("x-1.0-py3-none-{}.whl", "a".repeat(250))),
                &wheel,
            )),
            bad,
            "at most 255 characters",
        ),
        row(
            "multipart without a boundary",
            Request::Typed("multipart/form-data", good.raw()),
            bad,
            "Invalid `boundary` for `multipart/form-data`",
        ),
        row(
            "a field over the field limit",
            // Fields go before the file, as twine sends them.
            form(good.clone().set("summary", "d".repeat(FIELD_LIMIT + 1))),
            bad,
            &format!("form field `summary` is larger than {FIELD_LIMIT} bytes (256 KiB)"),
        ),
        row(
            "fields over the form limit (the long description is not kept, but counted)",
            form(good.clone().set("description", "d".repeat(FORM_LIMIT + 1))),
            bad,
            &format!("the form fields (at `description`) exceed {FORM_LIMIT} bytes (4 MiB)"),
        ),
        row(
            "kept fields over their total limit, in small parts",
            form((0..5).fold(good.clone(), |upload, i| {
                upload.set(&format!("field{i}"), "c".repeat(FIELD_LIMIT - 10))
            })),
            bad,
            "the form fields kept in memory (at `field4`) exceed 1048576 bytes (1 MiB)",
        ),
    ];

    check_rows(&env, rows).await?;
    assert_eq!(snapshot(&env).await?, initial);

    // The refusals were about the bad values: the same wheel, sent properly, is accepted.
    let (status, body) = send(&env, Request::Form(good.form())).await?;
    assert_eq!(status, StatusCode::OK, "the valid wheel: {body}");
    assert_ne!(snapshot(&env).await?, initial);
    Ok(())
}

/// Sends each row's request and checks its answer and that the registry did not change;
/// fails listing every row that went wrong.
async fn check_rows(env: &TestEnv, rows: Vec<Row>) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for row in rows {
        let before = snapshot(env).await?;
        let (status, body) = send(env, row.request)
            .await
            .with_context(|| format!("row `{}`", row.name))?;
        let after = snapshot(env).await?;
        let reason = body.trim_end();
        eprintln!("row `{}`: {status} {reason}", row.name);
        let mut wrong = Vec::new();
        if status != row.status {
            wrong.push(format!("status {status}, expected {}", row.status));
        }
        if !reason.contains(&row.reason) {
            wrong.push(format!("the reason does not contain `{}`", row.reason));
        }
        if reason.lines().count() != 1 {
            wrong.push("the reason is not one line".to_owned());
        }
        if after != before {
            wrong.push(format!(
                "the registry changed:\n  before {before:?}\n  after  {after:?}"
            ));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "row `{}`: {}\n  answer: {status} {reason}",
                row.name,
                wrong.join("; ")
            ));
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// A server with the same limits as the main table, and a small valid wheel of `x` 1.0.
async fn start_with_wheel() -> anyhow::Result<(TestEnv, UploadForm)> {
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.publishing.max_upload_size = LIMIT;
    })
    .await?;
    let spec = DistSpec::new(PROJECT, "1.0");
    let wheel = std::fs::read(env.sandbox.wheel(&spec).await?)?;
    let good = upload("1.0", &spec.wheel_filename(), &wheel);
    Ok((env, good))
}

/// Issue 5 asks that "a file whose content is not a valid zip/tar.gz of that name" be refused:
/// legacy `.zip` sdists are not taken at all any more (PEP 625), whatever their bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_sdists_are_checked_like_other_files() -> anyhow::Result<()> {
    let (env, _) = start_with_wheel().await?;
    let other = zip_sdist(&env).await?;
    let rows = vec![
        row(
            "a `.zip` sdist that is not a zip",
            form(upload("7.0", "x-7.0.zip", b"plain text, not a zip")),
            StatusCode::BAD_REQUEST,
            "`x-7.0.zip` is not a valid distribution: a source distribution must be a `.tar.gz` (PEP 625)",
        ),
        row(
            "a `.zip` sdist of another version (`x` 1.0) under this name",
            form(upload("8.0", "x-8.0.zip", &other)),
            StatusCode::BAD_REQUEST,
            "`x-8.0.zip` is not a valid distribution",
        ),
    ];
    check_rows(&env, rows).await
}

/// An invalid `name` or `version` is quoted back escaped: a newline in it cannot split the
/// one-line reason (nor let the client's text forge a second line of the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_name_and_version_stay_on_one_line() -> anyhow::Result<()> {
    let (env, good) = start_with_wheel().await?;
    let rows = vec![
        row(
            "a `name` with a newline",
            form(good.clone().set("name", "x\nsecond line")),
            StatusCode::BAD_REQUEST,
            "invalid project name `x\\nsecond line`",
        ),
        row(
            "a `version` with a newline",
            form(good.clone().set("version", "1.0\nsecond line")),
            StatusCode::BAD_REQUEST,
            "invalid version `1.0\\nsecond line`",
        ),
    ];
    check_rows(&env, rows).await
}

/// Requests refused before the form is read still get a reason: the content type that is not
/// multipart is named; a control byte inside a part's headers makes the body unreadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_errors_name_the_bad_value() -> anyhow::Result<()> {
    let (env, good) = start_with_wheel().await?;
    let bytes = good.bytes().to_vec();
    let rows = vec![
        row(
            "a body that is not multipart",
            Request::Typed(
                "application/x-www-form-urlencoded",
                b":action=file_upload&protocol_version=1&name=x&version=1.0".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "`application/x-www-form-urlencoded`",
        ),
        row(
            "filename with the control byte 0x01 (raw multipart)",
            Request::Raw(
                good.clone()
                    .file(Some("x-1.0\u{1}-py3-none-any.whl"), &bytes)
                    .raw(),
            ),
            StatusCode::BAD_REQUEST,
            "the upload body could not be read",
        ),
    ];
    check_rows(&env, rows).await
}

/// A legacy `.zip` sdist of `x` 1.0 (its `PKG-INFO` under `x-1.0/`), made by Python's
/// `zipfile`.
async fn zip_sdist(env: &TestEnv) -> anyhow::Result<Vec<u8>> {
    let path = env.sandbox.fresh_path("zip-sdist").with_extension("zip");
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
        \x20   z.writestr('x-1.0/PKG-INFO', 'Metadata-Version: 2.1\\nName: x\\nVersion: 1.0\\n')\n\
        \x20   z.writestr('x-1.0/x/__init__.py', '__version__ = \"1.0\"\\n')\n";
    let path_text = path.display().to_string();
    env.sandbox
        .python(&["-c", script, &path_text])
        .await?
        .assert_success();
    Ok(std::fs::read(&path)?)
}

/// Wheel and sdist "bombs" made by Python: `x-4.0-py3-none-any.whl`, whose deflated METADATA
/// inflates to 17 MiB, and `x-5.0.tar.gz`, whose PKG-INFO inflates to 70 MiB; each well
/// under the upload limit.
async fn bombs(env: &TestEnv) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let wheel = env.sandbox.fresh_path("bomb").with_extension("whl");
    let sdist = env.sandbox.fresh_path("bomb").with_extension("tar.gz");
    let script = "import io, sys, tarfile, zipfile\n\
        def metadata(version, size):\n\
        \x20   head = 'Metadata-Version: 2.1\\nName: x\\nVersion: %s\\nSummary: ' % version\n\
        \x20   return head.encode() + b'a' * size + b'\\n'\n\
        with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
        \x20   z.writestr('x/__init__.py', '')\n\
        \x20   z.writestr('x-4.0.dist-info/METADATA', metadata('4.0', 17 << 20))\n\
        \x20   z.writestr('x-4.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\n\
        \x20   z.writestr('x-4.0.dist-info/RECORD', '')\n\
        data = metadata('5.0', 70 << 20)\n\
        with tarfile.open(sys.argv[2], 'w:gz') as t:\n\
        \x20   info = tarfile.TarInfo('x-5.0/PKG-INFO')\n\
        \x20   info.size = len(data)\n\
        \x20   t.addfile(info, io.BytesIO(data))\n";
    let (wheel_text, sdist_text) = (wheel.display().to_string(), sdist.display().to_string());
    env.sandbox
        .python(&["-c", script, &wheel_text, &sdist_text])
        .await?
        .assert_success();
    let bombs = (std::fs::read(&wheel)?, std::fs::read(&sdist)?);
    anyhow::ensure!(
        bombs.0.len() < 1 << 18 && bombs.1.len() < 1 << 18,
        "the bombs are too large to be bombs: {} and {} bytes",
        bombs.0.len(),
        bombs.1.len()
    );
    Ok(bombs)
}

/// `bytes` with the first `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    match bytes.windows(from.len()).position(|window| window == from) {
        Some(at) => [&bytes[..at], to, &bytes[at + from.len()..]].concat(),
        None => bytes.to_vec(),
    }
}

/// Sends a row's request with the main credentials; the status and the body.
async fn send(env: &TestEnv, request: Request) -> anyhow::Result<(StatusCode, String)> {
    let upload_path = format!("{}/", env.base_path());
    let builder = match request {
        Request::Form(form) => env.http(Method::POST, &upload_path, true).multipart(form),
        Request::FormAt(path, form) => env.http(Method::POST, &path, true).multipart(form),
        Request::Raw(body) => env
            .http(Method::POST, &upload_path, true)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body),
        Request::Typed(content_type, body) => env
            .http(Method::POST, &upload_path, true)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body),
        Request::RawAt(path, body) => {
            let length = format!("Content-Length: {}", body.len());
            let head = request_head(env, &path, &length);
            return tcp_exchange(env, head.as_bytes(), &[body]).await;
        }
        Request::DeclaredLength(length) => {
            let head = request_head(env, &upload_path, &format!("Content-Length: {length}"));
            return tcp_exchange(env, head.as_bytes(), &[]).await;
        }
        Request::Chunked(bytes) => {
            let head = request_head(env, &upload_path, "Transfer-Encoding: chunked");
            let chunks: Vec<Vec<u8>> = bytes
                .chunks(64 << 10)
                .map(|chunk| {
                    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                    framed.extend_from_slice(chunk);
                    framed.extend_from_slice(b"\r\n");
                    framed
                })
                .collect();
            return tcp_exchange(env, head.as_bytes(), &chunks).await;
        }
    };
    let response = builder.timeout(Duration::from_secs(60)).send().await?;
    let status = response.status();
    Ok((status, response.text().await?))
}

/// An upload request's head with the main credentials and `framing` (the body's length or
/// transfer encoding).
fn request_head(env: &TestEnv, path: &str, framing: &str) -> String {
    let credentials = env.credentials();
    let credentials = credentials
        .as_ref()
        .map(|(user, password)| (user.as_str(), password.as_str()));
    raw::multipart_head(&env.server.authority(), path, credentials, framing)
}

/// Writes `head` and then `chunks` (stopping at the first write the server does not take
/// within a few seconds, or at a closed connection), then reads one HTTP/1.1 response.
async fn tcp_exchange(
    env: &TestEnv,
    head: &[u8],
    chunks: &[Vec<u8>],
) -> anyhow::Result<(StatusCode, String)> {
    let mut stream = tokio::net::TcpStream::connect(env.server.authority()).await?;
    stream.write_all(head).await?;
    for chunk in chunks {
        match tokio::time::timeout(Duration::from_secs(5), stream.write_all(chunk)).await {
            Ok(Ok(())) => {}
            // The server answered and stopped reading, or closed: read what it said.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let answer = raw::read_response(&mut stream, Duration::from_secs(20)).await?;
    anyhow::ensure!(
        answer.header("content-length").is_some(),
        "an answer without Content-Length: {answer:?}"
    );
    Ok((answer.status, answer.body))
}
