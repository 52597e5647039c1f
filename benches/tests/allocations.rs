//! Counts heap allocations per message for each parser's **walk** over the standard corpus,
//! and per notification for the messages the notify bench translates: the figures the README
//! quotes. A counting allocator needs its own test binary, hence this file.

#[path = "../benches/peers.rs"]
mod peers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hl7fhir::engine::Engine;
use hl7fhir::notify::{Flavor, NotifyOptions};
use hl7fhir::v2::Parser;
use hl7fhir_benches::{Corpus, workloads};

thread_local! {
    /// Per thread, so tests running side by side do not count each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting calls to `alloc` and `realloc` on the calling thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded as received; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received; `ptr` came from `System` through `alloc`/`realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded as received; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn allocations_per_message_in_the_walk() {
    let corpus = Corpus::standard();
    let messages = corpus.messages();
    let mut parser = Parser::default();
    // Warm up: the parser's index grows to the largest message once, then is reused.
    workloads::walk(&mut parser, &messages);
    let cases = [
        (
            "hl7fhir",
            count(|| {
                workloads::walk(&mut parser, &messages);
            }),
        ),
        (
            "hl7-parser",
            count(|| {
                peers::hl7_parser(&messages);
            }),
        ),
        (
            "rust-hl7",
            count(|| {
                peers::rust_hl7(&messages);
            }),
        ),
        (
            "hl7-v2",
            count(|| {
                peers::hl7_v2(&messages);
            }),
        ),
    ];
    for (name, n) in cases {
        println!(
            "{name}: {n} allocations for {} messages, {:.1} per message",
            messages.len(),
            n as f64 / messages.len() as f64
        );
    }
    assert_eq!(
        cases[0].1, 0,
        "hl7fhir allocated while walking a warm corpus"
    );
    assert!(cases[1..].iter().all(|(_, n)| *n > messages.len()));
}

#[test]
fn allocations_per_notification() {
    let engine = Engine::with_defaults().unwrap();
    let mut parser = engine.parser();
    let mut out = Vec::new();
    for name in [
        "adt_a01_admit",
        "oru_r01_cbc_panel",
        "siu_s12_booked_visit",
        "dft_p03_procedures",
    ] {
        let path = format!(
            "{}/../fixtures/v2-to-fhir/{name}.hl7",
            env!("CARGO_MANIFEST_DIR")
        );
        let message = std::fs::read(&path).unwrap();
        for flavor in [Flavor::Detailed, Flavor::Lightweight] {
            let opts = NotifyOptions {
                flavor,
                ..NotifyOptions::default()
            };
            // As the bench runs it: the parser and the output buffer warm, then reused.
            let mut translate = || {
                out.clear();
                engine
                    .notify_with(&mut parser, &message, &opts, false, &mut out)
                    .unwrap();
            };
            translate();
            let n = count(translate);
            println!("{name} {flavor:?}: {n} allocations per notification");
            // The message's own containers (document, resource list, group placement, Bundle
            // parts), not one per field, value or resource (`tests/alloc.rs` in the main crate
            // checks that the count does not grow with the values).
            assert!(
                n <= 50,
                "{name} {flavor:?}: {n} allocations per notification"
            );
        }
    }
}
