//! Writeback throughput (FHIR → HL7 v2) beside the notification figures (HL7 v2 → FHIR) and a
//! parse-only baseline, all in one run, for three requests from `fixtures/fhir-to-v2`:
//!
//! - `a31`: a bare Patient → ADT^A31 (`patient_update_a31.json`);
//! - `r01`: a DiagnosticReport with 20 Observations and their patient, visit, order and
//!   practitioners → ORU^R01 (`result_report_r01.json`);
//! - `p03`: a ChargeItem with its Account, visit and practitioners → DFT^P03
//!   (`charge_single_p03.json`).
//!
//! For each: `writeback_KIND` from the request's JSON bytes (parsing the JSON is part of the
//! work a gateway does), `writeback_value_KIND` from an already parsed `serde_json::Value`,
//! `json_KIND` parsing the JSON alone, `notify_KIND` translating the message writeback wrote
//! back to a detailed FHIR Bundle (into a reused buffer), and `parse_KIND` parsing that message
//! alone, the baseline. One iteration is one request or message; throughput is in elements
//! (requests or messages) per second. `cargo run -p hl7fhir-benches --bin writeback_figures
//! --release` prints the README's table from criterion's files.

mod settings;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hl7fhir::engine::Engine;
use hl7fhir::notify::NotifyOptions;
use hl7fhir::v2::Parser;
use hl7fhir::writeback::{Envelope, WritebackOptions};

const REQUESTS: &[(&str, &str)] = &[
    (
        "a31",
        include_str!("../../fixtures/fhir-to-v2/patient_update_a31.json"),
    ),
    (
        "r01",
        include_str!("../../fixtures/fhir-to-v2/result_report_r01.json"),
    ),
    (
        "p03",
        include_str!("../../fixtures/fhir-to-v2/charge_single_p03.json"),
    ),
];

fn bench(c: &mut Criterion) {
    let engine = Engine::with_defaults().expect("the embedded tables compile");
    let opts = WritebackOptions {
        event: None,
        envelope: Envelope {
            // A fixed time: reading the clock is not writeback's work.
            timestamp: Some("20260101120000+0000".into()),
            ..Envelope::default()
        },
        explain: false,
    };
    let notify = NotifyOptions::default();
    let mut g = c.benchmark_group("writeback");
    g.throughput(Throughput::Elements(1));
    for &(kind, json) in REQUESTS {
        let value: serde_json::Value = serde_json::from_str(json).expect("a fixture is JSON");
        let message = engine
            .writeback(&value, &opts, 1)
            .expect("a fixture writes back")
            .message;
        eprintln!(
            "{kind}: request {} bytes of JSON, message {} bytes",
            json.len(),
            message.len()
        );
        let mut n = 0u64;
        g.bench_function(format!("writeback_{kind}"), |b| {
            b.iter(|| {
                n += 1;
                let v: serde_json::Value =
                    serde_json::from_slice(black_box(json.as_bytes())).expect("JSON");
                engine.writeback(&v, &opts, n).expect("writes back").message
            })
        });
        g.bench_function(format!("writeback_value_{kind}"), |b| {
            b.iter(|| {
                n += 1;
                engine
                    .writeback(black_box(&value), &opts, n)
                    .expect("writes back")
                    .message
            })
        });
        g.bench_function(format!("json_{kind}"), |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(json.as_bytes()))
                    .expect("JSON")
            })
        });
        let mut parser = engine.parser();
        let mut out = Vec::with_capacity(64 * 1024);
        g.bench_function(format!("notify_{kind}"), |b| {
            b.iter(|| {
                out.clear();
                engine
                    .notify_with(&mut parser, black_box(&message), &notify, false, &mut out)
                    .expect("translates");
                out.len()
            })
        });
        let mut parser = Parser::default();
        g.bench_function(format!("parse_{kind}"), |b| {
            b.iter(|| {
                parser
                    .parse(black_box(&message))
                    .expect("parses")
                    .segment_count()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = settings::modest();
    targets = bench
}
criterion_main!(benches);
