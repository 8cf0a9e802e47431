//! A project's lifecycle: its status (`oci-pypi project-status`) and retention
//! (`oci-pypi prune`).

use super::{CommandError, caller_with, locate};
use crate::config::{ProjectStatusArgs, PruneArgs};
use crate::index::{Index, IndexError, RetentionPolicy, glob};
use crate::packaging::{ProjectName, ProjectStatus, StatusMarker};

pub(super) async fn set_status(
    index: &Index,
    args: &ProjectStatusArgs,
) -> Result<String, CommandError> {
    let location = locate(index, &args.namespace)?;
    let caller = caller_with(&args.credentials);
    let project = ProjectName::parse(&args.project).map_err(IndexError::from)?;
    let status = ProjectStatus::parse(&args.status).map_err(IndexError::from)?;
    let marker = StatusMarker::new(status, &args.reason);
    index
        .set_project_status(&caller, &location, &project, &marker)
        .await?;
    Ok(serde_json::json!({
        "project": project.as_str(),
        "status": marker.status.as_str(),
        "reason": marker.reason,
    })
    .to_string())
}

/// `oci-pypi prune`: once, or with `--every`, again and again until stopped (each run's
/// report logged; a failed run is logged and the next one tried).
pub(super) async fn prune(index: &Index, args: &PruneArgs) -> Result<String, CommandError> {
    let Some(seconds) = args.every.filter(|s| *s > 0) else {
        return prune_once(index, args).await;
    };
    // Listening from the start: a signal that comes during a run ends the schedule after it.
    let mut stop = Box::pin(stopped());
    let mut last = String::new();
    loop {
        match prune_once(index, args).await {
            Ok(report) => {
                tracing::info!(prune.report = %report, "scheduled prune done; next in {seconds} s");
                last = report;
            }
            Err(error @ CommandError::Argument(_)) => return Err(error),
            Err(error) => tracing::error!("scheduled prune failed; next in {seconds} s: {error}"),
        }
        index.finish_background_work().await;
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
            () = &mut stop => return Ok(last),
        }
    }
}

/// Completes on SIGINT or SIGTERM; the handlers are installed when it is called, so a signal
/// that comes before it is awaited is not lost.
fn stopped() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            let (Ok(mut terminate), Ok(mut interrupt)) = signals else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn prune_once(index: &Index, args: &PruneArgs) -> Result<String, CommandError> {
    let policy = RetentionPolicy {
        keep_last: args.keep_last,
        keep_days: args.keep_days,
        versions: args.versions.clone(),
        prereleases_only: args.prereleases_only,
        include_yanked_with_reason: args.include_yanked_with_reason,
    };
    if !policy.keeps_anything() {
        return Err(CommandError::Argument(
            "say what to keep: `--keep-last N` and/or `--keep-days D`".to_owned(),
        ));
    }
    let location = locate(index, &args.namespace)?;
    let caller = caller_with(&args.credentials);
    let pattern = args.project.as_deref().unwrap_or("*").to_ascii_lowercase();
    let projects = index.project_list(&caller, &location).await?;
    let (mut deleted, mut kept_yanked, mut kept_last) = (Vec::new(), Vec::new(), Vec::new());
    for project in projects.iter().filter(|p| glob(&pattern, p.as_str())) {
        let report = match index
            .prune_project(&caller, &location, project, &policy, args.dry_run)
            .await
        {
            Ok(report) => report,
            Err(IndexError::ProjectNotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        let entry = |version: &crate::packaging::Version| serde_json::json!({ "project": project.as_str(), "version": version.to_string() });
        deleted.extend(report.deleted.iter().map(entry));
        kept_yanked.extend(report.kept_yanked.iter().map(entry));
        kept_last.extend(report.kept_last_release.iter().map(entry));
    }
    Ok(serde_json::json!({
        "dry_run": args.dry_run,
        "deleted": deleted,
        "kept_yanked_with_reason": kept_yanked,
        "kept_only_release": kept_last,
    })
    .to_string())
}
