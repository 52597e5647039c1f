//! The parser and the zero-copy views it hands out: [`Message`], [`Segment`], [`Field`],
//! [`Repetition`], [`Component`] and [`Subcomponent`].
//!
//! Parsing makes one pass over the bytes (see [`scan`](super::scan)) and fills one [`Index`] per
//! message: a table of segments, the position of every field separator, and per 64-byte block
//! the bitmaps (one bit per byte) of repetition, component and subcomponent separators, plus
//! one marking the field ends whose field holds any of them. The index lives in the [`Parser`]
//! and is reused, so parsing a stream allocates nothing once the buffers have grown to the
//! largest message.
//!
//! Views are `Copy` and borrow the input and the index. A field without separators inside (most
//! fields) is recognised from its end mark and splits into itself at every level without a
//! scan. Any other value of at most 64 bytes reads its separators from the bitmaps once, as one
//! 64-bit word per level, and hands each part the bits of its own range: splitting is then
//! `trailing_zeros` on a register, with no memory access and no allocation. Longer values walk
//! the bitmaps a block at a time.
//!
//! Numbering follows HL7: segments, fields, repetitions, components and subcomponents all count
//! from 1. For MSH, field 1 is the field separator itself and field 2 the encoding characters.

use std::borrow::Cow;
use std::ops::Deref;

use super::charset::Charset;
use super::delimiters::{Delimiters, parse_header};
use super::escape::unescape;
use super::options::{Formatting, ParseOptions};
use super::scan::{
    BLOCK, BlockMasks, COMP, Classifier, NESTED, REP, SUB, Words, count_bits, nested_ends,
};
use crate::error::{Error, ErrorKind, Location};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One segment in the index. Offsets are from the start of the message bytes.
#[derive(Debug, Clone, Copy)]
struct SegmentEntry {
    start: u32,
    /// End of the segment's content (first terminator byte).
    end: u32,
    /// End of its terminator bytes (CR, LF, CRLF, and absorbed blank lines); `== end` when the
    /// last segment has none.
    term_end: u32,
    /// Index into `Index::separators` of this segment's first field separator.
    first_sep: u32,
    sep_count: u32,
    id: [u8; 3],
}

/// The index of one message; reused by [`Parser`] from message to message.
#[derive(Debug, Default)]
pub struct Index {
    delimiters: Delimiters,
    charset: Charset,
    options: ParseOptions,
    body_start: u32,
    segments: Vec<SegmentEntry>,
    separators: Vec<u32>,
    /// Repetition, component and subcomponent separators, one [`Words`] per 64-byte block.
    bitmaps: Vec<Words>,
}

/// Parses messages, reusing one index so a stream allocates nothing per message once warm.
///
/// ```
/// use hl7fhir::v2::Parser;
/// let mut parser = Parser::default();
/// let msg = parser.parse(b"MSH|^~\\&|LAB\rPID|1||123^^^MR~456^^^SS||Smith^John\r").unwrap();
/// let pid = msg.segments().nth(1).unwrap();
/// assert_eq!(pid.field(3).unwrap().repetition(2).unwrap().component(1).unwrap().raw(), b"456");
/// assert_eq!(pid.field(5).unwrap().component(2).unwrap().text().unwrap(), "John");
/// ```
#[derive(Debug, Default)]
pub struct Parser {
    index: Index,
}

impl Parser {
    /// A parser with the given options.
    pub fn new(options: ParseOptions) -> Parser {
        Parser {
            index: Index {
                options,
                ..Index::default()
            },
        }
    }

    /// The options this parser uses.
    pub fn options(&self) -> &ParseOptions {
        &self.index.options
    }

    /// Parses one message (the bytes from MSH, or from a BOM before it, to the end of its last
    /// segment). The returned view borrows the input and this parser until the next call.
    pub fn parse<'a>(&'a mut self, bytes: &'a [u8]) -> Result<Message<'a>, Error> {
        self.index.build(bytes)?;
        Ok(Message {
            bytes,
            index: &self.index,
        })
    }
}

/// Where the parse loop is within the current segment.
struct Cursor {
    seg_start: usize,
    /// True until the segment's id has been checked (at its first separator or terminator).
    fresh: bool,
    field_start: usize,
    first_sep: usize,
    /// Bytes before this position were consumed as part of a terminator.
    skip_until: usize,
    /// Carry of [`nested_ends`] from one block to the next.
    nested: bool,
    /// True when no field shorter than a block can break the field size or repetition
    /// limits, so fields between two separators of one block need no check.
    short_fields_pass: bool,
    max_fields: usize,
}

impl Index {
    /// The separator words of `[start, end)`, at most 64 bytes, counted from `start`: bit `i`
    /// of `[L]` marks byte `start + i`. The range may straddle two blocks.
    #[inline(always)]
    fn window(&self, start: u32, end: u32) -> Words {
        let w = (start / BLOCK as u32) as usize;
        let shift = start % BLOCK as u32;
        let lo = self.bitmaps.get(w).copied().unwrap_or_default();
        let hi = if shift + (end - start) > BLOCK as u32 {
            self.bitmaps.get(w + 1).copied().unwrap_or_default()
        } else {
            Words::default()
        };
        let keep = window_mask(end - start);
        let mut words = Words::default();
        for level in [REP, COMP, SUB] {
            let both = (u128::from(hi[level]) << BLOCK) | u128::from(lo[level]);
            words[level] = (both >> shift) as u64 & keep;
        }
        words
    }

    fn error(&self, kind: ErrorKind, reason: impl Into<String>, offset: usize) -> Error {
        Error::new(kind, reason).at_offset(offset as u64)
    }

    fn seg_location(&self, id: [u8; 3]) -> Location {
        Location::segment(self.segments.len() as u32 + 1, id)
    }

    fn build(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let opts = self.options;
        self.segments.clear();
        self.separators.clear();
        self.bitmaps.clear();
        if bytes.is_empty() {
            return Err(self.error(ErrorKind::EmptyInput, "no message bytes", 0));
        }
        // Below `u32::MAX`, so that a view's `end + 1` (its "finished" mark) cannot wrap.
        let max = opts.limits.max_message_bytes.min(u32::MAX as usize - 1);
        if bytes.len() > max {
            return Err(self.error(
                ErrorKind::LimitExceeded,
                format!("message is {} bytes, over the limit of {max}", bytes.len()),
                0,
            ));
        }
        let body_start = if bytes.starts_with(BOM) {
            if !opts.leniency.byte_order_mark {
                return Err(self.error(
                    ErrorKind::ByteOrderMark,
                    "byte-order mark before MSH (enable the byte_order_mark leniency)",
                    0,
                ));
            }
            BOM.len()
        } else {
            0
        };
        let header = parse_header(&bytes[body_start..], &opts.leniency)
            .map_err(|e| e.shift_offset(body_start as u64))?;
        self.delimiters = header.delimiters;
        self.body_start = body_start as u32;
        let classifier = Classifier::new(&header.delimiters);
        let msh2 = (body_start + 4, body_start + 4 + header.msh2_len);

        let words = bytes.len().div_ceil(BLOCK);
        self.bitmaps.reserve(words);
        let mut cur = Cursor {
            seg_start: body_start,
            fresh: true,
            field_start: body_start,
            first_sep: 0,
            skip_until: 0,
            nested: false,
            short_fields_pass: opts.limits.max_field_bytes >= BLOCK
                && opts.limits.max_repetitions >= BLOCK,
            max_fields: opts.limits.max_fields,
        };

        let (blocks, rest) = bytes.as_chunks::<BLOCK>();
        for (k, block) in blocks.iter().enumerate() {
            let masks = classifier.block(block);
            self.block(bytes, k * BLOCK, masks, 0, msh2, &mut cur)?;
        }
        if !rest.is_empty() {
            let masks = classifier.tail(rest);
            // The end of the input ends the last field as a terminator would.
            let end = 1 << rest.len();
            self.block(bytes, blocks.len() * BLOCK, masks, end, msh2, &mut cur)?;
        }
        if cur.seg_start < bytes.len() {
            self.end_segment(bytes, bytes.len(), 0, &mut cur)?;
        }
        self.charset = match self.read_charset(bytes)? {
            Charset::Ascii if opts.leniency.utf8_in_ascii => Charset::Utf8,
            cs => cs,
        };
        Ok(())
    }

    /// Records one block's masks and handles its field separators and line ends.
    #[inline(always)]
    fn block(
        &mut self,
        bytes: &[u8],
        base: usize,
        mut m: BlockMasks,
        input_end: u64,
        msh2: (usize, usize),
        cur: &mut Cursor,
    ) -> Result<(), Error> {
        if base < msh2.1 {
            // MSH-2 holds the delimiter characters themselves; they are not separators.
            let from = msh2.0.max(base) - base;
            let to = (msh2.1 - base).min(BLOCK);
            let clear = if to - from == BLOCK {
                u64::MAX
            } else {
                ((1u64 << (to - from)) - 1) << from
            };
            m.repetition &= !clear;
            m.component &= !clear;
            m.subcomponent &= !clear;
        }
        let mut words = Words::default();
        words[REP] = m.repetition;
        words[COMP] = m.component;
        words[SUB] = m.subcomponent;
        words[NESTED] = nested_ends(
            m.field | m.line | input_end,
            m.repetition | m.component | m.subcomponent,
            &mut cur.nested,
        );
        self.bitmaps.push(words);
        // Field separators up to each line end, then the line end itself.
        let mut fields = m.field;
        let mut lines = m.line;
        while lines != 0 {
            let at = lines.trailing_zeros() as usize;
            lines &= lines - 1;
            let before = fields & ((1u64 << at) - 1);
            fields ^= before;
            self.field_separators(bytes, base, before, cur)?;
            let pos = base + at;
            if pos >= cur.skip_until {
                let term = if bytes[pos] == b'\r' && bytes.get(pos + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                self.end_segment(bytes, pos, term, cur)?;
            }
        }
        self.field_separators(bytes, base, fields, cur)
    }

    /// Records the field separators `fields` of the block at `base`, all in one segment.
    #[inline(always)]
    fn field_separators(
        &mut self,
        bytes: &[u8],
        base: usize,
        mut fields: u64,
        cur: &mut Cursor,
    ) -> Result<(), Error> {
        if fields == 0 {
            return Ok(());
        }
        // The first one may end a field (or the segment id) begun before this block.
        self.field_separator(bytes, base + fields.trailing_zeros() as usize, cur)?;
        fields &= fields - 1;
        if fields == 0 {
            return Ok(());
        }
        // The others end fields inside this block, shorter than 64 bytes: unless the limits
        // are that tight, recording them is all there is to do.
        let n = fields.count_ones() as usize;
        if cur.short_fields_pass && self.separators.len() - cur.first_sep + n <= cur.max_fields {
            cur.field_start = base + (BLOCK - fields.leading_zeros() as usize);
            self.separators.reserve(n);
            while fields != 0 {
                self.separators
                    .push((base + fields.trailing_zeros() as usize) as u32);
                fields &= fields - 1;
            }
            return Ok(());
        }
        while fields != 0 {
            self.field_separator(bytes, base + fields.trailing_zeros() as usize, cur)?;
            fields &= fields - 1;
        }
        Ok(())
    }

    /// Records the field separator at `pos`, ending the segment id or the previous field.
    #[inline(always)]
    fn field_separator(&mut self, bytes: &[u8], pos: usize, cur: &mut Cursor) -> Result<(), Error> {
        if cur.fresh {
            self.check_id(bytes, cur.seg_start, pos)?;
            cur.fresh = false;
        } else {
            self.check_field(cur.field_start, pos)?;
        }
        if self.separators.len() - cur.first_sep >= self.options.limits.max_fields {
            return Err(self.field_limit(bytes, cur, pos));
        }
        self.separators.push(pos as u32);
        cur.field_start = pos + 1;
        Ok(())
    }

    #[cold]
    fn field_limit(&self, bytes: &[u8], cur: &Cursor, pos: usize) -> Error {
        let id = segment_id(bytes, cur.seg_start);
        self.error(
            ErrorKind::LimitExceeded,
            format!(
                "segment has more than {} fields",
                self.options.limits.max_fields
            ),
            pos,
        )
        .at(self.seg_location(id))
    }

    /// Ends the current segment at `pos` with a terminator of `term` bytes (0 at end of input).
    fn end_segment(
        &mut self,
        bytes: &[u8],
        pos: usize,
        term: usize,
        cur: &mut Cursor,
    ) -> Result<(), Error> {
        let opts = &self.options;
        if term > 0 && !(term == 1 && bytes[pos] == b'\r') && !opts.leniency.lf_segment_ends {
            return Err(self.line_end_error(pos, term));
        }
        if cur.fresh && pos == cur.seg_start {
            // An empty line: either absorbed into the previous terminator or an error.
            if !opts.leniency.blank_lines || self.segments.is_empty() {
                return Err(self.error(
                    ErrorKind::EmptySegment,
                    "empty line inside the message (enable the blank_lines leniency)",
                    pos,
                ));
            }
            if let Some(last) = self.segments.last_mut() {
                last.term_end = (pos + term) as u32;
            }
            cur.seg_start = pos + term;
            cur.skip_until = pos + term;
            return Ok(());
        }
        if cur.fresh {
            self.check_id(bytes, cur.seg_start, pos)?;
        } else {
            self.check_field(cur.field_start, pos)?;
        }
        if self.segments.len() >= opts.limits.max_segments {
            return Err(self.segment_limit(cur.seg_start));
        }
        self.segments.push(SegmentEntry {
            start: cur.seg_start as u32,
            end: pos as u32,
            term_end: (pos + term) as u32,
            first_sep: cur.first_sep as u32,
            sep_count: (self.separators.len() - cur.first_sep) as u32,
            id: segment_id(bytes, cur.seg_start),
        });
        cur.seg_start = pos + term;
        cur.field_start = pos + term;
        cur.first_sep = self.separators.len();
        cur.skip_until = pos + term;
        cur.fresh = true;
        Ok(())
    }

    #[cold]
    fn line_end_error(&self, pos: usize, term: usize) -> Error {
        let what = if term == 2 { "CRLF" } else { "LF" };
        self.error(
            ErrorKind::LineEnd,
            format!("segment ends with {what}, not CR (enable the lf_segment_ends leniency)"),
            pos,
        )
    }

    #[cold]
    fn segment_limit(&self, seg_start: usize) -> Error {
        let max = self.options.limits.max_segments;
        self.error(
            ErrorKind::LimitExceeded,
            format!("message has more than {max} segments"),
            seg_start,
        )
    }

    /// Checks the segment id in `bytes[start..end]`.
    #[inline]
    fn check_id(&self, bytes: &[u8], start: usize, end: usize) -> Result<(), Error> {
        let valid = match bytes.get(start..end) {
            Some(&[a, b, c]) => {
                a.is_ascii_uppercase()
                    && (b.is_ascii_uppercase() || b.is_ascii_digit())
                    && (c.is_ascii_uppercase() || c.is_ascii_digit())
                    && (&[a, b, c] != b"MSH" || self.segments.is_empty())
            }
            _ => false,
        };
        if valid {
            Ok(())
        } else {
            Err(self.id_error(bytes, start, end))
        }
    }

    #[cold]
    fn id_error(&self, bytes: &[u8], start: usize, end: usize) -> Error {
        if bytes.get(start..end) == Some(b"MSH") {
            return self
                .error(
                    ErrorKind::NestedHeader,
                    "a second MSH inside one message",
                    start,
                )
                .at(self.seg_location(*b"MSH"));
        }
        self.error(
            ErrorKind::BadSegmentId,
            "segment id is not three characters A-Z, 0-9",
            start,
        )
        .at(Location {
            segment_index: self.segments.len() as u32 + 1,
            ..Location::default()
        })
    }

    /// Checks the limits on the field that ends at `end`.
    #[inline]
    fn check_field(&self, start: usize, end: usize) -> Result<(), Error> {
        let limits = &self.options.limits;
        // A field shorter than the repetition limit cannot hold that many separators, so the
        // count (a scan of the field's bits) is only needed for long fields.
        if end - start > limits.max_field_bytes
            || (end - start >= limits.max_repetitions
                && count_bits(&self.bitmaps, REP, start, end) >= limits.max_repetitions)
        {
            return Err(self.field_error(start, end));
        }
        Ok(())
    }

    #[cold]
    fn field_error(&self, start: usize, end: usize) -> Error {
        let limits = &self.options.limits;
        if end - start > limits.max_field_bytes {
            return self.error(
                ErrorKind::LimitExceeded,
                format!(
                    "field is {} bytes, over the limit of {}",
                    end - start,
                    limits.max_field_bytes
                ),
                start,
            );
        }
        self.error(
            ErrorKind::LimitExceeded,
            format!("field has more than {} repetitions", limits.max_repetitions),
            start,
        )
    }

    /// Reads MSH-18 (first repetition) to find the character set.
    fn read_charset(&self, bytes: &[u8]) -> Result<Charset, Error> {
        let msg = Message { bytes, index: self };
        let Some(field) = msg.header().field(18) else {
            return Ok(self.options.default_charset);
        };
        let Some(rep) = field.repetition(1) else {
            return Ok(self.options.default_charset);
        };
        // The name is text, each subcomponent decoded as `text()` decodes it: with `-`, `/` or
        // space as the escape character, `UTF-8` has to be written escaped. An escape character
        // that opens no sequence stands for itself, so names written unescaped read as before.
        let d = &self.delimiters;
        let name = match d.escape {
            Some(e) if rep.raw().contains(&e) => {
                let mut name = Vec::new();
                for (i, comp) in rep.components().enumerate() {
                    if i > 0 {
                        name.push(d.component);
                    }
                    for (j, sub) in comp.subcomponents().enumerate() {
                        if j > 0 {
                            name.extend(d.subcomponent);
                        }
                        let text = unescape(sub.raw(), d, self.options.formatting, true);
                        name.extend_from_slice(&text.unwrap_or(Cow::Borrowed(sub.raw())));
                    }
                }
                Cow::Owned(name)
            }
            _ => Cow::Borrowed(rep.raw()),
        };
        if name.is_empty() {
            return Ok(self.options.default_charset);
        }
        std::str::from_utf8(&name).ok().and_then(Charset::from_msh18).ok_or_else(|| {
            Error::new(ErrorKind::UnsupportedCharset, "MSH-18 names a character set this engine does not decode (supported: ASCII, UNICODE UTF-8, 8859/1)")
                .at(field.location())
                .at_offset(field.offset() as u64)
        })
    }
}

/// The three bytes of a segment id at `start` (`?` for any past the end of the input).
#[inline]
fn segment_id(bytes: &[u8], start: usize) -> [u8; 3] {
    match bytes.get(start..start + 3) {
        Some(&[a, b, c]) => [a, b, c],
        _ => {
            let mut id = [b'?'; 3];
            for (dst, src) in id.iter_mut().zip(bytes.get(start..).unwrap_or_default()) {
                *dst = *src;
            }
            id
        }
    }
}

/// A parsed message: the input bytes and their index.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    index: &'a Index,
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("bytes", &self.bytes.len())
            .field("segments", &self.index.segments.len())
            .finish()
    }
}

impl<'a> Message<'a> {
    /// The bytes this message was parsed from.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The delimiters MSH-1 and MSH-2 declare.
    pub fn delimiters(&self) -> &'a Delimiters {
        &self.index.delimiters
    }

    /// The character set text is decoded with: MSH-18's (or the configured default when MSH-18
    /// is empty), read as UTF-8 when it is ASCII and the `utf8_in_ascii` leniency is on.
    pub fn charset(&self) -> Charset {
        self.index.charset
    }

    /// The options the message was parsed with.
    pub fn options(&self) -> &'a ParseOptions {
        &self.index.options
    }

    /// True when the bytes start with a UTF-8 byte-order mark.
    pub fn has_bom(&self) -> bool {
        self.index.body_start > 0
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.index.segments.len()
    }

    /// The segments in order.
    #[inline]
    pub fn segments(&self) -> Segments<'a> {
        Segments {
            msg: *self,
            next: 0,
            end: self.index.segments.len() as u32,
        }
    }

    /// Segment `n`, counting from 1 (segment 1 is MSH).
    pub fn segment(&self, n: usize) -> Option<Segment<'a>> {
        (n >= 1 && n <= self.index.segments.len()).then(|| Segment {
            msg: *self,
            i: (n - 1) as u32,
        })
    }

    /// The MSH segment.
    pub fn header(&self) -> Segment<'a> {
        Segment { msg: *self, i: 0 }
    }

    /// The segments whose id is `id`, in order.
    pub fn segments_with_id(&self, id: &'a str) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.segments()
            .filter(move |s| s.id_bytes() == id.as_bytes())
    }

    /// The first segment whose id is `id`.
    pub fn first(&self, id: &str) -> Option<Segment<'a>> {
        self.segments().find(|s| s.id_bytes() == id.as_bytes())
    }

    /// Decoded text of `SEG-f` of the first such segment, or `None` when absent or empty. A
    /// shorthand for header fields such as `msg.text_of("MSH", 10)`.
    pub fn text_of(&self, id: &str, field: usize) -> Option<Cow<'a, str>> {
        let f = self.first(id)?.field(field)?;
        if f.is_empty() { None } else { f.text().ok() }
    }

    fn entry(&self, i: u32) -> &'a SegmentEntry {
        &self.index.segments[i as usize]
    }
}

/// Iterator over a message's segments.
#[derive(Clone)]
pub struct Segments<'a> {
    msg: Message<'a>,
    next: u32,
    end: u32,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    #[inline]
    fn next(&mut self) -> Option<Segment<'a>> {
        (self.next < self.end).then(|| {
            self.next += 1;
            Segment {
                msg: self.msg,
                i: self.next - 1,
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Segments<'_> {}

/// One segment of a message.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    msg: Message<'a>,
    i: u32,
}

impl std::fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Segment({} #{})", self.id(), self.number())
    }
}

impl<'a> Segment<'a> {
    /// The message this segment belongs to.
    pub fn message(&self) -> Message<'a> {
        self.msg
    }

    /// The segment id, e.g. `"PID"`.
    pub fn id(&self) -> &'a str {
        // Ids are checked to be ASCII A-Z/0-9 when the message is parsed.
        std::str::from_utf8(&self.msg.entry(self.i).id).unwrap_or("???")
    }

    /// The segment id as bytes.
    pub fn id_bytes(&self) -> &'a [u8; 3] {
        &self.msg.entry(self.i).id
    }

    /// Position in the message, counting from 1.
    pub fn number(&self) -> u32 {
        self.i + 1
    }

    /// The segment's bytes without its terminator.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        let e = self.msg.entry(self.i);
        &self.msg.bytes[e.start as usize..e.end as usize]
    }

    /// The terminator bytes after the segment (CR, LF, CRLF, plus absorbed blank lines; empty
    /// for a last segment written without one).
    pub fn terminator(&self) -> &'a [u8] {
        let e = self.msg.entry(self.i);
        &self.msg.bytes[e.end as usize..e.term_end as usize]
    }

    /// Byte offset of the segment within the message.
    pub fn offset(&self) -> usize {
        self.msg.entry(self.i).start as usize
    }

    /// The location of the segment itself.
    pub fn location(&self) -> Location {
        Location::segment(self.number(), *self.id_bytes())
    }

    fn is_header(&self) -> bool {
        self.i == 0
    }

    /// How many fields the segment has (the number of the last one present).
    #[inline]
    pub fn field_count(&self) -> usize {
        let n = self.msg.entry(self.i).sep_count as usize;
        if self.is_header() { n + 1 } else { n }
    }

    /// Field `n`, counting from 1; `None` when the segment has fewer fields.
    #[inline]
    pub fn field(&self, n: usize) -> Option<Field<'a>> {
        let e = self.msg.entry(self.i);
        let seps =
            &self.msg.index.separators[e.first_sep as usize..(e.first_sep + e.sep_count) as usize];
        let (start, end) = if self.is_header() {
            match n {
                0 => return None,
                1 => (seps[0] as usize, seps[0] as usize + 1),
                _ => (
                    *seps.get(n - 2)? as usize + 1,
                    seps.get(n - 1).map_or(e.end as usize, |&s| s as usize),
                ),
            }
        } else {
            if n == 0 {
                return None;
            }
            (
                *seps.get(n - 1)? as usize + 1,
                seps.get(n).map_or(e.end as usize, |&s| s as usize),
            )
        };
        Some(Field(Value {
            msg: self.msg,
            start: start as u32,
            end: end as u32,
            loc: Coords {
                seg: self.i,
                field: n as u32,
                ..Coords::default()
            },
            words: UNKNOWN_WORDS,
            base: 0,
        }))
    }

    /// The fields in order, from field 1.
    #[inline]
    pub fn fields(&self) -> Fields<'a> {
        let e = self.msg.entry(self.i);
        let seps = self
            .msg
            .index
            .separators
            .get(e.first_sep as usize..(e.first_sep + e.sep_count) as usize)
            .unwrap_or_default();
        Fields {
            msg: self.msg,
            seg: self.i,
            seps,
            seg_end: e.end,
            next: 1,
            msh1: self.is_header(),
        }
    }
}

/// Iterator over a segment's fields, from field 1: each field runs from one separator to the
/// next (or to the segment's end).
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    msg: Message<'a>,
    seg: u32,
    /// Separators not yet passed; the next field starts after the first.
    seps: &'a [u32],
    seg_end: u32,
    /// Number of the next field, from 1.
    next: u32,
    /// True before MSH-1, the field separator itself, has been yielded.
    msh1: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    #[inline]
    fn next(&mut self) -> Option<Field<'a>> {
        let (&sep, rest) = self.seps.split_first()?;
        let (start, end) = if self.msh1 {
            self.msh1 = false;
            (sep, sep + 1)
        } else {
            self.seps = rest;
            (sep + 1, rest.first().copied().unwrap_or(self.seg_end))
        };
        self.next += 1;
        Some(Field(Value {
            msg: self.msg,
            start,
            end,
            loc: Coords {
                seg: self.seg,
                field: self.next - 1,
                ..Coords::default()
            },
            words: UNKNOWN_WORDS,
            base: 0,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.seps.len() + usize::from(self.msh1);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Fields<'_> {}

/// 0 means "not at that level"; segment is the 0-based index into the segment table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Coords {
    seg: u32,
    field: u32,
    rep: u32,
    comp: u32,
    sub: u32,
}

/// A run of bytes at some level of a message (a field, repetition, component or
/// subcomponent), with its location. [`Field`], [`Repetition`], [`Component`] and
/// [`Subcomponent`] dereference to it.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    msg: Message<'a>,
    start: u32,
    end: u32,
    loc: Coords,
    /// The separators inside `start..end`, for the levels below this value's own, when the
    /// value lies within 64 bytes of `base`: bit `i` of `words[L]` marks byte `base + i` (`L`
    /// is [`REP`], [`COMP`] or [`SUB`]). An entry of `u64::MAX` means "not known here, read
    /// the index's bitmaps" (fields start that way; 64 separators in a row read the same,
    /// which only costs a lookup). With these words splitting a value touches no memory, and a
    /// value whose word for a level is 0 is one part, found at once.
    words: Words,
    /// The byte that bit 0 of `words` stands for: the start of the value whose words were
    /// read from the bitmaps (a field, usually), kept by its parts so that theirs are its
    /// own, masked, without a shift.
    base: u32,
}

/// [`Value::words`] when nothing is known yet.
const UNKNOWN_WORDS: Words = [u64::MAX; 4];

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output is for developers, but it must not leak values into logs either.
        write!(
            f,
            "Value({} at {}, {} bytes)",
            self.location().terser(),
            self.start,
            self.end - self.start
        )
    }
}

impl<'a> Value<'a> {
    /// The only part one level down of a value known to hold no separator at that level (its
    /// word for the level is 0): the same bytes and separator words, numbered 1 at that level,
    /// exactly as splitting would give it.
    #[inline]
    fn first_part(&self, level: impl Fn(&mut Coords) -> &mut u32) -> Value<'a> {
        let mut part = *self;
        let n = level(&mut part.loc);
        *n = n.wrapping_add(1);
        part
    }

    /// The raw bytes, escapes not decoded.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        &self.msg.bytes[self.start as usize..self.end as usize]
    }

    /// True when no bytes are present.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True for the HL7 explicit null `""` (delete the value at the receiver).
    pub fn is_null(&self) -> bool {
        self.raw() == b"\"\""
    }

    /// Byte offset within the message.
    pub fn offset(&self) -> usize {
        self.start as usize
    }

    /// Where the value is, in HL7 numbering.
    pub fn location(&self) -> Location {
        Location {
            segment_index: self.loc.seg + 1,
            segment_id: self.msg.entry(self.loc.seg).id,
            field: self.loc.field,
            repetition: self.loc.rep,
            component: self.loc.comp,
            subcomponent: self.loc.sub,
        }
    }

    /// The decoded text: escapes resolved, formatting per the parse options, and bytes read in
    /// the message's character set. Borrowed when nothing needed decoding. MSH-1 and MSH-2 come
    /// back as written.
    pub fn text(&self) -> Result<Cow<'a, str>, Error> {
        self.text_with(self.msg.index.options.formatting)
    }

    /// The decoded text with an explicit choice for formatting escapes.
    pub fn text_with(&self, formatting: Formatting) -> Result<Cow<'a, str>, Error> {
        let opts = &self.msg.index.options;
        let raw = self.raw();
        if self.loc.seg == 0 && self.loc.field <= 2 {
            // MSH-1 and MSH-2 are the delimiters themselves (printable ASCII), never escaped.
            return Ok(Cow::Borrowed(std::str::from_utf8(raw).unwrap_or_default()));
        }
        // Most values are plain ASCII: no escape sequence, and nothing any supported character
        // set reads differently, so the bytes are the text.
        let escape = self.msg.index.delimiters.escape;
        if raw.is_ascii()
            && escape.is_none_or(|e| memchr::memchr(e, raw).is_none())
            && let Ok(text) = std::str::from_utf8(raw)
        {
            return Ok(Cow::Borrowed(text));
        }
        let fail = |kind, reason: &str, at: usize| {
            let e = Error::new(kind, reason)
                .at(self.location())
                .at_offset((self.start as usize + at) as u64);
            if opts.show_values {
                e.with_value(String::from_utf8_lossy(raw))
            } else {
                e
            }
        };
        let unescaped = unescape(
            raw,
            &self.msg.index.delimiters,
            formatting,
            opts.leniency.literal_bad_escapes,
        )
        .map_err(|e| fail(ErrorKind::BadEscape, e.reason, e.offset))?;
        let charset = self.msg.index.charset;
        let bad_bytes = |offset: usize| {
            fail(
                ErrorKind::BadEncoding,
                &format!("bytes are not valid {}", charset.msh18_name()),
                offset,
            )
        };
        match unescaped {
            Cow::Borrowed(b) => charset.decode(b).map_err(|e| bad_bytes(e.offset)),
            Cow::Owned(v) => charset
                .decode_owned(v)
                .map(Cow::Owned)
                .map_err(|e| bad_bytes(e.offset)),
        }
    }
}

/// Splits `[start, end)` at separator bits; always yields at least one part.
///
/// It holds a 64-bit window of separator bits still ahead: for a value of at most 64 bytes,
/// the value's own words, so splitting it touches no memory and costs no branch but the loop's
/// own; for a longer value, the index's bitmap one block at a time ([`Splitter::scan`] and
/// [`Splitter::next_scan`], out of line).
#[derive(Clone, Copy)]
struct Splitter {
    /// Separator bits not yet passed; bit `i` is byte `base + i`. Clipped to the range.
    word: u64,
    /// The value's start for a short value, else the start of the block `word` came from.
    base: u32,
    /// Start of the next part; past `end` once the last part has been yielded (messages are
    /// shorter than `u32::MAX` bytes, see `Index::build`, so `end + 1` does not wrap).
    next_start: u32,
    end: u32,
}

impl Splitter {
    /// A splitter over `[start, end)`, within 64 bytes of `base`, whose separators are
    /// `word`, counted from `base`.
    #[inline(always)]
    fn local(word: u64, base: u32, start: u32, end: u32) -> Splitter {
        Splitter {
            word,
            base,
            next_start: start,
            end,
        }
    }

    /// The next part of a short value, as `(start, end, below)`: `below` masks the window's
    /// bits before the part's end separator (all of them for the last part), for clipping the
    /// words the part inherits.
    #[inline(always)]
    fn next_local(&mut self) -> Option<(u32, u32, u64)> {
        let start = self.next_start;
        if start > self.end {
            return None;
        }
        // Without a separator left, `lowest` is 0 and the part runs to the end: written
        // without a branch, as most values have no separator at a given level.
        let lowest = self.word & self.word.wrapping_neg();
        let end = if self.word != 0 {
            self.base + self.word.trailing_zeros()
        } else {
            self.end
        };
        self.word ^= lowest;
        self.next_start = end + 1;
        Some((start, end, lowest.wrapping_sub(1)))
    }

    /// A splitter over a value longer than 64 bytes, reading bitmap `level` block by block.
    #[inline(never)]
    fn scan(bits: &[Words], level: usize, start: u32, end: u32) -> Splitter {
        let base = start - start % BLOCK as u32;
        let word = bits
            .get((base / BLOCK as u32) as usize)
            .map_or(0, |w| w[level]);
        Splitter {
            word: word & (u64::MAX << (start % BLOCK as u32)) & window_mask(end - base),
            base,
            next_start: start,
            end,
        }
    }

    /// The next part of a long value. It takes and returns the splitter by value, so the
    /// iterator holding it can stay in registers.
    #[inline(never)]
    fn next_scan(mut self, bits: &[Words], level: usize) -> (Splitter, Option<(u32, u32)>) {
        let start = self.next_start;
        if start > self.end {
            return (self, None);
        }
        while self.word == 0 && self.end - self.base > BLOCK as u32 {
            self.base += BLOCK as u32;
            let word = bits
                .get((self.base / BLOCK as u32) as usize)
                .map_or(0, |w| w[level]);
            self.word = word & window_mask(self.end - self.base);
        }
        let end = if self.word != 0 {
            self.base + self.word.trailing_zeros()
        } else {
            self.end
        };
        self.word &= self.word.wrapping_sub(1);
        self.next_start = end + 1;
        (self, Some((start, end)))
    }

    /// Skips `n` parts of a long value, counting separator bits a word at a time instead of
    /// visiting each, and returns the one after them.
    #[inline(never)]
    fn nth_scan(
        mut self,
        bits: &[Words],
        level: usize,
        n: usize,
    ) -> (Splitter, Option<(u32, u32)>) {
        // Passing `n` parts means passing `n` separators.
        let mut left = n;
        while left > 0 && self.next_start <= self.end {
            while self.word == 0 && self.end - self.base > BLOCK as u32 {
                self.base += BLOCK as u32;
                let word = bits
                    .get((self.base / BLOCK as u32) as usize)
                    .map_or(0, |w| w[level]);
                self.word = word & window_mask(self.end - self.base);
            }
            if self.word == 0 {
                self.next_start = self.end + 1;
                return (self, None);
            }
            let ones = self.word.count_ones() as usize;
            if left <= ones {
                for _ in 1..left {
                    self.word &= self.word - 1;
                }
                let p = self.base + self.word.trailing_zeros();
                self.word &= self.word - 1;
                self.next_start = p + 1;
                left = 0;
            } else {
                left -= ones;
                self.word = 0;
            }
        }
        self.next_scan(bits, level)
    }
}

/// The bits of a window for its first `len` bytes (all 64 when `len` >= 64).
#[inline(always)]
fn window_mask(len: u32) -> u64 {
    if len >= BLOCK as u32 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

macro_rules! view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'a>(Value<'a>);

        impl<'a> Deref for $name<'a> {
            type Target = Value<'a>;
            #[inline]
            fn deref(&self) -> &Value<'a> {
                &self.0
            }
        }

        impl<'a> $name<'a> {
            /// This part as a plain [`Value`].
            pub fn value(&self) -> Value<'a> {
                self.0
            }
        }
    };
}

macro_rules! parts {
    ($(#[$doc:meta])* $iter:ident, $child:ident, $level:ident, $bits:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $iter<'a> {
            msg: Message<'a>,
            loc: Coords,
            split: Splitter,
            /// Separator words of the levels below, counted from `split.base`, after the last
            /// part yielded (short values only).
            rest: Words,
            /// True for a value longer than 64 bytes: parts come from the bitmaps and find
            /// their own words.
            scan: bool,
        }

        impl<'a> $iter<'a> {
            #[inline(always)]
            fn new(parent: &Value<'a>) -> $iter<'a> {
                let (start, end) = (parent.start, parent.end);
                let mut rest = parent.words;
                let mut base = parent.base;
                if rest[$bits] == u64::MAX {
                    if end - start > BLOCK as u32 {
                        return $iter {
                            msg: parent.msg,
                            loc: parent.loc,
                            split: Splitter::scan(&parent.msg.index.bitmaps, $bits, start, end),
                            rest: UNKNOWN_WORDS,
                            scan: true,
                        };
                    }
                    rest = parent.msg.index.window(start, end);
                    base = start;
                }
                $iter {
                    msg: parent.msg,
                    loc: parent.loc,
                    split: Splitter::local(rest[$bits], base, start, end),
                    rest,
                    scan: false,
                }
            }

            #[inline(always)]
            fn part(&mut self, start: u32, end: u32, words: Words, base: u32) -> $child<'a> {
                // A message shorter than 4 GiB has fewer parts than `u32::MAX`.
                self.loc.$level = self.loc.$level.wrapping_add(1);
                $child(Value {
                    msg: self.msg,
                    start,
                    end,
                    loc: self.loc,
                    words,
                    base,
                })
            }

            #[inline(always)]
            fn next_scan(&mut self) -> Option<$child<'a>> {
                let (split, part) = self.split.next_scan(&self.msg.index.bitmaps, $bits);
                self.split = split;
                let (start, end) = part?;
                Some(self.part(start, end, UNKNOWN_WORDS, 0))
            }
        }

        impl<'a> Iterator for $iter<'a> {
            type Item = $child<'a>;

            #[inline(always)]
            fn next(&mut self) -> Option<$child<'a>> {
                if self.scan {
                    return self.next_scan();
                }
                let (start, end, below) = self.split.next_local()?;
                let words = self.rest.map(|word| word & below);
                self.rest = self.rest.map(|word| word & !below);
                Some(self.part(start, end, words, self.split.base))
            }

            /// Skips `n` parts; for a long value by counting separator bits a word at a time.
            fn nth(&mut self, n: usize) -> Option<$child<'a>> {
                if !self.scan {
                    if n == 0 {
                        return self.next();
                    }
                    if self.split.next_start > self.split.end {
                        return None;
                    }
                    // Pass `n` separators at once: part `n` starts after the n-th one, and
                    // the parts passed over take their words with them. Lookups by number
                    // (`PID-5.2`) land here, so no part before the one wanted is built.
                    let mut w = self.split.word;
                    for _ in 1..n {
                        w &= w.wrapping_sub(1);
                    }
                    if w == 0 {
                        self.split.next_start = self.split.end + 1;
                        return None;
                    }
                    let sep = w & w.wrapping_neg();
                    self.split.word = w ^ sep;
                    self.split.next_start = self.split.base + sep.trailing_zeros() + 1;
                    let passed = (sep << 1).wrapping_sub(1);
                    self.rest = self.rest.map(|word| word & !passed);
                    self.loc.$level = self
                        .loc
                        .$level
                        .wrapping_add(u32::try_from(n).unwrap_or(u32::MAX));
                    return self.next();
                }
                let (split, part) = self.split.nth_scan(&self.msg.index.bitmaps, $bits, n);
                self.split = split;
                let (start, end) = part?;
                self.loc.$level = self
                    .loc
                    .$level
                    .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                Some(self.part(start, end, UNKNOWN_WORDS, 0))
            }
        }
    };
}

view!(
    /// A field: `PID-3`. Its parts are repetitions.
    Field
);
view!(
    /// One repetition of a field: `PID-3[2]`. Its parts are components.
    Repetition
);
view!(
    /// One component: `PID-5.1`. Its parts are subcomponents.
    Component
);
view!(
    /// One subcomponent: `PID-5.1.1`.
    Subcomponent
);
parts!(
    /// The repetitions of a field, in order.
    Repetitions, Repetition, rep, REP
);
parts!(
    /// The components of a repetition, in order.
    Components, Component, comp, COMP
);
parts!(
    /// The subcomponents of a component, in order.
    Subcomponents, Subcomponent, sub, SUB
);

impl<'a> Field<'a> {
    /// The repetitions in order; an empty field has one, empty.
    #[inline(always)]
    pub fn repetitions(&self) -> Repetitions<'a> {
        Repetitions::new(&self.split_value())
    }

    /// The field as its parts are split from: a field without separators inside (most of
    /// them) splits into itself at every level, so its words are all 0; the index marks the
    /// ends of the others, so only those need their words read.
    #[inline(always)]
    fn split_value(&self) -> Value<'a> {
        let end = self.0.end;
        let nested = self.0.msg.index.bitmaps.get((end / BLOCK as u32) as usize);
        let simple = nested.is_some_and(|words| words[NESTED] >> (end % BLOCK as u32) & 1 == 0);
        Value {
            words: if simple {
                Words::default()
            } else {
                self.0.words
            },
            base: self.0.start,
            ..self.0
        }
    }

    /// Repetition `n`, counting from 1.
    pub fn repetition(&self, n: usize) -> Option<Repetition<'a>> {
        let value = self.split_value();
        // As for `Repetition::component`: a field without separators is its own repetition.
        if value.words[REP] == 0 {
            return (n == 1).then(|| Repetition(value.first_part(|loc| &mut loc.rep)));
        }
        Repetitions::new(&value).nth(n.checked_sub(1)?)
    }

    /// Component `n` of the first repetition, counting from 1.
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        self.repetition(1)?.component(n)
    }
}

impl<'a> Repetition<'a> {
    /// The components in order; an empty repetition has one, empty.
    #[inline(always)]
    pub fn components(&self) -> Components<'a> {
        Components::new(&self.0)
    }

    /// Component `n`, counting from 1.
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        // A repetition known to hold no component separator is its own first component and has
        // no other: the code of most coded values, asked for often, without setting up a split.
        if self.0.words[COMP] == 0 {
            return (n == 1).then(|| Component(self.0.first_part(|loc| &mut loc.comp)));
        }
        self.components().nth(n.checked_sub(1)?)
    }
}

impl<'a> Component<'a> {
    /// The subcomponents in order; an empty component has one, empty.
    #[inline(always)]
    pub fn subcomponents(&self) -> Subcomponents<'a> {
        Subcomponents::new(&self.0)
    }

    /// Subcomponent `n`, counting from 1.
    pub fn subcomponent(&self, n: usize) -> Option<Subcomponent<'a>> {
        // As for `Repetition::component`: no separator known inside, so it is its own first.
        if self.0.words[SUB] == 0 {
            return (n == 1).then(|| Subcomponent(self.0.first_part(|loc| &mut loc.sub)));
        }
        self.subcomponents().nth(n.checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::options::Leniency;

    fn parse_err(bytes: &[u8], opts: ParseOptions) -> String {
        Parser::new(opts)
            .parse(bytes)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn navigation() {
        let bytes = b"MSH|^~\\&|APP|FAC\rPID|1||123^^^MR&1.2&ISO~456||Smith^John\rZZ1\rOBX|1|ST|||a\\F\\b\r";
        let mut p = Parser::default();
        let m = p.parse(bytes).unwrap();
        let ids: Vec<_> = m.segments().map(|s| s.id()).collect();
        assert_eq!(ids, ["MSH", "PID", "ZZ1", "OBX"]);
        let msh = m.header();
        assert_eq!(msh.field(1).unwrap().raw(), b"|");
        assert_eq!(msh.field(2).unwrap().raw(), b"^~\\&");
        assert_eq!(msh.field(2).unwrap().repetitions().count(), 1);
        assert_eq!(msh.field(2).unwrap().component(1).unwrap().raw(), b"^~\\&");
        assert_eq!(msh.field(3).unwrap().raw(), b"APP");
        assert_eq!(msh.field_count(), 4);
        assert!(msh.field(5).is_none());
        let pid = m.segment(2).unwrap();
        assert_eq!(pid.field_count(), 5);
        let f3 = pid.field(3).unwrap();
        assert_eq!(f3.repetitions().count(), 2);
        let r1 = f3.repetition(1).unwrap();
        let comps: Vec<_> = r1.components().map(|c| c.raw()).collect();
        assert_eq!(comps, [&b"123"[..], b"", b"", b"MR&1.2&ISO"]);
        let subs: Vec<_> = r1
            .component(4)
            .unwrap()
            .subcomponents()
            .map(|s| s.raw())
            .collect();
        assert_eq!(subs, [&b"MR"[..], b"1.2", b"ISO"]);
        assert_eq!(
            r1.component(4)
                .unwrap()
                .subcomponent(2)
                .unwrap()
                .location()
                .terser(),
            "PID-3.4.2"
        );
        assert_eq!(
            f3.repetition(2)
                .unwrap()
                .component(1)
                .unwrap()
                .location()
                .terser(),
            "PID-3[2].1"
        );
        assert!(f3.repetition(3).is_none());
        assert!(f3.repetition(0).is_none());
        assert_eq!(m.segment(3).unwrap().field_count(), 0);
        assert_eq!(
            m.segment(4).unwrap().field(5).unwrap().text().unwrap(),
            "a|b"
        );
        assert_eq!(m.text_of("PID", 5).unwrap(), "Smith^John");
        assert!(matches!(
            pid.field(5).unwrap().component(1).unwrap().text().unwrap(),
            Cow::Borrowed("Smith")
        ));
    }

    #[test]
    fn first_parts_match_the_split() {
        // Short and long (over 64 bytes) values, with and without separators at each level.
        let long = "x".repeat(70);
        let text = format!(
            "MSH|^~\\&|A\rPID|1||123~4^5&6~{long}~&{long}~7^{long}&8||Smith^J&K~^|{long}\r"
        );
        let mut p = Parser::default();
        let m = p.parse(text.as_bytes()).unwrap();
        let same = |a: Option<Value<'_>>, b: Option<Value<'_>>| match (a, b) {
            (Some(a), Some(b)) => {
                assert_eq!((a.raw(), a.location()), (b.raw(), b.location()));
                // Their own parts must split alike too.
                let subs = |v: Value<'_>| -> Vec<_> {
                    Component(v)
                        .subcomponents()
                        .map(|s| (s.raw().to_vec(), s.location()))
                        .collect()
                };
                assert_eq!(subs(a), subs(b));
            }
            (a, b) => assert_eq!(a.is_some(), b.is_some()),
        };
        // Parts 1 to 3 at each level, by number and by splitting.
        for seg in m.segments() {
            for f in seg.fields() {
                for n in 1..4 {
                    let split = f.repetitions().nth(n - 1);
                    same(f.repetition(n).map(|r| r.value()), split.map(|r| r.value()));
                }
                for r in f.repetitions() {
                    for n in 1..4 {
                        let split = r.components().nth(n - 1);
                        same(r.component(n).map(|c| c.value()), split.map(|c| c.value()));
                    }
                    for c in r.components() {
                        for n in 1..4 {
                            let split = c.subcomponents().nth(n - 1);
                            same(
                                c.subcomponent(n).map(|s| s.value()),
                                split.map(|s| s.value()),
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn line_ends_and_bom() {
        let t = ParseOptions::tolerant();
        let mixed = b"\xEF\xBB\xBFMSH|^~\\&|A\nPID|1\r\nPV1|1\r\r\nOBX|1";
        let mut p = Parser::new(t);
        let m = p.parse(mixed).unwrap();
        assert!(m.has_bom());
        let terms: Vec<_> = m.segments().map(|s| s.terminator()).collect();
        assert_eq!(terms, [&b"\n"[..], b"\r\n", b"\r\r\n", b""]);
        assert_eq!(m.segment(2).unwrap().id(), "PID");

        let strict = ParseOptions::strict();
        let cases: &[(&[u8], ParseOptions, &str)] = &[
            (
                b"MSH|^~\\&|A\nPID|1",
                strict,
                "at byte 10: segment ends with LF, not CR (enable the lf_segment_ends leniency)",
            ),
            (
                b"MSH|^~\\&|A\r\nPID|1",
                strict,
                "at byte 10: segment ends with CRLF, not CR (enable the lf_segment_ends leniency)",
            ),
            (
                b"\xEF\xBB\xBFMSH|^~\\&|A",
                strict,
                "at byte 0: byte-order mark before MSH (enable the byte_order_mark leniency)",
            ),
            (
                b"MSH|^~\\&|A\r\rPID|1",
                strict,
                "at byte 11: empty line inside the message (enable the blank_lines leniency)",
            ),
            (b"", strict, "at byte 0: no message bytes"),
            (
                b"PID|1",
                strict,
                "at byte 0: message does not start with MSH",
            ),
            (
                b"MSH|^~\\&|A\rpid|1",
                strict,
                "(segment 2) at byte 11: segment id is not three characters A-Z, 0-9",
            ),
            (
                b"MSH|^~\\&|A\rPIDX|1",
                strict,
                "(segment 2) at byte 11: segment id is not three characters A-Z, 0-9",
            ),
            (
                b"MSH|^~\\&|A\rPI\r",
                strict,
                "(segment 2) at byte 11: segment id is not three characters A-Z, 0-9",
            ),
            (
                b"MSH|^~\\&|A\rMSH|^~\\&|B",
                strict,
                "MSH (segment 2) at byte 11: a second MSH inside one message",
            ),
            (
                b"MSH|^~\\&|A|||||||||||||||UNICODE UTF-16",
                strict,
                "MSH-18 (segment 1) at byte 25: MSH-18 names a character set this engine does not decode (supported: ASCII, UNICODE UTF-8, 8859/1)",
            ),
        ];
        for (bytes, opts, want) in cases {
            assert_eq!(
                parse_err(bytes, *opts),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn limits() {
        let mut o = ParseOptions::strict();
        o.limits.max_message_bytes = 10;
        assert_eq!(
            parse_err(b"MSH|^~\\&|ABCDEFG", o),
            "at byte 0: message is 16 bytes, over the limit of 10"
        );
        let mut o = ParseOptions::strict();
        o.limits.max_segments = 2;
        assert_eq!(
            parse_err(b"MSH|^~\\&\rPID\rPV1\r", o),
            "at byte 13: message has more than 2 segments"
        );
        let mut o = ParseOptions::strict();
        o.limits.max_fields = 3;
        assert_eq!(
            parse_err(b"MSH|^~\\&\rPID|1|2|3|4\r", o),
            "PID (segment 2) at byte 18: segment has more than 3 fields"
        );
        let mut o = ParseOptions::strict();
        o.limits.max_repetitions = 3;
        assert_eq!(
            parse_err(b"MSH|^~\\&\rPID|a~b~c~d|x\r", o),
            "at byte 13: field has more than 3 repetitions"
        );
        assert!(Parser::new(o).parse(b"MSH|^~\\&\rPID|a~b~c|x\r").is_ok());
        let mut o = ParseOptions::strict();
        o.limits.max_field_bytes = 4;
        assert_eq!(
            parse_err(b"MSH|^~\\&\rPID|12345\r", o),
            "at byte 13: field is 5 bytes, over the limit of 4"
        );
    }

    #[test]
    fn charset_decoding() {
        let mut p = Parser::default();
        let latin = [
            &b"MSH|^~\\&"[..],
            &b"|".repeat(16),
            b"8859/1\rPID|1||||M\xfcller\r",
        ]
        .concat();
        let m = p.parse(&latin).unwrap();
        assert_eq!(m.charset(), Charset::Latin1);
        assert_eq!(
            m.segment(2).unwrap().field(5).unwrap().text().unwrap(),
            "Müller"
        );
        let ascii = b"MSH|^~\\&\rPID|1||||M\xfcller\r";
        let m = p.parse(ascii).unwrap();
        assert_eq!(
            m.segment(2)
                .unwrap()
                .field(5)
                .unwrap()
                .text()
                .unwrap_err()
                .to_string(),
            "PID-5 (segment 2) at byte 19: bytes are not valid ASCII"
        );
    }

    #[test]
    fn values_appear_in_errors_only_when_asked() {
        let bytes = b"MSH|^~\\&\rPID|1||||Smith\\Q\\\r";
        let mut p = Parser::default();
        let e = p
            .parse(bytes)
            .unwrap()
            .segment(2)
            .unwrap()
            .field(5)
            .unwrap()
            .text()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "PID-5 (segment 2) at byte 23: unknown escape sequence"
        );
        let mut p = Parser::new(ParseOptions {
            show_values: true,
            ..ParseOptions::strict()
        });
        let e = p
            .parse(bytes)
            .unwrap()
            .segment(2)
            .unwrap()
            .field(5)
            .unwrap()
            .text()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "PID-5 (segment 2) at byte 23: unknown escape sequence \"Smith\\\\Q\\\\\""
        );
        let mut p = Parser::new(ParseOptions {
            leniency: Leniency {
                literal_bad_escapes: true,
                ..Leniency::STRICT
            },
            ..ParseOptions::strict()
        });
        assert_eq!(
            p.parse(bytes)
                .unwrap()
                .segment(2)
                .unwrap()
                .field(5)
                .unwrap()
                .text()
                .unwrap(),
            "Smith\\Q\\"
        );
    }

    #[test]
    fn delimiters_other_than_default() {
        let bytes = b"MSH#$%*!@#A$B\rPID#1%2#x$y!z#a*F*b";
        let mut p = Parser::default();
        let m = p.parse(bytes).unwrap();
        assert_eq!(m.header().field(2).unwrap().raw(), b"$%*!@");
        let pid = m.segment(2).unwrap();
        assert_eq!(pid.field(1).unwrap().repetitions().count(), 2);
        assert_eq!(
            pid.field(2)
                .unwrap()
                .component(2)
                .unwrap()
                .subcomponent(2)
                .unwrap()
                .raw(),
            b"z"
        );
        assert_eq!(pid.field(3).unwrap().text().unwrap(), "a#b");
        let no_escape = b"MSH|^~|A\rPID|a\\F\\b^c&d";
        let m = p.parse(no_escape).unwrap();
        let f = m.segment(2).unwrap().field(1).unwrap();
        assert_eq!(f.text().unwrap(), "a\\F\\b^c&d");
        assert_eq!(f.component(1).unwrap().text().unwrap(), "a\\F\\b");
        assert_eq!(f.component(2).unwrap().subcomponents().count(), 1);
    }
}
