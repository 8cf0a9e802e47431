//! Phase 5: a registry one round trip away. The same registry behind a proxy that holds every
//! request [`Distance::delay`] before forwarding it (as a registry in another building would),
//! and what that makes of what an installer and a publisher do: a cold page (the largest
//! project, as this server writes it and as PyOCI does; as this server writes it again after
//! a page of another project of its namespace), a page after its cache expired (also of a
//! project with a young release), a small file right after its page, a
//! small wheel's upload; each through oci-pypi and, where there is one, the nearest straight
//! equivalent through the same proxy. Registry requests are counted by the server's own
//! metrics (its background work apart). The phase shows what each request a path costs is
//! worth once requests are not free.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::pages::{self, NAMESPACE};
use crate::procs::{self, Process};
use crate::proxy::CountingProxy;
use crate::transfers::{self, Wheel};

/// What one path measured, over the repetitions.
pub struct DistanceRow {
    pub what: String,
    /// Milliseconds of each repetition through oci-pypi.
    pub through: Vec<f64>,
    /// Registry requests of each repetition through oci-pypi (its own, not its background
    /// work).
    pub requests: Vec<usize>,
    /// The straight equivalent, when there is one: what it is, and its milliseconds.
    pub straight: Option<(&'static str, Vec<f64>)>,
}

/// The phase's rows, and the delay they were measured with.
pub struct DistanceResult {
    pub delay: Duration,
    pub rows: Vec<DistanceRow>,
}

/// What the phase needs.
pub struct Distance<'a> {
    pub server_bin: &'a Path,
    pub work_dir: &'a Path,
    pub registry: &'a Process,
    /// How long the proxy holds each request.
    pub delay: Duration,
    pub reps: usize,
    /// The largest seeded project's releases.
    pub releases: usize,
    /// The smallest other seeded project's releases, if any: its page comes first in a row.
    pub neighbour: Option<usize>,
}

impl Distance<'_> {
    pub async fn run(&self, small: &Wheel) -> anyhow::Result<DistanceResult> {
        eprintln!(
            "bench: a registry {} ms away",
            self.delay.as_secs_f64() * 1000.0
        );
        let far = CountingProxy::start_with_delay(&self.registry.origin(), self.delay).await?;
        let largest = pages::project_name(self.releases);
        let mut rows = vec![self.cold_page(&far, &largest, None, &[]).await?];
        if let Some(neighbour) = self.neighbour {
            let first = pages::project_name(neighbour);
            rows.push(
                self.cold_page(&far, &largest, Some((&first, neighbour)), &[])
                    .await?,
            );
        }
        rows.push(
            self.expired_page(&far, (&largest, self.releases), &[], "")
                .await?,
        );
        rows.push(
            self.expired_page(
                &far,
                (pages::YOUNG_PROJECT, pages::YOUNG_PROJECT_RELEASES),
                &["--listing-audit-interval", pages::YOUNG_AUDIT_INTERVAL],
                ", its newest release young (read from the registry at every read)",
            )
            .await?,
        );
        rows.push(
            self.cold_page(
                &far,
                &pages::pyoci_project_name(self.releases),
                None,
                &["--listing-documents", "read"],
            )
            .await?,
        );
        rows.extend(self.small_file(&far, small).await?);
        Ok(DistanceResult {
            delay: self.delay,
            rows,
        })
    }

    /// The first page of `project` on a fresh server, per repetition, after the page of
    /// `first` (same namespace, that many releases; not timed) when there is one; straight:
    /// the project's tag list.
    async fn cold_page(
        &self,
        far: &CountingProxy,
        project: &str,
        first: Option<(&str, usize)>,
        flags: &[&str],
    ) -> anyhow::Result<DistanceRow> {
        let after = first.map_or_else(String::new, |(first, _)| {
            format!(", after the first page of {first}")
        });
        let mut row = DistanceRow {
            what: format!("cold page, {project} ({} releases){after}", self.releases),
            through: Vec::new(),
            requests: Vec::new(),
            straight: Some(("the tag list", Vec::new())),
        };
        let http = pages::client()?;
        let url = format!("{}/v2/{NAMESPACE}/{project}/tags/list", far.origin());
        for _ in 0..self.reps {
            let server =
                procs::start_server(self.server_bin, self.work_dir, &far.origin(), flags).await?;
            let page_of = |project: &str| {
                format!("{}/{}/{NAMESPACE}/{project}/", server.origin(), far.host())
            };
            let mut before = 0;
            if let Some((first, releases)) = first {
                pages::fetch(&http, &page_of(first), releases).await?;
                before = pages::request_path_requests(&server).await?;
            }
            let started = Instant::now();
            pages::fetch(&http, &page_of(project), self.releases).await?;
            row.through.push(millis(started));
            row.requests
                .push(pages::request_path_requests(&server).await? - before);
            drop(server);
            let started = Instant::now();
            get(&http, &url).await?;
            if let Some((_, straight)) = &mut row.straight {
                straight.push(millis(started));
            }
        }
        Ok(row)
    }

    /// The page of `project` (as this server writes it; `releases` releases) on one server
    /// keeping pages 1 s (and started with `flags`), each time after it has expired (as the
    /// first page of an install that comes after a quiet spell); straight: the tag list.
    async fn expired_page(
        &self,
        far: &CountingProxy,
        (project, releases): (&str, usize),
        flags: &[&str],
        note: &str,
    ) -> anyhow::Result<DistanceRow> {
        let mut row = DistanceRow {
            what: format!(
                "page after its cache expired, {project} (`--listing-cache-ttl 1`, 1.2 s idle){note}"
            ),
            through: Vec::new(),
            requests: Vec::new(),
            straight: Some(("the tag list", Vec::new())),
        };
        let http = pages::client()?;
        let tags = format!("{}/v2/{NAMESPACE}/{project}/tags/list", far.origin());
        let mut args = vec!["--listing-cache-ttl", "1"];
        args.extend_from_slice(flags);
        let server =
            procs::start_server(self.server_bin, self.work_dir, &far.origin(), &args).await?;
        let page = format!("{}/{}/{NAMESPACE}/{project}/", server.origin(), far.host());
        pages::fetch(&http, &page, releases).await?;
        for _ in 0..self.reps {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let before = pages::request_path_requests(&server).await?;
            let started = Instant::now();
            pages::fetch(&http, &page, releases).await?;
            row.through.push(millis(started));
            row.requests
                .push(pages::request_path_requests(&server).await? - before);
            let started = Instant::now();
            get(&http, &tags).await?;
            if let Some((_, straight)) = &mut row.straight {
                straight.push(millis(started));
            }
        }
        Ok(row)
    }

    /// The small wheel's upload through a server (its release removed between repetitions);
    /// straight: the same bytes pushed as a blob (POST, PATCH, PUT). Then the file right after
    /// its page, through the same server; straight: the blob's GET. Then its core metadata
    /// (PEP 658), whose bytes are the same at every repetition: read from the registry once,
    /// then from memory; straight: its blob's GET.
    async fn small_file(
        &self,
        far: &CountingProxy,
        wheel: &Wheel,
    ) -> anyhow::Result<[DistanceRow; 3]> {
        let mut upload = DistanceRow {
            what: format!("upload of a {} KiB wheel", wheel.size >> 10),
            through: Vec::new(),
            requests: Vec::new(),
            straight: Some(("the blob pushed (POST, PATCH, PUT)", Vec::new())),
        };
        let mut download = DistanceRow {
            what: format!("the {} KiB wheel right after its page", wheel.size >> 10),
            through: Vec::new(),
            requests: Vec::new(),
            straight: Some(("the blob's GET", Vec::new())),
        };
        let mut metadata = DistanceRow {
            what: "its `.metadata` (PEP 658) right after the wheel".to_owned(),
            through: Vec::new(),
            requests: Vec::new(),
            straight: Some(("the metadata blob's GET", Vec::new())),
        };
        let server = procs::start_server(
            self.server_bin,
            self.work_dir,
            &far.origin(),
            procs::NO_FLAGS,
        )
        .await?;
        let page = format!(
            "{}/{}/{}/{}/",
            server.origin(),
            far.host(),
            transfers::NAMESPACE,
            wheel.project
        );
        let file = format!("{page}{}", wheel.filename);
        let blob = format!(
            "{}/v2/{}/{}/blobs/sha256:{}",
            far.origin(),
            transfers::NAMESPACE,
            wheel.project,
            wheel.sha256
        );
        let http = pages::client()?;
        for _ in 0..self.reps {
            // Stored again each time (the small-file phase or the last repetition stored it);
            // what the last upload left in the background (a listing document) is over.
            transfers::delete_release(&self.registry.origin(), wheel).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let before = pages::request_path_requests(&server).await?;
            let seconds = transfers::upload(self.work_dir, &server, &far.host(), wheel).await?;
            upload.through.push(seconds * 1000.0);
            upload
                .requests
                .push(pages::request_path_requests(&server).await? - before);
            let pushed = transfers::direct_upload(self.work_dir, &far.origin(), wheel).await?;
            if let Some((_, straight)) = &mut upload.straight {
                straight.push(pushed * 1000.0);
            }

            tokio::time::sleep(Duration::from_secs(1)).await;
            pages::fetch(&http, &page, 1).await?;
            let before = pages::request_path_requests(&server).await?;
            let started = Instant::now();
            let bytes = get(&http, &file).await?;
            download.through.push(millis(started));
            download
                .requests
                .push(pages::request_path_requests(&server).await? - before);
            anyhow::ensure!(bytes == wheel.size, "{file}: {bytes} bytes");
            let started = Instant::now();
            let bytes = get(&http, &blob).await?;
            if let Some((_, straight)) = &mut download.straight {
                straight.push(millis(started));
            }
            anyhow::ensure!(bytes == wheel.size, "{blob}: {bytes} bytes");

            let html = http.get(&page).send().await?.text().await?;
            let marker = "data-core-metadata=\"sha256=";
            let start = html.find(marker).map(|at| at + marker.len());
            let sha256 = start
                .and_then(|start| html.get(start..start + 64))
                .ok_or_else(|| anyhow::anyhow!("{page} advertises no core metadata"))?;
            let before = pages::request_path_requests(&server).await?;
            let started = Instant::now();
            get(&http, &format!("{file}.metadata")).await?;
            metadata.through.push(millis(started));
            metadata
                .requests
                .push(pages::request_path_requests(&server).await? - before);
            let metadata_blob = format!(
                "{}/v2/{}/{}/blobs/sha256:{sha256}",
                far.origin(),
                transfers::NAMESPACE,
                wheel.project,
            );
            let started = Instant::now();
            get(&http, &metadata_blob).await?;
            if let Some((_, straight)) = &mut metadata.straight {
                straight.push(millis(started));
            }
        }
        Ok([upload, download, metadata])
    }
}

/// GETs `url` to its end; the bytes received.
async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let response = http.get(url).send().await?;
    anyhow::ensure!(response.status() == 200, "GET {url}: {}", response.status());
    Ok(response.bytes().await?.len() as u64)
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
