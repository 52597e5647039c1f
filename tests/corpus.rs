//! The real-world corpus in `../shared/corpus`: every message must frame, parse (with the
//! tolerant options the command line uses), decode, and re-encode to its exact input bytes.
//!
//! The corpus lives beside the project, not in it. When it is absent the test says so loudly
//! and passes, unless `HL7FHIR_REQUIRE_CORPUS=1` (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};

use hl7fhir::v2::{Chunk, EncodeMode, FrameReader, ParseOptions, Parser};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

fn message_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            message_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("hl7" | "txt")) {
            out.push(p);
        }
    }
}

#[test]
fn corpus_parses_decodes_and_round_trips() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        let msg = format!(
            "CORPUS NOT FOUND at {}: the corpus check did not run",
            dir.display()
        );
        if std::env::var_os("HL7FHIR_REQUIRE_CORPUS").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n!!! {msg} !!!\n");
        return;
    }
    let mut files = Vec::new();
    message_files(&dir, &mut files);
    files.sort();
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
