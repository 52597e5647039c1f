//! Throughput of notifications: one message of each kind (the golden fixtures ADT^A01 admit,
//! ORU^R01 with 20 OBX, SIU^S12 and DFT^P03) translated to detailed and lightweight message
//! Bundles, next to parsing the same message alone in the same run; and the ORU^R01 with its
//! results repeated to 2,000 OBX, whose bytes per second should match the 20-OBX one's (no
//! work that grows faster than the message).
//!
//! Each iteration translates one message into a reused buffer with a reused parser, as a
//! gateway's worker does. Throughput is in bytes of HL7 input; messages/s is its inverse of the
//! time per iteration; `benches/README.md` records the figures.

mod settings;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hl7fhir::engine::Engine;
use hl7fhir::notify::{Flavor, NotifyOptions};

/// The benchmarked messages: (bench id, fixture name).
const MESSAGES: &[(&str, &str)] = &[
    ("adt_a01", "adt_a01_admit"),
    ("oru_r01_20_obx", "oru_r01_cbc_panel"),
    ("siu_s12", "siu_s12_booked_visit"),
    ("dft_p03", "dft_p03_procedures"),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/v2-to-fhir")
        .join(format!("{name}.hl7"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `message` with its results (each OBX and the NTE after it) written `times` times over, in
/// place of the once: a long report of the same shape.
fn repeat_results(message: &[u8], times: usize) -> Vec<u8> {
    let segments: Vec<&[u8]> = message
        .split(|&b| b == b'\r')
        .filter(|s| !s.is_empty())
        .collect();
    let result = |s: &&[u8]| s.starts_with(b"OBX") || s.starts_with(b"NTE");
    let first = segments
        .iter()
        .position(|s| s.starts_with(b"OBX"))
        .expect("the fixture has OBX");
    let last = segments.len()
        - segments
            .iter()
            .rev()
            .position(result)
            .expect("the fixture has OBX");
    let mut out = Vec::with_capacity(message.len() * times);
    let mut put = |s: &[u8]| {
        out.extend_from_slice(s);
        out.push(b'\r');
    };
    segments[..first].iter().for_each(|s| put(s));
    for _ in 0..times {
        segments[first..last].iter().for_each(|s| put(s));
    }
    segments[last..].iter().for_each(|s| put(s));
    out
}

fn notify(c: &mut Criterion) {
    let engine = Engine::with_defaults().expect("the embedded tables compile");
    let mut g = c.benchmark_group("notify");
    let mut messages: Vec<(String, Vec<u8>)> = MESSAGES
        .iter()
        .map(|(id, name)| (id.to_string(), fixture(name)))
        .collect();
    messages.push((
        "oru_r01_2000_obx".to_string(),
        repeat_results(&fixture("oru_r01_cbc_panel"), 100),
    ));
    for (id, message) in &messages {
        g.throughput(Throughput::Bytes(message.len() as u64));
        let mut parser = engine.parser();
        g.bench_function(format!("{id}/parse"), |b| {
            b.iter(|| {
                parser
                    .parse(black_box(message))
                    .map(|m| m.segments().count())
            })
        });
        let mut out = Vec::with_capacity(64 * 1024);
        for (flavor, label) in [
            (Flavor::Detailed, "detailed"),
            (Flavor::Lightweight, "lightweight"),
        ] {
            let opts = NotifyOptions {
                flavor,
                ..NotifyOptions::default()
            };
            // A message the engine rejects would time the error path: fail loudly instead.
            engine
                .notify_with(&mut parser, message, &opts, false, &mut out)
                .expect("the fixture translates");
            g.bench_function(format!("{id}/{label}"), |b| {
                b.iter(|| {
                    out.clear();
                    engine
                        .notify_with(&mut parser, black_box(message), &opts, false, &mut out)
                        .map(|_| out.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = settings::modest();
    targets = notify
}
criterion_main!(benches);
