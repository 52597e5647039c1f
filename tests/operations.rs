//! Operating the filter: bounded memory on long streams and hostile input, order kept with
//! several jobs, SIGTERM finishing what was read. These run the built binary.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

const MSG: &str = "MSH|^~\\&|ADT1|GHH|HL7FHIR|GHH|20260314081503-0500||ADT^A01^ADT_A01|MSGID|P|2.5.1\rEVN|A01|20260314081500-0500\rPID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM^A||19610615|M|||1 MAIN ST^^TOWN^NC^27401\rPV1|1|I|2000^2012^01^GHH||||004777^ATTEND^AARON^A|||SUR||||ADM|A0|||||VN-1\rOBX|1|NM|8302-2^Body height^LN||180|cm^centimeter^UCUM|||||F\r";

/// Runs the binary, feeding `chunks()` to stdin from a thread; samples the child's peak
/// resident memory (VmHWM) while it runs. Returns (status, stdout bytes, stderr, peak KiB).
fn run_streaming(
    args: &[&str],
    mut feed: impl FnMut(&mut dyn Write) + Send + 'static,
) -> (i32, u64, String, u64) {
    let mut child = common::spawn(args);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || feed(&mut stdin));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        while let Ok(k) = stdout.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        {
            peak = peak.max(kb);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap().code().unwrap_or(-1);
    writer.join().unwrap();
    (
        status,
        reader.join().unwrap(),
        err_reader.join().unwrap(),
        peak,
    )
}

#[test]
fn a_long_stream_runs_in_bounded_memory() {
    // 200 MB of messages (the README's 2 GB figure is measured by benches/stream.sh).
    let count = 200_000_000 / MSG.len();
    let (status, out, stderr, peak_kb) = run_streaming(&["notify", "--jobs", "2"], move |w| {
        let mut batch = String::new();
        for _ in 0..1000 {
            batch.push_str(MSG);
        }
        for _ in 0..count / 1000 {
            if w.write_all(batch.as_bytes()).is_err() {
                return;
            }
        }
    });
    assert_eq!(status, 0, "{stderr}");
    assert!(out > 0);
    assert!(
        stderr.ends_with(&format!(
            "hl7fhir: {0} in, {0} translated, 0 failed\n",
            count / 1000 * 1000
        )),
        "{stderr}"
    );
    assert!(peak_kb < 64 * 1024, "peak RSS {peak_kb} KiB over 64 MiB");
}

#[test]
fn hostile_input_gives_error_records_and_the_stream_goes_on() {
    let (status, _out, stderr, peak_kb) = run_streaming(
        &["notify", "--max-message-bytes", "1000000"],
        |w| {
            let _ = w.write_all(MSG.as_bytes());
            // A 100 MB field: over the message limit, skipped as it streams past.
            let _ = w.write_all(b"MSH|^~\\&|A|B|||20260101||ADT^A01|BIG|P|2.5\rPID|1||");
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..100 {
                let _ = w.write_all(&chunk);
            }
            let _ = w.write_all(b"\r");
            let _ = w.write_all(MSG.as_bytes());
            // Deeply nested subcomponents and invalid UTF-8 in a UTF-8 message, in an MLLP frame.
            let _ = w.write_all(b"\x0bMSH|^~\\&|A|B|||20260101||ADT^A01|NEST|P|2.5|||||||UNICODE UTF-8\rPID|1||a&b&c&d&e&f&g^^^X&Y&Z^MR||\xff\xfe^B\r\x1c\r");
            // Binary noise between MLLP frames.
            let _ = w.write_all(b"\x00\x01\x02noise\x0b");
            let _ = w.write_all(MSG.as_bytes());
            let _ = w.write_all(b"\x1c\r");
        },
    );
    assert_eq!(status, 1, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let kinds: Vec<String> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        ["limit_exceeded", "bad_encoding", "framing"],
        "{stderr}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"hl7fhir: 6 in, 3 translated, 3 failed"
    );
    assert!(peak_kb < 64 * 1024, "peak RSS {peak_kb} KiB");
}

#[test]
fn many_segments_and_json_bombs_are_bounded() {
    let mut many = String::from("MSH|^~\\&|A|B|||20260101||ADT^A01|MANY|P|2.5\rPID|1||X^^^H^MR\r");
    for _ in 0..1_000_000 {
        many.push_str("NTE|1\r");
    }
    let started = Instant::now();
    let (status, _, stderr, _) = run_streaming(
        &[
            "parse",
            "--max-segments",
            "100000",
            "--max-message-bytes",
            "16000000",
        ],
        move |w| {
            let _ = w.write_all(many.as_bytes());
            let _ = w.write_all(MSG.as_bytes());
        },
    );
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("\"kind\":\"limit_exceeded\"")
            && stderr.contains("more than 100000 segments"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("hl7fhir: 2 in, 1 translated, 1 failed\n"),
        "{stderr}"
    );
    let bomb = "[".repeat(100_000) + &"]".repeat(100_000);
    let (status, _, stderr, peak) = run_streaming(&["writeback"], move |w| {
        let _ = w.write_all(bomb.as_bytes());
        let _ = w.write_all(b"\n{\"resourceType\":\"Patient\",\"identifier\":[{\"value\":\"1\"}],\"name\":[{\"family\":\"Ok\"}]}\n");
    });
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("JSON nested deeper than 64 levels"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("hl7fhir: 2 in, 1 translated, 1 failed\n"),
        "{stderr}"
    );
    assert!(peak < 64 * 1024);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn output_keeps_input_order_with_two_jobs() {
    let input: String = (0..2000)
        .map(|i| MSG.replace("MSGID", &format!("M{i}")))
        .collect();
    let r = common::run(&["parse", "--jobs", "2"], input.as_bytes());
    assert_eq!(r.status, 0, "{}", r.stderr);
    let ids: Vec<String> = String::from_utf8(r.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["segments"][0]["fields"][9]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..2000).map(|i| format!("M{i}")).collect();
    assert_eq!(ids, want);
}

#[test]
fn sigterm_finishes_what_was_read_and_flushes() {
    let mut child = common::spawn(&["parse"]);
    let mut stdin = child.stdin.take().unwrap();
    // MLLP frames are complete when their end bytes arrive; a plain message only when the next
    // one starts or the input ends.
    for _ in 0..2 {
        stdin
            .write_all(format!("\x0b{MSG}\x1c\r").as_bytes())
            .unwrap();
    }
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // stdin stays open: the run is waiting for more input when the signal comes.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "hl7fhir: 2 in, 2 translated, 0 failed\n"
    );
}

#[test]
fn progress_goes_to_stderr_only_when_asked() {
    // A message, a pause longer than the progress interval, another message.
    let feed = |w: &mut dyn Write| {
        let _ = w.write_all(format!("\x0b{MSG}\x1c\r").as_bytes());
        let _ = w.flush();
        std::thread::sleep(Duration::from_millis(1300));
        let _ = w.write_all(format!("\x0b{MSG}\x1c\r").as_bytes());
    };
    let (status, out_bytes, stderr, _) = run_streaming(&["notify", "--progress"], feed);
    assert_eq!(status, 0, "{stderr}");
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("hl7fhir: progress: "))
        .collect();
    assert!(!progress.is_empty(), "{stderr}");
    // Counts, bytes and rate, never a value from the message.
    let first = progress[0];
    assert!(
        first.contains(" in, ") && first.contains(" failed, ") && first.contains(" bytes, "),
        "{first}"
    );
    assert!(first.ends_with(" messages/s"), "{first}");
    assert!(!stderr.contains("EVERYMAN"), "{stderr}");
    assert!(
        stderr.ends_with("hl7fhir: 2 in, 2 translated, 0 failed\n"),
        "{stderr}"
    );

    let (status, quiet_bytes, stderr, _) = run_streaming(&["notify"], feed);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stderr, "hl7fhir: 2 in, 2 translated, 0 failed\n");
    // stdout carries the same notifications either way.
    assert_eq!(out_bytes, quiet_bytes);
}
