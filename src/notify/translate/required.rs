//! What FHIR requires of each resource, checked once every resource is made and linked.
//!
//! The tables give each resource what FHIR requires of it, with a data-absent reason where the
//! message leaves a required field empty. A message that lacks a whole segment does not reach
//! those rows: an ADT^A01 without its PID gives Conditions and AllergyIntolerances no patient, a
//! VXU order without its RXA an Immunization without a vaccine, a PV2 without a PV1 an
//! Encounter without a status. Such a resource is not a FHIR resource at all, and one that says
//! nothing of whom it is about is not worth sending. So, outside strict mode, it is left out of
//! the notification (and every reference to it with it) and the problem is noted; in strict
//! mode the message fails. A backbone entry that lacks what FHIR requires of it (an
//! `Encounter.diagnosis` without its condition, once that Condition is left out) is left out
//! of its list the same way.

use super::Translator;
use crate::error::{Error, ErrorKind, Location};
use crate::fhir::doc::{NodeId, Val};
use crate::fhir::elements::{self, Requirements};
use crate::fhir::id::{Id, IdMap};

const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

impl<'a> Translator<'a, '_> {
    /// Leaves out the resources that lack an element FHIR requires, and then any that lack
    /// one because of that (a reference to a resource left out is no reference), until every
    /// resource left is complete. Gives which resources are left out, by index (empty, and
    /// allocated only once one is); [`Translator::drop_left_out`] takes them out of the list
    /// once every link is made.
    pub(super) fn leave_out_incomplete(&mut self) -> Result<Vec<bool>, Error> {
        let mut gone: Vec<bool> = Vec::new();
        let mut left_out: IdMap<()> = IdMap::default();
        loop {
            for i in 0..self.resources.len() {
                if gone.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let r = &self.resources[i];
                let (ty, node, needs) = (r.ty, r.node, r.needs);
                let missing = match self.lacks(node, needs, &Path::Resource(ty))? {
                    Some(missing) => missing,
                    None => match self.lacks_by_invariant(node, needs) {
                        Some(missing) => missing,
                        None => continue,
                    },
                };
                let why = format!(
                    "{} lacks its {missing}, which FHIR requires and the message does not give",
                    self.made_from(i)
                );
                // The MessageHeader is the notification itself: without it there is none.
                if self.opts.strict || ty == "MessageHeader" {
                    return Err(self.incomplete_error(i, why));
                }
                self.problems.push(format!("{why}: left out"));
                gone.resize(self.resources.len(), false);
                gone[i] = true;
                left_out.insert(self.resources[i].id, ());
            }
            if left_out.is_empty() {
                break;
            }
            self.doc.forget_references(|id| left_out.contains_key(&id));
            left_out.clear();
        }
        Ok(gone)
    }

    /// Takes the resources left out (`gone`, by index) out of the list, and with them what
    /// nothing else refers to any more.
    pub(super) fn drop_left_out(&mut self, mut gone: Vec<bool>) {
        if gone.is_empty() {
            return;
        }
        // What a data type map made for a resource left out to refer to (its performer, its
        // manufacturer) goes with it once nothing else refers to it.
        loop {
            let mut referred: Vec<Id> = Vec::new();
            for (r, _) in self.resources.iter().zip(&gone).filter(|(_, g)| !**g) {
                self.doc.references_under(r.node, &mut referred);
            }
            let referred: IdMap<()> = referred.into_iter().map(|id| (id, ())).collect();
            let mut more = false;
            for (r, g) in self.resources.iter().zip(gone.iter_mut()) {
                if r.referred_to_only && !*g && !referred.contains_key(&r.id) {
                    *g = true;
                    more = true;
                }
            }
            if !more {
                break;
            }
        }
        let mut left_out = gone.into_iter();
        self.resources.retain(|_| !left_out.next().unwrap_or(false));
    }

    /// The elements an invariant requires of `node` that it lacks, unless another element
    /// excuses them ([`elements::REQUIRED_UNLESS`]: an appointment's start and end).
    fn lacks_by_invariant(&self, node: NodeId, needs: &Requirements) -> Option<String> {
        let doc = &self.doc;
        let absent = |name: &&str| !doc.has(node, name);
        let &(_, names, unless, codes) = elements::REQUIRED_UNLESS
            .iter()
            .find(|(owner, ..)| *owner == needs.owner)?;
        let missing: Vec<&str> = names.iter().copied().filter(|n| absent(n)).collect();
        if missing.is_empty() {
            return None;
        }
        let excused = doc
            .get(node, unless)
            .and_then(|c| doc.str_at(c))
            .is_some_and(|code| codes.contains(&code));
        (!excused).then(|| {
            format!(
                "{} (its {unless} being none of {})",
                missing.join(" and "),
                codes.join(", ")
            )
        })
    }

    /// The first element FHIR requires of `node` (what `needs` says, at the path `at` names)
    /// that it lacks, once the entries of its backbone lists that lack one of theirs are left
    /// out.
    fn lacks(
        &mut self,
        node: NodeId,
        needs: &'static Requirements,
        at: &Path,
    ) -> Result<Option<String>, Error> {
        for (name, backbone) in needs.backbones() {
            let Some(member) = self.doc.get(node, name) else {
                continue;
            };
            let here = Path::Member(at, name);
            let mut entry = match self.doc.val(member) {
                Val::Array => self.doc.first_child(member),
                _ => Some(member),
            };
            while let Some(e) = entry {
                entry = self.doc.next_sibling(e).filter(|_| e != member);
                let Some(missing) = self.lacks(e, backbone, &here)? else {
                    continue;
                };
                // An entry already empty is no entry: nothing to leave out.
                if self.doc.is_empty(e) {
                    continue;
                }
                let why = format!(
                    "an entry of {} lacks its {missing}, which FHIR requires and the message \
                     does not give",
                    here.text()
                );
                if self.opts.strict {
                    return Err(Error::new(ErrorKind::MissingRequired, why));
                }
                self.problems.push(format!("{why}: left out"));
                self.doc.empty_out(e);
            }
        }
        for choices in needs.elements.iter().filter(|c| c.len() > 1) {
            self.one_of(node, choices, at);
        }
        let doc = &self.doc;
        let absent = |name: &&str| !doc.has(node, name);
        Ok(needs
            .elements
            .iter()
            .chain(&needs.any_of)
            .find(|choices| choices.iter().all(absent))
            .map(|choices| {
                let choice = elements::element(needs.owner, choices[0]).map_or("", |e| e.choice);
                match choices.as_slice() {
                    [one] => (*one).to_string(),
                    _ if !choice.is_empty() => format!("{choice}[x]"),
                    several => several.join(" or "),
                }
            }))
    }

    /// Keeps one element of a required choice that two rows filled (a MedicationRequest
    /// reached from two orders, one naming its Medication, the other sending none): a
    /// data-absent reason stands only where nothing else does, and of the rest the first
    /// filled wins, as for any element.
    fn one_of(&mut self, node: NodeId, choices: &[&'static str], at: &Path) {
        let doc = &self.doc;
        let filled = || {
            doc.children(node)
                .filter(|&c| choices.contains(&doc.key(c)) && !doc.is_empty(c))
        };
        // Mostly one: settled without a list.
        if filled().nth(1).is_none() {
            return;
        }
        let present: Vec<NodeId> = filled().collect();
        let valued: Vec<NodeId> = present
            .iter()
            .copied()
            .filter(|&c| !self.only_absent_reason(node, c))
            .collect();
        let keep = valued.first().or(present.first()).copied();
        for c in present.into_iter().filter(|&c| Some(c) != keep) {
            let key = self.doc.key(c);
            self.problems.push(format!(
                "{}.{key} left out: FHIR allows one of {}",
                at.text(),
                choices.join(", ")
            ));
            self.doc.empty_out(c);
            // A primitive's extensions (`_occurrenceString`) go with it.
            if let Some(shadow) = self.doc.get_shadow(node, key) {
                self.doc.empty_out(shadow);
            }
        }
    }

    /// True when the element `node` of `owner` holds nothing but a data-absent reason: an
    /// object with that extension alone, or a primitive (`occurrenceString` "unknown") whose
    /// extensions (`_occurrenceString`) say so.
    fn only_absent_reason(&self, owner: NodeId, node: NodeId) -> bool {
        let doc = &self.doc;
        let absent_reason =
            |e: NodeId| doc.get(e, "url").and_then(|u| doc.str_at(u)) == Some(DATA_ABSENT_REASON);
        let says_absent = |n: NodeId| {
            let mut filled = doc.children(n).filter(|&c| !doc.is_empty(c)).peekable();
            filled.peek().is_some()
                && filled.all(|c| {
                    doc.key(c) == "extension"
                        && doc
                            .children(c)
                            .filter(|&e| !doc.is_empty(e))
                            .all(absent_reason)
                })
        };
        match doc.val(node) {
            Val::Object => says_absent(node),
            _ => doc
                .get_shadow(owner, doc.key(node))
                .is_some_and(says_absent),
        }
    }

    /// "Condition made from DG1 (segment 9)": a resource and where it came from, for problems
    /// and errors (no value of the message).
    fn made_from(&self, i: usize) -> String {
        let r = &self.resources[i];
        match self.msg.segment(r.position as usize + 1) {
            Some(seg) => format!(
                "{} made from {} (segment {})",
                r.ty,
                String::from_utf8_lossy(seg.id_bytes()),
                r.position + 1
            ),
            None => r.ty.to_string(),
        }
    }

    fn incomplete_error(&self, i: usize, why: String) -> Error {
        let position = self.resources[i].position;
        let e = Error::new(ErrorKind::MissingRequired, why);
        match self.msg.segment(position as usize + 1) {
            Some(seg) => e.at(Location::segment(position + 1, *seg.id_bytes())),
            None => e,
        }
    }
}

/// Where a backbone entry lies (`Encounter.diagnosis`), put into words only for a problem.
enum Path<'p> {
    Resource(&'p str),
    Member(&'p Path<'p>, &'p str),
}

impl Path<'_> {
    fn text(&self) -> String {
        match self {
            Path::Resource(ty) => (*ty).to_string(),
            Path::Member(owner, name) => format!("{}.{name}", owner.text()),
        }
    }
}
