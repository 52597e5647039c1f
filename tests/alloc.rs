//! Parsing and walking allocate nothing per field: a counting allocator shows that once a
//! [`Parser`]'s index has grown, parsing a message, visiting every subcomponent and decoding
//! unescaped text make no heap allocation at all, however many fields the message has.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
