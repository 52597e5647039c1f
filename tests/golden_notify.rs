//! Golden fixtures for notifications: every `fixtures/v2-to-fhir/NAME.hl7` is translated to a
//! lightweight and a detailed message Bundle and compared, as JSON values, with
//! `NAME.lightweight.json` and `NAME.detailed.json`. `NAME.subscription.json`, when present, is the
//! detailed Backport notification. `NAME.options` (JSON) may set `timezone` and `source_endpoint`.
//!
//! `BLESS=1 cargo test --test golden_notify` rewrites the expected files from the current output;
//! review the diff before committing it.

use std::path::{Path, PathBuf};

use hl7fhir::engine::{Engine, EngineOptions};
use hl7fhir::mapping::TableSet;
use hl7fhir::notify::{Flavor, Format, NotifyOptions};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v2-to-fhir")
}

/// The first place two JSON values differ, as a path.
fn first_difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    _ => return Some(format!("{path}.{k}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(p, q, format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path} (length {} vs {})", x.len(), y.len()))
        }
        _ => (a != b).then_some(path),
    }
}

fn engine_for(stem: &Path) -> Engine {
    let mut options = EngineOptions::default();
    let opts_file = stem.with_extension("options");
    if let Ok(text) = std::fs::read_to_string(&opts_file) {
        let v: Value = serde_json::from_str(&text).unwrap();
        options.timezone = v["timezone"].as_str().map(|z| z.parse().unwrap());
        options.source_endpoint = v["source_endpoint"].as_str().map(str::to_string);
    }
    Engine::new(&TableSet::embedded(), options).unwrap()
}

#[test]
fn golden_notifications() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no fixtures in {}",
        fixtures().display()
    );
    let mut failures = Vec::new();
    for input in &inputs {
        let stem = input.with_extension("");
        let engine = engine_for(&stem);
        let message = std::fs::read(input).unwrap();
        let name = stem.file_name().unwrap().to_string_lossy().into_owned();
        let mut forms = vec![
            ("lightweight", Flavor::Lightweight, Format::Message),
            ("detailed", Flavor::Detailed, Format::Message),
        ];
        if stem.with_extension("subscription.json").exists()
            || std::env::var_os("BLESS_SUBSCRIPTIONS").is_some()
        {
            forms.push(("subscription", Flavor::Detailed, Format::Subscription));
        }
        for (suffix, flavor, format) in forms {
            let opts = NotifyOptions {
                flavor,
                format,
                ..NotifyOptions::default()
            };
            let expected_path = stem.with_extension(format!("{suffix}.json"));
            let actual = match engine.notify(&message, &opts) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{name} ({suffix}): {e}"));
                    continue;
                }
            };
            if bless {
                std::fs::write(
                    &expected_path,
                    serde_json::to_string_pretty(&actual).unwrap() + "\n",
                )
                .unwrap();
                continue;
            }
            let expected: Value = match std::fs::read_to_string(&expected_path) {
                Ok(t) => serde_json::from_str(&t).unwrap(),
                Err(_) => {
                    failures.push(format!(
                        "{name}: {} is missing (run with BLESS=1)",
                        expected_path.display()
                    ));
                    continue;
                }
            };
            if let Some(at) = first_difference(&expected, &actual, String::from("$")) {
                failures.push(format!(
                    "{name} ({suffix}) differs at {at}\n--- expected ---\n{}\n--- actual ---\n{}",
                    serde_json::to_string_pretty(&expected).unwrap(),
                    serde_json::to_string_pretty(&actual).unwrap()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
