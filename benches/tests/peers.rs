//! Checks that the peer-crate walks in `benches/peers.rs` cover the whole corpus, so their
//! figures compare like with like, and pins the behaviour of those crates that the README
//! reports (refusals, a panic).

#[path = "../benches/peers.rs"]
mod peers;

use hl7fhir::v2::Parser;
use hl7fhir_benches::Corpus;

fn segment_count(corpus: &Corpus) -> usize {
    let mut parser = Parser::default();
    corpus
        .messages()
        .iter()
        .filter_map(|m| parser.parse(m).ok().map(|msg| msg.segment_count()))
        .sum()
}

#[test]
fn every_peer_walks_every_segment_of_the_standard_corpus() {
    let corpus = Corpus::standard();
    let messages = corpus.messages();
    let segments = segment_count(&corpus);
    let cases = [
        ("hl7-parser", peers::hl7_parser(&messages)),
        ("rust-hl7", peers::rust_hl7(&messages)),
        ("hl7-v2", peers::hl7_v2(&messages)),
    ];
    for (name, walk) in cases {
        println!("{name}: {walk:?}");
        assert_eq!(walk.failed, 0, "{name} refused messages");
        assert_eq!(
            walk.segments, segments,
            "{name} saw a different number of segments"
        );
        assert!(
            walk.sum > corpus.bytes().len(),
            "{name} checksum {}",
            walk.sum
        );
    }
}

/// rust-hl7 0.5 reads the encoding characters with `unwrap()`, so a header cut short panics
/// instead of returning its error.
#[test]
fn rust_hl7_panics_on_a_short_header() {
    let outcome = std::panic::catch_unwind(|| {
        rusthl7::message::Message::try_from("MSH|^~").map(|m| m.segments.len())
    });
    assert!(
        outcome.is_err(),
        "rust-hl7 no longer panics: update the README"
    );
    // The other two answer with an error; hl7fhir reads it as a header that declares no
    // escape or subcomponent character, which HL7 allows.
    assert!(hl7_parser::Message::parse("MSH|^~").is_err());
    assert!(hl7_v2::Hl7Message::parse(b"MSH|^~").is_err());
    let mut parser = Parser::default();
    let header = parser.parse(b"MSH|^~").map(|m| *m.delimiters());
    assert!(matches!(header, Ok(d) if d.subcomponent.is_none() && d.escape.is_none()));
}
