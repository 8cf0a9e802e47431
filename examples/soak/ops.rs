//! The mixed workload: each operation is one or two requests with the statuses it must get,
//! and checks of what comes back against what this client stored.

use reqwest::Method;
use reqwest::header::ACCEPT;
use reqwest::multipart::{Form, Part};
use sha2::{Digest as _, Sha256};

use crate::client::{Client, Shared, Stored};
use crate::wheel::{self, Wheel};

/// Operations and their weights in the mix.
const MIX: [(Operation, usize); 14] = [
    (Operation::Upload, 22),
    (Operation::Reupload, 5),
    (Operation::Conflict, 4),
    (Operation::PageHtml, 11),
    (Operation::PageJson, 11),
    (Operation::ReleasesJson, 3),
    (Operation::Download, 15),
    (Operation::Metadata, 8),
    (Operation::Delete, 4),
    (Operation::DeleteRelease, 1),
    (Operation::Yank, 3),
    (Operation::Unyank, 2),
    (Operation::NotFound, 5),
    (Operation::BadRequest, 6),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Upload,
    Reupload,
    Conflict,
    PageHtml,
    PageJson,
    ReleasesJson,
    Download,
    Metadata,
    Delete,
    DeleteRelease,
    Yank,
    Unyank,
    NotFound,
    BadRequest,
}

pub const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Runs operations until the shared request budget is spent.
pub async fn run(client: &mut Client) {
    let total: usize = MIX.iter().map(|(_, weight)| weight).sum();
    while client
        .shared
        .remaining
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        let mut pick = client.below(total);
        let mut operation = Operation::Upload;
        for (candidate, weight) in MIX {
            if pick < weight {
                operation = candidate;
                break;
            }
            pick -= weight;
        }
        step(client, operation).await;
    }
}

async fn step(client: &mut Client, operation: Operation) {
    let has_live = !client.live.is_empty();
    match operation {
        Operation::Reupload if has_live => reupload(client).await,
        Operation::Conflict if has_live => conflict(client).await,
        Operation::PageHtml if has_live => page(client, false).await,
        Operation::PageJson if has_live => page(client, true).await,
        Operation::ReleasesJson if has_live => releases_json(client).await,
        Operation::Download if has_live => download(client, false).await,
        Operation::Metadata if has_live => download(client, true).await,
        Operation::Delete if has_live => delete(client).await,
        Operation::DeleteRelease if !client.owned_releases.is_empty() => {
            delete_release(client).await;
        }
        Operation::Yank if has_live => yank(client, true).await,
        Operation::Unyank if client.live.iter().any(|s| s.yanked) => yank(client, false).await,
        Operation::NotFound => not_found(client).await,
        Operation::BadRequest => crate::bad::bad_request(client).await,
        _ => upload(client).await,
    }
}

/// The upload form twine sends for `wheel`.
fn form(wheel: &Wheel) -> Form {
    Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", "2.1")
        .text("name", wheel.project.clone())
        .text("version", wheel.version.clone())
        .text("filetype", "bdist_wheel")
        .text("pyversion", "py3")
        .text("requires_python", ">=3.8")
        .text("sha256_digest", wheel.sha256.clone())
        .part(
            "content",
            Part::bytes(wheel.bytes.clone()).file_name(wheel.filename.clone()),
        )
}

/// `POST <base>/` with `form`: an upload.
pub fn upload_request(client: &Client, form: Form) -> reqwest::RequestBuilder {
    client
        .request(Method::POST, &client.url(""))
        .multipart(form)
}

/// A new wheel: mostly into a release every client writes to, sometimes into one of this
/// client's own releases (which it may later delete whole).
fn new_wheel(client: &mut Client) -> Wheel {
    let project = Shared::project(client.below(client.shared.projects));
    let version = if client.below(100) < 85 {
        format!("1.{}", client.below(client.shared.versions))
    } else {
        let owned = client
            .owned_releases
            .iter()
            .filter(|(p, _)| *p == project)
            .map(|(_, v)| v.clone())
            .next();
        owned.unwrap_or_else(|| format!("2.{}.{}", client.id, client.files_made))
    };
    client.files_made += 1;
    let platform = format!("soak_c{}_f{}", client.id, client.files_made);
    let length = 256 + client.below(4096);
    let payload = client.bytes(length);
    wheel::build(&project, &version, &platform, &payload)
}

async fn upload(client: &mut Client) {
    let wheel = new_wheel(client);
    let request = upload_request(client, form(&wheel));
    match client.send("upload", request, &[200]).await {
        Some(answer) if answer.status == 200 => {
            let release = (wheel.project.clone(), wheel.version.clone());
            if wheel.version.starts_with("2.") && !client.owned_releases.contains(&release) {
                client.owned_releases.push(release);
            }
            client.live.push(Stored {
                wheel,
                yanked: false,
            });
        }
        Some(_) => client.refused.push(wheel.filename),
        None => client.uncertain.push(wheel.filename),
    }
}

fn pick_live(client: &mut Client) -> usize {
    client.below(client.live.len())
}

fn random_live(client: &mut Client) -> Stored {
    let index = pick_live(client);
    client.live[index].clone()
}

async fn reupload(client: &mut Client) {
    let wheel = random_live(client).wheel;
    let request = upload_request(client, form(&wheel));
    client.send("reupload_identical", request, &[200]).await;
}

async fn conflict(client: &mut Client) {
    let stored = random_live(client).wheel;
    let platform = stored
        .filename
        .rsplit('-')
        .next()
        .and_then(|tag| tag.strip_suffix(".whl"))
        .unwrap_or("any")
        .to_owned();
    let payload = client.bytes(300);
    let other = wheel::build(&stored.project, &stored.version, &platform, &payload);
    let request = upload_request(client, form(&other));
    client.send("reupload_conflict", request, &[409]).await;
}

/// A project page, which must list every file this client stored there (with its digest and
/// yank state, in JSON) and none it deleted.
async fn page(client: &mut Client, json: bool) {
    let project = random_live(client).wheel.project;
    let accept = if json { JSON } else { "text/html" };
    let kind = if json { "page_json" } else { "page_html" };
    let request = client
        .request(Method::GET, &client.url(&format!("{project}/")))
        .header(ACCEPT, accept);
    let Some(answer) = client.send(kind, request, &[200]).await else {
        return;
    };
    if answer.status != 200 {
        return;
    }
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    let listed = if json {
        crate::verify::listed_files(&answer.body).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut problems = Vec::new();
    for stored in client.live.iter().filter(|s| s.wheel.project == project) {
        let name = &stored.wheel.filename;
        if !json {
            if !text.contains(name.as_str()) {
                problems.push(format!("{name} missing"));
            }
            continue;
        }
        match listed.iter().find(|file| file.filename == *name) {
            None => problems.push(format!("{name} missing")),
            Some(file) if file.sha256 != stored.wheel.sha256 => {
                client.seen.corrupt += 1;
                problems.push(format!("{name} listed with sha256 {}", file.sha256));
            }
            Some(file) if file.yanked != stored.yanked => {
                problems.push(format!("{name} yanked={} listed", file.yanked));
            }
            Some(_) => {}
        }
    }
    for wheel in client.deleted.iter().filter(|w| w.project == project) {
        if text.contains(wheel.filename.as_str()) {
            problems.push(format!("deleted {} still listed", wheel.filename));
        }
    }
    if !problems.is_empty() {
        client.seen.stale_pages += 1;
        let shown = problems.into_iter().take(3).collect::<Vec<_>>().join("; ");
        let note = format!("client {}: {kind} {project}: {shown}", client.id);
        client.seen.note(note);
    }
}

async fn releases_json(client: &mut Client) {
    let project = random_live(client).wheel.project;
    let request = client.request(Method::GET, &client.url(&format!("{project}/json")));
    client.send("releases_json", request, &[200]).await;
}

/// A file or its `.metadata`, byte for byte what was uploaded.
async fn download(client: &mut Client, metadata: bool) {
    let wheel = random_live(client).wheel;
    let suffix = if metadata { ".metadata" } else { "" };
    let url = client.url(&format!("{}/{}{suffix}", wheel.project, wheel.filename));
    let kind = if metadata { "metadata" } else { "download" };
    let request = client.request(Method::GET, &url);
    let Some(answer) = client.send(kind, request, &[200]).await else {
        return;
    };
    let expected = if metadata {
        &wheel.metadata
    } else {
        &wheel.bytes
    };
    if answer.status == 200 && answer.body.as_ref() != expected.as_slice() {
        client.seen.corrupt += 1;
        let got = hex::encode(Sha256::digest(&answer.body));
        let note = format!("{kind} {}: got sha256 {got}", wheel.filename);
        client.seen.note(note);
    }
}

/// Deletes one file; it must be gone at once.
async fn delete(client: &mut Client) {
    let index = pick_live(client);
    let wheel = client.live[index].wheel.clone();
    let url = client.url(&format!("{}/{}", wheel.project, wheel.filename));
    let request = client.request(Method::DELETE, &url);
    match client.send("delete_file", request, &[200]).await {
        Some(answer) if answer.status == 200 => {
            client.live.swap_remove(index);
            forget_empty_release(client, &wheel);
            client.deleted.push(wheel);
            let request = client.request(Method::GET, &url);
            client.send("get_deleted", request, &[404]).await;
        }
        Some(_) => {}
        None => {
            // Unknown outcome: stop checking this file either way.
            client.live.swap_remove(index);
            forget_empty_release(client, &wheel);
            client.uncertain.push(wheel.filename);
        }
    }
}

/// The server removes a release with its last file: an own release left empty is gone.
fn forget_empty_release(client: &mut Client, wheel: &Wheel) {
    let in_release =
        |s: &Stored| s.wheel.project == wheel.project && s.wheel.version == wheel.version;
    if !client.live.iter().any(in_release) {
        client
            .owned_releases
            .retain(|(project, version)| *project != wheel.project || *version != wheel.version);
    }
}

/// Deletes one of this client's own releases, with every file in it.
async fn delete_release(client: &mut Client) {
    let index = client.below(client.owned_releases.len());
    let (project, version) = client.owned_releases.swap_remove(index);
    let url = client.url(&format!("{project}/{version}"));
    let request = client.request(Method::DELETE, &url);
    let answer = client.send("delete_release", request, &[200]).await;
    let in_release = |s: &Stored| s.wheel.project == project && s.wheel.version == version;
    let (gone, kept): (Vec<Stored>, Vec<Stored>) = client.live.drain(..).partition(in_release);
    client.live = kept;
    match answer {
        Some(answer) if answer.status == 200 => {
            client.deleted.extend(gone.into_iter().map(|s| s.wheel));
        }
        // A refusal changed nothing; after a failure (5xx, lost answer) the release may or
        // may not be gone: its files are left out of the checks.
        Some(answer) if answer.status < 500 => client.live.extend(gone),
        _ => client
            .uncertain
            .extend(gone.into_iter().map(|s| s.wheel.filename)),
    }
}

async fn yank(client: &mut Client, yank: bool) {
    let candidates: Vec<usize> = (0..client.live.len())
        .filter(|&i| client.live[i].yanked != yank)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let index = candidates[client.below(candidates.len())];
    let wheel = client.live[index].wheel.clone();
    let url = client.url(&format!("+yank/{}/{}", wheel.project, wheel.filename));
    let (method, kind) = if yank {
        (Method::POST, "yank")
    } else {
        (Method::DELETE, "unyank")
    };
    let mut request = client.request(method, &url);
    if yank {
        request = request.form(&[("reason", "soak test")]);
    }
    if let Some(answer) = client.send(kind, request, &[200]).await {
        if answer.status == 200 {
            client.live[index].yanked = yank;
        }
    }
}

async fn not_found(client: &mut Client) {
    let project = Shared::project(client.below(client.shared.projects));
    let missing = format!("soak-missing-{}", client.below(1_000_000));
    let (method, path) = match client.below(4) {
        0 => (Method::GET, format!("{missing}/")),
        1 => (
            Method::GET,
            format!("{project}/soak_p0-9.9.9-py3-none-nowhere.whl"),
        ),
        2 => (
            Method::GET,
            format!("{project}/soak_p0-9.9.9-py3-none-nowhere.whl.metadata"),
        ),
        _ => (
            Method::DELETE,
            format!("{project}/soak_p0-9.9.9-py3-none-nowhere.whl"),
        ),
    };
    let request = client.request(method, &client.url(&path));
    client.send("not_found", request, &[404]).await;
}
