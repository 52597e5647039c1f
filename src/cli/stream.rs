//! The stream driver shared by every subcommand: reads chunks from the inputs, hands each
//! message to the subcommand, and writes exactly one output record or one error record per
//! input, in input order, then a summary line.
//!
//! Error records are one JSON object per line:
//! `{"index":1,"offset":0,"error_offset":12,"control_id":"MSG1","location":"PID-7","segment":3,"kind":"bad_value","message":"…"}`
//! where `index` counts inputs from 1, `offset` is the input's first byte in the stream, and
//! `error_offset` the offending byte. `control_id`, `location`, `segment` and `error_offset`
//! appear when known; `file` when reading named files.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::args::{Command, Config};
use super::commands;
use super::{EXIT_FAILED, EXIT_IO, EXIT_OK};
use crate::error::Error;
use crate::v2::{Chunk, FrameReader, Framed, ReceivedHeader};

/// Where an input sits in the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputInfo {
    /// 1-based count of inputs so far.
    pub index: u64,
}

/// One subcommand's work on one message.
pub(crate) trait Translator {
    /// Whether bytes between messages (blank lines, batch envelopes) are copied to stdout.
    fn passthrough(&self) -> bool {
        false
    }

    /// Translates one message, appending its output record to `out`.
    fn message(
        &mut self,
        input: InputInfo,
        framed: &Framed<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error>;
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inputs: u64,
    translated: u64,
    failed: u64,
}

/// Why a run stopped early.
enum Stop {
    /// stdout was closed by the reader (`head`): end quietly.
    ClosedPipe,
    Io(String),
}

struct Sinks {
    out: BufWriter<io::StdoutLock<'static>>,
    errors: Box<dyn Write>,
    line_buffered: bool,
}

impl Sinks {
    fn output(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let r = self.out.write_all(bytes).and_then(|()| {
            if self.line_buffered {
                self.out.flush()
            } else {
                Ok(())
            }
        });
        r.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                Stop::ClosedPipe
            } else {
                Stop::Io(format!("writing output: {e}"))
            }
        })
    }

    fn error(&mut self, record: &Json) -> Result<(), Stop> {
        let mut line = record.to_string();
        line.push('\n');
        self.errors
            .write_all(line.as_bytes())
            .and_then(|()| self.errors.flush())
            .map_err(|e| Stop::Io(format!("writing error records: {e}")))
    }
}

/// Builds an error record.
fn error_record(
    index: u64,
    offset: u64,
    file: Option<&Path>,
    message: Option<&[u8]>,
    error: &Error,
) -> Json {
    let mut o = Map::new();
    o.insert("index".into(), index.into());
    o.insert("offset".into(), offset.into());
    if let Some(at) = error.offset() {
        o.insert("error_offset".into(), (offset + at).into());
    }
    if let Some(f) = file {
        o.insert("file".into(), f.display().to_string().into());
    }
    if let Some(bytes) = message {
        let id = ReceivedHeader::read(bytes).first_component(10);
        if !id.is_empty() {
            o.insert("control_id".into(), id.into());
        }
    }
    if let Some(loc) = error.location() {
        let terser = loc.terser();
        if !terser.is_empty() {
            o.insert("location".into(), terser.into());
        }
        if loc.segment_index > 0 {
            o.insert("segment".into(), loc.segment_index.into());
        }
    }
    if let Some(p) = error.fhir_path() {
        o.insert("fhir_path".into(), p.into());
    }
    o.insert("kind".into(), error.kind().code().into());
    o.insert("message".into(), error.to_string().into());
    Json::Object(o)
}

fn translator(config: &Config) -> Box<dyn Translator> {
    match config.command {
        Command::Parse => Box::new(commands::parse::ParseCommand::new(config.parse)),
        Command::Roundtrip => Box::new(commands::roundtrip::RoundtripCommand::new(config.parse)),
    }
}

/// Runs the configured subcommand over all inputs; returns the exit status.
pub(crate) fn run(config: &Config) -> i32 {
    let errors: Box<dyn Write> = match &config.errors {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                let _ = writeln!(
                    io::stderr(),
                    "hl7fhir: cannot create {}: {e}",
                    path.display()
                );
                return EXIT_IO;
            }
        },
        None => Box::new(io::stderr()),
    };
    let mut sinks = Sinks {
        out: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        errors,
        line_buffered: config.line_buffered,
    };
    let mut counts = Counts::default();
    let mut t = translator(config);
    let result = if config.inputs.is_empty() {
        drive(
            io::stdin().lock(),
            None,
            config,
            t.as_mut(),
            &mut sinks,
            &mut counts,
        )
    } else {
        config
            .inputs
            .iter()
            .try_for_each(|path| match File::open(path) {
                Ok(f) => drive(f, Some(path), config, t.as_mut(), &mut sinks, &mut counts),
                Err(e) => Err(Stop::Io(format!("cannot open {}: {e}", path.display()))),
            })
    };
    let flushed = sinks.out.flush();
    match (result, flushed) {
        (Err(Stop::ClosedPipe), _) => return EXIT_OK,
        (Ok(()), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => return EXIT_OK,
        (Err(Stop::Io(msg)), _) => {
            let _ = writeln!(io::stderr(), "hl7fhir: {msg}");
            summary(&counts);
            return EXIT_IO;
        }
        (Ok(()), Err(e)) => {
            let _ = writeln!(io::stderr(), "hl7fhir: writing output: {e}");
            summary(&counts);
            return EXIT_IO;
        }
        (Ok(()), Ok(())) => {}
    }
    let _ = sinks.errors.flush();
    summary(&counts);
    if counts.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

fn summary(c: &Counts) {
    let _ = writeln!(
        io::stderr(),
        "hl7fhir: {} in, {} translated, {} failed",
        c.inputs,
        c.translated,
        c.failed
    );
}

fn drive(
    input: impl Read,
    file: Option<&Path>,
    config: &Config,
    t: &mut dyn Translator,
    sinks: &mut Sinks,
    counts: &mut Counts,
) -> Result<(), Stop> {
    let mut reader = FrameReader::new(input, config.parse.limits.max_message_bytes);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Stop::Io(e.to_string())),
        };
        match chunk {
            Chunk::Filler(bytes) | Chunk::Envelope { bytes, .. } => {
                if t.passthrough() {
                    sinks.output(bytes)?;
                }
            }
            Chunk::Message(framed) => {
                counts.inputs += 1;
                out.clear();
                match t.message(
                    InputInfo {
                        index: counts.inputs,
                    },
                    &framed,
                    &mut out,
                ) {
                    Ok(()) => {
                        counts.translated += 1;
                        sinks.output(&out)?;
                    }
                    Err(e) => {
                        counts.failed += 1;
                        sinks.error(&error_record(
                            counts.inputs,
                            framed.offset,
                            file,
                            Some(framed.message),
                            &e,
                        ))?;
                    }
                }
            }
            Chunk::Invalid { offset, error, .. } => {
                counts.inputs += 1;
                counts.failed += 1;
                let e = Error::new(error.kind(), error.reason().to_string());
                sinks.error(&error_record(counts.inputs, offset, file, None, &e))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Location};

    #[test]
    fn error_record_fields() {
        let e = Error::new(ErrorKind::BadEscape, "unknown escape sequence")
            .at(Location {
                field: 5,
                ..Location::segment(2, *b"PID")
            })
            .at_offset(20);
        let msg = b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|CTRL9|P|2.5\rPID|1||||x\\Q\\\r";
        let r = error_record(3, 1000, None, Some(msg), &e);
        assert_eq!(
            r.to_string(),
            r#"{"index":3,"offset":1000,"error_offset":1020,"control_id":"CTRL9","location":"PID-5","segment":2,"kind":"bad_escape","message":"PID-5 (segment 2) at byte 20: unknown escape sequence"}"#
        );
    }
}
