//! Golden fixtures for ACKs: every `fixtures/ack/NAME.hl7` (an ACK an EHR sends back) becomes
//! `NAME.json`, its FHIR OperationOutcome; `NAME.response.json`, when present, is the
//! transaction-response Bundle for `fixtures/fhir-to-v2/admit_a01.json`.
//! `BLESS=1 cargo test --release --test golden_ack` rewrites them.

use std::path::Path;

use hl7fhir::engine::Engine;
use hl7fhir::writeback::ack::response_bundle;
use serde_json::Value;

#[test]
fn golden_acks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fixtures/ack");
    let bless = std::env::var_os("BLESS").is_some();
    let engine = Engine::with_defaults().unwrap();
    let request: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/fhir-to-v2/admit_a01.json")).unwrap(),
    )
    .unwrap();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    for input in inputs {
        let answer = engine.ack(&std::fs::read(&input).unwrap()).unwrap();
        for (suffix, actual) in [
            ("json", answer.outcome.clone()),
            ("response.json", response_bundle(&answer, &request)),
        ] {
            let path = input.with_extension(suffix);
            if bless {
                std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n")
                    .unwrap();
                continue;
            }
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if expected != actual {
                failures.push(format!(
                    "{} differs\n--- expected ---\n{}\n--- actual ---\n{}",
                    path.display(),
                    serde_json::to_string_pretty(&expected).unwrap(),
                    serde_json::to_string_pretty(&actual).unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
