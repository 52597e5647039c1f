//! Writing HL7 v2: re-encoding a parsed message (byte-exact, or normalised), and building new
//! messages from decoded text with correct escaping.
//!
//! A [`Tree`] is a message as plain decoded text: segments, fields, repetitions, components,
//! subcomponents. [`Message::to_tree`] reads one out of a parsed message, [`Tree::encode`]
//! writes one, and `parse(encode(tree)) == tree` for every tree whose text the delimiters and
//! character set can carry. [`MessageBuilder`] fills a tree by position or terser path.

use serde_json::Value as Json;

use super::charset::Charset;
use super::delimiters::Delimiters;
use super::escape::escape_into;
use super::message::{Message, Segment};
use super::path::Path;
use crate::error::{Error, ErrorKind, Location};

/// One field as decoded text: repetitions, each a list of components, each a list of
/// subcomponents. An empty field is `[[[""]]]`.
pub type FieldTree = Vec<Vec<Vec<String>>>;

/// One segment as decoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTree {
    /// Segment id, e.g. `PID`.
    pub id: String,
    /// Fields from field 1. For MSH, field 1 is the field separator and field 2 the encoding
    /// characters, both as written; the encoder writes them from its delimiters.
    pub fields: Vec<FieldTree>,
}

/// A whole message as decoded text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// Segments in order.
    pub segments: Vec<SegmentTree>,
}

/// How [`Message::encode`] writes segment ends and the byte-order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeMode {
    /// Every byte as received: BOM, per-segment terminators (CR, LF, CRLF, blank lines), MSH-2
    /// as written.
    Exact,
    /// Output form: no BOM, every segment ended by one CR, MSH-2 as the delimiters declare it.
    Normalized,
}

impl<'a> Message<'a> {
    /// Writes the message from its index: each segment is rebuilt from its subcomponents and
    /// delimiters. In [`EncodeMode::Exact`] the result equals the parsed bytes.
    ///
    /// ```
    /// use hl7fhir::v2::{EncodeMode, Parser, ParseOptions};
    /// let input = b"MSH|^~\\&|A\nPID|1||x^y~z\r\n";
    /// let mut parser = Parser::new(ParseOptions::tolerant());
    /// let msg = parser.parse(input).unwrap();
    /// let mut out = Vec::new();
    /// msg.encode(EncodeMode::Exact, &mut out);
    /// assert_eq!(out, input);
    /// out.clear();
    /// msg.encode(EncodeMode::Normalized, &mut out);
    /// assert_eq!(out, b"MSH|^~\\&|A\rPID|1||x^y~z\r");
    /// ```
    pub fn encode(&self, mode: EncodeMode, out: &mut Vec<u8>) {
        let d = self.delimiters();
        if mode == EncodeMode::Exact && self.has_bom() {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        for seg in self.segments() {
            out.extend_from_slice(seg.id_bytes());
            for field in seg.fields() {
                let n = field.location().field;
                if seg.number() == 1 && n <= 2 {
                    // MSH-1 is the separator written below; MSH-2 is the encoding characters.
                    if n == 2 {
                        match mode {
                            EncodeMode::Exact => out.extend_from_slice(field.raw()),
                            EncodeMode::Normalized => {
                                out.extend_from_slice(&d.encoding_characters())
                            }
                        }
                    } else {
                        out.push(d.field);
                    }
                    continue;
                }
                out.push(d.field);
                for (ri, rep) in field.repetitions().enumerate() {
                    if ri > 0 {
                        out.extend(d.repetition);
                    }
                    for (ci, comp) in rep.components().enumerate() {
                        if ci > 0 {
                            out.push(d.component);
                        }
                        for (si, sub) in comp.subcomponents().enumerate() {
                            if si > 0 {
                                out.extend(d.subcomponent);
                            }
                            out.extend_from_slice(sub.raw());
                        }
                    }
                }
            }
            match mode {
                EncodeMode::Exact => out.extend_from_slice(seg.terminator()),
                EncodeMode::Normalized => out.push(b'\r'),
            }
        }
    }

    /// The message as decoded text.
    pub fn to_tree(&self) -> Result<Tree, Error> {
        let mut segments = Vec::with_capacity(self.segment_count());
        for seg in self.segments() {
            segments.push(segment_tree(&seg)?);
        }
        Ok(Tree { segments })
    }
}

fn segment_tree(seg: &Segment<'_>) -> Result<SegmentTree, Error> {
    let mut fields = Vec::with_capacity(seg.field_count());
    for field in seg.fields() {
        if seg.number() == 1 && field.location().field <= 2 {
            fields.push(vec![vec![vec![
                String::from_utf8_lossy(field.raw()).into_owned(),
            ]]]);
            continue;
        }
        let mut reps = Vec::new();
        for rep in field.repetitions() {
            let mut comps = Vec::new();
            for comp in rep.components() {
                let mut subs = Vec::new();
                for sub in comp.subcomponents() {
                    subs.push(sub.text()?.into_owned());
                }
                comps.push(subs);
            }
            reps.push(comps);
        }
        fields.push(reps);
    }
    Ok(SegmentTree {
        id: seg.id().to_string(),
        fields,
    })
}

impl Tree {
    /// Encodes the tree with `delimiters` and `charset`, ending every segment with CR. Text is
    /// escaped; MSH-1 and MSH-2 are written from the delimiters.
    pub fn encode(&self, delimiters: &Delimiters, charset: Charset) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(256 * self.segments.len());
        self.encode_into(delimiters, charset, &mut out)?;
        Ok(out)
    }

    /// Like [`Tree::encode`], appending to `out`.
    pub fn encode_into(
        &self,
        d: &Delimiters,
        charset: Charset,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        for (si, seg) in self.segments.iter().enumerate() {
            let id = segment_id(&seg.id).ok_or_else(|| {
                Error::new(
                    ErrorKind::BadSegmentId,
                    "segment id is not three characters A-Z, 0-9",
                )
                .at(Location {
                    segment_index: si as u32 + 1,
                    ..Location::default()
                })
            })?;
            out.extend_from_slice(&id);
            let is_msh = si == 0 && &id == b"MSH";
            for (fi, field) in seg.fields.iter().enumerate() {
                // MSH-1 is the separator itself, so MSH-2 follows it with no separator between.
                if is_msh && fi == 1 {
                    out.extend_from_slice(&d.encoding_characters());
                    continue;
                }
                out.push(d.field);
                if is_msh && fi == 0 {
                    continue;
                }
                for (ri, rep) in field.iter().enumerate() {
                    if ri > 0 {
                        out.push(need(d.repetition, "repetition", si, &id, fi, ri)?);
                    }
                    for (ci, comp) in rep.iter().enumerate() {
                        if ci > 0 {
                            out.push(d.component);
                        }
                        for (ui, sub) in comp.iter().enumerate() {
                            if ui > 0 {
                                out.push(need(d.subcomponent, "subcomponent", si, &id, fi, ri)?);
                            }
                            escape_into(sub, d, charset, out).map_err(|p| {
                                let loc = Location {
                                    field: fi as u32 + 1,
                                    repetition: ri as u32 + 1,
                                    component: ci as u32 + 1,
                                    subcomponent: ui as u32 + 1,
                                    ..Location::segment(si as u32 + 1, id)
                                };
                                Error::new(ErrorKind::Unrepresentable, p.reason()).at(loc)
                            })?;
                        }
                    }
                }
            }
            out.push(b'\r');
        }
        Ok(())
    }

    /// The tree as JSON in the compact form the `parse` command prints: a field is a string
    /// when it has one repetition of one component of one subcomponent; otherwise an array of
    /// repetitions, each a string or an array of components, each a string or an array of
    /// subcomponents.
    pub fn to_json(&self) -> Json {
        Json::Array(
            self.segments
                .iter()
                .map(|s| {
                    let mut o = serde_json::Map::new();
                    o.insert("id".into(), Json::String(s.id.clone()));
                    o.insert(
                        "fields".into(),
                        Json::Array(s.fields.iter().map(field_json).collect()),
                    );
                    Json::Object(o)
                })
                .collect(),
        )
    }
}

fn field_json(f: &FieldTree) -> Json {
    fn comp(c: &[String]) -> Json {
        match c {
            [one] => Json::String(one.clone()),
            many => Json::Array(many.iter().cloned().map(Json::String).collect()),
        }
    }
    fn rep(r: &[Vec<String>]) -> Json {
        match r {
            [one] if one.len() == 1 => Json::String(one[0].clone()),
            many => Json::Array(many.iter().map(|c| comp(c)).collect()),
        }
    }
    match f.as_slice() {
        [one] if matches!(one.as_slice(), [c] if c.len() == 1) => rep(one),
        many => Json::Array(many.iter().map(|r| rep(r)).collect()),
    }
}

fn need(
    d: Option<u8>,
    what: &str,
    si: usize,
    id: &[u8; 3],
    fi: usize,
    ri: usize,
) -> Result<u8, Error> {
    d.ok_or_else(|| {
        let loc = Location {
            field: fi as u32 + 1,
            repetition: ri as u32 + 1,
            ..Location::segment(si as u32 + 1, *id)
        };
        Error::new(
            ErrorKind::Unrepresentable,
            format!("value has several {what}s and the message declares no {what} separator"),
        )
        .at(loc)
    })
}

fn segment_id(id: &str) -> Option<[u8; 3]> {
    let b = id.as_bytes();
    let ok = b.len() == 3
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    ok.then(|| [b[0], b[1], b[2]])
}

/// Builds a message by setting decoded text at positions, then encodes it with escaping.
///
/// ```
/// use hl7fhir::v2::{Charset, Delimiters, MessageBuilder};
/// let mut b = MessageBuilder::new(Delimiters::default(), Charset::Utf8);
/// b.set_path("MSH-9.1", "ADT").unwrap();
/// b.set_path("MSH-9.2", "A01").unwrap();
/// b.set_path("PID-5.1", "O'Brien & Sons").unwrap();
/// b.set_path("PID-3[2].1", "X|Y").unwrap();
/// assert_eq!(
///     b.encode().unwrap(),
///     b"MSH|^~\\&|||||||ADT^A01\rPID|||~X\\F\\Y||O'Brien \\T\\ Sons\r"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    delimiters: Delimiters,
    charset: Charset,
    tree: Tree,
}

impl MessageBuilder {
    /// An empty message (just `MSH` with MSH-1 and MSH-2) with these delimiters and charset.
    pub fn new(delimiters: Delimiters, charset: Charset) -> MessageBuilder {
        let enc = String::from_utf8_lossy(&delimiters.encoding_characters()).into_owned();
        let fs = (delimiters.field as char).to_string();
        let msh = SegmentTree {
            id: "MSH".into(),
            fields: vec![vec![vec![vec![fs]]], vec![vec![vec![enc]]]],
        };
        MessageBuilder {
            delimiters,
            charset,
            tree: Tree {
                segments: vec![msh],
            },
        }
    }

    /// Appends a segment and returns its 1-based number.
    pub fn add_segment(&mut self, id: &str) -> usize {
        self.tree.segments.push(SegmentTree {
            id: id.to_string(),
            fields: Vec::new(),
        });
        self.tree.segments.len()
    }

    /// Sets the text at segment `seg`, field, repetition, component, subcomponent (all
    /// 1-based), growing the segment with empty parts as needed.
    pub fn set(
        &mut self,
        seg: usize,
        field: usize,
        rep: usize,
        comp: usize,
        sub: usize,
        text: &str,
    ) {
        let Some(s) = seg
            .checked_sub(1)
            .and_then(|i| self.tree.segments.get_mut(i))
        else {
            return;
        };
        let (Some(f), Some(r), Some(c), Some(u)) = (
            field.checked_sub(1),
            rep.checked_sub(1),
            comp.checked_sub(1),
            sub.checked_sub(1),
        ) else {
            return;
        };
        let slot = grow(grow(grow(grow(&mut s.fields, f), r), c), u);
        *slot = text.to_string();
    }

    /// Replaces field `field` (1-based) of segment `seg` with a whole tree of text.
    pub fn set_field(&mut self, seg: usize, field: usize, value: FieldTree) {
        let Some(s) = seg
            .checked_sub(1)
            .and_then(|i| self.tree.segments.get_mut(i))
        else {
            return;
        };
        let Some(f) = field.checked_sub(1) else {
            return;
        };
        *grow(&mut s.fields, f) = value;
    }

    /// Sets the text a terser path names; creates the segment when the message has fewer
    /// segments with that id than the path's occurrence.
    pub fn set_path(&mut self, path: &str, text: &str) -> Result<(), Error> {
        let p: Path = path.parse()?;
        self.set_at(&p, text);
        Ok(())
    }

    /// Like [`MessageBuilder::set_path`] with a compiled path.
    pub fn set_at(&mut self, p: &Path, text: &str) {
        let id = p.segment_id();
        let mut seen = 0;
        let mut at = None;
        for (i, s) in self.tree.segments.iter().enumerate() {
            if s.id == id {
                seen += 1;
                if seen == p.occurrence {
                    at = Some(i + 1);
                    break;
                }
            }
        }
        let seg = match at {
            Some(n) => n,
            None => {
                let mut n = 0;
                for _ in seen..p.occurrence {
                    n = self.add_segment(id);
                }
                n
            }
        };
        let rep = p.repetition.unwrap_or(1) as usize;
        let comp = p.component.unwrap_or(1) as usize;
        let sub = p.subcomponent.unwrap_or(1) as usize;
        self.set(seg, p.field as usize, rep, comp, sub, text);
    }

    /// Removes the last segment (one that turned out to have nothing in it).
    pub fn pop_segment(&mut self) {
        if self.tree.segments.len() > 1 {
            self.tree.segments.pop();
        }
    }

    /// Segment `seg` (1-based) of the tree, to edit in place.
    pub fn segment_mut(&mut self, seg: usize) -> Option<&mut SegmentTree> {
        self.tree.segments.get_mut(seg.checked_sub(1)?)
    }

    /// The tree built so far.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Encodes the message (CR segment ends).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.tree.encode(&self.delimiters, self.charset)
    }
}

fn grow<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::{ParseOptions, Parser};

    #[test]
    fn exact_and_normalized() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"MSH|^~\\&|A\rPID|1\r", b"MSH|^~\\&|A\rPID|1\r"),
            (
                b"\xEF\xBB\xBFMSH|^~\\&|A\r\nPID|1||a~b^c&d|||\n\nPV1",
                b"MSH|^~\\&|A\rPID|1||a~b^c&d|||\rPV1\r",
            ),
            (b"MSH|^~\\\\&|A\rPID|x\\S\\y", b"MSH|^~\\&|A\rPID|x\\S\\y\r"),
            (b"MSH#$%*!@#\rPID#1%2#x$y!z", b"MSH#$%*!@#\rPID#1%2#x$y!z\r"),
        ];
        let mut p = Parser::new(ParseOptions::tolerant());
        for (input, normalized) in cases {
            let m = p.parse(input).unwrap();
            let mut out = Vec::new();
            m.encode(EncodeMode::Exact, &mut out);
            assert_eq!(&out, input);
            out.clear();
            m.encode(EncodeMode::Normalized, &mut out);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(normalized)
            );
        }
    }

    #[test]
    fn tree_round_trip_and_json() {
        let input = b"MSH|^~\\&|A\rPID|1||a~b^c&d||x\\F\\y\r";
        let mut p = Parser::default();
        let tree = p.parse(input).unwrap().to_tree().unwrap();
        assert_eq!(
            tree.segments[1].fields[2],
            vec![
                vec![vec!["a".to_string()]],
                vec![vec!["b".into()], vec!["c".into(), "d".into()]]
            ]
        );
        assert_eq!(
            tree.segments[1].fields[4],
            vec![vec![vec!["x|y".to_string()]]]
        );
        let encoded = tree.encode(&Delimiters::default(), Charset::Ascii).unwrap();
        assert_eq!(encoded, input);
        let json = tree.to_json();
        assert_eq!(
            json.to_string(),
            r#"[{"id":"MSH","fields":["|","^~\\&","A"]},{"id":"PID","fields":["1","",["a",["b",["c","d"]]],"","x|y"]}]"#
        );
    }

    #[test]
    fn builder_errors() {
        let mut b = MessageBuilder::new(
            Delimiters {
                escape: None,
                subcomponent: None,
                ..Delimiters::default()
            },
            Charset::Ascii,
        );
        b.set_path("PID-5", "a|b").unwrap();
        assert_eq!(
            b.encode().unwrap_err().to_string(),
            "PID-5.1.1 (segment 2): text holds a delimiter, line break or control character and the message declares no escape character"
        );
        let mut b = MessageBuilder::new(Delimiters::default(), Charset::Ascii);
        b.set_path("PID-5", "Müller").unwrap();
        assert_eq!(
            b.encode().unwrap_err().to_string(),
            "PID-5.1.1 (segment 2): text holds a character the message's character set cannot represent"
        );
        let mut b = MessageBuilder::new(Delimiters::default(), Charset::Ascii);
        b.add_segment("pid");
        assert_eq!(
            b.encode().unwrap_err().to_string(),
            "(segment 2): segment id is not three characters A-Z, 0-9"
        );
        assert_eq!(
            b.set_path("PID", "x").unwrap_err().kind(),
            ErrorKind::BadPath
        );
    }

    #[test]
    fn control_characters_go_as_hex_escapes_and_come_back() {
        // A raw CR would end the segment and a raw 0x0B or 0x1C the MLLP frame; LF is a line
        // break receivers render.
        let text = "Sec\x1C\rret\x0Bname\nX\tY\0";
        let mut b = MessageBuilder::new(Delimiters::default(), Charset::Utf8);
        b.set_path("PID-5.1", text).unwrap();
        let bytes = b.encode().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "MSH|^~\\&\rPID|||||Sec\\X1C\\\\X0D\\ret\\X0B\\name\\.br\\X\\X09\\Y\\X00\\\r"
        );
        let mut p = Parser::default();
        let m = p.parse(&bytes).unwrap();
        assert_eq!(m.segment_count(), 2);
        assert_eq!(m.to_tree().unwrap().segments[1].fields[4], [[[text]]]);
    }

    #[test]
    fn builder_occurrences() {
        let mut b = MessageBuilder::new(Delimiters::default(), Charset::Utf8);
        b.set_path("OBX[2]-5", "second").unwrap();
        b.set_path("OBX-5", "first").unwrap();
        assert_eq!(
            b.encode().unwrap(),
            b"MSH|^~\\&\rOBX|||||first\rOBX|||||second\r"
        );
    }
}
