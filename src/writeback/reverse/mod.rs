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
//! the home numbers and PID-14 the work ones (a `reverse` row's pairs must be held, as it sets
//! nothing forward: a mobile ContactPoint without a system is no phone); with an index (`identifier[1]`, PLAC) it takes
//! the first matching entry wherever it sits. A condition on a field of the segment being
//! written reads what earlier rows wrote there, or else what a later row will write (`OBR-8
//! VALUED` is true when the report has an `effectivePeriod.end`). Forward, the first value to
//! reach an element wins; backwards each FHIR value is written once, by the first row that
//! reads it, so the field that gives the element its value is the one that gets it back.

mod coverage;
mod fields;
mod select;

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value as Json;

use self::fields::{list_row_steps, list_step, primitive_text};
use self::select::{Member, Select, select, steps_list};
use super::WritebackOptions;
use super::out::{Message as Out, Rep, Text};
use super::request::{ReferenceList, Request};
use super::version::{FastMap, FastSet, Version};
use crate::error::{Error, ErrorKind};
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{
    Conversion, ElementMap, Link, MapRow, MessageRow, Plan, Structure, StructureNode,
};
use crate::mapping::target::{Step, Target};
use crate::v2::{Charset, Delimiters, spec};

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

/// The resources a writeback is about: a segment made from one of them that lacks a field the
/// HL7 version requires fails the request; a segment made from anything else is left out.
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
    /// What was written with less than the request held (a time's fraction of a second cut to
    /// the four digits HL7 carries), each naming the FHIR element and the reason, never its
    /// value; when the options asked to explain.
    pub problems: Vec<String>,
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
        same_element(self.step, step)
    }
}

/// True when two steps name the same element (`contact[]` and `contact[$]`), whatever entry
/// of it they take.
fn same_element(a: &Step, b: &Step) -> bool {
    match (a, b) {
        (Step::Member { name: a, .. }, Step::Member { name: b, .. }) => a == b,
        (Step::Extension { url: a, .. }, Step::Extension { url: b, .. }) => a == b,
        (
            Step::Entry {
                name: a,
                key: ka,
                value: va,
            },
            Step::Entry {
                name: b,
                key: kb,
                value: vb,
            },
        ) => a == b && ka == kb && va == vb,
        _ => false,
    }
}

/// True when every row map `m` runs backwards writes into an entry of one list (`contact[]
/// .name`, `contact[$].telecom[]`): the map makes a segment of its own per entry (an NK1 per
/// contact, see [`list_step`]), and adds nothing to a segment written for another resource.
fn writes_entries_only(m: &ElementMap) -> bool {
    let Some((depth, _)) = list_step(m) else {
        return false;
    };
    let list = &list_row_steps(m)[..depth];
    m.rows.iter().filter(|r| r.direction.reverse()).all(|r| {
        r.target.steps.len() > depth
            && r.target
                .steps
                .iter()
                .zip(list)
                .all(|(a, b)| same_element(a, b))
    })
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
    /// The rows (segment node, row) that take only the resources reserved for them: those whose
    /// map fixes the resource's `code` (PD1's living will, LOINC 75320-2), where another row
    /// makes the same type. A resource with another code is no such resource.
    constrained: Vec<(usize, usize)>,
    /// The row (segment node, row) each resource was written for, once written.
    placed_by: Vec<Option<(usize, usize)>>,
    /// JSON nodes some row read (for `unmapped`).
    consumed: FastSet<NodeKey>,
    /// `consumed` in the order nodes were added, to take back a segment left out.
    consumed_log: Vec<NodeKey>,
    /// When explaining: codes a row read but no vocabulary translates back, and codes some row
    /// did translate. A code only ever in the first is listed as unmapped, not silently
    /// dropped.
    unconverted: FastSet<NodeKey>,
    converted: FastSet<NodeKey>,
    /// When explaining: values a row read whose place in the segment already held other text,
    /// and values that were written. A value only ever in the first is listed as unmapped.
    displaced: FastSet<NodeKey>,
    landed: FastSet<NodeKey>,
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
    /// When explaining: what was written with less than the request held (see
    /// [`Written::problems`]), in the order written.
    problems: Vec<String>,
    /// How many data type maps deep the writer is.
    depth: usize,
    /// Where the data type map running now writes (see [`Slot`]).
    slot: Option<Slot>,
    /// The scope references in the resource being read resolve from (see
    /// [`Resource::scope`](super::request::Resource::scope)): a contained `#performer` is its
    /// container's own.
    from: usize,
    /// Set ID counters per (segment id, group instance).
    set_ids: FastMap<([u8; 3], usize), u32>,
    group_counter: usize,
    /// The segment each group instance's anchor was written as, by group instance: the head
    /// of the segments its resource's list entries add (see [`Writer::entry_instances`]).
    anchor_segs: FastMap<usize, usize>,
    /// Group instances whose anchor was left out for the entries written in its stead.
    stood_in: FastSet<usize>,
    /// What the HL7 version written defines (field types differ between versions).
    version: Rc<Version>,
    /// The references a resource holds at a link's target, by resource and target (see
    /// [`Writer::references_at`]).
    reference_lists: RefCell<FastMap<(usize, usize), Rc<ReferenceList<'j>>>>,
    /// When explaining: the group instance each resource was last written in, by request
    /// index, and the instance enclosing each group instance with the group's structure node.
    placed_in: Vec<Option<usize>>,
    group_outer: FastMap<usize, (usize, usize)>,
    /// When explaining: references to a resource not yet written when their owner was (an
    /// Observation's Specimen, whose SPM follows the order's results), settled once the whole
    /// message is written (see [`Writer::settle_later_links`]).
    later_links: Vec<LaterLink<'p>>,
    /// The structure's [`OwnLink`]s.
    own_links: Vec<OwnLink<'p>>,
}

/// A reference through which the resource a segment is written for names another resource
/// that a row of the same segment makes: on IN1, the `+Coverage` rows' `subscriber=RelatedPerson`
/// names the insured `IN1[RelatedPerson]` makes. That resource is written there, from the one
/// named (see [`own_links`]).
struct OwnLink<'p> {
    /// The segment node.
    node: usize,
    /// The type of the node's own resource, which holds the reference (Coverage).
    owner: &'p str,
    /// The type named, which another row of the node makes (RelatedPerson).
    to: &'p str,
    target: &'p Target,
}

/// The [`OwnLink`]s of a structure: on each segment node, the outgoing links of the rows for
/// the node's own resource (its primary row's) to a type another row of the node makes.
fn own_links(s: &Structure) -> Vec<OwnLink<'_>> {
    let mut out = Vec::new();
    for (node, n) in s.nodes.iter().enumerate() {
        let Some((_, own)) = primary(n) else { continue };
        for row in n.rows.iter().filter(|r| r.resource == own.resource) {
            for link in &row.links {
                if let Link::Outgoing { target, to, .. } = link
                    && *to != own.resource
                    && n.rows.iter().any(|r| !r.merge && r.resource == *to)
                {
                    out.push(OwnLink {
                        node,
                        owner: &own.resource,
                        to,
                        target,
                    });
                }
            }
        }
    }
    out
}

/// A reference at `target` of resource `owner`, written in group instance `group`, to the
/// nearest resource of type `to` (`sole`: only when it is the only one as near).
struct LaterLink<'p> {
    owner: usize,
    target: &'p Target,
    to: &'p str,
    sole: bool,
    group: usize,
}

/// The HL7 data type, in the version written, of the value a data type map fills: a field's
/// type, or a component's when the map fills a component. Its type can differ from the map's
/// (`CWE[CodeableConcept]` fills a v2.5.1 CE, or a PV1-4 that is an IS before v2.7), and what
/// that type has no component for is not written, so stays unread for `--explain`.
#[derive(Clone, Copy)]
struct Slot {
    ty: &'static str,
    /// True when the slot is a component: the map's components are its subcomponents, and a
    /// subcomponent has none of its own.
    component: bool,
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
    /// True when the group instance is written for a resource placed before it, which its
    /// anchor only adds to (a DFT's ORDER group: the OBR of the COMMON_ORDER's ORC). Nothing
    /// stands in for an anchor that resource leaves empty: the instance is left out.
    adds_only: bool,
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
        constrained: Vec::new(),
        placed_by: vec![None; req.resources.len()],
        consumed: FastSet::with_capacity_and_hasher(256, Default::default()),
        consumed_log: Vec::with_capacity(256),
        unconverted: FastSet::default(),
        converted: FastSet::default(),
        displaced: FastSet::default(),
        landed: FastSet::default(),
        explain: opts.explain,
        problems: Vec::new(),
        taken: FastSet::default(),
        direct: FastSet::default(),
        depth: 0,
        slot: None,
        from: 0,
        spare_sets: Vec::new(),
        set_ids: FastMap::default(),
        group_counter: 0,
        anchor_segs: FastMap::default(),
        stood_in: FastSet::default(),
        version: Version::get(&env.version),
        reference_lists: RefCell::default(),
        placed_in: if opts.explain {
            vec![None; req.resources.len()]
        } else {
            Vec::new()
        },
        group_outer: FastMap::default(),
        later_links: Vec::new(),
        own_links: own_links(s),
    };
    for v in carried {
        w.mark_all(v);
    }
    w.reserve();
    w.group(0, &Context::default(), event, &time)?;
    let message = w.b.encode(&Delimiters::default(), Charset::Utf8)?;
    let unmapped = if opts.explain {
        w.settle_later_links();
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
        problems: w.problems,
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
                    // The message itself is the envelope, not a resource written: what a
                    // Provenance's target names is the request's business.
                    Link::Outgoing { to, .. } if to == "MessageHeader" => continue,
                    Link::Outgoing { target, to, .. } => (row.resource.as_str(), target, to),
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
                            Link::Outgoing { target: t, to, .. } => {
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
                        let Some(i) = req.resolve(reference, r.scope) else {
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
    t.steps.first().map_or("", Step::name)
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

/// The list whose entries a map writes as whole segments of their own: the target of its
/// reverse row reading the whole segment (`OBX,,component[],OBX[Observation],,,reverse`).
fn entry_list(m: &ElementMap) -> Option<&[Step]> {
    m.rows
        .iter()
        .find(|r| {
            r.direction.reverse()
                && matches!(&r.source, Some(Operand::Relative(n)) if n.is_empty())
                && matches!(r.conversion, Conversion::Map(_))
                && r.target.steps.last().is_some_and(Step::appends)
        })
        .map(|r| r.target.steps.as_slice())
}

/// The field that groups related segments of one id under one parent by holding the same
/// value: OBX-4, the observation sub-ID.
fn sub_id_field(id: &[u8; 3]) -> Option<u32> {
    (id == b"OBX").then_some(4)
}

/// The primary row of a segment node (the first that makes a resource), if any.
fn primary(node: &StructureNode) -> Option<(usize, &MessageRow)> {
    node.rows
        .iter()
        .enumerate()
        .find(|(_, r)| !r.merge && r.reverse)
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

    fn ty(&self, i: usize) -> &'j str {
        self.req.resources[i].ty
    }

    fn get(&self, ctx: &Context, ty: &str) -> Option<usize> {
        ctx.bound.iter().rev().copied().find(|&i| self.ty(i) == ty)
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
                        if !row.merge
                            && row.reverse
                            && node.segment != Some(*b"MSH")
                            && row.resource == r.ty
                        {
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
                if map.rows.iter().any(|row| {
                    row.constant.is_some()
                        && row.source.is_some()
                        && row.direction.forward()
                        && first_name(&row.target) == "code"
                }) && !self.constrained.contains(&(ni, ri))
                {
                    self.constrained.push((ni, ri));
                }
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

    /// The references resource `owner` holds at `target`, read once per writeback: each
    /// candidate for a list's entries (every Observation of a report's `result`) asks them.
    fn references_at(&self, owner: usize, target: &Target) -> Rc<ReferenceList<'j>> {
        // The plan outlives the writer, so a target's address names it.
        let key = (owner, std::ptr::from_ref(target) as usize);
        if let Some(list) = self.reference_lists.borrow().get(&key) {
            return Rc::clone(list);
        }
        let elements = select(
            self.req.resources[owner].json,
            &target.steps,
            Select::default(),
        );
        let from = self.req.resources[owner].scope;
        let list = Rc::new(ReferenceList::new(&elements, self.req, from));
        self.reference_lists
            .borrow_mut()
            .insert(key, Rc::clone(&list));
        list
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
                        let refs = self.references_at(owner, target);
                        if !refs.is_empty() && !refs.names_or_outside(r) {
                            return false;
                        }
                    }
                }
                Link::Outgoing { target, to, .. } => {
                    if let Some(other) = self.get(ctx, to) {
                        let refs = self.references_at(i, target);
                        // A resource that names no such reference still belongs here, unless
                        // the reference is what ties it to the resource its group is for
                        // (an OBX under SPM names its Specimen).
                        if refs.is_empty() {
                            if ctx.own.is_some_and(|o| self.ty(o) == to) {
                                return false;
                            }
                        } else if !refs.names_or_outside(&self.req.resources[other]) {
                            return false;
                        }
                    }
                }
            }
        }
        // The resources placed so far that name this type (a report's `basedOn` its order),
        // through the links of the row each was written for (a living will's Observation,
        // PD1's, names no visit where an OBX's would).
        for &b in &ctx.bound {
            let bty = self.ty(b);
            for (ni, node) in self.structure.nodes.iter().enumerate() {
                for (ri, brow) in node.rows.iter().enumerate() {
                    if brow.resource != bty
                        || self.placed_by[b].is_some_and(|(bn, br)| (bn, br) != (ni, ri))
                    {
                        continue;
                    }
                    for link in &brow.links {
                        if let Link::Outgoing { target, to, .. } = link
                            && to == r.ty
                        {
                            let refs = self.references_at(b, target);
                            // Unless what it names is written already (a sibling group's
                            // Encounter names the first Patient of an A17, not the second).
                            if !refs.is_empty()
                                && !refs.names_or_outside(r)
                                && !refs.resolved().iter().all(|&k| self.used[k])
                            {
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
                            .is_some_and(|x| self.req.resources[i].is(x, other.scope))
                    })
        })
    }

    /// The request resources a primary row is written for, in request order.
    fn candidates(&self, node: usize, ri: usize, row: &MessageRow, ctx: &Context) -> Vec<usize> {
        (0..self.req.resources.len())
            .filter(|&i| {
                self.ty(i) == row.resource
                    && !self.used[i]
                    && match self.reserved[i] {
                        Some(x) => x == (node, ri),
                        None => !self.constrained.contains(&(node, ri)),
                    }
                    && !self.named_for_another_segment(node, i)
                    && self.fits(i, row, ctx)
            })
            .collect()
    }

    /// The resource of type `ty` that resource `owner`, written on segment node `node`, names
    /// through the node's own links (see [`OwnLink`]): `Some(None)` when such a link exists but
    /// names nothing of the request, `None` when the node has none.
    fn named_by_own_links(&self, node: usize, owner: usize, ty: &str) -> Option<Option<usize>> {
        let mut linked = false;
        for l in self
            .own_links
            .iter()
            .filter(|l| l.node == node && l.to == ty)
        {
            linked = true;
            let refs = self.references_at(owner, l.target);
            if let Some(&x) = refs.resolved().iter().find(|&&x| self.ty(x) == ty) {
                return Some(Some(x));
            }
        }
        linked.then_some(None)
    }

    /// Writes, into segment `seg` written for resource `i` on node `node`, the code a
    /// `+Resource` row's condition requires of a field of the segment (`IN1-17.1 = 'SEL'`)
    /// when `i` holds that row's link (a Coverage whose `subscriber` is the Patient): read
    /// again, the condition holds and the link is made as it was. A field a row wrote already
    /// keeps its value (the Coverage's `relationship` goes to IN1-17 first), and when that says
    /// something else the reference stays unread, so `--explain` reports it.
    fn write_link_conditions(
        &mut self,
        node: usize,
        seg: usize,
        id: &[u8; 3],
        i: usize,
        ctx: &Context,
    ) {
        let n = &self.structure.nodes[node];
        let ty = self.ty(i);
        for row in n.rows.iter().filter(|r| r.merge && r.resource == ty) {
            let Some(Condition::Equals(Operand::Path(p), code)) = &row.when else {
                continue;
            };
            if p.segment != *id || !self.defined(id, p.field) {
                continue;
            }
            for link in &row.links {
                let Link::Outgoing { target, to, .. } = link else {
                    continue;
                };
                let Some(named) = self.get(ctx, to) else {
                    continue;
                };
                if !self
                    .references_at(i, target)
                    .names(&self.req.resources[named])
                {
                    continue;
                }
                match fields::written_at(self.b.segment(seg), p) {
                    Some(w) if !w.is_empty() && w != *code => continue,
                    Some(w) if !w.is_empty() => {}
                    _ => {
                        let (field, rep) = (p.field as usize, p.repetition.unwrap_or(1) as usize);
                        let at = [p.component.unwrap_or(1), p.subcomponent.unwrap_or(1)];
                        self.b
                            .segment_mut(seg)
                            .set(field, rep, &at, Cow::Borrowed(code.as_str()));
                    }
                }
                self.mark_references_to(i, target, named);
            }
        }
    }

    /// True when a resource of the request names resource `i` through the own links of a
    /// segment node other than `node` (a Coverage its subscriber, the insured of its IN1): it
    /// is written there, not as a segment of its own here (an NK1).
    fn named_for_another_segment(&self, node: usize, i: usize) -> bool {
        let r = &self.req.resources[i];
        self.own_links
            .iter()
            .filter(|l| l.node != node && l.to == r.ty)
            .any(|l| {
                (0..self.req.resources.len())
                    .filter(|&k| k != i && self.ty(k) == l.owner)
                    .any(|k| self.references_at(k, l.target).names(r))
            })
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

    /// True when a row of segment node `node` adds to a resource placed in `ctx` (the
    /// `+ServiceRequest` of an OBR after its order's ORC), other than one writing a list's
    /// entries as segments of their own.
    fn adds_to_placed(&self, node: usize, ctx: &Context) -> bool {
        self.structure.nodes[node].rows.iter().any(|r| {
            r.merge
                && entry_list(&self.plan.maps[r.map]).is_none()
                && self.get(ctx, &r.resource).is_some()
        })
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
                let before = self.b.segment_count();
                let placed = self.segment(child, &ctx, event, time)?;
                ctx.bound.extend(placed);
                if ctx.adds_only && ctx.anchor == Some(child) && self.b.segment_count() == before {
                    break;
                }
                // A group instance whose resource's entries stand in for its own segment
                // writes nothing more for it: a PRT or NTE would read as the previous segment's.
                if ctx.anchor == Some(child) && self.stood_in.contains(&ctx.group) {
                    break;
                }
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
            if instances.is_empty() && c.repeats && self.has_foreign_entries(anchor, &ctx) {
                // The group's instances are the entries of a resource placed outside it (a
                // report with no results of its own but its presentedForm).
                self.foreign_entry_instances(anchor, &ctx)?;
                continue;
            }
            if instances.is_empty() {
                // A required group is written for what the version requires of it; a group
                // whose anchor only adds to a resource already placed (OBR's `+ServiceRequest`
                // in a DFT's COMMON_ORDER.ORDER) is written once for it.
                let adds_only = primary.is_none()
                    && c.min == 0
                    && anchor.is_some_and(|a| self.adds_to_placed(a, &ctx));
                if c.min > 0 || adds_only {
                    self.group_counter += 1;
                    if self.explain {
                        self.group_outer
                            .insert(self.group_counter, (ctx.group, child));
                    }
                    let inner = Context {
                        bound: ctx.bound.clone(),
                        own: None,
                        anchor,
                        group: self.group_counter,
                        outer: ctx.group,
                        adds_only,
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
                if self.explain {
                    self.group_outer
                        .insert(self.group_counter, (ctx.group, child));
                }
                let mut inner = Context {
                    bound: ctx.bound.clone(),
                    own: Some(i),
                    anchor,
                    group: self.group_counter,
                    outer: ctx.group,
                    adds_only: false,
                };
                inner.bound.push(i);
                let placed = self.group(child, &inner, event, time)?;
                self.entry_instances(anchor, i, &inner)?;
                if !c.repeats {
                    ctx.bound.push(i);
                    ctx.bound.extend(placed);
                }
            }
            if c.repeats {
                self.foreign_entry_instances(anchor, &ctx)?;
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
            // The event's Provenance, where the request has one, gives its recorded time,
            // reason, operator and time of occurrence (EVN[Provenance]).
            if let Some((ri, row)) = primary(n)
                && let Some(&i) = self.candidates(node, ri, row, ctx).first()
            {
                self.used[i] = true;
                self.placed_by[i] = Some((node, ri));
                placed.push(i);
                self.fill(seg, &id, row.map, i, None)?;
            }
            // Recorded when the message is made, without one.
            if !self.b.segment(seg).valued(2) {
                self.b
                    .segment_mut(seg)
                    .set(2, 1, &[1], Cow::Owned(time.to_string()));
            }
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
                self.placed_by[i] = Some((node, ri));
                let checkpoint = (self.consumed_log.len(), placed.len(), self.problems.len());
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
                    let other_map = &self.plan.maps[other.map];
                    if rj == ri
                        || (!other.merge && !other.reverse)
                        || seen.contains(&other.resource.as_str())
                        || (other.merge
                            && (writes_entries_only(other_map) || entry_list(other_map).is_some()))
                    {
                        continue;
                    }
                    seen.push(&other.resource);
                    // The resource this segment's own resource names (a Coverage's subscriber,
                    // the insured of IN1), where it names one through the node's links: never
                    // another of that type placed before (the next of kin's RelatedPerson).
                    let named = if other.merge {
                        None
                    } else {
                        self.named_by_own_links(node, i, &other.resource)
                    };
                    let found = match named {
                        Some(named) => named,
                        None => match self.get(&here, &other.resource) {
                            Some(x) => Some(x),
                            None if !other.merge && !self.made_elsewhere(node, &other.resource) => {
                                self.candidates(node, rj, other, &here).into_iter().next()
                            }
                            None => None,
                        },
                    };
                    if let Some(x) = found {
                        if !other.merge && !self.used[x] {
                            self.used[x] = true;
                            self.placed_by[x] = Some((node, rj));
                            placed.push(x);
                            self.mark_links(x, other, &here);
                            here.bound.push(x);
                        }
                        self.fill(seg, &id, other.map, x, None)?;
                    }
                }
                self.write_link_conditions(node, seg, &id, i, &here);
                if let Some(missing) = self.missing_required(seg, &id) {
                    let optional = n.min == 0
                        || (ctx.anchor == Some(node)
                            && n.parent.is_some_and(|p| s.nodes[p].min == 0));
                    // A group's resource whose list entries are segments of their own (an
                    // Observation's components) is written as those alone when its own segment
                    // lacks what the version requires: an Observation with no value of its own
                    // where OBX-2 is required (v2.7, 2.8). Nothing is guessed to fill it.
                    // A segment standing in no group of its own (an ADT's OBX) likewise.
                    let anchored = ctx.anchor == Some(node);
                    let entries_stand_in =
                        (!anchored || ctx.own == Some(i)) && self.has_entries(node, i);
                    if (!optional || CONTENT.contains(&self.ty(i))) && !entries_stand_in {
                        return Err(self.missing_error(i, row.map, &id, missing));
                    }
                    // An optional segment the resource cannot fill stays out; what the resource
                    // holds is reported unmapped.
                    self.b.pop();
                    self.unmark_since(checkpoint.0);
                    self.problems.truncate(checkpoint.2);
                    if entries_stand_in {
                        if anchored {
                            self.stood_in.insert(ctx.group);
                        } else {
                            self.entry_segments(node, i, None, scope)?;
                        }
                        continue;
                    }
                    for x in placed.drain(checkpoint.1..) {
                        self.used[x] = false;
                    }
                    continue;
                }
                self.set_id(seg, &id, scope);
                written += 1;
                if ctx.anchor == Some(node) && ctx.own == Some(i) {
                    self.anchor_segs.insert(ctx.group, seg);
                } else if ctx.anchor != Some(node) {
                    // Outside a group of its own (an ADT's OBX), the resource's entries follow
                    // its segment directly; a group's follow the whole group instance
                    // (`entry_instances`).
                    self.entry_segments(node, i, Some(seg), scope)?;
                }
            }
        }
        if written == 0 {
            // Segments that add to resources already placed: PD1, PV2, NTE, an order's OBR.
            let mut seen: Vec<&str> = Vec::new();
            let adds: Vec<(&MessageRow, usize)> = n
                .rows
                .iter()
                .filter(|r| r.merge)
                // A map writing the whole segment from each entry of a list writes segments of
                // its own (`entry_instances`), not into this one.
                .filter(|r| entry_list(&self.plan.maps[r.map]).is_none())
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
        if written == 0 && n.min > 0 && !(ctx.adds_only && ctx.anchor == Some(node)) {
            self.required_default(&id, scope)?;
        }
        Ok(placed)
    }

    /// Writes the entries of a list of resource `i`, the one group instance `inner` was written
    /// for, as further instances of that group holding its anchor segment alone, after `i`'s
    /// own: a `+Resource` row on the anchor for the resource the anchor makes (`+Observation`
    /// on an OBSERVATION's OBX) whose map appends to a list (`component[]`) gives one per entry,
    /// in order. The other segments of the group (PRT, NTE) say what the resource holds, not
    /// an entry, and are not written again. Each such segment and the anchor's own share the
    /// sub-ID (OBX-4), which HL7 gives related OBX under one OBR so that a receiver can tell
    /// they belong together: the anchor's set ID (OBX-1), as where each OBX takes its own.
    fn entry_instances(
        &mut self,
        anchor: Option<usize>,
        i: usize,
        inner: &Context,
    ) -> Result<(), Error> {
        let Some(a) = anchor else { return Ok(()) };
        // The resource's own segment, unless its entries stand in for it.
        let head = self.anchor_segs.get(&inner.group).copied();
        if head.is_none() && !self.stood_in.contains(&inner.group) {
            return Ok(());
        }
        self.entry_segments(a, i, head, inner.outer)
    }

    /// Writes the entries of a list of resource `i` as segments of segment node `a` after
    /// `head`, `i`'s own segment (`None` when the entries stand in for it), numbered within
    /// group instance `scope`: see [`Writer::entry_instances`]. Each shares the sub-ID of the
    /// first.
    fn entry_segments(
        &mut self,
        a: usize,
        i: usize,
        head: Option<usize>,
        scope: usize,
    ) -> Result<(), Error> {
        let s = self.structure;
        let n = &s.nodes[a];
        let Some(id) = n.segment else { return Ok(()) };
        let Some((_, own_row)) = primary(n) else {
            return Ok(());
        };
        let mut written = Vec::new();
        for row in n
            .rows
            .iter()
            .filter(|r| r.merge && r.resource == own_row.resource)
        {
            written.extend(self.entry_segments_of(id, row.map, i)?);
        }
        if written.is_empty() {
            return Ok(());
        }
        // The sub-ID of the group: the one the resource's own segment was given (the sub-ID
        // it was sent with, kept in its observation-v2-subid extension), else the set ID of
        // its first segment, the resource's own or, when that was left out, its first entry's.
        let field = sub_id_field(&id).filter(|&f| self.version.field(&id, f).ty.is_some());
        let first_component = |w: &Self, seg: usize, f: u32| -> Option<String> {
            Some(w.b.segment(seg).rep(f as usize, 1)?.get(&[1])?.to_string())
        };
        let set_id = |w: &Self, seg: usize| first_component(w, seg, 1);
        let mut sub_id = match (field, head) {
            (Some(f), Some(h)) if self.b.segment(h).valued(f as usize) => {
                first_component(self, h, f)
            }
            _ => head.and_then(|h| set_id(self, h)),
        };
        if let (Some(f), Some(h), Some(v)) = (field, head, &sub_id)
            && !self.b.segment(h).valued(f as usize)
        {
            self.b
                .segment_mut(h)
                .set(f as usize, 1, &[1], Cow::Owned(v.clone()));
        }
        for seg in written {
            if let (Some(f), Some(v)) = (field, &sub_id) {
                self.b
                    .segment_mut(seg)
                    .set(f as usize, 1, &[1], Cow::Owned(v.clone()));
            }
            self.set_id(seg, &id, scope);
            if let (Some(f), None) = (field, &sub_id) {
                sub_id = set_id(self, seg);
                if let Some(v) = &sub_id
                    && !self.b.segment(seg).valued(f as usize)
                {
                    self.b
                        .segment_mut(seg)
                        .set(f as usize, 1, &[1], Cow::Owned(v.clone()));
                }
            }
        }
        Ok(())
    }

    /// The `+Resource` rows on the anchor of a group that write the entries of a list of
    /// another resource than the anchor's own as segments of their own, with that resource as
    /// placed in `ctx` and the list: `+DiagnosticReport` on an OBSERVATION's OBX, through
    /// `OBX[DiagnosticReport-PresentedForm]`, writes each of the report's presentedForm.
    fn foreign_lists(&self, anchor: Option<usize>, ctx: &Context) -> Vec<(usize, usize)> {
        let Some(a) = anchor else { return Vec::new() };
        let n = &self.structure.nodes[a];
        let own = primary(n).map(|(_, r)| r.resource.as_str());
        n.rows
            .iter()
            .filter(|r| r.merge && Some(r.resource.as_str()) != own)
            .filter(|r| entry_list(&self.plan.maps[r.map]).is_some())
            .filter_map(|r| self.get(ctx, &r.resource).map(|i| (r.map, i)))
            .collect()
    }

    fn has_foreign_entries(&self, anchor: Option<usize>, ctx: &Context) -> bool {
        self.foreign_lists(anchor, ctx).into_iter().any(|(map, i)| {
            entry_list(&self.plan.maps[map])
                .is_some_and(|prefix| !steps_list(self.req.resources[i].json, prefix).is_empty())
        })
    }

    /// Writes the entries [`Writer::foreign_lists`] names as further instances of the group
    /// anchored on `anchor`, each holding the anchor segment alone, after the group's own
    /// instances and numbered with them: a report's PDF follows its results as an OBX of its own.
    fn foreign_entry_instances(
        &mut self,
        anchor: Option<usize>,
        ctx: &Context,
    ) -> Result<(), Error> {
        let Some(a) = anchor else { return Ok(()) };
        let Some(id) = self.structure.nodes[a].segment else {
            return Ok(());
        };
        for (map, i) in self.foreign_lists(anchor, ctx) {
            for seg in self.entry_segments_of(id, map, i)? {
                self.set_id(seg, &id, ctx.group);
            }
        }
        Ok(())
    }

    /// Writes each entry of the list map `map` writes whole segments from (see [`entry_list`])
    /// of resource `i` as a segment `id` of its own, filled through `map`; gives the segments.
    /// An entry that leaves a field the version requires empty fails the request there.
    fn entry_segments_of(
        &mut self,
        id: [u8; 3],
        map: usize,
        i: usize,
    ) -> Result<Vec<usize>, Error> {
        let Some(prefix) = entry_list(&self.plan.maps[map]) else {
            return Ok(Vec::new());
        };
        let (depth, step) = (prefix.len(), &prefix[prefix.len() - 1]);
        let entries = steps_list(self.req.resources[i].json, prefix);
        let mut written = Vec::with_capacity(entries.len());
        for (k, entry) in entries.into_iter().enumerate() {
            let focus = Focus { step, depth, entry };
            let seg = self.b.add(id);
            self.fill(seg, &id, map, i, Some(&focus))?;
            if let Some(missing) = self.missing_required(seg, &id) {
                return Err(self.entry_missing_error(i, prefix, k, &id, missing));
            }
            written.push(seg);
        }
        Ok(written)
    }

    /// True when a `+Resource` row on segment node `node` writes entries of resource `i` as
    /// segments of their own (see [`Writer::entry_instances`]) and `i` has some.
    fn has_entries(&self, node: usize, i: usize) -> bool {
        let n = &self.structure.nodes[node];
        let Some((_, own_row)) = primary(n) else {
            return false;
        };
        n.rows
            .iter()
            .filter(|r| r.merge && r.resource == own_row.resource)
            .filter_map(|r| entry_list(&self.plan.maps[r.map]))
            .any(|prefix| !steps_list(self.req.resources[i].json, prefix).is_empty())
    }

    /// The error for a list entry (an Observation's component) whose segment lacks a field
    /// the version requires, at that entry.
    fn entry_missing_error(
        &self,
        i: usize,
        list: &[Step],
        k: usize,
        id: &[u8; 3],
        missing: Missing,
    ) -> Error {
        let field = match missing {
            Missing::Field(n) | Missing::Component { field: n, .. } => n,
        };
        let r = &self.req.resources[i];
        let seg = String::from_utf8_lossy(id);
        let name = list.iter().map(Step::name).collect::<Vec<_>>().join(".");
        Error::new(
            ErrorKind::MissingRequired,
            format!(
                "an HL7 v{} {seg} needs {seg}-{field}, and this {} {name} entry has nothing to fill it",
                self.version.name(),
                r.ty
            ),
        )
        .at_fhir_path(format!("{}.{name}[{k}]", r.path))
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
            // The element is there, but nothing HL7 holds says what it says (an Observation
            // status `amended`, which no code of table 0085 means).
            Some(e) if r.json.get(e.as_str()).is_some() => Error::new(
                ErrorKind::MissingRequired,
                format!(
                    "an HL7 v{version} {seg} needs {seg}-{field}, and the {}'s {e} has no HL7 code or value it can be written as",
                    r.ty
                ),
            )
            .at_fhir_path(format!("{}.{e}", r.path)),
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
                    let slot = self.version.field(b"OBR", 4).ty.map(|ty| Slot {
                        ty,
                        component: false,
                    });
                    let saved_slot = std::mem::replace(&mut self.slot, slot);
                    let result = self.map_back(&self.plan.maps[m], code, &mut rep);
                    self.slot = saved_slot;
                    self.end_scope(saved);
                    result?;
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
}
