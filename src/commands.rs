//! One-off commands run with the server's settings instead of serving: promotion of a release
//! and copying a whole namespace (how a local store moves to a registry).

use crate::config::{
    BackfillArgs, Command, Config, CopyNamespaceArgs, Ends, ProjectStatusArgs, PromoteArgs,
    PruneArgs,
};
use crate::index::{
    BackfillReport, Caller, Index, IndexError, Location, Promotion, PromotionReport,
    RetentionPolicy, glob,
};
use crate::net::Secret;
use crate::packaging::{ProjectName, ProjectStatus, StatusMarker};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A command-line value that cannot be used.
    #[error("{0}")]
    Argument(String),
    /// The server could not be set up.
    #[error("cannot start: {0}")]
    Setup(String),
    /// The health check failed.
    #[error("{url}: {reason}")]
    Unhealthy {
        /// What was asked.
        url: String,
        /// Why it is not healthy.
        reason: String,
    },
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Runs `command`; returns the report to print (JSON).
///
/// # Errors
/// Bad arguments, setup failures, and what the index refuses.
pub async fn run(command: &Command, config: &Config) -> Result<String, CommandError> {
    if let Command::Healthcheck = command {
        return healthcheck(config).await;
    }
    let state = crate::app::operator_state(config)
        .map_err(|error| CommandError::Setup(error.to_string()))?;
    let index = &state.index;
    let reports = match command {
        Command::Promote(args) => promote(index, args).await.map(|report| vec![report]),
        Command::CopyNamespace(args) => copy_namespace(index, args).await,
        Command::BackfillMetadata(args) => {
            let report = backfill(index, args).await;
            index.finish_background_work().await;
            return report;
        }
        Command::ProjectStatus(args) => return set_status(index, args).await,
        Command::Prune(args) => {
            let report = prune(index, args).await;
            index.finish_background_work().await;
            return report;
        }
        Command::Healthcheck => return healthcheck(config).await,
    };
    // The listing documents of what changed are brought up to date before exiting.
    index.finish_background_work().await;
    let reports = reports?;
    let total: PromotionReport =
        reports
            .into_iter()
            .fold(PromotionReport::default(), |mut all, r| {
                all.copied.extend(r.copied);
                all.already_there.extend(r.already_there);
                all.removed_source |= r.removed_source;
                all
            });
    Ok(serde_json::json!({
        "copied": total.copied,
        "already_there": total.already_there,
        "removed_source": total.removed_source,
    })
    .to_string())
}

/// `GET /health` of the server these settings describe, over loopback when it listens on
/// every address. Builds no state: a health check must not open stores or read secrets.
async fn healthcheck(config: &Config) -> Result<String, CommandError> {
    let host = match config.host {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let address = std::net::SocketAddr::new(host, config.port());
    let url = format!("http://{address}{}/health", config.subpath);
    let unhealthy = |reason: String| CommandError::Unhealthy {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|error| unhealthy(error.to_string()))?;
    let response = client.get(&url).send().await.map_err(|error| {
        unhealthy(if error.is_timeout() {
            "no answer within 3 s".to_owned()
        } else if error.is_connect() {
            "cannot connect".to_owned()
        } else {
            error.to_string()
        })
    })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(unhealthy(format!("answered {}", response.status())));
    }
    Ok(format!("healthy: {url}"))
}

async fn promote(index: &Index, args: &PromoteArgs) -> Result<PromotionReport, CommandError> {
    let (from, to) = (
        locate(index, &args.ends.from)?,
        locate(index, &args.ends.to)?,
    );
    let project = ProjectName::parse(&args.project).map_err(IndexError::from)?;
    let promotion = Promotion {
        from: &from,
        to: &to,
        project: &project,
        target: &args.target,
        remove_source: args.ends.remove_source,
    };
    let (source, destination) = callers(&args.ends);
    Ok(index.promote(&source, &destination, &promotion).await?)
}

async fn copy_namespace(
    index: &Index,
    args: &CopyNamespaceArgs,
) -> Result<Vec<PromotionReport>, CommandError> {
    let (from, to) = (
        locate(index, &args.ends.from)?,
        locate(index, &args.ends.to)?,
    );
    let (source, destination) = callers(&args.ends);
    let mut reports = Vec::new();
    for project in index.project_list(&source, &from).await? {
        let page = match index.project_page(&source, &from, &project).await {
            Ok(page) => page,
            Err(IndexError::ProjectNotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        for release in &page.releases {
            let target = release.version.to_string();
            let promotion = Promotion {
                from: &from,
                to: &to,
                project: &project,
                target: &target,
                remove_source: args.ends.remove_source,
            };
            reports.push(index.promote(&source, &destination, &promotion).await?);
        }
    }
    Ok(reports)
}

async fn backfill(index: &Index, args: &BackfillArgs) -> Result<String, CommandError> {
    let location = locate(index, &args.namespace)?;
    let caller = caller(args.username.as_ref(), args.password.as_ref());
    let projects = match &args.project {
        Some(name) => vec![ProjectName::parse(name).map_err(IndexError::from)?],
        None => index.project_list(&caller, &location).await?,
    };
    let mut total = BackfillReport::default();
    for project in projects {
        match index.backfill_metadata(&caller, &location, &project).await {
            Ok(report) => {
                total.updated.extend(report.updated);
                total.skipped.extend(report.skipped);
            }
            Err(IndexError::ProjectNotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let skipped: Vec<_> = total
        .skipped
        .iter()
        .map(|(file, reason)| serde_json::json!({ "file": file, "reason": reason }))
        .collect();
    Ok(serde_json::json!({ "updated": total.updated, "skipped": skipped }).to_string())
}

async fn set_status(index: &Index, args: &ProjectStatusArgs) -> Result<String, CommandError> {
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

async fn prune(index: &Index, args: &PruneArgs) -> Result<String, CommandError> {
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

/// `<registry>/<namespace>` → a location.
fn locate(index: &Index, text: &str) -> Result<Location, CommandError> {
    let (registry, namespace) = text.trim_matches('/').split_once('/').ok_or_else(|| {
        CommandError::Argument(format!(
            "`{}` is not `<registry>/<namespace>`",
            text.escape_default()
        ))
    })?;
    Ok(index.locate(registry, namespace)?)
}

fn callers(ends: &Ends) -> (Caller, Caller) {
    (
        caller(ends.from_username.as_ref(), ends.from_password.as_ref()),
        caller(ends.to_username.as_ref(), ends.to_password.as_ref()),
    )
}

fn caller(username: Option<&String>, password: Option<&String>) -> Caller {
    match password {
        None => Caller::Anonymous,
        Some(password) => Caller::Basic {
            username: username.cloned().unwrap_or_default(),
            password: Secret::new(password.clone()),
        },
    }
}
