//! Acknowledgements: the ACK a receiver sends back for a message, original mode (AA/AE/AR) or
//! enhanced accept mode (CA/CE/CR), with one ERR segment per error.
//!
//! The ACK is built from the received message's header even when the message did not parse:
//! [`ReceivedHeader::read`] takes what it can from the first line. Each ERR names the location
//! (ERR-2, or ERR-1 before v2.5, which has no ERR-2) and an HL7 table 0357 code (ERR-3), with
//! the error's reason (never patient data) as the user message (ERR-8). Senders before v2.3.1
//! get a v2.3.1 ACK: earlier versions cannot name the ACK structure in MSH-9.

use super::charset::Charset;
use super::delimiters::{Delimiters, parse_header};
use super::encode::{FieldTree, MessageBuilder};
use super::escape::unescape;
use super::options::{Formatting, Leniency};
use crate::error::{Error, ErrorKind, Location};

/// The acknowledgement code (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept.
    AA,
    /// Application error.
    AE,
    /// Application reject.
    AR,
    /// Commit accept (enhanced mode).
    CA,
    /// Commit error (enhanced mode).
    CE,
    /// Commit reject (enhanced mode).
    CR,
}

impl AckCode {
    /// The two-letter code.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }

    /// The code for a message that failed with `error`: reject (AR/CR) when the message
    /// cannot be taken at all (its header, framing, type or version), error (AE/CE) otherwise.
    pub fn for_error(error: &Error, enhanced: bool) -> AckCode {
        let reject = matches!(
            error.kind(),
            ErrorKind::MissingHeader
                | ErrorKind::BadDelimiters
                | ErrorKind::Framing
                | ErrorKind::UnsupportedEvent
                | ErrorKind::UnsupportedCharset
                | ErrorKind::LimitExceeded
                | ErrorKind::EmptyInput
        );
        match (reject, enhanced) {
            (true, false) => AckCode::AR,
            (true, true) => AckCode::CR,
            (false, false) => AckCode::AE,
            (false, true) => AckCode::CE,
        }
    }
}

/// An HL7 table 0357 message error condition code for an error kind, with its display text.
///
/// ```
/// use hl7fhir::{Error, ErrorKind};
/// use hl7fhir::v2::error_condition;
/// assert_eq!(error_condition(&Error::new(ErrorKind::BadEscape, "x")), ("102", "Data type error"));
/// ```
pub fn error_condition(error: &Error) -> (&'static str, &'static str) {
    match error.kind() {
        ErrorKind::BadSegmentId
        | ErrorKind::EmptySegment
        | ErrorKind::NestedHeader
        | ErrorKind::MissingHeader
        | ErrorKind::LineEnd
        | ErrorKind::ByteOrderMark
        | ErrorKind::Framing => ("100", "Segment sequence error"),
        ErrorKind::MissingRequired => ("101", "Required field missing"),
        ErrorKind::BadEscape
        | ErrorKind::BadEncoding
        | ErrorKind::BadValue
        | ErrorKind::BadDelimiters => ("102", "Data type error"),
        ErrorKind::UnsupportedEvent => ("201", "Unsupported event code"),
        _ => ("207", "Application internal error"),
    }
}

/// What an ACK needs from the received message's header, read as far as it can be.
#[derive(Debug, Clone, Default)]
pub struct ReceivedHeader {
    /// The received delimiters (the default set when MSH-1/MSH-2 are unreadable).
    pub delimiters: Delimiters,
    /// Raw MSH fields 3 to 21, as received (`fields[0]` is MSH-3); absent fields are empty.
    pub fields: Vec<Vec<u8>>,
}

impl ReceivedHeader {
    /// Reads the first line of `message` (MSH, after an optional BOM), tolerantly: the ACK must
    /// be built for messages that fail to parse too.
    pub fn read(message: &[u8]) -> ReceivedHeader {
        let body = message.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(message);
        let Ok(header) = parse_header(body, &Leniency::TOLERANT) else {
            return ReceivedHeader::default();
        };
        let d = header.delimiters;
        let line_end = body
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(body.len());
        let after_msh2 = (4 + header.msh2_len + 1).min(line_end);
        let fields = if 4 + header.msh2_len < line_end {
            body[after_msh2..line_end]
                .split(|&b| b == d.field)
                .map(<[u8]>::to_vec)
                .collect()
        } else {
            Vec::new()
        };
        ReceivedHeader {
            delimiters: d,
            fields,
        }
    }

    /// Raw MSH-`n` (n ≥ 3), empty when absent.
    pub fn raw(&self, n: usize) -> &[u8] {
        n.checked_sub(3)
            .and_then(|i| self.fields.get(i))
            .map_or(&[][..], Vec::as_slice)
    }

    /// The first component of MSH-`n` as text (escapes decoded; lossy for odd bytes).
    pub fn first_component(&self, n: usize) -> String {
        self.first_component_of(self.raw(n))
    }

    /// The first component of the first repetition of a raw field, as text.
    fn first_component_of(&self, raw: &[u8]) -> String {
        let end = raw
            .iter()
            .position(|&b| b == self.delimiters.component || Some(b) == self.delimiters.repetition)
            .unwrap_or(raw.len());
        self.decode(&raw[..end])
    }

    fn decode(&self, raw: &[u8]) -> String {
        let bytes = unescape(raw, &self.delimiters, Formatting::Keep, true).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// MSH-`n` split into its tree of decoded text, for copying into the ACK.
    fn field_tree(&self, n: usize) -> FieldTree {
        let d = &self.delimiters;
        let split = |b: &[u8], sep: Option<u8>| -> Vec<Vec<u8>> {
            match sep {
                Some(s) => b.split(|&c| c == s).map(<[u8]>::to_vec).collect(),
                None => vec![b.to_vec()],
            }
        };
        split(self.raw(n), d.repetition)
            .into_iter()
            .map(|r| {
                split(&r, Some(d.component))
                    .into_iter()
                    .map(|c| {
                        split(&c, d.subcomponent)
                            .iter()
                            .map(|s| self.decode(s))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// The first component of EVN-1 (the event type code) of `message`, decoded; empty when
    /// the message has no readable EVN segment.
    pub fn evn_event(&self, message: &[u8]) -> String {
        let field = self.delimiters.field;
        message
            .split(|&b| b == b'\r' || b == b'\n')
            .find_map(|line| line.strip_prefix(b"EVN")?.strip_prefix(&[field]))
            .map(|fields| {
                let evn1 = fields.split(|&b| b == field).next().unwrap_or_default();
                self.first_component_of(evn1)
            })
            .unwrap_or_default()
    }

    /// The HL7 version (MSH-12.1), e.g. `2.5.1`.
    pub fn version(&self) -> String {
        self.first_component(12)
    }
}

/// How to write the ACK's own header.
#[derive(Debug, Clone)]
pub struct AckOptions {
    /// MSH-3 of the ACK; the received MSH-5 when `None`.
    pub sending_application: Option<String>,
    /// MSH-4 of the ACK; the received MSH-6 when `None`.
    pub sending_facility: Option<String>,
    /// MSH-10 of the ACK.
    pub control_id: String,
    /// MSH-7 of the ACK, an HL7 DTM with offset, e.g. `20260101120000+0000`.
    pub timestamp: String,
}

/// The segment occurrence (ERL.2) of the segment at 1-based position `index`: how many
/// segments with the same id come up to and including it.
fn occurrence(message: &[u8], index: u32, id: &[u8; 3]) -> u32 {
    message
        .split(|&b| b == b'\r' || b == b'\n')
        .filter(|l| !l.is_empty())
        .take(index as usize)
        .filter(|l| {
            let l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
            l.starts_with(id)
        })
        .count()
        .max(1) as u32
}

/// Builds an ACK for `received` (the message bytes as received).
///
/// The version, delimiters and trigger event follow the received message. From v2.5 each
/// error is an ERR with ERR-2 (location), ERR-3 (table 0357), ERR-4 (severity `E`) and ERR-8
/// (reason); before v2.5 it is ERR-1 (location and code) and the first reason goes in MSA-3.
///
/// ```
/// use hl7fhir::v2::{AckCode, AckOptions, build_ack};
/// let msg = b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20260101||ORU^R01^ORU_R01|MSG1|P|2.5.1\r";
/// let opts = AckOptions { sending_application: None, sending_facility: None, control_id: "A1".into(), timestamp: "20260101120000+0000".into() };
/// let ack = build_ack(msg, AckCode::AA, &[], &opts).unwrap();
/// assert_eq!(ack, b"MSH|^~\\&|EHR|HOSP|LAB|HOSP|20260101120000+0000||ACK^R01^ACK|A1|P|2.5.1\rMSA|AA|MSG1\r");
/// ```
pub fn build_ack(
    received: &[u8],
    code: AckCode,
    errors: &[Error],
    opts: &AckOptions,
) -> Result<Vec<u8>, Error> {
    let h = ReceivedHeader::read(received);
    let d = Delimiters {
        truncation: None,
        ..h.delimiters
    };
    let mut b = MessageBuilder::new(d, Charset::Utf8);
    // Before 2.3.1, MSH-9 cannot name the ACK message structure, which receivers (and
    // validators) need to read the ACK; those senders get a 2.3.1 ACK, which they can read.
    let version = match h.version() {
        v if v.is_empty() => "2.5.1".to_string(),
        v if !version_at_least(&v, 2, 4) && v != "2.3.1" => "2.3.1".to_string(),
        v => v,
    };
    let modern = version_at_least(&version, 2, 5);
    match &opts.sending_application {
        Some(app) => b.set(1, 3, 1, 1, 1, app),
        None => b.set_field(1, 3, h.field_tree(5)),
    }
    match &opts.sending_facility {
        Some(fac) => b.set(1, 4, 1, 1, 1, fac),
        None => b.set_field(1, 4, h.field_tree(6)),
    }
    b.set_field(1, 5, h.field_tree(3));
    b.set_field(1, 6, h.field_tree(4));
    b.set(1, 7, 1, 1, 1, &opts.timestamp);
    b.set(1, 9, 1, 1, 1, "ACK");
    let mut trigger = h
        .field_tree(9)
        .first()
        .and_then(|r| r.get(1))
        .and_then(|c| c.first())
        .cloned()
        .unwrap_or_default();
    // HL7 v2.1 sent the event in EVN-1 alone (MSH-9 held the message type); the ACK names it.
    if trigger.is_empty() {
        trigger = h.evn_event(received);
    }
    // From 2.3.1 on MSH-9 names the structure too; the trigger echoes the received event.
    b.set(1, 9, 1, 2, 1, &trigger);
    b.set(1, 9, 1, 3, 1, "ACK");
    b.set(1, 10, 1, 1, 1, &opts.control_id);
    let processing = h.first_component(11);
    b.set(
        1,
        11,
        1,
        1,
        1,
        if processing.is_empty() {
            "P"
        } else {
            &processing
        },
    );
    b.set(1, 12, 1, 1, 1, &version);
    let msa = b.add_segment("MSA");
    b.set(msa, 1, 1, 1, 1, code.as_str());
    // MSA-2 is required; for input with no readable control id it is the HL7 explicit null.
    let control = h.first_component(10);
    b.set(
        msa,
        2,
        1,
        1,
        1,
        if control.is_empty() { "\"\"" } else { &control },
    );
    if let (Some(first), false) = (errors.first(), modern) {
        b.set(msa, 3, 1, 1, 1, first.reason());
    }
    for e in errors {
        let err = b.add_segment("ERR");
        let (code, text) = error_condition(e);
        let loc = e.location().copied().unwrap_or_default();
        let seq = if loc.segment_index > 0 {
            occurrence(received, loc.segment_index, &loc.segment_id)
        } else {
            0
        };
        let num = |n: u32| if n == 0 { String::new() } else { n.to_string() };
        if modern {
            if loc.segment_index > 0 {
                let parts = [
                    loc.segment_id_str().to_string(),
                    num(seq),
                    num(loc.field),
                    num(rep_of(&loc)),
                    num(loc.component),
                    num(loc.subcomponent),
                ];
                for (i, p) in parts.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
                    b.set(err, 2, 1, i + 1, 1, p);
                }
            }
            b.set(err, 3, 1, 1, 1, code);
            b.set(err, 3, 1, 2, 1, text);
            b.set(err, 3, 1, 3, 1, "HL70357");
            b.set(err, 4, 1, 1, 1, "E");
            b.set(err, 8, 1, 1, 1, e.reason());
        } else {
            if loc.segment_index > 0 {
                b.set(err, 1, 1, 1, 1, loc.segment_id_str());
                b.set(err, 1, 1, 2, 1, &num(seq));
                b.set(err, 1, 1, 3, 1, &num(loc.field));
            }
            b.set(err, 1, 1, 4, 1, code);
            b.set(err, 1, 1, 4, 2, text);
            b.set(err, 1, 1, 4, 3, "HL70357");
        }
    }
    b.encode()
}

/// ERL.4 is the field repetition; a location at field level means the first one.
fn rep_of(loc: &Location) -> u32 {
    if loc.field > 0 && loc.repetition == 0 {
        1
    } else {
        loc.repetition
    }
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AckOptions {
        AckOptions {
            sending_application: Some("HL7FHIR".into()),
            sending_facility: None,
            control_id: "ACK1".into(),
            timestamp: "20260101120000+0000".into(),
        }
    }

    #[test]
    fn ack_cases() {
        let adt = b"MSH|^~\\&|SND^1.2^ISO|SF|RCV|RF|20260101||ADT^A01^ADT_A01|C1|P|2.5.1\rPID|1||x\\Q\\\r";
        let e = Error::new(ErrorKind::BadEscape, "unknown escape sequence").at(Location {
            field: 3,
            ..Location::segment(2, *b"PID")
        });
        let cases: Vec<(&[u8], AckCode, Vec<Error>, &str)> = vec![
            (
                adt,
                AckCode::AA,
                vec![],
                "MSH|^~\\&|HL7FHIR|RF|SND^1.2^ISO|SF|20260101120000+0000||ACK^A01^ACK|ACK1|P|2.5.1\rMSA|AA|C1\r",
            ),
            (
                adt,
                AckCode::AE,
                vec![e.clone()],
                "MSH|^~\\&|HL7FHIR|RF|SND^1.2^ISO|SF|20260101120000+0000||ACK^A01^ACK|ACK1|P|2.5.1\rMSA|AE|C1\rERR||PID^1^3^1|102^Data type error^HL70357|E||||unknown escape sequence\r",
            ),
            (
                b"MSH|^~\\&|S|F|R|G|2026||ADT^A01|C2|T|2.3\rEVN|A01\rPID|1",
                AckCode::AE,
                vec![e.clone()],
                "MSH|^~\\&|HL7FHIR|G|S|F|20260101120000+0000||ACK^A01^ACK|ACK1|T|2.3.1\rMSA|AE|C2|unknown escape sequence\rERR|PID^1^3^102&Data type error&HL70357\r",
            ),
            (
                // HL7 v2.1: the event in EVN-1 alone.
                b"MSH|^~\\&|S|F|R|G|198801011200||ADT|C4|P|2.1\rEVN|A03|198801011200\rPID|1",
                AckCode::AA,
                vec![],
                "MSH|^~\\&|HL7FHIR|G|S|F|20260101120000+0000||ACK^A03^ACK|ACK1|P|2.3.1\rMSA|AA|C4\r",
            ),
            (
                b"MSH|^~\\&|S|F|R|G|198801011200||ADT|C5|P|2.1\nPID|1",
                AckCode::AA,
                vec![],
                "MSH|^~\\&|HL7FHIR|G|S|F|20260101120000+0000||ACK^^ACK|ACK1|P|2.3.1\rMSA|AA|C5\r",
            ),
            (
                b"garbage",
                AckCode::AR,
                vec![Error::new(
                    ErrorKind::MissingHeader,
                    "message does not start with MSH",
                )],
                "MSH|^~\\&|HL7FHIR||||20260101120000+0000||ACK^^ACK|ACK1|P|2.5.1\rMSA|AR|\"\"\rERR|||100^Segment sequence error^HL70357|E||||message does not start with MSH\r",
            ),
            (
                b"MSH|^~\\&|S|F|R|G|2026||ORU^R01^ORU_R01|C3|P|2.5.1|||AL|AL\r",
                AckCode::CA,
                vec![],
                "MSH|^~\\&|HL7FHIR|G|S|F|20260101120000+0000||ACK^R01^ACK|ACK1|P|2.5.1\rMSA|CA|C3\r",
            ),
        ];
        for (input, code, errors, want) in cases {
            let got = build_ack(input, code, &errors, &opts()).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), want);
        }
    }

    #[test]
    fn codes_for_errors() {
        let parse = Error::new(ErrorKind::MissingHeader, "x");
        let value = Error::new(ErrorKind::BadValue, "x");
        assert_eq!(AckCode::for_error(&parse, false), AckCode::AR);
        assert_eq!(AckCode::for_error(&parse, true), AckCode::CR);
        assert_eq!(AckCode::for_error(&value, false), AckCode::AE);
        assert_eq!(AckCode::for_error(&value, true), AckCode::CE);
        assert_eq!(
            error_condition(&Error::new(ErrorKind::UnsupportedEvent, "x")),
            ("201", "Unsupported event code")
        );
        assert_eq!(
            error_condition(&Error::new(ErrorKind::MissingRequired, "x")),
            ("101", "Required field missing")
        );
    }

    #[test]
    fn segment_occurrence_counts_same_ids() {
        let m = b"MSH|x\rOBX|1\rNTE|1\rOBX|2\rOBX|3\r";
        assert_eq!(occurrence(m, 5, b"OBX"), 3);
        assert_eq!(occurrence(m, 3, b"NTE"), 1);
    }
}
