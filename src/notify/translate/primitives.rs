//! FHIR primitives from v2 values: text, codes, numbers, dates in FHIR's form (the time-zone
//! rules), URIs, phone numbers; made strings go into the document's text buffer; a value that
//! does not convert keeps its original text in an extension.

use std::borrow::Cow;

use super::Translator;
use super::values::{Part, Texts, text_of, trim_cow};
use crate::error::Error;
use crate::fhir::datetime::{DateKind, Dtm};
use crate::fhir::doc::{NodeId, Span, Val};
use crate::mapping::plan::{MapRow, Plan, Primitive};
use crate::mapping::target::{Step, Target};

const ORIGINAL_TEXT: &str = "http://hl7.org/fhir/StructureDefinition/originalText";

impl<'a> Translator<'a, '_> {
    pub(super) fn primitive(
        &mut self,
        row: &'a MapRow,
        p: Primitive,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let val = match p {
            Primitive::Text | Primitive::JoinedText => match self.texts.of(v.value())? {
                Some(t) => self.doc.text(t),
                None => return Ok(()),
            },
            Primitive::TextAsBase64 => match self.texts.of(v.value())? {
                Some(t) => {
                    let encoded = crate::fhir::base64::encode(t.as_bytes());
                    Val::MadeStr(self.doc.make(&encoded))
                }
                None => return Ok(()),
            },
            Primitive::Base64 => match self.texts.of(v.value())? {
                Some(t) => {
                    let data = crate::fhir::base64::compact(&t);
                    if !crate::fhir::base64::is_valid(&data) {
                        return Err(self.bad_value(v.value(), "not base64 data"));
                    }
                    Val::MadeStr(self.doc.make(&data))
                }
                None => return Ok(()),
            },
            Primitive::Code => match row.vocabulary {
                Some(vocab) => match self.vocabulary_concept(vocab, v)? {
                    Some(c) => Val::Str(&c.code),
                    None => return Ok(()),
                },
                None => {
                    let Some(t) = self.texts.of(v.first().value())? else {
                        return Ok(());
                    };
                    let code = trim_cow(t);
                    if !crate::fhir::elements::is_code(&code) {
                        return Err(self.bad_value(
                            v.first().value(),
                            "not a FHIR code (words separated by single spaces)",
                        ));
                    }
                    self.doc.text(code)
                }
            },
            Primitive::Boolean => {
                match self.texts.of(v.first().value())?.as_deref().map(str::trim) {
                    Some("Y" | "y") => Val::Bool(true),
                    Some("N" | "n") => Val::Bool(false),
                    Some(_) => {
                        self.note_untranslated(v);
                        return Ok(());
                    }
                    None => return Ok(()),
                }
            }
            Primitive::Decimal | Primitive::Integer { .. } => {
                let Some(t) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let integer = matches!(p, Primitive::Integer { .. });
                let n = self
                    .made(|out| Ok(json_number(t.trim(), integer, out)))?
                    .ok_or_else(|| self.bad_value(v.value(), "not a number"))?;
                if let Primitive::Integer { min } = p
                    && self.doc.made(n).parse::<i64>().map_or(true, |x| x < min)
                {
                    return Err(self.bad_value(v.value(), "number out of range for its FHIR type"));
                }
                Val::MadeNumber(n)
            }
            Primitive::Date(kind) => {
                let (mut value, mut original) = self.date(v, kind)?;
                if value.is_some_and(|end| self.ends_before_start(obj, &row.target.steps, end)) {
                    // FHIR forbids a Period ending before it starts (per-1), and which of the two
                    // the sender got wrong is unknown: the start stands, and the end is kept only
                    // as the text sent.
                    let first_part = v.first();
                    let first = first_part.value();
                    self.problems.push(
                        self.bad_value(first, "the period ends before it starts: the end is kept as its original text only")
                            .to_string(),
                    );
                    original = text_of(first)?.map(|t| t.trim().to_string());
                    value = None;
                }
                let Some(orig) = original else {
                    match value {
                        Some(value) => {
                            return {
                                self.write(obj, &row.target, Val::MadeStr(value));
                                Ok(())
                            };
                        }
                        None => return Ok(()),
                    }
                };
                // Inside an extension (patient-birthTime) a value cannot carry extensions of
                // its own: a time padded to seconds is written as is; a time that could not be
                // placed in a zone leaves the extension out and the original text goes on the
                // element the extension belongs to (birthDate).
                let steps = &row.target.steps;
                if let Some(ext) = steps
                    .iter()
                    .rposition(|s| matches!(s, Step::Extension { .. }))
                {
                    match value {
                        Some(value) if self.doc.made(value).contains('T') => {
                            return {
                                self.write(obj, &row.target, Val::MadeStr(value));
                                Ok(())
                            };
                        }
                        // An extension of the resource itself (an Encounter's planned start)
                        // sits beside no element that could carry the text: the date, which is
                        // sure, stands, and the time left out is reported.
                        _ if ext == 0 => {
                            if let Some(value) = value {
                                self.write(obj, &row.target, Val::MadeStr(value));
                            }
                            let first = v.first();
                            let note = self.bad_value(
                                first.value(),
                                "a time without an offset, and no --timezone: only its date is kept",
                            );
                            self.problems.push(note.to_string());
                            return Ok(());
                        }
                        _ => {
                            self.original_text_beside(obj, steps, ext, Cow::Owned(orig));
                            return Ok(());
                        }
                    }
                }
                let at = self.parent_of_last(obj, steps);
                if let Some(Step::Member {
                    name,
                    shadow,
                    many: false,
                    ..
                }) = steps.last()
                {
                    if let Some(value) = value {
                        self.doc.set(at, name, Val::MadeStr(value));
                    }
                    let sh = self.doc.member(at, shadow, Val::Object);
                    self.original_text(sh, Cow::Owned(orig));
                    return Ok(());
                }
                match value {
                    Some(value) => Val::MadeStr(value),
                    None => return Ok(()),
                }
            }
            Primitive::SnQuantity | Primitive::SnRange | Primitive::SnRatio => {
                return self.structured_numeric(row, p, v, obj);
            }
            Primitive::SnText => match self.structured_numeric_text(v)? {
                Some(t) => self.doc.text(t),
                None => return Ok(()),
            },
            Primitive::AppendedText => {
                let Some(t) = self.texts.of(v.value())? else {
                    return Ok(());
                };
                return self.append_text(obj, &row.target, &t);
            }
            // Refused at load for any row that runs forward.
            Primitive::RangeText | Primitive::Words => return Ok(()),
            Primitive::HdUri | Primitive::EiUri => {
                let part = |n: u32| self.texts.part(v, n);
                // HD is namespace^universal id^type; EI puts the entity id first.
                let shift = u32::from(p == Primitive::EiUri);
                let (id, kind) = (part(2 + shift)?, part(3 + shift)?);
                let scheme = match kind.as_deref() {
                    Some("ISO") => "urn:oid:",
                    Some("UUID") => "urn:uuid:",
                    Some("URI") => "",
                    _ => return Ok(()),
                };
                let Some(id) = id else {
                    return Ok(());
                };
                let uuid = scheme == "urn:uuid:";
                let uri = self.made(|out| {
                    out.push_str(scheme);
                    let at = out.len();
                    out.push_str(&id);
                    if uuid {
                        out[at..].make_ascii_lowercase();
                    }
                    Ok(true)
                })?;
                match uri {
                    Some(uri) => Val::MadeStr(uri),
                    None => return Ok(()),
                }
            }
            Primitive::MediaType { pointer } => return self.media_type(row, pointer, v, obj),
            Primitive::Telecom => {
                let texts = self.texts;
                match self.made(|out| telecom(v, texts, out))? {
                    Some(t) => Val::MadeStr(t),
                    None => return Ok(()),
                }
            }
            Primitive::CodeSystem => {
                let Some(name) = self.texts.of(v.first().value())? else {
                    return Ok(());
                };
                let name = name.trim();
                let found = row
                    .vocabulary
                    .and_then(|voc| self.plan.vocabularies[voc].forward.get(name));
                match found {
                    Some(c) => Val::Str(&c.code),
                    None => match self.made(|out| Ok(hl7_table_system(name, out)))? {
                        Some(url) => Val::MadeStr(url),
                        None => {
                            self.note_untranslated(v);
                            return Ok(());
                        }
                    },
                }
            }
            Primitive::CodedAs { concept } => {
                let c = match row.vocabulary {
                    Some(vocab) => self.vocabulary_concept(vocab, v)?,
                    None => {
                        if self.texts.of(v.first().value())?.is_some() {
                            self.note_untranslated(v);
                        }
                        None
                    }
                };
                let Some(c) = c else {
                    return Ok(());
                };
                let at = self.element(obj, &row.target.steps);
                if concept {
                    self.add_coding(at, c);
                } else {
                    self.coding(at, c);
                }
                return Ok(());
            }
            Primitive::Display => {
                // Every ID[display] row names a vocabulary (checked at load).
                let Some(vocab) = row.vocabulary else {
                    return Ok(());
                };
                match self.vocabulary_concept(vocab, v)? {
                    Some(c) if !c.display.is_empty() => Val::Str(&c.display),
                    _ => return Ok(()),
                }
            }
            Primitive::Endpoint => match self.opts.source_endpoint.as_deref() {
                Some(e) => Val::MadeStr(self.doc.make(e)),
                None => match self.texts.of(v.first().value())? {
                    Some(t) => {
                        let start = self.doc.made_buffer().len();
                        endpoint_from_name(&t, self.doc.made_buffer());
                        Val::MadeStr(self.doc.made_since(start))
                    }
                    None => return Ok(()),
                },
            },
        };
        self.write(obj, &row.target, val);
        Ok(())
    }

    /// Converts a DTM; returns the FHIR value and, when it does not carry everything sent, the
    /// original text.
    pub(super) fn date(
        &mut self,
        v: &Part<'a>,
        kind: DateKind,
    ) -> Result<(Option<Span>, Option<String>), Error> {
        let first = *v.first().value();
        let Some(text) = self.texts.of(&first)? else {
            return Ok((None, None));
        };
        let text = text.trim();
        let dtm = Dtm::parse(text)
            .map_err(|r| self.bad_value(&first, &format!("invalid date/time: {r}")))?;
        let start = self.doc.made_buffer().len();
        let written = dtm.write_fhir(kind, self.opts.timezone, self.doc.made_buffer());
        Ok((
            written.value.then(|| self.doc.made_since(start)),
            written.lossy.then(|| text.to_string()),
        ))
    }

    /// Runs `make` on the document's text buffer: the text it appended, when it says it made
    /// one (what it appended otherwise is taken back).
    pub(super) fn made(
        &mut self,
        make: impl FnOnce(&mut String) -> Result<bool, Error>,
    ) -> Result<Option<Span>, Error> {
        let start = self.doc.made_buffer().len();
        let made = make(self.doc.made_buffer());
        if !matches!(made, Ok(true)) {
            self.doc.made_buffer().truncate(start);
        }
        Ok(made?.then(|| self.doc.made_since(start)))
    }

    /// The content type of encapsulated data (ED) or of what a reference pointer (RP) points
    /// at. HL7 sends a MIME type in two parts: the type of data (ED.2, RP.3; table 0191's `AP`,
    /// `IM`… up to v2.6, table 0834's MIME type names from v2.7), which the row's vocabulary
    /// turns into a MIME top-level type, and the subtype (ED.3, RP.4), a MIME subtype (table
    /// 0291). FHIR's contentType is the whole MIME type: `AP` and `PDF` are `application/pdf`. A
    /// subtype sent as a whole MIME type is kept as sent. A subtype whose type of data names no
    /// MIME type is not a content type, and is reported. ED data then needs one all the same
    /// (att-1): its encoding says only that Base64 data is bytes, application/octet-stream, and
    /// that A data is text, text/plain.
    fn media_type(
        &mut self,
        row: &'a MapRow,
        pointer: bool,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let plan: &'a Plan = self.plan;
        let shift = u32::from(pointer);
        let (kind, subtype) = (
            self.texts.part(v, 2 + shift)?,
            self.texts.part(v, 3 + shift)?,
        );
        let top = kind.as_deref().and_then(|k| {
            let vocab = &plan.vocabularies[row.vocabulary?];
            vocab.forward.get(k).map(|c| c.code.as_str())
        });
        let mime = match subtype.as_deref() {
            Some(s) => match s.split_once('/') {
                Some((t, sub)) if is_mime_token(t) && is_mime_token(sub) => self.made(|out| {
                    out.push_str(s);
                    Ok(true)
                })?,
                None if is_mime_token(s) && top.is_some() => self.made(|out| {
                    out.push_str(top.unwrap_or_default());
                    out.push('/');
                    let at = out.len();
                    out.push_str(s);
                    // MIME types are case-insensitive and registered in lower case: `PDF`
                    // is `pdf`.
                    out[at..].make_ascii_lowercase();
                    Ok(true)
                })?,
                _ => None,
            },
            None => None,
        };
        if let Some(mime) = mime {
            if let Some(k) = v.child(2 + shift).filter(|_| top.is_some()) {
                self.note_translated(&k);
            }
            self.write(obj, &row.target, Val::MadeStr(mime));
            return Ok(());
        }
        if let Some(sub) = v.child(3 + shift).filter(|_| subtype.is_some()) {
            let reason = "the data subtype with this type of data names no MIME type";
            self.problems
                .push(self.bad_value(sub.value(), reason).to_string());
            match v.child(2 + shift).filter(|_| kind.is_some()) {
                Some(k) => self.note_untranslated(&k),
                None => self.note_untranslated(&sub),
            }
        }
        if pointer || self.texts.part(v, 5)?.is_none() {
            return Ok(());
        }
        let fallback = match self.texts.part(v, 4)?.as_deref() {
            Some("Base64") => "application/octet-stream",
            Some("A") => "text/plain",
            _ => return Ok(()),
        };
        self.write(obj, &row.target, Val::Str(fallback));
        Ok(())
    }

    pub(super) fn structured_numeric(
        &mut self,
        row: &'a MapRow,
        p: Primitive,
        v: &Part<'a>,
        obj: NodeId,
    ) -> Result<(), Error> {
        let comp = |n: u32| self.texts.part(v, n);
        let (cmp, n1, sep, n2) = (comp(1)?, comp(2)?, comp(3)?, comp(4)?);
        let mut num = |t: Option<Cow<'a, str>>| -> Result<Option<Span>, Error> {
            let Some(t) = t else {
                return Ok(None);
            };
            match self.made(|out| Ok(json_number(&t, false, out)))? {
                Some(n) => Ok(Some(n)),
                None => Err(self.bad_value(
                    v.value(),
                    "structured numeric holds a value that is not a number",
                )),
            }
        };
        let (n1, n2) = (num(n1)?, num(n2)?);
        let ratio = matches!(sep.as_deref(), Some(":" | "/"));
        if (p == Primitive::SnQuantity && sep.is_none() && n2.is_none())
            || (p == Primitive::SnRatio && ratio)
        {
            // A comparator HL7 does not define, or one with no number (`<0.10` sent whole in
            // SN.1, `<` alone), says something a quantity would misstate: left out and
            // reported, its text kept, never written as an exact value.
            let reason = match (cmp.as_deref(), n1) {
                (Some(c), _) if !matches!(c, "<" | "<=" | "=" | ">=" | ">") => {
                    "structured numeric's comparator is none of <, <=, =, >=, >"
                }
                (Some(_), None) => "structured numeric has a comparator and no number",
                _ if ratio && (n1.is_none() || n2.is_none()) => {
                    "structured numeric's ratio lacks a number"
                }
                _ => "",
            };
            if !reason.is_empty() {
                return Err(self.bad_value(v.value(), reason));
            }
        }
        let at = self.element(obj, &row.target.steps);
        match p {
            Primitive::SnQuantity if sep.is_none() && n2.is_none() => {
                if let Some(n) = n1 {
                    self.doc.set(at, "value", Val::MadeNumber(n));
                    // `=` is what a quantity without comparator already says.
                    if let Some(c) = cmp.filter(|c| c.as_ref() != "=") {
                        let c = self.doc.text(c);
                        self.doc.set(at, "comparator", c);
                    }
                }
            }
            // The comparator qualifies the ratio as a whole (`>^1^:^64`, a titer above 1:64);
            // FHIR puts it on the numerator.
            Primitive::SnRatio if ratio => {
                for (key, n) in [("numerator", n1), ("denominator", n2)] {
                    if let Some(n) = n {
                        let q = self.doc.member(at, key, Val::Object);
                        if key == "numerator"
                            && let Some(c) = cmp.clone().filter(|c| c.as_ref() != "=")
                        {
                            let c = self.doc.text(c);
                            self.doc.set(q, "comparator", c);
                        }
                        self.doc.set(q, "value", Val::MadeNumber(n));
                    }
                }
            }
            // As the IG's SN[Range] map has it, the bounds are the Range's and every range
            // (its separator is valued) keeps its original text, the valued components joined
            // by single spaces: `^1^-^5` is `1 - 5`, and a comparator, which a Range cannot
            // hold, stays there (`>^1^-^5` is `> 1 - 5`).
            Primitive::SnRange if matches!(sep.as_deref(), Some("-")) => {
                for (key, n) in [("low", n1), ("high", n2)] {
                    if let Some(n) = n {
                        let q = self.doc.member(at, key, Val::Object);
                        self.doc.set(q, "value", Val::MadeNumber(n));
                    }
                }
                let texts = self.texts;
                let parts = [cmp, texts.part(v, 2)?, sep, texts.part(v, 4)?];
                let text = self.made(|out| {
                    for (i, t) in parts.iter().flatten().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push_str(t);
                    }
                    Ok(true)
                })?;
                if let Some(text) = text {
                    let exts = self.doc.member(at, "extension", Val::Array);
                    let e = self.doc.push(exts, Val::Object);
                    self.doc.set(e, "url", Val::Str(ORIGINAL_TEXT));
                    self.doc.set(e, "valueString", Val::MadeStr(text));
                }
            }
            _ => self.note_untranslated(v),
        }
        Ok(())
    }

    /// A structured numeric as text, its valued components joined by single spaces (the IG's
    /// string form of an SN): `<0.10`, `< abc`.
    pub(super) fn structured_numeric_text(
        &self,
        v: &Part<'a>,
    ) -> Result<Option<Cow<'a, str>>, Error> {
        let mut out = String::new();
        for n in 1..=4 {
            if let Some(t) = self.texts.part(v, n)? {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&t);
            }
        }
        Ok((!out.is_empty()).then_some(Cow::Owned(out)))
    }

    /// Adds `text`, after a space, to the end of the string at `target`, which an earlier row
    /// wrote; without one there is nothing it would qualify, and nothing is written.
    fn append_text(&mut self, obj: NodeId, target: &'a Target, text: &str) -> Result<(), Error> {
        let Some(Step::Member {
            name, many: false, ..
        }) = target.steps.last()
        else {
            return Ok(());
        };
        let at = self.parent_of_last(obj, &target.steps);
        let Some(before) = self
            .doc
            .get(at, name)
            .and_then(|n| self.doc.str_at(n))
            .map(str::to_owned)
        else {
            return Ok(());
        };
        let start = self.doc.made_buffer().len();
        let out = self.doc.made_buffer();
        out.push_str(&before);
        out.push(' ');
        out.push_str(text);
        let joined = self.doc.made_since(start);
        if let Some(node) = self.doc.get(at, name) {
            self.doc.replace(node, Val::MadeStr(joined));
        }
        Ok(())
    }

    /// Writes a constant, typed by its target.
    pub(super) fn constant(&mut self, obj: NodeId, target: &'a Target, value: &'a str) {
        let val = match target.ty {
            "boolean" => Val::Bool(value == "true"),
            "decimal" | "integer" | "positiveInt" | "unsignedInt" => Val::Number(value),
            _ => Val::Str(value),
        };
        self.write(obj, target, val);
    }

    /// Records the original text of a value that could not be converted in the element's
    /// `originalText` extension, so nothing sent is lost.
    /// A value inside an extension (patient-birthTime) cannot carry extensions of its own: its
    /// extension would then hold nothing FHIR counts as a value. Its text goes on the element
    /// the extension belongs to instead, as for a date that could not be placed in a zone.
    /// A structured numeric's text goes on the Quantity or Range itself: JSON has no `_name`
    /// for an element of a complex type.
    pub(super) fn keep_original(
        &mut self,
        obj: NodeId,
        target: &'a Target,
        text: Option<Cow<'a, str>>,
    ) -> Result<(), Error> {
        let Some(Step::Member {
            shadow,
            many: false,
            ..
        }) = target.steps.last()
        else {
            return Ok(());
        };
        let Some(text) = text else {
            return Ok(());
        };
        let steps = &target.steps;
        if target.ty.starts_with(|c: char| c.is_ascii_uppercase()) {
            if !steps.iter().any(|s| matches!(s, Step::Extension { .. })) {
                let at = self.element(obj, steps);
                self.original_text(at, text);
            }
            return Ok(());
        }
        if let Some(ext) = steps
            .iter()
            .rposition(|s| matches!(s, Step::Extension { .. }))
        {
            // Of an extension of the resource itself, the problem reported is all that stays.
            if ext > 0 {
                self.original_text_beside(obj, steps, ext, text);
            }
            return Ok(());
        }
        let at = self.parent_of_last(obj, steps);
        let sh = self.doc.member(at, shadow, Val::Object);
        self.original_text(sh, text);
        Ok(())
    }

    /// Keeps `text` on the element that holds the extension at `steps[ext]`, once: the row
    /// mapping the same field to that element (PID-7 to birthDate) may have kept it already.
    fn original_text_beside(
        &mut self,
        obj: NodeId,
        steps: &'a [Step],
        ext: usize,
        text: Cow<'a, str>,
    ) {
        let owner = self.walk(obj, &steps[..ext]);
        let doc = &self.doc;
        let kept = doc.get(owner, "extension").is_some_and(|exts| {
            doc.children(exts).any(|e| {
                doc.get(e, "url").and_then(|u| doc.str_at(u)) == Some(ORIGINAL_TEXT)
                    && doc.get(e, "valueString").and_then(|t| doc.str_at(t)) == Some(&*text)
            })
        });
        if !kept {
            self.original_text(owner, text);
        }
    }

    /// Adds an `originalText` extension to `owner` (an element, or a primitive's `_name`).
    pub(super) fn original_text(&mut self, owner: NodeId, text: Cow<'a, str>) {
        let exts = self.doc.member(owner, "extension", Val::Array);
        let e = self.doc.push(exts, Val::Object);
        self.doc.set(e, "url", Val::Str(ORIGINAL_TEXT));
        let text = self.doc.text(text);
        self.doc.set(e, "valueString", text);
    }
}

/// Appends an XTN as one value: the e-mail or URL (XTN.4), the unformatted number (XTN.12),
/// the number put together from XTN.5–8, or the old formatted number (XTN.1). False when it
/// has none of them.
pub(super) fn telecom<'a>(v: &Part<'a>, texts: Texts<'a>, out: &mut String) -> Result<bool, Error> {
    let c = |n: u32| texts.part(v, n);
    if let Some(t) = c(4)?.or(c(12)?) {
        out.push_str(&t);
        return Ok(true);
    }
    if let Some(local) = c(7)? {
        if let Some(cc) = c(5)? {
            out.push('+');
            out.push_str(cc.trim_start_matches('+'));
            out.push(' ');
        }
        if let Some(area) = c(6)? {
            out.push('(');
            out.push_str(&area);
            out.push_str(") ");
        }
        out.push_str(&local);
        if let Some(ext) = c(8)? {
            out.push_str(" ext. ");
            out.push_str(&ext);
        }
        return Ok(true);
    }
    Ok(match c(1)? {
        Some(t) => {
            out.push_str(&t);
            true
        }
        None => false,
    })
}

/// Appends `HL7nnnn` (an HL7-defined table) as its terminology.hl7.org code system URL; false
/// for any other name.
pub(crate) fn hl7_table_system(name: &str, out: &mut String) -> bool {
    let Some(digits) = name.strip_prefix("HL7") else {
        return false;
    };
    let table = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit());
    if table {
        out.push_str("http://terminology.hl7.org/CodeSystem/v2-");
        out.push_str(digits);
    }
    table
}

/// Appends HL7 NM text as JSON number text: no `+`, no leading zeros, no bare point. False,
/// having appended nothing, when `t` is not a number (or, for an integer, has a fraction).
pub(super) fn json_number(t: &str, integer: bool, out: &mut String) -> bool {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if (int.is_empty() && frac.is_none_or(str::is_empty))
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if integer && frac.is_some_and(|f| !f.is_empty()) {
        return false;
    }
    let int = int.trim_start_matches('0');
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(f) = frac.filter(|f| !f.is_empty() && !integer) {
        out.push('.');
        out.push_str(f);
    }
    true
}

/// The sender named as an MLLP endpoint URL: lower case, anything but letters, digits, `.` and
/// `-` replaced by `-` (documented in `mappings/README.md`).
pub(super) fn endpoint_from_name(name: &str, out: &mut String) {
    out.push_str("mllp://");
    let start = out.len();
    out.extend(name.trim().chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    }));
    let host = &out[start..];
    let lead = host.len() - host.trim_start_matches(['-', '.']).len();
    let len = host.trim_matches(['-', '.']).len();
    out.drain(start..start + lead);
    out.truncate(start + len);
    if len == 0 {
        out.push_str("unknown");
    }
}

/// True for a MIME type or subtype name: RFC 2045's token, printable ASCII without spaces or
/// the characters MIME reserves.
fn is_mime_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("42", false, Some("42")),
            ("+007.50", false, Some("7.50")),
            ("-0.5", false, Some("-0.5")),
            (".5", false, Some("0.5")),
            ("5.", false, Some("5")),
            ("1e3", false, None),
            ("", false, None),
            (".", false, None),
            ("12", true, Some("12")),
            ("1.5", true, None),
        ];
        for (t, int, want) in cases {
            // Appended after what the buffer holds, or nothing appended.
            let mut out = String::from("made|");
            let number = json_number(t, *int, &mut out).then(|| out["made|".len()..].to_string());
            assert_eq!(number.as_deref(), *want, "{t}");
            if want.is_none() {
                assert_eq!(out, "made|");
            }
        }
    }

    #[test]
    fn endpoints() {
        let endpoint = |name: &str| {
            let mut out = String::from("made|");
            endpoint_from_name(name, &mut out);
            out["made|".len()..].to_string()
        };
        assert_eq!(endpoint("ADT1"), "mllp://adt1");
        assert_eq!(
            endpoint("GOOD HEALTH HOSPITAL"),
            "mllp://good-health-hospital"
        );
        assert_eq!(endpoint(" -.Lab.- "), "mllp://lab");
        assert_eq!(endpoint("  "), "mllp://unknown");
    }
}
