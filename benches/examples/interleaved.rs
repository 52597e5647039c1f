//! The three target ratios measured so that load from other work hits both sides alike: one
//! pass over the corpus of each workload in turn, round after round, keeping every pass's
//! time, then the ratios of the fastest passes and of the median passes.
//!
//! Criterion (`cargo bench`) measures one benchmark for seconds before the next, so a burst of
//! load from other processes on a shared machine lands on one side of a ratio only. Here a
//! round takes about 15 ms, so a burst spreads over all the workloads it overlaps.
//!
//! `cargo run -p hl7fhir-benches --example interleaved --release [SECONDS]` (default 20).

use std::hint::black_box;
use std::time::{Duration, Instant};

use hl7fhir::v2::Parser;
use hl7fhir_benches::{Corpus, baseline, workloads};

#[path = "../benches/peers.rs"]
#[allow(
    dead_code,
    reason = "only the hl7-v2 walk, the fastest peer, is measured here"
)]
mod peers;

/// One workload: its name and one pass over the corpus, returning a checksum.
type Pass<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>);

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let corpus = Corpus::standard();
    let messages = corpus.messages();
    let bytes = corpus.bytes();
    let mut walk_parser = Parser::default();
    let mut index_parser = Parser::default();
    let mut passes: Vec<Pass> = vec![
        (
            "hl7fhir walk",
            Box::new(|| workloads::walk(&mut walk_parser, black_box(&messages))),
        ),
        (
            "hl7fhir index",
            Box::new(|| workloads::index(&mut index_parser, black_box(&messages))),
        ),
        (
            "hl7-v2 0.1 walk",
            Box::new(|| peers::hl7_v2(black_box(&messages)).sum),
        ),
        (
            "memchr2 CR and `|`",
            Box::new(|| baseline::count_cr_and_bar(black_box(bytes))),
        ),
        (
            "five delimiters (byte sums)",
            Box::new(|| baseline::count_delimiters(black_box(bytes))),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); passes.len()];
    let mut checksum = 0usize;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut round = 0;
    while Instant::now() < deadline {
        // Rotate the order so that no workload always follows the same one.
        for k in 0..passes.len() {
            let i = (round + k) % passes.len();
            let t = Instant::now();
            checksum = checksum.wrapping_add(black_box((passes[i].1)()));
            times[i].push(t.elapsed().as_secs_f64());
        }
        round += 1;
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let mib = bytes.len() as f64 / f64::from(1 << 20);
    println!("{round} rounds in {seconds} s (checksum {checksum})\n");
    println!("| workload | fastest pass | MiB/s | median pass | MiB/s |");
    println!("|---|---:|---:|---:|---:|");
    for ((name, _), t) in passes.iter().zip(&times) {
        let (best, median) = (t[0], t[t.len() / 2]);
        println!(
            "| {} | {:.3} ms | {:.0} | {:.3} ms | {:.0} |",
            name.replace('|', "\\|"),
            best * 1e3,
            mib / best,
            median * 1e3,
            mib / median
        );
    }
    let [walk, index, peer, memchr2, five] = [0, 1, 2, 3, 4].map(|i| &times[i]);
    let ratio = |a: &[f64], b: &[f64], pick: fn(&[f64]) -> f64| pick(b) / pick(a);
    let best = |t: &[f64]| t[0];
    let median = |t: &[f64]| t[t.len() / 2];
    println!("\n| ratio | from fastest passes | from median passes | target |");
    println!("|---|---:|---:|---:|");
    println!(
        "| walk / five-delimiter scan (bytes/s) | {:.1}% | {:.1}% | ≥ 50% |",
        100.0 * ratio(walk, five, best),
        100.0 * ratio(walk, five, median)
    );
    println!(
        "| walk / hl7-v2 walk (bytes/s) | {:.2}× | {:.2}× | ≥ 5× |",
        ratio(walk, peer, best),
        ratio(walk, peer, median)
    );
    println!(
        "| index / memchr2 CR-and-`\\|` scan (bytes/s) | {:.1}% | {:.1}% | ≥ 40% |",
        100.0 * ratio(index, memchr2, best),
        100.0 * ratio(index, memchr2, median)
    );
}
