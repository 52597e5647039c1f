//! Reads the estimates the `writeback` bench saved and prints the README's writeback table:
//! requests or messages per second for each workload, from criterion's estimate and from the
//! fastest of its samples, and each figure as a ratio to parsing the same HL7 v2 message in the
//! same run (the baseline).
//!
//! Run after `cargo bench -p hl7fhir-benches --bench writeback`, with the same
//! `CARGO_TARGET_DIR`: `cargo run -p hl7fhir-benches --bin writeback_figures --release
//! [CRITERION_DIR]`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use hl7fhir_benches::criterion_files::{criterion_dir, fastest_sample_ns, read_json};
use serde_json::Value;

/// The requests, with what the table calls them.
const KINDS: &[(&str, &str)] = &[
    ("a31", "Patient → ADT^A31"),
    ("r01", "DiagnosticReport + 20 Observations → ORU^R01"),
    ("p03", "ChargeItem + Account → DFT^P03"),
];

/// The workloads of each request, with what the table calls them.
const WORKLOADS: &[(&str, &str)] = &[
    ("writeback", "writeback from JSON bytes"),
    ("writeback_value", "writeback from a parsed Value"),
    ("json", "JSON parse alone"),
    ("notify", "notify (the message back to FHIR)"),
    ("parse", "parse the message (baseline)"),
];

/// Nanoseconds per iteration: criterion's estimate (slope, else mean) and the fastest sample.
fn times(dir: &Path, id: &str) -> Result<Option<(f64, f64)>, String> {
    let new = dir.join("writeback").join(id).join("new");
    if !new.exists() {
        return Ok(None);
    }
    let est = read_json(&new.join("estimates.json"))?;
    let point = est
        .get("slope")
        .filter(|s| !s.is_null())
        .or_else(|| est.get("mean"))
        .and_then(|s| s.get("point_estimate"))
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no estimate", new.display()))?;
    let best = fastest_sample_ns(&new)?;
    Ok(Some((point, best)))
}

fn run() -> Result<String, String> {
    let dir = criterion_dir();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| request | workload | µs each | per second | fastest sample per second | time ÷ parse time |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let mut any = false;
    for (kind, request) in KINDS {
        let Some(parse) = times(&dir, &format!("parse_{kind}"))? else {
            continue;
        };
        for (w, name) in WORKLOADS {
            let Some((ns, best)) = times(&dir, &format!("{w}_{kind}"))? else {
                continue;
            };
            any = true;
            let _ = writeln!(
                out,
                "| {request} | {name} | {:.2} | {:.0} | {:.0} | {:.1}× (fastest {:.1}×) |",
                ns / 1e3,
                1e9 / ns,
                1e9 / best,
                ns / parse.0,
                best / parse.1
            );
        }
    }
    if !any {
        return Err(format!(
            "no estimates under {}: run `cargo bench -p hl7fhir-benches --bench writeback` first",
            dir.display()
        ));
    }
    Ok(out)
}

fn main() -> ExitCode {
    match run() {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writeback_figures: {e}");
            ExitCode::FAILURE
        }
    }
}
