//! A static PEP 691 index on `127.0.0.1:<free port>`, serving the files of a directory: what
//! an upstream such as PyPI looks like to the server, with the knobs the cache tests need:
//! requests counted per path, a file's bytes tampered with (its page keeps the true sha256), a
//! pause before each file body (so that concurrent requests overlap), and stopping it (drop).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::background::{self, Background};

#[derive(Default)]
struct Knobs {
    requests: BTreeMap<String, usize>,
    tampered: Vec<String>,
    pause: Duration,
    yanked: BTreeMap<String, String>,
    /// PEP 740 provenance objects, by the filename they are of.
    provenance: BTreeMap<String, String>,
    /// Files are sent in two halves, the second once this says `true`.
    midway: Option<tokio::sync::watch::Receiver<bool>>,
}

#[derive(Clone)]
struct Shared {
    dir: PathBuf,
    knobs: Arc<Mutex<Knobs>>,
}

/// The index, stopped when dropped.
pub struct StaticIndex {
    shared: Shared,
    server: Background,
}

impl StaticIndex {
    /// Serves the wheels and sdists in `dir` at `/simple/<project>/` and `/files/<filename>`.
    pub fn start(dir: &Path) -> anyhow::Result<StaticIndex> {
        let shared = Shared {
            dir: dir.to_owned(),
            knobs: Arc::default(),
        };
        let app = Router::new()
            .route("/simple/{project}/", get(page))
            .route("/files/{filename}", get(file))
            .with_state(shared.clone());
        let server = Background::serve(background::bind("static index")?, "static-index", app)?;
        Ok(StaticIndex { shared, server })
    }

    /// The index root, `http://127.0.0.1:P/simple/`.
    pub fn url(&self) -> String {
        format!("http://{}/simple/", self.server.address())
    }

    /// Requests made for `path` (`/simple/demo/`, `/files/demo-1.0-py3-none-any.whl`); those
    /// of pages answered 304 are also counted under `304 /simple/demo/`.
    pub fn requests(&self, path: &str) -> usize {
        let knobs = self.shared.knobs.lock().unwrap();
        knobs.requests.get(path).copied().unwrap_or(0)
    }

    /// Every request made, by path.
    pub fn all_requests(&self) -> BTreeMap<String, usize> {
        self.shared.knobs.lock().unwrap().requests.clone()
    }

    /// Serves other bytes for `filename` than its page's sha256 says.
    pub fn tamper(&self, filename: &str) {
        self.shared
            .knobs
            .lock()
            .unwrap()
            .tampered
            .push(filename.to_owned());
    }

    /// Waits this long before sending a file.
    pub fn pause_files(&self, pause: Duration) {
        self.shared.knobs.lock().unwrap().pause = pause;
    }

    /// Sends files in two halves, the second only once the returned sender says `true`.
    pub fn hold_files_midway(&self) -> tokio::sync::watch::Sender<bool> {
        let (release, held) = tokio::sync::watch::channel(false);
        self.shared.knobs.lock().unwrap().midway = Some(held);
        release
    }

    /// Links `provenance` (a PEP 740 provenance object) as `filename`'s, served at
    /// `/files/<filename>.provenance`.
    pub fn provide_provenance(&self, filename: &str, provenance: &str) {
        self.shared
            .knobs
            .lock()
            .unwrap()
            .provenance
            .insert(filename.to_owned(), provenance.to_owned());
    }

    /// Lists `filename` as yanked for `reason`.
    pub fn yank(&self, filename: &str, reason: &str) {
        self.shared
            .knobs
            .lock()
            .unwrap()
            .yanked
            .insert(filename.to_owned(), reason.to_owned());
    }
}

fn count(shared: &Shared, path: String) {
    *shared
        .knobs
        .lock()
        .unwrap()
        .requests
        .entry(path)
        .or_default() += 1;
}

/// PEP 503 normalization.
fn normalize(name: &str) -> String {
    super::clients::normalize_name(name, '-')
}

async fn page(
    State(shared): State<Shared>,
    UrlPath(project): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    count(&shared, format!("/simple/{project}/"));
    let wanted = normalize(&project);
    let (yanked, provenance) = {
        let knobs = shared.knobs.lock().unwrap();
        (knobs.yanked.clone(), knobs.provenance.clone())
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&shared.dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let filename = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = filename.split('-').next() else {
            continue;
        };
        if normalize(name) != wanted {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        let mut file = json!({
            "filename": filename,
            "url": format!("../../files/{filename}"),
            "hashes": { "sha256": hex::encode(Sha256::digest(&bytes)) },
            "requires-python": ">=3.8",
            "size": bytes.len(),
            "upload-time": "2025-03-04T05:06:07.891234Z",
            "yanked": false,
        });
        if let Some(reason) = yanked.get(&filename) {
            file["yanked"] = json!(reason);
        }
        if provenance.contains_key(&filename) {
            file["provenance"] = json!(format!("../../files/{filename}.provenance"));
        }
        files.push(file);
    }
    if files.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    files.sort_by_key(|file| file["filename"].as_str().map(str::to_owned));
    let body = json!({
        "meta": { "api-version": "1.1" },
        "name": wanted,
        "files": files,
    })
    .to_string();
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())));
    let revalidated = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes());
    if revalidated {
        count(&shared, format!("304 /simple/{project}/"));
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.pypi.simple.v1+json".to_owned(),
            ),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

async fn file(State(shared): State<Shared>, UrlPath(filename): UrlPath<String>) -> Response {
    count(&shared, format!("/files/{filename}"));
    if let Some(of) = filename.strip_suffix(".provenance") {
        let provenance = shared.knobs.lock().unwrap().provenance.get(of).cloned();
        return match provenance {
            Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let (pause, tampered, midway) = {
        let knobs = shared.knobs.lock().unwrap();
        (
            knobs.pause,
            knobs.tampered.contains(&filename),
            knobs.midway.clone(),
        )
    };
    let Ok(mut bytes) = std::fs::read(shared.dir.join(&filename)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    tokio::time::sleep(pause).await;
    if tampered {
        if let Some(byte) = bytes.last_mut() {
            *byte ^= 0xff;
        }
    }
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, bytes.len().to_string()),
    ];
    let Some(mut midway) = midway else {
        return (headers, bytes).into_response();
    };
    let mut second = bytes::Bytes::from(bytes);
    let first = second.split_to(second.len() / 2);
    let halves = futures_util::stream::iter([Ok::<_, std::io::Error>(first)]).chain(
        futures_util::stream::once(async move {
            let _ = midway.wait_for(|released| *released).await;
            Ok(second)
        }),
    );
    (headers, axum::body::Body::from_stream(halves)).into_response()
}
