//! Parsing and walking allocate nothing per field: a counting allocator shows that once a
//! [`Parser`]'s index has grown, parsing a message, visiting every subcomponent and decoding
//! unescaped text make no heap allocation at all, however many fields the message has. A
//! notification allocates per message (its document, resource list, Bundle), not per value.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hl7fhir::engine::Engine;
use hl7fhir::notify::{Flavor, NotifyOptions};
use hl7fhir::v2::{Parser, Path};

struct Counting;

thread_local! {
    // Per thread, because the test harness runs tests on several threads at once.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A message with `fields` PID fields, each with repetitions, components and subcomponents.
fn message(fields: usize) -> Vec<u8> {
    let mut m = b"MSH|^~\\&|APP|FAC|||20260101||ADT^A01|1|P|2.5.1\rPID".to_vec();
    for i in 0..fields {
        m.extend_from_slice(format!("|{i}^A&B^C~X^Y").as_bytes());
    }
    m.push(b'\r');
    m
}

/// Parses, walks every subcomponent and decodes it; returns a checksum so nothing is
/// optimised away.
fn parse_and_walk(parser: &mut Parser, bytes: &[u8], path: &Path) -> usize {
    let msg = parser.parse(bytes).unwrap();
    let mut sum = 0;
    for seg in msg.segments() {
        for field in seg.fields() {
            for rep in field.repetitions() {
                for comp in rep.components() {
                    for sub in comp.subcomponents() {
                        sum += sub.text().unwrap().len();
                    }
                }
            }
        }
    }
    sum + msg.get(path).map_or(0, |v| v.raw().len())
}

#[test]
fn no_allocation_per_field() {
    let path: Path = "PID-5[2].2".parse().unwrap();
    let mut parser = Parser::default();
    let small = message(10);
    let large = message(1000);
    // Warm up: the index grows to the largest message once.
    parse_and_walk(&mut parser, &large, &path);
    for (name, bytes) in [("10 fields", &small), ("1000 fields", &large)] {
        let before = allocations();
        let sum = parse_and_walk(&mut parser, bytes, &path);
        let allocations = allocations() - before;
        assert!(sum > 0);
        assert_eq!(allocations, 0, "{name}: {allocations} allocations");
    }
}

#[test]
fn a_fresh_parser_allocates_a_fixed_number_of_times() {
    let path: Path = "PID-5".parse().unwrap();
    let mut counts = Vec::new();
    for fields in [10, 1000] {
        let bytes = message(fields);
        let before = allocations();
        let mut parser = Parser::default();
        parse_and_walk(&mut parser, &bytes, &path);
        counts.push(allocations() - before);
    }
    // The index's vectors may grow a few times with size, but not once per field.
    assert!(
        counts[1] <= counts[0] + 16,
        "allocations: 10 fields {}, 1000 fields {}",
        counts[0],
        counts[1]
    );
}

/// An ORU^R01 with `results` numeric OBX, each with its units, range, flag and time: values
/// the translation converts (numbers, dates) or puts together (codings, quantities).
fn results(results: usize) -> Vec<u8> {
    let mut m = b"MSH|^~\\&|LAB|GHH|||20260101120000-0500||ORU^R01^ORU_R01|R1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F|||1 MAIN ST^^TOWN^NC^27701^USA^H||^PRN^PH^^1^555^5550100\r\
PV1|1|O|LAB^^^GHH\r\
OBR|1|ORD1^EHR|FIL1^LAB|58410-2^CBC panel^LN|||20260101110000-0500|||||||||1234^STONE^MIRIAM||||||20260101115500-0500|||F\r"
        .to_vec();
    for i in 1..=results {
        m.extend_from_slice(
            format!(
                "OBX|{i}|NM|{}^Result {i}^LN||{}.{}|g/dL^gram per deciliter^UCUM|12.0-16.0|N|||F|||20260101113000-0500\r",
                1000 + i,
                10 + i % 7,
                i % 10
            )
            .as_bytes(),
        );
    }
    m
}

#[test]
fn a_notification_allocates_per_message_not_per_value() {
    let engine = Engine::with_defaults().unwrap();
    let mut parser = engine.parser();
    let mut out = Vec::new();
    for flavor in [Flavor::Detailed, Flavor::Lightweight] {
        let opts = NotifyOptions {
            flavor,
            ..NotifyOptions::default()
        };
        let counts: Vec<usize> = [2, 40]
            .into_iter()
            .map(|n| {
                let msg = results(n);
                let mut notify = || {
                    out.clear();
                    engine
                        .notify_with(&mut parser, &msg, &opts, false, &mut out)
                        .unwrap();
                };
                // Warm up: the parser's index and the output buffer grow once, as in a
                // gateway's worker.
                notify();
                let before = allocations();
                notify();
                allocations() - before
            })
            .collect();
        // Thirty-eight more results, each an Observation of a dozen values: one allocation per
        // value would be hundreds more; the message's lists (segments, resources, links) double
        // a few more times as they grow.
        assert!(
            counts[1] <= counts[0] + 16,
            "{flavor:?}: 2 results {} allocations, 40 results {}",
            counts[0],
            counts[1]
        );
        // And those containers are a fixed few dozen, each sized once for the message (about
        // thirty here; `benches/README.md` gives the figures per notification).
        assert!(
            counts[0] <= 40,
            "{flavor:?}: {} allocations for a notification of 2 results",
            counts[0]
        );
    }
}
