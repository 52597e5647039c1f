//! One module per subcommand; each implements [`Translator`](super::stream::Translator) for
//! one input at a time and leaves reading, threads, ordering and error records to the driver.

pub(crate) mod notify;
pub(crate) mod parse;
pub(crate) mod roundtrip;

use super::args::{Command, Config};
use super::input::Hl7Source;
use super::stream::Job;
use crate::error::Error;

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
