//! The one error type of the crate: what went wrong ([`ErrorKind`]), where in the input (byte
//! offset and HL7 location, or FHIR path, or mapping table row), and a short reason.
//!
//! An [`Error`] is one `Box` so that `Result<T, Error>` stays two words. Error text never carries
//! patient data: values from the message are only attached when the caller asked for them
//! ([`Error::with_value`] is called only under a `show_values` option), so that logs and error
//! records can be shipped without scrubbing.

use std::fmt;

/// What went wrong, as a stable category.
///
/// Each kind has a snake_case [`code`](ErrorKind::code) used in JSON error records; the codes
/// are part of the command line's documented output and do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input held no bytes where a message was expected.
    EmptyInput,
    /// The first segment is not MSH (or FHS/BHS for batch envelopes, handled by the framer).
    MissingHeader,
    /// MSH-1/MSH-2 do not define a usable set of delimiters.
    BadDelimiters,
    /// A segment id is not three characters `[A-Z][A-Z0-9]{2}`.
    BadSegmentId,
    /// An empty line inside a message (allowed only with the `blank_lines` leniency).
    EmptySegment,
    /// A segment ended with LF or CRLF while the parser only accepts CR.
    LineEnd,
    /// A UTF-8 byte-order mark before MSH while the parser does not accept one.
    ByteOrderMark,
    /// A second MSH segment inside one message.
    NestedHeader,
    /// A configured limit (message size, segments, fields, repetitions, field size) was exceeded.
    LimitExceeded,
    /// A malformed escape sequence (unterminated, unknown, or bad hex).
    BadEscape,
    /// Bytes that are not valid in the message's character set.
    BadEncoding,
    /// MSH-18 names a character set this engine cannot decode.
    UnsupportedCharset,
    /// Text that cannot be written with the message's delimiters or character set.
    Unrepresentable,
    /// Bytes between messages that are neither a message nor framing (MLLP, batch envelope).
    Framing,
    /// A terser path such as `PID-3[2].1` that does not parse.
    BadPath,
    /// An I/O error while reading or writing a stream.
    Io,
    /// A value of the wrong shape for its HL7 data type (date, number, coded value).
    BadValue,
    /// A segment or field the message structure requires is absent.
    MissingRequired,
    /// MSH-9 names a message type or event that no mapping covers.
    UnsupportedEvent,
    /// A mapping table (file and line) is malformed or refers to something unknown.
    Mapping,
    /// FHIR input that is not valid JSON, not FHIR, or not a supported combination of resources.
    BadFhir,
    /// A re-encoded message did not reproduce its input bytes.
    RoundTrip,
    /// A query or search that cannot be expressed in the target protocol.
    Unsupported,
}

impl ErrorKind {
    /// The stable snake_case name used in JSON error records, e.g. `"bad_escape"`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::EmptyInput => "empty_input",
            ErrorKind::MissingHeader => "missing_header",
            ErrorKind::BadDelimiters => "bad_delimiters",
            ErrorKind::BadSegmentId => "bad_segment_id",
            ErrorKind::EmptySegment => "empty_segment",
            ErrorKind::LineEnd => "line_end",
            ErrorKind::ByteOrderMark => "byte_order_mark",
            ErrorKind::NestedHeader => "nested_header",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::BadEscape => "bad_escape",
            ErrorKind::BadEncoding => "bad_encoding",
            ErrorKind::UnsupportedCharset => "unsupported_charset",
            ErrorKind::Unrepresentable => "unrepresentable",
            ErrorKind::Framing => "framing",
            ErrorKind::BadPath => "bad_path",
            ErrorKind::Io => "io",
            ErrorKind::BadValue => "bad_value",
            ErrorKind::MissingRequired => "missing_required",
            ErrorKind::UnsupportedEvent => "unsupported_event",
            ErrorKind::Mapping => "mapping",
            ErrorKind::BadFhir => "bad_fhir",
            ErrorKind::RoundTrip => "round_trip",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// Where in an HL7 v2 message something is, as HL7 counts: every number starts at 1, and 0
/// means "not that deep" (a location at field level has `component == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based position of the segment within the message.
    pub segment_index: u32,
    /// The segment id, e.g. `*b"PID"`.
    pub segment_id: [u8; 3],
    /// Field number (MSH-1 is the field separator itself).
    pub field: u32,
    /// Repetition number within the field.
    pub repetition: u32,
    /// Component number within the repetition.
    pub component: u32,
    /// Subcomponent number within the component.
    pub subcomponent: u32,
}

impl Location {
    /// A location at segment level: `Location::segment(3, *b"PID")` is "segment 3, PID".
    pub fn segment(segment_index: u32, segment_id: [u8; 3]) -> Location {
        Location {
            segment_index,
            segment_id,
            ..Location::default()
        }
    }

    /// The numbers, outermost first: segment, field, repetition, component, subcomponent.
    /// Compared as arrays they follow the message's order, a part before its own parts.
    pub fn numbers(&self) -> [u32; 5] {
        [
            self.segment_index,
            self.field,
            self.repetition,
            self.component,
            self.subcomponent,
        ]
    }

    /// The segment id as text (`"PID"`); ids are checked to be ASCII when parsed.
    pub fn segment_id_str(&self) -> &str {
        if self.segment_id == [0; 3] {
            return "";
        }
        std::str::from_utf8(&self.segment_id).unwrap_or("???")
    }

    /// The terser form of this location, e.g. `PID-3[2].1`: HL7 numbering, the repetition shown
    /// only when it is not the first.
    pub fn terser(&self) -> String {
        let mut s = String::from(self.segment_id_str());
        if self.field > 0 {
            s.push_str(&format!("-{}", self.field));
            if self.repetition > 1 {
                s.push_str(&format!("[{}]", self.repetition));
            }
            if self.component > 0 {
                s.push_str(&format!(".{}", self.component));
                if self.subcomponent > 0 {
                    s.push_str(&format!(".{}", self.subcomponent));
                }
            }
        }
        s
    }
}

/// A mapping table row: the file name as the table set knows it, and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// File name relative to the mapping directory, e.g. `segments/PID.csv`.
    pub file: String,
    /// 1-based line number within the file (0 when the error is about the whole file).
    pub line: u32,
}

/// The crate's error: a kind, where it happened, and a reason without patient data.
///
/// ```
/// use hl7fhir::{Error, ErrorKind, Location};
/// let e = Error::new(ErrorKind::BadValue, "invalid date")
///     .at_offset(212)
///     .at(Location { field: 7, ..Location::segment(3, *b"PID") });
/// assert_eq!(e.to_string(), "PID-7 (segment 3) at byte 212: invalid date");
/// ```
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    reason: String,
    offset: Option<u64>,
    location: Option<Location>,
    fhir_path: Option<String>,
    table: Option<TableRow>,
    value: Option<String>,
}

impl Error {
    /// A new error of `kind` with a reason that must not contain patient data.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            reason: reason.into(),
            offset: None,
            location: None,
            fhir_path: None,
            table: None,
            value: None,
        }))
    }

    /// Sets the byte offset (from the start of the message, or of the stream for framing errors).
    pub fn at_offset(mut self, offset: u64) -> Error {
        self.0.offset = Some(offset);
        self
    }

    /// Sets the HL7 location.
    pub fn at(mut self, location: Location) -> Error {
        self.0.location = Some(location);
        self
    }

    /// Sets the FHIR path (e.g. `Bundle.entry[2].resource.birthDate`).
    pub fn at_fhir_path(mut self, path: impl Into<String>) -> Error {
        self.0.fhir_path = Some(path.into());
        self
    }

    /// Sets the mapping table row the error is about.
    pub fn in_table(mut self, file: impl Into<String>, line: u32) -> Error {
        self.0.table = Some(TableRow {
            file: file.into(),
            line,
        });
        self
    }

    /// Attaches the offending value. Call this only when the user asked to see values
    /// (`--show-values`): the value is printed with the error.
    pub fn with_value(mut self, value: impl Into<String>) -> Error {
        self.0.value = Some(value.into());
        self
    }

    /// Adds to the byte offset; used when an error found inside a message is reported against
    /// the whole stream.
    pub fn shift_offset(mut self, by: u64) -> Error {
        if let Some(o) = self.0.offset.as_mut() {
            *o += by;
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The reason, without location.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// Byte offset, if known.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// HL7 location, if known.
    pub fn location(&self) -> Option<&Location> {
        self.0.location.as_ref()
    }

    /// FHIR path, if known.
    pub fn fhir_path(&self) -> Option<&str> {
        self.0.fhir_path.as_deref()
    }

    /// Mapping table row, if the error is about a table.
    pub fn table(&self) -> Option<&TableRow> {
        self.0.table.as_ref()
    }

    /// The offending value, present only when attached under `show_values`.
    pub fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote_place = false;
        if let Some(t) = &self.0.table {
            if t.line > 0 {
                write!(f, "{}:{}", t.file, t.line)?;
            } else {
                write!(f, "{}", t.file)?;
            }
            wrote_place = true;
        }
        if let Some(loc) = &self.0.location {
            if wrote_place {
                f.write_str(" ")?;
            }
            let terser = loc.terser();
            f.write_str(&terser)?;
            if loc.segment_index > 0 {
                let gap = if terser.is_empty() { "" } else { " " };
                write!(f, "{gap}(segment {})", loc.segment_index)?;
            }
            wrote_place = true;
        }
        if let Some(p) = &self.0.fhir_path {
            if wrote_place {
                f.write_str(" ")?;
            }
            f.write_str(p)?;
            wrote_place = true;
        }
        if let Some(o) = self.0.offset {
            if wrote_place {
                f.write_str(" ")?;
            }
            write!(f, "at byte {o}")?;
            wrote_place = true;
        }
        if wrote_place {
            f.write_str(": ")?;
        }
        f.write_str(&self.0.reason)?;
        if let Some(v) = &self.0.value {
            write!(f, " {v:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_cases() {
        let cases: Vec<(Error, &str)> = vec![
            (Error::new(ErrorKind::EmptyInput, "no bytes"), "no bytes"),
            (
                Error::new(ErrorKind::Framing, "unterminated MLLP frame").at_offset(9),
                "at byte 9: unterminated MLLP frame",
            ),
            (
                Error::new(ErrorKind::BadValue, "invalid date")
                    .at(Location {
                        field: 7,
                        ..Location::segment(3, *b"PID")
                    })
                    .at_offset(212)
                    .with_value("20081306"),
                "PID-7 (segment 3) at byte 212: invalid date \"20081306\"",
            ),
            (
                Error::new(ErrorKind::BadEscape, "unterminated escape").at(Location {
                    field: 3,
                    repetition: 2,
                    component: 1,
                    subcomponent: 2,
                    ..Location::segment(2, *b"PID")
                }),
                "PID-3[2].1.2 (segment 2): unterminated escape",
            ),
            (
                Error::new(ErrorKind::Mapping, "unknown segment ZZZ")
                    .in_table("segments/PID.csv", 12),
                "segments/PID.csv:12: unknown segment ZZZ",
            ),
            (
                Error::new(ErrorKind::BadFhir, "expected a string")
                    .at_fhir_path("Patient.birthDate"),
                "Patient.birthDate: expected a string",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn error_is_one_word() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
