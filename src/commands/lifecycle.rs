//! A project's lifecycle: its status (`oci-pypi project-status`) and retention
//! (`oci-pypi prune`).

use super::{CommandError, caller, locate};
use crate::config::{ProjectStatusArgs, PruneArgs};
use crate::index::{Index, IndexError, RetentionPolicy, glob};
use crate::packaging::{ProjectName, ProjectStatus, StatusMarker};

pub(super) async fn set_status(
    index: &Index,
    args: &ProjectStatusArgs,
) -> Result<String, CommandError> {
    let location = locate(index, &args.namespace)?;
    let caller = caller(args.username.as_ref(), args.password.as_ref());
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

pub(super) async fn prune(index: &Index, args: &PruneArgs) -> Result<String, CommandError> {
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
    let caller = caller(args.username.as_ref(), args.password.as_ref());
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
