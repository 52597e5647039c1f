//! Running a compiled [`Plan`] over one parsed message: segments are placed in the structure,
//! each message map row makes or fills a resource through its segment map, data type maps fill
//! elements (or make resources of their own), and references are resolved once every resource
//! exists. The result is an [`Event`]: the resources in order, in one [`Doc`].

use std::borrow::Cow;

use chrono_tz::Tz;

use super::structure::{self, Placement};
use crate::error::{Error, ErrorKind, Location};
use crate::fhir::datetime::{DateKind, Dtm, ends_before};
use crate::fhir::doc::{Doc, NodeId, Span, Val};
use crate::fhir::id::{Id, IdHasher, IdMap};
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{Concept, Conversion, Link, MapRow, Plan, Primitive, Structure};
use crate::mapping::target::{Step, Target};
use crate::v2::{
    Component, Components, Field, Message, Path, Repetition, Segment, Subcomponent, Subcomponents,
    Value,
};

const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";

/// Settings that shape translation.
#[derive(Debug, Clone, Default)]
pub struct TranslateOptions {
    /// The sender's time zone, for time stamps without an offset.
    pub timezone: Option<Tz>,
    /// MessageHeader.source.endpoint; derived from MSH-3 when absent.
    pub source_endpoint: Option<String>,
    /// Quote values in error text.
    pub show_values: bool,
    /// Keep only identifiers, references and required elements.
    pub lightweight: bool,
    /// Record unmapped fields and untranslated codes.
    pub explain: bool,
    /// Fail on a value of the wrong shape (a bad date) or a missing required segment; otherwise
    /// the element is left out, its original text kept in an extension, and the problem noted.
    pub strict: bool,
}

/// One resource made from the message.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    /// Its type.
    pub ty: &'a str,
    /// Its id (also the UUID of its `urn:uuid:` full URL).
    pub id: Id,
    /// Its node in the document.
    pub node: NodeId,
    /// The group instance it was made in.
    group: usize,
}

/// What translating one message gives.
#[derive(Debug)]
pub struct Event<'a> {
    /// The document holding every resource.
    pub doc: Doc<'a>,
    /// The resources, MessageHeader first.
    pub resources: Vec<Resource<'a>>,
    /// The structure used.
    pub structure: &'a str,
    /// MSH-9.2.
    pub trigger: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-7 as a FHIR instant, when it can be one.
    pub timestamp: Option<String>,
    /// Bundle id: a hash of the sender, control id and time.
    pub bundle_id: String,
    /// Valued fields no row read, as terser paths (`PID-10`, `OBX[2]-6`).
    pub unmapped: Vec<String>,
    /// Fields whose code no vocabulary row translates.
    pub untranslated: Vec<String>,
    /// What was wrong but tolerated (not in strict mode): bad values, missing segments. Each
    /// names a location and a reason, never a value unless values may be shown.
    pub problems: Vec<String>,
}

/// A value at some level of a field, for navigating by component number.
#[derive(Clone, Copy)]
enum Part<'a> {
    Rep(Repetition<'a>),
    Comp(Component<'a>),
    Sub(Subcomponent<'a>),
}

impl<'a> Part<'a> {
    /// The value itself, borrowed: a `Value` is large, and most uses only read it.
    fn value(&self) -> &Value<'a> {
        match self {
            Part::Rep(r) => r,
            Part::Comp(c) => c,
            Part::Sub(s) => s,
        }
    }

    fn child(&self, n: u32) -> Option<Part<'a>> {
        match self {
            Part::Rep(r) => r.component(n as usize).map(Part::Comp),
            Part::Comp(c) => c.subcomponent(n as usize).map(Part::Sub),
            Part::Sub(s) => (n == 1).then_some(Part::Sub(*s)),
        }
    }

    fn descend(self, nums: &[u32]) -> Option<Part<'a>> {
        nums.iter().try_fold(self, |p, &n| p.child(n))
    }

    /// Descends by the component and subcomponent a terser path names.
    fn descend_path(self, p: &Path) -> Option<Part<'a>> {
        let mut at = self;
        for n in [p.component, p.subcomponent].into_iter().flatten() {
            at = at.child(n)?;
        }
        Some(at)
    }

    /// The first component (or subcomponent): the code of a coded value, the time of a TS.
    fn first(&self) -> Part<'a> {
        self.child(1).unwrap_or(*self)
    }
}

/// The parts one level below a [`Part`], in order.
enum Children<'a> {
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
/// highest one asked for, onto [`Translator::parts`] from `base`. A map run inside this one
/// stacks its own parts above these and removes them when it ends, so these stay at
/// `base..base + len`.
struct Scope<'a> {
    part: Part<'a>,
    base: usize,
    len: usize,
    rest: Children<'a>,
    /// True once `rest` has run out: rows often name components the value does not have.
    done: bool,
}

impl<'a> Scope<'a> {
    fn new(part: Part<'a>, base: usize) -> Scope<'a> {
        let rest = match part {
            Part::Rep(r) => Children::Comps(r.components()),
            Part::Comp(c) => Children::Subs(c.subcomponents()),
            Part::Sub(s) => Children::Itself(Some(s)),
        };
        Scope {
            part,
            base,
            len: 0,
            rest,
            done: false,
        }
    }
}

/// Decoded, non-empty text; `""` (the HL7 explicit null) counts as absent.
fn text_of<'a>(v: &Value<'a>) -> Result<Option<Cow<'a, str>>, Error> {
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
struct Texts<'a> {
    /// The message, when all of it is ASCII.
    ascii: Option<&'a str>,
    escape: Option<u8>,
    /// Values starting at or after this offset hold no escape character: most messages have
    /// none after the one in MSH-2, so most values need no search for one.
    escape_free: usize,
}

impl<'a> Texts<'a> {
    fn new(msg: &Message<'a>) -> Texts<'a> {
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

    /// Decoded, non-empty text, as [`text_of`] gives it.
    fn of(&self, v: &Value<'a>) -> Result<Option<Cow<'a, str>>, Error> {
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

struct Translator<'a, 'o> {
    plan: &'a Plan,
    msg: Message<'a>,
    opts: &'o TranslateOptions,
    doc: Doc<'a>,
    resources: Vec<Resource<'a>>,
    by_id: IdMap<usize>,
    placement: Placement,
    /// Links to resolve once every resource exists: (resource index, link, the segment whose
    /// row made the resource, which a link's `fill` map reads).
    pending: Vec<(usize, &'a Link, Segment<'a>)>,
    /// (segment number, field) pairs some row read, when explaining.
    consumed: Vec<u64>,
    untranslated: Vec<String>,
    /// Codes some row's vocabulary did translate, when explaining: a component read by two
    /// rows (XAD.7 gives both Address.use and Address.type) is untranslated only if neither
    /// row knew it.
    translated: Vec<String>,
    problems: Vec<String>,
    /// The segment being mapped (for paths into the same segment).
    current: Option<Segment<'a>>,
    /// The parts of the values data type maps are running over (see [`Scope`]).
    parts: Vec<Part<'a>>,
    /// Fields 1 to 64 of the segment being mapped, as resolved so far (entry N is field N + 1
    /// when bit N of `fields_known` is set): rows and conditions read the same field many
    /// times (each OBX row tests OBX-2).
    fields: Vec<Option<Field<'a>>>,
    fields_known: u64,
    texts: Texts<'a>,
}

/// Translates a parsed message with `plan`.
pub fn translate<'a>(
    plan: &'a Plan,
    msg: Message<'a>,
    opts: &TranslateOptions,
) -> Result<Event<'a>, Error> {
    let header = msg.header();
    let msh9 = header.field(9).ok_or_else(|| {
        Error::new(ErrorKind::UnsupportedEvent, "MSH-9 (message type) is empty").at(Location {
            field: 9,
            ..Location::segment(1, *b"MSH")
        })
    })?;
    let part = |n: usize| {
        msh9.component(n)
            .and_then(|c| text_of(&c).ok().flatten())
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    let (mtype, trigger, structure_name) = (part(1), part(2), part(3));
    let Some(si) = plan.route(&mtype, &trigger, &structure_name) else {
        let shown = if structure_name.is_empty() {
            format!("{mtype}^{trigger}")
        } else {
            format!("{mtype}^{trigger}^{structure_name}")
        };
        return Err(Error::new(
            ErrorKind::UnsupportedEvent,
            format!("MSH-9 {shown}: no mapping covers this message type and event"),
        )
        .at(msh9.location())
        .at_offset(msh9.offset() as u64));
    };
    let structure = &plan.structures[si];
    let placement = structure::place(structure, msg.segments().map(|s| *s.id_bytes()));
    let mut problems = Vec::new();
    if let Err(e) = check_required(structure, &msg) {
        if opts.strict {
            return Err(e);
        }
        problems.push(e.to_string());
    }
    let mut t = Translator {
        plan,
        msg,
        opts,
        // Detailed resources come to about one node per two bytes of message; growing the
        // arena as it fills would copy it several times per message.
        doc: Doc::with_capacity(256.max(msg.bytes().len() / 2)),
        // Room for the resources of a large message, so neither grows while it is made.
        resources: Vec::with_capacity(64),
        by_id: IdMap::with_capacity_and_hasher(64, Default::default()),
        placement,
        pending: Vec::new(),
        consumed: Vec::new(),
        untranslated: Vec::new(),
        translated: Vec::new(),
        problems,
        current: None,
        parts: Vec::with_capacity(64),
        fields: vec![None; 64],
        fields_known: 0,
        texts: Texts::new(&msg),
    };
    t.run(structure)?;
    let control_id = msg
        .text_of("MSH", 10)
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let timestamp = match header.field(7).and_then(|f| f.repetition(1)) {
        Some(r) => match t.date(&Part::Rep(r), DateKind::Instant) {
            Ok((value, _)) => value.map(|v| t.doc.made(v).to_string()),
            Err(e) if !opts.strict => {
                t.problems.push(e.to_string());
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut h = IdHasher::new("Bundle");
    for n in [3, 4, 10, 7] {
        h.add_bytes(header.field(n).map_or(&b""[..], |f| f.raw()));
    }
    // The Bundle itself reads MSH-7 (timestamp) and MSH-10 (identifier).
    for field in [7, 10] {
        t.consume_path(&Path {
            segment: *b"MSH",
            occurrence: 1,
            field,
            repetition: None,
            component: None,
            subcomponent: None,
        });
    }
    let unmapped = if opts.explain {
        t.unmapped()
    } else {
        Vec::new()
    };
    let translated = std::mem::take(&mut t.translated);
    // Each field once, where it first came up: a code two maps read (DG1-6 for the Condition
    // and for the Encounter's diagnosis entry) is one untranslated field.
    let mut seen = std::collections::HashSet::new();
    t.untranslated
        .retain(|u| !translated.contains(u) && seen.insert(u.clone()));
    Ok(Event {
        doc: t.doc,
        resources: t.resources,
        structure: &structure.name,
        trigger,
        control_id,
        timestamp,
        bundle_id: h.finish(),
        unmapped,
        untranslated: t.untranslated,
        problems: t.problems,
    })
}

/// Fails when a segment the structure requires at its top level is absent.
fn check_required(s: &Structure, msg: &Message<'_>) -> Result<(), Error> {
    for &c in &s.nodes[0].children {
        let node = &s.nodes[c];
        if let (Some(id), true) = (node.segment, node.min > 0)
            && !msg.segments().any(|seg| *seg.id_bytes() == id)
        {
            return Err(Error::new(
                ErrorKind::MissingRequired,
                format!(
                    "{} requires a {} segment; the message has none",
                    s.name, node.name
                ),
            ));
        }
    }
    Ok(())
}

impl<'a> Translator<'a, '_> {
    fn run(&mut self, structure: &'a Structure) -> Result<(), Error> {
        let segments: Vec<Segment<'a>> = self.msg.segments().collect();
        for (i, seg) in segments.iter().enumerate() {
            let (node, group) = self.placement.segments[i];
            let Some(node) = node else { continue };
            self.current = Some(*seg);
            self.fields_known = 0;
            let rows = &structure.nodes[node].rows;
            for (r, row) in rows.iter().enumerate() {
                if let Some(c) = &row.when
                    && !self.applies(c, None)?
                {
                    continue;
                }
                // Which of the segment's rows for this type it is: a keyless id must not move
                // when a table gains a comment or a row for another type.
                let ordinal = rows[..r]
                    .iter()
                    .filter(|o| o.resource == row.resource)
                    .count();
                let res = if row.merge {
                    match self.nearest(&row.resource, group, None, false) {
                        Some(r) => r,
                        None => self.create(&row.resource, group, &row.key, seg, ordinal)?,
                    }
                } else {
                    self.create(&row.resource, group, &row.key, seg, ordinal)?
                };
                let obj = self.resources[res].node;
                self.run_map(row.map, None, obj)?;
                for link in &row.links {
                    self.pending.push((res, link, *seg));
                }
            }
        }
        self.current = None;
        for (res, link, seg) in std::mem::take(&mut self.pending) {
            self.link(res, link, seg)?;
        }
        Ok(())
    }

    /// Makes a resource (or returns the one with the same id).
    fn create(
        &mut self,
        ty: &'a str,
        group: usize,
        key: &[Path],
        seg: &Segment<'a>,
        ordinal: usize,
    ) -> Result<usize, Error> {
        let mut h = IdHasher::new(ty);
        let mut keyed = false;
        for p in key {
            let text = match self.resolve(p).and_then(|f| f.repetition(1)) {
                Some(r) => match Part::Rep(r).descend_path(p) {
                    Some(v) => self.texts.of(v.value())?,
                    None => None,
                },
                None => None,
            };
            if let Some(t) = &text {
                keyed = true;
                h.add(t);
            } else {
                h.add("");
            }
            self.consume_path(p);
        }
        if !keyed {
            // Unique to this message: sender, control id, segment position and which of the
            // segment's rows for this type made it.
            let header = self.msg.header();
            for n in [3, 10] {
                h.add_bytes(header.field(n).map_or(&b""[..], |f| f.raw()));
            }
            h.add_number(seg.number() as u64);
            h.add_number(ordinal as u64);
        }
        Ok(self.resource(ty, h.id(), group))
    }

    fn resource(&mut self, ty: &'a str, id: Id, group: usize) -> usize {
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        let node = self.doc.object();
        self.doc
            .set(node, "resourceType", Val::Str(Cow::Borrowed(ty)));
        self.doc.set(node, "id", Val::Id(id));
        self.resources.push(Resource {
            ty,
            id,
            node,
            group,
        });
        self.by_id.insert(id, self.resources.len() - 1);
        self.resources.len() - 1
    }

    /// The nearest resource of type `ty` for a resource in `group`: the latest one made in
    /// `group`, else in the closest enclosing instance, else (for links) anywhere inside that
    /// enclosing instance that is visible from `group` (the Patient of a PATIENT group, seen
    /// from an OBX beside it; SIU's Appointment finding the patient group after it), never
    /// another instance of a group `group` lies in.
    fn nearest(
        &self,
        ty: &str,
        group: usize,
        except: Option<usize>,
        anywhere: bool,
    ) -> Option<usize> {
        let pick = |pred: &dyn Fn(&Resource<'a>) -> bool| {
            self.resources
                .iter()
                .enumerate()
                .rev()
                .find(|(i, r)| r.ty == ty && Some(*i) != except && pred(r))
                .map(|(i, _)| i)
        };
        let mut g = Some(group);
        while let Some(gi) = g {
            if let Some(i) = pick(&|r| r.group == gi) {
                return Some(i);
            }
            if anywhere
                && let Some(i) = pick(&|r| {
                    self.placement.within(r.group, gi) && self.placement.visible(r.group, group)
                })
            {
                return Some(i);
            }
            g = self.placement.groups[gi].parent;
        }
        None
    }

    fn link(&mut self, res: usize, link: &'a Link, seg: Segment<'a>) -> Result<(), Error> {
        let group = self.resources[res].group;
        match link {
            Link::Outgoing { target, to } => {
                if let Some(other) = self.nearest(to, group, Some(res), true) {
                    let reference = self.resources[other].id;
                    let obj = self.resources[res].node;
                    let at = self.element(obj, &target.steps);
                    self.doc.set(at, "reference", Val::Urn(reference));
                }
            }
            Link::Incoming { from, target, fill } => {
                if let Some(other) = self.nearest(from, group, Some(res), true) {
                    let reference = self.resources[res].id;
                    let obj = self.resources[other].node;
                    // A resource reached twice (by its key, in two groups) is listed once.
                    if self.references(obj, &target.steps, reference) {
                        return Ok(());
                    }
                    let at = self.element(obj, &target.steps);
                    self.doc.set(at, "reference", Val::Urn(reference));
                    if let Some(m) = *fill {
                        // The segment's own fields fill the rest of the entry just made.
                        self.current = Some(seg);
                        self.fields_known = 0;
                        let filled = self.run_map(m, None, obj);
                        self.current = None;
                        filled?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The segment a path names: the one being mapped when the ids match; else, for a first
    /// occurrence, the closest one with that id in the current group instance or an enclosing
    /// one (an OBX reading its own OBR); else the n-th in the message.
    fn segment_for(&self, p: &Path) -> Option<Segment<'a>> {
        let current = self.current?;
        if *current.id_bytes() == p.segment && p.occurrence == 1 {
            return Some(current);
        }
        if p.occurrence == 1 {
            let here = current.number() as usize - 1;
            let from = self.placement.segments.get(here).map_or(0, |&(_, g)| g);
            let matches = |i: &usize| {
                self.msg
                    .segment(i + 1)
                    .is_some_and(|s| *s.id_bytes() == p.segment)
            };
            let mut g = Some(from);
            while let Some(gi) = g {
                // Inside this instance and visible from here: the latest before this segment,
                // else the first after it.
                let near = |i: &usize| {
                    let sg = self.placement.segments[*i].1;
                    self.placement.within(sg, gi) && self.placement.visible(sg, from)
                };
                // The id test is cheap; the placement test walks group instances.
                let before = (0..here).rev().filter(matches).find(near);
                let found = before.or_else(|| {
                    (here + 1..self.placement.segments.len())
                        .filter(matches)
                        .find(near)
                });
                if let Some(i) = found {
                    return self.msg.segment(i + 1);
                }
                g = self.placement.groups[gi].parent;
            }
            return None;
        }
        self.msg
            .segments()
            .filter(|s| *s.id_bytes() == p.segment)
            .nth(p.occurrence as usize - 1)
    }

    /// True when the list `steps` names on `obj` already holds a reference to `reference`.
    fn references(&self, obj: NodeId, steps: &[Step], reference: Id) -> bool {
        let Some((step, deeper)) = steps.split_first() else {
            return self
                .doc
                .get(obj, "reference")
                .is_some_and(|r| *self.doc.val(r) == Val::Urn(reference));
        };
        let name = match step {
            Step::Member { name, .. } | Step::Extension { name, .. } => name,
        };
        let Some(at) = self.doc.get(obj, name) else {
            return false;
        };
        match self.doc.val(at) {
            Val::Array => self
                .doc
                .children(at)
                .any(|item| self.references(item, deeper, reference)),
            _ => self.references(at, deeper, reference),
        }
    }

    /// The field a path names (see [`Translator::segment_for`]).
    fn resolve(&mut self, p: &Path) -> Option<Field<'a>> {
        if let Some(current) = self.current
            && *current.id_bytes() == p.segment
            && p.occurrence == 1
        {
            let i = (p.field as usize).wrapping_sub(1);
            let Some(slot) = self.fields.get_mut(i) else {
                return current.field(p.field as usize);
            };
            if self.fields_known >> i & 1 == 0 {
                *slot = current.field(p.field as usize);
                self.fields_known |= 1 << i;
            }
            return *slot;
        }
        match self.current {
            Some(_) => self.segment_for(p)?.field(p.field as usize),
            None => self
                .msg
                .segments()
                .filter(|s| *s.id_bytes() == p.segment)
                .nth(p.occurrence as usize - 1)?
                .field(p.field as usize),
        }
    }

    /// Records that a row read the field `p` names, when explaining (every row asks, so the
    /// test is inlined and the work is not).
    #[inline]
    fn consume_path(&mut self, p: &Path) {
        if self.opts.explain {
            self.consume(p);
        }
    }

    #[inline(never)]
    fn consume(&mut self, p: &Path) {
        let seg = match self.current {
            Some(_) => self.segment_for(p),
            None => self
                .msg
                .segments()
                .filter(|s| *s.id_bytes() == p.segment)
                .nth(p.occurrence as usize - 1),
        };
        if let Some(s) = seg {
            self.consumed
                .push((s.number() as u64) << 32 | p.field as u64);
        }
    }

    /// Evaluates a row's condition. The fields it reads count as mapped (for `--explain`) only
    /// when it holds: a code that no row's condition accepts (a PRT-4 role the tables do not
    /// map, a local PRB-13 status) is then reported instead of being dropped unseen.
    fn applies(&mut self, c: &Condition, part: Option<&mut Scope<'a>>) -> Result<bool, Error> {
        let read_before = self.consumed.len();
        let holds = self.holds(c, part)?;
        if !holds {
            self.consumed.truncate(read_before);
        }
        Ok(holds)
    }

    /// Evaluates a condition against the current segment (and, for `.N`, the current value).
    fn holds(&mut self, c: &Condition, mut part: Option<&mut Scope<'a>>) -> Result<bool, Error> {
        Ok(match c {
            Condition::Valued(o) => self.valued(o, part.as_deref_mut())?,
            Condition::Equals(o, lit) => self
                .operand(o, part.as_deref_mut())?
                .is_some_and(|t| t.trim() == lit),
            Condition::In(o, lits) => self
                .operand(o, part.as_deref_mut())?
                .is_some_and(|t| lits.iter().any(|l| l == t.trim())),
            Condition::LongerThan(o, n) => self
                .operand(o, part.as_deref_mut())?
                .is_some_and(|t| t.trim().chars().count() > *n),
            // The first component: a TS carries its precision in the second.
            Condition::IsDate(o) => self.operand(o, part.as_deref_mut())?.is_some_and(|t| {
                let first = t.split('^').next().unwrap_or("").trim();
                Dtm::parse(first).is_ok()
            }),
            Condition::Below(o, n) => self
                .operand(o, part.as_deref_mut())?
                .is_some_and(|t| Condition::number_below(&t, n)),
            Condition::Not(c) => !self.holds(c, part.as_deref_mut())?,
            Condition::And(cs) => {
                for c in cs {
                    if !self.holds(c, part.as_deref_mut())? {
                        return Ok(false);
                    }
                }
                true
            }
            Condition::Or(cs) => {
                for c in cs {
                    if self.holds(c, part.as_deref_mut())? {
                        return Ok(true);
                    }
                }
                false
            }
        })
    }

    /// True when the operand has text (see [`text_of`]), decoding it only when it holds an
    /// escape sequence or non-ASCII bytes: `VALUED` is the most common condition.
    fn valued(&mut self, o: &Operand, part: Option<&mut Scope<'a>>) -> Result<bool, Error> {
        let Some(v) = self.operand_value(o, part) else {
            return Ok(false);
        };
        if v.is_empty() || v.is_null() {
            return Ok(false);
        }
        let raw = v.raw();
        let escape = self.msg.delimiters().escape;
        if raw.is_ascii() && escape.is_none_or(|e| !raw.contains(&e)) {
            return Ok(!raw.trim_ascii().is_empty());
        }
        Ok(self.texts.of(&v)?.is_some())
    }

    fn operand(
        &mut self,
        o: &Operand,
        part: Option<&mut Scope<'a>>,
    ) -> Result<Option<Cow<'a, str>>, Error> {
        match self.operand_value(o, part) {
            Some(v) => self.texts.of(&v),
            None => Ok(None),
        }
    }

    /// The value an operand names, undecoded.
    fn operand_value(&mut self, o: &Operand, part: Option<&mut Scope<'a>>) -> Option<Value<'a>> {
        match o {
            Operand::Relative(nums) => self.descend(part?, nums).map(|p| *p.value()),
            Operand::Path(p) => {
                self.consume_path(p);
                let f = self.resolve(p)?;
                match (p.repetition, p.component) {
                    (None, None) => Some(f.value()),
                    _ => f
                        .repetition(p.repetition.unwrap_or(1) as usize)
                        .and_then(|r| Part::Rep(r).descend_path(p))
                        .map(|p| *p.value()),
                }
            }
        }
    }

    /// Runs a segment map (`part` is `None`) or a data type map over `part`, into `obj`.
    fn run_map(&mut self, map: usize, part: Option<Part<'a>>, obj: NodeId) -> Result<(), Error> {
        let base = self.parts.len();
        let mut scope = part.map(|p| Scope::new(p, base));
        let done = self.run_rows(map, scope.as_mut(), obj);
        // Also after an error: a bad value is tolerated outside strict mode and the enclosing
        // map goes on with its own parts.
        self.parts.truncate(base);
        done
    }

    fn run_rows(
        &mut self,
        map: usize,
        mut scope: Option<&mut Scope<'a>>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let m = &self.plan.maps[map];
        for row in &m.rows {
            if !row.direction.forward() || (self.opts.lightweight && !row.light) {
                continue;
            }
            if let Some(c) = &row.when
                && !self.applies(c, scope.as_deref_mut())?
            {
                continue;
            }
            self.run_row(row, scope.as_deref_mut(), obj)?;
        }
        Ok(())
    }

    /// The part `nums` names below the scope's value (the value itself for no numbers).
    #[inline]
    fn descend(&mut self, scope: &mut Scope<'a>, nums: &[u32]) -> Option<Part<'a>> {
        match nums.first() {
            Some(&n) if scope.done && n as usize > scope.len => None,
            _ => self.split_to(scope, nums),
        }
    }

    #[inline(never)]
    fn split_to(&mut self, scope: &mut Scope<'a>, nums: &[u32]) -> Option<Part<'a>> {
        let Some((&n, deeper)) = nums.split_first() else {
            return Some(scope.part);
        };
        let n = (n as usize).checked_sub(1)?;
        while scope.len <= n {
            debug_assert_eq!(self.parts.len(), scope.base + scope.len);
            let Some(next) = scope.rest.next() else {
                scope.done = true;
                return None;
            };
            self.parts.push(next);
            scope.len += 1;
        }
        let part = self.parts.get(scope.base + n);
        match deeper {
            // Most rows name a component, not a subcomponent: no walk, and one copy.
            [] => part.copied(),
            _ => part?.descend(deeper),
        }
    }

    fn run_row(
        &mut self,
        row: &'a MapRow,
        part: Option<&mut Scope<'a>>,
        obj: NodeId,
    ) -> Result<(), Error> {
        match &row.source {
            None => {
                if let Some(c) = &row.constant {
                    self.constant(obj, &row.target, c);
                }
                Ok(())
            }
            // In a segment map, the segment itself (see `Compiler::map_row`).
            Some(Operand::Relative(nums)) if part.is_none() && nums.is_empty() => {
                match (row.conversion, self.current) {
                    (Conversion::Map(m), Some(seg)) => {
                        self.refer_to_built(row, m, seg.raw(), None, obj)
                    }
                    _ => Ok(()),
                }
            }
            Some(Operand::Relative(nums)) => match part.and_then(|s| self.descend(s, nums)) {
                Some(v) => self.run_value(row, &v, obj),
                None => Ok(()),
            },
            Some(Operand::Path(p)) => {
                self.consume_path(p);
                let Some(field) = self.resolve(p) else {
                    return Ok(());
                };
                let joined_kind = match row.conversion {
                    Conversion::Primitive(Primitive::JoinedText) => Some(false),
                    Conversion::Primitive(Primitive::TextAsBase64) => Some(true),
                    _ => None,
                };
                if let Some(base64) = joined_kind {
                    let mut joined = String::new();
                    for r in field.repetitions() {
                        if let Some(t) = Part::Rep(r)
                            .descend_path(p)
                            .map(|v| self.texts.of(v.value()))
                            .transpose()?
                            .flatten()
                        {
                            if !joined.is_empty() {
                                joined.push('\n');
                            }
                            joined.push_str(&t);
                        }
                    }
                    if !joined.is_empty() {
                        let value = if base64 {
                            crate::fhir::base64::encode(joined.as_bytes())
                        } else {
                            joined
                        };
                        self.write(obj, &row.target, Val::Str(Cow::Owned(value)));
                    }
                    return Ok(());
                }
                match (p.repetition, row.each_repetition) {
                    (None, true) => {
                        for r in field.repetitions() {
                            if let Some(v) = Part::Rep(r).descend_path(p) {
                                self.run_value(row, &v, obj)?;
                            }
                        }
                        Ok(())
                    }
                    (n, _) => match field
                        .repetition(n.unwrap_or(1) as usize)
                        .and_then(|r| Part::Rep(r).descend_path(p))
                    {
                        Some(v) => self.run_value(row, &v, obj),
                        None => Ok(()),
                    },
                }
            }
        }
    }

    /// Maps one value of a row's source.
    fn run_value(&mut self, row: &'a MapRow, v: &Part<'a>, obj: NodeId) -> Result<(), Error> {
        let value = v.value();
        if value.is_empty() || value.is_null() {
            return Ok(());
        }
        if let Some(c) = &row.constant {
            self.constant(obj, &row.target, c);
            return Ok(());
        }
        let done = match row.conversion {
            Conversion::Map(m) => self.apply_map(row, m, v, obj),
            Conversion::Primitive(p) => self.primitive(row, p, v, obj),
        };
        match done {
            Err(e) if e.kind() == ErrorKind::BadValue && !self.opts.strict => {
                self.problems.push(e.to_string());
                if let Conversion::Primitive(_) = row.conversion {
                    self.keep_original(obj, &row.target, *v.first().value())?;
                }
                Ok(())
            }
            other => other,
        }
    }

    /// Makes (once per distinct source text) the resource map `m` builds from `source`, the
    /// raw text its id is a hash of, by running the map over `part` (`None`: the current
    /// segment), and points the row's target at it.
    fn refer_to_built(
        &mut self,
        row: &'a MapRow,
        m: usize,
        source: &[u8],
        part: Option<Part<'a>>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let ty: &'a str = &self.plan.maps[m].fhir_type;
        let mut h = IdHasher::new(ty);
        h.add_bytes(source);
        let id = h.id();
        let existed = self.by_id.contains_key(&id);
        let res = self.resource(ty, id, self.group_of_current());
        if !existed {
            let node = self.resources[res].node;
            self.run_map(m, part, node)?;
        }
        let at = self.element(obj, &row.target.steps);
        self.doc.set(at, "reference", Val::Urn(id));
        Ok(())
    }

    fn apply_map(
        &mut self,
        row: &'a MapRow,
        m: usize,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let map = &self.plan.maps[m];
        if map.creates_resource {
            return self.refer_to_built(row, m, v.value().raw(), Some(*v), obj);
        }
        let at = self.element(obj, &row.target.steps);
        self.run_map(m, Some(*v), at)?;
        if let Some(vocab) = row.vocabulary {
            let code = self.texts.of(v.first().value())?;
            if let Some(code) = code {
                match self.plan.vocabularies[vocab].forward.get(code.trim()) {
                    Some(concept) => {
                        self.note_translated(v);
                        self.add_coding(at, concept);
                    }
                    None => self.note_untranslated(v),
                }
            }
        }
        for (t, value) in &row.defaults {
            self.constant(at, t, value);
        }
        Ok(())
    }

    /// Adds the concept to the codings of the CodeableConcept `at`, unless one with the same
    /// system and code is there already: a vocabulary that keeps an HL7 table's own code would
    /// otherwise repeat the coding the sender gave.
    fn add_coding(&mut self, at: NodeId, concept: &'a Concept) {
        let codings = self.doc.member(at, "coding", Val::Array);
        let doc = &self.doc;
        let text = |c: NodeId, key: &str| doc.get(c, key).and_then(|n| doc.str_at(n));
        let present = doc.children(codings).any(|c| {
            text(c, "code") == Some(concept.code.as_str())
                && text(c, "system").unwrap_or("") == concept.system
        });
        if !present {
            let c = self.doc.push(codings, Val::Object);
            self.coding(c, concept);
        }
    }

    /// Fills the Coding `at` with a vocabulary's concept; an empty system or display is left out.
    fn coding(&mut self, at: NodeId, concept: &'a Concept) {
        if !concept.system.is_empty() {
            self.doc
                .set(at, "system", Val::Str(Cow::Borrowed(&concept.system)));
        }
        self.doc
            .set(at, "code", Val::Str(Cow::Borrowed(&concept.code)));
        if !concept.display.is_empty() {
            self.doc
                .set(at, "display", Val::Str(Cow::Borrowed(&concept.display)));
        }
    }

    /// Records the original text of a value that could not be converted in the element's
    /// `originalText` extension, so nothing sent is lost.
    fn keep_original(
        &mut self,
        obj: NodeId,
        target: &'a Target,
        v: Value<'a>,
    ) -> Result<(), Error> {
        let Some(Step::Member {
            shadow,
            many: false,
            ..
        }) = target.steps.last()
        else {
            return Ok(());
        };
        let Some(text) = self.texts.of(&v)? else {
            return Ok(());
        };
        let at = self.parent_of_last(obj, &target.steps);
        let sh = self.doc.member(at, shadow, Val::Object);
        self.original_text(sh, text);
        Ok(())
    }

    /// Adds an `originalText` extension to `owner` (an element, or a primitive's `_name`).
    fn original_text(&mut self, owner: NodeId, text: Cow<'a, str>) {
        let exts = self.doc.member(owner, "extension", Val::Array);
        let e = self.doc.push(exts, Val::Object);
        self.doc
            .set(e, "url", Val::Str(Cow::Borrowed(ORIGINAL_TEXT)));
        self.doc.set(e, "valueString", Val::Str(text));
    }

    fn group_of_current(&self) -> usize {
        let seg = self.current.map_or(0, |s| s.number() as usize - 1);
        self.placement.segments.get(seg).map_or(0, |&(_, g)| g)
    }

    fn note_translated(&mut self, v: &Part<'a>) {
        if self.opts.explain {
            self.translated
                .push(occurrence_terser(&self.msg, &v.value().location()));
        }
    }

    fn note_untranslated(&mut self, v: &Part<'a>) {
        if self.opts.explain {
            self.untranslated
                .push(occurrence_terser(&self.msg, &v.value().location()));
        }
    }

    fn bad_value(&self, v: &Value<'a>, reason: &str) -> Error {
        let e = Error::new(ErrorKind::BadValue, reason)
            .at(v.location())
            .at_offset(v.offset() as u64);
        if self.opts.show_values {
            e.with_value(String::from_utf8_lossy(v.raw()))
        } else {
            e
        }
    }

    fn primitive(
        &mut self,
        row: &'a MapRow,
        p: Primitive,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let val = match p {
            Primitive::Text | Primitive::JoinedText => match self.texts.of(v.value())? {
                Some(t) => Val::Str(t),
                None => return Ok(()),
            },
            Primitive::TextAsBase64 => match self.texts.of(v.value())? {
                Some(t) => Val::Str(Cow::Owned(crate::fhir::base64::encode(t.as_bytes()))),
                None => return Ok(()),
            },
            Primitive::Base64 => match self.texts.of(v.value())? {
                Some(t) if crate::fhir::base64::is_valid(t.trim()) => {
                    Val::Str(Cow::Owned(t.trim().to_string()))
                }
                Some(_) => return Err(self.bad_value(v.value(), "not base64 data")),
                None => return Ok(()),
            },
            Primitive::Code => {
                let Some(t) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let code = trim_cow(t);
                match row.vocabulary {
                    Some(vocab) => match self.plan.vocabularies[vocab].forward.get(code.as_ref()) {
                        Some(c) => {
                            self.note_translated(v);
                            Val::Str(Cow::Borrowed(&c.code))
                        }
                        None => {
                            self.note_untranslated(v);
                            return Ok(());
                        }
                    },
                    None if crate::fhir::elements::is_code(&code) => Val::Str(code),
                    None => {
                        return Err(self.bad_value(
                            v.first().value(),
                            "not a FHIR code (words separated by single spaces)",
                        ));
                    }
                }
            }
            Primitive::Boolean => {
                match self.texts.of(v.first().value())?.as_deref().map(str::trim) {
                    Some("Y" | "y") => Val::Bool(true),
                    Some("N" | "n") => Val::Bool(false),
                    Some(_) => {
                        self.note_untranslated(v);
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
            Primitive::Decimal | Primitive::Integer { .. } => {
                let Some(t) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let integer = matches!(p, Primitive::Integer { .. });
                let n = self
                    .made(|out| Ok(json_number(t.trim(), integer, out)))?
                    .ok_or_else(|| self.bad_value(v.value(), "not a number"))?;
                if let Primitive::Integer { min } = p
                    && self.doc.made(n).parse::<i64>().map_or(true, |x| x < min)
                {
                    return Err(self.bad_value(v.value(), "number out of range for its FHIR type"));
                }
                Val::MadeNumber(n)
            }
            Primitive::Date(kind) => {
                let (mut value, mut original) = self.date(v, kind)?;
                if value.is_some_and(|end| self.ends_before_start(obj, &row.target.steps, end)) {
                    // FHIR forbids a Period ending before it starts (per-1), and which of the two
                    // the sender got wrong is unknown: the start stands, and the end is kept only
                    // as the text sent.
                    let first_part = v.first();
                    let first = first_part.value();
                    self.problems.push(
                        self.bad_value(first, "the period ends before it starts: the end is kept as its original text only")
                            .to_string(),
                    );
                    original = text_of(first)?.map(|t| t.trim().to_string());
                    value = None;
                }
                let Some(orig) = original else {
                    match value {
                        Some(value) => {
                            return {
                                self.write(obj, &row.target, Val::MadeStr(value));
                                Ok(())
                            };
                        }
                        None => return Ok(()),
                    }
                };
                // Inside an extension (patient-birthTime) a value cannot carry extensions of
                // its own: a time padded to seconds is written as is; a time that could not be
                // placed in a zone leaves the extension out and the original text goes on the
                // element the extension belongs to (birthDate).
                let steps = &row.target.steps;
                if let Some(ext) = steps
                    .iter()
                    .rposition(|s| matches!(s, Step::Extension { .. }))
                {
                    match value {
                        Some(value) if self.doc.made(value).contains('T') => {
                            return {
                                self.write(obj, &row.target, Val::MadeStr(value));
                                Ok(())
                            };
                        }
                        _ => {
                            let owner = self.walk(obj, &steps[..ext]);
                            self.original_text(owner, Cow::Owned(orig));
                            return Ok(());
                        }
                    }
                }
                let at = self.parent_of_last(obj, steps);
                if let Some(Step::Member {
                    name,
                    shadow,
                    many: false,
                    ..
                }) = steps.last()
                {
                    if let Some(value) = value {
                        self.doc.set(at, name, Val::MadeStr(value));
                    }
                    let sh = self.doc.member(at, shadow, Val::Object);
                    self.original_text(sh, Cow::Owned(orig));
                    return Ok(());
                }
                match value {
                    Some(value) => Val::MadeStr(value),
                    None => return Ok(()),
                }
            }
            Primitive::SnQuantity | Primitive::SnRange => {
                return self.structured_numeric(row, p, v, obj);
            }
            Primitive::HdUri | Primitive::EiUri => {
                let part = |n: u32| -> Result<Option<Cow<'a, str>>, Error> {
                    Ok(match v.child(n) {
                        Some(c) => self.texts.of(c.value())?.map(trim_cow),
                        None => None,
                    })
                };
                // HD is namespace^universal id^type; EI puts the entity id first.
                let shift = u32::from(p == Primitive::EiUri);
                let (id, kind) = (part(2 + shift)?, part(3 + shift)?);
                let scheme = match kind.as_deref() {
                    Some("ISO") => "urn:oid:",
                    Some("UUID") => "urn:uuid:",
                    Some("URI") => "",
                    _ => return Ok(()),
                };
                let Some(id) = id else {
                    return Ok(());
                };
                let uuid = scheme == "urn:uuid:";
                let uri = self.made(|out| {
                    out.push_str(scheme);
                    let at = out.len();
                    out.push_str(&id);
                    if uuid {
                        out[at..].make_ascii_lowercase();
                    }
                    Ok(true)
                })?;
                match uri {
                    Some(uri) => Val::MadeStr(uri),
                    None => return Ok(()),
                }
            }
            Primitive::Telecom => {
                let texts = self.texts;
                match self.made(|out| telecom(v, texts, out))? {
                    Some(t) => Val::MadeStr(t),
                    None => return Ok(()),
                }
            }
            Primitive::CodeSystem => {
                let Some(name) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let name = name.trim();
                let found = row
                    .vocabulary
                    .and_then(|voc| self.plan.vocabularies[voc].forward.get(name));
                match found {
                    Some(c) => Val::Str(Cow::Borrowed(&c.code)),
                    None => match self.made(|out| Ok(hl7_table_system(name, out)))? {
                        Some(url) => Val::MadeStr(url),
                        None => {
                            self.note_untranslated(v);
                            return Ok(());
                        }
                    },
                }
            }
            Primitive::CodedAs { concept } => {
                let Some(t) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let code = t.trim().to_string();
                let plan: &'a Plan = self.plan;
                let Some(c) = row
                    .vocabulary
                    .and_then(|voc| plan.vocabularies[voc].forward.get(code.as_str()))
                else {
                    self.note_untranslated(v);
                    return Ok(());
                };
                self.note_translated(v);
                let at = self.element(obj, &row.target.steps);
                if concept {
                    self.add_coding(at, c);
                } else {
                    self.coding(at, c);
                }
                return Ok(());
            }
            Primitive::Endpoint => match self.opts.source_endpoint.as_deref() {
                Some(e) => Val::MadeStr(self.doc.make(e)),
                None => match self.texts.of(v.first().value())? {
                    Some(t) => {
                        let start = self.doc.made_buffer().len();
                        endpoint_from_name(&t, self.doc.made_buffer());
                        Val::MadeStr(self.doc.made_since(start))
                    }
                    None => return Ok(()),
                },
            },
        };
        self.write(obj, &row.target, val);
        Ok(())
    }

    /// Converts a DTM; returns the FHIR value and, when it does not carry everything sent, the
    /// original text.
    fn date(
        &mut self,
        v: &Part<'a>,
        kind: DateKind,
    ) -> Result<(Option<Span>, Option<String>), Error> {
        let first = *v.first().value();
        let Some(text) = self.texts.of(&first)? else {
            return Ok((None, None));
        };
        let text = text.trim();
        let dtm = Dtm::parse(text)
            .map_err(|r| self.bad_value(&first, &format!("invalid date/time: {r}")))?;
        let start = self.doc.made_buffer().len();
        let written = dtm.write_fhir(kind, self.opts.timezone, self.doc.made_buffer());
        Ok((
            written.value.then(|| self.doc.made_since(start)),
            written.lossy.then(|| text.to_string()),
        ))
    }

    /// Runs `make` on the document's text buffer: the text it appended, when it says it made
    /// one (what it appended otherwise is taken back).
    fn made(
        &mut self,
        make: impl FnOnce(&mut String) -> Result<bool, Error>,
    ) -> Result<Option<Span>, Error> {
        let start = self.doc.made_buffer().len();
        let made = make(self.doc.made_buffer());
        if !matches!(made, Ok(true)) {
            self.doc.made_buffer().truncate(start);
        }
        Ok(made?.then(|| self.doc.made_since(start)))
    }

    fn structured_numeric(
        &mut self,
        row: &'a MapRow,
        p: Primitive,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let comp = |n: u32| -> Result<Option<Cow<'a, str>>, Error> {
            Ok(match v.child(n) {
                Some(c) => self.texts.of(c.value())?.map(trim_cow),
                None => None,
            })
        };
        let (cmp, n1, sep, n2) = (comp(1)?, comp(2)?, comp(3)?, comp(4)?);
        let mut num = |t: Option<Cow<'a, str>>| -> Result<Option<Span>, Error> {
            let Some(t) = t else {
                return Ok(None);
            };
            match self.made(|out| Ok(json_number(&t, false, out)))? {
                Some(n) => Ok(Some(n)),
                None => Err(self.bad_value(
                    v.value(),
                    "structured numeric holds a value that is not a number",
                )),
            }
        };
        let (n1, n2) = (num(n1)?, num(n2)?);
        let at = self.element(obj, &row.target.steps);
        match p {
            Primitive::SnQuantity if sep.is_none() && n2.is_none() => {
                if let Some(n) = n1 {
                    self.doc.set(at, "value", Val::MadeNumber(n));
                    if let Some(c) = cmp.filter(|c| matches!(c.as_ref(), "<" | "<=" | ">=" | ">")) {
                        self.doc.set(at, "comparator", Val::Str(c));
                    }
                }
            }
            Primitive::SnRange if matches!(sep.as_deref(), Some("-")) && cmp.is_none() => {
                for (key, n) in [("low", n1), ("high", n2)] {
                    if let Some(n) = n {
                        let q = self.doc.member(at, key, Val::Object);
                        self.doc.set(q, "value", Val::MadeNumber(n));
                    }
                }
            }
            _ => self.note_untranslated(v),
        }
        Ok(())
    }

    /// Writes a constant, typed by its target.
    fn constant(&mut self, obj: NodeId, target: &'a Target, value: &'a str) {
        let val = match target.ty {
            "boolean" => Val::Bool(value == "true"),
            "decimal" | "integer" | "positiveInt" | "unsignedInt" => {
                Val::Number(Cow::Borrowed(value))
            }
            _ => Val::Str(Cow::Borrowed(value)),
        };
        self.write(obj, target, val);
    }

    /// Writes a primitive value at the target.
    fn write(&mut self, obj: NodeId, target: &'a Target, val: Val<'a>) {
        let at = self.parent_of_last(obj, &target.steps);
        match target.steps.last() {
            Some(Step::Member {
                name,
                many: true,
                index,
                ..
            }) => {
                let arr = self.doc.member(at, name, Val::Array);
                match index {
                    Some(u32::MAX) => {
                        if self.doc.children(arr).next().is_none() {
                            self.doc.push(arr, val);
                        }
                    }
                    Some(n) => {
                        let have = self.doc.children(arr).count();
                        for _ in have..(*n as usize).saturating_sub(1) {
                            self.doc.push(arr, Val::Str(Cow::Borrowed("")));
                        }
                        if have < *n as usize {
                            self.doc.push(arr, val);
                        }
                    }
                    None => {
                        self.doc.push(arr, val);
                    }
                }
            }
            Some(Step::Member { name, .. }) => {
                self.doc.set(at, name, val);
            }
            Some(Step::Extension { .. }) | None => {}
        }
    }

    /// Whether `steps` end at a Period's `end` and `end` lies before the `start` already there.
    fn ends_before_start(&mut self, obj: NodeId, steps: &'a [Step], end: Span) -> bool {
        if !matches!(steps.last(), Some(Step::Member { name, .. }) if name == "end") {
            return false;
        }
        let period = self.parent_of_last(obj, steps);
        self.doc
            .get(period, "start")
            .and_then(|s| self.doc.str_at(s))
            .is_some_and(|start| ends_before(start, self.doc.made(end)))
    }

    /// Walks all but the last step, making what is missing; returns the node that holds the
    /// last element.
    fn parent_of_last(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        let n = steps.len().saturating_sub(1);
        self.walk(obj, &steps[..n])
    }

    /// Walks all steps and returns the (object) element they end at.
    fn element(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        self.walk(obj, steps)
    }

    #[inline]
    fn walk(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        // Most targets are one element of the resource or data type: nothing to walk.
        if steps.is_empty() {
            return obj;
        }
        self.walk_steps(obj, steps)
    }

    #[inline(never)]
    fn walk_steps(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        let mut cur = obj;
        for step in steps {
            cur = match step {
                Step::Member {
                    name,
                    append,
                    many,
                    index,
                    ..
                } => {
                    if *many {
                        let arr = self.doc.member(cur, name, Val::Array);
                        if *append {
                            self.doc.push(arr, Val::Object)
                        } else {
                            let have = self.doc.children(arr).count();
                            // `[$]`: the last entry, or a first one.
                            let n = match index {
                                Some(u32::MAX) => have.max(1),
                                n => n.unwrap_or(1) as usize,
                            };
                            for _ in have..n {
                                self.doc.push(arr, Val::Object);
                            }
                            self.doc.children(arr).nth(n - 1).unwrap_or(arr)
                        }
                    } else {
                        self.doc.member(cur, name, Val::Object)
                    }
                }
                Step::Extension { name, url, append } => {
                    let arr = self.doc.member(cur, name, Val::Array);
                    let doc = &self.doc;
                    let existing = if *append {
                        None
                    } else {
                        doc.children(arr).find(|&c| {
                            doc.get(c, "url").and_then(|u| doc.str_at(u)) == Some(url.as_str())
                        })
                    };
                    match existing {
                        Some(e) => e,
                        None => {
                            let e = self.doc.push(arr, Val::Object);
                            self.doc.mark_extension(e);
                            self.doc.set(e, "url", Val::Str(Cow::Borrowed(url)));
                            e
                        }
                    }
                }
            };
        }
        cur
    }

    /// Valued fields that no row read, in message order.
    fn unmapped(&self) -> Vec<String> {
        let mut consumed = self.consumed.clone();
        consumed.sort_unstable();
        let mut out = Vec::new();
        for seg in self.msg.segments() {
            for f in seg.fields() {
                let n = f.location().field;
                if seg.number() == 1 && n <= 2 {
                    continue;
                }
                if f.is_empty()
                    || consumed
                        .binary_search(&((seg.number() as u64) << 32 | n as u64))
                        .is_ok()
                {
                    continue;
                }
                out.push(occurrence_terser(&self.msg, &f.location()));
            }
        }
        out
    }
}

/// Appends an XTN as one value: the e-mail or URL (XTN.4), the unformatted number (XTN.12),
/// the number put together from XTN.5–8, or the old formatted number (XTN.1). False when it
/// has none of them.
fn telecom<'a>(v: &Part<'a>, texts: Texts<'a>, out: &mut String) -> Result<bool, Error> {
    let c = |n: u32| -> Result<Option<Cow<'a, str>>, Error> {
        Ok(match v.child(n) {
            Some(c) => texts.of(c.value())?.map(trim_cow),
            None => None,
        })
    };
    if let Some(t) = c(4)?.or(c(12)?) {
        out.push_str(&t);
        return Ok(true);
    }
    if let Some(local) = c(7)? {
        if let Some(cc) = c(5)? {
            out.push('+');
            out.push_str(cc.trim_start_matches('+'));
            out.push(' ');
        }
        if let Some(area) = c(6)? {
            out.push('(');
            out.push_str(&area);
            out.push_str(") ");
        }
        out.push_str(&local);
        if let Some(ext) = c(8)? {
            out.push_str(" ext. ");
            out.push_str(&ext);
        }
        return Ok(true);
    }
    Ok(match c(1)? {
        Some(t) => {
            out.push_str(&t);
            true
        }
        None => false,
    })
}

/// Appends `HL7nnnn` (an HL7-defined table) as its terminology.hl7.org code system URL; false
/// for any other name.
fn hl7_table_system(name: &str, out: &mut String) -> bool {
    let Some(digits) = name.strip_prefix("HL7") else {
        return false;
    };
    let table = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit());
    if table {
        out.push_str("http://terminology.hl7.org/CodeSystem/v2-");
        out.push_str(digits);
    }
    table
}

/// A location as a terser path with the segment's occurrence (`OBX[2]-5`).
fn occurrence_terser(msg: &Message<'_>, loc: &Location) -> String {
    let nth = msg
        .segments()
        .take(loc.segment_index as usize)
        .filter(|s| *s.id_bytes() == loc.segment_id)
        .count();
    let mut t = loc.terser();
    if nth > 1 {
        t.insert_str(3, &format!("[{nth}]"));
    }
    t
}

fn trim_cow(t: Cow<'_, str>) -> Cow<'_, str> {
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

/// Appends HL7 NM text as JSON number text: no `+`, no leading zeros, no bare point. False,
/// having appended nothing, when `t` is not a number (or, for an integer, has a fraction).
fn json_number(t: &str, integer: bool, out: &mut String) -> bool {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if (int.is_empty() && frac.is_none_or(str::is_empty))
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if integer && frac.is_some_and(|f| !f.is_empty()) {
        return false;
    }
    let int = int.trim_start_matches('0');
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(f) = frac.filter(|f| !f.is_empty() && !integer) {
        out.push('.');
        out.push_str(f);
    }
    true
}

/// The sender named as an MLLP endpoint URL: lower case, anything but letters, digits, `.` and
/// `-` replaced by `-` (documented in `mappings/README.md`).
fn endpoint_from_name(name: &str, out: &mut String) {
    out.push_str("mllp://");
    let start = out.len();
    out.extend(name.trim().chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    }));
    let host = &out[start..];
    let lead = host.len() - host.trim_start_matches(['-', '.']).len();
    let len = host.trim_matches(['-', '.']).len();
    out.drain(start..start + lead);
    out.truncate(start + len);
    if len == 0 {
        out.push_str("unknown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("42", false, Some("42")),
            ("+007.50", false, Some("7.50")),
            ("-0.5", false, Some("-0.5")),
            (".5", false, Some("0.5")),
            ("5.", false, Some("5")),
            ("1e3", false, None),
            ("", false, None),
            (".", false, None),
            ("12", true, Some("12")),
            ("1.5", true, None),
        ];
        for (t, int, want) in cases {
            // Appended after what the buffer holds, or nothing appended.
            let mut out = String::from("made|");
            let number = json_number(t, *int, &mut out).then(|| out["made|".len()..].to_string());
            assert_eq!(number.as_deref(), *want, "{t}");
            if want.is_none() {
                assert_eq!(out, "made|");
            }
        }
    }

    #[test]
    fn endpoints() {
        let endpoint = |name: &str| {
            let mut out = String::from("made|");
            endpoint_from_name(name, &mut out);
            out["made|".len()..].to_string()
        };
        assert_eq!(endpoint("ADT1"), "mllp://adt1");
        assert_eq!(
            endpoint("GOOD HEALTH HOSPITAL"),
            "mllp://good-health-hospital"
        );
        assert_eq!(endpoint(" -.Lab.- "), "mllp://lab");
        assert_eq!(endpoint("  "), "mllp://unknown");
    }
}
