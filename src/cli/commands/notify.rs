//! `hl7fhir notify`: one FHIR notification per message, and with `--explain` a note per
//! message naming what no mapping row covered.

use std::sync::Arc;

use serde_json::json;

use crate::cli::args::Config;
use crate::cli::stream::{Input, Translator};
use crate::engine::Engine;
use crate::error::Error;
use crate::notify::NotifyOptions;
use crate::v2::Parser;

/// What every worker shares: the engine (the compiled plan) and the options.
pub(crate) struct Shared {
    engine: Arc<Engine>,
    options: NotifyOptions,
    explain: bool,
}

pub(crate) struct NotifyCommand {
    shared: Arc<Shared>,
    parser: Parser,
    options: NotifyOptions,
}

impl NotifyCommand {
    /// Builds the engine once, from the embedded tables and `--mappings`.
    pub(crate) fn shared(config: &Config) -> Result<Arc<Shared>, Error> {
        let engine = super::engine(config)?;
        Ok(Arc::new(Shared {
            engine,
            options: config.notify.clone(),
            explain: config.explain,
        }))
    }

    /// A worker's command: its own parser over the shared engine.
    pub(crate) fn new(shared: &Arc<Shared>) -> NotifyCommand {
        NotifyCommand {
            parser: shared.engine.parser(),
            options: shared.options.clone(),
            shared: Arc::clone(shared),
        }
    }
}

impl Translator for NotifyCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.options.event_number = input.index;
        let explain = self.shared.explain;
        let report = self.shared.engine.notify_with(
            &mut self.parser,
            input.bytes,
            &self.options,
            explain,
            out,
        )?;
        if explain {
            let note = json!({
                "index": input.index,
                "control_id": report.control_id,
                "structure": report.structure,
                "unmapped": report.unmapped,
                "untranslated": report.untranslated,
                "problems": report.problems,
            });
            notes.extend_from_slice(note.to_string().as_bytes());
            notes.push(b'\n');
        }
        Ok(())
    }
}
