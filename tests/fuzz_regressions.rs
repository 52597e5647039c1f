//! Inputs the fuzzers found, and hand-written inputs of the same kind, run through exactly the
//! checks the fuzz targets run (`fuzz/src/lib.rs`, included by path). A crash the fuzzer finds
//! is minimised, saved in `fixtures/fuzz/` under a name that says what broke, and listed in
//! [`FIXTURES`] with one line on the bug; this test then keeps it fixed.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use hl7fhir::v2::{Charset, Chunk, Delimiters, FrameReader, MessageBuilder, ParseOptions, Parser};

/// Every file in `fixtures/fuzz/`, with the bug it pinned. Files named `query_*` are answers
/// to queries and run through the `query` check; the others through `parse` and `roundtrip`.
const FIXTURES: &[(&str, &str)] = &[
    (
        "batch_envelope_over_limit_returned_whole.hl7",
        "FrameReader returned a batch envelope line (FHS, BHS, BTS, FTS) longer than the \
         message limit when the line arrived in one read, but skipped it as too large when it \
         streamed in; it is now skipped either way",
    ),
    (
        "control_character_without_escape_character.hl7",
        "MSH-2 `^~` declares no escape character, and MSH-11 holds a raw 0x05: the parsed tree \
         did not encode once the encoder wrote control characters as `\\Xhh\\` escapes, which such \
         a message cannot hold; without an escape character they go as they came, and only \
         a CR, which would end the segment, fails",
    ),
    (
        "mllp_frame_over_limit_returned_as_message.hl7",
        "FrameReader returned an MLLP message longer than the limit when its end byte arrived in \
         the same read as the rest of the frame; it is now skipped as LimitExceeded, as it \
         was when the frame streamed in over several reads",
    ),
    (
        "msh18_charset_name_decoded_unlike_text.hl7",
        "found against a first fix for msh18_charset_name_needs_escaping, which decoded MSH-18 \
         keeping formatting escapes: `8859/1\\X0A\\` named 8859/1, its text (`8859/1` and a \
         line feed) was re-encoded as `8859/1\\.br\\`, which named nothing; MSH-18 is now \
         decoded with the same formatting option as `text()`",
    ),
    (
        "msh18_charset_name_escape_across_separator.hl7",
        "found against a second fix for msh18_charset_name_needs_escaping, which decoded the \
         first repetition of MSH-18 in one piece: with `.` as the subcomponent separator, \
         `\\.sk\\8859/1` read as a space and `8859/1`, but its subcomponents' texts re-encode \
         as `\\E\\.sk\\E\\8859/1`; MSH-18 is now decoded subcomponent by subcomponent, as \
         `text()` decodes it",
    ),
    (
        "msh18_charset_name_needs_escaping.hl7",
        "with `/` as the escape character, the decoded tree of this message encodes MSH-18 as \
         `8859/E/1`, and the parser matched MSH-18 against the charset names without \
         unescaping it, so it rejected the encoder's own output; MSH-18 is now unescaped first",
    ),
    (
        "query_next_link_count_beyond_u32.hl7",
        "a response whose QAK-5 (records in this payload) exceeded u32 gave a next link with \
         that `_count`, which the query reader refused while the self link sent: `_count` is \
         now read as any whole number a u64 holds, as the response side writes it",
    ),
];

/// Hand-written inputs at the edges the fuzzer is most likely to find: (name, bytes).
const TRICKY: &[(&str, &[u8])] = &[
    (
        // The CR is byte 63 and the LF byte 64: the terminator straddles two 64-byte blocks of
        // the classifier, and the LF must not end a second (empty) segment.
        "crlf_split_at_block_boundary",
        b"MSH|^~\\&|SENDING_APPLICATION_PADDING_TO_SIXTY_THREE_BYTES_AAAAA\r\nPID|1\r\n",
    ),
    (
        "doubled_escape_in_msh2",
        b"MSH|^~\\\\&|A\rPID|1||a\\E\\b^c&d~e\r",
    ),
    (
        "field_of_only_delimiters",
        b"MSH|^~\\&|A\rPID|^~&^~&||~~~|^^^|&&&\r",
    ),
    ("message_ends_in_msh2", b"\xEF\xBB\xBFMSH|^~\\&#"),
    (
        // The CR after 0x1C belongs to the frame, the LF after it is filler; the second frame
        // has no CR after its end byte.
        "lf_after_mllp_trailer",
        b"\x0bMSH|^~\\&|A\r\x1c\r\n\x0bMSH|^~\\&|B\r\n\x1c",
    ),
    ("bare_msh", b"MSH|^"),
    ("escape_at_end_of_value", b"MSH|^~\\&|A\rPID|1||abc\\\r"),
];

fn run(name: &str, bytes: &[u8]) {
    let targets: &[(&str, fn(&[u8]))] = if name.starts_with("query_") {
        &[("query", checks::check_query)]
    } else {
        &[
            ("parse", checks::check_parse),
            ("roundtrip", checks::check_roundtrip),
        ]
    };
    for &(target, check) in targets {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(bytes))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!(
                "{name}: the {target} check failed: {why}\ninput:\n{}",
                bytes.escape_ascii()
            );
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = root().join("fixtures/fuzz").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fixtures_found_by_fuzzing() {
    let dir = root().join("fixtures/fuzz");
    let on_disk: Vec<String> = files_in(&dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .filter(|name| name.ends_with(".hl7"))
        .collect();
    let listed: Vec<String> = FIXTURES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "every file in fixtures/fuzz/ is listed in FIXTURES, in name order"
    );
    for (name, _bug) in FIXTURES {
        run(name, &fixture(name));
    }
}

/// What the framer made of a stream: one line per chunk.
fn chunks(input: &[u8], max: usize) -> Vec<String> {
    let mut reader = FrameReader::new(input, max);
    let mut out = Vec::new();
    while let Some(chunk) = reader.next_chunk().unwrap_or_else(|e| panic!("{e}")) {
        out.push(match chunk {
            Chunk::Message(m) => format!("{:?} message of {} bytes", m.framing, m.message.len()),
            Chunk::Envelope { bytes, .. } => format!("envelope of {} bytes", bytes.len()),
            Chunk::Filler(bytes) => format!("filler of {} bytes", bytes.len()),
            Chunk::Invalid { bytes, error, .. } => {
                format!("invalid, {} bytes kept: {error}", bytes.len())
            }
        });
    }
    out
}

#[test]
fn oversized_mllp_frame_in_one_read_is_skipped() {
    let input = fixture("mllp_frame_over_limit_returned_as_message.hl7");
    assert_eq!(
        chunks(&input, 64),
        [
            "invalid, 0 bytes kept: at byte 0: message of at least 68 bytes is over the limit \
             of 64 bytes; skipped"
        ]
    );
    assert_eq!(chunks(&input, 65), ["Mllp message of 65 bytes"]);
}

#[test]
fn oversized_envelope_line_in_one_read_is_skipped() {
    let input = fixture("batch_envelope_over_limit_returned_whole.hl7");
    assert_eq!(
        chunks(&input, 64),
        [
            "invalid, 0 bytes kept: at byte 0: message of at least 77 bytes is over the limit \
             of 64 bytes; skipped",
            "Plain message of 11 bytes"
        ]
    );
    assert_eq!(
        chunks(&input, 77),
        ["envelope of 77 bytes", "Plain message of 11 bytes"]
    );
}

#[test]
fn charset_name_escaped_by_the_builder_parses() {
    let dash_escape = Delimiters {
        escape: Some(b'-'),
        ..Delimiters::default()
    };
    let mut builder = MessageBuilder::new(dash_escape, Charset::Utf8);
    builder
        .set_path("MSH-18", "UNICODE UTF-8")
        .unwrap_or_else(|e| panic!("{e}"));
    builder
        .set_path("PID-5", "Müller")
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = builder.encode().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bytes,
        "MSH|^~-&||||||||||||||||UNICODE UTF-E-8\rPID|||||Müller\r".as_bytes()
    );
    let mut parser = Parser::new(ParseOptions::strict());
    let msg = parser.parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msg.charset(), Charset::Utf8);
    assert_eq!(msg.text_of("PID", 5).as_deref(), Some("Müller"));
}

/// The parts of every field of segment `n`, as `[[[raw subcomponent]]]` per field.
fn shape(bytes: &[u8], n: usize) -> Vec<Vec<Vec<Vec<String>>>> {
    let mut parser = Parser::new(ParseOptions::tolerant());
    let msg = parser.parse(bytes).unwrap_or_else(|e| panic!("{e}"));
    let seg = msg.segment(n).unwrap_or_else(|| panic!("no segment {n}"));
    let text = |raw: &[u8]| String::from_utf8_lossy(raw).into_owned();
    seg.fields()
        .map(|f| {
            f.repetitions()
                .map(|r| {
                    r.components()
                        .map(|c| c.subcomponents().map(|s| text(s.raw())).collect())
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn hand_written_edge_cases() {
    for (name, bytes) in TRICKY {
        run(name, bytes);
    }
    let case = |name: &str| {
        TRICKY
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| *bytes)
            .unwrap_or_else(|| panic!("no case {name}"))
    };

    let crlf = case("crlf_split_at_block_boundary");
    assert_eq!(&crlf[63..65], b"\r\n", "the CRLF straddles bytes 63 and 64");
    let mut parser = Parser::new(ParseOptions::tolerant());
    let msg = parser.parse(crlf).unwrap_or_else(|e| panic!("{e}"));
    let ends: Vec<&[u8]> = msg.segments().map(|s| s.terminator()).collect();
    assert_eq!(ends, [b"\r\n", b"\r\n"]);

    let doubled = case("doubled_escape_in_msh2");
    let msg = parser.parse(doubled).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*msg.delimiters(), Delimiters::default());
    assert_eq!(
        msg.header().field(2).map(|f| f.raw()),
        Some(&b"^~\\\\&"[..])
    );
    assert_eq!(msg.text_of("PID", 3).as_deref(), Some("a\\b^c&d~e"));

    // PID-1 `^~&^~&`: repetitions `^`, `&^` and `&`; each level splits only its own parts.
    assert_eq!(
        format!("{:?}", shape(case("field_of_only_delimiters"), 2)),
        r#"[[[[""], [""]], [["", ""], [""]], [["", ""]]], [[[""]]], [[[""]], [[""]], [[""]], [[""]]], [[[""], [""], [""], [""]]], [[["", "", "", ""]]]]"#
    );
}

#[test]
fn fuzz_seeds() {
    for path in files_in(&root().join("fuzz/seeds")) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        run(&path.display().to_string(), &bytes);
    }
}

/// The real-world corpus next to the project, when it is there (it is not part of the repo).
#[test]
fn shared_corpus() {
    let dir = root().join("../shared/corpus");
    if !dir.is_dir() {
        return;
    }
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for path in files_in_and_dirs(&dir, &mut stack) {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&path.display().to_string(), &bytes);
        }
    }
}

fn files_in_and_dirs(dir: &Path, dirs: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The translation targets' checks over the golden inputs they start from.
#[test]
fn translation_targets_hold_on_the_golden_inputs() {
    for (dir, check) in [
        ("fixtures/v2-to-fhir", checks::check_notify as fn(&[u8])),
        ("fixtures/fhir-to-v2", checks::check_writeback),
        ("fixtures/ack", checks::check_ack_answer),
    ] {
        let files = files_in(&root().join(dir));
        assert!(!files.is_empty(), "{dir} is empty");
        for f in files {
            check(&std::fs::read(&f).unwrap());
        }
    }
}

/// The `query` check over every query fixture, one at a time and all in one stream: searches
/// and responses both ways, the self and next links sent again.
#[test]
fn query_fixtures_pass_the_query_check() {
    let mut all = Vec::new();
    for dir in ["fixtures/query/search", "fixtures/query/response"] {
        for path in files_in(&root().join(dir)) {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "search" | "hl7") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| checks::check_query(&bytes))) {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("{}: the query check failed: {why}", path.display());
            }
            all.extend_from_slice(&bytes);
            all.push(b'\n');
        }
    }
    checks::check_query(&all);
}
