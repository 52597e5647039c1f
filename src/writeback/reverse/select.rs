//! Reading a FHIR request by a row's target path: the nodes `name[]`, `coding[1]` or
//! `extension(url)` reach from a resource or element, without allocating for the usual one.

use serde_json::Value as Json;

use super::{Focus, NodeKey};
use crate::mapping::target::Step;

/// The JSON nodes a target selects: a few kept in place, more spilled into a vector. Most
/// targets select no node or one, and the writer selects for every row of every segment, so a
/// vector for each would be most of the allocations of a writeback.
#[derive(Clone)]
pub(super) struct Nodes<'j> {
    len: usize,
    inline: [&'j Json; 4],
    spill: Vec<&'j Json>,
}

static NO_NODE: Json = Json::Null;

impl<'j> Nodes<'j> {
    pub(super) fn new() -> Nodes<'j> {
        Nodes {
            len: 0,
            inline: [&NO_NODE; 4],
            spill: Vec::new(),
        }
    }

    pub(super) fn one(node: &'j Json) -> Nodes<'j> {
        let mut n = Nodes::new();
        n.push(node);
        n
    }

    pub(super) fn push(&mut self, node: &'j Json) {
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

    pub(super) fn extend(&mut self, nodes: impl IntoIterator<Item = &'j Json>) {
        for n in nodes {
            self.push(n);
        }
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&&'j Json) -> bool) {
        let mut kept = Nodes::new();
        for n in self.iter() {
            if keep(n) {
                kept.push(n);
            }
        }
        *self = kept;
    }

    pub(super) fn truncate(&mut self, n: usize) {
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
pub(super) struct NodesIter<'j> {
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
pub(super) struct Select<'a, 'p, 'j> {
    /// Restrict the focused list to its entry.
    pub(super) focus: Option<&'a Focus<'p, 'j>>,
    /// Read every entry where the last indexed step names one (`identifier[2]`): a row whose
    /// defaults filter the entries finds its entry wherever it is.
    pub(super) any_index: bool,
}

/// Follows target steps into a JSON element; `[]` and extensions by URL may give several.
pub(super) fn select<'j>(node: &'j Json, steps: &[Step], how: Select<'_, '_, 'j>) -> Nodes<'j> {
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
                            (false, Some(1)) => next.extend(first_preferred(items)),
                            (false, Some(i)) => next.extend(items.get(*i as usize - 1)),
                            (false, None) => next.extend(items.first()),
                        },
                        _ => next.push(v),
                    }
                }
                Step::Entry { name, key, value } => {
                    next.extend(entries(n, name).iter().find(|e| holds(e, key, value)));
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

/// The entries of the list `name` of `n` (none when it is absent or no list).
fn entries<'j>(n: &'j Json, name: &str) -> &'j [Json] {
    member(n, name)
        .and_then(Json::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether the member of `entry` at `key` is the string `value` (see [`Step::Entry`]).
fn holds(entry: &Json, key: &[String], value: &str) -> bool {
    key.iter()
        .try_fold(entry, |at, k| member(at, k))
        .and_then(Json::as_str)
        == Some(value)
}

/// The first entry of a list, where FHIR lets entries say which comes first whatever their
/// order: the one marked `preferred` (Patient.communication), for the one field that holds one
/// (PID-15, the primary language), else the first.
fn first_preferred(items: &[Json]) -> Option<&Json> {
    items
        .iter()
        .find(|x| x.get("preferred") == Some(&Json::Bool(true)))
        .or(items.first())
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
pub(super) trait Member<'j> {
    fn key(self, name: &str) -> Option<&'j Json>;
}

impl<'j> Member<'j> for &'j Json {
    fn key(self, name: &str) -> Option<&'j Json> {
        member(self, name)
    }
}

/// Every entry of the list the last step names.
pub(super) fn steps_list<'j>(node: &'j Json, steps: &[Step]) -> Vec<&'j Json> {
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
                Step::Entry { name, key, value } => {
                    next.extend(entries(n, name).iter().filter(|e| holds(e, key, value)))
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::target;
    use serde_json::json;

    #[test]
    fn the_first_entry_is_the_preferred_one_where_entries_say_so() {
        let language = target::parse("Patient", "communication[1].language.text").unwrap();
        let second = target::parse("Patient", "communication[2].language.text").unwrap();
        let text = |patient: &Json, t: &target::Target| {
            select(patient, &t.steps, Select::default())
                .first()
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let patient = json!({"resourceType": "Patient", "communication": [
            {"language": {"text": "Spanish"}, "preferred": false},
            {"language": {"text": "English"}, "preferred": true}]});
        assert_eq!(text(&patient, &language).as_deref(), Some("English"));
        // Only the first entry gives way: the others keep their places.
        assert_eq!(text(&patient, &second).as_deref(), Some("English"));
        let unmarked = json!({"resourceType": "Patient", "communication": [
            {"language": {"text": "Spanish"}}, {"language": {"text": "English"}}]});
        assert_eq!(text(&unmarked, &language).as_deref(), Some("Spanish"));
    }

    #[test]
    fn an_entry_chosen_by_a_members_value_is_the_first_that_holds_it() {
        let t = target::parse(
            "DocumentReference",
            "content(attachment.contentType=application/text).attachment.data",
        )
        .unwrap();
        let document = json!({"resourceType": "DocumentReference", "content": [
            {"attachment": {"contentType": "text/hl7v2", "data": "Rg=="}},
            {"attachment": {"data": "WA=="}},
            {"attachment": {"contentType": "application/text", "data": "VA=="}},
            {"attachment": {"contentType": "application/text", "data": "VTI="}}]});
        let found = select(&document, &t.steps, Select::default());
        assert_eq!(found.first().and_then(|v| v.as_str()), Some("VA=="));
        assert_eq!(found.len(), 1);
        let listed = steps_list(&document, &t.steps[..1]);
        assert_eq!(listed.len(), 2);
        let none = json!({"resourceType": "DocumentReference", "content": [
            {"attachment": {"contentType": "text/hl7v2", "data": "Rg=="}}]});
        assert!(select(&none, &t.steps, Select::default()).is_empty());
    }
}
