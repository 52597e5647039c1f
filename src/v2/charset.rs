//! Character sets named in MSH-18 and the conversion of message bytes to UTF-8 text and back.
//!
//! Decoding borrows when it can: ASCII and UTF-8 bytes that are valid come back as
//! `Cow::Borrowed`; ISO 8859-1 borrows when every byte is ASCII. A set this module does not know
//! is an error at parse time, never a guess.

use std::borrow::Cow;

/// A character set this engine decodes (HL7 table 0211 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    /// `ASCII`: 7-bit; any byte above 0x7F is an error.
    #[default]
    Ascii,
    /// `UNICODE UTF-8` (also accepted: `UTF-8`, `UTF8`).
    Utf8,
    /// `8859/1`: ISO 8859-1 (Latin-1), one byte per character.
    Latin1,
}

/// Why bytes could not be decoded: the offset of the first bad byte within the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub offset: usize,
}

impl Charset {
    /// The charset an MSH-18 value names, or `None` when this engine does not support it.
    ///
    /// ```
    /// use hl7fhir::v2::Charset;
    /// assert_eq!(Charset::from_msh18("8859/1"), Some(Charset::Latin1));
    /// assert_eq!(Charset::from_msh18("UNICODE UTF-8"), Some(Charset::Utf8));
    /// assert_eq!(Charset::from_msh18("ISO IR87"), None);
    /// ```
    pub fn from_msh18(name: &str) -> Option<Charset> {
        match name.trim() {
            "ASCII" | "US-ASCII" => Some(Charset::Ascii),
            "UNICODE UTF-8" | "UTF-8" | "UTF8" | "UNICODE UTF8" => Some(Charset::Utf8),
            "8859/1" | "ISO-8859-1" | "ISO 8859-1" | "ISO8859-1" => Some(Charset::Latin1),
            _ => None,
        }
    }

    /// The MSH-18 name HL7 table 0211 gives this charset.
    pub fn msh18_name(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Utf8 => "UNICODE UTF-8",
            Charset::Latin1 => "8859/1",
        }
    }

    /// Decodes bytes to text, borrowing when no conversion is needed.
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
        match self {
            Charset::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                Some(offset) => Err(DecodeError { offset }),
                None => std::str::from_utf8(bytes)
                    .map(Cow::Borrowed)
                    .map_err(|e| DecodeError {
                        offset: e.valid_up_to(),
                    }),
            },
            Charset::Utf8 => {
                std::str::from_utf8(bytes)
                    .map(Cow::Borrowed)
                    .map_err(|e| DecodeError {
                        offset: e.valid_up_to(),
                    })
            }
            Charset::Latin1 => {
                if bytes.is_ascii() {
                    std::str::from_utf8(bytes)
                        .map(Cow::Borrowed)
                        .map_err(|e| DecodeError {
                            offset: e.valid_up_to(),
                        })
                } else {
                    Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
                }
            }
        }
    }

    /// Decodes owned bytes to text without copying when they are already valid.
    pub(crate) fn decode_owned(self, bytes: Vec<u8>) -> Result<String, DecodeError> {
        match self {
            Charset::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                Some(offset) => Err(DecodeError { offset }),
                None => String::from_utf8(bytes).map_err(|e| DecodeError {
                    offset: e.utf8_error().valid_up_to(),
                }),
            },
            Charset::Utf8 => String::from_utf8(bytes).map_err(|e| DecodeError {
                offset: e.utf8_error().valid_up_to(),
            }),
            Charset::Latin1 => Ok(bytes.iter().map(|&b| b as char).collect()),
        }
    }

    /// Appends the bytes for one character, or returns `false` when the charset cannot
    /// represent it.
    pub(crate) fn encode_char(self, c: char, out: &mut Vec<u8>) -> bool {
        match self {
            Charset::Ascii if c.is_ascii() => out.push(c as u8),
            Charset::Latin1 if (c as u32) < 0x100 => out.push(c as u32 as u8),
            Charset::Utf8 => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_cases() {
        // (charset, bytes, expected text or first bad offset, borrowed?)
        let cases: &[(Charset, &[u8], Result<&str, usize>, bool)] = &[
            (Charset::Ascii, b"Smith", Ok("Smith"), true),
            (Charset::Ascii, b"M\xfcller", Err(1), false),
            (Charset::Utf8, "Müller".as_bytes(), Ok("Müller"), true),
            (Charset::Utf8, b"M\xfcller", Err(1), false),
            (Charset::Latin1, b"M\xfcller", Ok("Müller"), false),
            (Charset::Latin1, b"Muller", Ok("Muller"), true),
        ];
        for &(cs, bytes, want, borrowed) in cases {
            match (cs.decode(bytes), want) {
                (Ok(text), Ok(w)) => {
                    assert_eq!(text, w);
                    assert_eq!(
                        matches!(text, Cow::Borrowed(_)),
                        borrowed,
                        "{cs:?} {bytes:?}"
                    );
                }
                (Err(e), Err(off)) => assert_eq!(e.offset, off),
                (got, w) => panic!("{cs:?} {bytes:?}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn names() {
        for cs in [Charset::Ascii, Charset::Utf8, Charset::Latin1] {
            assert_eq!(Charset::from_msh18(cs.msh18_name()), Some(cs));
        }
        assert_eq!(Charset::from_msh18("UNICODE UTF-16"), None);
    }

    #[test]
    fn encode_cases() {
        let mut out = Vec::new();
        assert!(Charset::Latin1.encode_char('ü', &mut out));
        assert_eq!(out, [0xfc]);
        assert!(!Charset::Latin1.encode_char('€', &mut out));
        assert!(!Charset::Ascii.encode_char('ü', &mut out));
        out.clear();
        assert!(Charset::Utf8.encode_char('€', &mut out));
        assert_eq!(out, "€".as_bytes());
    }
}
