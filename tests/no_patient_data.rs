//! Error records, `--explain` notes and ACKs carry locations and kinds, never the patient data
//! of the input, unless `--show-values` asks for it. Every subcommand is fed inputs that fail in
//! each of its ways while carrying known names, identifiers, dates, addresses and phone numbers,
//! and none of those may appear anywhere but in the translations themselves (stdout).

/// The patient data the inputs carry: a family and a given name, a record number, a birth date
/// that is no date, an address and a phone number.
const SENTINELS: &[&str] = &[
    "QUIXBYTE",
    "ZEPHYRINE",
    "MRN-7Q7Q7",
    "19130231",
    "1913-02-31",
    "ORCHID",
    "5550147",
];

mod common;

/// A run's stderr, and the files it wrote besides stdout and stderr (`--errors`, `--ack`).
struct Run {
    stdout: Vec<u8>,
    stderr: String,
    files: String,
}

fn run(args: &[&str], stdin: &[u8], files: &[&str]) -> Run {
    let r = common::run(args, stdin);
    Run {
        stdout: r.stdout,
        stderr: r.stderr,
        files: files
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
            .collect(),
    }
}

fn temp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("hl7fhir-no-patient-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

/// HL7 v2 messages that each fail, or carry a bad value, in another way.
fn bad_messages() -> Vec<u8> {
    let mut s = Vec::new();
    // A date that names no day, a number that is none, an unknown code system.
    s.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101120000+0000||ADT^A01^ADT_A01|L1|P|2.5.1\rEVN|A01\rPID|1||MRN-7Q7Q7^^^H^MR||QUIXBYTE^ZEPHYRINE||19130231|F|||77 ORCHID LANE^^TOWN^NC||^PRN^PH^^^^5550147\rPV1|1|I\rOBX|1|NM|1^x^L||5550147x|||||F\r");
    // Bytes that are not the declared UTF-8, inside the name.
    s.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101120000+0000||ADT^A01^ADT_A01|L2|P|2.5.1||||||UNICODE UTF-8\rPID|1||MRN-7Q7Q7^^^H^MR||QUIXBYTE\xff^ZEPHYRINE\rPV1|1|I\r");
    // An event no table maps.
    s.extend_from_slice(
        b"MSH|^~\\&|A|B|C|D|20260101120000+0000||ZZZ^Z99|L3|P|2.5.1\rPID|1||MRN-7Q7Q7||QUIXBYTE\r",
    );
    // A malformed escape in the name, and no PV1.
    s.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101120000+0000||ADT^A01^ADT_A01|L4|P|2.5.1\rEVN|A01\rPID|1||MRN-7Q7Q7||QUIX\\ZBYTE^ZEPHYRINE\r");
    // A field over the limit the runs below set.
    s.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101120000+0000||ADT^A01^ADT_A01|L5|P|2.5.1\rEVN|A01\rPID|1||MRN-7Q7Q7||QUIXBYTE^ZEPHYRINE^ORCHID^5550147^QUIXBYTE^ZEPHYRINE\rPV1|1|I\r");
    s
}

fn assert_no_patient_data(what: &str, r: &Run) {
    for s in SENTINELS {
        assert!(
            !r.stderr.contains(s),
            "{what}: stderr quotes {s}:\n{}",
            r.stderr
        );
        assert!(
            !r.files.contains(s),
            "{what}: a file written quotes {s}:\n{}",
            r.files
        );
    }
    // The run met errors, so the test looked at error records and not at an empty stderr.
    let summary = r.stderr.lines().last().unwrap_or("");
    assert!(
        summary.contains(" failed") && !summary.contains(" 0 failed"),
        "{what}: no input failed: {summary}"
    );
}

#[test]
fn no_error_path_quotes_patient_data() {
    let messages = bad_messages();
    let limit = ["--max-field-bytes", "48"];
    for strict in [false, true] {
        let (errors, acks) = (temp("errors.ndjson"), temp("acks.hl7"));
        let mut args = vec!["notify", "--explain", "--ack", &acks, "--errors", &errors];
        args.extend(limit);
        if strict {
            args.push("--strict");
        }
        let r = run(&args, &messages, &[&errors, &acks]);
        assert_no_patient_data(&format!("notify (strict: {strict})"), &r);
        let mut args = vec!["parse"];
        args.extend(limit);
        if strict {
            args.push("--strict");
        }
        assert_no_patient_data("parse", &run(&args, &messages, &[]));
    }

    let requests = concat!(
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"MRN-7Q7Q7\"}],\"name\":[{\"family\":\"QUIXBYTE\"}],\"birthDate\":\"1913-02-31\"}\n",
        "{\"resourceType\":\"Patinet\",\"identifier\":[{\"value\":\"MRN-7Q7Q7\"}],\"name\":[{\"family\":\"QUIXBYTE\"}]}\n",
        "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"QUIXBYTE\"}],\"telecom\":[{\"value\":\"5550147\"}]}\n",
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"MRN-7Q7Q7\"}],\"name\":[{\"family\":\"QUIXBYTE\"}]\n",
        "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"ZEPHYRINE\"},\"valueString\":\"ORCHID\",\"subject\":{\"reference\":\"Patient/MRN-7Q7Q7\"}}\n",
        "{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"MRN-7Q7Q7\"}],\"name\":[{\"family\":\"QUIXBYTE\"}],\"gender\":\"ZEPHYRINE\"}\n",
        "QUIXBYTE ZEPHYRINE\n",
    );
    let r = run(&["writeback", "--explain"], requests.as_bytes(), &[]);
    assert_no_patient_data("writeback", &r);
    // Each request gave one record: the line cut short did not swallow the ones after it.
    assert!(
        r.stderr
            .ends_with("hl7fhir: 7 in, 1 translated, 6 failed\n"),
        "{}",
        r.stderr
    );

    let acks = b"MSH|^~\\&|EHR|H|A|B|20260101120000+0000||ADT^A01|K2|P|2.5.1\rPID|1||MRN-7Q7Q7||QUIXBYTE^ZEPHYRINE||19130231\r\
MSH|^~\\&|EHR|H|A|B|20260101120000+0000||ACK^A31^ACK|K3|P|2.5.1\rMSA|QX|7F5A\r";
    assert_no_patient_data("ack", &run(&["ack"], acks, &[]));

    let searches = "Patient?family=QUIXBYTE&foo=ZEPHYRINE\nPatient?birthdate=1913-02-31\n\
Patient?family:exact=QUIXBYTE\nPatient?identifier=MRN-7Q7Q7&_sort=family\n\
Patient?gender=ZEPHYRINE\nPatient?telecom=5550147&address=ORCHID&_elements=name\n";
    assert_no_patient_data("query", &run(&["query"], searches.as_bytes(), &[]));

    let responses = b"MSH|^~\\&|EHR|H|A|B|20260101120000+0000||RSP^K22^RSP_K21|R1|P|2.5.1\rMSA|AA|Q1\rQAK|Q1|OK\rQPD|IHE PDQ Query|Q1|@PID.5.1.1^QUIXBYTE\rPID|1||MRN-7Q7Q7^^^H^MR||QUIXBYTE^ZEPHYRINE||19130231|||77 ORCHID LANE\r";
    assert_no_patient_data(
        "query --response",
        &run(&["query", "--response", "--strict"], responses, &[]),
    );
}

#[test]
fn show_values_quotes_them() {
    // The same error paths quote the values when asked: the test above can see them.
    let r = run(
        &["notify", "--strict", "--show-values"],
        &bad_messages(),
        &[],
    );
    assert!(r.stderr.contains("19130231"), "{}", r.stderr);
    let r = run(
        &["query", "--show-values"],
        b"Patient?birthdate=1913-02-31\n",
        &[],
    );
    assert!(r.stderr.contains("1913-02-31"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}
