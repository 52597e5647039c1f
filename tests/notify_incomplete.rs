//! Resources a damaged message leaves short of what FHIR requires: left out of the
//! notification with every reference to them, a problem noted for each; a list entry short of
//! what FHIR requires of it likewise; in strict mode the message fails instead. Complete
//! messages lose nothing.

use std::collections::BTreeSet;

use hl7fhir::ErrorKind;
use hl7fhir::engine::{Engine, EngineOptions};
use hl7fhir::mapping::TableSet;
use hl7fhir::notify::{Flavor, Format, NotifyOptions};
use serde_json::Value;

fn engine(strict: bool) -> Engine {
    let options = EngineOptions {
        strict,
        ..EngineOptions::default()
    };
    Engine::new(&TableSet::embedded(), options).unwrap()
}

/// The Bundle and the problems a tolerant engine gives for `msg`.
fn notify(msg: &str, opts: &NotifyOptions) -> (Value, Vec<String>) {
    let engine = engine(false);
    let mut out = Vec::new();
    let report = engine
        .notify_with(&mut engine.parser(), msg.as_bytes(), opts, true, &mut out)
        .unwrap();
    (serde_json::from_slice(&out).unwrap(), report.problems)
}

fn types(bundle: &Value) -> Vec<&str> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect()
}

/// Every `urn:uuid:` reference anywhere in `v`.
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if s.starts_with("urn:uuid:") => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| *k != "fullUrl")
            .for_each(|(_, i)| references(i, out)),
        _ => {}
    }
}

/// Fails unless every reference in the Bundle names one of its entries.
fn assert_references_resolve(bundle: &Value) {
    let mut refs = BTreeSet::new();
    references(bundle, &mut refs);
    let entries: BTreeSet<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap().to_string())
        .collect();
    let dangling: Vec<_> = refs.difference(&entries).collect();
    assert!(dangling.is_empty(), "references to no entry: {dangling:?}");
}

const ADT_WITHOUT_PID: &str = "MSH|^~\\&|ADT1|GHH|||20260314081503-0500||ADT^A01^ADT_A01|M1|P|2.5.1\r\
    EVN|A01\r\
    PV1|1|I|2000^2012^01^GHH||||||||||||||||VN-55512^^^GHH^VN\r\
    AL1|1|DA|70618^Penicillin^RXNORM|SV\r\
    DG1|1||I10^Essential (primary) hypertension^I10||20260314|A\r\
    PR1|1||0DTJ4ZZ^Resection of appendix^I10P||202603141000-0500\r";

#[test]
fn what_a_message_without_its_patient_cannot_name_is_left_out() {
    for flavor in [Flavor::Detailed, Flavor::Lightweight] {
        let opts = NotifyOptions {
            flavor,
            ..NotifyOptions::default()
        };
        let (bundle, problems) = notify(ADT_WITHOUT_PID, &opts);
        let made = types(&bundle);
        for gone in ["AllergyIntolerance", "Condition", "Procedure", "Patient"] {
            assert!(!made.contains(&gone), "{flavor:?}: {made:?}");
        }
        assert!(made.contains(&"Encounter"), "{flavor:?}: {made:?}");
        assert_references_resolve(&bundle);
        // The Encounter's diagnosis entry named the Condition: without it, no entry.
        let encounter = &bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"]["resourceType"] == "Encounter")
            .unwrap()["resource"];
        assert!(encounter.get("diagnosis").is_none(), "{encounter}");
        for want in [
            "AllergyIntolerance made from AL1 (segment 4) lacks its patient, which FHIR requires and the message does not give: left out",
            "Condition made from DG1 (segment 5) lacks its subject, which FHIR requires and the message does not give: left out",
            "Procedure made from PR1 (segment 6) lacks its subject, which FHIR requires and the message does not give: left out",
        ] {
            assert!(problems.iter().any(|p| p == want), "{problems:?}");
        }
        if flavor == Flavor::Detailed {
            assert!(
                problems.iter().any(|p| p
                    == "an entry of Encounter.diagnosis lacks its condition, which FHIR requires and the message does not give: left out"),
                "{problems:?}"
            );
        }
    }
}

#[test]
fn a_subscription_notification_focuses_on_no_resource_left_out() {
    // The order's ServiceRequest needs a subject, which a message without PID cannot give.
    let msg = "MSH|^~\\&|LAB|GHH|||20260314081503-0500||ORU^R01^ORU_R01|M2|P|2.5.1\r\
        OBR|1|ORD-1^EHR|ACC-1^LAB|24325-3^Hepatic panel^LN|||20260314073000-0500||||||||||||||||||F\r\
        OBX|1|NM|1751-7^Albumin^LN||4.2|g/dL^g/dL^UCUM|||||F\r";
    let opts = NotifyOptions {
        format: Format::Subscription,
        ..NotifyOptions::default()
    };
    let (bundle, _) = notify(msg, &opts);
    assert_references_resolve(&bundle);
    let status = &bundle["entry"][0]["resource"];
    for p in status["parameter"].as_array().unwrap() {
        for part in p["part"].as_array().into_iter().flatten() {
            let valued = part
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("value") || k == "resource" || k == "part");
            assert!(valued, "a part with no value: {part}");
        }
    }
}

#[test]
fn an_immunization_without_its_rxa_is_left_out_or_fails_when_strict() {
    let msg = "MSH|^~\\&|IIS|GHH|||20260314081503-0500||VXU^V04^VXU_V04|M3|P|2.5.1\r\
        PID|1||MRN1^^^GHH^MR||DOE^JANE||20200101|F\r\
        ORC|RE|IZ-1^EHR|IZ-1^IIS|||||||||1234^WELBY^MARCUS\r";
    let (bundle, problems) = notify(msg, &NotifyOptions::default());
    // The sender (MSH-4) and the patient; not the ordering provider (ORC-12), a Practitioner
    // made only for the Immunization to refer to.
    assert_eq!(types(&bundle), ["MessageHeader", "Organization", "Patient"]);
    assert_eq!(
        problems,
        [
            "Immunization made from ORC (segment 3) lacks its occurrence[x], which FHIR requires and the message does not give: left out"
        ]
    );
    assert_references_resolve(&bundle);
    // The Patient is the focus once the Immunization that would have been is gone.
    let patient = bundle["entry"][2]["fullUrl"].as_str().unwrap();
    let focus = &bundle["entry"][0]["resource"]["focus"];
    assert_eq!(focus, &serde_json::json!([{ "reference": patient }]));

    let e = engine(true)
        .notify(msg.as_bytes(), &NotifyOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingRequired);
    assert_eq!(
        e.to_string(),
        "ORC (segment 3): Immunization made from ORC (segment 3) lacks its occurrence[x], which FHIR requires and the message does not give"
    );
}

#[test]
fn a_booked_appointment_needs_its_time_and_a_cancelled_one_does_not() {
    let siu = |event: &str, status: &str| {
        format!(
            "MSH|^~\\&|SCHED|GHH|||20260314081503-0500||SIU^{event}^SIU_S12|M4|P|2.5.1\r\
             SCH|APT-1^EHR|APT-1^SCHED|||||CHECKUP^Checkup^L|||||||||||||||||{status}\r\
             PID|1||MRN1^^^GHH^MR||DOE^JANE||20200101|F\r\
             RGS|1\r"
        )
    };
    let (bundle, problems) = notify(&siu("S12", "Booked"), &NotifyOptions::default());
    assert!(!types(&bundle).contains(&"Appointment"), "{bundle}");
    assert!(
        problems.iter().any(|p| p.starts_with(
            "Appointment made from SCH (segment 2) lacks its start and end (its status being none of proposed, cancelled, waitlist)"
        )),
        "{problems:?}"
    );
    assert_references_resolve(&bundle);

    let (bundle, problems) = notify(&siu("S15", "Cancelled"), &NotifyOptions::default());
    assert!(types(&bundle).contains(&"Appointment"), "{problems:?}");
}

/// Golden inputs damaged on purpose.
const DAMAGED: &[&str] = &["adt_a01_without_pid.hl7"];

#[test]
fn complete_messages_lose_nothing() {
    // Every other golden notification input: no resource left out, no problem of this kind.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v2-to-fhir");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let damaged = path
            .file_name()
            .is_some_and(|n| DAMAGED.iter().any(|d| n == *d));
        if path.extension().is_none_or(|e| e != "hl7") || damaged {
            continue;
        }
        let msg = std::fs::read_to_string(&path).unwrap();
        let (_, problems) = notify(&msg, &NotifyOptions::default());
        let left_out: Vec<_> = problems
            .iter()
            .filter(|p| p.ends_with("left out"))
            .collect();
        assert!(left_out.is_empty(), "{}: {left_out:?}", path.display());
        checked += 1;
    }
    assert!(checked > 40, "only {checked} fixtures");
}

#[test]
fn a_participant_names_its_type_or_its_actor() {
    // A PID sent before its SCH: the appointment it adds itself to as a participant is made
    // from the PID alone, its participant entries without an actor (app-1).
    let msg = "MSH|^~\\&|SCHED|GHH|||20260314081503-0500||SIU^S12^SIU_S12|M5|P|2.5.1\r\
        PID|1||MRN1^^^GHH^MR||DOE^JANE||20200101|F\r\
        RGS|1\r\
        SCH|APT-1^EHR|APT-1^SCHED|||||CHECKUP^Checkup^L|||^^^20260423140000-0500^20260423143000-0500|||||||||||||||Booked\r";
    let (bundle, problems) = notify(msg, &NotifyOptions::default());
    assert!(
        problems.iter().any(|p| p
            == "an entry of Appointment.participant lacks its type or actor, which FHIR requires and the message does not give: left out"),
        "{problems:?}"
    );
    assert_references_resolve(&bundle);
    for entry in bundle["entry"].as_array().unwrap() {
        let r = &entry["resource"];
        if r["resourceType"] != "Appointment" {
            continue;
        }
        for p in r["participant"].as_array().unwrap() {
            assert!(p.get("type").is_some() || p.get("actor").is_some(), "{p}");
            assert!(p.get("status").is_some(), "{p}");
        }
    }
}

#[test]
fn of_a_choice_one_element_stays_and_a_data_absent_reason_gives_way() {
    // The same order twice: the first names its drug (a Medication), the second, without its
    // RXO, records the drug as unknown. One MedicationRequest, one medication[x].
    let msg = "MSH|^~\\&|EHR|RMC|PHARMACY||20260603141207-0400||OMP^O09^OMP_O09|RX1|P|2.5.1\r\
        PID|1||MRN7741880^^^RMC^MR||Haugen^Ingrid^M||19470302|F\r\
        ORC|NW|RX-90215^EHR\r\
        RXO|^Metoprolol tartrate 25 mg tablet^L|25||mg^milligram^UCUM\r\
        RXR|PO^Oral^HL70162\r\
        ORC|NW|RX-90215^EHR\r";
    let (bundle, problems) = notify(msg, &NotifyOptions::default());
    let requests: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "MedicationRequest")
        .collect();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].get("medicationCodeableConcept").is_none());
    assert!(requests[0]["medicationReference"]["reference"].is_string());
    assert!(
        problems.iter().any(|p| p
            == "MedicationRequest.medicationCodeableConcept left out: FHIR allows one of medicationCodeableConcept, medicationReference"),
        "{problems:?}"
    );
    assert_references_resolve(&bundle);
}
