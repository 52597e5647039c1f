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
            let (Some(owner), Some(name), Some(ty), Some(max), codes) = (
                c.next(),
                c.next(),
                c.next(),
                c.next(),
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

/// The elements of a resource that FHIR R4 requires: minimum cardinality 1, or required by an
/// invariant (AllergyIntolerance.clinicalStatus by ait-1, unless verificationStatus says entered
/// in error, so that one too; Appointment.start and end by app-3),
/// for the resources the mapping tables produce. A lightweight notification keeps these so that
/// each resource stays valid.
pub fn required(resource: &str) -> &'static [&'static str] {
    match resource {
        "Account" => &["status"],
        "AllergyIntolerance" => &["patient", "clinicalStatus", "verificationStatus"],
        "Appointment" => &["status", "participant", "start", "end"],
        "ChargeItem" => &["status", "code", "subject"],
        "Condition" => &["subject"],
        "Coverage" => &["status", "beneficiary", "payor"],
        "DiagnosticReport" => &["status", "code"],
        "DocumentReference" => &["status", "content"],
        "Encounter" => &["status", "class"],
        "Immunization" => &[
            "status",
            "vaccineCode",
            "patient",
            "occurrenceDateTime",
            "occurrenceString",
        ],
        "MedicationRequest" => &[
            "status",
            "intent",
            "medicationCodeableConcept",
            "medicationReference",
            "subject",
        ],
        "MessageHeader" => &["eventCoding", "eventUri", "source"],
        "Observation" => &["status", "code"],
        "OperationOutcome" => &["issue"],
        "Procedure" => &["status", "subject"],
        "Provenance" => &["target", "recorded", "agent"],
        "RelatedPerson" => &["patient"],
        "ServiceRequest" => &["status", "intent", "subject"],
        "Medication" | "Specimen" | "Patient" | "Practitioner" | "PractitionerRole"
        | "Organization" | "Location" | "Device" => &[],
        _ => &[],
    }
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
