//! The delimiters a message declares in MSH-1 and MSH-2, and the nom grammar that reads them.
//!
//! MSH-2 is positional: component, repetition, escape, subcomponent and (from v2.7) truncation
//! character. A message may send fewer than four (no escape character, say); each absent one is
//! `None` and that level of structure simply does not exist in the message.

use nom::{
    IResult, Parser, bytes::complete::tag, bytes::complete::take_till,
    number::complete::u8 as any_byte,
};

use super::options::Leniency;
use crate::error::{Error, ErrorKind, Location};

/// The delimiter characters of one message.
///
/// ```
/// use hl7fhir::v2::Delimiters;
/// let d = Delimiters::default();
/// assert_eq!(d.encoding_characters(), b"^~\\&");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// MSH-1, usually `|`.
    pub field: u8,
    /// MSH-2 position 1, usually `^`.
    pub component: u8,
    /// MSH-2 position 2, usually `~`.
    pub repetition: Option<u8>,
    /// MSH-2 position 3, usually `\`.
    pub escape: Option<u8>,
    /// MSH-2 position 4, usually `&`.
    pub subcomponent: Option<u8>,
    /// MSH-2 position 5 (v2.7 and later), usually `#`. It is not structural: it marks a
    /// truncated value and is written `\P\` when it occurs in text.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    fn default() -> Delimiters {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: Some(b'~'),
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

impl Delimiters {
    /// The MSH-2 value these delimiters are written as, e.g. `^~\&`.
    ///
    /// Positions are fixed, so an absent delimiter ends the value: with no escape character the
    /// subcomponent separator cannot be written either.
    pub fn encoding_characters(&self) -> Vec<u8> {
        let mut out = vec![self.component];
        for d in [
            self.repetition,
            self.escape,
            self.subcomponent,
            self.truncation,
        ] {
            match d {
                Some(c) => out.push(c),
                None => break,
            }
        }
        out
    }

    /// True when `b` is one of the four separators (field, component, repetition,
    /// subcomponent) or the escape character: a byte that text must escape.
    #[inline]
    pub fn is_special(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || Some(b) == self.repetition
            || Some(b) == self.subcomponent
            || Some(b) == self.escape
            || Some(b) == self.truncation
    }

    /// Checks that the delimiters are usable: printable ASCII, not a letter or digit, and all
    /// different.
    pub fn validate(&self) -> Result<(), &'static str> {
        let all = [
            Some(self.field),
            Some(self.component),
            self.repetition,
            self.escape,
            self.subcomponent,
            self.truncation,
        ];
        for (i, d) in all.iter().enumerate() {
            let Some(d) = *d else { continue };
            if !(0x20..=0x7e).contains(&d) || d.is_ascii_alphanumeric() {
                return Err("delimiters must be printable ASCII punctuation");
            }
            if all[..i].contains(&Some(d)) {
                return Err("the same character is declared as two delimiters");
            }
        }
        Ok(())
    }
}

/// What the header grammar found: the delimiters and the length of MSH-2 as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub delimiters: Delimiters,
    /// Bytes of MSH-2 as written (5 for `^~\\&` even though it declares four delimiters).
    pub msh2_len: usize,
}

fn header_grammar(input: &[u8]) -> IResult<&[u8], (u8, &[u8])> {
    let (i, _) = tag(&b"MSH"[..]).parse(input)?;
    let (i, field) = any_byte(i)?;
    let (i, msh2) = take_till(|b| b == field || b == b'\r' || b == b'\n').parse(i)?;
    Ok((i, (field, msh2)))
}

/// Reads MSH-1 and MSH-2 at the start of `input` (which begins with `MSH`).
pub(crate) fn parse_header(input: &[u8], leniency: &Leniency) -> Result<Header, Error> {
    let here = |field: u32| Location {
        field,
        ..Location::segment(1, *b"MSH")
    };
    let (_, (field, msh2)) = header_grammar(input).map_err(|_| {
        if input.starts_with(b"MSH") {
            Error::new(ErrorKind::BadDelimiters, "MSH ends before MSH-1")
                .at(here(1))
                .at_offset(3)
        } else {
            Error::new(ErrorKind::MissingHeader, "message does not start with MSH").at_offset(0)
        }
    })?;
    let bad = |reason: &'static str, field: u32| {
        Error::new(ErrorKind::BadDelimiters, reason)
            .at(here(field))
            .at_offset(if field == 1 { 3 } else { 4 })
    };
    if matches!(field, b'\r' | b'\n') {
        return Err(bad("MSH-1 (the field separator) is missing", 1));
    }
    let doubled = msh2.len() == 5 && msh2[2] == msh2[3] && leniency.doubled_escape_in_msh2;
    let declared: &[u8] = if doubled {
        &[msh2[0], msh2[1], msh2[2], msh2[4]]
    } else {
        msh2
    };
    if declared.is_empty() {
        return Err(bad("MSH-2 (the encoding characters) is empty", 2));
    }
    if declared.len() > 5 {
        return Err(bad("MSH-2 holds more than five encoding characters", 2));
    }
    let delimiters = Delimiters {
        field,
        component: declared[0],
        repetition: declared.get(1).copied(),
        escape: declared.get(2).copied(),
        subcomponent: declared.get(3).copied(),
        truncation: declared.get(4).copied(),
    };
    delimiters.validate().map_err(|reason| bad(reason, 2))?;
    Ok(Header {
        delimiters,
        msh2_len: msh2.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(field: u8, s: &[u8]) -> Delimiters {
        Delimiters {
            field,
            component: s[0],
            repetition: s.get(1).copied(),
            escape: s.get(2).copied(),
            subcomponent: s.get(3).copied(),
            truncation: s.get(4).copied(),
        }
    }

    #[test]
    fn header_cases() {
        // (input, leniency, expected delimiters and MSH-2 length, or error text)
        let cases: &[(&[u8], Leniency, Result<(Delimiters, usize), &str>)] = &[
            (
                b"MSH|^~\\&|A",
                Leniency::STRICT,
                Ok((Delimiters::default(), 4)),
            ),
            (
                b"MSH|^~\\&#|A",
                Leniency::STRICT,
                Ok((d(b'|', b"^~\\&#"), 5)),
            ),
            (b"MSH#$%*!|", Leniency::STRICT, Ok((d(b'#', b"$%*!|"), 5))),
            (b"MSH|^~|A", Leniency::STRICT, Ok((d(b'|', b"^~"), 2))),
            (
                b"MSH|^~\\&\r",
                Leniency::STRICT,
                Ok((Delimiters::default(), 4)),
            ),
            (
                b"MSH|^~\\\\&|A",
                Leniency::TOLERANT,
                Ok((Delimiters::default(), 5)),
            ),
            (
                b"MSH|^~\\\\&|A",
                Leniency::STRICT,
                Err(
                    "MSH-2 (segment 1) at byte 4: the same character is declared as two delimiters",
                ),
            ),
            (
                b"MSH||A",
                Leniency::STRICT,
                Err("MSH-2 (segment 1) at byte 4: MSH-2 (the encoding characters) is empty"),
            ),
            (
                b"MSH|^~\\&ab|",
                Leniency::STRICT,
                Err("MSH-2 (segment 1) at byte 4: MSH-2 holds more than five encoding characters"),
            ),
            (
                b"MSH|SENDER|",
                Leniency::STRICT,
                Err("MSH-2 (segment 1) at byte 4: MSH-2 holds more than five encoding characters"),
            ),
            (
                b"MSH|^A|",
                Leniency::STRICT,
                Err("MSH-2 (segment 1) at byte 4: delimiters must be printable ASCII punctuation"),
            ),
            (
                b"MSH\r",
                Leniency::STRICT,
                Err("MSH-1 (segment 1) at byte 3: MSH-1 (the field separator) is missing"),
            ),
            (
                b"MSH",
                Leniency::STRICT,
                Err("MSH-1 (segment 1) at byte 3: MSH ends before MSH-1"),
            ),
            (
                b"PID|1",
                Leniency::STRICT,
                Err("at byte 0: message does not start with MSH"),
            ),
        ];
        for (input, len, want) in cases {
            let got = parse_header(input, len)
                .map(|h| (h.delimiters, h.msh2_len))
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                want.map_err(str::to_string),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn encoding_characters_stop_at_first_absent() {
        assert_eq!(d(b'|', b"^~").encoding_characters(), b"^~");
        assert_eq!(d(b'|', b"^~\\&#").encoding_characters(), b"^~\\&#");
    }
}
