//! The engine a gateway links: the compiled mapping plan and the options it was built with,
//! shared by every thread, and the calls that translate one message.

use std::io::Write;

use chrono_tz::Tz;
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::mapping::query::QueryPlan;
use crate::mapping::{Plan, TableSet};
use crate::notify::{self, NotifyOptions, TranslateOptions};
use crate::v2::{ParseOptions, Parser};

/// How the engine reads messages and writes FHIR.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Parse options (leniencies, limits, charset).
    pub parse: ParseOptions,
    /// The senders' time zone, for time stamps without an offset; see `mappings/README.md`.
    pub timezone: Option<Tz>,
    /// MessageHeader.source.endpoint; derived from MSH-3 when `None`.
    pub source_endpoint: Option<String>,
    /// Fail a message on a bad value or a missing required segment, instead of leaving the
    /// element out (its original text kept) and noting the problem.
    pub strict: bool,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            parse: ParseOptions::tolerant(),
            timezone: None,
            source_endpoint: None,
            strict: false,
        }
    }
}

/// What a translation noticed about a message, for `--explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The message structure used.
    pub structure: String,
    /// MSH-10.
    pub control_id: String,
    /// Valued fields no mapping row read (`PID-10`, `OBX[2]-6`), valued repetitions of
    /// fields read in part (`OBX-5[2]`), and valued components (or subcomponents) of values a
    /// data type map ran over that no row read (`PID-5.10`, `OBR-32.1.8`), in message order.
    pub unmapped: Vec<String>,
    /// Fields whose code no vocabulary translates.
    pub untranslated: Vec<String>,
    /// Problems tolerated outside strict mode: bad values, missing segments.
    pub problems: Vec<String>,
}

/// A thread-safe translation engine, built once from the mapping tables.
///
/// ```
/// use hl7fhir::engine::Engine;
/// use hl7fhir::notify::NotifyOptions;
/// let engine = Engine::with_defaults().unwrap();
/// let msg = b"MSH|^~\\&|ADT1|HOSP|||20260101120000+0000||ADT^A01^ADT_A01|MSG1|P|2.5.1\rEVN|A01\rPID|1||123^^^HOSP^MR||Doe^Jane\rPV1|1|I\r";
/// let bundle = engine.notify(msg, &NotifyOptions::default()).unwrap();
/// assert_eq!(bundle["type"], "message");
/// ```
#[derive(Debug)]
pub struct Engine {
    plan: Plan,
    queries: QueryPlan,
    options: EngineOptions,
}

impl Engine {
    /// An engine over `tables`.
    pub fn new(tables: &TableSet, options: EngineOptions) -> Result<Engine, Error> {
        let plan = Plan::compile(tables)?;
        let queries = QueryPlan::compile(tables, &plan)?;
        Ok(Engine {
            plan,
            queries,
            options,
        })
    }

    /// An engine over the embedded tables, with default options.
    pub fn with_defaults() -> Result<Engine, Error> {
        Engine::new(&TableSet::embedded(), EngineOptions::default())
    }

    /// The compiled plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The compiled query tables.
    pub fn queries(&self) -> &QueryPlan {
        &self.queries
    }

    /// The options.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// A parser set up with the engine's parse options, for [`Engine::notify_with`].
    pub fn parser(&self) -> Parser {
        Parser::new(self.options.parse)
    }

    /// Translates a FHIR writeback request (a resource or a Bundle) into an HL7 v2 message;
    /// `n` numbers it within a run for its control id.
    pub fn writeback(
        &self,
        request: &serde_json::Value,
        opts: &crate::writeback::WritebackOptions,
        n: u64,
    ) -> Result<crate::writeback::Written, Error> {
        crate::writeback::writeback(&self.plan, request, opts, n)
    }

    /// Reads an HL7 v2 ACK as a FHIR OperationOutcome.
    pub fn ack(&self, ack: &[u8]) -> Result<crate::writeback::ack::Answer, Error> {
        crate::writeback::ack::answer(&self.plan, ack)
    }

    /// Translates a FHIR search (a search URL or a `Parameters` resource) into an HL7 v2
    /// query, QBP^Q22 or QRY^A19; `n` numbers it within a run for its control id and query tag.
    ///
    /// ```
    /// use hl7fhir::engine::Engine;
    /// use hl7fhir::query::QueryOptions;
    /// let engine = Engine::with_defaults().unwrap();
    /// let q = engine.query(b"Patient?family=SMITH&birthdate=1980-01-01", &QueryOptions::default(), 1).unwrap();
    /// let text = String::from_utf8(q.message).unwrap();
    /// assert!(text.contains("\rQPD|IHE PDQ Query|"));
    /// assert!(text.contains("|@PID.5.1.1^SMITH~@PID.7^19800101\r"));
    /// ```
    pub fn query(
        &self,
        search: &[u8],
        opts: &crate::query::QueryOptions,
        n: u64,
    ) -> Result<crate::query::Written, Error> {
        crate::query::query(
            &self.plan,
            &self.queries,
            search,
            opts,
            self.options.parse.show_values,
            n,
        )
    }

    /// Reads an HL7 v2 query response (RSP^K22, ADR^A19, or an ACK rejecting the query) as a
    /// FHIR searchset Bundle or OperationOutcome.
    pub fn query_response(
        &self,
        response: &[u8],
        opts: &crate::query::ResponseOptions,
    ) -> Result<Json, Error> {
        let mut out = Vec::new();
        self.query_response_with(&mut self.parser(), response, opts, &mut out)?;
        serde_json::from_slice(&out).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))
    }

    /// Like [`Engine::query_response`], appending one line of JSON to `out` and reusing
    /// `parser`.
    pub fn query_response_with(
        &self,
        parser: &mut Parser,
        response: &[u8],
        opts: &crate::query::ResponseOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let msg = parser.parse(response)?;
        crate::query::respond(
            &self.plan,
            &self.queries,
            msg,
            opts,
            &self.translate_options(false, false),
            out,
        )
    }

    fn translate_options(&self, lightweight: bool, explain: bool) -> TranslateOptions {
        TranslateOptions {
            timezone: self.options.timezone,
            source_endpoint: self.options.source_endpoint.clone(),
            show_values: self.options.parse.show_values,
            lightweight,
            explain,
            strict: self.options.strict,
        }
    }

    /// Translates one message into a notification, as a JSON value.
    pub fn notify(&self, message: &[u8], opts: &NotifyOptions) -> Result<Json, Error> {
        let mut out = Vec::new();
        self.notify_with(&mut self.parser(), message, opts, false, &mut out)?;
        serde_json::from_slice(&out).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))
    }

    /// Translates one message and writes the notification as one line of JSON to `out`, without
    /// building a `serde_json::Value`.
    pub fn notify_to(
        &self,
        message: &[u8],
        opts: &NotifyOptions,
        out: &mut impl Write,
    ) -> Result<Report, Error> {
        let mut buf = Vec::with_capacity(8 * 1024);
        let report = self.notify_with(&mut self.parser(), message, opts, false, &mut buf)?;
        out.write_all(&buf)?;
        Ok(report)
    }

    /// Translates one message and appends the notification, one line of JSON, to `out`.
    /// `parser` is reused between calls so a stream allocates little; `explain` fills the
    /// report's unmapped fields.
    pub fn notify_with(
        &self,
        parser: &mut Parser,
        message: &[u8],
        opts: &NotifyOptions,
        explain: bool,
        out: &mut Vec<u8>,
    ) -> Result<Report, Error> {
        let msg = parser.parse(message)?;
        let topts = self.translate_options(opts.flavor == notify::Flavor::Lightweight, explain);
        let mut event = notify::translate::translate(&self.plan, msg, &topts)?;
        let root = notify::assemble(&mut event, opts)?;
        event.doc.write_into(root, out);
        out.push(b'\n');
        Ok(Report {
            structure: event.structure.to_string(),
            control_id: event.control_id.clone(),
            unmapped: event.unmapped,
            untranslated: event.untranslated,
            problems: event.problems,
        })
    }
}
