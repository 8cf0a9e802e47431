//! Benchmark driver for oci-pypi, run by `scripts/bench.sh` (see docs/benchmarks.md).
//!
//! Against the real registry (Debian's `docker-registry`, started here on a free loopback
//! port) and the release build of the server, in one run:
//!
//! 1. large wheels up and down through oci-pypi and straight to the registry (curl for both);
//!    then a file of a pull-through cache against a published one, through the same server;
//!    then a small wheel downloaded many times over one kept-alive connection, and uploaded
//!    to the registry and to the local store;
//! 2. the server's peak RSS per transfer phase (a fresh server process per phase);
//! 3. project-page latency, cold and warm, with the registry requests each page costs, counted
//!    by a reverse proxy in this process between oci-pypi and the registry;
//! 4. warm page throughput with concurrent clients (wrk, or a built-in load generator);
//! 5. with the registry one round trip away (a proxy holding each request): a cold page, a
//!    small file after its page and a small wheel's upload, against their straight
//!    equivalents;
//! 6. with `--pyoci-dir`: PyOCI's pages of the same projects and its uploads of the same wheels.
//!
//! Prints a markdown report. Only 127.0.0.1 is contacted.

mod cached;
mod curl;
mod distance;
mod link;
mod load;
mod pages;
#[path = "../common/procs.rs"]
mod procs;
mod proxy;
mod pyoci;
mod report;
mod seed;
mod small;
#[path = "../common/stats.rs"]
mod stats;
mod targets;
mod transfers;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

use crate::pages::{Coding, Pages};
use crate::proxy::CountingProxy;
use crate::report::{LoadRow, Report};
use crate::transfers::{Transfers, Wheel};

/// Benchmarks oci-pypi against the registry it fronts.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    bins: procs::Binaries,
    /// A wheel to move up and down (`<name>-<version>-py3-none-any.whl`); repeatable.
    #[arg(long = "wheel")]
    wheels: Vec<PathBuf>,
    /// A small wheel downloaded many times over one connection (phase 1d).
    #[arg(long)]
    small_wheel: Option<PathBuf>,
    /// Repetitions of each transfer.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Project sizes (releases) of the page phases.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
    releases: Vec<usize>,
    /// Cold pages measured per mode.
    #[arg(long, default_value_t = 20)]
    cold_samples: usize,
    /// Warm pages measured.
    #[arg(long, default_value_t = 200)]
    warm_samples: usize,
    /// Duration of each throughput run, in seconds.
    #[arg(long, default_value_t = 10)]
    load_seconds: u64,
    /// Concurrent clients of each throughput run.
    #[arg(long, default_value_t = 64)]
    load_connections: usize,
    /// wrk; without it, the built-in load generator is used.
    #[arg(long)]
    wrk: Option<PathBuf>,
    /// HAProxy, the reference proxy: downloads straight to the registry are also made through
    /// it, to show what any process in between costs on this machine. Without it, they are not.
    #[arg(long)]
    haproxy: Option<PathBuf>,
    /// Also download each wheel through a link of this many Mbit/s in front of the registry
    /// (a TCP relay in this process), through oci-pypi and straight; 0 skips it.
    #[arg(long, default_value_t = 0)]
    link_mbit: u64,
    /// How long the proxy of phase 5 holds each request, in milliseconds (a registry one round
    /// trip away); 0 skips the phase (so does a run without `--small-wheel`).
    #[arg(long, default_value_t = 20)]
    distance_ms: u64,
    /// A checkout of PyOCI built with `cargo build --release`: its pages and uploads are
    /// measured too (phase 6). Without it, they are not.
    #[arg(long)]
    pyoci_dir: Option<PathBuf>,
    /// The PyOCI binary, when not at `<pyoci-dir>/target/release/pyoci`.
    #[arg(long)]
    pyoci_bin: Option<PathBuf>,
    /// Also write the report here.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let registry = procs::start_registry(
        &args.bins.registry_bin,
        &args.bins.work_dir.join("registry"),
        None,
    )
    .await?;
    eprintln!("bench: registry on {}", registry.origin());
    let haproxy = match &args.haproxy {
        Some(bin) => {
            Some(procs::start_haproxy(bin, &args.bins.work_dir, &registry.origin()).await?)
        }
        None => None,
    };
    let mut report = Report::new(
        &args.wheels,
        &args.bins.registry_bin,
        args.wrk.as_deref(),
        args.haproxy.as_deref(),
        args.reps,
    );

    report.note_load("start");
    report.link_mbit = args.link_mbit;
    let link = match args.link_mbit {
        0 => None,
        mbit => Some(link::Link::start(registry.host().parse()?, mbit * 1_000_000).await?),
    };
    let transfers = Transfers {
        link: link.as_ref(),
        server_bin: &args.bins.server_bin,
        work_dir: &args.bins.work_dir,
        registry: &registry,
        reference: haproxy.as_ref(),
        reps: args.reps,
    };
    for path in &args.wheels {
        let wheel = Wheel::open(path)?;
        report.transfers.push(transfers.run(&wheel).await?);
    }

    for path in &args.wheels {
        let wheel = Wheel::open(path)?;
        report.cached.push(transfers.run_cached(&wheel).await?);
    }

    let proxy = CountingProxy::start(&registry.origin()).await?;
    if let Some(path) = &args.small_wheel {
        let small = small::Small {
            server_bin: &args.bins.server_bin,
            work_dir: &args.bins.work_dir,
            registry: &registry,
            proxy: &proxy,
            reps: args.reps,
        };
        report.small = Some(small.run(&Wheel::open(path)?).await?);
    }

    report.note_load("after the transfers");
    seed_projects(&args, &registry).await?;
    write_listing_documents(&args, &registry, &proxy).await?;
    let pages = Pages {
        server_bin: &args.bins.server_bin,
        work_dir: &args.bins.work_dir,
        registry: &registry,
        proxy: &proxy,
        cold_samples: args.cold_samples,
        warm_samples: args.warm_samples,
    };
    for &releases in &args.releases {
        report.pages.push(pages.run(releases).await?);
    }

    report.note_load("after the pages");
    let largest = args.releases.iter().copied().max().unwrap_or(0);
    report.load = load_runs(&args, &proxy).await?;

    if let (Some(path), 1..) = (&args.small_wheel, args.distance_ms) {
        report.note_load("after the load");
        let distance = distance::Distance {
            server_bin: &args.bins.server_bin,
            work_dir: &args.bins.work_dir,
            registry: &registry,
            delay: std::time::Duration::from_millis(args.distance_ms),
            reps: args.reps.max(5),
            releases: largest,
            neighbour: args
                .releases
                .iter()
                .copied()
                .filter(|&releases| releases != largest)
                .min(),
        };
        report.distance = Some(distance.run(&Wheel::open(path)?).await?);
    }

    if let Some(dir) = &args.pyoci_dir {
        report.note_pyoci(dir);
        report.pyoci = Some(pyoci_runs(&args, dir, &registry, &proxy).await?);
    }

    report.note_load("end");
    let text = report.render();
    println!("{text}");
    if let Some(output) = &args.output {
        std::fs::write(output, &text)?;
    }
    Ok(())
}

/// Seeds every page project twice: as oci-pypi writes it (`project<N>`) and as PyOCI does
/// (`pyoci<N>`); the one-release projects the warmed servers read first, one of each; and
/// [`pages::YOUNG_PROJECT`].
async fn seed_projects(args: &Args, registry: &procs::Process) -> anyhow::Result<()> {
    for &releases in &args.releases {
        eprintln!("bench: seeding {releases} releases");
        for (project, writer) in [
            (pages::project_name(releases), seed::Writer::OciPypi),
            (pages::pyoci_project_name(releases), seed::Writer::Pyoci),
        ] {
            seed::seed_project(
                &registry.origin(),
                pages::NAMESPACE,
                &project,
                releases,
                writer,
            )
            .await
            .with_context(|| format!("seeding {project}"))?;
        }
    }
    for (warmup, writer) in [
        (pages::WARMUP_PROJECT, seed::Writer::Pyoci),
        (pages::DOCUMENTED_WARMUP_PROJECT, seed::Writer::OciPypi),
    ] {
        seed::seed_project(&registry.origin(), pages::NAMESPACE, warmup, 1, writer)
            .await
            .with_context(|| format!("seeding {warmup}"))?;
    }
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    seed::seed_project_with_young(
        &registry.origin(),
        pages::NAMESPACE,
        pages::YOUNG_PROJECT,
        pages::YOUNG_PROJECT_RELEASES,
        seed::Writer::OciPypi,
        Some(&now),
    )
    .await
    .with_context(|| format!("seeding {}", pages::YOUNG_PROJECT))?;
    Ok(())
}

/// Has a server write the listing document of each `project<N>`, of
/// [`pages::DOCUMENTED_WARMUP_PROJECT`] and of [`pages::YOUNG_PROJECT`] (its first page leaves one
/// behind, in the background), and waits until the registry holds them, so that the page
/// phases measure projects "written by this server". The `pyoci<N>` projects keep none.
async fn write_listing_documents(
    args: &Args,
    registry: &procs::Process,
    proxy: &CountingProxy,
) -> anyhow::Result<()> {
    let server = procs::start_server(
        &args.bins.server_bin,
        &args.bins.work_dir,
        &proxy.origin(),
        procs::NO_FLAGS,
    )
    .await?;
    let http = pages::client()?;
    let projects = args
        .releases
        .iter()
        .map(|&releases| (pages::project_name(releases), releases))
        .chain([
            (pages::DOCUMENTED_WARMUP_PROJECT.to_owned(), 1),
            (
                pages::YOUNG_PROJECT.to_owned(),
                pages::YOUNG_PROJECT_RELEASES,
            ),
        ]);
    for (project, releases) in projects {
        let url = Pages::project_url(&server, &proxy.host(), &project);
        pages::fetch(&http, &url, releases).await?;
        let tags = format!(
            "{}/v2/{}/{project}/tags/list",
            registry.origin(),
            pages::NAMESPACE,
        );
        let started = std::time::Instant::now();
        loop {
            let listed = http.get(&tags).send().await?.text().await?;
            // Under its legacy tag when the server measured predates the reserved form.
            let tags = [
                oci_pypi::layout::LISTING_TAG,
                oci_pypi::layout::LEGACY_LISTING_TAG,
            ];
            if tags
                .iter()
                .any(|tag| listed.contains(&format!("\"{tag}\"")))
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no listing document for {project}: {listed}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // The writer confirms its document once more after a pause before it is done.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    Ok(())
}

/// The throughput runs: the warm page of each project size with the default page cache;
/// for the largest, also with a page cache of an hour, and to clients accepting gzip.
async fn load_runs(args: &Args, proxy: &CountingProxy) -> anyhow::Result<Vec<LoadRow>> {
    let largest = args.releases.iter().copied().max().unwrap_or(0);
    let mut rows = Vec::new();
    for &releases in &args.releases {
        rows.push(load_run(args, proxy, releases, (None, Coding::Identity)).await?);
        if releases == largest {
            rows.push(load_run(args, proxy, releases, (Some(3600), Coding::Identity)).await?);
            rows.push(load_run(args, proxy, releases, (None, Coding::Gzip)).await?);
        }
    }
    Ok(rows)
}

/// Throughput of the warm page of the project with `releases` releases, on a fresh server
/// (default page cache, or `ttl` seconds), asked for with `coding`, counting the registry
/// requests it makes meanwhile.
async fn load_run(
    args: &Args,
    proxy: &CountingProxy,
    releases: usize,
    (ttl, coding): (Option<u64>, Coding),
) -> anyhow::Result<LoadRow> {
    eprintln!("bench: throughput, {releases} releases, ttl {ttl:?}, {coding:?}");
    let ttl_text = ttl.map(|t| t.to_string());
    let mut extra = Vec::new();
    if let Some(ttl) = &ttl_text {
        extra.extend(["--listing-cache-ttl", ttl.as_str()]);
    }
    let server = procs::start_server(
        &args.bins.server_bin,
        &args.bins.work_dir,
        &proxy.origin(),
        &extra,
    )
    .await?;
    let url = Pages::url(&server, &proxy.host(), releases);
    pages::fetch_as(&pages::client()?, &url, releases, coding).await?;
    proxy.reset();
    let cpu_before = server.cpu_seconds()?;
    let headers: &[(&str, &str)] = match coding {
        Coding::Identity => &[],
        Coding::Gzip => &[("Accept-Encoding", "gzip")],
    };
    let result = load::run(
        args.wrk.as_deref(),
        (&url, headers),
        args.load_connections,
        args.load_seconds,
    )
    .await?;
    let server_cpu = server.cpu_seconds()? - cpu_before;
    let registry_requests = proxy.take().len();
    let peak_kib = server.peak_rss_kib()?;
    Ok(LoadRow {
        releases,
        ttl: ttl.map_or_else(|| "5 s (default)".to_owned(), |t| format!("{t} s")),
        coding,
        result,
        registry_requests,
        peak_kib,
        server_cpu,
    })
}

/// Phase 6: PyOCI's pages and uploads, from its checkout `dir`.
async fn pyoci_runs(
    args: &Args,
    dir: &std::path::Path,
    registry: &procs::Process,
    proxy: &CountingProxy,
) -> anyhow::Result<pyoci::PyociResult> {
    let bin = args
        .pyoci_bin
        .clone()
        .unwrap_or_else(|| dir.join("target/release/pyoci"));
    let wheels = args
        .wheels
        .iter()
        .map(|path| Wheel::open(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pyoci = pyoci::Pyoci {
        bin: &bin,
        dir,
        work_dir: &args.bins.work_dir,
        registry,
        proxy,
        samples: args.cold_samples,
        reps: args.reps,
        delay: std::time::Duration::from_millis(args.distance_ms),
    };
    pyoci.run(&args.releases, &wheels).await
}
