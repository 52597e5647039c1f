//! `hl7fhir ack`: HL7 v2 ACKs → FHIR, one JSON line each: an OperationOutcome, or, for an ACK
//! answering a transaction or batch writeback named in `--request`, a response Bundle.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::cli::args::Config;
use crate::cli::stream::{Input, Translator};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::writeback::ack::response_bundle;

pub(crate) struct Shared {
    engine: Arc<Engine>,
    /// Control id of each writeback message → its request, when it was a transaction or batch.
    requests: HashMap<String, Json>,
}

pub(crate) struct AckCommand {
    shared: Arc<Shared>,
}

impl AckCommand {
    /// Reads `--request`: the requests in the order writeback numbered them, so that the same
    /// profile and seed give the control ids the ACKs quote.
    pub(crate) fn shared(config: &Config) -> Result<Arc<Shared>, Error> {
        let engine = super::engine(config)?;
        let mut requests = HashMap::new();
        if let Some(path) = &config.request {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("--request: cannot read {}: {e}", path.display()),
                )
            })?;
            let values: Vec<Json> = serde_json::Deserializer::from_str(&text)
                .into_iter::<Json>()
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::BadFhir,
                        format!("--request {}: not JSON: {e}", path.display()),
                    )
                })?;
            for (i, v) in values.into_iter().enumerate() {
                if matches!(v["type"].as_str(), Some("transaction" | "batch")) {
                    requests.insert(config.envelope.control_id(i as u64 + 1), v);
                }
            }
        }
        Ok(Arc::new(Shared { engine, requests }))
    }

    pub(crate) fn new(shared: &Arc<Shared>) -> AckCommand {
        AckCommand {
            shared: Arc::clone(shared),
        }
    }
}

impl Translator for AckCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        _notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let answer = self.shared.engine.ack(input.bytes)?;
        let json = match self.shared.requests.get(&answer.control_id) {
            Some(request) => response_bundle(&answer, request),
            None => answer.outcome,
        };
        serde_json::to_writer(&mut *out, &json)
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        out.push(b'\n');
        Ok(())
    }
}
