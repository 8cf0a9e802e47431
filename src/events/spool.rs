//! The spool: with `spool` set in the webhooks file, every delivery is kept on disk, one JSON
//! file each, from the moment it is queued until it ends (delivered, refused, or out of
//! attempts). A delivery cut short by a shutdown, a crash or a full queue is therefore not
//! lost: its file stays, and it is picked up again when there is room in the queue or at the
//! next start (docs/events.md, "Delivery, limits and shutdown").
//!
//! A file holds the webhook's name, the attempts already made and the event, never a secret
//! (secrets and tokens are read from the webhooks file at each attempt). Files are written
//! whole (a temporary file, then a rename) and readable by their owner only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::event::Event;

/// The version of the spool file format.
const FORMAT: u32 = 1;

/// Files that end so are deliveries; anything else in the directory is left alone.
const EXTENSION: &str = "json";

/// A directory of deliveries.
#[derive(Debug)]
pub struct Spool {
    directory: PathBuf,
}

/// One delivery as kept on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spooled {
    /// The file format (1).
    pub format: u32,
    /// The webhook's name in the webhooks file.
    pub webhook: String,
    /// Attempts already made (a resumed delivery makes only the remaining ones).
    pub attempts_made: u32,
    /// The event, as it is delivered.
    pub event: Event,
}

impl Spooled {
    /// A delivery of `event` to `webhook`, not yet attempted.
    #[must_use]
    pub fn new(webhook: &str, event: &Event) -> Self {
        Self {
            format: FORMAT,
            webhook: webhook.to_owned(),
            attempts_made: 0,
            event: event.clone(),
        }
    }
}

impl Spool {
    /// Opens `directory`, creating it (readable by its owner only) if needed.
    ///
    /// # Errors
    /// When the directory cannot be created or is not writable.
    pub fn open(directory: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(directory)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o700))?;
        }
        let spool = Self {
            directory: directory.to_owned(),
        };
        // Fail at startup, not at the first delivery, when the directory cannot be written.
        let probe = spool.directory.join(".oci-pypi-write-check");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        Ok(spool)
    }

    /// The directory.
    #[must_use]
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The file of a delivery: the event's id and a digest of the webhook's name (names may
    /// hold any character), so that each delivery has its own and rewriting it replaces it.
    #[must_use]
    pub fn path_of(&self, delivery: &Spooled) -> PathBuf {
        let hook = hex::encode(&Sha256::digest(delivery.webhook.as_bytes())[..8]);
        let id: String = delivery
            .event
            .id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        self.directory.join(format!("{id}-{hook}.{EXTENSION}"))
    }

    /// Writes `delivery` whole (replacing an earlier state of it); returns its file.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, delivery: &Spooled) -> std::io::Result<PathBuf> {
        let path = self.path_of(delivery);
        let temporary = path.with_extension("tmp");
        let body = serde_json::to_vec(delivery).map_err(std::io::Error::other)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary)?;
        file.write_all(&body)?;
        file.sync_data()?;
        drop(file);
        std::fs::rename(&temporary, &path)?;
        Ok(path)
    }

    /// Removes a delivery's file (it ended); a file already gone is fine.
    ///
    /// # Errors
    /// When the file exists and cannot be removed.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The delivery files, oldest first (by modification time, then name).
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn list(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.directory)? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            found.push((modified, path));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    /// Reads one delivery file.
    ///
    /// # Errors
    /// Why it cannot be used: unreadable, not JSON of this format, or an event id that is not
    /// the 32 hex digits this server writes.
    pub fn read(path: &Path) -> Result<Spooled, String> {
        let bytes = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
        let delivery: Spooled =
            serde_json::from_slice(&bytes).map_err(|error| format!("not a delivery: {error}"))?;
        if delivery.format != FORMAT {
            return Err(format!(
                "format {} (this server reads {FORMAT})",
                delivery.format
            ));
        }
        let id = &delivery.event.id;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "event id `{}` is not 32 hex digits",
                id.escape_default()
            ));
        }
        Ok(delivery)
    }

    /// Moves an unusable file aside (`.bad`), so it is neither retried nor lost.
    pub fn set_aside(path: &Path) {
        let _ = std::fs::rename(path, path.with_extension("bad"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event::{EventKind, Place};

    fn event() -> Event {
        let place = Place {
            registry: "ghcr.io".to_owned(),
            namespace: "acme/staging".to_owned(),
        };
        Event::new(EventKind::Upload, &place, "demo", "1.0").with_files(vec!["a.whl".to_owned()])
    }

    #[test]
    fn a_delivery_round_trips_and_is_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let mut delivery = Spooled::new("staging hook/β", &event());
        let path = spool.write(&delivery).unwrap();
        assert_eq!(Spool::read(&path).unwrap(), delivery);
        delivery.attempts_made = 3;
        assert_eq!(spool.write(&delivery).unwrap(), path);
        assert_eq!(spool.list().unwrap(), vec![path.clone()]);
        assert_eq!(Spool::read(&path).unwrap().attempts_made, 3);
        Spool::remove(&path).unwrap();
        Spool::remove(&path).unwrap();
        assert!(spool.list().unwrap().is_empty());
    }

    #[test]
    fn two_webhooks_of_one_event_have_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let event = event();
        let a = spool.write(&Spooled::new("a", &event)).unwrap();
        let b = spool.write(&Spooled::new("b", &event)).unwrap();
        assert_ne!(a, b);
        assert_eq!(spool.list().unwrap().len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("spool")).unwrap();
        let path = spool.write(&Spooled::new("a", &event())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(spool.directory())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn unusable_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let garbage = dir.path().join("x.json");
        std::fs::write(&garbage, b"{not json").unwrap();
        assert!(
            Spool::read(&garbage)
                .unwrap_err()
                .starts_with("not a delivery")
        );
        let mut delivery = Spooled::new("a", &event());
        delivery.event.id = "../../etc/passwd".to_owned();
        let path = dir.path().join("evil.json");
        std::fs::write(&path, serde_json::to_vec(&delivery).unwrap()).unwrap();
        assert!(
            Spool::read(&path)
                .unwrap_err()
                .contains("not 32 hex digits")
        );
        delivery.event.id = "0".repeat(32);
        delivery.format = 2;
        std::fs::write(&path, serde_json::to_vec(&delivery).unwrap()).unwrap();
        assert!(Spool::read(&path).unwrap_err().starts_with("format 2"));
        Spool::set_aside(&path);
        assert!(dir.path().join("evil.bad").exists());
        assert_eq!(spool.list().unwrap(), vec![garbage]);
    }
}
