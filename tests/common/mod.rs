//! What the integration tests share: running the built `hl7fhir` binary, and the fixed
//! envelope writebacks are made with.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

/// What a run of the binary gave.
pub struct Run {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Starts `hl7fhir ARGS` with stdin, stdout and stderr piped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hl7fhir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `hl7fhir ARGS` with `stdin` fed from another thread, so a large input cannot block
/// against a full stdout pipe.
pub fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `hl7fhir ARGS` with `one` written to stdin `copies` times from another thread, reads
/// the first 64 bytes of output and closes stdout. Gives the exit status and stderr: the
/// binary should end quietly, as a filter piped into `head` does.
pub fn run_until_stdout_closes(args: &[&str], one: &'static [u8], copies: usize) -> Run {
    let mut child = spawn(args);
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..copies {
            if input.write_all(one).is_err() {
                break;
            }
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    writer.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Run {
        status: status.code().unwrap_or(-1),
        stdout: first,
        stderr,
    }
}

/// The folder of `../shared/corpus` and its message files (`.hl7`, `.txt`), sorted. When the
/// corpus is absent, says so loudly and gives `None` (the check is skipped), unless
/// `HL7FHIR_REQUIRE_CORPUS` is set, which makes that a failure. `check` names what did not run.
pub fn corpus_files(check: &str) -> Option<(std::path::PathBuf, Vec<std::path::PathBuf>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !dir.is_dir() {
        let msg = format!("CORPUS NOT FOUND at {}: {check} did not run", dir.display());
        assert!(
            std::env::var_os("HL7FHIR_REQUIRE_CORPUS").is_none(),
            "{msg}"
        );
        eprintln!("\n!!! {msg} !!!\n");
        return None;
    }
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("hl7" | "txt")) {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&dir, &mut files);
    files.sort();
    Some((dir, files))
}

/// The envelope the writeback tests use: MSH-7 fixed, so that a request gives the same message
/// on every run.
pub fn fixed_envelope() -> hl7fhir::writeback::Envelope {
    hl7fhir::writeback::Envelope {
        timestamp: Some("20260101120000+0000".into()),
        ..hl7fhir::writeback::Envelope::default()
    }
}

/// Field `n` of the first segment `id` of a written HL7 v2 message, as written (empty when the
/// segment ends before it).
pub fn field(message: &[u8], id: &str, n: usize) -> String {
    let text = String::from_utf8(message.to_vec()).unwrap();
    let seg = text
        .split('\r')
        .find(|s| s.starts_with(&format!("{id}|")))
        .unwrap_or_else(|| panic!("no {id} in {text}"));
    seg.split('|').nth(n).unwrap_or("").to_string()
}

/// The notification the default engine makes of an HL7 v2 message (a message written back,
/// read again).
pub fn read_back(message: &[u8]) -> serde_json::Value {
    hl7fhir::engine::Engine::with_defaults()
        .unwrap()
        .notify(message, &Default::default())
        .unwrap()
}

/// The first entry of `bundle` whose resource is of type `ty`.
pub fn entry_of<'a>(bundle: &'a serde_json::Value, ty: &str) -> &'a serde_json::Value {
    bundle["entry"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["resource"]["resourceType"] == ty))
        .unwrap_or_else(|| panic!("no {ty} in {bundle}"))
}
