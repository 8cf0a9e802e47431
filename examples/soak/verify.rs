//! After the load: every file a client stored and did not delete must be listed with its
//! digest and yank state and download byte for byte (with its `.metadata`); no deleted or
//! refused file may be listed.

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt as _;
use reqwest::Method;
use reqwest::header::ACCEPT;

use crate::client::{Client, Shared, Stored};
use crate::wheel::Wheel;

/// One file of a PEP 691 page.
pub struct ListedFile {
    pub filename: String,
    pub sha256: String,
    pub yanked: bool,
}

/// The files of a PEP 691 JSON project page.
pub fn listed_files(body: &[u8]) -> anyhow::Result<Vec<ListedFile>> {
    let page: serde_json::Value = serde_json::from_slice(body)?;
    let files = page["files"].as_array().cloned().unwrap_or_default();
    Ok(files
        .iter()
        .map(|file| ListedFile {
            filename: file["filename"].as_str().unwrap_or_default().to_owned(),
            sha256: file["hashes"]["sha256"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            yanked: !matches!(file["yanked"], serde_json::Value::Bool(false)),
        })
        .collect())
}

/// What the final check found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub live: usize,
    /// Listed, with the right digest, and downloaded byte for byte with its metadata.
    pub verified: usize,
    pub lost: Vec<String>,
    pub corrupt: Vec<String>,
    pub yank_mismatch: Vec<String>,
    pub deleted: usize,
    pub resurrected: Vec<String>,
    pub refused: usize,
    pub refused_listed: Vec<String>,
    /// Listed files no client knows (uploads whose answer was lost are expected here).
    pub unknown: Vec<String>,
    pub uncertain: usize,
    pub errors: Vec<String>,
    pub requests: usize,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.corrupt.is_empty()
            && self.yank_mismatch.is_empty()
            && self.resurrected.is_empty()
            && self.refused_listed.is_empty()
            && self.errors.is_empty()
            && self.verified == self.live
    }
}

/// Checks the index against the clients' ledgers, with `client` (whose ledger is empty).
pub async fn verify(client: &Client, ledgers: &[Client]) -> Verdict {
    let mut verdict = Verdict::default();
    let live: Vec<&Stored> = ledgers.iter().flat_map(|c| &c.live).collect();
    let deleted: HashSet<&str> = ledgers
        .iter()
        .flat_map(|c| &c.deleted)
        .map(|w| w.filename.as_str())
        .collect();
    let refused: HashSet<&str> = ledgers
        .iter()
        .flat_map(|c| &c.refused)
        .map(String::as_str)
        .collect();
    let uncertain: HashSet<&str> = ledgers
        .iter()
        .flat_map(|c| &c.uncertain)
        .map(String::as_str)
        .collect();
    (verdict.live, verdict.deleted) = (live.len(), deleted.len());
    (verdict.refused, verdict.uncertain) = (refused.len(), uncertain.len());
    let by_name: HashMap<&str, &Stored> = live
        .iter()
        .map(|s| (s.wheel.filename.as_str(), *s))
        .collect();
    let mut listed_ok = Vec::new();
    for index in 0..client.shared.projects {
        let project = Shared::project(index);
        let Some(listed) = list(client, &project, &mut verdict).await else {
            continue;
        };
        let names: HashSet<&str> = listed.iter().map(|f| f.filename.as_str()).collect();
        for stored in live.iter().filter(|s| s.wheel.project == project) {
            if !names.contains(stored.wheel.filename.as_str()) {
                verdict.lost.push(stored.wheel.filename.clone());
            }
        }
        for file in &listed {
            let name = file.filename.as_str();
            match by_name.get(name) {
                Some(stored) if stored.wheel.sha256 != file.sha256 => {
                    verdict
                        .corrupt
                        .push(format!("{name}: listed sha256 {}", file.sha256));
                }
                Some(stored) if stored.yanked != file.yanked => {
                    verdict.yank_mismatch.push(name.to_owned());
                }
                Some(stored) => listed_ok.push(stored.wheel.clone()),
                None if deleted.contains(name) => verdict.resurrected.push(name.to_owned()),
                None if refused.contains(name) => verdict.refused_listed.push(name.to_owned()),
                None if uncertain.contains(name) => {}
                None => verdict.unknown.push(name.to_owned()),
            }
        }
    }
    download_all(client, listed_ok, &mut verdict).await;
    verdict
}

/// The JSON page of `project`; `None` (and nothing to check) when it is a 404.
async fn list(client: &Client, project: &str, verdict: &mut Verdict) -> Option<Vec<ListedFile>> {
    verdict.requests += 1;
    let request = client
        .request(Method::GET, &client.url(&format!("{project}/")))
        .header(ACCEPT, crate::ops::JSON);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            verdict.errors.push(format!("{project}: {error}"));
            return None;
        }
    };
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    match status {
        200 => match listed_files(&body) {
            Ok(files) => Some(files),
            Err(error) => {
                verdict.errors.push(format!("{project}: page: {error}"));
                None
            }
        },
        404 => Some(Vec::new()),
        other => {
            verdict
                .errors
                .push(format!("{project}: page answered {other}"));
            None
        }
    }
}

/// Downloads every listed file and its metadata, 8 at a time.
async fn download_all(client: &Client, wheels: Vec<Wheel>, verdict: &mut Verdict) {
    let checks = wheels.into_iter().map(|wheel| async move {
        let file = client.url(&format!("{}/{}", wheel.project, wheel.filename));
        let metadata = format!("{file}.metadata");
        let mut problems = Vec::new();
        for (url, expected) in [(file, &wheel.bytes), (metadata, &wheel.metadata)] {
            match client.request(Method::GET, &url).send().await {
                Ok(response) if response.status() == 200 => match response.bytes().await {
                    Ok(body) if body.as_ref() == expected.as_slice() => {}
                    Ok(_) => problems.push(format!("{url}: different bytes")),
                    Err(error) => problems.push(format!("{url}: {error}")),
                },
                Ok(response) => problems.push(format!("{url}: {}", response.status())),
                Err(error) => problems.push(format!("{url}: {error}")),
            }
        }
        (wheel.filename, problems)
    });
    let mut results = futures_util::stream::iter(checks).buffer_unordered(8);
    while let Some((filename, problems)) = results.next().await {
        verdict.requests += 2;
        if problems.is_empty() {
            verdict.verified += 1;
        } else {
            verdict
                .corrupt
                .push(format!("{filename}: {}", problems.join("; ")));
        }
    }
}
