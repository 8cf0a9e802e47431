//! The markdown report: machine, tables of every phase, and the targets met or missed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::load::LoadResult;
use crate::pages::{PageResult, PageRow};
use crate::seed::Writer;
use crate::stats::{median, mib, ms, percentile};
use crate::targets;
use crate::transfers::{DirectionResult, TransferResult};

/// One throughput run.
pub struct LoadRow {
    pub releases: usize,
    pub ttl: String,
    /// What the clients accepted.
    pub coding: crate::pages::Coding,
    pub result: LoadResult,
    pub registry_requests: usize,
    pub peak_kib: u64,
    /// CPU seconds the server used during the run.
    pub server_cpu: f64,
}

/// Everything measured, and how.
pub struct Report {
    header: String,
    pub transfers: Vec<TransferResult>,
    pub cached: Vec<crate::cached::CachedResult>,
    pub small: Option<crate::small::SmallResult>,
    pub pages: Vec<PageResult>,
    pub load: Vec<LoadRow>,
    /// The rate of the limited link of section 1e, Mbit/s (0: none).
    pub link_mbit: u64,
    pub distance: Option<crate::distance::DistanceResult>,
    /// Phase 6, when PyOCI was given.
    pub pyoci: Option<crate::pyoci::PyociResult>,
    /// `/proc/loadavg` at moments of the run: other work on the machine skews every figure.
    loads: Vec<(&'static str, String)>,
}

impl Report {
    pub fn new(
        wheels: &[PathBuf],
        registry_bin: &Path,
        wrk: Option<&Path>,
        haproxy: Option<&Path>,
        reps: usize,
    ) -> Self {
        let mut header = String::new();
        let now = time::OffsetDateTime::now_utc();
        let _ = writeln!(header, "- date (UTC): {now}");
        let _ = writeln!(
            header,
            "- CPU: {}, {} cores online (`nproc`)",
            cpu_model(),
            cores()
        );
        let _ = writeln!(header, "- memory: {}", first_line("/proc/meminfo"));
        let _ = writeln!(
            header,
            "- kernel: {}",
            first_line("/proc/sys/kernel/osrelease")
        );
        let revision = std::env::var("BENCH_REVISION")
            .unwrap_or_else(|_| command_line("git", &["describe", "--always", "--dirty"]));
        let _ = writeln!(header, "- oci-pypi: commit {revision}");
        let _ = writeln!(
            header,
            "- registry: {}",
            command_line(&registry_bin.to_string_lossy(), &["--version"])
        );
        let _ = writeln!(header, "- client: {}", command_line("curl", &["--version"]));
        let load_tool = wrk.map_or_else(
            || "built-in closed-loop generator".to_owned(),
            |w| command_line(&w.to_string_lossy(), &["-v"]),
        );
        let _ = writeln!(header, "- load generator: {load_tool}");
        if let Some(haproxy) = haproxy {
            let _ = writeln!(
                header,
                "- reference proxy: {}",
                command_line(&haproxy.to_string_lossy(), &["-v"])
            );
        }
        let names: Vec<String> = wheels
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let _ = writeln!(
            header,
            "- wheels: {} ({reps} repetitions each)",
            names.join(", ")
        );
        Self {
            header,
            transfers: Vec::new(),
            cached: Vec::new(),
            small: None,
            distance: None,
            pyoci: None,
            pages: Vec::new(),
            load: Vec::new(),
            link_mbit: 0,
            loads: Vec::new(),
        }
    }

    /// Names the PyOCI build of phase 6 in the header: its directory and the version its
    /// `Cargo.toml` gives.
    pub fn note_pyoci(&mut self, dir: &Path) {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let version = manifest
            .lines()
            .find_map(|line| line.strip_prefix("version = "))
            .unwrap_or("(no version in Cargo.toml)")
            .trim_matches('"');
        let _ = writeln!(
            self.header,
            "- PyOCI: release build in {} (Cargo.toml version {version})",
            dir.display()
        );
    }

    /// Notes the machine's load average now.
    pub fn note_load(&mut self, moment: &'static str) {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let averages: Vec<&str> = text.split_whitespace().take(3).collect();
        self.loads.push((moment, averages.join(" ")));
    }

    pub fn render(&self) -> String {
        let mut out = String::from("## Run\n\n");
        out.push_str(&self.header);
        let loads: Vec<String> = self
            .loads
            .iter()
            .map(|(moment, averages)| format!("{moment}: {averages}"))
            .collect();
        let _ = writeln!(out, "- load average (1, 5, 15 min) {}", loads.join("; "));
        self.render_transfers(&mut out);
        self.render_reference(&mut out);
        self.render_link(&mut out);
        self.render_blob_cache(&mut out);
        self.render_copies(&mut out);
        self.render_cached(&mut out);
        self.render_small(&mut out);
        self.render_small_uploads(&mut out);
        self.render_memory(&mut out);
        self.render_pages(&mut out);
        self.render_load(&mut out);
        self.render_distance(&mut out);
        self.render_pyoci(&mut out);
        targets::render(self, &mut out);
        out
    }

    fn render_transfers(&self, out: &mut String) {
        out.push_str(
            "\n## 1. Transfers (MB/s = 10^6 bytes/s; median of the repetitions, [min–max])\n\n\
             | file | direction | through oci-pypi | straight to the registry | ratio | \
             through oci-pypi with `--verify-downloads` (sha256 checked on the server) | its ratio | \
             through oci-pypi with `--download-transfer splice` | its ratio | its oci-pypi CPU s/GiB |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            for (direction, result) in directions(transfer) {
                let _ = writeln!(
                    out,
                    "| {} | {direction} | {} | {} | {:.2}x | {} | {} | {} | {} | {} |",
                    transfer.label,
                    rates(&result.proxy),
                    rates(&result.direct),
                    ratio(result),
                    optional_rates(&result.proxy_verified),
                    optional_ratio(&result.proxy_verified, result),
                    optional_rates(&result.proxy_spliced),
                    optional_ratio(&result.proxy_spliced, result),
                    spliced_cpu(transfer.size, result),
                );
            }
        }
    }

    /// Whether any download has figures in `values`.
    fn any_download(&self, values: impl Fn(&DirectionResult) -> &Vec<f64>) -> bool {
        self.transfers
            .iter()
            .any(|transfer| !values(&transfer.download).is_empty())
    }

    fn render_reference(&self, out: &mut String) {
        if !self.any_download(|download| &download.via_reference) {
            return;
        }
        out.push_str(
            "\n### 1c. Downloads through a reference proxy (HAProxy, its defaults, in front of the \
             same registry; each repetition right after the downloads through oci-pypi and \
             straight; MB/s, median [min–max])\n\n\
             | file | through oci-pypi | through HAProxy | oci-pypi / HAProxy | straight to the \
             registry | HAProxy / straight | oci-pypi CPU s/GiB | HAProxy CPU s/GiB |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            let result = &transfer.download;
            if result.via_reference.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2}x | {} | {} | {} | {} |",
                transfer.label,
                rates(&result.proxy),
                rates(&result.via_reference),
                median(&result.proxy) / median(&result.via_reference),
                rates(&result.direct),
                optional_ratio(&result.via_reference, result),
                cpu_per_gib(transfer.size, result.proxy.len(), result.server_cpu),
                cpu_per_gib(
                    transfer.size,
                    result.via_reference.len(),
                    result.reference_cpu
                ),
            );
        }
    }

    fn render_link(&self, out: &mut String) {
        if !self.any_download(|download| &download.over_link.0) {
            return;
        }
        out.push_str(
            "\n### 1e. Downloads from a registry behind a limited link (a TCP relay passing \
             each connection's bytes at a set rate, each way; per repetition a fresh server \
             behind it, then the blob straight through it; MB/s, median [min–max])\n\n\
             | file | link | through oci-pypi | straight through the link | ratio | oci-pypi CPU s/GiB |\n\
             |---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            let result = &transfer.download;
            let (through, straight) = &result.over_link;
            if through.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {} Mbit/s | {} | {} | {:.2}x | {} |",
                transfer.label,
                self.link_mbit,
                rates(through),
                rates(straight),
                median(through) / median(straight),
                cpu_per_gib(transfer.size, through.len(), result.over_link_cpu),
            );
        }
    }

    fn render_blob_cache(&self, out: &mut String) {
        out.push_str(
            "\n### 1a. Downloads with the blob cache (`--blob-cache-dir`; per repetition, a fresh \
             server with an empty cache: its first download fills the cache, its second is \
             sent from it; against a first download through a fresh server without the cache, \
             and straight to the registry; MB/s, median [min–max])\n\n\
             | file | first download, no cache | first download, filling the cache | ratio | \
             its oci-pypi CPU s/GiB (the fill included) | second download (from the cache) | \
             straight to the registry | ratio | its oci-pypi CPU s/GiB |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            let result = &transfer.download;
            if result.cache_fills.is_empty() || result.proxy_fresh.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2}x | {} | {} | {} | {} | {} |",
                transfer.label,
                rates(&result.proxy_fresh),
                rates(&result.cache_fills),
                median(&result.cache_fills) / median(&result.proxy_fresh),
                cpu_per_gib(transfer.size, result.cache_fills.len(), result.fill_cpu),
                optional_rates(&result.proxy_cached),
                rates(&result.direct),
                optional_ratio(&result.proxy_cached, result),
                cpu_per_gib(transfer.size, result.proxy_cached.len(), result.cached_cpu),
            );
        }
    }

    fn render_copies(&self, out: &mut String) {
        if !self.any_download(|download| &download.copy_fills) {
            return;
        }
        out.push_str(
            "\nFirst downloads filling the cache, by how it fills (each repetition: a fresh server \
             with an empty cache each; *fetched after*: the default, a file over 16 MiB fetched \
             again by the cache once its download is over; *copied on the way*: \
             `--blob-cache-copy-max` above the file's size):\n\n\
             | file | fill | first download | ratio to one without the cache | its oci-pypi CPU \
             s/GiB (the fill included) | bytes the cache fetched again, per download |\n\
             |---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            let result = &transfer.download;
            if result.proxy_fresh.is_empty() {
                continue;
            }
            for (fill, rates_of, cpu, fetched) in [
                (
                    "fetched after",
                    &result.cache_fills,
                    result.fill_cpu,
                    result.fill_fetched,
                ),
                (
                    "copied on the way",
                    &result.copy_fills,
                    result.copy_fill_cpu,
                    result.copy_fill_fetched,
                ),
            ] {
                if rates_of.is_empty() {
                    continue;
                }
                #[expect(clippy::cast_precision_loss, reason = "a handful of repetitions")]
                let per_download = fetched / rates_of.len() as f64;
                let _ = writeln!(
                    out,
                    "| {} | {fill} | {} | {:.2}x | {} | {per_download:.0} |",
                    transfer.label,
                    rates(rates_of),
                    median(rates_of) / median(&result.proxy_fresh),
                    cpu_per_gib(transfer.size, rates_of.len(), cpu),
                );
            }
        }
    }

    fn render_cached(&self, out: &mut String) {
        out.push_str(
            "\n### 1b. Pull-through cache: a cached file against a published one (downloads \
             through the same server, alternating; MB/s, median [min–max])\n\n\
             | file | first download (fills the cache) | cached | published | cached / published | \
             VmHWM at end |\n|---|---|---|---|---|---|\n",
        );
        for row in &self.cached {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {:.2}x | {} |",
                row.label,
                row.fill,
                rates(&row.cached),
                rates(&row.published),
                median(&row.cached) / median(&row.published),
                mib(row.peak_kib),
            );
        }
    }

    fn render_small(&self, out: &mut String) {
        let Some(small) = &self.small else {
            return;
        };
        let _ = write!(
            out,
            "\n### 1d. Small files over one connection ({} downloads of the same wheel by one \
             curl process, which keeps its connection; seconds for all of them, median \
             [min–max])\n\n\
             | file | through oci-pypi | straight to the registry | ratio (rate) | ms per file, \
             through / straight | connections opened, through / straight | registry requests \
             per download through oci-pypi |\n|---|---|---|---|---|---|---|\n",
            crate::small::DOWNLOADS
        );
        #[expect(clippy::cast_precision_loss, reason = "a few hundred downloads")]
        let per_file = |seconds: &[f64]| median(seconds) * 1000.0 / crate::small::DOWNLOADS as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}x | {:.2} / {:.2} | {} / {} | {:.2} |",
            small.label,
            seconds(&small.through),
            seconds(&small.straight),
            median(&small.straight) / median(&small.through),
            per_file(&small.through),
            per_file(&small.straight),
            small.connections.0,
            small.connections.1,
            small.registry_requests,
        );
    }

    fn render_small_uploads(&self, out: &mut String) {
        let Some(uploads) = self.small.as_ref().map(|small| &small.uploads) else {
            return;
        };
        let _ = write!(
            out,
            "\n### 1f. A small wheel uploaded (the legacy upload API, as twine sends it; each \
             repetition: through oci-pypi to the registry, its release removed before; through \
             the same server to its local store, a new namespace each time; straight: the same \
             bytes pushed to the registry as a blob, POST, PATCH and PUT; ms, median [min–max])\n\n\
             | file | to the registry through oci-pypi | to the local store through oci-pypi | \
             the blob pushed straight to the registry |\n|---|---|---|---|\n"
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            uploads.label,
            millis(&uploads.to_registry),
            millis(&uploads.to_local_store),
            millis(&uploads.straight),
        );
    }

    fn render_distance(&self, out: &mut String) {
        let Some(distance) = &self.distance else {
            return;
        };
        let _ = write!(
            out,
            "\n## 5. A registry one round trip away (every request held {:.0} ms by a proxy \
             in front of the registry; ms, median [min–max] of {} repetitions)\n\n\
             | what | through oci-pypi | registry requests | straight | ms | ratio |\n\
             |---|---|---|---|---|---|\n",
            distance.delay.as_secs_f64() * 1000.0,
            distance.rows.first().map_or(0, |row| row.through.len()),
        );
        for row in &distance.rows {
            let requests: Vec<String> = row.requests.iter().map(ToString::to_string).collect();
            let (straight, straight_ms, ratio) = match &row.straight {
                Some((what, values)) => (
                    *what,
                    millis(values),
                    format!("{:.2}x", median(values) / median(&row.through)),
                ),
                None => ("–", "–".to_owned(), "–".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {straight} | {straight_ms} | {ratio} |",
                row.what,
                millis(&row.through),
                requests.join(", "),
            );
        }
    }

    fn render_pyoci(&self, out: &mut String) {
        let Some(pyoci) = &self.pyoci else {
            return;
        };
        out.push_str(
            "\n## 6. Side by side with PyOCI\n\n\
             The same projects, registry and counting proxy as phase 3. PyOCI keeps no page: \
             each of its pages is the tag list and one GET per release, all at once \
             (`PYOCI_MAX_VERSIONS=0`: every release, as oci-pypi lists them). oci-pypi's \
             columns come from phase 3 of this run: its first page after a restart (PyOCI's \
             data read without writing a document; its own data with its document), and its \
             warm page.\n\n\
             | releases | written by | PyOCI pages | PyOCI p50 / p99 | registry requests per page | \
             CPU ms per page: PyOCI / registry | oci-pypi cold p50 / p99 | registry requests per page | \
             PyOCI p50 / oci-pypi cold p50 | oci-pypi on a running server, the project's first \
             page: p50 / p99 | PyOCI p50 / it | oci-pypi warm p50 / p99 |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for row in &pyoci.pages {
            if let Some(failure) = &row.failure {
                let _ = writeln!(
                    out,
                    "| {} | {} | PyOCI failed: `{}` | | | | | | | | | |",
                    row.releases,
                    row.written_by.label(),
                    failure.replace('|', "\\|")
                );
                continue;
            }
            let cold = self.cold_row(row.releases, row.written_by);
            let running_mode = match row.written_by {
                Writer::Pyoci => crate::pages::PYOCI_WARMED,
                Writer::OciPypi => crate::pages::COLD_WARMED,
            };
            let running = self.page_row(row.releases, |mode| mode == running_mode);
            let warm = (row.written_by == Writer::OciPypi)
                .then(|| self.page_row(row.releases, |mode| mode.starts_with("warm: ")))
                .flatten();
            let p50 = percentile(&row.latencies, 50.0);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.1} / {:.1} | {} | {} | {} | {} | {} | {} |",
                row.releases,
                row.written_by.label(),
                row.latencies.len(),
                p50_p99(&row.latencies),
                counts(&row.requests),
                row.cpu_ms.0,
                row.cpu_ms.1,
                cold.map_or_else(|| "–".to_owned(), |cold| p50_p99(&cold.latencies)),
                cold.map_or_else(|| "–".to_owned(), requests_per_page),
                p50_ratio(p50, cold),
                running.map_or_else(|| "–".to_owned(), |it| p50_p99(&it.latencies)),
                p50_ratio(p50, running),
                warm.map_or_else(|| "–".to_owned(), |warm| p50_p99(&warm.latencies)),
            );
        }
        if let Some((delay, row)) = &pyoci.far {
            let ours = self.distance.as_ref().and_then(|distance| {
                distance.rows.iter().find(|r| {
                    r.what
                        .starts_with(&format!("cold page, pyoci{} ", row.releases))
                })
            });
            let _ = writeln!(
                out,
                "\nThe registry {} ms away (phase 5's proxy), {} releases of PyOCI's data: PyOCI \
                 {} (p50 / p99 of {} pages, {} registry requests each); oci-pypi's first \
                 page after a restart (phase 5): {} ms.",
                delay.as_millis(),
                row.releases,
                p50_p99(&row.latencies),
                row.latencies.len(),
                counts(&row.requests),
                ours.map_or_else(|| "not measured".to_owned(), |r| millis(&r.through)),
            );
        }
        self.render_pyoci_uploads(&pyoci.uploads, out);
    }

    /// Phase 6's uploads, against this run's uploads through oci-pypi and straight.
    fn render_pyoci_uploads(&self, uploads: &[crate::pyoci::PyociUploads], out: &mut String) {
        out.push_str(
            "\nUploads through PyOCI (curl, the legacy upload API; each into a repository of its \
             own, since PyOCI skips a blob the repository holds), against this run's uploads \
             through oci-pypi and straight (section 1):\n\n\
             | file | PyOCI MB/s | PyOCI / straight | oci-pypi / straight | PyOCI VmHWM | oci-pypi VmHWM |\n\
             |---|---|---|---|---|---|\n",
        );
        for upload in uploads {
            let ours = self.transfers.iter().find(|t| t.label == upload.label);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                upload.label,
                rates(&upload.rates),
                ours.map_or_else(
                    || "–".to_owned(),
                    |t| format!("{:.2}x", median(&upload.rates) / median(&t.upload.direct))
                ),
                ours.map_or_else(|| "–".to_owned(), |t| format!("{:.2}x", ratio(&t.upload))),
                mib(upload.peak_kib),
                ours.map_or_else(|| "–".to_owned(), |t| mib(t.upload.peak_kib)),
            );
        }
    }

    /// oci-pypi's cold row of phase 3 for the project of `releases` releases written by
    /// `written_by`.
    pub fn cold_row(&self, releases: usize, written_by: Writer) -> Option<&PageRow> {
        if written_by == Writer::Pyoci {
            self.page_row(releases, |mode| mode == crate::pages::PYOCI_COLD)
        } else {
            self.page_row(releases, |mode| mode == crate::pages::COLD_COUNTED)
        }
    }

    /// The first row of phase 3 for `releases` releases whose mode `matches`.
    pub fn page_row(&self, releases: usize, matches: impl Fn(&str) -> bool) -> Option<&PageRow> {
        self.pages
            .iter()
            .find(|page| page.releases == releases)
            .and_then(|page| page.rows.iter().find(|row| matches(row.mode)))
    }

    fn render_memory(&self, out: &mut String) {
        out.push_str(
            "\n## 2. Server memory and CPU per transfer phase (one fresh server per phase)\n\n\
             | file | direction | VmHWM at start | VmHWM at end | oci-pypi CPU s/GiB | \
             registry CPU s/GiB via oci-pypi | registry CPU s/GiB direct |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for transfer in &self.transfers {
            #[expect(
                clippy::cast_precision_loss,
                reason = "counts and sizes far below 2^52: exact enough as f64"
            )]
            let gib = transfer.size as f64 / f64::from(1 << 30)
                * transfer.upload.proxy.len().max(1) as f64;
            for (direction, result) in directions(transfer) {
                let _ = writeln!(
                    out,
                    "| {} | {direction} | {} | {} | {:.2} | {:.2} | {:.2} |",
                    transfer.label,
                    mib(result.idle_peak_kib),
                    mib(result.peak_kib),
                    result.server_cpu / gib,
                    result.registry_cpu_proxied / gib,
                    result.registry_cpu_direct / gib,
                );
            }
        }
    }

    fn render_pages(&self, out: &mut String) {
        out.push_str(
            "\n## 3. Project pages (HTML; nearest-rank percentiles: with 20 samples p99 is the \
             maximum)\n\n\
             | releases | mode | pages | p50 | p99 | registry requests per page | 304s per page | \
             CPU ms per page: oci-pypi / registry / proxy+client |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for page in &self.pages {
            for row in &page.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} / {:.1} |",
                    page.releases,
                    row.mode,
                    row.latencies.len(),
                    ms(percentile(&row.latencies, 50.0)),
                    ms(percentile(&row.latencies, 99.0)),
                    requests_per_page(row),
                    not_modified_per_page(row),
                    row.cpu_ms.0,
                    row.cpu_ms.1,
                    row.cpu_ms.2,
                );
            }
        }
        out.push_str(
            "\n### Cold pages against their registry requests\n\n\
             *During the page*: each request timed by the counting proxy while the page was \
             built (queueing at the registry included). *Alone*: the same requests replayed \
             straight to the registry one at a time right after the page.\n\n\
             | releases | mode | slowest request during the page p50 [max] | page / it p50 [max] | \
             slowest request alone p50 [max] | page / it p50 [max] | sum of the requests alone p50 |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for page in &self.pages {
            for row in page.rows.iter().filter(|r| !r.slowest.is_empty()) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    page.releases,
                    row.mode,
                    p50_max(&row.slowest),
                    ratio_text(&ratios(&row.latencies, &row.slowest)),
                    p50_max(&row.alone_slowest),
                    ratio_text(&ratios(&row.latencies, &row.alone_slowest)),
                    ms(percentile(&row.alone_sum, 50.0)),
                );
            }
        }
        out.push_str(
            "\n| releases | page size | as sent to a client accepting gzip | server VmHWM after the warm pages |\n|---|---|---|---|\n",
        );
        for page in &self.pages {
            #[expect(
                clippy::cast_precision_loss,
                reason = "counts and sizes far below 2^52: exact enough as f64"
            )]
            let share = page.gzip_bytes as f64 / page.page_bytes.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {} bytes | {} bytes ({:.1}%) | {} |",
                page.releases,
                page.page_bytes,
                page.gzip_bytes,
                share * 100.0,
                mib(page.warm_peak_kib)
            );
        }
    }

    fn render_load(&self, out: &mut String) {
        out.push_str(
            "\n## 4. Warm page throughput\n\n\
             | releases | page cache ttl | Accept-Encoding | tool | req/s | p50 | p99 | requests | errors | \
             registry requests during the run | server VmHWM | oci-pypi CPU s (ms per 1000 requests) |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for row in &self.load {
            let r = &row.result;
            #[expect(
                clippy::cast_precision_loss,
                reason = "counts and sizes far below 2^52: exact enough as f64"
            )]
            let cpu_per_thousand = row.server_cpu * 1e6 / r.requests.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.1} ({:.0}) |",
                row.releases,
                row.ttl,
                match row.coding {
                    crate::pages::Coding::Identity => "–",
                    crate::pages::Coding::Gzip => "gzip",
                },
                r.tool,
                r.requests_per_second,
                ms(r.p50),
                ms(r.p99),
                r.requests,
                r.errors,
                row.registry_requests,
                mib(row.peak_kib),
                row.server_cpu,
                cpu_per_thousand,
            );
        }
    }
}

pub fn directions(transfer: &TransferResult) -> [(&'static str, &DirectionResult); 2] {
    [
        ("upload", &transfer.upload),
        ("download", &transfer.download),
    ]
}

pub fn ratio(result: &DirectionResult) -> f64 {
    median(&result.proxy) / median(&result.direct)
}

fn optional_rates(values: &[f64]) -> String {
    if values.is_empty() {
        "–".to_owned()
    } else {
        rates(values)
    }
}

fn optional_ratio(values: &[f64], result: &DirectionResult) -> String {
    if values.is_empty() {
        "–".to_owned()
    } else {
        format!("{:.2}x", median(values) / median(&result.direct))
    }
}

/// CPU seconds per GiB the spliced downloads cost their servers.
fn spliced_cpu(size: u64, result: &DirectionResult) -> String {
    cpu_per_gib(size, result.proxy_spliced.len(), result.spliced_cpu)
}

/// CPU seconds per GiB of `count` downloads of `size` bytes that cost `cpu` seconds.
fn cpu_per_gib(size: u64, count: usize, cpu: f64) -> String {
    if count == 0 {
        return "–".to_owned();
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and sizes far below 2^52: exact enough as f64"
    )]
    let gib = size as f64 * count as f64 / f64::from(1u32 << 30);
    format!("{:.2}", cpu / gib)
}

fn seconds(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.2} s [{min:.2}–{max:.2}]", median(values))
}

fn millis(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.1} [{min:.1}–{max:.1}]", median(values))
}

fn rates(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.0} [{min:.0}–{max:.0}]", median(values))
}

fn requests_per_page(row: &PageRow) -> String {
    if row.requests.is_empty() {
        if row.mode.starts_with("warm") {
            #[expect(
                clippy::cast_precision_loss,
                reason = "counts and sizes far below 2^52: exact enough as f64"
            )]
            let value = row.total_requests as f64 / row.latencies.len().max(1) as f64;
            return format!("{value:.2} ({} in all)", row.total_requests);
        }
        return "not counted".to_owned();
    }
    counts(&row.requests)
}

/// `p50` over the p50 of `row`, as "0.97x"; "–" without the row.
fn p50_ratio(p50: Duration, row: Option<&PageRow>) -> String {
    row.map_or_else(
        || "–".to_owned(),
        |row| {
            let theirs = percentile(&row.latencies, 50.0).as_secs_f64();
            format!("{:.2}x", p50.as_secs_f64() / theirs)
        },
    )
}

/// "p50 / p99" of `samples`.
fn p50_p99(samples: &[Duration]) -> String {
    format!(
        "{} / {}",
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 99.0))
    )
}

/// "2", or "2–5" when the counts vary.
fn counts(values: &[usize]) -> String {
    let min = values.iter().min().copied().unwrap_or(0);
    let max = values.iter().max().copied().unwrap_or(0);
    if min == max {
        min.to_string()
    } else {
        format!("{min}–{max}")
    }
}

fn not_modified_per_page(row: &PageRow) -> String {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and sizes far below 2^52: exact enough as f64"
    )]
    let value = row.not_modified as f64 / row.latencies.len().max(1) as f64;
    format!("{value:.1}")
}

fn p50_max(samples: &[Duration]) -> String {
    format!(
        "{} [{}]",
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 100.0))
    )
}

/// Each page's latency over its slowest request.
pub fn ratios(pages: &[Duration], slowest: &[Duration]) -> Vec<f64> {
    pages
        .iter()
        .zip(slowest)
        .filter(|(_, slowest)| !slowest.is_zero())
        .map(|(page, slowest)| page.as_secs_f64() / slowest.as_secs_f64())
        .collect()
}

fn ratio_text(values: &[f64]) -> String {
    if values.is_empty() {
        return "–".to_owned();
    }
    let worst = values.iter().copied().fold(0.0, f64::max);
    format!("{:.1}x [{worst:.1}x]", median(values))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("unknown")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .filter(|line| !line.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
