//! Every message in `../shared/corpus` whose event the mapping tables cover translates, in both
//! flavours and both notification forms, with no error. With `HL7FHIR_CORPUS_OUT=DIR` the
//! notifications are also written there as NDJSON, one file per flavour and form, for
//! `../shared/conformance/validate-fhir` (`.ci/run` does that).
//!
//! The conformance validators do not enforce ContactPoint's invariant cpt-2 (a value needs a
//! system, or a data-absent-reason on it), so this test checks it on every notification.
//!
//! When the corpus is absent the test says so loudly and passes, unless
//! `HL7FHIR_REQUIRE_CORPUS=1` makes that a failure.

mod common;

use std::io::Write;
use std::path::PathBuf;

use hl7fhir::engine::Engine;
use hl7fhir::notify::{Flavor, Format, NotifyOptions};
use hl7fhir::v2::{Chunk, FrameReader, ReceivedHeader};

/// The members of the first ContactPoint (an element of a `telecom` array) breaking invariant
/// cpt-2; their names only, not the corpus's phone numbers.
fn contact_point_without_system(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(members) => members.iter().find_map(|(k, child)| {
            let broken = (k == "telecom")
                .then(|| child.as_array())
                .flatten()
                .and_then(|points| {
                    points.iter().find(|p| {
                        p.get("value").is_some()
                            && p.get("system").is_none()
                            && p.get("_system").is_none()
                    })
                });
            broken
                .map(|p| {
                    let names: Vec<&str> = p
                        .as_object()
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    names.join(", ")
                })
                .or_else(|| contact_point_without_system(child))
        }),
        serde_json::Value::Array(items) => items.iter().find_map(contact_point_without_system),
        _ => None,
    }
}

#[test]
fn corpus_translates() {
    let Some((_, paths)) = common::corpus_files("the notification corpus check") else {
        return;
    };
    let engine = Engine::with_defaults().unwrap();
    let forms = [
        ("detailed-message", Flavor::Detailed, Format::Message),
        ("lightweight-message", Flavor::Lightweight, Format::Message),
        (
            "detailed-subscription",
            Flavor::Detailed,
            Format::Subscription,
        ),
        (
            "lightweight-subscription",
            Flavor::Lightweight,
            Format::Subscription,
        ),
    ];
    let out_dir = std::env::var_os("HL7FHIR_CORPUS_OUT").map(PathBuf::from);
    let mut sinks: Vec<Option<std::fs::File>> = forms
        .iter()
        .map(|(name, ..)| {
            out_dir.as_ref().map(|d| {
                std::fs::create_dir_all(d).unwrap();
                std::fs::File::create(d.join(format!("corpus-{name}.ndjson"))).unwrap()
            })
        })
        .collect();
    let (mut covered, mut skipped, mut failures) = (0, 0, Vec::new());
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        let mut reader = FrameReader::new(&bytes[..], 16 << 20);
        while let Some(chunk) = reader.next_chunk().unwrap() {
            let Chunk::Message(m) = chunk else { continue };
            let h = ReceivedHeader::read(m.message);
            let msh9 = String::from_utf8_lossy(h.raw(9)).into_owned();
            let mut parts = msh9.split('^');
            let (t, e, s) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            if engine.plan().route(t, e, s).is_none() {
                skipped += 1;
                continue;
            }
            covered += 1;
            for (i, (name, flavor, format)) in forms.iter().enumerate() {
                let opts = NotifyOptions {
                    flavor: *flavor,
                    format: *format,
                    ..NotifyOptions::default()
                };
                let mut parser = engine.parser();
                let mut out = Vec::new();
                match engine.notify_with(&mut parser, m.message, &opts, false, &mut out) {
                    Ok(_) => {
                        let bundle: serde_json::Value = serde_json::from_slice(&out).unwrap();
                        if let Some(bad) = contact_point_without_system(&bundle) {
                            failures.push(format!(
                                "{} ({name}): a ContactPoint has a value and no system (members {bad})",
                                path.display()
                            ));
                        }
                        if let Some(f) = sinks[i].as_mut() {
                            f.write_all(&out).unwrap();
                        }
                    }
                    Err(e) => failures.push(format!("{} ({name}): {e}", path.display())),
                }
            }
        }
    }
    eprintln!(
        "corpus notifications: {covered} messages covered, {skipped} not covered (event not mapped), {} failures",
        failures.len()
    );
    assert!(covered > 100, "only {covered} corpus messages are covered");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
