//! Conditions and the rows of segment and data type maps: which rows apply, the value each
//! reads, and what it becomes (a nested data type map, a resource of its own, a vocabulary's
//! coding).

use std::borrow::Cow;

use super::Translator;
use super::values::{Part, Scope};
use crate::error::{Error, ErrorKind};
use crate::fhir::datetime::Dtm;
use crate::fhir::doc::{NodeId, Val};
use crate::fhir::id::IdHasher;
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{Concept, Conversion, MapRow, Primitive};
use crate::mapping::target::{Step, Target};
use crate::v2::{Charset, Field, Formatting, Path, Value};

impl<'a> Translator<'a, '_> {
    /// Evaluates a row's condition. The fields and components it reads count as mapped (for
    /// `--explain`) only when it holds: a code that no row's condition accepts (a PRT-4 role the
    /// tables do not map, a local PRB-13 status) is then reported instead of being dropped
    /// unseen.
    pub(super) fn applies(
        &mut self,
        c: &Condition,
        part: Option<&mut Scope<'a>>,
    ) -> Result<bool, Error> {
        let read_before = (
            self.consumed.len(),
            self.looked_into.len(),
            self.parts_read.len(),
        );
        let holds = self.holds(c, part)?;
        if !holds {
            self.consumed.truncate(read_before.0);
            self.looked_into.truncate(read_before.1);
            self.parts_read.truncate(read_before.2);
        }
        Ok(holds)
    }

    /// Evaluates a condition against the current segment (and, for `.N`, the current value).
    pub(super) fn holds(
        &mut self,
        c: &Condition,
        mut part: Option<&mut Scope<'a>>,
    ) -> Result<bool, Error> {
        Ok(match c {
            Condition::Valued(o) => self.valued(o, part.as_deref_mut())?,
            Condition::Equals(o, lit) => self
                .operand(o, part.as_deref_mut())?
                .is_some_and(|t| t.trim() == lit),
            Condition::In(o, lits) => self.operand(o, part.as_deref_mut())?.is_some_and(|t| {
                let t = t.trim();
                lits.iter().any(|l| l == t)
            }),
            Condition::LongerThan(o, n) => {
                self.operand_value(o, part.as_deref_mut()).is_some_and(|v| {
                    let raw = v.raw();
                    // Characters, not bytes: UTF-8 continuation bytes start none.
                    let chars = match self.msg.charset() {
                        Charset::Utf8 => raw.iter().filter(|&&b| b & 0xC0 != 0x80).count(),
                        _ => raw.len(),
                    };
                    !v.is_null() && chars > *n
                })
            }
            Condition::IsMultiline(o) => match self.operand_value(o, part.as_deref_mut()) {
                Some(v) if !v.is_empty() && !v.is_null() => {
                    let repeats = self
                        .msg
                        .delimiters()
                        .repetition
                        .is_some_and(|r| v.raw().contains(&r));
                    repeats || v.text_with(Formatting::Render)?.contains(['\n', '\r'])
                }
                _ => false,
            },
            // The first component: a TS carries its precision in the second.
            Condition::IsDate(o) => self.operand(o, part.as_deref_mut())?.is_some_and(|t| {
                let first = t.split('^').next().unwrap_or("").trim();
                Dtm::parse(first).is_ok()
            }),
            Condition::IsInstant(o) => self.operand(o, part.as_deref_mut())?.is_some_and(|t| {
                let first = t.split('^').next().unwrap_or("").trim();
                Dtm::parse(first).is_ok_and(|d| d.makes_instant(self.opts.timezone))
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

    /// True when the operand has text (see [`text_of`](super::values::text_of)), decoding it only when it holds an
    /// escape sequence or non-ASCII bytes: `VALUED` is the most common condition.
    pub(super) fn valued(
        &mut self,
        o: &Operand,
        part: Option<&mut Scope<'a>>,
    ) -> Result<bool, Error> {
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

    pub(super) fn operand(
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
    pub(super) fn operand_value(
        &mut self,
        o: &Operand,
        part: Option<&mut Scope<'a>>,
    ) -> Option<Value<'a>> {
        match o {
            Operand::Relative(nums) => self.descend(part?, nums).map(|p| *p.value()),
            // Read backwards only: a row whose condition names one never runs forward.
            Operand::Element { .. } => None,
            Operand::Path(p) => {
                match (p.repetition, p.component) {
                    (None, None) => self.consume_path(p),
                    (rep, _) => self.consume_repetition(p, rep.unwrap_or(1)),
                }
                let f = self.resolve(p)?;
                let value = match (p.repetition, p.component) {
                    (None, None) => Some(f.value()),
                    _ => f
                        .repetition(p.repetition.unwrap_or(1) as usize)
                        .and_then(|r| Part::Rep(r).descend_path(p))
                        .map(|p| *p.value()),
                };
                if self.opts.explain
                    && p.component.is_some()
                    && let Some(v) = &value
                {
                    self.note_part_read(v, false);
                }
                value
            }
        }
    }

    /// Runs a segment map (`part` is `None`) or a data type map over `part`, into `obj`.
    pub(super) fn run_map(
        &mut self,
        map: usize,
        part: Option<Part<'a>>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let base = self.parts.len();
        if self.opts.explain
            && let Some(p) = part
        {
            self.looked_into.push(p);
        }
        let mut scope = part.map(|p| Scope::new(p, base));
        let done = self.run_rows(map, scope.as_mut(), obj);
        // Also after an error: a bad value is tolerated outside strict mode and the enclosing
        // map goes on with its own parts.
        self.parts.truncate(base);
        done
    }

    pub(super) fn run_rows(
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
    pub(super) fn descend(&mut self, scope: &mut Scope<'a>, nums: &[u32]) -> Option<Part<'a>> {
        let found = match nums.first() {
            Some(&n) if scope.done && n as usize > scope.len => None,
            _ => self.split_to(scope, nums),
        };
        if self.opts.explain {
            self.note_read_below(scope, nums, found);
        }
        found
    }

    /// Records, when explaining, that a row read the part `nums` names below the scope's value
    /// (`found`, when the value has it). A subcomponent read (`1.1`) also reads its component
    /// and looks into it, so that the component's other valued subcomponents are reported.
    /// The value itself (no numbers) is recorded by the map or primitive it is handed to.
    #[inline(never)]
    fn note_read_below(&mut self, scope: &Scope<'a>, nums: &[u32], found: Option<Part<'a>>) {
        if let [n, _] = nums {
            let component = (*n as usize)
                .checked_sub(1)
                .filter(|&i| i < scope.len)
                .and_then(|i| self.parts.get(scope.base + i))
                .copied();
            if let Some(c) = component {
                self.note_part_read(c.value(), false);
                if !matches!(c, Part::Sub(_)) {
                    self.looked_into.push(c);
                }
            }
        }
        if !nums.is_empty()
            && let Some(v) = found
        {
            self.note_part_read(v.value(), false);
        }
    }

    #[inline(never)]
    pub(super) fn split_to(&mut self, scope: &mut Scope<'a>, nums: &[u32]) -> Option<Part<'a>> {
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

    pub(super) fn run_row(
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
            // A source is a field or a component, never a FHIR element (see `Compiler::map_row`).
            Some(Operand::Element { .. }) => Ok(()),
            Some(Operand::Path(p)) => {
                let joined_kind = match row.conversion {
                    Conversion::Primitive(Primitive::JoinedText) => Some(false),
                    Conversion::Primitive(Primitive::TextAsBase64) => Some(true),
                    _ => None,
                };
                match (p.repetition, row.each_repetition) {
                    _ if joined_kind.is_some() => self.consume_path(p),
                    (None, true) => self.consume_path(p),
                    (rep, _) => self.consume_repetition(p, rep.unwrap_or(1)),
                }
                let Some(field) = self.resolve(p) else {
                    return Ok(());
                };
                if let Some(base64) = joined_kind {
                    // Each repetition of TX and FT text is a line: an empty one between lines
                    // is a blank line (a paragraph break) and is kept; those before the first
                    // line or after the last hold nothing.
                    let mut joined = String::new();
                    let mut blank_lines = 0;
                    for r in field.repetitions() {
                        match Part::Rep(r)
                            .descend_path(p)
                            .map(|v| self.texts.of(v.value()))
                            .transpose()?
                            .flatten()
                        {
                            Some(t) => {
                                if !joined.is_empty() {
                                    joined.extend(std::iter::repeat_n('\n', 1 + blank_lines));
                                }
                                blank_lines = 0;
                                joined.push_str(&t);
                            }
                            None => blank_lines += 1,
                        }
                    }
                    if !joined.is_empty() {
                        if base64 {
                            self.add_lines_as_base64(obj, &row.target, &joined);
                        } else {
                            let value = Val::MadeStr(self.doc.make(&joined));
                            self.write(obj, &row.target, value);
                        }
                    }
                    return Ok(());
                }
                if row.conversion == Conversion::Primitive(Primitive::Display)
                    && p.repetition.is_none()
                    && !row.each_repetition
                {
                    if self.opts.explain {
                        self.consume_path(p);
                    }
                    return self.joined_displays(row, p, field, obj);
                }
                match (p.repetition, row.each_repetition) {
                    (None, true) => {
                        for r in field.repetitions() {
                            if self.opts.explain {
                                self.look_into_path(Part::Rep(r), p);
                            }
                            if let Some(v) = Part::Rep(r).descend_path(p) {
                                self.run_value(row, &v, obj)?;
                            }
                        }
                        Ok(())
                    }
                    (n, _) => match field.repetition(n.unwrap_or(1) as usize) {
                        Some(r) => {
                            if self.opts.explain {
                                self.look_into_path(Part::Rep(r), p);
                            }
                            match Part::Rep(r).descend_path(p) {
                                Some(v) => self.run_value(row, &v, obj),
                                None => Ok(()),
                            }
                        }
                        None => Ok(()),
                    },
                }
            }
        }
    }

    /// Writes `lines` as base64 data at `target`, after the lines an earlier segment wrote
    /// there: a note sent one OBX per line (an MDM document's TX) is one attachment whose text
    /// grows by a line per segment. The data there is this row's own, made from text, so it
    /// decodes; other data there (a site's row writing binary data to the same element) is kept
    /// as it is, and the lines are reported.
    fn add_lines_as_base64(&mut self, obj: NodeId, target: &'a Target, lines: &str) {
        let at = self.parent_of_last(obj, &target.steps);
        let earlier = match target.steps.last() {
            Some(Step::Member {
                name, many: false, ..
            }) => self.doc.get(at, name),
            _ => None,
        };
        let Some(node) = earlier.filter(|&n| !self.doc.is_empty(n)) else {
            let value = crate::fhir::base64::encode(lines.as_bytes());
            let value = Val::MadeStr(self.doc.make(&value));
            self.write(obj, target, value);
            return;
        };
        let Some(mut text) = self
            .doc
            .str_at(node)
            .and_then(crate::fhir::base64::decode)
            .and_then(|bytes| String::from_utf8(bytes).ok())
        else {
            self.problems.push(format!(
                "{}: lines not added after data that is no text",
                target.text
            ));
            return;
        };
        text.push('\n');
        text.push_str(lines);
        let value = crate::fhir::base64::encode(text.as_bytes());
        let value = Val::MadeStr(self.doc.make(&value));
        self.doc.replace(node, value);
    }

    /// Writes the displays of the concepts every repetition of `field` translates to through
    /// the row's vocabulary, one line each, as text: the words for a list of codes sent alone
    /// (two races, `2106-3~2028-9`, are `White` and `Asian`), as TX text joins its lines.
    fn joined_displays(
        &mut self,
        row: &'a MapRow,
        p: &Path,
        field: Field<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        // Every ID[display] row names a vocabulary (checked at load).
        let Some(vocab) = row.vocabulary else {
            return Ok(());
        };
        let mut joined = String::new();
        for r in field.repetitions() {
            let Some(v) = Part::Rep(r).descend_path(p) else {
                continue;
            };
            if self.opts.explain {
                self.note_part_read(v.value(), true);
            }
            if let Some(c) = self.vocabulary_concept(vocab, &v)?
                && !c.display.is_empty()
            {
                if !joined.is_empty() {
                    joined.push('\n');
                }
                joined.push_str(&c.display);
            }
        }
        if !joined.is_empty() {
            let value = Val::MadeStr(self.doc.make(&joined));
            self.write(obj, &row.target, value);
        }
        Ok(())
    }

    /// Records, when explaining, that a row reading a component by its path (`ORC-7.4`,
    /// `PID-6.1.1`) read that component and looked into the repetition `rep` (and into the
    /// component, for a subcomponent), so that their valued parts no row read are reported as
    /// those of a value a data type map ran over are. The component counts as read whatever
    /// reads it: a data type map handed it (`OBR-15.1`, a CWE inside an SPS) reads its
    /// subcomponents, not the component itself.
    #[inline(never)]
    fn look_into_path(&mut self, rep: Part<'a>, p: &Path) {
        let Some(c) = p.component else {
            return;
        };
        self.looked_into.push(rep);
        if let Some(component) = rep.child(c) {
            self.note_part_read(component.value(), false);
            if p.subcomponent.is_some() {
                self.looked_into.push(component);
            }
        }
    }

    /// Maps one value of a row's source.
    pub(super) fn run_value(
        &mut self,
        row: &'a MapRow,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let value = v.value();
        if value.is_empty() || value.is_null() {
            return Ok(());
        }
        // A primitive reads the whole value, as does a constant written for it; a data type
        // map reads the parts its rows name.
        if self.opts.explain
            && (row.constant.is_some() || !matches!(row.conversion, Conversion::Map(_)))
        {
            match row.conversion {
                // A MIME type is made of the type of data and the subtype alone: the rest of
                // an ED or RP (the source application ED.1, the application ID RP.2) is read
                // by other rows or reported.
                Conversion::Primitive(Primitive::MediaType { pointer })
                    if row.constant.is_none() =>
                {
                    let shift = u32::from(pointer);
                    for n in [2 + shift, 3 + shift] {
                        if let Some(c) = v.child(n) {
                            self.note_part_read(c.value(), true);
                        }
                    }
                }
                _ => self.note_part_read(value, true),
            }
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
                if let Conversion::Primitive(p) = row.conversion {
                    let text = match p {
                        Primitive::SnQuantity | Primitive::SnRange | Primitive::SnRatio => {
                            self.structured_numeric_text(v)?
                        }
                        _ => self.texts.of(v.first().value())?,
                    };
                    self.keep_original(obj, &row.target, text)?;
                }
                Ok(())
            }
            other => other,
        }
    }

    /// Makes (once per distinct source text) the resource map `m` builds from `source`, the
    /// raw text its id is a hash of (or, for a map with a key, `part`'s valued key components,
    /// when it has any), by running the map over `part` (`None`: the current segment), and
    /// points the row's target at it. A target an earlier row already points somewhere keeps
    /// that reference (the first row to fill an element wins), and then no resource is made:
    /// nothing would refer to it.
    pub(super) fn refer_to_built(
        &mut self,
        row: &'a MapRow,
        m: usize,
        source: &[u8],
        part: Option<Part<'a>>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let at = self.element(obj, &row.target.steps);
        if self
            .doc
            .get(at, "reference")
            .is_some_and(|r| !self.doc.is_empty(r))
        {
            return Ok(());
        }
        let ty: &'a str = &self.plan.maps[m].fhir_type;
        let mut h = IdHasher::new(ty);
        let mut keyed = false;
        if let Some(p) = part {
            // Each valued key component with its place, so that a point of care sent alone
            // (`ER`) and the same one above a room (`ER^12`) hash alike; one with a condition
            // only where the condition holds.
            let plan = self.plan;
            let base = self.parts.len();
            let mut scope = Scope::new(p, base);
            let mut failed = None;
            for k in &plan.maps[m].key {
                let counts = match &k.when {
                    None => true,
                    Some(c) => match self.holds(c, Some(&mut scope)) {
                        Ok(holds) => holds,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    },
                };
                if !counts {
                    continue;
                }
                if let Some(c) = p.descend(&k.nums).filter(|c| !c.value().raw().is_empty()) {
                    for &n in &k.nums {
                        h.add_number(u64::from(n));
                    }
                    h.add_bytes(c.value().raw());
                    keyed = true;
                }
            }
            self.parts.truncate(base);
            if let Some(e) = failed {
                return Err(e);
            }
        }
        // A value none of whose key components is sent (a PL with its description alone) is
        // told apart by all its text, as a map without a key tells values apart.
        if !keyed {
            h.add_bytes(source);
        }
        let id = h.id();
        let existed = self.by_id.contains_key(&id);
        let needs = self.plan.maps[m].requirements;
        let res = self.resource(ty, needs, id, self.group_of_current());
        if !existed {
            self.resources[res].referred_to_only = true;
            let node = self.resources[res].node;
            self.run_map(m, part, node)?;
        } else if self.opts.explain
            && let Some(p) = part
        {
            // The same text made the resource before, and the map's run over it then reported
            // what no row read.
            self.note_part_read(p.value(), true);
        }
        self.doc.set(at, "reference", Val::Urn(id));
        Ok(())
    }

    pub(super) fn apply_map(
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
        if let Some(vocab) = row.vocabulary
            && let Some(concept) = self.vocabulary_concept(vocab, v)?
        {
            self.add_coding(at, concept);
        }
        // A default fills what the map left empty, but not inside an element the map filled in
        // part: a system set beside the sender's own type code (a local CX.5 in OBR-53, whose
        // row defaults the type to PLAC of v2-0203) would claim that code for the system. Which
        // elements the map filled is settled before any default is set, as the defaults of one
        // element (its system and its code) fill it together.
        let mut skip = 0u64;
        for (i, (t, _)) in row.defaults.iter().enumerate().take(64) {
            if self.filled_in_part(at, &t.steps) {
                skip |= 1 << i;
            }
        }
        for (i, (t, value)) in row.defaults.iter().enumerate() {
            if i >= 64 || skip & (1 << i) == 0 {
                self.constant(at, t, value);
            }
        }
        Ok(())
    }

    /// The concept vocabulary `vocab` gives the coded value `v`, noted for `--explain` as
    /// translated or, when `v` holds a code and the vocabulary has none of it, untranslated. The
    /// code (component 1, in the coding system component 3 names) is read first; when the
    /// vocabulary does not translate it (a sender's own `H^High^99LAB`), the alternate code
    /// (component 4) is, in the coding system component 6 names: `^^^H^High^HL70078` beside the
    /// lab's code is the table's H. An alternate code sent without its coding system is not
    /// read: an alternate is in another system than the field's own table, and which one is
    /// unknown.
    pub(super) fn vocabulary_concept(
        &mut self,
        vocab: usize,
        v: &Part<'a>,
    ) -> Result<Option<&'a Concept>, Error> {
        let vocabulary = &self.plan.vocabularies[vocab];
        let code = self.texts.of(v.first().value())?;
        if let Some(code) = &code
            && let Some(concept) =
                vocabulary.translate(code.trim(), self.texts.part(v, 3)?.as_deref())
        {
            self.note_translated(v);
            return Ok(Some(concept));
        }
        let alternate = self.texts.part(v, 4)?;
        if let Some(alternate) = &alternate
            && let Some(system) = self.texts.part(v, 6)?
            && let Some(concept) = vocabulary.translate(alternate, Some(&system))
        {
            self.note_translated(v);
            return Ok(Some(concept));
        }
        if code.is_some() || alternate.is_some() {
            self.note_untranslated(v);
        }
        Ok(None)
    }

    /// True when the element holding the last of `steps` (below `at`) already holds something;
    /// an element directly in `at` never counts, as defaults are there to complete it.
    fn filled_in_part(&self, at: NodeId, steps: &[Step]) -> bool {
        let Some((_, parent)) = steps.split_last() else {
            return false;
        };
        if parent.is_empty() {
            return false;
        }
        let mut cur = at;
        for step in parent {
            let found = match step {
                Step::Member {
                    name,
                    append: false,
                    many,
                    index,
                    ..
                } => match self.doc.get(cur, name) {
                    Some(list) if *many => match index {
                        Some(u32::MAX) => self.doc.children(list).last(),
                        n => self.doc.children(list).nth(n.unwrap_or(1) as usize - 1),
                    },
                    other => other,
                },
                Step::Member { append: true, .. } => None,
                Step::Entry { name, key, value } => self
                    .doc
                    .get(cur, name)
                    .and_then(|list| self.entry_holding(list, key, value)),
                Step::Extension { name, url, append } => match (append, self.doc.get(cur, name)) {
                    (false, Some(list)) => self.doc.children(list).find(|&e| {
                        self.doc.get(e, "url").and_then(|u| self.doc.str_at(u))
                            == Some(url.as_str())
                    }),
                    _ => None,
                },
            };
            match found {
                Some(n) => cur = n,
                None => return false,
            }
        }
        !self.doc.is_empty(cur)
    }

    /// Adds the concept to the codings of the CodeableConcept `at`, unless one with the same
    /// system and code is there already: a vocabulary that keeps an HL7 table's own code would
    /// otherwise repeat the coding the sender gave.
    pub(super) fn add_coding(&mut self, at: NodeId, concept: &'a Concept) {
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
    pub(super) fn coding(&mut self, at: NodeId, concept: &'a Concept) {
        if !concept.system.is_empty() {
            self.doc.set(at, "system", Val::Str(&concept.system));
        }
        self.doc.set(at, "code", Val::Str(&concept.code));
        if !concept.display.is_empty() {
            self.doc.set(at, "display", Val::Str(&concept.display));
        }
    }
}
