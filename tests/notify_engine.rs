//! The notification engine's behaviour at its edges: errors name MSH-9 or the location, strict
//! and tolerant handling of bad values and missing segments, the time-zone rules, and stable ids.

use hl7fhir::ErrorKind;
use hl7fhir::engine::{Engine, EngineOptions, Report};
use hl7fhir::mapping::TableSet;
use hl7fhir::notify::{Flavor, NotifyOptions};
use serde_json::{Value, json};

fn engine(strict: bool, timezone: Option<&str>) -> Engine {
    let options = EngineOptions {
        strict,
        timezone: timezone.map(|z| z.parse().unwrap()),
        ..EngineOptions::default()
    };
    Engine::new(&TableSet::embedded(), options).unwrap()
}

/// The error a strict engine (no time zone) gives for `msg`.
fn strict_error(msg: &[u8]) -> hl7fhir::Error {
    engine(true, None)
        .notify(msg, &NotifyOptions::default())
        .unwrap_err()
}

/// Translates `msg` (tolerant, no time zone) through the gateway entry point; gives its report
/// (problems, and with `explain` what no row mapped or translated) and the Bundle written.
fn notify_with_report(msg: &[u8], explain: bool) -> (Report, Value) {
    let engine = engine(false, None);
    let mut out = Vec::new();
    let report = engine
        .notify_with(
            &mut engine.parser(),
            msg,
            &NotifyOptions::default(),
            explain,
            &mut out,
        )
        .unwrap();
    (report, serde_json::from_slice(&out).unwrap())
}

fn adt(pid7: &str, msh7: &str) -> Vec<u8> {
    format!("MSH|^~\\&|ADT1|GHH|||{msh7}||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE||{pid7}|F\rPV1|1|I||||||||||||||||VN1\r").into_bytes()
}

fn resource<'v>(bundle: &'v Value, ty: &str) -> Option<&'v Value> {
    resources(bundle, ty).into_iter().next()
}

/// Asserts that `--explain` lists nothing of `field` (`PID-11`: the field, its repetitions and
/// components) as read by no row.
fn assert_read(report: &Report, field: &str) {
    let of_field = |f: &str| {
        f.strip_prefix(field)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    assert!(
        !report.unmapped.iter().any(|f| of_field(f)),
        "{field}: {:?}",
        report.unmapped
    );
}

/// The resource of the Bundle a Reference (`{"reference": "urn:uuid:…"}`) points at.
fn referenced<'v>(bundle: &'v Value, reference: &Value) -> Option<&'v Value> {
    let at = reference["reference"].as_str()?;
    bundle["entry"]
        .as_array()?
        .iter()
        .find(|e| e["fullUrl"] == at)
        .map(|e| &e["resource"])
}

/// The resources of type `ty` in a Bundle, in entry order (all of them for `"*"`).
fn resources<'v>(bundle: &'v Value, ty: &str) -> Vec<&'v Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| ty == "*" || r["resourceType"] == ty)
        .collect()
}

#[test]
fn unknown_event_names_msh9() {
    let msg = b"MSH|^~\\&|A|B|||20260101||ZZZ^Z99|M1|P|2.5\rPID|1\r";
    let e = engine(false, None)
        .notify(msg, &NotifyOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedEvent);
    assert_eq!(
        e.to_string(),
        "MSH-9 (segment 1) at byte 25: MSH-9 ZZZ^Z99: no mapping covers this message type and event"
    );
}

#[test]
fn without_msh9_2_the_event_is_evn_1_as_hl7_v2_1_sent_it() {
    let e = engine(false, None);
    let discharge =
        b"MSH|^~\\&|A|B|||199001011200||ADT|M1|P|2.1\rEVN|A03|199001011200\rPID|||123\rPV1|1|I\r";
    let bundle = e.notify(discharge, &NotifyOptions::default()).unwrap();
    let header = resource(&bundle, "MessageHeader").unwrap();
    assert_eq!(header["eventCoding"]["code"], "A03");
    assert_eq!(
        resource(&bundle, "Encounter").unwrap()["status"],
        "finished"
    );
    // An MSH-9.2 wins over EVN-1 (which HL7 v2.3 and later keep only for compatibility).
    let both = b"MSH|^~\\&|A|B|||20260101||ADT^A01|M1|P|2.5\rEVN|A03\rPID|||123\rPV1|1|I\r";
    let bundle = e.notify(both, &NotifyOptions::default()).unwrap();
    assert_eq!(bundle["entry"][0]["resource"]["eventCoding"]["code"], "A01");

    let errors: [(&[u8], &str); 2] = [
        (
            b"MSH|^~\\&|A|B|||20260101||ADT|M1|P|2.1\rEVN|A99\rPID|1\r",
            "MSH-9 (segment 1) at byte 25: MSH-9 ADT with EVN-1 A99: no mapping covers this message type and event",
        ),
        (
            b"MSH|^~\\&|A|B|||20260101||ORU|M1|P|2.1\rPID|1\r",
            "MSH-9 (segment 1) at byte 25: MSH-9 ORU (no trigger event in MSH-9.2 or EVN-1): no mapping covers this message type and event",
        ),
    ];
    for (msg, want) in errors {
        let err = e.notify(msg, &NotifyOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedEvent);
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn an_employer_next_of_kin_is_a_contact_not_a_related_person_in_every_adt_that_lists_them() {
    let e = engine(false, None);
    // The third employer is sent by its contact role alone (NK1-7), as writeback writes a
    // contact that is an organization: no RelatedPerson in any map. The IG's ADT_A05 map makes
    // every other NK1 one, the employer NK1-3 names too.
    for (event, structure, people) in [
        ("A01", "ADT_A01", 1),
        ("A03", "ADT_A03", 1),
        ("A16", "ADT_A16", 1),
        ("A31", "ADT_A05", 2),
    ] {
        let msg = format!(
            "MSH|^~\\&|A|B|||20260101||ADT^{event}^{structure}|M1|P|2.5.1\r\
             EVN|{event}\rPID|1||123^^^GHH^MR||DOE^JANE\r\
             NK1|1|DOE^JOHN|SPO^Spouse^HL70063\r\
             NK1|2||EMR^Employer^HL70063||||||||||ACME TOOL WORKS^L\r\
             NK1|3||||||E^Employer^HL70131||||||ACME TOOL WORKS\r\
             PV1|1|I|||||||||||||||||VN-1\r"
        );
        let bundle = e.notify(msg.as_bytes(), &NotifyOptions::default()).unwrap();
        let related = resources(&bundle, "RelatedPerson").len();
        let patient = resource(&bundle, "Patient").unwrap();
        let contacts = patient["contact"].as_array().unwrap();
        assert_eq!(related, people, "{event}: RelatedPersons");
        assert_eq!(contacts.len(), 3, "{event}: all are contacts");
        let employer = contacts[1]["organization"]["reference"].as_str().unwrap();
        let organization = resources(&bundle, "*")
            .into_iter()
            .find(|r| employer.ends_with(r["id"].as_str().unwrap_or("-")))
            .unwrap();
        assert_eq!(organization["name"], "ACME TOOL WORKS", "{event}");
    }
}

#[test]
fn a_fallback_row_makes_no_resource_when_its_target_is_filled() {
    // ORC-12 names the requester; RXO-14 would be the requester only without it, and its
    // Practitioner would be referred to by nothing.
    let msg = b"MSH|^~\\&|A|B|||20260101||OMP^O09^OMP_O09|M1|P|2.6\r\
PID|||1234^^^GHH^MR||DOE^JANE\r\
ORC|NW|1234|||||||20260101|||3122^PROVIDER^ORDERING\r\
RXO|00054418425^Dexamethasone 4 MG Oral Tablet^NDC||||||||G||4|tablet^tablet|0|222^JONES^JON\r";
    let bundle = engine(false, None)
        .notify(msg, &NotifyOptions::default())
        .unwrap();
    let practitioners = resources(&bundle, "Practitioner");
    assert_eq!(practitioners.len(), 1);
    assert_eq!(practitioners[0]["identifier"][0]["value"], "3122");
}

#[test]
fn a_message_without_the_resources_its_focus_lists_focuses_on_its_patient() {
    let focus = |msg: &str| {
        let bundle = engine(false, None)
            .notify(msg.as_bytes(), &NotifyOptions::default())
            .unwrap();
        let urls: Vec<(String, String)> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let ty = e["resource"]["resourceType"].as_str().unwrap().to_string();
                (e["fullUrl"].as_str().unwrap().to_string(), ty)
            })
            .collect();
        let header = resource(&bundle, "MessageHeader").unwrap();
        header["focus"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let url = f["reference"].as_str().unwrap();
                urls.iter().find(|(u, _)| u == url).unwrap().1.clone()
            })
            .collect::<Vec<_>>()
    };
    let patient = "MSH|^~\\&|IIS|GHH|||20260101||VXU^V04^VXU_V04|M1|P|2.5.1\rPID|1||MRN1^^^GHH^MR||DOE^JANE\r";
    // A record update with no vaccination: the Patient is what the message is about.
    assert_eq!(focus(patient), ["Patient"]);
    // With a vaccination, that alone.
    let vaccinated = format!(
        "{patient}ORC|RE||197023^CMC\rRXA|0|1|20260101|20260101|08^HEPB-PEDIATRIC/ADOLESCENT^CVX|.5|mL^mL^UCUM\r"
    );
    assert_eq!(focus(&vaccinated), ["Immunization"]);
    // Lab results without their order (an ORU^R01 missing its OBR) say whose they are.
    let results = "MSH|^~\\&|LAB|GHH|||20260101||ORU^R01^ORU_R01|M2|P|2.5.1\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|O\r";
    assert_eq!(focus(results), ["Patient"]);
    // Each patient of such a report, not only the first.
    let two = format!("{results}PID|1||MRN2^^^GHH^MR||ROE^RICHARD\r");
    assert_eq!(focus(&two), ["Patient", "Patient"]);
    // An admission already focuses on the Patient, once.
    assert_eq!(
        focus(&String::from_utf8(adt("", "20260101")).unwrap()),
        ["Patient", "Encounter"]
    );
}

#[test]
fn an_order_sent_twice_is_one_request_with_one_medication_and_both_orders_observations() {
    // The same placer number and drug in two ORDER groups: one MedicationRequest (its key),
    // which the second order's OBX belongs to as much as the first's.
    let order = "ORC|NW|1000|9999999\rRXO|50111032701^hydrALAZINE HCl 25 MG Oral Tablet^NDC\r";
    let msg = format!(
        "MSH|^~\\&|A|B|||20260101||OMP^O09^OMP_O09|M1|P|2.5.1\rPID|||1234^^^GHH^MR||DOE^JANE\r\
         {order}OBX|1|TX|||first order's note\r{order}OBX|1|TX|||second order's note\r"
    );
    let bundle = engine(false, None)
        .notify(msg.as_bytes(), &NotifyOptions::default())
        .unwrap();
    let requests = resources(&bundle, "MedicationRequest");
    assert_eq!(requests.len(), 1);
    let listed: Vec<&str> = requests[0]["supportingInformation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    let observations: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .map(|e| e["fullUrl"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(observations.len(), 2);
    assert_eq!(listed, observations);
    // One Medication, keyed as its order: the one the request names, and the same id when a
    // later message speaks of the order.
    let medications = resources(&bundle, "Medication");
    assert_eq!(medications.len(), 1);
    let id = medications[0]["id"].as_str().unwrap();
    assert_eq!(
        requests[0]["medicationReference"]["reference"],
        format!("urn:uuid:{id}")
    );
    let update = msg.replace("|M1|", "|M2|").replace("ORC|NW|", "ORC|XO|");
    let later = engine(false, None)
        .notify(update.as_bytes(), &NotifyOptions::default())
        .unwrap();
    assert_eq!(resources(&later, "Medication")[0]["id"], id);
}

#[test]
fn missing_pid_is_an_error_when_strict_and_a_note_otherwise() {
    let msg = b"MSH|^~\\&|A|B|||20260101||ADT^A01|M1|P|2.5\rEVN|A01\rPV1|1|I\r";
    let e = strict_error(msg);
    assert_eq!(e.kind(), ErrorKind::MissingRequired);
    assert_eq!(
        e.to_string(),
        "ADT_A01 requires a PID segment; the message has none"
    );
    let (report, bundle) = notify_with_report(msg, false);
    assert_eq!(
        report.problems,
        ["ADT_A01 requires a PID segment; the message has none"]
    );
    assert!(resource(&bundle, "Patient").is_none());
}

#[test]
fn bad_dates_fail_when_strict_and_keep_their_text_otherwise() {
    let msg = adt("20081306", "20260101120000+0000");
    let e = strict_error(&msg);
    assert_eq!(e.kind(), ErrorKind::BadValue);
    assert_eq!(
        e.to_string(),
        "PID-7.1 (segment 3) at byte 108: invalid date/time: month out of range"
    );
    let bundle = engine(false, None)
        .notify(&msg, &NotifyOptions::default())
        .unwrap();
    let patient = resource(&bundle, "Patient").unwrap();
    assert!(patient.get("birthDate").is_none());
    assert_eq!(
        patient["_birthDate"]["extension"][0]["valueString"],
        "20081306"
    );

    // With a time of day the birth time extension is tried too: its value cannot carry the
    // text, so the extension is left out and birthDate keeps the text once.
    let msg = adt("202302290830-0500", "20260101120000+0000");
    let bundle = engine(false, None)
        .notify(&msg, &NotifyOptions::default())
        .unwrap();
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["_birthDate"],
        serde_json::json!({"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/originalText",
            "valueString": "202302290830-0500"
        }]})
    );
}

#[test]
fn text_that_is_no_fhir_code_fails_when_strict_and_keeps_its_text_otherwise() {
    let msg = b"MSH|^~\\&|A|B|||20260101||PPR^PC1^PPR_PC1|M1|P|2.5.1\rPID|1||MRN1^^^GHH^MR\rPRB|AD|20260101|chest  pain|P1\r";
    let e = strict_error(msg);
    assert_eq!(e.kind(), ErrorKind::BadValue);
    assert_eq!(
        e.to_string(),
        "PRB-3.1.1 (segment 3) at byte 89: not a FHIR code (words separated by single spaces)"
    );
    let (report, bundle) = notify_with_report(msg, false);
    assert_eq!(report.problems.len(), 1);
    let coding = &resource(&bundle, "Condition").unwrap()["code"]["coding"][0];
    assert!(coding.get("code").is_none());
    assert_eq!(
        coding["_code"]["extension"][0]["valueString"],
        "chest  pain"
    );
}

#[test]
fn a_structured_numeric_that_is_no_comparator_and_number_is_reported_and_keeps_its_text() {
    // `<0.10` sent whole in the comparator component (as the IG's own ORU example does), a
    // comparator HL7 does not define, a comparator without its number, a number that is not one.
    let msg = b"MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|CBC^CBC^L\r\
OBX|1|SN|6265-3^IgE Timothy Grass^LN||<0.10|kU/L|<0.10|N|||F\r\
OBX|2|SN|564-5^Colony count^LN||ca^100000|{CFU}/mL||||F\r\
OBX|3|SN|2345-7^Glucose^LN||<^|mg/dL||||F\r\
OBX|4|SN|2345-7^Glucose^LN||>^high|mg/dL||||F\r\
OBX|5|SN|2345-7^Glucose^LN||>=^250|mg/dL||||F\r";
    let e = strict_error(msg);
    assert_eq!(e.kind(), ErrorKind::BadValue);
    let (report, bundle) = notify_with_report(msg, false);
    assert_eq!(report.problems.len(), 4, "{:?}", report.problems);
    let values: Vec<&Value> = resources(&bundle, "Observation")
        .into_iter()
        .map(|o| &o["valueQuantity"])
        .collect();
    for (q, text) in values.iter().zip(["<0.10", "ca 100000", "<", "> high"]) {
        assert!(q.get("value").is_none(), "{q}");
        assert!(q.get("comparator").is_none(), "{q}");
        assert_eq!(q["extension"][0]["valueString"], text);
    }
    assert_eq!(values[4]["value"], 250);
    assert_eq!(values[4]["comparator"], ">=");
    let observations = resources(&bundle, "Observation");
    assert!(
        observations
            .iter()
            .all(|o| o.get("_valueQuantity").is_none())
    );
}

#[test]
fn a_centred_line_of_formatted_text_starts_a_line_of_its_own() {
    let msg = b"MSH|^~\\&|RIS|R|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|71046^Chest X-ray^C4\r\
OBX|1|FT|18748-4^Diagnostic imaging study^LN||\\.ce\\CHEST, 2 VIEWS\\.ce\\IMPRESSION\\.br\\No acute findings.||||||F\r";
    let (report, bundle) = notify_with_report(msg, false);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(
        resource(&bundle, "Observation").unwrap()["valueString"],
        "CHEST, 2 VIEWS\nIMPRESSION\nNo acute findings."
    );
}

#[test]
fn a_titer_is_a_ratio_its_comparator_the_numerators() {
    let msg = b"MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|SEROLOGY^Serology^L\r\
OBX|1|SN|5048-4^ANA titer^LN||^1^:^160||<1:40|A|||F\r\
OBX|2|SN|20507-0^RPR^LN||>^1^/^64||||||F\r\
OBX|3|SN|5048-4^ANA titer^LN||^1^:^||||||F\r";
    let (report, bundle) = notify_with_report(msg, true);
    let ratios: Vec<&Value> = resources(&bundle, "Observation")
        .into_iter()
        .map(|o| &o["valueRatio"])
        .collect();
    assert_eq!(
        ratios[0],
        &serde_json::json!({"numerator": {"value": 1}, "denominator": {"value": 160}})
    );
    assert_eq!(
        ratios[1],
        &serde_json::json!({"numerator": {"comparator": ">", "value": 1}, "denominator": {"value": 64}})
    );
    // A ratio without its second term says less than a ratio: reported, its text kept.
    assert!(ratios[2].get("numerator").is_none());
    assert_eq!(ratios[2]["extension"][0]["valueString"], "1 :");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.untranslated.iter().all(|u| !u.starts_with("OBX")),
        "{:?}",
        report.untranslated
    );
}

#[test]
fn a_coded_value_keeps_its_second_alternate_coding() {
    // v2.7 CWE: a LOINC code, the lab's own code and, in CWE.10 to CWE.13, a second alternate.
    let msg = b"MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.7\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|600-7^Blood culture^LN\r\
OBX|1|CWE|600-7^Bacteria identified in Blood by Culture^LN^BCX^Blood culture^L|1|\
ECOLI^E. coli^L^^^^^^E. coli isolated^112283007^Escherichia coli^SCT^20240301||||||F\r";
    let (_, bundle) = notify_with_report(msg, false);
    let obs = resource(&bundle, "Observation").unwrap();
    assert_eq!(
        obs["valueCodeableConcept"],
        serde_json::json!({
            "coding": [
                {"code": "ECOLI", "display": "E. coli"},
                {"code": "112283007", "display": "Escherichia coli",
                 "system": "http://snomed.info/sct", "version": "20240301"}
            ],
            "text": "E. coli isolated"
        })
    );
    assert_eq!(obs["code"]["coding"].as_array().unwrap().len(), 2);
}

#[test]
fn time_zone_rules() {
    let msg = |t: &str| adt("19610615", t);
    let stamp = |e: &Engine, t: &str| {
        e.notify(&msg(t), &NotifyOptions::default()).unwrap()["timestamp"].clone()
    };
    let bare = engine(false, None);
    let chicago = engine(false, Some("America/Chicago"));
    // An offset in the message is kept as sent, zone or not.
    assert_eq!(
        stamp(&bare, "20260314081503-0500"),
        "2026-03-14T08:15:03-05:00"
    );
    assert_eq!(
        stamp(&chicago, "20260314081503+0100"),
        "2026-03-14T08:15:03+01:00"
    );
    // No offset: the configured zone's offset at that time, daylight saving included.
    assert_eq!(
        stamp(&chicago, "20260114081503"),
        "2026-01-14T08:15:03-06:00"
    );
    assert_eq!(
        stamp(&chicago, "20260714081503"),
        "2026-07-14T08:15:03-05:00"
    );
    // No offset and no zone: an instant cannot be formed, so there is no timestamp.
    assert_eq!(stamp(&bare, "20260314081503"), Value::Null);
    // A dateTime element keeps the date and the original text.
    // PV1-44, the admit time, with no offset.
    let with_time = format!(
        "MSH|^~\\&|A|B|||20260101||ADT^A01|M1|P|2.5\rEVN|A01\rPID|1||X^^^H^MR\rPV1|1|I{}20260314081500\r",
        "|".repeat(43 - 1)
    );
    let enc = |e: &Engine| {
        resource(
            &e.notify(with_time.as_bytes(), &NotifyOptions::default())
                .unwrap(),
            "Encounter",
        )
        .unwrap()["period"]
            .clone()
    };
    assert_eq!(enc(&bare)["start"], "2026-03-14");
    assert_eq!(
        enc(&bare)["_start"]["extension"][0]["valueString"],
        "20260314081500"
    );
    assert_eq!(enc(&chicago)["start"], "2026-03-14T08:15:00-05:00");
}

#[test]
fn ids_are_stable_across_messages_and_distinct_within_one() {
    let e = engine(false, None);
    let a = e
        .notify(
            &adt("19610615", "20260101120000+0000"),
            &NotifyOptions::default(),
        )
        .unwrap();
    let other = String::from_utf8(adt("19610615", "20260202120000+0000"))
        .unwrap()
        .replace("|M1|", "|M2|");
    let b = e
        .notify(other.as_bytes(), &NotifyOptions::default())
        .unwrap();
    assert_eq!(
        resource(&a, "Patient").unwrap()["id"],
        resource(&b, "Patient").unwrap()["id"]
    );
    assert_ne!(
        resource(&a, "MessageHeader").unwrap()["id"],
        resource(&b, "MessageHeader").unwrap()["id"]
    );
    let two_obx = b"MSH|^~\\&|A|B|||20260101||ADT^A01|M1|P|2.5\rEVN|A01\rPID|1||X^^^H^MR\rPV1|1|I\rOBX|1|NM|8302-2^Height^LN||180\rOBX|2|NM|8302-2^Height^LN||180\r";
    let bundle = e.notify(two_obx, &NotifyOptions::default()).unwrap();
    let ids: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Observation")
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn two_patients_doses_and_drug_orders_never_share_an_id() {
    let e = engine(false, None);
    let id = |msg: String, ty: &str| {
        let bundle = e.notify(msg.as_bytes(), &NotifyOptions::default()).unwrap();
        resource(&bundle, ty).unwrap()["id"].clone()
    };
    // A historical dose whose ORC-3 is a placeholder, and one with no ORC-3: order number,
    // vaccine and date are the same for both children.
    for orc3 in ["9999^DCS", ""] {
        let vxu = |mrn: &str, control: &str| {
            format!(
                "MSH|^~\\&|EHR|CLINIC|IIS|STATE|20240301101500-0500||VXU^V04^VXU_V04|{control}|P|2.5.1\r\
PID|1||{mrn}^^^CLINIC^MR||KID^TIM||20220101|M\rORC|RE||{orc3}\r\
RXA|0|1|20240301||08^HepB^CVX|999|||01^Historical^NIP001\r"
            )
        };
        let a = id(vxu("MRN1", "V1"), "Immunization");
        assert_ne!(a, id(vxu("MRN2", "V2"), "Immunization"));
        assert_eq!(a, id(vxu("MRN1", "V3"), "Immunization"));
    }
    // A drug order sent without a placer order number.
    let orm = |mrn: &str, control: &str| {
        format!(
            "MSH|^~\\&|EHR|CLINIC|PHARM|H|20240301101500-0500||ORM^O01^ORM_O01|{control}|P|2.5.1\r\
PID|1||{mrn}^^^CLINIC^MR||PAT^TIM||20000101|M\rORC|NW\r\
RXO|308182^Amoxicillin 500 MG Oral Capsule^RXNORM|500||mg\r"
        )
    };
    for ty in ["MedicationRequest", "Medication"] {
        let a = id(orm("MRN1", "O1"), ty);
        assert_ne!(a, id(orm("MRN2", "O2"), ty));
        assert_eq!(a, id(orm("MRN1", "O3"), ty));
    }
}

#[test]
fn lightweight_keeps_identifiers_and_references_only() {
    let e = engine(false, None);
    let light = e
        .notify(
            &adt("19610615", "20260101120000+0000"),
            &NotifyOptions {
                flavor: Flavor::Lightweight,
                ..NotifyOptions::default()
            },
        )
        .unwrap();
    let patient = resource(&light, "Patient").unwrap();
    let keys: Vec<&str> = patient
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["resourceType", "id", "identifier"]);
    let encounter = resource(&light, "Encounter").unwrap();
    assert_eq!(
        encounter["subject"]["reference"],
        format!("urn:uuid:{}", patient["id"].as_str().unwrap())
    );
}

#[test]
fn a_table_typo_names_file_and_line() {
    let mut tables = TableSet::embedded();
    let pid = tables
        .get("segments/PID[Patient].csv")
        .unwrap()
        .replace("PID-8,,gender,", "PID-8,,gendr,");
    tables.insert("segments/PID[Patient].csv", &pid);
    let e = Engine::new(&tables, EngineOptions::default()).unwrap_err();
    let line = pid.lines().position(|l| l.starts_with("PID-8,")).unwrap() + 1;
    assert_eq!(
        e.to_string(),
        format!("segments/PID[Patient].csv:{line}: target `gendr`: Patient has no element `gendr`")
    );
}

#[test]
fn errors_never_quote_patient_data_unless_asked() {
    let msg = adt("20081306", "20260101120000+0000");
    let e = strict_error(&msg);
    assert!(!e.to_string().contains("20081306"));
    let mut options = EngineOptions {
        strict: true,
        ..EngineOptions::default()
    };
    options.parse.show_values = true;
    let shown = Engine::new(&TableSet::embedded(), options)
        .unwrap()
        .notify(&msg, &NotifyOptions::default())
        .unwrap_err();
    assert!(shown.to_string().ends_with("\"20081306\""), "{shown}");
}

#[test]
fn paths_into_other_segments_stay_inside_their_own_group() {
    // Two orders: the first has an ORC naming an ordering provider and a TQ1; the second has
    // neither, so it must not borrow them: no ServiceRequest, no start time from the first.
    let msg = b"MSH|^~\\&|LAB|GHH|||20260101120000||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\r\
ORC|RE|P1^EHR|F1^LAB||CM|||||||1234^WELBY^MARCUS\r\
OBR|1|P1^EHR|F1^LAB|GLU^Glucose^L|||20260101080000\r\
TQ1|1||||||20260101070000\r\
OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F\r\
OBR|2||F2^LAB|NA^Sodium^L|||20260101090000\r\
OBX|1|NM|NA^Sodium^L||140|mmol/L|||||F\r";
    let out = engine(false, None)
        .notify(msg, &NotifyOptions::default())
        .unwrap();
    let resources: Vec<&Value> = out["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let requests: Vec<_> = resources
        .iter()
        .filter(|r| r["resourceType"] == "ServiceRequest")
        .collect();
    assert_eq!(requests.len(), 1, "only the order with an ORC has one");
    assert!(requests[0]["requester"].is_object(), "{}", requests[0]);
    let reports: Vec<_> = resources
        .iter()
        .filter(|r| r["resourceType"] == "DiagnosticReport")
        .collect();
    assert_eq!(reports.len(), 2);
    let second = reports
        .iter()
        .find(|r| r["identifier"].to_string().contains("F2"))
        .unwrap();
    assert!(second.get("basedOn").is_none(), "{second}");
}

#[test]
fn explain_reports_codes_no_row_translates_and_period_ends_before_start() {
    // XAD.7 feeds Address.use (AddressUse knows H) and Address.type (AddressType does not):
    // translated by one row, so not reported. XTN.2 NET and DG1-6 F and W have no FHIR target.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A03^ADT_A03|M1|P|2.5.1\rEVN|A03\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F|||1 MAIN ST^^TOWN^NC^27701^USA^H||^NET^Internet^j@example.org\r\
PV1|1|I||||||||||||||||||||||||||||||||||||||||||20260105080000-0500|20260103090000-0500\r\
DG1|1||I10^Essential hypertension^I10||20260105|F\rDG1|2||E11.9^Type 2 diabetes^I10||20260105|W\r";
    let (report, bundle) = notify_with_report(msg, true);
    // DG1-6 is read twice, for the Condition and for the Encounter's diagnosis entry: each
    // field is reported once.
    assert_eq!(report.untranslated, ["PID-13.2", "DG1-6", "DG1[2]-6"]);
    assert_eq!(
        report.problems,
        [
            "PV1-45.1 (segment 4) at byte 250: the period ends before it starts: the end is kept as its original text only"
        ]
    );
    let encounter = resource(&bundle, "Encounter").unwrap();
    assert_eq!(encounter["period"]["start"], "2026-01-05T08:00:00-05:00");
    assert!(encounter["period"].get("end").is_none());
    assert_eq!(
        encounter["period"]["_end"]["extension"][0]["valueString"],
        "20260103090000-0500"
    );
}

#[test]
fn a_senders_own_identifier_type_is_kept_without_claiming_table_0203() {
    // CX.5, XCN.13 and XON.7 hold table 0203 codes; a sender's own type (LOCAL, DOCID, ORGX) is
    // none of them, and is kept as the code alone, with no system, and reported.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR~X9^^^GHH^LOCAL||DOE^JANE\rPD1|||Town Clinic^^77^^^^ORGX\r\
PV1|1|I|||||1234^STONE^MIRIAM^^^^^^^^^^DOCID~5678^LEE^AL^^^^^^^^^^NPI\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert_eq!(report.untranslated, ["PID-3[2].5", "PD1-3.7", "PV1-7.13"]);
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["identifier"][0]["type"]["coding"],
        json!([{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                "display": "Medical record number"}])
    );
    assert_eq!(
        patient["identifier"][1]["type"]["coding"],
        json!([{"code": "LOCAL"}])
    );
    let types: Vec<&Value> = resources(&bundle, "Practitioner")
        .into_iter()
        .chain(resources(&bundle, "Organization"))
        .map(|r| &r["identifier"][0]["type"]["coding"][0])
        .collect();
    assert!(types.contains(&&json!({"code": "DOCID"})), "{types:?}");
    assert!(types.contains(&&json!({"code": "ORGX"})), "{types:?}");
    assert!(
        types.contains(
            &&json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "NPI", "display": "National provider identifier"})
        ),
        "{types:?}"
    );
}

#[test]
fn a_rows_default_type_never_goes_beside_the_senders_own() {
    // OBR-53 (alternate placer order number) is typed PLAC of v2-0203 by its row's defaults,
    // which fill what the CX left empty: not a system beside a type code the sender gave.
    let order = |alternate: &str| {
        let mut obr = vec![""; 54];
        obr[..5].copy_from_slice(&["OBR", "1", "PO1", "FO1", "600-7^Culture^LN"]);
        obr[53] = alternate;
        let msg = format!(
            "MSH|^~\\&|LAB|LAB|||20240305101112-0500||ORM^O01^ORM_O01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rORC|NW|PO1|FO1\r{}\r",
            obr.join("|")
        );
        let (_, bundle) = notify_with_report(msg.as_bytes(), false);
        resource(&bundle, "ServiceRequest").unwrap()["identifier"][2].clone()
    };
    let placer = json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PLAC"});
    assert_eq!(order("ALT1^^^GHH")["type"]["coding"], json!([placer]));
    assert_eq!(
        order("ALT1^^^GHH^LOCAL")["type"]["coding"],
        json!([{"code": "LOCAL"}])
    );
}

#[test]
fn a_visit_number_is_typed_vn_unless_the_sender_typed_it() {
    let visit = |pv1_19: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I|||||||||||||||||{pv1_19}\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let identifiers = resource(&bundle, "Encounter").unwrap()["identifier"].clone();
        (identifiers, report.untranslated)
    };
    let vn = json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "VN",
                    "display": "Visit number"});
    let (ids, untranslated) = visit("V1^^^GHH");
    assert_eq!(ids[0]["type"]["coding"], json!([vn]));
    assert!(untranslated.is_empty(), "{untranslated:?}");
    assert_eq!(visit("V1^^^GHH^VN").0[0]["type"]["coding"], json!([vn]));
    let (ids, untranslated) = visit("V1^^^GHH^visitid");
    assert_eq!(ids[0]["type"]["coding"], json!([{"code": "visitid"}]));
    assert_eq!(ids.as_array().unwrap().len(), 1);
    assert_eq!(untranslated, ["PV1-19.5"]);
}

#[test]
fn codes_of_the_tables_the_ig_maps_get_their_fhir_codings() {
    // Each translation goes beside the code as sent; a code the IG's concept map lacks (PID-17
    // ZZ) keeps the sender's coding alone and is reported.
    let mut pv1 = vec![""; 20];
    pv1[..3].copy_from_slice(&["PV1", "1", "I"]);
    pv1[10] = "MED";
    pv1[13] = "R";
    let mut pv2 = vec![""; 39];
    pv2[0] = "PV2";
    pv2[25] = "2^Urgent^HL70217";
    pv2[38] = "C";
    let mut in1 = vec![""; 18];
    in1[..5].copy_from_slice(&["IN1", "1", "PLAN1", "INS1", "Acme Insurance"]);
    in1[17] = "SPO^Spouse^HL70063";
    let msg = |religion: &str, arrival: &str| {
        let mut pv2 = pv2.clone();
        pv2[38] = arrival;
        format!(
            "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||||||||||||{religion}\r{}\r{}\r{}\r",
            pv1.join("|"),
            pv2.join("|"),
            in1.join("|")
        )
    };
    let coding = |system: &str, code: &str, display: &str| {
        json!({"system": format!("http://terminology.hl7.org/CodeSystem/{system}"),
               "code": code, "display": display})
    };
    let (report, bundle) = notify_with_report(msg("ATH^Atheist^HL70006", "C").as_bytes(), true);
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    let encounter = resource(&bundle, "Encounter").unwrap();
    assert_eq!(
        encounter["serviceType"]["coding"],
        json!([{"code": "MED"}, coding("service-type", "382", "Medical Services")])
    );
    assert_eq!(
        encounter["hospitalization"]["reAdmission"]["coding"][1],
        coding("v2-0092", "R", "Re-admission")
    );
    assert_eq!(
        encounter["priority"]["coding"][1],
        coding("v3-ActPriority", "UR", "urgent")
    );
    assert_eq!(
        encounter["extension"][0]["valueCoding"],
        coding("v2-0430", "C", "Car")
    );
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["extension"][0]["valueCodeableConcept"]["coding"][1],
        coding("v3-ReligiousAffiliation", "1007", "Atheism")
    );
    let coverage = resource(&bundle, "Coverage").unwrap();
    assert_eq!(
        coverage["relationship"]["coding"][1],
        coding("v3-RoleCode", "SPS", "spouse")
    );
    // A mode of arrival the sender codes in a system of its own is not read as table 0430's (and
    // the system's name, which no table knows, is reported as ever).
    let (report, bundle) = notify_with_report(msg("ZZ", "C^Coach^LOCAL").as_bytes(), true);
    assert_eq!(report.untranslated, ["PID-17", "PV2-38.3"]);
    let encounter = resource(&bundle, "Encounter").unwrap();
    assert_eq!(
        encounter["extension"][0]["valueCoding"],
        json!({"code": "C", "display": "Coach"})
    );
}

#[test]
fn explain_names_a_field_whose_value_no_rows_condition_accepts() {
    // A ROL after PID is the Patient's general practitioner only for the role PP (table 0443):
    // with that role the map reads all but the action code (ROL-2); with a role no row takes,
    // the whole segment is unmapped, the role included, though a condition read it.
    let rol = |role: &str| {
        format!(
            "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F\rROL|1|AD|{role}^HL70443|1234^STONE^MIRIAM\rPV1|1|I\r"
        )
        .into_bytes()
    };
    let unmapped_rol = |role: &str| {
        let (report, _) = notify_with_report(&rol(role), true);
        report
            .unmapped
            .into_iter()
            .filter(|f| f.starts_with("ROL"))
            .collect::<Vec<_>>()
    };
    assert_eq!(unmapped_rol("PP^Primary Care Provider"), ["ROL-2"]);
    assert_eq!(
        unmapped_rol("XX^Other"),
        ["ROL-1", "ROL-2", "ROL-3", "ROL-4"]
    );
}

#[test]
fn explain_names_each_repetition_a_single_element_cannot_hold() {
    // An Observation has one value: a second organism in a coded OBX-5 has nowhere to go, and
    // is named, while the repetitions of OBX-8 all become interpretations.
    let msg = b"MSH|^~\\&|LAB|LAB|||20240305101112-0500||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rOBR|1|PA|FA|600-7^Culture^LN\r\
OBX|1|CWE|600-7^Bacteria identified^LN||112283007^Escherichia coli^SCT~~3092008^Staphylococcus aureus^SCT|||A~H|||F\r";
    let (report, bundle) = notify_with_report(msg, true);
    let obx: Vec<_> = report
        .unmapped
        .iter()
        .filter(|f| f.starts_with("OBX"))
        .collect();
    assert_eq!(obx, ["OBX-1", "OBX-5[3]"]);
    let observation = resource(&bundle, "Observation").unwrap();
    assert_eq!(
        observation["valueCodeableConcept"]["coding"][0]["code"],
        "112283007"
    );
    assert_eq!(observation["interpretation"].as_array().unwrap().len(), 2);
}

#[test]
fn explain_names_each_component_of_a_mapped_field_no_row_reads() {
    // XPN.10 (the name's validity range) is the name's period only when neither XPN.12 nor
    // XPN.13 is valued: beside XPN.12 no row reads it, and it is named, though PID-5 is mapped.
    // Without XPN.12 the rows read it, and nothing in PID-5 is named.
    let adt = |pid5: &str| {
        format!(
            "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||{pid5}||19700101|F\rPV1|1|I\r"
        )
        .into_bytes()
    };
    let unmapped_pid5 = |pid5: &str| {
        let (report, _) = notify_with_report(&adt(pid5), true);
        report
            .unmapped
            .into_iter()
            .filter(|f| f.starts_with("PID-5"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unmapped_pid5("DOE^JANE^^^^^L^^^20200101&20201231^^20210101"),
        ["PID-5.10"]
    );
    assert_eq!(
        unmapped_pid5("DOE^JANE^^^^^L^^^20200101&20201231"),
        Vec::<String>::new()
    );
    // In the second repetition, after the fields of the segment before it.
    assert_eq!(
        unmapped_pid5("DOE^JANE~ROE^JANE^^^^^M^^^20100101&20191231^^20100101"),
        ["PID-5[2].10"]
    );
}

#[test]
fn explain_names_the_parts_of_an_interpreter_no_practitioner_holds() {
    // OBR-32 (an NDL) makes a Practitioner from the person in NDL.1: the role's start, end and
    // point of care (NDL.2 to NDL.4) have no place in it, nor has the person's assigning
    // authority (CNN.8, NDL.1.8), so each is named, in message order, and no value is.
    let msg = b"MSH|^~\\&|LAB|LAB|||20240305101112-0500||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\r\
OBR|1|PA|FA|600-7^Culture^LN||||||||||||||||||||||||||||1234&STONE&MIRIAM&&&&&GHHSECRET^202401011200^202412311200^LABPOC\r\
OBX|1|ST|600-7^Culture^LN||negative||||||F\r";
    let (report, bundle) = notify_with_report(msg, true);
    let obr32: Vec<_> = report
        .unmapped
        .iter()
        .filter(|f| f.starts_with("OBR-32"))
        .collect();
    assert_eq!(obr32, ["OBR-32.1.8", "OBR-32.2", "OBR-32.3", "OBR-32.4"]);
    let listed = serde_json::to_string(&report.unmapped).unwrap();
    for value in ["GHHSECRET", "2024", "LABPOC", "STONE"] {
        assert!(!listed.contains(value), "{listed}");
    }
    let practitioner = resource(&bundle, "Practitioner").unwrap();
    assert_eq!(practitioner["name"][0]["family"], "STONE");
}

#[test]
fn a_practitioners_name_type_is_the_names_use() {
    // XCN.10 (name type, table 0200) is the name's use, as XPN.7 is a patient's; the attending
    // doctor's name type is then read, and not named by --explain.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F\rPV1|1|I|||||1234^STONE^MIRIAM^^^^^^^L\r";
    let (report, bundle) = notify_with_report(msg, true);
    let practitioner = resource(&bundle, "Practitioner").unwrap();
    assert_eq!(practitioner["name"][0]["use"], "official");
    assert_eq!(practitioner["name"][0]["family"], "STONE");
    assert!(
        report.unmapped.iter().all(|u| !u.starts_with("PV1-7")),
        "{:?}",
        report.unmapped
    );
}

#[test]
fn the_explicit_null_is_not_valued() {
    // PID-24 (multiple birth) gives multipleBirthBoolean when PID-25 (birth order) is not valued:
    // `""` tells the receiver to clear PID-25, so it holds no birth order.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F||||||||||||||||Y|\"\"\rPV1|1|I\r";
    let (_, bundle) = notify_with_report(msg, false);
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(patient["multipleBirthBoolean"], true);
    assert!(patient.get("multipleBirthInteger").is_none(), "{patient}");
}

#[test]
fn each_result_stays_with_its_own_order_in_a_long_report() {
    // Sixty orders of two results each: links resolve inside each order's group however many
    // orders come before or after it.
    let mut msg = String::from(
        "MSH|^~\\&|LAB|GHH|||20260101120000-0500||ORU^R01^ORU_R01|R1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F\rPV1|1|O|LAB^^^GHH\r",
    );
    for order in 1..=60 {
        msg.push_str(&format!(
            "OBR|{order}|ORD{order}^EHR|FIL{order}^LAB|58410-2^CBC panel^LN|||20260101110000-0500\r"
        ));
        for result in 1..=2 {
            msg.push_str(&format!(
                "OBX|{result}|NM|{order}-{result}^Result {result} of order {order}^L||{result}.5|g/dL^^UCUM|||||F\r"
            ));
        }
    }
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    let resources: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let code_of = |url: &str| {
        let id = url.trim_start_matches("urn:uuid:");
        let observation = resources.iter().find(|r| r["id"] == id).unwrap();
        observation["code"]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let patient = resource(&bundle, "Patient").unwrap();
    let reports: Vec<&&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "DiagnosticReport")
        .collect();
    assert_eq!(reports.len(), 60);
    for report in reports {
        let order = report["identifier"][0]["value"]
            .as_str()
            .unwrap()
            .trim_start_matches("ORD")
            .to_string();
        let results: Vec<String> = report["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| code_of(r["reference"].as_str().unwrap()))
            .collect();
        assert_eq!(results, [format!("{order}-1"), format!("{order}-2")]);
    }
    for observation in resources
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
    {
        assert_eq!(
            observation["subject"]["reference"],
            format!("urn:uuid:{}", patient["id"].as_str().unwrap())
        );
    }
}

#[test]
fn an_explicit_occurrence_names_that_segment_of_the_message() {
    // A site's row reading the second OBX of the message from the PID, whichever group it is in.
    let mut tables = TableSet::embedded();
    let pid = tables.get("segments/PID[Patient].csv").unwrap().to_string();
    tables.insert(
        "segments/PID[Patient].csv",
        &format!(
            "{pid}OBX[2]-5,,extension(http://example.org/second-result).valueString,,,,forward\n"
        ),
    );
    let engine = Engine::new(&tables, EngineOptions::default()).unwrap();
    let msg = |results: &[&str]| {
        let mut m = String::from(
            "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F\rPV1|1|I\r",
        );
        for (i, value) in results.iter().enumerate() {
            m.push_str(&format!(
                "OBX|{}|NM|8302-2^Body height^LN||{value}|cm^^UCUM|||||F\r",
                i + 1
            ));
        }
        m.into_bytes()
    };
    let second = |results: &[&str]| {
        let bundle = engine
            .notify(&msg(results), &NotifyOptions::default())
            .unwrap();
        let patient = resource(&bundle, "Patient").unwrap().clone();
        patient["extension"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|x| x["url"] == "http://example.org/second-result")
            })
            .map(|x| x["valueString"].clone())
    };
    assert_eq!(second(&["180", "82.5", "71"]), Some(Value::from("82.5")));
    assert_eq!(second(&["180"]), None);
}

#[test]
fn each_group_instance_holds_one_run_of_segments() {
    // Paths into other segments and links search a group instance through its span: every
    // segment inside an instance lies within the span, and everything within the span is
    // inside the instance. Checked on every notification fixture and a long report.
    use hl7fhir::notify::structure::place;
    use hl7fhir::v2::Parser;
    let engine = engine(false, None);
    let plan = engine.plan();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v2-to-fhir");
    let mut messages: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    messages.sort();
    let mut report = String::from(
        "MSH|^~\\&|LAB|GHH|||20260101120000-0500||ORU^R01^ORU_R01|R1|P|2.5.1\rPID|1||MRN1\r",
    );
    for order in 1..=5 {
        report.push_str(&format!(
            "ORC|RE|O{order}\rOBR|{order}|O{order}\rOBX|1|NM|A||1\rNTE|1||n\r"
        ));
    }
    messages.push(report.into_bytes());
    let mut parser = Parser::default();
    let mut checked = 0;
    for bytes in &messages {
        let Ok(msg) = parser.parse(bytes) else {
            continue;
        };
        let msh9 = |c: usize| {
            msg.header()
                .field(9)
                .and_then(|f| f.component(c))
                .map(|v| String::from_utf8_lossy(v.raw()).into_owned())
                .unwrap_or_default()
        };
        let Some(si) = plan.route(&msh9(1), &msh9(2), &msh9(3)) else {
            continue;
        };
        let p = place(&plan.structures[si], msg.segments().map(|s| *s.id_bytes()));
        let within = |mut g: usize, ancestor: usize| loop {
            if g == ancestor {
                return true;
            }
            match p.groups[g].parent {
                Some(parent) => g = parent,
                None => return false,
            }
        };
        for (instance, span) in p.spans.iter().enumerate() {
            let inside: Vec<u32> = (0..p.segments.len() as u32)
                .filter(|&q| within(p.segments[q as usize].1, instance))
                .collect();
            match span {
                Some((first, last)) => assert_eq!(inside, (*first..=*last).collect::<Vec<_>>()),
                None => assert!(inside.is_empty()),
            }
        }
        checked += 1;
    }
    assert!(checked > 40, "{checked} messages checked");
}

#[test]
fn an_order_without_its_own_segment_reads_none_from_the_orders_after_it() {
    // The first order has no ORC and no TQ1, the second has both: searching forward must not
    // reach into the second order either.
    let msg = b"MSH|^~\\&|LAB|GHH|||20260101120000||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\r\
OBR|1||F1^LAB|NA^Sodium^L|||20260101090000\r\
OBX|1|NM|NA^Sodium^L||140|mmol/L|||||F\r\
ORC|RE|P2^EHR|F2^LAB||CM|||||||1234^WELBY^MARCUS\r\
OBR|2|P2^EHR|F2^LAB|GLU^Glucose^L|||20260101080000\r\
TQ1|1||||||20260101070000\r\
OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F\r";
    let out = engine(false, None)
        .notify(msg, &NotifyOptions::default())
        .unwrap();
    let of_type = |ty: &str| -> Vec<Value> {
        out["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"].clone())
            .filter(|r| r["resourceType"] == ty)
            .collect()
    };
    let requests = of_type("ServiceRequest");
    assert_eq!(requests.len(), 1, "only the order with an ORC has one");
    assert!(requests[0]["requester"].is_object(), "{}", requests[0]);
    let first = of_type("DiagnosticReport")
        .into_iter()
        .find(|r| r["code"]["coding"][0]["code"] == "NA")
        .unwrap();
    assert!(first.get("basedOn").is_none(), "{first}");
}

#[test]
fn one_engine_serves_many_threads_alike() {
    // Built once and shared, as a gateway's workers share it: each thread's Bundles are the
    // ones a single thread gives.
    let engine = engine(false, None);
    let messages: Vec<Vec<u8>> = (0..8)
        .map(|i| adt(&format!("1970010{}", i + 1), "20260101120000+0000"))
        .collect();
    let alone: Vec<Value> = messages
        .iter()
        .map(|m| engine.notify(m, &NotifyOptions::default()).unwrap())
        .collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    messages
                        .iter()
                        .map(|m| engine.notify(m, &NotifyOptions::default()).unwrap())
                        .collect::<Vec<Value>>()
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap(), alone);
        }
    });
}

#[test]
fn an_account_update_shares_the_add_accounts_map_and_leaves_its_status_unknown() {
    // BAR^P05 names its own structure (BAR_P05), which has BAR_P01's segments: the event table
    // routes it to that map. Only opening (P01) and ending (P06) an account say its status.
    let status = |event: &str| {
        let msg = format!(
            "MSH|^~\\&|REG|GHH|||20260514073000-0400||BAR^{event}^BAR_{event}|M1|P|2.5.1\rEVN|{event}\r\
             PID|1||MRN1^^^GHH^MR||DOE^JANE|||||||||||||AC1^^^GHH^AN\rPV1|1|O|||||||||||||||||VN1^^^GHH^VN\r"
        );
        let bundle = engine(false, None)
            .notify(msg.as_bytes(), &NotifyOptions::default())
            .unwrap();
        resource(&bundle, "Account").unwrap()["status"].clone()
    };
    assert_eq!(status("P01"), "active");
    assert_eq!(status("P05"), "unknown");
    assert_eq!(status("P06"), "inactive");
}

#[test]
fn base64_data_wrapped_over_lines_is_kept_without_its_line_breaks() {
    // MIME wraps base64 at 76 characters; an ED carries the breaks as `\.br\` or `\X0D0A\`.
    // FHIR's base64Binary allows whitespace, which carries nothing: the data is kept compact.
    for wrapped in [
        "JVBERi0xLjQK\\.br\\JVBERi0xLjQK",
        "JVBERi0xLjQK\\X0D0A\\JVBERi0xLjQK",
    ] {
        let msg = format!(
            "MSH|^~\\&|EHR|HOSP|||20240305101112-0500||MDM^T02^MDM_T02|M1|P|2.5.1\rEVN|T02\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|O\rTXA|1|CN|AP|||20240305091500-0500||||||DOC-3|||||||AV\r\
OBX|1|ED|PDF^Document^L||^AP^pdf^Base64^{wrapped}||||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let document = resource(&bundle, "DocumentReference").unwrap();
        assert_eq!(
            document["content"][0]["attachment"]["data"],
            "JVBERi0xLjQKJVBERi0xLjQK"
        );
    }
}

#[test]
fn a_document_sent_one_obx_per_line_is_one_attachment_per_kind_of_text() {
    // Transcription systems send a note as one TX OBX per line (and a line of repetitions
    // where it wraps): the document's plain text is one attachment, its lines in order; the
    // formatted text (FT) another; each encapsulated document (ED) one of its own.
    let msg = b"MSH|^~\\&|EHR|HOSP|||20240305101112-0500||MDM^T02^MDM_T02|M1|P|2.5.1\rEVN|T02\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|O\rTXA|1|CN|TX|||20240305091500-0500||||||DOC-3|||||||AV\r\
OBX|1|TX|NOTE^Note^L||First line.||||||F\r\
OBX|2|ED|PDF^Document^L||^AP^PDF^Base64^JVBERi0xLjQK||||||F\r\
OBX|3|TX|NOTE^Note^L||Second line~third line.||||||F\r\
OBX|4|FT|NOTE^Note^L||Signed||||||F\r\
OBX|5|TX|NOTE^Note^L||Last line.||||||F\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let content = resource(&bundle, "DocumentReference").unwrap()["content"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = content
        .iter()
        .map(|c| c["attachment"]["contentType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["application/text", "application/pdf", "text/hl7v2"]);
    let text = |c: &Value| {
        let data = c["attachment"]["data"].as_str().unwrap();
        String::from_utf8(base64_decode(data)).unwrap()
    };
    assert_eq!(
        text(&content[0]),
        "First line.\nSecond line\nthird line.\nLast line."
    );
    assert_eq!(text(&content[2]), "Signed");
}

#[test]
fn lines_are_not_added_after_data_that_is_no_text_and_that_is_reported() {
    // A site's row writing an ED's binary data into the plain-text attachment: the TX lines
    // after it cannot be joined to it, and are reported rather than dropped unseen.
    let mut tables = TableSet::embedded();
    let file = "segments/OBX[DocumentReference].csv";
    let map = format!(
        "{}\nOBX-5.5,OBX-2 = 'ED',content(attachment.contentType=application/text).attachment.data,ST[base64Binary],,,forward\n",
        tables.get(file).unwrap().trim_end()
    );
    tables.insert(file, &map);
    let engine = Engine::new(&tables, EngineOptions::default()).unwrap();
    let msg = b"MSH|^~\\&|EHR|HOSP|||20240305101112-0500||MDM^T02^MDM_T02|M1|P|2.5.1\rEVN|T02\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|O\rTXA|1|CN|TX|||20240305091500-0500||||||DOC-3|||||||AV\rOBX|1|ED|PDF^Document^L||^AP^octet-stream^Base64^/w==||||||F\rOBX|2|TX|NOTE^Note^L||A line.||||||F\r";
    let mut out = Vec::new();
    let report = engine
        .notify_with(
            &mut engine.parser(),
            msg,
            &NotifyOptions::default(),
            false,
            &mut out,
        )
        .unwrap();
    assert_eq!(
        report.problems,
        [
            "content(attachment.contentType=application/text).attachment.data: lines not added after data that is no text"
        ]
    );
    let bundle: Value = serde_json::from_slice(&out).unwrap();
    let content = &resource(&bundle, "DocumentReference").unwrap()["content"];
    assert!(
        content
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["attachment"]["data"] == "/w==")
    );
}

/// Decodes standard base64 (the test's own, to check what the engine encoded).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn the_content_type_is_the_mime_type_the_type_of_data_and_subtype_make() {
    // HL7 sends a MIME type in two parts (ED.2 the type of data, ED.3 the subtype); FHIR's
    // contentType is the whole type. Without a MIME type from them, an Attachment holding data
    // still needs one (att-1), and it says no more than the encoding does.
    for (ed, content_type, reported) in [
        ("^AP^PDF^Base64^JVBERi0xLjQK", "application/pdf", false),
        ("^IM^jpeg^Base64^JVBERi0xLjQK", "image/jpeg", false),
        ("^TEXT^plain^A^Discharged home", "text/plain", false),
        (
            "^application^pdf^Base64^JVBERi0xLjQK",
            "application/pdf",
            false,
        ),
        (
            "^^application/pdf^Base64^JVBERi0xLjQK",
            "application/pdf",
            false,
        ),
        (
            "^AP^^Base64^JVBERi0xLjQK",
            "application/octet-stream",
            false,
        ),
        ("^TEXT^^A^Discharged home", "text/plain", false),
        // HL7 v2.2's scanned image names a kind of document, not a MIME type.
        (
            "^SI^TIFF^Base64^JVBERi0xLjQK",
            "application/octet-stream",
            true,
        ),
        (
            "^AP^not a subtype^Base64^JVBERi0xLjQK",
            "application/octet-stream",
            true,
        ),
    ] {
        let msg = format!(
            "MSH|^~\\&|EHR|HOSP|||20240305101112-0500||MDM^T02^MDM_T02|M1|P|2.5.1\rEVN|T02\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|O\rTXA|1|CN|AP|||20240305091500-0500||||||DOC-3|||||||AV\r\
OBX|1|ED|PDF^Document^L||{ed}||||||F\r\
OBX|2|RP|PDF^Document^L||https://docs.example/3.pdf^EHR^AP^PDF||||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let content = &resource(&bundle, "DocumentReference").unwrap()["content"];
        let attachment = &content[0]["attachment"];
        assert_eq!(attachment["contentType"], content_type, "{ed}");
        assert!(attachment["data"].is_string(), "{ed}");
        assert_eq!(content[1]["attachment"]["contentType"], "application/pdf");
        assert_eq!(
            report.problems.len(),
            usize::from(reported),
            "{ed}: {:?}",
            report.problems
        );
        if reported {
            assert!(
                report.problems[0].contains("names no MIME type"),
                "{:?}",
                report.problems
            );
            assert!(
                !report.problems[0].contains("TIFF") && !report.problems[0].contains("subtype^")
            );
        }
    }
}

#[test]
fn multiline_and_length_conditions_read_the_field_as_the_message_carries_it() {
    // Two rows a site might add: PID-23 (birth place) longer than 10 characters as written,
    // and of more than one line, each mark the Patient with a constant.
    let mut tables = TableSet::embedded();
    let pid = format!(
        "{}\n{}\n{}\n",
        tables.get("segments/PID[Patient].csv").unwrap().trim_end(),
        ",PID-23 IS MULTILINE,active,,,true,forward",
        ",PID-23 LONGER THAN 10,language,,,en,forward",
    );
    tables.insert("segments/PID[Patient].csv", &pid);
    let engine = Engine::new(&tables, EngineOptions::default()).unwrap();
    // (PID-23 as sent, active, language)
    let cases = [
        ("Springfield", None, Some("en")),
        ("Rome", None, None),
        // Four characters decoded, twelve as written.
        ("\\T\\\\T\\\\T\\\\T\\", None, Some("en")),
        ("Rome~Ostia", Some(true), None),
        ("Rome\\.br\\", Some(true), None),
        ("Rome\\X0D\\", Some(true), None),
    ];
    for (pid23, active, language) in cases {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260101120000+0000||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
             PID|1||MRN1^^^GHH^MR||DOE^JANE||19800101|F{}|{pid23}\rPV1|1|I\r",
            "|".repeat(14)
        );
        let bundle = engine
            .notify(msg.as_bytes(), &NotifyOptions::default())
            .unwrap();
        let patient = resource(&bundle, "Patient").unwrap();
        assert_eq!(patient["active"].as_bool(), active, "{pid23}");
        assert_eq!(patient["language"].as_str(), language, "{pid23}");
    }
}

#[test]
fn an_expected_admission_is_planned_not_begun_and_keeps_its_date_without_a_zone() {
    // PV2-8 of a pre-admission is when the visit is expected to begin: Encounter.period would
    // say it began. Without an offset or --timezone, its date stands and the time is reported.
    let msg = |pv2_8: &str| {
        format!(
            "MSH|^~\\&|A|B|||20240305101112-0500||ADT^A05^ADT_A05|M1|P|2.5.1\rEVN|A05\r\
PID|1||M1^^^H^MR||DOE^J\rPV1|1|P\rPV2||||||||{pv2_8}\r"
        )
    };
    let planned = |bundle: &Value| {
        let encounter = resource(bundle, "Encounter").unwrap();
        assert!(encounter.get("period").is_none(), "{encounter}");
        encounter["extension"][0]["valueDateTime"].clone()
    };
    let (report, bundle) = notify_with_report(msg("20240310080000-0500").as_bytes(), true);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(planned(&bundle), "2024-03-10T08:00:00-05:00");
    let (report, bundle) = notify_with_report(msg("202403100800").as_bytes(), true);
    assert_eq!(planned(&bundle), "2024-03-10");
    assert_eq!(
        report.problems,
        [
            "PV2-8.1 (segment 5) at byte 114: a time without an offset, and no --timezone: only its date is kept"
        ]
    );
}

/// The `fullUrl`s of the resources of type `ty` in a Bundle, in entry order.
fn full_urls(bundle: &Value, ty: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["resource"]["resourceType"] == ty)
        .filter_map(|e| e["fullUrl"].as_str().map(str::to_string))
        .collect()
}

/// The references a list of Reference elements holds.
fn references(list: &Value) -> Vec<&str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reference"].as_str())
        .collect()
}

#[test]
fn a_specimen_both_obr_15_and_an_spm_describe_is_one_specimen() {
    // From v2.5 OBR-15 (SPS) is kept for backward compatibility only and the SPM describes the
    // specimen: an order sending both describes one sample, and gets one Specimen, the SPM's.
    let result = |spm: &str| {
        format!(
            "MSH|^~\\&|LAB|H|EHR|H|20260402101522-0500||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^J\r\
OBR|1|P1^EHR|F1^LAB|58410-2^CBC panel^LN|||20260402073800-0500||||||||BLD&Blood&HL70070|||||||20260402100947-0500||HM|F\r\
OBX|1|NM|718-7^Hemoglobin^LN||13.8|g/dL^^UCUM|||||F\r{spm}"
        )
    };
    let (report, bundle) = notify_with_report(
        result("SPM|1|^S1&LAB||119297000^Blood specimen^SCT\r").as_bytes(),
        true,
    );
    // What OBR-15 said is not claimed translated.
    assert!(
        report.unmapped.iter().any(|u| u == "OBR-15"),
        "{:?}",
        report.unmapped
    );
    let specimens = resources(&bundle, "Specimen");
    assert_eq!(specimens.len(), 1, "{specimens:?}");
    assert_eq!(specimens[0]["type"]["coding"][0]["code"], "119297000");
    let report = resource(&bundle, "DiagnosticReport").unwrap();
    assert_eq!(
        references(&report["specimen"]),
        full_urls(&bundle, "Specimen")
    );
    // Without an SPM, OBR-15 describes the specimen.
    let (_, bundle) = notify_with_report(result("").as_bytes(), false);
    let specimens = resources(&bundle, "Specimen");
    assert_eq!(specimens.len(), 1, "{specimens:?}");
    assert_eq!(specimens[0]["type"]["coding"][0]["code"], "BLD");
    // An order message alike.
    let order = |spm: &str| {
        format!(
            "MSH|^~\\&|EHR|H|LAB|H|20260402101522-0500||OML^O21^OML_O21|M1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^J\rORC|NW|P1^EHR\r\
OBR|1|P1^EHR||58410-2^CBC panel^LN|||||||||||BLD&Blood&HL70070\r{spm}"
        )
    };
    for (spm, code) in [
        ("SPM|1|S1&EHR||119297000^Blood specimen^SCT\r", "119297000"),
        ("", "BLD"),
    ] {
        let (_, bundle) = notify_with_report(order(spm).as_bytes(), false);
        let specimens = resources(&bundle, "Specimen");
        assert_eq!(specimens.len(), 1, "{spm}: {specimens:?}");
        assert_eq!(specimens[0]["type"]["coding"][0]["code"], code);
        let request = resource(&bundle, "ServiceRequest").unwrap();
        assert_eq!(
            references(&request["specimen"]),
            full_urls(&bundle, "Specimen")
        );
    }
}

#[test]
fn a_result_names_the_specimen_of_its_order_when_the_order_has_one() {
    // The IG's OBR[Specimen] row: the one Specimen the OBR gives is the one every Observation
    // of that OBR refers to; an order's SPM stands in for it. An order with two specimens does
    // not say which one a result is of, and an order never reaches another order's specimen.
    let msg = "MSH|^~\\&|LAB|H|EHR|H|20260402101522-0500||ORU^R01^ORU_R01|M1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^J\r\
OBR|1|P1^EHR|F1^LAB|24325-3^Hepatic panel^LN|||20260402073800-0500|||||||||||||||20260402100947-0500||CH|F\r\
OBX|1|NM|1751-7^Albumin^LN||4.2|g/dL^^UCUM|||||F\r\
OBX|2|NM|2885-2^Protein^LN||6.1|g/dL^^UCUM|||||F\r\
SPM|1|^S1&LAB||119364003^Serum specimen^SCT\r\
OBR|2|P2^EHR|F2^LAB|2951-2^Sodium^LN|||20260402073800-0500|||||||||||||||20260402100947-0500||CH|F\r\
OBX|1|NM|2951-2^Sodium^LN||140|mmol/L^^UCUM|||||F\r\
SPM|1|^S2&LAB||119364003^Serum specimen^SCT\r\
SPM|2|^S3&LAB||119361006^Plasma specimen^SCT\r\
OBR|3|P3^EHR|F3^LAB|630-4^Urine culture^LN|||20260402073800-0500||||||||UR&Urine&HL70070|||||||20260402100947-0500||MB|F\r\
OBX|1|ST|630-4^Bacteria identified^LN||E. coli||||||F\r\
OBR|4|P4^EHR|F4^LAB|2345-7^Glucose^LN|||20260402073800-0500|||||||||||||||20260402100947-0500||CH|F\r\
OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^^UCUM|||||F\r";
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    let specimens = full_urls(&bundle, "Specimen");
    assert_eq!(specimens.len(), 4, "{specimens:?}");
    let named: Vec<Option<&str>> = resources(&bundle, "Observation")
        .iter()
        .map(|o| o["specimen"]["reference"].as_str())
        .collect();
    assert_eq!(
        named,
        [
            Some(specimens[0].as_str()),
            Some(specimens[0].as_str()),
            None,
            Some(specimens[3].as_str()),
            None
        ]
    );
    // Each report lists its own specimens.
    let reports: Vec<Vec<&str>> = resources(&bundle, "DiagnosticReport")
        .iter()
        .map(|r| references(&r["specimen"]))
        .collect();
    assert_eq!(
        reports,
        [
            vec![specimens[0].as_str()],
            vec![specimens[1].as_str(), specimens[2].as_str()],
            vec![specimens[3].as_str()],
            vec![]
        ]
    );
}

#[test]
fn a_result_names_its_orders_sole_specimen_in_a_long_report_too() {
    // Past 64 resources links look resources up through an index: the same answers.
    let mut msg = String::from(
        "MSH|^~\\&|LAB|H|EHR|H|20260402101522-0500||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||M1^^^H^MR||DOE^J\r",
    );
    for n in 1..=40 {
        msg.push_str(&format!(
            "OBR|{n}|P{n}^EHR|F{n}^LAB|2951-2^Sodium^LN|||20260402073800-0500||||||||||||||||CH|F\r\
OBX|1|NM|2951-2^Sodium^LN||140|mmol/L^^UCUM|||||F\rSPM|1|^S{n}A&LAB||119364003^Serum^SCT\r"
        ));
        if n % 2 == 0 {
            msg.push_str(&format!("SPM|2|^S{n}B&LAB||119361006^Plasma^SCT\r"));
        }
    }
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    let specimens = full_urls(&bundle, "Specimen");
    assert_eq!(specimens.len(), 60);
    let observations = resources(&bundle, "Observation");
    assert_eq!(observations.len(), 40);
    let mut next = specimens.iter();
    for (i, o) in observations.iter().enumerate() {
        let first = next.next().map(String::as_str);
        if i % 2 == 0 {
            assert_eq!(
                o["specimen"]["reference"].as_str(),
                first,
                "order {}",
                i + 1
            );
        } else {
            next.next();
            assert!(o.get("specimen").is_none(), "order {}: {o}", i + 1);
        }
    }
}

/// A v2.7 ADT^A01 whose PID-8 (a CWE from v2.7) is `sex`.
fn adt_v27_sex(sex: &str) -> String {
    format!(
        "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.7\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|{sex}\rPV1|1|I\r"
    )
}

/// Checks that a v2.7 PID-8 of `sex` gives the Patient no gender and is reported untranslated.
fn assert_no_gender_and_pid_8_reported(sex: &str) {
    let (report, bundle) = notify_with_report(adt_v27_sex(sex).as_bytes(), true);
    let patient = resource(&bundle, "Patient").unwrap();
    assert!(patient.get("gender").is_none(), "{sex}: {patient}");
    assert_eq!(report.untranslated, ["PID-8"], "{sex}");
}

/// An ORU^R01 of one glucose result whose abnormal flag (OBX-8) is `flag`.
fn glucose_flagged(flag: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|GLU^Glucose^L\r\
OBX|1|NM|2345-7^Glucose^LN||148|mg/dL^^UCUM|70-99|{flag}|||F\r"
    )
    .into_bytes()
}

#[test]
fn a_table_code_sent_in_its_table_or_no_system_is_translated() {
    let high = json!({
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": "H",
        "display": "High"
    });
    for flag in [
        "H^High^HL70078",
        "H",
        "H^High^http://terminology.hl7.org/CodeSystem/v2-0078",
    ] {
        let (report, bundle) = notify_with_report(&glucose_flagged(flag), true);
        let obs = resource(&bundle, "Observation").unwrap();
        let codings = obs["interpretation"][0]["coding"].as_array().unwrap();
        assert!(codings.contains(&high), "{flag}: {codings:?}");
        let flag_reported = report.untranslated.iter().any(|u| u == "OBX-8");
        assert!(!flag_reported, "{flag}: {:?}", report.untranslated);
    }
}

#[test]
fn a_local_code_is_not_read_as_the_tables_code_of_the_same_letters() {
    // A lab's own `H` (99LAB) may mean anything the lab says: it is kept as sent, and reported.
    let (report, bundle) = notify_with_report(&glucose_flagged("H^High^99LAB"), true);
    let obs = resource(&bundle, "Observation").unwrap();
    assert_eq!(
        obs["interpretation"][0]["coding"],
        json!([{"code": "H", "display": "High"}])
    );
    assert!(
        report.untranslated.contains(&"OBX-8".to_string()),
        "{:?}",
        report.untranslated
    );
    // A code element: a v2.7 PID-8 (CWE) in a system of the sender's own gives no gender.
    assert_no_gender_and_pid_8_reported("F^Female^99SEX");
    let (report, bundle) = notify_with_report(adt_v27_sex("F^Female^HL70001").as_bytes(), true);
    assert_eq!(resource(&bundle, "Patient").unwrap()["gender"], "female");
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    // ORC-28 (confidentiality, table 0177) is a security label only in its table.
    let order = |orc28: &str| {
        let mut orc = vec![""; 29];
        orc[..4].copy_from_slice(&["ORC", "NW", "PO1", "FO1"]);
        orc[28] = orc28;
        let msg = format!(
            "MSH|^~\\&|EHR|H|||20240305101112-0500||ORM^O01^ORM_O01|M1|P|2.5.1\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE\r{}\rOBR|1|PO1|FO1|600-7^Culture^LN\r",
            orc.join("|")
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let security = resource(&bundle, "ServiceRequest").unwrap()["meta"]["security"].clone();
        (security, report.untranslated)
    };
    let (security, untranslated) = order("V^Very restricted^HL70177");
    assert_eq!(security[0]["code"], "V", "{untranslated:?}");
    let (security, untranslated) = order("V^Very restricted^99CONF");
    assert!(security.is_null(), "{security}");
    assert!(
        untranslated.contains(&"ORC-28".to_string()),
        "{untranslated:?}"
    );
}

#[test]
fn a_local_code_is_translated_by_its_alternate_code_of_the_table() {
    // The lab's own H, with the table's H as its alternate (CWE.4 in the system CWE.6).
    let (report, bundle) =
        notify_with_report(&glucose_flagged("H^High^99LAB^H^High^HL70078"), true);
    let obs = resource(&bundle, "Observation").unwrap();
    let codings = obs["interpretation"][0]["coding"].as_array().unwrap();
    assert!(
        codings.contains(&json!({
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "code": "H",
            "display": "High"
        })),
        "{codings:?}"
    );
    assert!(
        codings.contains(&json!({"code": "H", "display": "High"})),
        "{codings:?}"
    );
    assert!(
        !report.untranslated.contains(&"OBX-8".to_string()),
        "{:?}",
        report.untranslated
    );
    // An alternate of another local system, or one whose system is not named, says nothing of
    // the table: kept as sent, and reported.
    for flag in ["H^High^99LAB^HI^High^99LAB2", "H^High^99LAB^H^High"] {
        let (report, bundle) = notify_with_report(&glucose_flagged(flag), true);
        let obs = resource(&bundle, "Observation").unwrap();
        let codings = obs["interpretation"][0]["coding"].as_array().unwrap();
        assert!(
            codings.iter().all(|c| c
                .get("system")
                .is_none_or(|s| !s.as_str().unwrap().contains("ObservationInterpretation"))),
            "{flag}: {codings:?}"
        );
        assert!(
            report.untranslated.contains(&"OBX-8".to_string()),
            "{flag}: {:?}",
            report.untranslated
        );
    }
    // A code element (v2.7 PID-8, CWE): the alternate of table 0001 gives the gender.
    let (report, bundle) = notify_with_report(
        adt_v27_sex("W^Woman^99SEX^F^Female^HL70001").as_bytes(),
        true,
    );
    assert_eq!(resource(&bundle, "Patient").unwrap()["gender"], "female");
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    assert_no_gender_and_pid_8_reported("W^Woman^99SEX^F^Female^99SEX2");
}

/// The Observation an ORU^R01 of one structured numeric result (`sn`, in units `units`) gives,
/// and what `--explain` says of it.
fn structured_numeric(sn: &str, units: &str) -> (Report, Value) {
    let msg = format!(
        "MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|24357-6^Urinalysis^LN\r\
OBX|1|SN|2888-6^Protein^LN||{sn}|{units}|||||F\r"
    );
    let (report, bundle) = notify_with_report(msg.as_bytes(), true);
    (report, resource(&bundle, "Observation").unwrap().clone())
}

#[test]
fn a_not_equal_comparator_is_the_structured_numerics_text_and_units() {
    // No Quantity says "not equal to": the IG writes the components and the units as a string.
    let (report, obs) = structured_numeric("<>^5", "mg/dL^^UCUM");
    assert_eq!(obs["valueString"], "<> 5 mg/dL");
    assert!(obs.get("valueQuantity").is_none() && obs.get("valueRange").is_none());
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    // The units' coding system (OBX-6.3, UCUM) has no place in a string: listed as no row's.
    let obx: Vec<&String> = report
        .unmapped
        .iter()
        .filter(|u| u.starts_with("OBX-5") || u.starts_with("OBX-6"))
        .collect();
    assert_eq!(obx, ["OBX-6.3"]);
    // Whatever its separator.
    let (_, obs) = structured_numeric("<>^1^:^2", "");
    assert_eq!(obs["valueString"], "<> 1 : 2");
    // Units sent as text alone.
    let (_, obs) = structured_numeric("<>^5", "^milligrams per deciliter");
    assert_eq!(obs["valueString"], "<> 5 milligrams per deciliter");
}

#[test]
fn a_plus_suffix_is_the_structured_numerics_text() {
    // `^2^+` is a grade, "2+": no number FHIR could hold says it.
    let (report, obs) = structured_numeric("^2^+", "");
    assert_eq!(obs["valueString"], "2 +");
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let (_, obs) = structured_numeric(">^1^+", "g/L^^UCUM");
    assert_eq!(obs["valueString"], "> 1 + g/L");
    // A range is still a Range.
    let (_, obs) = structured_numeric("^5^-^10", "mg/dL^^UCUM");
    assert_eq!(obs["valueRange"]["low"]["value"], 5);
    assert_eq!(obs["valueRange"]["high"]["value"], 10);
}

#[test]
fn a_range_keeps_its_text_and_a_comparator_in_its_original_text() {
    // As the IG's SN[Range] map has it: the bounds and units are the Range's, and the comparator,
    // which a Range cannot hold, stays in the original text.
    let (report, obs) = structured_numeric(">^1^-^5", "mg/dL^^UCUM");
    let bound = |n: i64| json!({"value": n, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"});
    assert_eq!(
        obs["valueRange"],
        json!({
            "low": bound(1),
            "high": bound(5),
            "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/originalText",
                "valueString": "> 1 - 5"
            }]
        })
    );
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    assert!(
        !report.unmapped.contains(&"OBX-6".to_string()),
        "{:?}",
        report.unmapped
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // The IG keeps the text of every range (its separator is valued), with or without a
    // comparator.
    let text = |t: &str| json!([{"url": "http://hl7.org/fhir/StructureDefinition/originalText", "valueString": t}]);
    for (sn, kept) in [
        ("=^1^-^5", "= 1 - 5"),
        ("^1^-^5", "1 - 5"),
        ("^+01.50^-^5", "+01.50 - 5"),
        ("^^-^5", "- 5"),
    ] {
        let (report, obs) = structured_numeric(sn, "");
        assert_eq!(obs["valueRange"]["extension"], text(kept), "{sn}");
        assert_eq!(obs["valueRange"]["high"], json!({"value": 5}), "{sn}");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

/// The Observation an ORU^R01 of one result with value `obx5` (type ST) and status `obx11`
/// gives.
fn result_with_status(obx5: &str, obx11: &str) -> Value {
    let msg = format!(
        "MSH|^~\\&|LAB|L|EHR|H|20240115083015-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r\
PID|1||M1^^^H^MR||DOE^JANE\rOBR|1||F1|24357-6^Urinalysis^LN\r\
OBX|1|ST|5778-6^Color of Urine^LN||{obx5}||||||{obx11}\r"
    );
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    resource(&bundle, "Observation").unwrap().clone()
}

#[test]
fn a_result_not_asked_is_absent_for_that_reason_and_one_not_obtained_keeps_its_code() {
    let not_asked = result_with_status("", "N");
    assert_eq!(not_asked["status"], "unknown");
    assert_eq!(
        not_asked["dataAbsentReason"]["coding"],
        json!([{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-asked"}])
    );
    // FHIR allows no dataAbsentReason beside a value (obs-6).
    let valued = result_with_status("Yellow", "N");
    assert_eq!(valued["valueString"], "Yellow");
    assert!(valued.get("dataAbsentReason").is_none(), "{valued}");
    // X is cancelled, its own code kept beside the status.
    let cancelled = result_with_status("", "X");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        cancelled["_status"]["extension"][0],
        json!({
            "url": "http://hl7.org/fhir/StructureDefinition/alternate-codes",
            "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0085", "code": "X"}]}
        })
    );
    assert!(cancelled.get("dataAbsentReason").is_none());
    let final_result = result_with_status("Yellow", "F");
    assert!(
        final_result.get("_status").is_none() && final_result.get("dataAbsentReason").is_none()
    );
}

#[test]
fn a_name_validity_range_is_the_period_when_no_effective_or_expiration_date_is_sent() {
    // XPN.10 (a DR, withdrawn in favour of XPN.12 and XPN.13) gives the period only where
    // those are not valued, as the IG says.
    let msg = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A28^ADT_A05|X1|P|2.5.1\r\
        EVN|A28|20260101120000\r\
        PID|1||123^^^HOSP^MR||Berg^Anna^^^^^L^^^20200101&20251231~Smith^Anna^^^^^M^^^19900101&19991231^^20000101\r\
        PV1|1|N\r";
    let (_, bundle) = notify_with_report(msg, false);
    let names = &resource(&bundle, "Patient").unwrap()["name"];
    assert_eq!(
        names[0]["period"],
        json!({"start": "2020-01-01", "end": "2025-12-31"})
    );
    assert_eq!(names[1]["period"], json!({"start": "2000-01-01"}));
}

#[test]
fn a_telephone_numbers_parts_are_the_contact_points_extensions_beside_its_value() {
    // As the IG's XTN[ContactPoint] map has it: country code, area code, local number and
    // extension (XTN.5 to XTN.8) each in the ContactPoint's extension for it; the value is the
    // number they make.
    let msg = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A28^ADT_A05|X1|P|2.5.1\r\
        EVN|A28|20260101120000\r\
        PID|1||123^^^HOSP^MR||Berg^Anna||||||||^PRN^PH^^1^555^1234567^89~^NET^Internet^anna@example.org^^^7654321\r\
        PV1|1|N\r";
    let (report, bundle) = notify_with_report(msg, true);
    let telecom = &resource(&bundle, "Patient").unwrap()["telecom"];
    let ext = |url: &str, value: &str| json!({"url": format!("http://hl7.org/fhir/StructureDefinition/contactpoint-{url}"), "valueString": value});
    assert_eq!(telecom[0]["value"], "+1 (555) 1234567 ext. 89");
    assert_eq!(
        telecom[0]["extension"],
        json!([
            ext("country", "1"),
            ext("area", "555"),
            ext("local", "1234567"),
            ext("extension", "89")
        ])
    );
    // An e-mail address has no local number, whatever XTN.7 holds.
    assert_eq!(telecom[1]["value"], "anna@example.org");
    assert!(telecom[1].get("extension").is_none(), "{}", telecom[1]);
    assert!(
        report.unmapped.iter().all(|u| !u.starts_with("PID-13")),
        "{:?}",
        report.unmapped
    );
}

#[test]
fn a_street_addresss_street_name_and_dwelling_number_are_lines_of_their_own() {
    // As the IG's SAD[Address] map has it: the street or mailing address (SAD.1), the street
    // name (SAD.2) and the dwelling number (SAD.3) are the address's first lines, in that order,
    // then the other designation (XAD.2).
    let msg = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A28^ADT_A05|X1|P|2.5.1\r\
        EVN|A28|20260101120000\r\
        PID|1||123^^^HOSP^MR||Berg^Anna||||||&Street Road&123^Appt 55^Town~Main St 1^Apt 4\r\
        PV1|1|N\r";
    let (_, bundle) = notify_with_report(msg, false);
    let address = &resource(&bundle, "Patient").unwrap()["address"];
    assert_eq!(address[0]["line"], json!(["Street Road", "123", "Appt 55"]));
    assert_eq!(address[0]["city"], "Town");
    assert_eq!(address[1]["line"], json!(["Main St 1", "Apt 4"]));
}

#[test]
fn a_mothers_identifier_is_a_related_person_the_patients_mother() {
    // As the IG maps PID-21 (CX[RelatedPerson-Mother]): one RelatedPerson whose patient is the
    // newborn, identified by every repetition, its relationship MTH.
    let msg = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|X1|P|2.5.1\r\
        EVN|A01|20260101120000\r\
        PID|1||NB1^^^HOSP^MR||Berg^Baby|||F|||||||||||||M77^^^HOSP^MR~123456789^^^SSA^SS\r\
        PV1|1|I||||||||||||||||V1\r";
    let (report, bundle) = notify_with_report(msg, true);
    let mothers = resources(&bundle, "RelatedPerson");
    assert_eq!(mothers.len(), 1, "{bundle}");
    let mother = mothers[0];
    let patient_url = full_urls(&bundle, "Patient");
    assert_eq!(mother["patient"]["reference"], patient_url[0]);
    assert_eq!(
        mother["relationship"],
        json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH", "display": "mother"}]}])
    );
    let values: Vec<&str> = mother["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["M77", "123456789"]);
    assert!(
        report.unmapped.iter().all(|u| !u.starts_with("PID-21")),
        "{:?}",
        report.unmapped
    );
    // Without PID-21 there is no mother.
    let without = String::from_utf8_lossy(msg).replace("M77^^^HOSP^MR~123456789^^^SSA^SS", "");
    let (_, bundle) = notify_with_report(without.as_bytes(), false);
    assert!(resources(&bundle, "RelatedPerson").is_empty());
}

#[test]
fn a_names_assembly_order_is_its_humanname_assembly_order_extension() {
    // As the IG's XPN[HumanName] map has it, through its concept map NameAssemblyOrder (table
    // 0444 codes, kept in their v2-0444 system); a code the table lacks is reported.
    let msg = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A28^ADT_A05|X1|P|2.5.1\r\
        EVN|A28|20260101120000\r\
        PID|1||123^^^HOSP^MR||Berg^Anna^^^^^L^^^^F~Berg^Anna^^^^^M^^^^Q\r\
        PV1|1|N\r";
    let (report, bundle) = notify_with_report(msg, true);
    let names = &resource(&bundle, "Patient").unwrap()["name"];
    assert_eq!(
        names[0]["extension"],
        json!([{"url": "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order", "valueCode": "F"}])
    );
    assert!(names[1].get("extension").is_none(), "{}", names[1]);
    assert_eq!(report.untranslated.len(), 1, "{:?}", report.untranslated);
    assert!(
        report.untranslated[0].contains("PID-5[2].11"),
        "{:?}",
        report.untranslated
    );
}

#[test]
fn a_receiving_facility_sent_without_a_receiving_application_is_the_destinations_receiver() {
    // The guide maps MSH-6 to destination.receiver whenever MSH-23 is not sent; the endpoint
    // FHIR requires is then unknown, as the source's is without MSH-3.
    let msg = b"MSH|^~\\&|ADT1|GHH||RCVFAC|20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert!(
        !report.unmapped.contains(&"MSH-6".to_string()),
        "{:?}",
        report.unmapped
    );
    let header = resource(&bundle, "MessageHeader").unwrap();
    let destination = &header["destination"][0];
    assert_eq!(destination["endpoint"], "mllp://unknown");
    assert!(destination.get("name").is_none(), "{destination}");
    let organization = referenced(&bundle, &destination["receiver"]).unwrap();
    assert_eq!(organization["identifier"][0]["value"], "RCVFAC");

    // Without a receiving facility or organization there is no destination to speak of.
    let bare = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\r";
    let (_, bundle) = notify_with_report(bare, true);
    assert!(
        resource(&bundle, "MessageHeader")
            .unwrap()
            .get("destination")
            .is_none()
    );
}

#[test]
fn the_bed_status_is_the_operational_status_of_the_assigned_beds_location() {
    // PV1-40 (table 0116) is Location.operationalStatus of PV1-3's Location when PV1-3 names a
    // room or a bed, as the guide's PV1[Encounter] map says; a location without either (a
    // ward alone) gets none, and PV1-40 is then reported.
    let status = |pv1_3: &str| {
        let mut pv1 = vec![""; 41];
        (pv1[0], pv1[1], pv1[2], pv1[3]) = ("PV1", "1", "I", pv1_3);
        (pv1[19], pv1[40]) = ("VN1", "K");
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\r{}\r",
            pv1.join("|")
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let location = resource(&bundle, "Location").unwrap().clone();
        (report.unmapped.contains(&"PV1-40".to_string()), location)
    };
    let (unmapped, location) = status("4E^401^B");
    assert!(!unmapped);
    assert_eq!(
        location["operationalStatus"],
        json!({"system": "http://terminology.hl7.org/CodeSystem/v2-0116", "code": "K", "display": "Contaminated"})
    );
    let (unmapped, location) = status("4E");
    assert!(unmapped);
    assert!(location.get("operationalStatus").is_none(), "{location}");
}

#[test]
fn rows_naming_fhir_elements_in_conditions_or_the_id_are_checked_at_load() {
    // A FHIR element in a condition is read backwards only; a row targeting `id` names a key
    // component and nothing else; either, misspelt or misplaced, names its file and line.
    let file = "datatypes/PL[Location-Room].csv";
    let fails_with = |from: &str, to: &str, why: &str| {
        let mut tables = TableSet::embedded();
        let map = tables.get(file).unwrap().replace(from, to);
        let line = map.lines().position(|l| l.starts_with(to)).unwrap() + 1;
        tables.insert(file, &map);
        let e = Engine::new(&tables, EngineOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), format!("{file}:{line}: {why}"), "{to}");
    };
    fails_with(
        "2,physicalType.coding[1].code = 'ro',name,,,,reverse",
        "2,physicalType.coding[1].code = 'ro',name,,,,both",
        "a condition on a FHIR element is read backwards only: mark the row reverse",
    );
    fails_with(
        "2,physicalType.coding[1].code = 'ro',name,,,,reverse",
        "2,physicalTyp.coding[1].code = 'ro',name,,,,reverse",
        "`physicalTyp.coding[1].code`: Location has no element `physicalTyp`",
    );
    fails_with(
        "2,,id,,,,forward",
        "2,,id,,,room,forward",
        "a row targeting `id` names a component that identifies the resource: a component alone, forward, with no type or value",
    );
    let mut tables = TableSet::embedded();
    let map = tables.get("segments/PV1[Encounter].csv").unwrap().replace(
        "PV1-3,,location[1].location",
        "PV1-3,status = 'x',location[1].location",
    );
    tables.insert("segments/PV1[Encounter].csv", &map);
    let e = Engine::new(&tables, EngineOptions::default()).unwrap_err();
    assert!(
        e.to_string().ends_with(
            "`status`: a FHIR element in a condition is for data type maps' reverse rows"
        ),
        "{e}"
    );
}

#[test]
fn a_segments_field_in_a_data_type_map_must_run_forward_only() {
    // Writeback fills a data type from the element alone, so a row reading another field of
    // the segment has no way back.
    let mut tables = TableSet::embedded();
    let map = tables
        .get("datatypes/PL[Location-Bed].csv")
        .unwrap()
        .replace(",BedStatus,,forward", ",BedStatus,,");
    tables.insert("datatypes/PL[Location-Bed].csv", &map);
    let e = Engine::new(&tables, EngineOptions::default()).unwrap_err();
    let line = map.lines().position(|l| l.starts_with("PV1-40,")).unwrap() + 1;
    assert_eq!(
        e.to_string(),
        format!(
            "datatypes/PL[Location-Bed].csv:{line}: `PV1-40`: a segment's field in a data type map runs forward only: mark the row forward"
        )
    );
}

#[test]
fn the_country_code_is_the_sending_organizations_address_country() {
    // MSH-17 (table 0399, ISO 3166 alpha-3) is the country of the sender's address, as the
    // guide's MSH map has it; a code its CountryCode map lacks is left out and reported.
    let country = |msh17: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1|||AL|NE|{msh17}\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let header = resource(&bundle, "MessageHeader").unwrap();
        let organization = referenced(&bundle, &header["sender"]).unwrap().clone();
        (report, organization)
    };
    let (report, organization) = country("USA");
    assert!(
        !report.unmapped.contains(&"MSH-17".to_string()),
        "{:?}",
        report.unmapped
    );
    assert_eq!(organization["identifier"][0]["value"], "GHH");
    assert_eq!(organization["address"], json!([{"country": "USA"}]));
    let (report, organization) = country("764");
    assert!(organization.get("address").is_none(), "{organization}");
    assert!(
        report.untranslated.contains(&"MSH-17".to_string()),
        "{:?}",
        report.untranslated
    );
}

#[test]
fn the_insurance_company_address_is_the_payors_address() {
    // IN1-5 is the address of the Organization IN1-4 makes, the Coverage's payor, as the
    // guide's IN1[Coverage] map puts it.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rIN1|1|PLAN1|INS01|Blue Cross|456 Blue Cross Lane^^Spokane^WA^99202\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert!(
        !report.unmapped.contains(&"IN1-5".to_string()),
        "{:?}",
        report.unmapped
    );
    let coverage = resource(&bundle, "Coverage").unwrap();
    let organization = referenced(&bundle, &coverage["payor"][0]).unwrap();
    assert_eq!(organization["name"], "Blue Cross");
    assert_eq!(
        organization["address"],
        json!([{"line": ["456 Blue Cross Lane"], "city": "Spokane", "state": "WA", "postalCode": "99202"}])
    );
}

#[test]
fn a_maps_variant_repeats_its_bases_rows_unchanged() {
    // The sender's Organization, the payor, the assigned bed's Location and the place a vaccine
    // was given are their base map and a row that reads another field of the segment: the base's rows are repeated, and must
    // stay what the base says, or the variant would translate the same value otherwise.
    let rows = |name: &str| -> Vec<String> {
        let path = format!(
            "{}/mappings/datatypes/{name}.csv",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    for (base, variant) in [
        ("HD[Organization]", "HD[Organization-Sender]"),
        ("XON[Organization]", "XON[Organization-Payor]"),
        ("XON[Organization]", "XON[Organization-Employer]"),
        ("PL[Location]", "PL[Location-Bed]"),
        ("PL[Location]", "PL[Location-AdministeredAt]"),
    ] {
        let (base_rows, variant_rows) = (rows(base), rows(variant));
        assert!(
            variant_rows.starts_with(&base_rows),
            "{variant} no longer begins with the rows of {base}"
        );
    }
}

#[test]
fn the_administered_at_address_is_the_address_of_the_immunizations_location() {
    // RXA-28 is the address of the Location RXA-27 makes, as the guide's RXA map has it; sent
    // alone, it makes a Location known by that address.
    let immunization_location = |rxa27: &str, rxa28: &str| {
        let msg = format!(
            "MSH|^~\\&|IIS|CLINIC|||20260504||VXU^V04^VXU_V04|M1|P|2.6\rPID|1||MRN1^^^CLINIC^MR||DOE^JANE\rORC|RE||IZ-1\rRXA|0|1|20260504||141^Influenza, seasonal, injectable^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|||||||||||CP|A||||||{rxa27}|{rxa28}\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let immunization = resource(&bundle, "Immunization").unwrap();
        let location = referenced(&bundle, &immunization["location"]).cloned();
        (report, location)
    };
    let address = json!([{"line": ["123 Vaccine Lane"], "city": "Ann Arbor", "state": "MI", "postalCode": "99999", "country": "USA"}]);
    let (report, location) = immunization_location(
        "FLU CLINIC^^^^^^^^Drive-in clinic",
        "123 Vaccine Lane^^Ann Arbor^MI^99999^USA",
    );
    let location = location.unwrap();
    assert_eq!(location["name"], "FLU CLINIC");
    assert_eq!(location["address"], address[0]);
    assert!(
        !report.unmapped.contains(&"RXA-28".to_string()),
        "{:?}",
        report.unmapped
    );
    let (report, location) = immunization_location("", "123 Vaccine Lane^^Ann Arbor^MI^99999^USA");
    let location = location.unwrap();
    assert!(location.get("name").is_none(), "{location}");
    assert_eq!(location["address"], address[0]);
    assert!(
        !report.unmapped.contains(&"RXA-28".to_string()),
        "{:?}",
        report.unmapped
    );
    // Without either, the Immunization names no location.
    let (_, location) = immunization_location("", "");
    assert!(location.is_none());
}

#[test]
fn the_name_a_person_is_called_by_is_a_nickname_of_its_own() {
    // XPN.15 (called by, from v2.7) is a second HumanName, its given name with use nickname,
    // as the guide's XPN map has it for an element that holds several names, after the names
    // the field sends; a name sent without it adds nothing.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.7\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^ELIZABETH^^^^^L^^^^^^^^Beth~SMITH^ELIZABETH^^^^^M\rNK1|1|DOE^ROBERT^^^^^L^^^^^^^^Bob|SPO^Spouse^HL70063\rPV1|1|I\r";
    let (report, bundle) = notify_with_report(msg, true);
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["name"],
        json!([
            {"family": "DOE", "given": ["ELIZABETH"], "use": "official"},
            {"family": "SMITH", "given": ["ELIZABETH"], "use": "maiden"},
            {"given": ["Beth"], "use": "nickname"}
        ])
    );
    let related = resource(&bundle, "RelatedPerson").unwrap();
    assert_eq!(
        related["name"],
        json!([
            {"family": "DOE", "given": ["ROBERT"], "use": "official"},
            {"given": ["Bob"], "use": "nickname"}
        ])
    );
    assert_read(&report, "PID-5");
}

#[test]
fn a_practitioners_name_period_assembly_order_and_professional_suffix_are_the_names() {
    // XCN.19/.20 (else the withdrawn range XCN.17), XCN.18 and XCN.21 are read as XPN.12/.13,
    // XPN.11 and XPN.14 are; an address's withdrawn range (XAD.12) is its period when XAD.13
    // and XAD.14 are not sent.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE||||||123 MAIN ST^^ANN ARBOR^MI^48104^USA^H^^^^^20200101&20251231\rPV1|1|I|||||004777^ATTEND^AARON^A^^DR^^^^L^^^^^^^^G^20200101^20301231^FACP|004888^REFER^RITA^^^DR^^^^^^^^^^^20190101&20291231\r";
    let (report, bundle) = notify_with_report(msg, true);
    let name_of = |family: &str| {
        resources(&bundle, "Practitioner")
            .into_iter()
            .find(|p| p["name"][0]["family"] == family)
            .unwrap()["name"][0]
            .clone()
    };
    assert_eq!(
        name_of("ATTEND"),
        json!({"family": "ATTEND", "given": ["AARON", "A"], "prefix": ["DR"], "use": "official",
            "period": {"start": "2020-01-01", "end": "2030-12-31"},
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order", "valueCode": "G"}],
            "suffix": ["FACP"]})
    );
    assert_eq!(
        name_of("REFER")["period"],
        json!({"start": "2019-01-01", "end": "2029-12-31"})
    );
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["address"][0]["period"],
        json!({"start": "2020-01-01", "end": "2025-12-31"})
    );
    assert!(
        report.unmapped.iter().all(|f| !f.starts_with("PV1-7")
            && !f.starts_with("PV1-8")
            && !f.starts_with("PID-11")),
        "{:?}",
        report.unmapped
    );
}

/// An ADT^A01 with a next of kin and the IN1 segments given, each its fields from IN1-1 on.
fn admit_with_insurance(in1s: &[&[(usize, &str)]]) -> Vec<u8> {
    let mut msg = String::from(
        "MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|F\rNK1|1|DOE^JOHN|BRO^Brother^HL70063\rPV1|1|I\r",
    );
    for (n, fields) in in1s.iter().enumerate() {
        let mut in1 = vec![String::new(); 44];
        in1[0] = "IN1".into();
        in1[1] = (n + 1).to_string();
        in1[2] = "PLAN1".into();
        in1[3] = "INS1".into();
        in1[4] = "Acme Insurance".into();
        for &(i, v) in *fields {
            in1[i] = v.into();
        }
        msg.push_str(in1.join("|").trim_end_matches('|'));
        msg.push('\r');
    }
    msg.into_bytes()
}

#[test]
fn an_insured_who_is_the_patient_is_the_coverages_subscriber() {
    // As the IG's IN1[Coverage] map has it: IN1-17 SEL (table 0063, Self) makes the Patient the
    // subscriber, and no RelatedPerson is made of the insured; the insured's name, the
    // Patient's own, is not translated and is reported.
    let msg = admit_with_insurance(&[&[(16, "DOE^JANE"), (17, "SEL^Self^HL70063")]]);
    let (report, bundle) = notify_with_report(&msg, true);
    let coverage = resource(&bundle, "Coverage").unwrap();
    let patient = full_urls(&bundle, "Patient");
    assert_eq!(
        coverage["subscriber"]["reference"], patient[0],
        "{coverage}"
    );
    assert_eq!(coverage["beneficiary"]["reference"], patient[0]);
    // The one RelatedPerson is the next of kin's.
    let related = resources(&bundle, "RelatedPerson");
    assert_eq!(related.len(), 1, "{bundle}");
    assert_eq!(related[0]["name"][0]["family"], "DOE");
    assert_eq!(related[0]["name"][0]["given"], json!(["JOHN"]));
    assert!(
        report.unmapped.contains(&"IN1-16".to_string()),
        "{:?}",
        report.unmapped
    );
}

#[test]
fn an_insured_who_is_not_the_patient_is_a_related_person_the_subscriber() {
    // Any other relationship makes the insured a RelatedPerson of the patient, filled from the
    // insured's fields, and the Coverage's subscriber. Each IN1 names its own insured: the first
    // Coverage's subscriber is the Patient, the second's the RelatedPerson of its own IN1,
    // never the next of kin's.
    let msg = admit_with_insurance(&[
        &[(17, "SEL^Self^HL70063")],
        &[
            (16, "ROE^RICHARD^Q"),
            (17, "SPO^Spouse^HL70063"),
            (18, "19680412"),
            (19, "12 ELM ST^^SPOKANE^WA^99201^USA^H"),
            (43, "M"),
        ],
    ]);
    let (report, bundle) = notify_with_report(&msg, true);
    let coverages = resources(&bundle, "Coverage");
    assert_eq!(coverages.len(), 2, "{bundle}");
    let patient = full_urls(&bundle, "Patient");
    assert_eq!(coverages[0]["subscriber"]["reference"], patient[0]);
    let related = resources(&bundle, "RelatedPerson");
    let related_urls = full_urls(&bundle, "RelatedPerson");
    assert_eq!(related.len(), 2, "{bundle}");
    let (k, insured) = related
        .iter()
        .enumerate()
        .find(|(_, r)| r["name"][0]["family"] == "ROE")
        .unwrap();
    assert_eq!(coverages[1]["subscriber"]["reference"], related_urls[k]);
    assert_eq!(coverages[1]["beneficiary"]["reference"], patient[0]);
    assert_eq!(insured["patient"]["reference"], patient[0]);
    assert_eq!(
        insured["name"],
        json!([{"family": "ROE", "given": ["RICHARD", "Q"]}])
    );
    assert_eq!(
        insured["relationship"][0]["coding"][1],
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SPS", "display": "spouse"})
    );
    assert_eq!(insured["birthDate"], "1968-04-12");
    assert_eq!(insured["gender"], "male");
    assert_eq!(
        insured["address"],
        json!([{"line": ["12 ELM ST"], "city": "SPOKANE", "state": "WA", "postalCode": "99201", "country": "USA", "use": "home"}])
    );
    // The Coverage keeps the relationship too, as the IG maps IN1-17 there.
    assert_eq!(coverages[1]["relationship"]["coding"][1]["code"], "SPS");
    for f in ["IN1-16", "IN1-17", "IN1-18", "IN1-19", "IN1-43"] {
        assert!(
            !report
                .unmapped
                .iter()
                .any(|u| u == f || u.starts_with(&format!("{f}."))),
            "{f}: {:?}",
            report.unmapped
        );
    }
    // An IN1 that says nothing of the insured has no subscriber.
    let msg = admit_with_insurance(&[&[]]);
    let (_, bundle) = notify_with_report(&msg, false);
    let coverage = resource(&bundle, "Coverage").unwrap();
    assert!(coverage.get("subscriber").is_none(), "{coverage}");
    assert_eq!(resources(&bundle, "RelatedPerson").len(), 1, "{bundle}");
}

#[test]
fn the_insured_group_employer_id_is_an_identifier_of_the_policy_holder() {
    // IN1-10 is an identifier of the Organization IN1-11 makes, the Coverage's policy holder,
    // as the guide's IN1[Coverage] map puts it.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rIN1|1|PLAN1|INS01|Blue Cross||||||EMP-4471^^^ACME&2.16.840.1.113883.19.77&ISO^EI|ACME WIDGETS\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert_read(&report, "IN1-10");
    let coverage = resource(&bundle, "Coverage").unwrap();
    let employer = referenced(&bundle, &coverage["policyHolder"]).unwrap();
    assert_eq!(employer["name"], "ACME WIDGETS");
    assert_eq!(employer["identifier"][0]["value"], "EMP-4471");
    assert_eq!(
        employer["identifier"][0]["system"],
        "urn:oid:2.16.840.1.113883.19.77"
    );
}

#[test]
fn the_addressee_is_the_last_line_of_the_address() {
    // XAD.19 (addressee) is an address line, after the street lines, as the guide's XAD map
    // has it.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.7\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE||||||111 1st Street^Suite #1^Minneapolis^MN^55401^USA^H^^^^^^^^^^^^c/o John Roe\rPV1|1|I\r";
    let (report, bundle) = notify_with_report(msg, true);
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        patient["address"][0]["line"],
        json!(["111 1st Street", "Suite #1", "c/o John Roe"])
    );
    assert_read(&report, "PID-11");
}

#[test]
fn a_health_plans_alternate_identifier_is_an_identifier_of_the_coverage() {
    // IN1-2's alternate identifier (CWE.4) is a second Identifier, as the guide's
    // CWE[Identifier] map has it; a plan sent without one adds nothing.
    let coverage_identifiers = |in1_2: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rIN1|1|{in1_2}|INS01|Blue Cross\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let coverage = resource(&bundle, "Coverage").unwrap();
        (report, coverage["identifier"].clone())
    };
    let (report, identifiers) = coverage_identifiers("GOLD^Gold Plan^L^HP-4471");
    assert_eq!(
        identifiers,
        json!([{"value": "GOLD"}, {"value": "HP-4471"}])
    );
    assert_read(&report, "IN1-2");
    let (_, identifiers) = coverage_identifiers("GOLD^Gold Plan^L");
    assert_eq!(identifiers, json!([{"value": "GOLD"}]));
}

#[test]
fn explain_names_the_components_beside_one_a_row_reads_by_its_path() {
    // A row reading one component by its path (PID-6.1.1, the mother's maiden surname) looks
    // into the field as a data type map does: the given name beside it is listed as no row's,
    // while the message type, trigger and structure routing read are not.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE||||||||||||||||||||\rPV1|1|I\r";
    let (report, _) = notify_with_report(msg, true);
    assert_read(&report, "MSH-9");
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE|SMITH^MARY\rPV1|1|I\r";
    let (report, bundle) = notify_with_report(msg, true);
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(patient["extension"][0]["valueString"], "SMITH", "{patient}");
    let pid6: Vec<&String> = report
        .unmapped
        .iter()
        .filter(|f| f.starts_with("PID-6"))
        .collect();
    assert_eq!(pid6, ["PID-6.2"]);
}

#[test]
fn a_snomed_ct_allergy_severity_gives_the_criticality_the_igs_map_gives_it() {
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rAL1|1|DA|70618^Penicillin^RXNORM|24484000^Severe^SCT\rAL1|2|DA|2670^Codeine^RXNORM|6736007^Moderate^SCT\rAL1|3|DA|7980^Penicillin G^RXNORM|255604002^Mild^SCT\r";
    let (report, bundle) = notify_with_report(msg, true);
    let criticality: Vec<&Value> = resources(&bundle, "AllergyIntolerance")
        .iter()
        .map(|a| &a["criticality"])
        .collect();
    assert_eq!(criticality, [&json!("high"), &Value::Null, &json!("low")]);
    // Moderate has no target in the map: reported, not guessed.
    assert_eq!(report.untranslated, ["AL1[2]-4"]);
}

#[test]
fn a_responsible_observer_is_a_performer_in_that_role() {
    let msg = b"MSH|^~\\&|LAB|GHH|||20260301||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rOBR|1||F1|24331-1^Lipid panel^LN|||20260301\rOBX|1|NM|2093-3^Cholesterol^LN||190|mg/dL^^UCUM|||||F|||20260301||1234^SMITH^ANNA^^^DR^^^NPI\rOBX|2|NM|2571-8^Triglyceride^LN||120|mg/dL^^UCUM|||||F|||20260301||1234^SMITH^ANNA^^^DR^^^NPI\r";
    let (report, bundle) = notify_with_report(msg, true);
    assert_read(&report, "OBX-16");
    let observations = resources(&bundle, "Observation");
    let performers: Vec<&Value> = observations.iter().map(|o| &o["performer"]).collect();
    // One role for the one observer of both results.
    assert_eq!(performers[0], performers[1]);
    let role = referenced(&bundle, &performers[0][0]).unwrap();
    assert_eq!(role["resourceType"], "PractitionerRole");
    assert_eq!(
        role["code"],
        json!([{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0912",
            "code": "RO",
            "display": "Responsible Observer"
        }]}])
    );
    let practitioner = referenced(&bundle, &role["practitioner"]).unwrap();
    assert_eq!(practitioner["name"][0]["family"], "SMITH");
    assert_eq!(resources(&bundle, "PractitionerRole").len(), 1);
}

#[test]
fn a_county_is_the_districts_text_never_its_components_run_together() {
    let district = |xad9: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.7\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE||||||1 Main St^^Boston^MA^02118^USA^H^^{xad9}\rPV1|1|I\r"
        );
        let (_, bundle) = notify_with_report(msg.as_bytes(), false);
        resource(&bundle, "Patient").unwrap()["address"][0]["district"].clone()
    };
    // v2.7 and later: a CWE, whose text names the county.
    assert_eq!(district("25025&Suffolk County&FIPS6_4"), "Suffolk County");
    assert_eq!(
        district("25025&Suffolk&FIPS6_4&&&&&&Suffolk County, MA"),
        "Suffolk County, MA"
    );
    // Before v2.7: an IS, the code alone.
    assert_eq!(district("25025"), "25025");
}

#[test]
fn a_next_of_kins_phone_without_a_use_is_given_none() {
    // NK1-5 is "phone number", not "home phone" (PID-13's): only XTN.2 says what it is.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rNK1|1|DOE^JOHN|SPO^Spouse^HL70063||^^PH^^^617^5550100~^PRN^PH^^^617^5550101|^^PH^^^617^5550102\rPV1|1|I\r";
    let (_, bundle) = notify_with_report(msg, false);
    let uses = |telecom: &Value| -> Vec<Value> {
        telecom
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["use"].clone())
            .collect()
    };
    let person = resource(&bundle, "RelatedPerson").unwrap();
    assert_eq!(
        uses(&person["telecom"]),
        [Value::Null, json!("home"), json!("work")]
    );
    let patient = resource(&bundle, "Patient").unwrap();
    assert_eq!(
        uses(&patient["contact"][0]["telecom"]),
        [Value::Null, json!("work")]
    );
}

/// The names (and physical types) of the Location a reference names and the Locations it is
/// part of, most granular first.
fn location_chain(bundle: &Value, reference: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = referenced(bundle, reference);
    while let Some(l) = at {
        let name = l["name"].as_str().unwrap_or_default();
        names.push(match l["physicalType"]["coding"][0]["code"].as_str() {
            Some(t) => format!("{name} ({t})"),
            None => name.to_string(),
        });
        assert!(names.len() < 5, "{bundle}");
        at = referenced(bundle, &l["partOf"]);
    }
    names
}

#[test]
fn a_location_is_its_most_granular_level_part_of_the_levels_above() {
    // As the guide's PL map has it: the Encounter names the bed, the bed is part of its room
    // and the room of its point of care; without a room, the bed is part of the point of care.
    // Each level's id comes from the components that place it, so a room is one Location
    // whichever of its beds is named, and a point of care sent alone is the one above them.
    let ids = |pv1_3: &str, pv1_6: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260301||ADT^A02^ADT_A02|M1|P|2.5.1\rEVN|A02\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I|{pv1_3}|||{pv1_6}||||||||||||V1^^^GHH^VN\r"
        );
        let (_, bundle) = notify_with_report(msg.as_bytes(), false);
        let encounter = resource(&bundle, "Encounter").unwrap().clone();
        let chain = |n: usize| {
            let mut ids = Vec::new();
            let mut at = referenced(&bundle, &encounter["location"][n]["location"]);
            while let Some(l) = at {
                ids.push(l["id"].as_str().unwrap().to_string());
                at = referenced(&bundle, &l["partOf"]);
            }
            ids
        };
        let names = location_chain(&bundle, &encounter["location"][0]["location"]);
        (names, chain(0), chain(1))
    };
    let (names, now, before) = ids("4W^412^B^GHH", "4W^412^A^GHH");
    assert_eq!(names, ["B (bd)", "412 (ro)", "4W"]);
    assert_ne!(now[0], before[0], "two beds");
    assert_eq!(now[1..], before[1..], "one room, one point of care");
    let (names, now, before) = ids("4W^^C^GHH", "4W^^^GHH");
    assert_eq!(names, ["C (bd)", "4W"]);
    assert_eq!(
        now[1..],
        before[..],
        "the point of care sent alone is the one above"
    );
    let (names, now, before) = ids("4W^412^^GHH", "4W^412^^OTHER");
    assert_eq!(names, ["412 (ro)", "4W"]);
    assert_ne!(now, before, "another facility's room and point of care");
    // Places named by a description alone are told apart by it.
    let (_, now, before) = ids("^^^^^^^^Main campus", "^^^^^^^^Annex");
    assert_eq!((now.len(), before.len()), (1, 1));
    assert_ne!(now, before, "two places described");
}

#[test]
fn merging_changing_or_moving_accounts_and_visits_leaves_the_patient_as_it_is() {
    // A41 and A42 share A40's structure, and A35 A34's, and their MRG-1 names the same patient
    // as PID-3: the patient is not replaced by itself; what merges or changes is the account
    // (MRG-3) or visit (MRG-5).
    let fixture = |name: &str| {
        let path = format!(
            "{}/fixtures/v2-to-fhir/{name}.hl7",
            env!("CARGO_MANIFEST_DIR")
        );
        let (_, bundle) = notify_with_report(&std::fs::read(path).unwrap(), false);
        bundle
    };
    for (name, ty, merged) in [
        ("adt_a41_merge_account", "Account", "ACCT-6990"),
        ("adt_a42_merge_visit", "Encounter", "VN-66120"),
        ("adt_a35_change_account_number", "Account", "ACCT-7001"),
    ] {
        let bundle = fixture(name);
        let patients = resources(&bundle, "Patient");
        assert_eq!(patients.len(), 1, "{name}");
        assert!(patients[0].get("active").is_none(), "{name}");
        assert!(patients[0].get("link").is_none(), "{name}");
        let merged = resources(&bundle, ty)
            .into_iter()
            .find(|r| r["identifier"][0]["value"] == merged)
            .unwrap_or_else(|| panic!("{name}: {bundle}"));
        assert_eq!(merged["status"], "unknown");
        let focus = &resource(&bundle, "MessageHeader").unwrap()["focus"];
        assert_eq!(focus.as_array().unwrap().len(), 3, "{name}: {focus}");
    }
    // A44 moves an account, A45 a visit, to the PID's patient: its subject, and the message's
    // focus.
    for (name, ty, subject) in [
        ("adt_a44_move_account", "Account", "/subject/0"),
        ("adt_a45_move_visit", "Encounter", "/subject"),
    ] {
        let bundle = fixture(name);
        let moved = resource(&bundle, ty).unwrap();
        let patient = resource(&bundle, "Patient").unwrap();
        let reference = moved.pointer(subject).unwrap();
        assert_eq!(referenced(&bundle, reference), Some(patient), "{name}");
        let focus = &resource(&bundle, "MessageHeader").unwrap()["focus"];
        assert_eq!(focus.as_array().unwrap().len(), 1, "{name}");
        assert_eq!(referenced(&bundle, &focus[0]), Some(moved), "{name}");
    }
    // A43 moves a patient's identifiers (PID-3, MRG-1) from one person (MRG-4) to another
    // (PID-2): the Patient is the message's focus, with its new person among its identifiers,
    // and the prior person is reported.
    let (report, bundle) = fixture_with_report("adt_a43_move_patient_information");
    let patients = resources(&bundle, "Patient");
    assert_eq!(patients.len(), 1);
    assert!(patients[0].get("active").is_none(), "{bundle}");
    assert_eq!(patients[0]["identifier"][0]["value"], "PERS-2002");
    let focus = &resource(&bundle, "MessageHeader").unwrap()["focus"];
    assert_eq!(referenced(&bundle, &focus[0]), Some(patients[0]));
    assert!(report.unmapped.contains(&"MRG-4".to_string()));
    // A46 changes the patient's id (MRG-4 to PID-2): no Patient is replaced, and the prior id
    // is reported.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260305||ADT^A46^ADT_A30|M46|P|2.5.1\rEVN|A46\rPID|1|EXT-2|PATID8888^^^GHH^MR||LOPEZ^MARIA\rMRG|PATID8888^^^GHH^MR|||EXT-1\r";
    let (report, bundle) = notify_with_report(msg, true);
    let patients = resources(&bundle, "Patient");
    assert_eq!(patients.len(), 1);
    assert!(patients[0].get("active").is_none(), "{bundle}");
    assert!(
        report.unmapped.contains(&"MRG-4".to_string()),
        "{:?}",
        report.unmapped
    );
}

#[test]
fn a_v2_7_location_is_named_by_its_point_of_cares_namespace_id() {
    // v2.7 made PL.1 to PL.3 HDs: the point of care is 4E, not `4E&1.2.3.4&ISO`. Text outside
    // them keeps an `&` its sender did not escape, as before (XON.1 is an ST).
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.7\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I|4E&1.2.3.4&ISO^401&2.3.4&ISO^B&&\rIN1|1|PLAN1|INS1^^^GHH|Johnson & Johnson Health Plan\r";
    let (_, bundle) = notify_with_report(msg, false);
    let encounter = resource(&bundle, "Encounter").unwrap();
    assert_eq!(
        location_chain(&bundle, &encounter["location"][0]["location"]),
        ["B (bd)", "401 (ro)", "4E"]
    );
    assert!(
        resources(&bundle, "Organization")
            .iter()
            .any(|o| o["name"] == "Johnson & Johnson Health Plan"),
        "{bundle}"
    );
}

#[test]
fn an_administration_method_gets_the_snomed_ct_coding_the_igs_map_gives() {
    let order = |method: &str| {
        let msg = format!(
            "MSH|^~\\&|PHARMACY|RMC|EHR|RMC|20260512103010-0400||RDE^O11^RDE_O11|PH1|P|2.5.1\rPID|1||MRN1^^^RMC^MR||Okafor^Daniel\rORC|NW|RX-1^EHR|PH-1^PHARMACY\rRXO|FRM-1^Amlodipine 5 mg tablet^L|5||mg^milligram^UCUM\rRXE||55289-103-30^Norvasc 5 mg tablet^NDC|5||mg^milligram^UCUM\rRXR|PO^Oral^HL70162|||{method}\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let request = resource(&bundle, "MedicationRequest").unwrap();
        (report, request["dosageInstruction"][0]["method"].clone())
    };
    let (_, chew) = order("CH^Chew^HL70165");
    assert_eq!(
        chew["coding"][1],
        json!({"system": "http://snomed.info/sct", "code": "419747000", "display": "Chew"})
    );
    assert_eq!(chew["coding"][0]["code"], "CH");
    // A method the map gives no target is kept as sent, and reported.
    let (report, push) = order("IVP^IV Push^HL70165");
    assert_eq!(push["coding"].as_array().unwrap().len(), 1);
    assert!(
        report.untranslated.iter().any(|u| u == "RXR-4"),
        "{:?}",
        report.untranslated
    );
}

#[test]
fn a_doctors_degree_is_a_qualification_coded_by_table_0360_and_an_interpreters_a_suffix() {
    let qualification = |version: &str, xcn7: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|{version}\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I|||||111^HADDAD^SAMIR^^^Dr^{xcn7}\r"
        );
        let (_, bundle) = notify_with_report(msg.as_bytes(), false);
        resource(&bundle, "Practitioner").unwrap()["qualification"][0]["code"].clone()
    };
    let coded = |text: &str| {
        json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360",
            "code": "MD", "display": "Doctor of Medicine"}], "text": text})
    };
    assert_eq!(qualification("2.5.1", "MD"), coded("MD"));
    // A degree the table lacks is kept as sent, with no coding claiming it for the table.
    assert_eq!(qualification("2.5.1", "M.D."), json!({"text": "M.D."}));
    // From v2.7 a CWE: its text, never its components run together.
    assert_eq!(
        qualification("2.7", "MD&Doctor of Medicine&HL70360"),
        coded("Doctor of Medicine")
    );
    // The principal result interpreter (OBR-32, an NDL): the IG's CNN map makes the degree a
    // suffix of the name, after the name's own.
    let msg = b"MSH|^~\\&|LAB|GHH|||20260301||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rOBR|1||F1|GLU^Glucose^L|||20260301|||||||||||||||||||||||||222&ODE&ANN&&JR&&PHD\rOBX|1|NM|GLU^Glucose^L||5.1|mmol/L|||||F\r";
    let (_, bundle) = notify_with_report(msg, false);
    let interpreter = resource(&bundle, "Practitioner").unwrap();
    assert_eq!(interpreter["name"][0]["suffix"], json!(["JR", "PHD"]));
    assert!(interpreter.get("qualification").is_none(), "{interpreter}");
}

#[test]
fn an_allergys_severity_is_kept_as_sent_beside_the_criticality_it_gives() {
    let allergy = |al1_4: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rAL1|1|DA|70618^Penicillin^RXNORM|{al1_4}\r"
        );
        let (_, bundle) = notify_with_report(msg.as_bytes(), false);
        resource(&bundle, "AllergyIntolerance").unwrap().clone()
    };
    let original = |a: &Value| {
        let ext = &a["_criticality"]["extension"][0];
        assert_eq!(
            ext["url"],
            "http://hl7.org/fhir/StructureDefinition/alternate-codes"
        );
        let coding = &ext["valueCodeableConcept"]["coding"][0];
        assert_eq!(
            coding["system"],
            "http://terminology.hl7.org/CodeSystem/v2-0128"
        );
        coding["code"].clone()
    };
    let severe = allergy("SV");
    assert_eq!(severe["criticality"], "high");
    assert_eq!(original(&severe), "SV");
    // Moderate says no criticality, and with no reaction listed it has nowhere else to go.
    let moderate = allergy("MO");
    assert!(moderate.get("criticality").is_none(), "{moderate}");
    assert_eq!(original(&moderate), "MO");
    assert_eq!(original(&allergy("U")), "U");
}

#[test]
fn a_component_a_segment_row_hands_to_a_data_type_map_counts_as_read() {
    // OBR-15.1 (SPS.1, a CWE) goes to the Specimen's type through CWE[CodeableConcept], which
    // reads the CWE's parts; the component itself is read, and only a part no row reads is named.
    let explain = |sps: &str| {
        let msg = format!(
            "MSH|^~\\&|LAB|GHH|||20260301||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rOBR|1||F1|GLU^Glucose^L|||20260301||||||||{sps}\rOBX|1|NM|GLU^Glucose^L||5.1|mmol/L|||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        assert_eq!(resources(&bundle, "Specimen").len(), 1, "{sps}");
        report.unmapped
    };
    for sps in ["BLD", "BLD&Blood&HL70070", "^^^ACM&Arm"] {
        let unmapped = explain(sps);
        assert!(
            !unmapped.iter().any(|u| u.starts_with("OBR-15")),
            "{sps}: {unmapped:?}"
        );
    }
    let unmapped = explain("BLD&Blood&HL70070&&&&&&&&&&&&&&&&&&&&&&&&&&X");
    assert!(
        unmapped.contains(&"OBR-15.1.29".to_string()),
        "{unmapped:?}"
    );
}

#[test]
fn a_specimen_source_gives_its_additive_note_and_condition() {
    let specimen = |version: &str, additive: &str| {
        let msg = format!(
            "MSH|^~\\&|LAB|GHH|||20260301||ORU^R01^ORU_R01|M1|P|{version}\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rOBR|1||F1|GLU^Glucose^L|||20260301||||||||BLD&Blood&HL70070^{additive}^keep cold^ACM&Arm^^F\rOBX|1|NM|GLU^Glucose^L||5.1|mmol/L|||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        assert_read(&report, "OBR-15");
        resource(&bundle, "Specimen").unwrap().clone()
    };
    let v251 = specimen("2.5.1", "HEPL&Lithium Heparin&HL70371");
    assert_eq!(
        v251["container"][0]["additiveCodeableConcept"]["coding"][0],
        json!({"code": "HEPL", "display": "Lithium Heparin",
            "system": "http://terminology.hl7.org/CodeSystem/v2-0371"})
    );
    assert_eq!(v251["note"], json!([{"text": "keep cold"}]));
    assert_eq!(v251["condition"], json!([{"coding": [{"code": "F"}]}]));
    // Before v2.5 the additive is free text (the CM's second component is a TX).
    let v24 = specimen("2.4", "lithium heparin");
    assert_eq!(
        v24["container"][0]["additiveCodeableConcept"],
        json!({"text": "lithium heparin"})
    );
}

#[test]
fn race_and_ethnic_group_are_the_us_core_extensions() {
    let race = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
    let ethnicity = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";
    let cdc = "urn:oid:2.16.840.1.113883.6.238";
    let patient = |pid10: &str, pid22: &str| {
        let msg = format!(
            "MSH|^~\\&|ADT1|GHH|||20260301||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE|||F||{pid10}||||||||||||{pid22}\rPV1|1|I\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        (report, resource(&bundle, "Patient").unwrap().clone())
    };
    // The parts of one extension: (url, code or text).
    let parts = |p: &Value, url: &str| -> Vec<(String, String)> {
        let Some(ext) = p["extension"]
            .as_array()
            .and_then(|e| e.iter().find(|x| x["url"] == url))
        else {
            return Vec::new();
        };
        ext["extension"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let value = match x.get("valueCoding") {
                    Some(c) => {
                        assert_eq!(c["system"], cdc);
                        c["code"].as_str().unwrap().to_string()
                    }
                    None => x["valueString"].as_str().unwrap().to_string(),
                };
                (x["url"].as_str().unwrap().to_string(), value)
            })
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // Two OMB categories, each an ombCategory; the text every race sent.
    let (report, p) = patient(
        "1002-5^American Indian or Alaska Native^HL70005~2106-3^White^CDCREC",
        "H^Hispanic or Latino^HL70189",
    );
    assert_read(&report, "PID-10");
    assert_read(&report, "PID-22");
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    assert_eq!(
        parts(&p, race),
        pairs(&[
            ("ombCategory", "1002-5"),
            ("ombCategory", "2106-3"),
            ("text", "American Indian or Alaska Native\nWhite")
        ])
    );
    assert_eq!(
        parts(&p, ethnicity),
        pairs(&[("ombCategory", "2135-2"), ("text", "Hispanic or Latino")])
    );
    // A code alone gets the category's display as its text (US Core requires one).
    let (_, p) = patient("2106-3", "2186-5^^CDCREC");
    assert_eq!(
        parts(&p, race),
        pairs(&[("ombCategory", "2106-3"), ("text", "White")])
    );
    assert_eq!(
        parts(&p, ethnicity),
        pairs(&[
            ("ombCategory", "2186-5"),
            ("text", "Not Hispanic or Latino")
        ])
    );
    // Codes alone, several: the text names each category, one line each.
    let (_, p) = patient("2106-3~2028-9", "");
    assert_eq!(
        parts(&p, race),
        pairs(&[
            ("ombCategory", "2106-3"),
            ("ombCategory", "2028-9"),
            ("text", "White\nAsian")
        ])
    );
    // Other Race is table 0005's one code beyond the categories: a detailed race, which US
    // Core's Detailed Race value set has; sent alone, its display is the text.
    let (report, p) = patient("2106-3^White^HL70005~2131-1^Other Race^HL70005", "");
    assert!(report.untranslated.is_empty(), "{:?}", report.untranslated);
    assert_eq!(
        parts(&p, race),
        pairs(&[
            ("ombCategory", "2106-3"),
            ("detailed", "2131-1"),
            ("text", "White\nOther Race")
        ])
    );
    let (_, p) = patient("2131-1^^CDCREC", "");
    assert_eq!(
        parts(&p, race),
        pairs(&[("detailed", "2131-1"), ("text", "Other Race")])
    );
    // A site's own code is no category: reported, its words kept as the text.
    let (report, p) = patient("W^White^L", "");
    assert_eq!(parts(&p, race), pairs(&[("text", "White")]));
    assert!(
        report.untranslated.contains(&"PID-10".to_string()),
        "{:?}",
        report.untranslated
    );
    let (_, p) = patient("C", "");
    assert!(parts(&p, race).is_empty(), "{p}");
    // An ethnic group without its coding system may be a national table's letter (NHS N:
    // Black African): not translated, its words kept.
    let (_, p) = patient("", "N^Black or Black British - African");
    assert_eq!(
        parts(&p, ethnicity),
        pairs(&[("text", "Black or Black British - African")])
    );
}

#[test]
fn encapsulated_data_in_a_result_is_the_attachment_of_r5s_observation_value() {
    let value = |obx2: &str, obx5: &str| {
        let msg = format!(
            "MSH|^~\\&|RAD|H|||20260512091542-0500||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^H^MR||DOE^JANE\rOBR|1||F1|71250^CT chest^CPT4\rOBX|1|{obx2}|18748-4^Diagnostic imaging study^LN||{obx5}||||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        let obs = resource(&bundle, "Observation").unwrap().clone();
        (report, obs)
    };
    let url = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value";
    let (report, obs) = value("ED", "RAD^AP^PDF^Base64^JVBERi0xLjQK");
    assert_eq!(
        obs["extension"],
        json!([{"url": url, "valueAttachment": {"contentType": "application/pdf", "data": "JVBERi0xLjQK"}}])
    );
    assert_read(&report, "OBX-5.2");
    assert_read(&report, "OBX-5.5");
    // The source application has no element in an Attachment: reported, as the rest is read.
    assert!(
        report.unmapped.iter().any(|f| f == "OBX-5.1"),
        "{:?}",
        report.unmapped
    );
    let (_, obs) = value("RP", "https://pacs.example/wado/1^PACS^IM^JPEG");
    assert_eq!(
        obs["extension"][0]["valueAttachment"],
        json!({"url": "https://pacs.example/wado/1", "contentType": "image/jpeg"})
    );
    // Hexadecimal data has no conversion to base64: the value is reported, no attachment made.
    let (report, obs) = value("ED", "RAD^AP^PDF^Hex^255044462D");
    assert!(obs.get("extension").is_none(), "{obs}");
    assert!(
        report.unmapped.iter().any(|f| f == "OBX-5"),
        "{:?}",
        report.unmapped
    );
}

#[test]
fn a_results_sub_id_is_kept_in_the_observation_v2_subid_extension() {
    let sub_id = |version: &str, obx4: &str| {
        let msg = format!(
            "MSH|^~\\&|LAB|H|||20260512091542-0500||ORU^R01^ORU_R01|M1|P|{version}\rPID|1||MRN1^^^H^MR||DOE^JANE\rOBR|1||F1|600-7^Blood culture^LN\rOBX|1|ST|18993-6^Ampicillin^LN|{obx4}|R||||||F\r"
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        assert_read(&report, "OBX-4");
        resource(&bundle, "Observation").unwrap()["extension"].clone()
    };
    let url = "http://hl7.org/fhir/StructureDefinition/observation-v2-subid";
    assert_eq!(
        sub_id("2.5.1", "1.1"),
        json!([{"url": url, "extension": [{"url": "original-sub-identifier", "valueString": "1.1"}]}])
    );
    // From v2.8 an OG: its group and sequence are numbers, its identifier text.
    assert_eq!(
        sub_id("2.8", "1^1^2^ISO1"),
        json!([{"url": url, "extension": [
            {"url": "original-sub-identifier", "valueString": "1"},
            {"url": "group", "valueDecimal": 1},
            {"url": "sequence", "valueDecimal": 2},
            {"url": "identifier", "valueString": "ISO1"}]}])
    );
}

#[test]
fn a_results_reference_population_and_analysis_time_are_its_extensions_pack_extensions() {
    let msg = "MSH|^~\\&|LAB|H|||20260512091542-0500||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^H^MR||DOE^JANE\rOBR|1||F1|24331-1^Lipid panel^LN\rOBX|1|NM|2093-3^Cholesterol^LN||212|mg/dL|<200|H||A~S|F|||20260512080000-0500|||||20260512084500-0500\r";
    let (report, bundle) = notify_with_report(msg.as_bytes(), true);
    assert_read(&report, "OBX-10");
    assert_read(&report, "OBX-19");
    let nature = |code: &str, display: &str| {
        json!({"url": "http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test",
               "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0080",
                                                     "code": code, "display": display}]}})
    };
    assert_eq!(
        resource(&bundle, "Observation").unwrap()["extension"],
        json!([
            nature("A", "An age-based population"),
            nature("S", "A sex-based population"),
            {"url": "http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time",
             "valueDateTime": "2026-05-12T08:45:00-05:00"}
        ])
    );
}

#[test]
fn an_orders_confidentiality_labels_its_report_and_its_vaccination() {
    let label = json!([{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                        "code": "R", "display": "restricted"}]);
    let oru = "MSH|^~\\&|LAB|H|||20260512091542-0500||ORU^R01^ORU_R01|M1|P|2.5.1\rPID|1||MRN1^^^H^MR||DOE^JANE\rORC|RE|P1|F1||CM|||||||||||||||||||||||R\rOBR|1|P1|F1|24331-1^Lipid panel^LN\rOBX|1|NM|2093-3^Cholesterol^LN||212|mg/dL|||||F\r";
    let (report, bundle) = notify_with_report(oru.as_bytes(), true);
    assert_read(&report, "ORC-28");
    assert_eq!(
        resource(&bundle, "DiagnosticReport").unwrap()["meta"]["security"],
        label
    );
    let vxu = "MSH|^~\\&|EHR|H|||20260512091542-0500||VXU^V04^VXU_V04|M2|P|2.5.1\rPID|1||MRN1^^^H^MR||DOE^JANE\rORC|RE||IZ-1|||||||||||||||||||||||||R\rRXA|0|1|20260510||08^HepB^CVX|0.5|mL^^UCUM||||||||||||CP\r";
    let (report, bundle) = notify_with_report(vxu.as_bytes(), true);
    assert_read(&report, "ORC-28");
    assert_eq!(
        resource(&bundle, "Immunization").unwrap()["meta"]["security"],
        label
    );
}

#[test]
fn an_animal_patients_species_and_breed_are_the_patient_animal_extension() {
    let animal = |pid35: &str, pid36: &str| {
        let mut pid = vec![""; 37];
        pid[0] = "PID";
        pid[3] = "VET-1^^^CLINIC^MR";
        pid[5] = "Rex";
        pid[35] = pid35;
        pid[36] = pid36;
        let msg = format!(
            "MSH|^~\\&|VET|CLINIC|||20260512091542-0500||ADT^A04^ADT_A01|M1|P|2.5.1\rEVN|A04\r{}\rPV1|1|O\r",
            pid.join("|")
        );
        let (report, bundle) = notify_with_report(msg.as_bytes(), true);
        assert_read(&report, "PID-35");
        resource(&bundle, "Patient").unwrap()["extension"].clone()
    };
    let dog = json!({"coding": [{"code": "448771007", "display": "Canis lupus familiaris", "system": "http://snomed.info/sct"}]});
    let beagle = json!({"coding": [{"code": "132624002", "display": "Beagle", "system": "http://snomed.info/sct"}]});
    assert_eq!(
        animal(
            "448771007^Canis lupus familiaris^SCT",
            "132624002^Beagle^SCT"
        ),
        json!([{"url": "http://hl7.org/fhir/StructureDefinition/patient-animal",
                "extension": [{"url": "species", "valueCodeableConcept": dog},
                              {"url": "breed", "valueCodeableConcept": beagle}]}])
    );
    // The extension requires a species: a breed alone is not kept.
    assert_eq!(animal("", "132624002^Beagle^SCT"), Value::Null);
}

#[test]
fn a_route_table_0162_gives_a_v3_code_for_gains_that_coding() {
    let msg = "MSH|^~\\&|EHR|H|||20260512091542-0500||VXU^V04^VXU_V04|M2|P|2.5.1\rPID|1||MRN1^^^H^MR||DOE^JANE\rORC|RE||IZ-1\rRXA|0|1|20260510||08^HepB^CVX|0.5|mL^^UCUM||||||||||||CP\rRXR|IM^Intramuscular^HL70162\r";
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    assert_eq!(
        resource(&bundle, "Immunization").unwrap()["route"],
        json!({"coding": [
            {"code": "IM", "display": "Intramuscular", "system": "http://terminology.hl7.org/CodeSystem/v2-0162"},
            {"system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "code": "IM",
             "display": "Injection, intramuscular"}]})
    );
}

#[test]
fn a_medication_orders_total_occurrences_are_its_dosage_timings_count() {
    let msg = std::fs::read_to_string("fixtures/v2-to-fhir/omp_o09_two_medication_orders.hl7")
        .unwrap()
        .replacen(
            "|Take in the morning with water.",
            "|Take in the morning with water.|||30",
            1,
        );
    let (_, bundle) = notify_with_report(msg.as_bytes(), false);
    let order = resource(&bundle, "MedicationRequest").unwrap();
    assert_eq!(
        order["dosageInstruction"][0]["timing"]["repeat"]["count"],
        json!(30)
    );
}

#[test]
fn a_diagnosis_attestation_time_is_its_recorded_and_asserted_date() {
    let msg = "MSH|^~\\&|ADT1|GHH|||20260405150000-0400||ADT^A03^ADT_A03|M1|P|2.5.1\rEVN|A03\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I\rDG1|1||I10^Essential hypertension^I10C||||||||||||||||20260405150000-0400\r";
    let (report, bundle) = notify_with_report(msg.as_bytes(), true);
    assert_read(&report, "DG1-19");
    let condition = resource(&bundle, "Condition").unwrap();
    assert_eq!(
        condition["recordedDate"],
        json!("2026-04-05T15:00:00-04:00")
    );
    assert_eq!(
        condition["extension"],
        json!([{"url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                "valueDateTime": "2026-04-05T15:00:00-04:00"}])
    );
}

/// An A02 whose EVN carries `evn`, sent by facility GHH.
fn transfer(evn: &str) -> Vec<u8> {
    format!("MSH|^~\\&|ADT1|GHH|||20260315101500-0500||ADT^A02^ADT_A02|M2|P|2.5.1\rEVN|{evn}\rPID|1||MRN1^^^GHH^MR||DOE^JANE||19800101|F\rPV1|1|I|4E^401^B||||||||||||||||VN1\r").into_bytes()
}

#[test]
fn an_events_operator_reason_and_time_are_its_provenance() {
    let (report, bundle) = notify_with_report(
        &transfer(
            "A02|20260315101500-0500||02|4471^Okonkwo^Adaeze|20260315094500-0500|GHH^1.2.840.114350^ISO",
        ),
        true,
    );
    let provenance = resource(&bundle, "Provenance").expect("a Provenance");
    assert_eq!(provenance["recorded"], "2026-03-15T10:15:00-05:00");
    assert_eq!(provenance["occurredDateTime"], "2026-03-15T09:45:00-05:00");
    assert_eq!(
        provenance["reason"][0]["coding"],
        json!([
            {"code": "02"},
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT", "display": "treatment"}
        ])
    );
    let operator = referenced(&bundle, &provenance["agent"][0]["who"]).unwrap();
    assert_eq!(operator["resourceType"], "Practitioner");
    assert_eq!(operator["name"][0]["family"], "Okonkwo");
    let header = resource(&bundle, "MessageHeader").unwrap();
    let target = referenced(&bundle, &provenance["target"][0]).unwrap();
    assert_eq!(target, header);
    // The event facility is a Location of its own, a site (the guide's HD[Location] map).
    let facility = referenced(&bundle, &provenance["location"]).unwrap();
    assert_eq!(facility["name"], "GHH");
    assert_eq!(
        facility["identifier"],
        json!([{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.840.114350"}])
    );
    assert_eq!(facility["physicalType"]["coding"][0]["code"], "si");
    for field in ["EVN-2", "EVN-4", "EVN-5", "EVN-6", "EVN-7"] {
        assert_read(&report, field);
    }
}

#[test]
fn without_an_operator_the_provenances_agent_is_the_sending_facility() {
    let (_, bundle) = notify_with_report(&transfer("A02|20260315101500-0500"), false);
    let provenance = resource(&bundle, "Provenance").expect("a Provenance");
    let agent = referenced(&bundle, &provenance["agent"][0]["who"]).unwrap();
    let sender = referenced(
        &bundle,
        &resource(&bundle, "MessageHeader").unwrap()["sender"],
    );
    assert_eq!(Some(agent), sender);
    assert_eq!(agent["resourceType"], "Organization");
}

#[test]
fn an_event_recorded_without_an_offset_has_a_provenance_only_with_a_time_zone() {
    let msg = transfer("A02|20260315101500||02");
    let (report, bundle) = notify_with_report(&msg, true);
    assert!(resource(&bundle, "Provenance").is_none());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report.unmapped.iter().any(|f| f == "EVN-4"),
        "{:?}",
        report.unmapped
    );
    // Strict mode has nothing to refuse: no Provenance is begun.
    assert!(
        engine(true, None)
            .notify(&msg, &NotifyOptions::default())
            .is_ok()
    );
    let zoned = engine(false, Some("America/Chicago"))
        .notify(&msg, &NotifyOptions::default())
        .unwrap();
    let provenance = resource(&zoned, "Provenance").expect("a Provenance");
    assert_eq!(provenance["recorded"], "2026-03-15T10:15:00-05:00");
}

#[test]
fn without_a_message_header_the_provenance_is_about_the_notifications_focus() {
    let opts = NotifyOptions {
        format: hl7fhir::notify::Format::Subscription,
        ..NotifyOptions::default()
    };
    let bundle = engine(false, None)
        .notify(&transfer("A02|20260315101500-0500"), &opts)
        .unwrap();
    assert!(resource(&bundle, "MessageHeader").is_none());
    let provenance = resource(&bundle, "Provenance").expect("a Provenance");
    let targets: Vec<&str> = provenance["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            referenced(&bundle, t).unwrap()["resourceType"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(targets, ["Patient", "Encounter"]);
}

#[test]
fn a_merge_that_names_the_surviving_patient_as_the_one_it_replaces_fails() {
    // The surviving patient (PID-3) replacing itself (MRG-1): no notification can say what the
    // sender meant, and marking that patient inactive would lose it.
    let msg = b"MSH|^~\\&|MPI|GHH|||20260303||ADT^A40^ADT_A39|M40|P|2.5.1\rEVN|A40\rPID|1||PATID8888^^^GHH^MR||LOPEZ^MARIA\rMRG|PATID8888^^^GHH^MR\r";
    for strict in [true, false] {
        let e = engine(strict, None)
            .notify(msg, &NotifyOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadValue);
        assert_eq!(
            e.to_string(),
            "MRG-1 (segment 4) at byte 108: MRG-1 names the Patient meant to replace it: a \
             Patient cannot replace itself"
        );
    }
    // A chain in one message (8888 into 7777, 7777 into 6666) replaces each patient by the
    // next: the patient the second MRG names is the first PID's, made in another group.
    let msg = b"MSH|^~\\&|MPI|GHH|||20260303||ADT^A40^ADT_A39|M40|P|2.5.1\rEVN|A40\rPID|1||PATID7777^^^GHH^MR\rMRG|PATID8888^^^GHH^MR\rPID|2||PATID6666^^^GHH^MR\rMRG|PATID7777^^^GHH^MR\r";
    let (_, bundle) = notify_with_report(msg, false);
    let patient = |mrn: &str| {
        resources(&bundle, "Patient")
            .into_iter()
            .find(|p| p["identifier"][0]["value"] == mrn)
            .unwrap_or_else(|| panic!("{mrn}: {bundle}"))
    };
    for (replaced, by) in [("PATID8888", "PATID7777"), ("PATID7777", "PATID6666")] {
        let old = patient(replaced);
        assert_eq!(old["active"], false, "{replaced}");
        assert_eq!(
            referenced(&bundle, &old["link"][0]["other"]),
            Some(patient(by)),
            "{replaced}"
        );
    }
    assert!(patient("PATID6666").get("active").is_none());
}

#[test]
fn an_administration_refers_to_the_order_the_pharmacy_encoded() {
    // The eMAR's RAS^O17 names the order by its placer number and give code, as the
    // pharmacy's RDE^O11 did: its MedicationRequest is the same resource (the same id).
    let (report, bundle) = fixture_with_report("ras_o17_administrations");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let request = the_pharmacys_amlodipine_order();
    let administrations = resources(&bundle, "MedicationAdministration");
    assert_eq!(administrations.len(), 2);
    let given = administrations[0];
    assert_eq!(
        referenced(&bundle, &given["request"]).unwrap()["id"],
        request["id"]
    );
    assert_eq!(given["status"], "completed");
    assert_eq!(given["effectiveDateTime"].as_str(), None);
    assert_eq!(
        given["effectivePeriod"]["start"],
        "2026-05-12T14:00:00-04:00"
    );
    assert_eq!(given["dosage"]["route"]["coding"][0]["code"], "PO");
    let pulse = referenced(&bundle, &given["supportingInformation"][0]).unwrap();
    assert_eq!(pulse["code"]["coding"][0]["code"], "8867-4");
    // Refused: not done, with the refusal reason; its route is the RXR after its own RXA.
    let refused = administrations[1];
    assert_eq!(refused["status"], "not-done");
    assert_eq!(refused["statusReason"][0]["coding"][0]["code"], "00");
    assert_eq!(refused["dosage"]["route"]["coding"][0]["code"], "IV");
    assert_eq!(refused["dosage"]["site"]["coding"][0]["code"], "RA");
    let patient = resource(&bundle, "Patient").unwrap();
    for a in &administrations {
        assert_eq!(referenced(&bundle, &a["subject"]), Some(patient));
        assert!(referenced(&bundle, &a["context"]).is_some());
    }
    let focus = &resource(&bundle, "MessageHeader").unwrap()["focus"];
    assert_eq!(focus.as_array().unwrap().len(), 2);
    assert_eq!(referenced(&bundle, &focus[0]), Some(given));

    // A deletion is entered in error; an RXA without a time of administration, which FHIR
    // requires, makes none (and says so).
    let msg = |rxa: &str| {
        format!(
            "MSH|^~\\&|EMAR|RMC|||20260512||RAS^O17^RAS_O17|M1|P|2.5.1\rPID|1||MRN1^^^RMC^MR\rORC|RE|RX-1^EHR\r{rxa}\rRXR|PO\r"
        )
    };
    let (_, deleted) = notify_with_report(
        msg("RXA|0|1|20260512140000-0400|20260512140000-0400|RX^Drug^L|1||||||||||||||CP|D")
            .as_bytes(),
        false,
    );
    assert_eq!(
        resource(&deleted, "MedicationAdministration").unwrap()["status"],
        "entered-in-error"
    );
    let (report, undated) = notify_with_report(msg("RXA|0|1|||RX^Drug^L|1").as_bytes(), false);
    assert!(resource(&undated, "MedicationAdministration").is_none());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
}

#[test]
fn a_dispense_is_authorized_by_the_order_the_pharmacy_encoded() {
    let (report, bundle) = fixture_with_report("rds_o13_dispense");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let request = the_pharmacys_amlodipine_order();
    let dispense = resource(&bundle, "MedicationDispense").unwrap();
    assert_eq!(
        referenced(&bundle, &dispense["authorizingPrescription"][0]).unwrap()["id"],
        request["id"]
    );
    assert_eq!(dispense["status"], "completed");
    assert_eq!(dispense["whenHandedOver"], "2026-05-12T09:25:00-04:00");
    assert_eq!(dispense["quantity"]["value"], 30);
    assert_eq!(dispense["note"][0]["text"], "Unit-dose blister pack");
    assert_eq!(
        dispense["dosageInstruction"][0]["route"]["coding"][0]["code"],
        "PO"
    );
    let ward = referenced(&bundle, &dispense["destination"]).unwrap();
    assert_eq!(ward["name"], "4W");
    let focus = &resource(&bundle, "MessageHeader").unwrap()["focus"];
    assert_eq!(referenced(&bundle, &focus[0]), Some(dispense));
    // A deletion is entered in error; without a PID the dispense names no patient or order.
    let msg = b"MSH|^~\\&|PHARMACY|RMC|||20260512||RDS^O13^RDS_O13|M1|P|2.5.1\rORC|RE|RX-1^EHR\rRXD|1|RX^Drug^L|20260512092500-0400||||||||||||||||||||||||||||||D\rRXR|PO\r";
    let (_, deleted) = notify_with_report(msg, false);
    let dispense = resource(&deleted, "MedicationDispense").unwrap();
    assert_eq!(dispense["status"], "entered-in-error");
    assert!(dispense.get("subject").is_none());
    assert!(dispense.get("authorizingPrescription").is_none());
}

#[test]
fn a_repeating_coded_numeric_or_time_value_is_a_component_per_repetition() {
    // As the IG's message maps route an OBX whose OBX-5 repeats: each repetition a component
    // coded as the Observation, which then holds no value of its own (FHIR obs-7).
    let (report, bundle) = fixture_with_report("oru_r01_repeated_values");
    assert!(
        report
            .unmapped
            .iter()
            .all(|f| !f.contains("OBX") || f.ends_with("-1")),
        "{:?}",
        report.unmapped
    );
    let observations = resources(&bundle, "Observation");
    let by_code = |code: &str| {
        *observations
            .iter()
            .find(|o| o["code"]["coding"][0]["code"] == code)
            .unwrap()
    };
    let pulse = by_code("8867-4");
    assert!(pulse.get("valueQuantity").is_none());
    let components = pulse["component"].as_array().unwrap();
    let values: Vec<f64> = components
        .iter()
        .map(|c| c["valueQuantity"]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [72.0, 75.0, 71.0]);
    for c in components {
        assert_eq!(c["code"], pulse["code"]);
        assert_eq!(c["valueQuantity"]["code"], "/min");
    }
    let smoking = by_code("72166-2");
    assert!(smoking.get("valueCodeableConcept").is_none());
    assert_eq!(smoking["component"].as_array().unwrap().len(), 2);
    let born = by_code("21112-8");
    assert_eq!(
        born["component"][1]["valueDateTime"],
        "1958-02-14T10:30:00-05:00"
    );
    let titers = by_code("5206-7");
    assert_eq!(
        titers["component"][1]["valueRatio"]["denominator"]["value"],
        128
    );
    // A value sent once is the Observation's own.
    let systolic = by_code("8480-6");
    assert_eq!(systolic["valueQuantity"]["value"], 128);
    assert!(systolic.get("component").is_none());
}

/// The notification of `fixtures/v2-to-fhir/NAME.hl7`, with its `--explain` report.
fn fixture_with_report(name: &str) -> (Report, Value) {
    let path = format!(
        "{}/fixtures/v2-to-fhir/{name}.hl7",
        env!("CARGO_MANIFEST_DIR")
    );
    notify_with_report(&std::fs::read(path).unwrap(), true)
}

/// The MedicationRequest of the pharmacy's RDE^O11 for the order the RAS^O17 and RDS^O13
/// fixtures administer and dispense (placer number RX-20417, an NDC give code).
fn the_pharmacys_amlodipine_order() -> Value {
    let order = b"MSH|^~\\&|PHARMACY|RMC|EHR|RMC|20260512080000-0400||RDE^O11^RDE_O11|PH7|P|2.5.1\rPID|1||MRN5523108^^^RMC^MR||Okafor^Daniel^E\rORC|NW|RX-20417^EHR|PH-88231^PHARMACY\rRXE|^^^20260512080000-0400^^R|00069-1530-68^Amlodipine 5 mg tablet^NDC|5||mg^milligram^UCUM\rTQ1|1||QD\rRXR|PO^Oral^HL70162\r";
    let (_, encoded) = notify_with_report(order, false);
    resource(&encoded, "MedicationRequest").unwrap().clone()
}

#[test]
fn a_practitioners_number_and_authority_identify_it_however_its_name_is_spelt() {
    // The attending (PV1-7) and the admitting doctor (PV1-17) are the same practitioner, sent
    // once with a degree and once without; two unnumbered ones of one authority stay two.
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\rPID|1||MRN1^^^GHH^MR||DOE^JANE\rPV1|1|I|||||7781204^Mensah^Kwame^^^^MD^^GHH|^Okoro^Ada^^^^^^GHH|^Bello^Tunde^^^^^^GHH||||||||7781204^MENSAH^KWAME^^^^^^GHH||VN1\r";
    let (_, bundle) = notify_with_report(msg, false);
    let encounter = resource(&bundle, "Encounter").unwrap();
    let who = |i: usize| {
        referenced(&bundle, &encounter["participant"][i]["individual"]).unwrap()["id"].clone()
    };
    let practitioners = resources(&bundle, "Practitioner");
    assert_eq!(practitioners.len(), 3, "{bundle}");
    let ids: Vec<Value> = (0..4).map(who).collect();
    assert_eq!(ids[0], ids[3], "attending and admitting");
    assert_ne!(ids[1], ids[2], "two unnumbered practitioners");
    // In another message, the same number of the same authority is the same resource.
    let other = b"MSH|^~\\&|ADT1|GHH|||20260102||ADT^A08^ADT_A01|M2|P|2.5.1\rEVN|A08\rPID|1||MRN1^^^GHH^MR\rPV1|1|I|||||7781204^Mensah^K^^^^^^GHH||||||||||||VN1\r";
    let (_, report) = notify_with_report(other, false);
    let orderer = resources(&report, "Practitioner")[0]["id"].clone();
    assert_eq!(orderer, ids[0]);
}

#[test]
fn a_responsible_observer_is_one_practitioner_role_however_each_result_spells_it() {
    let msg = b"MSH|^~\\&|LAB|GHH|||20260102||ORU^R01^ORU_R01|M2|P|2.5.1\rPID|1||MRN1^^^GHH^MR\rOBR|1|O1|F1|CBC^Blood count^L|||20260102\rOBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|||||F|||||5512^Adeyemi^Funmi^^^^MD^^GHH\rOBX|2|NM|4544-3^Hematocrit^LN||39|%|||||F|||||5512^ADEYEMI^F^^^^^^GHH\r";
    let (_, bundle) = notify_with_report(msg, false);
    let roles = resources(&bundle, "PractitionerRole");
    assert_eq!(roles.len(), 1, "{bundle}");
    assert_eq!(resources(&bundle, "Practitioner").len(), 1);
    for o in resources(&bundle, "Observation") {
        assert_eq!(referenced(&bundle, &o["performer"][0]), Some(roles[0]));
    }
}
