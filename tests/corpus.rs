//! The real-world corpus in `../shared/corpus`: every message must frame, parse (with the
//! tolerant options the command line uses), decode, and re-encode to its exact input bytes.
//!
//! The corpus lives beside the project, not in it. When it is absent the test says so loudly
//! and passes, unless `HL7FHIR_REQUIRE_CORPUS=1` (set by `.ci/run`) makes that a failure.

mod common;

use hl7fhir::v2::{Chunk, EncodeMode, FrameReader, ParseOptions, Parser};

#[test]
fn corpus_parses_decodes_and_round_trips() {
    let Some((_, files)) = common::corpus_files("the corpus check") else {
        return;
    };
    assert!(
        files.len() > 300,
        "expected the ~370 corpus files, found {}",
        files.len()
    );
    let mut parser = Parser::new(ParseOptions::tolerant());
    let (mut messages, mut failures) = (0, Vec::new());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let mut reader = FrameReader::new(&bytes[..], 16 << 20);
        while let Some(chunk) = reader.next_chunk().unwrap() {
            let framed = match chunk {
                Chunk::Message(m) => m,
                Chunk::Filler(_) | Chunk::Envelope { .. } => continue,
                Chunk::Invalid { error, .. } => {
                    failures.push(format!("{}: {error}", file.display()));
                    continue;
                }
            };
            messages += 1;
            let msg = match parser.parse(framed.message) {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{}: {e}", file.display()));
                    continue;
                }
            };
            let mut out = Vec::new();
            msg.encode(EncodeMode::Exact, &mut out);
            if out != framed.message {
                failures.push(format!("{}: re-encoded bytes differ", file.display()));
            }
            if let Err(e) = msg.to_tree() {
                failures.push(format!("{}: {e}", file.display()));
            }
        }
    }
    eprintln!(
        "corpus: {} files, {messages} messages, {} failures",
        files.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
