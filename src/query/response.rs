//! The EHR's answer to a query as FHIR: an RSP^K22 or ADR^A19 becomes a `searchset` Bundle,
//! one Patient per PID through the message map's rows (the same PID → Patient rows as
//! notifications), each `search.mode = match`, and what they refer to (a PD1 Organization) as
//! `include`; an error (MSA-1 AE/AR, or QAK-2 AE/AR) becomes
//! an OperationOutcome, read as an ACK is. Warnings sent with an accepted answer (ERR), and
//! QAK hit counts (QAK-4 to QAK-6) the answer or each other contradict, or that are no number,
//! are issues of an OperationOutcome entry beside the matches.
//!
//! The Bundle's `self` link is the search again, read back from the query the response echoes
//! (QPD for RSP^K22, QRD for ADR^A19) through the same query table, so it names exactly what
//! was asked. A DSC continuation pointer gives a `next` link that `hl7fhir query` turns into
//! the continuation query: the same parameters plus `_count`, `_querytag` (the echoed QPD-2,
//! when there is one) and `_continuation` (DSC-1).

use crate::error::{Error, ErrorKind, Location};
use crate::fhir::doc::{Doc, NodeId, Val};
use crate::fhir::id::Id;
use crate::mapping::Plan;
use crate::mapping::query::{Authority, ParamKind, QueryPlan, Style, StyleTable};
use crate::notify::translate::{Resource, TranslateOptions, translate};
use crate::v2::{Message, Segment};
use crate::writeback::ack::{answer_message, outcome_id};

use super::ResponseOptions;
use super::search::{encode, escape};

/// The resource type the patient queries answer.
const PATIENT: &str = "Patient";

/// Decoded, trimmed text of component `comp` (subcomponent `sub`) of the first repetition of a
/// field; empty when absent.
fn text(seg: &Segment<'_>, field: usize, comp: usize, sub: usize) -> Result<String, Error> {
    let value = seg
        .field(field)
        .and_then(|f| f.component(comp))
        .and_then(|c| c.subcomponent(sub));
    Ok(match value {
        Some(v) if !v.is_null() => v.text()?.trim().to_string(),
        _ => String::new(),
    })
}

fn field_location(seg: &Segment<'_>, field: usize) -> Location {
    Location {
        field: field as u32,
        ..seg.location()
    }
}

/// Reads a parsed query response and appends its FHIR answer (a searchset Bundle or an
/// OperationOutcome), one line of JSON, to `out`.
pub fn respond(
    plan: &Plan,
    queries: &QueryPlan,
    msg: Message<'_>,
    opts: &ResponseOptions,
    topts: &TranslateOptions,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let header = msg.header();
    let (mtype, trigger) = (text(&header, 9, 1, 1)?, text(&header, 9, 2, 1)?);
    let style = match (mtype.as_str(), trigger.as_str()) {
        ("RSP", "K22") => Some(Style::Q22),
        ("ADR", "A19") => Some(Style::A19),
        ("ACK", _) => None,
        _ => {
            return Err(Error::new(
                ErrorKind::UnsupportedEvent,
                "not a query response (RSP^K22, ADR^A19, or an ACK rejecting the query)",
            )
            .at(field_location(&header, 9)));
        }
    };
    let msa = msg.first("MSA").ok_or_else(|| {
        Error::new(
            ErrorKind::MissingRequired,
            "a query response needs an MSA segment",
        )
    })?;
    let msa1 = text(&msa, 1, 1, 1)?;
    let qak = msg.first("QAK");
    if style == Some(Style::Q22) && qak.is_none() {
        return Err(Error::new(
            ErrorKind::MissingRequired,
            "RSP^K22 needs a QAK segment (the query acknowledgment)",
        ));
    }
    let qak2 = match &qak {
        Some(q) => text(q, 2, 1, 1)?,
        None => String::new(),
    };
    let msa_failed = matches!(msa1.as_str(), "AE" | "AR" | "CE" | "CR");
    let qak_failed = matches!(qak2.as_str(), "AE" | "AR");
    let style = match style {
        Some(style) if !msa_failed && !qak_failed => style,
        None if !msa_failed => {
            return Err(Error::new(
                ErrorKind::UnsupportedEvent,
                "an ACK that accepts the query carries no results: expected RSP^K22 or ADR^A19",
            )
            .at(field_location(&header, 9)));
        }
        _ => {
            // QAK-2 carries the verdict when MSA-1 accepted the message but not the query.
            let code = (!msa_failed).then_some(qak2.as_str());
            let answer = answer_message(plan, &msg, code)?;
            serde_json::to_writer(&mut *out, &answer.outcome)
                .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
            out.push(b'\n');
            return Ok(());
        }
    };
    if !matches!(msa1.as_str(), "AA" | "CA") {
        return Err(Error::new(
            ErrorKind::BadValue,
            "MSA-1 is not an acknowledgment code (AA, AE, AR, CA, CE, CR)",
        )
        .at(field_location(&msa, 1)));
    }
    let not_found = match qak2.as_str() {
        "NF" => true,
        "OK" | "" => false,
        _ => {
            return Err(Error::new(
                ErrorKind::BadValue,
                "QAK-2 is not a query response status (OK, NF, AE, AR)",
            )
            .at(qak
                .as_ref()
                .map_or(msa.location(), |q| field_location(q, 2))));
        }
    };
    let table = queries.resource(PATIENT).ok_or_else(|| {
        Error::new(
            ErrorKind::Mapping,
            "there is no query table query/Patient.csv to read the echoed query with",
        )
    })?;
    let echo = match style {
        Style::Q22 => echo_q22(plan, queries, &table.q22, &table.file, &msg)?,
        Style::A19 => echo_a19(queries, &table.a19, &table.file, &msg)?,
    };
    let mut event = translate(plan, msg, topts)?;
    let matches = event.resources.iter().filter(|r| r.ty == PATIENT).count();
    if not_found && matches > 0 {
        return Err(Error::new(
            ErrorKind::BadValue,
            "QAK-2 is NF (no data found) but the response holds patients (PID segments)",
        )
        .at(qak
            .as_ref()
            .map_or(msa.location(), |q| field_location(q, 2))));
    }
    let number = |seg: &Option<Segment<'_>>, field: usize| -> Result<Option<u64>, Error> {
        Ok(match seg {
            Some(s) => text(s, field, 1, 1)?.parse::<u64>().ok(),
            None => None,
        })
    };
    let pointer = match msg.first("DSC") {
        Some(d) => Some(text(&d, 1, 1, 1)?).filter(|p| !p.is_empty()),
        None => None,
    };
    // The supplier's hit counts, checked against the PID segments it sent (HL7 counts hits,
    // so one patient sent twice is two): the data stands, a count that contradicts it is
    // reported, numbers only.
    let pids = msg.segments_with_id("PID").count() as u64;
    // A hit count sent that is no number says nothing; it is reported (below), not read.
    let count = |field: usize| -> Result<(Option<u64>, bool), Error> {
        let sent = match &qak {
            Some(q) => text(q, field, 1, 1)?,
            None => return Ok((None, false)),
        };
        let sent = sent.trim();
        Ok(match sent.parse::<u64>() {
            Ok(n) => (Some(n), false),
            Err(_) => (None, !sent.is_empty()),
        })
    };
    let ((hit_total, bad_total), (payload, bad_payload), (remaining, bad_remaining)) =
        (count(4)?, count(5)?, count(6)?);
    let held = match pids {
        1 => "1 PID segment".to_string(),
        n => format!("{n} PID segments"),
    };
    let mut warnings: Vec<serde_json::Value> = Vec::new();
    let mut warn = |field: &str, text: String| {
        warnings.push(serde_json::json!({
            "severity": "warning", "code": "value", "diagnostics": text, "location": [field]
        }));
    };
    for (bad, field, name) in [
        (bad_total, "QAK-4", "hit count total"),
        (bad_payload, "QAK-5", "this payload"),
        (bad_remaining, "QAK-6", "hits remaining"),
    ] {
        if bad {
            warn(field, format!("{field} ({name}) is not a number: not read"));
        }
    }
    let hit_total = match hit_total {
        Some(n) if n < pids => {
            warn(
                "QAK-4",
                format!(
                    "QAK-4 (hit count total) is {n}, but the response holds {held}: not used as the Bundle's total"
                ),
            );
            None
        }
        Some(n) if not_found && n > 0 => {
            warn(
                "QAK-4",
                format!("QAK-4 (hit count total) is {n}, but QAK-2 is NF (no data found)"),
            );
            None
        }
        // Every hit is in an earlier payload, this one or one still to come.
        Some(n) if remaining.is_some_and(|r| n < pids + r) => {
            let r = remaining.unwrap_or(0);
            warn(
                "QAK-4",
                format!(
                    "QAK-4 (hit count total) is {n}, but the response holds {held} and QAK-6 (hits remaining) is {r}: not used as the Bundle's total"
                ),
            );
            None
        }
        other => other,
    };
    // More hits remaining are asked for with the DSC continuation pointer; hits said to remain
    // with none to ask by cannot be had, and a pointer with none remaining leads nowhere.
    let more_to_come = match (remaining, &pointer) {
        (Some(n), None) if n > 0 && !not_found => {
            warn(
                "QAK-6",
                format!(
                    "QAK-6 (hits remaining) is {n}, but no DSC continuation pointer follows: the rest cannot be asked for"
                ),
            );
            true
        }
        (Some(0), Some(_)) => {
            warn(
                "QAK-6",
                "QAK-6 (hits remaining) is 0, but a DSC continuation pointer follows".to_string(),
            );
            true
        }
        (_, p) => p.is_some(),
    };
    if let Some(n) = payload.filter(|&n| n != pids) {
        warn(
            "QAK-5",
            format!("QAK-5 (this payload) is {n}, but the response holds {held}"),
        );
    }
    // QAK-4 is the supplier's count of every match (FHIR's total counts matches on every page,
    // so never fewer than this one holds); without it the entries are the total only when no
    // continuation follows and no hits are said to remain.
    let total = if not_found {
        Some(0)
    } else {
        match hit_total {
            Some(n) => Some(n),
            None if !more_to_come => Some(matches as u64),
            None => None,
        }
    };
    let base = opts
        .base
        .as_deref()
        .map(|b| format!("{}/", b.trim_end_matches('/')))
        .unwrap_or_default();
    let self_link = link(&base, &echo.params);
    let next_link = match &pointer {
        Some(p) if !not_found => {
            let mut params = echo.params.clone();
            if !params.iter().any(|(n, _)| n == "_count") {
                // With more to come, this payload is the increment the supplier chose.
                let increment = number(&qak, 5)?.unwrap_or(matches as u64);
                if increment > 0 {
                    params.push(("_count".into(), increment.to_string()));
                }
            }
            // A query sent without a tag is continued without one.
            if !echo.tag.is_empty() {
                params.push(("_querytag".into(), escape(&echo.tag)));
            }
            params.push(("_continuation".into(), escape(p)));
            Some(link(&base, &params))
        }
        _ => None,
    };

    let doc = &mut event.doc;
    let b = doc.object();
    let s = |v: &'static str| Val::Str(v);
    doc.set(b, "resourceType", s("Bundle"));
    doc.set_made(b, "id", &event.bundle_id);
    doc.set(b, "type", s("searchset"));
    if let Some(t) = &event.timestamp {
        doc.set_made(b, "timestamp", t);
    }
    if let Some(n) = total {
        let total = doc.make(&n.to_string());
        doc.set(b, "total", Val::MadeNumber(total));
    }
    let links = doc.member(b, "link", Val::Array);
    for (relation, url) in [("self", Some(self_link)), ("next", next_link)] {
        if let Some(url) = url {
            let l = doc.push(links, Val::Object);
            doc.set(l, "relation", s(relation));
            doc.set_made(l, "url", &url);
        }
    }
    let entries = doc.member(b, "entry", Val::Array);
    for r in selected(&event.resources, doc) {
        let e = doc.push(entries, Val::Object);
        doc.set(e, "fullUrl", Val::Urn(r.id));
        doc.insert_node(e, "resource", r.node);
        let search = doc.member(e, "search", Val::Object);
        let mode = if r.ty == PATIENT { "match" } else { "include" };
        doc.set(search, "mode", s(mode));
    }
    // Warnings or notes the supplier sent with the answer (ERR beside MSA AA: "partial results
    // only"), and hit counts the answer contradicts, go with it, as the searchset's outcome
    // entry FHIR defines for them.
    if msg.first("ERR").is_none() && warnings.is_empty() {
        doc.write_into(b, out);
        out.push(b'\n');
        return Ok(());
    }
    let mut outcome = if msg.first("ERR").is_some() {
        answer_message(plan, &msg, None)?.outcome
    } else {
        let control_id = text(&msa, 2, 1, 1)?;
        serde_json::json!({"resourceType": "OperationOutcome", "id": outcome_id(&control_id), "issue": []})
    };
    if let Some(issues) = outcome.get_mut("issue").and_then(|i| i.as_array_mut()) {
        issues.extend(warnings);
    }
    let mut bundle = doc.to_json(b);
    if let Some(entries) = bundle.get_mut("entry").and_then(|e| e.as_array_mut()) {
        entries.push(serde_json::json!({"resource": outcome, "search": {"mode": "outcome"}}));
    } else {
        bundle["entry"] = serde_json::json!([{"resource": outcome, "search": {"mode": "outcome"}}]);
    }
    serde_json::to_writer(&mut *out, &bundle)
        .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
    out.push(b'\n');
    Ok(())
}

/// The resources of the searchset, in the order made: every Patient, what refers to one (a
/// RelatedPerson a site maps from NK1), and what those refer to (a PD1 Organization), but not
/// the MessageHeader nor what only it names (MSH-4's Organization).
fn selected<'r, 'a>(resources: &'r [Resource<'a>], doc: &Doc<'a>) -> Vec<&'r Resource<'a>> {
    let refs: Vec<Vec<Id>> = resources
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            references(doc, r.node, &mut out);
            out
        })
        .collect();
    let patients: Vec<Id> = resources
        .iter()
        .filter(|r| r.ty == PATIENT)
        .map(|r| r.id)
        .collect();
    let mut keep: Vec<bool> = resources
        .iter()
        .zip(&refs)
        .map(|(r, out)| {
            r.ty == PATIENT || (r.ty != "MessageHeader" && out.iter().any(|u| patients.contains(u)))
        })
        .collect();
    // What a kept resource refers to is kept too, until nothing changes.
    loop {
        let wanted: Vec<Id> = refs
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .flat_map(|(out, _)| out.iter().cloned())
            .collect();
        let mut changed = false;
        for (i, r) in resources.iter().enumerate() {
            if !keep[i] && r.ty != "MessageHeader" && wanted.contains(&r.id) {
                keep[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    resources
        .iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// The ids every `urn:uuid:` reference under a node names.
fn references(doc: &Doc<'_>, node: NodeId, out: &mut Vec<Id>) {
    match doc.val(node) {
        Val::Urn(id) => out.push(*id),
        Val::Object | Val::Array => {
            for c in doc.children(node) {
                references(doc, c, out);
            }
        }
        _ => {}
    }
}

/// The search a response answers, read back from its echo.
struct Echo {
    /// (name, value in search syntax), in table order.
    params: Vec<(String, String)>,
    /// QPD-2 or QRD-4.
    tag: String,
}

fn link(base: &str, params: &[(String, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect();
    format!("{base}{PATIENT}?{}", query.join("&"))
}

fn echo_error(seg: &Segment<'_>, field: usize, reason: String) -> Error {
    Error::new(ErrorKind::Unsupported, reason).at(field_location(seg, field))
}

/// An identifier in search syntax: `system|value`, or the value alone when the echo names no
/// assigning authority.
fn token(
    queries: &QueryPlan,
    value: &str,
    a: &Authority,
    seg: &Segment<'_>,
    field: usize,
) -> Result<String, Error> {
    if *a == Authority::default() {
        return Ok(escape(value));
    }
    let system = queries.system(a).ok_or_else(|| {
        echo_error(
            seg,
            field,
            "the echoed assigning authority has no identifier system in query/AssigningAuthority.csv: the self link cannot be written".into(),
        )
    })?;
    Ok(format!("{}|{}", escape(&system), escape(value)))
}

fn echo_q22(
    plan: &Plan,
    queries: &QueryPlan,
    rows: &StyleTable,
    file: &str,
    msg: &Message<'_>,
) -> Result<Echo, Error> {
    let qpd = msg.first("QPD").ok_or_else(|| {
        Error::new(
            ErrorKind::MissingRequired,
            "RSP^K22 needs its QPD segment: the query it answers",
        )
    })?;
    let tag = text(&qpd, 2, 1, 1)?;
    let mut values: Vec<Vec<String>> = vec![Vec::new(); rows.params.len()];
    let mut identifier = (String::new(), Authority::default());
    if let Some(field) = qpd.field(3) {
        for (r, rep) in field.repetitions().enumerate() {
            // The value as sent, spaces and all, so that the link asks the same again.
            let part = |c: usize| -> Result<String, Error> {
                Ok(match rep.component(c) {
                    Some(v) => v.text()?.into_owned(),
                    None => String::new(),
                })
            };
            let (name, value) = (part(1)?.trim().to_string(), part(2)?);
            if name.is_empty() && value.is_empty() {
                continue;
            }
            let at = || Location {
                repetition: r as u32 + 1,
                ..field_location(&qpd, 3)
            };
            let reference = name.strip_prefix('@').unwrap_or(&name);
            let found = rows.params.iter().enumerate().find_map(|(i, row)| {
                let refs = row.references();
                (row.kind != ParamKind::Count)
                    .then(|| refs.iter().position(|x| x == reference))
                    .flatten()
                    .map(|k| (i, row, k))
            });
            let Some((i, row, k)) = found else {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "QPD-3 names @{reference}, which no q22 row of {file} reads: the self link cannot be written"
                    ),
                )
                .at(at()));
            };
            match row.kind {
                ParamKind::Identifier => {
                    let (v, a) = &mut identifier;
                    let slot = match k {
                        0 => v,
                        1 => &mut a.namespace,
                        2 => &mut a.universal_id,
                        _ => &mut a.universal_id_type,
                    };
                    *slot = value;
                }
                ParamKind::Date => {
                    let date = (value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| format!("{}-{}-{}", &value[..4], &value[4..6], &value[6..]))
                        .ok_or_else(|| {
                            Error::new(ErrorKind::BadValue, "QPD-3 holds no full date (YYYYMMDD)")
                                .at(at())
                        })?;
                    values[i].push(date);
                }
                ParamKind::Code => {
                    // A QPD-3 value names no coding system: it is a code of the field's own
                    // table, as the query sent it.
                    let concept = row
                        .vocabulary
                        .and_then(|v| plan.vocabularies[v].translate(value.trim(), None))
                        .ok_or_else(|| {
                            Error::new(
                                ErrorKind::Unsupported,
                                "QPD-3 holds a code the row's vocabulary does not translate: the self link cannot be written",
                            )
                            .at(at())
                        })?;
                    values[i].push(escape(&concept.code));
                }
                _ => values[i].push(escape(&value)),
            }
        }
    }
    let mut params = Vec::new();
    for (row, vals) in rows.params.iter().zip(values) {
        if row.kind == ParamKind::Identifier {
            let (value, a) = &identifier;
            if !value.is_empty() {
                params.push((row.name.clone(), token(queries, value, a, &qpd, 3)?));
            } else if *a != Authority::default() {
                return Err(echo_error(
                    &qpd,
                    3,
                    "QPD-3 names an assigning authority without an identifier".into(),
                ));
            }
            let mut domains = Vec::new();
            if let Some(f) = qpd.field(8) {
                for rep in f.repetitions() {
                    let sub = |s: usize| -> Result<String, Error> {
                        Ok(match rep.component(4).and_then(|c| c.subcomponent(s)) {
                            Some(v) => v.text()?.trim().to_string(),
                            None => String::new(),
                        })
                    };
                    let a = Authority {
                        namespace: sub(1)?,
                        universal_id: sub(2)?,
                        universal_id_type: sub(3)?,
                    };
                    if a != Authority::default() {
                        let system = queries.system(&a).ok_or_else(|| {
                            echo_error(&qpd, 8, "QPD-8 names an assigning authority with no identifier system in query/AssigningAuthority.csv: the self link cannot be written".into())
                        })?;
                        domains.push(format!("{}|", escape(&system)));
                    }
                }
            }
            if !domains.is_empty() {
                params.push((row.name.clone(), domains.join(",")));
            }
        }
        for v in vals {
            params.push((row.name.clone(), v));
        }
    }
    Ok(Echo { params, tag })
}

fn echo_a19(
    queries: &QueryPlan,
    rows: &StyleTable,
    file: &str,
    msg: &Message<'_>,
) -> Result<Echo, Error> {
    let qrd = msg.first("QRD").ok_or_else(|| {
        Error::new(
            ErrorKind::MissingRequired,
            "ADR^A19 needs its QRD segment: the query it answers",
        )
    })?;
    let identifier = rows
        .params
        .iter()
        .find(|r| r.kind == ParamKind::Identifier)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Mapping,
                format!("{file} has no a19 identifier row to read QRD-8 back with"),
            )
        })?;
    // QRD-8 repeats: a query about several patients, which FHIR asks as one identifier
    // parameter with several values (`identifier=a,b`: any of them).
    let mut tokens = Vec::new();
    for rep in qrd.field(8).into_iter().flat_map(|f| f.repetitions()) {
        let part = |c: usize, sub: usize| -> Result<String, Error> {
            Ok(match rep.component(c).and_then(|x| x.subcomponent(sub)) {
                Some(v) if !v.is_null() => v.text()?.trim().to_string(),
                _ => String::new(),
            })
        };
        let value = part(1, 1)?;
        let a = Authority {
            namespace: part(9, 1)?,
            universal_id: part(9, 2)?,
            universal_id_type: part(9, 3)?,
        };
        if value.is_empty() {
            if a != Authority::default() {
                return Err(echo_error(
                    &qrd,
                    8,
                    "QRD-8 names an assigning authority without an identifier".into(),
                ));
            }
            continue;
        }
        let t = token(queries, &value, &a, &qrd, 8)?;
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    if tokens.is_empty() {
        return Err(echo_error(
            &qrd,
            8,
            "QRD-8 names no patient: the self link cannot be written".into(),
        ));
    }
    let mut params = vec![(identifier.name.clone(), tokens.join(","))];
    let count = text(&qrd, 7, 1, 1)?;
    let units = text(&qrd, 7, 2, 1)?;
    // A limit in lines, characters or pages is no `_count` of records.
    if let Some(n) = count.parse::<u64>().ok().filter(|n| *n > 0)
        && matches!(units.as_str(), "" | "RD")
        && rows.param("_count").is_some()
    {
        params.push(("_count".into(), n.to_string()));
    }
    Ok(Echo {
        params,
        tag: text(&qrd, 4, 1, 1)?,
    })
}
