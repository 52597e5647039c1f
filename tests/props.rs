//! Property tests over generated messages with random delimiters, escapes, repetitions and
//! empty parts:
//! - `parse(build(tree)) == tree`: any tree of text encodes to bytes that parse back to it;
//! - `encode(parse(bytes)) == bytes`: any message the parser accepts re-encodes exactly, with
//!   mixed CR/LF/CRLF segment ends, blank lines and a BOM;
//! - every field, repetition, component and subcomponent view (iterated or looked up by number)
//!   is what splitting the raw bytes at the delimiters gives, for values from empty to several
//!   64-byte blocks long, wherever they fall in the message.

use hl7fhir::v2::{
    Charset, Delimiters, EncodeMode, FieldTree, ParseOptions, Parser, SegmentTree, Tree, Value,
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

/// A message as raw bytes: the delimiters (MSH-2 with 1 to 5 characters, so repetition and
/// subcomponent separators may be absent) and segments whose fields mix letters with the
/// component, repetition and subcomponent separators, from empty to 200 bytes.
fn raw_message() -> impl Strategy<Value = (Delimiters, Vec<u8>)> {
    let field = prop_oneof![
        3 => proptest::collection::vec(0u8..8, 0..12),
        1 => proptest::collection::vec(0u8..8, 12..200),
    ];
    let segment = proptest::collection::vec(field, 0..12);
    (
        Just(PUNCT.to_vec()).prop_shuffle(),
        1usize..=5,
        proptest::collection::vec(segment, 1..8),
    )
        .prop_map(|(p, n, segments)| {
            let d = Delimiters {
                field: p[0],
                component: p[1],
                repetition: (n >= 2).then_some(p[2]),
                escape: (n >= 3).then_some(p[3]),
                subcomponent: (n >= 4).then_some(p[4]),
                truncation: (n >= 5).then_some(p[5]),
            };
            // Letters most of the time, else a separator (when the message has it).
            let byte = |k: u8| match k {
                5 => d.component,
                6 => d.repetition.unwrap_or(b'r'),
                7 => d.subcomponent.unwrap_or(b's'),
                _ => b"abcde"[k as usize],
            };
            let mut bytes = b"MSH".to_vec();
            bytes.push(d.field);
            bytes.extend_from_slice(&d.encoding_characters());
            for (i, fields) in segments.iter().enumerate() {
                if i > 0 {
                    bytes.extend_from_slice(b"\rZ");
                    bytes.extend_from_slice(format!("{:02}", i % 100).as_bytes());
                }
                for f in fields {
                    bytes.push(d.field);
                    bytes.extend(f.iter().map(|&k| byte(k)));
                }
            }
            (d, bytes)
        })
}

/// Splits at `sep`, or not at all when the message has no such separator.
fn split(bytes: &[u8], sep: Option<u8>) -> Vec<&[u8]> {
    match sep {
        Some(s) => bytes.split(|&b| b == s).collect(),
        None => vec![bytes],
    }
}

fn here(v: &Value<'_>) -> [u32; 5] {
    v.location().numbers()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn views_are_the_bytes_split_at_the_delimiters((d, bytes) in raw_message()) {
        let mut parser = Parser::new(ParseOptions::strict());
        let msg = parser.parse(&bytes).unwrap();
        let segments: Vec<&[u8]> = bytes.split(|&b| b == b'\r').collect();
        prop_assert_eq!(msg.segment_count(), segments.len());
        for (s, (seg, raw)) in msg.segments().zip(&segments).enumerate() {
            let s = s as u32 + 1;
            let mut fields: Vec<&[u8]> = split(raw, Some(d.field)).split_off(1);
            if s == 1 {
                // MSH-1 is the field separator itself.
                fields.insert(0, &raw[3..4]);
            }
            prop_assert_eq!(seg.fields().count(), fields.len());
            for (f, (field, raw)) in seg.fields().zip(&fields).enumerate() {
                let f = f as u32 + 1;
                prop_assert_eq!(field.raw(), *raw);
                prop_assert_eq!(here(&field), [s, f, 0, 0, 0]);
                // MSH-1 and MSH-2 hold the delimiters: one part at every level.
                let header = s == 1 && f <= 2;
                let reps = if header { vec![*raw] } else { split(raw, d.repetition) };
                prop_assert_eq!(field.repetitions().count(), reps.len());
                prop_assert!(field.repetition(reps.len() + 1).is_none());
                for (r, (rep, raw)) in field.repetitions().zip(&reps).enumerate() {
                    let r = r as u32 + 1;
                    prop_assert_eq!(rep.raw(), *raw);
                    prop_assert_eq!(here(&rep), [s, f, r, 0, 0]);
                    let by_number = field.repetition(r as usize).unwrap();
                    prop_assert_eq!((by_number.raw(), here(&by_number)), (*raw, [s, f, r, 0, 0]));
                    let comps = if header { vec![*raw] } else { split(raw, Some(d.component)) };
                    prop_assert_eq!(rep.components().count(), comps.len());
                    prop_assert!(rep.component(comps.len() + 1).is_none());
                    for (c, (comp, raw)) in rep.components().zip(&comps).enumerate() {
                        let c = c as u32 + 1;
                        prop_assert_eq!(comp.raw(), *raw);
                        prop_assert_eq!(here(&comp), [s, f, r, c, 0]);
                        let by_number = by_number.component(c as usize).unwrap();
                        prop_assert_eq!((by_number.raw(), here(&by_number)), (*raw, [s, f, r, c, 0]));
                        let subs = if header { vec![*raw] } else { split(raw, d.subcomponent) };
                        prop_assert_eq!(comp.subcomponents().count(), subs.len());
                        prop_assert!(comp.subcomponent(subs.len() + 1).is_none());
                        for (u, (sub, raw)) in comp.subcomponents().zip(&subs).enumerate() {
                            let u = u as u32 + 1;
                            prop_assert_eq!(sub.raw(), *raw);
                            prop_assert_eq!(here(&sub), [s, f, r, c, u]);
                            let by_number = by_number.subcomponent(u as usize).unwrap();
                            prop_assert_eq!((by_number.raw(), here(&by_number)), (*raw, [s, f, r, c, u]));
                        }
                    }
                }
            }
        }
    }
}
