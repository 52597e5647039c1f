//! Writeback (app → EHR): FHIR resources become the HL7 v2 messages an EHR takes, driven by the
//! same mapping tables as notifications, read right to left; and the EHR's ACK comes back as a
//! FHIR OperationOutcome ([`ack`]).
//!
//! [`request`] reads the FHIR input, [`event`] decides the HL7 event when the request does not
//! name one, [`Envelope`] fills MSH, and the reverse executor writes the segments.

pub mod ack;
pub mod envelope;
pub mod event;
mod out;
pub mod request;
mod reverse;
mod version;

pub use envelope::Envelope;
pub use reverse::Written;

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::mapping::Plan;

/// Options for one writeback.
#[derive(Debug, Clone, Default)]
pub struct WritebackOptions {
    /// The trigger event, e.g. `A08`, instead of inferring it.
    pub event: Option<String>,
    /// MSH fields and control ids.
    pub envelope: Envelope,
    /// Also list the elements of the request no row read ([`Written::unmapped`]), which takes a
    /// walk over the whole request.
    pub explain: bool,
}

/// Translates one FHIR request (a resource or a Bundle) into an HL7 v2 message; `n` numbers the
/// message within a run (control ids).
pub fn writeback(
    plan: &Plan,
    json: &Json,
    opts: &WritebackOptions,
    n: u64,
) -> Result<Written, Error> {
    let req = request::read(json)?;
    let (message_type, event) = match &opts.event {
        Some(e) => (event::message_type(e), e.clone()),
        None => event::infer(&req)?,
    };
    let structure = plan
        .events
        .get(&(message_type.to_string(), event.clone()))
        .copied()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("{message_type}^{event} has no message map to write back with"),
            )
            .at_fhir_path("(request)")
        })?;
    event::check_content(&req, message_type, &event)?;
    let carried = event::carried(&req, &event);
    reverse::write(
        plan,
        structure,
        &req,
        (message_type, &event),
        opts,
        n,
        &carried,
    )
}
