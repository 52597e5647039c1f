//! Rows read right to left: the FHIR values a segment map's rows name become fields,
//! repetitions and components, through the data type maps and vocabularies backwards, and
//! what FHIR kept as original text goes back as sent.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::select::{Member, Nodes, Select, select};
use super::{Focus, NodeKey, Piece, Slot, Writer};
use crate::error::{Error, ErrorKind};
use crate::fhir::base64;
use crate::fhir::datetime::{DTM_FRACTION_DIGITS, Dtm, cut_fraction, fhir_to_dtm};
use crate::fhir::decimal;
use crate::mapping::condition::{Condition, Operand};
use crate::mapping::plan::{Conversion, Direction, ElementMap, MapRow, Plan, Primitive};
use crate::mapping::target::{Step, Target};
use crate::v2::Path;
use crate::v2::{Delimiters, spec};
use crate::writeback::out::{Rep, Segment as OutSegment, Text, written_chars};
use crate::writeback::version::Version;

impl<'p: 'j, 'j> Writer<'p, 'j> {
    /// Fills a segment from resource `i` with the segment map's rows, right to left.
    pub(super) fn fill(
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
        let from = std::mem::replace(&mut self.from, self.req.resources[i].scope);
        let result = self.fill_rows(seg, id, m, json, focus);
        self.from = from;
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
        if result.is_ok() {
            self.fit_varies(seg, id);
        }
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
            if let (Some(Operand::Relative(nums)), Conversion::Map(inner)) =
                (&row.source, row.conversion)
                && nums.is_empty()
            {
                // The whole segment from a list entry (`component[]`, the entry a focus names):
                // the map of this segment fills it from the entry as from the resource.
                let how = Select {
                    focus,
                    any_index: false,
                };
                for entry in select(json, &row.target.steps, how) {
                    self.mark(entry);
                    self.fill_rows(seg, id, &self.plan.maps[inner], entry, None)?;
                }
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
            // A constant whose place an earlier row filled with another (OBX-2 SN for a range
            // with a bound, before ST for its original text) is not written: the element that
            // would have chosen it is not read by this row.
            if let Some(c) = &row.constant {
                let at: &[u32] = if base.is_empty() { &[1] } else { &base };
                let there = self
                    .b
                    .segment(seg)
                    .rep(field, start_rep)
                    .and_then(|r| r.get(at));
                if there.is_some_and(|t| t != c.as_str()) {
                    continue;
                }
            }
            for v in values.iter() {
                self.mark(v);
            }
            if values.is_empty() {
                // A date the forward direction kept only as its original text (no zone to give
                // its time an offset, or a Period's end before its start) goes back as sent.
                if let Some(mut orig) = original_date(json, row) {
                    self.fit_fraction(&mut orig, |w| {
                        format!("{}.{}", w.path_of(json), row.target.text)
                    });
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
                // CRLF and a lone CR end a line as LF does: text from Windows or old Mac
                // systems has the same lines.
                let lines: Vec<Text<'j>> = if max.is_some_and(|m| split_lines(&text).count() > m) {
                    // More lines than repetitions allowed: one value, its line breaks
                    // escaped.
                    if text.contains('\r') {
                        vec![Cow::Owned(
                            split_lines(&text).collect::<Vec<_>>().join("\n"),
                        )]
                    } else {
                        vec![text]
                    }
                } else {
                    match text {
                        Cow::Borrowed(t) => split_lines(t).map(Cow::Borrowed).collect(),
                        Cow::Owned(t) => split_lines(&t).map(|l| Cow::Owned(l.into())).collect(),
                    }
                };
                for (k, line) in lines.into_iter().enumerate() {
                    let mut rep = self.current_rep(seg, field, start_rep + k);
                    set_in(&mut rep, if base.is_empty() { &[1] } else { &base }, line);
                    self.put_rep(seg, field, start_rep + k, rep);
                }
                continue;
            }
            // A row adding repetitions after an earlier row's leaves no gap for an entry that
            // writes nothing (a detailed race table 0005 has no code for, after its categories).
            let closes_gaps = row.each_repetition && p.repetition.is_none();
            let mut k = 0;
            for v in values {
                let mut rep = self.current_rep(seg, field, start_rep + k);
                if let Some(c) = &row.constant {
                    set_in(
                        &mut rep,
                        if base.is_empty() { &[1] } else { &base },
                        Cow::Borrowed(c.as_str()),
                    );
                } else {
                    let f = self.version.field(id, p.field);
                    let slot = f.ty.filter(|&t| t != "varies").map(|ty| Slot {
                        ty,
                        component: false,
                    });
                    let saved = std::mem::replace(&mut self.slot, slot);
                    let result = self.value_into(row, v, json, &mut rep, &base);
                    self.slot = saved;
                    result?;
                    if matches!(row.conversion, Conversion::Primitive(Primitive::Date(_)))
                        && base.len() <= 1
                    {
                        let f = self.version.field(id, p.field);
                        let ty = match base.first() {
                            None => f.ty,
                            Some(&c) => f.ty.and_then(|t| self.version.component(t, c)),
                        };
                        if ty == Some("DT") {
                            let seg = String::from_utf8_lossy(id);
                            let at = match base.first() {
                                None => format!("{seg}-{field}"),
                                Some(c) => format!("{seg}-{field}.{c}"),
                            };
                            let nums: &[u32] = if base.is_empty() { &[1] } else { &base };
                            self.date_only(&mut rep, nums, v, &at);
                        }
                    }
                    self.defaults_read(row, v);
                    if takes_entries(row) {
                        self.taken.insert(v);
                    }
                }
                fit_to_version(id, field, &self.version, &mut rep);
                if !(closes_gaps && rep.is_empty()) {
                    self.put_rep(seg, field, start_rep + k, rep);
                    k += 1;
                }
            }
        }
        Ok(())
    }

    /// True when the HL7 version written defines the field: a later version's field (NTE-5,
    /// entered by, came with 2.6) is left out, and what it would carry stays unmapped.
    pub(super) fn defined(&self, id: &[u8; 3], field: u32) -> bool {
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
    pub(super) fn matching(
        &self,
        row: &'p MapRow,
        json: &'j Json,
        focus: Option<&Focus<'p, 'j>>,
    ) -> Nodes<'j> {
        let how = Select {
            focus,
            any_index: !row.defaults.is_empty() || !row.requires.is_empty(),
        };
        let mut values = select(json, &row.target.steps, how);
        if takes_entries(row) {
            values.retain(|v| !self.taken.contains(&(*v as NodeKey)));
        }
        // A default is a filter where the entry says otherwise, not where it says nothing:
        // forward, the row would have set it. A row that runs backwards only sets nothing, so
        // its pairs say what an entry must hold (`system=phone` on the mobile phone's row: a
        // ContactPoint without a system is not assumed to be a phone).
        if !row.defaults.is_empty() {
            let absent_ok = row.direction != Direction::Reverse;
            values.retain(|v| holds_constants(v, &row.defaults, absent_ok));
        }
        // An entry that lacks what the field's own rows give it (a performer whose function
        // is not the technician's, or who has none) is not the field's.
        if !row.requires.is_empty() {
            values.retain(|v| holds_constants(v, &row.requires, false));
        }
        if let Conversion::Map(m) = row.conversion {
            let map = &self.plan.maps[m];
            if map.creates_resource {
                values.retain(|v| match v.key("reference").and_then(Json::as_str) {
                    Some(r) => self
                        .req
                        .resolve(r, self.from)
                        .is_some_and(|i| self.ty(i) == map.fhir_type),
                    None => named_only(map, v).is_some(),
                });
            }
        }
        values
    }

    /// Takes a repetition of a field out of a segment, to add to it and put it back.
    fn current_rep(&mut self, seg: usize, field: usize, rep: usize) -> Rep<'j> {
        self.b.segment_mut(seg).take_rep(field, rep)
    }

    pub(super) fn put_rep(&mut self, seg: usize, field: usize, rep: usize, value: Rep<'j>) {
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
                if let Some(n) = unwritable_number(v) {
                    return Err(Error::new(
                        ErrorKind::Unrepresentable,
                        format!(
                            "a decimal whose exponent is beyond ±{} cannot be an HL7 v2 number, which has no exponent",
                            decimal::MAX_EXPONENT
                        ),
                    )
                    .at_fhir_path(self.path_of(n)));
                }
                let piece = self.primitive_back(row, p, v, owner);
                // An element converted whole (a range, a structured numeric) is read only when
                // it converted: a range open at one end is not written, and is reported.
                if v.is_object() && piece.is_some() {
                    if p == Primitive::RangeText {
                        self.mark_limits(v);
                    } else if p == Primitive::SnRange && range_comparator(v).is_none() {
                        // Original text that is not the range's comparator form says what no
                        // SN component holds.
                        self.mark_all_but_original_text(v);
                    } else {
                        self.mark_all(v);
                    }
                }
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
                    // takes it (a coding system's URL is not: the concept's row reads it), as is
                    // a MIME type whose top-level type none does.
                    if self.explain
                        && matches!(p, Primitive::Code | Primitive::MediaType { .. })
                        && row.vocabulary.is_some()
                    {
                        let key = v as NodeKey;
                        match piece {
                            Some(_) => self.converted.insert(key),
                            None => self.unconverted.insert(key),
                        };
                    }
                }
                // Two elements one field holds (an allergy's criticality and its reaction's
                // severity, both AL1-4): the first written stays, and an element that found its
                // place taken by other text is not written, so is listed unless written elsewhere.
                if self.explain
                    && leaf
                    && let Some(Piece::Text(t)) = &piece
                {
                    let at: &[u32] = if base.is_empty() { &[1] } else { base };
                    let key = v as NodeKey;
                    // A date a more precise time already there holds (a birth date beside the
                    // birth time, PID-7) is said by it.
                    let said = |there: &str| {
                        there == t.as_ref()
                            || (matches!(p, Primitive::Date(_)) && there.starts_with(t.as_ref()))
                    };
                    match rep.get(at) {
                        Some(there) if !said(there) => self.displaced.insert(key),
                        _ => self.landed.insert(key),
                    };
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
                // A resource reached through a reference resolves its own references.
                let mut from = self.from;
                let element = if map.creates_resource {
                    let Some(reference) = v.key("reference").and_then(Json::as_str) else {
                        if let Some((component, name)) = named_only(map, v) {
                            let at: Vec<u32> = match base.first() {
                                None => vec![component],
                                Some(&c) => vec![c, component],
                            };
                            set_in(rep, &at, Cow::Borrowed(name));
                            self.mark(v);
                            for k in ["display", "type"] {
                                if let Some(x) = v.get(k) {
                                    self.mark(x);
                                }
                            }
                        }
                        return Ok(());
                    };
                    match self.req.resolve(reference, self.from) {
                        Some(i) => {
                            from = self.req.resources[i].scope;
                            self.req.resources[i].json
                        }
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
                // The map fills the value written at `base`: the slot itself, or its component.
                let slot = match (self.slot, base.first()) {
                    (None, _) => None,
                    (Some(s), None) => Some(s),
                    (Some(s), Some(&c)) if !s.component && self.version.composite(s.ty) => {
                        self.version.component(s.ty, c).map(|ty| Slot {
                            ty,
                            component: true,
                        })
                    }
                    (Some(_), Some(_)) => None,
                };
                let saved_slot = std::mem::replace(&mut self.slot, slot);
                let saved_from = std::mem::replace(&mut self.from, from);
                self.depth += 1;
                let result = self.map_back(map, element, &mut inner);
                self.depth -= 1;
                self.from = saved_from;
                self.slot = saved_slot;
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
            if let Some(back) = self.in_version(plan.vocabularies[vocab].back(Some(system), code)) {
                set_in(rep, &[1], Cow::Borrowed(&back.code));
                set_in(rep, &[2], Cow::Borrowed(&back.display));
                set_in(rep, &[3], Cow::Borrowed(&back.system));
                self.mark(c);
                // The table's code says what the coding said, in a field whose type has no
                // room for a display or a system (a v2.5.1 OBX-8 is an IS) as in one that has.
                for k in ["system", "display"] {
                    if let Some(x) = c.get(k) {
                        self.mark(x);
                    }
                }
                // Its code is written, translated: the rows of the map that find the
                // component taken by the translation lose nothing.
                if self.explain
                    && let Some(x) = c.get("code")
                {
                    self.mark(x);
                    self.landed.insert(x as NodeKey);
                }
                return;
            }
        }
    }

    /// Runs a data type map right to left over one element.
    pub(super) fn map_back(
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
            // A component the value's type lacks in the version written (XTN.18, the rank,
            // before v2.6; CWE.9, the text, in a v2.5.1 CE) is not written, and what it would
            // carry is left for a later row (CE.2 takes a text without a code) or reported.
            if !self.slot_has(nums) {
                if self.explain {
                    self.report_coding_without_room(row, element, nums);
                }
                continue;
            }
            let values = self.matching(row, element, None);
            let Some(v) = values.first().copied() else {
                continue;
            };
            // A code a vocabulary already translated back (`concept_back`) is accounted for.
            if rep.get(nums).is_none() && self.code_of_unnamed_system(map, row, element) {
                if self.explain {
                    self.report_unnamed_system(map, row, element, nums);
                }
                continue;
            }
            if row.conversion == Conversion::Primitive(Primitive::Words) {
                self.words_into(&values, rep, nums);
                continue;
            }
            // Text for a component HL7 types as a number (XTN.7, the local number, an NM before
            // v2.7): a FHIR string may hold what no NM can (`555-8473`, as a sender wrote it),
            // and is left out rather than written as an invalid number or changed into a valid one.
            if row.conversion == Conversion::Primitive(Primitive::Text)
                && let Some(text) = v.as_str()
                && let Some(ty) = self.component_type(map, nums)
                && !fits_numeric_type(ty, text)
            {
                if self.explain {
                    let at = dotted(nums);
                    let version = self.version.name();
                    let path = self.path_of(v);
                    self.problem_once(format!(
                        "{path}: {}.{at} is an {ty} in HL7 v{version}, and this text is no {ty}; it is left out",
                        map.v2
                    ));
                }
                continue;
            }
            // The system of a code left out above (a BCP 47 `en-US` is no ISO639 code) would
            // name a code that is not there.
            // So would a system HL7 has no name for: nothing is written for it, and it stays
            // unread.
            if row.conversion == Conversion::Primitive(Primitive::CodeSystem)
                && is_coded(map)
                && let Some(url) = v.as_str()
            {
                let code = coding_of(row, element, "system")
                    .and_then(|c| c.get("code"))
                    .and_then(Json::as_str);
                match self.system_name(url) {
                    None => continue,
                    Some(name) if code.is_some_and(|code| !system_holds(&name, code)) => continue,
                    Some(_) => {}
                }
            }
            self.mark(v);
            if let Some(system) = self.system_said_by_component(map, row, element) {
                self.mark(system);
            }
            if let Some(constant) = &row.constant {
                // `1,,type.coding[1].code,,,SS`: the constant says what the element is, not
                // what the component holds; nothing to write back. A `reverse` row's constant
                // is HL7 text, written where the element is present (`3,,system,,,CP,reverse`:
                // a mobile phone is a cellular phone) unless an earlier row wrote there.
                if row.direction == Direction::Reverse {
                    set_in(rep, nums, Cow::Borrowed(constant.as_str()));
                    if self.explain {
                        self.converted.insert(v as NodeKey);
                    }
                }
                continue;
            }
            if derived_elsewhere(map, row, v, rep) {
                self.taken.insert(v);
                continue;
            }
            self.value_into(row, v, element, rep, nums)?;
            if matches!(row.conversion, Conversion::Primitive(Primitive::Date(_)))
                && self.component_type(map, nums) == Some("DT")
            {
                let at = dotted(nums);
                self.date_only(rep, nums, v, &format!("{}.{at}", map.v2));
            }
            self.defaults_read(row, v);
            if takes_entries(row) {
                self.taken.insert(v);
            }
        }
        if self.explain {
            self.report_codings_beyond(map, element);
        }
        Ok(())
    }

    /// Lists, when explaining, each coding after the last one the map's rows write (a fourth
    /// coding: a CWE has room for three), naming its system, not its code; a coding a
    /// vocabulary translated back is accounted for.
    fn report_codings_beyond(&mut self, map: &ElementMap, element: &'j Json) {
        let Some(room) = map
            .rows
            .iter()
            .filter(|r| r.direction.reverse())
            .filter_map(|r| match r.target.steps.first() {
                Some(Step::Member {
                    name,
                    index: Some(n),
                    ..
                }) if name == "coding" && *n != u32::MAX => Some(*n as usize),
                _ => None,
            })
            .max()
        else {
            return;
        };
        let Some(codings) = element.get("coding").and_then(Json::as_array) else {
            return;
        };
        for coding in codings.iter().skip(room) {
            if coding.get("code").is_none() || self.any_read(coding) {
                continue;
            }
            let path = self.path_of(coding);
            let of = code_of_system(coding);
            self.problem_once(format!(
                "{path}: an HL7 v2 coded value ({}) holds at most {room} codings; {of}, is left out",
                map.v2
            ));
        }
    }

    /// Marks what a reference range written as OBX-7 says: its limits, in the value's unit.
    /// Its meaning (`type`), the population it applies to and an age range have no place in
    /// OBX-7, and stay unread.
    /// Marks an element and everything in it as read, but its `originalText` extension.
    fn mark_all_but_original_text(&mut self, v: &'j Json) {
        let Some(object) = v.as_object() else {
            return;
        };
        self.mark(v);
        let kept = original_entry(v);
        for (key, x) in object {
            match (key.as_str(), x.as_array()) {
                ("extension", Some(entries)) => {
                    self.mark(x);
                    for e in entries
                        .iter()
                        .filter(|e| !kept.is_some_and(|k| std::ptr::eq(k, *e)))
                    {
                        self.mark_all(e);
                    }
                }
                _ => self.mark_all(x),
            }
        }
    }

    fn mark_limits(&mut self, range: &'j Json) {
        self.mark(range);
        for limit in ["low", "high"] {
            let Some(q) = range.get(limit) else {
                continue;
            };
            self.mark(q);
            for k in ["value", "unit", "system", "code"] {
                if let Some(x) = q.get(k) {
                    self.mark(x);
                }
            }
        }
    }

    /// Writes the list entries `values` (those no earlier row took) into one component, joined
    /// by single spaces: HL7 gives the second and further given names one component (XPN.3),
    /// so a third given name is written there, not lost.
    fn words_into(&mut self, values: &[&'j Json], rep: &mut Rep<'j>, nums: &[u32]) {
        let mut words: Vec<&'j str> = Vec::with_capacity(values.len());
        for &v in values {
            let Some(text) = v.as_str().map(str::trim) else {
                continue;
            };
            if text.is_empty() || self.taken.contains(&(v as NodeKey)) {
                continue;
            }
            words.push(text);
            self.mark(v);
            self.taken.insert(v);
        }
        let text = match words.as_slice() {
            [] => return,
            [one] => Cow::Borrowed(*one),
            more => Cow::Owned(more.join(" ")),
        };
        set_in(rep, nums, text);
    }

    /// True for the row writing a coding's code into a coded value (CWE.1, CWE.4) when the
    /// coding's system has no HL7 name (table 0396) to go beside it: without one the receiver
    /// reads the code as one of the field's own table (a FHIR discharge disposition `home` in
    /// PV1-36 as a code of table 0112; an EHR's local code as a table code). Such a code is
    /// left out and reported; its text still goes. A coding without a system says no more
    /// than a code alone, and goes as it is.
    ///
    /// A component that holds a code alone (CX.5, XCN.13, XON.7) has no room for a system at
    /// all: the receiver reads whatever it holds as a code of the component's own table. The
    /// only system that fits is the one a vocabulary of a row reading that component names
    /// (IdentifierType: v2-0203); a coding of any other system is left out and reported.
    fn code_of_unnamed_system(&self, map: &ElementMap, row: &MapRow, element: &'j Json) -> bool {
        let Some(system) = coding_system(row, element).and_then(Json::as_str) else {
            return false;
        };
        if is_coded(map) {
            // In a field of a simple type (PV1-4 and PV1-36 are IS before v2.7) the code goes
            // alone, with no system beside it, and is read as a code of the field's table:
            // only a code of an HL7 table fits. A SNOMED encounter type is no table 0007 code.
            if self.slot.is_some_and(|s| !self.version.composite(s.ty)) {
                return !system.starts_with("http://terminology.hl7.org/CodeSystem/v2-");
            }
            let code = coding_of(row, element, "code")
                .and_then(|c| c.get("code"))
                .and_then(Json::as_str)
                .unwrap_or("");
            return self
                .system_name(system)
                .is_none_or(|name| !system_holds(&name, code));
        }
        !self.component_names_system(map, row, system)
    }

    /// Lists, when explaining, the coding whose code [`Writer::code_of_unnamed_system`] left
    /// out, with its system and why: the system, a URL naming a code system, says what was
    /// lost; the code and its display, which may say something of the patient, are not given.
    fn report_unnamed_system(
        &mut self,
        map: &ElementMap,
        row: &MapRow,
        element: &'j Json,
        nums: &[u32],
    ) {
        let Some(coding) = coding_of(row, element, "code") else {
            return;
        };
        let Some(system) = coding.get("system").and_then(Json::as_str) else {
            return;
        };
        let path = self.path_of(coding);
        let version = self.version.name();
        let at = dotted(nums);
        let why = if !is_coded(map) {
            format!(
                "{}.{at} holds a code of its own table alone, which is not {system}",
                map.v2
            )
        } else if let Some(slot) = self.slot.filter(|s| !self.version.composite(s.ty)) {
            format!(
                "an HL7 v{version} {} holds a code of its HL7 table alone, and {system} is no HL7 table",
                slot.ty
            )
        } else {
            match self.system_name(system) {
                Some(name) => format!("its code is no code of {name}, HL7's name for {system}"),
                None => format!(
                    "HL7 v2 names no coding system {system} (an HL7 table or one of table 0396)"
                ),
            }
        };
        self.problem_once(format!("{path}: {why}; the code is left out"));
    }

    /// Lists, when explaining, a coding whose code the value's data type has no component for
    /// in the version written (a third coding in a v2.5.1 CE), naming its system, not its code.
    fn report_coding_without_room(&mut self, row: &MapRow, element: &'j Json, nums: &[u32]) {
        let (Some(coding), Some(slot), Some(&c)) =
            (coding_of(row, element, "code"), self.slot, nums.first())
        else {
            return;
        };
        if coding.get("code").and_then(Json::as_str).is_none() {
            return;
        }
        let path = self.path_of(coding);
        let version = self.version.name();
        let of = code_of_system(coding);
        self.problem_once(format!(
            "{path}: an HL7 v{version} {} has no component {c} for this coding; {of}, is left out",
            slot.ty
        ));
    }

    /// Adds a problem unless the same was listed already (a concept written twice, as OBR-4
    /// and OBX-3).
    fn problem_once(&mut self, problem: String) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    /// The data type of the component (or subcomponent) `nums` of the map's data type in the
    /// version written.
    fn component_type(&self, map: &ElementMap, nums: &[u32]) -> Option<&'static str> {
        let name = self.version.name();
        match nums {
            [c] => spec::component_type_in(&map.v2, *c as usize, name),
            [c, s] => spec::component_type_in(&map.v2, *c as usize, name)
                .and_then(|ct| spec::component_type_in(ct, *s as usize, name)),
            _ => None,
        }
    }

    /// True when the value a data type map fills (see [`Slot`]) has the component (or the
    /// component and subcomponent) `nums` in the version written; the whole value (`0`) always.
    fn slot_has(&self, nums: &[u32]) -> bool {
        let Some(slot) = self.slot else {
            return true;
        };
        let Some(&c) = nums.first() else {
            return true;
        };
        if !self.version.composite(slot.ty) {
            return c == 1 && nums.get(1).is_none_or(|&s| s == 1);
        }
        let Some(ct) = self.version.component(slot.ty, c) else {
            return false;
        };
        match nums.get(1) {
            None | Some(1) => true,
            Some(&s) => {
                !slot.component
                    && self.version.composite(ct)
                    && self.version.component(ct, s).is_some()
            }
        }
    }

    /// True when a vocabulary of a row reading the same component as `row` translates codes of
    /// `system`: the code system of the component's own table.
    fn component_names_system(&self, map: &ElementMap, row: &MapRow, system: &str) -> bool {
        map.rows.iter().any(|r| {
            r.source == row.source
                && r.direction.reverse()
                && r.vocabulary
                    .is_some_and(|v| self.plan.vocabularies[v].reverse.contains_key(system))
        })
    }

    /// The system of the coding whose code `row` writes into a component that holds a code
    /// alone, when it is the code system of the component's own table: the code going back
    /// says it.
    fn system_said_by_component(
        &self,
        map: &ElementMap,
        row: &MapRow,
        element: &'j Json,
    ) -> Option<&'j Json> {
        let system = coding_system(row, element)?;
        if is_coded(map) {
            // A field of a simple type (a v2.5.1 PV1-36 is an IS) holds a code of its HL7
            // table alone: the code going back says its table.
            let simple = self.slot.is_some_and(|s| !self.version.composite(s.ty));
            return (simple
                && system
                    .as_str()
                    .is_some_and(|s| s.starts_with("http://terminology.hl7.org/CodeSystem/v2-")))
            .then_some(system);
        }
        system
            .as_str()
            .is_some_and(|s| self.component_names_system(map, row, s))
            .then_some(system)
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

    /// A vocabulary's HL7 code, where the table of the version written has it: a code the
    /// table gained in a later version (table 0200's MSK from v2.7) or lost is not written, and
    /// the FHIR code it would translate stays untranslated (reported with `--explain`).
    fn in_version<'c>(
        &self,
        back: Option<&'c crate::mapping::plan::Concept>,
    ) -> Option<&'c crate::mapping::plan::Concept> {
        back.filter(|c| spec::table_has(&c.system, &c.code, self.version.name()) != Some(false))
    }

    /// Converts a FHIR primitive (or small composite) back to HL7 text.
    /// `owner` is the element the row's target starts from (for the original text kept beside a
    /// date).
    fn primitive_back(
        &mut self,
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
            Primitive::Text | Primitive::Endpoint | Primitive::JoinedText | Primitive::Words => {
                primitive_text(v).map(Piece::Text)
            }
            Primitive::Code => {
                let code = primitive_text(v)?;
                match vocab {
                    Some(voc) => self.in_version(voc.back(None, &code)).map(code_of),
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
                let mut dtm = original_text(owner, &row.target)
                    .filter(|o| same_moment(o, &dtm))
                    .unwrap_or(dtm);
                self.fit_fraction(&mut dtm, |w| w.path_of(v));
                Some(Piece::Text(Cow::Owned(dtm)))
            }
            Primitive::SnQuantity => {
                let mut parts = Vec::with_capacity(2);
                if let Some(c) = v.get("comparator").and_then(Json::as_str) {
                    parts.push((vec![1], Cow::Borrowed(c)));
                }
                parts.push((vec![2], v.get("value").and_then(primitive_text)?));
                Some(Piece::Parts(parts))
            }
            // `:` for either separator: FHIR's Ratio does not say which was sent.
            Primitive::SnRatio => {
                let n1 = v.pointer("/numerator/value").and_then(primitive_text)?;
                let n2 = v.pointer("/denominator/value").and_then(primitive_text)?;
                let mut parts = Vec::with_capacity(4);
                if let Some(c) = v.pointer("/numerator/comparator").and_then(Json::as_str) {
                    parts.push((vec![1], Cow::Borrowed(c)));
                }
                parts.push((vec![2], n1));
                parts.push((vec![3], Cow::Borrowed(":")));
                parts.push((vec![4], n2));
                Some(Piece::Parts(parts))
            }
            Primitive::SnRange => {
                let low = v.pointer("/low/value").and_then(primitive_text);
                let high = v.pointer("/high/value").and_then(primitive_text);
                if low.is_none() && high.is_none() {
                    return None;
                }
                let mut parts = vec![(vec![3], Cow::Borrowed("-"))];
                if let Some(c) = range_comparator(v).filter(|c| !c.is_empty()) {
                    parts.push((vec![1], Cow::Borrowed(c)));
                }
                parts.extend(low.map(|l| (vec![2], l)));
                parts.extend(high.map(|h| (vec![4], h)));
                Some(Piece::Parts(parts))
            }
            // HL7's form for a range with both bounds (OBX-7 in v2.5: "lower limit-upper
            // limit"). A range open at one end is left out: HL7 writes it `>10`, which excludes
            // the bound that FHIR's `low` includes.
            // HL7 reads the limits in the units of OBX-6, the value's: limits in another unit
            // would be misread, so such a range is left out and reported.
            Primitive::RangeText => {
                let low = v.pointer("/low/value").and_then(primitive_text)?;
                let high = v.pointer("/high/value").and_then(primitive_text)?;
                let value_unit = ["/valueQuantity", "/valueRange/low", "/valueRange/high"]
                    .iter()
                    .find_map(|p| owner.pointer(p))
                    .and_then(unit_of);
                for limit in ["low", "high"] {
                    if let Some(u) = v.get(limit).and_then(unit_of)
                        && value_unit != Some(u)
                    {
                        return None;
                    }
                }
                Some(Piece::Text(Cow::Owned(format!("{low}-{high}"))))
            }
            // A MIME type (`application/pdf`) is the type of data its top-level type translates
            // to and a subtype (ED.2 and ED.3; RP.3 and RP.4): `AP^PDF`. The subtype is spelled
            // as table 0291 spells it, else in capitals, as that table spells all but two of its
            // codes and as feeds send those it lacks (`PDF`); MIME types are case-insensitive
            // (RFC 2045), so a reader of the IANA names later versions use reads it too.
            // Parameters (`; charset=…`) have no component and are left out.
            Primitive::MediaType { pointer } => {
                let (top, subtype) = v.as_str()?.split_once('/')?;
                let subtype = subtype.split(';').next()?.trim();
                let top = self.in_version(vocab?.back(None, &top.trim().to_ascii_lowercase()))?;
                if subtype.is_empty() {
                    return None;
                }
                let subtype = match spec::table_spelling("HL70291", subtype) {
                    Some(s) => Cow::Borrowed(s),
                    None => Cow::Owned(subtype.to_ascii_uppercase()),
                };
                let shift = u32::from(pointer);
                Some(Piece::Parts(vec![
                    (vec![2 + shift], Cow::Borrowed(top.code.as_str())),
                    (vec![3 + shift], subtype),
                ]))
            }
            // Refused at load for any row that runs backwards.
            Primitive::SnText | Primitive::AppendedText | Primitive::Display => None,
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
                // An e-mail or web address is a communication address (XTN.4) whatever it
                // holds; the ContactPoint's system says so where its text cannot (a URL).
                let address = matches!(
                    owner.get("system").and_then(Json::as_str),
                    Some("email" | "url")
                );
                let value = v.as_str()?;
                if address {
                    return Some(Piece::Parts(vec![(vec![4], Cow::Borrowed(value))]));
                }
                telecom_back(value, self.version.component("XTN", 1).is_some())
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
                let concept = self.in_version(vocab?.back(system, code))?;
                // A coded field (CWE, CE) names the table its code is of, as a reader needs
                // where the code's letters are also another table's (table 0189's N, the NHS's
                // Black African); a field of a simple type holds the code alone.
                if self.slot.is_some_and(|s| self.version.composite(s.ty)) {
                    let mut parts = vec![(vec![1], Cow::Borrowed(concept.code.as_str()))];
                    if !concept.display.is_empty() {
                        parts.push((vec![2], Cow::Borrowed(concept.display.as_str())));
                    }
                    parts.push((vec![3], Cow::Borrowed(concept.system.as_str())));
                    return Some(Piece::Parts(parts));
                }
                Some(code_of(concept))
            }
            Primitive::CodeSystem => {
                let url = v.as_str()?;
                self.system_name(url).map(Piece::Text)
            }
            Primitive::TextAsBase64 | Primitive::Base64 => {
                let data = v.as_str()?;
                if p == Primitive::Base64 {
                    return Some(Piece::Text(base64::compact(data)));
                }
                base64::decode(data)
                    .and_then(|b| String::from_utf8(b).ok())
                    .map(|t| Piece::Text(Cow::Owned(t)))
            }
        }
    }

    /// Cuts the time stamp at `nums` of `rep` to its date, where HL7 takes a date (DT) and FHIR
    /// gave a time of day as well (an identifier's period is a dateTime, CX.7 a DT); when
    /// explaining, reports the cut at the FHIR element `v`, naming the HL7 place `at`.
    fn date_only(&mut self, rep: &mut Rep<'j>, nums: &[u32], v: &'j Json, at: &str) {
        let Some(text) = rep.get(nums) else {
            return;
        };
        // YYYY[MM[DD]]: the digits before the hour.
        let date = text.bytes().take(8).take_while(u8::is_ascii_digit).count();
        if date == text.len() {
            return;
        }
        let cut = text[..date].to_string();
        rep.replace(nums, Cow::Owned(cut));
        if self.explain {
            let path = self.path_of(v);
            let version = self.version.name();
            self.problems.push(format!(
                "{path}: an HL7 v{version} {at} is a date (DT); the time of day was cut"
            ));
        }
    }

    /// Shapes a field whose type another field names (OBX-5, of the value type in OBX-2; HL7
    /// gives it the type `varies`) to that type in the version written, as [`fit_to_version`]
    /// shapes the others: a v2.5.1 CWE has no second alternate code (CWE.10 to .13), which a
    /// CodeableConcept's third coding fills from v2.7 on. What the type lacks is left out and,
    /// when explaining, reported.
    fn fit_varies(&mut self, seg: usize, id: &[u8; 3]) {
        let Some((field, type_field)) = typed_by(id) else {
            return;
        };
        let segment = self.b.segment(seg);
        let Some(ty) = segment.rep(type_field, 1).and_then(|r| r.get(&[1])) else {
            return;
        };
        let ty = ty.trim().to_string();
        let Some(count) = spec::component_count(&ty) else {
            return;
        };
        let version = self.version.name().to_string();
        let mut cut = Vec::new();
        for rep in 1..=segment.repetitions(field) {
            let mut value = self.current_rep(seg, field, rep);
            let before: Vec<u16> = value.parts().map(|(c, _, _)| c).collect();
            value.retain(|c, s| {
                let c = usize::from(c);
                match (c <= count)
                    .then(|| spec::component_type_in(&ty, c, &version))
                    .flatten()
                {
                    None => false,
                    Some(ct) => s == 1 || spec::component_count(ct).is_some(),
                }
            });
            let after: Vec<u16> = value.parts().map(|(c, _, _)| c).collect();
            cut.extend(before.into_iter().filter(|c| !after.contains(c)));
            self.put_rep(seg, field, rep, value);
        }
        if cut.is_empty() || !self.explain {
            return;
        }
        cut.sort_unstable();
        cut.dedup();
        let name = String::from_utf8_lossy(id);
        let parts: Vec<String> = cut.iter().map(|c| format!("{name}-{field}.{c}")).collect();
        self.problems.push(format!(
            "{}: not a component of {ty} in HL7 v{version}; left out",
            parts.join(", ")
        ));
    }

    /// Cuts a time stamp's fraction of a second to the digits HL7 carries; when explaining,
    /// reports the cut at the FHIR element `at` names (a walk through the request, so only
    /// then).
    fn fit_fraction(&mut self, dtm: &mut String, at: impl FnOnce(&Self) -> String) {
        if cut_fraction(dtm) && self.explain {
            let at = at(self);
            self.problems.push(format!(
                "{at}: an HL7 v2 time stamp carries at most {DTM_FRACTION_DIGITS} digits of a second; the rest were cut"
            ));
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
            let nums = match o {
                Operand::Relative(nums) => nums,
                // The element the map reads back (a Location's physical type): its text.
                Operand::Element { steps, .. } => {
                    let v = select(element, steps, Select::default())
                        .into_iter()
                        .next()?;
                    return primitive_text(v).map(Cow::into_owned);
                }
                Operand::Path(_) => return None,
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
        eval_text(c, &text)
    }

    /// Marks the parts of `v` a row's defaults account for (`type.coding[1].code` = PLAC).
    fn defaults_read(&mut self, row: &MapRow, v: &'j Json) {
        for (t, value) in row.defaults.iter().chain(&row.requires) {
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
            written_at(segment, p).or_else(|| {
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
        // A whole field already written is measured as written: all its repetitions.
        let shape = |o: &Operand| -> Option<Shape> {
            if let Operand::Path(p) = o
                && p.segment == segment.id
                && p.repetition.is_none()
                && p.component.is_none()
                && segment.valued(p.field as usize)
            {
                let field = p.field as usize;
                return Some(Shape {
                    chars: segment.written_chars(field, &Delimiters::default()),
                    multiline: segment.multiline(field),
                });
            }
            text(o).map(|t| Shape::of_text(&t))
        };
        eval(c, &text, &shape)
    }
}

const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";

/// True for a map of a coded data type, whose values name their coding system (CWE.3).
fn is_coded(map: &ElementMap) -> bool {
    matches!(map.v2.as_str(), "CWE" | "CE" | "CNE" | "CF")
}

/// The unit a Quantity states, as one comparable value: its UCUM (or other) code with the
/// code's system when it has a code, else its unit text. `None` for a Quantity without one.
fn unit_of(q: &Json) -> Option<(Option<&str>, &str)> {
    match q.get("code").and_then(Json::as_str) {
        Some(code) => Some((q.get("system").and_then(Json::as_str), code)),
        None => q.get("unit").and_then(Json::as_str).map(|u| (None, u)),
    }
}

/// True when every (element, constant) pair holds in `v`: the element's text is the constant,
/// or (with `absent_ok`) the element is absent. A coding's `display` is words for a reader, not
/// what the coding means: a participant typed ATND is the attending doctor whether its display
/// says `attender` or `Attending physician`, so a display never decides.
fn holds_constants(v: &Json, pairs: &[(Target, String)], absent_ok: bool) -> bool {
    pairs
        .iter()
        .filter(|(t, _)| !is_display(t))
        .all(|(t, value)| {
            match select(v, &t.steps, Select::default())
                .first()
                .and_then(|x| primitive_text(x))
            {
                Some(x) => &x == value,
                None => absent_ok,
            }
        })
}

/// True for a target naming a display (`type[1].coding[1].display`).
fn is_display(t: &Target) -> bool {
    matches!(t.steps.last(), Some(Step::Member { name, .. }) if name == "display")
}

/// A coding left out, as a problem names it: by its system, never its code.
fn code_of_system(coding: &Json) -> String {
    match coding.get("system").and_then(Json::as_str) {
        Some(system) => format!("a code of {system}"),
        None => "a code without a system".to_string(),
    }
}

/// The `system` of the coding whose `code` a row writes (`type.coding[1].code`), if any.
fn coding_system<'j>(row: &MapRow, element: &'j Json) -> Option<&'j Json> {
    coding_of(row, element, "code").and_then(|c| c.get("system"))
}

/// The coding whose element `member` (`code`, `system`) a row writes (`coding[1].code`), if any.
fn coding_of<'j>(row: &MapRow, element: &'j Json, member: &str) -> Option<&'j Json> {
    let steps = row.target.steps.as_slice();
    let [
        ..,
        Step::Member { name: coding, .. },
        Step::Member { name: last, .. },
    ] = steps
    else {
        return None;
    };
    if coding != "coding" || last != member {
        return None;
    }
    select(element, &steps[..steps.len() - 1], Select::default())
        .first()
        .copied()
}

/// True when the coding system HL7 names `name` (table 0396) holds `code`. ISO639 holds ISO 639
/// languages alone: of the BCP 47 tags FHIR codes languages with, only a language subtag
/// standing alone (`en`, two or three letters) is one; `en-US` is no ISO 639 code, and its
/// region cannot be cut off without saying less than the tag.
fn system_holds(name: &str, code: &str) -> bool {
    match name {
        "ISO639" => (2..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphabetic()),
        _ => true,
    }
}

/// The text of a primitive JSON value. Numbers keep the digits they were written with, in the
/// plain form HL7 v2 numbers take (no exponent); one too large for that has no text, and
/// [`unwritable_number`] names it.
pub(super) fn primitive_text(v: &Json) -> Option<Text<'_>> {
    match v {
        Json::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
        Json::Number(n) => decimal::plain(n.as_str()).ok(),
        Json::Bool(b) => Some(Cow::Borrowed(if *b { "Y" } else { "N" })),
        _ => None,
    }
}

/// The lines of a text, ended by LF, CRLF or a lone CR.
pub(super) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\r', '\n']) {
            Some(i) => {
                let next = if t[i..].starts_with("\r\n") {
                    i + 2
                } else {
                    i + 1
                };
                rest = Some(&t[next..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// The first number in `v` (itself, or inside a Quantity or Range a row converts whole) whose
/// exponent puts it beyond what can be written out as an HL7 v2 number.
pub(super) fn unwritable_number(v: &Json) -> Option<&Json> {
    match v {
        Json::Number(n) => decimal::plain(n.as_str()).is_err().then_some(v),
        Json::Object(m) => m.values().find_map(unwritable_number),
        Json::Array(a) => a.iter().find_map(unwritable_number),
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

/// What the segment under construction holds at path `p`: its repetition of the field (all
/// its components, joined as written), or the component or subcomponent `p` names.
pub(super) fn written_at(segment: &OutSegment<'_>, p: &Path) -> Option<String> {
    let rep = segment.rep(p.field as usize, p.repetition.unwrap_or(1) as usize)?;
    let nums = base_of(p);
    if nums.is_empty() {
        Some(rep.joined())
    } else {
        get_in(rep, &nums)
    }
}

/// The component path of a row's source within its field: `[]` for `OBX-5`, `[4, 1]` for
/// `FT1-4.1.1`.
fn base_of(p: &Path) -> Vec<u32> {
    [p.component, p.subcomponent]
        .into_iter()
        .flatten()
        .collect()
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

/// The field of a segment whose type another field names, and that field: OBX-5 takes the
/// value type OBX-2 gives.
fn typed_by(id: &[u8; 3]) -> Option<(usize, usize)> {
    (id == b"OBX").then_some((5, 2))
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
pub(super) fn list_step(m: &ElementMap) -> Option<(usize, &Step)> {
    let steps = list_row_steps(m);
    steps
        .iter()
        .position(Step::appends)
        .map(|k| (k + 1, &steps[k]))
}

pub(super) fn list_row_steps(m: &ElementMap) -> &[Step] {
    m.rows
        .iter()
        .find(|r| r.direction.reverse() && r.target.steps.iter().any(Step::appends))
        .map_or(&[], |r| r.target.steps.as_slice())
}

/// An XTN back from one telephone text: the form the forward direction builds from XTN.5–8
/// (`+1 (847) 5550143 ext. 12`) goes back to those components, an e-mail address to XTN.4,
/// anything else to XTN.1, or to XTN.12 (unformatted number) in versions without XTN.1. (A
/// ContactPoint whose system is `email` or `url` goes to XTN.4 before this is asked.)
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

/// A Reference that names its target only by its text (`display`), without `reference` or
/// `identifier`, and says the target is of the type `map` builds (`type` Organization), with the
/// component where that map writes the resource's name as plain text (XON.1, the organization
/// name, an ST): the display is that name. A map with no such component (a person's name in
/// XCN, which a display does not say how to split) takes none.
fn named_only<'j>(map: &ElementMap, reference: &'j Json) -> Option<(u32, &'j str)> {
    if reference.get("reference").is_some() || reference.get("identifier").is_some() {
        return None;
    }
    if reference.get("type").and_then(Json::as_str) != Some(map.fhir_type.as_str()) {
        return None;
    }
    let name = reference
        .get("display")
        .and_then(Json::as_str)
        .filter(|d| !d.trim().is_empty())?;
    let row = map.rows.iter().find(|r| {
        r.direction.reverse()
            && matches!(r.target.steps.as_slice(), [Step::Member { name, index: None, many: false, .. }] if name == "name")
    })?;
    match (&row.source, row.conversion, &row.when, &row.constant) {
        (Some(Operand::Relative(nums)), Conversion::Primitive(Primitive::Text), None, None)
            if nums.len() == 1 =>
        {
            Some((nums[0], name))
        }
        _ => None,
    }
}

/// True for rows that take list entries in turn: they append (`given[]`), or their defaults
/// pick entries of a list by what they hold (`identifier[1]` of type PLAC).
fn takes_entries(row: &MapRow) -> bool {
    !row.defaults.is_empty()
        || !row.requires.is_empty()
        || row.target.steps.iter().any(Step::appends)
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
                            eval_text(c, &|o: &Operand| match o {
                                Operand::Relative(n) => get_in(rep, n),
                                Operand::Path(_) | Operand::Element { .. } => None,
                            })
                        })
                }
                _ => false,
            }
    })
}

/// How an operand stands in the message being written, for `LONGER THAN` and `IS MULTILINE`.
struct Shape {
    /// Characters it takes in the message, escape sequences counted in full.
    chars: usize,
    /// More than one line: several repetitions, or a line break in its text.
    multiline: bool,
}

impl Shape {
    /// The shape of one value's text, written with the delimiters every writeback is written
    /// with (see [`super::write`]).
    fn of_text(t: &str) -> Shape {
        Shape {
            chars: written_chars(t, &Delimiters::default()),
            multiline: t.contains(['\n', '\r']),
        }
    }
}

/// Evaluates a condition: `text` gives an operand's decoded text, `shape` how it stands in
/// the message.
fn eval(
    c: &Condition,
    text: &dyn Fn(&Operand) -> Option<String>,
    shape: &dyn Fn(&Operand) -> Option<Shape>,
) -> bool {
    match c {
        Condition::Valued(o) => text(o).is_some(),
        Condition::Equals(o, l) => text(o).is_some_and(|t| t.trim() == l),
        Condition::In(o, ls) => text(o).is_some_and(|t| ls.iter().any(|l| l == t.trim())),
        Condition::LongerThan(o, n) => shape(o).is_some_and(|s| s.chars > *n),
        Condition::IsDate(o) => text(o).is_some_and(|t| Dtm::parse(t.trim()).is_ok()),
        // What is written carries its own offset or none: no zone is assumed for it.
        Condition::IsInstant(o) => {
            text(o).is_some_and(|t| Dtm::parse(t.trim()).is_ok_and(|d| d.makes_instant(None)))
        }
        Condition::IsMultiline(o) => shape(o).is_some_and(|s| s.multiline),
        Condition::Below(o, n) => text(o).is_some_and(|t| Condition::number_below(&t, n)),
        Condition::Not(c) => !eval(c, text, shape),
        Condition::And(cs) => cs.iter().all(|c| eval(c, text, shape)),
        Condition::Or(cs) => cs.iter().any(|c| eval(c, text, shape)),
    }
}

/// Evaluates a condition whose operands are all read as text (a data type map's components).
fn eval_text(c: &Condition, text: &dyn Fn(&Operand) -> Option<String>) -> bool {
    eval(c, text, &|o: &Operand| text(o).map(|t| Shape::of_text(&t)))
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

/// The comparator of a Range (`>`) that the forward direction kept in its original text, which
/// FHIR's Range cannot hold, or `""` for a text that states the range alone (every range keeps
/// its text, `1 - 5`): only when that text is exactly the comparator, if any, and the Range's own
/// bounds, joined by single spaces as the forward direction joins an SN's components
/// (`> 1 - 5`, `>= 1 -`). Any other text names no comparator.
fn range_comparator(range: &Json) -> Option<&str> {
    let text = original_entry(range)?.get("valueString")?.as_str()?;
    let mut words = text.split(' ').peekable();
    let comparator = match words.peek() {
        Some(&c) if matches!(c, "<" | "<=" | "=" | ">=" | ">") => {
            words.next();
            c
        }
        _ => "",
    };
    let bound = |key: &str| range.get(key).and_then(|q| q.get("value"));
    let mut expected: Vec<Option<&Json>> = Vec::with_capacity(3);
    if let Some(low) = bound("low") {
        expected.push(Some(low));
    }
    expected.push(None);
    if let Some(high) = bound("high") {
        expected.push(Some(high));
    }
    for want in expected {
        let word = words.next()?;
        let same = match want {
            None => word == "-",
            Some(n) => n.as_number().is_some_and(|n| same_number(word, n.as_str())),
        };
        if !same {
            return None;
        }
    }
    words.next().is_none().then_some(comparator)
}

/// True when `sent`, a number as HL7 sends it (`+05.0`), is `fhir`, a FHIR decimal, as the
/// forward direction writes it: no sign `+`, no leading zeros, every decimal kept.
fn same_number(sent: &str, fhir: &str) -> bool {
    let Ok(fhir) = decimal::plain(fhir) else {
        return false;
    };
    let (negative, body) = match sent.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, sent.strip_prefix('+').unwrap_or(sent)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let (fhir_negative, fhir_body) = match fhir.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, fhir.as_ref()),
    };
    let (fhir_int, fhir_frac) = fhir_body.split_once('.').unwrap_or((fhir_body, ""));
    negative == fhir_negative && int == fhir_int && frac == fhir_frac
}

/// Component numbers as HL7 writes them after a data type's name: `7`, `1.2`.
fn dotted(nums: &[u32]) -> String {
    nums.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// True unless `ty` is a numeric HL7 type that `text` is not: an NM (`-12.5`, `+3`, `.5`), or
/// an SNM, the string of telephone number digits of v2.7 on (`+` and digits).
fn fits_numeric_type(ty: &str, text: &str) -> bool {
    match ty {
        "NM" => {
            let body = text.strip_prefix(['+', '-']).unwrap_or(text);
            let (int, frac) = body.split_once('.').unwrap_or((body, ""));
            !(int.is_empty() && frac.is_empty())
                && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        }
        "SNM" => {
            let digits = text.strip_prefix('+').unwrap_or(text);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        _ => true,
    }
}

/// The `originalText` extension entry of an element.
fn original_entry(holder: &Json) -> Option<&Json> {
    holder
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Json::as_str) == Some(ORIGINAL_TEXT))
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
