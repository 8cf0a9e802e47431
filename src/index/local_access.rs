//! Who may use the local store. A registry decides that itself, from the credentials each
//! caller sends; the local store has nobody to ask, so the operator decides, once, at startup:
//!
//! - **users** (`--local-users`, an htpasswd file of bcrypt entries): writes need one of them
//!   (HTTP Basic), and so do reads unless they are made public;
//! - otherwise **anyone** may write when the server listens on loopback only, or when the
//!   operator says so (`--local-allow-anonymous-writes`);
//! - otherwise (listening beyond loopback) **nobody** may write, and the answer says how to
//!   change that.
//!
//! Checking a bcrypt password costs milliseconds of CPU, too much for an async worker: the
//! HTTP layer first [`LocalAccess::verify`]s a caller's password (on the blocking pool, a few
//! at a time), which remembers callers that matched; [`LocalAccess::check`] then only looks
//! them up. A caller never verified is refused, so a path that forgets to verify fails closed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::{Caller, IndexError};

/// Passwords checked at once; the others wait.
const CONCURRENT_VERIFICATIONS: usize = 2;
/// Verified callers remembered; the memory is emptied when it is full.
const MAX_VERIFIED: usize = 1024;

/// What a request does to the local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalUse {
    /// Pages, files, metadata.
    Read,
    /// Uploads, deletes, yanks, promotions to it or away from it.
    Write,
}

/// Who may write to the local store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Writers {
    /// Anyone who reaches the port.
    Anyone,
    /// The users of the htpasswd file.
    Users,
    /// Nobody: the server listens on this address, beyond loopback, with no users.
    Nobody(IpAddr),
}

/// The access policy of the local store.
#[derive(Debug)]
pub struct LocalAccess {
    writers: Writers,
    private_reads: bool,
    /// Username → bcrypt hash.
    users: HashMap<String, String>,
    /// Fingerprints of the credentials that matched a user.
    verified: Mutex<HashSet<[u8; 32]>>,
    verifying: Semaphore,
}

impl Default for LocalAccess {
    /// Anyone may read and write (loopback, commands run by the operator).
    fn default() -> Self {
        Self::with(Writers::Anyone, false, HashMap::new())
    }
}

impl LocalAccess {
    fn with(writers: Writers, private_reads: bool, users: HashMap<String, String>) -> Self {
        Self {
            writers,
            private_reads,
            users,
            verified: Mutex::new(HashSet::new()),
            verifying: Semaphore::new(CONCURRENT_VERIFICATIONS),
        }
    }

    /// Anyone may write when `listen` is a loopback address or `anyone` says so; otherwise
    /// nobody may. Reads are public.
    #[must_use]
    pub fn without_users(listen: IpAddr, anyone: bool) -> Self {
        let writers = if anyone || listen.is_loopback() {
            Writers::Anyone
        } else {
            Writers::Nobody(listen)
        };
        Self::with(writers, false, HashMap::new())
    }

    /// Writes (and reads, unless `public_reads`) need a user of `htpasswd`: lines
    /// `name:$2y$...` (bcrypt, as `htpasswd -B` writes them); empty lines and `#` comments are
    /// skipped.
    ///
    /// # Errors
    /// The first line that is not such an entry, by number and user (never the hash); a
    /// file without users.
    pub fn with_users(htpasswd: &str, public_reads: bool) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (number, line) in htpasswd.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':').filter(|(name, _)| !name.is_empty())
            else {
                return Err(format!("line {number} is not `name:hash`"));
            };
            let shown = crate::packaging::shown(name);
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(format!(
                    "line {number} (`{shown}`): only bcrypt hashes (`$2y$`, `$2b$`, as \
                     `htpasswd -B` writes them) are supported"
                ));
            }
            if users.insert(name.to_owned(), hash.to_owned()).is_some() {
                return Err(format!("line {number}: user `{shown}` is listed twice"));
            }
        }
        if users.is_empty() {
            return Err("no users in it".to_owned());
        }
        Ok(Self::with(Writers::Users, !public_reads, users))
    }

    /// One line for the startup log: who may write and who may read; `true` when strangers
    /// who reach the port may read or write.
    #[must_use]
    pub fn describe(&self) -> (String, bool) {
        let reads = if self.private_reads {
            "reads need a user too"
        } else {
            "reads are open to anyone who reaches the port"
        };
        match &self.writers {
            Writers::Anyone => (
                format!(
                    "the local store takes uploads, deletes, yanks and promotions from anyone \
                     who reaches the port, and {reads}; set --local-users before exposing it"
                ),
                true,
            ),
            Writers::Users => (
                format!(
                    "the local store takes writes from its {} user(s) (--local-users); {reads}",
                    self.users.len()
                ),
                !self.private_reads,
            ),
            Writers::Nobody(listen) => (
                format!(
                    "the local store refuses writes: listening on {listen}, beyond loopback, \
                     without --local-users (or --local-allow-anonymous-writes); {reads}"
                ),
                true,
            ),
        }
    }

    /// Whether `caller` may `use` the local store.
    ///
    /// # Errors
    /// [`IndexError::LocalWritesRefused`] when nobody may write;
    /// [`IndexError::LocalCredentials`] when a user is needed and the caller is none.
    pub fn check(&self, caller: &Caller, wanted: LocalUse) -> Result<(), IndexError> {
        match (wanted, &self.writers) {
            (LocalUse::Read, _) if !self.private_reads => Ok(()),
            (LocalUse::Write, Writers::Anyone) => Ok(()),
            (LocalUse::Write, Writers::Nobody(listen)) => Err(IndexError::LocalWritesRefused {
                listen: listen.to_string(),
            }),
            _ if self.is_verified(caller) => Ok(()),
            (LocalUse::Read, _) => Err(IndexError::LocalCredentials { action: "read" }),
            (LocalUse::Write, _) => Err(IndexError::LocalCredentials { action: "write" }),
        }
    }

    /// Checks the password of a Basic caller against the users, remembering a match for
    /// [`LocalAccess::check`]. Nothing to do without users, for other callers, or for a
    /// caller already verified.
    pub async fn verify(&self, caller: &Caller) {
        let Caller::Basic { username, password } = caller else {
            return;
        };
        // An unknown user costs as much as a known one: timing tells nothing.
        let (known, hash) = match self.users.get(username) {
            Some(hash) => (true, hash.clone()),
            None => match self.users.values().next() {
                Some(hash) => (false, hash.clone()),
                None => return,
            },
        };
        if self.is_verified(caller) {
            return;
        }
        let Ok(_permit) = self.verifying.acquire().await else {
            return;
        };
        if self.is_verified(caller) {
            return;
        }
        let attempt = password.clone();
        let matched = tokio::task::spawn_blocking(move || bcrypt::verify(attempt.expose(), &hash))
            .await
            .is_ok_and(|result| result.unwrap_or(false));
        if known && matched {
            let mut verified = self.lock();
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(fingerprint(username, password.expose()));
        } else {
            tracing::info!(user.name = %crate::packaging::shown(username), "local store: wrong username or password");
        }
    }

    fn is_verified(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Basic { username, password } => self
                .lock()
                .contains(&fingerprint(username, password.expose())),
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A digest of a username and password, so that matched passwords are not kept in memory.
fn fingerprint(username: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"local\0");
    hasher.update(username.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Secret;

    fn basic(username: &str, password: &str) -> Caller {
        Caller::Basic {
            username: username.to_owned(),
            password: Secret::new(password.to_owned()),
        }
    }

    fn htpasswd() -> String {
        let hash = bcrypt::hash("s3cret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        format!("# writers\n\nalice:{hash}\n")
    }

    #[test]
    fn without_users_loopback_decides() {
        let loopback = LocalAccess::without_users(IpAddr::from([127, 0, 0, 1]), false);
        assert!(loopback.check(&Caller::Anonymous, LocalUse::Write).is_ok());
        let exposed = LocalAccess::without_users(IpAddr::from([0, 0, 0, 0]), false);
        assert!(exposed.check(&Caller::Anonymous, LocalUse::Read).is_ok());
        assert_eq!(
            exposed
                .check(&basic("alice", "s3cret"), LocalUse::Write)
                .unwrap_err()
                .to_string(),
            "writes to the local store are turned off: this server listens on `0.0.0.0`, \
             beyond loopback, with no `--local-users`; give it an htpasswd file of writers \
             with `--local-users`, or let anyone write with `--local-allow-anonymous-writes`"
        );
        let opted_in = LocalAccess::without_users(IpAddr::from([0, 0, 0, 0]), true);
        assert!(opted_in.check(&Caller::Anonymous, LocalUse::Write).is_ok());
        let v6 = LocalAccess::without_users("::".parse().unwrap(), false);
        assert!(v6.check(&Caller::Anonymous, LocalUse::Write).is_err());
    }

    #[tokio::test]
    async fn users_are_verified_before_they_are_let_in() {
        let access = LocalAccess::with_users(&htpasswd(), false).unwrap();
        let alice = basic("alice", "s3cret");
        // Not verified yet: refused, whatever the password.
        assert!(access.check(&alice, LocalUse::Write).is_err());
        for wrong in [
            basic("alice", "wrong"),
            basic("bob", "s3cret"),
            Caller::Bearer(Secret::new("s3cret".to_owned())),
            Caller::Anonymous,
        ] {
            access.verify(&wrong).await;
            for wanted in [LocalUse::Read, LocalUse::Write] {
                assert!(matches!(
                    access.check(&wrong, wanted),
                    Err(IndexError::LocalCredentials { .. })
                ));
            }
        }
        access.verify(&alice).await;
        assert!(access.check(&alice, LocalUse::Write).is_ok());
        assert!(access.check(&alice, LocalUse::Read).is_ok());
        let public = LocalAccess::with_users(&htpasswd(), true).unwrap();
        assert!(public.check(&Caller::Anonymous, LocalUse::Read).is_ok());
        assert!(public.check(&Caller::Anonymous, LocalUse::Write).is_err());
    }

    #[test]
    fn htpasswd_files_are_checked_at_startup() {
        for (file, error) in [
            ("", "no users in it"),
            ("# only a comment\n", "no users in it"),
            ("alice\n", "line 1 is not `name:hash`"),
            (
                "\nbob:$apr1$abc$def\n",
                "line 2 (`bob`): only bcrypt hashes (`$2y$`, `$2b$`, as `htpasswd -B` writes \
                 them) are supported",
            ),
            ("carol:{SHA}abc=\n", "line 1 (`carol`): only bcrypt"),
        ] {
            let refused = LocalAccess::with_users(file, false).unwrap_err();
            assert!(refused.starts_with(error), "{file:?}: {refused}");
        }
        let twice = format!("{}{}", htpasswd(), htpasswd().replace("# writers\n", ""));
        assert_eq!(
            LocalAccess::with_users(&twice, false).unwrap_err(),
            "line 5: user `alice` is listed twice"
        );
    }
}
