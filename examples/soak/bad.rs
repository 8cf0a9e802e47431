//! Requests that must be refused with a 400 and leave nothing behind.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use sha2::Digest as _;

use crate::client::{Client, Shared};
use crate::wheel;

/// One bad request, picked at random.
pub async fn bad_request(client: &mut Client) {
    let project = Shared::project(client.below(client.shared.projects));
    client.files_made += 1;
    let platform = format!("bad_c{}_f{}", client.id, client.files_made);
    let payload = client.bytes(200);
    let good = wheel::build(&project, "1.0", &platform, &payload);
    let fields = |action: &str, protocol: &str, name: &str, sha256: &str| {
        Form::new()
            .text(":action", action.to_owned())
            .text("protocol_version", protocol.to_owned())
            .text("name", name.to_owned())
            .text("version", "1.0")
            .text("sha256_digest", sha256.to_owned())
    };
    let content =
        |bytes: Vec<u8>, filename: &str| Part::bytes(bytes).file_name(filename.to_owned());
    let sha = good.sha256.clone();
    let (form, filename) = match client.below(8) {
        // The filename names another project than the form.
        0 => (
            fields("file_upload", "1", "soak-other", &sha),
            good.filename.clone(),
        ),
        // Not a PEP 440 version.
        1 => {
            let filename = format!(
                "{}-1.0.x.y-py3-none-{platform}.whl",
                project.replace('-', "_")
            );
            (fields("file_upload", "1", &project, &sha), filename)
        }
        2 => (
            fields("frobnicate", "1", &project, &sha),
            good.filename.clone(),
        ),
        3 => (
            fields("file_upload", "2", &project, &sha),
            good.filename.clone(),
        ),
        // The digest is of other bytes.
        4 => {
            let wrong = hex::encode([7_u8; 32]);
            (
                fields("file_upload", "1", &project, &wrong),
                good.filename.clone(),
            )
        }
        // The content is not a zip.
        5 => {
            let garbage = hex::encode(sha2::Sha256::digest(&good.bytes));
            let form = fields("file_upload", "1", &project, "")
                .part("content", content(garbage.into_bytes(), &good.filename));
            return send_upload(client, form, good.filename).await;
        }
        // No file at all.
        6 => {
            let form = fields("file_upload", "1", &project, &sha);
            return send_upload(client, form, good.filename).await;
        }
        // A malformed percent-escape in the path.
        _ => {
            let request = client.request(Method::GET, &client.url("%zz/"));
            client.send("bad_request", request, &[400]).await;
            return;
        }
    };
    let form = form.part("content", content(good.bytes.clone(), &filename));
    send_upload(client, form, filename).await;
}

async fn send_upload(client: &mut Client, form: Form, filename: String) {
    let request = crate::ops::upload_request(client, form);
    client.send("bad_request", request, &[400]).await;
    client.refused.push(filename);
}
