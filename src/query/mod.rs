//! Queries (app → EHR → app): a FHIR search becomes the HL7 v2 query an EHR answers, and the
//! answer comes back as a FHIR `searchset` Bundle or an OperationOutcome.
//!
//! - [`search`] reads a search URL or a `Parameters` resource.
//! - The query tables (`mappings/query/`, compiled into a
//!   [`QueryPlan`]) say which parameter goes where: a QPD-3
//!   pair of a QBP^Q22 (IHE PDQ, as PDQm maps its searches to it), or the QRD of an older
//!   QRY^A19. What the query cannot express exactly is an error, never a different query.
//! - The answer (RSP^K22, ADR^A19) runs through the message maps like a notification, so each
//!   PID becomes a Patient through the same rows; see `response`.

mod request;
mod response;
pub mod search;

pub use crate::mapping::query::Style;
pub use response::respond;

use crate::error::Error;
use crate::mapping::Plan;
use crate::mapping::query::QueryPlan;
use crate::writeback::Envelope;

/// Options for writing queries.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// QBP^Q22 or QRY^A19.
    pub style: Style,
    /// MSH fields, control ids, and the seed of the query tags.
    pub envelope: Envelope,
}

/// A query written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The HL7 v2 message, CR segment ends.
    pub message: Vec<u8>,
    /// MSH-10.
    pub control_id: String,
    /// QPD-2 (QRD-4 for A19): the tag the response echoes.
    pub query_tag: String,
}

/// Options for reading responses.
#[derive(Debug, Clone, Default)]
pub struct ResponseOptions {
    /// The FHIR base URL the `self` and `next` links start with; relative links when `None`.
    pub base: Option<String>,
}

/// Translates one search (a URL or a `Parameters` resource, as bytes) into an HL7 v2 query;
/// `n` numbers it within a run (control id, query tag). `show_values` lets errors quote the
/// offending value.
pub fn query(
    plan: &Plan,
    queries: &QueryPlan,
    input: &[u8],
    opts: &QueryOptions,
    show_values: bool,
    n: u64,
) -> Result<Written, Error> {
    let search = search::parse(input)?;
    request::build(plan, queries, &search, opts, show_values, n)
}
