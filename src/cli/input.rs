//! Splitting standard input (or files) into the inputs a subcommand works on: HL7 v2 messages
//! in any framing, or JSON records (NDJSON lines or whole JSON documents one after another), or
//! text lines. Every byte ends up in exactly one [`Item`], so nothing is lost silently.

use std::io::Read;

use crate::error::{Error, ErrorKind};
use crate::v2::{Chunk, FrameReader};

/// One piece of input.
#[derive(Debug)]
pub(crate) enum Item {
    /// An input to translate.
    Record {
        /// Its stream offset.
        offset: u64,
        /// Framing bytes before it (MLLP start byte).
        leading: Vec<u8>,
        /// The input itself.
        bytes: Vec<u8>,
        /// Framing bytes after it (MLLP end bytes).
        trailing: Vec<u8>,
    },
    /// Bytes between inputs (blank lines, batch envelopes), kept for `roundtrip`.
    Between(Vec<u8>),
    /// Bytes that are no input: an error record of their own.
    Invalid {
        /// Stream offset.
        offset: u64,
        /// Why.
        error: Error,
    },
}

/// A source of items.
pub(crate) trait Source: Send {
    /// The next item, `None` at the end.
    fn next_item(&mut self) -> Result<Option<Item>, Error>;

    /// True when input is already buffered, so the next item may come without waiting on a
    /// read. The driver sends what it has gathered before a read that might block.
    fn has_buffered(&self) -> bool {
        false
    }
}

/// HL7 v2 messages in any framing.
pub(crate) struct Hl7Source<R> {
    reader: FrameReader<R>,
}

impl<R: Read> Hl7Source<R> {
    pub(crate) fn new(r: R, max: usize) -> Hl7Source<R> {
        Hl7Source {
            reader: FrameReader::new(r, max),
        }
    }
}

impl<R: Read + Send> Source for Hl7Source<R> {
    fn has_buffered(&self) -> bool {
        self.reader.has_buffered()
    }

    fn next_item(&mut self) -> Result<Option<Item>, Error> {
        Ok(self.reader.next_chunk()?.map(|chunk| match chunk {
            Chunk::Message(m) => Item::Record {
                offset: m.offset,
                leading: m.leading.to_vec(),
                bytes: m.message.to_vec(),
                trailing: m.trailing.to_vec(),
            },
            Chunk::Filler(b) | Chunk::Envelope { bytes: b, .. } => Item::Between(b.to_vec()),
            Chunk::Invalid { offset, error, .. } => Item::Invalid { offset, error },
        }))
    }
}

/// JSON values one after another: NDJSON, or pretty-printed documents, or both. A value ends
/// where its outermost bracket closes; text that does not start a JSON object or array is an
/// invalid record up to the end of its line. Values deeper than `max_depth` or larger than
/// `max_bytes` are skipped as invalid records, with bounded memory.
pub(crate) struct JsonSource<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    offset: u64,
    eof: bool,
    max_bytes: usize,
    max_depth: usize,
}

impl<R: Read> JsonSource<R> {
    pub(crate) fn new(src: R, max_bytes: usize, max_depth: usize) -> JsonSource<R> {
        JsonSource {
            src,
            buf: Vec::new(),
            start: 0,
            offset: 0,
            eof: false,
            max_bytes,
            max_depth,
        }
    }

    /// Reads more input; false at the end.
    fn fill(&mut self) -> Result<bool, Error> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.src.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::new(ErrorKind::Io, format!("reading input: {e}"))),
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let v = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        self.offset += n as u64;
        v
    }

    /// Drops bytes up to `n` past `start` (they were part of an invalid record).
    fn skip(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}

impl<R: Read + Send> Source for JsonSource<R> {
    fn has_buffered(&self) -> bool {
        self.start < self.buf.len()
    }

    fn next_item(&mut self) -> Result<Option<Item>, Error> {
        // Whitespace between values.
        loop {
            let rest = &self.buf[self.start..];
            let ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if ws > 0 {
                return Ok(Some(Item::Between(self.take(ws))));
            }
            if !rest.is_empty() {
                break;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
        let offset = self.offset;
        let first = self.buf[self.start];
        if first != b'{' && first != b'[' {
            // Not JSON: up to the end of the line.
            loop {
                if let Some(p) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                    self.skip(p + 1);
                    break;
                }
                let n = self.buf.len() - self.start;
                self.skip(n);
                if !self.fill()? {
                    break;
                }
            }
            return Ok(Some(Item::Invalid {
                offset,
                error: Error::new(
                    ErrorKind::BadFhir,
                    "input is not JSON: a FHIR resource starts with `{`",
                )
                .at_offset(offset),
            }));
        }
        let (mut depth, mut in_string, mut escaped, mut at) = (0usize, false, false, 0usize);
        let (mut too_deep, mut line_start) = (false, false);
        // The last byte outside strings that was not white space (`"` for a string's end):
        // after `[`, `,` or `:` a value may start.
        let mut last = b'{';
        // Where the first line opening with `{` inside the open value starts, when a value
        // could start there: see `cut_short`.
        let mut next_request: Option<usize> = None;
        let cut_short = |src: &mut Self, at: usize| {
            src.skip(at);
            Ok(Some(Item::Invalid {
                offset,
                error: Error::new(
                    ErrorKind::BadFhir,
                    "JSON value ends before its closing bracket",
                )
                .at_offset(offset),
            }))
        };
        loop {
            let bytes = &self.buf[self.start..];
            while at < bytes.len() {
                let b = bytes[at];
                at += 1;
                if b == b'{' && line_start && depth > 0 && !too_deep {
                    // In NDJSON each request starts a line: a line opening with `{` while a
                    // value is still open is the next request when no value could start there
                    // (after a complete value, or inside a string: a raw line break cannot be
                    // in one), and the open one was cut short. Where a value could start (a
                    // Bundle's entries written from the first column), it is taken as part of
                    // the open value, and remembered: should that value never close, it was
                    // cut short there, and the requests from that line on are read again.
                    // Without this, one truncated line would swallow every request after it.
                    if in_string || !matches!(last, b'[' | b',' | b':') {
                        return cut_short(self, next_request.unwrap_or(at - 1));
                    }
                    next_request.get_or_insert(at - 1);
                }
                line_start = b == b'\n';
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => {
                            in_string = false;
                            last = b'"';
                        }
                        _ => {}
                    }
                    continue;
                }
                if !b.is_ascii_whitespace() {
                    last = b;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => {
                        depth += 1;
                        too_deep |= depth > self.max_depth;
                    }
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            if too_deep {
                                self.skip(at);
                                return Ok(Some(Item::Invalid {
                                    offset,
                                    error: Error::new(
                                        ErrorKind::LimitExceeded,
                                        format!(
                                            "JSON nested deeper than {} levels; skipped",
                                            self.max_depth
                                        ),
                                    )
                                    .at_offset(offset),
                                }));
                            }
                            return Ok(Some(Item::Record {
                                offset,
                                leading: Vec::new(),
                                bytes: self.take(at),
                                trailing: Vec::new(),
                            }));
                        }
                    }
                    _ => {}
                }
            }
            if at > self.max_bytes
                && let Some(cut) = next_request
            {
                return cut_short(self, cut);
            }
            if at > self.max_bytes || too_deep {
                // Discard what we have and keep scanning for the end with bounded memory.
                self.skip(at);
                at = 0;
                next_request = None;
                too_deep = true;
            }
            if !self.fill()? {
                if let Some(cut) = next_request {
                    return cut_short(self, cut);
                }
                let n = self.buf.len() - self.start;
                self.skip(n);
                let reason = if too_deep {
                    "JSON value too large or too deeply nested; skipped"
                } else {
                    "JSON value ends before its closing bracket"
                };
                return Ok(Some(Item::Invalid {
                    offset,
                    error: Error::new(ErrorKind::BadFhir, reason).at_offset(offset),
                }));
            }
        }
    }
}

/// Text lines (FHIR search URLs); blank lines are `Between`.
pub(crate) struct LineSource<R> {
    inner: std::io::BufReader<R>,
    offset: u64,
    max_bytes: usize,
}

impl<R: Read> LineSource<R> {
    pub(crate) fn new(r: R, max_bytes: usize) -> LineSource<R> {
        LineSource {
            inner: std::io::BufReader::new(r),
            offset: 0,
            max_bytes,
        }
    }
}

impl<R: Read + Send> Source for LineSource<R> {
    fn next_item(&mut self) -> Result<Option<Item>, Error> {
        use std::io::BufRead;
        let mut line = Vec::new();
        let n = (&mut self.inner)
            .take(self.max_bytes as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::new(ErrorKind::Io, format!("reading input: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        let offset = self.offset;
        self.offset += n as u64;
        if n > self.max_bytes {
            // Skip the rest of an overlong line.
            let mut sink = Vec::new();
            let more = self.inner.read_until(b'\n', &mut sink).unwrap_or(0);
            self.offset += more as u64;
            return Ok(Some(Item::Invalid {
                offset,
                error: Error::new(
                    ErrorKind::LimitExceeded,
                    "line longer than the input limit; skipped",
                )
                .at_offset(offset),
            }));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Item::Between(line)));
        }
        Ok(Some(Item::Record {
            offset,
            leading: Vec::new(),
            bytes: line,
            trailing: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(src: &mut dyn Source) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(i) = src.next_item().unwrap() {
            out.push(match i {
                Item::Record { offset, bytes, .. } => {
                    format!("R@{offset}:{}", String::from_utf8_lossy(&bytes))
                }
                Item::Between(b) => format!("B:{}", b.len()),
                Item::Invalid { offset, error } => format!("I@{offset}:{}", error.reason()),
            });
        }
        out
    }

    #[test]
    fn json_records() {
        let input = b"{\"a\":1}\n{\"b\":\"}{\"}\n  [1,\n 2]\nnot json\n{\"c\":[[[[1]]]]}\n{\"cut\":[\n{\"d\":\"x\n{\"e\":{\n  \"f\": {}\n}}\n{\"open\":";
        let got = items(&mut JsonSource::new(&input[..], 1 << 20, 3));
        assert_eq!(
            got,
            [
                "R@0:{\"a\":1}",
                "B:1",
                "R@8:{\"b\":\"}{\"}",
                "B:3",
                "R@21:[1,\n 2]",
                "B:1",
                "I@29:input is not JSON: a FHIR resource starts with `{`",
                "I@38:JSON nested deeper than 3 levels; skipped",
                "B:1",
                "I@54:JSON value ends before its closing bracket",
                "I@63:JSON value ends before its closing bracket",
                "R@71:{\"e\":{\n  \"f\": {}\n}}",
                "B:1",
                "I@91:JSON value ends before its closing bracket",
            ]
        );
    }

    #[test]
    fn values_may_open_lines_inside_a_value_and_a_value_cut_short_loses_no_request() {
        // Entries written from the first column are part of the open Bundle: after `[` or
        // `,` a value may start there.
        let bundle = b"{\"entry\": [\n{\"a\": 1},\n{\"b\": {\n\"c\": [\n{}]}}\n]}\n{\"d\":2}";
        let got = items(&mut JsonSource::new(&bundle[..], 1 << 20, 8));
        assert_eq!(
            got,
            [
                "R@0:{\"entry\": [\n{\"a\": 1},\n{\"b\": {\n\"c\": [\n{}]}}\n]}",
                "B:1",
                "R@46:{\"d\":2}"
            ]
        );
        // An NDJSON line cut where a value could start (after `[` or `,`): the lines after it
        // never close it, so it was cut short at the first of them, and they are read again,
        // each a request of its own. Likewise when a line after it shows the cut plainly.
        let cut = b"{\"name\":[\n{\"id\":1}\n{\"id\":2}\n";
        let got = items(&mut JsonSource::new(&cut[..], 1 << 20, 8));
        assert_eq!(
            got,
            [
                "I@0:JSON value ends before its closing bracket",
                "R@10:{\"id\":1}",
                "B:1",
                "R@19:{\"id\":2}",
                "B:1"
            ]
        );
        let cut_then_plain = b"{\"a\":[1,\n{\"id\":1}\n\"x\"\n{\"id\":2}";
        let got = items(&mut JsonSource::new(&cut_then_plain[..], 1 << 20, 8));
        assert_eq!(
            got,
            [
                "I@0:JSON value ends before its closing bracket",
                "R@9:{\"id\":1}",
                "B:1",
                "I@18:input is not JSON: a FHIR resource starts with `{`",
                "R@22:{\"id\":2}"
            ]
        );
        // Past the size limit, the requests after the cut are read again as well.
        let mut long = b"{\"a\":[\n".to_vec();
        long.extend(std::iter::repeat_n(b"{\"id\":1}\n".as_slice(), 20).flatten());
        let got = items(&mut JsonSource::new(&long[..], 64, 8));
        assert_eq!(got[0], "I@0:JSON value ends before its closing bracket");
        assert_eq!(got.iter().filter(|g| g.starts_with('R')).count(), 20);
    }

    proptest::proptest! {
        /// Whatever the bytes, reading them ends, every request read is the input's own bytes
        /// at its offset, and the items follow one another through the input.
        #[test]
        fn json_items_follow_the_input(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "{", "}", "[", "]", "\"", "\\", ",", ":", "\n", "a", " ", "1", "{\"a\":[",
                ]),
                0..60,
            ),
            max_bytes in 8usize..64,
        ) {
            let input = pieces.concat().into_bytes();
            let mut src = JsonSource::new(&input[..], max_bytes, 4);
            let mut at = 0u64;
            while let Some(item) = src.next_item().unwrap() {
                match item {
                    Item::Record { offset, bytes, .. } => {
                        proptest::prop_assert!(offset >= at);
                        let start = offset as usize;
                        proptest::prop_assert_eq!(&input[start..start + bytes.len()], &bytes[..]);
                        at = offset + bytes.len() as u64;
                    }
                    Item::Invalid { offset, .. } => {
                        proptest::prop_assert!(offset >= at);
                        at = offset + 1;
                    }
                    Item::Between(b) => at += b.len() as u64,
                }
                proptest::prop_assert!(at <= input.len() as u64);
            }
        }
    }

    #[test]
    fn lines() {
        let got = items(&mut LineSource::new(
            &b"Patient?family=X\n\nPatient?given=Y"[..],
            100,
        ));
        assert_eq!(
            got,
            ["R@0:Patient?family=X\n", "B:1", "R@18:Patient?given=Y"]
        );
    }
}
