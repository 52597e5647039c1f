//! Parse options: which leniencies are on, the limits against hostile input, how escapes and
//! character sets are decoded, and whether error text may quote values.
//!
//! The library's default ([`ParseOptions::strict`]) follows the standard; every tolerance for
//! messy real-world feeds is a named flag in [`Leniency`], and [`ParseOptions::tolerant`] turns
//! on the set that real feeds need (the command line's default).

use super::charset::Charset;

/// Named tolerances for deviations from the HL7 v2 standard seen in real feeds.
///
/// Each flag is off in [`Leniency::STRICT`] and on in [`Leniency::TOLERANT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leniency {
    /// Accept LF and CRLF as segment terminators, not only CR. The terminator bytes are kept
    /// per segment, so a message with mixed line ends still round-trips byte for byte.
    pub lf_segment_ends: bool,
    /// Accept a UTF-8 byte-order mark (EF BB BF) before MSH; it is kept for the exact round
    /// trip and dropped by the normalising encoder.
    pub byte_order_mark: bool,
    /// Accept empty lines between segments inside one message; they are kept as part of the
    /// preceding segment's terminator.
    pub blank_lines: bool,
    /// Read MSH-2 `^~\\&` (a doubled escape character, a common artefact of source code that
    /// forgot to unescape a string literal) as `^~\&` with no truncation character. Strictly it
    /// would name the escape character twice, which is an error.
    pub doubled_escape_in_msh2: bool,
    /// Keep a malformed escape sequence (no closing escape character, unknown letter, bad hex)
    /// as literal text instead of failing to decode the value.
    pub literal_bad_escapes: bool,
    /// Read bytes above 0x7F in a message whose character set is ASCII (declared in MSH-18 or
    /// by default) as UTF-8 when they are valid UTF-8: senders often declare ASCII and send
    /// UTF-8. Bytes that are not valid UTF-8 are still an error, never guessed at.
    pub utf8_in_ascii: bool,
}

impl Leniency {
    /// The standard, with no tolerance.
    pub const STRICT: Leniency = Leniency {
        lf_segment_ends: false,
        byte_order_mark: false,
        blank_lines: false,
        doubled_escape_in_msh2: false,
        literal_bad_escapes: false,
        utf8_in_ascii: false,
    };

    /// Every tolerance on.
    pub const TOLERANT: Leniency = Leniency {
        lf_segment_ends: true,
        byte_order_mark: true,
        blank_lines: true,
        doubled_escape_in_msh2: true,
        literal_bad_escapes: true,
        utf8_in_ascii: true,
    };
}

impl Default for Leniency {
    fn default() -> Leniency {
        Leniency::STRICT
    }
}

/// Limits that bound the memory and time one message can take. Each breach is an
/// [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded) error naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, in bytes (at most `u32::MAX`). Default 16 MiB.
    pub max_message_bytes: usize,
    /// Most segments in one message. Default 100,000.
    pub max_segments: usize,
    /// Most fields in one segment. Default 1,000.
    pub max_fields: usize,
    /// Largest single field, in bytes. Default 8 MiB.
    pub max_field_bytes: usize,
    /// Most repetitions of one field. Default 10,000.
    pub max_repetitions: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 16 << 20,
            max_segments: 100_000,
            max_fields: 1_000,
            max_field_bytes: 8 << 20,
            max_repetitions: 10_000,
        }
    }
}

/// What decoding does with the formatting escapes of FT and TX values (`\.br\`, `\.sp\`,
/// `\.in\`, `\.ti\`, `\.sk\`, `\.ce\`, `\.fi\`, `\.nf\`) and highlighting (`\H\`, `\N\`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formatting {
    /// Render as plain text: `\.br\` is a line feed, `\.sp n\` is n line feeds (1 when n is
    /// absent), `\.sk n\` is n spaces, `\.ce\` ends the line before it (a line feed, unless
    /// none is needed); the other formatting commands and `\H\`/`\N\` are removed.
    #[default]
    Render,
    /// Keep the escape sequences as they were written, e.g. the five characters `\.br\`.
    Keep,
}

/// Everything that controls parsing and decoding.
///
/// ```
/// use hl7fhir::v2::{ParseOptions, Parser};
/// let mut parser = Parser::new(ParseOptions::tolerant());
/// let msg = parser.parse(b"MSH|^~\\&|A\nPID|1\n").unwrap();
/// assert_eq!(msg.segments().count(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Named tolerances; see [`Leniency`].
    pub leniency: Leniency,
    /// Limits against hostile input.
    pub limits: Limits,
    /// What to do with formatting escapes when decoding text.
    pub formatting: Formatting,
    /// Character set assumed when MSH-18 is empty. HL7 says ASCII; a site whose senders leave
    /// MSH-18 empty but send UTF-8 sets it here.
    pub default_charset: Charset,
    /// Quote offending values in error text. Off by default: values are patient data.
    pub show_values: bool,
}

impl ParseOptions {
    /// The standard, strictly: CR segment ends only, no BOM, no blank lines, every escape well
    /// formed. This is the library's default.
    pub fn strict() -> ParseOptions {
        ParseOptions {
            leniency: Leniency::STRICT,
            limits: Limits::default(),
            formatting: Formatting::Render,
            default_charset: Charset::Ascii,
            show_values: false,
        }
    }

    /// Every named tolerance on ([`Leniency::TOLERANT`]); the command line's default.
    pub fn tolerant() -> ParseOptions {
        ParseOptions {
            leniency: Leniency::TOLERANT,
            ..ParseOptions::strict()
        }
    }
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions::strict()
    }
}
