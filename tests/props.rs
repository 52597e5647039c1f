//! Property tests over generated messages with random delimiters, escapes, repetitions and
//! empty parts:
//! - `parse(build(tree)) == tree`: any tree of text encodes to bytes that parse back to it;
//! - `encode(parse(bytes)) == bytes`: any message the parser accepts re-encodes exactly, with
//!   mixed CR/LF/CRLF segment ends, blank lines and a BOM.

use hl7fhir::v2::{
    Charset, Delimiters, EncodeMode, FieldTree, ParseOptions, Parser, SegmentTree, Tree,
};
use proptest::prelude::*;

/// Printable ASCII punctuation: what delimiters may be.
const PUNCT: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

fn delimiters() -> impl Strategy<Value = Delimiters> {
    (Just(PUNCT.to_vec()).prop_shuffle(), 4usize..=5).prop_map(|(p, n)| Delimiters {
        field: p[0],
        component: p[1],
        repetition: Some(p[2]),
        escape: Some(p[3]),
        subcomponent: Some(p[4]),
        truncation: (n == 5).then_some(p[5]),
    })
}

/// Text that mixes letters, every punctuation character (so delimiters and escape characters
/// appear in values), line breaks and non-ASCII characters.
fn text() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => proptest::sample::select(PUNCT.iter().map(|&b| b as char).collect::<Vec<_>>()),
        1 => proptest::sample::select(vec![' ', '\r', '\n', 'ü', '€', '0']),
    ];
    proptest::collection::vec(chars, 0..6).prop_map(|v| v.into_iter().collect())
}

fn field() -> impl Strategy<Value = FieldTree> {
    let comp = proptest::collection::vec(text(), 1..3);
    let rep = proptest::collection::vec(comp, 1..4);
    proptest::collection::vec(rep, 1..3)
}

fn segment_id() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9]{2}".prop_filter("MSH starts a message", |id| id != "MSH")
}

fn tree() -> impl Strategy<Value = (Delimiters, Tree)> {
    let msh_rest = proptest::collection::vec(field(), 0..10);
    let segments = proptest::collection::vec(
        (segment_id(), proptest::collection::vec(field(), 0..8)),
        0..6,
    );
    (delimiters(), msh_rest, segments).prop_map(|(d, msh_rest, segs)| {
        let mut msh = vec![
            vec![vec![vec![(d.field as char).to_string()]]],
            vec![vec![vec![
                String::from_utf8(d.encoding_characters()).unwrap(),
            ]]],
        ];
        msh.extend(msh_rest);
        let mut segments = vec![SegmentTree {
            id: "MSH".into(),
            fields: msh,
        }];
        segments.extend(
            segs.into_iter()
                .map(|(id, fields)| SegmentTree { id, fields }),
        );
        (d, Tree { segments })
    })
}

fn utf8_options() -> ParseOptions {
    ParseOptions {
        default_charset: Charset::Utf8,
        ..ParseOptions::strict()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_build_is_the_tree((d, tree) in tree()) {
        let bytes = tree.encode(&d, Charset::Utf8).unwrap();
        let mut parser = Parser::new(utf8_options());
        let msg = parser.parse(&bytes).unwrap();
        prop_assert_eq!(msg.to_tree().unwrap(), tree);
    }

    #[test]
    fn encode_of_parse_is_the_bytes(
        (d, tree) in tree(),
        ends in proptest::collection::vec(prop_oneof![Just(&b"\r"[..]), Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r\n\r\n"[..]), Just(&b"\n\n"[..])], 8),
        bom in any::<bool>(),
        last_end in any::<bool>(),
    ) {
        let built = tree.encode(&d, Charset::Utf8).unwrap();
        // Re-terminate the segments with a mix of line ends.
        let segments: Vec<&[u8]> = built.split(|&b| b == b'\r').filter(|s| !s.is_empty()).collect();
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        for (i, s) in segments.iter().enumerate() {
            bytes.extend_from_slice(s);
            if i + 1 < segments.len() || last_end {
                bytes.extend_from_slice(ends[i % ends.len()]);
            }
        }
        let mut parser = Parser::new(ParseOptions { default_charset: Charset::Utf8, ..ParseOptions::tolerant() });
        let msg = parser.parse(&bytes).unwrap();
        let mut out = Vec::new();
        msg.encode(EncodeMode::Exact, &mut out);
        prop_assert_eq!(&out, &bytes);
        prop_assert_eq!(msg.to_tree().unwrap(), tree);
    }
}
