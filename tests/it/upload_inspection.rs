//! Finding 5 of the security review (issue 15): an upload's core metadata is checked wherever
//! the archive puts it, not only when it lies in the bounded sample the server keeps. A
//! wheel whose `METADATA` comes first, before a large payload, or an sdist whose `PKG-INFO`
//! comes after one, is checked like any other: refused (400, nothing stored) when it names
//! another project, accepted with its metadata served at `<file>.metadata` when it is honest.

use std::path::PathBuf;

use reqwest::StatusCode;

use crate::harness::{AuthMode, TestEnv, UploadForm};

/// Bytes of incompressible payload: more than the last 8 MiB of a wheel the server keeps.
const WHEEL_PAYLOAD: &str = "9437184";
/// Bytes of incompressible payload before an sdist's `PKG-INFO`: more than the first 1 MiB.
const SDIST_PAYLOAD: &str = "2097152";

/// Writes a wheel or an sdist with Python's `zipfile` / `tarfile`:
/// `kind path project version metadata_name metadata_version payload layout`.
/// A wheel holds its `.dist-info` first (`METADATA`, `WHEEL`), then the payload, then the
/// package and `RECORD`; layout `descriptors` writes it to a pipe-like file, so that every
/// entry has a data descriptor (sizes after the data, zeros in the local headers). An sdist
/// holds the payload first and `PKG-INFO` last, as hatchling, flit and poetry write it.
const BUILDER: &str = r#"
import io, random, sys, tarfile, zipfile
kind, path, project, version, name, meta_version, payload, layout = sys.argv[1:9]
payload = random.Random(0).randbytes(int(payload))
metadata = ('Metadata-Version: 2.2\nName: %s\nVersion: %s\nSummary: padded\n'
            % (name, meta_version)).encode()

class Pipe:
    def __init__(self, f): self.f = f
    def write(self, b): return self.f.write(b)
    def flush(self): self.f.flush()

if kind == 'wheel':
    with open(path, 'wb') as raw:
        out = Pipe(raw) if layout == 'descriptors' else raw
        with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
            info = '%s-%s.dist-info' % (project, version)
            z.writestr(info + '/METADATA', metadata)
            z.writestr(info + '/WHEEL', 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
            z.writestr(zipfile.ZipInfo(project + '/payload.bin'), payload)
            z.writestr(project + '/__init__.py', '')
            z.writestr(info + '/RECORD', '')
else:
    with tarfile.open(path, 'w:gz') as t:
        for member, data in [('payload.bin', payload), ('PKG-INFO', metadata)]:
            entry = tarfile.TarInfo('%s-%s/%s' % (project, version, member))
            entry.size = len(data)
            t.addfile(entry, io.BytesIO(data))
"#;

/// The core metadata [`BUILDER`] writes for `name` `version`.
fn metadata(name: &str, version: &str) -> String {
    format!("Metadata-Version: 2.2\nName: {name}\nVersion: {version}\nSummary: padded\n")
}

/// Builds `filename` with [`BUILDER`]; `kind` is `wheel` or `sdist`.
async fn build(
    env: &TestEnv,
    filename: &str,
    (kind, project, version): (&str, &str, &str),
    (name, meta_version): (&str, &str),
    (payload, layout): (&str, &str),
) -> anyhow::Result<PathBuf> {
    let directory = env.sandbox.fresh_dir("padded")?;
    let path = directory.join(filename);
    let path_text = path.display().to_string();
    let arguments = [
        "-c",
        BUILDER,
        kind,
        &path_text,
        project,
        version,
        name,
        meta_version,
        payload,
        layout,
    ];
    env.sandbox.python(&arguments).await?.assert_success();
    Ok(path)
}

/// Uploads `path` as the legacy API's form does, declaring `evil` `version` whatever its
/// content says (an attacker's client, not twine, which would send the metadata's name).
async fn upload_as_evil(
    env: &TestEnv,
    path: &PathBuf,
    version: &str,
) -> anyhow::Result<(StatusCode, String)> {
    let filename = path.file_name().unwrap().to_string_lossy().into_owned();
    let upload = UploadForm::new("evil", version, &filename, &std::fs::read(path)?);
    let response = env.upload(&upload, false).await?;
    Ok((response.status(), response.text().await?))
}

/// `evil` files whose metadata says `totally-other` `9.9`, placed where the bounded sample
/// did not reach: METADATA first in a wheel padded with 9 MiB (1.0; 1.1 with data
/// descriptors), PKG-INFO after 2 MiB in an sdist. Each is refused with a 400 naming the lie,
/// and nothing is stored: no repository, no tag, no page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_metadata_outside_the_sample_is_refused() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let lie = ("totally-other", "9.9");
    let cases = [
        (
            "evil-1.0-py3-none-any.whl",
            "wheel",
            "1.0",
            WHEEL_PAYLOAD,
            "seekable",
        ),
        (
            "evil-1.1-py3-none-any.whl",
            "wheel",
            "1.1",
            WHEEL_PAYLOAD,
            "descriptors",
        ),
        ("evil-1.0.tar.gz", "sdist", "1.0", SDIST_PAYLOAD, ""),
    ];
    for (filename, kind, version, payload, layout) in cases {
        let built = (kind, "evil", version);
        let path = build(&env, filename, built, lie, (payload, layout)).await?;
        let (status, body) = upload_as_evil(&env, &path, version).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filename}: {body}");
        assert!(
            body.contains(&format!("`{filename}` is not a valid distribution"))
                && body.contains("its metadata describes `totally-other` `9.9`"),
            "{filename}: {body}"
        );
    }
    assert!(env.storage().catalog().await?.is_empty());
    let page = env
        .get(&format!("{}/evil/", env.base_path()), false)
        .await?;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// Honest large files with their metadata outside the sample (a wheel writer that puts
/// `.dist-info` first, with and without data descriptors; an sdist with `PKG-INFO` last) are
/// accepted through twine, and their metadata is served at `<file>.metadata`, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_metadata_outside_the_sample_is_accepted_and_served() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let cases = [
        (
            "big-1.0-py3-none-any.whl",
            "wheel",
            "1.0",
            WHEEL_PAYLOAD,
            "seekable",
        ),
        (
            "big-2.0-py3-none-any.whl",
            "wheel",
            "2.0",
            WHEEL_PAYLOAD,
            "descriptors",
        ),
        ("big-1.0.tar.gz", "sdist", "1.0", SDIST_PAYLOAD, ""),
    ];
    let mut files = Vec::new();
    for (filename, kind, version, payload, layout) in cases {
        let built = (kind, "big", version);
        files.push(build(&env, filename, built, ("big", version), (payload, layout)).await?);
    }
    let paths: Vec<&std::path::Path> = files.iter().map(AsRef::as_ref).collect();
    env.twine_upload(&paths).await?.assert_success();
    for (filename, _, version, _, _) in cases {
        let url = format!("{}/big/{filename}.metadata", env.base_path());
        let response = env.get(&url, false).await?;
        assert_eq!(response.status(), StatusCode::OK, "{filename}");
        assert_eq!(
            response.text().await?,
            metadata("big", version),
            "{filename}"
        );
    }
    Ok(())
}
