//! `hl7fhir query`: FHIR searches, one per line, → HL7 v2 queries (QBP^Q22 or QRY^A19), one
//! after another (CR segment ends) or MLLP frames; with `--response`, the EHR's answers →
//! searchset Bundles or OperationOutcomes, one JSON line each.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::cli::args::Config;
use crate::cli::stream::{Input, Translator};
use crate::engine::Engine;
use crate::error::Error;
use crate::query::{QueryOptions, ResponseOptions};
use crate::v2::Parser;

/// What every worker shares.
pub(crate) struct Shared {
    engine: Arc<Engine>,
    query: QueryOptions,
    response: ResponseOptions,
    mllp: bool,
}

impl Shared {
    pub(crate) fn new(config: &Config) -> Result<Arc<Shared>, Error> {
        Ok(Arc::new(Shared {
            engine: super::engine(config)?,
            query: QueryOptions {
                style: config.style,
                envelope: config.envelope.clone(),
            },
            response: ResponseOptions {
                base: config.base.clone(),
            },
            mllp: config.mllp,
        }))
    }
}

/// Searches → queries.
pub(crate) struct QueryCommand {
    shared: Arc<Shared>,
}

impl QueryCommand {
    pub(crate) fn new(shared: &Arc<Shared>) -> QueryCommand {
        QueryCommand {
            shared: Arc::clone(shared),
        }
    }
}

impl Translator for QueryCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        _notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let written = self
            .shared
            .engine
            .query(input.bytes, &self.shared.query, input.index)?;
        if self.shared.mllp {
            out.push(0x0B);
        }
        out.extend_from_slice(&written.message);
        if self.shared.mllp {
            out.extend_from_slice(&[0x1C, 0x0D]);
        }
        Ok(())
    }

    /// A `Parameters` resource is named by its id; a search URL by nothing, since its values
    /// are patient data.
    fn input_id(&self, bytes: &[u8]) -> Option<(&'static str, String)> {
        let v: Json = serde_json::from_slice(bytes).ok()?;
        let id = v.get("id")?.as_str()?;
        Some(("fhir_id", format!("Parameters/{id}")))
    }
}

/// Responses → Bundles and OperationOutcomes.
pub(crate) struct ResponseCommand {
    shared: Arc<Shared>,
    parser: Parser,
}

impl ResponseCommand {
    pub(crate) fn new(shared: &Arc<Shared>) -> ResponseCommand {
        ResponseCommand {
            parser: shared.engine.parser(),
            shared: Arc::clone(shared),
        }
    }
}

impl Translator for ResponseCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        _notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.shared.engine.query_response_with(
            &mut self.parser,
            input.bytes,
            &self.shared.response,
            out,
        )
    }
}
