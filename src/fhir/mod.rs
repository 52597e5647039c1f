//! The FHIR R4 side: what R4 defines (elements), the JSON document resources are built in,
//! date/time conversion, and deterministic ids.

pub mod base64;
pub mod datetime;
pub mod decimal;
pub mod doc;
pub mod elements;
pub mod id;
