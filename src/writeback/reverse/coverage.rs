//! What a writeback read: each JSON node a row took is marked, so that `--explain` can list
//! the elements of the request that no row read, and a segment left out takes its marks back.

use serde_json::Value as Json;

use super::fields::primitive_text;
use super::select::{Member, Select, select};
use super::{Context, LaterLink, NodeKey, Writer};
use crate::mapping::plan::{Link, MapRow, MessageRow};
use crate::mapping::target::Target;

impl<'p: 'j, 'j> Writer<'p, 'j> {
    /// Marks an element as read. Only `--explain` asks what was read, so without it nothing
    /// is kept.
    pub(super) fn mark(&mut self, v: &Json) {
        if self.explain && self.consumed.insert(v as NodeKey) {
            self.consumed_log.push(v as NodeKey);
        }
    }

    /// Forgets what was read since `checkpoint` (a segment left out after all).
    pub(super) fn unmark_since(&mut self, checkpoint: usize) {
        for k in self.consumed_log.drain(checkpoint..) {
            self.consumed.remove(&k);
        }
    }

    /// Marks an element and everything in it as read (a Coding read whole by `ID[Coding]`).
    pub(super) fn mark_all(&mut self, v: &Json) {
        if !self.explain {
            return;
        }
        self.mark(v);
        match v {
            Json::Object(m) => m.values().for_each(|x| self.mark_all(x)),
            Json::Array(a) => a.iter().for_each(|x| self.mark_all(x)),
            _ => {}
        }
    }

    /// A constant row says what a matching element holds (`type.coding[1].system` is v2-0203);
    /// an element holding exactly that has been accounted for.
    pub(super) fn consume_constant(&mut self, row: &'p MapRow, json: &'j Json) {
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

    /// Every leaf of the request no row read, as a FHIR path in the request
    /// (`Bundle.entry[2].resource.class.code`, or `Patient.gender` for a resource sent alone,
    /// as error records name them). A resource of which nothing was read, one the message has
    /// no place for (a second Encounter in an A01), is named once, whole.
    pub(super) fn unmapped(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.req.resources {
            // A resource is marked when a segment is written from it; that says nothing about
            // its parts, so its members start unread.
            let Some(members) = r.json.as_object() else {
                continue;
            };
            let first = out.len();
            let mut path = r.path.clone();
            for (k, x) in members {
                // Contained resources are resources of the request: named on their own.
                if k == "resourceType" || k == "id" || k == "contained" || k.starts_with('_') {
                    continue;
                }
                path.push('.');
                path.push_str(k);
                self.leaves(x, &mut path, &mut out, false);
                path.truncate(r.path.len());
            }
            if out.len() > first && !self.any_read(r.json) {
                out.truncate(first);
                out.push(r.path.clone());
            }
        }
        out
    }

    /// Marks the references that tie resource `i`, placed for `row`, to the resources placed
    /// before it: the message structure carries them (its `subject`, the `result` entry of its
    /// report, the report's `basedOn` naming it).
    pub(super) fn mark_links(&mut self, i: usize, row: &'p MessageRow, ctx: &Context) {
        if !self.explain {
            return;
        }
        self.placed_in[i] = Some(ctx.group);
        for link in &row.links {
            match link {
                Link::Outgoing { target, to, sole } => {
                    if self.get(ctx, to).is_none() {
                        self.later_links.push(LaterLink {
                            owner: i,
                            target,
                            to,
                            sole: *sole,
                            group: ctx.group,
                        });
                    }
                    if let Some(other) = self.get(ctx, to) {
                        self.mark_references_to(i, target, other);
                    }
                }
                Link::Incoming { from, target, .. } => {
                    if let Some(owner) = self.get(ctx, from) {
                        self.mark_references_to(owner, target, i);
                    }
                }
            }
        }
        let ty = self.ty(i);
        for b in ctx.bound.clone() {
            let bty = self.ty(b);
            for node in &self.structure.nodes {
                for brow in node.rows.iter().filter(|x| x.resource == bty) {
                    for link in &brow.links {
                        if let Link::Outgoing { target, to, .. } = link
                            && to == ty
                        {
                            self.mark_references_to(b, target, i);
                        }
                    }
                }
            }
        }
    }

    /// Marks the references to a resource written after their owner (an Observation's
    /// Specimen, whose SPM follows its order's results) as the forward direction would make
    /// them again: the nearest resources of the type written are those in the closest group
    /// instance enclosing the owner's that holds any (the order whose results the owner is
    /// one of), and a `?=` link names one only when it is the only one there. A reference to
    /// any other resource, or to one of an order with two, stays unread and is reported.
    pub(super) fn settle_later_links(&mut self) {
        let links = std::mem::take(&mut self.later_links);
        for link in &links {
            if !self.used[link.owner] || self.placed_in[link.owner].is_none() {
                continue;
            }
            let mut level = Some(link.group);
            while let Some(g) = level {
                // Another instance of a repeating group the owner lies in (the next order) is
                // never searched.
                let own_child = self.child_of(g, link.group);
                let near: Vec<usize> = (0..self.req.resources.len())
                    .filter(|&x| {
                        self.used[x]
                            && self.ty(x) == link.to
                            && self.placed_in[x].is_some_and(|at| {
                                self.encloses(g, at)
                                    && match (own_child, self.child_of(g, at)) {
                                        (Some(a), Some(b)) => {
                                            a == b || self.group_node(a) != self.group_node(b)
                                        }
                                        _ => true,
                                    }
                            })
                    })
                    .collect();
                if !near.is_empty() {
                    if !link.sole || near.len() == 1 {
                        for x in near {
                            self.mark_references_to(link.owner, link.target, x);
                        }
                    }
                    break;
                }
                level = self.group_outer.get(&g).map(|&(o, _)| o);
            }
        }
    }

    /// True when group instance `outer` is `inner` or encloses it.
    fn encloses(&self, outer: usize, inner: usize) -> bool {
        let mut at = Some(inner);
        while let Some(g) = at {
            if g == outer {
                return true;
            }
            at = self.group_outer.get(&g).map(|&(o, _)| o);
        }
        false
    }

    /// The group instance directly inside `outer` that is or encloses `inner`; `None` when
    /// `inner` is `outer` itself or lies outside it.
    fn child_of(&self, outer: usize, inner: usize) -> Option<usize> {
        let mut at = inner;
        while let Some(&(o, _)) = self.group_outer.get(&at) {
            if o == outer {
                return Some(at);
            }
            at = o;
        }
        None
    }

    /// The structure node of a group instance.
    fn group_node(&self, instance: usize) -> Option<usize> {
        self.group_outer.get(&instance).map(|&(_, node)| node)
    }

    /// Marks the entries of resource `owner`'s `target` that point at resource `i`.
    pub(super) fn mark_references_to(&mut self, owner: usize, target: &Target, i: usize) {
        let (json, from) = (
            self.req.resources[owner].json,
            self.req.resources[owner].scope,
        );
        for v in select(json, &target.steps, Select::default()) {
            if v.key("reference")
                .and_then(Json::as_str)
                .is_some_and(|x| self.req.resources[i].is(x, from))
            {
                self.mark_all(v);
            }
        }
    }

    /// True when a row read `v` or anything in it.
    pub(super) fn any_read(&self, v: &Json) -> bool {
        self.consumed.contains(&(v as NodeKey))
            || match v {
                Json::Object(m) => m.values().any(|x| self.any_read(x)),
                Json::Array(a) => a.iter().any(|x| self.any_read(x)),
                _ => false,
            }
    }

    /// The FHIR path of a node of the request (`Patient.birthDate`, `Bundle.entry[1].resource
    /// …` as the request names its resources), for an error about it.
    pub(super) fn path_of(&self, node: &Json) -> String {
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

    pub(super) fn leaves(&self, v: &Json, path: &mut String, out: &mut Vec<String>, inside: bool) {
        let key = v as NodeKey;
        let lost = (self.unconverted.contains(&key) && !self.converted.contains(&key))
            || (self.displaced.contains(&key) && !self.landed.contains(&key));
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
