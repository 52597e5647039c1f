//! Command-line arguments: raw flags are read once with lexopt and turned into a validated
//! [`Config`]; nothing downstream looks at flag text.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::notify::{Flavor, Format, NotifyOptions};
use crate::v2::{Charset, Formatting, ParseOptions};

/// The subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Parse,
    Roundtrip,
    Notify,
    Writeback,
    Ack,
    Query,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub command: Command,
    pub parse: ParseOptions,
    /// Where error records go; stderr when `None`.
    pub errors: Option<PathBuf>,
    /// Flush stdout after every record.
    pub line_buffered: bool,
    /// Input files; stdin when empty.
    pub inputs: Vec<PathBuf>,
    /// Notification settings (`notify`).
    pub notify: NotifyOptions,
    /// A folder of mapping tables laid over the embedded ones.
    pub mappings: Option<PathBuf>,
    /// The senders' time zone.
    pub timezone: Option<chrono_tz::Tz>,
    /// MessageHeader.source.endpoint.
    pub source_endpoint: Option<String>,
    /// Report unmapped fields and untranslated codes on stderr.
    pub explain: bool,
    /// `--strict`: the standard for parsing, and bad values fail a translation.
    pub strict: bool,
    /// Worker threads.
    pub jobs: usize,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Where ACKs go, one per HL7 input.
    pub ack: Option<PathBuf>,
    /// Frame the ACKs in MLLP.
    pub ack_mllp: bool,
    /// Writeback: the event to write, instead of inferring it.
    pub event: Option<String>,
    /// Writeback: the envelope (MSH-3 to 6, 11, 12, seed).
    pub envelope: crate::writeback::Envelope,
    /// Writeback: frame the messages in MLLP.
    pub mllp: bool,
    /// Ack: the writeback requests the ACKs answer.
    pub request: Option<PathBuf>,
    /// Query: read responses (`--response`) instead of writing queries.
    pub response: bool,
    /// Query: QBP^Q22 or QRY^A19.
    pub style: crate::query::Style,
    /// Query: the FHIR base URL of the links in searchset Bundles.
    pub base: Option<String>,
}

/// What the arguments ask for.
#[derive(Debug)]
pub(crate) enum Request {
    Run(Box<Config>),
    Help(String),
    Version,
}

pub(crate) const USAGE: &str = "\
hl7fhir: HL7 v2 <-> FHIR R4 translation engine

USAGE:
    hl7fhir <COMMAND> [OPTIONS] [FILE...]

Reads HL7 v2 from the FILEs or from stdin (MLLP frames, FHS/BHS batches and plain
messages, mixed and detected per message); writes one record per message on stdout.

COMMANDS:
    notify      one FHIR R4 notification per message (JSON, one per line): a message Bundle,
                or an R4 Subscriptions Backport notification
    parse       one JSON line per message: its segments, fields, components as decoded text
    writeback   FHIR JSON or NDJSON (a resource, or a transaction, batch or message Bundle) →
                the HL7 v2 message an EHR takes (ADT, ORU, DFT), one after another
    ack         HL7 v2 ACKs → FHIR OperationOutcomes (with --request, response Bundles)
    query       FHIR searches, one per line (Patient?family=SMITH&birthdate=1980-01-01, with
                or without a base URL, or a Parameters resource) → HL7 v2 queries
                (QBP^Q22 per IHE PDQ, or QRY^A19); with --response, the EHR's answers
                (RSP^K22, ADR^A19) → FHIR searchset Bundles or OperationOutcomes
    roundtrip   re-encode every message from its parsed form and write it back with its
                framing: stdout is byte-identical to stdin for every message the parser accepts

NOTIFY OPTIONS:
    --detailed               every mapped element of every resource (default)
    --lightweight            identifiers, references, required elements and the event time
    --format FORM            message (default): a FHIR message Bundle; subscription: an R4
                             Subscriptions Backport notification (id-only when lightweight,
                             full-resource when detailed)
    --mappings DIR           mapping tables laid over the embedded ones (see mappings/README.md)
    --timezone ZONE          the senders' IANA time zone (e.g. America/Chicago), for time stamps
                             sent without an offset; without it such values keep their date only
    --source-endpoint URL    MessageHeader.source.endpoint (default: mllp:// and MSH-3)
    --subscription REF       the Subscription a Backport notification answers
                             (default Subscription/hl7fhir)
    --topic URL              its topic (default urn:hl7fhir:topic:hl7v2-event)
    --explain                for each message, a JSON line on stderr naming every valued field,
                             repetition or component no mapping row read and every code no
                             vocabulary translates

WRITEBACK OPTIONS:
    --event E                the trigger event to write (A01, A08, R01, P03 …) instead of inferring it
    --profile FILE           the destination's envelope: a JSON object with sending_application,
                             sending_facility, receiving_application, receiving_facility,
                             processing_id (P, T, D), version (2.5, 2.5.1 default, 2.6, 2.7,
                             2.8), seed, timestamp
    --seed N                 seed of the message control ids (unique within a run, the same for
                             the same seed and input)
    --timestamp DTM          MSH-7 for every message, an HL7 date/time such as
                             20260101120000+0000 (default: now, UTC)
    --mllp                   frame the messages in MLLP
    --explain                for each request, a JSON line on stderr naming every element no
                             field took, at its place in the request (Bundle.entry[2].resource…;
                             a resource the message has no place for, whole)

ACK OPTIONS:
    --request FILE           the writeback requests (JSON or NDJSON, in the order they were sent,
                             with the same --profile/--seed): each ACK that answers a transaction
                             or batch Bundle gives a transaction-response (batch-response) Bundle

QUERY OPTIONS:
    --style STYLE            q22 (default): QBP^Q22^QBP_Q21, IHE PDQ; a19: QRY^A19^QRY_A19,
                             which HL7 v2.7 withdrew (profile version 2.5, 2.5.1 or 2.6 only)
    --response               read HL7 v2 responses instead: RSP^K22 or ADR^A19 → a searchset
                             Bundle (a next link when DSC continues it); AE/AR → OperationOutcome
    --base URL               the FHIR base URL of the self and next links (default: relative)
    --profile, --seed, --timestamp, --mllp as for writeback (query tags are seeded too)

OPTIONS:
    --strict                 follow the standard: CR segment ends only, no BOM, no blank lines,
                             MSH-2 as written, well-formed escapes; and fail a translation on a
                             bad value or a missing required segment (default: tolerate these,
                             keep a bad value's original text, note the problem for --explain)
    --charset NAME           character set when MSH-18 is empty: ASCII (default), UNICODE UTF-8, 8859/1
    --keep-formatting        keep formatting escapes such as \\.br\\ as written (default: render)
    --max-message-bytes N    largest message (default 16777216)
    --max-segments N         most segments in a message (default 100000)
    --max-fields N           most fields in a segment (default 1000)
    --max-field-bytes N      largest field (default 8388608)
    --max-repetitions N      most repetitions of a field (default 10000)
    --jobs N                 translate on N threads (default: the cores available); output
                             stays in input order
    --progress               a progress line on stderr every second (messages/s, errors, bytes)
    --ack FILE               write one HL7 ACK per input message to FILE: AA, or AE/AR with an
                             ERR segment naming where and why (notify, parse, roundtrip)
    --ack-mllp               frame those ACKs in MLLP (0x0B … 0x1C 0x0D)
    --errors FILE            write error records to FILE instead of stderr
    --line-buffered          flush stdout after every record
    --show-values            let error records quote message values (they may be patient data)
    -h, --help               this help
    -V, --version            the version

OUTPUT:
    Each input message yields exactly one record: its output on stdout, or one JSON error
    record (index, offset, error_offset, control_id, location, kind, message) on stderr or
    --errors FILE. The run ends with a summary line on stderr: N in, N translated, N failed.

EXIT STATUS:
    0  every message translated      1  at least one message failed
    2  usage error                   3  I/O error reading input or writing output
";

fn number(parser: &mut lexopt::Parser, flag: &str) -> Result<usize, String> {
    let v = parser.value().map_err(|e| e.to_string())?;
    v.to_str()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} takes a positive whole number"))
}

/// Reads the arguments (without the program name).
pub(crate) fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Request, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut command = None;
    let mut parse = ParseOptions::tolerant();
    let mut errors = None;
    let mut line_buffered = false;
    let mut inputs = Vec::new();
    let mut notify = NotifyOptions::default();
    let mut mappings = None;
    let mut timezone = None;
    let mut source_endpoint = None;
    let mut explain = false;
    let mut strict = false;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut progress = false;
    let mut ack = None;
    let mut ack_mllp = false;
    let mut event = None;
    let mut profile: Option<PathBuf> = None;
    let mut seed = None;
    let mut timestamp = None;
    let mut mllp = false;
    let mut request = None;
    let mut response = false;
    let mut style = crate::query::Style::default();
    let mut base = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Request::Help(USAGE.to_string())),
            Short('V') | Long("version") => return Ok(Request::Version),
            Long("strict") => {
                parse.leniency = crate::v2::Leniency::STRICT;
                strict = true;
            }
            Long("charset") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let name = v.to_string_lossy();
                parse.default_charset = Charset::from_msh18(&name).ok_or_else(|| format!("--charset: unsupported character set {name:?} (ASCII, UNICODE UTF-8, 8859/1)"))?;
            }
            Long("keep-formatting") => parse.formatting = Formatting::Keep,
            Long("max-message-bytes") => {
                parse.limits.max_message_bytes =
                    number(&mut parser, "--max-message-bytes")?.min(u32::MAX as usize)
            }
            Long("max-segments") => {
                parse.limits.max_segments = number(&mut parser, "--max-segments")?
            }
            Long("max-fields") => parse.limits.max_fields = number(&mut parser, "--max-fields")?,
            Long("max-field-bytes") => {
                parse.limits.max_field_bytes = number(&mut parser, "--max-field-bytes")?
            }
            Long("max-repetitions") => {
                parse.limits.max_repetitions = number(&mut parser, "--max-repetitions")?
            }
            Long("errors") => {
                errors = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Long("line-buffered") => line_buffered = true,
            Long("show-values") => parse.show_values = true,
            Long("detailed") => notify.flavor = Flavor::Detailed,
            Long("lightweight") => notify.flavor = Flavor::Lightweight,
            Long("format") => {
                notify.format = match parser.value().map_err(|e| e.to_string())?.to_str() {
                    Some("message") => Format::Message,
                    Some("subscription") => Format::Subscription,
                    _ => return Err("--format takes message or subscription".into()),
                }
            }
            Long("mappings") => {
                mappings = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Long("timezone") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let name = v.to_string_lossy();
                timezone = Some(
                    name.parse::<chrono_tz::Tz>()
                        .map_err(|_| format!("--timezone: unknown IANA time zone {name:?}"))?,
                );
            }
            Long("source-endpoint") => {
                source_endpoint = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .to_string_lossy()
                        .into_owned(),
                )
            }
            Long("subscription") => {
                notify.subscription = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned()
            }
            Long("topic") => {
                notify.topic = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned()
            }
            Long("explain") => explain = true,
            Long("jobs") => jobs = number(&mut parser, "--jobs")?,
            Long("progress") => progress = true,
            Long("ack") => ack = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("ack-mllp") => ack_mllp = true,
            Long("event") => {
                event = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .to_string_lossy()
                        .into_owned(),
                )
            }
            Long("profile") => {
                profile = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Long("seed") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                seed = Some(
                    v.to_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or("--seed takes a whole number")?,
                );
            }
            Long("timestamp") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let t = v.to_string_lossy().into_owned();
                crate::writeback::envelope::check_timestamp(&t)
                    .map_err(|why| format!("--timestamp {t:?}: {why}"))?;
                timestamp = Some(t);
            }
            Long("mllp") => mllp = true,
            Long("response") => response = true,
            Long("style") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                style = v
                    .to_str()
                    .and_then(crate::query::Style::from_name)
                    .ok_or("--style takes q22 or a19")?;
            }
            Long("base") => {
                base = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .to_string_lossy()
                        .into_owned(),
                )
            }
            Long("request") => {
                request = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            Value(v) if command.is_none() => {
                command = Some(match v.to_str() {
                    Some("parse") => Command::Parse,
                    Some("roundtrip") => Command::Roundtrip,
                    Some("notify") => Command::Notify,
                    Some("writeback") => Command::Writeback,
                    Some("ack") => Command::Ack,
                    Some("query") => Command::Query,
                    _ => {
                        return Err(format!(
                            "unknown command {:?}; try --help",
                            v.to_string_lossy()
                        ));
                    }
                })
            }
            Value(v) => inputs.push(PathBuf::from(v)),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let command = command.ok_or("no command given; try --help")?;
    let mut envelope = match &profile {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("--profile: cannot read {}: {e}", p.display()))?;
            crate::writeback::Envelope::from_profile(&text)
                .map_err(|e| format!("--profile {}: {e}", p.display()))?
        }
        None => crate::writeback::Envelope::default(),
    };
    if let Some(s) = seed {
        envelope.seed = s;
    }
    if timestamp.is_some() {
        envelope.timestamp = timestamp;
    }
    // Checked once here rather than per search: every query of the run would be refused alike.
    // Responses are read whatever version their MSH-12 names.
    if command == Command::Query && !response {
        style.check_version(&envelope.version).map_err(|why| {
            format!(
                "--style {}: {why}; use --style q22, or a profile with version 2.5, 2.5.1 or 2.6",
                style.name()
            )
        })?;
    }
    Ok(Request::Run(Box::new(Config {
        command,
        parse,
        errors,
        line_buffered,
        inputs,
        notify,
        mappings,
        timezone,
        source_endpoint,
        explain,
        strict,
        jobs,
        progress,
        ack,
        ack_mllp,
        event,
        envelope,
        mllp,
        request,
        response,
        style,
        base,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(OsString::from))? {
            Request::Run(c) => Ok(*c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn flags() {
        let c = run(&[
            "parse",
            "--strict",
            "--max-segments",
            "5",
            "a.hl7",
            "--charset",
            "8859/1",
        ])
        .unwrap();
        assert_eq!(c.command, Command::Parse);
        assert!(!c.parse.leniency.lf_segment_ends);
        assert_eq!(c.parse.limits.max_segments, 5);
        assert_eq!(c.parse.default_charset, Charset::Latin1);
        assert_eq!(c.inputs, [PathBuf::from("a.hl7")]);
        assert!(run(&["roundtrip"]).unwrap().parse.leniency.lf_segment_ends);
        let errors: &[(&[&str], &str)] = &[
            (&[], "no command given; try --help"),
            (
                &["frobnicate"],
                "unknown command \"frobnicate\"; try --help",
            ),
            (
                &["parse", "--max-segments", "x"],
                "--max-segments takes a positive whole number",
            ),
            (
                &["parse", "--charset", "EBCDIC"],
                "--charset: unsupported character set \"EBCDIC\" (ASCII, UNICODE UTF-8, 8859/1)",
            ),
            (&["parse", "--nope"], "invalid option '--nope'"),
            (
                &["notify", "--timezone", "Mars/Olympus"],
                "--timezone: unknown IANA time zone \"Mars/Olympus\"",
            ),
            (
                &["notify", "--format", "xml"],
                "--format takes message or subscription",
            ),
            (&["query", "--style", "q21"], "--style takes q22 or a19"),
            (
                &["writeback", "--timestamp", "2026-01-01T12:00:00Z"],
                "--timestamp \"2026-01-01T12:00:00Z\": not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
            ),
            (
                &["query", "--timestamp", "20260230"],
                "--timestamp \"20260230\": day out of range for the month",
            ),
        ];
        for (args, want) in errors {
            assert_eq!(run(args).unwrap_err(), *want);
        }
    }

    /// QRY^A19 is written only under a version that defines it; responses are read whatever
    /// their version.
    #[test]
    fn a19_only_before_v2_7() {
        let dir = std::env::temp_dir().join(format!("hl7fhir-args-a19-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let profile = |v: &str| {
            let p = dir.join(format!("{v}.json"));
            std::fs::write(&p, format!(r#"{{"version": "{v}"}}"#)).unwrap();
            p.to_str().unwrap().to_string()
        };
        for v in ["2.5", "2.5.1", "2.6"] {
            let p = profile(v);
            assert!(
                run(&["query", "--style", "a19", "--profile", &p]).is_ok(),
                "{v}"
            );
        }
        for v in ["2.7", "2.8"] {
            let p = profile(v);
            assert_eq!(
                run(&["query", "--style", "a19", "--profile", &p]).unwrap_err(),
                format!(
                    "--style a19: QRY^A19 is not in HL7 v{v}: v2.7 withdrew it (HL7 table 0354); use --style q22, or a profile with version 2.5, 2.5.1 or 2.6"
                )
            );
            assert!(run(&["query", "--profile", &p]).is_ok(), "{v} q22");
            assert!(
                run(&["query", "--style", "a19", "--response", "--profile", &p]).is_ok(),
                "{v} response"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
