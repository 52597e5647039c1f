//! What FHIR R4 defines: the elements of each resource, data type and backbone element, with
//! their types, whether they repeat, and the codes a required binding allows. The mapping loader
//! checks every target path against this, so a typo in a table is an error at load, not a
//! silently invalid resource.
//!
//! The table (`r4_elements.csv`) is generated from the official R4 JSON schema by
//! `gen_r4_elements.py`; backbone elements are named as the schema names them
//! (`Patient_Contact`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// One element of a FHIR type.
#[derive(Debug, Clone)]
pub struct Element {
    /// Its type: a primitive (`string`, `code`, `dateTime` …), a data type (`HumanName`), a
    /// backbone element (`Patient_Contact`) or `ResourceList`.
    pub ty: &'static str,
    /// True when it is a list.
    pub many: bool,
    /// The allowed codes, when a required binding fixes them.
    pub codes: Vec<&'static str>,
    /// True when FHIR requires it (minimum cardinality 1); of a required choice
    /// (`occurrence[x]`), one of its elements.
    pub required: bool,
    /// For an element of a choice (`occurrenceDateTime`), the choice's name (`occurrence`).
    pub choice: &'static str,
}

const TABLE: &str = include_str!("r4_elements.csv");

/// The primitive types of FHIR R4.
pub const PRIMITIVES: &[&str] = &[
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
];

fn table() -> &'static HashMap<&'static str, HashMap<&'static str, Element>> {
    static T: OnceLock<HashMap<&'static str, HashMap<&'static str, Element>>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: HashMap<&'static str, HashMap<&'static str, Element>> = HashMap::new();
        for line in TABLE.lines().skip(1) {
            let mut c = line.split(',');
            let (Some(owner), Some(name), Some(ty), Some(max), codes, min, choice) = (
                c.next(),
                c.next(),
                c.next(),
                c.next(),
                c.next().unwrap_or(""),
                c.next().unwrap_or("0"),
                c.next().unwrap_or(""),
            ) else {
                continue;
            };
            let codes = if codes.is_empty() {
                Vec::new()
            } else {
                codes.split('|').collect()
            };
            t.entry(owner).or_default().insert(
                name,
                Element {
                    ty,
                    many: max == "*",
                    codes,
                    required: min == "1",
                    // Some rows of the table name the choice as R4 does, `collected[x]`.
                    choice: choice.trim_end_matches("[x]"),
                },
            );
        }
        t
    })
}

/// The element `name` of FHIR type `owner`.
///
/// ```
/// use hl7fhir::fhir::elements::element;
/// assert_eq!(element("Patient", "name").unwrap().ty, "HumanName");
/// assert!(element("Patient", "nmae").is_none());
/// ```
pub fn element(owner: &str, name: &str) -> Option<&'static Element> {
    table().get(owner)?.get(name)
}

/// True when `name` is a FHIR type that has elements (a resource, data type or backbone).
pub fn is_complex(name: &str) -> bool {
    table().contains_key(name)
}

/// True when `name` is a resource type.
pub fn is_resource(name: &str) -> bool {
    // Every resource, and only resources, has `meta` and `implicitRules`.
    element(name, "implicitRules").is_some()
}

/// True when `text` is a valid FHIR `code`: words separated by single whitespace characters,
/// with none before the first or after the last (the R4 pattern `[^\s]+(\s[^\s]+)*`).
///
/// ```
/// use hl7fhir::fhir::elements::is_code;
/// assert!(is_code("K80.00") && is_code("aortic stenosis"));
/// assert!(!is_code("lung  new issue") && !is_code(" x") && !is_code(""));
/// ```
pub fn is_code(text: &str) -> bool {
    let mut after_space = true;
    for c in text.chars() {
        let space = c.is_whitespace();
        if space && after_space {
            return false;
        }
        after_space = space;
    }
    !after_space
}

/// What FHIR R4 requires of a resource or backbone element, for checking a resource once it is
/// made.
#[derive(Debug)]
pub struct Requirements {
    /// The type.
    pub owner: &'static str,
    /// Each required element: its name, or the names of a required choice's elements, one of
    /// which must be present (and only one).
    pub elements: Vec<Vec<&'static str>>,
    /// Elements an invariant asks for one or more of (`ONE_OF`).
    pub any_of: Vec<Vec<&'static str>>,
    /// The backbone elements that have requirements of their own, at any depth (an
    /// `Encounter.diagnosis` requires its condition): each member's name, and the index of its
    /// type's requirements.
    backbones: Vec<(&'static str, usize)>,
}

impl Requirements {
    /// True when nothing is required, here or in any backbone element.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty() && self.any_of.is_empty() && self.backbones.is_empty()
    }

    /// The backbone elements that have requirements of their own, with those requirements.
    pub fn backbones(&self) -> impl Iterator<Item = (&'static str, &'static Requirements)> + '_ {
        let all = &requirement_table().1;
        self.backbones.iter().map(move |&(name, i)| (name, &all[i]))
    }
}

/// Every type's requirements, and where each type's are.
fn requirement_table() -> &'static (HashMap<&'static str, usize>, Vec<Requirements>) {
    static R: OnceLock<(HashMap<&'static str, usize>, Vec<Requirements>)> = OnceLock::new();
    R.get_or_init(|| {
        let t = table();
        let mut owners: Vec<&'static str> = t.keys().copied().collect();
        owners.sort_unstable();
        let index: HashMap<&'static str, usize> =
            owners.iter().enumerate().map(|(i, &o)| (o, i)).collect();
        let mut all: Vec<Requirements> = owners
            .iter()
            .map(|&owner| {
                let elements = &t[owner];
                let mut names: Vec<&'static str> = elements.keys().copied().collect();
                // By name, whatever order the hash map gives: the same message gives the same
                // problems on every run.
                names.sort_unstable();
                let mut required: Vec<Vec<&'static str>> = Vec::new();
                for name in names {
                    let e = &elements[name];
                    if !e.required {
                        continue;
                    }
                    let same_choice = |alts: &&mut Vec<&'static str>| {
                        !e.choice.is_empty() && elements[alts[0]].choice == e.choice
                    };
                    match required.iter_mut().find(same_choice) {
                        Some(alts) => alts.push(name),
                        None => required.push(vec![name]),
                    }
                }
                let any_of = ONE_OF.iter().filter(|(o, _)| *o == owner);
                Requirements {
                    owner,
                    elements: required,
                    any_of: any_of.map(|&(_, names)| names.to_vec()).collect(),
                    backbones: Vec::new(),
                }
            })
            .collect();
        // Backbone members whose type requires something, at any depth: until nothing changes
        // (a backbone type may hold itself, as Questionnaire.item does).
        loop {
            let mut found = Vec::new();
            for (i, &owner) in owners.iter().enumerate() {
                for (&name, e) in &t[owner] {
                    let Some(&b) = index.get(e.ty).filter(|_| e.ty.contains('_')) else {
                        continue;
                    };
                    if !all[b].is_empty() && !all[i].backbones.iter().any(|&(n, _)| n == name) {
                        found.push((i, name, b));
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            for (i, name, b) in found {
                all[i].backbones.push((name, b));
                all[i].backbones.sort_unstable();
            }
        }
        (index, all)
    })
}

/// What FHIR R4 requires of `owner` (a resource or backbone element type; data types are not
/// looked into: the elements they require, an extension's `url`, are written with them): the
/// elements of minimum cardinality 1, and those an invariant asks for one of (`ONE_OF`).
///
/// ```
/// use hl7fhir::fhir::elements::requirements;
/// let immunization = requirements("Immunization");
/// assert!(immunization.elements.contains(&vec!["occurrenceDateTime", "occurrenceString"]));
/// let (name, diagnosis) = requirements("Encounter")
///     .backbones()
///     .find(|(name, _)| *name == "diagnosis")
///     .unwrap();
/// assert_eq!((name, diagnosis.owner), ("diagnosis", "Encounter_Diagnosis"));
/// assert_eq!(diagnosis.elements, vec![vec!["condition"]]);
/// ```
pub fn requirements(owner: &str) -> &'static Requirements {
    static NONE: Requirements = Requirements {
        owner: "",
        elements: Vec::new(),
        any_of: Vec::new(),
        backbones: Vec::new(),
    };
    let (index, all) = requirement_table();
    index.get(owner).map_or(&NONE, |&i| &all[i])
}

/// Elements of which an invariant requires one: the type (a resource or backbone element) and
/// the elements.
const ONE_OF: &[(&str, &[&str])] = &[
    // app-1: a participant names its type or its actor.
    ("Appointment_Participant", &["type", "actor"]),
];

/// Elements an invariant requires unless another element holds one of some codes: the
/// resource, the elements, the other element and its codes.
pub const REQUIRED_UNLESS: &[(&str, &[&str], &str, &[&str])] = &[
    // app-3: only a proposed, cancelled or waitlisted appointment may lack its start and end.
    (
        "Appointment",
        &["start", "end"],
        "status",
        &["proposed", "cancelled", "waitlist"],
    ),
];

/// The elements of a resource a lightweight notification keeps so that each resource stays
/// valid: those FHIR R4 requires ([`requirements`]), and those an invariant requires
/// (AllergyIntolerance.clinicalStatus by ait-1, unless verificationStatus says entered in
/// error, so that one too; Appointment.start and end by app-3, [`REQUIRED_UNLESS`]).
pub fn required(resource: &str) -> &'static [&'static str] {
    static R: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    R.get_or_init(|| {
        let mut all: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for &owner in table().keys() {
            let names = requirements(owner).elements.iter().flatten().copied();
            all.insert(owner, names.collect());
        }
        let unless = REQUIRED_UNLESS
            .iter()
            .map(|&(owner, names, ..)| (owner, names));
        let ait_1 = (
            "AllergyIntolerance",
            &["clinicalStatus", "verificationStatus"][..],
        );
        for (owner, names) in unless.chain([ait_1]) {
            if let Some(list) = all.get_mut(owner) {
                list.extend_from_slice(names);
            }
        }
        all
    })
    .get(resource)
    .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let status = element("Observation", "status").unwrap();
        assert_eq!(status.ty, "code");
        assert!(status.codes.contains(&"final"));
        assert!(element("Patient", "identifier").unwrap().many);
        assert_eq!(element("Patient", "contact").unwrap().ty, "Patient_Contact");
        assert_eq!(
            element("Observation", "valueQuantity").unwrap().ty,
            "Quantity"
        );
        assert_eq!(
            element("Observation", "effectiveDateTime").unwrap().ty,
            "dateTime"
        );
        assert!(is_resource("Patient") && !is_resource("HumanName") && is_complex("HumanName"));
        // A choice is named alike whether its table row writes `[x]` or not.
        assert_eq!(
            element("Observation", "valueQuantity").unwrap().choice,
            "value"
        );
        assert_eq!(
            element("Specimen_Collection", "collectedDateTime")
                .unwrap()
                .choice,
            "collected"
        );
    }

    #[test]
    fn codes() {
        let cases = [
            ("final", true),
            ("K80.00", true),
            ("aortic stenosis", true),
            ("a\tb", true),
            ("", false),
            (" ", false),
            (" final", false),
            ("final ", false),
            ("lung  new issue", false),
            ("a \tb", false),
        ];
        for (text, valid) in cases {
            assert_eq!(is_code(text), valid, "{text:?}");
        }
    }
}
