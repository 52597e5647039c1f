//! Reads the estimates the `writeback` bench saved and prints the README's writeback table:
//! requests or messages per second for each workload, from criterion's estimate and from the
//! fastest of its samples, and each figure as a ratio to parsing the same HL7 v2 message in the
//! same run (the baseline).
//!
//! Run after `cargo bench -p hl7fhir-benches --bench writeback`, with the same
//! `CARGO_TARGET_DIR`: `cargo run -p hl7fhir-benches --bin writeback_figures --release
//! [CRITERION_DIR]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

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
    let sample = read_json(&new.join("sample.json"))?;
    let column = |name: &str| {
        sample
            .get(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let best = column("iters")
        .iter()
        .zip(column("times"))
        .filter(|(iters, _)| **iters > 0.0)
        .map(|(iters, t)| t / iters)
        .fold(f64::INFINITY, f64::min);
    Ok(Some((point, best)))
}

fn criterion_dir() -> PathBuf {
    if let Some(arg) = std::env::args_os().nth(1) {
        return PathBuf::from(arg);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("criterion"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
    }
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
