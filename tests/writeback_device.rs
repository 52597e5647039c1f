//! An Observation's device written back: OBX-18 (equipment instance identifier) is the first
//! identifier of the Device the request holds, or of a logical reference to one; a Device no
//! Observation names is reported unmapped, and a Device alone names no event.

mod common;

use hl7fhir::engine::Engine;
use hl7fhir::writeback::{WritebackOptions, Written};
use serde_json::{Value, json};

fn write_back(request: &Value) -> Result<Written, hl7fhir::Error> {
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: true,
    };
    engine.writeback(request, &opts, 1)
}

/// OBX-18 of each OBX, in order.
fn obx18(written: &Written) -> Vec<String> {
    String::from_utf8(written.message.clone())
        .unwrap()
        .split('\r')
        .filter(|s| s.starts_with("OBX|"))
        .map(|s| s.split('|').nth(18).unwrap_or("").to_string())
        .collect()
}

fn glucose(device: Option<Value>) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
        "valueQuantity": {"value": 104, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
    });
    if let Some(d) = device {
        o["device"] = d;
    }
    o
}

fn transaction(resources: Vec<(&str, Value)>) -> Value {
    let patient = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
        "name": [{"family": "Doe"}]
    });
    let mut entries = vec![json!({
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "resource": patient,
        "request": {"method": "PUT", "url": "Patient?identifier=urn:oid:2.16.840.1.113883.19.5|MRN-1"}
    })];
    for (url, r) in resources {
        let ty = r["resourceType"].as_str().unwrap().to_string();
        entries
            .push(json!({"fullUrl": url, "resource": r, "request": {"method": "POST", "url": ty}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn meter(serial: &str) -> Value {
    json!({
        "resourceType": "Device",
        "identifier": [
            {"system": "urn:oid:2.16.840.1.113883.19.7.4", "value": "GLU-METER-0042"},
            {"value": "second-identifier"}
        ],
        "serialNumber": serial
    })
}

const METER: &str = "urn:uuid:00000000-0000-4000-8000-000000000042";

#[test]
fn the_device_an_observation_refers_to_is_obx_18() {
    let request = transaction(vec![
        (METER, meter("SN-1")),
        (
            "urn:uuid:00000000-0000-4000-8000-000000000002",
            glucose(Some(json!({"reference": METER}))),
        ),
    ]);
    let written = write_back(&request).unwrap();
    assert_eq!(
        obx18(&written),
        ["GLU-METER-0042^^2.16.840.1.113883.19.7.4^ISO"]
    );
    // One identifier fits OBX-18's first repetition; the rest of the Device has no field.
    assert_eq!(
        written.unmapped,
        [
            "Bundle.entry[1].resource.identifier[1].value",
            "Bundle.entry[1].resource.serialNumber"
        ]
    );
}

#[test]
fn a_logical_reference_to_a_device_is_obx_18() {
    let device = json!({"identifier": {"system": "urn:oid:1.2.3", "value": "PUMP-7"}});
    let request = transaction(vec![(
        "urn:uuid:00000000-0000-4000-8000-000000000002",
        glucose(Some(device)),
    )]);
    let written = write_back(&request).unwrap();
    assert_eq!(obx18(&written), ["PUMP-7^^1.2.3^ISO"]);
    assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
}

#[test]
fn a_device_no_observation_names_is_reported_unmapped() {
    let request = transaction(vec![
        (METER, meter("SN-1")),
        (
            "urn:uuid:00000000-0000-4000-8000-000000000002",
            glucose(None),
        ),
    ]);
    let written = write_back(&request).unwrap();
    assert_eq!(obx18(&written), [""]);
    // Nothing of it is written: it is named whole, at its place in the request.
    assert_eq!(written.unmapped, ["Bundle.entry[1].resource"]);
}

#[test]
fn a_device_alone_names_no_event() {
    let err = write_back(&meter("SN-1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Device: no HL7 v2 event carries Device without a Patient, Encounter, DiagnosticReport, Observation or ChargeItem; name one with --event"
    );
}
