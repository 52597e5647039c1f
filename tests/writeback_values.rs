//! Values written back as HL7 v2 carries them: text with control characters, numbers, times
//! and long or multi-line strings come out in a form the message's data types accept, and
//! come back as they were sent.

mod common;

use common::{entry_of, field, read_back};
use hl7fhir::engine::Engine;
use hl7fhir::v2::{Chunk, FrameReader, Parser};
use hl7fhir::writeback::WritebackOptions;
use serde_json::{Value, json};

fn options() -> WritebackOptions {
    WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: false,
    }
}

/// The options with `--explain`: what is not written, and why, listed beside the message.
fn explaining() -> WritebackOptions {
    WritebackOptions {
        explain: true,
        ..options()
    }
}

fn write(request: &Value) -> Vec<u8> {
    let engine = Engine::with_defaults().unwrap();
    engine.writeback(request, &options(), 1).unwrap().message
}

#[test]
fn control_characters_travel_as_escapes_and_the_message_stays_one() {
    // CR ends a segment, 0x0B and 0x1C open and close an MLLP frame, NUL and tab are no text.
    let family = "Sec\u{1C}\rret\u{0B}name\nX\tY\0Z";
    let request = json!({"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
                         "name": [{"family": family}]});
    let message = write(&request);
    let segment_ends = message.iter().filter(|&&b| b == b'\r').count();
    assert!(
        message.iter().all(|&b| b == b'\r' || !b.is_ascii_control()),
        "{}",
        String::from_utf8_lossy(&message)
    );
    // Framed as --mllp frames it, the stream holds one message with all its segments.
    let mut framed = vec![0x0B];
    framed.extend_from_slice(&message);
    framed.extend_from_slice(&[0x1C, 0x0D]);
    let mut reader = FrameReader::new(framed.as_slice(), 1 << 20);
    let mut messages = Vec::new();
    while let Some(chunk) = reader.next_chunk().unwrap() {
        match chunk {
            Chunk::Message(m) => messages.push(m.message.to_vec()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(messages, std::slice::from_ref(&message));
    let mut parser = Parser::default();
    let parsed = parser.parse(&message).unwrap();
    assert_eq!(parsed.segment_count(), segment_ends);
    let tree = parsed.to_tree().unwrap();
    let pid = tree.segments.iter().find(|s| s.id == "PID").unwrap();
    assert_eq!(pid.fields[4][0][0][0], family);
}

fn patient() -> Value {
    json!({"resourceType": "Patient", "id": "p1", "identifier": [{"value": "MRN-1"}],
           "name": [{"family": "Castellanos"}]})
}

fn tx(resources: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": resources
        .into_iter()
        .map(|r| json!({"resource": r, "request": {"method": "POST"}}))
        .collect::<Vec<_>>()})
}

/// A request from JSON text, so that numbers keep the digits and exponent they were written
/// with.
fn request(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn decimals_in_exponent_form_are_written_as_plain_numbers_with_their_digits() {
    // (FHIR decimal, NM) — every significant digit kept, none invented.
    let cases = [
        ("1.0E-7", "0.00000010"),
        ("1.5e3", "1500"),
        ("1.20E3", "1200"),
        ("1.5E+3", "1500"),
        ("-2.5e-2", "-0.025"),
        ("12.34e1", "123.4"),
        ("0.05e1", "0.5"),
        ("7e0", "7"),
        ("120e-2", "1.20"),
        ("0.000", "0.000"),
        ("101", "101"),
    ];
    for (decimal, nm) in cases {
        let obs = format!(
            r#"{{"resourceType": "Observation", "id": "o1", "status": "final",
                "code": {{"coding": [{{"system": "http://loinc.org", "code": "2345-7"}}]}},
                "subject": {{"reference": "Patient/p1"}},
                "valueQuantity": {{"value": {decimal}, "unit": "g"}}}}"#
        );
        let message = write(&tx(vec![patient(), request(&obs)]));
        assert_eq!(field(&message, "OBX", 2), "NM", "{decimal}");
        assert_eq!(field(&message, "OBX", 5), nm, "{decimal}");
    }
    // A charge's amount (FT1-11, CP) and quantity (FT1-10) too.
    let charge = request(
        r#"{"resourceType": "ChargeItem", "id": "c1", "status": "billable",
            "code": {"coding": [{"code": "99213"}]}, "subject": {"reference": "Patient/p1"},
            "occurrenceDateTime": "2026-04-21", "quantity": {"value": 2.5e0},
            "priceOverride": {"value": 1.2E3, "currency": "EUR"}}"#,
    );
    let message = write(&tx(vec![patient(), charge]));
    assert_eq!(field(&message, "FT1", 10), "2.5");
    assert_eq!(field(&message, "FT1", 11), "1200&EUR");
}

#[test]
fn a_decimal_with_an_absurd_exponent_is_an_error_not_a_huge_number() {
    let engine = Engine::with_defaults().unwrap();
    for exponent in ["1001", "-1001", "999999", "99999999999999999999999"] {
        let obs = format!(
            r#"{{"resourceType": "Observation", "id": "o1", "status": "final",
                "code": {{"coding": [{{"system": "http://loinc.org", "code": "2345-7"}}]}},
                "subject": {{"reference": "Patient/p1"}},
                "valueQuantity": {{"value": 1e{exponent}, "unit": "g"}}}}"#
        );
        let e = engine
            .writeback(&tx(vec![patient(), request(&obs)]), &options(), 1)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bundle.entry[1].resource.valueQuantity.value: a decimal whose exponent is beyond ±1000 \
             cannot be an HL7 v2 number, which has no exponent",
            "{exponent}"
        );
    }
    // At the limit, it is written out.
    let obs = request(
        r#"{"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 1e-1000}}"#,
    );
    let nm = field(&write(&tx(vec![patient(), obs])), "OBX", 5);
    assert_eq!(nm, format!("0.{}1", "0".repeat(999)));
}

#[test]
fn times_keep_at_most_four_digits_of_a_second_cut_not_rounded_and_reported() {
    let engine = Engine::with_defaults().unwrap();
    let obs = request(
        r#"{"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p1"}, "valueString": "v",
            "effectiveDateTime": "2024-12-31T23:59:59.99999-03:00"}"#,
    );
    let explain = explaining();
    let written = engine
        .writeback(&tx(vec![patient(), obs.clone()]), &explain, 1)
        .unwrap();
    let message = written.message;
    // Rounding 59.99999 would carry into the next year.
    assert_eq!(field(&message, "OBX", 14), "20241231235959.9999-0300");
    assert_eq!(
        written.problems,
        [
            "Bundle.entry[1].resource.effectiveDateTime: an HL7 v2 time stamp carries at most 4 digits of a second; the rest were cut",
        ]
    );
    // Four digits are DTM's own: nothing cut, nothing reported.
    let mut four = obs.clone();
    four["effectiveDateTime"] = json!("2024-03-05T10:11:12.1234Z");
    let written = engine
        .writeback(&tx(vec![patient(), four]), &explain, 1)
        .unwrap();
    assert_eq!(
        field(&written.message, "OBX", 14),
        "20240305101112.1234+0000"
    );
    assert!(written.problems.is_empty());
    // A time the forward direction kept only as its original text (no offset, no zone) goes
    // back as sent, cut the same way.
    let kept = request(
        r#"{"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": "Patient/p1"}, "valueString": "v",
            "effectiveDateTime": "2024-03-05",
            "_effectiveDateTime": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/originalText",
                "valueString": "20240305101112.123456"}]}}"#,
    );
    let written = engine
        .writeback(&tx(vec![patient(), kept]), &explain, 1)
        .unwrap();
    assert_eq!(field(&written.message, "OBX", 14), "20240305101112.1234");
    assert_eq!(
        written.problems,
        [
            "Bundle.entry[1].resource.effectiveDateTime: an HL7 v2 time stamp carries at most 4 digits of a second; the rest were cut"
        ]
    );
    // Without --explain the same cut, nothing collected.
    let quiet = engine
        .writeback(&tx(vec![patient(), obs]), &options(), 1)
        .unwrap();
    assert_eq!(field(&quiet.message, "OBX", 14), "20241231235959.9999-0300");
    assert!(quiet.problems.is_empty());
}

/// OBX-2 and OBX-5 as written for an Observation with `valueString`.
fn string_obx(text: &str) -> (String, String) {
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                     "subject": {"reference": "Patient/p1"}, "valueString": text});
    let message = write(&tx(vec![patient(), obs]));
    (field(&message, "OBX", 2), field(&message, "OBX", 5))
}

#[test]
fn a_string_is_tx_when_it_has_a_line_break_anywhere_or_is_too_long_for_st() {
    let b = |n: usize| "B".repeat(n);
    // (valueString, OBX-2, OBX-5 as written). An ST holds one line of at most 199 characters
    // as the message carries it, escape sequences counted in full.
    let cases = [
        ("one line".to_string(), "ST", "one line".to_string()),
        ("a\n\nb".into(), "TX", "a~~b".into()),
        ("\nb".into(), "TX", "~b".into()),
        ("a\r\nb".into(), "TX", "a~b".into()),
        ("a\rb".into(), "TX", "a~b".into()),
        ("a\r\n\r\nb".into(), "TX", "a~~b".into()),
        (b(199), "ST", b(199)),
        (b(200), "TX", b(200)),
        (b(1000), "TX", b(1000)),
        (format!("{}&", b(197)), "TX", format!("{}\\T\\", b(197))),
        ("&".repeat(67), "TX", "\\T\\".repeat(67)),
        ("&".repeat(66), "ST", "\\T\\".repeat(66)),
    ];
    for (text, ty, obx5) in cases {
        assert_eq!(string_obx(&text), (ty.to_string(), obx5), "{text:?}");
    }
}

#[test]
fn a_note_with_crlf_line_ends_is_one_repetition_per_line() {
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                     "subject": {"reference": "Patient/p1"}, "valueString": "v",
                     "note": [{"text": "line1\r\nline2\rline3"}]});
    let message = write(&tx(vec![patient(), obs]));
    assert_eq!(field(&message, "NTE", 3), "line1~line2~line3");
}

#[test]
fn a_time_written_where_hl7_takes_a_date_keeps_its_date_and_is_reported() {
    // CX.7 and CX.8 (effective and expiration date) are DT: a date, no time of day.
    let engine = Engine::with_defaults().unwrap();
    let mut pat = patient();
    pat["identifier"][0]["period"] = json!({"start": "2020-01-01T08:30:00Z", "end": "2030-06-30"});
    let explain = explaining();
    let written = engine.writeback(&pat, &explain, 1).unwrap();
    assert_eq!(
        field(&written.message, "PID", 3),
        "MRN-1^^^^^^20200101^20300630"
    );
    assert_eq!(
        written.problems,
        [
            "Patient.identifier[0].period.start: an HL7 v2.5.1 CX.7 is a date (DT); the time of day was cut",
        ]
    );
}

#[test]
fn observation_values_and_times_fhir_gives_in_other_forms_find_their_fields() {
    let engine = Engine::with_defaults().unwrap();
    let explain = explaining();
    let observation = |extra: Value| {
        let mut o = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                           "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                           "subject": {"reference": "Patient/p1"}});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        tx(vec![patient(), o])
    };
    // (Observation elements, OBX field, its text, what --explain lists)
    let cases = [
        (json!({"valueInteger": 5}), 2, "NM", vec![]),
        (json!({"valueInteger": 5}), 5, "5", vec![]),
        // A boolean is a code of HL7 table 0136 (Yes/no indicator).
        (json!({"valueBoolean": true}), 2, "CWE", vec![]),
        (json!({"valueBoolean": true}), 5, "Y^Yes^HL70136", vec![]),
        (json!({"valueBoolean": false}), 5, "N^No^HL70136", vec![]),
        (
            json!({"valueQuantity": {"value": 148},
                   "referenceRange": [{"low": {"value": 70}, "high": {"value": 99}}]}),
            7,
            "70-99",
            vec![],
        ),
        // Text, when the range has it, is what OBX-7 holds.
        (
            json!({"valueQuantity": {"value": 148},
                   "referenceRange": [{"text": "70 to 99", "low": {"value": 70}, "high": {"value": 99}}]}),
            7,
            "70 to 99",
            vec![],
        ),
        // Open at one end: HL7's `>70` would exclude the bound FHIR's `low` includes.
        (
            json!({"valueQuantity": {"value": 148}, "referenceRange": [{"low": {"value": 70}}]}),
            7,
            "",
            vec!["Bundle.entry[1].resource.referenceRange[0].low.value"],
        ),
        (
            json!({"valueString": "x", "effectiveInstant": "2024-03-05T10:11:12Z"}),
            14,
            "20240305101112+0000",
            vec![],
        ),
        (
            json!({"valueString": "x", "effectivePeriod": {"start": "2024-03-05T10:11:12-05:00",
                                                           "end": "2024-03-05T11:00:00-05:00"}}),
            14,
            "20240305101112-0500",
            vec!["Bundle.entry[1].resource.effectivePeriod.end"],
        ),
    ];
    for (elements, n, want, unmapped) in cases {
        let written = engine
            .writeback(&observation(elements.clone()), &explain, 1)
            .unwrap();
        assert_eq!(field(&written.message, "OBX", n), want, "{elements}");
        assert_eq!(written.unmapped, unmapped, "{elements}");
    }
}

#[test]
fn a_birth_order_and_a_time_of_death_set_their_indicators() {
    // HL7 expects PID-24 (multiple birth) beside PID-25 (birth order), and PID-30 (death
    // indicator) beside PID-29 (time of death): FHIR's value says both.
    let mut request = patient();
    request["deceasedDateTime"] = json!("2024-03-05T10:00:00-05:00");
    request["multipleBirthInteger"] = json!(2);
    let message = write(&request);
    let pid = |n| field(&message, "PID", n);
    assert_eq!(
        [pid(24), pid(25), pid(29), pid(30)],
        ["Y", "2", "20240305100000-0500", "Y"]
    );
    let mut request = patient();
    request["deceasedBoolean"] = json!(false);
    request["multipleBirthBoolean"] = json!(false);
    let message = write(&request);
    let pid = |n| field(&message, "PID", n);
    assert_eq!([pid(24), pid(25), pid(29), pid(30)], ["N", "", "", "N"]);
}

#[test]
fn a_web_address_is_a_communication_address_not_a_telephone_number() {
    let mut request = patient();
    request["telecom"] = json!([
        {"system": "url", "value": "https://example.org/amy"},
        {"system": "email", "value": "amy@example.org"},
        {"system": "phone", "value": "555-0100"}
    ]);
    let message = write(&request);
    assert_eq!(
        field(&message, "PID", 13),
        "^^^https://example.org/amy~^^Internet^amy@example.org~555-0100^^PH"
    );
}

#[test]
fn given_names_after_the_second_join_the_second_and_further_given_names() {
    // XPN.3 (and XCN.4) hold "second and further given names or initials thereof": one
    // component, the names separated by spaces.
    let engine = Engine::with_defaults().unwrap();
    let explain = explaining();
    let mut pat = patient();
    pat["name"] = json!([{"family": "Castellanos", "given": ["Ana", "María", "José", "L."]}]);
    let practitioner = json!({"resourceType": "Practitioner", "id": "d1",
                              "identifier": [{"value": "D-7"}],
                              "name": [{"family": "Okafor", "given": ["Chi", "Ada", "N."]}]});
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                     "subject": {"reference": "Patient/p1"}, "valueString": "x",
                     "performer": [{"reference": "Practitioner/d1"}]});
    let written = engine
        .writeback(&tx(vec![pat, obs, practitioner]), &explain, 1)
        .unwrap();
    assert_eq!(
        field(&written.message, "PID", 5),
        "Castellanos^Ana^María José L."
    );
    assert_eq!(field(&written.message, "OBX", 16), "D-7^Okafor^Chi^Ada N.");
    assert_eq!(written.unmapped, Vec::<String>::new());
    // Two given names fill XPN.2 and XPN.3 as before; one leaves XPN.3 empty.
    let mut pat = patient();
    pat["name"] = json!([{"family": "Castellanos", "given": ["Ana", "María Luz"]}]);
    assert_eq!(field(&write(&pat), "PID", 5), "Castellanos^Ana^María Luz");
    pat["name"] = json!([{"family": "Castellanos", "given": ["Ana"]}]);
    assert_eq!(field(&write(&pat), "PID", 5), "Castellanos^Ana");
}

/// The OBX segments of a written message, each split into its fields.
fn obx_segments(message: &[u8]) -> Vec<Vec<String>> {
    String::from_utf8(message.to_vec())
        .unwrap()
        .split('\r')
        .filter(|s| s.starts_with("OBX|"))
        .map(|s| s.split('|').map(str::to_string).collect())
        .collect()
}

fn panel(components: Vec<Value>, extra: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": "bp", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                       "subject": {"reference": "Patient/p1"},
                       "effectiveDateTime": "2026-05-18T07:42:00-05:00",
                       "component": components});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    tx(vec![patient(), o])
}

fn component(code: &str, value: Value) -> Value {
    let mut c = json!({"code": {"coding": [{"system": "http://loinc.org", "code": code}]}});
    for (k, v) in value.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn each_component_is_an_obx_of_its_own_valued_as_an_observation_is() {
    // (component value, OBX-2, OBX-5, OBX-6)
    let cases = [
        (
            json!({"valueQuantity": {"value": 128, "unit": "mmHg",
                   "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}),
            "NM",
            "128",
            "mm[Hg]^mmHg^UCUM",
        ),
        (
            json!({"valueQuantity": {"value": 5, "comparator": "<"}}),
            "SN",
            "<^5",
            "",
        ),
        (
            json!({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct",
                   "code": "260385009", "display": "Negative"}]}}),
            "CWE",
            "260385009^Negative^SCT",
            "",
        ),
        (json!({"valueString": "sitting"}), "ST", "sitting", ""),
        (json!({"valueInteger": 3}), "NM", "3", ""),
        (
            json!({"valueRange": {"low": {"value": 1}, "high": {"value": 4}}}),
            "SN",
            "^1^-^4",
            "",
        ),
        (
            json!({"valueDateTime": "2026-05-18T07:40:00-05:00"}),
            "DTM",
            "20260518074000-0500",
            "",
        ),
        (json!({"valueBoolean": true}), "CWE", "Y^Yes^HL70136", ""),
    ];
    for (value, ty, text, units) in cases {
        let message = write(&panel(vec![component("8480-6", value.clone())], json!({})));
        let obx = obx_segments(&message);
        assert_eq!(obx.len(), 2, "{value}: {obx:?}");
        let c = &obx[1];
        assert_eq!(
            (c[3].as_str(), c[2].as_str(), c[5].as_str(), c[6].as_str()),
            ("8480-6^^LN", ty, text, units),
            "{value}"
        );
        // The Observation's status and effective time: a component has none of its own.
        assert_eq!(
            (c[11].as_str(), c[14].as_str()),
            ("F", "20260518074200-0500")
        );
    }
}

#[test]
fn components_follow_in_order_with_their_interpretation_and_range_and_every_element_is_read() {
    let engine = Engine::with_defaults().unwrap();
    let explain = explaining();
    let request = panel(
        vec![
            component(
                "8480-6",
                json!({"valueQuantity": {"value": 142},
                       "interpretation": [{"coding": [{"system":
                           "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                           "code": "H"}]}],
                       "referenceRange": [{"low": {"value": 90}, "high": {"value": 120}}]}),
            ),
            component("8462-4", json!({"valueQuantity": {"value": 88}})),
            // A titer, written as an Observation's is: an SN ratio.
            component(
                "9999-9",
                json!({"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 2}}}),
            ),
        ],
        json!({}),
    );
    let written = engine.writeback(&request, &explain, 1).unwrap();
    let obx = obx_segments(&written.message);
    let codes: Vec<&str> = obx.iter().map(|s| s[3].as_str()).collect();
    assert_eq!(
        codes,
        ["85354-9^^LN", "8480-6^^LN", "8462-4^^LN", "9999-9^^LN"]
    );
    assert_eq!((obx[1][7].as_str(), obx[1][8].as_str()), ("90-120", "H"));
    assert_eq!((obx[3][2].as_str(), obx[3][5].as_str()), ("SN", "^1^:^2"));
    assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
}

#[test]
fn an_observation_and_its_components_share_the_sub_id_of_its_obx() {
    let plain = json!({"resourceType": "Observation", "id": "hr", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                       "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 72}});
    let mut request = panel(
        vec![
            component("8480-6", json!({"valueQuantity": {"value": 128}})),
            component("8462-4", json!({"valueQuantity": {"value": 82}})),
        ],
        json!({}),
    );
    // A result before the panel: the group's sub-ID is the panel's OBX-1, 2.
    request["entry"]
        .as_array_mut()
        .unwrap()
        .insert(1, json!({"resource": plain, "request": {"method": "POST"}}));
    let obx = obx_segments(&write(&request));
    let ids: Vec<(&str, &str)> = obx.iter().map(|s| (s[1].as_str(), s[4].as_str())).collect();
    // v2.5.1 does not require OBX-4: only the group gets one.
    assert_eq!(ids, [("1", ""), ("2", "2"), ("3", "2"), ("4", "2")]);
}

#[test]
fn where_obx_2_is_required_a_panel_without_a_value_is_written_as_its_components() {
    let engine = Engine::with_defaults().unwrap();
    let mut opts = explaining();
    opts.envelope.version = "2.7".into();
    let request = panel(
        vec![
            component("8480-6", json!({"valueQuantity": {"value": 128}})),
            component("8462-4", json!({"valueQuantity": {"value": 82}})),
        ],
        json!({"note": [{"text": "left arm"}]}),
    );
    // From v2.7 an identifier needs its type (CX.5).
    let mut request = request;
    request["entry"][0]["resource"]["identifier"][0]["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
    let written = engine.writeback(&request, &opts, 1).unwrap();
    let text = String::from_utf8(written.message.clone()).unwrap();
    let obx = obx_segments(&written.message);
    let ids: Vec<(&str, &str, &str)> = obx
        .iter()
        .map(|s| (s[1].as_str(), s[3].as_str(), s[4].as_str()))
        .collect();
    assert_eq!(ids, [("1", "8480-6^^LN", "1"), ("2", "8462-4^^LN", "1")]);
    // The panel's note would be read as the OBR's: it is not written, and listed.
    assert!(!text.contains("NTE"), "{text}");
    assert!(
        written
            .unmapped
            .contains(&"Bundle.entry[1].resource.note[0].text".to_string()),
        "{:?}",
        written.unmapped
    );
    // Without components such an Observation still fails, naming its value.
    let mut valueless = request.clone();
    valueless["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("component");
    let e = engine.writeback(&valueless, &opts, 1).unwrap_err();
    assert!(e.to_string().contains("OBX-2"), "{e}");
}

#[test]
fn a_coded_value_keeps_the_components_its_version_gives_the_value_type() {
    // A third coding is CWE's second alternate code (CWE.10 to .12), which CWE has from v2.7:
    // in an earlier version the OBX-5 of the value type OBX-2 names holds nine components.
    let engine = Engine::with_defaults().unwrap();
    let mut request = panel(Vec::new(), json!({}));
    let observation = &mut request["entry"][1]["resource"];
    observation.as_object_mut().unwrap().remove("component");
    observation["valueCodeableConcept"] = json!({"coding": [
        {"system": "http://snomed.info/sct", "code": "8517006", "display": "Ex-smoker"},
        {"system": "http://loinc.org", "code": "LA15920-4", "display": "Former smoker"},
        {"system": "http://snomed.info/sct", "code": "77176002", "display": "Smoker"}]});
    request["entry"][0]["resource"]["identifier"][0]["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
    for (version, obx5, problems) in [
        (
            "2.5.1",
            "8517006^Ex-smoker^SCT^LA15920-4^Former smoker^LN",
            vec!["OBX-5.10, OBX-5.11, OBX-5.12: not a component of CWE in HL7 v2.5.1; left out"],
        ),
        (
            "2.7",
            "8517006^Ex-smoker^SCT^LA15920-4^Former smoker^LN^^^^77176002^Smoker^SCT",
            Vec::new(),
        ),
    ] {
        let mut opts = explaining();
        opts.envelope.version = version.into();
        let written = engine.writeback(&request, &opts, 1).unwrap();
        let obx = obx_segments(&written.message);
        assert_eq!(
            (obx[0][2].as_str(), obx[0][5].as_str()),
            ("CWE", obx5),
            "{version}"
        );
        assert_eq!(written.problems, problems, "{version}");
    }
}

#[test]
fn what_the_versions_data_type_has_no_component_for_is_reported_not_claimed_written() {
    // In v2.5.1 an XTN ends at XTN.12 (the rank, XTN.18, and the period, XTN.13 and .14, came
    // with v2.6), and PID-15 and PID-16 are CE, which has no original text (CWE.9): a text
    // without a code goes to CE.2, as CE carries text.
    let engine = Engine::with_defaults().unwrap();
    let mut opts = explaining();
    let mut pat = patient();
    pat["identifier"][0]["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
    pat["telecom"] = json!([{"system": "phone", "value": "555-1000", "use": "home", "rank": 1,
                             "period": {"start": "2020-01-01"}}]);
    pat["maritalStatus"] = json!({"text": "Separated, not legally"});
    pat["communication"] = json!([{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}],
                                                "text": "Spanish (Mexico)"}}]);
    let written = engine.writeback(&pat, &opts, 1).unwrap();
    assert_eq!(field(&written.message, "PID", 13), "555-1000^PRN^PH");
    assert_eq!(
        field(&written.message, "PID", 16),
        "^Separated, not legally"
    );
    assert_eq!(field(&written.message, "PID", 15), "es^^ISO639");
    for path in [
        "Patient.telecom[0].rank",
        "Patient.telecom[0].period.start",
        "Patient.communication[0].language.text",
    ] {
        assert!(
            written.unmapped.contains(&path.to_string()),
            "{path}: {:?}",
            written.unmapped
        );
    }
    // From v2.7 (CWE, and XTN.13 to .18) every one of them is written.
    opts.envelope.version = "2.7".into();
    let written = engine.writeback(&pat, &opts, 1).unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "^PRN^PH^^^^^^^^^555-1000^20200101^^^^^1"
    );
    assert_eq!(
        field(&written.message, "PID", 16),
        "^^^^^^^^Separated, not legally"
    );
    assert_eq!(
        field(&written.message, "PID", 15),
        "es^^ISO639^^^^^^Spanish (Mexico)"
    );
    assert!(written.unmapped.is_empty(), "{:?}", written.unmapped);
}

#[test]
fn a_reference_range_written_as_its_limits_claims_only_what_obx_7_says() {
    // OBX-7 is the range's limits, in the units of OBX-6: the range's meaning (`type`), the
    // population it applies to and an age, and a unit other than the value's, have no place
    // in it and are listed, not counted as written.
    let engine = Engine::with_defaults().unwrap();
    let explain = explaining();
    let mg = json!({"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"});
    let with_unit = |value: f64, unit: &Value| {
        let mut q = unit.clone();
        q["value"] = json!(value);
        q
    };
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": with_unit(1.1, &mg),
        "referenceRange": [{"low": with_unit(0.6, &mg), "high": with_unit(1.3, &mg),
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/referencerange-meaning",
                                 "code": "normal"}]},
            "appliesTo": [{"text": "adult"}],
            "age": {"low": {"value": 18, "unit": "a"}}}]});
    let written = engine
        .writeback(&tx(vec![patient(), obs]), &explain, 1)
        .unwrap();
    assert_eq!(field(&written.message, "OBX", 7), "0.6-1.3");
    assert_eq!(
        written.unmapped,
        [
            "Bundle.entry[1].resource.referenceRange[0].type.coding[0].system",
            "Bundle.entry[1].resource.referenceRange[0].type.coding[0].code",
            "Bundle.entry[1].resource.referenceRange[0].appliesTo[0].text",
            "Bundle.entry[1].resource.referenceRange[0].age.low.value",
            "Bundle.entry[1].resource.referenceRange[0].age.low.unit",
        ]
    );
    // Limits in another unit than the value's would be read in the value's: the range is
    // left out, and listed.
    let mut other = tx(vec![patient(), json!({})]);
    other["entry"][1]["resource"] = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": with_unit(97.0, &json!({"unit": "umol/L"})),
        "referenceRange": [{"low": with_unit(0.6, &mg), "high": with_unit(1.3, &mg)}]});
    let written = engine.writeback(&other, &explain, 1).unwrap();
    assert_eq!(field(&written.message, "OBX", 7), "");
    assert_eq!(
        written.unmapped,
        [
            "Bundle.entry[1].resource.referenceRange[0].low.unit",
            "Bundle.entry[1].resource.referenceRange[0].low.system",
            "Bundle.entry[1].resource.referenceRange[0].low.code",
            "Bundle.entry[1].resource.referenceRange[0].low.value",
            "Bundle.entry[1].resource.referenceRange[0].high.unit",
            "Bundle.entry[1].resource.referenceRange[0].high.system",
            "Bundle.entry[1].resource.referenceRange[0].high.code",
            "Bundle.entry[1].resource.referenceRange[0].high.value",
        ]
    );
}

#[test]
fn a_value_whose_field_another_element_already_filled_is_reported_not_claimed_written() {
    // AL1-4 holds an allergy's criticality and, where the IG reads it so, its reaction's
    // severity; XAD.7 an address's use and its type. One value fits: the first written stays,
    // and the other is listed.
    let engine = Engine::with_defaults().unwrap();
    let explain = WritebackOptions {
        explain: true,
        event: Some("A01".into()),
        ..options()
    };
    let mut pat = patient();
    pat["address"] =
        json!([{"use": "home", "type": "postal", "line": ["PO Box 5"], "city": "Springfield"}]);
    let encounter = json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
        "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"}});
    let allergy = json!({"resourceType": "AllergyIntolerance", "category": ["medication"],
        "criticality": "high", "patient": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7980"}]},
        "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}]});
    let written = engine
        .writeback(&tx(vec![pat, encounter, allergy]), &explain, 1)
        .unwrap();
    assert_eq!(field(&written.message, "AL1", 4), "SV");
    assert_eq!(
        field(&written.message, "PID", 11),
        "PO Box 5^^Springfield^^^^H"
    );
    assert_eq!(
        written.unmapped,
        [
            "Bundle.entry[0].resource.address[0].type",
            "Bundle.entry[2].resource.reaction[0].severity",
        ]
    );
}

#[test]
fn a_location_name_too_long_for_the_point_of_care_goes_whole_to_the_description() {
    // PL.1 takes 20 characters; a Location named in full, as US Core and Synthea name them, is
    // not cut: it goes to PL.9, the location's description. A short name stays the point of
    // care, and where the Location has a description of its own, that one is PL.9 and the long
    // name is reported.
    let engine = Engine::with_defaults().unwrap();
    let explain = WritebackOptions {
        explain: true,
        event: Some("A01".into()),
        ..options()
    };
    let pv1_3 = |location: Value| {
        let encounter = json!({"resourceType": "Encounter", "status": "in-progress",
            "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
            "location": [{"location": {"reference": "Location/l1"}}]});
        let written = engine
            .writeback(&tx(vec![patient(), encounter, location]), &explain, 1)
            .unwrap();
        (field(&written.message, "PV1", 3), written.unmapped)
    };
    let long = "MASSACHUSETTS GENERAL HOSPITAL";
    let location = |extra: Value| {
        let mut l = json!({"resourceType": "Location", "id": "l1", "name": long});
        l.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        l
    };
    assert_eq!(
        pv1_3(location(json!({}))),
        (format!("^^^^^^^^{long}"), vec![])
    );
    assert_eq!(
        pv1_3(location(json!({"name": "4W"}))),
        ("4W".to_string(), vec![])
    );
    assert_eq!(
        pv1_3(location(json!({"description": "Main campus"}))),
        (
            "^^^^^^^^Main campus".to_string(),
            vec!["Bundle.entry[2].resource.name".to_string()]
        )
    );
}

#[test]
fn a_location_and_the_locations_it_is_part_of_are_one_pl() {
    // A Location's physical type says which PL component its name is (bd PL.3, ro PL.2, any
    // other PL.1), and the Locations it is part of give the components above it: a bed in a
    // room of a ward, a bed in a point of care without a room, a room.
    let engine = Engine::with_defaults().unwrap();
    let explain = WritebackOptions {
        explain: true,
        event: Some("A01".into()),
        ..options()
    };
    let typed = |id: &str, name: &str, ty: Option<&str>, part_of: Option<&str>| {
        let mut l = json!({"resourceType": "Location", "id": id, "name": name});
        if let Some(ty) = ty {
            l["physicalType"] = json!({"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                "code": ty}]});
        }
        if let Some(p) = part_of {
            l["partOf"] = json!({"reference": format!("Location/{p}")});
        }
        l
    };
    let pv1_3 = |locations: Vec<Value>| {
        let encounter = json!({"resourceType": "Encounter", "status": "in-progress",
            "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
            "location": [{"location": {"reference": "Location/l1"}}]});
        let mut resources = vec![patient(), encounter];
        resources.extend(locations);
        let written = engine.writeback(&tx(resources), &explain, 1).unwrap();
        (field(&written.message, "PV1", 3), written.unmapped)
    };
    let none: Vec<String> = Vec::new();
    assert_eq!(
        pv1_3(vec![
            typed("l1", "B", Some("bd"), Some("l2")),
            typed("l2", "412", Some("ro"), Some("l3")),
            typed("l3", "4W", Some("wa"), None),
        ]),
        (
            "4W^412^B".to_string(),
            // A ward is a point of care, but no PL component says it is a ward.
            vec![
                "Bundle.entry[4].resource.physicalType.coding[0].system".to_string(),
                "Bundle.entry[4].resource.physicalType.coding[0].code".to_string()
            ]
        )
    );
    assert_eq!(
        pv1_3(vec![
            typed("l1", "C", Some("bd"), Some("l3")),
            typed("l3", "4W", None, None),
        ]),
        ("4W^^C".to_string(), none.clone())
    );
    assert_eq!(
        pv1_3(vec![typed("l1", "412", Some("ro"), None)]),
        ("^412".to_string(), none)
    );
}

#[test]
fn a_facilitys_universal_id_goes_back_as_its_id_and_type() {
    // An Organization made of an HD (PL.4) is identified by its namespace id and, for a
    // universal id of type ISO, UUID or URI, by that id as a URI: written back, the URI is HD.2
    // and HD.3 again, not the URI's text in HD.2.
    let engine = Engine::with_defaults().unwrap();
    let encounter = json!({"resourceType": "Encounter", "status": "in-progress",
        "class": {"code": "IMP"}, "subject": {"reference": "Patient/p1"},
        "location": [{"location": {"reference": "Location/l1"}}]});
    let location = json!({"resourceType": "Location", "id": "l1", "name": "4W",
        "managingOrganization": {"reference": "Organization/o1"}});
    let facility = |uri: &str| {
        json!({"resourceType": "Organization", "id": "o1", "identifier": [
            {"value": "GHH"}, {"system": "urn:ietf:rfc:3986", "value": uri}]})
    };
    let pv1_3 = |org: Value| {
        let request = tx(vec![patient(), encounter.clone(), location.clone(), org]);
        let written = engine.writeback(&request, &options(), 1).unwrap();
        field(&written.message, "PV1", 3)
    };
    assert_eq!(pv1_3(facility("urn:oid:1.2.3")), "4W^^^GHH&1.2.3&ISO");
    assert_eq!(
        pv1_3(facility("https://ghh.example.org/facility")),
        "4W^^^GHH&https://ghh.example.org/facility&URI"
    );
}

#[test]
fn a_surname_in_parts_keeps_its_prefixes_and_partner_name_both_ways() {
    // XPN.1 is an FN: the surname as sent, then the own prefix and surname and the partner's
    // (FN.2 to FN.5), which are the core extensions of HumanName.family and go back in place.
    let engine = Engine::with_defaults().unwrap();
    let message = b"MSH|^~\\&|A|B|C|D|20260101120000||ADT^A28^ADT_A05|X1|P|2.5.1\r\
        EVN|A28|20260101120000\rPID|1||123^^^HOSP^MR||van der Berg-de Vries&van der&Berg&de&Vries^Anna\r\
        PV1|1|O|||||77^van Dijk&van&Dijk^Jan\r";
    let bundle = engine
        .notify(message, &hl7fhir::notify::NotifyOptions::default())
        .unwrap();
    let resource = |ty: &str| {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == ty)
            .unwrap()
            .clone()
    };
    let patient = resource("Patient");
    let part = |name: &str, value: &str| {
        json!({"url": format!("http://hl7.org/fhir/StructureDefinition/humanname-{name}"),
               "valueString": value})
    };
    // A practitioner's XCN.2 is an FN too.
    assert_eq!(
        resource("Practitioner")["name"][0]["_family"]["extension"],
        json!([part("own-prefix", "van"), part("own-name", "Dijk")])
    );
    assert_eq!(
        patient["name"][0],
        json!({"family": "van der Berg-de Vries", "_family": {"extension": [
            part("own-prefix", "van der"), part("own-name", "Berg"),
            part("partner-prefix", "de"), part("partner-name", "Vries")]},
            "given": ["Anna"]})
    );
    assert_eq!(
        field(&write(&patient), "PID", 5),
        "van der Berg-de Vries&van der&Berg&de&Vries^Anna"
    );
}

#[test]
fn a_malformed_number_kept_as_original_text_goes_back_as_sent() {
    // An NM that is no number (`<0.10`, a comparator HL7 gives SN for; `1,5`, a decimal comma)
    // is kept as the value's original text; a malformed SN as the Quantity's, its components
    // joined by spaces, which is text, no longer an SN.
    let sent = "MSH|^~\\&|LAB|GHH|EHR|GHH|20260101120000+0000||ORU^R01^ORU_R01|MSG1|P|2.5.1\r\
        PID|1||MRN-1^^^H^MR||DOE^JANE||19800101|F\r\
        OBR|1||F1^LAB|2345-7^Glucose^LN|||20260101100000+0000\r\
        OBX|1|NM|2345-7^Glucose^LN||<0.10|mg/dL|||||F\r\
        OBX|2|NM|2345-9^Other^LN||1,5||||||F\r\
        OBX|3|SN|2345-8^Other^LN||1,5^x|mg/dL|||||F\r";
    let engine = Engine::with_defaults().unwrap();
    let bundle = engine.notify(sent.as_bytes(), &Default::default()).unwrap();
    let message = write(&bundle);
    let text = String::from_utf8(message.clone()).unwrap();
    let obx: Vec<Vec<&str>> = text
        .split('\r')
        .filter(|s| s.starts_with("OBX|"))
        .map(|s| s.split('|').collect())
        .collect();
    let typed: Vec<(&str, &str)> = obx.iter().map(|f| (f[2], f[5])).collect();
    assert_eq!(
        typed,
        [("NM", "<0.10"), ("NM", "1,5"), ("ST", "1,5 x")],
        "{text}"
    );
    // Read again, each keeps the same original text.
    let again = engine.notify(&message, &Default::default()).unwrap();
    let kept: Vec<String> = again["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .map(|e| {
            let r = &e["resource"];
            let q = &r["valueQuantity"];
            let ext = if q["_value"].is_object() {
                &q["_value"]["extension"][0]
            } else if q.is_object() {
                &q["extension"][0]
            } else {
                &r["valueString"]
            };
            ext.get("valueString")
                .unwrap_or(ext)
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kept, ["<0.10", "1,5", "1,5 x"]);
}

/// OBX-2 and OBX-5 of the one OBX written back for an ORU^R01 whose OBX is `SN` `obx5` in
/// units `obx6`, read forward first; and what `--explain` lists unwritten.
fn sn_back(obx5: &str, obx6: &str) -> (String, String, String, Vec<String>) {
    let sent = format!(
        "MSH|^~\\&|LAB|GHH|EHR|GHH|20260101120000+0000||ORU^R01^ORU_R01|MSG1|P|2.5.1\r\
        PID|1||MRN-1^^^H^MR||DOE^JANE||19800101|F\r\
        OBR|1||F1^LAB|2888-6^Protein^LN|||20260101100000+0000\r\
        OBX|1|SN|2888-6^Protein^LN||{obx5}|{obx6}|||||F\r"
    );
    let engine = Engine::with_defaults().unwrap();
    let bundle = engine.notify(sent.as_bytes(), &Default::default()).unwrap();
    let explained = explaining();
    let out = engine.writeback(&bundle, &explained, 1).unwrap();
    let obx = obx_segments(&out.message);
    assert_eq!(obx.len(), 1, "{}", String::from_utf8_lossy(&out.message));
    let unmapped = out
        .unmapped
        .into_iter()
        .filter(|u| u.contains(".value"))
        .collect();
    (
        obx[0][2].clone(),
        obx[0][5].clone(),
        obx[0][6].clone(),
        unmapped,
    )
}

#[test]
fn a_ranges_comparator_kept_in_its_original_text_goes_back_to_sn_1() {
    // Forward, a Range cannot hold `>`: it stays in the Range's original text, `> 1 - 5`, which
    // says exactly the comparator and the bounds; back, it is the SN it came from, with its
    // units, and nothing of the value is left unwritten.
    for sn in [">^1^-^5", "<=^0.5^-^10", ">=^1^-", "<^^-^5", "^1^-^5"] {
        let (ty, value, units, unmapped) = sn_back(sn, "mg/dL^^UCUM");
        assert_eq!((ty.as_str(), value.as_str()), ("SN", sn));
        assert_eq!(units, "mg/dL^^UCUM", "{sn}");
        assert!(unmapped.is_empty(), "{sn}: {unmapped:?}");
    }
}

#[test]
fn a_range_whose_original_text_says_something_else_keeps_its_bounds_and_reports_the_text() {
    // Text beside the bounds that is not exactly their comparator form names no comparator:
    // the bounds go as SN, and the text, which an SN cannot hold, is reported, never read for
    // a comparator.
    let engine = Engine::with_defaults().unwrap();
    let explained = explaining();
    for text in ["about 1 - 5", "> 2 - 5", ">1-5", "> 1 - 5 mg", "<> 1 - 5"] {
        let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2888-6"}]},
               "subject": {"reference": "Patient/p1"},
               "valueRange": {"low": {"value": 1}, "high": {"value": 5},
                   "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/originalText",
                                  "valueString": text}]}});
        let out = engine
            .writeback(&tx(vec![patient(), obs]), &explained, 1)
            .unwrap();
        let obx = obx_segments(&out.message);
        assert_eq!(
            (obx[0][2].as_str(), obx[0][5].as_str()),
            ("SN", "^1^-^5"),
            "{text}"
        );
        assert!(
            out.unmapped
                .iter()
                .any(|u| u.ends_with("valueRange.extension[0].valueString")),
            "{text}: {:?}",
            out.unmapped
        );
    }
}

#[test]
fn a_reference_by_name_alone_is_written_only_where_a_field_holds_that_name_as_text() {
    // An Organization named by the display alone: XON.1 is the organization's name (ST), which
    // reads back as the Organization's name.
    let performer = |reference: Value| {
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
               "subject": {"reference": "Patient/p1"}, "valueString": "x",
               "performer": [reference]})
    };
    let engine = Engine::with_defaults().unwrap();
    let explained = explaining();
    let lab = json!({"type": "Organization", "display": "Acme Laboratory"});
    let out = engine
        .writeback(&tx(vec![patient(), performer(lab)]), &explained, 1)
        .unwrap();
    assert_eq!(field(&out.message, "OBX", 23), "Acme Laboratory");
    assert!(out.unmapped.is_empty(), "{:?}", out.unmapped);
    let back = read_back(&out.message);
    assert_eq!(
        entry_of(&back, "Organization")["resource"]["name"],
        "Acme Laboratory"
    );
    // A person's name in a display does not say which part is the family name (XCN.2), and a
    // display without a type does not say whether it names a person or an organization: neither
    // is written, and both are reported.
    for reference in [
        json!({"display": "Dr X"}),
        json!({"type": "Practitioner", "display": "Dr X"}),
        json!({"display": "Acme Laboratory"}),
    ] {
        let out = engine
            .writeback(
                &tx(vec![patient(), performer(reference.clone())]),
                &explained,
                1,
            )
            .unwrap();
        assert_eq!(field(&out.message, "OBX", 16), "", "{reference}");
        assert_eq!(field(&out.message, "OBX", 23), "", "{reference}");
        assert!(
            out.unmapped
                .iter()
                .any(|u| u.ends_with("performer[0].display")),
            "{reference}: {:?}",
            out.unmapped
        );
    }
}

/// A Patient, an Encounter and the panel `components` make up, as a transaction an ADT^A08
/// carries; for v2.7 and later the identifier has its type.
fn panel_in_adt(components: Vec<Value>, version: &str) -> (Value, WritebackOptions) {
    let mut request = panel(
        components,
        json!({"encounter": {"reference": "Encounter/e1"}}),
    );
    request["entry"][0]["resource"]["identifier"][0]["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]});
    let encounter = json!({"resourceType": "Encounter", "id": "e1", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "Patient/p1"}});
    request["entry"].as_array_mut().unwrap().insert(
        1,
        json!({"resource": encounter, "request": {"method": "PUT"}}),
    );
    let mut opts = WritebackOptions {
        event: Some("A08".into()),
        explain: true,
        ..options()
    };
    opts.envelope.version = version.into();
    (request, opts)
}

#[test]
fn an_adt_observations_components_follow_its_obx_as_in_a_result() {
    // An ADT's OBX stands in no OBSERVATION group: each component is an OBX of its own after
    // the Observation's, the group's sub-ID theirs, as under an OBR.
    let engine = Engine::with_defaults().unwrap();
    let components = vec![
        component("8480-6", json!({"valueQuantity": {"value": 128}})),
        component("8462-4", json!({"valueQuantity": {"value": 82}})),
    ];
    let (request, opts) = panel_in_adt(components.clone(), "2.5.1");
    let written = engine.writeback(&request, &opts, 1).unwrap();
    let obx = obx_segments(&written.message);
    let ids: Vec<(&str, &str, &str, &str, &str)> = obx
        .iter()
        .map(|s| {
            (
                s[1].as_str(),
                s[3].as_str(),
                s[4].as_str(),
                s[5].as_str(),
                s[11].as_str(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("1", "85354-9^^LN", "1", "", "F"),
            ("2", "8480-6^^LN", "1", "128", "F"),
            ("3", "8462-4^^LN", "1", "82", "F")
        ]
    );
    // (An A08's PV1 says nothing of the Encounter's status.)
    assert!(
        written
            .unmapped
            .iter()
            .all(|u| !u.starts_with("Bundle.entry[2]")),
        "{:?}",
        written.unmapped
    );
    // Where OBX-2 is required the valueless panel is written as its components alone.
    let (request, opts) = panel_in_adt(components, "2.7");
    let written = engine.writeback(&request, &opts, 1).unwrap();
    let obx = obx_segments(&written.message);
    let ids: Vec<(&str, &str, &str)> = obx
        .iter()
        .map(|s| (s[1].as_str(), s[3].as_str(), s[4].as_str()))
        .collect();
    assert_eq!(ids, [("1", "8480-6^^LN", "1"), ("2", "8462-4^^LN", "1")]);
}

#[test]
fn a_dft_observations_components_are_obx_of_their_own_under_its_order() {
    // DFT_P03's OBSERVATION group is written as ORU's: the components after the panel's OBX.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/fhir-to-v2/charge_single_p03.json"
    );
    let mut request: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let order = json!({"resourceType": "ServiceRequest", "id": "sr-1", "status": "completed",
        "intent": "order", "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/pat-33901"}});
    let mut bp = panel(
        vec![
            component("8480-6", json!({"valueQuantity": {"value": 128}})),
            component("8462-4", json!({"valueQuantity": {"value": 82}})),
        ],
        json!({"basedOn": [{"reference": "ServiceRequest/sr-1"}],
               "subject": {"reference": "Patient/pat-33901"}}),
    )["entry"][1]["resource"]
        .clone();
    bp["id"] = json!("bp-1");
    let entries = request["entry"].as_array_mut().unwrap();
    for r in [order, bp] {
        entries.push(json!({"resource": r, "request": {"method": "POST"}}));
    }
    let message = write(&request);
    assert!(String::from_utf8_lossy(&message).contains("|DFT^P03^DFT_P03|"));
    let obx = obx_segments(&message);
    let ids: Vec<(&str, &str, &str)> = obx
        .iter()
        .map(|s| (s[1].as_str(), s[3].as_str(), s[4].as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("1", "85354-9^^LN", "1"),
            ("2", "8480-6^^LN", "1"),
            ("3", "8462-4^^LN", "1")
        ]
    );
}

#[test]
fn a_contact_points_number_parts_go_to_their_components_and_an_e_mail_has_no_local_number() {
    // The contactpoint extensions are XTN.5 to XTN.8; a value in another form than the one the
    // forward direction builds from them goes to XTN.1 beside them. XTN.7 is no part of an
    // e-mail address (XTN.3 Internet), as the IG's XTN[ContactPoint] map has it: not written,
    // and reported.
    let ext = |url: &str, value: &str| json!({"url": format!("http://hl7.org/fhir/StructureDefinition/contactpoint-{url}"), "valueString": value});
    let request = json!({"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
    "name": [{"family": "Doe"}],
    "telecom": [
        {"system": "phone", "use": "home", "value": "555-123-4567",
         "extension": [ext("country", "1"), ext("area", "555"), ext("local", "1234567"), ext("extension", "89")]},
        {"system": "email", "value": "a@example.org", "extension": [ext("local", "1234567")]}
    ]});
    let engine = Engine::with_defaults().unwrap();
    let explained = explaining();
    let written = engine.writeback(&request, &explained, 1).unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "555-123-4567^PRN^PH^^1^555^1234567^89~^^Internet^a@example.org"
    );
    assert_eq!(
        written.unmapped,
        [
            "Patient.telecom[1].extension[0].url",
            "Patient.telecom[1].extension[0].valueString"
        ]
    );
}

#[test]
fn a_local_number_that_is_no_number_is_not_written_to_a_numeric_component() {
    // XTN.7 is an NM before v2.7 (an SNM, digits, from then on): a contactpoint-local as a
    // sender wrote it, `555-8473`, is no number, so it is left out and reported, never written
    // invalid or stripped of its hyphen. The number in the ContactPoint's value still goes.
    let local = |value: &str| {
        json!({"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
        "name": [{"family": "Doe"}],
        "telecom": [{"system": "phone", "use": "home", "value": "+1 (555) 555-8473",
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/contactpoint-local",
                           "valueString": value}]}]})
    };
    let engine = Engine::with_defaults().unwrap();
    let explained = explaining();
    let written = engine.writeback(&local("555-8473"), &explained, 1).unwrap();
    assert_eq!(
        field(&written.message, "PID", 13),
        "+1 (555) 555-8473^PRN^PH"
    );
    assert_eq!(
        written.unmapped,
        [
            "Patient.telecom[0].extension[0].url",
            "Patient.telecom[0].extension[0].valueString"
        ]
    );
    assert_eq!(written.problems.len(), 1, "{:?}", written.problems);
    assert!(
        written.problems[0].contains("XTN.7 is an NM in HL7 v2.5.1")
            && !written.problems[0].contains("8473"),
        "{:?}",
        written.problems
    );
    let digits = engine.writeback(&local("5558473"), &explained, 1).unwrap();
    assert_eq!(
        field(&digits.message, "PID", 13),
        "+1 (555) 555-8473^PRN^PH^^^^5558473"
    );
    assert!(digits.unmapped.is_empty(), "{:?}", digits.unmapped);
}

#[test]
fn a_coded_reaction_without_text_goes_to_al1_5_as_its_display() {
    // AL1-5 is text (ST): a reaction an app sends coded alone (SNOMED's Hives) goes as its
    // first coding's display, and its code, which the field has no room for, is reported. A
    // reaction with text of its own goes as that text, and a display saying otherwise is
    // reported.
    let engine = Engine::with_defaults().unwrap();
    let explain = WritebackOptions {
        explain: true,
        event: Some("A31".into()),
        ..options()
    };
    let allergy = |manifestation: Value| {
        json!({"resourceType": "AllergyIntolerance", "category": ["medication"],
            "patient": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7980"}]},
            "reaction": [{"manifestation": [manifestation]}]})
    };
    let hives = json!({"coding": [{"system": "http://snomed.info/sct", "code": "247472004", "display": "Hives"}]});
    let written = engine
        .writeback(&tx(vec![patient(), allergy(hives.clone())]), &explain, 1)
        .unwrap();
    assert_eq!(field(&written.message, "AL1", 5), "Hives");
    let coding = "Bundle.entry[1].resource.reaction[0].manifestation[0].coding[0]";
    assert_eq!(
        written.unmapped,
        [format!("{coding}.system"), format!("{coding}.code")]
    );
    let mut described = hives;
    described["text"] = json!("Hives on both arms");
    let written = engine
        .writeback(&tx(vec![patient(), allergy(described)]), &explain, 1)
        .unwrap();
    assert_eq!(field(&written.message, "AL1", 5), "Hives on both arms");
    assert!(written.unmapped.contains(&format!("{coding}.display")));
}

/// OBX-2 and OBX-5 as written for an Observation holding `attachment` in R5's value extension,
/// and the problems and unwritten elements reported.
fn attachment_obx(attachment: Value) -> (String, String, Vec<String>) {
    let ext = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value";
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
                     "subject": {"reference": "Patient/p1"},
                     "extension": [{"url": ext, "valueAttachment": attachment}]});
    let engine = Engine::with_defaults().unwrap();
    let out = engine
        .writeback(&tx(vec![patient(), obs]), &explaining(), 1)
        .unwrap();
    let m = &out.message;
    (field(m, "OBX", 2), field(m, "OBX", 5), out.unmapped)
}

#[test]
fn an_attachment_is_an_ed_holding_its_data_or_an_rp_pointing_at_it_and_reads_back() {
    let pdf = "JVBERi0xLjQK";
    // Data wrapped as MIME wraps base64 goes without its line breaks.
    let (obx2, obx5, unmapped) =
        attachment_obx(json!({"contentType": "application/pdf", "data": "JVBERi0x\r\nLjQK"}));
    assert_eq!(
        (obx2.as_str(), obx5.as_str()),
        ("ED", "^AP^PDF^Base64^JVBERi0xLjQK")
    );
    assert!(unmapped.is_empty(), "{unmapped:?}");
    // Table 0291's spelling where it has the subtype; a charset parameter has no component.
    let (_, obx5, _) = attachment_obx(json!({"contentType": "image/jpeg", "data": pdf}));
    assert_eq!(obx5, format!("^IM^JPEG^Base64^{pdf}"));
    let (_, obx5, _) =
        attachment_obx(json!({"contentType": "text/plain; charset=utf-8", "data": "SGk="}));
    assert_eq!(obx5, "^TEXT^PLAIN^Base64^SGk=");
    let (obx2, obx5, _) = attachment_obx(
        json!({"contentType": "application/octet-stream", "url": "https://pacs.example/1"}),
    );
    assert_eq!(
        (obx2.as_str(), obx5.as_str()),
        ("RP", "https://pacs.example/1^^AP^Octet-stream")
    );
    // A top-level type no table has a code for is reported, the data written all the same.
    let (_, obx5, unmapped) = attachment_obx(json!({"contentType": "font/woff2", "data": pdf}));
    assert_eq!(obx5, format!("^^^Base64^{pdf}"));
    assert!(
        unmapped
            .iter()
            .any(|u| u.ends_with("valueAttachment.contentType")),
        "{unmapped:?}"
    );
    // Beside a value of R4's own, which comes first, the extension standing for the same element
    // is reported, not run into the OBX-5 the value wrote.
    let ext = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value";
    let both = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
                      "subject": {"reference": "Patient/p1"}, "valueString": "See attached",
                      "extension": [{"url": ext, "valueAttachment": {"contentType": "application/pdf", "data": pdf}}]});
    let out = Engine::with_defaults()
        .unwrap()
        .writeback(&tx(vec![patient(), both]), &explaining(), 1)
        .unwrap();
    assert_eq!(field(&out.message, "OBX", 2), "ST");
    assert_eq!(field(&out.message, "OBX", 5), "See attached");
    assert!(
        out.unmapped
            .iter()
            .any(|u| u.ends_with("valueAttachment.data")),
        "{:?}",
        out.unmapped
    );
    // Read back, the message gives the attachment it was written from.
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
                     "subject": {"reference": "Patient/p1"},
                     "extension": [{"url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value",
                                    "valueAttachment": {"contentType": "application/pdf", "data": pdf}}]});
    let back = read_back(&write(&tx(vec![patient(), obs.clone()])));
    assert_eq!(
        entry_of(&back, "Observation")["resource"]["extension"],
        obs["extension"]
    );
}

#[test]
fn a_sub_id_sent_with_a_result_goes_back_to_obx_4_and_its_components_share_it() {
    let sub_id = |original: &str| {
        json!([{"url": "http://hl7.org/fhir/StructureDefinition/observation-v2-subid",
                "extension": [{"url": "original-sub-identifier", "valueString": original},
                              {"url": "group", "valueDecimal": 1}]}])
    };
    let mut plain = json!({"resourceType": "Observation", "id": "amp", "status": "final",
                           "code": {"coding": [{"system": "http://loinc.org", "code": "18864-9"}]},
                           "subject": {"reference": "Patient/p1"}, "valueString": "S"});
    plain["extension"] = sub_id("1.1");
    let mut request = panel(
        vec![component(
            "8480-6",
            json!({"valueQuantity": {"value": 128}}),
        )],
        json!({"extension": sub_id("7")}),
    );
    request["entry"]
        .as_array_mut()
        .unwrap()
        .insert(1, json!({"resource": plain, "request": {"method": "POST"}}));
    let engine = Engine::with_defaults().unwrap();
    let out = engine.writeback(&request, &explaining(), 1).unwrap();
    let obx = obx_segments(&out.message);
    let ids: Vec<(&str, &str)> = obx.iter().map(|s| (s[1].as_str(), s[4].as_str())).collect();
    assert_eq!(ids, [("1", "1.1"), ("2", "7"), ("3", "7")]);
    // An OG's group has no place in v2.5.1's OBX-4, a string: reported.
    assert!(
        out.unmapped
            .iter()
            .any(|u| u.ends_with("extension[0].extension[1].valueDecimal")),
        "{:?}",
        out.unmapped
    );
    // Read back, each result keeps the sub-ID it was sent with.
    let back = read_back(&out.message);
    let subs: Vec<&Value> = back["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .map(|e| &e["resource"]["extension"][0]["extension"][0]["valueString"])
        .collect();
    assert_eq!(subs, [&json!("1.1"), &json!("7"), &json!("7")]);
}

#[test]
fn a_reference_population_and_an_analysis_time_go_back_to_obx_10_and_obx_19() {
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
        "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 212},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test",
             "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0080", "code": "A"}]}},
            {"url": "http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test",
             "valueCodeableConcept": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0080", "code": "S"}]}},
            {"url": "http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time",
             "valueDateTime": "2026-05-12T08:45:00-05:00"}]});
    let message = write(&tx(vec![patient(), obs]));
    assert_eq!(field(&message, "OBX", 10), "A~S");
    assert_eq!(field(&message, "OBX", 19), "20260512084500-0500");
}

#[test]
fn an_animal_patients_species_and_breed_go_back_to_pid_35_and_pid_36() {
    let code = |c: &str| json!({"coding": [{"system": "http://snomed.info/sct", "code": c}]});
    let request = json!({"resourceType": "Patient", "identifier": [{"value": "VET-1"}],
        "name": [{"family": "Rex"}],
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-animal",
                       "extension": [{"url": "species", "valueCodeableConcept": code("448771007")},
                                     {"url": "breed", "valueCodeableConcept": code("132624002")}]}]});
    let message = write(&request);
    assert_eq!(field(&message, "PID", 35), "448771007^^SCT");
    assert_eq!(field(&message, "PID", 36), "132624002^^SCT");
}
