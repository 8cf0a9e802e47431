//! Gzip (RFC 1952) inflated as it streams: member headers, raw deflate bodies and trailers
//! (CRC-32 and length checked), several members, zero padding after the last one. The output
//! goes to a [`Sink`] in pieces of at most 32 KiB; how much may be inflated is bounded by the
//! caller at each push (compression bombs).

use flate2::{Decompress, FlushDecompress, Status};

use super::{MetadataError, u16_at, u32_at};

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const DEFLATE: u8 = 8;
const FIXED_HEADER: usize = 10;
const TRAILER: usize = 8;
const OUTPUT_CHUNK: usize = 32 << 10;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xE0;
/// The longest member header accepted (its name and comment have no length limit).
const MAX_HEADER: usize = 1 << 20;

/// Where inflated bytes go.
pub(super) trait Sink {
    /// Takes the next inflated bytes.
    fn write(&mut self, bytes: &[u8]) -> Result<(), MetadataError>;
}

/// A gzip stream being inflated.
pub(super) struct Inflater {
    state: State,
    members: u64,
    inflated: u64,
    member_length: u64,
    crc: crc32fast::Hasher,
    output: Vec<u8>,
}

enum State {
    /// A member header being collected.
    Header(Vec<u8>),
    Body(Box<Decompress>),
    Trailer(Vec<u8>),
    /// After a member: zero padding, or the next member.
    Between,
}

impl Inflater {
    pub(super) fn new() -> Self {
        Self {
            state: State::Header(Vec::new()),
            members: 0,
            inflated: 0,
            member_length: 0,
            crc: crc32fast::Hasher::new(),
            output: vec![0; OUTPUT_CHUNK],
        }
    }

    /// Inflates `input` into `sink`, failing once more than `allowance` bytes in all came out.
    pub(super) fn push(
        &mut self,
        mut input: &[u8],
        allowance: u64,
        sink: &mut impl Sink,
    ) -> Result<(), MetadataError> {
        while !input.is_empty() {
            let used = match self.state {
                State::Header(_) => self.read_header(input)?,
                State::Body(_) => self.inflate(input, allowance, sink)?,
                State::Trailer(_) => self.read_trailer(input)?,
                State::Between => {
                    let zeros = input.iter().take_while(|byte| **byte == 0).count();
                    if zeros < input.len() {
                        self.state = State::Header(Vec::new());
                    }
                    zeros
                }
            };
            input = input.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// Checks that the stream ended after a whole member.
    pub(super) fn finish(&self) -> Result<(), MetadataError> {
        match &self.state {
            State::Between => Ok(()),
            State::Header(header) if self.members == 0 && !header.starts_with(&MAGIC) => {
                Err(MetadataError::NotGzip)
            }
            _ => Err(MetadataError::CorruptGzip("the stream is truncated")),
        }
    }

    /// Adds header bytes; returns how many of `input` were used (all until it is complete).
    fn read_header(&mut self, input: &[u8]) -> Result<usize, MetadataError> {
        let State::Header(header) = &mut self.state else {
            return Ok(0);
        };
        let before = header.len();
        header.extend_from_slice(input);
        let magic = header.get(..MAGIC.len()).unwrap_or(header);
        if !MAGIC.starts_with(magic) {
            return Err(if self.members == 0 {
                MetadataError::NotGzip
            } else {
                MetadataError::CorruptGzip("trailing data after the last member")
            });
        }
        let Some(length) = header_length(header)? else {
            if header.len() > MAX_HEADER {
                return Err(MetadataError::CorruptGzip("a member header is over 1 MiB"));
            }
            return Ok(input.len());
        };
        self.state = State::Body(Box::new(Decompress::new(false)));
        self.crc = crc32fast::Hasher::new();
        self.member_length = 0;
        Ok(length.saturating_sub(before))
    }

    /// Inflates from `input` into `sink`; returns how many bytes of `input` were used.
    fn inflate(
        &mut self,
        input: &[u8],
        allowance: u64,
        sink: &mut impl Sink,
    ) -> Result<usize, MetadataError> {
        let State::Body(decompress) = &mut self.state else {
            return Ok(0);
        };
        let invalid = || MetadataError::CorruptGzip("invalid compressed data");
        let mut used = 0;
        loop {
            let (before_in, before_out) = (decompress.total_in(), decompress.total_out());
            let rest = input.get(used..).unwrap_or_default();
            let status = decompress
                .decompress(rest, &mut self.output, FlushDecompress::None)
                .map_err(|_| invalid())?;
            let consumed = decompress.total_in() - before_in;
            let produced = decompress.total_out() - before_out;
            used += usize::try_from(consumed).map_err(|_| invalid())?;
            let output = usize::try_from(produced)
                .ok()
                .and_then(|produced| self.output.get(..produced))
                .ok_or_else(invalid)?;
            self.inflated += produced;
            self.member_length += produced;
            if self.inflated > allowance {
                return Err(MetadataError::InflatesTooMuch(allowance));
            }
            self.crc.update(output);
            sink.write(output)?;
            let full = output.len() == self.output.len();
            if status == Status::StreamEnd {
                self.state = State::Trailer(Vec::with_capacity(TRAILER));
                return Ok(used);
            }
            if !full && used >= input.len() {
                return Ok(used);
            }
            if !full && consumed == 0 && produced == 0 {
                return Err(invalid());
            }
        }
    }

    /// Adds trailer bytes (CRC-32 and length of the member); returns how many were used.
    fn read_trailer(&mut self, input: &[u8]) -> Result<usize, MetadataError> {
        let State::Trailer(trailer) = &mut self.state else {
            return Ok(0);
        };
        let take = (TRAILER - trailer.len()).min(input.len());
        trailer.extend_from_slice(input.get(..take).unwrap_or_default());
        if trailer.len() < TRAILER {
            return Ok(take);
        }
        let crc = u32_at(trailer, 0);
        let length = u32_at(trailer, 4);
        let computed = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        if computed != crc {
            return Err(MetadataError::CorruptGzip("CRC-32 mismatch"));
        }
        if u64::from(length) != self.member_length & u64::from(u32::MAX) {
            return Err(MetadataError::CorruptGzip("length mismatch"));
        }
        self.members += 1;
        self.state = State::Between;
        Ok(take)
    }
}

/// The length of a complete member header (RFC 1952 section 2.3), or `None` while it is not.
fn header_length(header: &[u8]) -> Result<Option<usize>, MetadataError> {
    let Some(fixed) = header.get(..FIXED_HEADER) else {
        return Ok(None);
    };
    let (method, flags) = (fixed.get(2).copied(), fixed.get(3).copied().unwrap_or(0));
    if method != Some(DEFLATE) || flags & RESERVED != 0 {
        return Err(MetadataError::CorruptGzip("invalid member header"));
    }
    let mut at = FIXED_HEADER;
    if flags & FEXTRA != 0 {
        if header.len() < at + 2 {
            return Ok(None);
        }
        at += 2 + usize::from(u16_at(header, at));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = header
                .get(at..)
                .and_then(|rest| rest.iter().position(|b| *b == 0))
            else {
                return Ok(None);
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((header.len() >= at).then_some(at))
}
