//! The EHR's answer: an HL7 v2 ACK (MSA and ERR segments) becomes a FHIR OperationOutcome, and
//! for a `transaction` or `batch` writeback a response Bundle with a status per entry.
//!
//! - AA/CA: success (an `information` issue); AE/CE: error; AR/CR: rejected, `transient` when
//!   ERR-3 says the record was locked (206) or the application failed (207).
//! - One issue per error: an ERR (v2.5 on), or each repetition of ERR-1 (before v2.5, one per
//!   error). Severity from ERR-4, code from ERR-3 (or ERR-1.4): a code of HL7 table 0357 gives
//!   the issue type and a v2-0357 coding; any other code keeps its coding system's URL when the
//!   mapping tables know the name, and no system when they do not. The alternate code
//!   (ERR-3.4 to .6) and the application error code (ERR-5, both its codes) are codings of the
//!   same details, each code once. Locations from every
//!   repetition of ERR-2, each translated through the mapping tables to the FHIRPath of the
//!   element the writeback filled (`PID^1^7` → `Patient.birthDate`, and a component to the
//!   element it went to: `PID^1^5^1^1` → `Patient.name.family`), and kept as a terser path
//!   (`PID-5.1`, `OBX[2]-5`) in `location`. Details text from
//!   ERR-3.9, else ERR-5.9, else the text of a code sent without its code (ERR-3.2),
//!   diagnostics from ERR-8 and ERR-7 (else
//!   MSA-3).
//! - MSA-2 (the control id of the message the ACK answers) is the OperationOutcome's id, which
//!   ties the answer to the message sent.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use crate::error::{Error, ErrorKind};
use crate::fhir::elements;
use crate::fhir::id::IdHasher;
use crate::mapping::Plan;
use crate::mapping::condition::Operand;
use crate::mapping::plan::{Conversion, MapRow};
use crate::mapping::target::{Step, Target};
use crate::notify::translate::hl7_table_system;
use crate::v2::{Message, ParseOptions, Parser, Repetition};

/// What an ACK says, in FHIR terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// MSA-1.
    pub code: String,
    /// MSA-2: the control id of the message answered.
    pub control_id: String,
    /// The OperationOutcome.
    pub outcome: Json,
}

impl Answer {
    /// True for AA and CA.
    pub fn accepted(&self) -> bool {
        matches!(self.code.as_str(), "AA" | "CA")
    }

    /// True for AR and CR.
    pub fn rejected(&self) -> bool {
        matches!(self.code.as_str(), "AR" | "CR")
    }

    /// True when a reject says to try again later (ERR-3 206 or 207).
    pub fn transient(&self) -> bool {
        self.outcome["issue"].as_array().is_some_and(|issues| {
            issues.iter().any(|i| {
                matches!(
                    i["code"].as_str(),
                    Some("lock-error" | "exception" | "transient")
                )
            })
        })
    }
}

/// HL7 table 0357 (message error condition): each code it defines with the FHIR issue type it
/// means. A code not listed here is not from 0357, whatever coding system the ERR names.
const TABLE_0357: &[(&str, &str)] = &[
    ("0", "informational"),
    ("100", "structure"),
    ("101", "required"),
    ("102", "value"),
    ("103", "code-invalid"),
    ("104", "too-long"),
    ("200", "not-supported"),
    ("201", "not-supported"),
    ("202", "not-supported"),
    ("203", "not-supported"),
    ("204", "not-found"),
    ("205", "duplicate"),
    ("206", "lock-error"),
    ("207", "exception"),
];

/// The vocabulary that turns a coding system name (CWE.3, HL7 table 0396) into a code system
/// URL: the one the CWE data type maps name for their `ID[codesystem]` rows.
const CODING_SYSTEMS: &str = "CodingSystem";

/// One code of a coded value as sent: a CWE's identifier, text and coding system name, or
/// its alternate ones (CWE.4 to CWE.6).
#[derive(Debug, Clone, Default)]
struct Code {
    code: String,
    display: String,
    /// The coding system name (CWE.3), e.g. `HL70357` or a local `99EPIC`.
    system: String,
}

impl Code {
    /// The FHIR issue type, when the code is one HL7 table 0357 defines and its coding system
    /// is that table, or is left empty where the field is bound to it (ERR-3's first code): a
    /// local code is not read as 0357 even when it looks like one.
    fn issue_type(&self, bound_to_0357: bool) -> Option<&'static str> {
        let named = self.system == "HL70357" || (bound_to_0357 && self.system.is_empty());
        if !named {
            return None;
        }
        TABLE_0357
            .iter()
            .find(|(code, _)| *code == self.code)
            .map(|&(_, ty)| ty)
    }

    /// The Coding: v2-0357 for a table 0357 code, else the URL the mapping tables give the
    /// named coding system (as `ID[codesystem]` does), else no system at all, never a guess.
    fn coding(&self, plan: &Plan, bound_to_0357: bool) -> Option<Json> {
        if self.code.is_empty() {
            return None;
        }
        let system = if self.issue_type(bound_to_0357).is_some() {
            Some("http://terminology.hl7.org/CodeSystem/v2-0357".to_string())
        } else if matches!(self.system.as_str(), "" | "HL70357") {
            None
        } else {
            system_url(plan, &self.system)
        };
        let mut coding = serde_json::Map::new();
        if let Some(s) = system {
            coding.insert("system".into(), s.into());
        }
        coding.insert("code".into(), self.code.clone().into());
        if !self.display.is_empty() {
            coding.insert("display".into(), self.display.clone().into());
        }
        Some(Json::Object(coding))
    }
}

/// An error's coded condition as sent: ERR-3 (CWE), or ELD.4 (CE) of ERR-1 before v2.5, with
/// the application's own code for it (ERR-5, from v2.5).
#[derive(Debug, Clone, Default)]
struct Condition {
    /// ERR-3.1 to ERR-3.3 (ELD.4.1 to .3): the HL7 error code, bound to table 0357.
    hl7: Code,
    /// The same error in other codes: ERR-3.4 to .6 (the alternate code), ERR-5.1 to .3 and
    /// ERR-5.4 to .6 (the application error code, user-defined table 0533), in that order.
    others: Vec<Code>,
    /// The original text (ERR-3.9, else ERR-5.9; a CE has none).
    original: String,
}

impl Condition {
    /// Every code sent, the HL7 error code first, each with whether its field binds an
    /// unnamed coding system to table 0357.
    fn codes(&self) -> impl Iterator<Item = (&Code, bool)> {
        std::iter::once((&self.hl7, true)).chain(self.others.iter().map(|c| (c, false)))
    }

    /// The FHIR issue type: from the first code of HL7 table 0357 (the HL7 error code, else
    /// an alternate one that names the table).
    fn issue_type(&self) -> Option<&'static str> {
        self.codes().find_map(|(c, bound)| c.issue_type(bound))
    }

    /// The issue's `details`: a coding per code sent, each once (a code without a system
    /// beside the same code with one says nothing more), and as text the original text, else
    /// the text of a code sent as words alone (as `CWE[CodeableConcept]` reads a CWE), so an
    /// error sent that way keeps them.
    fn details(&self, plan: &Plan) -> Option<Json> {
        let mut codings: Vec<Json> = Vec::new();
        for coding in self.codes().filter_map(|(c, bound)| c.coding(plan, bound)) {
            let same = |a: &Json, b: &Json, k: &str| a.get(k) == b.get(k);
            if codings
                .iter()
                .any(|c| same(c, &coding, "code") && same(c, &coding, "system"))
            {
                continue;
            }
            codings.push(coding);
        }
        let has_system = |c: &Json| c.get("system").is_some();
        let kept: Vec<Json> = codings
            .iter()
            .filter(|c| {
                has_system(c)
                    || !codings
                        .iter()
                        .any(|d| has_system(d) && d.get("code") == c.get("code"))
            })
            .cloned()
            .collect();
        let mut details = serde_json::Map::new();
        if !kept.is_empty() {
            details.insert("coding".into(), Json::Array(kept));
        }
        let text = if !self.original.is_empty() {
            self.original.as_str()
        } else {
            self.codes()
                .find(|(c, _)| c.code.is_empty() && !c.display.is_empty())
                .map_or("", |(c, _)| c.display.as_str())
        };
        if !text.is_empty() {
            details.insert("text".into(), text.into());
        }
        (!details.is_empty()).then_some(Json::Object(details))
    }
}

/// The code system URL of a coding system name: through the coding system vocabulary, else
/// `HL7nnnn` as its terminology.hl7.org code system; `None` for a name neither knows.
fn system_url(plan: &Plan, name: &str) -> Option<String> {
    let known = plan
        .vocabulary_index
        .get(CODING_SYSTEMS)
        .and_then(|&v| plan.vocabularies[v].forward.get(name));
    if let Some(concept) = known {
        return Some(concept.code.clone());
    }
    let mut url = String::new();
    hl7_table_system(name, &mut url).then_some(url)
}

fn severity(err4: &str, ack: &str) -> &'static str {
    match err4 {
        "W" => "warning",
        "I" => "information",
        "F" => "fatal",
        "E" => "error",
        _ if matches!(ack, "AA" | "CA") => "information",
        _ => "error",
    }
}

/// The FHIR element the writeback filled from `SEG-field`, through the message maps: a row
/// that runs both ways names it, before one that runs backwards only (PID-7 is birthDate,
/// which the birth time extension, written back first when present, only refines).
///
/// `answered` is the structure of the message the ACK answers (from its trigger event, MSH-9.2):
/// an NTE in an ORU^R01 is an Observation's note, not an Appointment's comment. Without one,
/// the first structure that maps the field names it.
fn expression(plan: &Plan, answered: Option<usize>, at: &ErrorLocation) -> Option<String> {
    let (segment, field) = (at.segment.as_str(), at.field?);
    let mut reverse_only = None;
    let structures = match answered {
        Some(i) => std::slice::from_ref(&plan.structures[i]),
        None => &plan.structures[..],
    };
    for s in structures {
        for node in &s.nodes {
            if node.name != segment {
                continue;
            }
            for row in &node.rows {
                let map = &plan.maps[row.map];
                for r in &map.rows {
                    if let Some(Operand::Path(p)) = &r.source
                        && p.segment_id() == segment
                        && p.field == field
                        && r.direction.reverse()
                    {
                        let mut element = fhirpath(&row.resource, &map.fhir_type, &r.target);
                        if let Some(c) = at.component {
                            refine_to_component(plan, r, c, &mut element);
                        }
                        if r.direction.forward() {
                            return Some(element);
                        }
                        reverse_only.get_or_insert(element);
                    }
                }
            }
        }
    }
    reverse_only
}

/// Narrows the FHIRPath of a field's element to the element a component went to, when the
/// field's data type map has a row reading that component (`PID-5.1` is `Patient.name.family`);
/// else the field's element stands for it.
fn refine_to_component(plan: &Plan, field_row: &MapRow, component: u32, path: &mut String) {
    let Conversion::Map(m) = field_row.conversion else {
        return;
    };
    let map = &plan.maps[m];
    let reads = |r: &&MapRow, exact: bool| {
        r.direction.reverse()
            && matches!(&r.source, Some(Operand::Relative(nums))
                if nums.first() == Some(&component) && (!exact || nums.len() == 1))
    };
    let row = (map.rows.iter().find(|r| reads(r, true)))
        .or_else(|| map.rows.iter().find(|r| reads(r, false)));
    if let Some(r) = row {
        append_steps(path, &map.fhir_type, &r.target);
    }
}

/// Where an error lies, as ERR-2 (ERL) or ERR-1 (ELD) give it: the segment id, and the
/// segment's occurrence, field, repetition, component and subcomponent where sent.
#[derive(Debug, Clone, Default, PartialEq)]
struct ErrorLocation {
    segment: String,
    sequence: Option<u32>,
    field: Option<u32>,
    repetition: Option<u32>,
    component: Option<u32>,
    subcomponent: Option<u32>,
}

impl ErrorLocation {
    /// The location as a terser path, the form HL7 tools write: `OBX[2]-5`, `PID-3[2].1`. A
    /// first occurrence or repetition goes unsaid, as in such paths; a part after one the
    /// sender left out is not named (a component without its field would place nothing).
    fn path(&self) -> String {
        let mut path = self.segment.clone();
        if let Some(n) = self.sequence.filter(|&n| n > 1) {
            let _ = write!(path, "[{n}]");
        }
        let Some(field) = self.field else {
            return path;
        };
        let _ = write!(path, "-{field}");
        if let Some(n) = self.repetition.filter(|&n| n > 1) {
            let _ = write!(path, "[{n}]");
        }
        if let Some(c) = self.component {
            let _ = write!(path, ".{c}");
            if let Some(s) = self.subcomponent {
                let _ = write!(path, ".{s}");
            }
        }
        path
    }
}

/// One issue: an error's condition, with its locations (as ERR-2 or ERR-1 give them) and the
/// FHIR elements the writeback filled from them.
fn issue(
    plan: &Plan,
    answered: Option<usize>,
    severity: &str,
    condition: &Condition,
    diagnostics: &str,
    locations: &[ErrorLocation],
) -> Json {
    let mut issue = serde_json::Map::new();
    issue.insert("severity".into(), severity.into());
    issue.insert(
        "code".into(),
        condition.issue_type().unwrap_or("processing").into(),
    );
    if let Some(details) = condition.details(plan) {
        issue.insert("details".into(), details);
    }
    if !diagnostics.is_empty() {
        issue.insert("diagnostics".into(), diagnostics.into());
    }
    let mut paths = Vec::new();
    let mut expressions = Vec::new();
    for at in locations.iter().filter(|l| !l.segment.is_empty()) {
        let path = Json::String(at.path());
        if !paths.contains(&path) {
            paths.push(path);
        }
        if let Some(expr) = expression(plan, answered, at) {
            let expr = Json::String(expr);
            if !expressions.contains(&expr) {
                expressions.push(expr);
            }
        }
    }
    if !expressions.is_empty() {
        issue.insert("expression".into(), Json::Array(expressions));
    }
    if !paths.is_empty() {
        issue.insert("location".into(), Json::Array(paths));
    }
    Json::Object(issue)
}

/// The FHIRPath naming a mapping row's target element in `resource` (of FHIR type `ty`).
///
/// The table's own syntax does not carry over: its list indexes (`[1]`, `[$]`, `[]`) count
/// from 1, and say where translation puts a value, not which entry the request had, so the
/// path names the element in every entry (`Encounter.location.location`); `extension(URL)`
/// becomes the FHIR function `extension('URL')`; `_birthDate` (where JSON puts a primitive's
/// extensions) is `birthDate`; and a choice element (`deceasedDateTime`) is its name and
/// type, `deceased.ofType(dateTime)`, as FHIRPath sees choices.
fn fhirpath(resource: &str, ty: &str, target: &Target) -> String {
    let mut path = resource.to_string();
    append_steps(&mut path, ty, target);
    path
}

/// Appends the steps of `target`, an element of the FHIR type `ty`, to `path`; see
/// [`fhirpath`].
fn append_steps(path: &mut String, ty: &str, target: &Target) {
    let mut owner = ty;
    for step in &target.steps {
        match step {
            Step::Member { name, .. } => {
                let name = name.strip_prefix('_').unwrap_or(name);
                let element = elements::element(owner, name);
                match element.filter(|e| !e.choice.is_empty()) {
                    Some(e) => {
                        let _ = write!(path, ".{}.ofType({})", e.choice, e.ty);
                    }
                    None => {
                        let _ = write!(path, ".{name}");
                    }
                }
                owner = element.map_or("", |e| e.ty);
            }
            Step::Entry { name, key, value } => {
                let value = value.replace('\\', "\\\\").replace('\'', "\\'");
                let _ = write!(path, ".{name}.where({} = '{value}')", key.join("."));
                owner = elements::element(owner, name).map_or("", |e| e.ty);
            }
            Step::Extension { name, url, .. } => {
                // A FHIRPath string literal escapes `\` and `'`.
                let url = url.replace('\\', "\\\\").replace('\'', "\\'");
                if name == "extension" {
                    let _ = write!(path, ".extension('{url}')");
                } else {
                    let _ = write!(path, ".{name}.where(url = '{url}')");
                }
                owner = "Extension";
            }
        }
    }
}

/// A position HL7 counts from 1 (a field number, an occurrence), when `text` is one.
fn position(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|&n| n > 0)
}

fn text(msg: &Message<'_>, seg: &crate::v2::Segment<'_>, field: usize, comp: usize) -> String {
    let _ = msg;
    seg.field(field)
        .and_then(|f| f.component(comp))
        .and_then(|c| c.text().ok())
        .map(|t| t.trim().to_string())
        .unwrap_or_default()
}

/// Reads an ACK.
pub fn answer(plan: &Plan, ack: &[u8]) -> Result<Answer, Error> {
    let mut parser = Parser::new(ParseOptions::tolerant());
    let msg = parser.parse(ack)?;
    answer_message(plan, &msg, None)
}

/// Reads the MSA and ERR segments of a parsed message (an ACK, or a query response that
/// reports an error). `code` stands in for MSA-1 when another field carries the verdict: a
/// query response whose MSA-1 is AA but whose QAK-2 is AE or AR.
pub fn answer_message(plan: &Plan, msg: &Message<'_>, code: Option<&str>) -> Result<Answer, Error> {
    let msg = *msg;
    let msa = msg
        .first("MSA")
        .ok_or_else(|| Error::new(ErrorKind::MissingRequired, "an ACK needs an MSA segment"))?;
    let code = code.map_or_else(|| text(&msg, &msa, 1, 1), str::to_string);
    if !matches!(code.as_str(), "AA" | "AE" | "AR" | "CA" | "CE" | "CR") {
        return Err(Error::new(
            ErrorKind::BadValue,
            "MSA-1 is not an acknowledgment code (AA, AE, AR, CA, CE, CR)",
        )
        .at(msa.field(1).map_or(msa.location(), |f| f.location())));
    }
    let control_id = text(&msg, &msa, 2, 1);
    let msa3 = text(&msg, &msa, 3, 1);
    // The message answered: an ACK's MSH-9.2 repeats its trigger event, and writeback writes
    // each event in the message type its letter names (A01 in an ADT).
    let header = msg.header();
    let event = text(&msg, &header, 9, 2);
    let answered = (!event.is_empty())
        .then(|| plan.route(super::event::message_type(&event), &event, ""))
        .flatten();
    let mut issues = Vec::new();
    for err in msg.segments_with_id("ERR") {
        let severity = severity(&text(&msg, &err, 4, 1), &code);
        // The user message (ERR-8) and the diagnostic information (ERR-7) say different
        // things to different readers: both are kept, one per line. MSA-3 is the older
        // (before v2.5) place for the reason.
        let (user, diagnostic) = (text(&msg, &err, 8, 1), text(&msg, &err, 7, 1));
        let diagnostics = match (user.is_empty(), diagnostic.is_empty()) {
            (false, false) if user != diagnostic => format!("{user}\n{diagnostic}"),
            (false, _) => user,
            (true, false) => diagnostic,
            (true, true) => msa3.clone(),
        };
        // ERR-3 or ERR-5 as sent: its code, its alternate code (CWE.4 to .6), its original
        // text.
        let cwe = |n: usize| {
            let c = |k: usize| text(&msg, &err, n, k);
            let triplet = |k: usize| Code {
                code: c(k),
                display: c(k + 1),
                system: c(k + 2),
            };
            err.field(n)
                .filter(|f| !f.is_empty())
                .map(|_| (triplet(1), triplet(4), c(9)))
        };
        // ERR-5, the application's own code for the error, goes with whatever gives the HL7
        // one (ERR-3, or ELD.4 before v2.5).
        let err5 = cwe(5).unwrap_or_default();
        let condition = |hl7: Code, alternate: Code, original: String| Condition {
            hl7,
            others: vec![alternate, err5.0.clone(), err5.1.clone()],
            original: if original.is_empty() {
                err5.2.clone()
            } else {
                original
            },
        };
        let err3 = cwe(3).map(|(hl7, alternate, original)| condition(hl7, alternate, original));
        let uncoded = || condition(Code::default(), Code::default(), String::new());
        // From v2.5 an ERR is one error (ERR-3) at its locations (ERR-2). Before, ERR-1 has a
        // repetition per error, each with its own location and code (ELD.4), which ERR-3,
        // when a sender fills it too, overrides.
        let mut errors: Vec<(Condition, Vec<ErrorLocation>)> = Vec::new();
        if let Some(erl) = err.field(2).filter(|f| !f.is_empty()) {
            // ERR-2 repeats when one error involves several places (a pair of fields that
            // contradict each other): all of them are the issue's.
            let part = |rep: &Repetition<'_>, c: usize| {
                rep.component(c)
                    .and_then(|x| x.text().ok())
                    .map(|t| t.trim().to_string())
                    .unwrap_or_default()
            };
            let number = |rep: &Repetition<'_>, c: usize| position(&part(rep, c));
            let locations = erl.repetitions().map(|r| ErrorLocation {
                segment: part(&r, 1),
                sequence: number(&r, 2),
                field: number(&r, 3),
                repetition: number(&r, 4),
                component: number(&r, 5),
                subcomponent: number(&r, 6),
            });
            errors.push((err3.unwrap_or_else(uncoded), locations.collect()));
        } else {
            let eld = err.field(1).into_iter().flat_map(|f| f.repetitions());
            for rep in eld.filter(|r| !r.is_empty()) {
                let sub = |c: usize, s: usize| {
                    rep.component(c)
                        .and_then(|x| x.subcomponent(s))
                        .and_then(|x| x.text().ok())
                        .map(|t| t.trim().to_string())
                        .unwrap_or_default()
                };
                let triplet = |k: usize| Code {
                    code: sub(4, k),
                    display: sub(4, k + 1),
                    system: sub(4, k + 2),
                };
                let c = err3
                    .clone()
                    .unwrap_or_else(|| condition(triplet(1), triplet(4), String::new()));
                let location = ErrorLocation {
                    segment: sub(1, 1),
                    sequence: position(&sub(2, 1)),
                    field: position(&sub(3, 1)),
                    ..ErrorLocation::default()
                };
                errors.push((c, vec![location]));
            }
            if errors.is_empty() {
                errors.push((err3.unwrap_or_else(uncoded), Vec::new()));
            }
        }
        for (condition, locations) in errors {
            issues.push(issue(
                plan,
                answered,
                severity,
                &condition,
                &diagnostics,
                &locations,
            ));
        }
    }
    if issues.is_empty() {
        let (sev, ty, text) = match code.as_str() {
            "AA" | "CA" => ("information", "informational", "the message was accepted"),
            "AR" | "CR" => ("error", "processing", "the message was rejected"),
            _ => ("error", "processing", "the message was not processed"),
        };
        let diag = if msa3.is_empty() {
            text.to_string()
        } else {
            msa3.clone()
        };
        issues.push(json!({"severity": sev, "code": ty, "diagnostics": diag}));
    }
    let outcome =
        json!({"resourceType": "OperationOutcome", "id": outcome_id(&control_id), "issue": issues});
    Ok(Answer {
        code,
        control_id,
        outcome,
    })
}

/// The id of the OperationOutcome answering the message whose control id (MSA-2) is
/// `control_id`: the control id itself when it is a FHIR id, which ties the answer to the
/// message sent, else a hash of it.
pub(crate) fn outcome_id(control_id: &str) -> String {
    let is_id = !control_id.is_empty()
        && control_id.len() <= 64
        && control_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if is_id {
        return control_id.to_string();
    }
    let mut h = IdHasher::new("OperationOutcome");
    h.add(control_id);
    h.finish()
}

/// The response Bundle to a `transaction` or `batch` writeback: one entry per request entry with
/// its status and the outcome.
pub fn response_bundle(answer: &Answer, request: &Json) -> Json {
    let kind = match request["type"].as_str() {
        Some("batch") => "batch-response",
        _ => "transaction-response",
    };
    let status_for = |method: &str| -> &'static str {
        if answer.accepted() {
            if method == "POST" {
                "201 Created"
            } else {
                "200 OK"
            }
        } else if answer.rejected() && answer.transient() {
            "503 Service Unavailable"
        } else if answer.rejected() {
            "422 Unprocessable Entity"
        } else {
            "400 Bad Request"
        }
    };
    let entries: Vec<Json> = request["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            let method = e
                .pointer("/request/method")
                .and_then(Json::as_str)
                .unwrap_or("PUT");
            json!({"response": {"status": status_for(method), "outcome": answer.outcome}})
        })
        .collect();
    let mut h = IdHasher::new("Bundle");
    h.add(&answer.control_id);
    json!({"resourceType": "Bundle", "id": h.finish(), "type": kind, "entry": entries})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::TableSet;

    fn plan() -> Plan {
        Plan::compile(&TableSet::embedded()).unwrap()
    }

    #[test]
    fn answers() {
        let p = plan();
        let aa = answer(
            &p,
            b"MSH|^~\\&|EHR|H|HL7FHIR|H|20260101||ACK^A08^ACK|9|P|2.5.1\rMSA|AA|CTRL1\r",
        )
        .unwrap();
        assert!(aa.accepted());
        assert_eq!(
            aa.outcome,
            json!({"resourceType": "OperationOutcome", "id": "CTRL1", "issue": [{"severity": "information", "code": "informational", "diagnostics": "the message was accepted"}]})
        );
        let ae = answer(&p, b"MSH|^~\\&|EHR|H|HL7FHIR|H|20260101||ACK^A08^ACK|9|P|2.5.1\rMSA|AE|CTRL2\rERR||PID^1^7^1|102^Data type error^HL70357|E||||birth date is not a date\rERR||PID^1^8|103^Table value not found^HL70357|W\r").unwrap();
        assert_eq!(
            ae.outcome["issue"][0],
            json!({"severity": "error", "code": "value", "details": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0357", "code": "102", "display": "Data type error"}]}, "diagnostics": "birth date is not a date", "expression": ["Patient.birthDate"], "location": ["PID-7"]})
        );
        assert_eq!(ae.outcome["issue"][1]["severity"], "warning");
        assert_eq!(
            ae.outcome["issue"][1]["expression"],
            json!(["Patient.gender"])
        );
        let ar = answer(&p, b"MSH|^~\\&|EHR|H|HL7FHIR|H|20260101||ACK^R01^ACK|9|P|2.5.1\rMSA|AR|CTRL3\rERR|||207^Application internal error^HL70357|E\r").unwrap();
        assert!(ar.rejected() && ar.transient());
        let old = answer(&p, b"MSH|^~\\&|EHR|H|HL7FHIR|H|20260101||ACK|9|P|2.3\rMSA|AE|CTRL4|bad date\rERR|PID^1^7^102&Data type error&HL70357\r").unwrap();
        assert_eq!(
            old.outcome["issue"][0]["details"]["coding"][0]["code"],
            "102"
        );
        assert_eq!(old.outcome["issue"][0]["diagnostics"], "bad date");
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST"}}, {"request": {"method": "PUT"}}]});
        let b = response_bundle(&aa, &tx);
        assert_eq!(b["entry"][0]["response"]["status"], "201 Created");
        assert_eq!(b["entry"][1]["response"]["status"], "200 OK");
        assert_eq!(
            response_bundle(&ar, &tx)["entry"][0]["response"]["status"],
            "503 Service Unavailable"
        );
        assert_eq!(response_bundle(&ae, &tx)["type"], "transaction-response");
        assert_eq!(
            answer(&p, b"MSH|^~\\&|A|B|C|D|2026||ACK|1|P|2.5\r")
                .unwrap_err()
                .to_string(),
            "an ACK needs an MSA segment"
        );
    }

    /// The issues of an AE answer to an A08 carrying `segments` (ERR segments, CR-separated).
    fn issues(p: &Plan, segments: &str) -> Json {
        issues_answering(p, "A08", segments)
    }

    /// The issues of an AE answer to a message of trigger event `event`.
    fn issues_answering(p: &Plan, event: &str, segments: &str) -> Json {
        let ack = format!(
            "MSH|^~\\&|EHR|H|HL7FHIR|H|20260101||ACK^{event}^ACK|9|P|2.5.1\rMSA|AE|C1\r{segments}\r"
        );
        answer(p, ack.as_bytes()).unwrap().outcome["issue"].clone()
    }

    #[test]
    fn error_codes_are_table_0357_only_when_it_defines_them() {
        let p = plan();
        let v2 = "http://terminology.hl7.org/CodeSystem/v2-0357";
        // (ERR segment, issue code, details)
        let cases = [
            (
                "ERR||PID^1^7|102^Data type error^HL70357|E",
                "value",
                json!({"coding": [{"system": v2, "code": "102", "display": "Data type error"}]}),
            ),
            (
                // ERR-3 is bound to 0357: a code without a system is read from it.
                "ERR||PID^1^7|102^Data type error|E",
                "value",
                json!({"coding": [{"system": v2, "code": "102", "display": "Data type error"}]}),
            ),
            (
                "ERR||PID^1^3|E42^MRN checksum failed^99EPIC|E",
                "processing",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}]}),
            ),
            (
                // Named as 0357, but no code of it.
                "ERR||PID^1^3|E42^MRN checksum failed^HL70357|E",
                "processing",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}]}),
            ),
            (
                "ERR||PID^1^3|E42^MRN checksum failed|E",
                "processing",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}]}),
            ),
            (
                // A local code that looks like a 0357 one means what the site says it means.
                "ERR||PID^1^3|207^Interface paused^99EPIC|E",
                "processing",
                json!({"coding": [{"code": "207", "display": "Interface paused"}]}),
            ),
            (
                // A system the coding system vocabulary knows.
                "ERR||OBX^1^3|2345-7^Glucose^LN|E",
                "processing",
                json!({"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]}),
            ),
            (
                "ERR||PID^1^3|E42^MRN checksum failed^HL70533|E",
                "processing",
                json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0533", "code": "E42", "display": "MRN checksum failed"}]}),
            ),
            (
                // Before v2.5: the code in ERR-1.4.
                "ERR|PID^1^3^E42&MRN checksum failed&99EPIC",
                "processing",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}]}),
            ),
        ];
        for (err, code, details) in cases {
            let issue = &issues(&p, err)[0];
            assert_eq!(issue["code"], code, "{err}");
            assert_eq!(issue["details"], details, "{err}");
        }
    }

    #[test]
    fn alternate_and_application_error_codes_are_codings_of_the_details() {
        let p = plan();
        let v2 = "http://terminology.hl7.org/CodeSystem/v2-0357";
        // (ERR segment, issue code, details)
        let cases = [
            (
                // ERR-3's alternate code, and ERR-5 with a code of a local system and an
                // alternate of a table HL7 names.
                "ERR||PID^1^3|102^Data type error^HL70357^E42^MRN checksum failed^99EPIC|E|CHK7^Check digit^99EPIC^CD^Check digit wrong^HL70533",
                "value",
                json!({"coding": [
                    {"system": v2, "code": "102", "display": "Data type error"},
                    {"code": "E42", "display": "MRN checksum failed"},
                    {"code": "CHK7", "display": "Check digit"},
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0533", "code": "CD", "display": "Check digit wrong"},
                ]}),
            ),
            (
                // A local HL7 error code whose alternate is table 0357's: the issue type is
                // the table's.
                "ERR||PID^1^7|E9^Bad date^99EPIC^102^Data type error^HL70357|E",
                "value",
                json!({"coding": [
                    {"code": "E9", "display": "Bad date"},
                    {"system": v2, "code": "102", "display": "Data type error"},
                ]}),
            ),
            (
                // An alternate code without a system is not read as table 0357's: only ERR-3's
                // own code is bound to it.
                "ERR||PID^1^7|E9^Bad date^99EPIC^102^Data type error|E",
                "processing",
                json!({"coding": [
                    {"code": "E9", "display": "Bad date"},
                    {"code": "102", "display": "Data type error"},
                ]}),
            ),
            (
                // The same code twice is one coding; a code without a system beside the same
                // code with one adds nothing.
                "ERR||PID^1^7|102^Data type error^HL70357^102^Data type error^HL70357|E|102",
                "value",
                json!({"coding": [{"system": v2, "code": "102", "display": "Data type error"}]}),
            ),
            (
                // ERR-5 alone, with its original text.
                "ERR||PID^1^3||E|E42^MRN checksum failed^99EPIC^^^^^^Check digit wrong",
                "processing",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}], "text": "Check digit wrong"}),
            ),
            (
                // An application error code is table 0533's (user-defined) only when named so.
                "ERR||PID^1^3|101^Required field missing^HL70357|E|E42",
                "required",
                json!({"coding": [
                    {"system": v2, "code": "101", "display": "Required field missing"},
                    {"code": "E42"},
                ]}),
            ),
            (
                // Before v2.5: the alternate code in ERR-1.4.4 to .6.
                "ERR|PID^1^7^E9&Bad date&99EPIC&102&Data type error&HL70357",
                "value",
                json!({"coding": [
                    {"code": "E9", "display": "Bad date"},
                    {"system": v2, "code": "102", "display": "Data type error"},
                ]}),
            ),
        ];
        for (err, code, details) in cases {
            let issue = &issues(&p, err)[0];
            assert_eq!(issue["code"], code, "{err}");
            assert_eq!(issue["details"], details, "{err}");
        }
    }

    #[test]
    fn error_text_is_kept() {
        let p = plan();
        // (ERR segment, details, diagnostics)
        let cases = [
            (
                "ERR||PID^1^3|^MRN checksum failed|E",
                json!({"text": "MRN checksum failed"}),
                Json::Null,
            ),
            (
                // The original text (CWE.9) is the text, as CWE[CodeableConcept] has it.
                "ERR||PID^1^3|E42^MRN checksum failed^99EPIC^^^^^^Check digit wrong|E",
                json!({"coding": [{"code": "E42", "display": "MRN checksum failed"}], "text": "Check digit wrong"}),
                Json::Null,
            ),
            (
                "ERR||PID^1^3|^^^^^^^^Check digit wrong|E",
                json!({"text": "Check digit wrong"}),
                Json::Null,
            ),
            (
                "ERR|PID^1^3^&MRN checksum failed",
                json!({"text": "MRN checksum failed"}),
                Json::Null,
            ),
            (
                // Both the user message (ERR-8) and the diagnostic information (ERR-7).
                "ERR||PID^1^3|^MRN checksum failed|E|||Luhn check failed on PID-3.1|Please check the MRN",
                json!({"text": "MRN checksum failed"}),
                json!("Please check the MRN\nLuhn check failed on PID-3.1"),
            ),
            (
                "ERR||PID^1^3|^MRN checksum failed|E|||Luhn check failed on PID-3.1",
                json!({"text": "MRN checksum failed"}),
                json!("Luhn check failed on PID-3.1"),
            ),
        ];
        for (err, details, diagnostics) in cases {
            let issue = &issues(&p, err)[0];
            assert_eq!(issue["details"], details, "{err}");
            assert_eq!(issue["diagnostics"], diagnostics, "{err}");
        }
    }

    #[test]
    fn each_err1_repetition_is_an_issue() {
        let p = plan();
        let v2 = "http://terminology.hl7.org/CodeSystem/v2-0357";
        let got = issues(
            &p,
            "ERR|PID^1^7^102&Data type error&HL70357~PV1^1^3^101&Required field missing&HL70357",
        );
        assert_eq!(
            got,
            json!([
                {"severity": "error", "code": "value", "details": {"coding": [{"system": v2, "code": "102", "display": "Data type error"}]}, "expression": ["Patient.birthDate"], "location": ["PID-7"]},
                {"severity": "error", "code": "required", "details": {"coding": [{"system": v2, "code": "101", "display": "Required field missing"}]}, "expression": ["Encounter.location.location"], "location": ["PV1-3"]},
            ])
        );
        // ELD.2 says which occurrence of the segment.
        assert_eq!(
            issues(&p, "ERR|NK1^2^2^102&Data type error&HL70357")[0]["location"],
            json!(["NK1[2]-2"])
        );
        // An empty repetition names no error.
        assert_eq!(
            issues(&p, "ERR|~PID^1^7^102&Data type error&HL70357"),
            json!([{"severity": "error", "code": "value", "details": {"coding": [{"system": v2, "code": "102", "display": "Data type error"}]}, "expression": ["Patient.birthDate"], "location": ["PID-7"]}])
        );
    }

    #[test]
    fn expressions_are_fhirpath() {
        let p = plan();
        // (ERR-2, the FHIRPath of the element the writeback filled from it)
        let cases = [
            ("PID^1^7", "Patient.birthDate"),
            // The table's list index ([1]) is neither FHIRPath's (from 0) nor known to be
            // the entry the request used: the path names the element, in every entry.
            ("PV1^1^3", "Encounter.location.location"),
            ("IN1^1^3", "Coverage.payor"),
            ("AL1^1^5", "AllergyIntolerance.reaction.manifestation"),
            // An extension by URL, and a choice of types by its name and the type.
            (
                "PD1^1^6",
                "Patient.extension('http://hl7.org/fhir/StructureDefinition/patient-disability').value.ofType(CodeableConcept)",
            ),
            ("OBX^1^5", "Observation.value.ofType(Quantity).value"),
            ("PID^1^29", "Patient.deceased.ofType(dateTime)"),
        ];
        for (erl, want) in cases {
            let got = &issues(&p, &format!("ERR||{erl}|102|E"))[0]["expression"];
            assert_eq!(got, &json!([want]), "{erl}");
        }
        let got = &issues_answering(&p, "R01", "ERR||SPM^1^17|102|E")[0]["expression"];
        assert_eq!(
            got,
            &json!(["Specimen.collection.collected.ofType(dateTime)"])
        );
    }

    #[test]
    fn expressions_come_from_the_structure_of_the_message_answered() {
        let p = plan();
        let expression = |event: &str, erl: &str| {
            issues_answering(&p, event, &format!("ERR||{erl}|102|E"))[0]["expression"].clone()
        };
        // The first NTE of an ORU^R01 is its order's (the report's note); an ADT_A01 has no
        // NTE, so an error there names no element rather than another message's
        // (an Appointment's comment, the first structure's).
        assert_eq!(
            expression("R01", "NTE^1^3"),
            json!([
                "DiagnosticReport.extension('http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note').value.ofType(Annotation).text"
            ])
        );
        assert_eq!(expression("A01", "NTE^1^3"), Json::Null);
        assert_eq!(expression("P03", "FT1^1^7"), json!(["ChargeItem.code"]));
        // A list entry chosen by a member's value: FHIRPath's `where`.
        assert_eq!(
            expression("T02", "OBX^1^5"),
            json!([
                "DocumentReference.content.where(attachment.contentType = 'application/text').attachment.data"
            ])
        );
        // No trigger event: the first structure that maps the field names it.
        assert_eq!(expression("", "PID^1^7"), json!(["Patient.birthDate"]));
    }

    #[test]
    fn every_err2_location_is_kept() {
        let p = plan();
        let cases = [
            (
                "ERR||PID^1^3~PID^1^5|101^Required field missing^HL70357|E",
                json!(["PID-3", "PID-5"]),
                json!(["Patient.identifier", "Patient.name"]),
            ),
            (
                // A location no row maps keeps its place in `location` alone; an empty
                // repetition names none.
                "ERR||PID^1^3~~ZZ1^1^2~PV1^1^3|101^Required field missing^HL70357|E",
                json!(["PID-3", "ZZ1-2", "PV1-3"]),
                json!(["Patient.identifier", "Encounter.location.location"]),
            ),
            (
                // Two repetitions are two places in one element, which is named once.
                "ERR||PID^1^3^1~PID^1^3^2|102^Data type error^HL70357|E",
                json!(["PID-3", "PID-3[2]"]),
                json!(["Patient.identifier"]),
            ),
            (
                // The occurrence, repetition, component and subcomponent ERL gives, as a
                // terser path; a component narrows the element to the one it went to.
                "ERR||OBX^2^5~PID^1^5^2^1~PID^1^11^1^3~PID^1^3^1^4^2|102^Data type error^HL70357|E",
                json!(["OBX[2]-5", "PID-5[2].1", "PID-11.3", "PID-3.4.2"]),
                json!([
                    "Observation.value.ofType(Quantity).value",
                    "Patient.name.family",
                    "Patient.address.city",
                    "Patient.identifier.system"
                ]),
            ),
            (
                // A component no row reads stands for its field's element; a part after one
                // left out places nothing.
                "ERR||PID^1^8^1^9~PV1^1^^^2|102^Data type error^HL70357|E",
                json!(["PID-8.9", "PV1"]),
                json!(["Patient.gender"]),
            ),
        ];
        for (err, locations, expressions) in cases {
            let got = issues(&p, err);
            assert_eq!(got.as_array().map(Vec::len), Some(1), "{err}");
            assert_eq!(got[0]["location"], locations, "{err}");
            assert_eq!(got[0]["expression"], expressions, "{err}");
        }
    }
}
