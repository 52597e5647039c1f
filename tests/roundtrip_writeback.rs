//! FHIR → HL7 v2 → FHIR: every element a golden writeback request maps comes back, value for
//! value, when the message is translated again. Elements are compared as (path without list
//! positions, value) pairs per resource type, so the order of list entries may change. The
//! elements that cannot come back are listed below with the reason; the test fails on any other.

use std::collections::BTreeSet;
use std::path::Path;

use hl7fhir::engine::Engine;
use hl7fhir::notify::NotifyOptions;
use hl7fhir::writeback::{Envelope, WritebackOptions};
use serde_json::Value;

/// Paths that do not come back, and why.
const LOSSY: &[(&str, &str)] = &[
    (
        "*.reference",
        "references point at the Bundle's own full URLs, which differ between requests",
    ),
    (
        "Encounter.hospitalization.dischargeDisposition.coding.display",
        "PV1-36 is an IS in v2.5.1: only the code travels",
    ),
    (
        "Encounter.hospitalization.dischargeDisposition.coding.system",
        "PV1-36 is an IS in v2.5.1: only the code travels",
    ),
    (
        "Encounter.status",
        "the event carries the status: A04 (register) reads back as planned, so arrived, triaged and planned all come back as planned",
    ),
];

fn lossy(ty: &str, path: &str) -> bool {
    LOSSY.iter().any(|(p, _)| {
        *p == format!("{ty}.{path}") || (p.starts_with("*.") && path.ends_with(&p[2..]))
    })
}

/// (path without list positions, value) for every leaf.
fn pairs(v: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "id" || k == "resourceType" || k.starts_with('_') {
                    continue;
                }
                pairs(
                    x,
                    &if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    },
                    out,
                );
            }
        }
        Value::Array(a) => a.iter().for_each(|x| pairs(x, path, out)),
        Value::String(s) => {
            out.insert((path.to_string(), s.clone()));
        }
        other => {
            out.insert((path.to_string(), other.to_string()));
        }
    }
}

/// A request's resources, bare or in a Bundle (its MessageHeader left out).
fn resources(request: &Value) -> Vec<&Value> {
    match request["resourceType"].as_str() {
        Some("Bundle") => request["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] != "MessageHeader")
            .collect(),
        _ => vec![request],
    }
}

#[test]
fn fhir_to_v2_to_fhir_keeps_mapped_elements() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fhir-to-v2");
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: None,
        envelope: Envelope {
            timestamp: Some("20260101120000+0000".into()),
            ..Envelope::default()
        },
    };
    let mut failures = Vec::new();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    inputs.sort();
    for input in inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let written = engine.writeback(&request, &opts, 1).unwrap();
        let unmapped: BTreeSet<String> = written
            .unmapped
            .iter()
            .map(|p| {
                p.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>()
                    .replace("[]", "")
            })
            .collect();
        let bundle = engine
            .notify(&written.message, &NotifyOptions::default())
            .unwrap();
        let out: Vec<&Value> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .collect();
        for res in resources(&request) {
            let ty = res["resourceType"].as_str().unwrap();
            let mut want = BTreeSet::new();
            pairs(res, "", &mut want);
            let mut have = BTreeSet::new();
            for o in out.iter().filter(|o| o["resourceType"] == ty) {
                pairs(o, "", &mut have);
            }
            for (path, value) in want {
                if unmapped.contains(&format!("{ty}.{path}"))
                    || lossy(ty, &path)
                    || have.contains(&(path.clone(), value.clone()))
                {
                    continue;
                }
                failures.push(format!("{name}: {ty}.{path} = {value:?} did not come back"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
