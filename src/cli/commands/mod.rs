//! One module per subcommand; each implements [`Translator`](super::stream::Translator) for
//! one input at a time and leaves reading, threads, ordering and error records to the driver.

pub(crate) mod ack;
pub(crate) mod notify;
pub(crate) mod parse;
pub(crate) mod query;
pub(crate) mod roundtrip;
pub(crate) mod writeback;

use super::args::{Command, Config};
use std::sync::Arc;

use super::input::{Hl7Source, JsonSource, LineSource};
use super::stream::Job;
use crate::engine::{Engine, EngineOptions};
use crate::error::Error;
use crate::mapping::TableSet;

/// Deepest JSON nesting a writeback request may have; FHIR resources need far less.
const MAX_JSON_DEPTH: usize = 64;

/// The engine a command line asks for: the embedded tables with `--mappings` laid over them.
pub(crate) fn engine(config: &Config) -> Result<Arc<Engine>, Error> {
    let tables = match &config.mappings {
        Some(dir) => TableSet::with_overrides(dir)?,
        None => TableSet::embedded(),
    };
    let options = EngineOptions {
        parse: config.parse,
        timezone: config.timezone,
        source_endpoint: config.source_endpoint.clone(),
        strict: config.strict,
    };
    Ok(Arc::new(Engine::new(&tables, options)?))
}

/// The job a command line asks for.
pub(crate) fn job(config: &Config) -> Result<Job, Error> {
    let max = config.parse.limits.max_message_bytes;
    let hl7 = move |r| Box::new(Hl7Source::new(r, max)) as Box<dyn super::input::Source>;
    let parse = config.parse;
    Ok(match config.command {
        Command::Parse => Job {
            source: Box::new(hl7),
            translator: Box::new(move || Box::new(parse::ParseCommand::new(parse))),
            hl7: true,
            passthrough: false,
        },
        Command::Roundtrip => Job {
            source: Box::new(hl7),
            translator: Box::new(move || Box::new(roundtrip::RoundtripCommand::new(parse))),
            hl7: true,
            passthrough: true,
        },
        Command::Writeback => {
            let shared = writeback::WritebackCommand::shared(config)?;
            let json = move |r| {
                Box::new(JsonSource::new(r, max, MAX_JSON_DEPTH)) as Box<dyn super::input::Source>
            };
            Job {
                source: Box::new(json),
                translator: Box::new(move || Box::new(writeback::WritebackCommand::new(&shared))),
                hl7: false,
                passthrough: false,
            }
        }
        Command::Ack => {
            let shared = ack::AckCommand::shared(config)?;
            Job {
                source: Box::new(hl7),
                translator: Box::new(move || Box::new(ack::AckCommand::new(&shared))),
                hl7: false,
                passthrough: false,
            }
        }
        Command::Query if config.response => {
            let shared = query::Shared::new(config)?;
            Job {
                source: Box::new(hl7),
                translator: Box::new(move || Box::new(query::ResponseCommand::new(&shared))),
                hl7: false,
                passthrough: false,
            }
        }
        Command::Query => {
            let shared = query::Shared::new(config)?;
            let lines = move |r| Box::new(LineSource::new(r, max)) as Box<dyn super::input::Source>;
            Job {
                source: Box::new(lines),
                translator: Box::new(move || Box::new(query::QueryCommand::new(&shared))),
                hl7: false,
                passthrough: false,
            }
        }
        Command::Notify => {
            let shared = notify::NotifyCommand::shared(config)?;
            Job {
                source: Box::new(hl7),
                translator: Box::new(move || Box::new(notify::NotifyCommand::new(&shared))),
                hl7: true,
                passthrough: false,
            }
        }
    })
}
