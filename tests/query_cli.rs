//! `hl7fhir query` end to end, both ways: every search line and every response gives exactly
//! one output or one error record, in input order, with the summary line and exit status; no
//! patient data in error records unless asked; `--jobs 2` keeps the order; a closed stdout ends
//! the run quietly.

mod common;
use common::run;

/// The error records and the summary line of a run's stderr (or errors file).
fn records(stderr: &str) -> (Vec<serde_json::Value>, String) {
    let lines: Vec<&str> = stderr.lines().collect();
    let (summary, records) = lines.split_last().unwrap();
    (
        records
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        summary.to_string(),
    )
}

/// The segments of each message written, split on MSH.
fn messages(out: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    text.split("MSH|")
        .filter(|m| !m.is_empty())
        .map(|m| {
            format!("MSH|{m}")
                .split('\r')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

const SEARCHES: &str = concat!(
    "Patient?family=ZEBEDEE&given=QUILLON&birthdate=1931-04-05\n",
    "Patient?family:exact=ZEBEDEE\n",
    "\n",
    "{\"resourceType\":\"Parameters\",\"id\":\"s3\",\"parameter\":[{\"name\":\"identifier\",\"valueIdentifier\":{\"system\":\"urn:oid:1.2.3\",\"value\":\"SECRET77\"}}]}\n",
    "Patient?family=ZEBEDEE&eye-color=violet\n",
    "Patient?family=ZEB%ZZEDEE\n",
    "https://fhir.example.org/Patient?identifier=http://x.example/ids%7CSECRET77\n",
    "   \n",
    "Patient?gender=female&address-city=SPRINGFIELD&_count=3\n",
    "{\"resourceType\":\"Parameters\",\"id\":\"s9\",\"parameter\":[{\"name\":\"birthdate\",\"valueDate\":\"1931\"}]}\n",
);

#[test]
fn mixed_searches_give_one_record_each_in_order() {
    let r = run(
        &["query", "--timestamp", "20260101120000+0000"],
        SEARCHES.as_bytes(),
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    let msgs = messages(&r.stdout);
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        msgs[0][1],
        "QPD|IHE PDQ Query|689A5290-1|@PID.5.1.1^ZEBEDEE~@PID.5.2^QUILLON~@PID.7^19310405"
    );
    assert_eq!(
        msgs[1][1],
        "QPD|IHE PDQ Query|689A5290-3|@PID.3.1^SECRET77~@PID.3.4.2^1.2.3~@PID.3.4.3^ISO"
    );
    assert_eq!(
        msgs[2][1..],
        [
            "QPD|IHE PDQ Query|689A5290-7|@PID.8^F~@PID.11.3^SPRINGFIELD",
            "RCP|I|3^RD"
        ]
    );
    let (records, summary) = records(&r.stderr);
    let got: Vec<(u64, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["fhir_path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "unsupported", "Patient?family:exact"),
            (4, "unsupported", "Patient?eye-color"),
            (5, "bad_fhir", "Patient?family"),
            (6, "unsupported", "Patient?identifier"),
            (8, "unsupported", "Patient?birthdate"),
        ]
    );
    assert_eq!(records[0]["offset"], 58);
    assert_eq!(records[0]["error_offset"], 66);
    assert_eq!(records[4]["fhir_id"], "Parameters/s9");
    assert_eq!(summary, "hl7fhir: 8 in, 3 translated, 5 failed");
    for secret in ["ZEBEDEE", "QUILLON", "SECRET77", "violet", "1931"] {
        assert!(!r.stderr.contains(secret), "{secret}: {}", r.stderr);
    }
    let shown = run(&["query", "--show-values"], SEARCHES.as_bytes());
    assert!(shown.stderr.contains("\\\"ZEBEDEE\\\""), "{}", shown.stderr);
}

#[test]
fn errors_file_line_buffered_and_a19() {
    let dir = std::env::temp_dir().join(format!("hl7fhir-query-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let errors = dir.join("errors.ndjson");
    let r = run(
        &[
            "query",
            "--style",
            "a19",
            "--line-buffered",
            "--errors",
            errors.to_str().unwrap(),
            "--timestamp",
            "20260101120000+0000",
            "--mllp",
        ],
        b"Patient?identifier=urn:oid:1.2.3|X1&_count=2\nPatient?family=SMITH&_count=2\n",
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(r.stderr, "hl7fhir: 2 in, 1 translated, 1 failed\n");
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(
        out.starts_with('\x0b') && out.ends_with("\x1c\r"),
        "{out:?}"
    );
    assert!(
        out.contains("\rQRD|20260101120000+0000|R|I|689A1|||2^RD|X1^^^^^^^^&1.2.3&ISO|DEM^Demographics^HL70048|\"\"\r"),
        "{out:?}"
    );
    let records = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(
        records,
        "{\"index\":2,\"offset\":45,\"error_offset\":53,\"fhir_path\":\"Patient?family\",\"kind\":\"unsupported\",\"message\":\"Patient?family at byte 8: this search parameter cannot be expressed in a QRY^A19 query (no a19 row in query/Patient.csv)\"}\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_jobs_keep_the_order() {
    let mut input = String::new();
    for i in 1..=600 {
        if i % 3 == 0 {
            input.push_str("Patient?family:exact=X\n");
        } else {
            input.push_str(&format!("Patient?family=F{i}\n"));
        }
    }
    let r = run(&["query", "--jobs", "2"], input.as_bytes());
    assert_eq!(r.status, 1);
    let qpd: Vec<String> = messages(&r.stdout).iter().map(|m| m[1].clone()).collect();
    let want: Vec<String> = (1..=600)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("QPD|IHE PDQ Query|689A5290-{i}|@PID.5.1.1^F{i}"))
        .collect();
    assert_eq!(qpd, want);
    let (records, summary) = records(&r.stderr);
    let indexes: Vec<u64> = records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, (1..=200).map(|i| i * 3).collect::<Vec<u64>>());
    assert_eq!(summary, "hl7fhir: 600 in, 400 translated, 200 failed");
}

#[test]
fn mixed_responses_give_one_record_each_in_order() {
    let rsp = |status: &str, rest: &str| {
        format!(
            "MSH|^~\\&|MPI|GHH|HL7FHIR||20260101120001+0000||RSP^K22^RSP_K21|R1|P|2.5.1\rMSA|AA|C1\rQAK|T1|{status}\rQPD|IHE PDQ Query|T1|@PID.5.1.1^ZEBEDEE\r{rest}"
        )
    };
    let mut input = Vec::new();
    input.extend_from_slice(rsp("OK", "PID|1||P1^^^&1.2.3&ISO^MR||ZEBEDEE^ANNA\r").as_bytes());
    input.extend_from_slice(b"\x0b");
    input.extend_from_slice(rsp("NF", "").as_bytes());
    input.extend_from_slice(b"\x1c\r");
    input.extend_from_slice(b"noise that is no message\r");
    input.extend_from_slice(
        b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|M9|P|2.5.1\rPID|1||P1^^^MR||ZEBEDEE^ANNA\r",
    );
    input.extend_from_slice(
        b"MSH|^~\\&|MPI|GHH|HL7FHIR||20260101||RSP^K22^RSP_K21|R3|P|2.5.1\rMSA|AE|C3\rERR|||207^Application internal error^HL70357|E\rQAK|T3|AE\rQPD|IHE PDQ Query|T3|@PID.5.1.1^ZEBEDEE\r",
    );
    input.extend_from_slice(rsp("NF", "PID|1||P1^^^MR||ZEBEDEE^ANNA\r").as_bytes());
    let r = run(&["query", "--response", "--jobs", "2"], &input);
    assert_eq!(r.status, 1, "{}", r.stderr);
    let outputs: Vec<serde_json::Value> = r
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let shapes: Vec<(&str, Option<u64>)> = outputs
        .iter()
        .map(|o| (o["resourceType"].as_str().unwrap(), o["total"].as_u64()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("Bundle", Some(1)),
            ("Bundle", Some(0)),
            ("OperationOutcome", None)
        ]
    );
    assert_eq!(outputs[0]["entry"][0]["search"]["mode"], "match");
    assert_eq!(
        outputs[1]["link"][0]["url"], "Patient?family=ZEBEDEE",
        "the self link is the search the response echoes"
    );
    let (records, summary) = records(&r.stderr);
    let got: Vec<(u64, &str)> = records
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [(3, "framing"), (4, "unsupported_event"), (6, "bad_value")]
    );
    assert_eq!(records[1]["control_id"], "M9");
    assert_eq!(records[2]["location"], "QAK-2");
    assert_eq!(summary, "hl7fhir: 6 in, 3 translated, 3 failed");
    assert!(!r.stderr.contains("ZEBEDEE"), "{}", r.stderr);
}

#[test]
fn closed_stdout_ends_quietly() {
    let one = b"Patient?family=SMITH&given=JOHN\n";
    let r = common::run_until_stdout_closes(&["query"], one, 100_000);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn usage_and_table_errors_exit_2() {
    let r = run(&["query", "--style", "q21"], b"");
    assert_eq!(r.status, 2);
    assert_eq!(r.stderr, "hl7fhir: --style takes q22 or a19\n");
    let dir = std::env::temp_dir().join(format!("hl7fhir-query-tables-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("query")).unwrap();
    std::fs::write(
        dir.join("query/Patient.csv"),
        "style,parameter,type,field,vocabulary,value\nq22,family,string,PID-5.1.1,,\nq22,birthdate,date,PID-5,,\n",
    )
    .unwrap();
    let r = run(&["query", "--mappings", dir.to_str().unwrap()], b"");
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        "hl7fhir: query/Patient.csv:3: a date row names a date field (DTM, TS, DT), not `PID-5` (XPN)\n"
    );
    // HL7 v2.7 withdrew QRY^A19: no query is written under a v2.8 MSH-12.
    let profile = dir.join("v28.json");
    std::fs::write(&profile, r#"{"version": "2.8"}"#).unwrap();
    let r = run(
        &[
            "query",
            "--style",
            "a19",
            "--profile",
            profile.to_str().unwrap(),
        ],
        b"Patient?identifier=urn:oid:1.2.3|A&_count=5\n",
    );
    assert_eq!(r.status, 2);
    assert!(r.stdout.is_empty());
    assert_eq!(
        r.stderr,
        "hl7fhir: --style a19: QRY^A19 is not in HL7 v2.8: v2.7 withdrew it (HL7 table 0354); use --style q22, or a profile with version 2.5, 2.5.1 or 2.6\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hostile_search_lines_are_error_records_and_the_stream_goes_on() {
    let mut input = Vec::new();
    input.extend_from_slice(b"Patient?family=A\n");
    input.extend_from_slice(format!("Patient?family={}\n", "B".repeat(5000)).as_bytes());
    input.extend_from_slice(b"Patient?family=\xff\xfe\n");
    input.extend_from_slice(format!("{}{}\n", "{\"a\":[".repeat(300), "]}".repeat(300)).as_bytes());
    input.extend_from_slice(b"\x00\x01\x02binary\x1c\x0b\n");
    input.extend_from_slice(b"Patient?family=C\n");
    let r = run(&["query", "--max-message-bytes", "4096"], &input);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(messages(&r.stdout).len(), 2);
    let (records, summary) = records(&r.stderr);
    let got: Vec<(u64, &str)> = records
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "limit_exceeded"),
            (3, "bad_fhir"),
            (4, "bad_fhir"),
            (5, "bad_fhir")
        ]
    );
    assert!(
        records[2]["message"]
            .as_str()
            .unwrap()
            .starts_with("not JSON: recursion limit exceeded"),
        "{}",
        records[2]
    );
    assert_eq!(summary, "hl7fhir: 6 in, 2 translated, 4 failed");
}

#[test]
fn a_response_reads_codes_as_notify_does() {
    // The patients of a response go through the notify translator: a sender's own sex code
    // (v2.7 PID-8, CWE) is no gender, unless its alternate is the table's; the echoed QPD-3 code
    // is the table's.
    let rsp = |pid8: &str| {
        format!(
            "MSH|^~\\&|MPI|GHH|HL7FHIR||20260101120001+0000||RSP^K22^RSP_K21|R1|P|2.7\rMSA|AA|C1\rQAK|T1|OK\rQPD|IHE PDQ Query|T1|@PID.8^F\rPID|1||P1^^^&1.2.3&ISO^MR||ZEBEDEE^ANNA|||{pid8}\r"
        )
    };
    for (pid8, gender) in [
        ("W^Woman^99SEX^F^Female^HL70001", Some("female")),
        ("F^Female^99SEX", None),
    ] {
        let r = run(&["query", "--response"], rsp(pid8).as_bytes());
        assert_eq!(r.status, 0, "{}", r.stderr);
        let bundle: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert_eq!(
            bundle["link"][0]["url"], "Patient?gender=female",
            "{bundle}"
        );
        let patient = &bundle["entry"][0]["resource"];
        assert_eq!(patient["resourceType"], "Patient");
        assert_eq!(patient["gender"].as_str(), gender, "{pid8}: {patient}");
    }
}
