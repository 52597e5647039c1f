//! Throughput of the HL7 v2 wire-format layer over the generated corpus
//! (`hl7fhir_benches::Corpus::standard`), next to plain byte scans of the same bytes and to
//! peer crates doing the same walk.
//!
//! Group `bytes` reports bytes/s for every workload and baseline; group `messages` repeats the
//! workloads with messages/s. Each iteration is one pass over the whole corpus. The README
//! beside this file describes the workloads; `cargo run -p hl7fhir-benches --bin ratios
//! --release` turns the saved estimates into its table.

use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use hl7fhir::v2::{Message, Parser, Path, Tree};
use hl7fhir_benches::{Corpus, baseline, workloads};

mod peers;
mod settings;

/// Everything the timed loops read, prepared once.
struct Inputs<'a> {
    corpus: &'a Corpus,
    messages: Vec<&'a [u8]>,
    paths: Vec<Path>,
    trees: Vec<Tree>,
    parsed: Vec<Message<'a>>,
}

fn workloads<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>, i: &Inputs) {
    let messages = &i.messages[..];
    let mut parser = Parser::default();
    g.bench_function("index", |b| {
        b.iter(|| workloads::index(&mut parser, black_box(messages)))
    });
    g.bench_function("walk", |b| {
        b.iter(|| workloads::walk(&mut parser, black_box(messages)))
    });
    g.bench_function("ten_fields", |b| {
        b.iter(|| workloads::ten_fields(&mut parser, black_box(messages), &i.paths))
    });
    g.bench_function("encode_tree", |b| {
        b.iter(|| workloads::encode_tree(black_box(&i.trees)))
    });
    let mut buf = Vec::with_capacity(64 * 1024);
    g.bench_function("encode_exact", |b| {
        b.iter(|| workloads::encode_exact(black_box(&i.parsed), &mut buf))
    });
    g.bench_function("peer_hl7-parser_walk", |b| {
        b.iter(|| peers::hl7_parser(black_box(messages)))
    });
    g.bench_function("peer_rust-hl7_walk", |b| {
        b.iter(|| peers::rust_hl7(black_box(messages)))
    });
    g.bench_function("peer_hl7-v2_walk", |b| {
        b.iter(|| peers::hl7_v2(black_box(messages)))
    });
}

fn baselines<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>, i: &Inputs) {
    let bytes = i.corpus.bytes();
    g.bench_function("scan_cr_bar_memchr", |b| {
        b.iter(|| baseline::count_cr_and_bar(black_box(bytes)))
    });
    g.bench_function("scan_five_delims", |b| {
        b.iter(|| baseline::count_delimiters(black_box(bytes)))
    });
    // The other five-delimiter variants, so the README can show which one is the limit.
    g.bench_function("scan_five_delims_mask", |b| {
        b.iter(|| baseline::count_delimiters_mask(black_box(bytes)))
    });
    g.bench_function("scan_five_delims_packed", |b| {
        b.iter(|| baseline::count_delimiters_packed(black_box(bytes)))
    });
    g.bench_function("scan_five_delims_naive", |b| {
        b.iter(|| baseline::count_delimiters_naive(black_box(bytes)))
    });
}

fn bench(c: &mut Criterion) {
    let corpus = Corpus::standard();
    let messages = corpus.messages();
    let mut parsers = workloads::parsers(messages.len());
    let parsed: Vec<Message<'_>> = parsers
        .iter_mut()
        .zip(&messages)
        .filter_map(|(p, m)| p.parse(m).ok())
        .collect();
    let inputs = Inputs {
        corpus: &corpus,
        trees: workloads::trees(&messages),
        paths: workloads::ten_field_paths(),
        parsed,
        messages,
    };
    // Say up front if any crate skipped messages: its figure then covers fewer bytes.
    for (name, w) in [
        ("hl7-parser", peers::hl7_parser(&inputs.messages)),
        ("rust-hl7", peers::rust_hl7(&inputs.messages)),
        ("hl7-v2", peers::hl7_v2(&inputs.messages)),
    ] {
        if w.failed > 0 {
            eprintln!(
                "{name}: {} of {} messages failed to parse",
                w.failed,
                corpus.len()
            );
        }
    }
    eprintln!(
        "corpus: {} messages, {} bytes, mean {:.0} bytes",
        corpus.len(),
        corpus.bytes().len(),
        corpus.mean_message_bytes()
    );

    let mut g = c.benchmark_group("bytes");
    g.throughput(Throughput::Bytes(corpus.bytes().len() as u64));
    baselines(&mut g, &inputs);
    workloads(&mut g, &inputs);
    g.finish();

    let mut g = c.benchmark_group("messages");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    workloads(&mut g, &inputs);
    g.finish();
}

criterion_group! {
    name = benches;
    config = settings::modest();
    targets = bench
}
criterion_main!(benches);
