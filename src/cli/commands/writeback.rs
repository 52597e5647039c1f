//! `hl7fhir writeback`: FHIR JSON or NDJSON requests → HL7 v2 messages, one after another (CR
//! segment ends) or MLLP frames; with `--explain`, a note per request naming the FHIR elements
//! no mapping row read and what was written with less than the request held.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::cli::args::Config;
use crate::cli::stream::{Input, Translator};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::writeback::WritebackOptions;

/// What every worker shares.
pub(crate) struct Shared {
    engine: Arc<Engine>,
    options: WritebackOptions,
    mllp: bool,
    explain: bool,
}

pub(crate) struct WritebackCommand {
    shared: Arc<Shared>,
}

impl WritebackCommand {
    pub(crate) fn shared(config: &Config) -> Result<Arc<Shared>, Error> {
        let engine = super::engine(config)?;
        Ok(Arc::new(Shared {
            engine,
            options: WritebackOptions {
                event: config.event.clone(),
                envelope: config.envelope.clone(),
                explain: config.explain,
            },
            mllp: config.mllp,
            explain: config.explain,
        }))
    }

    pub(crate) fn new(shared: &Arc<Shared>) -> WritebackCommand {
        WritebackCommand {
            shared: Arc::clone(shared),
        }
    }
}

impl Translator for WritebackCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let request: Json = serde_json::from_slice(input.bytes)
            .map_err(|e| Error::new(ErrorKind::BadFhir, format!("not JSON: {e}")))?;
        let written = self
            .shared
            .engine
            .writeback(&request, &self.shared.options, input.index)?;
        if self.shared.mllp {
            out.push(0x0B);
        }
        out.extend_from_slice(&written.message);
        if self.shared.mllp {
            out.extend_from_slice(&[0x1C, 0x0D]);
        }
        if self.shared.explain {
            let note = json!({"index": input.index, "control_id": written.control_id, "event": written.event, "structure": written.structure, "unmapped": written.unmapped, "problems": written.problems});
            notes.extend_from_slice(note.to_string().as_bytes());
            notes.push(b'\n');
        }
        Ok(())
    }

    fn input_id(&self, bytes: &[u8]) -> Option<(&'static str, String)> {
        let v: Json = serde_json::from_slice(bytes).ok()?;
        let ty = v.get("resourceType")?.as_str()?;
        let id = v
            .get("id")
            .and_then(Json::as_str)
            .map_or(String::new(), |i| format!("/{i}"));
        Some(("fhir_id", format!("{ty}{id}")))
    }
}
