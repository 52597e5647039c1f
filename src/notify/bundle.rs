//! The two notification forms, both built from one translated [`Event`]: a FHIR message Bundle
//! (MessageHeader first), or an R4 Subscriptions Backport notification (a `history` Bundle led
//! by a SubscriptionStatus `Parameters`). Lightweight events give lightweight messages and
//! id-only notifications; detailed events give full messages and full-resource notifications.

use super::translate::Event;
use super::{Flavor, Format, NotifyOptions};
use crate::error::{Error, ErrorKind};
use crate::fhir::doc::{NodeId, Val};
use crate::fhir::id::IdHasher;

const NOTIFICATION_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4";
const STATUS_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";

fn s<'a>(v: &'a str) -> Val<'a> {
    Val::Str(v)
}

/// Builds the Bundle for `event` in the document; returns its node.
pub(crate) fn assemble<'a>(
    event: &mut Event<'a>,
    opts: &'a NotifyOptions,
) -> Result<NodeId, Error> {
    let header = event
        .resources
        .iter()
        .position(|r| r.ty == "MessageHeader")
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Mapping,
                format!(
                    "the message map for {} makes no MessageHeader",
                    event.structure
                ),
            )
        })?;
    if header != 0 {
        let h = event.resources.remove(header);
        event.resources.insert(0, h);
    }
    match opts.format {
        Format::Message => Ok(message_bundle(event)),
        Format::Subscription => Ok(notification_bundle(event, opts)),
    }
}

fn message_bundle<'a>(event: &mut Event<'a>) -> NodeId {
    let doc = &mut event.doc;
    let b = doc.object();
    doc.set(b, "resourceType", s("Bundle"));
    doc.set_made(b, "id", &event.bundle_id);
    if !event.control_id.is_empty() {
        let ident = doc.member(b, "identifier", Val::Object);
        doc.set_made(ident, "value", &event.control_id);
    }
    doc.set(b, "type", s("message"));
    if let Some(t) = &event.timestamp {
        doc.set_made(b, "timestamp", t);
    }
    let entries = doc.member(b, "entry", Val::Array);
    for r in &event.resources {
        let e = doc.push(entries, Val::Object);
        doc.set(e, "fullUrl", Val::Urn(r.id));
        doc.insert_node(e, "resource", r.node);
    }
    b
}

/// The references MessageHeader.focus holds, in order (not those to a resource left out for
/// lacking what FHIR requires, which are empty).
fn focus<'a>(event: &Event<'a>) -> Vec<Val<'a>> {
    let doc = &event.doc;
    let Some(h) = event.resources.first() else {
        return Vec::new();
    };
    let Some(list) = doc.get(h.node, "focus") else {
        return Vec::new();
    };
    doc.children(list)
        .filter_map(|f| doc.get(f, "reference").filter(|&r| !doc.is_empty(r)))
        .map(|r| *doc.val(r))
        .collect()
}

/// A notification without its MessageHeader: a resource whose `target` named the message (the
/// Provenance of its event, EVN) names the notification's focus instead, as the IG advises where
/// a translation yields no FHIR message (the resources the event concerns).
fn retarget_to_focus<'a>(event: &mut Event<'a>, focus: &[Val<'a>]) {
    let Some(header) = event.resources.first().map(|r| Val::Urn(r.id)) else {
        return;
    };
    if focus.is_empty() {
        return;
    }
    let doc = &mut event.doc;
    for r in event.resources.iter().skip(1) {
        let Some(list) = doc.get(r.node, "target") else {
            continue;
        };
        let named = doc
            .children(list)
            .find_map(|t| doc.get(t, "reference").filter(|&x| *doc.val(x) == header));
        let Some(reference) = named else { continue };
        doc.replace(reference, focus[0]);
        for &f in &focus[1..] {
            let e = doc.push(list, Val::Object);
            doc.set(e, "reference", f);
        }
    }
}

fn notification_bundle<'a>(event: &mut Event<'a>, opts: &'a NotifyOptions) -> NodeId {
    let focus = focus(event);
    retarget_to_focus(event, &focus);
    let full = opts.flavor == Flavor::Detailed;
    let mut h = IdHasher::new("Parameters");
    h.add(&event.bundle_id);
    let params_id = h.finish();
    let number = opts.event_number.to_string();
    let doc = &mut event.doc;
    let b = doc.object();
    doc.set(b, "resourceType", s("Bundle"));
    doc.set_made(b, "id", &event.bundle_id);
    let meta = doc.member(b, "meta", Val::Object);
    let profiles = doc.member(meta, "profile", Val::Array);
    doc.push(profiles, s(NOTIFICATION_PROFILE));
    doc.set(b, "type", s("history"));
    if let Some(t) = &event.timestamp {
        doc.set_made(b, "timestamp", t);
    }
    let entries = doc.member(b, "entry", Val::Array);

    let p = doc.object();
    doc.set(p, "resourceType", s("Parameters"));
    doc.set_made(p, "id", &params_id);
    let pmeta = doc.member(p, "meta", Val::Object);
    let pprof = doc.member(pmeta, "profile", Val::Array);
    doc.push(pprof, s(STATUS_PROFILE));
    let list = doc.member(p, "parameter", Val::Array);
    let param = |doc: &mut crate::fhir::doc::Doc<'a>,
                 parent: NodeId,
                 name: &'a str,
                 key: &'a str,
                 value: Val<'a>| {
        let x = doc.push(parent, Val::Object);
        doc.set(x, "name", s(name));
        if key == "valueReference" {
            let r = doc.member(x, key, Val::Object);
            doc.set(r, "reference", value);
        } else {
            doc.set(x, key, value);
        }
    };
    param(
        doc,
        list,
        "subscription",
        "valueReference",
        s(&opts.subscription),
    );
    param(doc, list, "topic", "valueCanonical", s(&opts.topic));
    param(doc, list, "status", "valueCode", s("active"));
    param(doc, list, "type", "valueCode", s("event-notification"));
    let since_start = Val::MadeStr(doc.make(&number));
    param(
        doc,
        list,
        "events-since-subscription-start",
        "valueString",
        since_start,
    );
    let ev = doc.push(list, Val::Object);
    doc.set(ev, "name", s("notification-event"));
    let parts = doc.member(ev, "part", Val::Array);
    let event_number = Val::MadeStr(doc.make(&number));
    param(doc, parts, "event-number", "valueString", event_number);
    if let Some(t) = &event.timestamp {
        let timestamp = Val::MadeStr(doc.make(t));
        param(doc, parts, "timestamp", "valueInstant", timestamp);
    }
    for (i, f) in focus.iter().enumerate() {
        param(
            doc,
            parts,
            if i == 0 {
                "focus"
            } else {
                "additional-context"
            },
            "valueReference",
            *f,
        );
    }
    let e = doc.push(entries, Val::Object);
    doc.set_made(e, "fullUrl", &format!("urn:uuid:{params_id}"));
    doc.insert_node(e, "resource", p);
    let req = doc.member(e, "request", Val::Object);
    doc.set(req, "method", s("GET"));
    doc.set_made(req, "url", &format!("{}/$status", opts.subscription));
    let resp = doc.member(e, "response", Val::Object);
    doc.set(resp, "status", s("200"));

    for r in event.resources.iter().skip(1) {
        let e = doc.push(entries, Val::Object);
        doc.set(e, "fullUrl", Val::Urn(r.id));
        if full {
            doc.insert_node(e, "resource", r.node);
        }
        let req = doc.member(e, "request", Val::Object);
        doc.set(req, "method", s("PUT"));
        doc.set_made(req, "url", &format!("{}/{}", r.ty, r.id));
        let resp = doc.member(e, "response", Val::Object);
        doc.set(resp, "status", s("200"));
    }
    b
}
