//! Soak test driver for oci-pypi, run by `scripts/soak.sh` (see docs/reliability.md).
//!
//! Starts the real registry (Debian's `docker-registry`, htpasswd or anonymous) and one or more
//! oci-pypi release binaries on loopback ports, side by side on the same storage (the registry,
//! or one local store directory) as replicas would be. Then it sends a fixed number of mixed
//! requests from concurrent clients, each client to one server: uploads of distinct small
//! wheels, identical re-uploads (200), conflicting re-uploads (409), project pages in HTML and
//! JSON, the releases JSON, downloads and `.metadata` checked byte for byte, file and release
//! deletes, yanks and un-yanks, 404s and bad requests (400). Then it checks, through every
//! server, that no file was lost: every upload that succeeded and was not deleted is listed
//! with its digest and yank state and downloads byte for byte, and nothing deleted or refused
//! is listed. Reports statuses, latency percentiles, throughput and each server's RSS at start
//! and end; exits non-zero on any 5xx, unexpected status, corrupt byte or lost file. Stops by
//! itself; only 127.0.0.1 is contacted.

mod bad;
mod client;
mod ops;
#[path = "../common/procs.rs"]
mod procs;
mod report;
#[path = "../common/stats.rs"]
mod stats;
mod verify;
mod wheel;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;

use crate::client::{Client, Observations, Shared};
use crate::report::Report;

/// Soak-tests oci-pypi against the real registry.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    bins: procs::Binaries,
    /// Requests of the mixed load (the final check comes on top).
    #[arg(long, default_value_t = 20_000)]
    requests: i64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Projects the clients share.
    #[arg(long, default_value_t = 8)]
    projects: usize,
    /// Shared releases per project (every client uploads into them).
    #[arg(long, default_value_t = 6)]
    versions: usize,
    /// Registry authentication: `htpasswd` (credentials pass through oci-pypi) or `anonymous`.
    #[arg(long, default_value = "htpasswd")]
    auth: String,
    /// Servers started side by side on the same storage, as replicas behind a load balancer
    /// would be; client `i` talks to server `i % replicas`, and the final check reads every
    /// file through every server.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Where the files go: `registry` (the registry started here) or `local` (one local store
    /// directory that every server shares, its users the registry's htpasswd file; needs
    /// `--auth htpasswd`).
    #[arg(long, default_value = "registry")]
    store: String,
    /// An extra flag for the server (repeatable), such as `--server-arg=--listing-cache-ttl=0`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_flags: Vec<String>,
    /// Seed of the clients' random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the report here.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let password = format!(
        "soak-{:016x}",
        u64::from(std::process::id()) ^ args.seed.rotate_left(17)
    );
    let credentials = match args.auth.as_str() {
        "htpasswd" => Some(("soak".to_owned(), password)),
        "anonymous" => None,
        other => bail!("unknown --auth `{other}`: use htpasswd or anonymous"),
    };
    let login = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let registry = procs::start_registry(
        &args.bins.registry_bin,
        &args.bins.work_dir.join("registry"),
        login,
    )
    .await?;
    let (mut servers, segment) = start_servers(&args, &registry, credentials.is_some()).await?;
    let memory_start = memories(&servers)?;
    let shared = Arc::new(Shared {
        bases: servers
            .iter()
            .map(|server| format!("{}/{segment}/soak", server.origin()))
            .collect(),
        credentials,
        remaining: AtomicI64::new(args.requests),
        projects: args.projects.max(1),
        versions: args.versions.max(1),
    });

    let started = Instant::now();
    let mut tasks = Vec::new();
    for id in 0..args.clients.max(1) {
        let mut client = Client::new(id, Arc::clone(&shared), args.seed)?;
        tasks.push(tokio::spawn(async move {
            ops::run(&mut client).await;
            client
        }));
    }
    let progress = tokio::spawn(progress(Arc::clone(&shared), args.requests));
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await?);
    }
    progress.abort();
    let elapsed = started.elapsed();
    let memory_after_load = memories(&servers)?;

    eprintln!("soak: load done in {elapsed:.1?}; checking every stored file");
    // Past the listing cache's lifetime (5 s by default): the check reads the storage's truth,
    // through every server.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut verdicts = Vec::new();
    for replica in 0..servers.len() {
        let checker = Client::checker(replica, Arc::clone(&shared), args.seed)?;
        verdicts.push(verify::verify(&checker, &clients).await);
    }
    let memory_end = memories(&servers)?;
    let servers_alive = servers.iter_mut().all(procs::Process::is_running);
    let panics = servers
        .iter()
        .map(|server| server.log_text().matches("panicked").count())
        .sum();

    let mut seen = Observations::default();
    for client in clients {
        seen.merge(client.seen);
    }
    let report = Report {
        requests: args.requests,
        clients: args.clients,
        auth: args.auth.clone(),
        store: args.store.clone(),
        server_flags: args.server_flags.clone(),
        elapsed,
        seen,
        verdicts,
        memory_start,
        memory_after_load,
        memory_end,
        servers_alive,
        panics,
    };
    let text = report.render();
    println!("{text}");
    if let Some(output) = &args.output {
        std::fs::write(output, &text)?;
    }
    drop(servers);
    drop(registry);
    if report.passed() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("soak: FAILED (see the report)");
    Ok(ExitCode::FAILURE)
}

/// The servers, side by side on the storage `args` names, and the registry segment of their
/// URLs.
async fn start_servers(
    args: &Args,
    registry: &procs::Process,
    with_users: bool,
) -> anyhow::Result<(Vec<procs::Process>, String)> {
    // Every client may upload at once: room for all of them, unless told otherwise.
    let mut server_flags = args.server_flags.clone();
    if !server_flags
        .iter()
        .any(|flag| flag.starts_with("--max-concurrent-uploads"))
    {
        server_flags.push(format!("--max-concurrent-uploads={}", args.clients.max(1)));
    }
    let segment = match (args.store.as_str(), with_users) {
        ("registry", _) => registry.host(),
        ("local", true) => {
            let store = args.bins.work_dir.join("store");
            let users = args.bins.work_dir.join("registry").join("htpasswd");
            server_flags.push(format!("--store-dir={}", store.display()));
            server_flags.push(format!("--local-users={}", users.display()));
            "local".to_owned()
        }
        ("local", false) => {
            bail!("`--store local` needs `--auth htpasswd`: its users are the registry's")
        }
        (other, _) => bail!("unknown --store `{other}`: use registry or local"),
    };
    let mut servers = Vec::new();
    for _ in 0..args.replicas.max(1) {
        servers.push(
            procs::start_server(
                &args.bins.server_bin,
                &args.bins.work_dir,
                &registry.origin(),
                &server_flags,
            )
            .await?,
        );
    }
    for server in &servers {
        eprintln!(
            "soak: registry {} ({}), oci-pypi {} (pid {}), storing to {}",
            registry.origin(),
            args.auth,
            server.origin(),
            server.pid(),
            args.store
        );
    }
    Ok((servers, segment))
}

/// Every server's resident memory now and at its peak.
fn memories(servers: &[procs::Process]) -> anyhow::Result<Vec<procs::Memory>> {
    servers.iter().map(procs::Process::memory).collect()
}

/// A line every 5 s while the load runs.
async fn progress(shared: Arc<Shared>, total: i64) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let left = shared
            .remaining
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0);
        eprintln!(
            "soak: {} of {total} requests after {:.0?}",
            total - left,
            started.elapsed()
        );
    }
}
