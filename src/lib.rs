//! hl7fhir translates between HL7 v2 messages and FHIR R4 resources.
//!
//! - [`v2`]: the HL7 v2 wire format — a zero-copy parser, escape and charset decoding, terser
//!   paths, MLLP/batch/plain framing, the encoder and ACKs.
//! - [`mapping`]: the declarative mapping tables (`mappings/`), loaded, checked and compiled.
//! - [`notify`]: HL7 v2 events → FHIR notifications (message Bundles, Backport notifications).
//! - [`query`]: FHIR searches → HL7 v2 queries (QBP^Q22, QRY^A19), and their answers →
//!   searchset Bundles.
//! - [`fhir`]: the FHIR R4 side: element definitions, the JSON document, dates, ids.
//! - [`engine`]: the thread-safe engine gateways link.
//! - [`error`]: the one error type, with byte offsets and HL7 locations.
//!
//! ```
//! use hl7fhir::v2::Parser;
//! let mut parser = Parser::default();
//! let msg = parser.parse(b"MSH|^~\\&|LAB|HOSP\rPID|1||12345^^^MR||Doe^Jane\r").unwrap();
//! let path = "PID-5.2".parse().unwrap();
//! assert_eq!(msg.get(&path).unwrap().text().unwrap(), "Jane");
//! ```

// No unsafe code, except in the one module that allows it for a measured gain
// (`v2::scan::sse2`); `forbid` would not let that module opt out.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod engine;
pub mod error;
pub mod fhir;
pub mod mapping;
pub mod notify;
pub mod query;
pub mod v2;
pub mod writeback;

pub use error::{Error, ErrorKind, Location, Result};
