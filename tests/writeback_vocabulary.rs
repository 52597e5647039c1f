//! Codes written back through the vocabularies: a FHIR code several HL7 codes translate to is
//! written as the one its vocabulary marks, or not at all where none says what it says, and a
//! code is written only in the versions whose table has it.

mod common;

use common::{entry_of, field, read_back};
use hl7fhir::engine::Engine;
use hl7fhir::writeback::{WritebackOptions, Written};
use serde_json::{Value, json};

fn options(version: &str) -> WritebackOptions {
    let mut opts = WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: true,
    };
    opts.envelope.version = version.into();
    opts
}

fn write(request: &Value, version: &str) -> Result<Written, hl7fhir::Error> {
    Engine::with_defaults()
        .unwrap()
        .writeback(request, &options(version), 1)
}

/// A Patient whose identifier has the type v2.7 and later require (CX.5).
fn patient(extra: Value) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": "p1",
        "identifier": [{"value": "MRN-1", "type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
        "name": [{"family": "Castellanos"}]});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn unmapped(written: &Written, path: &str) -> bool {
    written.unmapped.iter().any(|u| u == path)
}

#[test]
fn a_contact_point_of_system_other_gets_no_equipment_type() {
    // MD, SAT, TDD and TTY all read as `other`; none of them is what `other` says.
    let request = patient(json!({"telecom": [
        {"system": "other", "value": "555 0100", "use": "home"},
        {"system": "email", "value": "a@example.org"}]}));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "555 0100^PRN~^^Internet^a@example.org"
    );
    assert!(
        unmapped(&written, "Patient.telecom[0].system"),
        "{:?}",
        written.unmapped
    );
    // From v2.7 every XTN needs its equipment type: nothing is guessed for it.
    let e = write(&request, "2.8").unwrap_err();
    assert!(e.to_string().contains("XTN.3"), "{e}");
}

#[test]
fn an_amended_observation_goes_as_a_correction_not_as_amended_for_the_patients_demographics() {
    // Table 0085's A (from v2.8) says the placer amended the result for the patient's
    // demographics, which FHIR's `amended` does not say; C, a result that replaces a final one,
    // is how HL7 v2 sends an amendment, and reads back as `corrected`.
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "amended",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": "Patient/p1"}, "valueString": "v"});
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(json!({})), "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": obs, "request": {"method": "POST", "url": "Observation"}}]});
    for version in ["2.5.1", "2.8"] {
        let written = write(&request, version).unwrap();
        assert_eq!(field(&written.message, "OBX", 11), "C", "{version}");
    }
    // `corrected` goes back as C too, `entered-in-error` as D (not W).
    for (status, code) in [("corrected", "C"), ("entered-in-error", "D")] {
        let mut r = request.clone();
        r["entry"][1]["resource"]["status"] = json!(status);
        let written = write(&r, "2.5.1").unwrap();
        assert_eq!(field(&written.message, "OBX", 11), code, "{status}");
    }
    // A status no HL7 code says (`registered`: no result yet) is not guessed, and OBX-11 is
    // required: the request fails, naming the status.
    let mut r = request.clone();
    r["entry"][1]["resource"]["status"] = json!("registered");
    let e = write(&r, "2.5.1").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("OBX-11"), "{text}");
    assert!(
        text.contains("Observation's status has no HL7 code"),
        "{text}"
    );
    assert_eq!(e.fhir_path(), Some("Bundle.entry[1].resource.status"));
}

#[test]
fn a_gender_other_is_written_as_other_not_ambiguous() {
    let written = write(&patient(json!({"gender": "other"})), "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PID", 8), "O");
}

#[test]
fn a_name_type_is_written_only_where_the_version_has_it() {
    // MSK (masked) came into table 0200 with v2.7.
    let request = patient(json!({"name": [{"family": "Castellanos", "use": "anonymous"}]}));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PID", 5), "Castellanos");
    assert!(
        unmapped(&written, "Patient.name[0].use"),
        "{:?}",
        written.unmapped
    );
    for version in ["2.7", "2.8"] {
        let written = write(&request, version).unwrap();
        assert_eq!(
            field(&written.message, "PID", 5),
            "Castellanos^^^^^^MSK",
            "{version}"
        );
        assert!(!unmapped(&written, "Patient.name[0].use"), "{version}");
    }
    // L is in every version's table.
    let official = patient(json!({"name": [{"family": "Castellanos", "use": "official"}]}));
    let written = write(&official, "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PID", 5), "Castellanos^^^^^^L");
}

#[test]
fn a_language_goes_as_iso_639_only_when_it_is_an_iso_639_code() {
    let language = |code: &str, display: &str| {
        patient(json!({"communication": [{"language": {"coding": [
            {"system": "urn:ietf:bcp:47", "code": code, "display": display}]}}]}))
    };
    let written = write(&language("en", "English"), "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PID", 15), "en^English^ISO639");
    // A tag with a region is no ISO 639 code, and HL7 names no system for BCP 47: the code is
    // left out and reported; its words still go.
    for version in ["2.5.1", "2.8"] {
        let written = write(&language("en-US", "English (United States)"), version).unwrap();
        assert_eq!(
            field(&written.message, "PID", 15),
            "^English (United States)",
            "{version}"
        );
        for lost in ["code", "system"] {
            let path = format!("Patient.communication[0].language.coding[0].{lost}");
            assert!(
                unmapped(&written, &path),
                "{version}: {:?}",
                written.unmapped
            );
        }
    }
}

#[test]
fn a_report_performer_is_the_technician_only_when_its_function_says_so() {
    let function = |code: &str| {
        json!([{"url": "http://hl7.org/fhir/StructureDefinition/event-performerFunction",
                "valueCodeableConcept": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": code}]}}])
    };
    let practitioner = |id: &str, family: &str| {
        json!({"resourceType": "Practitioner", "id": id,
               "identifier": [{"value": id.to_uppercase()}], "name": [{"family": family}]})
    };
    let report = |performers: Value| {
        let entries = vec![
            patient(json!({})),
            practitioner("p-int", "Reader"),
            practitioner("p-any", "Somebody"),
            practitioner("p-tech", "Tech"),
            practitioner("p-trans", "Typist"),
            json!({"resourceType": "Observation", "id": "o1", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                   "subject": {"reference": "Patient/p1"}, "valueString": "v"}),
            json!({"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "24323-8"}]},
                   "subject": {"reference": "Patient/p1"},
                   "resultsInterpreter": [{"reference": "Practitioner/p-int"}],
                   "performer": performers,
                   "result": [{"reference": "Observation/o1"}]}),
        ];
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries.into_iter()
            .map(|r| json!({"resource": r, "request": {"method": "POST"}}))
            .collect::<Vec<_>>()})
    };
    // A performer without a function, then the technician (SPRF) and the transcriptionist
    // (TRANS), as OBR-34 and OBR-35 give them.
    let request = report(json!([
        {"reference": "Practitioner/p-any"},
        {"reference": "Practitioner/p-trans", "extension": function("TRANS")},
        {"reference": "Practitioner/p-tech", "extension": function("SPRF")}]));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(field(&written.message, "OBR", 32), "P-INT&Reader");
    assert_eq!(field(&written.message, "OBR", 34), "P-TECH&Tech");
    assert_eq!(field(&written.message, "OBR", 35), "P-TRANS&Typist");
    assert!(
        unmapped(&written, "Bundle.entry[6].resource.performer[0].reference"),
        "{:?}",
        written.unmapped
    );
    // A performer whose function is none of those is no technician either.
    let request =
        report(json!([{"reference": "Practitioner/p-any", "extension": function("PPRF")}]));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(field(&written.message, "OBR", 34), "");
    assert!(
        written
            .unmapped
            .iter()
            .any(|u| u.starts_with("Bundle.entry[6].resource.performer[0]")),
        "{:?}",
        written.unmapped
    );
}

#[test]
fn a_mobile_phone_is_a_cellular_phone_in_every_version() {
    let request = patient(json!({"telecom": [
        {"system": "phone", "value": "555 0100", "use": "mobile"},
        {"system": "email", "value": "a@example.org", "use": "mobile"}]}));
    // Table 0201's PRS (personal) came with v2.7: before it no use code says mobile (PRN is the
    // primary residence, a home number), and CP alone says it is a cellular phone, which reads
    // back as use mobile.
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "555 0100^^CP~^^Internet^a@example.org"
    );
    assert!(!unmapped(&written, "Patient.telecom[0].use"));
    // An e-mail address is no cellular phone, and PRN (primary residence) would call it home.
    assert!(
        unmapped(&written, "Patient.telecom[1].use"),
        "{:?}",
        written.unmapped
    );
    let written = write(&request, "2.8").unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "^PRS^CP^^^^^^^^^555 0100~^PRS^Internet^a@example.org"
    );
    assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
    for version in ["2.5.1", "2.8"] {
        let written = write(&request, version).unwrap();
        let bundle = read_back(&written.message);
        let back = entry_of(&bundle, "Patient");
        assert_eq!(
            back["resource"]["telecom"][0],
            json!({"system": "phone", "value": "555 0100", "use": "mobile"}),
            "{version}"
        );
    }
}

#[test]
fn a_mobile_contact_point_without_a_system_is_no_cellular_phone() {
    // Use mobile says whose it is, not what it is: without a system it may be a pager or an
    // address, so no XTN.3 CP is claimed for it.
    let request = patient(json!({"telecom": [{"value": "555 0100", "use": "mobile"}]}));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PID", 13), "555 0100");
    // v2.5.1 has no use code for it (table 0201's PRS came with v2.7): reported.
    assert!(
        unmapped(&written, "Patient.telecom[0].use"),
        "{:?}",
        written.unmapped
    );
    // From v2.7 XTN.3 is required, and nothing says what to fill it with.
    let refused = write(&request, "2.8").unwrap_err();
    assert!(refused.to_string().contains("XTN.3"), "{refused}");
}

#[test]
fn a_coding_left_out_is_listed_with_its_system_and_without_its_code() {
    // An EHR's local code (a system HL7 cannot name) and a third coding a v2.5.1 CE has no
    // room for are left out: each is listed with its system, never with its code or display.
    let request = observation_coded(json!([
        {"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"},
        {"system": "urn:oid:1.2.3.4", "code": "GLUQX", "display": "Glu local"},
        {"system": "http://snomed.info/sct", "code": "33747003"}]));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(
        field(&written.message, "OBX", 3),
        "2345-7^Glucose^LN^^Glu local"
    );
    assert_eq!(
        written.problems,
        [
            "Bundle.entry[1].resource.code.coding[1]: HL7 v2 names no coding system urn:oid:1.2.3.4 (an HL7 table or one of table 0396); the code is left out",
            "Bundle.entry[1].resource.code.coding[2]: an HL7 v2.5.1 CE has no component 10 for this coding; a code of http://snomed.info/sct, is left out"
        ],
        "{:?}",
        written.problems
    );
    // The system is not written either: it stays listed among what was not.
    assert!(unmapped(
        &written,
        "Bundle.entry[1].resource.code.coding[1].system"
    ));
    assert!(written.problems.iter().all(|p| !p.contains("GLUQX")));
    // From v2.7 the CWE has room for the third coding.
    let written = write(&request, "2.7").unwrap();
    assert_eq!(
        written.problems,
        [
            "Bundle.entry[1].resource.code.coding[1]: HL7 v2 names no coding system urn:oid:1.2.3.4 (an HL7 table or one of table 0396); the code is left out"
        ]
    );
}

#[test]
fn a_fourth_coding_is_reported_with_its_system_and_without_its_code() {
    // A CWE holds three codings (from v2.7, with the second alternate): a fourth has no place
    // and is named as left out, with its system, never its code.
    let request = observation_coded(json!([
        {"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"},
        {"system": "http://snomed.info/sct", "code": "33747003"},
        {"system": "http://loinc.org", "code": "2339-0"},
        {"system": "http://snomed.info/sct", "code": "22569008"}]));
    let written = write(&request, "2.7").unwrap();
    assert_eq!(
        field(&written.message, "OBX", 3),
        "2345-7^Glucose^LN^33747003^^SCT^^^^2339-0^^LN"
    );
    assert_eq!(
        written.problems,
        [
            "Bundle.entry[1].resource.code.coding[3]: an HL7 v2 coded value (CWE) holds at most 3 codings; a code of http://snomed.info/sct, is left out"
        ],
        "{:?}",
        written.problems
    );
    assert!(written.problems.iter().all(|p| !p.contains("22569008")));
}

/// A transaction of a Patient and an Observation coded with `codings`.
fn observation_coded(codings: serde_json::Value) -> serde_json::Value {
    let observation = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "subject": {"reference": "Patient/p1"}, "valueString": "x",
        "code": {"coding": codings}});
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(json!({})), "request": {"method": "PUT"}},
        {"resource": observation, "request": {"method": "POST"}}]})
}

#[test]
fn an_encounters_priority_is_the_visit_priority_code() {
    // PV2-25 through vocabulary EncounterPriority read backwards: emergency (v3 ActPriority EM)
    // is table 0217's 1, and reads back as it was sent, beside the table's code.
    let encounter = |priority: &str| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": patient(json!({}))},
            {"resource": {"resourceType": "Encounter", "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
                "subject": {"reference": "urn:uuid:p1"},
                "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": priority}]}}}
        ]})
    };
    let written = write(&encounter("EM"), "2.5.1").unwrap();
    assert_eq!(field(&written.message, "PV2", 25), "1");
    assert!(written.unmapped.iter().all(|u| !u.contains("priority")));
    let bundle = read_back(&written.message);
    let back = entry_of(&bundle, "Encounter");
    let codings = back["resource"]["priority"]["coding"].as_array().unwrap();
    assert!(codings.iter().any(|c| c["code"] == "EM"
        && c["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActPriority"));
    // A priority the table has no code for (routine) is reported, not guessed.
    let written = write(&encounter("R"), "2.5.1").unwrap();
    let text = String::from_utf8(written.message.clone()).unwrap();
    assert!(!text.contains("\rPV2|"), "{text}");
    assert!(
        written.unmapped.iter().any(|u| u.contains("priority")),
        "{:?}",
        written.unmapped
    );
}

#[test]
fn a_participant_goes_to_the_field_its_type_code_names_whatever_its_display() {
    // The PV1 rows give each doctor's type its v3-ParticipationType display (`attender`); read
    // backwards that display decides nothing: an app that says `Attending physician` or says
    // nothing beside the code still has its attending doctor in PV1-7.
    let doctor = |id: &str, family: &str| {
        json!({"resource": {"resourceType": "Practitioner", "id": id,
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": format!("{id}-npi")}],
            "name": [{"family": family}]},
            "request": {"method": "PUT", "url": format!("Practitioner/{id}")}})
    };
    let typed = |code: &str, display: Option<&str>, who: &str| {
        let mut coding = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": code});
        if let Some(d) = display {
            coding["display"] = json!(d);
        }
        json!({"type": [{"coding": [coding]}], "individual": {"reference": format!("Practitioner/{who}")}})
    };
    let encounter = json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"},
        "participant": [
            typed("ADM", None, "d2"),
            typed("ATND", Some("Attending physician"), "d1"),
            typed("REF", Some("referrer"), "d3")]});
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(json!({})), "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": encounter, "request": {"method": "PUT", "url": "Encounter/e1"}},
        doctor("d1", "Haddad"), doctor("d2", "Okafor"), doctor("d3", "Brandt")]});
    let written = write(&request, "2.5.1").unwrap();
    assert!(field(&written.message, "PV1", 7).starts_with("d1-npi^Haddad"));
    assert!(field(&written.message, "PV1", 8).starts_with("d3-npi^Brandt"));
    assert!(field(&written.message, "PV1", 17).starts_with("d2-npi^Okafor"));
    // Read again, each comes back with the code and the display the table gives.
    let bundle = read_back(&written.message);
    let types: Vec<(String, String)> = entry_of(&bundle, "Encounter")["resource"]["participant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let c = &p["type"][0]["coding"][0];
            (c["code"].to_string(), c["display"].to_string())
        })
        .collect();
    for (code, display) in [
        ("ATND", "attender"),
        ("REF", "referrer"),
        ("ADM", "admitter"),
    ] {
        assert!(
            types.contains(&(format!("\"{code}\""), format!("\"{display}\""))),
            "{types:?}"
        );
    }
}

#[test]
fn us_core_race_and_ethnicity_go_to_pid_10_and_pid_22_naming_their_tables() {
    let cdc = "urn:oid:2.16.840.1.113883.6.238";
    let category =
        |code: &str| json!({"url": "ombCategory", "valueCoding": {"system": cdc, "code": code}});
    let request = patient(json!({"extension": [
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
            category("2106-3"), category("2028-9"),
            {"url": "detailed", "valueCoding": {"system": cdc, "code": "2039-6"}},
            {"url": "detailed", "valueCoding": {"system": cdc, "code": "2131-1"}},
            {"url": "text", "valueString": "White, Japanese, other"}]},
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity", "extension": [
            category("2186-5"), {"url": "text", "valueString": "Not Hispanic or Latino"}]}]}));
    let written = write(&request, "2.5.1").unwrap();
    assert_eq!(
        field(&written.message, "PID", 10),
        "2106-3^White^HL70005~2028-9^Asian^HL70005~2131-1^Other Race^HL70005"
    );
    // Table 0189's letter, with its table named: a bare N is also the NHS's Black African.
    assert_eq!(
        field(&written.message, "PID", 22),
        "N^Not Hispanic or Latino^HL70189"
    );
    // What PID-10 has no room for is reported: a detailed race table 0005 lacks (Japanese) and
    // the texts.
    for path in [
        "Patient.extension[0].extension[2].valueCoding.code",
        "Patient.extension[0].extension[4].valueString",
    ] {
        assert!(unmapped(&written, path), "{path}: {:?}", written.unmapped);
    }
    // Read again, the categories come back.
    let bundle = read_back(&written.message);
    let p = &entry_of(&bundle, "Patient")["resource"];
    let codes: Vec<&str> = p["extension"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["extension"].as_array().unwrap())
        .filter(|x| x["url"] == "ombCategory" || x["url"] == "detailed")
        .map(|x| x["valueCoding"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["2106-3", "2028-9", "2131-1", "2186-5"]);
}
