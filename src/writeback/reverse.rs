//! Running the mapping tables backwards: FHIR resources become the segments of a message
//! structure.
//!
//! The structure is walked in order. A repeating group is written once per resource its
//! anchor makes: the first segment the group requires (OBR for ORDER_OBSERVATION, so one group
//! per DiagnosticReport), else its first segment (PID for PATIENT_RESULT). A segment's resources
//! are the ones its links tie to the resources already placed: the Observations a
//! DiagnosticReport's `result` lists, the ServiceRequest its `basedOn` names, the Encounters
//! whose `subject` is the patient. Each segment is filled by its segment map's rows read right
//! to left: the FHIR element a row names becomes the field it names, through the same data type
//! maps and vocabularies. Other rows on the same segment add what their resource holds (PID-18
//! from the Account, ORC-1 from the report), and a repeating segment that only adds to a
//! resource (NTE) is written once per entry of the list its map appends to (one NTE per note).
//!
//! What a row cannot run backwards is marked `forward` in the tables; a row marked `reverse`
//! runs only here (e.g. OBX-2, the value type, from which `value[x]` is present). A row whose
//! `value` holds defaults (`use=home`) takes only the elements that match them, so PID-13 gets
//! the home numbers and PID-14 the work ones; with an index (`identifier[1]`, PLAC) it takes
//! the first matching entry wherever it sits. A condition on a field of the segment being
//! written reads what earlier rows wrote there, or else what a later row will write (`OBR-8
//! VALUED` is true when the report has an `effectivePeriod.end`). Forward, the first value to
//! reach an element wins; backwards each FHIR value is written once, by the first row that
//! reads it, so the field that gives the element its value is the one that gets it back.

use std::borrow::Cow;
use std::rc::Rc;

use serde_json::Value as Json;

use super::WritebackOptions;
use super::request::Request;
use super::version::{FastMap, FastSet, Version};
use crate::error::{Error, ErrorKind};
use crate::fhir::base64;
use crate::fhir::datetime::{Dtm, fhir_to_dtm};
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{
    Conversion, ElementMap, Link, MapRow, MessageRow, Plan, Primitive, Structure, StructureNode,
};
use crate::mapping::target::{Step, Target};
use crate::v2::{Charset, Delimiters, Path, spec};

use super::out::{Message as Out, Rep, Text};

const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";

/// The resources a writeback is about: a segment made from one of them that lacks a field the
/// HL7 version requires fails the request; a segment made from anything else is left out.
/// What a segment lacks that its HL7 version requires.
#[derive(Debug, Clone, Copy)]
enum Missing {
    /// A field.
    Field(u32),
    /// A component of a field's data type, in some repetition.
    Component {
        field: u32,
        component: u32,
        datatype: &'static str,
    },
}

const CONTENT: &[&str] = &["Patient", "Observation", "DiagnosticReport", "ChargeItem"];

/// A JSON node by address: the request is borrowed for the whole writeback, so an address
/// names one node.
type NodeKey = *const Json;

/// What a writeback produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The HL7 v2 message, CR segment ends.
    pub message: Vec<u8>,
    /// MSH-9.1 and MSH-9.2.
    pub message_type: String,
    /// The trigger event.
    pub event: String,
    /// The structure used.
    pub structure: String,
    /// MSH-10.
    pub control_id: String,
    /// FHIR elements of the request that no row read (`Patient.name[0].text`), when the options
    /// asked to explain.
    pub unmapped: Vec<String>,
}

/// A value read back from FHIR: text for one place, or parts for several components.
enum Piece<'a> {
    Text(Text<'a>),
    /// (component numbers relative to the row's source, text).
    Parts(Vec<(Vec<u32>, Text<'a>)>),
}

/// The list entry a repeating segment is written for: rows whose target starts with the list
/// step (`note[]`, `note[$]`) read that entry only.
#[derive(Clone, Copy)]
struct Focus<'p, 'j> {
    /// The list step of the map's first appending row.
    step: &'p Step,
    /// How many steps lead to it (1 for `note[]`).
    depth: usize,
    entry: &'j Json,
}

impl Focus<'_, '_> {
    fn matches(&self, step: &Step) -> bool {
        match (self.step, step) {
            (Step::Member { name: a, .. }, Step::Member { name: b, .. }) => a == b,
            (Step::Extension { url: a, .. }, Step::Extension { url: b, .. }) => a == b,
            _ => false,
        }
    }
}

struct Writer<'p, 'j> {
    plan: &'p Plan,
    structure: &'p Structure,
    req: &'j Request<'j>,
    b: Out<'j>,
    /// Resources already written as a segment's own resource.
    used: Vec<bool>,
    /// Resources reserved for the row whose map's constants they match (the merged Patient
    /// of an A40 for MRG).
    reserved: Vec<Option<(usize, usize)>>,
    /// JSON nodes some row read (for `unmapped`).
    consumed: FastSet<NodeKey>,
    /// `consumed` in the order nodes were added, to take back a segment left out.
    consumed_log: Vec<NodeKey>,
    /// When explaining: codes a row read but no vocabulary translates back, and codes some row
    /// did translate. A code only ever in the first is listed as unmapped, not silently
    /// dropped.
    unconverted: FastSet<NodeKey>,
    converted: FastSet<NodeKey>,
    explain: bool,
    /// Nodes already written into the segment being filled: primitive values, and list
    /// entries a row appending to the list took. Rows that append to one list (XPN.2 and
    /// XPN.3 both to `given[]`) take its entries in turn, and a value two rows read goes to the
    /// first one only. A resource reached through a reference gets a scope of its own.
    taken: FastSet<NodeKey>,
    /// Values rows of the segment being filled write directly; a data type map leaves them.
    direct: FastSet<NodeKey>,
    /// Emptied sets for the next scope, so that scopes do not allocate anew.
    spare_sets: Vec<FastSet<NodeKey>>,
    /// How many data type maps deep the writer is.
    depth: usize,
    /// Set ID counters per (segment id, group instance).
    set_ids: FastMap<([u8; 3], usize), u32>,
    group_counter: usize,
    /// What the HL7 version written defines (field types differ between versions).
    version: Rc<Version>,
}

/// Where in the structure a segment is written, and for which resources.
#[derive(Clone, Default)]
struct Context {
    /// Request indices of the resources placed so far in this group instance and the ones
    /// enclosing it, innermost last.
    bound: Vec<usize>,
    /// The resource the group instance is written for.
    own: Option<usize>,
    /// The anchor segment node of the group instance.
    anchor: Option<usize>,
    /// This group instance.
    group: usize,
    /// The enclosing group instance: set IDs of the anchor segment count there (OBX-1 numbers
    /// the observations of one order, not of one OBSERVATION group).
    outer: usize,
}

/// Writes `req` as message `n` of a run with `structure`.
/// `trigger` is the message type and event; `carried` lists elements the event itself carries
/// (Encounter.status for A01/A03/A04), which count as read.
pub(crate) fn write(
    plan: &Plan,
    structure: usize,
    req: &Request<'_>,
    trigger: (&str, &str),
    opts: &WritebackOptions,
    n: u64,
    carried: &[&Json],
) -> Result<Written, Error> {
    let env = &opts.envelope;
    let (message_type, event) = trigger;
    let s = &plan.structures[structure];
    check_references(s, req)?;
    check_patient(req, message_type, event)?;
    let mut b = Out::new();
    let msh = b.add(*b"MSH");
    let control_id = env.control_id(n);
    let time = env.timestamp();
    for (field, value) in [
        (3, &env.sending_application),
        (4, &env.sending_facility),
        (5, &env.receiving_application),
        (6, &env.receiving_facility),
        (7, &time),
        (10, &control_id),
        (11, &env.processing_id),
        (12, &env.version),
    ] {
        if !value.is_empty() {
            b.segment_mut(msh)
                .set(field, 1, &[1], Cow::Owned(value.clone()));
        }
    }
    // MSH-9.3 (message structure) came with v2.3.1.
    let msg_type = spec::field_type_in("MSH", 9, &env.version).unwrap_or("MSG");
    for (c, v) in [message_type, event, s.name.as_str()]
        .into_iter()
        .enumerate()
    {
        if spec::component_type_in(msg_type, c + 1, &env.version).is_some() {
            b.segment_mut(msh)
                .set(9, 1, &[c as u32 + 1], Cow::Owned(v.to_string()));
        }
    }
    // MSH-18 (character set) came with v2.3.
    if spec::field_type_in("MSH", 18, &env.version).is_some() {
        b.segment_mut(msh)
            .set(18, 1, &[1], Cow::Borrowed("UNICODE UTF-8"));
    }
    let mut w = Writer {
        plan,
        structure: s,
        req,
        b,
        used: vec![false; req.resources.len()],
        reserved: vec![None; req.resources.len()],
        consumed: FastSet::with_capacity_and_hasher(256, Default::default()),
        consumed_log: Vec::with_capacity(256),
        unconverted: FastSet::default(),
        converted: FastSet::default(),
        explain: opts.explain,
        taken: FastSet::default(),
        direct: FastSet::default(),
        depth: 0,
        spare_sets: Vec::new(),
        set_ids: FastMap::default(),
        group_counter: 0,
        version: Version::get(&env.version),
    };
    for v in carried {
        w.mark_all(v);
    }
    w.reserve();
    w.group(0, &Context::default(), event, &time)?;
    let message = w.b.encode(&Delimiters::default(), Charset::Utf8)?;
    let unmapped = if opts.explain {
        w.unmapped()
    } else {
        Vec::new()
    };
    Ok(Written {
        message,
        message_type: message_type.to_string(),
        event: event.to_string(),
        structure: s.name.clone(),
        control_id,
        unmapped,
    })
}

/// Every message needs a patient for its PID. A resource that names its subject by a reference
/// the request cannot resolve is reported at that reference; otherwise at the request.
fn check_patient(req: &Request<'_>, message_type: &str, event: &str) -> Result<(), Error> {
    if req.resources.iter().any(|r| r.ty == "Patient") {
        return Ok(());
    }
    let dangling = req.resources.iter().find_map(|r| {
        ["subject", "patient", "beneficiary"].iter().find_map(|k| {
            r.json
                .get(*k)
                .and_then(|s| s.key("reference"))
                .map(|_| format!("{}.{k}", r.path))
        })
    });
    let (path, reason) = match dangling {
        Some(path) => (
            path,
            format!(
                "points at a Patient the request does not hold; an HL7 v2 {message_type}^{event} needs the Patient itself for its PID segment"
            ),
        ),
        None => (
            if req.resources.len() == 1 && !req.resources[0].path.starts_with("Bundle") {
                req.resources[0].path.clone()
            } else {
                "Bundle.entry".to_string()
            },
            format!("an HL7 v2 {message_type}^{event} needs a Patient; the request has none"),
        ),
    };
    Err(Error::new(ErrorKind::MissingRequired, reason).at_fhir_path(path))
}

/// A reference that the message map turns into a link must point at the resource type the
/// link names: a DiagnosticReport whose `result` lists a Condition, or a ChargeItem whose
/// `account` is a Patient, cannot be written.
fn check_references(s: &Structure, req: &Request<'_>) -> Result<(), Error> {
    let mut checked: Vec<(&str, &str)> = Vec::new();
    for node in &s.nodes {
        for row in &node.rows {
            for link in &row.links {
                let (owner, target, expected): (&str, &Target, &str) = match link {
                    Link::Outgoing { target, to } => (row.resource.as_str(), target, to),
                    Link::Incoming { from, target, .. } if from != "MessageHeader" => {
                        (from.as_str(), target, row.resource.as_str())
                    }
                    Link::Incoming { .. } => continue,
                };
                // Only links from resources the request holds, each element once.
                if !req.resources.iter().any(|r| r.ty == owner)
                    || checked.contains(&(owner, target.text.as_str()))
                {
                    continue;
                }
                checked.push((owner, target.text.as_str()));
                // Every type some row of this structure accepts at that element.
                let accepted = |ty: &str| {
                    s.nodes.iter().flat_map(|n| &n.rows).any(|r| {
                        r.links.iter().any(|l| match l {
                            Link::Outgoing { target: t, to } => {
                                r.resource == owner && t.text == target.text && to == ty
                            }
                            Link::Incoming {
                                from, target: t, ..
                            } => from == owner && t.text == target.text && r.resource == ty,
                        })
                    })
                };
                for r in req.resources.iter().filter(|r| r.ty == owner) {
                    let items = match r.json.get(first_name(target)) {
                        Some(Json::Array(a)) => a.iter().collect::<Vec<_>>(),
                        Some(v) => vec![v],
                        None => continue,
                    };
                    for (k, item) in items.iter().enumerate() {
                        let Some(reference) = item
                            .pointer(&reference_pointer(target))
                            .and_then(Json::as_str)
                        else {
                            continue;
                        };
                        let Some(i) = req.resolve(reference) else {
                            continue;
                        };
                        let found = req.resources[i].ty;
                        if !accepted(found) {
                            let at = if r.json.get(first_name(target)).is_some_and(Json::is_array) {
                                format!("{}.{}[{k}]", r.path, first_name(target))
                            } else {
                                format!("{}.{}", r.path, first_name(target))
                            };
                            return Err(Error::new(
                                ErrorKind::Unsupported,
                                format!(
                                    "{owner}.{} points at {}; the {} message map takes {} there",
                                    target.text.replace("[]", ""),
                                    a(found),
                                    s.name,
                                    a(expected)
                                ),
                            )
                            .at_fhir_path(at));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A resource type with its indefinite article.
fn a(ty: &str) -> String {
    let article = if ty.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {ty}")
}

fn first_name(t: &Target) -> &str {
    match t.steps.first() {
        Some(Step::Member { name, .. } | Step::Extension { name, .. }) => name,
        None => "",
    }
}

/// The JSON pointer from an entry of the target's first element to its `reference`.
fn reference_pointer(t: &Target) -> String {
    let mut p = String::new();
    for step in t.steps.iter().skip(1) {
        if let Step::Member { name, .. } = step {
            p.push('/');
            p.push_str(name);
        }
    }
    p.push_str("/reference");
    p
}

/// The JSON nodes a target selects: a few kept in place, more spilled into a vector. Most
/// targets select no node or one, and the writer selects for every row of every segment, so a
/// vector for each would be most of the allocations of a writeback.
#[derive(Clone)]
struct Nodes<'j> {
    len: usize,
    inline: [&'j Json; 4],
    spill: Vec<&'j Json>,
}

static NO_NODE: Json = Json::Null;

impl<'j> Nodes<'j> {
    fn new() -> Nodes<'j> {
        Nodes {
            len: 0,
            inline: [&NO_NODE; 4],
            spill: Vec::new(),
        }
    }

    fn one(node: &'j Json) -> Nodes<'j> {
        let mut n = Nodes::new();
        n.push(node);
        n
    }

    fn push(&mut self, node: &'j Json) {
        if self.len < self.inline.len() {
            self.inline[self.len] = node;
        } else {
            if self.len == self.inline.len() {
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push(node);
        }
        self.len += 1;
    }

    fn extend(&mut self, nodes: impl IntoIterator<Item = &'j Json>) {
        for n in nodes {
            self.push(n);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&&'j Json) -> bool) {
        let mut kept = Nodes::new();
        for n in self.iter() {
            if keep(n) {
                kept.push(n);
            }
        }
        *self = kept;
    }

    fn truncate(&mut self, n: usize) {
        if n < self.len {
            if self.len > self.inline.len() {
                self.spill.truncate(n);
                if n <= self.inline.len() {
                    self.inline[..n].copy_from_slice(&self.spill[..n]);
                    self.spill.clear();
                }
            }
            self.len = n;
        }
    }
}

impl<'j> std::ops::Deref for Nodes<'j> {
    type Target = [&'j Json];

    fn deref(&self) -> &[&'j Json] {
        if self.len > self.inline.len() {
            &self.spill
        } else {
            &self.inline[..self.len]
        }
    }
}

impl<'j> IntoIterator for Nodes<'j> {
    type Item = &'j Json;
    type IntoIter = NodesIter<'j>;

    fn into_iter(self) -> NodesIter<'j> {
        NodesIter { nodes: self, at: 0 }
    }
}

/// The nodes of a [`Nodes`], by value.
struct NodesIter<'j> {
    nodes: Nodes<'j>,
    at: usize,
}

impl<'j> Iterator for NodesIter<'j> {
    type Item = &'j Json;

    fn next(&mut self) -> Option<&'j Json> {
        let n = self.nodes.get(self.at).copied();
        self.at += 1;
        n
    }
}

/// How [`select`] reads a target.
#[derive(Clone, Copy, Default)]
struct Select<'a, 'p, 'j> {
    /// Restrict the focused list to its entry.
    focus: Option<&'a Focus<'p, 'j>>,
    /// Read every entry where the last indexed step names one (`identifier[2]`): a row whose
    /// defaults filter the entries finds its entry wherever it is.
    any_index: bool,
}

/// Follows target steps into a JSON element; `[]` and extensions by URL may give several.
fn select<'j>(node: &'j Json, steps: &[Step], how: Select<'_, '_, 'j>) -> Nodes<'j> {
    let mut cur = Nodes::one(node);
    let last_indexed = steps
        .iter()
        .rposition(|s| matches!(s, Step::Member { index: Some(_), .. }));
    for (depth, step) in steps.iter().enumerate() {
        let mut next = Nodes::new();
        for n in cur {
            match step {
                Step::Member {
                    name,
                    append,
                    index,
                    many,
                    ..
                } => {
                    let Some(v) = member(n, name) else { continue };
                    match (v.as_array(), many) {
                        (Some(items), true) => match (append, index) {
                            (true, _) => next.extend(items.iter()),
                            (false, Some(_)) if how.any_index && last_indexed == Some(depth) => {
                                next.extend(items.iter())
                            }
                            (false, Some(u32::MAX)) => next.extend(items.last()),
                            (false, Some(i)) => next.extend(items.get(*i as usize - 1)),
                            (false, None) => next.extend(items.first()),
                        },
                        _ => next.push(v),
                    }
                }
                Step::Extension { name, url, append } => {
                    let items = n
                        .get(name)
                        .and_then(Json::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let matching = items
                        .iter()
                        .filter(|e| e.get("url").and_then(Json::as_str) == Some(url.as_str()));
                    if *append {
                        next.extend(matching);
                    } else {
                        next.extend(matching.take(1));
                    }
                }
            }
        }
        if let Some(f) = how.focus
            && f.depth == depth + 1
            && f.matches(step)
        {
            // The focused entry stands for the whole list (`note[$]` included).
            let entry: NodeKey = f.entry;
            let all = steps_list(node, &steps[..=depth]);
            next = if all.iter().any(|e| std::ptr::eq(*e, entry)) {
                Nodes::one(f.entry)
            } else {
                Nodes::new()
            };
        }
        cur = next;
    }
    cur
}

/// A member of a JSON object. FHIR objects have a handful of members, and finding one by
/// comparing names costs less than hashing the name to look it up.
fn member<'j>(v: &'j Json, name: &str) -> Option<&'j Json> {
    let m = v.as_object()?;
    if m.len() > 16 {
        return m.get(name);
    }
    m.iter().find(|(k, _)| k.as_str() == name).map(|(_, x)| x)
}

/// [`member`] as a method, for chains.
trait Member<'j> {
    fn key(self, name: &str) -> Option<&'j Json>;
}

impl<'j> Member<'j> for &'j Json {
    fn key(self, name: &str) -> Option<&'j Json> {
        member(self, name)
    }
}

/// Every entry of the list the last step names.
fn steps_list<'j>(node: &'j Json, steps: &[Step]) -> Vec<&'j Json> {
    let mut cur = vec![node];
    for step in steps {
        let mut next = Vec::new();
        for n in cur {
            match step {
                Step::Member { name, .. } => match member(n, name) {
                    Some(Json::Array(a)) => next.extend(a.iter()),
                    Some(v) => next.push(v),
                    None => {}
                },
                Step::Extension { name, url, .. } => next.extend(
                    n.get(name)
                        .and_then(Json::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .filter(|e| e.get("url").and_then(Json::as_str) == Some(url.as_str())),
                ),
            }
        }
        cur = next;
    }
    cur
}

/// The text of a primitive JSON value. Numbers keep the digits they were written with.
fn primitive_text(v: &Json) -> Option<Text<'_>> {
    match v {
        Json::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
        Json::Number(n) => Some(Cow::Owned(n.to_string())),
        Json::Bool(b) => Some(Cow::Borrowed(if *b { "Y" } else { "N" })),
        _ => None,
    }
}

/// Reads a part of a repetition under construction, for a condition.
fn get_in(rep: &Rep<'_>, nums: &[u32]) -> Option<String> {
    rep.get(nums).map(str::to_string)
}

/// Writes a part of a repetition; an existing value wins (as forward: first wins).
fn set_in<'a>(rep: &mut Rep<'a>, nums: &[u32], text: Text<'a>) {
    rep.set(nums, text);
}

/// The component path of a row's source within its field: `[]` for `OBX-5`, `[4, 1]` for
/// `FT1-4.1.1`.
fn base_of(p: &Path) -> Vec<u32> {
    [p.component, p.subcomponent]
        .into_iter()
        .flatten()
        .collect()
}

/// The primary row of a segment node (the first that makes a resource), if any.
fn primary(node: &StructureNode) -> Option<(usize, &MessageRow)> {
    node.rows.iter().enumerate().find(|(_, r)| !r.merge)
}

/// The node whose resource a group is written for: the first segment the group requires
/// among its own segments, else its first segment, depth first.
fn anchor(s: &Structure, node: usize) -> Option<usize> {
    let n = &s.nodes[node];
    if n.segment.is_some() {
        return Some(node);
    }
    n.children
        .iter()
        .copied()
        .find(|&c| {
            let c = &s.nodes[c];
            c.segment.is_some() && c.min > 0 && primary(c).is_some()
        })
        .or_else(|| n.children.first().and_then(|&c| anchor(s, c)))
}

impl<'p: 'j, 'j> Writer<'p, 'j> {
    /// Starts a scope of `taken` (a segment, or a resource reached through a reference);
    /// returns the enclosing one, for [`Writer::end_scope`].
    fn fresh_scope(&mut self) -> FastSet<NodeKey> {
        let fresh = self.spare_sets.pop().unwrap_or_default();
        std::mem::replace(&mut self.taken, fresh)
    }

    fn end_scope(&mut self, enclosing: FastSet<NodeKey>) {
        let mut done = std::mem::replace(&mut self.taken, enclosing);
        done.clear();
        self.spare_sets.push(done);
    }

    fn mark(&mut self, v: &Json) {
        if self.consumed.insert(v as NodeKey) {
            self.consumed_log.push(v as NodeKey);
        }
    }

    /// Forgets what was read since `checkpoint` (a segment left out after all).
    fn unmark_since(&mut self, checkpoint: usize) {
        for k in self.consumed_log.drain(checkpoint..) {
            self.consumed.remove(&k);
        }
    }

    /// Marks an element and everything in it as read (a Coding read whole by `ID[Coding]`).
    fn mark_all(&mut self, v: &Json) {
        self.mark(v);
        match v {
            Json::Object(m) => m.values().for_each(|x| self.mark_all(x)),
            Json::Array(a) => a.iter().for_each(|x| self.mark_all(x)),
            _ => {}
        }
    }

    fn ty(&self, i: usize) -> &'j str {
        self.req.resources[i].ty
    }

    fn get(&self, ctx: &Context, ty: &str) -> Option<usize> {
        ctx.bound.iter().rev().copied().find(|&i| self.ty(i) == ty)
    }

    /// A constant row says what a matching element holds (`type.coding[1].system` is v2-0203);
    /// an element holding exactly that has been accounted for.
    fn consume_constant(&mut self, row: &'p MapRow, json: &'j Json) {
        let Some(c) = &row.constant else { return };
        if row.direction == crate::mapping::plan::Direction::Reverse {
            return;
        }
        for v in select(json, &row.target.steps, Select::default()) {
            let text = primitive_text(v);
            if text.as_deref() == Some(c.as_str())
                || (v.is_boolean() && text.as_deref() == Some(if c == "true" { "Y" } else { "N" }))
            {
                self.mark(v);
            }
        }
    }

    /// Reserves each resource for the row whose map's constants it matches, when several rows
    /// of one structure make that resource type.
    fn reserve(&mut self) {
        let s = self.structure;
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut last_type = "";
        for (i, r) in self.req.resources.iter().enumerate() {
            if r.ty != last_type {
                last_type = r.ty;
                rows.clear();
                for (ni, node) in s.nodes.iter().enumerate() {
                    for (ri, row) in node.rows.iter().enumerate() {
                        if !row.merge && node.segment != Some(*b"MSH") && row.resource == r.ty {
                            rows.push((ni, ri));
                        }
                    }
                }
            }
            if rows.len() < 2 {
                continue;
            }
            for &(ni, ri) in &rows {
                let map = &self.plan.maps[s.nodes[ni].rows[ri].map];
                let constants: Vec<&MapRow> = map
                    .rows
                    .iter()
                    .filter(|row| {
                        row.constant.is_some() && row.source.is_some() && row.direction.forward()
                    })
                    .collect();
                if !constants.is_empty()
                    && constants.iter().all(|row| {
                        select(r.json, &row.target.steps, Select::default())
                            .iter()
                            .any(|v| {
                                primitive_text(v).as_deref()
                                    == row.constant.as_deref().map(|c| match c {
                                        "true" => "Y",
                                        "false" => "N",
                                        c => c,
                                    })
                            })
                    })
                {
                    self.reserved[i] = Some((ni, ri));
                }
            }
        }
    }

    /// True when reference text `x` points at resource `i`, or at nothing in the request (a
    /// resource held elsewhere does not tie this one to another of the request).
    fn points_at_or_outside(&self, refs: &[&Json], i: usize) -> bool {
        let texts: Vec<&str> = refs
            .iter()
            .filter_map(|v| v.key("reference").and_then(Json::as_str))
            .collect();
        texts.iter().any(|x| self.req.resources[i].is(x))
            || texts.iter().all(|x| self.req.resolve(x).is_none())
    }

    /// Whether resource `i` may be written for `row` in `ctx`: its links to the resources
    /// placed so far hold.
    fn fits(&self, i: usize, row: &MessageRow, ctx: &Context) -> bool {
        let r = &self.req.resources[i];
        for link in &row.links {
            match link {
                Link::Incoming { from, target, .. } => {
                    // The owner lists this resource, or lists none.
                    if let Some(owner) = self.get(ctx, from) {
                        let refs = select(
                            self.req.resources[owner].json,
                            &target.steps,
                            Select::default(),
                        );
                        if !refs.is_empty() && !self.points_at_or_outside(&refs, i) {
                            return false;
                        }
                    }
                }
                Link::Outgoing { target, to } => {
                    if let Some(other) = self.get(ctx, to) {
                        let refs = select(r.json, &target.steps, Select::default());
                        // A resource that names no such reference still belongs here, unless
                        // the reference is what ties it to the resource its group is for
                        // (an OBX under SPM names its Specimen).
                        if refs.is_empty() {
                            if ctx.own.is_some_and(|o| self.ty(o) == to) {
                                return false;
                            }
                        } else if !self.points_at_or_outside(&refs, other) {
                            return false;
                        }
                    }
                }
            }
        }
        // The resources placed so far that name this type (a report's `basedOn` its order).
        for &b in &ctx.bound {
            let bty = self.ty(b);
            for node in &self.structure.nodes {
                for brow in node.rows.iter().filter(|x| x.resource == bty) {
                    for link in &brow.links {
                        if let Link::Outgoing { target, to } = link
                            && to == r.ty
                        {
                            let refs = select(
                                self.req.resources[b].json,
                                &target.steps,
                                Select::default(),
                            );
                            if !refs.is_empty() && !self.points_at_or_outside(&refs, i) {
                                return false;
                            }
                            // Named by no reference here, but by another resource of that type
                            // (the order another report is based on): it belongs there.
                            if refs.is_empty() && self.claimed_by_other(b, target, i) {
                                return false;
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// True when a resource of `owner`'s type other than `owner` names resource `i` in
    /// `target`.
    fn claimed_by_other(&self, owner: usize, target: &Target, i: usize) -> bool {
        let ty = self.ty(owner);
        self.req.resources.iter().enumerate().any(|(k, other)| {
            k != owner
                && other.ty == ty
                && select(other.json, &target.steps, Select::default())
                    .iter()
                    .any(|v| {
                        v.key("reference")
                            .and_then(Json::as_str)
                            .is_some_and(|x| self.req.resources[i].is(x))
                    })
        })
    }

    /// The request resources a primary row is written for, in request order.
    fn candidates(&self, node: usize, ri: usize, row: &MessageRow, ctx: &Context) -> Vec<usize> {
        (0..self.req.resources.len())
            .filter(|&i| {
                self.ty(i) == row.resource
                    && !self.used[i]
                    && self.reserved[i].is_none_or(|x| x == (node, ri))
                    && self.fits(i, row, ctx)
            })
            .collect()
    }

    /// True when some row of the structure other than on `node` makes `ty` as its own
    /// resource (a Specimen has SPM; an Account only PID-18).
    fn made_elsewhere(&self, node: usize, ty: &str) -> bool {
        self.structure
            .nodes
            .iter()
            .enumerate()
            .any(|(ni, n)| ni != node && n.rows.iter().any(|r| !r.merge && r.resource == ty))
    }

    /// Writes a group instance; returns the resources placed in it, which a group that does
    /// not repeat shares with the rest of its enclosing group (the Encounter of PATIENT.VISIT
    /// is the one the ORDER_OBSERVATION beside it refers to).
    fn group(
        &mut self,
        node: usize,
        ctx: &Context,
        event: &str,
        time: &str,
    ) -> Result<Vec<usize>, Error> {
        let s = self.structure;
        let start = ctx.bound.len();
        let mut ctx = ctx.clone();
        for &child in &s.nodes[node].children {
            let c = &s.nodes[child];
            if c.segment.is_some() {
                let placed = self.segment(child, &ctx, event, time)?;
                ctx.bound.extend(placed);
                continue;
            }
            let anchor = anchor(s, child);
            let primary = anchor.and_then(|a| primary(&s.nodes[a]).map(|(ri, r)| (a, ri, r)));
            let mut instances = match primary {
                Some((a, ri, row)) => self.candidates(a, ri, row, &ctx),
                None => Vec::new(),
            };
            if !c.repeats {
                instances.truncate(1);
            }
            if instances.is_empty() {
                if c.min > 0 {
                    self.group_counter += 1;
                    let inner = Context {
                        bound: ctx.bound.clone(),
                        own: None,
                        anchor,
                        group: self.group_counter,
                        outer: ctx.group,
                    };
                    let placed = self.group(child, &inner, event, time)?;
                    if !c.repeats {
                        ctx.bound.extend(placed);
                    }
                }
                continue;
            }
            for i in instances {
                // An earlier instance may have taken it (two groups anchored alike).
                if self.used[i] {
                    continue;
                }
                self.group_counter += 1;
                let mut inner = Context {
                    bound: ctx.bound.clone(),
                    own: Some(i),
                    anchor,
                    group: self.group_counter,
                    outer: ctx.group,
                };
                inner.bound.push(i);
                let placed = self.group(child, &inner, event, time)?;
                if !c.repeats {
                    ctx.bound.push(i);
                    ctx.bound.extend(placed);
                }
            }
        }
        Ok(ctx.bound.split_off(start))
    }

    /// Writes the segments of one segment node; returns the resources placed there.
    fn segment(
        &mut self,
        node: usize,
        ctx: &Context,
        event: &str,
        time: &str,
    ) -> Result<Vec<usize>, Error> {
        let s = self.structure;
        let n = &s.nodes[node];
        let id = n.segment.unwrap_or(*b"ZZZ");
        let mut placed = Vec::new();
        if &id == b"MSH" {
            return Ok(placed);
        }
        if &id == b"EVN" {
            let seg = self.b.add(*b"EVN");
            // EVN-1 (event type code) was withdrawn in v2.7: MSH-9.2 says it.
            if self.version.field(b"EVN", 1).ty.is_some() {
                self.b
                    .segment_mut(seg)
                    .set(1, 1, &[1], Cow::Owned(event.to_string()));
            }
            self.b
                .segment_mut(seg)
                .set(2, 1, &[1], Cow::Owned(time.to_string()));
            return Ok(placed);
        }
        let scope = if ctx.anchor == Some(node) {
            ctx.outer
        } else {
            ctx.group
        };
        let mut written = 0;
        if let Some((ri, row)) = primary(n) {
            // The group's own resource when this segment anchors the group, else candidates.
            let instances: Vec<usize> = match ctx.own {
                Some(i) if ctx.anchor == Some(node) && self.ty(i) == row.resource => vec![i],
                _ => {
                    let mut all = self.candidates(node, ri, row, ctx);
                    if !n.repeats {
                        all.truncate(1);
                    }
                    all
                }
            };
            for i in instances {
                self.used[i] = true;
                let checkpoint = (self.consumed_log.len(), placed.len());
                placed.push(i);
                let seg = self.b.add(id);
                self.mark_links(i, row, ctx);
                self.fill(seg, &id, row.map, i, None)?;
                // Rows for other resources on this segment add what theirs hold: the Account
                // on PID (PID-18), the report on an ORC (ORC-1), an order on its OBR.
                let mut here = ctx.clone();
                here.bound.push(i);
                let mut seen: Vec<&str> = vec![row.resource.as_str()];
                for (rj, other) in n.rows.iter().enumerate() {
                    if rj == ri || seen.contains(&other.resource.as_str()) {
                        continue;
                    }
                    seen.push(&other.resource);
                    let found = match self.get(&here, &other.resource) {
                        Some(x) => Some(x),
                        None if !other.merge && !self.made_elsewhere(node, &other.resource) => {
                            self.candidates(node, rj, other, &here).into_iter().next()
                        }
                        None => None,
                    };
                    if let Some(x) = found {
                        if !other.merge && !self.used[x] {
                            self.used[x] = true;
                            placed.push(x);
                            self.mark_links(x, other, &here);
                            here.bound.push(x);
                        }
                        self.fill(seg, &id, other.map, x, None)?;
                    }
                }
                if let Some(missing) = self.missing_required(seg, &id) {
                    let optional = n.min == 0
                        || (ctx.anchor == Some(node)
                            && n.parent.is_some_and(|p| s.nodes[p].min == 0));
                    if !optional || CONTENT.contains(&self.ty(i)) {
                        return Err(self.missing_error(i, row.map, &id, missing));
                    }
                    // An optional segment the resource cannot fill stays out; what the resource
                    // holds is reported unmapped.
                    self.b.pop();
                    self.unmark_since(checkpoint.0);
                    for x in placed.drain(checkpoint.1..) {
                        self.used[x] = false;
                    }
                    continue;
                }
                self.set_id(seg, &id, scope);
                written += 1;
            }
        }
        if written == 0 {
            // Segments that add to resources already placed: PD1, PV2, NTE, an order's OBR.
            let mut seen: Vec<&str> = Vec::new();
            let adds: Vec<(&MessageRow, usize)> = n
                .rows
                .iter()
                .filter(|r| r.merge)
                .filter_map(|r| {
                    if seen.contains(&r.resource.as_str()) {
                        return None;
                    }
                    seen.push(&r.resource);
                    self.get(ctx, &r.resource).map(|i| (r, i))
                })
                .collect();
            if let Some(&(first, i)) = adds.first() {
                let driver = if n.repeats {
                    list_step(&self.plan.maps[first.map])
                } else {
                    None
                };
                match driver {
                    Some((depth, step)) => {
                        let prefix = &list_row_steps(&self.plan.maps[first.map])[..depth];
                        for entry in steps_list(self.req.resources[i].json, prefix) {
                            let focus = Focus { step, depth, entry };
                            let seg = self.b.add(id);
                            self.fill(seg, &id, first.map, i, Some(&focus))?;
                            written += self.keep_unless_empty(seg, &id, scope);
                        }
                    }
                    None => {
                        let seg = self.b.add(id);
                        for &(r, x) in &adds {
                            self.fill(seg, &id, r.map, x, None)?;
                        }
                        written += self.keep_unless_empty(seg, &id, scope);
                    }
                }
            }
        }
        if written == 0 && n.min > 0 {
            self.required_default(&id, scope)?;
        }
        Ok(placed)
    }

    /// Drops a segment nothing was written into, or that lacks a field the version requires
    /// (an NTE with no comment); numbers it otherwise.
    fn keep_unless_empty(&mut self, seg: usize, id: &[u8; 3], scope: usize) -> usize {
        let empty = self.b.segment(seg).is_empty();
        if empty || self.missing_required(seg, id).is_some() {
            self.b.pop();
            0
        } else {
            self.set_id(seg, id, scope);
            1
        }
    }

    /// The first field the HL7 version written requires that segment `seg` leaves empty (one
    /// the writer numbers afterwards, such as a set ID, does not count), else the first component it
    /// requires in every value of its data type that a repetition lacks (XTN.3 from v2.7).
    fn missing_required(&self, seg: usize, id: &[u8; 3]) -> Option<Missing> {
        let segment = self.b.segment(seg);
        if let Some(n) = self
            .version
            .required(id)
            .iter()
            .copied()
            .find(|&n| !(segment.valued(n as usize) || self.numbered(id, n)))
        {
            return Some(Missing::Field(n));
        }
        segment.reps().find_map(|(field, _, rep)| {
            let f = self.version.field(id, field as u32);
            let ty = f.ty.filter(|_| f.composite)?;
            let component = self
                .version
                .required_components(ty)
                .iter()
                .copied()
                .find(|&c| !rep.parts().any(|(pc, _, _)| u32::from(pc) == c))?;
            Some(Missing::Component {
                field: field as u32,
                component,
                datatype: ty,
            })
        })
    }

    /// The error for a required field or component resource `i` cannot fill, at the FHIR
    /// element the segment map fills that field from.
    fn missing_error(&self, i: usize, map: usize, id: &[u8; 3], missing: Missing) -> Error {
        let field = match missing {
            Missing::Field(n) | Missing::Component { field: n, .. } => n,
        };
        let r = &self.req.resources[i];
        let seg = String::from_utf8_lossy(id);
        let mut names: Vec<&str> = Vec::new();
        for row in &self.plan.maps[map].rows {
            if let Some(Operand::Path(p)) = &row.source
                && p.segment == *id
                && p.field == field
                && !names.contains(&first_name(&row.target))
            {
                names.push(first_name(&row.target));
            }
        }
        // Rows filling a choice (`occurrenceDateTime`, `occurrencePeriod.start`) name it `[x]`.
        let element = match names.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            [first, rest @ ..] => {
                let common = rest.iter().fold(first.len(), |n, other| {
                    first
                        .bytes()
                        .zip(other.bytes())
                        .take(n)
                        .take_while(|(a, b)| a == b)
                        .count()
                });
                Some(if common > 0 {
                    format!("{}[x]", &first[..common])
                } else {
                    names.join(" or ")
                })
            }
        };
        let version = self.version.name();
        if let Missing::Component {
            component,
            datatype,
            ..
        } = missing
        {
            let e = element.unwrap_or_else(|| r.ty.to_string());
            return Error::new(
                ErrorKind::MissingRequired,
                format!(
                    "an HL7 v{version} {seg}-{field} needs {datatype}.{component} in every repetition, and a {} {e} has nothing to fill it",
                    r.ty
                ),
            )
            .at_fhir_path(format!("{}.{e}", r.path));
        }
        match element {
            Some(e) => Error::new(
                ErrorKind::MissingRequired,
                format!(
                    "an HL7 v{version} {seg} needs {seg}-{field}, and the {} has no {e} to fill it",
                    r.ty
                ),
            )
            .at_fhir_path(format!("{}.{e}", r.path)),
            None => Error::new(
                ErrorKind::MissingRequired,
                format!(
                    "an HL7 v{version} {seg} needs {seg}-{field}, which no mapping row fills from a {}",
                    r.ty
                ),
            )
            .at_fhir_path(r.path.clone()),
        }
    }

    /// A segment the structure requires but the request has nothing for.
    fn required_default(&mut self, id: &[u8; 3], scope: usize) -> Result<(), Error> {
        match id {
            b"PV1" => {
                // No visit: patient class N, "not applicable", as A28 and A31 are sent.
                let seg = self.b.add(*b"PV1");
                self.b.segment_mut(seg).set(2, 1, &[1], Cow::Borrowed("N"));
                self.set_id(seg, id, scope);
            }
            b"OBR" => {
                // Observations without a DiagnosticReport: one OBR names the first one's code,
                // the service the results answer.
                let seg = self.b.add(*b"OBR");
                let first = (0..self.req.resources.len())
                    .find(|&i| self.ty(i) == "Observation" && !self.used[i]);
                let concept = self.plan.map_index.get("CWE[CodeableConcept]").copied();
                if let (Some(i), Some(m)) = (first, concept)
                    && let Some(code) = self.req.resources[i].json.get("code")
                {
                    let mut rep = Rep::new();
                    let saved = self.fresh_scope();
                    self.map_back(&self.plan.maps[m], code, &mut rep)?;
                    self.end_scope(saved);
                    self.put_rep(seg, 4, 1, rep);
                }
                self.set_id(seg, id, scope);
            }
            b"PID" => {
                return Err(Error::new(
                    ErrorKind::MissingRequired,
                    "the message needs a Patient for its PID segment",
                )
                .at_fhir_path("Bundle.entry"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Fills field 1 with the set ID when the standard defines one there (PID-1, OBX-1 …),
    /// counting within `scope`, as HL7 numbers repeating segments.
    fn set_id(&mut self, seg: usize, id: &[u8; 3], scope: usize) {
        if self.version.field(id, 1).ty != Some("SI") {
            return;
        }
        let n = self.set_ids.entry((*id, scope)).or_insert(0);
        *n += 1;
        let n = *n;
        let sub_id = self.numbered(id, 4);
        let s = self.b.segment_mut(seg);
        if !s.valued(1) {
            s.set(1, 1, &[1], Cow::Owned(n.to_string()));
        }
        if sub_id && !s.valued(4) {
            s.set(4, 1, &[1], Cow::Owned(n.to_string()));
        }
    }

    /// Fields the writer numbers itself rather than filling from the request: a set ID (field 1
    /// of type SI), and OBX-4 (observation sub-ID) where the version requires it (v2.3.1, 2.7,
    /// 2.8). Sub-IDs group the OBX of one observation; each Observation written is one, so it
    /// takes the number of its OBX-1.
    fn numbered(&self, id: &[u8; 3], n: u32) -> bool {
        match (id, n) {
            (_, 1) => self.version.field(id, 1).ty == Some("SI"),
            (b"OBX", 4) => self.version.field(id, 4).required,
            _ => false,
        }
    }

    /// Fills a segment from resource `i` with the segment map's rows, right to left.
    fn fill(
        &mut self,
        seg: usize,
        id: &[u8; 3],
        map: usize,
        i: usize,
        focus: Option<&Focus<'p, 'j>>,
    ) -> Result<(), Error> {
        let m: &'p ElementMap = &self.plan.maps[map];
        let json = self.req.resources[i].json;
        self.mark(json);
        let saved = self.fresh_scope();
        let result = self.fill_rows(seg, id, m, json, focus);
        self.end_scope(saved);
        result
    }

    fn fill_rows(
        &mut self,
        seg: usize,
        id: &[u8; 3],
        m: &'p ElementMap,
        json: &'j Json,
        focus: Option<&Focus<'p, 'j>>,
    ) -> Result<(), Error> {
        // A value a row of this segment writes directly (FT1-8, DG1-4: `code.text`) is not
        // also written by a data type map reaching it (CWE.9 of FT1-7, DG1-3).
        let mut direct = self.spare_sets.pop().unwrap_or_default();
        for row in &m.rows {
            if let (Some(Operand::Path(p)), Conversion::Primitive(_), None) =
                (&row.source, row.conversion, &row.constant)
                && row.direction.reverse()
                && p.segment == *id
                && self.defined(id, p.field)
                && row
                    .when
                    .as_ref()
                    .is_none_or(|c| self.holds_on_segment(c, seg, m, json, focus))
            {
                for v in self.matching(row, json, focus) {
                    if !v.is_object() && !v.is_array() {
                        direct.insert(v as NodeKey);
                    }
                }
            }
        }
        let saved_direct = std::mem::replace(&mut self.direct, direct);
        let result = self.fill_rows_in(seg, id, m, json, focus);
        let mut done = std::mem::replace(&mut self.direct, saved_direct);
        done.clear();
        self.spare_sets.push(done);
        result
    }

    fn fill_rows_in(
        &mut self,
        seg: usize,
        id: &[u8; 3],
        m: &'p ElementMap,
        json: &'j Json,
        focus: Option<&Focus<'p, 'j>>,
    ) -> Result<(), Error> {
        for row in &m.rows {
            self.consume_constant(row, json);
            if !row.direction.reverse() {
                continue;
            }
            let Some(Operand::Path(p)) = &row.source else {
                continue;
            };
            if p.segment != *id || !self.defined(id, p.field) {
                continue;
            }
            if let Some(c) = &row.when
                && !self.holds_on_segment(c, seg, m, json, focus)
            {
                continue;
            }
            let mut values = self.matching(row, json, focus);
            let joined = matches!(
                row.conversion,
                Conversion::Primitive(Primitive::JoinedText | Primitive::TextAsBase64)
            );
            if !row.each_repetition || joined {
                // Forward joins every repetition into one value: one value comes back.
                values.truncate(1);
            } else {
                // The same entry twice (PID-2 sent equal to PID-3) is one repetition.
                if values.len() > 1 {
                    let mut kept: Vec<&Json> = Vec::with_capacity(values.len());
                    values.retain(|v| {
                        let again = kept.contains(v);
                        if !again {
                            kept.push(v);
                        }
                        !again
                    });
                }
            }
            let field = p.field as usize;
            let base = base_of(p);
            let start_rep = match p.repetition {
                Some(r) => r as usize,
                None if row.each_repetition => self.next_rep(seg, field),
                None => 1,
            };
            // Repetitions beyond what the version allows (one name in a v2.3 PID-5) stay
            // unwritten and are reported.
            let max = self.version.field(id, p.field).max;
            if let Some(max) = max {
                values.truncate((max + 1).saturating_sub(start_rep));
            }
            for v in values.iter() {
                self.mark(v);
            }
            if values.is_empty() {
                // A date the forward direction kept only as its original text (no zone to give
                // its time an offset, or a Period's end before its start) goes back as sent.
                if let Some(orig) = original_date(json, row) {
                    let mut rep = self.current_rep(seg, field, 1);
                    set_in(
                        &mut rep,
                        if base.is_empty() { &[1] } else { &base },
                        Cow::Owned(orig),
                    );
                    self.put_rep(seg, field, 1, rep);
                }
                continue;
            }
            if row.constant.is_none() && joined {
                // Lines of text are the repetitions of a TX or FT field: forward joins them
                // with line feeds.
                let v = values[0];
                if self.taken.contains(&(v as NodeKey)) {
                    continue;
                }
                let Some(Piece::Text(text)) = self.primitive_back(row, primitive_of(row), v, json)
                else {
                    continue;
                };
                self.taken.insert(v);
                let lines: Vec<Text<'j>> = if max.is_some_and(|m| text.matches('\n').count() >= m) {
                    // More lines than repetitions allowed: one value, its line breaks
                    // escaped.
                    vec![text]
                } else {
                    match text {
                        Cow::Borrowed(t) => t.split('\n').map(Cow::Borrowed).collect(),
                        Cow::Owned(t) => t.split('\n').map(|l| Cow::Owned(l.into())).collect(),
                    }
                };
                for (k, line) in lines.into_iter().enumerate() {
                    let mut rep = self.current_rep(seg, field, start_rep + k);
                    set_in(&mut rep, if base.is_empty() { &[1] } else { &base }, line);
                    self.put_rep(seg, field, start_rep + k, rep);
                }
                continue;
            }
            for (k, v) in values.into_iter().enumerate() {
                let mut rep = self.current_rep(seg, field, start_rep + k);
                if let Some(c) = &row.constant {
                    set_in(
                        &mut rep,
                        if base.is_empty() { &[1] } else { &base },
                        Cow::Borrowed(c.as_str()),
                    );
                } else {
                    self.value_into(row, v, json, &mut rep, &base)?;
                    self.defaults_read(row, v);
                    if takes_entries(row) {
                        self.taken.insert(v);
                    }
                }
                fit_to_version(id, field, &self.version, &mut rep);
                self.put_rep(seg, field, start_rep + k, rep);
            }
        }
        Ok(())
    }

    /// True when the HL7 version written defines the field: a later version's field (NTE-5,
    /// entered by, came with 2.6) is left out, and what it would carry stays unmapped.
    fn defined(&self, id: &[u8; 3], field: u32) -> bool {
        let f = self.version.field(id, field);
        !f.known || f.ty.is_some()
    }

    /// The first empty repetition of a field (1-based): where a row mapping every repetition
    /// adds its values after an earlier row's.
    fn next_rep(&self, seg: usize, field: usize) -> usize {
        self.b.segment(seg).repetitions(field) + 1
    }

    /// The elements a row reads, after its defaults filter them and without the entries an
    /// earlier row appending to the same list took. A row that hands a reference to a map
    /// building a resource (`XCN[Practitioner]`) reads only references to a resource of that
    /// type in the request.
    fn matching(
        &self,
        row: &'p MapRow,
        json: &'j Json,
        focus: Option<&Focus<'p, 'j>>,
    ) -> Nodes<'j> {
        let how = Select {
            focus,
            any_index: !row.defaults.is_empty(),
        };
        let mut values = select(json, &row.target.steps, how);
        if takes_entries(row) {
            values.retain(|v| !self.taken.contains(&(*v as NodeKey)));
        }
        if !row.defaults.is_empty() {
            values.retain(|v| {
                row.defaults.iter().all(|(t, value)| {
                    select(v, &t.steps, Select::default())
                        .first()
                        .and_then(|x| primitive_text(x))
                        .is_none_or(|x| &x == value)
                })
            });
        }
        if let Conversion::Map(m) = row.conversion {
            let map = &self.plan.maps[m];
            if map.creates_resource {
                values.retain(|v| {
                    v.key("reference")
                        .and_then(Json::as_str)
                        .and_then(|r| self.req.resolve(r))
                        .is_some_and(|i| self.ty(i) == map.fhir_type)
                });
            }
        }
        values
    }

    /// Takes a repetition of a field out of a segment, to add to it and put it back.
    fn current_rep(&mut self, seg: usize, field: usize, rep: usize) -> Rep<'j> {
        self.b.segment_mut(seg).take_rep(field, rep)
    }

    fn put_rep(&mut self, seg: usize, field: usize, rep: usize, value: Rep<'j>) {
        self.b.segment_mut(seg).put_rep(field, rep, value);
    }

    /// Converts one FHIR element back and writes it into `rep` at `base`.
    fn value_into(
        &mut self,
        row: &'p MapRow,
        v: &'j Json,
        owner: &'j Json,
        rep: &mut Rep<'j>,
        base: &[u32],
    ) -> Result<(), Error> {
        match row.conversion {
            Conversion::Primitive(p) => {
                let leaf = !v.is_object() && !v.is_array();
                if leaf
                    && (self.taken.contains(&(v as NodeKey))
                        || (self.depth > 0 && self.direct.contains(&(v as NodeKey))))
                {
                    return Ok(());
                }
                if v.is_object() {
                    self.mark_all(v);
                }
                let piece = self.primitive_back(row, p, v, owner);
                if leaf && piece.is_some() {
                    self.taken.insert(v);
                }
                if leaf && !v.is_null() {
                    if let (None, Primitive::Date(_), Some(_)) = (&piece, p, v.as_str()) {
                        return Err(Error::new(
                            ErrorKind::BadFhir,
                            "not a FHIR date, dateTime or instant (YYYY, YYYY-MM, YYYY-MM-DD, or a date and time with its offset)",
                        )
                        .at_fhir_path(self.path_of(v)));
                    }
                    // A code no vocabulary row translates back is lost unless another row
                    // takes it (a coding system's URL is not: the concept's row reads it).
                    if self.explain && matches!(p, Primitive::Code) && row.vocabulary.is_some() {
                        let key = v as NodeKey;
                        match piece {
                            Some(_) => self.converted.insert(key),
                            None => self.unconverted.insert(key),
                        };
                    }
                }
                match piece {
                    Some(Piece::Text(t)) => {
                        set_in(rep, if base.is_empty() { &[1] } else { base }, t)
                    }
                    Some(Piece::Parts(parts)) => {
                        for (nums, t) in parts {
                            let mut at = base.to_vec();
                            at.extend(nums);
                            set_in(rep, &at, t);
                        }
                    }
                    None => {}
                }
            }
            Conversion::Map(m) => {
                let map: &'p ElementMap = &self.plan.maps[m];
                let element = if map.creates_resource {
                    let Some(reference) = v.key("reference").and_then(Json::as_str) else {
                        return Ok(());
                    };
                    match self.req.resolve(reference) {
                        Some(i) => self.req.resources[i].json,
                        None => return Ok(()),
                    }
                } else {
                    v
                };
                self.mark(element);
                let saved = map.creates_resource.then(|| self.fresh_scope());
                let mut inner: Rep<'j> = Rep::new();
                if let (Some(vocab), "CodeableConcept") = (row.vocabulary, map.fhir_type.as_str()) {
                    self.concept_back(vocab, element, &mut inner);
                }
                self.depth += 1;
                let result = self.map_back(map, element, &mut inner);
                self.depth -= 1;
                if let Some(saved) = saved {
                    self.end_scope(saved);
                }
                result?;
                if base.is_empty() {
                    for (c, s, t) in inner.into_parts() {
                        set_in(rep, &[u32::from(c), u32::from(s)], t);
                    }
                } else {
                    // A map applied to a component: its components are subcomponents here.
                    for (c, s, t) in inner.into_parts() {
                        if s == 1 {
                            set_in(rep, &[base[0], u32::from(c)], t);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A CodeableConcept whose coding the vocabulary translates back becomes that HL7 code,
    /// its text and its table.
    fn concept_back(&mut self, vocab: usize, element: &'j Json, rep: &mut Rep<'j>) {
        let codings = element
            .get("coding")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // The forward direction keeps the code as sent and adds its translation: when a coding
        // translates to another coding of the concept, that one is the translation, and the
        // code as sent (with its display and table) goes back as it was.
        let voc = &self.plan.vocabularies[vocab];
        let as_sent = codings.iter().any(|c| {
            c.get("code")
                .and_then(Json::as_str)
                .and_then(|code| voc.forward.get(code))
                .is_some_and(|t| {
                    codings.iter().any(|d| {
                        d.get("code").and_then(Json::as_str) == Some(t.code.as_str())
                            && d.get("system").and_then(Json::as_str) == Some(t.system.as_str())
                            && !std::ptr::eq(c, d)
                    })
                })
        });
        if as_sent {
            for d in codings {
                let translation = d.get("system").and_then(Json::as_str).is_some_and(|sys| {
                    d.get("code")
                        .and_then(Json::as_str)
                        .is_some_and(|code| voc.back(Some(sys), code).is_some())
                });
                if translation {
                    self.mark_all(d);
                }
            }
            return;
        }
        for c in codings {
            let (Some(system), Some(code)) = (
                c.get("system").and_then(Json::as_str),
                c.get("code").and_then(Json::as_str),
            ) else {
                continue;
            };
            let plan: &'p Plan = self.plan;
            if let Some(back) = plan.vocabularies[vocab].back(Some(system), code) {
                set_in(rep, &[1], Cow::Borrowed(&back.code));
                set_in(rep, &[2], Cow::Borrowed(&back.display));
                set_in(rep, &[3], Cow::Borrowed(&back.system));
                self.mark(c);
                return;
            }
        }
    }

    /// Runs a data type map right to left over one element.
    fn map_back(
        &mut self,
        map: &'p ElementMap,
        element: &'j Json,
        rep: &mut Rep<'j>,
    ) -> Result<(), Error> {
        for row in &map.rows {
            self.consume_constant(row, element);
            if !row.direction.reverse() {
                continue;
            }
            let Some(Operand::Relative(nums)) = &row.source else {
                continue;
            };
            if let Some(c) = &row.when
                && !self.holds_on_rep(c, rep, map, element)
            {
                continue;
            }
            let values = self.matching(row, element, None);
            let Some(v) = values.first().copied() else {
                continue;
            };
            self.mark(v);
            if row.constant.is_some() {
                // `1,,type.coding[1].code,,,SS`: the constant says what the element is, not
                // what the component holds; nothing to write back.
                continue;
            }
            if derived_elsewhere(map, row, v, rep) {
                self.taken.insert(v);
                continue;
            }
            self.value_into(row, v, element, rep, nums)?;
            self.defaults_read(row, v);
            if takes_entries(row) {
                self.taken.insert(v);
            }
        }
        Ok(())
    }

    /// The HL7 coding system name (table 0396) for a code system URL.
    fn system_name(&self, url: &'j str) -> Option<Text<'j>> {
        if let Some(table) = url.strip_prefix("http://terminology.hl7.org/CodeSystem/v2-") {
            return Some(Cow::Owned(format!("HL7{table}")));
        }
        let plan: &'p Plan = self.plan;
        let v = plan.vocabulary_index.get("CodingSystem")?;
        plan.vocabularies[*v]
            .back(None, url)
            .map(|c| Cow::Borrowed(c.code.as_str()))
    }

    /// Converts a FHIR primitive (or small composite) back to HL7 text.
    /// `owner` is the element the row's target starts from (for the original text kept beside a
    /// date).
    fn primitive_back(
        &self,
        row: &'p MapRow,
        p: Primitive,
        v: &'j Json,
        owner: &'j Json,
    ) -> Option<Piece<'j>> {
        let plan: &'p Plan = self.plan;
        let vocab = row.vocabulary.map(|i| &plan.vocabularies[i]);
        let code_of =
            |c: &'p crate::mapping::plan::Concept| Piece::Text(Cow::Borrowed(c.code.as_str()));
        match p {
            Primitive::Text | Primitive::Endpoint | Primitive::JoinedText => {
                primitive_text(v).map(Piece::Text)
            }
            Primitive::Code => {
                let code = primitive_text(v)?;
                match vocab {
                    Some(voc) => voc.back(None, &code).map(code_of),
                    None => Some(Piece::Text(code)),
                }
            }
            Primitive::Boolean => v
                .as_bool()
                .map(|b| Piece::Text(Cow::Borrowed(if b { "Y" } else { "N" }))),
            Primitive::Decimal | Primitive::Integer { .. } => primitive_text(v).map(Piece::Text),
            Primitive::Date(_) => {
                let text = v.as_str()?;
                let dtm = fhir_to_dtm(text)?;
                // The value as sent, when the forward direction kept it beside a value padded
                // to seconds or cut to its date: the same instant, at the precision sent.
                Some(Piece::Text(Cow::Owned(
                    original_text(owner, &row.target)
                        .filter(|o| same_moment(o, &dtm))
                        .unwrap_or(dtm),
                )))
            }
            Primitive::SnQuantity => {
                let mut parts = Vec::with_capacity(2);
                if let Some(c) = v.get("comparator").and_then(Json::as_str) {
                    parts.push((vec![1], Cow::Borrowed(c)));
                }
                parts.push((vec![2], v.get("value").and_then(primitive_text)?));
                Some(Piece::Parts(parts))
            }
            Primitive::SnRange => {
                let low = v.pointer("/low/value").and_then(primitive_text);
                let high = v.pointer("/high/value").and_then(primitive_text);
                if low.is_none() && high.is_none() {
                    return None;
                }
                let mut parts = vec![(vec![3], Cow::Borrowed("-"))];
                parts.extend(low.map(|l| (vec![2], l)));
                parts.extend(high.map(|h| (vec![4], h)));
                Some(Piece::Parts(parts))
            }
            Primitive::HdUri | Primitive::EiUri => {
                let uri = v.as_str()?;
                let shift = u32::from(p == Primitive::EiUri);
                let (id, kind) = if let Some(oid) = uri.strip_prefix("urn:oid:") {
                    (oid, "ISO")
                } else if let Some(uuid) = uri.strip_prefix("urn:uuid:") {
                    (uuid, "UUID")
                } else {
                    (uri, "URI")
                };
                Some(Piece::Parts(vec![
                    (vec![2 + shift], Cow::Borrowed(id)),
                    (vec![3 + shift], Cow::Borrowed(kind)),
                ]))
            }
            Primitive::Telecom => {
                telecom_back(v.as_str()?, self.version.component("XTN", 1).is_some())
            }
            Primitive::CodedAs { .. } => {
                let coding = if v.get("coding").is_some() {
                    v.pointer("/coding/0")?
                } else {
                    v
                };
                let (system, code) = (
                    coding.get("system").and_then(Json::as_str),
                    coding.get("code").and_then(Json::as_str)?,
                );
                vocab?.back(system, code).map(code_of)
            }
            Primitive::CodeSystem => {
                let url = v.as_str()?;
                self.system_name(url).map(Piece::Text)
            }
            Primitive::TextAsBase64 | Primitive::Base64 => {
                let data = v.as_str()?;
                if p == Primitive::Base64 {
                    return Some(Piece::Text(Cow::Borrowed(data)));
                }
                base64::decode(data)
                    .and_then(|b| String::from_utf8(b).ok())
                    .map(|t| Piece::Text(Cow::Owned(t)))
            }
        }
    }

    /// Evaluates a condition of a data type map's row on the repetition under construction:
    /// components written already, else what the first later row reading that component will
    /// write (`1,.3 VALUED,code` holds when the Quantity has a system for CWE.3).
    fn holds_on_rep(
        &self,
        c: &Condition,
        rep: &Rep,
        map: &'p ElementMap,
        element: &'j Json,
    ) -> bool {
        let text = |o: &Operand| -> Option<String> {
            let Operand::Relative(nums) = o else {
                return None;
            };
            get_in(rep, nums).or_else(|| {
                map.rows.iter().find_map(|row| {
                    match &row.source {
                        Some(Operand::Relative(src)) if src == nums && row.direction.reverse() => {}
                        _ => return None,
                    }
                    let v = self.matching(row, element, None).into_iter().next()?;
                    match &row.constant {
                        Some(c) => Some(c.clone()),
                        None => Some(primitive_text(v).map(Cow::into_owned).unwrap_or_default()),
                    }
                })
            })
        };
        eval(c, &text)
    }

    /// Marks the parts of `v` a row's defaults account for (`type.coding[1].code` = PLAC).
    fn defaults_read(&mut self, row: &MapRow, v: &'j Json) {
        for (t, value) in &row.defaults {
            for x in select(v, &t.steps, Select::default()) {
                if primitive_text(x).as_deref() == Some(value.as_str()) {
                    self.mark(x);
                }
            }
        }
    }

    /// Evaluates a condition on the segment under construction (reverse direction). A path
    /// into the segment reads what earlier rows wrote there; when nothing is there yet, what
    /// the first later row with that exact source will write, so `OBR-8 VALUED` holds for a
    /// report with an `effectivePeriod.end` whichever row comes first. Paths into other
    /// segments count as not valued.
    fn holds_on_segment(
        &self,
        c: &Condition,
        seg: usize,
        m: &'p ElementMap,
        json: &'j Json,
        focus: Option<&Focus<'p, 'j>>,
    ) -> bool {
        let segment = self.b.segment(seg);
        let text = |o: &Operand| -> Option<String> {
            let Operand::Path(p) = o else { return None };
            if p.segment != segment.id {
                return None;
            }
            let here = segment
                .rep(p.field as usize, p.repetition.unwrap_or(1) as usize)
                .and_then(|r| {
                    let nums = base_of(p);
                    if nums.is_empty() {
                        Some(r.joined())
                    } else {
                        get_in(r, &nums)
                    }
                });
            here.or_else(|| {
                m.rows.iter().find_map(|row| {
                    let Some(Operand::Path(src)) = &row.source else {
                        return None;
                    };
                    if src != p || !row.direction.reverse() {
                        return None;
                    }
                    let Some(v) = self.matching(row, json, focus).into_iter().next() else {
                        return original_date(json, row);
                    };
                    match &row.constant {
                        Some(c) => Some(c.clone()),
                        None => Some(primitive_text(v).map(Cow::into_owned).unwrap_or_default()),
                    }
                })
            })
        };
        eval(c, &text)
    }

    /// Every leaf of the request no row read, as a FHIR path.
    fn unmapped(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.req.resources {
            // A resource is marked when a segment is written from it; that says nothing about
            // its parts, so its members start unread.
            let Some(members) = r.json.as_object() else {
                continue;
            };
            let mut path = r.ty.to_string();
            for (k, x) in members {
                if k == "resourceType" || k == "id" || k.starts_with('_') {
                    continue;
                }
                path.push('.');
                path.push_str(k);
                self.leaves(x, &mut path, &mut out, false);
                path.truncate(r.ty.len());
            }
        }
        out
    }

    /// Marks the references that tie resource `i`, placed for `row`, to the resources placed
    /// before it: the message structure carries them (its `subject`, the `result` entry of its
    /// report, the report's `basedOn` naming it).
    fn mark_links(&mut self, i: usize, row: &MessageRow, ctx: &Context) {
        let json = self.req.resources[i].json;
        for link in &row.links {
            match link {
                Link::Outgoing { target, to } => {
                    if let Some(other) = self.get(ctx, to) {
                        for v in select(json, &target.steps, Select::default()) {
                            if v.key("reference")
                                .and_then(Json::as_str)
                                .is_some_and(|x| self.req.resources[other].is(x))
                            {
                                self.mark_all(v);
                            }
                        }
                    }
                }
                Link::Incoming { from, target, .. } => {
                    if let Some(owner) = self.get(ctx, from) {
                        let owner = self.req.resources[owner].json;
                        self.mark_references_to(owner, target, i);
                    }
                }
            }
        }
        let ty = self.ty(i);
        for b in ctx.bound.clone() {
            let bty = self.ty(b);
            let owner = self.req.resources[b].json;
            for node in &self.structure.nodes {
                for brow in node.rows.iter().filter(|x| x.resource == bty) {
                    for link in &brow.links {
                        if let Link::Outgoing { target, to } = link
                            && to == ty
                        {
                            self.mark_references_to(owner, target, i);
                        }
                    }
                }
            }
        }
    }

    /// Marks the entries of `owner`'s `target` that point at resource `i`.
    fn mark_references_to(&mut self, owner: &'j Json, target: &Target, i: usize) {
        for v in select(owner, &target.steps, Select::default()) {
            if v.key("reference")
                .and_then(Json::as_str)
                .is_some_and(|x| self.req.resources[i].is(x))
            {
                self.mark_all(v);
            }
        }
    }

    /// True when a row read `v` or anything in it.
    fn any_read(&self, v: &Json) -> bool {
        self.consumed.contains(&(v as NodeKey))
            || match v {
                Json::Object(m) => m.values().any(|x| self.any_read(x)),
                Json::Array(a) => a.iter().any(|x| self.any_read(x)),
                _ => false,
            }
    }

    /// The FHIR path of a node of the request (`Patient.birthDate`, `Bundle.entry[1].resource
    /// …` as the request names its resources), for an error about it.
    fn path_of(&self, node: &Json) -> String {
        fn find(v: &Json, node: &Json, path: &mut String) -> bool {
            if std::ptr::eq(v, node) {
                return true;
            }
            let len = path.len();
            match v {
                Json::Object(m) => {
                    for (k, x) in m {
                        path.push('.');
                        path.push_str(k);
                        if find(x, node, path) {
                            return true;
                        }
                        path.truncate(len);
                    }
                }
                Json::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        use std::fmt::Write;
                        let _ = write!(path, "[{i}]");
                        if find(x, node, path) {
                            return true;
                        }
                        path.truncate(len);
                    }
                }
                _ => {}
            }
            false
        }
        for r in &self.req.resources {
            let mut path = r.path.clone();
            if find(r.json, node, &mut path) {
                return path;
            }
        }
        "(request)".to_string()
    }

    fn leaves(&self, v: &Json, path: &mut String, out: &mut Vec<String>, inside: bool) {
        let key = v as NodeKey;
        let lost = self.unconverted.contains(&key) && !self.converted.contains(&key);
        let read = self.consumed.contains(&key) && !lost;
        let len = path.len();
        match v {
            Json::Object(m) => {
                // An extension's url names what its value is: read when its value was.
                let extension_read =
                    m.contains_key("url") && m.iter().any(|(k, x)| k != "url" && self.any_read(x));
                for (k, x) in m {
                    if k == "resourceType" || k == "id" || k.starts_with('_') {
                        continue;
                    }
                    if k == "url" && extension_read {
                        continue;
                    }
                    path.push('.');
                    path.push_str(k);
                    self.leaves(x, path, out, inside || read);
                    path.truncate(len);
                }
            }
            Json::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                    self.leaves(x, path, out, inside || read);
                    path.truncate(len);
                }
            }
            _ => {
                // A leaf counts as read when it, or for references the element holding it, was
                // read; inside an element read whole (a Reference) its parts count too.
                let reference_read = inside && path.ends_with(".reference");
                if !(read || reference_read) {
                    out.push(path.clone());
                }
            }
        }
    }
}

/// Shapes a repetition to the field's data type in the HL7 version written: a field of a simple
/// type (IS, ID, ST …) holds one value, so a code read back through a CodeableConcept map keeps
/// only its code; components the version's type lacks (CWE.7 in a v2.5.1 CE field, XTN.1 from
/// v2.6) are left out, and a component of a simple type keeps one subcomponent.
fn fit_to_version(id: &[u8; 3], field: usize, version: &Version, rep: &mut Rep<'_>) {
    let f = version.field(id, field as u32);
    let Some(ty) = f.ty else {
        return;
    };
    if ty == "varies" {
        return;
    }
    if !f.composite {
        rep.retain(|c, s| c == 1 && s == 1);
        return;
    }
    rep.retain(|c, s| match version.component(ty, u32::from(c)) {
        None => false,
        Some(ct) => s == 1 || version.composite(ct),
    });
}

/// The primitive conversion of a row (text for a map).
fn primitive_of(row: &MapRow) -> Primitive {
    match row.conversion {
        Conversion::Primitive(p) => p,
        Conversion::Map(_) => Primitive::Text,
    }
}

/// The first row of a map that appends to a list (`note[].text`), and where its list step is:
/// a repeating segment filled through that map is written once per entry.
fn list_step(m: &ElementMap) -> Option<(usize, &Step)> {
    let steps = list_row_steps(m);
    steps
        .iter()
        .position(Step::appends)
        .map(|k| (k + 1, &steps[k]))
}

fn list_row_steps(m: &ElementMap) -> &[Step] {
    m.rows
        .iter()
        .find(|r| r.direction.reverse() && r.target.steps.iter().any(Step::appends))
        .map_or(&[], |r| r.target.steps.as_slice())
}

/// An XTN back from one telephone text: the form the forward direction builds from XTN.5–8
/// (`+1 (847) 5550143 ext. 12`) goes back to those components, an e-mail address to XTN.4,
/// anything else to XTN.1, or to XTN.12 (unformatted number) in versions without XTN.1.
fn telecom_back(value: &str, has_xtn1: bool) -> Option<Piece<'_>> {
    if value.contains('@') {
        return Some(Piece::Parts(vec![(vec![4], Cow::Borrowed(value))]));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parsed = (|| {
        let mut rest = value;
        let mut parts = Vec::new();
        if let Some(r) = rest.strip_prefix('+') {
            let (cc, r) = r.split_once(' ')?;
            if !digits(cc) {
                return None;
            }
            parts.push((vec![5], Cow::Borrowed(cc)));
            rest = r;
        }
        if let Some(r) = rest.strip_prefix('(') {
            let (area, r) = r.split_once(") ")?;
            if !digits(area) {
                return None;
            }
            parts.push((vec![6], Cow::Borrowed(area)));
            rest = r;
        }
        let (local, ext) = match rest.split_once(" ext. ") {
            Some((l, e)) => (l, Some(e)),
            None => (rest, None),
        };
        if !digits(local) || ext.is_some_and(|e| !digits(e)) || parts.is_empty() {
            return None;
        }
        parts.push((vec![7], Cow::Borrowed(local)));
        parts.extend(ext.map(|e| (vec![8], Cow::Borrowed(e))));
        Some(parts)
    })();
    Some(Piece::Parts(parsed.unwrap_or_else(|| {
        vec![(vec![if has_xtn1 { 1 } else { 12 }], Cow::Borrowed(value))]
    })))
}

/// True for rows that take list entries in turn: they append (`given[]`), or their defaults
/// pick entries of a list by what they hold (`identifier[1]` of type PLAC).
fn takes_entries(row: &MapRow) -> bool {
    !row.defaults.is_empty() || row.target.steps.iter().any(Step::appends)
}

/// True when another row of the data type map would give the element the same value from what
/// the repetition already holds, so this row's component may stay empty: `CWE[Quantity]` reads
/// the unit from CWE.1 when CWE.2 is empty (`1,.2 NOT VALUED,unit`), so a unit equal to the
/// code is not written to CWE.2 again; `CWE[CodeableConcept]` reads the text from CWE.2 when
/// there is no code, so such a text is not repeated in CWE.9.
fn derived_elsewhere(map: &ElementMap, row: &MapRow, v: &Json, rep: &Rep) -> bool {
    let Some(text) = primitive_text(v) else {
        return false;
    };
    let plain = |r: &MapRow| {
        r.vocabulary.is_none()
            && matches!(
                r.conversion,
                Conversion::Primitive(Primitive::Text | Primitive::Code)
            )
    };
    if !plain(row) {
        return false;
    }
    map.rows.iter().any(|other| {
        !std::ptr::eq(other, row)
            && other.direction.forward()
            && other.constant.is_none()
            && plain(other)
            && other.target.text == row.target.text
            && other.when.is_some()
            && match &other.source {
                Some(Operand::Relative(nums)) if !nums.is_empty() => {
                    rep.get(nums) == Some(text.as_ref())
                        && other.when.as_ref().is_some_and(|c| {
                            eval(c, &|o: &Operand| match o {
                                Operand::Relative(n) => get_in(rep, n),
                                Operand::Path(_) => None,
                            })
                        })
                }
                _ => false,
            }
    })
}

fn eval(c: &Condition, text: &dyn Fn(&Operand) -> Option<String>) -> bool {
    match c {
        Condition::Valued(o) => text(o).is_some(),
        Condition::Equals(o, l) => text(o).is_some_and(|t| t.trim() == l),
        Condition::In(o, ls) => text(o).is_some_and(|t| ls.iter().any(|l| l == t.trim())),
        Condition::LongerThan(o, n) => text(o).is_some_and(|t| t.trim().chars().count() > *n),
        Condition::IsDate(o) => text(o).is_some_and(|t| Dtm::parse(t.trim()).is_ok()),
        Condition::Below(o, n) => text(o).is_some_and(|t| Condition::number_below(&t, n)),
        Condition::Not(c) => !eval(c, text),
        Condition::And(cs) => cs.iter().all(|c| eval(c, text)),
        Condition::Or(cs) => cs.iter().any(|c| eval(c, text)),
    }
}

/// The time stamp a date row's element keeps only as original text (one the forward direction
/// could not place in FHIR, or a Period's end before its start), when that text is a valid DTM;
/// a malformed one is not written.
fn original_date(json: &Json, row: &MapRow) -> Option<String> {
    let Conversion::Primitive(Primitive::Date(_)) = row.conversion else {
        return None;
    };
    original_text(json, &row.target).filter(|orig| Dtm::parse(orig.trim()).is_ok())
}

/// The original text an element's `originalText` extension keeps, when the element itself could
/// not be written (a malformed date kept as sent).
fn original_text(json: &Json, target: &Target) -> Option<String> {
    let (
        Some(Step::Member {
            shadow,
            many: false,
            ..
        }),
        parent,
    ) = (target.steps.last(), &target.steps[..target.steps.len() - 1])
    else {
        return None;
    };
    let owner = select(json, parent, Select::default()).into_iter().next()?;
    original_in(owner.get(shadow)?)
}

fn original_in(holder: &Json) -> Option<String> {
    holder
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Json::as_str) == Some(ORIGINAL_TEXT))
        .and_then(|e| e.get("valueString"))
        .and_then(Json::as_str)
        .map(str::to_string)
}

/// True when HL7 time stamp `original` names the moment `written` (also HL7) names, to its
/// precision: the written value is the original padded to seconds, or cut to its date.
fn same_moment(original: &str, written: &str) -> bool {
    if Dtm::parse(original.trim()).is_err() {
        return false;
    }
    let digits = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_digit()).collect() };
    let (od, wd) = (digits(original.trim()), digits(written));
    let shorter = od.len().min(wd.len());
    od[..shorter] == wd[..shorter]
        && wd[shorter..].bytes().all(|b| b == b'0')
        && (wd.len() <= 8 || zone(original) == zone(written))
}

/// The offset of an HL7 time stamp, if it has one.
fn zone(t: &str) -> Option<&str> {
    t.find(['+', '-']).map(|i| &t[i..])
}
