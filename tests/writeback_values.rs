//! Values written back as HL7 v2 carries them: text with control characters, numbers, times
//! and long or multi-line strings come out in a form the message's data types accept, and
//! come back as they were sent.

mod common;

use hl7fhir::engine::Engine;
use hl7fhir::v2::{Chunk, FrameReader, Parser};
use hl7fhir::writeback::WritebackOptions;
use serde_json::{Value, json};

fn options() -> WritebackOptions {
    WritebackOptions {
        event: None,
        envelope: common::fixed_envelope(),
        explain: false,
    }
}

fn write(request: &Value) -> Vec<u8> {
    let engine = Engine::with_defaults().unwrap();
    engine.writeback(request, &options(), 1).unwrap().message
}

#[test]
fn control_characters_travel_as_escapes_and_the_message_stays_one() {
    // CR ends a segment, 0x0B and 0x1C open and close an MLLP frame, NUL and tab are no text.
    let family = "Sec\u{1C}\rret\u{0B}name\nX\tY\0Z";
    let request = json!({"resourceType": "Patient", "identifier": [{"value": "MRN-1"}],
                         "name": [{"family": family}]});
    let message = write(&request);
    let segment_ends = message.iter().filter(|&&b| b == b'\r').count();
    assert!(
        message.iter().all(|&b| b == b'\r' || !b.is_ascii_control()),
        "{}",
        String::from_utf8_lossy(&message)
    );
    // Framed as --mllp frames it, the stream holds one message with all its segments.
    let mut framed = vec![0x0B];
    framed.extend_from_slice(&message);
    framed.extend_from_slice(&[0x1C, 0x0D]);
    let mut reader = FrameReader::new(framed.as_slice(), 1 << 20);
    let mut messages = Vec::new();
    while let Some(chunk) = reader.next_chunk().unwrap() {
        match chunk {
            Chunk::Message(m) => messages.push(m.message.to_vec()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(messages, std::slice::from_ref(&message));
    let mut parser = Parser::default();
    let parsed = parser.parse(&message).unwrap();
    assert_eq!(parsed.segment_count(), segment_ends);
    let tree = parsed.to_tree().unwrap();
    let pid = tree.segments.iter().find(|s| s.id == "PID").unwrap();
    assert_eq!(pid.fields[4][0][0][0], family);
}
