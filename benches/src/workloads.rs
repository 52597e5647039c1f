//! What each hl7fhir benchmark does with the corpus, as plain functions so the tests can check
//! them and the bench only wires them to criterion.
//!
//! Every function takes the whole corpus and returns a checksum (summed lengths) so the work
//! cannot be optimised away. The tests in this crate assert that every generated message
//! parses, so a message skipped on error here never hides in a figure.

use hl7fhir::v2::{Charset, Delimiters, EncodeMode, Message, Parser, Path, Tree};

/// **index**: parse every message and locate every field; sums the fields' raw lengths.
pub fn index(parser: &mut Parser, messages: &[&[u8]]) -> usize {
    let mut sum = 0;
    for m in messages {
        let Ok(msg) = parser.parse(m) else { continue };
        for seg in msg.segments() {
            for field in seg.fields() {
                sum += field.raw().len();
            }
        }
    }
    sum
}

/// **walk**: parse, then visit every repetition, component and subcomponent of every field;
/// sums their raw lengths.
pub fn walk(parser: &mut Parser, messages: &[&[u8]]) -> usize {
    let mut sum = 0;
    for m in messages {
        let Ok(msg) = parser.parse(m) else { continue };
        sum += walk_message(&msg);
    }
    sum
}

fn walk_message(msg: &Message<'_>) -> usize {
    let mut sum = 0;
    for seg in msg.segments() {
        for field in seg.fields() {
            for rep in field.repetitions() {
                sum += rep.raw().len();
                for comp in rep.components() {
                    sum += comp.raw().len();
                    for sub in comp.subcomponents() {
                        sum += sub.raw().len();
                    }
                }
            }
        }
    }
    sum
}

/// The fields the **ten_fields** workload reads, as terser paths.
pub const TEN_FIELDS: [&str; 10] = [
    "MSH-9", "MSH-10", "PID-3.1", "PID-5.1", "PID-7", "PID-8", "PV1-2", "PV1-3", "OBR-4", "OBX-5",
];

/// [`TEN_FIELDS`] compiled once, so the timed loop never parses a path.
pub fn ten_field_paths() -> Vec<Path> {
    TEN_FIELDS
        .iter()
        .filter_map(|p| p.parse::<Path>().ok())
        .collect()
}

/// **ten_fields**: parse, then decode the ten fields with `.text()`; sums the text lengths.
/// Paths a message lacks (OBR-4 outside ORU, say) count nothing.
pub fn ten_fields(parser: &mut Parser, messages: &[&[u8]], paths: &[Path]) -> usize {
    let mut sum = 0;
    for m in messages {
        let Ok(msg) = parser.parse(m) else { continue };
        for path in paths {
            if let Some(text) = msg.get(path).and_then(|v| v.text().ok()) {
                sum += text.len();
            }
        }
    }
    sum
}

/// The trees **encode_tree** writes, read out of the corpus once.
pub fn trees(messages: &[&[u8]]) -> Vec<Tree> {
    let mut parser = Parser::default();
    messages
        .iter()
        .filter_map(|m| parser.parse(m).ok()?.to_tree().ok())
        .collect()
}

/// **encode_tree**: escape and write every tree into a new `Vec`, as a sender building
/// messages would; sums the output lengths.
pub fn encode_tree(trees: &[Tree]) -> usize {
    let d = Delimiters::default();
    trees
        .iter()
        .filter_map(|t| t.encode(&d, Charset::Utf8).ok())
        .map(|out| out.len())
        .sum()
}

/// **encode_exact**: re-encode already parsed messages byte for byte into one reused buffer;
/// sums the output lengths.
pub fn encode_exact(messages: &[Message<'_>], buf: &mut Vec<u8>) -> usize {
    let mut sum = 0;
    for msg in messages {
        buf.clear();
        msg.encode(EncodeMode::Exact, buf);
        sum += buf.len();
    }
    sum
}

/// One parser per message, so that all the parsed views can be alive at once.
pub fn parsers(n: usize) -> Vec<Parser> {
    (0..n).map(|_| Parser::default()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Corpus;

    #[test]
    fn workloads_see_every_message() {
        let corpus = Corpus::generate(11, 60);
        let messages = corpus.messages();
        let mut parser = Parser::default();
        let fields = index(&mut parser, &messages);
        let walked = walk(&mut parser, &messages);
        // Each field's bytes are counted again at every level below it, less the separators.
        assert!(
            walked > 2 * fields && fields > corpus.bytes().len() / 2,
            "{walked} {fields}"
        );
        let paths = ten_field_paths();
        assert_eq!(paths.len(), TEN_FIELDS.len());
        assert!(ten_fields(&mut parser, &messages, &paths) > 0);

        let trees = trees(&messages);
        assert_eq!(trees.len(), messages.len());
        let encoded = encode_tree(&trees);
        println!(
            "encode_tree writes {encoded} bytes for {} input bytes",
            corpus.bytes().len()
        );

        let mut ps = parsers(messages.len());
        let parsed: Vec<Message<'_>> = ps
            .iter_mut()
            .zip(&messages)
            .filter_map(|(p, m)| p.parse(m).ok())
            .collect();
        let mut buf = Vec::new();
        assert_eq!(encode_exact(&parsed, &mut buf), corpus.bytes().len());
    }

    /// `Tree::encode` gives back messages that parse to the same tree.
    #[test]
    fn tree_encoding_round_trips() {
        let corpus = Corpus::generate(12, 40);
        let d = Delimiters::default();
        let mut parser = Parser::default();
        for (i, tree) in trees(&corpus.messages()).iter().enumerate() {
            let bytes = tree.encode(&d, Charset::Utf8).expect("encodes");
            let back = parser
                .parse(&bytes)
                .expect("parses")
                .to_tree()
                .expect("decodes");
            assert_eq!(&back, tree, "message {i}");
        }
    }
}
