//! Splitting a byte stream into messages: MLLP frames (`0x0B … 0x1C 0x0D`), batch files
//! (FHS/BHS … BTS/FTS), and plain files with one message after another, mixed freely and
//! detected per message.
//!
//! [`FrameReader`] reads from any `Read` through one buffer that never holds more than the
//! largest allowed message plus one read, however long the stream. Every input byte ends up in
//! exactly one [`Chunk`], so a writer that copies framing bytes and re-encodes messages
//! reproduces the stream exactly.
//!
//! Plain framing: a message starts at a line beginning with `MSH` (or a BOM and `MSH`) and runs
//! to the line before the next blank line, `MSH`, `FHS`, `BHS`, `BTS`, `FTS` or MLLP start byte.
//! Lines may end with CR, LF or CRLF. Anything else between messages (a segment after a blank
//! line, binary noise) becomes an [`Chunk::Invalid`] with its offset, never silently dropped.

use std::io::Read;
use std::ops::Range;

use crate::error::{Error, ErrorKind};

const MLLP_START: u8 = 0x0B;
const MLLP_END: u8 = 0x1C;
const READ_SIZE: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a message was framed in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Inside an MLLP frame.
    Mllp,
    /// Plain segments (a file, a pipe), possibly inside a batch.
    Plain,
}

/// One message and the framing bytes around it.
#[derive(Debug, Clone, Copy)]
pub struct Framed<'a> {
    /// Bytes before the message that belong to its frame (the MLLP start byte).
    pub leading: &'a [u8],
    /// The message itself, from MSH (or a BOM) to its last segment's terminator.
    pub message: &'a [u8],
    /// Bytes after the message that belong to its frame (`0x1C 0x0D`).
    pub trailing: &'a [u8],
    /// Stream offset of the first byte of `message`.
    pub offset: u64,
    /// The framing found.
    pub framing: Framing,
}

/// One piece of the stream.
#[derive(Debug)]
pub enum Chunk<'a> {
    /// A message to parse.
    Message(Framed<'a>),
    /// A batch envelope segment line (FHS, BHS, BTS, FTS) with its terminator.
    Envelope {
        /// The line.
        bytes: &'a [u8],
        /// Its stream offset.
        offset: u64,
    },
    /// Whitespace and blank lines between messages.
    Filler(&'a [u8]),
    /// Bytes that are not a message: noise, a message over the size limit (then `bytes` is
    /// empty: it was discarded as it streamed past), an unterminated MLLP frame.
    Invalid {
        /// The bytes, when they were kept.
        bytes: &'a [u8],
        /// Stream offset of the first byte.
        offset: u64,
        /// What was wrong.
        error: Error,
    },
}

enum Found {
    Filler(Range<usize>),
    Message {
        leading: Range<usize>,
        message: Range<usize>,
        trailing: Range<usize>,
        framing: Framing,
    },
    Envelope(Range<usize>),
    Invalid {
        bytes: Range<usize>,
        offset: u64,
        error: Error,
    },
}

/// Reads chunks from a stream; see the module documentation.
///
/// ```
/// use hl7fhir::v2::{Chunk, FrameReader};
/// let input = b"\x0bMSH|^~\\&|A\r\x1c\x0d\nMSH|^~\\&|B\r";
/// let mut reader = FrameReader::new(&input[..], 1 << 20);
/// let mut messages = 0;
/// while let Some(chunk) = reader.next_chunk().unwrap() {
///     if let Chunk::Message(m) = chunk {
///         messages += 1;
///     }
/// }
/// assert_eq!(messages, 2);
/// ```
pub struct FrameReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Stream offset of `buf[start]`.
    offset: u64,
    /// Bytes of the last returned chunk, dropped at the next call.
    consumed: usize,
    max_message: usize,
    /// True when the last read filled the space offered (more input is likely waiting).
    full_reads: bool,
}

impl<R: Read> FrameReader<R> {
    /// A reader that treats any message longer than `max_message_bytes` as invalid.
    pub fn new(src: R, max_message_bytes: usize) -> FrameReader<R> {
        FrameReader {
            src,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            consumed: 0,
            max_message: max_message_bytes,
            full_reads: false,
        }
    }

    /// True when bytes past the last returned chunk are already in the buffer.
    ///
    /// Only when the last read filled its buffer: a stream that delivers less than asked (a
    /// socket, an interactive pipe) may hold back the rest of a message, and a caller batching
    /// messages should not wait on it.
    pub fn has_buffered(&self) -> bool {
        self.full_reads && self.start + self.consumed < self.end
    }

    /// Stream offset of the next unread chunk.
    pub fn offset(&self) -> u64 {
        self.offset + self.consumed as u64
    }

    /// The next chunk, or `None` at the end of the stream. I/O errors end the stream.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, Error> {
        self.advance(self.consumed);
        self.consumed = 0;
        self.compact_if_needed();
        if !self.ensure(1)? {
            return Ok(None);
        }
        let found = match self.buf[self.start] {
            b'\r' | b'\n' | b' ' | b'\t' => self.filler(),
            MLLP_START => self.mllp()?,
            _ => self.plain()?,
        };
        Ok(Some(self.chunk(found)))
    }

    fn chunk(&mut self, found: Found) -> Chunk<'_> {
        let base = self.start;
        let at = |r: &Range<usize>| self.offset + (r.start - base) as u64;
        match found {
            Found::Filler(r) => {
                self.consumed = r.end - base;
                Chunk::Filler(&self.buf[r])
            }
            Found::Envelope(r) => {
                self.consumed = r.end - base;
                Chunk::Envelope {
                    offset: at(&r),
                    bytes: &self.buf[r],
                }
            }
            Found::Message {
                leading,
                message,
                trailing,
                framing,
            } => {
                self.consumed = trailing.end - base;
                Chunk::Message(Framed {
                    offset: at(&message),
                    leading: &self.buf[leading],
                    message: &self.buf[message],
                    trailing: &self.buf[trailing],
                    framing,
                })
            }
            Found::Invalid {
                bytes,
                offset,
                error,
            } => {
                self.consumed = bytes.end - base;
                Chunk::Invalid {
                    bytes: &self.buf[bytes],
                    offset,
                    error,
                }
            }
        }
    }

    fn advance(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes sure `n` bytes from `start` are buffered, reading as needed; false at EOF.
    fn ensure(&mut self, n: usize) -> Result<bool, Error> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            if self.buf.len() < self.end + READ_SIZE {
                self.buf.resize(self.end + READ_SIZE, 0);
            }
            // Reads ask for READ_SIZE (a pipe's capacity) exactly, even when the buffer has
            // more room, so that a full read reliably says more input is waiting.
            match self.src.read(&mut self.buf[self.end..self.end + READ_SIZE]) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    self.end += k;
                    self.full_reads = k == READ_SIZE;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::new(ErrorKind::Io, format!("reading input: {e}"))
                        .at_offset(self.offset + (self.end - self.start) as u64));
                }
            }
        }
        Ok(true)
    }

    fn filler(&mut self) -> Found {
        let s = self.start;
        let n = self.buf[s..self.end]
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
            .unwrap_or(self.end - s);
        Found::Filler(s..s + n)
    }

    fn too_large(&self, offset: u64, len: u64) -> Error {
        Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "message of at least {len} bytes is over the limit of {} bytes; skipped",
                self.max_message
            ),
        )
        .at_offset(offset)
    }

    fn mllp(&mut self) -> Result<Found, Error> {
        let frame_offset = self.offset;
        let mut scan = self.start + 1;
        loop {
            if let Some(p) = memchr::memchr(MLLP_END, &self.buf[scan..self.end]) {
                let close = scan + p;
                // The end byte can arrive in the same read as the rest of an oversized frame.
                if close - (self.start + 1) > self.max_message {
                    return self.discard_mllp(frame_offset);
                }
                let has_cr = self.ensure(close - self.start + 2)? && self.buf[close + 1] == b'\r';
                let trailing = close..close + 1 + has_cr as usize;
                return Ok(Found::Message {
                    leading: self.start..self.start + 1,
                    message: self.start + 1..close,
                    trailing,
                    framing: Framing::Mllp,
                });
            }
            scan = self.end;
            if self.end - self.start > self.max_message + 1 {
                return self.discard_mllp(frame_offset);
            }
            if !self.ensure(self.end - self.start + 1)? {
                let error = Error::new(
                    ErrorKind::Framing,
                    "MLLP frame has no end byte (0x1C) before the end of the stream",
                )
                .at_offset(frame_offset);
                return Ok(Found::Invalid {
                    bytes: self.start..self.end,
                    offset: frame_offset,
                    error,
                });
            }
        }
    }

    /// Drops an oversized MLLP frame as it streams past, up to and including its end bytes.
    fn discard_mllp(&mut self, frame_offset: u64) -> Result<Found, Error> {
        loop {
            self.compact_if_needed();
            if !self.ensure(1)? {
                break;
            }
            match memchr::memchr(MLLP_END, &self.buf[self.start..self.end]) {
                Some(p) => {
                    self.advance(p + 1);
                    if self.ensure(1)? && self.buf[self.start] == b'\r' {
                        self.advance(1);
                    }
                    break;
                }
                None => self.advance(self.end - self.start),
            }
        }
        let error = self.too_large(frame_offset, self.offset - frame_offset);
        Ok(Found::Invalid {
            bytes: self.start..self.start,
            offset: frame_offset,
            error,
        })
    }

    /// Moves the unread bytes to the front of the buffer once enough has been consumed, so the
    /// buffer stays within one message plus one read.
    fn compact_if_needed(&mut self) {
        if self.start == self.end || self.start >= READ_SIZE {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// The end of the line starting at `from` (after its terminator), reading as needed. A line
    /// also ends, without terminator, before an MLLP start byte or at the end of the stream.
    /// Returns `None` when the line grows past the message limit.
    fn line_end(&mut self, from: usize, limit: usize) -> Result<Option<usize>, Error> {
        let mut scan = from;
        loop {
            if let Some(p) = memchr::memchr3(b'\r', b'\n', MLLP_START, &self.buf[scan..self.end]) {
                let at = scan + p;
                let byte = self.buf[at];
                return Ok(Some(match byte {
                    MLLP_START => at,
                    b'\r' if self.ensure(at - self.start + 2)? && self.buf[at + 1] == b'\n' => {
                        at + 2
                    }
                    _ => at + 1,
                }));
            }
            scan = self.end;
            if self.end - self.start > limit {
                return Ok(None);
            }
            if !self.ensure(self.end - self.start + 1)? {
                return Ok(Some(self.end));
            }
        }
    }

    /// True when a new chunk starts at `at` (which is at a line start).
    fn boundary(&mut self, at: usize) -> Result<bool, Error> {
        self.ensure(at - self.start + 6)?;
        let rest = &self.buf[at..self.end];
        let rest = rest.strip_prefix(BOM).unwrap_or(rest);
        Ok(match rest.first() {
            None => true,
            Some(b'\r' | b'\n' | &MLLP_START) => true,
            _ => [b"MSH", b"FHS", b"BHS", b"BTS", b"FTS"]
                .iter()
                .any(|id| rest.starts_with(*id)),
        })
    }

    fn plain(&mut self) -> Result<Found, Error> {
        self.ensure(6)?;
        let first_line = {
            let b = &self.buf[self.start..self.end];
            let b = b.strip_prefix(BOM).unwrap_or(b);
            if b.starts_with(b"MSH") {
                Some(true)
            } else if [b"FHS", b"BHS", b"BTS", b"FTS"]
                .iter()
                .any(|id| b.starts_with(*id))
            {
                Some(false)
            } else {
                None
            }
        };
        let limit = self.max_message;
        let offset = self.offset;
        let Some(mut pos) = self.line_end(self.start, limit)? else {
            return self.discard_plain(offset);
        };
        if first_line == Some(false) {
            // Held to the same limit as a message, whether or not the line came in one read.
            if pos - self.start > limit {
                return self.discard_plain(offset);
            }
            return Ok(Found::Envelope(self.start..pos));
        }
        while !self.boundary(pos)? {
            if pos - self.start > limit {
                return self.discard_plain(offset);
            }
            match self.line_end(pos, limit)? {
                Some(next) => pos = next,
                None => return self.discard_plain(offset),
            }
        }
        if pos - self.start > limit {
            return self.discard_plain(offset);
        }
        Ok(match first_line {
            Some(_) => Found::Message {
                leading: self.start..self.start,
                message: self.start..pos,
                trailing: pos..pos,
                framing: Framing::Plain,
            },
            None => {
                let error = Error::new(
                    ErrorKind::Framing,
                    "bytes between messages that are not a message (no MSH at their start)",
                )
                .at_offset(offset);
                Found::Invalid {
                    bytes: self.start..pos,
                    offset,
                    error,
                }
            }
        })
    }

    /// Drops an oversized plain message line by line until the next chunk boundary.
    fn discard_plain(&mut self, offset: u64) -> Result<Found, Error> {
        loop {
            self.compact_if_needed();
            if !self.ensure(1)? {
                break;
            }
            match memchr::memchr3(b'\r', b'\n', MLLP_START, &self.buf[self.start..self.end]) {
                Some(p) => {
                    let b = self.buf[self.start + p];
                    if b == MLLP_START {
                        self.advance(p);
                        break;
                    }
                    self.advance(p + 1);
                    if b == b'\r' && self.ensure(1)? && self.buf[self.start] == b'\n' {
                        self.advance(1);
                    }
                    if self.boundary(self.start)? {
                        break;
                    }
                }
                None => self.advance(self.end - self.start),
            }
        }
        let error = self.too_large(offset, self.offset - offset);
        Ok(Found::Invalid {
            bytes: self.start..self.start,
            offset,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A description of each chunk, and the concatenation of all bytes.
    fn split(input: &[u8], max: usize) -> (Vec<String>, Vec<u8>) {
        let mut r = FrameReader::new(input, max);
        let mut kinds = Vec::new();
        let mut all = Vec::new();
        while let Some(c) = r.next_chunk().unwrap() {
            match c {
                Chunk::Message(m) => {
                    kinds.push(format!(
                        "{:?}@{}:{}",
                        m.framing,
                        m.offset,
                        String::from_utf8_lossy(m.message).escape_debug()
                    ));
                    all.extend_from_slice(m.leading);
                    all.extend_from_slice(m.message);
                    all.extend_from_slice(m.trailing);
                }
                Chunk::Envelope { bytes, offset } => {
                    kinds.push(format!(
                        "Envelope@{offset}:{}",
                        String::from_utf8_lossy(bytes).escape_debug()
                    ));
                    all.extend_from_slice(bytes);
                }
                Chunk::Filler(b) => {
                    kinds.push(format!(
                        "Filler:{}",
                        String::from_utf8_lossy(b).escape_debug()
                    ));
                    all.extend_from_slice(b);
                }
                Chunk::Invalid {
                    bytes,
                    offset,
                    error,
                } => {
                    kinds.push(format!("Invalid@{offset}:{error}"));
                    all.extend_from_slice(bytes);
                }
            }
        }
        (kinds, all)
    }

    #[test]
    fn framing_cases() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"MSH|A\rPID|1\r", &["Plain@0:MSH|A\\rPID|1\\r"]),
            (
                b"MSH|A\nPID|1\n\nMSH|B\r\nPID\r\n",
                &[
                    "Plain@0:MSH|A\\nPID|1\\n",
                    "Filler:\\n",
                    "Plain@13:MSH|B\\r\\nPID\\r\\n",
                ],
            ),
            (b"MSH|A\rMSH|B", &["Plain@0:MSH|A\\r", "Plain@6:MSH|B"]),
            (
                b"\x0bMSH|A\rPID\r\x1c\x0d\x0bMSH|B\r\x1c\x0d",
                &["Mllp@1:MSH|A\\rPID\\r", "Mllp@14:MSH|B\\r"],
            ),
            (b"\x0bMSH|A\r\x1c", &["Mllp@1:MSH|A\\r"]),
            (
                b"\x0bMSH|A\r",
                &[
                    "Invalid@0:at byte 0: MLLP frame has no end byte (0x1C) before the end of the stream",
                ],
            ),
            (
                b"FHS|^~\\&\rBHS|^~\\&\rMSH|A\rPID\rBTS|1\rFTS|1\r",
                &[
                    "Envelope@0:FHS|^~\\\\&\\r",
                    "Envelope@9:BHS|^~\\\\&\\r",
                    "Plain@18:MSH|A\\rPID\\r",
                    "Envelope@28:BTS|1\\r",
                    "Envelope@34:FTS|1\\r",
                ],
            ),
            (
                b"MSH|A\r\rPID|1\rMSH|B\r",
                &[
                    "Plain@0:MSH|A\\r",
                    "Filler:\\r",
                    "Invalid@7:at byte 7: bytes between messages that are not a message (no MSH at their start)",
                    "Plain@13:MSH|B\\r",
                ],
            ),
            (
                b"\x00\x01garbage\x0bMSH|A\r\x1c\r",
                &[
                    "Invalid@0:at byte 0: bytes between messages that are not a message (no MSH at their start)",
                    "Mllp@10:MSH|A\\r",
                ],
            ),
            (
                b"\xEF\xBB\xBFMSH|A\r\xEF\xBB\xBFMSH|B\r",
                &["Plain@0:\\u{feff}MSH|A\\r", "Plain@9:\\u{feff}MSH|B\\r"],
            ),
            (
                b"MSH|A\rPID|1\r\x0bMSH|B\r\x1c\r",
                &["Plain@0:MSH|A\\rPID|1\\r", "Mllp@13:MSH|B\\r"],
            ),
            (b"", &[]),
            (b"  \r\n", &["Filler:  \\r\\n"]),
        ];
        for (input, want) in cases {
            let (kinds, all) = split(input, 1 << 20);
            assert_eq!(kinds, *want, "{:?}", String::from_utf8_lossy(input));
            if !kinds
                .iter()
                .any(|k| k.starts_with("Invalid@0:at byte 0: MLLP"))
            {
                assert_eq!(&all, input);
            }
        }
    }

    #[test]
    fn oversized_messages_are_skipped_with_bounded_memory() {
        let mut input = b"MSH|small\r".to_vec();
        input.extend_from_slice(b"MSH|big|");
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend_from_slice(b"\rPID|1\r\x0bMSH|");
        input.extend(std::iter::repeat_n(b'y', 300_000));
        input.extend_from_slice(b"\x1c\rMSH|after\r");
        let mut r = FrameReader::new(&input[..], 1000);
        let mut kinds = Vec::new();
        while let Some(c) = r.next_chunk().unwrap() {
            kinds.push(match c {
                Chunk::Message(m) => String::from_utf8_lossy(m.message).into_owned(),
                Chunk::Invalid { bytes, error, .. } => {
                    assert!(bytes.is_empty());
                    error.to_string()
                }
                other => format!("{other:?}"),
            });
            assert!(
                r.buf.len() < 1000 + 3 * READ_SIZE,
                "buffer grew to {}",
                r.buf.len()
            );
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert_eq!(kinds[0], "MSH|small\r");
        assert!(
            kinds[1].starts_with("at byte 10: message of at least 3000"),
            "{}",
            kinds[1]
        );
        assert!(
            kinds[2].starts_with("at byte 300025: message of at least 300007 bytes"),
            "{}",
            kinds[2]
        );
        assert_eq!(kinds[3], "MSH|after\r");
    }

    #[test]
    fn tiny_reads() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = b;
                self.0 = rest;
                Ok(1)
            }
        }
        let input = b"MSH|A\r\nPID|1\r\n\r\n\x0bMSH|B\r\x1c\rBHS|x\rMSH|C";
        let mut r = FrameReader::new(OneByte(input), 1 << 20);
        let mut messages = Vec::new();
        while let Some(c) = r.next_chunk().unwrap() {
            if let Chunk::Message(m) = c {
                messages.push(String::from_utf8_lossy(m.message).into_owned());
            }
        }
        assert_eq!(messages, ["MSH|A\r\nPID|1\r\n", "MSH|B\r", "MSH|C"]);
    }

    #[test]
    fn a_stream_that_keeps_up_says_more_is_buffered() {
        // Many small messages, larger than one read: while reads come back full, the messages
        // already buffered are reported as such, so a consumer batches them instead of
        // handing each one over as if the stream had gone quiet.
        let one = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPID|1\r";
        let input: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * 10_000)
            .collect();
        let mut r = FrameReader::new(&input[..], 1 << 20);
        let (mut messages, mut buffered) = (0, 0);
        while let Some(c) = r.next_chunk().unwrap() {
            if let Chunk::Message(_) = c {
                messages += 1;
            }
            buffered += usize::from(r.has_buffered());
        }
        assert_eq!(messages, 10_000);
        assert!(
            buffered > 8_500,
            "only {buffered} of 10000 reported buffered input"
        );
    }
}
