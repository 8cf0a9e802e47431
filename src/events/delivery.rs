//! Delivering events to webhooks: each delivery is a task of its own, at most `queue` of
//! them held in memory (more wait in the spool when there is one, else are dropped and
//! counted), at most `concurrency` attempts at once, retried with exponential backoff on
//! timeouts, connection failures, 408, 429 and 5xx. The write that caused an event never
//! waits for its deliveries. With a spool ([`super::spool`]) each delivery is on disk until
//! it ends, and resumes after a shutdown or a crash.
//!
//! Egress: a destination whose origin the operator lists in `allow_origins` is reached as is;
//! any other is https on public addresses only (names resolved by
//! [`PublicOnlyResolver`](crate::net::PublicOnlyResolver), literals checked at startup), and
//! redirects are never followed, so that deliveries cannot be pointed at internal hosts.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::EventsError;
use super::event::Event;
use super::hooks::{DeliverySettings, MAX_BACKOFF, Preset, Webhook, Webhooks};
use super::signature::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use super::spool::{Spool, Spooled};
use crate::net::{PublicOnlyResolver, redact_error, redact_url};
use crate::telemetry::Metrics;

/// The longest connect time of one attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends events to the webhooks that want them.
#[derive(Debug)]
pub struct Dispatcher {
    hooks: Vec<Arc<Webhook>>,
    settings: DeliverySettings,
    public: reqwest::Client,
    direct: reqwest::Client,
    permits: Arc<Semaphore>,
    tasks: TaskTracker,
    metrics: Arc<Metrics>,
    /// Deliveries held in memory (tasks), at most `settings.queue`.
    in_memory: AtomicUsize,
    /// Where deliveries are kept until they end, if configured.
    spool: Option<Spool>,
    /// Deliveries in the spool waiting for room in memory (their files), oldest first.
    backlog: Mutex<VecDeque<PathBuf>>,
    /// Cancelled at shutdown when there is a spool: deliveries waiting for their next attempt
    /// stop at once and resume at the next start.
    stopping: CancellationToken,
}

/// How a delivery task came to an end.
enum Ended {
    /// Delivered, refused, or out of attempts: its file goes.
    Finished,
    /// Stopped by the shutdown: its file stays for the next start.
    Stopped,
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Refused(String),
}

impl Dispatcher {
    /// A dispatcher for `webhooks`.
    ///
    /// # Errors
    /// [`EventsError::Client`] when no HTTP client can be built.
    pub fn new(webhooks: Webhooks, metrics: Arc<Metrics>) -> Result<Self, EventsError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("oci-pypi/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT.min(webhooks.delivery.timeout))
                .no_proxy()
        };
        let build_error = EventsError::Client;
        let public = builder()
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .build()
            .map_err(build_error)?;
        let direct = builder().build().map_err(build_error)?;
        let spool = match &webhooks.delivery.spool {
            None => None,
            Some(directory) => {
                Some(Spool::open(directory).map_err(|source| EventsError::Spool {
                    path: directory.display().to_string(),
                    source,
                })?)
            }
        };
        let dispatcher = Self {
            permits: Arc::new(Semaphore::new(webhooks.delivery.concurrency.max(1))),
            hooks: webhooks.hooks.into_iter().map(Arc::new).collect(),
            settings: webhooks.delivery,
            public,
            direct,
            tasks: TaskTracker::new(),
            metrics,
            in_memory: AtomicUsize::new(0),
            spool,
            backlog: Mutex::new(VecDeque::new()),
            stopping: CancellationToken::new(),
        };
        dispatcher.load_spool()?;
        Ok(dispatcher)
    }

    /// Queues the deliveries a previous run left in the spool (they start with [`Self::refill`]).
    fn load_spool(&self) -> Result<(), EventsError> {
        let Some(spool) = &self.spool else {
            return Ok(());
        };
        let shown = spool.directory().display().to_string();
        let files = spool.list().map_err(|source| EventsError::Spool {
            path: shown.clone(),
            source,
        })?;
        let mut backlog = self.backlog();
        for file in files {
            match Spool::read(&file) {
                Ok(delivery) if self.hook(&delivery.webhook).is_some() => backlog.push_back(file),
                Ok(delivery) => {
                    tracing::warn!(
                        webhook.name = %delivery.webhook,
                        event.id = %delivery.event.id,
                        "webhooks: a spooled delivery to `{}`, a webhook no longer configured, is dropped",
                        delivery.webhook
                    );
                    let _ = Spool::remove(&file);
                }
                Err(reason) => {
                    tracing::warn!(
                        "webhooks: spool file `{}` set aside (.bad): {reason}",
                        file.display()
                    );
                    Spool::set_aside(&file);
                }
            }
        }
        if !backlog.is_empty() {
            tracing::info!(
                "webhooks: {} deliveries resumed from the spool `{shown}`",
                backlog.len()
            );
            self.metrics
                .webhook_deliveries_pending(i64::try_from(backlog.len()).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    fn backlog(&self) -> std::sync::MutexGuard<'_, VecDeque<PathBuf>> {
        self.backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hook(&self, name: &str) -> Option<&Arc<Webhook>> {
        self.hooks.iter().find(|hook| hook.name == name)
    }

    /// Takes a place in memory for one more delivery, if there is one.
    fn reserve(&self) -> bool {
        self.in_memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.settings.queue).then_some(held + 1)
            })
            .is_ok()
    }

    /// Starts spooled deliveries while there is room in memory.
    pub fn refill(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        while !self.stopping.is_cancelled() && self.reserve() {
            let Some(file) = self.backlog().pop_front() else {
                self.in_memory.fetch_sub(1, Ordering::AcqRel);
                return;
            };
            let started = Spool::read(&file).inspect_err(|reason| {
                tracing::warn!(
                    "webhooks: spool file `{}` set aside (.bad): {reason}",
                    file.display()
                );
                Spool::set_aside(&file);
            });
            let hook = started
                .as_ref()
                .ok()
                .and_then(|d| self.hook(&d.webhook).cloned());
            if let (Some(hook), Ok(delivery)) = (hook, started) {
                self.spawn(&runtime, hook, delivery, Some(file));
            } else {
                self.in_memory.fetch_sub(1, Ordering::AcqRel);
                self.metrics.webhook_deliveries_pending(-1);
            }
        }
    }

    /// Runs one delivery in a task of its own (its place in memory is reserved already).
    fn spawn(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        hook: Arc<Webhook>,
        mut delivery: Spooled,
        file: Option<PathBuf>,
    ) {
        let dispatcher = Arc::clone(self);
        self.tasks.spawn_on(
            async move {
                let ended = dispatcher.deliver(&hook, &mut delivery, file.as_deref()).await;
                if let (Ended::Finished, Some(file)) = (ended, &file) {
                    if let Err(error) = Spool::remove(file) {
                        tracing::warn!(
                            "webhooks: cannot remove the spool file `{}` of a finished delivery: {error}",
                            file.display()
                        );
                    }
                }
                dispatcher.in_memory.fetch_sub(1, Ordering::AcqRel);
                dispatcher.metrics.webhook_deliveries_pending(-1);
                dispatcher.refill();
            },
            runtime,
        );
    }

    /// Queues `event` for every webhook that wants it; returns at once.
    pub fn dispatch(self: &Arc<Self>, event: &Event) {
        let place = event.place();
        for hook in self
            .hooks
            .iter()
            .filter(|hook| hook.wants(event.event, &place))
        {
            let delivery = Spooled::new(&hook.name, event);
            let file = self.spool.as_ref().and_then(|spool| {
                spool
                    .write(&delivery)
                    .map_err(|error| {
                        tracing::warn!(
                            webhook.name = %hook.name,
                            event.id = %event.id,
                            "webhook `{}`: cannot keep the delivery in the spool `{}`: {error}",
                            hook.name,
                            spool.directory().display()
                        );
                    })
                    .ok()
            });
            let runtime = tokio::runtime::Handle::try_current().ok();
            match runtime {
                Some(runtime) if self.reserve() => {
                    self.metrics.webhook_deliveries_pending(1);
                    self.spawn(&runtime, Arc::clone(hook), delivery, file);
                }
                _ => {
                    if let Some(file) = file {
                        self.metrics.webhook_deliveries_pending(1);
                        self.backlog().push_back(file);
                        tracing::info!(
                            webhook.name = %hook.name,
                            event.id = %event.id,
                            "webhook `{}`: {} deliveries are in memory; this one waits in the spool",
                            hook.name,
                            self.settings.queue
                        );
                    } else {
                        self.metrics.record_webhook_delivery(&hook.name, "dropped");
                        tracing::warn!(
                            webhook.name = %hook.name,
                            event.id = %event.id,
                            "webhook `{}`: {} of `{}` {} dropped: {} deliveries are waiting already",
                            hook.name, event.event, event.project, event.version, self.settings.queue
                        );
                    }
                }
            }
        }
        self.refill();
    }

    /// Waits for the deliveries under way, for at most `limit`; those left are abandoned.
    pub async fn finish(&self, limit: Duration) {
        if self.spool.is_some() {
            // Those waiting for their next attempt stop now; they are on disk.
            self.stopping.cancel();
        }
        self.tasks.close();
        let drained = tokio::time::timeout(limit, self.tasks.wait()).await.is_ok();
        match &self.spool {
            Some(spool) => {
                let left = spool.list().map_or(0, |files| files.len());
                if left > 0 {
                    tracing::info!(
                        "webhooks: {left} deliveries kept in the spool `{}` for the next start",
                        spool.directory().display()
                    );
                }
            }
            None if !drained => tracing::warn!(
                "{} webhook deliveries abandoned at shutdown, still unanswered after {} s",
                self.tasks.len(),
                limit.as_secs()
            ),
            None => {}
        }
        self.tasks.reopen();
    }

    /// Makes the attempts `delivery` has left; with a spool, records each in its `file` and
    /// stops between two when the server shuts down.
    async fn deliver(&self, hook: &Webhook, delivery: &mut Spooled, file: Option<&Path>) -> Ended {
        let attempts = self.settings.attempts.max(1);
        let started = std::time::Instant::now();
        let event = delivery.event.clone();
        let event = &event;
        let first = delivery.attempts_made.saturating_add(1).min(attempts);
        for attempt in first..=attempts {
            let outcome = {
                let _permit = tokio::select! {
                    permit = self.permits.acquire() => permit,
                    () = self.stopping.cancelled() => return Ended::Stopped,
                };
                self.attempt(hook, event).await
            };
            delivery.attempts_made = attempt;
            let shown = redact_url(hook.url.as_str());
            match outcome {
                Outcome::Delivered(status) => {
                    self.metrics
                        .record_webhook_delivery(&hook.name, "delivered");
                    tracing::info!(
                        webhook.name = %hook.name,
                        event.id = %event.id,
                        http.status = status,
                        attempt,
                        duration_ms = started.elapsed().as_millis(),
                        "webhook `{}`: delivered {} of `{}` {} to {shown}",
                        hook.name, event.event, event.project, event.version
                    );
                    return Ended::Finished;
                }
                Outcome::Refused(reason) => {
                    self.metrics.record_webhook_delivery(&hook.name, "failed");
                    tracing::warn!(
                        webhook.name = %hook.name,
                        event.id = %event.id,
                        attempt,
                        "webhook `{}`: {} of `{}` {} refused by {shown}: {reason}; not retried",
                        hook.name, event.event, event.project, event.version
                    );
                    return Ended::Finished;
                }
                Outcome::Retry { reason, after } if attempt < attempts => {
                    let wait =
                        backoff(self.settings.backoff, attempt).max(after.unwrap_or_default());
                    tracing::info!(
                        webhook.name = %hook.name,
                        event.id = %event.id,
                        attempt,
                        "webhook `{}`: attempt {attempt} of {attempts} to {shown} failed ({reason}); retrying in {} ms",
                        hook.name,
                        wait.as_millis()
                    );
                    self.record_attempts(delivery, file);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.stopping.cancelled() => return Ended::Stopped,
                    }
                }
                Outcome::Retry { reason, .. } => {
                    self.metrics.record_webhook_delivery(&hook.name, "failed");
                    tracing::warn!(
                        webhook.name = %hook.name,
                        event.id = %event.id,
                        attempt,
                        "webhook `{}`: {} of `{}` {} not delivered to {shown} after {attempts} attempts: {reason}",
                        hook.name, event.event, event.project, event.version
                    );
                }
            }
        }
        Ended::Finished
    }

    /// Writes the attempts made so far into the delivery's spool file (a resumed delivery makes
    /// only those left).
    fn record_attempts(&self, delivery: &Spooled, file: Option<&Path>) {
        if let (Some(spool), Some(_)) = (&self.spool, file) {
            if let Err(error) = spool.write(delivery) {
                tracing::warn!(
                    webhook.name = %delivery.webhook,
                    "webhook `{}`: cannot update the spool: {error}",
                    delivery.webhook
                );
            }
        }
    }

    async fn attempt(&self, hook: &Webhook, event: &Event) -> Outcome {
        let request = match self.request(hook, event) {
            Ok(request) => request,
            Err(reason) => {
                self.metrics.record_webhook_attempt("error");
                return Outcome::Retry {
                    reason,
                    after: None,
                };
            }
        };
        let outcome = match request.send().await {
            Err(error) => {
                let reason = if error.is_timeout() {
                    format!("no answer within {} s", self.settings.timeout.as_secs())
                } else if error.is_connect() {
                    format!("cannot connect: {}", redact_error(error))
                } else {
                    redact_error(error).to_string()
                };
                self.metrics.record_webhook_attempt("error");
                return Outcome::Retry {
                    reason,
                    after: None,
                };
            }
            Ok(response) => classify(&response),
        };
        self.metrics.record_webhook_attempt(match &outcome {
            Outcome::Delivered(_) => "2xx",
            Outcome::Retry { .. } => "retryable",
            Outcome::Refused(_) => "refused",
        });
        outcome
    }

    /// The request of one attempt, signed now; secrets read from their files now.
    fn request(&self, hook: &Webhook, event: &Event) -> Result<reqwest::RequestBuilder, String> {
        let client = if hook.allowed_origin {
            &self.direct
        } else {
            &self.public
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut request = client
            .post(hook.url.clone())
            .timeout(self.settings.timeout)
            .header(EVENT_HEADER, event.event.as_str())
            .header(DELIVERY_HEADER, &event.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        let (body, content_type) = match &hook.preset {
            Preset::Plain => (to_json(event)?, "application/json"),
            Preset::GitHub { token, event_type } => {
                let event_type = event_type
                    .clone()
                    .unwrap_or_else(|| format!("oci-pypi.{}", event.event));
                let body = to_json(&Dispatch {
                    event_type: &event_type,
                    client_payload: event,
                })?;
                request = request
                    .bearer_auth(token.read()?.expose())
                    .header(header::ACCEPT, "application/vnd.github+json")
                    .header("x-github-api-version", "2022-11-28");
                (body, "application/json")
            }
            Preset::GitLab { token, git_ref } => (
                trigger_form(token.read()?.expose(), git_ref, event)?,
                "application/x-www-form-urlencoded",
            ),
        };
        if let Some(secret) = &hook.secret {
            let signature = sign(secret.read()?.expose().as_bytes(), timestamp, &body);
            request = request.header(SIGNATURE_HEADER, signature);
        }
        Ok(request
            .header(header::CONTENT_TYPE, content_type)
            .body(body))
    }
}

/// GitHub's `repository_dispatch` body.
#[derive(Serialize)]
struct Dispatch<'a> {
    event_type: &'a str,
    client_payload: &'a Event,
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|error| format!("cannot encode the event: {error}"))
}

/// A GitLab pipeline trigger: `token`, `ref`, and the event as `OCI_PYPI_*` variables.
fn trigger_form(token: &str, git_ref: &str, event: &Event) -> Result<Vec<u8>, String> {
    let payload = String::from_utf8(to_json(event)?).map_err(|error| error.to_string())?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token)
        .append_pair("ref", git_ref)
        .append_pair("variables[OCI_PYPI_EVENT]", event.event.as_str())
        .append_pair("variables[OCI_PYPI_REGISTRY]", &event.registry)
        .append_pair("variables[OCI_PYPI_NAMESPACE]", &event.namespace)
        .append_pair("variables[OCI_PYPI_PROJECT]", &event.project)
        .append_pair("variables[OCI_PYPI_VERSION]", &event.version)
        .append_pair("variables[OCI_PYPI_FILES]", &event.files.join(" "))
        .append_pair("variables[OCI_PYPI_EVENT_ID]", &event.id)
        .append_pair("variables[OCI_PYPI_PAYLOAD]", &payload);
    Ok(form.finish().into_bytes())
}

fn classify(response: &reqwest::Response) -> Outcome {
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered(status.as_u16());
    }
    let retryable = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    if retryable {
        let after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(MAX_BACKOFF));
        return Outcome::Retry {
            reason: format!("answered {status}"),
            after,
        };
    }
    Outcome::Refused(format!("answered {status}"))
}

/// The wait after attempt `attempt` (1-based): `first`, doubled each time, at most
/// [`MAX_BACKOFF`].
fn backoff(first: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event::{EventKind, Place};

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let first = Duration::from_secs(2);
        assert_eq!(backoff(first, 1), Duration::from_secs(2));
        assert_eq!(backoff(first, 2), Duration::from_secs(4));
        assert_eq!(backoff(first, 4), Duration::from_secs(16));
        assert_eq!(backoff(first, 20), MAX_BACKOFF);
        assert_eq!(backoff(first, u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn gitlab_triggers_carry_the_event_as_variables() {
        let place = Place {
            registry: "ghcr.io".to_owned(),
            namespace: "acme/staging".to_owned(),
        };
        let event = Event::new(EventKind::Upload, &place, "demo", "1.0")
            .with_files(vec!["a.whl".to_owned(), "b.tar.gz".to_owned()]);
        let form = trigger_form("glptt-x", "main", &event).unwrap();
        let pairs: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(&form).into_owned().collect();
        assert_eq!(pairs["token"], "glptt-x");
        assert_eq!(pairs["ref"], "main");
        assert_eq!(pairs["variables[OCI_PYPI_EVENT]"], "upload");
        assert_eq!(pairs["variables[OCI_PYPI_FILES]"], "a.whl b.tar.gz");
        let payload: serde_json::Value =
            serde_json::from_str(&pairs["variables[OCI_PYPI_PAYLOAD]"]).unwrap();
        assert_eq!(payload["namespace"], "acme/staging");
    }
}
