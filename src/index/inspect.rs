//! What an upload's bytes must prove before it is stored: a wheel is a zip holding the
//! `METADATA` of the name and version it claims, a `.tar.gz` sdist is a gzip'd tar whose
//! `PKG-INFO` agrees with its name. The core metadata found is kept for PEP 658.
//!
//! Only a bounded sample of the stream is kept: the first bytes (sdists keep `PKG-INFO`
//! first) and the last bytes (wheels keep the central directory and `.dist-info` last).

use std::collections::VecDeque;

use bytes::Bytes;

use super::IndexError;
use crate::packaging::{
    CoreMetadata, DistFilename, DistKind, ProjectName, SdistInspection, Version, WheelInspection,
    inspect_sdist, inspect_wheel,
};

/// Bytes kept from the start of an sdist.
const HEAD_LIMIT: usize = 1 << 20;
/// Bytes kept from the end of a wheel.
const TAIL_LIMIT: usize = 8 << 20;

/// The first and last bytes of an upload.
#[derive(Debug, Default)]
pub struct Sample {
    keep_head: bool,
    head: Vec<u8>,
    tail: VecDeque<Bytes>,
    tail_length: usize,
}

impl Sample {
    /// A sample fitting the kind of file: sdists keep their start, wheels their end.
    #[must_use]
    pub fn for_file(filename: &DistFilename) -> Self {
        Self {
            keep_head: filename.kind() == DistKind::Sdist,
            ..Self::default()
        }
    }

    /// Records the next chunk of the stream.
    pub fn push(&mut self, chunk: &Bytes) {
        if self.keep_head {
            let room = HEAD_LIMIT.saturating_sub(self.head.len());
            self.head
                .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            return;
        }
        self.tail.push_back(chunk.clone());
        self.tail_length += chunk.len();
        while let Some(front) = self.tail.front() {
            if self.tail_length - front.len() < TAIL_LIMIT {
                break;
            }
            self.tail_length -= front.len();
            self.tail.pop_front();
        }
    }

    /// The last bytes, at most the tail limit, copied once into a buffer of exactly that
    /// size (the part of the first chunk before them is skipped, not copied).
    fn tail(&self) -> Vec<u8> {
        let mut skip = self.tail_length.saturating_sub(TAIL_LIMIT);
        let mut tail = Vec::with_capacity(self.tail_length - skip);
        for chunk in &self.tail {
            let from = skip.min(chunk.len());
            skip -= from;
            tail.extend_from_slice(chunk.get(from..).unwrap_or_default());
        }
        tail
    }
}

/// Checks the file's content against its name; returns the core metadata to serve, when it
/// was found and can be trusted.
///
/// # Errors
/// [`IndexError::InvalidDistribution`] when the content is not what the filename says.
pub fn core_metadata(
    filename: &DistFilename,
    sample: &Sample,
    size: u64,
) -> Result<Option<Vec<u8>>, IndexError> {
    let invalid = |reason: String| IndexError::InvalidDistribution {
        filename: filename.to_string(),
        reason,
    };
    let found = match filename.kind() {
        DistKind::Wheel => match inspect_wheel(&sample.tail(), size, &filename.dist_info_dir()) {
            Err(error) => return Err(invalid(error.to_string())),
            Ok(WheelInspection::OutOfReach) => return Ok(None),
            Ok(WheelInspection::Metadata(bytes)) => bytes,
        },
        DistKind::Sdist if filename.as_str().ends_with(".tar.gz") => {
            let complete = usize::try_from(size).is_ok_and(|size| size <= sample.head.len());
            match inspect_sdist(&sample.head, complete, filename.sdist_dir()) {
                Err(error) => return Err(invalid(error.to_string())),
                Ok(SdistInspection::OutOfReach) => return Ok(None),
                Ok(SdistInspection::Metadata(bytes)) => bytes,
            }
        }
        DistKind::Sdist => return Ok(None),
    };
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
        let filename = DistFilename::parse("a-1.0-py3-none-any.whl").unwrap();
        let mut sample = Sample::for_file(&filename);
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
        let tail = sample.tail();
        assert_eq!(tail.len(), TAIL_LIMIT);
        assert_eq!(tail.capacity(), TAIL_LIMIT, "copied once, at its size");
        assert!(tail.as_slice() == &all[all.len() - TAIL_LIMIT..]);
        assert!(sample.tail_length <= TAIL_LIMIT + (3 << 20) + 3);
    }

    #[test]
    fn head_keeps_the_first_bytes() {
        let filename = DistFilename::parse("a-1.0.tar.gz").unwrap();
        let mut sample = Sample::for_file(&filename);
        sample.push(&Bytes::from(vec![7_u8; HEAD_LIMIT - 1]));
        sample.push(&Bytes::from_static(b"xyz"));
        assert_eq!(sample.head.len(), HEAD_LIMIT);
        assert_eq!(sample.head.last(), Some(&b'x'));
        assert!(sample.tail.is_empty());
    }

    #[test]
    fn garbage_is_not_a_wheel() {
        let filename = DistFilename::parse("a-1.0-py3-none-any.whl").unwrap();
        let mut sample = Sample::for_file(&filename);
        sample.push(&Bytes::from_static(b"not a zip at all"));
        let error = core_metadata(&filename, &sample, 16).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "`a-1.0-py3-none-any.whl` is not a valid distribution: not a zip archive"
            ),
            "{error}"
        );
    }
}
