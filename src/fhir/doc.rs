//! A FHIR JSON document under construction: one arena of nodes, values borrowed from the message
//! when no decoding was needed, written straight to a `Write` or turned into a
//! `serde_json::Value`.
//!
//! Strings a translation makes (a date in FHIR's form, a phone number put together, a URI) go
//! into one text buffer the document owns, and their nodes hold a [`Span`] of it: making them
//! allocates nothing once the buffer has grown to a message's needs.
//!
//! Mapping rows address elements by path and several rows fill the same resource (PD1 adds to the
//! Patient from PID), so resources must stay mutable until the message is done. An arena of
//! linked nodes (first child, next sibling) does that without a map or a vector per object.
//! Writing skips empty objects and arrays, so a row that found nothing leaves no `{}` behind.

use std::borrow::Cow;
use std::io::{self, Write};

use serde_json::{Map, Value as Json};

use super::id::Id;

/// Index of a node in a [`Doc`].
pub type NodeId = u32;

const NONE: NodeId = u32::MAX;

/// Where a made string lies in its document's text buffer (byte offsets, end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

/// A JSON value at a node. It owns nothing: text is borrowed from the message or the plan, or
/// made into the document's text buffer ([`Val::MadeStr`]), so the nodes need no dropping and
/// a document is cleared or freed at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    /// An object; its members are the node's children.
    Object,
    /// An array; its items are the node's children.
    Array,
    /// A string.
    Str(&'a str),
    /// A number, as JSON text already checked to be a valid JSON number.
    Number(&'a str),
    /// A string made while translating, in the document's text buffer.
    MadeStr(Span),
    /// A number made while translating (checked JSON number text), in the text buffer.
    MadeNumber(Span),
    /// A boolean.
    Bool(bool),
    /// A resource id, written as its UUID text.
    Id(Id),
    /// A reference to a resource in the same Bundle: `urn:uuid:` and the id.
    Urn(Id),
}

#[derive(Debug, Clone)]
struct Node<'a> {
    key: &'a str,
    val: Val<'a>,
    /// An extension: empty unless something besides its `url` has a value.
    extension: bool,
    first: NodeId,
    last: NodeId,
    next: NodeId,
}

/// The arena.
#[derive(Debug, Default)]
pub struct Doc<'a> {
    nodes: Vec<Node<'a>>,
    /// The strings made while translating, one after another (see [`Span`]).
    made: String,
}

impl<'a> Doc<'a> {
    /// An empty document.
    pub fn new() -> Doc<'a> {
        Doc::with_capacity(256)
    }

    /// An empty document with room for `nodes` nodes.
    pub fn with_capacity(nodes: usize) -> Doc<'a> {
        Doc {
            nodes: Vec::with_capacity(nodes),
            // Made strings come to a few bytes per node.
            made: String::with_capacity(nodes * 4),
        }
    }

    /// Removes every node and made string, keeping the allocations.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.made.clear();
    }

    /// The buffer made strings are written into: append to it, then take what was appended
    /// with [`Doc::made_since`]. Text appended and never taken is harmless.
    pub fn made_buffer(&mut self) -> &mut String {
        &mut self.made
    }

    /// The span from `start` (the buffer's length before appending) to the buffer's end.
    pub fn made_since(&self, start: usize) -> Span {
        Span {
            start: start as u32,
            end: self.made.len() as u32,
        }
    }

    /// A string value for `text`: borrowed where it is, else made in the buffer.
    pub fn text(&mut self, text: Cow<'a, str>) -> Val<'a> {
        match text {
            Cow::Borrowed(t) => Val::Str(t),
            Cow::Owned(t) => Val::MadeStr(self.make(&t)),
        }
    }

    /// Copies `text` into the buffer.
    pub fn make(&mut self, text: &str) -> Span {
        let start = self.made.len();
        self.made.push_str(text);
        self.made_since(start)
    }

    /// The text of a made string.
    pub fn made(&self, span: Span) -> &str {
        self.made
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    fn alloc(&mut self, key: &'a str, val: Val<'a>) -> NodeId {
        self.nodes.push(Node {
            key,
            val,
            extension: false,
            first: NONE,
            last: NONE,
            next: NONE,
        });
        (self.nodes.len() - 1) as NodeId
    }

    /// A new object not yet attached anywhere.
    pub fn object(&mut self) -> NodeId {
        self.alloc("", Val::Object)
    }

    fn attach(&mut self, parent: NodeId, child: NodeId) {
        let last = self.nodes[parent as usize].last;
        if last == NONE {
            self.nodes[parent as usize].first = child;
        } else {
            self.nodes[last as usize].next = child;
        }
        self.nodes[parent as usize].last = child;
    }

    /// The member of `obj` named `key`.
    pub fn get(&self, obj: NodeId, key: &str) -> Option<NodeId> {
        // Keys mostly come from the compiled plan, so the same text is usually the same pointer.
        // Otherwise the bytes are compared in line: keys are short and most differ at the first
        // byte, where a call to `memcmp` would cost more than the comparison (2% of a detailed
        // ADT^A01's instructions).
        self.children(obj).find(|&c| {
            let k = self.nodes[c as usize].key;
            k.len() == key.len()
                && (k.as_ptr() == key.as_ptr() || k.bytes().zip(key.bytes()).all(|(a, b)| a == b))
        })
    }

    /// The member of `obj` that carries the extensions of its primitive member `key` (`_start`
    /// for `start`), found without building its name.
    pub fn get_shadow(&self, obj: NodeId, key: &str) -> Option<NodeId> {
        self.children(obj).find(|&c| {
            let k = self.nodes[c as usize].key;
            k.len() == key.len() + 1 && k.starts_with('_') && &k[1..] == key
        })
    }

    /// True when `obj` has its member `key`, as a value or (a primitive given by its
    /// extensions alone, `_start`) as extensions: FHIR counts either as present.
    pub fn has(&self, obj: NodeId, key: &str) -> bool {
        let valued = |c: NodeId| !self.is_empty(c);
        self.get(obj, key).is_some_and(valued) || self.get_shadow(obj, key).is_some_and(valued)
    }

    /// The children of a node, in order.
    pub fn children(&self, node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut at = self.nodes[node as usize].first;
        std::iter::from_fn(move || {
            (at != NONE).then(|| {
                let c = at;
                at = self.nodes[c as usize].next;
                c
            })
        })
    }

    /// The key of a node (its name in the object holding it; empty for an array's item).
    pub fn key(&self, node: NodeId) -> &'a str {
        self.nodes[node as usize].key
    }

    /// The first child of a node.
    pub fn first_child(&self, node: NodeId) -> Option<NodeId> {
        let first = self.nodes[node as usize].first;
        (first != NONE).then_some(first)
    }

    /// The node after this one among its parent's children.
    pub fn next_sibling(&self, node: NodeId) -> Option<NodeId> {
        let next = self.nodes[node as usize].next;
        (next != NONE).then_some(next)
    }

    /// Empties a node: it then holds nothing a writer prints, as if never filled.
    pub fn empty_out(&mut self, node: NodeId) {
        let n = &mut self.nodes[node as usize];
        n.first = NONE;
        n.last = NONE;
        if !matches!(n.val, Val::Object | Val::Array) {
            n.val = Val::Str("");
        }
    }

    /// Empties every reference to a resource `gone` names (`urn:uuid:` and its id), so that
    /// what held only the reference is empty too.
    pub fn forget_references(&mut self, gone: impl Fn(Id) -> bool) {
        for n in &mut self.nodes {
            if let Val::Urn(id) = n.val
                && gone(id)
            {
                n.val = Val::Str("");
            }
        }
    }

    /// Adds the id of every resource referred to (`urn:uuid:`) at or below `node` to `out`.
    pub fn references_under(&self, node: NodeId, out: &mut Vec<Id>) {
        if let Val::Urn(id) = self.nodes[node as usize].val {
            out.push(id);
        }
        let mut c = self.nodes[node as usize].first;
        while c != NONE {
            self.references_under(c, out);
            c = self.nodes[c as usize].next;
        }
    }

    /// The last child of a node, without a walk.
    pub fn last_child(&self, node: NodeId) -> Option<NodeId> {
        let last = self.nodes[node as usize].last;
        (last != NONE).then_some(last)
    }

    /// The value at a node.
    pub fn val(&self, node: NodeId) -> &Val<'a> {
        &self.nodes[node as usize].val
    }

    /// The string at a node, if it is one.
    pub fn str_at(&self, node: NodeId) -> Option<&str> {
        match &self.nodes[node as usize].val {
            Val::Str(s) => Some(s),
            Val::MadeStr(span) => Some(self.made(*span)),
            _ => None,
        }
    }

    /// The member `key` of `obj`, made as `val` (an empty object or array) when absent.
    #[inline]
    pub fn member(&mut self, obj: NodeId, key: &'a str, val: Val<'a>) -> NodeId {
        match self.get(obj, key) {
            Some(c) => c,
            None => {
                let c = self.alloc(key, val);
                self.attach(obj, c);
                c
            }
        }
    }

    /// Sets `obj.key` to `val` unless it already has a value: the first row to fill an element
    /// wins, so a table lists its preferred source first and a fallback after it.
    #[inline]
    pub fn set(&mut self, obj: NodeId, key: &'a str, val: Val<'a>) -> NodeId {
        if let Some(c) = self.get(obj, key) {
            if !self.is_empty(c) {
                return c;
            }
            self.nodes[c as usize].val = val;
            return c;
        }
        let c = self.alloc(key, val);
        self.attach(obj, c);
        c
    }

    /// Sets `obj.key` (see [`Doc::set`]) to a copy of `text`, made in the buffer.
    pub fn set_made(&mut self, obj: NodeId, key: &'a str, text: &str) -> NodeId {
        let span = self.make(text);
        self.set(obj, key, Val::MadeStr(span))
    }

    /// Replaces the value of the primitive `node` (a string made longer by a later row).
    pub fn replace(&mut self, node: NodeId, val: Val<'a>) {
        self.nodes[node as usize].val = val;
    }

    /// Appends `val` to the array `arr`.
    #[inline]
    pub fn push(&mut self, arr: NodeId, val: Val<'a>) -> NodeId {
        let c = self.alloc("", val);
        self.attach(arr, c);
        c
    }

    /// Appends an existing detached node to the array `arr`.
    pub fn push_node(&mut self, arr: NodeId, node: NodeId) {
        self.attach(arr, node);
    }

    /// Attaches a detached node as member `key` of `obj`.
    pub fn insert_node(&mut self, obj: NodeId, key: &'a str, node: NodeId) {
        self.nodes[node as usize].key = key;
        self.attach(obj, node);
    }

    /// Marks an object as an extension, so that one holding only its `url` counts as empty.
    pub fn mark_extension(&mut self, node: NodeId) {
        self.nodes[node as usize].extension = true;
    }

    /// True when the node holds nothing a writer would print: an empty string, an object or
    /// array whose children are all empty, or an extension with nothing but its URL.
    pub fn is_empty(&self, node: NodeId) -> bool {
        let n = &self.nodes[node as usize];
        match &n.val {
            Val::Object if n.extension => self
                .children(node)
                .all(|c| self.nodes[c as usize].key == "url" || self.is_empty(c)),
            Val::Object | Val::Array => self.children(node).all(|c| self.is_empty(c)),
            Val::Str(s) => s.is_empty(),
            Val::MadeStr(span) => span.start == span.end,
            Val::Number(_) | Val::MadeNumber(_) | Val::Bool(_) | Val::Id(_) | Val::Urn(_) => false,
        }
    }

    /// Writes the node as compact JSON, skipping empty members.
    pub fn write(&self, node: NodeId, out: &mut impl Write) -> io::Result<()> {
        let mut buf = Vec::with_capacity(8 * 1024);
        self.write_into(node, &mut buf);
        out.write_all(&buf)
    }

    /// Appends the node as compact JSON to a byte buffer, skipping empty members.
    pub fn write_into(&self, node: NodeId, out: &mut Vec<u8>) {
        // About 14 bytes of JSON per node: room up front spares the buffer its doublings.
        out.reserve(self.nodes.len() * 16);
        if !self.write_with(node, out) {
            out.extend_from_slice(match self.nodes[node as usize].val {
                Val::Array => b"[]",
                Val::Str(_) | Val::MadeStr(_) => b"\"\"",
                _ => b"{}",
            });
        }
    }

    /// Writes a node; returns false, having written nothing, when it is empty (see
    /// [`Doc::is_empty`]). Emptiness is found while writing: an object whose members all turn
    /// out empty is cut off again, so no separate pass over the tree is needed.
    fn write_with(&self, node: NodeId, out: &mut Vec<u8>) -> bool {
        self.write_node(&self.nodes[node as usize], out)
    }

    /// [`Doc::write_with`] for a node at hand. Inlined into the loops over members and items,
    /// so that writing a leaf (most nodes are) costs no call.
    #[inline(always)]
    fn write_node(&self, n: &Node<'a>, out: &mut Vec<u8>) -> bool {
        match &n.val {
            Val::Object => self.write_object(n, out),
            Val::Array => self.write_array(n, out),
            Val::Str("") => false,
            Val::Str(s) => {
                push_str(s, out);
                true
            }
            Val::Number(n) => {
                out.extend_from_slice(n.as_bytes());
                true
            }
            Val::MadeStr(span) if span.start == span.end => false,
            Val::MadeStr(span) => {
                push_str(self.made(*span), out);
                true
            }
            Val::MadeNumber(span) => {
                out.extend_from_slice(self.made(*span).as_bytes());
                true
            }
            Val::Bool(b) => {
                out.extend_from_slice(if *b { b"true" } else { b"false" });
                true
            }
            Val::Id(id) => {
                let mut text = [b'"'; 38];
                text[1..37].copy_from_slice(&id.uuid());
                out.extend_from_slice(&text);
                true
            }
            Val::Urn(id) => {
                let mut text = [b'"'; 47];
                text[1..10].copy_from_slice(b"urn:uuid:");
                text[10..46].copy_from_slice(&id.uuid());
                out.extend_from_slice(&text);
                true
            }
        }
    }

    /// Writes an object's non-empty members; see [`Doc::write_with`].
    #[inline(never)]
    fn write_object(&self, n: &Node<'a>, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        // Every member is written after a comma, and the first comma becomes the brace: no
        // test per member for whether it is the first.
        let mut beyond_url = !n.extension;
        let mut c = n.first;
        while c != NONE {
            let child = &self.nodes[c as usize];
            let mark = out.len();
            // Keys are FHIR element names: never anything JSON must escape.
            let key = child.key.as_bytes();
            out.reserve(key.len() + 4);
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":");
            if self.write_node(child, out) {
                beyond_url = beyond_url || key != b"url";
            } else {
                out.truncate(mark);
            }
            c = child.next;
        }
        if out.len() == start || !beyond_url {
            out.truncate(start);
            return false;
        }
        out[start] = b'{';
        out.push(b'}');
        true
    }

    /// Writes an array's non-empty items; see [`Doc::write_with`].
    #[inline(never)]
    fn write_array(&self, n: &Node<'a>, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let mut c = n.first;
        while c != NONE {
            let item = &self.nodes[c as usize];
            let mark = out.len();
            out.push(b',');
            if !self.write_node(item, out) {
                out.truncate(mark);
            }
            c = item.next;
        }
        if out.len() == start {
            return false;
        }
        out[start] = b'[';
        out.push(b']');
        true
    }

    /// The node as a `serde_json::Value`, skipping empty members.
    pub fn to_json(&self, node: NodeId) -> Json {
        match &self.nodes[node as usize].val {
            Val::Object => {
                let mut m = Map::new();
                for c in self.children(node).filter(|&c| !self.is_empty(c)) {
                    m.insert(self.nodes[c as usize].key.to_string(), self.to_json(c));
                }
                Json::Object(m)
            }
            Val::Array => Json::Array(
                self.children(node)
                    .filter(|&c| !self.is_empty(c))
                    .map(|c| self.to_json(c))
                    .collect(),
            ),
            Val::Str(s) => Json::String(s.to_string()),
            Val::MadeStr(span) => Json::String(self.made(*span).to_string()),
            // Numbers are checked JSON number text when they are made.
            Val::Number(n) => serde_json::from_str(n).unwrap_or(Json::Null),
            Val::MadeNumber(span) => serde_json::from_str(self.made(*span)).unwrap_or(Json::Null),
            Val::Bool(b) => Json::Bool(*b),
            Val::Id(id) => Json::String(id.to_string()),
            Val::Urn(id) => Json::String(format!("urn:uuid:{id}")),
        }
    }
}

/// Appends a JSON string literal with the escapes JSON requires.
#[inline]
pub fn push_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    push_escaped(bytes, out);
}

/// The rest of [`push_str`] for a string that needs escapes, out of line: few do.
#[inline(never)]
fn push_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// True when `bytes` hold a `"`, a `\\` or a control character. Most strings hold none, so
/// this tests eight bytes at a time, each as a lane of a `u64` (the classic "has a zero byte"
/// tests, which are exact about whether any lane matches).
fn needs_escape(bytes: &[u8]) -> bool {
    const LANES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = LANES << 7;
    let hit = |w: u64| {
        // A lane below 0x20 (its top bit clear, so bytes of multi-byte UTF-8 never count).
        let control = w.wrapping_sub(LANES * 0x20) & !w;
        let quote = w ^ (LANES * u64::from(b'"'));
        let backslash = w ^ (LANES * u64::from(b'\\'));
        let zero = |x: u64| x.wrapping_sub(LANES) & !x;
        (control | zero(quote) | zero(backslash)) & HIGH != 0
    };
    let (words, tail) = bytes.as_chunks::<8>();
    if words.iter().any(|w| hit(u64::from_ne_bytes(*w))) {
        return true;
    }
    // The tail, put into a word padded with spaces a byte at a time: copying it would call
    // `memcpy` for each string.
    let last = tail
        .iter()
        .rev()
        .fold(u64::from_ne_bytes([b' '; 8]), |w, &b| w << 8 | u64::from(b));
    hit(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_prune_and_write() {
        let mut d = Doc::new();
        let root = d.object();
        d.set(root, "resourceType", Val::Str("Patient"));
        let names = d.member(root, "name", Val::Array);
        let n1 = d.push(names, Val::Object);
        d.set(n1, "family", Val::Str("O\"Brien\n"));
        let empty = d.push(names, Val::Object);
        d.set(empty, "family", Val::Str(""));
        let ext = d.member(root, "extension", Val::Array);
        let e = d.push(ext, Val::Object);
        d.mark_extension(e);
        d.set(e, "url", Val::Str("http://example.org/unused"));
        d.set(root, "active", Val::Bool(true));
        d.set(root, "active", Val::Bool(false));
        d.set(root, "multipleBirthInteger", Val::Number("2"));
        let made = d.make("+1 555 0100");
        let telecom = d.member(root, "telecom", Val::Array);
        let phone = d.push(telecom, Val::Object);
        d.set(phone, "value", Val::MadeStr(made));
        let start = d.made_buffer().len();
        d.made_buffer().push_str("1.50");
        let size = d.made_since(start);
        d.set(root, "size", Val::MadeNumber(size));
        let nothing = d.make("");
        d.set(root, "gender", Val::MadeStr(nothing));
        let mut out = Vec::new();
        d.write(root, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","name":[{"family":"O\"Brien\n"}],"active":true,"multipleBirthInteger":2,"telecom":[{"value":"+1 555 0100"}],"size":1.50}"#
        );
        assert_eq!(d.to_json(root).to_string(), text);
    }

    #[test]
    fn members_given_by_extensions_alone_count_and_anything_can_be_emptied() {
        let mut d = Doc::new();
        let root = d.object();
        d.set(root, "status", Val::Str("booked"));
        let shadow = d.member(root, "_start", Val::Object);
        let exts = d.member(shadow, "extension", Val::Array);
        let e = d.push(exts, Val::Object);
        d.set(e, "url", Val::Str("http://example.org/x"));
        d.set(e, "valueString", Val::Str("20260101"));
        assert!(d.has(root, "status") && d.has(root, "start") && !d.has(root, "end"));
        assert_eq!(d.get_shadow(root, "start"), Some(shadow));
        let status = d.get(root, "status").unwrap();
        d.empty_out(status);
        d.empty_out(shadow);
        assert!(!d.has(root, "status") && !d.has(root, "start"));
        assert_eq!(d.to_json(root), serde_json::json!({}));
    }

    #[test]
    fn escapes_are_found_in_every_lane() {
        for len in 0..20 {
            for at in 0..len {
                for bad in [b'"', b'\\', 0, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = bad;
                    assert!(needs_escape(&bytes), "{len} {at} {bad}");
                }
            }
            assert!(!needs_escape(&vec![b'a'; len]));
        }
        for clean in ["é ü ß", " !#[]~\u{7f}", "\u{2028}x"] {
            assert!(!needs_escape(clean.as_bytes()), "{clean:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = Vec::new();
        push_str("a\u{1}b\tc", &mut out);
        assert_eq!(out, br#""a\u0001b\tc""#);
    }
}
