//! General networking helpers, used by every client this server runs (registries, upstream
//! indexes, trusted-publishing issuers) and by logging. They know nothing of OCI or Python.
//!
//! - [`Origin`]: `scheme://host[:port]`, the unit in which registries are allowed;
//! - [`Secret`]: text never shown by `Debug` or `Display`;
//! - [`is_public`], [`is_internal_literal`], [`PublicOnlyResolver`]: which addresses a
//!   remote party may make us contact (no SSRF into private, link-local or metadata ranges);
//! - [`read_limited`]: a body read up to a limit the server chooses;
//! - [`redact_url`], [`redact`], [`redact_error`]: how a URL is shown without its secrets;
//! - [`plain_get`], [`SpliceIo`], [`SpliceSlot`]: a plain-HTTP body moved from socket to
//!   socket in the kernel (splice(2)) instead of through this process;
//! - [`Throttle`]: how many requests go to one server at once once it answers 429.

mod address;
mod body;
mod origin;
mod plain_get;
mod redact;
mod secret;
mod splice;
mod throttle;

pub use address::{PublicOnlyResolver, is_internal_literal, is_public};
pub use body::read_limited;
pub use origin::{Origin, OriginError};
pub use plain_get::{PlainAnswer, PlainGet, plain_get};
pub use redact::{redact, redact_error, redact_url};
pub use secret::Secret;
pub use splice::{SocketBody, SpliceIo, SpliceSlot, SplicedBody};
pub use throttle::{LIFT_AFTER, Throttle, ThrottlePermit};
