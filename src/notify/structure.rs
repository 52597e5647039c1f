//! Matching a message's segments to its structure's groups, as HL7 parsers do: each segment is
//! placed at the next position in the structure where its id may appear, a repeating group
//! starts a new instance when its first segment comes again, and a segment the structure does
//! not expect stays in the current group. The result says, for each segment, which structure
//! node it is and which group instance holds it.

use crate::mapping::plan::Structure;

/// One instance of a group.
#[derive(Debug, Clone)]
pub struct GroupInstance {
    /// The enclosing instance (`None` for the message itself).
    pub parent: Option<usize>,
    /// The structure node this is an instance of (0 for the message).
    pub node: usize,
}

/// Where each segment went.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// Per segment (in message order): its structure node, if the structure has one for it,
    /// and the group instance that holds it.
    pub segments: Vec<(Option<usize>, usize)>,
    /// Group instances; instance 0 is the message.
    pub groups: Vec<GroupInstance>,
    /// Per group instance, the first and last segment (positions from 0) it or an instance
    /// inside it holds; `None` for an instance that holds none. An instance's segments follow
    /// one another: once the structure moves past a group instance, no segment goes back in.
    pub spans: Vec<Option<(u32, u32)>>,
}

struct Level {
    node: usize,
    instance: usize,
    /// Index into the node's children of the current position (`None`: before the first).
    at: Option<usize>,
}

impl Placement {
    /// True when instance `g` lies inside instance `ancestor` (or is it).
    pub fn within(&self, mut g: usize, ancestor: usize) -> bool {
        loop {
            if g == ancestor {
                return true;
            }
            match self.groups[g].parent {
                Some(p) => g = p,
                None => return false,
            }
        }
    }

    /// True when what instance `g` holds belongs with instance `from`: no group on `g`'s way up
    /// is another instance of a group `from` itself lies in. From inside one ORDER_OBSERVATION,
    /// another order's TQ1 (or another PATIENT_RESULT's patient) is not visible.
    pub fn visible(&self, g: usize, from: usize) -> bool {
        // Groups nest a few levels deep: comparing the two chains of ancestors pairwise is
        // cheaper than collecting either.
        let ancestors =
            |start: usize| std::iter::successors(Some(start), |&i| self.groups[i].parent);
        ancestors(g).all(|i| {
            let node = self.groups[i].node;
            ancestors(from).all(|j| self.groups[j].node != node || j == i)
        })
    }
}

/// Places every segment id of a message.
pub fn place(s: &Structure, ids: impl Iterator<Item = [u8; 3]>) -> Placement {
    // Sized once: a segment is placed at most once and opens at most one group instance, and
    // structures nest a few levels deep.
    let count = ids.size_hint().0;
    let mut p = Placement {
        segments: Vec::with_capacity(count),
        groups: Vec::with_capacity(count + 1),
        spans: Vec::new(),
    };
    p.groups.push(GroupInstance {
        parent: None,
        node: 0,
    });
    let mut stack = Vec::with_capacity(8);
    stack.push(Level {
        node: 0,
        instance: 0,
        at: None,
    });
    for id in ids {
        let mut found = find(s, &mut stack, &mut p, id, false);
        if found.is_none() {
            // Out of order: try again from the top of the structure; a segment the structure
            // does not name at all (a Z-segment) leaves the position where it was.
            let saved: Vec<Level> = stack
                .iter()
                .map(|l| Level {
                    node: l.node,
                    instance: l.instance,
                    at: l.at,
                })
                .collect();
            stack.truncate(1);
            stack[0].at = None;
            found = find(s, &mut stack, &mut p, id, true);
            if found.is_none() {
                stack = saved;
            }
        }
        let instance = stack.last().map_or(0, |l| l.instance);
        p.segments.push((found, instance));
    }
    p.spans = vec![None; p.groups.len()];
    for (i, &(_, g)) in p.segments.iter().enumerate() {
        let i = i as u32;
        let mut at = Some(g);
        while let Some(gi) = at {
            match &mut p.spans[gi] {
                // Reached from an instance inside it for this segment already.
                Some((_, last)) if *last == i => break,
                Some((_, last)) => *last = i,
                span @ None => *span = Some((i, i)),
            }
            at = p.groups[gi].parent;
        }
    }
    p
}

fn find(
    s: &Structure,
    stack: &mut Vec<Level>,
    p: &mut Placement,
    id: [u8; 3],
    from_top: bool,
) -> Option<usize> {
    for depth in (0..stack.len()).rev() {
        if from_top && depth > 0 {
            continue;
        }
        let (node, at) = (stack[depth].node, stack[depth].at);
        let children = &s.nodes[node].children;
        // The current child again: a repeating segment, or a new instance of a repeating group.
        if let Some(i) = at {
            let c = &s.nodes[children[i]];
            if c.repeats && c.segment == Some(id) {
                stack.truncate(depth + 1);
                return Some(children[i]);
            }
            if c.repeats && c.segment.is_none() && c.first.contains(&id) {
                stack.truncate(depth + 1);
                return Some(enter(s, stack, p, children[i], id));
            }
        }
        let start = at.map_or(0, |i| i + 1);
        for (j, &c) in children.iter().enumerate().skip(start) {
            let child = &s.nodes[c];
            if child.segment == Some(id) {
                stack.truncate(depth + 1);
                stack[depth].at = Some(j);
                return Some(c);
            }
            if child.segment.is_none() && child.first.contains(&id) {
                stack.truncate(depth + 1);
                stack[depth].at = Some(j);
                return Some(enter(s, stack, p, c, id));
            }
        }
    }
    None
}

/// Opens a new instance of `group` and descends to the segment `id` that starts it.
fn enter(
    s: &Structure,
    stack: &mut Vec<Level>,
    p: &mut Placement,
    group: usize,
    id: [u8; 3],
) -> usize {
    let parent = stack.last().map(|l| l.instance);
    p.groups.push(GroupInstance {
        parent,
        node: group,
    });
    let instance = p.groups.len() - 1;
    stack.push(Level {
        node: group,
        instance,
        at: None,
    });
    for (j, &c) in s.nodes[group].children.iter().enumerate() {
        let child = &s.nodes[c];
        if child.segment == Some(id) {
            if let Some(l) = stack.last_mut() {
                l.at = Some(j);
            }
            return c;
        }
        if child.segment.is_none() && child.first.contains(&id) {
            if let Some(l) = stack.last_mut() {
                l.at = Some(j);
            }
            return enter(s, stack, p, c, id);
        }
    }
    group
}
