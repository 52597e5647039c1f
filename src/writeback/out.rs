//! The message a writeback builds: for each segment, the decoded text at each position (field,
//! repetition, component, subcomponent, all 1-based), borrowed from the request or the mapping
//! tables unless it had to be made, then encoded once with escaping.
//!
//! Positions are kept in the order they were written, not in a tree of nested lists: a
//! segment holds a few dozen values, so finding one by scanning costs less than the
//! allocations of a tree, and encoding sorts them once.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Location};
use crate::v2::{Charset, Delimiters, escape_into};

/// Decoded text, borrowed where possible.
pub(crate) type Text<'a> = Cow<'a, str>;

/// One repetition of a field under construction: (component, subcomponent, text).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rep<'a>(Vec<(u16, u16, Text<'a>)>);

/// `[c]` is component `c`, subcomponent 1; `[c, s]` subcomponent `s`; `[]` component 1.
fn at(nums: &[u32]) -> (u16, u16) {
    (
        nums.first().copied().unwrap_or(1) as u16,
        nums.get(1).copied().unwrap_or(1) as u16,
    )
}

impl<'a> Rep<'a> {
    /// An empty repetition.
    pub(crate) fn new() -> Rep<'a> {
        Rep(Vec::new())
    }

    /// The text at a component path, if valued.
    pub(crate) fn get(&self, nums: &[u32]) -> Option<&str> {
        let (c, s) = at(nums);
        self.0
            .iter()
            .find(|(pc, ps, t)| *pc == c && *ps == s && !t.is_empty())
            .map(|(_, _, t)| t.as_ref())
    }

    /// Sets the text at a component path unless something is there already: as forward, the
    /// first value wins.
    pub(crate) fn set(&mut self, nums: &[u32], text: Text<'a>) {
        if text.is_empty() || self.get(nums).is_some() {
            return;
        }
        let (c, s) = at(nums);
        self.0.push((c, s, text));
    }

    /// Replaces the text at a component path (one already written, cut to fit its type).
    pub(crate) fn replace(&mut self, nums: &[u32], text: Text<'a>) {
        let (c, s) = at(nums);
        if let Some(part) = self.0.iter_mut().find(|(pc, ps, _)| *pc == c && *ps == s) {
            part.2 = text;
        }
    }

    /// True when nothing is valued.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, _, t)| t.is_empty())
    }

    /// The valued parts, in the order written.
    pub(crate) fn parts(&self) -> impl Iterator<Item = (u16, u16, &Text<'a>)> {
        self.0
            .iter()
            .filter(|(_, _, t)| !t.is_empty())
            .map(|(c, s, t)| (*c, *s, t))
    }

    /// Takes the valued parts out.
    pub(crate) fn into_parts(self) -> impl Iterator<Item = (u16, u16, Text<'a>)> {
        self.0.into_iter().filter(|(_, _, t)| !t.is_empty())
    }

    /// Keeps only the parts `keep` accepts (component, subcomponent).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u16, u16) -> bool) {
        self.0.retain(|(c, s, _)| keep(*c, *s));
    }

    /// The whole repetition as text, components joined with `^` and subcomponents with `&`
    /// (for conditions on a field as a whole).
    pub(crate) fn joined(&self) -> String {
        let mut out = String::new();
        self.lay_out(|seps, t| {
            out.push_str(seps);
            out.push_str(t);
        });
        out
    }

    /// The characters the repetition takes in a message written with `d`: its parts escaped,
    /// and the separators between them.
    pub(crate) fn written_chars(&self, d: &Delimiters) -> usize {
        let mut n = 0;
        self.lay_out(|seps, t| n += seps.len() + written_chars(t, d));
        n
    }

    /// Walks the valued parts in position order, each with the separators before it (`^` for
    /// a component, `&` for a subcomponent).
    fn lay_out(&self, mut each: impl FnMut(&str, &str)) {
        let mut parts: Vec<(u16, u16, &str)> =
            self.parts().map(|(c, s, t)| (c, s, t.as_ref())).collect();
        parts.sort_by_key(|&(c, s, _)| (c, s));
        let mut seps = String::new();
        let (mut c0, mut s0) = (1, 1);
        for (c, s, t) in parts {
            seps.clear();
            while c0 < c {
                seps.push('^');
                c0 += 1;
                s0 = 1;
            }
            while s0 < s {
                seps.push('&');
                s0 += 1;
            }
            each(&seps, t);
        }
    }
}

/// The characters `text` takes in a message written with `d` in UTF-8: an escape sequence
/// counts in full (`\T\` is three), as the length limits of HL7 data types are checked.
pub(crate) fn written_chars(text: &str, d: &Delimiters) -> usize {
    let mut out = Vec::with_capacity(text.len() + 8);
    match escape_into(text, d, Charset::Utf8, &mut out) {
        // UTF-8 continuation bytes start no character.
        Ok(()) => out.iter().filter(|&&b| b & 0xC0 != 0x80).count(),
        // Not writable at all: encoding the message will say so.
        Err(_) => text.chars().count(),
    }
}

/// A segment under construction.
#[derive(Debug, Clone)]
pub(crate) struct Segment<'a> {
    /// The segment id.
    pub(crate) id: [u8; 3],
    /// (field, repetition, value), in the order written.
    reps: Vec<(u16, u16, Rep<'a>)>,
}

impl<'a> Segment<'a> {
    /// Repetition `rep` of field `field`, when something is in it.
    pub(crate) fn rep(&self, field: usize, rep: usize) -> Option<&Rep<'a>> {
        self.reps
            .iter()
            .find(|(f, r, v)| *f as usize == field && *r as usize == rep && !v.is_empty())
            .map(|(_, _, v)| v)
    }

    /// Takes repetition `rep` of field `field` out (empty when there is none), to change it and
    /// put it back.
    pub(crate) fn take_rep(&mut self, field: usize, rep: usize) -> Rep<'a> {
        match self
            .reps
            .iter()
            .position(|(f, r, _)| *f as usize == field && *r as usize == rep)
        {
            Some(i) => self.reps.swap_remove(i).2,
            None => Rep::new(),
        }
    }

    /// Puts a repetition in place (nothing when it is empty); into one already there, what is
    /// there wins.
    pub(crate) fn put_rep(&mut self, field: usize, rep: usize, value: Rep<'a>) {
        if value.is_empty() {
            return;
        }
        match self
            .reps
            .iter_mut()
            .find(|(f, r, _)| *f as usize == field && *r as usize == rep)
        {
            Some((_, _, existing)) => {
                for (c, s, t) in value.into_parts() {
                    existing.set(&[u32::from(c), u32::from(s)], t);
                }
            }
            None => self.reps.push((field as u16, rep as u16, value)),
        }
    }

    /// Sets one value at a position, unless something is there already.
    pub(crate) fn set(&mut self, field: usize, rep: usize, nums: &[u32], text: Text<'a>) {
        let mut r = self.take_rep(field, rep);
        r.set(nums, text);
        self.put_rep(field, rep, r);
    }

    /// The valued repetitions: (field, repetition, value), in the order written.
    pub(crate) fn reps(&self) -> impl Iterator<Item = (usize, usize, &Rep<'a>)> {
        self.reps
            .iter()
            .filter(|(_, _, v)| !v.is_empty())
            .map(|(f, r, v)| (*f as usize, *r as usize, v))
    }

    /// True when field `field` holds something.
    pub(crate) fn valued(&self, field: usize) -> bool {
        self.reps
            .iter()
            .any(|(f, _, v)| *f as usize == field && !v.is_empty())
    }

    /// The number of repetitions field `field` has (the highest one valued).
    pub(crate) fn repetitions(&self, field: usize) -> usize {
        self.reps
            .iter()
            .filter(|(f, _, v)| *f as usize == field && !v.is_empty())
            .map(|(_, r, _)| *r as usize)
            .max()
            .unwrap_or(0)
    }

    /// True when nothing is valued.
    pub(crate) fn is_empty(&self) -> bool {
        self.reps.iter().all(|(_, _, v)| v.is_empty())
    }

    /// The characters field `field` takes in a message written with `d`: its repetitions and
    /// the separators between them.
    pub(crate) fn written_chars(&self, field: usize, d: &Delimiters) -> usize {
        let reps = self.repetitions(field);
        let text: usize = self
            .reps()
            .filter(|&(f, _, _)| f == field)
            .map(|(_, _, r)| r.written_chars(d))
            .sum();
        text + reps.saturating_sub(1)
    }

    /// True when field `field` holds more than one line: several repetitions, or a line break
    /// in a value.
    pub(crate) fn multiline(&self, field: usize) -> bool {
        self.repetitions(field) > 1
            || self
                .reps()
                .filter(|&(f, _, _)| f == field)
                .any(|(_, _, r)| r.parts().any(|(_, _, t)| t.contains(['\n', '\r'])))
    }
}

/// The message under construction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Message<'a> {
    segments: Vec<Segment<'a>>,
}

impl<'a> Message<'a> {
    /// An empty message.
    pub(crate) fn new() -> Message<'a> {
        Message {
            segments: Vec::with_capacity(16),
        }
    }

    /// Appends a segment and returns its number (1-based).
    pub(crate) fn add(&mut self, id: [u8; 3]) -> usize {
        self.segments.push(Segment {
            id,
            reps: Vec::with_capacity(16),
        });
        self.segments.len()
    }

    /// How many segments the message holds so far.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Removes the last segment (one that turned out to have nothing in it, or to lack what
    /// its version requires).
    pub(crate) fn pop(&mut self) {
        self.segments.pop();
    }

    /// Segment `n` (1-based).
    pub(crate) fn segment(&self, n: usize) -> &Segment<'a> {
        &self.segments[n - 1]
    }

    /// Segment `n` (1-based), to change.
    pub(crate) fn segment_mut(&mut self, n: usize) -> &mut Segment<'a> {
        &mut self.segments[n - 1]
    }

    /// Encodes the message with `d` and `charset`, every segment ended by CR. The first segment
    /// is MSH: MSH-1 and MSH-2 come from the delimiters.
    pub(crate) fn encode(&self, d: &Delimiters, charset: Charset) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(128 * self.segments.len());
        let mut parts: Vec<(u16, u16, u16, u16, &str)> = Vec::with_capacity(64);
        for (si, seg) in self.segments.iter().enumerate() {
            out.extend_from_slice(&seg.id);
            let is_msh = si == 0 && &seg.id == b"MSH";
            if is_msh {
                out.push(d.field);
                out.extend_from_slice(&d.encoding_characters());
            }
            parts.clear();
            for (f, r, v) in &seg.reps {
                for (c, s, t) in v.parts() {
                    parts.push((*f, *r, c, s, t.as_ref()));
                }
            }
            parts.sort_by_key(|&(f, r, c, s, _)| (f, r, c, s));
            // MSH-1 and MSH-2 are written above: MSH-3 follows the encoding characters.
            let (mut f0, mut r0, mut c0, mut s0) = (if is_msh { 2 } else { 0 }, 1, 1, 1);
            for &(f, r, c, s, t) in &parts {
                if f != f0 {
                    for _ in f0..f {
                        out.push(d.field);
                    }
                    (f0, r0, c0, s0) = (f, 1, 1, 1);
                }
                while r0 < r {
                    out.push(
                        d.repetition
                            .ok_or_else(|| unencodable(si, seg.id, f, r, NO_REP))?,
                    );
                    (r0, c0, s0) = (r0 + 1, 1, 1);
                }
                while c0 < c {
                    out.push(d.component);
                    (c0, s0) = (c0 + 1, 1);
                }
                while s0 < s {
                    out.push(
                        d.subcomponent
                            .ok_or_else(|| unencodable(si, seg.id, f, r, NO_SUB))?,
                    );
                    s0 += 1;
                }
                escape_into(t, d, charset, &mut out).map_err(|p| {
                    Error::new(ErrorKind::Unrepresentable, p.reason())
                        .at(location(si, seg.id, f, r))
                })?;
            }
            out.push(b'\r');
        }
        Ok(out)
    }
}

const NO_REP: &str = "the message declares no repetition separator";
const NO_SUB: &str = "the message declares no subcomponent separator";

fn location(si: usize, id: [u8; 3], field: u16, rep: u16) -> Location {
    Location {
        field: u32::from(field),
        repetition: u32::from(rep),
        ..Location::segment(si as u32 + 1, id)
    }
}

fn unencodable(si: usize, id: [u8; 3], field: u16, rep: u16, reason: &str) -> Error {
    Error::new(ErrorKind::Unrepresentable, reason).at(location(si, id, field, rep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_positions_in_order_with_escapes() {
        let mut m = Message::new();
        let msh = m.add(*b"MSH");
        m.segment_mut(msh).set(9, 1, &[2], "A01".into());
        m.segment_mut(msh).set(9, 1, &[1], "ADT".into());
        let pid = m.add(*b"PID");
        let s = m.segment_mut(pid);
        s.set(5, 1, &[1, 1], "O'Brien & Sons".into());
        s.set(3, 2, &[1], "X|Y".into());
        s.set(3, 1, &[4, 2], "1.2.3".into());
        // The first value wins.
        s.set(3, 2, &[1], "Z".into());
        assert_eq!(
            m.encode(&Delimiters::default(), Charset::Utf8).unwrap(),
            b"MSH|^~\\&|||||||ADT^A01\rPID|||^^^&1.2.3~X\\F\\Y||O'Brien \\T\\ Sons\r"
        );
        let mut r = Rep::new();
        r.set(&[3], "c".into());
        r.set(&[1, 2], "a2".into());
        assert_eq!(r.joined(), "&a2^^c");
    }
}
