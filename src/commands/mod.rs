//! One-off commands run with the server's settings instead of serving: managing a namespace
//! from a terminal (listing projects and releases, deleting, yanking), promotion of a release
//! or of every project matching a query, copying a whole namespace (how a local store moves
//! to a registry), backfilling metadata, and the container health check.
//!
//! Each prints text, or with `--json` one JSON document; a failure is one line on stderr and
//! exit code 1 (clap's usage errors exit 2).

mod health;
mod lifecycle;
mod login;
mod manage;
mod mirror;
mod promote;

use serde_json::Value;

use crate::config::{Command, Config, Credentials, OutputArgs};
use crate::index::{Caller, Index, IndexError, Location};
use crate::net::Secret;

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

/// What a command did: as text for people, as JSON for programs.
#[derive(Debug, Clone)]
pub struct Report {
    /// Lines for a terminal.
    pub text: String,
    /// The same, as one JSON document.
    pub json: Value,
}

impl Report {
    fn render(self, output: OutputArgs) -> String {
        if output.json {
            self.json.to_string()
        } else {
            self.text
        }
    }
}

/// Runs `command`; returns what to print.
///
/// # Errors
/// Bad arguments, setup failures, and what the index refuses.
pub async fn run(command: &Command, config: &Config) -> Result<String, CommandError> {
    match command {
        Command::Healthcheck => return health::healthcheck(&config.server).await,
        // Configures clients on this machine: needs no store, no registry.
        Command::Login(args) => return login::login(args).await.map(|r| r.render(args.output)),
        _ => {}
    }
    let state = crate::app::operator_state(config)
        .map_err(|error| CommandError::Setup(error.to_string()))?;
    let index = &state.index;
    let result = match command {
        Command::List(args) => manage::list(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::Versions(args) => manage::versions(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::Delete(args) => manage::delete(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::Yank(args) => manage::yank(index, &args.target, Some(&args.reason))
            .await
            .map(|r| r.render(args.target.output)),
        Command::Unyank(args) => manage::yank(index, args, None)
            .await
            .map(|r| r.render(args.output)),
        Command::Promote(args) => promote::promote(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::CopyNamespace(args) => promote::copy_namespace(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::BackfillMetadata(args) => manage::backfill(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::ProjectStatus(args) => lifecycle::set_status(index, args).await,
        Command::Prune(args) => lifecycle::prune(index, args).await,
        Command::Mirror(args) => mirror::mirror(index, args)
            .await
            .map(|r| r.render(args.output)),
        Command::Healthcheck => return health::healthcheck(&config.server).await,
        Command::Login(args) => return login::login(args).await.map(|r| r.render(args.output)),
    };
    // The listing documents of what changed are brought up to date, and the webhooks told,
    // before exiting.
    index.finish_background_work().await;
    result
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

/// The caller that `--username` and `--password` make.
fn caller_with(credentials: &Credentials) -> Caller {
    caller(credentials.username.as_ref(), credentials.password.as_ref())
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
