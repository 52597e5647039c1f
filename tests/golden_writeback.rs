//! Golden fixtures for writeback: every `fixtures/fhir-to-v2/NAME.json` (a FHIR request) is
//! written back and compared with `NAME.hl7`, byte for byte; each expected message must also
//! pass `../shared/conformance/validate-v2` (`.ci/run` runs it). The envelope is fixed so the
//! output is reproducible: seed 0, MSH-7 `20260101120000+0000`, receiving `EHR` at `GHH`.
//!
//! `BLESS=1 cargo test --release --test golden_writeback` rewrites the expected messages.

use std::path::{Path, PathBuf};

use hl7fhir::engine::Engine;
use hl7fhir::writeback::{Envelope, WritebackOptions};

pub fn envelope() -> Envelope {
    Envelope {
        receiving_application: "EHR".into(),
        receiving_facility: "GHH".into(),
        timestamp: Some("20260101120000+0000".into()),
        ..Envelope::default()
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fhir-to-v2")
}

/// Segments one per line, for reading a diff.
fn lines(message: &[u8]) -> String {
    String::from_utf8_lossy(message).replace('\r', "\n")
}

#[test]
fn golden_writebacks() {
    let bless = std::env::var_os("BLESS").is_some();
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: None,
        envelope: envelope(),
        explain: false,
    };
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty());
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let request: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
        let written = match engine.writeback(&request, &opts, 1) {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let expected_path = input.with_extension("hl7");
        if bless {
            std::fs::write(&expected_path, &written.message).unwrap();
            continue;
        }
        match std::fs::read(&expected_path) {
            Ok(expected) if expected == written.message => {}
            Ok(expected) => failures.push(format!(
                "{name} differs\n--- expected ---\n{}\n--- actual ---\n{}",
                lines(&expected),
                lines(&written.message)
            )),
            Err(_) => failures.push(format!(
                "{name}: {} is missing (run with BLESS=1)",
                expected_path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn versions_that_require_obx4_get_it_numbered_like_obx1() {
    let engine = Engine::with_defaults().unwrap();
    let request: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("result_observations_only_r01.json")).unwrap(),
    )
    .unwrap();
    let obx = |version: &str| -> Vec<(String, String)> {
        let opts = WritebackOptions {
            event: None,
            envelope: Envelope {
                version: version.into(),
                ..envelope()
            },
            explain: false,
        };
        let written = engine.writeback(&request, &opts, 1).unwrap();
        lines(&written.message)
            .lines()
            .filter(|s| s.starts_with("OBX|"))
            .map(|s| {
                let f: Vec<&str> = s.split('|').collect();
                (f[1].to_string(), f[4].to_string())
            })
            .collect()
    };
    // v2.5.1 leaves the sub-ID to the sender; v2.7 requires it: each Observation is its own.
    assert!(obx("2.5.1").iter().all(|(_, sub)| sub.is_empty()));
    let numbered = obx("2.7");
    assert_eq!(numbered.len(), 3);
    assert!(numbered.iter().all(|(set, sub)| set == sub), "{numbered:?}");
}
