//! Terser-style paths (`PID-3`, `PID-3[2].1`, `PID-5.1.1`, `OBX[3]-5`): parsed once with nom
//! into a [`Path`], then resolved against any number of messages without looking at text again.
//!
//! All numbers are 1-based as HL7 writes them. `[n]` after the segment id picks the n-th
//! segment with that id; `[n]` after the field number picks the n-th repetition (the first when
//! absent).

use std::fmt;
use std::str::FromStr;

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while_m_n},
    character::complete::{char, u32 as number},
    combinator::{all_consuming, opt, verify},
    sequence::{delimited, preceded},
};

use super::message::{Message, Value};
use crate::error::{Error, ErrorKind};

/// A compiled terser path.
///
/// ```
/// use hl7fhir::v2::{Parser, Path};
/// let path: Path = "PID-3[2].1".parse().unwrap();
/// let mut parser = Parser::default();
/// let msg = parser.parse(b"MSH|^~\\&\rPID|1||A^^^MR~B^^^SS\r").unwrap();
/// assert_eq!(msg.get(&path).unwrap().raw(), b"B");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    /// Segment id.
    pub segment: [u8; 3],
    /// Which segment with that id (1 = the first).
    pub occurrence: u32,
    /// Field number.
    pub field: u32,
    /// Repetition, when given.
    pub repetition: Option<u32>,
    /// Component, when given.
    pub component: Option<u32>,
    /// Subcomponent, when given (only with a component).
    pub subcomponent: Option<u32>,
}

fn positive(i: &str) -> IResult<&str, u32> {
    verify(number, |n: &u32| *n >= 1).parse(i)
}

fn index(i: &str) -> IResult<&str, u32> {
    delimited(char('['), positive, char(']')).parse(i)
}

fn segment_id(i: &str) -> IResult<&str, &str> {
    let (rest, first) = take_while_m_n(1, 1, |c: char| c.is_ascii_uppercase()).parse(i)?;
    let (rest, _) =
        take_while_m_n(2, 2, |c: char| c.is_ascii_uppercase() || c.is_ascii_digit()).parse(rest)?;
    Ok((rest, &i[..first.len() + 2]))
}

fn path_grammar(i: &str) -> IResult<&str, Path> {
    let (i, id) = segment_id(i)?;
    let (i, occurrence) = opt(index).parse(i)?;
    let (i, field) = preceded(tag("-"), positive).parse(i)?;
    let (i, repetition) = opt(index).parse(i)?;
    let (i, component) = opt(preceded(char('.'), positive)).parse(i)?;
    let (i, subcomponent) = match component {
        Some(_) => opt(preceded(char('.'), positive)).parse(i)?,
        None => (i, None),
    };
    let mut segment = [0u8; 3];
    segment.copy_from_slice(id.as_bytes());
    Ok((
        i,
        Path {
            segment,
            occurrence: occurrence.unwrap_or(1),
            field,
            repetition,
            component,
            subcomponent,
        },
    ))
}

impl FromStr for Path {
    type Err = Error;

    fn from_str(s: &str) -> Result<Path, Error> {
        all_consuming(path_grammar).parse(s).map(|(_, p)| p).map_err(|e| {
            let at = match &e {
                nom::Err::Error(e) | nom::Err::Failure(e) => s.len() - e.input.len(),
                nom::Err::Incomplete(_) => s.len(),
            };
            Error::new(ErrorKind::BadPath, format!("bad terser path at character {}: expected SEG[n]-field[rep].component.subcomponent", at + 1))
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.segment).unwrap_or("???"))?;
        if self.occurrence != 1 {
            write!(f, "[{}]", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if let Some(r) = self.repetition {
            write!(f, "[{r}]")?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl Path {
    /// The segment id as text.
    pub fn segment_id(&self) -> &str {
        std::str::from_utf8(&self.segment).unwrap_or("???")
    }
}

impl<'a> Message<'a> {
    /// The value a path points at, or `None` when the message does not reach that far.
    ///
    /// A path without a repetition reads the whole field when it stops at the field, and the
    /// first repetition when it goes on to a component.
    pub fn get(&self, path: &Path) -> Option<Value<'a>> {
        let seg = self
            .segments()
            .filter(|s| *s.id_bytes() == path.segment)
            .nth(path.occurrence as usize - 1)?;
        let field = seg.field(path.field as usize)?;
        if path.repetition.is_none() && path.component.is_none() {
            return Some(field.value());
        }
        let rep = field.repetition(path.repetition.unwrap_or(1) as usize)?;
        let Some(c) = path.component else {
            return Some(rep.value());
        };
        let comp = rep.component(c as usize)?;
        match path.subcomponent {
            None => Some(comp.value()),
            Some(s) => comp.subcomponent(s as usize).map(|v| v.value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::Parser;

    #[test]
    fn grammar_cases() {
        let p = |s: &[u8; 3], o, f, r, c, sc| Path {
            segment: *s,
            occurrence: o,
            field: f,
            repetition: r,
            component: c,
            subcomponent: sc,
        };
        let ok: &[(&str, Path)] = &[
            ("PID-3", p(b"PID", 1, 3, None, None, None)),
            ("PID-3[2].1", p(b"PID", 1, 3, Some(2), Some(1), None)),
            ("PID-5.1.1", p(b"PID", 1, 5, None, Some(1), Some(1))),
            ("OBX[3]-5", p(b"OBX", 3, 5, None, None, None)),
            (
                "ZB1[2]-10[3].4.5",
                p(b"ZB1", 2, 10, Some(3), Some(4), Some(5)),
            ),
        ];
        for (s, want) in ok {
            let got: Path = s.parse().unwrap();
            assert_eq!(&got, want, "{s}");
            assert_eq!(got.to_string(), *s);
        }
        let bad: &[(&str, usize)] = &[
            ("PID", 4),
            ("PID-0", 5),
            ("pid-3", 1),
            ("PID-3.", 6),
            ("PID-3[0]", 6),
            ("PI-3", 2),
            ("PID-3.1.2.3", 10),
            ("PID-x", 5),
            ("", 1),
        ];
        for (s, at) in bad {
            let e = s.parse::<Path>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadPath);
            assert_eq!(
                e.to_string(),
                format!(
                    "bad terser path at character {at}: expected SEG[n]-field[rep].component.subcomponent"
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn resolve() {
        let bytes = b"MSH|^~\\&|APP\rPID|1||A^^^MR&X~B^^^SS||Doe^Jane\rOBX|1|ST\rOBX|2|NM|||42\rOBX|3|TX|||t\r";
        let mut parser = Parser::default();
        let m = parser.parse(bytes).unwrap();
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("MSH-3", Some(b"APP")),
            ("PID-3", Some(b"A^^^MR&X~B^^^SS")),
            ("PID-3[2]", Some(b"B^^^SS")),
            ("PID-3[2].4", Some(b"SS")),
            ("PID-3.4", Some(b"MR&X")),
            ("PID-3.4.2", Some(b"X")),
            ("PID-5.2", Some(b"Jane")),
            ("OBX[2]-5", Some(b"42")),
            ("OBX[3]-5", Some(b"t")),
            ("OBX[4]-5", None),
            ("PID-30", None),
            ("PID-3[3]", None),
            ("PV1-1", None),
        ];
        for (s, want) in cases {
            let got = m.get(&s.parse().unwrap()).map(|v| v.raw());
            assert_eq!(got, *want, "{s}");
        }
    }
}
