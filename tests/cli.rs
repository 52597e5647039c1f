//! The `hl7fhir` binary end to end: every input gives exactly one output or error record, in
//! order; exit status; byte-identical round trip; a closed stdout ends the run quietly.

mod common;
use common::run;

/// Good and bad inputs in every framing, in a known order.
fn mixed_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(
        b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|M1|P|2.5.1\rPID|1||1^^^MR||Doe^Jane\r\n",
    );
    s.extend_from_slice(b"\x0bMSH|^~\\&|A|B|C|D|20260101||ADT^A08|M2|P|2.5.1\rPID|1\r\x1c\r");
    s.extend_from_slice(b"garbage between messages\r");
    s.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|M3|P|2.5.1\rpid|1\r");
    s.extend_from_slice(b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A|B|C|D|20260101||ORU^R01|M4|P|2.5.1\rOBX|1|ST|x||v\rBTS|1\rFTS|1\r");
    s.extend_from_slice(
        b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|M5|P|2.5.1||||||UNICODE UTF-8\rPID|1||||Smith\xff\r",
    );
    s
}

#[test]
fn parse_gives_one_record_per_input_in_order() {
    let r = run(&["parse"], &mixed_stream());
    assert_eq!(r.status, 1, "{}", r.stderr);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [1, 2, 5]);
    assert_eq!(
        lines[0]["segments"][1]["fields"][4],
        serde_json::json!([["Doe", "Jane"]])
    );
    let stderr: Vec<&str> = r.stderr.lines().collect();
    let records: Vec<serde_json::Value> = stderr[..stderr.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(u64, &str)> = records
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [(3, "framing"), (4, "bad_segment_id"), (6, "bad_encoding")]
    );
    assert_eq!(records[1]["control_id"], "M3");
    assert_eq!(records[2]["location"], "PID-5.1.1");
    assert_eq!(
        stderr.last().unwrap(),
        &"hl7fhir: 6 in, 3 translated, 3 failed"
    );
    // No patient data in error records unless asked for.
    assert!(!r.stderr.contains("Smith"), "{}", r.stderr);
    let shown = run(&["parse", "--show-values"], &mixed_stream());
    assert!(shown.stderr.contains("Smith"), "{}", shown.stderr);
}

#[test]
fn roundtrip_is_byte_identical() {
    let mut good = Vec::new();
    good.extend_from_slice(b"\xEF\xBB\xBFMSH|^~\\&|A|B\r\nPID|1||a~b^c&d|||\n\n");
    good.extend_from_slice(b"\x0bMSH|^~\\&#|A\rOBX|1|TX|||l1\\.br\\l2\r\x1c\r");
    good.extend_from_slice(b"FHS|^~\\&\rMSH|^~\\\\&|A\rZZ1|x\rFTS|1\r  \n");
    let r = run(&["roundtrip"], &good);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, good);
    assert_eq!(r.stderr, "hl7fhir: 3 in, 3 translated, 0 failed\n");
    let bad = run(&["roundtrip"], &mixed_stream());
    assert_eq!(bad.status, 1);
}

#[test]
fn strict_mode_and_errors_file() {
    let dir = std::env::temp_dir().join(format!("hl7fhir-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let errors = dir.join("errors.ndjson");
    let r = run(
        &["parse", "--strict", "--errors", errors.to_str().unwrap()],
        b"MSH|^~\\&|A\nPID|1\n",
    );
    assert_eq!(r.status, 1);
    assert!(r.stdout.is_empty());
    let records = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(
        records,
        "{\"index\":1,\"offset\":0,\"error_offset\":10,\"kind\":\"line_end\",\"message\":\"at byte 10: segment ends with LF, not CR (enable the lf_segment_ends leniency)\"}\n"
    );
    assert_eq!(r.stderr, "hl7fhir: 1 in, 0 translated, 1 failed\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["nope"],
        &["parse", "--max-segments", "0"],
        &["parse", "--bogus"],
    ] {
        let r = run(args, b"");
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("hl7fhir: "), "{}", r.stderr);
    }
    let r = run(&["parse", "/nonexistent/file.hl7"], b"");
    assert_eq!(r.status, 3);
    assert!(
        r.stderr.contains("cannot open /nonexistent/file.hl7"),
        "{}",
        r.stderr
    );
    assert_eq!(run(&["--help"], b"").status, 0);
}

#[test]
fn closed_stdout_ends_quietly() {
    let one = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|M1|P|2.5.1\rPID|1||1^^^MR||Doe^Jane\r";
    let r = common::run_until_stdout_closes(&["parse"], one, 50_000);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn writeback_errors_name_the_fhir_path_and_the_stream_goes_on() {
    let input = concat!(
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"identifier\":[{\"value\":\"MRN-1\"}],\"name\":[{\"family\":\"Rossi\",\"given\":[\"Anna\"]}],\"gender\":\"female\"}\n",
        "not json at all\n",
        "{\"resourceType\":\"Patinet\",\"name\":[{\"family\":\"Typo\"}]}\n",
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"}},\"request\":{\"method\":\"POST\"}}]}\n",
        "{\"resourceType\":\"Medication\",\"id\":\"m1\"}\n",
        "{\"resourceType\":\"Account\",\"id\":\"a1\"}\n",
        "{\"resourceType\":\"Patient\",\"id\":\"p2\",\"name\":[{\"family\":\"Moretti\"}]}\n",
    );
    let r = run(
        &["writeback", "--timestamp", "20260101120000+0000"],
        input.as_bytes(),
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(
        out.starts_with("MSH|^~\\&|HL7FHIR||||20260101120000+0000||ADT^A31^ADT_A05|"),
        "{out}"
    );
    assert!(out.contains("\rPID|1||MRN-1||Rossi^Anna|||F\r"), "{out}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    let records: Vec<serde_json::Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                "bad_fhir",
                "input is not JSON: a FHIR resource starts with `{`"
            ),
            (
                3,
                "bad_fhir",
                "(root).resourceType: `Patinet` is not a FHIR R4 resource type"
            ),
            (
                4,
                "missing_required",
                "Bundle.entry: an HL7 v2 ORU^R01 needs a Patient; the request has none"
            ),
            (
                5,
                "unsupported",
                "Medication: Medication is not a resource writeback translates (Patient, Encounter, Observation, DiagnosticReport, ChargeItem, Account, Practitioner, PractitionerRole, Organization, Location, RelatedPerson, Coverage, AllergyIntolerance, Condition, Procedure, ServiceRequest, Specimen, Device, Provenance)"
            ),
            (
                6,
                "unsupported",
                "Account: no HL7 v2 event carries Account without a Patient, Encounter, DiagnosticReport, Observation or ChargeItem; name one with --event"
            ),
            (
                7,
                "missing_required",
                "Patient.identifier: an HL7 v2.5.1 PID needs PID-3, and the Patient has no identifier to fill it"
            ),
        ]
    );
    assert_eq!(records[1]["fhir_path"], "(root).resourceType");
    assert_eq!(records[3]["fhir_id"], "Medication/m1");
    assert_eq!(
        lines.last().unwrap(),
        &"hl7fhir: 7 in, 1 translated, 6 failed"
    );
    assert!(
        !r.stderr.contains("Rossi") && !r.stderr.contains("Typo") && !r.stderr.contains("Moretti"),
        "{}",
        r.stderr
    );
}

#[test]
fn ack_becomes_an_operation_outcome() {
    let ack = b"MSH|^~\\&|EHR|GHH|HL7FHIR||20260101||ACK^A08^ACK|9|P|2.5.1\rMSA|AE|CTRL1\rERR||PID^1^7|102^Data type error^HL70357|E||||bad date\r";
    let r = run(&["ack"], ack);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["resourceType"], "OperationOutcome");
    assert_eq!(v["id"], "CTRL1");
    assert_eq!(v["issue"][0]["expression"][0], "Patient.birthDate");
}

#[test]
fn notify_lays_a_sites_tables_over_the_embedded_ones() {
    // A site that receives a Z-segment (ZPI, its patients' preferred pharmacy) and sends a
    // local sex code (W): its own segment map, its copy of the message map with a ZPI row, and
    // its copy of the vocabulary with one more row.
    let embedded = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let dir = std::env::temp_dir().join(format!("hl7fhir-site-tables-{}", std::process::id()));
    for folder in ["segments", "messages", "vocabulary"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    let pharmacy = "http://example.org/fhir/StructureDefinition/preferred-pharmacy";
    std::fs::write(
        dir.join("segments/ZPI[Patient].csv"),
        format!(
            "field,when,target,type,vocabulary,value,direction\nZPI-2,,extension({pharmacy}).valueString,,,,forward\n"
        ),
    )
    .unwrap();
    let adt = std::fs::read_to_string(embedded.join("messages/ADT_A01.csv")).unwrap();
    let with_zpi: String = adt
        .lines()
        .flat_map(|l| match l.starts_with("PID,1,1,Patient,") {
            true => vec![l, "ZPI,0,1,+Patient,ZPI[Patient],,,"],
            false => vec![l],
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("messages/ADT_A01.csv"), with_zpi).unwrap();
    let sex = std::fs::read_to_string(embedded.join("vocabulary/AdministrativeSex.csv")).unwrap();
    std::fs::write(
        dir.join("vocabulary/AdministrativeSex.csv"),
        format!("{sex}W,Woman,L,female,Female,http://hl7.org/fhir/administrative-gender,forward\n"),
    )
    .unwrap();
    let msg = b"MSH|^~\\&|ADT1|GHH|||20260101120000-0500||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01\r\
PID|1||MRN1^^^GHH^MR||DOE^JANE||19700101|W\rZPI|1|CORNER PHARMACY\rPV1|1|I\r";
    let patient = |args: &[&str]| {
        let r = run(args, msg);
        assert_eq!(r.status, 0, "{}", r.stderr);
        let bundle: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"].clone())
            .find(|r| r["resourceType"] == "Patient")
            .unwrap()
    };
    let site = patient(&["notify", "--mappings", dir.to_str().unwrap()]);
    assert_eq!(site["gender"], "female");
    assert_eq!(site["extension"][0]["url"], pharmacy);
    assert_eq!(site["extension"][0]["valueString"], "CORNER PHARMACY");
    // The embedded tables know neither.
    let plain = patient(&["notify"]);
    assert!(plain.get("gender").is_none() && plain.get("extension").is_none());
    // A site's table is checked like the embedded ones, naming its file and line.
    std::fs::write(
        dir.join("segments/ZPI[Patient].csv"),
        "field,when,target,type,vocabulary,value,direction\nZPI-2,,pharmacy,,,,forward\n",
    )
    .unwrap();
    let r = run(&["notify", "--mappings", dir.to_str().unwrap()], msg);
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        "hl7fhir: segments/ZPI[Patient].csv:2: target `pharmacy`: Patient has no element `pharmacy`\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_timestamp_that_is_no_hl7_date_time_is_a_usage_error() {
    let patient = br#"{"resourceType": "Patient", "identifier": [{"value": "MRN-1"}], "name": [{"family": "Doe"}]}"#;
    for command in ["writeback", "query", "ack"] {
        for bad in [
            "garbage",
            "2026-01-01T12:00:00Z",
            "20261301",
            "20260101120000.12345",
        ] {
            let r = run(&[command, "--timestamp", bad], patient);
            assert_eq!(r.status, 2, "{command} {bad}: {}", r.stderr);
            assert!(r.stdout.is_empty());
            assert!(
                r.stderr
                    .starts_with(&format!("hl7fhir: --timestamp {bad:?}: ")),
                "{}",
                r.stderr
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("hl7fhir-timestamp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("site.json");
    std::fs::write(&profile, r#"{"timestamp": "2026-01-01T12:00:00Z"}"#).unwrap();
    let r = run(
        &["writeback", "--profile", profile.to_str().unwrap()],
        patient,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "hl7fhir: --profile {}: profile timestamp \"2026-01-01T12:00:00Z\": not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])\n",
            profile.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // A valid one, with an offset or without, to the day or to the fraction of a second.
    for good in [
        "20260101120000+0000",
        "20260101",
        "20260101120000.1234-0500",
    ] {
        let r = run(&["writeback", "--timestamp", good], patient);
        assert_eq!(r.status, 0, "{good}: {}", r.stderr);
        let msh = String::from_utf8(r.stdout).unwrap();
        assert_eq!(msh.split('|').nth(6), Some(good));
    }
}

#[test]
fn the_readmes_sample_admission_translates_with_nothing_left_out_by_mistake() {
    // The README's main job: the sample message gives one detailed notification, each field
    // where HL7 defines it (its ethnic group is PID-22, not the mother's identifier in PID-21).
    let sample = format!("{}/fixtures/v2/adt_a01.hl7", env!("CARGO_MANIFEST_DIR"));
    let r = run(&["notify", "--explain", &sample], b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let bundle: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "MessageHeader",
            "Organization",
            "Provenance",
            "Patient",
            "RelatedPerson",
            "Encounter",
            // The bed, its room and the room's point of care (PV1-3).
            "Location",
            "Location",
            "Location",
            "Practitioner",
            "Observation",
            "AllergyIntolerance",
            "Condition"
        ]
    );
    let report: serde_json::Value = serde_json::from_str(r.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]));
    let unmapped = report["unmapped"].as_array().unwrap();
    assert!(unmapped.iter().all(|f| f != "PID-21"), "{unmapped:?}");
}

#[test]
fn writeback_reads_entries_written_from_the_first_column_and_requests_after_one_cut_short() {
    // A Bundle whose entries start at the first column is one request; an NDJSON line cut
    // where a value could start is one error record, and the request after it translates.
    let input = concat!(
        "{\"resourceType\": \"Bundle\", \"type\": \"transaction\", \"entry\": [\n",
        "{\"fullUrl\": \"urn:uuid:p1\", \"resource\": {\"resourceType\": \"Patient\", \"identifier\": [{\"value\": \"MRN-1\"}],\n",
        "\"name\": [{\"family\": \"Rossi\"}]}}\n",
        "]}\n",
        "{\"resourceType\":\"Patient\",\"identifier\":[\n",
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"MRN-2\"}],\"name\":[{\"family\":\"Moretti\"}]}\n",
    );
    let r = run(
        &["writeback", "--timestamp", "20260101120000+0000"],
        input.as_bytes(),
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(out.contains("\rPID|1||MRN-1||Rossi\r"), "{out}");
    assert!(out.contains("\rPID|1||MRN-2||Moretti\r"), "{out}");
    let errors: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert_eq!(errors[0]["index"], 2);
    assert_eq!(
        errors[0]["message"],
        "JSON value ends before its closing bracket"
    );
}
