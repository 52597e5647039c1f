//! Running the mapping tables backwards: FHIR resources become the segments of a message
//! structure.
//!
//! The structure is walked in order. A repeating group is written once per resource its first
//! segment makes (one ORDER_OBSERVATION per DiagnosticReport), and a segment's resources are the
//! ones its links tie to the resources already placed (the Observations a DiagnosticReport's
//! `result` lists, the Encounters whose `subject` is the patient). Each segment is filled by its
//! segment map's rows read right to left: the FHIR element a row names becomes the field it
//! names, through the same data type maps and vocabularies.
//!
//! What a row cannot run backwards is marked `forward` in the tables; a row marked `reverse`
//! runs only here (e.g. OBX-2, the value type, from which value[x] is present). A row whose
//! `value` holds defaults (`use=home`) takes only the elements that match them, so PID-13 gets
//! the home numbers and PID-14 the work ones.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::Envelope;
use super::request::Request;
use crate::error::{Error, ErrorKind};
use crate::fhir::base64;
use crate::fhir::datetime::fhir_to_dtm;
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{
    Conversion, ElementMap, Link, MapRow, MessageRow, Plan, Primitive, Structure,
};
use crate::mapping::target::{Step, Target};
use crate::v2::{Charset, Delimiters, MessageBuilder, spec};

const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";

/// A repetition under construction: components, each a list of subcomponents.
type Rep = Vec<Vec<String>>;

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
    /// FHIR elements of the request that no row read (`Patient.name[0].text`).
    pub unmapped: Vec<String>,
}

/// A value read back from FHIR: text for one place, or parts for several components.
enum Piece {
    Text(String),
    /// (component numbers relative to the row's source, text).
    Parts(Vec<(Vec<u32>, String)>),
}

struct Writer<'p, 'j> {
    plan: &'p Plan,
    req: &'j Request<'j>,
    b: MessageBuilder,
    /// Resources already written as a segment's primary resource.
    used: Vec<bool>,
    /// Resources reserved for the row whose map's constants they match (the merged Patient
    /// of an A40 for MRG).
    reserved: Vec<Option<(usize, usize)>>,
    /// JSON nodes some row read.
    consumed: HashSet<*const Json>,
    /// Set ID counters per (segment id, group instance).
    set_ids: HashMap<([u8; 3], usize), u32>,
    group_counter: usize,
    /// The HL7 version written (field types differ between versions).
    version: String,
}

/// The resources a group or segment is written for.
#[derive(Clone, Default)]
struct Context {
    /// (resource type, request index), innermost last.
    bound: Vec<(String, usize)>,
    group: usize,
}

impl Context {
    fn get(&self, ty: &str) -> Option<usize> {
        self.bound
            .iter()
            .rev()
            .find(|(t, _)| t == ty)
            .map(|&(_, i)| i)
    }
}

/// Writes `req` as message `n` of a run with `structure`.
/// `trigger` is the message type and event; `carried` lists elements the event itself carries
/// (Encounter.status for A01/A03/A04), which count as read.
pub(crate) fn write(
    plan: &Plan,
    structure: usize,
    req: &Request<'_>,
    trigger: (&str, &str),
    env: &Envelope,
    n: u64,
    carried: &[&Json],
) -> Result<Written, Error> {
    let (message_type, event) = trigger;
    let s = &plan.structures[structure];
    if !req.resources.iter().any(|r| r.ty == "Patient") {
        return Err(Error::new(
            ErrorKind::MissingRequired,
            format!("an HL7 v2 {message_type}^{event} needs a Patient; the request has none"),
        )
        .at_fhir_path("Bundle.entry"));
    }
    let mut b = MessageBuilder::new(Delimiters::default(), Charset::Utf8);
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
            b.set(1, field, 1, 1, 1, value);
        }
    }
    for (c, v) in [message_type, event, s.name.as_str()]
        .into_iter()
        .enumerate()
    {
        b.set(1, 9, 1, c + 1, 1, v);
    }
    b.set(1, 18, 1, 1, 1, "UNICODE UTF-8");
    let mut w = Writer {
        plan,
        req,
        b,
        used: vec![false; req.resources.len()],
        reserved: vec![None; req.resources.len()],
        consumed: HashSet::new(),
        set_ids: HashMap::new(),
        group_counter: 0,
        version: env.version.clone(),
    };
    for v in carried {
        w.mark_all(v);
    }
    w.reserve(s);
    w.group(s, 0, &Context::default(), event, &time)?;
    let message = w.b.encode()?;
    let unmapped = w.unmapped();
    Ok(Written {
        message,
        message_type: message_type.to_string(),
        event: event.to_string(),
        structure: s.name.clone(),
        control_id,
        unmapped,
    })
}

/// Follows target steps into a JSON element; `[]` and extensions by URL may give several.
fn select<'j>(node: &'j Json, steps: &[Step]) -> Vec<&'j Json> {
    let mut cur = vec![node];
    for step in steps {
        let mut next = Vec::new();
        for n in cur {
            match step {
                Step::Member {
                    name,
                    append,
                    index,
                    many,
                    ..
                } => {
                    let Some(v) = n.get(name) else { continue };
                    match (v.as_array(), many) {
                        (Some(items), true) => match (append, index) {
                            (true, _) => next.extend(items.iter()),
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
        cur = next;
    }
    cur
}

/// The text of a primitive JSON value.
fn primitive_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(if *b { "Y" } else { "N" }.to_string()),
        _ => None,
    }
}

/// Reads a part of a repetition under construction.
fn get_in(rep: &Rep, nums: &[u32]) -> Option<String> {
    let c = rep.get(*nums.first().unwrap_or(&1) as usize - 1)?;
    let s = c.get(*nums.get(1).unwrap_or(&1) as usize - 1)?;
    (!s.is_empty()).then(|| s.clone())
}

/// Writes a part of a repetition, growing it; an existing value wins (as forward: first wins).
fn set_in(rep: &mut Rep, nums: &[u32], text: String) {
    let (c, s) = (
        *nums.first().unwrap_or(&1) as usize,
        *nums.get(1).unwrap_or(&1) as usize,
    );
    if rep.len() < c {
        rep.resize_with(c, Vec::new);
    }
    let comp = &mut rep[c - 1];
    if comp.len() < s {
        comp.resize_with(s, String::new);
    }
    if comp[s - 1].is_empty() {
        comp[s - 1] = text;
    }
}

impl<'p, 'j> Writer<'p, 'j> {
    fn mark(&mut self, v: &Json) {
        self.consumed.insert(v as *const Json);
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

    /// A constant row says what a matching element holds (`type.coding[1].system` is v2-0203);
    /// an element holding exactly that has been accounted for.
    fn consume_constant(&mut self, row: &'p MapRow, json: &'j Json) {
        let Some(c) = &row.constant else { return };
        for v in select(json, &row.target.steps) {
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
    fn reserve(&mut self, s: &Structure) {
        let mut rows_by_type: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (ni, node) in s.nodes.iter().enumerate() {
            for (ri, row) in node.rows.iter().enumerate() {
                if !row.merge && node.segment != Some(*b"MSH") {
                    rows_by_type
                        .entry(row.resource.as_str())
                        .or_default()
                        .push((ni, ri));
                }
            }
        }
        for (i, r) in self.req.resources.iter().enumerate() {
            let Some(rows) = rows_by_type.get(r.ty) else {
                continue;
            };
            if rows.len() < 2 {
                continue;
            }
            for &(ni, ri) in rows {
                let map = &self.plan.maps[s.nodes[ni].rows[ri].map];
                let constants: Vec<&MapRow> = map
                    .rows
                    .iter()
                    .filter(|row| row.constant.is_some() && row.source.is_some())
                    .collect();
                if !constants.is_empty()
                    && constants.iter().all(|row| {
                        select(r.json, &row.target.steps).iter().any(|v| {
                            primitive_text(v).as_deref()
                                == row.constant.as_deref().map(|c| {
                                    if c == "true" {
                                        "Y"
                                    } else if c == "false" {
                                        "N"
                                    } else {
                                        c
                                    }
                                })
                        })
                    })
                {
                    self.reserved[i] = Some((ni, ri));
                }
            }
        }
    }

    /// The request resources a primary row is written for, in request order.
    fn candidates(&self, node: usize, ri: usize, row: &MessageRow, ctx: &Context) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, r) in self.req.resources.iter().enumerate() {
            if r.ty != row.resource
                || self.used[i]
                || self.reserved[i].is_some_and(|x| x != (node, ri))
            {
                continue;
            }
            let mut ok = true;
            for link in &row.links {
                match link {
                    Link::Incoming { from, target } => {
                        if let Some(owner) = ctx.get(from) {
                            let refs = select(self.req.resources[owner].json, &target.steps);
                            ok &= refs.iter().any(|v| {
                                v.get("reference")
                                    .and_then(Json::as_str)
                                    .is_some_and(|x| r.is(x))
                            });
                        }
                    }
                    Link::Outgoing { target, to } => {
                        if let Some(other) = ctx.get(to) {
                            let refs = select(r.json, &target.steps);
                            // A resource that names no such reference still belongs here.
                            ok &= refs.is_empty()
                                || refs.iter().any(|v| {
                                    v.get("reference")
                                        .and_then(Json::as_str)
                                        .is_some_and(|x| self.req.resources[other].is(x))
                                });
                        }
                    }
                }
            }
            if ok {
                out.push(i);
            }
        }
        out
    }

    /// The primary row of a segment node (the first that makes a resource), if any.
    fn primary(node: &crate::mapping::plan::StructureNode) -> Option<(usize, &MessageRow)> {
        node.rows.iter().enumerate().find(|(_, r)| !r.merge)
    }

    /// The first segment node of a group, depth first.
    fn anchor(s: &Structure, node: usize) -> Option<usize> {
        let n = &s.nodes[node];
        if n.segment.is_some() {
            return Some(node);
        }
        n.children.first().and_then(|&c| Writer::anchor(s, c))
    }

    fn group(
        &mut self,
        s: &'p Structure,
        node: usize,
        ctx: &Context,
        event: &str,
        time: &str,
    ) -> Result<(), Error> {
        for &child in &s.nodes[node].children {
            let c = &s.nodes[child];
            if c.segment.is_some() {
                self.segment(s, child, ctx, event, time)?;
                continue;
            }
            // A group is written once per resource its first segment makes.
            let anchor = Writer::anchor(s, child);
            let primary =
                anchor.and_then(|a| Writer::primary(&s.nodes[a]).map(|(ri, r)| (a, ri, r)));
            let instances = match primary {
                Some((a, ri, row)) => self.candidates(a, ri, row, ctx),
                None => Vec::new(),
            };
            let instances = if c.repeats {
                instances
            } else {
                instances.into_iter().take(1).collect()
            };
            if instances.is_empty() {
                if c.min > 0 {
                    self.group_counter += 1;
                    let inner = Context {
                        bound: ctx.bound.clone(),
                        group: self.group_counter,
                    };
                    self.group(s, child, &inner, event, time)?;
                }
                continue;
            }
            for i in instances {
                self.group_counter += 1;
                let mut inner = Context {
                    bound: ctx.bound.clone(),
                    group: self.group_counter,
                };
                inner.bound.push((self.req.resources[i].ty.to_string(), i));
                self.group(s, child, &inner, event, time)?;
            }
        }
        Ok(())
    }

    fn segment(
        &mut self,
        s: &'p Structure,
        node: usize,
        ctx: &Context,
        event: &str,
        time: &str,
    ) -> Result<(), Error> {
        let n = &s.nodes[node];
        let id = n.segment.unwrap_or(*b"ZZZ");
        let name = String::from_utf8_lossy(&id).into_owned();
        if &id == b"MSH" {
            return Ok(());
        }
        if &id == b"EVN" {
            let seg = self.b.add_segment("EVN");
            self.b.set(seg, 1, 1, 1, 1, event);
            self.b.set(seg, 2, 1, 1, 1, time);
            return Ok(());
        }
        let mut written = 0;
        if let Some((ri, row)) = Writer::primary(n) {
            // The group's own resource when this segment starts the group, else the candidates.
            let bound_here = ctx
                .bound
                .last()
                .filter(|(t, i)| *t == row.resource && !self.used[*i])
                .map(|&(_, i)| i);
            let instances: Vec<usize> = match bound_here {
                Some(i) => vec![i],
                None => {
                    let all = self.candidates(node, ri, row, ctx);
                    if n.repeats {
                        all
                    } else {
                        all.into_iter().take(1).collect()
                    }
                }
            };
            for i in instances {
                self.used[i] = true;
                let seg = self.b.add_segment(&name);
                self.fill(seg, &id, row.map, i)?;
                // Rows that add to this resource's other segments (none here) and merge rows on
                // this node (PID's Account) do not write a second segment.
                self.set_id(seg, &id, ctx.group);
                written += 1;
            }
        } else if let Some(row) = n.rows.iter().find(|r| r.merge) {
            // PD1, PV2: the resource the group already placed.
            if let Some(i) = ctx
                .get(&row.resource)
                .or_else(|| self.req.resources.iter().position(|r| r.ty == row.resource))
            {
                let seg = self.b.add_segment(&name);
                self.fill(seg, &id, row.map, i)?;
                let empty = self.b.tree().segments[seg - 1]
                    .fields
                    .iter()
                    .all(|f| f.iter().flatten().flatten().all(String::is_empty));
                if empty {
                    self.b.pop_segment();
                } else {
                    self.set_id(seg, &id, ctx.group);
                    written += 1;
                }
            }
        }
        if written == 0 && n.min > 0 {
            self.required_default(&id, ctx)?;
        }
        Ok(())
    }

    /// A segment the structure requires but the request has nothing for.
    fn required_default(&mut self, id: &[u8; 3], ctx: &Context) -> Result<(), Error> {
        match id {
            b"PV1" => {
                // No visit: patient class N, "not applicable", as A28 and A31 are sent.
                let seg = self.b.add_segment("PV1");
                self.b.set(seg, 1, 1, 1, 1, "1");
                self.b.set(seg, 2, 1, 1, 1, "N");
            }
            b"OBR" => {
                // Observations without a DiagnosticReport: one OBR names the first one's code.
                let seg = self.b.add_segment("OBR");
                self.b.set(seg, 1, 1, 1, 1, "1");
                let first = self.req.resources.iter().find(|r| {
                    r.ty == "Observation"
                        && !self
                            .used
                            .get(
                                self.req
                                    .resources
                                    .iter()
                                    .position(|x| std::ptr::eq(x, *r))
                                    .unwrap_or(0),
                            )
                            .copied()
                            .unwrap_or(true)
                });
                if let Some(code) = first.and_then(|r| r.json.pointer("/code/coding/0")) {
                    for (c, key) in [(1, "code"), (2, "display")] {
                        if let Some(t) = code.get(key).and_then(Json::as_str) {
                            self.b.set(seg, 4, 1, c, 1, t);
                        }
                    }
                    if let Some(sys) = code.get("system").and_then(Json::as_str)
                        && let Some(name) = self.system_name(sys)
                    {
                        self.b.set(seg, 4, 1, 3, 1, &name);
                    }
                }
            }
            b"PID" => {
                return Err(Error::new(
                    ErrorKind::MissingRequired,
                    "the message needs a Patient for its PID segment",
                )
                .at_fhir_path("Bundle.entry"));
            }
            _ => {
                let _ = ctx;
            }
        }
        Ok(())
    }

    /// Fills field 1 with the set ID when the standard defines one there (PID-1, OBX-1 …),
    /// counting within the group instance, as HL7 numbers repeating segments.
    fn set_id(&mut self, seg: usize, id: &[u8; 3], group: usize) {
        let name = String::from_utf8_lossy(id);
        if spec::field_type(&name, 1) != Some("SI") {
            return;
        }
        let n = self.set_ids.entry((*id, group)).or_insert(0);
        *n += 1;
        let n = *n;
        if let Some(s) = self.b.segment_mut(seg) {
            let empty = s
                .fields
                .first()
                .is_none_or(|f| f.iter().flatten().flatten().all(String::is_empty));
            if empty {
                self.b.set(seg, 1, 1, 1, 1, &n.to_string());
            }
        }
    }

    /// Fills a segment from resource `i` with the segment map's rows, right to left.
    fn fill(&mut self, seg: usize, id: &[u8; 3], map: usize, i: usize) -> Result<(), Error> {
        let m: &'p ElementMap = &self.plan.maps[map];
        let json = self.req.resources[i].json;
        self.mark(json);
        for row in &m.rows {
            self.consume_constant(row, json);
            if !row.direction.reverse() {
                continue;
            }
            let Some(Operand::Path(p)) = &row.source else {
                continue;
            };
            if p.segment != *id {
                continue;
            }
            if let Some(c) = &row.when {
                let tree = &self.b.tree().segments[seg - 1];
                if !holds_on_segment(c, tree, None) {
                    continue;
                }
            }
            let mut values = self.matching(row, json);
            if !row.each_repetition {
                values.truncate(1);
            }
            for v in &values {
                self.mark(v);
            }
            let field = p.field as usize;
            if values.is_empty() {
                if let Some(orig) = original_text(json, &row.target) {
                    let mut rep = self.current_rep(seg, field, 1);
                    let base: Vec<u32> = [p.component, p.subcomponent]
                        .into_iter()
                        .flatten()
                        .collect();
                    set_in(&mut rep, if base.is_empty() { &[1] } else { &base }, orig);
                    self.put_rep(seg, field, 1, rep);
                }
                continue;
            }
            let base: Vec<u32> = [p.component, p.subcomponent]
                .into_iter()
                .flatten()
                .collect();
            let start_rep = match p.repetition {
                Some(r) => r as usize,
                None if row.each_repetition => {
                    let f = self.b.tree().segments[seg - 1].fields.get(field - 1);
                    f.map_or(0, |f| {
                        if f.iter().flatten().flatten().all(String::is_empty) {
                            0
                        } else {
                            f.len()
                        }
                    }) + 1
                }
                None => 1,
            };
            for (k, v) in values.into_iter().enumerate() {
                if !row.each_repetition && k > 0 {
                    break;
                }
                let mut rep = self.current_rep(seg, field, start_rep + k);
                if let Some(c) = &row.constant {
                    set_in(
                        &mut rep,
                        if base.is_empty() { &[1] } else { &base },
                        c.clone(),
                    );
                } else {
                    self.value_into(row, v, &mut rep, &base)?;
                }
                // A field of a simple type (IS, ID, ST …) holds one value: a code read back
                // through a CodeableConcept map keeps only its code.
                let name = String::from_utf8_lossy(id);
                if spec::field_type_in(&name, field, &self.version)
                    .is_some_and(|t| spec::component_count(t).is_none())
                {
                    rep.truncate(1);
                    if let Some(c) = rep.first_mut() {
                        c.truncate(1);
                    }
                }
                self.put_rep(seg, field, start_rep + k, rep);
            }
        }
        Ok(())
    }

    /// The elements a row reads, after its defaults filter them. Rows that append to the same
    /// list (XPN.2 and XPN.3 both to `given[]`) take its entries in turn: an entry an earlier
    /// row read is not read again.
    fn matching(&mut self, row: &'p MapRow, json: &'j Json) -> Vec<&'j Json> {
        let mut values = select(json, &row.target.steps);
        if row.target.steps.last().is_some_and(Step::appends) {
            values.retain(|v| !self.consumed.contains(&(*v as *const Json)));
        }
        if !row.defaults.is_empty() {
            values.retain(|v| {
                row.defaults.iter().all(|(t, value)| {
                    select(v, &t.steps)
                        .first()
                        .and_then(|x| primitive_text(x))
                        .is_none_or(|x| &x == value)
                })
            });
        }
        values
    }

    fn current_rep(&self, seg: usize, field: usize, rep: usize) -> Rep {
        self.b.tree().segments[seg - 1]
            .fields
            .get(field - 1)
            .and_then(|f| f.get(rep - 1))
            .cloned()
            .unwrap_or_default()
    }

    fn put_rep(&mut self, seg: usize, field: usize, rep: usize, value: Rep) {
        if value.iter().flatten().all(String::is_empty) {
            return;
        }
        let Some(s) = self.b.segment_mut(seg) else {
            return;
        };
        if s.fields.len() < field {
            s.fields
                .resize_with(field, || vec![vec![vec![String::new()]]]);
        }
        let f = &mut s.fields[field - 1];
        if f.len() < rep {
            f.resize_with(rep, || vec![vec![String::new()]]);
        }
        f[rep - 1] = value;
    }

    /// Converts one FHIR element back and writes it into `rep` at `base`.
    fn value_into(
        &mut self,
        row: &'p MapRow,
        v: &'j Json,
        rep: &mut Rep,
        base: &[u32],
    ) -> Result<(), Error> {
        match row.conversion {
            Conversion::Primitive(p) => {
                if v.is_object() {
                    self.mark_all(v);
                }
                let piece = self.primitive_back(row, p, v);
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
                    let Some(reference) = v.get("reference").and_then(Json::as_str) else {
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
                let mut inner: Rep = Vec::new();
                if let (Some(vocab), "CodeableConcept") = (row.vocabulary, map.fhir_type.as_str()) {
                    self.concept_back(vocab, element, &mut inner);
                }
                self.map_back(map, element, &mut inner)?;
                if base.is_empty() {
                    for (ci, comp) in inner.into_iter().enumerate() {
                        for (si, sub) in comp.into_iter().enumerate() {
                            if !sub.is_empty() {
                                set_in(rep, &[ci as u32 + 1, si as u32 + 1], sub);
                            }
                        }
                    }
                } else {
                    // A map applied to a component: its components are subcomponents here.
                    for (ci, comp) in inner.into_iter().enumerate() {
                        if let Some(sub) = comp.into_iter().next().filter(|s| !s.is_empty()) {
                            set_in(rep, &[base[0], ci as u32 + 1], sub);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A CodeableConcept whose coding the vocabulary translates back becomes that HL7 code,
    /// its text and its table.
    fn concept_back(&mut self, vocab: usize, element: &'j Json, rep: &mut Rep) {
        let codings = element
            .get("coding")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for c in codings {
            let (Some(system), Some(code)) = (
                c.get("system").and_then(Json::as_str),
                c.get("code").and_then(Json::as_str),
            ) else {
                continue;
            };
            if let Some(back) = self.plan.vocabularies[vocab].back(Some(system), code) {
                set_in(rep, &[1], back.code.clone());
                if !back.display.is_empty() {
                    set_in(rep, &[2], back.display.clone());
                }
                if !back.system.is_empty() {
                    set_in(rep, &[3], back.system.clone());
                }
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
        rep: &mut Rep,
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
                && !holds_on_rep(c, rep)
            {
                continue;
            }
            let values = self.matching(row, element);
            let Some(v) = values.first().copied() else {
                continue;
            };
            self.mark(v);
            if let Some(c) = &row.constant {
                // `1,,type.coding[1].code,,,SS`: the constant says what the element is, not
                // what the component holds; nothing to write back.
                let _ = c;
                continue;
            }
            if nums.is_empty() {
                self.value_into(row, v, rep, &[])?;
            } else {
                let mut inner = rep.clone();
                self.value_into(row, v, &mut inner, nums)?;
                *rep = inner;
            }
        }
        Ok(())
    }

    /// The HL7 coding system name (table 0396) for a code system URL.
    fn system_name(&self, url: &str) -> Option<String> {
        if let Some(table) = url.strip_prefix("http://terminology.hl7.org/CodeSystem/v2-") {
            return Some(format!("HL7{table}"));
        }
        let v = self.plan.vocabulary_index.get("CodingSystem")?;
        self.plan.vocabularies[*v]
            .back(None, url)
            .map(|c| c.code.clone())
    }

    /// Converts a FHIR primitive (or small composite) back to HL7 text.
    fn primitive_back(&mut self, row: &'p MapRow, p: Primitive, v: &'j Json) -> Option<Piece> {
        let vocab = row.vocabulary.map(|i| &self.plan.vocabularies[i]);
        match p {
            Primitive::Text | Primitive::Endpoint => primitive_text(v).map(Piece::Text),
            Primitive::JoinedText => {
                let text = primitive_text(v)?;
                Some(Piece::Text(text))
            }
            Primitive::Code => {
                let code = primitive_text(v)?;
                match vocab {
                    Some(voc) => voc.back(None, &code).map(|c| Piece::Text(c.code.clone())),
                    None => Some(Piece::Text(code)),
                }
            }
            Primitive::Boolean => v
                .as_bool()
                .map(|b| Piece::Text(if b { "Y" } else { "N" }.into())),
            Primitive::Decimal | Primitive::Integer { .. } => primitive_text(v).map(Piece::Text),
            Primitive::Date(_) => match v.as_str() {
                Some(s) => fhir_to_dtm(s).map(Piece::Text),
                None => None,
            },
            Primitive::SnQuantity => {
                let mut parts = Vec::new();
                if let Some(c) = v.get("comparator").and_then(Json::as_str) {
                    parts.push((vec![1], c.to_string()));
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
                let mut parts = vec![(vec![3], "-".to_string())];
                parts.extend(low.map(|l| (vec![2], l)));
                parts.extend(high.map(|h| (vec![4], h)));
                Some(Piece::Parts(parts))
            }
            Primitive::HdUri | Primitive::EiUri => {
                let uri = v.as_str()?;
                let shift = u32::from(p == Primitive::EiUri);
                let (id, kind) = if let Some(oid) = uri.strip_prefix("urn:oid:") {
                    (oid.to_string(), "ISO")
                } else if let Some(uuid) = uri.strip_prefix("urn:uuid:") {
                    (uuid.to_string(), "UUID")
                } else {
                    (uri.to_string(), "URI")
                };
                Some(Piece::Parts(vec![
                    (vec![2 + shift], id),
                    (vec![3 + shift], kind.to_string()),
                ]))
            }
            Primitive::Telecom => {
                let value = v.as_str()?;
                Some(Piece::Parts(vec![(
                    vec![if value.contains('@') { 4 } else { 1 }],
                    value.to_string(),
                )]))
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
                vocab?
                    .back(system, code)
                    .map(|c| Piece::Text(c.code.clone()))
            }
            Primitive::CodeSystem => {
                let url = v.as_str()?;
                self.system_name(url).map(Piece::Text)
            }
            Primitive::TextAsBase64 | Primitive::Base64 => {
                let data = v.as_str()?;
                if p == Primitive::Base64 {
                    return Some(Piece::Text(data.to_string()));
                }
                base64::decode(data)
                    .and_then(|b| String::from_utf8(b).ok())
                    .map(Piece::Text)
            }
        }
    }

    /// Every leaf of the request no row read, as a FHIR path.
    fn unmapped(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.req.resources {
            self.leaves(r.json, r.ty.to_string(), &mut out, false);
        }
        out
    }

    fn leaves(&self, v: &Json, path: String, out: &mut Vec<String>, inside: bool) {
        let read = self.consumed.contains(&(v as *const Json));
        match v {
            Json::Object(m) => {
                for (k, x) in m {
                    if k == "resourceType" || k == "id" || k.starts_with('_') {
                        continue;
                    }
                    self.leaves(x, format!("{path}.{k}"), out, inside || read);
                }
            }
            Json::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.leaves(x, format!("{path}[{i}]"), out, inside || read);
                }
            }
            _ => {
                // A leaf counts as read when it, or for references the element holding it, was
                // read; inside an element read whole (a Reference) its parts count too.
                let reference_read = inside && path.ends_with(".reference");
                if !(read || reference_read) {
                    out.push(path);
                }
            }
        }
    }
}

/// Evaluates a condition on a segment under construction (reverse direction): paths into the
/// segment read what earlier rows wrote; paths into other segments count as not valued.
fn holds_on_segment(c: &Condition, seg: &crate::v2::SegmentTree, rep: Option<&Rep>) -> bool {
    let text = |o: &Operand| -> Option<String> {
        match o {
            Operand::Path(p) => {
                if p.segment_id() != seg.id {
                    return None;
                }
                let f = seg.fields.get(p.field as usize - 1)?;
                let r = f.get(p.repetition.unwrap_or(1) as usize - 1)?;
                let nums: Vec<u32> = [p.component, p.subcomponent]
                    .into_iter()
                    .flatten()
                    .collect();
                if nums.is_empty() {
                    let t = r.iter().map(|c| c.join("&")).collect::<Vec<_>>().join("^");
                    return (!t.trim_matches(['^', '&']).is_empty()).then_some(t);
                }
                get_in(r, &nums)
            }
            Operand::Relative(nums) => rep.and_then(|r| get_in(r, nums)),
        }
    };
    eval(c, &text)
}

fn holds_on_rep(c: &Condition, rep: &Rep) -> bool {
    let text = |o: &Operand| match o {
        Operand::Relative(nums) => get_in(rep, nums),
        Operand::Path(_) => None,
    };
    eval(c, &text)
}

fn eval(c: &Condition, text: &dyn Fn(&Operand) -> Option<String>) -> bool {
    match c {
        Condition::Valued(o) => text(o).is_some(),
        Condition::Equals(o, l) => text(o).is_some_and(|t| t.trim() == l),
        Condition::In(o, ls) => text(o).is_some_and(|t| ls.iter().any(|l| l == t.trim())),
        Condition::LongerThan(o, n) => text(o).is_some_and(|t| t.trim().chars().count() > *n),
        Condition::IsDate(o) => {
            text(o).is_some_and(|t| crate::fhir::datetime::Dtm::parse(t.trim()).is_ok())
        }
        Condition::Not(c) => !eval(c, text),
        Condition::And(cs) => cs.iter().all(|c| eval(c, text)),
        Condition::Or(cs) => cs.iter().any(|c| eval(c, text)),
    }
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
    let owner = select(json, parent).into_iter().next()?;
    let exts = owner.get(shadow)?.get("extension")?.as_array()?;
    exts.iter()
        .find(|e| e.get("url").and_then(Json::as_str) == Some(ORIGINAL_TEXT))
        .and_then(|e| e.get("valueString"))
        .and_then(Json::as_str)
        .map(str::to_string)
}
