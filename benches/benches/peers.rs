//! The **walk** workload written against each peer crate's own API: parse every message, then
//! visit every repetition, component and subcomponent and sum their lengths, as
//! `hl7fhir_benches::workloads::walk` does for hl7fhir.
//!
//! What each crate builds while parsing differs, and that is what the comparison measures:
//! - `hl7-parser` 0.3 (nom 7) builds the whole tree eagerly: a `Vec` of segments, each a `Vec`
//!   of fields, each a `Vec` of repeats, components and subcomponents.
//! - `rust-hl7` 0.5 also builds eagerly: per field, a `Vec` of repeats, a `Vec<Vec<&str>>` of
//!   components and a `Vec<Vec<Vec<&str>>>` of subcomponents. Its segment list includes the
//!   empty text after the final CR, and its field list starts with the segment id.
//! - `hl7-v2` 0.1 splits only segments and fields (one `Vec<&str>` per segment); it has no API
//!   for repetitions or subcomponents, so the walk splits them with `str::split` on the
//!   encoding characters it reports.
//!
//! The first two take `&str`, so their walks include the UTF-8 check a caller holding wire
//! bytes has to make; `hl7-v2` makes it inside `parse`.

/// Totals of one walk: the checksum and the messages the crate refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Summed lengths of every repetition, component and subcomponent.
    pub sum: usize,
    /// Messages that failed to parse (or were not valid UTF-8) and were skipped.
    pub failed: usize,
    /// Segments seen, to check that no crate stops early without saying so.
    pub segments: usize,
}

/// `hl7-parser` 0.3.
pub fn hl7_parser(messages: &[&[u8]]) -> Walk {
    let mut w = Walk::default();
    for m in messages {
        let Some(msg) = std::str::from_utf8(m)
            .ok()
            .and_then(|s| hl7_parser::Message::parse(s).ok())
        else {
            w.failed += 1;
            continue;
        };
        for seg in msg.segments() {
            w.segments += 1;
            for field in seg.fields() {
                for rep in field.repeats() {
                    w.sum += rep.raw_value().len();
                    for comp in rep.components() {
                        w.sum += comp.raw_value().len();
                        for sub in comp.subcomponents() {
                            w.sum += sub.raw_value().len();
                        }
                    }
                }
            }
        }
    }
    w
}

/// `rust-hl7` 0.5.
pub fn rust_hl7(messages: &[&[u8]]) -> Walk {
    let mut w = Walk::default();
    for m in messages {
        let Some(msg) = std::str::from_utf8(m)
            .ok()
            .and_then(|s| rusthl7::message::Message::try_from(s).ok())
        else {
            w.failed += 1;
            continue;
        };
        for seg in &msg.segments {
            // The text after the final CR comes back as one more, empty, segment.
            if seg.source.is_empty() {
                continue;
            }
            w.segments += 1;
            for field in &seg.fields {
                for ((rep, comps), subs) in field
                    .repeats
                    .iter()
                    .zip(&field.components)
                    .zip(&field.subcomponents)
                {
                    w.sum += rep.len();
                    for (comp, subs) in comps.iter().zip(subs) {
                        w.sum += comp.len();
                        for sub in subs {
                            w.sum += sub.len();
                        }
                    }
                }
            }
        }
    }
    w
}

/// `hl7-v2` 0.1.
pub fn hl7_v2(messages: &[&[u8]]) -> Walk {
    let mut w = Walk::default();
    for m in messages {
        let Ok(msg) = hl7_v2::Hl7Message::parse(m) else {
            w.failed += 1;
            continue;
        };
        let enc = &msg.encoding;
        let (rep_sep, comp_sep, sub_sep) = (
            char::from(enc.repetition_sep),
            char::from(enc.component_sep),
            char::from(enc.sub_component_sep),
        );
        for seg in msg.all_segments() {
            w.segments += 1;
            for field in seg.raw_fields() {
                for rep in field.split(rep_sep) {
                    w.sum += rep.len();
                    for comp in rep.split(comp_sep) {
                        w.sum += comp.len();
                        for sub in comp.split(sub_sep) {
                            w.sum += sub.len();
                        }
                    }
                }
            }
        }
    }
    w
}
