//! The webhooks spool: a delivery not yet made when the server stops (SIGTERM) or dies
//! (SIGKILL) is made by the next server started on the same spool, with the same event id,
//! and a full queue keeps deliveries on disk instead of dropping them. Real server
//! processes, the real registry, a real HTTP receiver.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::process::ServerProcess;
use crate::harness::receiver::{Receiver, Reply};
use crate::harness::upload::UploadForm;
use crate::harness::{AuthMode, DistSpec, Registry, Sandbox, client};

/// A webhooks file in `dir` sending uploads of every namespace to `receiver`, spooled in
/// `dir/spool`, retrying after `backoff_seconds`.
fn webhooks_file(dir: &Path, receiver: &str, queue: u32, backoff_seconds: u32) -> String {
    let path = dir.join("webhooks.toml");
    std::fs::write(dir.join("secret"), "spool-test-secret\n").expect("writing the secret");
    std::fs::write(
        &path,
        format!(
            "[delivery]\nallow_origins = [\"{receiver}\"]\nspool = \"spool\"\nqueue = {queue}\n\
             backoff_seconds = {backoff_seconds}\nattempts = 5\n\n\
             [[webhook]]\nname = \"ci\"\nnamespace = \"*\"\nevents = [\"upload\"]\n\
             url = \"{receiver}/hook\"\nsecret_file = \"secret\"\n"
        ),
    )
    .expect("writing the webhooks file");
    path.display().to_string()
}

async fn upload(server: &ServerProcess, registry: &Registry, project: &str) -> anyhow::Result<()> {
    let sandbox = Sandbox::new()?;
    let spec = DistSpec::new(project, "1.0");
    let bytes = std::fs::read(sandbox.wheel(&spec).await?)?;
    let form = UploadForm::wheel(&spec, &bytes).sha256().form();
    let url = format!("{}/{}/spooled/", server.url(), registry.host());
    let response = client().post(url).multipart(form).send().await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "upload of {project}: {}",
        response.text().await?
    );
    Ok(())
}

fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("spool")).map_or(0, |entries| {
        entries
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
    })
}

/// The receiver is down (503) when the upload happens; the delivery waits for its retry
/// when the server is stopped, then killed: the next server delivers it, once, with the same
/// id, and the spool is empty afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_outlive_a_shutdown_and_a_crash() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let mut receiver = Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    // Long backoff: the retry would come long after the shutdown.
    let webhooks = webhooks_file(dir.path(), &receiver.origin(), 100, 300);
    let settings = [("OCI_PYPI_WEBHOOKS", webhooks.as_str())];
    let unavailable = Reply {
        delay: Duration::ZERO,
        status: 503,
    };
    receiver.plan(&[unavailable, unavailable, unavailable]);

    // 1. Stopped gracefully while waiting for the retry.
    let mut server = ServerProcess::start(&registry.origin(), &settings).await?;
    upload(&server, &registry, "graceful").await?;
    let first = receiver.next(Duration::from_secs(30)).await?;
    assert_eq!(first.json()["project"], "graceful");
    server.terminate()?;
    let status = server.wait(Duration::from_secs(20)).await?;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert_eq!(spooled(dir.path()), 1, "{}", server.log());
    assert!(
        server.log().contains("kept in the spool"),
        "{}",
        server.log()
    );

    // 2. Killed while waiting for the retry of a second delivery (the first one waits too).
    let mut server = ServerProcess::start(&registry.origin(), &settings).await?;
    let resumed = receiver.next(Duration::from_secs(30)).await?;
    assert_eq!(
        resumed.json()["project"],
        "graceful",
        "attempt 2, refused (503)"
    );
    upload(&server, &registry, "crashed").await?;
    let second = receiver.next(Duration::from_secs(30)).await?;
    assert_eq!(second.json()["project"], "crashed");
    assert_eq!(second.header("x-oci-pypi-delivery"), second.json()["id"]);
    server.kill().await?;
    let _ = server.wait(Duration::from_secs(10)).await;
    assert_eq!(spooled(dir.path()), 2);

    // 3. The receiver is back: the next server delivers both, with their first ids.
    let server = ServerProcess::start(&registry.origin(), &settings).await?;
    let mut delivered = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let delivery = receiver.next(Duration::from_secs(30)).await?;
        let event = delivery.json();
        delivered.insert(
            event["project"].as_str().unwrap_or_default().to_owned(),
            event["id"].as_str().unwrap_or_default().to_owned(),
        );
    }
    assert_eq!(delivered["graceful"], first.json()["id"].as_str().unwrap());
    assert_eq!(delivered["crashed"], second.json()["id"].as_str().unwrap());
    assert!(
        receiver
            .maybe_next(Duration::from_millis(500))
            .await
            .is_none(),
        "a delivery was made twice after it succeeded"
    );
    crate::harness::listing::eventually("the spool empties", || async {
        Ok(spooled(dir.path()) == 0)
    })
    .await?;
    assert!(
        server.log().contains("2 deliveries resumed"),
        "{}",
        server.log()
    );
    Ok(())
}

/// With room for one delivery in memory, three uploads while the receiver stalls: none is
/// dropped, the two beyond the queue wait on disk and are delivered after the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_waits_on_disk_instead_of_dropping() -> anyhow::Result<()> {
    let registry = Registry::start(AuthMode::Anonymous).await?;
    let mut receiver = Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    let webhooks = webhooks_file(dir.path(), &receiver.origin(), 1, 0);
    receiver.plan(&[Reply {
        delay: Duration::from_secs(2),
        status: 200,
    }]);
    let settings = [("OCI_PYPI_WEBHOOKS", webhooks.as_str())];
    let server = ServerProcess::start(&registry.origin(), &settings).await?;
    for project in ["one", "two", "three"] {
        upload(&server, &registry, project).await?;
    }
    let mut projects = Vec::new();
    for _ in 0..3 {
        let delivery = receiver.next(Duration::from_secs(30)).await?;
        projects.push(
            delivery.json()["project"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    projects.sort();
    assert_eq!(projects, ["one", "three", "two"]);
    let log = server.log();
    assert!(!log.contains("dropped"), "{log}");
    assert!(log.contains("waits in the spool"), "{log}");
    crate::harness::listing::eventually("the spool empties", || async {
        Ok(spooled(dir.path()) == 0)
    })
    .await?;
    Ok(())
}
