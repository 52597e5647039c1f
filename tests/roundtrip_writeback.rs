//! FHIR → HL7 v2 → FHIR: every element a golden writeback request maps comes back, value for
//! value, when the message is translated again. Elements are compared as (path without list
//! positions, value) pairs per resource type, so the order of list entries may change. The
//! elements writeback cannot write (`NOT_WRITTEN`) and those that do not come back (`LOSSY`) are
//! listed below with the reason; the test fails on any other, and when a listed element is no
//! longer reported. Each report, observation, order and charge comes back as one resource, and each
//! component of an Observation as an Observation of its own (its elements compare as that
//! Observation's), as does each presentedForm of a report (its elements as the attachment in that
//! Observation's R5 value extension).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use hl7fhir::engine::Engine;
use hl7fhir::notify::NotifyOptions;
use hl7fhir::writeback::WritebackOptions;
use serde_json::Value;

/// Elements of a fixture that writeback reports as not written (no row writes them), and why.
const NOT_WRITTEN: &[(&str, &str, &str)] = &[
    (
        "discharge_a03",
        "Encounter.hospitalization.dischargeDisposition.coding.display",
        "PV1-36 is an IS in v2.5.1: only the code travels, its table the field's own",
    ),
    (
        "result_blood_pressure_r01",
        "Observation.category.coding.code",
        "no OBX field holds an Observation's category",
    ),
    (
        "result_blood_pressure_r01",
        "Observation.category.coding.display",
        "no OBX field holds an Observation's category",
    ),
    (
        "result_blood_pressure_r01",
        "Observation.category.coding.system",
        "no OBX field holds an Observation's category",
    ),
    (
        "message_blood_pressure_a08",
        "Encounter.status",
        "A08 does not carry the state of a visit",
    ),
    (
        "message_blood_pressure_a08",
        "Observation.category.coding.code",
        "no OBX field holds an Observation's category",
    ),
    (
        "message_blood_pressure_a08",
        "Observation.category.coding.display",
        "no OBX field holds an Observation's category",
    ),
    (
        "message_blood_pressure_a08",
        "Observation.category.coding.system",
        "no OBX field holds an Observation's category",
    ),
    (
        "charge_single_p03",
        "Account.status",
        "PID-18 carries the account number only",
    ),
    (
        "charge_for_order_p03",
        "Account.status",
        "PID-18 carries the account number only",
    ),
    (
        "charges_with_credit_p03",
        "Account.status",
        "PID-18 carries the account number only",
    ),
    (
        "charges_with_credit_p03",
        "Encounter.status",
        "only the ADT events A01, A03 and A04 carry the state of a visit",
    ),
    (
        "charges_with_credit_p03",
        "Procedure.status",
        "PR1 has no field for it",
    ),
    (
        "message_patient_update_a08",
        "Encounter.status",
        "A08 does not carry the state of a visit",
    ),
    (
        "message_patient_update_a08",
        "Encounter.location.location.reference",
        "the Location it names is not in the request, and PV1-3 is written from the Location",
    ),
    (
        "patient_encounter_update_a08",
        "Encounter.status",
        "A08 does not carry the state of a visit",
    ),
    (
        "result_attachments_r01",
        "Observation.extension.valueAttachment.title",
        "ED has no component for an attachment's title",
    ),
    (
        "result_pdf_report_r01",
        "DiagnosticReport.conclusion",
        "HL7 v2 has no field for a report's conclusion apart from its results",
    ),
    (
        "result_pdf_report_r01",
        "DiagnosticReport.presentedForm.title",
        "ED has no component for an attachment's title",
    ),
    (
        "result_report_r01",
        "Encounter.status",
        "an ORU does not carry the state of a visit",
    ),
    (
        "result_report_r01",
        "Observation.issued",
        "no OBX field says when a result was released (OBX-19 is when the analyzer ran)",
    ),
    (
        "result_report_r01",
        "Observation.note.authorReference.reference",
        "NTE-5 (entered by) came with HL7 v2.6; the message is v2.5.1",
    ),
    (
        "result_report_r01",
        "Observation.note.time",
        "NTE-6 (entered date/time) came with HL7 v2.6; the message is v2.5.1",
    ),
];

/// Resource types each of which must come back as exactly one resource.
const ONE_FOR_ONE: &[&str] = &[
    "DiagnosticReport",
    "Observation",
    "ChargeItem",
    "Patient",
    "ServiceRequest",
];

/// Paths that do not come back, and why.
const LOSSY: &[(&str, &str)] = &[
    (
        "*.reference",
        "references point at the Bundle's own full URLs, which differ between requests",
    ),
    (
        "Encounter.hospitalization.dischargeDisposition.coding.system",
        "PV1-36 is an IS in v2.5.1: the code goes alone, and is read back without a system",
    ),
    (
        "Observation.valueBoolean",
        "HL7 v2 has no boolean value type: it goes as a code of table 0136 (OBX-2 CWE), which reads back as a valueCodeableConcept",
    ),
    (
        "Observation.referenceRange.low.value",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.low.unit",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.low.system",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.low.code",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.high.value",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.high.unit",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.high.system",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Observation.referenceRange.high.code",
        "OBX-7 holds a range as text (`90-120`, in the units of OBX-6), which reads back as referenceRange.text",
    ),
    (
        "Encounter.status",
        "the event carries the status: A04 (register) reads back as planned, so arrived, triaged and planned all come back as planned",
    ),
    (
        "Condition.category.coding.code",
        "a diagnosis-role category goes to DG1-6, which reads back as the use of the Encounter's diagnosis entry: the IG maps DG1-6 to no element of the Condition",
    ),
    (
        "Condition.category.coding.display",
        "a diagnosis-role category goes to DG1-6, which reads back as the use of the Encounter's diagnosis entry: the IG maps DG1-6 to no element of the Condition",
    ),
    (
        "Condition.category.coding.system",
        "a diagnosis-role category goes to DG1-6, which reads back as the use of the Encounter's diagnosis entry: the IG maps DG1-6 to no element of the Condition",
    ),
    (
        "Patient.contact.organization.display",
        "an organization a contact names by its display alone goes to NK1-13 (XON.1) and reads back as an Organization of that name, which the contact refers to",
    ),
    (
        "Patient.contact.organization.type",
        "an organization a contact names by its display alone goes to NK1-13 (XON.1) and reads back as an Organization of that name, which the contact refers to",
    ),
    (
        "Patient.contact.telecom.value",
        "NK1[Patient] reads the first repetition of NK1-5 (the IG's map): a contact's further telecoms, written as further repetitions, read back as the next of kin RelatedPerson's",
    ),
    (
        "Patient.contact.telecom.system",
        "NK1[Patient] reads the first repetition of NK1-5 (the IG's map): a contact's further telecoms, written as further repetitions, read back as the next of kin RelatedPerson's",
    ),
    (
        "Patient.contact.telecom.use",
        "NK1[Patient] reads the first repetition of NK1-5 (the IG's map): a contact's further telecoms, written as further repetitions, read back as the next of kin RelatedPerson's",
    ),
];

fn lossy(ty: &str, path: &str) -> bool {
    LOSSY.iter().any(|(p, _)| {
        *p == format!("{ty}.{path}") || (p.starts_with("*.") && path.ends_with(&p[2..]))
    })
}

/// (path without list positions, value) for every leaf.
fn pairs(v: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "id" || k == "resourceType" || k.starts_with('_') {
                    continue;
                }
                pairs(
                    x,
                    &if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    },
                    out,
                );
            }
        }
        Value::Array(a) => a.iter().for_each(|x| pairs(x, path, out)),
        Value::String(s) => {
            out.insert((path.to_string(), s.clone()));
        }
        other => {
            out.insert((path.to_string(), other.to_string()));
        }
    }
}

/// A request's resources, bare or in a Bundle (its MessageHeader left out).
fn resources(request: &Value) -> Vec<&Value> {
    match request["resourceType"].as_str() {
        Some("Bundle") => request["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] != "MessageHeader")
            .collect(),
        _ => vec![request],
    }
}

#[test]
fn fhir_to_v2_to_fhir_keeps_mapped_elements() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fhir-to-v2");
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: true,
    };
    let mut failures = Vec::new();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    inputs.sort();
    for input in inputs {
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let written = engine.writeback(&request, &opts, 1).unwrap();
        let unmapped: BTreeSet<String> = written
            .unmapped
            .iter()
            .map(|p| by_type(&request, p))
            .map(|p| {
                p.chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>()
                    .replace("[]", "")
            })
            .collect();
        let expected: BTreeSet<String> = NOT_WRITTEN
            .iter()
            .filter(|(f, ..)| *f == name)
            .map(|(_, p, _)| p.to_string())
            .collect();
        if unmapped != expected {
            failures.push(format!(
                "{name}: writeback left out {unmapped:?}, the test lists {expected:?}"
            ));
        }
        let bundle = engine
            .notify(&written.message, &NotifyOptions::default())
            .unwrap();
        let out: Vec<&Value> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .collect();
        for ty in ONE_FOR_ONE {
            // A component is an OBX of its own, which reads back as an Observation of its own;
            // so is a report's presentedForm.
            let count = |rs: &[&Value]| {
                let entries = |r: &Value, list: &str| r[list].as_array().map_or(0, Vec::len);
                let presented = match *ty {
                    "Observation" => rs
                        .iter()
                        .filter(|r| r["resourceType"] == "DiagnosticReport")
                        .map(|r| entries(r, "presentedForm"))
                        .sum::<usize>(),
                    _ => 0,
                };
                presented
                    + rs.iter()
                        .filter(|r| r["resourceType"] == *ty)
                        .map(|r| 1 + entries(r, "component"))
                        .sum::<usize>()
            };
            let (sent, back) = (count(&resources(&request)), count(&out));
            if sent > 0 && sent != back {
                failures.push(format!("{name}: {sent} {ty} sent, {back} came back"));
            }
        }
        for res in resources(&request) {
            let ty = res["resourceType"].as_str().unwrap();
            let mut want = BTreeSet::new();
            pairs(res, "", &mut want);
            let mut have = BTreeSet::new();
            for o in out.iter().filter(|o| o["resourceType"] == ty) {
                pairs(o, "", &mut have);
            }
            // A presentedForm comes back as the value of an Observation of the report's result,
            // in R5's Observation.value extension.
            let mut results = BTreeSet::new();
            for o in out.iter().filter(|o| o["resourceType"] == "Observation") {
                pairs(o, "", &mut results);
            }
            for (path, value) in want {
                // A component's elements come back as those of the Observation it becomes.
                let path = match path.strip_prefix("component.") {
                    Some(p) if ty == "Observation" => p.to_string(),
                    _ => path,
                };
                let presented = match path.strip_prefix("presentedForm.") {
                    Some(p) if ty == "DiagnosticReport" => {
                        results.contains(&(format!("extension.valueAttachment.{p}"), value.clone()))
                    }
                    _ => false,
                };
                if unmapped.contains(&format!("{ty}.{path}"))
                    || lossy(ty, &path)
                    || presented
                    || have.contains(&(path.clone(), value.clone()))
                {
                    continue;
                }
                failures.push(format!("{name}: {ty}.{path} = {value:?} did not come back"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A path of the request with the Bundle entry it starts in named by its resource type
/// (`Bundle.entry[2].resource.status` is `Encounter.status`), as the test lists them.
fn by_type(request: &Value, path: &str) -> String {
    let Some(rest) = path.strip_prefix("Bundle.entry[") else {
        return path.to_string();
    };
    let (n, rest) = rest.split_once("].resource").unwrap();
    let ty = request["entry"][n.parse::<usize>().unwrap()]["resource"]["resourceType"]
        .as_str()
        .unwrap();
    format!("{ty}{rest}")
}
