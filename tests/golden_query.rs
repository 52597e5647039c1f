//! Golden fixtures for queries, both ways.
//!
//! - `fixtures/query/search/NAME.search`: one FHIR search (a URL or a `Parameters` resource)
//!   gives `NAME.hl7`, the query written for it, byte for byte, or `NAME.error`, the error it
//!   gives (`kind: message`). `NAME.options`, when present, is JSON: `style` (`q22`, `a19`) and
//!   `mappings` (a folder laid over the tables, relative to the project).
//! - `fixtures/query/response/NAME.hl7`: an EHR's answer gives `NAME.json` (a searchset Bundle
//!   or an OperationOutcome) or `NAME.error`. `NAME.options` may set `base`.
//!
//! The envelope is fixed so the output is reproducible: seed 0, MSH-7 `20260101120000+0000`,
//! receiving `MPI` at `GHH`, and every query is message 1 of its run.
//! `BLESS=1 cargo test --release --test golden_query` rewrites the expected outputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hl7fhir::engine::{Engine, EngineOptions};
use hl7fhir::mapping::TableSet;
use hl7fhir::query::{QueryOptions, ResponseOptions, Style};
use hl7fhir::writeback::Envelope;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn envelope() -> Envelope {
    Envelope {
        receiving_application: "MPI".into(),
        receiving_facility: "GHH".into(),
        timestamp: Some("20260101120000+0000".into()),
        ..Envelope::default()
    }
}

fn inputs(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {dir}");
    v
}

fn options(input: &Path) -> Value {
    std::fs::read_to_string(input.with_extension("options"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null)
}

/// One engine per mappings folder.
struct Engines(HashMap<String, Engine>);

impl Engines {
    fn get(&mut self, options: &Value) -> &Engine {
        let dir = options["mappings"].as_str().unwrap_or("").to_string();
        self.0.entry(dir.clone()).or_insert_with(|| {
            let tables = if dir.is_empty() {
                TableSet::embedded()
            } else {
                TableSet::with_overrides(&root().join(&dir)).unwrap()
            };
            Engine::new(&tables, EngineOptions::default()).unwrap()
        })
    }
}

/// Writes or compares one expected output; the other form (output or error) must not exist.
fn check(
    bless: bool,
    input: &Path,
    result: Result<(String, Vec<u8>), hl7fhir::Error>,
    failures: &mut Vec<String>,
) {
    let (ext, actual) = match result {
        Ok(output) => output,
        Err(e) => (
            "error".to_string(),
            format!("{}: {e}\n", e.kind().code()).into_bytes(),
        ),
    };
    let path = input.with_extension(&ext);
    if bless {
        std::fs::write(&path, &actual).unwrap();
        for stale in ["error", "hl7", "json"] {
            let p = input.with_extension(stale);
            if stale != ext && p != *input && p.exists() {
                std::fs::remove_file(p).unwrap();
            }
        }
        return;
    }
    match std::fs::read(&path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs\n--- expected ---\n{}\n--- actual ---\n{}",
            path.display(),
            String::from_utf8_lossy(&expected).replace('\r', "\n"),
            String::from_utf8_lossy(&actual).replace('\r', "\n"),
        )),
        Err(_) => failures.push(format!(
            "{}: {} is missing (run with BLESS=1)",
            input.display(),
            path.display()
        )),
    }
}

#[test]
fn golden_searches() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut engines = Engines(HashMap::new());
    let mut failures = Vec::new();
    for input in inputs("fixtures/query/search", "search") {
        let opts = options(&input);
        let style = opts["style"]
            .as_str()
            .map_or(Style::Q22, |s| Style::from_name(s).unwrap());
        let query = QueryOptions {
            style,
            envelope: envelope(),
        };
        let search = std::fs::read(&input).unwrap();
        let result = engines
            .get(&opts)
            .query(&search, &query, 1)
            .map(|w| ("hl7".to_string(), w.message));
        check(bless, &input, result, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn golden_responses() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut engines = Engines(HashMap::new());
    let mut failures = Vec::new();
    for input in inputs("fixtures/query/response", "hl7") {
        let opts = options(&input);
        let response = ResponseOptions {
            base: opts["base"].as_str().map(str::to_string),
        };
        let bytes = std::fs::read(&input).unwrap();
        let result = engines
            .get(&opts)
            .query_response(&bytes, &response)
            .map(|json| {
                let text = serde_json::to_string_pretty(&json).unwrap() + "\n";
                ("json".to_string(), text.into_bytes())
            });
        check(bless, &input, result, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The next link of a response is the search that asks for the rest: the `continuation` search
/// fixture is that link, and its query repeats the original QPD with the pointer in DSC.
#[test]
fn next_link_is_the_continuation_search() {
    let dir = root().join("fixtures/query");
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("response/rsp_k22_continuation.json")).unwrap(),
    )
    .unwrap();
    let next = bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap();
    let search = std::fs::read_to_string(dir.join("search/continuation.search")).unwrap();
    assert_eq!(search.trim_end(), next);
    let query = std::fs::read(dir.join("search/continuation.hl7")).unwrap();
    let response = std::fs::read(dir.join("response/rsp_k22_continuation.hl7")).unwrap();
    let segment = |msg: &[u8], id: &str| -> String {
        String::from_utf8_lossy(msg)
            .split('\r')
            .find(|s| s.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert_eq!(segment(&query, "QPD|"), segment(&response, "QPD|"));
    assert!(segment(&query, "DSC|").starts_with("DSC|"));
}

/// Error text names parameters, fields and reasons, never a value from the search, unless
/// values may be shown.
#[test]
fn errors_never_quote_patient_data_unless_asked() {
    let searches: &[(&str, &str)] = &[
        ("Patient?family:exact=ZEBEDEE", "ZEBEDEE"),
        ("Patient?family=ZEBEDEE,QUILLON", "ZEBEDEE"),
        ("Patient?birthdate=ge1931-04-05", "1931"),
        ("Patient?birthdate=1931-02-30", "1931"),
        (
            "Patient?identifier=http://x.example/ids|SECRET77",
            "SECRET77",
        ),
        ("Patient?identifier=%7CSECRET77", "SECRET77"),
        ("Patient?gender=other&family=ZEBEDEE", "ZEBEDEE"),
        ("Patient?telecom=phone%7C5550199", "5550199"),
        ("Patient?given=ZEBEDEE&given=QUILLON", "QUILLON"),
        ("Patient?family=ZEBEDEE&_count=x", "ZEBEDEE"),
        ("Patient?family=ZEBEDEE&eye-color=violet", "violet"),
        ("Patient?family=ZEB%ZZEDEE", "ZEB"),
        ("Patient?family=ZEB%5CEDEE", "ZEB"),
    ];
    let hidden = Engine::with_defaults().unwrap();
    let shown = Engine::new(
        &TableSet::embedded(),
        EngineOptions {
            parse: hl7fhir::v2::ParseOptions {
                show_values: true,
                ..hl7fhir::v2::ParseOptions::tolerant()
            },
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let opts = QueryOptions::default();
    for (search, secret) in searches {
        let e = hidden.query(search.as_bytes(), &opts, 1).unwrap_err();
        assert!(!e.to_string().contains(secret), "{search}: {e}");
        let shown_e = shown.query(search.as_bytes(), &opts, 1).unwrap_err();
        assert_eq!(e.kind(), shown_e.kind(), "{search}");
    }
    let e = shown
        .query(b"Patient?family:exact=ZEBEDEE", &opts, 1)
        .unwrap_err();
    assert!(e.to_string().ends_with(" \"ZEBEDEE\""), "{e}");
}

/// A library caller that asks for QRY^A19 under a version without it gets an error, not a
/// message its receiver cannot parse (the command line refuses it before any search).
#[test]
fn a19_is_refused_where_hl7_withdrew_it() {
    let engine = Engine::with_defaults().unwrap();
    let search = b"Patient?identifier=urn:oid:1.2.3|A&_count=5";
    for (version, ok) in [
        ("2.5.1", true),
        ("2.6", true),
        ("2.7", false),
        ("2.8", false),
    ] {
        let opts = QueryOptions {
            style: Style::A19,
            envelope: Envelope {
                version: version.into(),
                ..envelope()
            },
        };
        match engine.query(search, &opts, 1) {
            Ok(_) => assert!(ok, "{version}"),
            Err(e) => {
                assert!(!ok, "{version}: {e}");
                assert_eq!(
                    e.to_string(),
                    format!(
                        "Patient: QRY^A19 is not in HL7 v{version}: v2.7 withdrew it (HL7 table 0354)"
                    )
                );
            }
        }
    }
}
