//! Reading response bodies whose size the other side chooses.

use reqwest::Response;

/// Reads at most `limit` bytes of a body; longer bodies are cut (and the rest is not read).
///
/// # Errors
/// The transport error met while reading.
pub async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}
