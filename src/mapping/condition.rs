//! The `when` conditions of mapping rows (`PID-29 NOT VALUED`, `OBX-2 IN ("NM", "SN")`),
//! parsed once with nom into a [`Condition`] tree that is evaluated against each segment.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_till, take_while, take_while1},
    character::complete::{char, digit1, multispace0, multispace1},
    combinator::{all_consuming, map, map_res, opt, recognize},
    multi::separated_list1,
    sequence::{delimited, preceded, terminated},
};

use crate::mapping::target::Step;
use crate::v2::Path;

/// What a condition reads: a terser path, or a component of the value being mapped (`.2`,
/// `.4.1`, in data type maps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A field or part of a segment.
    Path(Path),
    /// Component (and subcomponent) numbers relative to the current value, 1-based.
    Relative(Vec<u32>),
    /// A FHIR element of what a data type map reads backwards (`physicalType.coding[1].code`):
    /// written in lower camel case, as FHIR names elements, so never taken for a segment id.
    /// Its steps are filled in when the map's rows are compiled against its FHIR type.
    Element {
        /// The path as written.
        text: String,
        /// Its steps, relative to the element the map reads.
        steps: Vec<Step>,
    },
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The operand is present and not empty.
    Valued(Operand),
    /// The operand's decoded text equals the literal.
    Equals(Operand, String),
    /// The operand's decoded text is one of the literals.
    In(Operand, Vec<String>),
    /// The operand takes more than this many characters in the message: its text as written,
    /// an escape sequence counting in full (`\T\` is three), as HL7 length limits count.
    LongerThan(Operand, usize),
    /// The operand's decoded text is a well-formed HL7 date/time (DTM).
    IsDate(Operand),
    /// The operand's decoded text is an HL7 date/time that makes a FHIR instant: a time of day
    /// with its offset, or without one where `--timezone` names the sender's zone.
    IsInstant(Operand),
    /// The operand's text has more than one line: the field holds several repetitions (the
    /// lines of TX and FT text), or its text a line break (`\.br\`, an escaped CR or LF).
    IsMultiline(Operand),
    /// The operand's decoded text is a number below this one (`FT1-11.1.1 < 0`: a credit).
    Below(Operand, String),
    /// Negation.
    Not(Box<Condition>),
    /// Every part holds.
    And(Vec<Condition>),
    /// Some part holds.
    Or(Vec<Condition>),
}

impl Condition {
    /// Every operand the condition reads.
    pub fn operands(&self) -> Vec<&Operand> {
        match self {
            Condition::Valued(o)
            | Condition::Equals(o, _)
            | Condition::In(o, _)
            | Condition::LongerThan(o, _)
            | Condition::IsDate(o)
            | Condition::IsInstant(o)
            | Condition::IsMultiline(o)
            | Condition::Below(o, _) => vec![o],
            Condition::Not(c) => c.operands(),
            Condition::And(cs) | Condition::Or(cs) => {
                cs.iter().flat_map(|c| c.operands()).collect()
            }
        }
    }

    /// Every operand the condition reads, to compile in place.
    pub fn operands_mut(&mut self) -> Vec<&mut Operand> {
        match self {
            Condition::Valued(o)
            | Condition::Equals(o, _)
            | Condition::In(o, _)
            | Condition::LongerThan(o, _)
            | Condition::IsDate(o)
            | Condition::IsInstant(o)
            | Condition::IsMultiline(o)
            | Condition::Below(o, _) => vec![o],
            Condition::Not(c) => c.operands_mut(),
            Condition::And(cs) | Condition::Or(cs) => {
                cs.iter_mut().flat_map(|c| c.operands_mut()).collect()
            }
        }
    }

    /// True when `text` is a number below `limit` (both decimal text); false for anything that
    /// is not a number.
    pub fn number_below(text: &str, limit: &str) -> bool {
        match (text.trim().parse::<f64>(), limit.parse::<f64>()) {
            (Ok(t), Ok(l)) => t < l,
            _ => false,
        }
    }
}

fn ws<'a, O>(
    p: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>> {
    delimited(multispace0, p, multispace0)
}

fn operand(i: &str) -> IResult<&str, Operand> {
    let relative = map(
        recognize((char('.'), digit1, opt((char('.'), digit1)))),
        |s: &str| Operand::Relative(s[1..].split('.').filter_map(|n| n.parse().ok()).collect()),
    );
    let element = map(
        recognize((
            take_while1(|c: char| c.is_ascii_lowercase()),
            take_while(|c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']')),
        )),
        |s: &str| Operand::Element {
            text: s.to_string(),
            steps: Vec::new(),
        },
    );
    let path = map_res(
        take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']')),
        |s: &str| s.parse::<Path>().map(Operand::Path),
    );
    ws(alt((relative, element, path))).parse(i)
}

/// A number literal, unquoted: `0`, `-1.5`.
fn number(i: &str) -> IResult<&str, String> {
    ws(map(
        recognize((opt(char('-')), digit1, opt((char('.'), digit1)))),
        str::to_string,
    ))
    .parse(i)
}

/// A literal in double or single quotes; single quotes save doubling `"` inside a CSV cell.
fn literal(i: &str) -> IResult<&str, String> {
    let double = delimited(char('"'), take_till(|c| c == '"'), char('"'));
    let single = delimited(char('\''), take_till(|c| c == '\''), char('\''));
    ws(map(alt((double, single)), str::to_string)).parse(i)
}

fn list(i: &str) -> IResult<&str, Vec<String>> {
    delimited(
        ws(char('(')),
        separated_list1(ws(char(',')), literal),
        ws(char(')')),
    )
    .parse(i)
}

fn keyword<'a>(
    k: &'static str,
) -> impl Parser<&'a str, Output = &'a str, Error = nom::error::Error<&'a str>> {
    ws(tag_no_case(k))
}

fn test(i: &str) -> IResult<&str, Condition> {
    let (i, o) = operand(i)?;
    alt((
        map(keyword("VALUED"), {
            let o = o.clone();
            move |_| Condition::Valued(o.clone())
        }),
        map((keyword("NOT"), keyword("VALUED")), {
            let o = o.clone();
            move |_| Condition::Not(Box::new(Condition::Valued(o.clone())))
        }),
        map(preceded(ws(tag("!=")), literal), {
            let o = o.clone();
            move |l| Condition::Not(Box::new(Condition::Equals(o.clone(), l)))
        }),
        map(preceded(ws(char('<')), number), {
            let o = o.clone();
            move |n| Condition::Below(o.clone(), n)
        }),
        map(preceded(ws(char('=')), literal), {
            let o = o.clone();
            move |l| Condition::Equals(o.clone(), l)
        }),
        map(preceded((keyword("NOT"), keyword("IN")), list), {
            let o = o.clone();
            move |l| Condition::Not(Box::new(Condition::In(o.clone(), l)))
        }),
        map(preceded(keyword("IN"), list), {
            let o = o.clone();
            move |l| Condition::In(o.clone(), l)
        }),
        map((keyword("IS"), keyword("NOT"), keyword("DATE")), {
            let o = o.clone();
            move |_| Condition::Not(Box::new(Condition::IsDate(o.clone())))
        }),
        map((keyword("IS"), keyword("DATE")), {
            let o = o.clone();
            move |_| Condition::IsDate(o.clone())
        }),
        map((keyword("IS"), keyword("NOT"), keyword("INSTANT")), {
            let o = o.clone();
            move |_| Condition::Not(Box::new(Condition::IsInstant(o.clone())))
        }),
        map((keyword("IS"), keyword("INSTANT")), {
            let o = o.clone();
            move |_| Condition::IsInstant(o.clone())
        }),
        map((keyword("IS"), keyword("NOT"), keyword("MULTILINE")), {
            let o = o.clone();
            move |_| Condition::Not(Box::new(Condition::IsMultiline(o.clone())))
        }),
        map((keyword("IS"), keyword("MULTILINE")), {
            let o = o.clone();
            move |_| Condition::IsMultiline(o.clone())
        }),
        map_res(
            preceded((keyword("LONGER"), keyword("THAN")), ws(digit1)),
            {
                let o = o.clone();
                move |n: &str| {
                    n.parse::<usize>()
                        .map(|n| Condition::LongerThan(o.clone(), n))
                }
            },
        ),
    ))
    .parse(i)
}

fn unary(i: &str) -> IResult<&str, Condition> {
    alt((
        map(
            preceded(terminated(ws(tag_no_case("NOT")), multispace0), unary),
            |c| Condition::Not(Box::new(c)),
        ),
        delimited(ws(char('(')), or, ws(char(')'))),
        test,
    ))
    .parse(i)
}

fn and(i: &str) -> IResult<&str, Condition> {
    map(
        separated_list1(
            delimited(multispace0, tag_no_case("AND"), multispace1),
            unary,
        ),
        |mut v| {
            if v.len() == 1 {
                v.remove(0)
            } else {
                Condition::And(v)
            }
        },
    )
    .parse(i)
}

fn or(i: &str) -> IResult<&str, Condition> {
    map(
        separated_list1(delimited(multispace0, tag_no_case("OR"), multispace1), and),
        |mut v| {
            if v.len() == 1 {
                v.remove(0)
            } else {
                Condition::Or(v)
            }
        },
    )
    .parse(i)
}

/// Parses a condition; the error says at which character it stopped making sense.
pub fn parse(text: &str) -> Result<Condition, String> {
    let text = text.trim();
    let text = text.strip_prefix("IF ").unwrap_or(text);
    all_consuming(ws(or))
        .parse(text)
        .map(|(_, c)| c)
        .map_err(|e| {
            let rest = match &e {
                nom::Err::Error(e) | nom::Err::Failure(e) => e.input,
                nom::Err::Incomplete(_) => "",
            };
            format!(
                "bad condition at character {}: {text:?}",
                text.len() - rest.len() + 1
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Operand {
        Operand::Path(s.parse().unwrap())
    }

    #[test]
    fn grammar_cases() {
        use Condition::*;
        let cases: Vec<(&str, Condition)> = vec![
            ("PID-29 VALUED", Valued(p("PID-29"))),
            ("PID-29 NOT VALUED", Not(Box::new(Valued(p("PID-29"))))),
            ("IF PV1-2 = \"E\"", Equals(p("PV1-2"), "E".into())),
            (
                "PV1-2 != \"E\"",
                Not(Box::new(Equals(p("PV1-2"), "E".into()))),
            ),
            (
                "OBX-2 IN (\"NM\", \"SN\")",
                In(p("OBX-2"), vec!["NM".into(), "SN".into()]),
            ),
            (
                "MSH-9.2 not in (\"A08\")",
                Not(Box::new(In(p("MSH-9.2"), vec!["A08".into()]))),
            ),
            ("PID-7 LONGER THAN 8", LongerThan(p("PID-7"), 8)),
            ("RXA-3 IS DATE", IsDate(p("RXA-3"))),
            ("FT1-10 < 0", Below(p("FT1-10"), "0".into())),
            ("FT1-11.1.1 < -1.5", Below(p("FT1-11.1.1"), "-1.5".into())),
            ("RXA-3 IS NOT DATE", Not(Box::new(IsDate(p("RXA-3"))))),
            ("EVN-2 IS INSTANT", IsInstant(p("EVN-2"))),
            ("EVN-2 IS NOT INSTANT", Not(Box::new(IsInstant(p("EVN-2"))))),
            ("OBX-5 IS MULTILINE", IsMultiline(p("OBX-5"))),
            (
                "OBX-5 is not multiline",
                Not(Box::new(IsMultiline(p("OBX-5")))),
            ),
            (
                "OBX-2 IN ('NM','SN')",
                In(p("OBX-2"), vec!["NM".into(), "SN".into()]),
            ),
            (
                ".2 NOT VALUED",
                Not(Box::new(Valued(Operand::Relative(vec![2])))),
            ),
            (
                ".4.1 = \"x\"",
                Equals(Operand::Relative(vec![4, 1]), "x".into()),
            ),
            (
                "(PID-11 NOT VALUED OR PID-12 VALUED) AND NOT PID-30 = \"Y\"",
                And(vec![
                    Or(vec![
                        Not(Box::new(Valued(p("PID-11")))),
                        Valued(p("PID-12")),
                    ]),
                    Not(Box::new(Equals(p("PID-30"), "Y".into()))),
                ]),
            ),
            (
                "A-1 VALUED OR B-1 VALUED AND C-1 VALUED",
                Or(vec![
                    Valued(p("AAA-1")),
                    And(vec![Valued(p("BBB-1")), Valued(p("CCC-1"))]),
                ]),
            ),
            (
                "physicalType.coding[1].code IN ('bd', 'ro') AND .1 VALUED",
                And(vec![
                    In(
                        Operand::Element {
                            text: "physicalType.coding[1].code".into(),
                            steps: Vec::new(),
                        },
                        vec!["bd".into(), "ro".into()],
                    ),
                    Valued(Operand::Relative(vec![1])),
                ]),
            ),
        ];
        for (text, want) in cases {
            if text.starts_with("A-1") {
                // Segment ids are three characters; this case checks precedence with real ids.
                let real = parse("AAA-1 VALUED OR BBB-1 VALUED AND CCC-1 VALUED").unwrap();
                assert_eq!(real, want);
                continue;
            }
            assert_eq!(parse(text).unwrap(), want, "{text}");
        }
        for bad in [
            "PID-29",
            "PID-29 VALUE",
            "PID-2 = E",
            "(PID-1 VALUED",
            "PID-1 IN ()",
            "XX VALUED",
            "FT1-10 < '0'",
            "FT1-10 < x",
        ] {
            assert!(
                parse(bad)
                    .unwrap_err()
                    .starts_with("bad condition at character"),
                "{bad}"
            );
        }
    }
}
