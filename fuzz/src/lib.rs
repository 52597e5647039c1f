//! The checks behind the fuzz targets: what must hold for every input, not only "does not
//! panic". `fuzz_targets/parse.rs` calls [`check_parse`], `fuzz_targets/roundtrip.rs` calls
//! [`check_roundtrip`]. The root crate's `tests/fuzz_regressions.rs` includes this file by path
//! and runs every saved fixture through the same functions, so what the fuzzer found stays fixed.
//!
//! A broken invariant is a panic whose message names it; libFuzzer reports the panic as a crash
//! and saves the input under `fuzz/artifacts/<target>/`.

use std::io::Read;

use hl7fhir::ErrorKind;
use hl7fhir::v2::{
    AckCode, AckOptions, Chunk, EncodeMode, FrameReader, Framing, Message, ParseOptions, Parser,
    Path, Tree, Value, build_ack,
};

/// The message size limits the framing check runs with: a realistic one, and one small enough
/// that fuzz inputs (a few KiB) reach the paths that skip oversized messages.
pub const FRAME_LIMITS: [usize; 2] = [4096, 64];

/// Paths resolved against every message that parses.
const PATHS: [&str; 5] = ["MSH-9.2", "MSH-18", "PID-3[2].4.2", "OBX[2]-5", "ZZZ-1"];

/// The `parse` target: the parser, with three sets of options, the views and text decoding of
/// every part, the stream framer, and the ACK built for the input.
pub fn check_parse(data: &[u8]) {
    let strict = walk(data, ParseOptions::strict());
    let tolerant = walk(data, ParseOptions::tolerant());
    walk(data, tight_limits());
    // A leniency only ever lets more through, and none of them changes the structure.
    if strict.is_some() {
        assert_eq!(
            strict, tolerant,
            "the tolerant parser must accept what the strict one accepts, with the same segments"
        );
    }
    for max in FRAME_LIMITS {
        check_framing(data, max);
    }
    check_ack(data);
}

/// The `roundtrip` target.
///
/// 1. Every input a parser accepts comes back byte for byte from [`EncodeMode::Exact`].
/// 2. [`EncodeMode::Normalized`] output parses under the strict options (it only removes what
///    the structural leniencies allow) and decodes to the same tree.
/// 3. The decoded tree, encoded again, parses back to the same tree; see [`check_tree`] for
///    the one place the trees legitimately differ.
pub fn check_roundtrip(data: &[u8]) {
    for options in [ParseOptions::strict(), ParseOptions::tolerant()] {
        let mut parser = Parser::new(options);
        if let Ok(msg) = parser.parse(data) {
            let mut out = Vec::with_capacity(data.len());
            msg.encode(EncodeMode::Exact, &mut out);
            assert_same_bytes("EncodeMode::Exact must reproduce the input", data, &out);
        }
    }
    let mut parser = Parser::new(ParseOptions::tolerant());
    let Ok(msg) = parser.parse(data) else {
        return;
    };
    let tree = msg.to_tree().ok();
    check_normalized(&msg, tree.as_ref());
    if let Some(tree) = tree {
        check_tree(&msg, &tree);
    }
}

/// Options whose limits the fuzzer's small inputs can reach.
fn tight_limits() -> ParseOptions {
    let mut options = ParseOptions::tolerant();
    options.limits.max_message_bytes = 512;
    options.limits.max_segments = 6;
    options.limits.max_fields = 8;
    options.limits.max_field_bytes = 40;
    options.limits.max_repetitions = 3;
    options
}

/// Parses and visits every part of the message; returns the segment count when it parsed.
fn walk(data: &[u8], options: ParseOptions) -> Option<usize> {
    let mut parser = Parser::new(options);
    let msg = parser.parse(data).ok()?;
    let d = *msg.delimiters();
    assert_eq!(msg.header().id(), "MSH", "the first segment is MSH");
    assert!(msg.segment(0).is_none() && msg.segment(msg.segment_count() + 1).is_none());
    for seg in msg.segments() {
        let _ = (seg.location().terser(), seg.raw(), seg.terminator());
        assert!(seg.field(0).is_none() && seg.field(seg.field_count() + 1).is_none());
        for field in seg.fields() {
            touch(field.value());
            // MSH-1 and MSH-2 are the delimiters themselves.
            let plain = !(seg.number() == 1 && field.location().field <= 2);
            if plain {
                free_of(field.raw(), &[d.field, b'\r', b'\n'], "a field");
            }
            for rep in field.repetitions() {
                touch(rep.value());
                if plain {
                    free_of(rep.raw(), d.repetition.as_slice(), "a repetition");
                }
                for comp in rep.components() {
                    touch(comp.value());
                    if plain {
                        free_of(comp.raw(), &[d.component], "a component");
                    }
                    for sub in comp.subcomponents() {
                        touch(sub.value());
                        if plain {
                            free_of(sub.raw(), d.subcomponent.as_slice(), "a subcomponent");
                        }
                    }
                }
            }
        }
    }
    for path in PATHS {
        let path: Path = path
            .parse()
            .unwrap_or_else(|e| panic!("fixed path {path}: {e}"));
        if let Some(v) = msg.get(&path) {
            touch(v);
        }
    }
    Some(msg.segment_count())
}

/// Decodes a value every way there is; errors are fine, panics are not.
fn touch(v: Value<'_>) {
    let _ = (v.text(), v.text_with(hl7fhir::v2::Formatting::Keep));
    let _ = (v.is_null(), v.is_empty(), v.location().terser());
}

fn free_of(raw: &[u8], forbidden: &[u8], what: &str) {
    if let Some(b) = raw.iter().find(|b| forbidden.contains(b)) {
        panic!(
            "{what} holds its own separator {:?}: {:?}",
            *b as char,
            String::from_utf8_lossy(raw)
        );
    }
}

/// Normalized output: strictly valid, and the same text as the message it came from.
fn check_normalized(msg: &Message<'_>, tree: Option<&Tree>) {
    let mut normal = Vec::new();
    msg.encode(EncodeMode::Normalized, &mut normal);
    let mut strict = Parser::new(ParseOptions::strict());
    let again = strict
        .parse(&normal)
        .unwrap_or_else(|e| panic!("normalized output does not parse strictly: {e}"));
    let mut twice = Vec::new();
    again.encode(EncodeMode::Normalized, &mut twice);
    assert_same_bytes("normalizing is idempotent", &normal, &twice);
    if let Some(tree) = tree {
        let mut tolerant = Parser::new(ParseOptions::tolerant());
        let back = tolerant
            .parse(&normal)
            .and_then(|m| m.to_tree())
            .unwrap_or_else(|e| panic!("normalized output does not decode: {e}"));
        assert_same_tree(
            "normalized output decodes to the same text",
            &with_declared_msh2(msg, tree),
            &back,
        );
    }
}

/// `parse(tree.encode()) == tree`, as [`Tree`] documents, for a tree read from a message.
///
/// The tree is encoded with the parsed message's own delimiters and with the character set the
/// message is decoded in ([`Message::charset`]); that is the set the re-parse decodes in too,
/// since MSH-18 travels with the tree. `Charset::Utf8` is that set for every message that
/// declares UTF-8, ASCII or nothing (the tolerant options read ASCII as UTF-8); encoding a
/// Latin-1 message's text as UTF-8 would make the re-parse read `ü` as `Ã¼`, so fixing UTF-8
/// would only test fewer messages.
///
/// What the property does not cover, and why:
/// - Segment terminators, blank lines and the BOM are not text: the tree has none of them, the
///   encoder writes CR. The trees compare equal regardless.
/// - MSH-2 is kept in the tree as written, but the encoder writes it from the delimiters, so a
///   doubled escape (`^~\\&`, read as `^~\&` under the tolerant options) comes back as
///   `^~\&`. The expected tree has MSH-2 replaced by the declared encoding characters; nothing
///   else is adjusted.
/// - A re-parse may hit a size limit, because escaping can make text longer than the bytes it
///   came from (`\.sp 1000\` is 10 bytes and decodes to 1000 line feeds, re-encoded as
///   `\.br\` each). Only [`ErrorKind::LimitExceeded`] is excused, and the default limits are
///   far above what a fuzz input of a few KiB can grow to.
///
/// Encoding itself cannot fail for a parsed tree: parsed text never holds a separator or line
/// break unless the message has an escape character to write it with, and every character
/// came out of the charset it goes back into. So a failure to encode is a failure.
fn check_tree(msg: &Message<'_>, tree: &Tree) {
    let d = msg.delimiters();
    let bytes = tree
        .encode(d, msg.charset())
        .unwrap_or_else(|e| panic!("a parsed tree does not encode: {e}"));
    let mut parser = Parser::new(ParseOptions::tolerant());
    let again = match parser.parse(&bytes) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::LimitExceeded => return,
        Err(e) => panic!(
            "the encoded tree does not parse: {e}\nencoded:\n{}",
            show(&bytes)
        ),
    };
    assert_eq!(again.delimiters(), d, "the delimiters survive encoding");
    assert_eq!(
        again.charset(),
        msg.charset(),
        "the charset survives encoding"
    );
    let back = again.to_tree().unwrap_or_else(|e| {
        panic!(
            "the encoded tree does not decode: {e}\nencoded:\n{}",
            show(&bytes)
        )
    });
    assert_same_tree(
        "parse(encode(tree)) == tree",
        &with_declared_msh2(msg, tree),
        &back,
    );
}

/// The tree with MSH-2 as the encoder writes it: the declared encoding characters.
fn with_declared_msh2(msg: &Message<'_>, tree: &Tree) -> Tree {
    let mut want = tree.clone();
    let declared = String::from_utf8_lossy(&msg.delimiters().encoding_characters()).into_owned();
    if let Some(msh2) = want.segments.first_mut().and_then(|s| s.fields.get_mut(1)) {
        *msh2 = vec![vec![vec![declared]]];
    }
    want
}

/// The ACK for any input is a message the strict parser reads.
fn check_ack(data: &[u8]) {
    let errors: Vec<_> = Parser::new(ParseOptions::strict())
        .parse(data)
        .err()
        .into_iter()
        .collect();
    let code = errors
        .first()
        .map_or(AckCode::AA, |e| AckCode::for_error(e, false));
    let opts = AckOptions {
        sending_application: None,
        sending_facility: None,
        control_id: "ACK1".into(),
        timestamp: "20260101120000+0000".into(),
    };
    // Refusing to build an ACK (text the received delimiters cannot carry) is an answer.
    let Ok(ack) = build_ack(data, code, &errors, &opts) else {
        return;
    };
    let mut parser = Parser::new(ParseOptions::strict());
    let msg = parser
        .parse(&ack)
        .unwrap_or_else(|e| panic!("the ACK does not parse: {e}\nACK:\n{}", show(&ack)));
    assert_eq!(
        msg.first("MSA").and_then(|s| s.field(1)).map(|f| f.raw()),
        Some(code.as_str().as_bytes()),
        "MSA-1 is the acknowledgement code"
    );
}

/// One chunk, owned, for comparing two readings of the same stream.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Message {
        framing: Framing,
        offset: u64,
        leading: Vec<u8>,
        message: Vec<u8>,
        trailing: Vec<u8>,
    },
    Envelope {
        offset: u64,
        bytes: Vec<u8>,
    },
    Filler(Vec<u8>),
    Invalid {
        offset: u64,
        bytes: Vec<u8>,
        error: String,
    },
}

/// The framer over `data` with message limit `max`: every byte accounted for, each chunk what
/// it says it is, and the same chunks whether the bytes arrive at once or a few at a time.
pub fn check_framing(data: &[u8], max: usize) {
    let whole = frame(data, data, max);
    let trickled = frame(Trickle { rest: data, n: 0 }, data, max);
    // A run of whitespace is cut into several fillers when it spans reads; nothing else may
    // depend on how the stream was read.
    assert_eq!(
        join_fillers(whole),
        join_fillers(trickled),
        "the chunks depend on the read sizes (max {max})"
    );
}

fn frame<R: Read>(src: R, data: &[u8], max: usize) -> Vec<Piece> {
    let mut reader = FrameReader::new(src, max);
    let mut parser = Parser::new(ParseOptions::tolerant());
    let mut pieces = Vec::new();
    loop {
        let before = reader.offset();
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => panic!("reading from memory failed: {e}"),
        };
        let piece = match chunk {
            Chunk::Message(m) => {
                assert_eq!(m.offset, before + m.leading.len() as u64, "message offset");
                assert!(
                    m.message.len() <= max,
                    "a message over the limit of {max} bytes: {} bytes",
                    m.message.len()
                );
                match m.framing {
                    Framing::Plain => {
                        assert!(m.leading.is_empty() && m.trailing.is_empty());
                        let body = m.message.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(m.message);
                        assert!(body.starts_with(b"MSH"), "a plain message starts with MSH");
                    }
                    Framing::Mllp => {
                        assert_eq!(m.leading, b"\x0b", "MLLP start byte");
                        assert!(
                            m.trailing == b"\x1c" || m.trailing == b"\x1c\r",
                            "MLLP end bytes: {:?}",
                            m.trailing
                        );
                        assert!(
                            !m.message.contains(&0x1c),
                            "an MLLP message holds its end byte"
                        );
                    }
                }
                let _ = parser.parse(m.message).map(|msg| msg.segment_count());
                Piece::Message {
                    framing: m.framing,
                    offset: m.offset,
                    leading: m.leading.to_vec(),
                    message: m.message.to_vec(),
                    trailing: m.trailing.to_vec(),
                }
            }
            Chunk::Envelope { bytes, offset } => {
                assert_eq!(offset, before, "envelope offset");
                let line = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                assert!(
                    [b"FHS", b"BHS", b"BTS", b"FTS"]
                        .iter()
                        .any(|id| line.starts_with(*id)),
                    "an envelope is a batch header or trailer: {:?}",
                    String::from_utf8_lossy(bytes)
                );
                Piece::Envelope {
                    offset,
                    bytes: bytes.to_vec(),
                }
            }
            Chunk::Filler(bytes) => {
                assert!(
                    !bytes.is_empty() && bytes.iter().all(|b| b" \t\r\n".contains(b)),
                    "a filler is whitespace: {bytes:?}"
                );
                Piece::Filler(bytes.to_vec())
            }
            Chunk::Invalid {
                bytes,
                offset,
                error,
            } => {
                assert_eq!(offset, before, "invalid chunk offset");
                assert_eq!(error.offset(), Some(before), "invalid chunk error offset");
                // Only a message skipped for its size loses its bytes.
                assert_eq!(
                    bytes.is_empty(),
                    error.kind() == ErrorKind::LimitExceeded,
                    "bytes kept for {error}"
                );
                Piece::Invalid {
                    offset,
                    bytes: bytes.to_vec(),
                    error: error.to_string(),
                }
            }
        };
        let after = reader.offset();
        let kept: Vec<u8> = match &piece {
            Piece::Message {
                leading,
                message,
                trailing,
                ..
            } => [&leading[..], message, trailing].concat(),
            Piece::Envelope { bytes, .. } | Piece::Filler(bytes) | Piece::Invalid { bytes, .. } => {
                bytes.clone()
            }
        };
        let from = before as usize;
        if kept.is_empty() {
            // Skipped as too large: the reader moved past more than `max` bytes.
            assert!(
                after - before > max as u64,
                "a skipped message of {} bytes is within the limit of {max}",
                after - before
            );
        } else {
            assert_eq!(after, before + kept.len() as u64, "offset after a chunk");
            assert_same_bytes(
                "a chunk's bytes are the stream's bytes at its offset",
                data.get(from..from + kept.len()).unwrap_or_default(),
                &kept,
            );
        }
        pieces.push(piece);
    }
    assert_eq!(
        reader.offset(),
        data.len() as u64,
        "the whole stream was read"
    );
    pieces
}

fn join_fillers(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match (out.last_mut(), p) {
            (Some(Piece::Filler(a)), Piece::Filler(b)) => a.extend_from_slice(&b),
            (_, p) => out.push(p),
        }
    }
    out
}

/// A reader that hands out a few bytes per call, cycling through awkward sizes.
struct Trickle<'a> {
    rest: &'a [u8],
    n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const SIZES: [usize; 5] = [1, 5, 2, 64, 3];
        let k = SIZES[self.n % SIZES.len()]
            .min(buf.len())
            .min(self.rest.len());
        self.n += 1;
        buf[..k].copy_from_slice(&self.rest[..k]);
        self.rest = &self.rest[k..];
        Ok(k)
    }
}

fn assert_same_bytes(what: &str, want: &[u8], got: &[u8]) {
    if want != got {
        panic!("{what}\nexpected:\n{}\nactual:\n{}", show(want), show(got));
    }
}

fn assert_same_tree(what: &str, want: &Tree, got: &Tree) {
    if want != got {
        panic!("{what}\nexpected:\n{want:#?}\nactual:\n{got:#?}");
    }
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// The engine the translation targets share, built once from the embedded tables.
fn engine() -> &'static hl7fhir::engine::Engine {
    static ENGINE: std::sync::OnceLock<hl7fhir::engine::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        hl7fhir::engine::Engine::with_defaults().expect("the embedded tables compile")
    })
}

/// The `notify` target: every message the framer finds gives exactly one outcome, a
/// notification or an error, in each flavour and form; a notification is JSON whose Bundle
/// starts with a MessageHeader (message form) or a Parameters (Backport form).
pub fn check_notify(data: &[u8]) {
    use hl7fhir::notify::{Flavor, Format, NotifyOptions};
    let engine = engine();
    let mut reader = FrameReader::new(data, 1 << 16);
    while let Ok(Some(chunk)) = reader.next_chunk() {
        let Chunk::Message(m) = chunk else { continue };
        for (flavor, format) in [
            (Flavor::Detailed, Format::Message),
            (Flavor::Lightweight, Format::Message),
            (Flavor::Detailed, Format::Subscription),
        ] {
            let opts = NotifyOptions {
                flavor,
                format,
                ..NotifyOptions::default()
            };
            let mut out = Vec::new();
            if engine
                .notify_with(&mut engine.parser(), m.message, &opts, true, &mut out)
                .is_ok()
            {
                let v: serde_json::Value =
                    serde_json::from_slice(&out).expect("a notification is JSON");
                let first = v["entry"][0]["resource"]["resourceType"].as_str();
                let want = if format == Format::Message {
                    "MessageHeader"
                } else {
                    "Parameters"
                };
                assert_eq!(
                    first,
                    Some(want),
                    "a notification Bundle starts with its {want}"
                );
            }
        }
    }
}

/// The `writeback` target: a JSON input gives an HL7 v2 message or an error; every message
/// written parses under the strict options.
pub fn check_writeback(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let opts = hl7fhir::writeback::WritebackOptions::default();
    if let Ok(written) = engine().writeback(&json, &opts, 1) {
        let mut parser = Parser::new(ParseOptions::strict());
        if let Err(e) = parser.parse(&written.message) {
            panic!("a written message must parse strictly: {e}");
        }
    }
}

/// The `ack` target: an input gives an OperationOutcome with at least one issue, or an error.
pub fn check_ack_answer(data: &[u8]) {
    if let Ok(answer) = engine().ack(data) {
        assert_eq!(answer.outcome["resourceType"], "OperationOutcome");
        assert!(
            answer.outcome["issue"]
                .as_array()
                .is_some_and(|i| !i.is_empty()),
            "an outcome has an issue"
        );
    }
}

/// The `query` target, both ways, on the same bytes.
///
/// As searches, split into lines as `hl7fhir query` reads them: every line that is not blank
/// gives exactly one query or one error, in either style. A query parses under the strict
/// options and is the message it claims (MSH-9, MSH-10, the query tag). A QBP^Q22 read back
/// from an answer that echoes its QPD (NF) gives a Bundle whose self link, sent again as the
/// same message of the run, writes the same QPD: the link asks exactly what was asked.
///
/// As responses, split by the framer: every message gives exactly one JSON line (a searchset
/// Bundle or an OperationOutcome) or an error and no output. A Bundle's next link sends
/// whenever its self link does, as the same QPD followed by a DSC with the pointer.
pub fn check_query(data: &[u8]) {
    use hl7fhir::query::{QueryOptions, ResponseOptions, Style};
    let engine = engine();
    let envelope = hl7fhir::writeback::Envelope {
        timestamp: Some("20260101120000+0000".into()),
        ..hl7fhir::writeback::Envelope::default()
    };
    let mut n = 0u64;
    for line in data.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        n += 1;
        for style in [Style::Q22, Style::A19] {
            let opts = QueryOptions {
                style,
                envelope: envelope.clone(),
            };
            let Ok(written) = engine.query(line, &opts, n) else {
                continue;
            };
            let mut parser = Parser::new(ParseOptions::strict());
            let msg = parser.parse(&written.message).unwrap_or_else(|e| {
                panic!(
                    "a query must parse strictly: {e}\n{}",
                    show(&written.message)
                )
            });
            let msh9: Vec<String> = (1..=3).map(|c| field_text(&msg, "MSH", 9, c)).collect();
            assert_eq!(msh9, style.message(), "MSH-9 of the query");
            assert_eq!(field_text(&msg, "MSH", 10, 1), written.control_id);
            let (tag_segment, tag_field) = match style {
                Style::Q22 => ("QPD", 2),
                Style::A19 => ("QRD", 4),
            };
            assert_eq!(
                field_text(&msg, tag_segment, tag_field, 1),
                written.query_tag
            );
            if style == Style::Q22 && msg.first("DSC").is_none() {
                let qpd = segment_bytes(&written.message, b"QPD|");
                let answer = [
                    &b"MSH|^~\\&|MPI|GHH|HL7FHIR||20260101120001+0000||RSP^K22^RSP_K21|R1|P|2.5.1\rMSA|AA|C1\rQAK|T1|NF\r"[..],
                    &qpd,
                    b"\r",
                ]
                .concat();
                let bundle = engine
                    .query_response(&answer, &ResponseOptions::default())
                    .unwrap_or_else(|e| {
                        panic!("the echo of a query must read back: {e}\n{}", show(&answer))
                    });
                let again = engine
                    .query(link(&bundle, "self").as_bytes(), &opts, n)
                    .unwrap_or_else(|e| {
                        panic!("the self link must send: {e}\n{}", link(&bundle, "self"))
                    });
                assert_same_bytes(
                    "the self link writes the QPD it came from",
                    &qpd,
                    &segment_bytes(&again.message, b"QPD|"),
                );
            }
        }
    }
    let mut parser = engine.parser();
    let mut reader = FrameReader::new(data, 1 << 16);
    while let Ok(Some(chunk)) = reader.next_chunk() {
        let Chunk::Message(m) = chunk else { continue };
        let mut out = Vec::new();
        let result = engine.query_response_with(
            &mut parser,
            m.message,
            &ResponseOptions::default(),
            &mut out,
        );
        if result.is_err() {
            assert!(out.is_empty(), "an error writes no output");
            continue;
        }
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "one answer is one line"
        );
        let json: serde_json::Value = serde_json::from_slice(&out).expect("an answer is JSON");
        match json["resourceType"].as_str() {
            Some("OperationOutcome") => assert!(
                json["issue"].as_array().is_some_and(|i| !i.is_empty()),
                "an outcome has an issue"
            ),
            Some("Bundle") => {
                assert_eq!(json["type"], "searchset");
                for e in json["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    match e["search"]["mode"].as_str() {
                        Some("match" | "include") => {}
                        // The supplier's warnings, sent with an accepted answer.
                        Some("outcome") => assert!(
                            e["resource"]["resourceType"] == "OperationOutcome"
                                && e["resource"]["issue"]
                                    .as_array()
                                    .is_some_and(|i| !i.is_empty()),
                            "an outcome entry is an OperationOutcome with an issue"
                        ),
                        other => panic!("search mode {other:?}"),
                    }
                }
                let next = link(&json, "next");
                if next.is_empty() {
                    continue;
                }
                let opts = QueryOptions {
                    style: Style::Q22,
                    envelope: envelope.clone(),
                };
                let sent = engine.query(link(&json, "self").as_bytes(), &opts, 1);
                let continued = engine.query(next.as_bytes(), &opts, 1);
                assert_eq!(
                    sent.is_ok(),
                    continued.is_ok(),
                    "the next link sends when the self link does: {next}"
                );
                if let (Ok(a), Ok(b)) = (sent, continued) {
                    let qpd = |m: &[u8]| {
                        let mut s = segment_bytes(m, b"QPD|");
                        // The self link has no tag of its own; the next link repeats the echoed one.
                        let fields: Vec<&[u8]> = s.splitn(4, |&c| c == b'|').collect();
                        if fields.len() == 4 {
                            s = [fields[0], fields[1], fields[3]].join(&b'|');
                        }
                        s
                    };
                    assert_same_bytes(
                        "the next link repeats the query",
                        &qpd(&a.message),
                        &qpd(&b.message),
                    );
                    assert!(
                        b.message.windows(5).any(|w| w == b"\rDSC|"),
                        "a continuation ends in DSC"
                    );
                }
            }
            other => panic!("an answer is a Bundle or an OperationOutcome, not {other:?}"),
        }
    }
}

/// The decoded text of component `comp` of the first repetition of a field of the first
/// segment with that id; empty when absent.
fn field_text(msg: &Message<'_>, id: &str, field: usize, comp: usize) -> String {
    msg.first(id)
        .and_then(|s| s.field(field))
        .and_then(|f| f.component(comp))
        .and_then(|c| c.text().ok())
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// The raw bytes of the first segment starting with `prefix`, without its CR.
fn segment_bytes(message: &[u8], prefix: &[u8]) -> Vec<u8> {
    message
        .split(|&b| b == b'\r')
        .find(|s| s.starts_with(prefix))
        .unwrap_or_default()
        .to_vec()
}

/// The URL of a Bundle's link with this relation; empty when absent.
fn link(bundle: &serde_json::Value, relation: &str) -> String {
    bundle["link"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["relation"] == relation))
        .and_then(|l| l["url"].as_str())
        .unwrap_or_default()
        .to_string()
}
