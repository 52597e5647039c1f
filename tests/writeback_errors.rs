//! Writeback requests that cannot become an ORU^R01 or a DFT^P03: each gives one error naming
//! the FHIR path and the reason, without quoting patient data.

mod common;

use common::field;

use hl7fhir::engine::Engine;
use hl7fhir::writeback::{Envelope, WritebackOptions};
use serde_json::{Value, json};

fn patient() -> Value {
    json!({"resourceType": "Patient", "id": "p1", "identifier": [{"value": "MRN-1"}],
           "name": [{"family": "Castellanos"}]})
}

fn observation() -> Value {
    json!({"resourceType": "Observation", "id": "o1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
           "subject": {"reference": "Patient/p1"},
           "valueQuantity": {"value": 101, "unit": "mg/dL"}})
}

fn charge() -> Value {
    json!({"resourceType": "ChargeItem", "id": "c1", "status": "billable",
           "code": {"coding": [{"code": "99213"}]}, "subject": {"reference": "Patient/p1"},
           "occurrenceDateTime": "2026-04-21", "quantity": {"value": 1}})
}

fn tx(resources: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": resources
        .into_iter()
        .map(|r| json!({"resource": r, "request": {"method": "POST"}}))
        .collect::<Vec<_>>()})
}

/// Options that infer the event and ask what was not written.
fn explaining() -> WritebackOptions {
    WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: true,
    }
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[test]
fn bad_result_and_charge_requests_are_named_at_their_fhir_path() {
    let engine = Engine::with_defaults().unwrap();
    let report = |result: &str| {
        json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
               "code": {"text": "panel"}, "subject": {"reference": "Patient/p1"},
               "result": [{"reference": result}]})
    };
    let condition =
        json!({"resourceType": "Condition", "id": "x1", "subject": {"reference": "Patient/p1"}});
    // (request, --event, kind, message)
    let mut cases: Vec<(Value, Option<&str>, &str, &str)> = vec![
        (
            observation(),
            None,
            "missing_required",
            "Observation.subject: points at a Patient the request does not hold; an HL7 v2 ORU^R01 needs the Patient itself for its PID segment",
        ),
        (
            tx(vec![
                without(report("Observation/o1"), "subject"),
                without(observation(), "subject"),
            ]),
            None,
            "missing_required",
            "Bundle.entry: an HL7 v2 ORU^R01 needs a Patient; the request has none",
        ),
        (
            tx(vec![
                patient(),
                charge(),
                report("Observation/o1"),
                observation(),
            ]),
            None,
            "unsupported",
            "Bundle.entry[2].resource: a DiagnosticReport cannot travel in an HL7 v2 DFT^P03: send it in a request of its own (ORU^R01)",
        ),
        (
            tx(vec![patient(), observation(), charge()]),
            Some("R01"),
            "unsupported",
            "Bundle.entry[2].resource: a ChargeItem cannot travel in an HL7 v2 ORU^R01: send it in a request of its own (DFT^P03)",
        ),
        (
            tx(vec![patient()]),
            Some("R01"),
            "missing_required",
            "Bundle.entry: an HL7 v2 ORU^R01 carries a DiagnosticReport or Observations; the request has none",
        ),
        (
            patient(),
            Some("P03"),
            "missing_required",
            "Patient: an HL7 v2 DFT^P03 carries a ChargeItem; the request has none",
        ),
        (
            tx(vec![patient(), report("Condition/x1"), condition]),
            None,
            "unsupported",
            "Bundle.entry[1].resource.result[0]: DiagnosticReport.result points at a Condition; the ORU_R01 message map takes an Observation there",
        ),
        (
            tx(vec![
                patient(),
                json!({"resourceType": "ChargeItem", "status": "billable", "code": {"text": "x"},
                       "subject": {"reference": "Patient/p1"}, "occurrenceDateTime": "2026-04-21",
                       "account": [{"reference": "Patient/p1"}]}),
            ]),
            None,
            "unsupported",
            "Bundle.entry[1].resource.account[0]: ChargeItem.account points at a Patient; the DFT_P03 message map takes an Account there",
        ),
        (
            tx(vec![patient(), without(charge(), "occurrenceDateTime")]),
            None,
            "missing_required",
            "Bundle.entry[1].resource.occurrence[x]: an HL7 v2.5.1 FT1 needs FT1-4, and the ChargeItem has no occurrence[x] to fill it",
        ),
        (
            tx(vec![patient(), without(observation(), "status")]),
            None,
            "missing_required",
            "Bundle.entry[1].resource.status: an HL7 v2.5.1 OBX needs OBX-11, and the Observation has no status to fill it",
        ),
        (
            tx(vec![
                patient(),
                json!({"resourceType": "Observaton", "status": "final"}),
            ]),
            None,
            "bad_fhir",
            "Bundle.entry[1].resource.resourceType: `Observaton` is not a FHIR R4 resource type",
        ),
    ];
    // What is not a charge to post, and an Encounter whose cancellation no single event says.
    let charge_statuses = [
        "planned",
        "aborted",
        "not-billable",
        "billed",
        "entered-in-error",
    ];
    let charge_errors: Vec<String> = charge_statuses
        .iter()
        .map(|s| format!("Bundle.entry[1].resource.status: a ChargeItem whose status is {s} is not a charge to post: an HL7 v2 DFT^P03 posts billable charges (a negative amount credits one)"))
        .collect();
    for (status, want) in charge_statuses.iter().zip(&charge_errors) {
        let mut c = charge();
        c["status"] = json!(status);
        cases.push((tx(vec![patient(), c]), None, "unsupported", want));
    }
    cases.push((
        tx(vec![patient(), without(charge(), "status")]),
        None,
        "unsupported",
        "Bundle.entry[1].resource.status: a ChargeItem without a status is not known to be billable: an HL7 v2 DFT^P03 posts billable charges (a negative amount credits one)",
    ));
    let encounter_statuses = ["cancelled", "entered-in-error"];
    let encounter_errors: Vec<String> = encounter_statuses
        .iter()
        .map(|s| format!("Bundle.entry[1].resource.status: an Encounter whose status is {s} is cancelled by an event the request must name with --event: A11 cancels an admission or visit, A27 a pending admission, A38 a pre-admission"))
        .collect();
    for (status, want) in encounter_statuses.iter().zip(&encounter_errors) {
        let encounter = json!({"resourceType": "Encounter", "status": status,
                               "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"}});
        cases.push((tx(vec![patient(), encounter]), None, "unsupported", want));
    }
    cases.push((
        json!({"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
               "name": [{"family": "Castellanos"}], "birthDate": "1913-02-31"}),
        None,
        "bad_fhir",
        "Patient.birthDate: not a FHIR date, dateTime or instant (YYYY, YYYY-MM, YYYY-MM-DD, or a date and time with its offset)",
    ));
    let mut failures = Vec::new();
    for (i, (request, event, kind, want)) in cases.into_iter().enumerate() {
        let opts = WritebackOptions {
            event: event.map(str::to_string),
            envelope: common::fixed_envelope(),
            explain: false,
        };
        match engine.writeback(&request, &opts, 1) {
            Ok(w) => failures.push(format!(
                "case {i}: expected an error, got\n{}",
                String::from_utf8_lossy(&w.message).replace('\r', "\n")
            )),
            Err(e) => {
                let got = (e.kind().code(), e.to_string());
                if got != (kind, want.to_string()) {
                    failures.push(format!(
                        "case {i}:\n  expected {kind}: {want}\n  got      {}: {}",
                        got.0, got.1
                    ));
                }
                if got.1.contains("Castellanos") || got.1.contains("MRN-1") {
                    failures.push(format!("case {i}: the error quotes patient data"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn components_a_later_version_requires_are_filled_or_the_request_fails() {
    let engine = Engine::with_defaults().unwrap();
    let opts = |version: &str| WritebackOptions {
        event: None,
        envelope: Envelope {
            version: version.into(),
            ..common::fixed_envelope()
        },
        explain: false,
    };
    // v2.5.1 requires no component: an untyped identifier is fine.
    assert!(engine.writeback(&patient(), &opts("2.5.1"), 1).is_ok());
    // From v2.7 every CX needs CX.5 (identifier type) and every XTN needs XTN.3.
    let e = engine
        .writeback(&patient(), &opts("2.8"), 1)
        .expect_err("an untyped identifier in v2.8");
    assert_eq!(
        e.to_string(),
        "Patient.identifier: an HL7 v2.8 PID-3 needs CX.5 in every repetition, and a Patient identifier has nothing to fill it"
    );
    let mut typed = patient();
    typed["identifier"][0]["type"] = json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
    typed["telecom"] = json!([{"system": "phone", "value": "555-0100", "use": "home"},
                              {"value": "555-0199", "use": "home"}]);
    let e = engine
        .writeback(&typed, &opts("2.8"), 1)
        .expect_err("a telecom without system in v2.8");
    assert_eq!(
        e.to_string(),
        "Patient.telecom: an HL7 v2.8 PID-13 needs XTN.3 in every repetition, and a Patient telecom has nothing to fill it"
    );
    typed["telecom"].as_array_mut().unwrap().pop();
    let written = engine.writeback(&typed, &opts("2.8"), 1).unwrap();
    let text = String::from_utf8(written.message).unwrap();
    let pid = text.split('\r').find(|s| s.starts_with("PID|")).unwrap();
    assert_eq!(
        pid,
        "PID|1||MRN-1^^^^MR||Castellanos||||||||^PRN^PH^^^^^^^^^555-0100"
    );
}

#[test]
fn a_code_no_vocabulary_translates_back_is_reported_not_dropped() {
    let engine = Engine::with_defaults().unwrap();
    let mut request = patient();
    request["gender"] = json!("hermaphrodite");
    request["maritalStatus"] = json!({"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]});
    let opts = explaining();
    let written = engine.writeback(&request, &opts, 1).unwrap();
    // The marital status went to PID-16 (its system with it); the gender is no FHIR code.
    assert_eq!(written.unmapped, ["Patient.gender"]);
    request["gender"] = json!("female");
    assert!(
        engine
            .writeback(&request, &opts, 1)
            .unwrap()
            .unmapped
            .is_empty()
    );
}

#[test]
fn what_the_message_has_no_place_for_is_named_at_its_place_in_the_request() {
    // An A01 has one visit: a second Encounter is written nowhere, and named whole; what the
    // first holds that no field takes is named element by element.
    let engine = Engine::with_defaults().unwrap();
    let encounter = |id: &str, status: &str| {
        json!({"resourceType": "Encounter", "identifier": [{"value": id}], "status": status,
               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
               "subject": {"reference": "Patient/p1"}, "priority": {"text": "urgent"}})
    };
    let request = tx(vec![
        patient(),
        encounter("V1", "in-progress"),
        encounter("V2", "finished"),
    ]);
    let opts = explaining();
    let written = engine.writeback(&request, &opts, 1).unwrap();
    assert_eq!(written.event, "A01");
    assert_eq!(
        written.unmapped,
        [
            "Bundle.entry[1].resource.priority.text",
            "Bundle.entry[2].resource"
        ]
    );
}

#[test]
fn a_birth_time_is_written_back_in_pid_7_before_the_birth_date() {
    let engine = Engine::with_defaults().unwrap();
    let mut request = patient();
    request["birthDate"] = json!("2024-03-05");
    request["_birthDate"] = json!({"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
        "valueDateTime": "2024-03-05T10:11:12-05:00"}]});
    let opts = explaining();
    let pid7 = |request: &Value| {
        let written = engine.writeback(request, &opts, 1).unwrap();
        assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
        field(&written.message, "PID", 7)
    };
    assert_eq!(pid7(&request), "20240305101112-0500");
    request.as_object_mut().unwrap().remove("_birthDate");
    assert_eq!(pid7(&request), "20240305");
}

#[test]
fn a_code_of_a_system_hl7_cannot_name_is_reported_not_sent_as_a_table_code() {
    // PV1-36 holds a code of table 0112. FHIR's own discharge disposition `home` is no such
    // code, and no coding system name can say what it is: written there, a receiver would
    // read it as a table 0112 code. An HL7 code, or a code sent without a system, goes.
    let engine = Engine::with_defaults().unwrap();
    let opts = explaining();
    let pv1_36 = |coding: Value| {
        let encounter = json!({"resourceType": "Encounter", "status": "finished",
            "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
            "hospitalization": {"dischargeDisposition": {"coding": [coding]}}});
        let written = engine
            .writeback(&tx(vec![patient(), encounter]), &opts, 1)
            .unwrap();
        (field(&written.message, "PV1", 36), written.unmapped)
    };
    let (field, unmapped) = pv1_36(json!({
        "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition", "code": "home"}));
    assert_eq!(field, "");
    // A v2.5.1 PV1-36 is an IS: it has no component for a coding system either.
    assert_eq!(
        unmapped,
        [
            "Bundle.entry[1].resource.hospitalization.dischargeDisposition.coding[0].system",
            "Bundle.entry[1].resource.hospitalization.dischargeDisposition.coding[0].code"
        ]
    );
    let (field, unmapped) = pv1_36(json!({
        "system": "http://terminology.hl7.org/CodeSystem/v2-0112", "code": "01"}));
    assert_eq!((field.as_str(), unmapped.len()), ("01", 0));
    let (field, unmapped) = pv1_36(json!({"code": "01"}));
    assert_eq!((field.as_str(), unmapped.len()), ("01", 0));
}

#[test]
fn an_identifier_type_of_another_system_is_reported_not_sent_as_a_table_0203_code() {
    // CX.5 holds a code of table 0203 and nothing beside it to name another system: a type
    // coded in an EHR's own system would be read as a table 0203 code. A v2-0203 code, or a
    // code sent without a system (a sender's own type, as notify keeps it), goes.
    let engine = Engine::with_defaults().unwrap();
    let opts = explaining();
    let pid_3 = |coding: Value| {
        let mut request = patient();
        request["identifier"][0]["type"] = json!({"coding": [coding]});
        let written = engine.writeback(&request, &opts, 1).unwrap();
        (field(&written.message, "PID", 3), written.unmapped)
    };
    let (field, unmapped) = pid_3(json!({"system": "urn:oid:1.2.3.4", "code": "MR"}));
    assert_eq!(field, "MRN-1");
    assert_eq!(
        unmapped,
        [
            "Patient.identifier[0].type.coding[0].system",
            "Patient.identifier[0].type.coding[0].code"
        ]
    );
    let (field, unmapped) = pid_3(json!({
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
        "display": "Medical record number"}));
    assert_eq!((field.as_str(), unmapped.len()), ("MRN-1^^^^MR", 0));
    let (field, unmapped) = pid_3(json!({"code": "visitid"}));
    assert_eq!((field.as_str(), unmapped.len()), ("MRN-1^^^^visitid", 0));
}

#[test]
fn a_visit_number_goes_back_to_pv1_19_with_the_type_it_has() {
    // PV1-19 takes the Encounter's first identifier whatever its type: VN, which notify gives a
    // visit number sent without one, or a sender's own type kept without a system.
    let engine = Engine::with_defaults().unwrap();
    let opts = explaining();
    let pv1_19 = |ty: Value| {
        let encounter = json!({"resourceType": "Encounter", "status": "in-progress",
            "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
            "identifier": [{"value": "V1", "type": {"coding": [ty]}}]});
        let written = engine
            .writeback(&tx(vec![patient(), encounter]), &opts, 1)
            .unwrap();
        assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
        field(&written.message, "PV1", 19)
    };
    let vn = json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN",
                    "display": "Visit number"});
    assert_eq!(pv1_19(vn), "V1^^^^VN");
    assert_eq!(pv1_19(json!({"code": "visitid"})), "V1^^^^visitid");
}

#[test]
fn fhir_codes_the_new_vocabularies_know_go_back_as_their_hl7_codes() {
    // A religion and a service coded only in FHIR's systems go back as the table 0006 and 0069
    // codes the IG's concept maps pair them with; of two HL7 codes for one religion (A and ATH),
    // the one the table keeps (ATH).
    let engine = Engine::with_defaults().unwrap();
    let opts = explaining();
    let mut patient = patient();
    patient["extension"] = json!([{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-religion",
        "valueCodeableConcept": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ReligiousAffiliation",
            "code": "1007"}]}}]);
    let encounter = json!({"resourceType": "Encounter", "status": "in-progress",
        "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
        "serviceType": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "382"}]}});
    let written = engine
        .writeback(&tx(vec![patient, encounter]), &opts, 1)
        .unwrap();
    assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
    assert_eq!(field(&written.message, "PID", 17), "ATH^Atheist^HL70006");
    // PV1-10 is an IS in v2.5.1: the code alone.
    assert_eq!(field(&written.message, "PV1", 10), "MED");
}

#[test]
fn a_code_of_another_system_is_not_sent_alone_in_a_field_of_a_table() {
    // Before v2.7 PV1-4 (admission type, table 0007) is an IS: a code goes there alone, with no
    // coding system beside it. A SNOMED encounter type, as US Core and Synthea send, written
    // there would be read as a table 0007 code; from v2.7 (CWE) it goes with its system, SCT.
    let engine = Engine::with_defaults().unwrap();
    let pv1_4 = |coding: Value, version: &str| {
        let mut opts = explaining();
        opts.envelope.version = version.into();
        let mut pat = patient();
        pat["identifier"][0]["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
        let encounter = json!({"resourceType": "Encounter", "status": "finished",
            "class": {"code": "EMER"}, "subject": {"reference": "Patient/p1"},
            "type": [{"coding": [coding]}]});
        let written = engine
            .writeback(&tx(vec![pat, encounter]), &opts, 1)
            .unwrap();
        (field(&written.message, "PV1", 4), written.unmapped)
    };
    let snomed = json!({"system": "http://snomed.info/sct", "code": "50849002",
                        "display": "Emergency room admission (procedure)"});
    let (field, unmapped) = pv1_4(snomed.clone(), "2.5.1");
    assert_eq!(field, "");
    assert_eq!(
        unmapped,
        [
            "Bundle.entry[1].resource.type[0].coding[0].system",
            "Bundle.entry[1].resource.type[0].coding[0].code",
            "Bundle.entry[1].resource.type[0].coding[0].display"
        ]
    );
    let (field, unmapped) = pv1_4(snomed, "2.7");
    assert_eq!(
        (field.as_str(), unmapped.len()),
        ("50849002^Emergency room admission (procedure)^SCT", 0)
    );
    let (field, unmapped) = pv1_4(
        json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0007", "code": "E"}),
        "2.5.1",
    );
    assert_eq!((field.as_str(), unmapped.len()), ("E", 0));
}
