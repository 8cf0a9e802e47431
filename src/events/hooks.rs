//! The webhooks file: which changes of which namespaces go where, and how deliveries are
//! made. Read once at startup; every value is checked there, and an error names the line and
//! the field. Reference: docs/events.md.
//!
//! ```toml
//! [delivery]                 # optional; the defaults shown
//! queue = 1000               # deliveries held in memory at most (more are dropped, counted)
//! attempts = 6               # tries per delivery
//! backoff_seconds = 2        # wait before the first retry, doubled after each (at most 5 min)
//! timeout_seconds = 10       # one attempt's limit
//! concurrency = 8            # attempts made at once
//! allow_origins = []         # destinations allowed although not public https (`http://ci.internal:8080`)
//!
//! [[webhook]]
//! name = "promote"                           # in logs and metrics
//! namespace = "ghcr.io/acme/staging"         # `<registry>/<namespace>`; `*` wildcards
//! events = ["upload"]                        # default: all
//! url = "https://api.github.com/repos/acme/app/dispatches"
//! preset = "github"                          # `plain` (default), `github`, `gitlab`
//! token_file = "/run/secrets/github-token"   # or token_env; github and gitlab
//! event_type = "promote-package"             # github
//! secret_file = "/run/secrets/webhook"       # or secret_env; signs the delivery
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::EventsError;
use super::event::{EventKind, Place};
use crate::net::{Origin, Secret, is_internal_literal};
use crate::packaging::wildcard_matches;
use crate::toml_text;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The parsed webhooks file.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// How deliveries are made.
    pub delivery: DeliverySettings,
    /// The webhooks, in file order.
    pub hooks: Vec<Webhook>,
}

/// How deliveries are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Deliveries held in memory at most, waiting or being retried.
    pub queue: usize,
    /// Attempts per delivery.
    pub attempts: u32,
    /// The wait before the first retry, doubled after each.
    pub backoff: Duration,
    /// One attempt's limit.
    pub timeout: Duration,
    /// Attempts made at once.
    pub concurrency: usize,
    /// Destinations reached although they are not public https.
    pub allow_origins: Vec<Origin>,
    /// A directory where every delivery is kept until it ends, so that none is lost to a
    /// shutdown, a crash or a full queue (`spool`); none: deliveries live in memory only.
    pub spool: Option<PathBuf>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            queue: 1000,
            attempts: 6,
            backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            concurrency: 8,
            allow_origins: Vec::new(),
            spool: None,
        }
    }
}

/// One webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Its name (logs, metrics).
    pub name: String,
    /// Which namespaces: `<registry>/<namespace>` with `*` wildcards.
    pub namespace: String,
    /// Which changes.
    pub events: Vec<EventKind>,
    /// Where to.
    pub url: url::Url,
    /// Whether the destination is in `allow_origins` (reached without the public-only rule).
    pub allowed_origin: bool,
    /// The receiver's API.
    pub preset: Preset,
    /// The key deliveries are signed with.
    pub secret: Option<SecretSource>,
}

impl Webhook {
    /// Whether a change of `kind` at `place` goes to this webhook.
    #[must_use]
    pub fn wants(&self, kind: EventKind, place: &Place) -> bool {
        self.events.contains(&kind)
            && wildcard_matches(&self.namespace, &place.path().to_ascii_lowercase())
    }
}

/// The API the receiver speaks.
#[derive(Debug, Clone)]
pub enum Preset {
    /// The event document as the body.
    Plain,
    /// GitHub `repository_dispatch`: `{"event_type", "client_payload"}` with a bearer token.
    GitHub {
        /// The token (a PAT or app token with `contents: write`).
        token: SecretSource,
        /// The `event_type`; default `oci-pypi.<event>`.
        event_type: Option<String>,
    },
    /// A GitLab pipeline trigger: form fields `token`, `ref` and `variables[...]`.
    GitLab {
        /// The pipeline trigger token.
        token: SecretSource,
        /// The branch or tag to run the pipeline for.
        git_ref: String,
    },
}

/// A secret read from a file (again at each delivery, so that it may rotate) or given once.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// A file holding it.
    File(PathBuf),
    /// The value, from the environment at startup.
    Value(Secret),
}

impl SecretSource {
    /// The secret now.
    ///
    /// # Errors
    /// The file cannot be read or is empty (the reason names the file, never the content).
    pub fn read(&self) -> Result<Secret, String> {
        match self {
            Self::Value(secret) => Ok(secret.clone()),
            Self::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
                let text = text.trim_end_matches(['\r', '\n']);
                if text.is_empty() {
                    return Err(format!("`{}` is empty", path.display()));
                }
                Ok(Secret::new(text.to_owned()))
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    delivery: Option<RawDelivery>,
    #[serde(default)]
    webhook: Vec<Spanned<RawHook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    queue: Option<Spanned<i64>>,
    attempts: Option<Spanned<i64>>,
    backoff_seconds: Option<Spanned<i64>>,
    timeout_seconds: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    allow_origins: Vec<Spanned<String>>,
    spool: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    name: Option<Spanned<String>>,
    namespace: Spanned<String>,
    url: Spanned<String>,
    events: Option<Spanned<Vec<String>>>,
    preset: Option<Spanned<String>>,
    secret_file: Option<Spanned<PathBuf>>,
    secret_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
    event_type: Option<Spanned<String>>,
    #[serde(rename = "ref")]
    git_ref: Option<Spanned<String>>,
}

/// Reads and checks the webhooks file; `environment` looks up the variables that
/// `secret_env` and `token_env` name.
///
/// # Errors
/// [`EventsError::ReadFile`], or [`EventsError::Invalid`] naming the line and the field.
pub fn load(
    path: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Webhooks, EventsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EventsError::ReadFile {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path, environment)
}

/// Parses the text of a webhooks file; relative file paths are taken from its directory.
///
/// # Errors
/// [`EventsError::Invalid`] naming the line and the field.
pub fn parse(
    text: &str,
    path: &Path,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Webhooks, EventsError> {
    let invalid = |reason: String| EventsError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let file: RawFile = toml_text::parse(text).map_err(&invalid)?;
    let at = Lines { text };
    let directory = path.parent().unwrap_or_else(|| Path::new("."));
    let delivery = check_delivery(file.delivery, &at, directory).map_err(&invalid)?;
    if file.webhook.is_empty() {
        return Err(invalid(
            "it has no `[[webhook]]`: add at least one, or remove --webhooks".to_owned(),
        ));
    }
    let context = Context {
        at,
        directory,
        environment,
        allow_origins: &delivery.allow_origins,
    };
    let mut hooks: Vec<Webhook> = Vec::with_capacity(file.webhook.len());
    for (position, raw) in file.webhook.into_iter().enumerate() {
        let start = raw.span().start;
        let hook = check_hook(raw.get_ref(), position + 1, &context).map_err(&invalid)?;
        if hooks.iter().any(|other| other.name == hook.name) {
            return Err(invalid(format!(
                "line {}: `name`: two webhooks are named `{}`: names must be unique",
                context.at.line(start),
                hook.name
            )));
        }
        hooks.push(hook);
    }
    Ok(Webhooks { delivery, hooks })
}

/// Turns spans into `line N: `field`: reason`.
struct Lines<'a> {
    text: &'a str,
}

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        toml_text::line_of(self.text, offset)
    }

    fn error<T>(&self, value: &Spanned<T>, field: &str, reason: &str) -> String {
        format!(
            "line {}: `{field}`: {reason}",
            self.line(value.span().start)
        )
    }
}

struct Context<'a> {
    at: Lines<'a>,
    directory: &'a Path,
    environment: &'a dyn Fn(&str) -> Option<String>,
    allow_origins: &'a [Origin],
}

fn check_delivery(
    raw: Option<RawDelivery>,
    at: &Lines<'_>,
    directory: &Path,
) -> Result<DeliverySettings, String> {
    let mut settings = DeliverySettings::default();
    let Some(raw) = raw else {
        return Ok(settings);
    };
    let number =
        |value: &Option<Spanned<i64>>, field: &str, range: std::ops::RangeInclusive<i64>| {
            match value {
                None => Ok(None),
                Some(value) if range.contains(value.get_ref()) => {
                    Ok(u64::try_from(*value.get_ref()).ok())
                }
                Some(value) => Err(at.error(
                    value,
                    field,
                    &format!(
                        "`{}` is not between {} and {}",
                        value.get_ref(),
                        range.start(),
                        range.end()
                    ),
                )),
            }
        };
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = number(&raw.queue, "queue", 1..=1_000_000)? {
        settings.queue = to_usize(n);
    }
    if let Some(n) = number(&raw.attempts, "attempts", 1..=100)? {
        settings.attempts = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = number(&raw.backoff_seconds, "backoff_seconds", 0..=300)? {
        settings.backoff = Duration::from_secs(n);
    }
    if let Some(n) = number(&raw.timeout_seconds, "timeout_seconds", 1..=300)? {
        settings.timeout = Duration::from_secs(n);
    }
    if let Some(n) = number(&raw.concurrency, "concurrency", 1..=1000)? {
        settings.concurrency = to_usize(n);
    }
    for origin in &raw.allow_origins {
        let parsed = Origin::parse(origin.get_ref()).map_err(|error| {
            at.error(
                origin,
                "allow_origins",
                &format!("`{}`: {}", error.input, error.reason),
            )
        })?;
        settings.allow_origins.push(parsed);
    }
    if let Some(spool) = &raw.spool {
        if spool.get_ref().as_os_str().is_empty() {
            return Err(at.error(spool, "spool", "the directory is empty"));
        }
        settings.spool = Some(directory.join(spool.get_ref()));
    }
    Ok(settings)
}

fn check_hook(raw: &RawHook, position: usize, context: &Context<'_>) -> Result<Webhook, String> {
    let at = &context.at;
    let name = match &raw.name {
        None => format!("webhook-{position}"),
        Some(name) => {
            let text = name.get_ref().trim();
            let valid = !text.is_empty()
                && text.len() <= 64
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(at.error(
                    name,
                    "name",
                    &format!(
                        "`{}` must be 1 to 64 letters, digits, `-`, `_` or `.`",
                        name.get_ref().escape_default()
                    ),
                ));
            }
            text.to_owned()
        }
    };
    let namespace = check_namespace(&raw.namespace, at)?;
    let events = check_events(raw.events.as_ref(), at)?;
    let (url, allowed_origin) = check_url(&raw.url, context)?;
    let secret = secret_source(
        (raw.secret_file.as_ref(), "secret_file"),
        (raw.secret_env.as_ref(), "secret_env"),
        context,
    )?;
    let token = secret_source(
        (raw.token_file.as_ref(), "token_file"),
        (raw.token_env.as_ref(), "token_env"),
        context,
    )?;
    let preset = check_preset(raw, token.as_ref(), secret.is_some(), at)?;
    Ok(Webhook {
        name,
        namespace,
        events,
        url,
        allowed_origin,
        preset,
        secret,
    })
}

fn check_namespace(raw: &Spanned<String>, at: &Lines<'_>) -> Result<String, String> {
    let text = raw.get_ref().trim().trim_matches('/').to_ascii_lowercase();
    let valid = text == "*"
        || (text.contains('/')
            && text.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, '-' | '_' | '.' | '/' | ':' | '*' | '[' | ']')
            }));
    if !valid {
        return Err(at.error(
            raw,
            "namespace",
            &format!(
                "`{}` is not `<registry>/<namespace>` (such as `ghcr.io/acme/staging` or `local/team`) nor `*`",
                raw.get_ref().escape_default()
            ),
        ));
    }
    Ok(text)
}

fn check_events(
    raw: Option<&Spanned<Vec<String>>>,
    at: &Lines<'_>,
) -> Result<Vec<EventKind>, String> {
    let Some(raw) = raw else {
        return Ok(EventKind::ALL.to_vec());
    };
    let mut events = Vec::new();
    for name in raw.get_ref() {
        if name == "*" {
            return Ok(EventKind::ALL.to_vec());
        }
        let kind = EventKind::parse(name.trim()).ok_or_else(|| {
            at.error(
                raw,
                "events",
                &format!(
                    "`{}` is not an event: use `upload`, `yank`, `unyank`, `delete`, `promote` or `*`",
                    name.escape_default()
                ),
            )
        })?;
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    if events.is_empty() {
        return Err(at.error(raw, "events", "lists no event (leave it out for all)"));
    }
    Ok(events)
}

/// The destination: public https, or an origin of `allow_origins` (the same rule as
/// registries: what the operator names is reached, anything else only on public addresses).
fn check_url(raw: &Spanned<String>, context: &Context<'_>) -> Result<(url::Url, bool), String> {
    let at = &context.at;
    let shown = crate::net::redact_url(raw.get_ref());
    let refuse = |reason: &str| {
        at.error(
            raw,
            "url",
            &format!("`{}` {reason}", shown.escape_default()),
        )
    };
    let url = url::Url::parse(raw.get_ref().trim()).map_err(|_| refuse("is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "carries credentials: give them with `token_file` or `secret_file`",
        ));
    }
    if url.fragment().is_some() {
        return Err(refuse("has a fragment"));
    }
    let origin = Origin::parse(&format!("{}://{}", url.scheme(), url.authority()))
        .map_err(|error| refuse(&error.reason))?;
    if context.allow_origins.contains(&origin) {
        return Ok((url, true));
    }
    if url.scheme() != "https" {
        return Err(refuse(
            "must be https (or its origin listed in `[delivery] allow_origins`)",
        ));
    }
    if is_internal_literal(&url) {
        return Err(refuse(
            "is a private, loopback or link-local address: list its origin in `[delivery] allow_origins` to allow it",
        ));
    }
    Ok((url, false))
}

fn secret_source(
    file: (Option<&Spanned<PathBuf>>, &str),
    env: (Option<&Spanned<String>>, &str),
    context: &Context<'_>,
) -> Result<Option<SecretSource>, String> {
    let at = &context.at;
    match (file.0, env.0) {
        (None, None) => Ok(None),
        (Some(_), Some(variable)) => Err(at.error(
            variable,
            env.1,
            &format!("give `{}` or `{}`, not both", file.1, env.1),
        )),
        (Some(path), None) => {
            let full = context.directory.join(path.get_ref());
            let source = SecretSource::File(full);
            source
                .read()
                .map_err(|reason| at.error(path, file.1, &reason))?;
            Ok(Some(source))
        }
        (None, Some(variable)) => {
            let value = (context.environment)(variable.get_ref())
                .map(|value| value.trim_end_matches(['\r', '\n']).to_owned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| {
                    at.error(
                        variable,
                        env.1,
                        &format!(
                            "the variable `{}` is not set or empty",
                            variable.get_ref().escape_default()
                        ),
                    )
                })?;
            Ok(Some(SecretSource::Value(Secret::new(value))))
        }
    }
}

fn check_preset(
    raw: &RawHook,
    token: Option<&SecretSource>,
    signed: bool,
    at: &Lines<'_>,
) -> Result<Preset, String> {
    let name = raw
        .preset
        .as_ref()
        .map_or("plain", |p| p.get_ref().as_str());
    let misplaced = |field: Option<&Spanned<String>>, name: &str, preset: &str| match field {
        Some(value) => Err(at.error(
            value,
            name,
            &format!("only applies to `preset = \"{preset}\"`"),
        )),
        None => Ok(()),
    };
    let needs_token = |preset: &str| {
        token.cloned().ok_or_else(|| {
            at.error(
                &raw.url,
                "token_file",
                &format!("`preset = \"{preset}\"` needs `token_file` or `token_env`"),
            )
        })
    };
    match name {
        "plain" => {
            misplaced(raw.event_type.as_ref(), "event_type", "github")?;
            misplaced(raw.git_ref.as_ref(), "ref", "gitlab")?;
            if let Some(file) = &raw.token_file {
                return Err(at.error(
                    file,
                    "token_file",
                    "only applies to the `github` and `gitlab` presets",
                ));
            }
            if let Some(variable) = &raw.token_env {
                return Err(at.error(
                    variable,
                    "token_env",
                    "only applies to the `github` and `gitlab` presets",
                ));
            }
            if !signed {
                return Err(at.error(
                    &raw.url,
                    "secret_file",
                    "a plain webhook needs `secret_file` or `secret_env`: deliveries are signed",
                ));
            }
            Ok(Preset::Plain)
        }
        "github" => {
            misplaced(raw.git_ref.as_ref(), "ref", "gitlab")?;
            let event_type = match &raw.event_type {
                None => None,
                Some(value) => {
                    let text = value.get_ref().trim();
                    if text.is_empty() || text.len() > 100 {
                        return Err(at.error(value, "event_type", "must be 1 to 100 characters"));
                    }
                    Some(text.to_owned())
                }
            };
            Ok(Preset::GitHub {
                token: needs_token("github")?,
                event_type,
            })
        }
        "gitlab" => {
            misplaced(raw.event_type.as_ref(), "event_type", "github")?;
            let git_ref = raw
                .git_ref
                .as_ref()
                .map(|value| value.get_ref().trim().to_owned())
                .filter(|text| !text.is_empty())
                .ok_or_else(|| {
                    at.error(
                        &raw.url,
                        "ref",
                        "`preset = \"gitlab\"` needs the `ref` to run (a branch or tag)",
                    )
                })?;
            Ok(Preset::GitLab {
                token: needs_token("gitlab")?,
                git_ref,
            })
        }
        other => {
            let value = raw.preset.as_ref().unwrap_or(&raw.url);
            Err(at.error(
                value,
                "preset",
                &format!(
                    "`{}` is not a preset: use `plain`, `github` or `gitlab`",
                    other.escape_default()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
