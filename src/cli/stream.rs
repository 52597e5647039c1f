//! The stream driver shared by every subcommand: a reader thread splits the inputs into
//! items, `--jobs` worker threads translate them, and the main thread writes exactly one output
//! record or one error record per input, in input order, then a summary line.
//!
//! Memory stays bounded however long the stream: the channels between the threads hold a few
//! items per worker, so the reader waits when the writer falls behind. The only state the
//! workers share is what the subcommand built once (the compiled mapping plan).
//!
//! Error records are one JSON object per line:
//! `{"index":1,"offset":0,"error_offset":12,"control_id":"MSG1","location":"PID-7","segment":3,"kind":"bad_value","message":"…"}`
//! where `index` counts inputs from 1, `offset` is the input's first byte in its stream, and
//! `error_offset` the offending byte. `control_id` (MSH-10) or `fhir_id` (the resource's
//! `resourceType/id`), `location`, `segment`, `fhir_path`, `error_offset` and `file` appear when
//! known.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};

use super::args::Config;
use super::input::{Item, Source};
use super::{EXIT_FAILED, EXIT_IO, EXIT_OK};
use crate::error::Error;
use crate::v2::{AckCode, AckOptions, ReceivedHeader, build_ack};

/// One input, as a worker sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    /// 1-based count of inputs.
    pub index: u64,
    /// The input's first byte in its stream.
    pub offset: u64,
    /// The input's bytes.
    pub bytes: &'a [u8],
    /// Framing bytes before it (MLLP start byte).
    pub leading: &'a [u8],
    /// Framing bytes after it (MLLP end bytes).
    pub trailing: &'a [u8],
}

/// One subcommand's work on one input.
pub(crate) trait Translator: Send {
    /// Translates one input, appending its output record to `out` and any note about it
    /// (`--explain`) to `notes`, which go to stderr.
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        notes: &mut Vec<u8>,
    ) -> Result<(), Error>;

    /// What identifies an input in its error record: MSH-10 by default.
    fn input_id(&self, bytes: &[u8]) -> Option<(&'static str, String)> {
        let id = ReceivedHeader::read(bytes).first_component(10);
        (!id.is_empty()).then_some(("control_id", id))
    }
}

/// How a subcommand reads its input and makes translators.
pub(crate) struct Job {
    /// Makes the source over one input stream.
    pub source: Box<dyn Fn(Box<dyn Read + Send>) -> Box<dyn Source> + Send + Sync>,
    /// Makes one translator per worker.
    pub translator: Box<dyn Fn() -> Box<dyn Translator> + Send + Sync>,
    /// True when the inputs are HL7 v2 messages (ACKs can answer them).
    pub hl7: bool,
    /// Whether bytes between inputs (blank lines, batch envelopes) are copied to stdout.
    pub passthrough: bool,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inputs: u64,
    translated: u64,
    failed: u64,
    bytes: u64,
}

/// Why a run stopped early.
enum Stop {
    /// stdout was closed by the reader (`head`): end quietly.
    ClosedPipe,
    Io(String),
}

/// Work for a worker.
struct Work {
    seq: u64,
    index: u64,
    file: Option<Arc<PathBuf>>,
    offset: u64,
    leading: Vec<u8>,
    bytes: Vec<u8>,
    trailing: Vec<u8>,
}

/// What comes back, in any order; `seq` puts it in place.
enum Done {
    Output {
        seq: u64,
        out: Vec<u8>,
        notes: Vec<u8>,
        ack: Option<Vec<u8>>,
        bytes: u64,
    },
    Failed {
        seq: u64,
        record: Json,
        ack: Option<Vec<u8>>,
        bytes: u64,
    },
    Between {
        seq: u64,
        bytes: Vec<u8>,
    },
    /// The reader is done; `count` items were sent in all.
    End {
        count: u64,
        error: Option<String>,
    },
}

impl Done {
    fn seq(&self) -> u64 {
        match self {
            Done::Output { seq, .. } | Done::Failed { seq, .. } | Done::Between { seq, .. } => *seq,
            Done::End { .. } => u64::MAX,
        }
    }
}

struct Sinks {
    out: BufWriter<io::StdoutLock<'static>>,
    errors: Box<dyn Write>,
    acks: Option<Box<dyn Write>>,
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

    fn note(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.errors
            .write_all(bytes)
            .and_then(|()| self.errors.flush())
            .map_err(|e| Stop::Io(format!("writing notes: {e}")))
    }

    fn error(&mut self, record: &Json) -> Result<(), Stop> {
        let mut line = record.to_string();
        line.push('\n');
        self.note(line.as_bytes())
    }

    fn ack(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        match self.acks.as_mut() {
            Some(a) => a
                .write_all(bytes)
                .map_err(|e| Stop::Io(format!("writing ACKs: {e}"))),
            None => Ok(()),
        }
    }
}

/// Builds an error record.
fn error_record(
    index: u64,
    offset: u64,
    file: Option<&PathBuf>,
    id: Option<(&str, String)>,
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
    if let Some((key, value)) = id {
        o.insert(key.into(), value.into());
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

/// The ACK answering one HL7 input.
fn ack_for(bytes: &[u8], result: Result<(), &Error>, index: u64, mllp: bool) -> Vec<u8> {
    let (code, errors) = match result {
        Ok(()) => (AckCode::AA, Vec::new()),
        Err(e) => (AckCode::for_error(e, false), vec![e.clone()]),
    };
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string();
    let opts = AckOptions {
        sending_application: None,
        sending_facility: None,
        control_id: format!("ACK{index}"),
        timestamp: now,
    };
    let mut ack = build_ack(bytes, code, &errors, &opts).unwrap_or_default();
    if mllp {
        ack.insert(0, 0x0B);
        ack.extend_from_slice(&[0x1C, 0x0D]);
    }
    ack
}

/// Installs the SIGTERM handler: the run stops reading, finishes what it has read, flushes.
fn on_sigterm() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&flag));
    }
    flag
}

/// Creates an output file the user named (`--errors`, `--ack`), saying on stderr when it cannot.
fn create(path: &Path) -> Result<BufWriter<File>, ()> {
    File::create(path).map(BufWriter::new).map_err(|e| {
        let _ = writeln!(
            io::stderr(),
            "hl7fhir: cannot create {}: {e}",
            path.display()
        );
    })
}

/// Runs a job over all inputs; returns the exit status.
pub(crate) fn run(config: &Config, job: Job) -> i32 {
    let errors: Box<dyn Write + Send> = match config.errors.as_deref().map(create) {
        Some(Ok(f)) => Box::new(f),
        Some(Err(())) => return EXIT_IO,
        None => Box::new(io::stderr()),
    };
    let acks: Option<Box<dyn Write>> = match config.ack.as_deref().map(create) {
        Some(Ok(f)) => Some(Box::new(f)),
        Some(Err(())) => return EXIT_IO,
        None => None,
    };
    let want_acks = acks.is_some() && job.hl7;
    let passthrough = job.passthrough;
    let mut sinks = Sinks {
        out: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        errors,
        acks,
        line_buffered: config.line_buffered,
    };
    let stop = on_sigterm();
    let jobs = config.jobs.max(1);
    // A few items in flight per worker keep every core busy without letting memory grow.
    // Items travel in batches: one channel handoff per message would cost more than a small
    // message's translation.
    let (work_tx, work_rx) = sync_channel::<Vec<Work>>(2 * jobs);
    let (done_tx, done_rx) = sync_channel::<Vec<Done>>(4 * jobs);
    let job = Arc::new(job);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let mut workers = Vec::new();
    for _ in 0..jobs {
        let (job, work_rx, done_tx) = (Arc::clone(&job), Arc::clone(&work_rx), done_tx.clone());
        let mllp = config.ack_mllp;
        workers.push(std::thread::spawn(move || {
            worker(&job, &work_rx, &done_tx, want_acks, mllp)
        }));
    }
    let dispatched = Arc::new(AtomicU64::new(0));
    {
        let (job, done_tx, stop, dispatched) = (
            Arc::clone(&job),
            done_tx.clone(),
            Arc::clone(&stop),
            Arc::clone(&dispatched),
        );
        let inputs = config.inputs.clone();
        let acks = want_acks.then_some(config.ack_mllp);
        // Detached: on SIGTERM it may be blocked reading stdin, and the run must not wait for it.
        std::thread::spawn(move || {
            reader(&job, inputs, acks, &work_tx, &done_tx, &stop, &dispatched)
        });
    }
    drop(done_tx);
    let result = write_in_order(
        &done_rx,
        &mut sinks,
        want_acks,
        passthrough,
        config,
        &stop,
        &dispatched,
    );
    let (result, counts) = match result {
        Ok(c) => (Ok(()), c),
        Err((stop, c)) => (Err(stop), c),
    };
    let flushed = sinks.out.flush();
    let _ = sinks.acks.as_mut().map(|a| a.flush());
    let _ = sinks.errors.flush();
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

/// Reads every input stream in turn; `acks` is `Some(mllp)` when invalid inputs need a reject.
/// Most inputs in one batch, and most bytes.
const BATCH_ITEMS: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

fn reader(
    job: &Job,
    inputs: Vec<PathBuf>,
    acks: Option<bool>,
    work: &SyncSender<Vec<Work>>,
    done: &SyncSender<Vec<Done>>,
    stop: &AtomicBool,
    dispatched: &AtomicU64,
) {
    let mut seq = 0u64;
    let mut index = 0u64;
    let mut streams: Vec<(Option<Arc<PathBuf>>, Result<Box<dyn Read + Send>, String>)> = Vec::new();
    if inputs.is_empty() {
        streams.push((None, Ok(Box::new(io::stdin()))));
    } else {
        for p in inputs {
            let opened = File::open(&p)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|e| format!("cannot open {}: {e}", p.display()));
            streams.push((Some(Arc::new(p)), opened));
        }
    }
    let mut error = None;
    'streams: for (file, stream) in streams {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let mut source = (job.source)(stream);
        let (mut batch, mut batch_bytes, mut between) = (Vec::new(), 0usize, Vec::new());
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'streams;
            }
            // Send what is gathered before a read that may block, so a slow stream is not held
            // back waiting for a full batch.
            if (!batch.is_empty() || !between.is_empty())
                && (!source.has_buffered()
                    || batch.len() >= BATCH_ITEMS
                    || batch_bytes >= BATCH_BYTES)
            {
                let sent = work.send(std::mem::take(&mut batch)).is_ok()
                    && done.send(std::mem::take(&mut between)).is_ok();
                batch_bytes = 0;
                dispatched.store(seq, Ordering::Release);
                if !sent {
                    break 'streams;
                }
            }
            let item = match source.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.to_string());
                    break 'streams;
                }
            };
            match item {
                Item::Between(bytes) => between.push(Done::Between { seq, bytes }),
                Item::Invalid { offset, error } => {
                    index += 1;
                    let e = Error::new(error.kind(), error.reason().to_string());
                    let record = error_record(index, offset, file.as_deref(), None, &e);
                    let ack = acks.map(|mllp| ack_for(b"", Err(&e), index, mllp));
                    between.push(Done::Failed {
                        seq,
                        record,
                        ack,
                        bytes: 0,
                    });
                }
                Item::Record {
                    offset,
                    leading,
                    bytes,
                    trailing,
                } => {
                    index += 1;
                    batch_bytes += bytes.len();
                    batch.push(Work {
                        seq,
                        index,
                        file: file.clone(),
                        offset,
                        leading,
                        bytes,
                        trailing,
                    });
                }
            }
            seq += 1;
        }
        let sent = work.send(batch).is_ok() && done.send(between).is_ok();
        dispatched.store(seq, Ordering::Release);
        if !sent {
            break;
        }
    }
    dispatched.store(seq, Ordering::Release);
    let _ = done.send(vec![Done::End { count: seq, error }]);
}

fn worker(
    job: &Job,
    work: &Mutex<Receiver<Vec<Work>>>,
    done: &SyncSender<Vec<Done>>,
    acks: bool,
    mllp: bool,
) {
    let mut t = (job.translator)();
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(batch) = next else { return };
        let mut results = Vec::with_capacity(batch.len());
        for w in batch {
            let input = Input {
                index: w.index,
                offset: w.offset,
                bytes: &w.bytes,
                leading: &w.leading,
                trailing: &w.trailing,
            };
            let (mut out, mut notes) = (Vec::new(), Vec::new());
            let result = t.message(&input, &mut out, &mut notes);
            let ack = acks.then(|| ack_for(&w.bytes, result.as_ref().map(|_| ()), w.index, mllp));
            let size = w.bytes.len() as u64;
            results.push(match result {
                Ok(()) => Done::Output {
                    seq: w.seq,
                    out,
                    notes,
                    ack,
                    bytes: size,
                },
                Err(e) => {
                    let record = error_record(
                        w.index,
                        w.offset,
                        w.file.as_deref(),
                        t.input_id(&w.bytes),
                        &e,
                    );
                    Done::Failed {
                        seq: w.seq,
                        record,
                        ack,
                        bytes: size,
                    }
                }
            });
        }
        if done.send(results).is_err() {
            return;
        }
    }
}

fn write_in_order(
    done: &Receiver<Vec<Done>>,
    sinks: &mut Sinks,
    acks: bool,
    passthrough: bool,
    config: &Config,
    stop: &AtomicBool,
    dispatched: &AtomicU64,
) -> Result<Counts, (Stop, Counts)> {
    let mut counts = Counts::default();
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut end: Option<u64> = None;
    let mut failure: Option<String> = None;
    let started = Instant::now();
    let mut last_progress = Instant::now();
    // Someone typing messages at a terminal gets no progress lines between them.
    let progress = config.progress && (!config.inputs.is_empty() || !io::stdin().is_terminal());

    loop {
        while let Some(d) = pending.remove(&next) {
            if let Err(s) = emit(d, sinks, acks, passthrough, &mut counts) {
                return Err((s, counts));
            }
            next += 1;
        }
        if end.is_some_and(|n| next >= n) {
            // Everything read has been written; an I/O error reading ends the run now.
            return match failure {
                Some(e) => Err((Stop::Io(e), counts)),
                None => Ok(counts),
            };
        }
        // On SIGTERM, finish the items already read and stop.
        if stop.load(Ordering::Relaxed) && end.is_none() {
            end = Some(dispatched.load(Ordering::Acquire));
            continue;
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let _ = writeln!(
                io::stderr(),
                "hl7fhir: progress: {} in, {} failed, {} bytes, {:.0} messages/s",
                counts.inputs,
                counts.failed,
                counts.bytes,
                counts.inputs as f64 / secs
            );
            last_progress = Instant::now();
        }
        match done.recv_timeout(Duration::from_millis(200)) {
            Ok(batch) => {
                for d in batch {
                    match d {
                        Done::End { count, error } => {
                            end = Some(count);
                            failure = error;
                        }
                        d => {
                            pending.insert(d.seq(), d);
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(counts),
        }
    }
}

fn emit(
    d: Done,
    sinks: &mut Sinks,
    acks: bool,
    passthrough: bool,
    counts: &mut Counts,
) -> Result<(), Stop> {
    match d {
        Done::Between { bytes, .. } => {
            if passthrough {
                sinks.output(&bytes)?;
            }
        }
        Done::Output {
            out,
            notes,
            ack,
            bytes,
            ..
        } => {
            counts.inputs += 1;
            counts.translated += 1;
            counts.bytes += bytes;
            sinks.output(&out)?;
            if !notes.is_empty() {
                sinks.note(&notes)?;
            }
            if let (true, Some(a)) = (acks, ack) {
                sinks.ack(&a)?;
            }
        }
        Done::Failed {
            record, ack, bytes, ..
        } => {
            counts.inputs += 1;
            counts.failed += 1;
            counts.bytes += bytes;
            sinks.error(&record)?;
            if let (true, Some(a)) = (acks, ack) {
                sinks.ack(&a)?;
            }
        }
        Done::End { .. } => {}
    }
    Ok(())
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
        let r = error_record(3, 1000, None, Some(("control_id", "CTRL9".into())), &e);
        assert_eq!(
            r.to_string(),
            r#"{"index":3,"offset":1000,"error_offset":1020,"control_id":"CTRL9","location":"PID-5","segment":2,"kind":"bad_escape","message":"PID-5 (segment 2) at byte 20: unknown escape sequence"}"#
        );
    }
}
