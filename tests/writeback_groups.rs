//! Writing back resources into the groups of a structure: the results of long reports, whose
//! lists are looked up through an index, each become an OBX under the OBR of the report that
//! lists it, however the list names it (`urn:uuid:`, `Type/id`, a full URL), in the order of
//! the request; the two patients of an A17 each fill one of its two patient groups; results
//! and practitioners contained in the resources that name them take their places too.

mod common;

use common::{entry_of, read_back};
use hl7fhir::engine::Engine;
use hl7fhir::writeback::{Envelope, WritebackOptions};
use serde_json::{Value, json};

/// More results per report than the length from which lists are indexed.
const RESULTS: usize = 70;

/// The message `request` is written back as, as `event`.
fn message(request: &Value, event: &str) -> Vec<u8> {
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: Some(event.into()),
        envelope: Envelope {
            timestamp: Some("20260101120000+0000".into()),
            ..Envelope::default()
        },
        explain: false,
    };
    engine.writeback(request, &opts, 1).unwrap().message
}

/// Writes `request` back as `event`, and lists the segments with the ids `fields` names, each
/// as its id and the first component of the field given beside the id (`"OBX 1234-5"`).
fn written(request: &Value, event: &str, fields: &[(&str, usize)]) -> Vec<String> {
    let text = String::from_utf8(message(request, event)).unwrap();
    text.split('\r')
        .filter_map(|segment| {
            let parts: Vec<&str> = segment.split('|').collect();
            let &(id, at) = fields.iter().find(|(id, _)| *id == parts[0])?;
            let first = parts.get(at)?.split('^').next()?;
            Some(format!("{id} {first}"))
        })
        .collect()
}

fn observation(report: &str, n: usize) -> Value {
    json!({
        "resourceType": "Observation",
        "id": format!("{report}-{n}"),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": format!("{report}{n}")}]},
        "subject": {"reference": "Patient/p1"},
        "valueString": format!("result {n}")
    })
}

fn report(id: &str, code: &str, results: Vec<Value>) -> Value {
    json!({
        "resourceType": "DiagnosticReport",
        "id": id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "result": results
    })
}

#[test]
fn each_result_of_two_long_reports_is_written_under_its_own_report() {
    let mut entries = vec![json!({
        "fullUrl": "urn:uuid:p1",
        "resource": {"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
            "name": [{"family": "Doe", "given": ["Ann"]}]}
    })];
    // Report A names its results by `urn:uuid:` (their full URL, or their id), report B by
    // `Type/id` and by full URLs; the Observations of the two come interleaved.
    let mut a_results = Vec::new();
    let mut b_results = Vec::new();
    for n in 0..RESULTS {
        entries.push(if n % 2 == 0 {
            json!({"fullUrl": format!("urn:uuid:a-{n}"), "resource": observation("a", n)})
        } else {
            json!({"resource": observation("a", n)})
        });
        entries.push(json!({"resource": observation("b", n)}));
        a_results.push(json!({"reference": format!("urn:uuid:a-{n}")}));
        b_results.push(json!({"reference": if n % 2 == 0 {
            format!("Observation/b-{n}")
        } else {
            format!("https://ehr.example.org/fhir/Observation/b-{n}")
        }}));
    }
    entries.push(json!({"resource": report("ra", "24323-8", a_results)}));
    entries.push(json!({"resource": report("rb", "58410-2", b_results)}));
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});

    // Each OBR or OBX, as the code it carries (OBR-4.1 or OBX-3.1).
    let codes = written(&request, "R01", &[("OBR", 4), ("OBX", 3)]);
    let mut want = vec!["OBR 24323-8".to_string()];
    want.extend((0..RESULTS).map(|n| format!("OBX a{n}")));
    want.push("OBR 58410-2".into());
    want.extend((0..RESULTS).map(|n| format!("OBX b{n}")));
    assert_eq!(codes, want);
}

#[test]
fn the_two_patients_of_a_swap_each_fill_their_own_group() {
    let patient = |id: &str, mrn: &str| {
        json!({"fullUrl": format!("urn:uuid:{id}"), "resource": {"resourceType": "Patient", "id": id,
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": mrn}],
            "name": [{"family": "DOE", "given": [id]}]}})
    };
    let encounter = |id: &str, patient: &str, visit: &str, bed: &str| {
        json!({"fullUrl": format!("urn:uuid:{id}"), "resource": {"resourceType": "Encounter", "id": id,
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "identifier": [{"value": visit}],
            "subject": {"reference": format!("urn:uuid:{patient}")},
            "location": [{"location": {"display": bed}}]}})
    };
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        patient("p1", "MRN-1"), encounter("e1", "p1", "V-1", "401-A"),
        patient("p2", "MRN-2"), encounter("e2", "p2", "V-2", "402-B")
    ]});
    // Each PID and PV1, as the identifier it carries (PID-3.1, PV1-19.1).
    let ids = written(&request, "A17", &[("PID", 3), ("PV1", 19)]);
    assert_eq!(ids, ["PID MRN-1", "PV1 V-1", "PID MRN-2", "PV1 V-2"]);
}

#[test]
fn results_and_practitioners_contained_in_the_request_are_written_where_they_belong() {
    // FHIR servers often send what only one resource refers to inside it, named `#id`.
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
                      "name": [{"family": "Shaw"}],
                      "contained": [{"resourceType": "Practitioner", "id": "gp",
                                     "identifier": [{"value": "GP-7"}], "name": [{"family": "Careful"}]}],
                      "generalPractitioner": [{"reference": "#gp"}]}},
        {"resource": {"resourceType": "DiagnosticReport", "status": "final",
                      "contained": [{"resourceType": "Observation", "id": "o1", "status": "final",
                                     "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                                     "valueQuantity": {"value": 13.2}}],
                      "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
                      "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                      "result": [{"reference": "#o1"}]}}
    ]});
    assert_eq!(
        written(&request, "R01", &[("PD1", 4), ("OBR", 4), ("OBX", 3)]),
        ["PD1 GP-7", "OBR 58410-2", "OBX 718-7"]
    );
}

#[test]
fn a_result_performed_by_a_practitioner_in_a_role_names_the_practitioner_in_obx_16() {
    // As a notification sends OBX-16: the responsible observer's role, which names the person.
    let role = |code: &str| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
                          "name": [{"family": "Shaw"}]}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
             "resource": {"resourceType": "Practitioner", "identifier": [{"value": "1234"}],
                          "name": [{"family": "Smith", "given": ["Anna"]}]}},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003",
             "resource": {"resourceType": "PractitionerRole",
                          "practitioner": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"},
                          "code": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0912",
                                                "code": code}]}]}},
            {"resource": {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
                          "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                          "performer": [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000003"}],
                          "valueQuantity": {"value": 190}}}
        ]})
    };
    assert_eq!(written(&role("RO"), "R01", &[("OBX", 16)]), ["OBX 1234"]);
    let text = String::from_utf8(message(&role("RO"), "R01")).unwrap();
    assert!(text.contains("||1234^Smith^Anna\r"), "{text}");
    assert!(
        unmapped(&role("RO")).is_empty(),
        "{:?}",
        unmapped(&role("RO"))
    );
    // Another role still names the person, and its code, which OBX-16 cannot say, is reported.
    assert!(unmapped(&role("VP")).iter().any(|u| u.contains("code")));
}

/// Writes `request` back with `--explain`, and gives the elements reported as not written.
fn unmapped(request: &Value) -> Vec<String> {
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: None,
        envelope: Envelope {
            timestamp: Some("20260101120000+0000".into()),
            ..Envelope::default()
        },
        explain: true,
    };
    engine.writeback(request, &opts, 1).unwrap().unmapped
}

#[test]
fn a_result_naming_its_orders_only_specimen_is_written_by_the_spm_that_follows() {
    // Order 1 has one SPM, which each of its results names; order 2 has two, and order 3 none.
    let sent = "MSH|^~\\&|LAB|GHH|EHR|GHH|20260101120000+0000||ORU^R01^ORU_R01|MSG1|P|2.5.1\r\
        PID|1||MRN-1^^^H^MR||DOE^JANE||19800101|F\r\
        OBR|1||F1^LAB|2345-7^Glucose^LN|||20260101100000+0000\r\
        OBX|1|NM|2345-7^Glucose^LN||5.1|mmol/L|||||F\r\
        OBX|2|NM|2345-8^Other^LN||6|mmol/L|||||F\r\
        SPM|1|S1&LAB||BLD^Blood^HL70487\r\
        OBR|2||F2^LAB|2345-7^Glucose^LN|||20260101100000+0000\r\
        OBX|1|NM|2345-7^Glucose^LN||5.2|mmol/L|||||F\r\
        SPM|1|S2&LAB||SER^Serum^HL70487\r\
        SPM|2|S3&LAB||PLAS^Plasma^HL70487\r\
        OBR|3||F3^LAB|2345-7^Glucose^LN|||20260101100000+0000\r\
        OBX|1|NM|2345-7^Glucose^LN||5.3|mmol/L|||||F\r";
    let engine = Engine::with_defaults().unwrap();
    let mut bundle = engine.notify(sent.as_bytes(), &Default::default()).unwrap();
    let entries = bundle["entry"].as_array().unwrap();
    let of_type = |ty: &str| -> Vec<usize> {
        (0..entries.len())
            .filter(|&i| entries[i]["resource"]["resourceType"] == ty)
            .collect()
    };
    let (observations, specimens) = (of_type("Observation"), of_type("Specimen"));
    assert_eq!((observations.len(), specimens.len()), (4, 3));
    let specimen_of = |i: usize| format!("Bundle.entry[{i}].resource.specimen.reference");
    // The first order's results name its Specimen: the SPM written after them says it.
    let reported = unmapped(&bundle);
    assert!(
        !reported.iter().any(|u| u.contains("specimen")),
        "{reported:?}"
    );
    // A result of the order with two SPM naming one of them, and a result of the order with
    // none naming the first order's, say what the message cannot: both are reported.
    let url = |i: usize| bundle["entry"][i]["fullUrl"].clone();
    let (second, third) = (url(specimens[1]), url(specimens[0]));
    bundle["entry"][observations[2]]["resource"]["specimen"] = json!({"reference": second});
    bundle["entry"][observations[3]]["resource"]["specimen"] = json!({"reference": third});
    let reported = unmapped(&bundle);
    for i in [observations[2], observations[3]] {
        assert!(reported.contains(&specimen_of(i)), "{i}: {reported:?}");
    }
    assert!(!reported.contains(&specimen_of(observations[0])));
}

/// A charge with the order it is for, and an Observation of that order: a DFT^P03.
fn charge_for_order(order_code: Option<&str>) -> Value {
    let mut order = json!({
        "resourceType": "ServiceRequest",
        "id": "o1",
        "identifier": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC"}]},
            "value": "ORD1"
        }],
        "status": "completed",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "note": [{"text": "Fasting."}]
    });
    if let Some(code) = order_code {
        order["code"] = json!({"coding": [{"system": "http://loinc.org", "code": code}]});
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1",
            "identifier": [{"value": "MRN1"}], "name": [{"family": "Doe"}]}},
        {"resource": order},
        {"resource": {"resourceType": "Observation", "id": "x1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
            "subject": {"reference": "Patient/p1"},
            "basedOn": [{"reference": "ServiceRequest/o1"}],
            "valueQuantity": {"value": 180, "unit": "mg/dL"}}},
        {"resource": {"resourceType": "ChargeItem", "id": "c1", "status": "billable",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "80061"}]},
            "subject": {"reference": "Patient/p1"},
            "occurrenceDateTime": "2026-05-12T08:05:00-05:00"}}
    ]})
}

#[test]
fn a_charged_order_is_the_common_order_before_the_charge_its_note_once() {
    let segments = written(
        &charge_for_order(Some("57698-3")),
        "P03",
        &[
            ("ORC", 1),
            ("TQ1", 11),
            ("OBR", 4),
            ("NTE", 3),
            ("OBX", 3),
            ("FT1", 7),
        ],
    );
    // The ORC's ORDER group holds its OBR and the note (not TQ1-11 as well); the order's
    // Observation follows in its OBSERVATION group.
    assert_eq!(
        segments,
        [
            "ORC RE",
            "OBR 57698-3",
            "NTE Fasting.",
            "OBX 2093-3",
            "FT1 80061"
        ]
    );
}

#[test]
fn an_order_without_a_code_has_no_obr_made_from_another_resource() {
    let segments = written(
        &charge_for_order(None),
        "P03",
        &[("ORC", 2), ("OBR", 4), ("NTE", 3), ("OBX", 3), ("FT1", 7)],
    );
    // OBR-4 is required: the order's ORDER group is left out, and no OBR is named after its
    // Observation's code; the note has no OBR to follow.
    assert_eq!(segments, ["ORC ORD1", "OBX 2093-3", "FT1 80061"]);
}

#[test]
fn a_charged_orders_priority_is_its_timing_between_its_orc_and_obr() {
    let mut request = charge_for_order(Some("57698-3"));
    request["entry"][1]["resource"]["priority"] = json!("stat");
    let segments = written(&request, "P03", &[("ORC", 1), ("TQ1", 9), ("OBR", 4)]);
    assert_eq!(segments, ["ORC RE", "TQ1 S", "OBR 57698-3"]);
}

/// An A01 request whose Coverage's subscriber is `subscriber`, beside a next of kin and the
/// spouse who holds the insurance.
fn insured_request(subscriber: &str) -> Value {
    let resource = |r: Value| json!({"fullUrl": format!("urn:uuid:{}", r["id"].as_str().unwrap()), "resource": r});
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        resource(json!({"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
            "name": [{"family": "Doe", "given": ["Jane"]}]})),
        resource(json!({"resourceType": "RelatedPerson", "id": "kin",
            "patient": {"reference": "urn:uuid:p1"},
            "name": [{"family": "Doe", "given": ["John"]}],
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "BRO"}]}]})),
        resource(json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": "urn:uuid:p1"}})),
        resource(json!({"resourceType": "Organization", "id": "payor",
            "identifier": [{"value": "INS1"}], "name": "Acme Insurance"})),
        resource(json!({"resourceType": "Coverage", "id": "c1", "status": "active",
            "beneficiary": {"reference": "urn:uuid:p1"},
            "subscriber": {"reference": subscriber},
            "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SPO"}]},
            "payor": [{"reference": "urn:uuid:payor"}],
            "class": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "plan"}]},
                "value": "PLAN1"}]})),
        resource(json!({"resourceType": "RelatedPerson", "id": "insured",
            "patient": {"reference": "urn:uuid:p1"},
            "name": [{"family": "Roe", "given": ["Richard"]}],
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SPO"}]}],
            "gender": "male", "birthDate": "1968-04-12",
            "address": [{"line": ["12 Elm St"], "city": "Spokane", "state": "WA", "postalCode": "99201"}]}))
    ]})
}

#[test]
fn a_coverages_subscriber_is_the_insured_of_its_in1_not_a_next_of_kin() {
    // The insured RelatedPerson a Coverage names as its subscriber fills IN1's insured fields
    // (IN1-16, IN1-18, IN1-19, IN1-43), as IN1[RelatedPerson] reads them; IN1-17 is the
    // Coverage's relationship. The next of kin stays the one NK1, and the insured is no NK1
    // of its own.
    let request = insured_request("urn:uuid:insured");
    let fields = [("NK1", 2), ("IN1", 16)];
    assert_eq!(written(&request, "A01", &fields), ["NK1 Doe", "IN1 Roe"]);
    for (n, expected) in [(17, "SPO"), (18, "19680412"), (19, "12 Elm St"), (43, "M")] {
        assert_eq!(
            written(&request, "A01", &[("IN1", n)]),
            [format!("IN1 {expected}")]
        );
    }
    // Only the insured's relationship is reported: IN1-17 holds the Coverage's, which may say
    // otherwise.
    let unmapped = unmapped(&request);
    assert!(
        unmapped.iter().all(|u| !u.contains("subscriber")
            && (!u.contains("entry[5]") || u.contains("entry[5].resource.relationship"))),
        "{unmapped:?}"
    );
    assert!(
        unmapped
            .iter()
            .any(|u| u.contains("entry[5].resource.relationship")),
        "{unmapped:?}"
    );
    // A subscriber that is the Patient leaves the insured's fields empty; the other
    // RelatedPerson, named by no Coverage, is an NK1.
    let request = insured_request("urn:uuid:p1");
    assert_eq!(
        written(&request, "A01", &[("NK1", 2), ("IN1", 2)]),
        ["NK1 Doe", "NK1 Roe", "IN1 PLAN1"]
    );
    assert_eq!(written(&request, "A01", &[("IN1", 16)]), ["IN1 "]);
}

#[test]
fn a_coverage_whose_subscriber_is_the_patient_says_self_in_in1_17() {
    // Read forward, IN1-17 SEL (table 0063, Self) makes the Patient the Coverage's subscriber.
    // Written back without a relationship, such a Coverage says SEL there, its subscriber counts
    // as written, and the message read again names the Patient as the subscriber.
    let mut request = insured_request("urn:uuid:p1");
    let coverage = request["entry"][4]["resource"].as_object_mut().unwrap();
    coverage.remove("relationship");
    assert_eq!(written(&request, "A01", &[("IN1", 17)]), ["IN1 SEL"]);
    let unmapped_fields = unmapped(&request);
    assert!(
        unmapped_fields.iter().all(|u| !u.contains("subscriber")),
        "{unmapped_fields:?}"
    );
    let bundle = read_back(&message(&request, "A01"));
    assert_eq!(
        entry_of(&bundle, "Coverage")["resource"]["subscriber"]["reference"],
        entry_of(&bundle, "Patient")["fullUrl"]
    );
    // A relationship written there first stays; when it says otherwise (a spouse), the
    // subscriber that is the Patient is reported, not written over it.
    let request = insured_request("urn:uuid:p1");
    assert_eq!(written(&request, "A01", &[("IN1", 17)]), ["IN1 SPO"]);
    let unmapped_fields = unmapped(&request);
    assert!(
        unmapped_fields
            .iter()
            .any(|u| u.contains("entry[4].resource.subscriber")),
        "{unmapped_fields:?}"
    );
}

#[test]
fn each_resource_names_its_own_contained_resources() {
    // FHIR scopes `#id` to the resource containing it: two results may each contain a
    // `#performer`, and each OBX-16 names its own.
    let observation = |code: &str, performer: &str| {
        json!({"resource": {"resourceType": "Observation", "status": "final",
            "contained": [{"resourceType": "Practitioner", "id": "performer",
                           "identifier": [{"value": performer}], "name": [{"family": performer}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
            "performer": [{"reference": "#performer"}],
            "valueQuantity": {"value": 13.2}}})
    };
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
                      "name": [{"family": "Shaw"}]}},
        observation("718-7", "TECH-1"),
        observation("4544-3", "TECH-2")
    ]});
    assert_eq!(
        written(&request, "R01", &[("OBX", 16)]),
        ["OBX TECH-1", "OBX TECH-2"]
    );
    let unmapped_fields = unmapped(&request);
    assert!(
        unmapped_fields.iter().all(|u| !u.contains("performer")),
        "{unmapped_fields:?}"
    );
}

/// A Patient with the contacts given, written back as an A08.
fn patient_with_contacts(contacts: Value, related: Option<Value>) -> Value {
    let patient = json!({"resourceType": "Patient", "id": "p1",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
        "name": [{"family": "Doe", "given": ["Jane"]}], "contact": contacts});
    let mut entries = vec![json!({"fullUrl": "urn:uuid:p1", "resource": patient})];
    entries.extend(related.map(|r| json!({"resource": r})));
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn nk1_segments(request: &Value) -> Vec<String> {
    String::from_utf8(message(request, "A08"))
        .unwrap()
        .split('\r')
        .filter(|s| s.starts_with("NK1|"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_patients_contacts_are_its_next_of_kin_when_no_related_person_is() {
    // Apps keep emergency contacts in Patient.contact: each is an NK1, its contact role (table
    // 0131) in NK1-7, its relationship (table 0063) in NK1-3, a work phone in NK1-6 and the
    // other telecoms in NK1-5, each with its use.
    let contacts = json!([
        {"relationship": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}]},
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0063", "code": "SPO"}]}],
         "name": {"family": "Doe", "given": ["John"]},
         "telecom": [{"system": "phone", "value": "555-1234", "use": "home"},
                     {"system": "phone", "value": "555-9999", "use": "work"}],
         "address": {"line": ["1 Main St"], "city": "Springfield", "state": "IL"},
         "gender": "male", "period": {"start": "2020-01-01"}},
        {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
         "name": {"family": "Roe", "given": ["Rita"]}}
    ]);
    let request = patient_with_contacts(contacts.clone(), None);
    assert_eq!(
        nk1_segments(&request),
        [
            "NK1|1|Doe^John|SPO^^HL70063|1 Main St^^Springfield^IL|555-1234^PRN^PH|555-9999^WPN^PH|C^^HL70131|20200101|||||||M",
            "NK1|2|Roe^Rita|||||N^^HL70131"
        ]
    );
    assert!(unmapped(&request).is_empty(), "{:?}", unmapped(&request));
    // Read again, the contacts are the Patient's, as sent (the relationship with its
    // Relationship concept map's coding beside it).
    let bundle = read_back(&message(&request, "A08"));
    let read = &entry_of(&bundle, "Patient")["resource"]["contact"];
    assert_eq!(read.as_array().unwrap().len(), 2);
    for k in 0..2 {
        assert_eq!(read[k]["name"], contacts[k]["name"]);
    }
    assert_eq!(read[0]["telecom"], contacts[0]["telecom"]);
    assert_eq!(read[0]["address"], contacts[0]["address"]);
    assert_eq!(read[0]["gender"], "male");
    assert_eq!(read[0]["relationship"][1], contacts[0]["relationship"][0]);
    // A RelatedPerson of the patient is the next of kin, as a notification sends each NK1
    // (also as a contact): one NK1, from the RelatedPerson alone, and the contacts reported.
    let related = json!({"resourceType": "RelatedPerson", "patient": {"reference": "urn:uuid:p1"},
        "name": [{"family": "Doe", "given": ["John"]}]});
    let request = patient_with_contacts(contacts, Some(related));
    assert_eq!(nk1_segments(&request), ["NK1|1|Doe^John"]);
    assert!(
        unmapped(&request)
            .iter()
            .any(|u| u.contains("contact[0].name"))
    );
}

/// A report of `status` listing the results `a0` and `a1`, presented as a PDF and as an image
/// at a URL.
fn presented_report(status: &str) -> Value {
    let mut report = report(
        "rp",
        "11502-2",
        vec![
            json!({"reference": "Observation/a-0"}),
            json!({"reference": "Observation/a-1"}),
        ],
    );
    report["status"] = json!(status);
    report["effectiveDateTime"] = json!("2026-04-02T07:15:00-05:00");
    report["presentedForm"] = json!([
        {"contentType": "application/pdf", "data": "JVBERi0xLjQKJSVFT0YK", "title": "Report"},
        {"contentType": "image/jpeg", "url": "https://images.example.org/r/1.jpg"}
    ]);
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
            "name": [{"family": "Doe", "given": ["Ann"]}]}},
        {"resource": report},
        {"resource": observation("a", 0)},
        {"resource": observation("a", 1)}
    ]})
}

#[test]
fn a_reports_presented_forms_are_obx_after_its_results_read_back_as_results() {
    let request = presented_report("final");
    let text = String::from_utf8(message(&request, "R01")).unwrap();
    let obx: Vec<&str> = text.split('\r').filter(|s| s.starts_with("OBX|")).collect();
    assert_eq!(
        obx[2..],
        [
            "OBX|3|ED|11502-2^^LN||^AP^PDF^Base64^JVBERi0xLjQKJSVFT0YK||||||F|||20260402071500-0500",
            "OBX|4|RP|11502-2^^LN||https://images.example.org/r/1.jpg^^IM^JPEG||||||F|||20260402071500-0500",
        ],
        "{text}"
    );
    assert!(obx[..2].iter().all(|s| s.contains("|ST|")), "{text}");
    // Read again, each is a result of the report holding the attachment.
    let bundle = read_back(text.as_bytes());
    let report = entry_of(&bundle, "DiagnosticReport");
    assert_eq!(report["resource"]["result"].as_array().unwrap().len(), 4);
    let attachments: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            e["resource"]["extension"].as_array()?.iter().find(|x| {
                x["url"]
                    == "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"
            })
        })
        .map(|x| &x["valueAttachment"])
        .collect();
    assert_eq!(
        attachments,
        [
            &json!({"contentType": "application/pdf", "data": "JVBERi0xLjQKJSVFT0YK"}),
            &json!({"contentType": "image/jpeg", "url": "https://images.example.org/r/1.jpg"}),
        ]
    );
    // The title, which ED has no place for, is reported; the attachments are not.
    let reported = unmapped(&request);
    assert!(
        reported
            .iter()
            .any(|p| p.ends_with("presentedForm[0].title")),
        "{reported:?}"
    );
    assert!(
        !reported.iter().any(|p| p.contains("presentedForm[0].data")),
        "{reported:?}"
    );
    assert!(
        !reported.iter().any(|p| p.contains("presentedForm[1]")),
        "{reported:?}"
    );
}

#[test]
fn a_report_presented_alone_is_an_obr_and_its_obx() {
    let mut request = presented_report("preliminary");
    request["entry"].as_array_mut().unwrap().truncate(2);
    request["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("result");
    let codes = written(&request, "R01", &[("OBR", 4), ("OBX", 2)]);
    assert_eq!(codes, ["OBR 11502-2", "OBX ED", "OBX RP"]);
    assert_eq!(common::field(&message(&request, "R01"), "OBX", 11), "P");
}

#[test]
fn a_report_whose_status_has_no_result_status_is_refused_at_its_presented_form() {
    let request = presented_report("partial");
    let engine = Engine::with_defaults().unwrap();
    let opts = WritebackOptions {
        event: Some("R01".into()),
        envelope: common::fixed_envelope(),
        explain: false,
    };
    let err = engine.writeback(&request, &opts, 1).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("OBX-11"), "{text}");
    assert!(text.contains("presentedForm"), "{text}");
}

#[test]
fn a_living_will_observation_is_pd1_7_and_any_other_observation_an_obx() {
    let living_will = json!({
        "resourceType": "Observation", "id": "lw", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "75320-2"}]},
        "subject": {"reference": "Patient/p1"},
        "valueCodeableConcept": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0315", "code": "Y"}]}
    });
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
            "name": [{"family": "Doe", "given": ["Ann"]}]}},
        {"resource": observation("a", 0)},
        {"resource": living_will}
    ]});
    let written = message(&request, "A08");
    // An IS in v2.5.1: the code alone.
    assert_eq!(common::field(&written, "PD1", 7), "Y");
    let codes = written_codes(&written);
    assert_eq!(codes, ["OBX a0"], "{}", String::from_utf8_lossy(&written));
    // Read again, the PD1 makes the living will's Observation.
    let bundle = read_back(&written);
    let observations: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    assert_eq!(observations.len(), 2);
    assert!(
        observations
            .iter()
            .any(|o| o["code"]["coding"][0]["code"] == "75320-2"
                && o["valueCodeableConcept"]["coding"][0]["code"] == "Y")
    );
}

/// Each OBX of a written message, as `OBX` and its code (OBX-3.1).
fn written_codes(message: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(message)
        .split('\r')
        .filter(|s| s.starts_with("OBX|"))
        .map(|s| {
            format!(
                "OBX {}",
                s.split('|')
                    .nth(3)
                    .unwrap_or("")
                    .split('^')
                    .next()
                    .unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn an_events_provenance_is_its_evn_recorded_time_reason_operator_occurrence_and_place() {
    let patient = json!({"resourceType": "Patient", "id": "p1",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
        "name": [{"family": "Doe", "given": ["Ann"]}]});
    let provenance = json!({"resourceType": "Provenance",
        "target": [{"reference": "Patient/p1"}],
        "recorded": "2026-03-15T10:15:00-05:00",
        "occurredDateTime": "2026-03-15T09:45:00-05:00",
        "reason": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "PATRQT"}]}],
        "agent": [{"who": {"reference": "Practitioner/op"}}],
        "location": {"reference": "Location/site"}});
    let operator = json!({"resourceType": "Practitioner", "id": "op",
        "identifier": [{"value": "4471"}], "name": [{"family": "Okonkwo", "given": ["Adaeze"]}]});
    let site = json!({"resourceType": "Location", "id": "site", "name": "GHH",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.840.114350"}]});
    let request = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient}, {"resource": operator}, {"resource": site},
        {"resource": provenance}
    ]});
    let written = message(&request, "A08");
    let evn = |n| common::field(&written, "EVN", n);
    assert_eq!(evn(2), "20260315101500-0500");
    assert_eq!(evn(4), "01");
    assert_eq!(evn(5), "4471^Okonkwo^Adaeze");
    assert_eq!(evn(6), "20260315094500-0500");
    assert_eq!(evn(7), "GHH^1.2.840.114350^ISO");
    // Read again, the EVN is the event's Provenance once more, its operator the agent.
    let bundle = read_back(&written);
    let back = &entry_of(&bundle, "Provenance")["resource"];
    assert_eq!(back["recorded"], "2026-03-15T10:15:00-05:00");
    assert_eq!(back["occurredDateTime"], "2026-03-15T09:45:00-05:00");
    assert_eq!(back["reason"][0]["coding"][1]["code"], "PATRQT");
    // Without a Provenance, EVN-2 is the message's time.
    let plain = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": request["entry"][0]["resource"].clone()}]});
    assert_eq!(
        common::field(&message(&plain, "A08"), "EVN", 2),
        "20260101120000+0000"
    );
}
