//! Checking and compiling a [`TableSet`] into a [`Plan`]: every path, condition, target and
//! reference is parsed and checked once, here; translating only follows indices.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::condition::{self, Condition, Operand};
use super::load::{Row, TableSet, read_rows};
use super::target::{self, Step, Target};
use crate::error::{Error, ErrorKind};
use crate::fhir::datetime::DateKind;
use crate::fhir::elements::{self, Requirements};
use crate::v2::{Path, spec};

/// Which way a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both v2 → FHIR and FHIR → v2.
    Both,
    /// v2 → FHIR only.
    Forward,
    /// FHIR → v2 only.
    Reverse,
}

impl Direction {
    /// True when the row runs v2 → FHIR.
    pub fn forward(self) -> bool {
        self != Direction::Reverse
    }

    /// True when the row runs FHIR → v2.
    pub fn reverse(self) -> bool {
        self != Direction::Forward
    }
}

/// A primitive conversion (the `type` column when it is not a data type map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// Decoded text.
    Text,
    /// Decoded text, every repetition, joined with line feeds (TX, FT).
    JoinedText,
    /// A code, trimmed.
    Code,
    /// Y/N as a boolean.
    Boolean,
    /// A decimal number.
    Decimal,
    /// An integer (also positiveInt and unsignedInt, checked for sign).
    Integer {
        /// The least value allowed (0 or 1).
        min: i64,
    },
    /// A date/time.
    Date(DateKind),
    /// A structured numeric (SN) as a Quantity.
    SnQuantity,
    /// A structured numeric (SN) as a Range.
    SnRange,
    /// A structured numeric (SN) as a Ratio (`^1^:^128`, a titer).
    SnRatio,
    /// A structured numeric (SN) as text, its valued components joined by single spaces: the
    /// IG's string form for the forms no Quantity, Range or Ratio says (`<>^5`, `^2^+`).
    /// Forward only.
    SnText,
    /// Text added, after a space, to the end of the string an earlier row wrote to the same
    /// element (a structured numeric's units); nothing when no row did. Forward only.
    AppendedText,
    /// The sender as an endpoint URL (MessageHeader.source.endpoint).
    Endpoint,
    /// An HD (namespace, universal id, type) as a URI: `urn:oid:` for ISO, `urn:uuid:` for
    /// UUID, the id itself for URI; nothing for other types.
    HdUri,
    /// An EI (entity id, namespace, universal id, type) as a URI, like [`Primitive::HdUri`].
    EiUri,
    /// An XTN as one telephone number or address text.
    Telecom,
    /// A code translated by a vocabulary into a whole Coding (system, code, display).
    CodedAs {
        /// True for a CodeableConcept, which also keeps the HL7 coding.
        concept: bool,
    },
    /// The display of the concept a vocabulary translates a code into, as text: a race's words
    /// where the sender gave the code alone. Forward only.
    Display,
    /// A coding system name (HL7 table 0396) as a code system URL.
    CodeSystem,
    /// Text, every repetition joined with line feeds, as base64 of its UTF-8 (attachment data).
    TextAsBase64,
    /// Text that is already base64 (ED data), checked.
    Base64,
    /// A range with both bounds as the text HL7 gives a reference range (OBX-7, `70-99`).
    /// Backwards only: forward, the text is kept as text.
    RangeText,
    /// The MIME type of encapsulated data (ED) or of a reference pointer (RP) put together from
    /// its type of data (ED.2, RP.3), through the row's vocabulary, and its subtype (ED.3,
    /// RP.4); a subtype sent as a whole MIME type is kept. Forward only.
    MediaType {
        /// True for RP, whose type and subtype come one component later than ED's.
        pointer: bool,
    },
    /// Every entry of a list of strings no earlier row took, joined by single spaces, into one
    /// component: XPN.3 holds the second and further given names. Backwards only, in a data
    /// type map.
    Words,
}

/// How a row's value becomes FHIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// A primitive conversion.
    Primitive(Primitive),
    /// A data type map (index into [`Plan::maps`]).
    Map(usize),
}

/// A compiled row of a segment or data type map.
#[derive(Debug, Clone)]
pub struct MapRow {
    /// 1-based line in the map's file.
    pub line: u32,
    /// What the row reads; `None` for a constant.
    pub source: Option<Operand>,
    /// The row applies only when this holds.
    pub when: Option<Condition>,
    /// Where the value goes.
    pub target: Target,
    /// True when the row maps every repetition of its field (a `[]` step in the target).
    pub each_repetition: bool,
    /// How the value is converted.
    pub conversion: Conversion,
    /// A vocabulary (index into [`Plan::vocabularies`]).
    pub vocabulary: Option<usize>,
    /// A constant written to the target (rows without source, or "when valued" rows).
    pub constant: Option<String>,
    /// Defaults set in each element a data type map builds: (target within it, value).
    pub defaults: Vec<(Target, String)>,
    /// Backwards, for a row handing one list entry (`performer[1]`) to a map that builds a
    /// resource: what the entry must hold to be taken, from the constants the row's forward
    /// siblings set in it (the function `SPRF` the technician's OBR-34 gives its performer).
    /// (target within the entry, value); an entry that lacks one came from elsewhere.
    pub requires: Vec<(Target, String)>,
    /// Which way the row runs.
    pub direction: Direction,
    /// True when a lightweight notification needs this row (identifiers, required elements).
    pub light: bool,
}

/// A compiled segment or data type map.
#[derive(Debug, Clone)]
pub struct ElementMap {
    /// The map's name, e.g. `PID[Patient]`.
    pub name: String,
    /// Its file, for error messages.
    pub file: String,
    /// The HL7 v2 side: a segment id or data type.
    pub v2: String,
    /// The FHIR type it builds.
    pub fhir_type: String,
    /// True when it builds a resource of its own (a data type map such as `XCN[Practitioner]`).
    pub creates_resource: bool,
    /// What FHIR requires of the type it builds.
    pub requirements: &'static Requirements,
    /// For a data type map building a resource: the components whose text identifies it
    /// (rows targeting `id`), so that its id is a hash of those alone; empty when the whole
    /// value does. A room's Location is the same whichever of its beds a PL names.
    pub key: Vec<KeyComponent>,
    /// The rows, in file order.
    pub rows: Vec<MapRow>,
}

/// A reference a message map row makes between resources.
#[derive(Debug, Clone)]
pub enum Link {
    /// This resource's element (a Reference) points at the nearest resource of type `to`.
    Outgoing {
        /// The element, relative to this resource.
        target: Target,
        /// The referenced resource type.
        to: String,
        /// `?=`: only when that resource is the only one of its type as near (an OBX of an
        /// order with two SPM names neither Specimen: HL7 does not say which one it is of).
        sole: bool,
    },
    /// The nearest resource of type `from` gets a reference to this one appended to `element`.
    Incoming {
        /// The resource type that holds the reference.
        from: String,
        /// The list element on it (a Reference list), or a Reference in a list entry
        /// (`diagnosis[].condition`).
        target: Target,
        /// A segment map of this row's segment run over the `from` resource once the reference
        /// is appended (`Encounter.diagnosis[].condition+=DG1[Encounter]`): its rows fill the
        /// rest of the new entry (`diagnosis[$].rank`).
        fill: Option<usize>,
        /// `||=`: appended only to a list that every other link left empty (the Patient in a
        /// MessageHeader's focus when the message has none of the resources its event is
        /// about); every fallback to that list is appended then.
        fallback: bool,
    },
}

impl Link {
    /// True for a `||=` link, made only into a list the other links left empty.
    pub fn is_fallback(&self) -> bool {
        matches!(self, Link::Incoming { fallback: true, .. })
    }
}

/// A row of a message map attached to a segment.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// 1-based line in the message map.
    pub line: u32,
    /// The resource type made or added to.
    pub resource: String,
    /// What FHIR requires of that type.
    pub requirements: &'static Requirements,
    /// True for `+Resource`: add to the nearest existing one.
    pub merge: bool,
    /// The segment map (index into [`Plan::maps`]).
    pub map: usize,
    /// The row applies only when this holds.
    pub when: Option<Condition>,
    /// References to and from other resources.
    pub links: Vec<Link>,
    /// Paths whose values identify the resource.
    pub key: Vec<Path>,
    /// False for a `+Resource` row with no links whose map runs backwards only (a list's
    /// entries written as segments of their own): forward it reads nothing, and makes nothing.
    pub forward: bool,
    /// False when the row's map runs forward only: backwards it writes nothing, so no resource
    /// is written as its segment (the living will's Observation, made from PD1-7, is written
    /// where any Observation is).
    pub reverse: bool,
}

/// A node of a message structure.
#[derive(Debug, Clone)]
pub struct StructureNode {
    /// Segment id or group name.
    pub name: String,
    /// For a segment, its id.
    pub segment: Option<[u8; 3]>,
    /// Child nodes (groups only), indices into [`Structure::nodes`].
    pub children: Vec<usize>,
    /// The enclosing group (`None` for the root).
    pub parent: Option<usize>,
    /// Minimum occurrences.
    pub min: u32,
    /// True when it may repeat.
    pub repeats: bool,
    /// For a group: the segment ids that can start it.
    pub first: Vec<[u8; 3]>,
    /// For a segment: the message map rows applied to it.
    pub rows: Vec<MessageRow>,
}

/// A message structure (`ADT_A01`) with its resources.
#[derive(Debug, Clone)]
pub struct Structure {
    /// The structure name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Nodes; node 0 is the root group.
    pub nodes: Vec<StructureNode>,
}

/// One vocabulary entry, in FHIR terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    /// The FHIR code.
    pub code: String,
    /// Its display.
    pub display: String,
    /// Its code system URL.
    pub system: String,
}

/// A map keyed by code. Translating looks codes up several times per message; codes are a few
/// bytes and the tables are the analyst's, not the sender's, so a short FNV-1a hash serves
/// where `std`'s DoS-resistant SipHash would cost several times as much.
pub type CodeMap<V> = HashMap<String, V, BuildHasherDefault<CodeHasher>>;

/// FNV-1a, 64-bit: the hasher of [`CodeMap`].
#[derive(Debug, Clone, Copy)]
pub struct CodeHasher(u64);

impl Default for CodeHasher {
    fn default() -> CodeHasher {
        CodeHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for CodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A compiled vocabulary map.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Name (the file stem).
    pub name: String,
    /// HL7 code → FHIR concept. A sender's code means the concept only in the coding system
    /// its row names: read codes through [`Vocabulary::translate`], which checks it.
    pub forward: CodeMap<Concept>,
    /// HL7 code → the coding systems its rows name (`system`: `HL70078`, a table 0396 name,
    /// or a URL): several where a code has one meaning under each name (a race code of table
    /// 0005 and of CDCREC).
    pub forward_systems: CodeMap<Vec<String>>,
    /// FHIR system → FHIR code → HL7 concept (code, display, HL7 table), from the one row of
    /// each FHIR code that runs both ways (rows marked `forward` translate only HL7 to FHIR).
    pub reverse: HashMap<String, HashMap<String, Concept>>,
    /// FHIR code alone → HL7 concept, first such row wins (for `code` elements, which carry no
    /// system).
    pub reverse_by_code: HashMap<String, Concept>,
}

impl Vocabulary {
    /// The FHIR concept of the HL7 code `code` sent in the coding system `system` (`None`:
    /// none named, the field's own table). A code sent in another coding system (a lab's local
    /// `H^High^99LAB` in an abnormal flag) is that system's code, whatever the table's code of
    /// the same letters means: it has no concept here.
    pub fn translate(&self, code: &str, system: Option<&str>) -> Option<&Concept> {
        let concept = self.forward.get(code)?;
        match system {
            None => Some(concept),
            Some(sent) => self
                .forward_systems
                .get(code)
                .is_some_and(|rows| rows.iter().any(|row| names_same_system(sent, row)))
                .then_some(concept),
        }
    }

    /// The HL7 concept for a FHIR code, by system when one is given.
    pub fn back(&self, system: Option<&str>, code: &str) -> Option<&Concept> {
        match system {
            Some(s) => self.reverse.get(s).and_then(|codes| codes.get(code)),
            None => self.reverse_by_code.get(code),
        }
    }
}

/// True when the coding system a message names (`sent`, CWE.3) is the one a vocabulary row
/// names (`row`): the same name, or for an HL7 table (`HL70078`) also its terminology.hl7.org
/// code system URL (`http://terminology.hl7.org/CodeSystem/v2-0078`), the name FHIR gives it.
pub fn names_same_system(sent: &str, row: &str) -> bool {
    if sent == row {
        return true;
    }
    match (
        row.strip_prefix("HL7"),
        sent.strip_prefix("http://terminology.hl7.org/CodeSystem/v2-"),
    ) {
        (Some(table), Some(sent_table)) => {
            table.len() == 4 && table.bytes().all(|b| b.is_ascii_digit()) && table == sent_table
        }
        _ => false,
    }
}

/// The compiled tables.
#[derive(Debug, Clone)]
pub struct Plan {
    /// (message type, trigger event) → structure index.
    pub events: HashMap<(String, String), usize>,
    /// Structure name → index.
    pub structure_index: HashMap<String, usize>,
    /// The message structures.
    pub structures: Vec<Structure>,
    /// Segment and data type maps.
    pub maps: Vec<ElementMap>,
    /// Map name → index.
    pub map_index: HashMap<String, usize>,
    /// Vocabularies.
    pub vocabularies: Vec<Vocabulary>,
    /// Vocabulary name → index.
    pub vocabulary_index: HashMap<String, usize>,
}

fn err(file: &str, line: u32, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Mapping, msg).in_table(file.to_string(), line)
}

/// An error from loading a table a row names: kept when it names a place in that table, else
/// placed at the row (a missing map file is the mistake of the row that names it).
fn at_row(er: Error, file: &str, line: u32) -> Error {
    if er.table().is_some() {
        er
    } else {
        err(file, line, er.reason())
    }
}

/// The resource type and list an incoming link (`Resource.list+=`, `Resource.list||=`) adds
/// to. `+=` appends to the list the path ends at, so that list needs no `[]` of its own; a path
/// ending at a single Reference names the list entry it adds instead (`diagnosis[].condition`).
fn incoming_target(lhs: &str) -> Result<(&str, Target), String> {
    let (from, element) = lhs.split_once('.').ok_or("expected Resource.element+=")?;
    if !elements::is_resource(from) {
        return Err(format!("`{from}` is not a resource type"));
    }
    let element = element.trim();
    let target = if element.ends_with(']') {
        target::parse(from, element)?
    } else {
        target::parse(from, &format!("{element}[]"))
            .or_else(|list| target::parse(from, element).map_err(|_| list))?
    };
    if !target.steps.iter().any(Step::appends) {
        return Err(format!(
            "`+=` adds an entry to a list, and {from}.{element} adds none: write `[]` after the list"
        ));
    }
    if target.ty != "Reference" {
        return Err(format!(
            "{from}.{element} is a {}, not a Reference",
            target.ty
        ));
    }
    Ok((from, target))
}

/// Takes the rows of a resource-building data type map that target `id` out of its rows: each
/// names a component whose text identifies the resource (see [`ElementMap::key`]). They write
/// nothing, so they take no condition, type, vocabulary or value, and run forward only.
/// A component of a resource-building data type map's key (a row targeting `id`).
#[derive(Debug, Clone)]
pub struct KeyComponent {
    /// The component (`1`, `9.1`).
    pub nums: Vec<u32>,
    /// It counts only when this holds: a practitioner's assigning authority (XCN.9) tells
    /// practitioners apart only beside their number (XCN.1), as it would make every unnumbered
    /// practitioner of one authority the same one.
    pub when: Option<Condition>,
}

fn take_key_rows(rows: &mut Vec<MapRow>, file: &str) -> Result<Vec<KeyComponent>, Error> {
    let mut key = Vec::new();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        if row.target.text != "id" {
            kept.push(row);
            continue;
        }
        let plain = row.vocabulary.is_none()
            && row.constant.is_none()
            && row.defaults.is_empty()
            && row.conversion == Conversion::Primitive(Primitive::Text)
            && row.direction == Direction::Forward;
        match &row.source {
            Some(Operand::Relative(nums)) if !nums.is_empty() && plain => key.push(KeyComponent {
                nums: nums.clone(),
                when: row.when.clone(),
            }),
            _ => {
                return Err(err(
                    file,
                    row.line,
                    "a row targeting `id` names a component that identifies the resource: \
                     a component alone, forward, with no type or value"
                        .to_string(),
                ));
            }
        }
    }
    *rows = kept;
    Ok(key)
}

/// Splits `PID[Patient]` into (`PID`, `Patient`).
fn split_map_name(name: &str) -> Option<(&str, &str)> {
    let (v2, rest) = name.split_once('[')?;
    let fhir = rest.strip_suffix(']')?;
    (!v2.is_empty() && !fhir.is_empty()).then_some((v2, fhir))
}

fn primitive(name: &str) -> Option<(Primitive, &'static [&'static str])> {
    const TEXT: &[&str] = &[
        "string",
        "markdown",
        "uri",
        "url",
        "canonical",
        "id",
        "code",
        "oid",
        "uuid",
    ];
    Some(match name {
        "ST[string]" | "ST[markdown]" | "ST[uri]" | "ST[id]" => (Primitive::Text, TEXT),
        "TX[string]" | "FT[string]" | "TX[markdown]" => {
            (Primitive::JoinedText, &["string", "markdown"])
        }
        "ID[code]" => (Primitive::Code, &["code", "string", "id"]),
        "ID[boolean]" => (Primitive::Boolean, &["boolean"]),
        "NM[decimal]" => (Primitive::Decimal, &["decimal"]),
        "NM[integer]" => (Primitive::Integer { min: i64::MIN }, &["integer"]),
        "NM[positiveInt]" => (Primitive::Integer { min: 1 }, &["positiveInt"]),
        "NM[unsignedInt]" => (Primitive::Integer { min: 0 }, &["unsignedInt"]),
        "DTM[dateTime]" => (Primitive::Date(DateKind::DateTime), &["dateTime"]),
        "DTM[date]" => (Primitive::Date(DateKind::Date), &["date"]),
        "DTM[instant]" => (Primitive::Date(DateKind::Instant), &["instant"]),
        "DTM[time]" => (Primitive::Date(DateKind::Time), &["time"]),
        "SN[Quantity]" => (Primitive::SnQuantity, &["Quantity"]),
        "SN[Range]" => (Primitive::SnRange, &["Range"]),
        "SN[Ratio]" => (Primitive::SnRatio, &["Ratio"]),
        "SN[string]" => (Primitive::SnText, &["string"]),
        "ST[appended]" => (Primitive::AppendedText, &["string"]),
        "HD[endpoint]" => (Primitive::Endpoint, &["url"]),
        "HD[uri]" => (Primitive::HdUri, &["uri", "string"]),
        "EI[uri]" => (Primitive::EiUri, &["uri", "string"]),
        "XTN[string]" => (Primitive::Telecom, &["string"]),
        "ID[Coding]" => (Primitive::CodedAs { concept: false }, &["Coding"]),
        "ID[CodeableConcept]" => (Primitive::CodedAs { concept: true }, &["CodeableConcept"]),
        "ID[codesystem]" => (Primitive::CodeSystem, &["uri"]),
        "ID[display]" => (Primitive::Display, &["string"]),
        "TX[base64Binary]" | "FT[base64Binary]" => (Primitive::TextAsBase64, &["base64Binary"]),
        "ST[base64Binary]" => (Primitive::Base64, &["base64Binary"]),
        "ED[mime]" => (Primitive::MediaType { pointer: false }, &["code"]),
        "RP[mime]" => (Primitive::MediaType { pointer: true }, &["code"]),
        "ST[Range]" => (
            Primitive::RangeText,
            &["Range", "Observation_ReferenceRange"],
        ),
        "ST[words]" => (Primitive::Words, &["string"]),
        _ => return None,
    })
}

/// The conversion a primitive target gets when the `type` column is empty.
fn default_primitive(ty: &str) -> Option<Primitive> {
    Some(match ty {
        "string" | "markdown" | "uri" | "url" | "canonical" | "id" | "oid" | "uuid" => {
            Primitive::Text
        }
        "code" => Primitive::Code,
        "boolean" => Primitive::Boolean,
        "decimal" => Primitive::Decimal,
        "integer" => Primitive::Integer { min: i64::MIN },
        "positiveInt" => Primitive::Integer { min: 1 },
        "unsignedInt" => Primitive::Integer { min: 0 },
        "date" => Primitive::Date(DateKind::Date),
        "dateTime" => Primitive::Date(DateKind::DateTime),
        "instant" => Primitive::Date(DateKind::Instant),
        "time" => Primitive::Date(DateKind::Time),
        _ => return None,
    })
}

struct Compiler<'t> {
    tables: &'t TableSet,
    plan: Plan,
    /// Maps being compiled (cycle guard).
    in_progress: Vec<String>,
}

impl Plan {
    /// Checks and compiles a table set.
    pub fn compile(tables: &TableSet) -> Result<Plan, Error> {
        let mut c = Compiler {
            tables,
            plan: Plan {
                events: HashMap::new(),
                structure_index: HashMap::new(),
                structures: Vec::new(),
                maps: Vec::new(),
                map_index: HashMap::new(),
                vocabularies: Vec::new(),
                vocabulary_index: HashMap::new(),
            },
            in_progress: Vec::new(),
        };
        c.events()?;
        // Tables nothing refers to are still checked, so a typo never waits for the day a file
        // is first used.
        for path in tables.paths() {
            let stem = path
                .rsplit('/')
                .next()
                .unwrap_or(path)
                .trim_end_matches(".csv");
            if path.starts_with("messages/") {
                c.structure(stem)?;
            } else if path.starts_with("segments/") || path.starts_with("datatypes/") {
                c.map(stem, path, 0)?;
            } else if path.starts_with("vocabulary/") {
                c.vocabulary(stem, path, 0)?;
            }
        }
        c.plan.mark_linked_rows_light();
        Ok(c.plan)
    }

    /// Rows that fill an element a link also writes into (Patient.link: the link sets `other`,
    /// a row sets `type`) stay in lightweight notifications, so the element is complete there.
    fn mark_linked_rows_light(&mut self) {
        let mut linked: Vec<(usize, String)> = Vec::new();
        for s in &self.structures {
            for node in &s.nodes {
                for row in &node.rows {
                    for link in &row.links {
                        if let Link::Outgoing { target, .. } = link
                            && let Some(Step::Member { name, .. }) = target.steps.first()
                        {
                            linked.push((row.map, name.clone()));
                        }
                    }
                }
            }
        }
        for (map, name) in linked {
            for row in &mut self.maps[map].rows {
                if matches!(row.target.steps.first(), Some(Step::Member { name: n, .. }) if *n == name)
                {
                    row.light = true;
                }
            }
        }
    }

    /// The structure a message type and trigger event route to.
    pub fn route(&self, message_type: &str, event: &str, structure: &str) -> Option<usize> {
        if let Some(&i) = self.structure_index.get(structure) {
            return Some(i);
        }
        self.events
            .get(&(message_type.to_string(), event.to_string()))
            .copied()
    }
}

impl Compiler<'_> {
    fn events(&mut self) -> Result<(), Error> {
        let file = "events.csv";
        let text = self
            .tables
            .get(file)
            .ok_or_else(|| err(file, 0, "the routing table events.csv is missing"))?;
        for row in read_rows(file, text, &["message_type", "trigger_event", "structure"])? {
            let (t, e, s) = (row.cell(0), row.cell(1), row.cell(2));
            if t.len() != 3 || e.is_empty() || s.is_empty() {
                return Err(err(
                    file,
                    row.line,
                    "each row needs a three-letter message type, a trigger event and a structure",
                ));
            }
            let index = self.structure(s).map_err(|e| {
                if e.table().is_some() {
                    e
                } else {
                    err(file, row.line, e.reason().to_string())
                }
            })?;
            if self
                .plan
                .events
                .insert((t.to_string(), e.to_string()), index)
                .is_some()
            {
                return Err(err(file, row.line, format!("{t}^{e} is routed twice")));
            }
        }
        Ok(())
    }

    fn structure(&mut self, name: &str) -> Result<usize, Error> {
        if let Some(&i) = self.plan.structure_index.get(name) {
            return Ok(i);
        }
        let file = format!("messages/{name}.csv");
        let text = self.tables.get(&file).ok_or_else(|| {
            Error::new(
                ErrorKind::Mapping,
                format!("no message map {file} for structure {name}"),
            )
        })?;
        let rows = read_rows(
            &file,
            text,
            &[
                "segment", "min", "max", "resource", "map", "when", "links", "key",
            ],
        )?;
        let root = StructureNode {
            name: name.to_string(),
            segment: None,
            children: Vec::new(),
            parent: None,
            min: 1,
            repeats: false,
            first: Vec::new(),
            rows: Vec::new(),
        };
        let mut s = Structure {
            name: name.to_string(),
            file: file.clone(),
            nodes: vec![root],
        };
        let mut by_path: HashMap<String, usize> = HashMap::new();
        for row in &rows {
            self.structure_row(&mut s, &mut by_path, row)?;
        }
        for i in 0..s.nodes.len() {
            s.nodes[i].first = first_set(&s, i);
        }
        self.plan.structures.push(s);
        let index = self.plan.structures.len() - 1;
        self.plan.structure_index.insert(name.to_string(), index);
        Ok(index)
    }

    fn structure_row(
        &mut self,
        s: &mut Structure,
        by_path: &mut HashMap<String, usize>,
        row: &Row,
    ) -> Result<(), Error> {
        let file = s.file.clone();
        let e = |msg: String| err(&file, row.line, msg);
        let path = row.cell(0);
        let (parent_path, name) = match path.rsplit_once('.') {
            Some((p, n)) => (Some(p), n),
            None => (None, path),
        };
        let parent = match parent_path {
            None => 0,
            Some(p) => *by_path
                .get(p)
                .ok_or_else(|| e(format!("group `{p}` is not defined above this row")))?,
        };
        let is_segment = name.len() == 3
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let is_group = name.len() > 3
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !is_segment && !is_group {
            return Err(e(format!(
                "`{path}`: expected a segment id or a GROUP name"
            )));
        }
        if is_segment && spec::field_count(name).is_none() && !spec::is_local(name) {
            return Err(e(format!("unknown segment {name}")));
        }
        // A row with a cardinality starts a node (the same segment may stand at several places
        // in one group, as ROL does in ADT_A01); a row without one adds to the latest node with
        // that path.
        let index = if row.cell(1).is_empty() && row.cell(2).is_empty() {
            *by_path
                .get(path)
                .ok_or_else(|| e(format!("`{path}` needs min and max on its first row")))?
        } else {
            let min = row
                .cell(1)
                .parse::<u32>()
                .map_err(|_| e(format!("min `{}` is not a number", row.cell(1))))?;
            let repeats = match row.cell(2) {
                "*" => true,
                "1" => false,
                m => return Err(e(format!("max `{m}`: write 1 or *"))),
            };
            if s.nodes[parent].segment.is_some() {
                return Err(e(format!("`{path}`: a segment cannot contain anything")));
            }
            s.nodes.push(StructureNode {
                name: name.to_string(),
                segment: is_segment
                    .then(|| [name.as_bytes()[0], name.as_bytes()[1], name.as_bytes()[2]]),
                children: Vec::new(),
                parent: Some(parent),
                min,
                repeats,
                first: Vec::new(),
                rows: Vec::new(),
            });
            let i = s.nodes.len() - 1;
            s.nodes[parent].children.push(i);
            by_path.insert(path.to_string(), i);
            i
        };
        let resource = row.cell(3);
        if resource.is_empty() {
            if !row.cell(4).is_empty() || !row.cell(6).is_empty() || !row.cell(7).is_empty() {
                return Err(e("a row with a map, links or key needs a resource".into()));
            }
            return Ok(());
        }
        if !is_segment {
            return Err(e(format!(
                "`{path}` is a group; only segments become resources"
            )));
        }
        let (merge, resource) = match resource.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, resource),
        };
        if !elements::is_resource(resource) {
            return Err(e(format!("`{resource}` is not a FHIR R4 resource type")));
        }
        let map_name = row.cell(4);
        let map_file = format!("segments/{map_name}.csv");
        match split_map_name(map_name) {
            Some((seg, res)) if seg == name && res.split('-').next() == Some(resource) => {}
            _ => {
                return Err(e(format!(
                    "map `{map_name}` should be {name}[{resource}] (or {name}[{resource}-variant])"
                )));
            }
        }
        let map = self
            .map(map_name, &map_file, row.line)
            .map_err(|er| at_row(er, &file, row.line))?;
        let when = match row.cell(5) {
            "" => None,
            w => Some(self.condition(w, Some(name), "").map_err(e)?),
        };
        let mut links = Vec::new();
        for link in row
            .cell(6)
            .split(';')
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            links.push(
                self.link(resource, name, link, row.line)
                    .map_err(|m| e(format!("link `{link}`: {m}")))?,
            );
        }
        let mut key = Vec::new();
        for k in row.cell(7).split_whitespace() {
            let p: Path = k
                .parse()
                .map_err(|er: Error| e(format!("key `{k}`: {}", er.reason())))?;
            check_path(&p).map_err(|m| e(format!("key `{k}`: {m}")))?;
            key.push(p);
        }
        let reverse = self.plan.maps[map]
            .rows
            .iter()
            .any(|r| r.direction.reverse());
        let forward = !merge
            || !links.is_empty()
            || self.plan.maps[map]
                .rows
                .iter()
                .any(|r| r.direction.forward());
        s.nodes[index].rows.push(MessageRow {
            line: row.line,
            resource: resource.to_string(),
            requirements: elements::requirements(resource),
            merge,
            map,
            when,
            links,
            key,
            forward,
            reverse,
        });
        Ok(())
    }

    /// Parses one link of a message map row whose resource is `resource`, made from segment
    /// `segment`.
    fn link(
        &mut self,
        resource: &str,
        segment: &str,
        text: &str,
        line: u32,
    ) -> Result<Link, String> {
        // `||=` takes no map to fill an entry, and names a list of references itself: "empty"
        // must say what the list holds, not what one of its entries does.
        if let Some((lhs, rest)) = text.split_once("||=") {
            if !rest.trim().is_empty() {
                return Err(format!(
                    "`||=` takes nothing after it, not `{}`",
                    rest.trim()
                ));
            }
            let (from, target) = incoming_target(lhs)?;
            if !matches!(target.steps.last(), Some(Step::Member { .. }))
                || target.steps.iter().rev().skip(1).any(Step::appends)
            {
                return Err(format!(
                    "`||=` adds to a list of references, and {} is an element of a list entry",
                    target.text
                ));
            }
            return Ok(Link::Incoming {
                from: from.to_string(),
                target,
                fill: None,
                fallback: true,
            });
        }
        if let Some((lhs, fill)) = text.split_once("+=") {
            let (from, target) = incoming_target(lhs)?;
            let fill = match fill.trim() {
                "" => None,
                name => {
                    match split_map_name(name) {
                        Some((seg, res))
                            if seg == segment && res.split('-').next() == Some(from) => {}
                        _ => {
                            return Err(format!(
                                "the map filling the entry should be {segment}[{from}] (or {segment}[{from}-variant]), not `{name}`"
                            ));
                        }
                    }
                    let m = self
                        .map(name, &format!("segments/{name}.csv"), line)
                        .map_err(|er| er.to_string())?;
                    Some(m)
                }
            };
            return Ok(Link::Incoming {
                from: from.to_string(),
                target,
                fill,
                fallback: false,
            });
        }
        let (element, to) = text.split_once('=').ok_or(
            "expected element=Resource, element?=Resource, Resource.element+= or Resource.list||=",
        )?;
        let (element, sole) = match element.trim_end().strip_suffix('?') {
            Some(e) => (e, true),
            None => (element, false),
        };
        let to = to.trim();
        if !elements::is_resource(to) {
            return Err(format!("`{to}` is not a resource type"));
        }
        let target = target::parse(resource, element.trim())?;
        if target.ty != "Reference" {
            return Err(format!(
                "{resource}.{} is a {}, not a Reference",
                element.trim(),
                target.ty
            ));
        }
        Ok(Link::Outgoing {
            target,
            to: to.to_string(),
            sole,
        })
    }

    /// Parses and checks a condition: of a message or segment map row (`segment` names the
    /// segment), or of a data type map row building `fhir_type`, whose FHIR element operands
    /// are compiled against that type.
    fn condition(
        &self,
        text: &str,
        segment: Option<&str>,
        fhir_type: &str,
    ) -> Result<Condition, String> {
        let mut c = condition::parse(text)?;
        for o in c.operands_mut() {
            match o {
                Operand::Path(p) => check_path(p)?,
                Operand::Relative(_) if segment.is_some() => {
                    return Err("`.N` components are for data type maps; name the field".into());
                }
                Operand::Relative(_) => {}
                Operand::Element { text, .. } if segment.is_some() => {
                    return Err(format!(
                        "`{text}`: a FHIR element in a condition is for data type maps' reverse rows"
                    ));
                }
                Operand::Element { text, steps } => {
                    *steps = target::parse(fhir_type, text)
                        .map_err(|m| format!("`{text}`: {m}"))?
                        .steps;
                }
            }
        }
        Ok(c)
    }

    /// Compiles the segment or data type map `name` (from `file`), once.
    fn map(&mut self, name: &str, file: &str, referenced_at: u32) -> Result<usize, Error> {
        if let Some(&i) = self.plan.map_index.get(name) {
            return Ok(i);
        }
        if self.in_progress.iter().any(|n| n == name) {
            return Err(Error::new(
                ErrorKind::Mapping,
                format!("map {name} refers to itself"),
            ));
        }
        let _ = referenced_at;
        let (v2, fhir) = split_map_name(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Mapping,
                format!("`{name}` is not a map name like PID[Patient]"),
            )
        })?;
        let fhir_type = fhir.split('-').next().unwrap_or(fhir).to_string();
        let text = self
            .tables
            .get(file)
            .ok_or_else(|| Error::new(ErrorKind::Mapping, format!("no map file {file}")))?;
        let is_segment_map = file.starts_with("segments/");
        if !elements::is_complex(&fhir_type) {
            return Err(err(
                file,
                0,
                format!("`{fhir_type}` is not a FHIR R4 resource or data type"),
            ));
        }
        let creates_resource = elements::is_resource(&fhir_type);
        let first_column = if is_segment_map { "field" } else { "component" };
        let rows = read_rows(
            file,
            text,
            &[
                first_column,
                "when",
                "target",
                "type",
                "vocabulary",
                "value",
                "direction",
            ],
        )?;
        self.in_progress.push(name.to_string());
        let mut compiled = Vec::with_capacity(rows.len());
        for row in &rows {
            let r = self.map_row(row, file, v2, &fhir_type, is_segment_map, creates_resource)?;
            compiled.push(r);
        }
        self.in_progress.pop();
        let key = if creates_resource && !is_segment_map {
            take_key_rows(&mut compiled, file)?
        } else {
            Vec::new()
        };
        self.entry_requirements(&mut compiled);
        // A resource of its own with no identifier (a Location named only by its room) would be
        // empty in a lightweight notification; keep all it has there instead.
        let identified = compiled.iter().any(|r| matches!(r.target.steps.first(), Some(Step::Member { name, .. }) if name == "identifier"));
        if creates_resource && !is_segment_map && !identified {
            compiled.iter_mut().for_each(|r| r.light = true);
        }
        self.plan.maps.push(ElementMap {
            name: name.to_string(),
            file: file.to_string(),
            v2: v2.to_string(),
            requirements: elements::requirements(&fhir_type),
            fhir_type,
            creates_resource,
            key,
            rows: compiled,
        });
        let index = self.plan.maps.len() - 1;
        self.plan.map_index.insert(name.to_string(), index);
        Ok(index)
    }

    fn map_row(
        &mut self,
        row: &Row,
        file: &str,
        v2: &str,
        fhir_type: &str,
        is_segment_map: bool,
        creates_resource: bool,
    ) -> Result<MapRow, Error> {
        let e = |msg: String| err(file, row.line, msg);
        let source = match row.cell(0) {
            "" => None,
            // The segment itself: the whole segment builds a resource through another map of it.
            s if is_segment_map && s == v2 => Some(Operand::Relative(Vec::new())),
            s if is_segment_map => {
                let p: Path = s
                    .parse()
                    .map_err(|er: Error| e(format!("`{s}`: {}", er.reason())))?;
                check_path(&p).map_err(e)?;
                Some(Operand::Path(p))
            }
            // A field of a segment (`PV1-40` in the map of PV1-3's location): a value the data
            // type does not hold, read from the segment as a segment map reads it.
            s if s.starts_with(|c: char| c.is_ascii_uppercase()) => {
                if row.cell(6) != "forward" {
                    return Err(e(format!(
                        "`{s}`: a segment's field in a data type map runs forward only: mark the row forward"
                    )));
                }
                let p: Path = s
                    .parse()
                    .map_err(|er: Error| e(format!("`{s}`: {}", er.reason())))?;
                check_path(&p).map_err(e)?;
                Some(Operand::Path(p))
            }
            s => {
                if s == "0" {
                    Some(Operand::Relative(Vec::new()))
                } else {
                    let nums: Vec<u32> = s
                        .split('.')
                        .map(|n| n.parse::<u32>().ok().filter(|&n| n >= 1))
                        .collect::<Option<_>>()
                        .ok_or_else(|| e(format!("component `{s}`: expected 0, N or N.M")))?;
                    if nums.len() > 2 {
                        return Err(e(format!("component `{s}`: at most two levels (N.M)")));
                    }
                    check_components(v2, &nums).map_err(e)?;
                    Some(Operand::Relative(nums))
                }
            }
        };
        let when = match row.cell(1) {
            "" => None,
            w => Some(
                self.condition(w, is_segment_map.then_some(v2), fhir_type)
                    .map_err(e)?,
            ),
        };
        let target = target::parse(fhir_type, row.cell(2))
            .map_err(|m| e(format!("target `{}`: {m}", row.cell(2))))?;
        let each_repetition = is_segment_map && target.steps.iter().any(Step::appends);
        let direction = match row.cell(6) {
            "" | "both" => Direction::Both,
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            d => {
                return Err(e(format!(
                    "direction `{d}`: write both, forward or reverse"
                )));
            }
        };
        // A FHIR element is read only where there is one: backwards.
        if direction != Direction::Reverse
            && when.as_ref().is_some_and(|c| {
                c.operands()
                    .iter()
                    .any(|o| matches!(o, Operand::Element { .. }))
            })
        {
            return Err(e(
                "a condition on a FHIR element is read backwards only: mark the row reverse".into(),
            ));
        }
        let vocabulary = match row.cell(4) {
            "" => None,
            v => Some(
                self.vocabulary(v, &format!("vocabulary/{v}.csv"), row.line)
                    .map_err(|er| at_row(er, file, row.line))?,
            ),
        };
        let type_name = row.cell(3);
        let whole_segment =
            is_segment_map && matches!(&source, Some(Operand::Relative(n)) if n.is_empty());
        // A reverse row with a field and a constant writes the constant to the field when its
        // target is present: the constant is HL7 text, so neither the target's FHIR type nor a
        // conversion applies.
        let reverse_constant = direction == Direction::Reverse
            && source.is_some()
            && !row.cell(5).is_empty()
            && type_name.is_empty();
        let conversion = if whole_segment {
            if direction == Direction::Reverse {
                // Backwards, each entry of a list of the resource is a segment of its own,
                // filled through a map of the same segment and either the resource's type, as
                // the resource itself would be (an Observation's component has the code, value,
                // interpretation and reference range an Observation has), or the entry's own
                // (a report's presentedForm, an Attachment, through OBX[Attachment]).
                // A backbone element (Encounter_Participant) is no type a map can be made for.
                let entry_type = Some(target.ty).filter(|ty| !ty.contains('_'));
                let same = split_map_name(type_name).is_some_and(|(seg, fhir)| {
                    let fhir = fhir.split('-').next().unwrap_or(fhir);
                    seg == v2 && (fhir == fhir_type || Some(fhir) == entry_type)
                });
                if !same {
                    let or_entry = entry_type.map_or(String::new(), |ty| format!(" or {v2}[{ty}]"));
                    return Err(e(format!(
                        "source `{v2}` (the whole segment) run backwards needs a map {v2}[{fhir_type}]{or_entry} in the type column"
                    )));
                }
                if !target.steps.last().is_some_and(Step::appends) {
                    return Err(e(format!(
                        "source `{v2}` (the whole segment) run backwards writes one segment per entry: its target `{}` must end in `[]`",
                        row.cell(2)
                    )));
                }
            } else {
                let built = split_map_name(type_name)
                    .filter(|(seg, fhir)| {
                        *seg == v2 && elements::is_resource(fhir.split('-').next().unwrap_or(fhir))
                    })
                    .ok_or_else(|| {
                        e(format!(
                            "source `{v2}` (the whole segment) needs a map {v2}[Resource] in the type column"
                        ))
                    })?;
                if target.ty != "Reference" {
                    return Err(e(format!(
                        "map {type_name} builds a {}, but target `{}` is a {}",
                        built.1,
                        row.cell(2),
                        target.ty
                    )));
                }
                if direction != Direction::Forward {
                    return Err(e(format!(
                        "source `{v2}` (the whole segment) runs forward only: write forward"
                    )));
                }
            }
            if !row.cell(5).is_empty() {
                return Err(e(format!(
                    "source `{v2}` (the whole segment) takes no value column"
                )));
            }
            let m = self
                .map(type_name, &format!("segments/{type_name}.csv"), row.line)
                .map_err(|er| at_row(er, file, row.line))?;
            Conversion::Map(m)
        } else if reverse_constant {
            Conversion::Primitive(Primitive::Text)
        } else if type_name.is_empty() {
            match default_primitive(target.ty) {
                Some(p) => Conversion::Primitive(p),
                None if source.is_none() => Conversion::Primitive(Primitive::Text),
                None => {
                    return Err(e(format!(
                        "target `{}` is a {}: name a data type map in the type column",
                        row.cell(2),
                        target.ty
                    )));
                }
            }
        } else if let Some((p, allowed)) = primitive(type_name) {
            if !allowed.contains(&target.ty) {
                return Err(e(format!(
                    "type {type_name} does not fit target `{}`, a {}",
                    row.cell(2),
                    target.ty
                )));
            }
            if matches!(p, Primitive::RangeText | Primitive::Words)
                && direction != Direction::Reverse
            {
                return Err(e(format!(
                    "type {type_name} runs backwards only: the row's direction must be reverse"
                )));
            }
            if matches!(
                p,
                Primitive::SnText | Primitive::AppendedText | Primitive::Display
            ) && direction != Direction::Forward
            {
                return Err(e(format!(
                    "type {type_name} runs forward only: the row's direction must be forward"
                )));
            }
            if p == Primitive::Words
                && (is_segment_map || !target.steps.last().is_some_and(Step::appends))
            {
                return Err(e(format!(
                    "type {type_name} joins the entries of a list into a component: its target ends in `[]`, in a data type map"
                )));
            }
            Conversion::Primitive(p)
        } else {
            let (_, fhir) = split_map_name(type_name).ok_or_else(|| {
                e(format!(
                    "type `{type_name}`: not a conversion or a data type map name"
                ))
            })?;
            let fhir_base = fhir.split('-').next().unwrap_or(fhir);
            let fits = fhir_base == target.ty
                || (elements::is_resource(fhir_base) && target.ty == "Reference");
            if !fits {
                return Err(e(format!(
                    "map {type_name} builds a {fhir_base}, but target `{}` is a {}",
                    row.cell(2),
                    target.ty
                )));
            }
            let m = self
                .map(type_name, &format!("datatypes/{type_name}.csv"), row.line)
                .map_err(|er| at_row(er, file, row.line))?;
            Conversion::Map(m)
        };
        let needs_vocabulary = matches!(
            conversion,
            Conversion::Primitive(
                Primitive::CodedAs { .. } | Primitive::MediaType { .. } | Primitive::Display
            )
        );
        if needs_vocabulary && vocabulary.is_none() {
            return Err(e(format!(
                "type {type_name} translates a code: name a vocabulary"
            )));
        }
        if let (Some(v), Conversion::Primitive(Primitive::Code | Primitive::Text)) =
            (vocabulary, conversion)
        {
            if !target.codes.is_empty() {
                let vocab = &self.plan.vocabularies[v];
                if let Some(bad) = vocab
                    .forward
                    .values()
                    .find(|c| !target.codes.contains(&c.code.as_str()))
                {
                    return Err(e(format!(
                        "vocabulary {} maps to `{}`, which `{}` does not allow ({})",
                        vocab.name,
                        bad.code,
                        row.cell(2),
                        target.codes.join(", ")
                    )));
                }
            }
        } else if vocabulary.is_some()
            && !matches!(
                conversion,
                Conversion::Map(_)
                    | Conversion::Primitive(
                        Primitive::CodedAs { .. }
                            | Primitive::Display
                            | Primitive::CodeSystem
                            | Primitive::MediaType { .. }
                    )
            )
        {
            return Err(e(
                "a vocabulary applies to code targets or to CodeableConcept maps".into(),
            ));
        }
        let mut constant = None;
        let mut defaults = Vec::new();
        let value = row.cell(5);
        if !value.is_empty() {
            if reverse_constant {
                constant = Some(value.to_string());
            } else if let (Conversion::Map(m), Some(_)) = (conversion, &source) {
                let built = self.plan.maps[m].fhir_type.clone();
                for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| e(format!("default `{pair}`: expected element=value")))?;
                    let t = target::parse(&built, k.trim())
                        .map_err(|m| e(format!("default `{k}`: {m}")))?;
                    check_constant(&t, v.trim()).map_err(e)?;
                    defaults.push((t, v.trim().to_string()));
                }
            } else {
                check_constant(&target, value).map_err(e)?;
                constant = Some(value.to_string());
            }
        } else if source.is_none() {
            return Err(e("a row needs a source field or a constant value".into()));
        }
        let first_step = target.steps.first().map_or("", Step::name);
        let light = !creates_resource
            || first_step == "identifier"
            || elements::required(fhir_type).contains(&first_step);
        Ok(MapRow {
            line: row.line,
            source,
            when,
            target,
            each_repetition,
            conversion,
            vocabulary,
            constant,
            defaults,
            requires: Vec::new(),
            direction,
            light,
        })
    }

    /// Fills [`MapRow::requires`]: a row that runs backwards and hands the list entry
    /// `performer[1]` to a map building a resource takes only an entry holding every constant
    /// that forward rows of the same field set inside it
    /// (`performer[1].extension(…performerFunction).valueCodeableConcept.coding[1].code` =
    /// `SPRF`), wherever the entry sits: the constants say what the field means, and an entry
    /// without them did not come from it.
    fn entry_requirements(&self, rows: &mut [MapRow]) {
        for i in 0..rows.len() {
            let row = &rows[i];
            let builds_resource =
                matches!(row.conversion, Conversion::Map(m) if self.plan.maps[m].creates_resource);
            let indexed = matches!(
                row.target.steps.last(),
                Some(Step::Member {
                    index: Some(_),
                    append: false,
                    ..
                })
            );
            if !row.direction.reverse() || row.source.is_none() || !builds_resource || !indexed {
                continue;
            }
            let n = row.target.steps.len();
            let requires: Vec<(Target, String)> = rows
                .iter()
                .filter(|s| {
                    s.direction == Direction::Forward
                        && s.source == row.source
                        && s.target.steps.len() > n
                        && s.target.steps[..n] == row.target.steps[..]
                })
                .filter_map(|s| {
                    let value = s.constant.clone()?;
                    let within = Target {
                        steps: s.target.steps[n..].to_vec(),
                        ..s.target.clone()
                    };
                    Some((within, value))
                })
                .collect();
            rows[i].requires = requires;
        }
    }

    fn vocabulary(&mut self, name: &str, file: &str, _referenced_at: u32) -> Result<usize, Error> {
        if let Some(&i) = self.plan.vocabulary_index.get(name) {
            return Ok(i);
        }
        let text = self
            .tables
            .get(file)
            .ok_or_else(|| Error::new(ErrorKind::Mapping, format!("no vocabulary {file}")))?;
        // The `direction` column is optional: without it every row runs both ways.
        let mut columns = vec![
            "code",
            "display",
            "system",
            "fhir_code",
            "fhir_display",
            "fhir_system",
        ];
        let header = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        if header.split(',').any(|c| c.trim() == "direction") {
            columns.push("direction");
        }
        let rows = read_rows(file, text, &columns)?;
        let mut v = Vocabulary {
            name: name.to_string(),
            forward: CodeMap::default(),
            forward_systems: CodeMap::default(),
            reverse: HashMap::new(),
            reverse_by_code: HashMap::new(),
        };
        // (FHIR system, FHIR code) → the line of the row that writes it back.
        let mut written_back: HashMap<(String, String), u32> = HashMap::new();
        for row in rows {
            let (code, system, fhir_code, fhir_system) =
                (row.cell(0), row.cell(2), row.cell(3), row.cell(5));
            if code.is_empty() || fhir_code.is_empty() {
                return Err(err(
                    file,
                    row.line,
                    "each row needs an HL7 code and a FHIR code",
                ));
            }
            // A code means the row's concept only in its own coding system: without one, a
            // sender's local code of the same letters could not be told from it.
            if system.is_empty() {
                return Err(err(
                    file,
                    row.line,
                    "each row needs the coding system of its HL7 code (`system`, e.g. HL70001)",
                ));
            }
            if !fhir_system.is_empty() && !fhir_system.contains(':') {
                return Err(err(
                    file,
                    row.line,
                    format!("fhir_system `{fhir_system}` is not a URL"),
                ));
            }
            let (forwards, backwards) = match row.cell(6) {
                "" | "both" => (true, true),
                "forward" => (true, false),
                "reverse" => (false, true),
                other => {
                    return Err(err(
                        file,
                        row.line,
                        format!(
                            "direction `{other}`: a vocabulary row runs `both` ways (the default), `forward` or `reverse` only"
                        ),
                    ));
                }
            };
            // A row that runs backwards only writes a FHIR code as an HL7 code that reads as a
            // narrower FHIR code (amended goes as C, which reads as corrected): the HL7 code's
            // own row translates it forward.
            if forwards {
                let concept = Concept {
                    code: fhir_code.to_string(),
                    display: row.cell(4).to_string(),
                    system: fhir_system.to_string(),
                };
                // The same code again is another system's name for it, and must mean the same.
                let systems = v.forward_systems.entry(code.to_string()).or_default();
                match v.forward.get(code) {
                    Some(before) if before != &concept || systems.iter().any(|s| s == system) => {
                        return Err(err(
                            file,
                            row.line,
                            format!(
                                "code `{code}` appears twice: a code's rows differ only in their `system`"
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        v.forward.insert(code.to_string(), concept);
                    }
                }
                systems.push(system.to_string());
            }
            if !backwards {
                continue;
            }
            // Several HL7 codes may translate to one FHIR code; only one of them may be
            // written for it, and the table says which.
            if let Some(first) =
                written_back.insert((fhir_system.to_string(), fhir_code.to_string()), row.line)
            {
                return Err(err(
                    file,
                    row.line,
                    format!(
                        "FHIR code `{fhir_code}` is written back by line {first} already: mark all its rows but one `forward`"
                    ),
                ));
            }
            let back = Concept {
                code: code.to_string(),
                display: row.cell(1).to_string(),
                system: row.cell(2).to_string(),
            };
            v.reverse_by_code
                .entry(fhir_code.to_string())
                .or_insert_with(|| back.clone());
            v.reverse
                .entry(fhir_system.to_string())
                .or_default()
                .entry(fhir_code.to_string())
                .or_insert(back);
        }
        self.plan.vocabularies.push(v);
        let index = self.plan.vocabularies.len() - 1;
        self.plan.vocabulary_index.insert(name.to_string(), index);
        Ok(index)
    }
}

/// Checks a constant against the target's type and codes.
fn check_constant(t: &Target, value: &str) -> Result<(), String> {
    let ok = match t.ty {
        "boolean" => matches!(value, "true" | "false"),
        "decimal" | "integer" | "positiveInt" | "unsignedInt" => value.parse::<f64>().is_ok(),
        ty if elements::is_complex(ty) && ty != "Extension" => false,
        _ => true,
    };
    if !ok {
        return Err(format!("constant `{value}` does not fit a {}", t.ty));
    }
    if !t.codes.is_empty() && !t.codes.contains(&value) {
        return Err(format!(
            "constant `{value}` is not one of the allowed codes ({})",
            t.codes.join(", ")
        ));
    }
    Ok(())
}

/// Checks that a path names a known segment and a field it has.
pub(crate) fn check_path(p: &Path) -> Result<(), String> {
    let id = p.segment_id();
    if spec::is_local(id) {
        return Ok(());
    }
    let count = spec::field_count(id).ok_or_else(|| format!("unknown segment {id}"))?;
    if p.field as usize > count {
        return Err(format!("{p}: {id} has {count} fields"));
    }
    let mut nums = Vec::new();
    nums.extend(p.component);
    nums.extend(p.subcomponent);
    if let Some(ty) = spec::field_type(id, p.field as usize) {
        check_components(ty, &nums).map_err(|m| format!("{p}: {m}"))?;
    }
    Ok(())
}

/// Checks component numbers against a data type (unknown or primitive types are not checked
/// beyond their first component).
fn check_components(datatype: &str, nums: &[u32]) -> Result<(), String> {
    let Some(&n) = nums.first() else {
        return Ok(());
    };
    match spec::component_count(datatype) {
        Some(count) if n as usize > count => {
            Err(format!("{datatype} has {count} components, not {n}"))
        }
        Some(_) => match spec::component_type(datatype, n as usize) {
            Some(sub) => check_components(sub, &nums[1..]),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// The segment ids that can start node `i`: its own id, or for a group the ids of its leading
/// children up to and including the first required one.
fn first_set(s: &Structure, i: usize) -> Vec<[u8; 3]> {
    let node = &s.nodes[i];
    if let Some(id) = node.segment {
        return vec![id];
    }
    let mut out = Vec::new();
    for &c in &node.children {
        out.extend(first_set(s, c));
        if s.nodes[c].min > 0 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_with(path: &str, text: &str) -> Result<Plan, Error> {
        let mut t = TableSet::embedded();
        t.insert(path, text);
        Plan::compile(&t)
    }

    #[test]
    fn embedded_tables_compile() {
        let plan = Plan::compile(&TableSet::embedded()).unwrap();
        assert!(plan.route("ADT", "A01", "").is_some());
    }

    #[test]
    fn a_whole_segment_builds_a_resource_of_its_own() {
        let plan = Plan::compile(&TableSet::embedded()).unwrap();
        let encounter = &plan.maps[plan.map_index["ROL[Encounter-PractitionerRole]"]];
        let row = &encounter.rows[0];
        assert_eq!(row.source, Some(Operand::Relative(Vec::new())));
        assert_eq!(row.direction, Direction::Forward);
        let Conversion::Map(m) = row.conversion else {
            panic!("the whole ROL goes through a map");
        };
        assert_eq!(plan.maps[m].name, "ROL[PractitionerRole]");
        assert!(plan.maps[m].creates_resource);
    }

    #[test]
    fn a_sole_link_is_marked_so() {
        let plan = Plan::compile(&TableSet::embedded()).unwrap();
        let oru = &plan.structures[plan.route("ORU", "R01", "").unwrap()];
        let links: Vec<(&str, bool)> = oru
            .nodes
            .iter()
            .filter(|n| {
                n.segment == Some(*b"OBX")
                    && n.parent.is_some_and(|p| oru.nodes[p].name == "OBSERVATION")
            })
            .flat_map(|n| &n.rows[0].links)
            .filter_map(|l| match l {
                Link::Outgoing { target, sole, .. } => Some((target.text.as_str(), *sole)),
                Link::Incoming { .. } => None,
            })
            .collect();
        assert_eq!(
            links,
            [("subject", false), ("encounter", false), ("specimen", true)]
        );
    }

    #[test]
    fn a_fhir_code_has_at_most_one_row_that_writes_it_back() {
        let head = "code,display,system,fhir_code,fhir_display,fhir_system,direction\n";
        let sys = "http://hl7.org/fhir/administrative-gender";
        let two = format!(
            "# several HL7 codes, one FHIR code\n{head}F,Female,HL70001,female,Female,{sys},\n\
             O,Other,HL70001,other,Other,{sys},\nA,Ambiguous,HL70001,other,Other,{sys},both\n"
        );
        let e = compile_with("vocabulary/AdministrativeSex.csv", &two).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vocabulary/AdministrativeSex.csv:5: FHIR code `other` is written back by line 4 already: mark all its rows but one `forward`"
        );
        let bad = format!("{head}O,Other,HL70001,other,Other,{sys},backward\n");
        let e = compile_with("vocabulary/AdministrativeSex.csv", &bad).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("vocabulary/AdministrativeSex.csv:2: direction `backward`"),
            "{e}"
        );
        // A forward row translates its HL7 code and is never written back; the row marked
        // both is, whatever the order.
        let marked = format!(
            "{head}A,Ambiguous,HL70001,other,Other,{sys},forward\nO,Other,HL70001,other,Other,{sys},\n\
             N,Not applicable,HL70001,other,Other,{sys},forward\n"
        );
        let plan = compile_with("vocabulary/AdministrativeSex.csv", &marked).unwrap();
        let v = &plan.vocabularies[plan.vocabulary_index["AdministrativeSex"]];
        assert_eq!(v.forward.get("A").map(|c| c.code.as_str()), Some("other"));
        assert_eq!(
            v.back(Some(sys), "other").map(|c| c.code.as_str()),
            Some("O")
        );
        assert_eq!(v.back(None, "other").map(|c| c.code.as_str()), Some("O"));
        // A reverse row writes its FHIR code and translates nothing forward: C still reads
        // as corrected.
        let status = "http://hl7.org/fhir/observation-status";
        let reverse = format!(
            "{head}C,Corrected,HL70085,corrected,Corrected,{status},\n\
             C,Corrected,HL70085,amended,Amended,{status},reverse\n"
        );
        let plan = compile_with("vocabulary/ObservationResultStatus.csv", &reverse).unwrap();
        let v = &plan.vocabularies[plan.vocabulary_index["ObservationResultStatus"]];
        assert_eq!(
            v.forward.get("C").map(|c| c.code.as_str()),
            Some("corrected")
        );
        assert_eq!(
            v.back(Some(status), "amended").map(|c| c.code.as_str()),
            Some("C")
        );
        // Without the column every row runs both ways, and the check holds as well.
        let old = format!(
            "code,display,system,fhir_code,fhir_display,fhir_system\nO,Other,HL70001,other,Other,{sys}\n\
             A,Ambiguous,HL70001,other,Other,{sys}\n"
        );
        let e = compile_with("vocabulary/AdministrativeSex.csv", &old).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("vocabulary/AdministrativeSex.csv:3: FHIR code `other`"),
            "{e}"
        );
    }

    #[test]
    fn a_vocabulary_row_names_the_coding_system_of_its_code() {
        let head = "code,display,system,fhir_code,fhir_display,fhir_system\n";
        let gender = "http://hl7.org/fhir/administrative-gender";
        let er = compile_with(
            "vocabulary/AdministrativeSex.csv",
            &format!("{head}F,Female,HL70001,female,Female,{gender}\nM,Male,,male,Male,{gender}\n"),
        )
        .unwrap_err();
        assert_eq!(
            er.to_string(),
            "vocabulary/AdministrativeSex.csv:3: each row needs the coding system of its HL7 code (`system`, e.g. HL70001)"
        );
        let plan = Plan::compile(&TableSet::embedded()).unwrap();
        let flags = &plan.vocabularies[plan.vocabulary_index["AbnormalFlags"]];
        let table_url = "http://terminology.hl7.org/CodeSystem/v2-0078";
        for system in [None, Some("HL70078"), Some(table_url)] {
            assert_eq!(
                flags.translate("H", system).map(|c| c.code.as_str()),
                Some("H")
            );
        }
        for system in [
            "99LAB",
            "L",
            "HL70078 ",
            "HL7078",
            "http://terminology.hl7.org/CodeSystem/v2-0080",
        ] {
            assert!(flags.translate("H", Some(system)).is_none(), "{system}");
        }
    }

    #[test]
    fn a_code_may_have_a_row_per_name_of_its_coding_system_if_they_mean_the_same() {
        let head = "code,display,system,fhir_code,fhir_display,fhir_system,direction\n";
        let cdc = "urn:oid:2.16.840.1.113883.6.238";
        let plan = Plan::compile(&TableSet::embedded()).unwrap();
        let race = &plan.vocabularies[plan.vocabulary_index["RaceCategory"]];
        for system in [None, Some("HL70005"), Some("CDCREC")] {
            assert_eq!(
                race.translate("2106-3", system)
                    .map(|c| (c.code.as_str(), c.system.as_str())),
                Some(("2106-3", cdc)),
                "{system:?}"
            );
        }
        assert!(race.translate("2106-3", Some("L")).is_none());
        // The same code meaning another concept under another name is an error, as is the
        // same code twice in one system.
        for second in [
            format!("2106-3,White,CDCREC,2054-5,Black or African American,{cdc},forward"),
            format!("2106-3,White,HL70005,2106-3,White,{cdc},forward"),
        ] {
            let text = format!("{head}2106-3,White,HL70005,2106-3,White,{cdc},\n{second}\n");
            let e = compile_with("vocabulary/RaceCategory.csv", &text).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("vocabulary/RaceCategory.csv:3: code `2106-3` appears twice"),
                "{e}"
            );
        }
    }

    #[test]
    fn table_errors_name_file_and_line() {
        let seg = "field,when,target,type,vocabulary,value,direction\n";
        let adt = "segment,min,max,resource,map,when,links,key\nMSH,1,1,MessageHeader,MSH[MessageHeader],,,\n\
                   PID,1,1,Patient,PID[Patient],,,\nPV1,1,1,Encounter,PV1[Encounter],,,\n";
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "segments/PID[Patient].csv",
                format!("{seg}PID-5,,nmae[],XPN[HumanName],,,\n"),
                "segments/PID[Patient].csv:2: target `nmae[]`: Patient has no element `nmae`",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}PID-99,,gender,,,,\n"),
                "segments/PID[Patient].csv:2: PID-99: PID has 39 fields",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}PID-8,,gender,,NoSuchVocab,,\n"),
                "segments/PID[Patient].csv:2: no vocabulary vocabulary/NoSuchVocab.csv",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}PID-8,PID-8 VALUE,gender,,,,\n"),
                "segments/PID[Patient].csv:2: bad condition at character 7: \"PID-8 VALUE\"",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}\n,,gender,,,femal,\n"),
                "segments/PID[Patient].csv:3: constant `femal` is not one of the allowed codes (male, female, other, unknown)",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}PID-5,,name[],XCN[HumanName],,,\n"),
                "segments/PID[Patient].csv:2: no map file datatypes/XCN[HumanName].csv",
            ),
            (
                "segments/PID[Patient].csv",
                "field,target\nPID-5,name[]\n".to_string(),
                "segments/PID[Patient].csv:1: missing column `when` (columns: field,when,target,type,vocabulary,value,direction)",
            ),
            (
                "segments/OBX[Observation].csv",
                format!("{seg}OBX-5,OBX-2 = 'SN',valueString,SN[string],,,\n"),
                "segments/OBX[Observation].csv:2: type SN[string] runs forward only: the row's direction must be forward",
            ),
            (
                "segments/OBX[Observation].csv",
                format!("{seg}OBX-6.1,,valueString,ST[appended],,,reverse\n"),
                "segments/OBX[Observation].csv:2: type ST[appended] runs forward only: the row's direction must be forward",
            ),
            (
                "datatypes/ED[Attachment].csv",
                "component,when,target,type,vocabulary,value,direction\n0,,contentType,ED[mime],,,forward\n".to_string(),
                "datatypes/ED[Attachment].csv:2: type ED[mime] translates a code: name a vocabulary",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[].individual,XCN[Practitioner],,,forward\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: source `ROL` (the whole segment) needs a map ROL[Resource] in the type column",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[].type[],ROL[PractitionerRole],,,forward\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: map ROL[PractitionerRole] builds a PractitionerRole, but target `participant[].type[]` is a CodeableConcept",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[].individual,ROL[PractitionerRole],,,\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: source `ROL` (the whole segment) runs forward only: write forward",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[],ROL[PractitionerRole],,,reverse\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: source `ROL` (the whole segment) run backwards needs a map ROL[Encounter] in the type column",
            ),
            (
                "segments/OBX[DiagnosticReport-PresentedForm].csv",
                format!("{seg}OBX,,presentedForm[],OBX[Observation],,,reverse\n"),
                "segments/OBX[DiagnosticReport-PresentedForm].csv:2: source `OBX` (the whole segment) run backwards needs a map OBX[DiagnosticReport] or OBX[Attachment] in the type column",
            ),
            (
                "segments/OBX[Observation].csv",
                format!("{seg}OBX,,component[1],OBX[Observation-Component],,,reverse\n"),
                "segments/OBX[Observation].csv:2: source `OBX` (the whole segment) run backwards writes one segment per entry: its target `component[1]` must end in `[]`",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[].individual,ROL[PractitionerRole],,id=x,forward\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: source `ROL` (the whole segment) takes no value column",
            ),
            (
                "segments/ROL[Encounter-PractitionerRole].csv",
                format!("{seg}ROL,,participant[].individual,ROL[Practitioner],,,forward\n"),
                "segments/ROL[Encounter-PractitionerRole].csv:2: no map file segments/ROL[Practitioner].csv",
            ),
            (
                "datatypes/XPN[HumanName].csv",
                "component,when,target,type,vocabulary,value,direction\n3,,given[],ST[words],,,\n"
                    .to_string(),
                "datatypes/XPN[HumanName].csv:2: type ST[words] runs backwards only: the row's direction must be reverse",
            ),
            (
                "datatypes/XPN[HumanName].csv",
                "component,when,target,type,vocabulary,value,direction\n3,,family,ST[words],,,reverse\n"
                    .to_string(),
                "datatypes/XPN[HumanName].csv:2: type ST[words] joins the entries of a list into a component: its target ends in `[]`, in a data type map",
            ),
            (
                "segments/PID[Patient].csv",
                format!("{seg}PXQ-2,,gender,,,,forward\n"),
                "segments/PID[Patient].csv:2: unknown segment PXQ",
            ),
            (
                "messages/ADT_A01.csv",
                format!("{adt}PXQ,0,1,+Patient,PID[Patient],,,\n"),
                "messages/ADT_A01.csv:5: unknown segment PXQ",
            ),
            (
                "messages/ADT_A01.csv",
                format!(
                    "{adt}DG1,0,*,Condition,DG1[Condition],,Encounter.diagnosis[].condition+=PV1[Encounter],\n"
                ),
                "messages/ADT_A01.csv:5: link `Encounter.diagnosis[].condition+=PV1[Encounter]`: the map filling the entry should be DG1[Encounter] (or DG1[Encounter-variant]), not `PV1[Encounter]`",
            ),
            (
                "messages/ADT_A01.csv",
                format!(
                    "{adt}DG1,0,*,Condition,DG1[Condition],,Encounter.diagnosis.condition+=,\n"
                ),
                "messages/ADT_A01.csv:5: link `Encounter.diagnosis.condition+=`: `+=` adds an entry to a list, and Encounter.diagnosis.condition adds none: write `[]` after the list",
            ),
            (
                "messages/ADT_A01.csv",
                format!(
                    "{adt}DG1,0,*,Condition,DG1[Condition],,Encounter.diagnosis[].condition||=,\n"
                ),
                "messages/ADT_A01.csv:5: link `Encounter.diagnosis[].condition||=`: `||=` adds to a list of references, and diagnosis[].condition is an element of a list entry",
            ),
            (
                "messages/ADT_A01.csv",
                format!(
                    "{adt}DG1,0,*,Condition,DG1[Condition],,MessageHeader.focus||=DG1[MessageHeader],\n"
                ),
                "messages/ADT_A01.csv:5: link `MessageHeader.focus||=DG1[MessageHeader]`: `||=` takes nothing after it, not `DG1[MessageHeader]`",
            ),
            (
                "events.csv",
                "message_type,trigger_event,structure\nADT,A01,NOPE\n".to_string(),
                "events.csv:2: no message map messages/NOPE.csv for structure NOPE",
            ),
        ];
        for (path, text, want) in cases {
            let got = match compile_with(path, &text) {
                Ok(_) => panic!("{path} compiled: {text}"),
                Err(e) => e.to_string(),
            };
            // The PID field count comes from the v2.8 table.
            let want = want.replace(
                "39 fields",
                &format!("{} fields", spec::field_count("PID").unwrap_or(0)),
            );
            assert_eq!(got, want, "{path}");
        }
    }
}
