//! Which HL7 v2 event a writeback request becomes, when the request does not name one.
//!
//! | the request holds | event |
//! |---|---|
//! | a Patient with `link.type = replaced-by` | A40 (merge) |
//! | ChargeItems | P03 |
//! | a DiagnosticReport or Observations | R01 |
//! | an Encounter, updated | A08 |
//! | an Encounter, created: `finished` | A03 |
//! | an Encounter, created: `in-progress` with an inpatient class | A01 |
//! | an Encounter, created, otherwise | A04 |
//! | a Patient, created | A28 |
//! | a Patient, updated | A31 |
//!
//! An Encounter `cancelled` or `entered-in-error` names no event of its own (A11, A27 and A38
//! each cancel a different thing), so such a request needs `--event`.

use serde_json::Value as Json;

use super::request::{Method, Request};
use crate::error::{Error, ErrorKind};

/// Encounter classes (v3 ActCode) that mean an inpatient stay.
const INPATIENT: &[&str] = &["IMP", "ACUTE", "NONAC"];

/// The elements an inferred event carries (so writeback counts them as written): the
/// Encounter's status and class for A01, A03 and A04, the Patient link for A40.
pub fn carried<'j>(request: &Request<'j>, event: &str) -> Vec<&'j Json> {
    let mut out = Vec::new();
    match event {
        // The first Encounter's status chose the event (see `infer`); another Encounter's is
        // carried by nothing.
        "A01" | "A03" | "A04" => {
            if let Some((_, e)) = request.of("Encounter").next() {
                out.extend(e.json.get("status"));
            }
        }
        "A40" => {
            for (_, p) in request.of("Patient") {
                out.extend(p.json.get("link"));
            }
        }
        _ => {}
    }
    out
}

/// Resources that belong in another message than the event's: results and charges travel in an
/// ORU^R01 and a DFT^P03 of their own, never inside each other or an ADT message.
const CARRIED_BY: &[(&str, &str, &str)] = &[
    ("DiagnosticReport", "ORU", "ORU^R01"),
    ("ChargeItem", "DFT", "DFT^P03"),
];

/// Checks that the request holds what the event's message carries, and nothing another
/// message must carry instead: an R01 needs results, a P03 charges; a ChargeItem in an R01 or a
/// DiagnosticReport in an A08 is an unsupported combination, named at its FHIR path.
pub fn check_content(request: &Request<'_>, message_type: &str, event: &str) -> Result<(), Error> {
    let has = |ty: &str| request.of(ty).next().is_some();
    let root = || {
        if request.resources.len() == 1 && !request.resources[0].path.starts_with("Bundle") {
            request.resources[0].path.clone()
        } else {
            "Bundle.entry".to_string()
        }
    };
    let needs = match message_type {
        "ORU" if !has("DiagnosticReport") && !has("Observation") => {
            Some("a DiagnosticReport or Observations")
        }
        "DFT" if !has("ChargeItem") => Some("a ChargeItem"),
        _ => None,
    };
    if let Some(what) = needs {
        return Err(Error::new(
            ErrorKind::MissingRequired,
            format!("an HL7 v2 {message_type}^{event} carries {what}; the request has none"),
        )
        .at_fhir_path(root()));
    }
    // A DFT^P03 posts charges to the account for billing: only a billable ChargeItem is one (a
    // credit is billable too, with its amount negative). One planned, aborted, not billable,
    // billed already or entered in error would be billed as a new charge.
    if message_type == "DFT" {
        for (_, c) in request.of("ChargeItem") {
            let status = c.json.get("status").and_then(Json::as_str);
            if status != Some("billable") {
                let why = match status {
                    Some(s) => format!("a ChargeItem whose status is {s} is not a charge to post"),
                    None => "a ChargeItem without a status is not known to be billable".into(),
                };
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("{why}: an HL7 v2 {message_type}^{event} posts billable charges (a negative amount credits one)"),
                )
                .at_fhir_path(format!("{}.status", c.path)));
            }
        }
    }
    for &(ty, home, message) in CARRIED_BY {
        if home == message_type {
            continue;
        }
        if let Some((_, r)) = request.of(ty).next() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "a {ty} cannot travel in an HL7 v2 {message_type}^{event}: send it in a request of its own ({message})"
                ),
            )
            .at_fhir_path(r.path.clone()));
        }
    }
    Ok(())
}

/// The message type and trigger event for a request.
pub fn infer(request: &Request<'_>) -> Result<(&'static str, String), Error> {
    let has = |ty: &str| request.of(ty).next().is_some();
    if let Some(event) = &request.event {
        return Ok((message_type(event), event.clone()));
    }
    let merged = request.of("Patient").any(|(_, p)| {
        p.json
            .get("link")
            .and_then(Json::as_array)
            .is_some_and(|links| {
                links
                    .iter()
                    .any(|l| l.get("type").and_then(Json::as_str) == Some("replaced-by"))
            })
    });
    if merged {
        return Ok(("ADT", "A40".into()));
    }
    if has("ChargeItem") {
        return Ok(("DFT", "P03".into()));
    }
    if has("DiagnosticReport") || has("Observation") {
        return Ok(("ORU", "R01".into()));
    }
    if let Some((_, enc)) = request.of("Encounter").next() {
        let status = enc.json.get("status").and_then(Json::as_str).unwrap_or("");
        if matches!(status, "cancelled" | "entered-in-error") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("an Encounter whose status is {status} is cancelled by an event the request must name with --event: A11 cancels an admission or visit, A27 a pending admission, A38 a pre-admission"),
            )
            .at_fhir_path(format!("{}.status", enc.path)));
        }
        if enc.method == Method::Update {
            return Ok(("ADT", "A08".into()));
        }
        let class = enc
            .json
            .pointer("/class/code")
            .and_then(Json::as_str)
            .unwrap_or("");
        let event = match status {
            "finished" => "A03",
            "in-progress" if INPATIENT.contains(&class) => "A01",
            _ => "A04",
        };
        return Ok(("ADT", event.into()));
    }
    if let Some((_, p)) = request.of("Patient").next() {
        return Ok((
            "ADT",
            if p.method == Method::Create {
                "A28"
            } else {
                "A31"
            }
            .into(),
        ));
    }
    let types: Vec<&str> = request.resources.iter().map(|r| r.ty).collect();
    Err(Error::new(ErrorKind::Unsupported, format!("no HL7 v2 event carries {} without a Patient, Encounter, DiagnosticReport, Observation or ChargeItem; name one with --event", types.join(", "))).at_fhir_path(request.resources.first().map_or("(root)", |r| r.path.as_str())))
}

/// The message type an event belongs to (HL7 table 0003 naming).
pub fn message_type(event: &str) -> &'static str {
    match event.as_bytes().first() {
        Some(b'A') => "ADT",
        Some(b'R') => "ORU",
        Some(b'P') => "DFT",
        Some(b'S') => "SIU",
        Some(b'T') => "MDM",
        Some(b'V') => "VXU",
        _ => "ADT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writeback::request::read;
    use serde_json::json;

    fn tx(entries: Vec<(Json, &str)>) -> Json {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries.into_iter().map(|(r, m)| json!({"resource": r, "request": {"method": m}})).collect::<Vec<_>>()})
    }

    #[test]
    fn inference_table() {
        let patient = json!({"resourceType": "Patient"});
        let enc = |status: &str, class: &str| json!({"resourceType": "Encounter", "status": status, "class": {"code": class}});
        let cases: Vec<(Json, &str)> = vec![
            (tx(vec![(patient.clone(), "POST")]), "A28"),
            (patient.clone(), "A31"),
            (
                tx(vec![
                    (patient.clone(), "PUT"),
                    (enc("in-progress", "IMP"), "PUT"),
                ]),
                "A08",
            ),
            (
                tx(vec![
                    (patient.clone(), "POST"),
                    (enc("in-progress", "IMP"), "POST"),
                ]),
                "A01",
            ),
            (
                tx(vec![
                    (patient.clone(), "POST"),
                    (enc("arrived", "AMB"), "POST"),
                ]),
                "A04",
            ),
            (
                tx(vec![
                    (patient.clone(), "PUT"),
                    (enc("finished", "IMP"), "POST"),
                ]),
                "A03",
            ),
            (
                tx(vec![(
                    json!({"resourceType": "Patient", "link": [{"type": "replaced-by", "other": {"reference": "Patient/1"}}]}),
                    "PUT",
                )]),
                "A40",
            ),
            (
                tx(vec![
                    (patient.clone(), "PUT"),
                    (json!({"resourceType": "Observation"}), "POST"),
                ]),
                "R01",
            ),
            (
                tx(vec![
                    (json!({"resourceType": "ChargeItem"}), "POST"),
                    (json!({"resourceType": "Account"}), "PUT"),
                ]),
                "P03",
            ),
        ];
        for (input, want) in cases {
            let r = read(&input).unwrap();
            assert_eq!(infer(&r).unwrap().1, want, "{input}");
        }
        let account = json!({"resourceType": "Account"});
        let r = read(&account).unwrap();
        assert_eq!(
            infer(&r).unwrap_err().to_string(),
            "Account: no HL7 v2 event carries Account without a Patient, Encounter, DiagnosticReport, Observation or ChargeItem; name one with --event"
        );
    }
}
