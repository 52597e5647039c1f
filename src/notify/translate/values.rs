//! The v2 values mapping rows read: parts of a field navigated by component number, split
//! once per data type map run, and decoded to text without a copy when nothing is escaped.

use std::borrow::Cow;

use crate::error::Error;
use crate::v2::{
    Component, Components, Message, Path, Repetition, Subcomponent, Subcomponents, Value,
};

/// A value at some level of a field, for navigating by component number.
#[derive(Clone, Copy)]
pub(super) enum Part<'a> {
    Rep(Repetition<'a>),
    Comp(Component<'a>),
    Sub(Subcomponent<'a>),
}

impl<'a> Part<'a> {
    /// The value itself, borrowed: a `Value` is large, and most uses only read it.
    pub(super) fn value(&self) -> &Value<'a> {
        match self {
            Part::Rep(r) => r,
            Part::Comp(c) => c,
            Part::Sub(s) => s,
        }
    }

    pub(super) fn child(&self, n: u32) -> Option<Part<'a>> {
        match self {
            Part::Rep(r) => r.component(n as usize).map(Part::Comp),
            Part::Comp(c) => c.subcomponent(n as usize).map(Part::Sub),
            Part::Sub(s) => (n == 1).then_some(Part::Sub(*s)),
        }
    }

    pub(super) fn descend(self, nums: &[u32]) -> Option<Part<'a>> {
        nums.iter().try_fold(self, |p, &n| p.child(n))
    }

    /// Descends by the component and subcomponent a terser path names.
    pub(super) fn descend_path(self, p: &Path) -> Option<Part<'a>> {
        let mut at = self;
        for n in [p.component, p.subcomponent].into_iter().flatten() {
            at = at.child(n)?;
        }
        Some(at)
    }

    /// The parts one level below, in order.
    #[inline]
    pub(super) fn children(&self) -> Children<'a> {
        match self {
            Part::Rep(r) => Children::Comps(r.components()),
            Part::Comp(c) => Children::Subs(c.subcomponents()),
            Part::Sub(s) => Children::Itself(Some(*s)),
        }
    }

    /// The first component (or subcomponent): the code of a coded value, the time of a TS.
    pub(super) fn first(&self) -> Part<'a> {
        self.child(1).unwrap_or(*self)
    }
}

/// The parts one level below a [`Part`], in order.
pub(super) enum Children<'a> {
    Comps(Components<'a>),
    Subs(Subcomponents<'a>),
    /// A subcomponent is its own only part.
    Itself(Option<Subcomponent<'a>>),
}

impl<'a> Iterator for Children<'a> {
    type Item = Part<'a>;

    fn next(&mut self) -> Option<Part<'a>> {
        match self {
            Children::Comps(c) => c.next().map(Part::Comp),
            Children::Subs(s) => s.next().map(Part::Sub),
            Children::Itself(s) => s.take().map(Part::Sub),
        }
    }
}

/// The value a data type map runs over, and its parts as far as its rows have asked for them.
///
/// Each row of a data type map reads one component (`XPN.2`, `XPN.7` …), and finding component
/// N afresh walks past the N-1 before it; so the parts are split once per run, as far as the
/// highest one asked for, onto [`Translator::parts`](super::Translator::parts) from `base`. A map run inside this one
/// stacks its own parts above these and removes them when it ends, so these stay at
/// `base..base + len`.
pub(super) struct Scope<'a> {
    pub(super) part: Part<'a>,
    pub(super) base: usize,
    pub(super) len: usize,
    pub(super) rest: Children<'a>,
    /// True once `rest` has run out: rows often name components the value does not have.
    pub(super) done: bool,
}

impl<'a> Scope<'a> {
    pub(super) fn new(part: Part<'a>, base: usize) -> Scope<'a> {
        Scope {
            part,
            base,
            len: 0,
            rest: part.children(),
            done: false,
        }
    }
}

/// Decoded, non-empty text; `""` (the HL7 explicit null) counts as absent.
pub(super) fn text_of<'a>(v: &Value<'a>) -> Result<Option<Cow<'a, str>>, Error> {
    if v.is_empty() || v.is_null() {
        return Ok(None);
    }
    let t = v.text()?;
    Ok(if is_blank(&t) { None } else { Some(t) })
}

/// Decodes values to text (see [`text_of`]), built once per message. When the whole message is
/// ASCII, a value without an escape sequence is a slice of the message's own text: no UTF-8
/// check and no character set per value.
#[derive(Clone, Copy)]
pub(super) struct Texts<'a> {
    /// The message, when all of it is ASCII.
    ascii: Option<&'a str>,
    escape: Option<u8>,
    /// Values starting at or after this offset hold no escape character: most messages have
    /// none after the one in MSH-2, so most values need no search for one.
    escape_free: usize,
}

impl<'a> Texts<'a> {
    pub(super) fn new(msg: &Message<'a>) -> Texts<'a> {
        let bytes = msg.bytes();
        let escape = msg.delimiters().escape;
        Texts {
            ascii: bytes
                .is_ascii()
                .then(|| std::str::from_utf8(bytes).ok())
                .flatten(),
            escape,
            escape_free: escape
                .and_then(|e| memchr::memrchr(e, bytes))
                .map_or(0, |at| at + 1),
        }
    }

    /// The text of component (or subcomponent) `n` of `v`, decoded and trimmed, when it has
    /// one.
    pub(super) fn part(&self, v: &Part<'a>, n: u32) -> Result<Option<Cow<'a, str>>, Error> {
        Ok(match v.child(n) {
            Some(c) => self.of(c.value())?.map(trim_cow),
            None => None,
        })
    }

    /// Decoded, non-empty text, as [`text_of`] gives it.
    pub(super) fn of(&self, v: &Value<'a>) -> Result<Option<Cow<'a, str>>, Error> {
        if let Some(all) = self.ascii {
            let raw = v.raw();
            if raw.is_empty() || v.is_null() {
                return Ok(None);
            }
            let start = v.offset();
            if (start >= self.escape_free || self.escape.is_none_or(|e| !raw.contains(&e)))
                && let Some(t) = all.get(start..start + raw.len())
            {
                return Ok((!is_blank(t)).then_some(Cow::Borrowed(t)));
            }
        }
        text_of(v)
    }
}

/// True when `t` is empty or only white space (as `str::trim` sees it). Text mostly starts with
/// a letter or digit, which settles it without a scan.
fn is_blank(t: &str) -> bool {
    match t.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() && *b != 0x0b => false,
        Some(_) => t.trim().is_empty(),
    }
}

/// The text without surrounding white space, still borrowed when it was.
pub(super) fn trim_cow(t: Cow<'_, str>) -> Cow<'_, str> {
    let b = t.as_bytes();
    // Codes seldom carry white space; both ends plain settle it without a Unicode trim.
    let plain = |c: &u8| c.is_ascii_graphic();
    if b.first().is_some_and(plain) && b.last().is_some_and(plain) {
        return t;
    }
    match t {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
    }
}
