//! Running a compiled [`Plan`] over one parsed message: segments are placed in the structure,
//! each message map row makes or fills a resource through its segment map, data type maps fill
//! elements (or make resources of their own), and references are resolved once every resource
//! exists. The result is an [`Event`]: the resources in order, in one [`Doc`].

mod primitives;
mod required;
mod rows;
mod targets;
mod values;

pub(crate) use self::primitives::hl7_table_system;

use std::collections::HashSet;

use chrono_tz::Tz;

use self::values::{Part, Texts, text_of, trim_cow};
use super::structure::{self, Placement};
use crate::error::{Error, ErrorKind, Location};
use crate::fhir::datetime::DateKind;
use crate::fhir::doc::{Doc, NodeId, Val};
use crate::fhir::elements::Requirements;
use crate::fhir::id::{Id, IdHasher, IdMap};
use crate::mapping::plan::{Link, MessageRow, Plan, Structure};
use crate::mapping::target::Target;
use crate::v2::{Field, Message, Path, Segment, Value};

/// The repetition recorded for a row that read every repetition of a field (repetitions
/// count from 1).
const EVERY_REPETITION: u32 = 0;

/// Where a part of a field lies, in HL7 numbering ([`crate::error::Location::numbers`]), 0 for
/// each level below the part's own. Sorted, keys follow the message's order, a part before its
/// own parts.
type PartKey = [u32; 5];

fn part_key(v: &Value<'_>) -> PartKey {
    v.location().numbers()
}

/// The key of the part holding the part `k` names (a component's repetition).
fn parent_key(k: PartKey) -> PartKey {
    match k {
        [s, f, r, c, sub] if sub > 0 => [s, f, r, c, 0],
        [s, f, r, c, _] if c > 0 => [s, f, r, 0, 0],
        [s, f, _, _, _] => [s, f, 0, 0, 0],
    }
}

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
    /// The resource of the same type made before it: lookups by type walk only these.
    previous: Option<usize>,
    /// The position (from 0) of the segment being mapped when it was made.
    position: u32,
    /// What FHIR requires of its type.
    needs: &'static Requirements,
    /// True when a data type map made it for a row to refer to (a Practitioner from an XCN):
    /// once nothing refers to it, it is not worth sending.
    referred_to_only: bool,
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
    /// Valued fields no row read, as terser paths (`PID-10`, `OBX[2]-6`); of a field read in
    /// part, each valued repetition (`OBX-5[2]`) and each valued component or subcomponent of
    /// a value a data type map ran over (`PID-5.10`, `OBR-32.1.8`) no row read.
    pub unmapped: Vec<String>,
    /// Fields whose code no vocabulary row translates.
    pub untranslated: Vec<String>,
    /// What was wrong but tolerated (not in strict mode): bad values, missing segments. Each
    /// names a location and a reason, never a value unless values may be shown.
    pub problems: Vec<String>,
}

struct Translator<'a, 'o> {
    plan: &'a Plan,
    structure: &'a Structure,
    msg: Message<'a>,
    opts: &'o TranslateOptions,
    doc: Doc<'a>,
    resources: Vec<Resource<'a>>,
    by_id: IdMap<usize>,
    /// The latest resource of each type made so far, the head of its chain of `previous`.
    latest: Vec<(&'a str, usize)>,
    /// The resources made while mapping segments, by type, for the links resolved after
    /// them in a message of many resources (see [`ByType`]); `None` until then, or for good.
    by_type: Option<ByType<'a>>,
    /// Resources a row reached again by their key from another group instance than the one
    /// they were made in, indexed by that instance: an order repeated with the same placer
    /// number and drug is one MedicationRequest, and the second order's OBX still belong to
    /// it. Empty (and sized to the group instances only once a resource is reached so), and by
    /// instance so that a message repeating one order thousands of times does not search them
    /// all for each link.
    reached: Vec<Vec<usize>>,
    /// The lists fallback links (`||=`) have added to (the resource holding the list, the
    /// list's path): empty unless a message lacks what its focus lists.
    fallen_back: Vec<(NodeId, &'a str)>,
    /// Incoming links made so far (the resource holding the list, the list's path, the
    /// resource referred to), so that a resource reached twice is listed once.
    listed: HashSet<(NodeId, &'a str, Id)>,
    placement: Placement,
    segments_by_id: SegmentsById,
    /// Links to resolve once every resource exists: (resource index, link, the segment whose
    /// row made or reached the resource, which a link's `fill` map reads, and the group
    /// instance that row ran in, from which the link looks: a Patient an MRG names that an
    /// earlier PATIENT group's PID made is replaced by this group's patient, not that one's).
    pending: Vec<(usize, &'a Link, Segment<'a>, usize)>,
    /// What some row read, when explaining: (segment number, field, repetition), the
    /// repetition [`EVERY_REPETITION`] for a row that read the whole field.
    consumed: Vec<(u32, u32, u32)>,
    /// The values data type maps ran over, and the components rows read below, when
    /// explaining: their valued parts no row read are reported.
    looked_into: Vec<Part<'a>>,
    /// The parts some row read, when explaining: `true` for a part read whole (by a primitive,
    /// which reads all of it), `false` for a part a map looked at (its own parts are reported
    /// unless a row read them).
    parts_read: Vec<(PartKey, bool)>,
    untranslated: Vec<String>,
    /// Codes some row's vocabulary did translate, when explaining: a component read by two
    /// rows (XAD.7 gives both Address.use and Address.type) is untranslated only if neither
    /// row knew it.
    translated: Vec<String>,
    problems: Vec<String>,
    /// The segment being mapped (for paths into the same segment).
    current: Option<Segment<'a>>,
    /// The parts of the values data type maps are running over (see [`Scope`](values::Scope)).
    parts: Vec<Part<'a>>,
    /// Fields 1 to 64 of the segment being mapped, as resolved so far (entry N is field N + 1
    /// when bit N of `fields_known` is set): rows and conditions read the same field many
    /// times (each OBX row tests OBX-2).
    fields: Vec<Option<Field<'a>>>,
    fields_known: u64,
    /// The other segments paths from the segment being mapped have named (id and occurrence),
    /// as [`Translator::segment_for`] found them: an OBR's rows read its ORC's fields a dozen
    /// times, and each search walks the group instances.
    found: Vec<([u8; 3], u32, Option<Segment<'a>>)>,
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
            .map(trim_cow)
            .unwrap_or_default()
    };
    let (mtype, mut trigger, structure_name) = (part(1), part(2), part(3));
    // HL7 v2.1 sent the message type alone in MSH-9 and the trigger event in EVN-1 (table 0003);
    // some senders still do. The tables read EVN-1 where MSH-9.2 is not valued, likewise.
    let from_evn = trigger.is_empty();
    if from_evn && let Some(t) = msg.text_of("EVN", 1) {
        trigger = trim_cow(t);
    }
    let Some(si) = plan.route(&mtype, &trigger, &structure_name) else {
        let msh9_event = if from_evn { "" } else { &trigger };
        let mut shown = match structure_name.is_empty() {
            true if from_evn => mtype.to_string(),
            true => format!("{mtype}^{msh9_event}"),
            false => format!("{mtype}^{msh9_event}^{structure_name}"),
        };
        match (from_evn, trigger.is_empty()) {
            (true, false) => shown.push_str(&format!(" with EVN-1 {trigger}")),
            (true, true) => shown.push_str(" (no trigger event in MSH-9.2 or EVN-1)"),
            (false, _) => {}
        }
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
        structure,
        msg,
        opts,
        // Detailed resources come to about one node per two bytes of message; growing the
        // arena as it fills would copy it several times per message.
        doc: Doc::with_capacity(256.max(msg.bytes().len() / 2)),
        // Room for the resources of a large message, so neither grows while it is made.
        resources: Vec::with_capacity(64),
        by_id: IdMap::with_capacity_and_hasher(64, Default::default()),
        latest: Vec::with_capacity(16),
        by_type: None,
        reached: Vec::new(),
        fallen_back: Vec::new(),
        segments_by_id: SegmentsById::new(&msg, &placement),
        listed: HashSet::new(),
        placement,
        // Resource rows make up to about four links per segment (an OBX's Observation its
        // subject, encounter, performer and place in the report): room up front spares the
        // list its doublings.
        pending: Vec::with_capacity(4 * msg.segment_count()),
        consumed: Vec::new(),
        looked_into: Vec::new(),
        parts_read: Vec::new(),
        untranslated: Vec::new(),
        translated: Vec::new(),
        problems,
        current: None,
        parts: Vec::with_capacity(64),
        fields: vec![None; 64],
        fields_known: 0,
        found: Vec::new(),
        texts: Texts::new(&msg),
    };
    if opts.explain
        && let Some(r) = msh9.repetition(1)
    {
        // Routing read the message type, trigger event and structure.
        for c in Part::Rep(r).children().take(3) {
            t.note_part_read(c.value(), true);
        }
    }
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
    let translated: HashSet<String> = std::mem::take(&mut t.translated).into_iter().collect();
    // Each field once, where it first came up: a code two maps read (DG1-6 for the Condition
    // and for the Encounter's diagnosis entry) is one untranslated field.
    let mut seen = HashSet::new();
    t.untranslated
        .retain(|u| !translated.contains(u) && seen.insert(u.clone()));
    Ok(Event {
        doc: t.doc,
        resources: t.resources,
        structure: &structure.name,
        trigger: trigger.into_owned(),
        control_id,
        timestamp,
        bundle_id: h.finish(),
        unmapped,
        untranslated: t.untranslated,
        problems: t.problems,
    })
}

/// The first of `candidates` and, for a `sole` lookup, the next other one: a second says the
/// first is not the only one as near. A lookup that is not `sole` stops at the first.
fn first_two(
    mut candidates: impl Iterator<Item = usize>,
    sole: bool,
) -> (Option<usize>, Option<usize>) {
    let first = candidates.next();
    match (first, sole) {
        (Some(f), true) => (first, candidates.find(|&i| i != f)),
        _ => (first, None),
    }
}

/// The number of resources from which links look resources up through [`ByType`].
const INDEXED_FROM: usize = 64;

/// The resources made while mapping segments, grouped by type and each type in the order they
/// were made, which is the order of their segments: the ones a group instance holds are a run
/// found by binary search, so that resolving each of a thousand Observations' links does not
/// walk past the other 999.
struct ByType<'a> {
    /// Resource indices, by type and then in the order made.
    resources: Vec<u32>,
    /// Each type with the range of `resources` that holds it.
    types: Vec<(&'a str, u32, u32)>,
    /// How many resources had been made when the index was built.
    indexed: usize,
}

impl<'a> ByType<'a> {
    fn new(resources: &[Resource<'a>], latest: &[(&'a str, usize)]) -> ByType<'a> {
        let mut index = ByType {
            resources: Vec::with_capacity(resources.len()),
            types: Vec::with_capacity(latest.len()),
            indexed: resources.len(),
        };
        for &(ty, last) in latest {
            let start = index.resources.len();
            let chain = std::iter::successors(Some(last), |&i| resources[i].previous);
            index.resources.extend(chain.map(|i| i as u32));
            index.resources[start..].reverse();
            index
                .types
                .push((ty, start as u32, index.resources.len() as u32));
        }
        index
    }

    /// The resources of type `ty` made inside `span` (segment positions), in the order made.
    fn inside(&self, ty: &str, span: (u32, u32), all: &[Resource<'a>]) -> &[u32] {
        let Some(&(_, start, end)) = self.types.iter().find(|(t, ..)| *t == ty) else {
            return &[];
        };
        let of_type = &self.resources[start as usize..end as usize];
        let at = |p: u32| of_type.partition_point(|&i| all[i as usize].position < p);
        &of_type[at(span.0)..at(span.1 + 1)]
    }
}

/// The message's segments grouped by id, each group in message order, so that a path into
/// another segment looks only at the segments with its id: finding the PID from the last of
/// a thousand segments takes no walk past the other 999. The same positions grouped by id and
/// by the structure node each segment was placed at let a search skip, by the structure
/// alone, the segments no instance it searches can show (see [`Translator::hidden_below`]).
struct SegmentsById {
    /// (id, position from 0), sorted by id and then position.
    segments: Vec<([u8; 3], u32)>,
    /// Each id with the range of `segments` that holds it.
    ids: Vec<([u8; 3], u32, u32)>,
    /// Positions sorted by id, then structure node, then position.
    placed: Vec<u32>,
    /// Each (id, structure node) with the range of `placed` that holds it.
    nodes: Vec<([u8; 3], Option<usize>, u32, u32)>,
}

impl SegmentsById {
    fn new(msg: &Message<'_>, placement: &Placement) -> SegmentsById {
        let mut segments: Vec<([u8; 3], u32)> = msg
            .segments()
            .enumerate()
            .map(|(i, s)| (*s.id_bytes(), i as u32))
            .collect();
        // By id, then position: each id's segments stay in message order (and an unstable
        // sort of distinct keys needs no buffer).
        segments.sort_unstable();
        let ids = ranges(segments.iter().map(|&(id, _)| id));
        let node = |i: u32| placement.segments.get(i as usize).and_then(|&(n, _)| n);
        let mut placed: Vec<([u8; 3], Option<usize>, u32)> =
            segments.iter().map(|&(id, i)| (id, node(i), i)).collect();
        placed.sort_unstable();
        let nodes = ranges(placed.iter().map(|&(id, n, _)| (id, n)))
            .into_iter()
            .map(|((id, n), start, end)| (id, n, start, end))
            .collect();
        SegmentsById {
            segments,
            ids,
            placed: placed.into_iter().map(|(_, _, i)| i).collect(),
            nodes,
        }
    }

    /// The segments with `id` (their positions from 0), in message order.
    fn of(&self, id: [u8; 3]) -> &[([u8; 3], u32)] {
        self.ids
            .iter()
            .find(|(i, ..)| *i == id)
            .map_or(&[], |&(_, start, end)| {
                &self.segments[start as usize..end as usize]
            })
    }

    /// The segments with `id` by the structure node they were placed at (`None`: not in the
    /// structure), each node's positions in message order.
    fn by_node(&self, id: [u8; 3]) -> impl Iterator<Item = (Option<usize>, &[u32])> + '_ {
        self.nodes
            .iter()
            .filter(move |(i, ..)| *i == id)
            .map(|&(_, n, start, end)| (n, &self.placed[start as usize..end as usize]))
    }
}

/// The runs of equal keys in `keys`: each key with the range of indices that holds it.
fn ranges<K: PartialEq>(keys: impl ExactSizeIterator<Item = K>) -> Vec<(K, u32, u32)> {
    // Room for every key on its own: one allocation, where growing took several per message.
    let mut out: Vec<(K, u32, u32)> = Vec::with_capacity(keys.len());
    for (k, key) in keys.enumerate() {
        match out.last_mut() {
            Some((last, _, end)) if *last == key => *end = k as u32 + 1,
            _ => out.push((key, k as u32, k as u32 + 1)),
        }
    }
    out
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
            self.map_segment(Some(*seg));
            let rows = &structure.nodes[node].rows;
            for (r, row) in rows.iter().enumerate() {
                if !row.forward {
                    continue;
                }
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
                    match self.nearest(&row.resource, group, None, false, false) {
                        Some(r) => r,
                        None => self.create(row, group, seg, ordinal)?,
                    }
                } else {
                    let made = self.create(row, group, seg, ordinal)?;
                    self.refuse_replacing_itself(row, made, group, seg)?;
                    made
                };
                let obj = self.resources[res].node;
                self.run_map(row.map, None, obj)?;
                for link in &row.links {
                    self.pending.push((res, link, *seg, group));
                }
            }
        }
        self.map_segment(None);
        // Walking a type's resources costs less than the index until there are many.
        if self.resources.len() > INDEXED_FROM {
            self.by_type = Some(ByType::new(&self.resources, &self.latest));
        }
        // At most one entry per link: sized once instead of grown.
        self.listed.reserve(self.pending.len());
        // Fallback links (`||=`) last: they add only to the lists every other link left empty.
        let pending = std::mem::take(&mut self.pending);
        let mut fallbacks = 0;
        for &(res, link, seg, group) in &pending {
            match link.is_fallback() {
                true => fallbacks += 1,
                false => self.link(res, link, seg, group)?,
            }
        }
        // What lacks what FHIR requires goes before the fallbacks, so that a list emptied of
        // references to it takes them (a VXU whose Immunization is left out focuses on its
        // Patient).
        let left_out = self.leave_out_incomplete()?;
        if fallbacks > 0 {
            for &(res, link, seg, group) in pending.iter().filter(|p| p.1.is_fallback()) {
                if !left_out.get(res).copied().unwrap_or(false) {
                    self.link(res, link, seg, group)?;
                }
            }
        }
        self.drop_left_out(left_out);
        Ok(())
    }

    /// Fails when a row that makes a resource replaced by another of its type (an MRG's
    /// Patient, linked to the PID's) reached, by its key, the very resource of that type made
    /// beside it: an A40 whose MRG-1 names the PID's own patient would mark the surviving
    /// patient inactive and give it its identifiers twice. The sender's merge contradicts
    /// itself, and no notification can say what it meant.
    fn refuse_replacing_itself(
        &mut self,
        row: &'a MessageRow,
        res: usize,
        group: usize,
        seg: &Segment<'a>,
    ) -> Result<(), Error> {
        // Most rows make their resource here and now: two comparisons settle them.
        let made_here =
            self.resources[res].group == group && self.resources[res].position < seg.number() - 1;
        if !made_here
            || !row
                .links
                .iter()
                .any(|l| matches!(l, Link::Outgoing { to, .. } if *to == row.resource))
        {
            return Ok(());
        }
        let named_by = row.key.first().and_then(|p| self.resolve(p));
        let (what, at) = match named_by {
            Some(f) => (
                format!("{}-{}", seg.id(), f.value().location().field),
                Some(f.value()),
            ),
            None => (seg.id().to_string(), None),
        };
        let mut e = Error::new(
            ErrorKind::BadValue,
            format!(
                "{what} names the {} meant to replace it: a {} cannot replace itself",
                row.resource, row.resource
            ),
        );
        e = match at {
            Some(v) => e.at(v.location()).at_offset(v.offset() as u64),
            None => e.at(seg.location()),
        };
        Err(e)
    }

    /// Makes the resource a message map row names (or returns the one with the same id).
    fn create(
        &mut self,
        row: &'a MessageRow,
        group: usize,
        seg: &Segment<'a>,
        ordinal: usize,
    ) -> Result<usize, Error> {
        let ty: &'a str = &row.resource;
        let mut h = IdHasher::new(ty);
        let mut keyed = false;
        for p in &row.key {
            let text = match self.resolve(p).and_then(|f| f.repetition(1)) {
                Some(r) => match Part::Rep(r).descend_path(p) {
                    Some(v) => {
                        if self.opts.explain && p.component.is_some() {
                            self.note_part_read(v.value(), true);
                        }
                        self.texts.of(v.value())?
                    }
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
        Ok(self.resource(ty, row.requirements, h.id(), group))
    }

    fn resource(
        &mut self,
        ty: &'a str,
        needs: &'static Requirements,
        id: Id,
        group: usize,
    ) -> usize {
        if let Some(&i) = self.by_id.get(&id) {
            if self.resources[i].group != group {
                self.note_reached(i, group);
            }
            return i;
        }
        let node = self.doc.object();
        self.doc.set(node, "resourceType", Val::Str(ty));
        self.doc.set(node, "id", Val::Id(id));
        let index = self.resources.len();
        let position = self.current.map_or(0, |s| s.number() - 1);
        let latest = match self.latest.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, latest)) => Some(std::mem::replace(latest, index)),
            None => {
                self.latest.push((ty, index));
                None
            }
        };
        self.resources.push(Resource {
            ty,
            id,
            node,
            group,
            previous: latest,
            position,
            needs,
            referred_to_only: false,
        });
        self.by_id.insert(id, index);
        index
    }

    /// Records that resource `i` was reached again from group instance `group`. Out of line:
    /// few messages do it.
    #[inline(never)]
    fn note_reached(&mut self, i: usize, group: usize) {
        if self.reached.is_empty() {
            self.reached.resize(self.placement.groups.len(), Vec::new());
        }
        if let Some(here) = self.reached.get_mut(group)
            && !here.contains(&i)
        {
            here.push(i);
        }
    }

    /// The resources of type `ty`, latest first.
    fn of_type(&self, ty: &str) -> impl Iterator<Item = usize> + '_ {
        let mut at = self
            .latest
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|&(_, latest)| latest);
        std::iter::from_fn(move || {
            let i = at?;
            at = self.resources[i].previous;
            Some(i)
        })
    }

    /// The nearest resource of type `ty` for a resource in `group`: the latest one made in
    /// `group`, else in the closest enclosing instance, else (for links) anywhere inside that
    /// enclosing instance that is visible from `group` (the Patient of a PATIENT group, seen
    /// from an OBX beside it; SIU's Appointment finding the patient group after it), never
    /// another instance of a group `group` lies in. With `sole`, only one that no other of its
    /// type is as near as: none when two are (the Specimens of an order's two SPM, seen from
    /// its OBX).
    fn nearest(
        &self,
        ty: &str,
        group: usize,
        except: Option<usize>,
        anywhere: bool,
        sole: bool,
    ) -> Option<usize> {
        let mut g = Some(group);
        while let Some(gi) = g {
            // What lies inside instance `gi` was made while mapping its segments.
            let span = self.placement.spans[gi];
            let pick = |pred: &dyn Fn(&Resource<'a>) -> bool| {
                let accept = |&i: &usize| Some(i) != except && pred(&self.resources[i]);
                let Some(span) = span else {
                    return (None, None);
                };
                match &self.by_type {
                    // Links: those of the type made inside the instance, after any made since
                    // the index was built (by a link's own map), latest first.
                    Some(index) => first_two(
                        (index.indexed..self.resources.len())
                            .rev()
                            .filter(|&i| self.resources[i].ty == ty)
                            .chain(
                                index
                                    .inside(ty, span, &self.resources)
                                    .iter()
                                    .rev()
                                    .map(|&i| i as usize),
                            )
                            .filter(accept),
                        sole,
                    ),
                    // While mapping segments (the latest of the type is nearly always the one),
                    // and in a message of few resources: the type's resources, latest first.
                    None => first_two(self.of_type(ty).filter(accept), sole),
                }
            };
            match pick(&|r| r.group == gi) {
                (Some(i), None) => return Some(i),
                (Some(_), Some(_)) => return None,
                (None, _) => {}
            }
            // One made elsewhere and reached by its key from this instance.
            let reached = self.reached.get(gi).map(|here| {
                first_two(
                    here.iter()
                        .rev()
                        .copied()
                        .filter(|&i| Some(i) != except && self.resources[i].ty == ty),
                    sole,
                )
            });
            match reached {
                Some((Some(i), None)) => return Some(i),
                Some((Some(_), Some(_))) => return None,
                _ => {}
            }
            if anywhere {
                match pick(&|r| {
                    self.placement.within(r.group, gi) && self.placement.visible(r.group, group)
                }) {
                    (Some(i), None) => return Some(i),
                    (Some(_), Some(_)) => return None,
                    (None, _) => {}
                }
            }
            g = self.placement.groups[gi].parent;
        }
        None
    }

    fn link(
        &mut self,
        res: usize,
        link: &'a Link,
        seg: Segment<'a>,
        group: usize,
    ) -> Result<(), Error> {
        match link {
            Link::Outgoing { target, to, sole } => {
                if let Some(other) = self.nearest(to, group, Some(res), true, *sole) {
                    let reference = self.resources[other].id;
                    let obj = self.resources[res].node;
                    let at = self.element(obj, &target.steps);
                    self.doc.set(at, "reference", Val::Urn(reference));
                }
            }
            Link::Incoming {
                from,
                target,
                fill,
                fallback,
            } => {
                if let Some(other) = self.nearest(from, group, Some(res), true, false) {
                    let reference = self.resources[res].id;
                    let obj = self.resources[other].node;
                    // A fallback adds to a list the other links left empty, however many
                    // fallbacks do (the Patient of each PATIENT_RESULT of a report that has
                    // no OBR).
                    if *fallback && !self.falls_back_to(obj, target) {
                        return Ok(());
                    }
                    // A resource reached twice (by its key, in two groups) is listed once. No
                    // table row writes references into the lists links append to, so the links
                    // made so far say what a list holds, without walking a list that grows with
                    // the message.
                    if !self.listed.insert((obj, target.text.as_str(), reference)) {
                        return Ok(());
                    }
                    let at = self.element(obj, &target.steps);
                    self.doc.set(at, "reference", Val::Urn(reference));
                    if let Some(m) = *fill {
                        // The segment's own fields fill the rest of the entry just made.
                        self.map_segment(Some(seg));
                        let filled = self.run_map(m, None, obj);
                        self.map_segment(None);
                        filled?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a fallback link adds to the list `target` names on `obj`: the other links left
    /// it empty, or a fallback has added to it already. Out of line: few messages need it.
    #[inline(never)]
    fn falls_back_to(&mut self, obj: NodeId, target: &'a Target) -> bool {
        let list = (obj, target.text.as_str());
        if self.fallen_back.contains(&list) {
            return true;
        }
        if !self.list_is_empty(obj, &target.steps) {
            return false;
        }
        self.fallen_back.push(list);
        true
    }

    /// The segment a path names: the one being mapped when the ids match; else, for a first
    /// occurrence, the closest one with that id in the current group instance or an enclosing
    /// one (an OBX reading its own OBR); else the n-th in the message.
    fn segment_for(&self, p: &Path) -> Option<Segment<'a>> {
        let current = self.current?;
        if *current.id_bytes() == p.segment && p.occurrence == 1 {
            return Some(current);
        }
        // The message's header, which rows of every segment read (MSH-9's event): the first
        // segment, whatever group the reading segment lies in.
        if p.segment == *b"MSH" && p.occurrence == 1 {
            return Some(self.msg.header());
        }
        if p.occurrence == 1 {
            let here = current.number() as usize - 1;
            let from = self.placement.segments.get(here).map_or(0, |&(_, g)| g);
            // Only the segments with the path's id, and of those only the ones inside the
            // instance searched (its segments follow one another).
            let mut g = Some(from);
            while let Some(gi) = g {
                g = self.placement.groups[gi].parent;
                let Some((first, last)) = self.placement.spans[gi] else {
                    continue;
                };
                // Inside this instance and visible from here: the latest before this segment,
                // else the first after it.
                let near = |i: &usize| {
                    let sg = self.placement.segments[*i].1;
                    self.placement.within(sg, gi) && self.placement.visible(sg, from)
                };
                let (mut before, mut after) = (None::<usize>, None::<usize>);
                for (node, positions) in self.segments_by_id.by_node(p.segment) {
                    if node.is_some_and(|n| self.hidden_below(n, gi, from)) {
                        continue;
                    }
                    let at = |position: u32| positions.partition_point(|&i| i < position);
                    let (start, split, end) = (at(first), at(here as u32), at(last + 1));
                    let position = |&i: &u32| i as usize;
                    let latest = positions[start.min(split)..split]
                        .iter()
                        .rev()
                        .map(position)
                        .find(near);
                    before = before.max(latest);
                    if before.is_none() {
                        let next = positions[split..end.max(split)]
                            .iter()
                            .map(position)
                            .find(near);
                        after = match (after, next) {
                            (Some(a), Some(n)) => Some(a.min(n)),
                            (a, n) => a.or(n),
                        };
                    }
                }
                if let Some(i) = before.or(after) {
                    return self.msg.segment(i + 1);
                }
            }
            return None;
        }
        self.nth_segment(p)
    }

    /// The segment with the path's id at the path's occurrence, counted through the message.
    fn nth_segment(&self, p: &Path) -> Option<Segment<'a>> {
        let &(_, i) = self
            .segments_by_id
            .of(p.segment)
            .get((p.occurrence as usize).checked_sub(1)?)?;
        self.msg.segment(i as usize + 1)
    }

    /// True when a segment placed at structure node `n` inside instance `gi` cannot be the one
    /// a path from instance `from` reads at `gi`'s level: on its way up to `gi` it lies in a
    /// group that `from` also lies in below `gi`. Either that is `from`'s own instance of the
    /// group, searched at a lower level already, or another one, which `from` never sees (an
    /// order's RXO from another order's ORC). The structure alone says so: a thousand orders
    /// without an RXO of their own do not each look at the others' RXO.
    fn hidden_below(&self, n: usize, gi: usize, from: usize) -> bool {
        let top = self.placement.groups[gi].node;
        let mut up = self.structure.nodes[n].parent;
        while let Some(group) = up {
            if group == top {
                return false;
            }
            let mut f = Some(from);
            while let Some(fi) = f {
                if fi == gi {
                    break;
                }
                if self.placement.groups[fi].node == group {
                    return true;
                }
                f = self.placement.groups[fi].parent;
            }
            up = self.structure.nodes[group].parent;
        }
        false
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
            Some(_) => self.segment_found(p)?.field(p.field as usize),
            None => self.nth_segment(p)?.field(p.field as usize),
        }
    }

    /// Makes `seg` the segment being mapped (`None`: none), forgetting what was resolved from
    /// the one before.
    fn map_segment(&mut self, seg: Option<Segment<'a>>) {
        self.current = seg;
        self.fields_known = 0;
        self.found.clear();
    }

    /// [`Translator::segment_for`], remembered while the segment being mapped stays the same.
    /// Out of line: most paths name the segment being mapped, and [`Translator::resolve`]
    /// answers those itself.
    #[inline(never)]
    fn segment_found(&mut self, p: &Path) -> Option<Segment<'a>> {
        // The header needs no search, nor a place in the list.
        if p.segment == *b"MSH" {
            return self.segment_for(p);
        }
        if let Some(&(_, _, seg)) = self
            .found
            .iter()
            .find(|&&(id, occurrence, _)| id == p.segment && occurrence == p.occurrence)
        {
            return seg;
        }
        let seg = self.segment_for(p);
        self.found.push((p.segment, p.occurrence, seg));
        seg
    }

    /// Records that a row read the whole field `p` names, when explaining (every row asks, so
    /// the test is inlined and the work is not).
    #[inline]
    fn consume_path(&mut self, p: &Path) {
        if self.opts.explain {
            self.consume(p, EVERY_REPETITION);
        }
    }

    /// Records that a row read repetition `rep` (from 1) of the field `p` names, and no other:
    /// a field sent with more repetitions than its row's target holds has the others reported.
    #[inline]
    fn consume_repetition(&mut self, p: &Path, rep: u32) {
        if self.opts.explain {
            self.consume(p, rep);
        }
    }

    /// Records that a row read the part `v` of a field, when explaining: `whole` for a value
    /// read in full (by a primitive), else a part a map looked at.
    #[inline(never)]
    fn note_part_read(&mut self, v: &Value<'a>, whole: bool) {
        self.parts_read.push((part_key(v), whole));
    }

    #[inline(never)]
    fn consume(&mut self, p: &Path, rep: u32) {
        let seg = match self.current {
            Some(_) => self.segment_for(p),
            None => self.nth_segment(p),
        };
        if let Some(s) = seg {
            self.consumed.push((s.number(), p.field, rep));
        }
    }

    fn group_of_current(&self) -> usize {
        let seg = self.current.map_or(0, |s| s.number() as usize - 1);
        self.placement.segments.get(seg).map_or(0, |&(_, g)| g)
    }

    fn note_translated(&mut self, v: &Part<'a>) {
        if self.opts.explain {
            self.translated
                .push(self.occurrence_terser(&v.value().location()));
        }
    }

    fn note_untranslated(&mut self, v: &Part<'a>) {
        if self.opts.explain {
            self.untranslated
                .push(self.occurrence_terser(&v.value().location()));
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

    /// Valued fields that no row read, in message order.
    /// A location as a terser path with the segment's occurrence (`OBX[2]-5`).
    fn occurrence_terser(&self, loc: &Location) -> String {
        // Segment indices count from 1, positions from 0: the segments with this id up to
        // and including this one.
        let nth = self
            .segments_by_id
            .of(loc.segment_id)
            .partition_point(|&(_, i)| i < loc.segment_index);
        let mut t = loc.terser();
        if nth > 1 {
            t.insert_str(3, &format!("[{nth}]"));
        }
        t
    }

    /// A valued field no row read is named whole (`PID-10`); of a field some row read in part,
    /// each valued repetition no row read (`OBX-5[2]`), and each valued part of a value a data
    /// type map ran over that no row read (`PID-5.10`); all in message order.
    fn unmapped(&self) -> Vec<String> {
        let mut consumed = self.consumed.clone();
        consumed.sort_unstable();
        let mut out: Vec<(PartKey, String)> = Vec::new();
        for seg in self.msg.segments() {
            let number = seg.number();
            for f in seg.fields() {
                let n = f.location().field;
                if (number == 1 && n <= 2) || f.is_empty() {
                    continue;
                }
                let from = consumed.partition_point(|&c| c < (number, n, 0));
                let to = consumed.partition_point(|&c| c <= (number, n, u32::MAX));
                // Sorted by repetition: a row that read every one (0) comes first.
                let read = &consumed[from..to];
                match read.first() {
                    None => {
                        let field = self.occurrence_terser(&f.location());
                        out.push(([number, n, 0, 0, 0], field));
                        continue;
                    }
                    Some(&(_, _, EVERY_REPETITION)) => continue,
                    Some(_) => {}
                }
                for (i, r) in f.repetitions().enumerate() {
                    let rep = i as u32 + 1;
                    if !r.is_empty()
                        && !r.is_null()
                        && read.binary_search(&(number, n, rep)).is_err()
                    {
                        let field = self.occurrence_terser(&f.location());
                        out.push(([number, n, rep, 0, 0], format!("{field}[{rep}]")));
                    }
                }
            }
        }
        self.unread_parts(&mut out);
        out.sort_unstable_by_key(|&(k, _)| k);
        out.into_iter().map(|(_, path)| path).collect()
    }

    /// Adds to `out` each valued component (or subcomponent) of a value a data type map ran
    /// over, or a row read below, that no row read: a map without a row for a component
    /// (NDL.2, the start of an interpreter's role) or whose row's condition did not hold (XPN.10
    /// beside XPN.12) leaves it unmapped, though the field was read.
    fn unread_parts(&self, out: &mut Vec<(PartKey, String)>) {
        let mut read = self.parts_read.clone();
        read.sort_unstable();
        read.dedup();
        let has = |k: PartKey, whole: bool| read.binary_search(&(k, whole)).is_ok();
        let mut looked: Vec<(PartKey, Part<'a>)> = self
            .looked_into
            .iter()
            .map(|p| (part_key(p.value()), *p))
            .collect();
        looked.sort_unstable_by_key(|&(k, _)| k);
        looked.dedup_by_key(|&mut (k, _)| k);
        for (k, part) in looked {
            // Read whole by a primitive, itself or the value holding it.
            if matches!(part, Part::Sub(_)) || has(k, true) || has(parent_key(k), true) {
                continue;
            }
            for child in part.children() {
                let v = child.value();
                if v.is_empty() || v.is_null() {
                    continue;
                }
                let ck = part_key(v);
                if !has(ck, false) && !has(ck, true) {
                    out.push((ck, self.occurrence_terser(&v.location())));
                }
            }
        }
    }
}
