//! Writing at a row's target: walking an element path (`contact[$].telecom[]`,
//! `extension(url).valueString`) from a resource or data type, making what is missing.

use super::Translator;
use crate::fhir::datetime::ends_before;
use crate::fhir::doc::{NodeId, Span, Val};
use crate::mapping::target::{Step, Target};

impl<'a> Translator<'a, '_> {
    /// Writes a primitive value at the target.
    pub(super) fn write(&mut self, obj: NodeId, target: &'a Target, val: Val<'a>) {
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
                        // Counting stops at the index: a list may be long.
                        let have = self.doc.children(arr).take(*n as usize).count();
                        for _ in have..(*n as usize).saturating_sub(1) {
                            self.doc.push(arr, Val::Str(""));
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
            // An entry chosen by a member's value is filled through a step after it.
            Some(Step::Extension { .. } | Step::Entry { .. }) | None => {}
        }
    }

    /// Whether `steps` end at a Period's `end` and `end` lies before the `start` already there.
    pub(super) fn ends_before_start(&mut self, obj: NodeId, steps: &'a [Step], end: Span) -> bool {
        if !matches!(steps.last(), Some(Step::Member { name, .. }) if name == "end") {
            return false;
        }
        let period = self.parent_of_last(obj, steps);
        self.doc
            .get(period, "start")
            .and_then(|s| self.doc.str_at(s))
            .is_some_and(|start| ends_before(start, self.doc.made(end)))
    }

    /// Whether the list `steps` end at holds nothing (is absent, or holds only empty entries).
    pub(super) fn list_is_empty(&mut self, obj: NodeId, steps: &'a [Step]) -> bool {
        let Some(Step::Member { name, .. }) = steps.last() else {
            return true;
        };
        let parent = self.parent_of_last(obj, steps);
        self.doc
            .get(parent, name)
            .is_none_or(|list| self.doc.is_empty(list))
    }

    /// Walks all but the last step, making what is missing; returns the node that holds the
    /// last element.
    pub(super) fn parent_of_last(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        let n = steps.len().saturating_sub(1);
        self.walk(obj, &steps[..n])
    }

    /// Walks all steps and returns the (object) element they end at.
    pub(super) fn element(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        self.walk(obj, steps)
    }

    #[inline]
    pub(super) fn walk(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
        // Most targets are one element of the resource or data type: nothing to walk.
        if steps.is_empty() {
            return obj;
        }
        self.walk_steps(obj, steps)
    }

    /// The entry of the list `arr` whose member at `key` holds `value` (see [`Step::Entry`]).
    pub(super) fn entry_holding(&self, arr: NodeId, key: &[String], value: &str) -> Option<NodeId> {
        let doc = &self.doc;
        doc.children(arr).find(|&entry| {
            key.iter()
                .try_fold(entry, |at, k| doc.get(at, k))
                .and_then(|n| doc.str_at(n))
                == Some(value)
        })
    }

    #[inline(never)]
    pub(super) fn walk_steps(&mut self, obj: NodeId, steps: &'a [Step]) -> NodeId {
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
                            match index {
                                // `[$]`: the last entry, or a first one.
                                Some(u32::MAX) => match self.doc.last_child(arr) {
                                    Some(last) => last,
                                    None => self.doc.push(arr, Val::Object),
                                },
                                n => {
                                    let n = n.unwrap_or(1) as usize;
                                    // Counting stops at the index: a list may be long.
                                    let have = self.doc.children(arr).take(n).count();
                                    for _ in have..n {
                                        self.doc.push(arr, Val::Object);
                                    }
                                    self.doc.children(arr).nth(n - 1).unwrap_or(arr)
                                }
                            }
                        }
                    } else {
                        self.doc.member(cur, name, Val::Object)
                    }
                }
                Step::Entry { name, key, value } => {
                    let arr = self.doc.member(cur, name, Val::Array);
                    match self.entry_holding(arr, key, value) {
                        Some(e) => e,
                        None => {
                            let e = self.doc.push(arr, Val::Object);
                            // The key's members down to its primitive, which holds the value.
                            let mut at = e;
                            for (i, k) in key.iter().enumerate() {
                                if i + 1 == key.len() {
                                    self.doc.set(at, k, Val::Str(value));
                                } else {
                                    at = self.doc.member(at, k, Val::Object);
                                }
                            }
                            e
                        }
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
                            self.doc.set(e, "url", Val::Str(url));
                            e
                        }
                    }
                }
            };
        }
        cur
    }
}
