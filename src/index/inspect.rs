//! What an upload's bytes must prove before it is stored: a wheel is a zip holding the
//! `METADATA` of the name and version it claims, a `.tar.gz` sdist is a gzip'd tar whose
//! `PKG-INFO` agrees with its name. The core metadata found is kept for PEP 658.
//!
//! The stream is read as it passes, in memory that does not grow with the file: of a wheel,
//! the last bytes (the central directory) and every METADATA candidate met on the way, so
//! that METADATA is found wherever the archive puts it; an sdist is inflated and walked to its
//! end. What cannot be checked that way is refused, never stored unchecked.

use std::collections::VecDeque;

use bytes::Bytes;

use super::IndexError;
use crate::packaging::{
    CoreMetadata, DistFilename, DistKind, MetadataCapture, ProjectName, SdistReader, Version,
    inspect_wheel,
};

/// Bytes kept from the end of a wheel: its central directory must lie there.
const TAIL_LIMIT: usize = 8 << 20;

/// What is kept of an upload while it streams, to check it once it has ended.
#[derive(Debug)]
pub struct Sample {
    kept: Kept,
}

#[derive(Debug)]
enum Kept {
    Wheel {
        tail: Tail,
        capture: MetadataCapture,
    },
    Sdist(Box<SdistReader>),
    /// A legacy `.zip` sdist: served, never uploaded (PEP 625); nothing is read.
    Nothing,
}

impl Sample {
    /// A sample fitting the kind of file.
    #[must_use]
    pub fn for_file(filename: &DistFilename) -> Self {
        let kept = match filename.kind() {
            DistKind::Wheel => Kept::Wheel {
                tail: Tail::default(),
                capture: MetadataCapture::default(),
            },
            DistKind::Sdist if filename.as_str().ends_with(".tar.gz") => {
                Kept::Sdist(Box::new(SdistReader::new(filename.sdist_dir())))
            }
            DistKind::Sdist => Kept::Nothing,
        };
        Self { kept }
    }

    /// Records the next chunk of the stream.
    pub fn push(&mut self, chunk: &Bytes) {
        match &mut self.kept {
            Kept::Wheel { tail, capture } => {
                capture.push(chunk);
                tail.push(chunk);
            }
            Kept::Sdist(reader) => reader.push(chunk),
            Kept::Nothing => {}
        }
    }
}

/// The last [`TAIL_LIMIT`] bytes of a stream, as the chunks that hold them.
#[derive(Debug, Default)]
struct Tail {
    chunks: VecDeque<Bytes>,
    length: usize,
}

impl Tail {
    fn push(&mut self, chunk: &Bytes) {
        self.chunks.push_back(chunk.clone());
        self.length += chunk.len();
        while let Some(front) = self.chunks.front() {
            if self.length - front.len() < TAIL_LIMIT {
                break;
            }
            self.length -= front.len();
            self.chunks.pop_front();
        }
    }

    /// The last bytes, at most the tail limit, copied once into a buffer of exactly that
    /// size (the part of the first chunk before them is skipped, not copied).
    fn to_vec(&self) -> Vec<u8> {
        let mut skip = self.length.saturating_sub(TAIL_LIMIT);
        let mut tail = Vec::with_capacity(self.length - skip);
        for chunk in &self.chunks {
            let from = skip.min(chunk.len());
            skip -= from;
            tail.extend_from_slice(chunk.get(from..).unwrap_or_default());
        }
        tail
    }
}

/// Checks the file's content against its name, once all of it went through `sample`; returns
/// the core metadata to serve, when it can be trusted (an sdist's only when reliable, PEP 643).
///
/// # Errors
/// [`IndexError::InvalidDistribution`] when the content is not what the filename says, or
/// cannot be checked.
pub fn core_metadata(
    filename: &DistFilename,
    sample: &mut Sample,
    size: u64,
) -> Result<Option<Vec<u8>>, IndexError> {
    let invalid = |reason: String| IndexError::InvalidDistribution {
        filename: filename.to_string(),
        reason,
    };
    let found = match std::mem::replace(&mut sample.kept, Kept::Nothing) {
        Kept::Wheel { tail, capture } => {
            inspect_wheel(&tail.to_vec(), size, &capture, &filename.dist_info_dir())
        }
        Kept::Sdist(reader) => reader.finish(),
        Kept::Nothing => return Ok(None),
    };
    let found = found.map_err(|error| invalid(error.to_string()))?;
    let parsed = CoreMetadata::parse(&found).map_err(|error| invalid(error.to_string()))?;
    let same_name = ProjectName::parse(&parsed.name).is_ok_and(|name| &name == filename.name());
    let same_version = Version::parse(&parsed.version).is_ok_and(|v| &v == filename.version());
    if !same_name || !same_version {
        return Err(invalid(format!(
            "its metadata describes `{}` `{}`",
            parsed.name.escape_default(),
            parsed.version.escape_default()
        )));
    }
    let trusted = filename.kind() == DistKind::Wheel || parsed.is_reliable_for_sdist();
    Ok(trusted.then_some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut sample = Tail::default();
        let mut all = Vec::new();
        for n in 0..4_u8 {
            // Distinct bytes, so that an offset error shows.
            let chunk: Vec<u8> = (0..3_usize << 20)
                .map(|i| {
                    n.wrapping_mul(31)
                        .wrapping_add(u8::try_from(i % 251).unwrap())
                })
                .collect();
            all.extend_from_slice(&chunk);
            sample.push(&Bytes::from(chunk));
        }
        sample.push(&Bytes::from_static(b"end"));
        all.extend_from_slice(b"end");
        let tail = sample.to_vec();
        assert_eq!(tail.len(), TAIL_LIMIT);
        assert_eq!(tail.capacity(), TAIL_LIMIT, "copied once, at its size");
        assert!(tail.as_slice() == &all[all.len() - TAIL_LIMIT..]);
        assert!(sample.length <= TAIL_LIMIT + (3 << 20) + 3);
    }

    #[test]
    fn garbage_is_not_a_wheel() {
        let filename = DistFilename::parse("a-1.0-py3-none-any.whl").unwrap();
        let mut sample = Sample::for_file(&filename);
        sample.push(&Bytes::from_static(b"not a zip at all"));
        let error = core_metadata(&filename, &mut sample, 16).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "`a-1.0-py3-none-any.whl` is not a valid distribution: not a zip archive"
            ),
            "{error}"
        );
    }

    /// Finding 5 of the security review: a wheel whose METADATA lies before the kept tail
    /// (here first, then 9 MiB) was stored with no name or version check.
    #[test]
    fn metadata_before_the_tail_is_checked() {
        use crate::packaging::testkit::{ZipEntry, ZipOptions, noise, write_zip};
        let filename = DistFilename::parse("evil-1.0-py3-none-any.whl").unwrap();
        let lie = b"Metadata-Version: 2.1\nName: totally-other\nVersion: 9.9\n";
        let entries = [
            ZipEntry::deflated("evil-1.0.dist-info/METADATA", lie),
            ZipEntry::stored("evil-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
            ZipEntry::stored("evil/payload.bin", &noise(9 << 20)),
            ZipEntry::stored("evil-1.0.dist-info/RECORD", b""),
        ];
        let file = write_zip(&entries, ZipOptions::default());
        let mut sample = Sample::for_file(&filename);
        for chunk in file.chunks(65_536) {
            sample.push(&Bytes::copy_from_slice(chunk));
        }
        let error = core_metadata(&filename, &mut sample, file.len() as u64).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("its metadata describes `totally-other` `9.9`"),
            "{error}"
        );
    }
}
