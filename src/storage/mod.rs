//! Where OCI content lives: a remote registry spoken to over the OCI distribution API, or a
//! local OCI image-layout directory, both behind one trait ([`Store`], made of [`Manifests`]
//! and [`Blobs`]).
//! Knows manifests, indexes, tags, blobs and digests; knows nothing of Python.
//!
//! Specifications: the OCI distribution spec
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md> and image spec
//! <https://github.com/opencontainers/image-spec/blob/main/spec.md>.

pub mod blob_cache;
pub mod docker_config;
mod error;
mod file_body;
pub mod local;
pub mod oci;
mod private_dir;
mod reference;
pub mod registry;
pub mod spool;
mod store;
mod temp_name;

pub use error::StorageError;
pub use reference::{Digest, Reference, Repository, Tag, is_path_component};
pub use store::{
    BlobDownload, BlobRequest, BlobWriter, Blobs, ByteStream, ManifestFetch, Manifests, Store,
    TagChange, socket_stream,
};
