//! A FHIR search as an HL7 v2 query: each parameter through its row of the query table (a
//! QPD-3 pair, a QRD-8 subject, RCP-2 or QRD-7 for `_count`), then the message written with the
//! envelope's MSH. Whatever the query cannot say exactly (a modifier, a chain, `_include`, an
//! unknown parameter, a date prefix, several values meaning "any of them", a code several HL7
//! codes translate to, an identifier system without an assigning authority) is an error naming
//! the parameter, never a query broader or narrower than the search.

use crate::error::{Error, ErrorKind};
use crate::fhir::id::IdHasher;
use crate::mapping::Plan;
use crate::mapping::query::{Authority, ParamKind, ParamRow, QueryPlan, Style, StyleTable};
use crate::v2::{Charset, Delimiters, MessageBuilder};
use crate::writeback::Envelope;

use super::search::{Param, Search, escapes_are_valid, split, unescape};
use super::{QueryOptions, Written};

/// The parameters a `next` link adds: the supplier's continuation pointer (DSC-1) and the tag
/// of the query it continues (QPD-2).
const CONTINUATION: &str = "_continuation";
const QUERY_TAG: &str = "_querytag";

/// A search checked against the table: what the query carries.
#[derive(Debug, Default)]
struct Query {
    /// Per parameter row (table order): the (reference, value) pair it writes, if any.
    pairs: Vec<Option<(String, String)>>,
    /// The identifier searched: value and assigning authority.
    identifier: Option<(String, Authority)>,
    /// Identifier domains to return (QPD-8).
    domains: Vec<Authority>,
    count: Option<u64>,
    /// The tag of the query continued (`None` when it had none) and the supplier's pointer.
    continuation: Option<(Option<String>, String)>,
}

struct Reader<'a> {
    plan: &'a Plan,
    queries: &'a QueryPlan,
    rows: &'a StyleTable,
    style: Style,
    resource: &'a str,
    file: &'a str,
    show_values: bool,
}

impl Reader<'_> {
    /// An error about `param`, its value attached only when values may be shown.
    fn fail(&self, param: &Param, kind: ErrorKind, reason: impl Into<String>) -> Error {
        let e = param.locate(self.resource, Error::new(kind, reason));
        if self.show_values {
            e.with_value(param.value.clone())
        } else {
            e
        }
    }

    fn unsupported(&self, param: &Param, reason: impl Into<String>) -> Error {
        self.fail(param, ErrorKind::Unsupported, reason)
    }

    fn read(&self, search: &Search) -> Result<Query, Error> {
        let mut q = Query {
            pairs: vec![None; self.rows.params.len()],
            ..Query::default()
        };
        let (mut tag, mut pointer) = (None, None);
        for p in &search.params {
            let name = p.name.as_str();
            if let Some((base, modifier)) = name.split_once(':') {
                let what = if base == "_has" {
                    "reverse chaining (_has)".to_string()
                } else {
                    format!("the :{modifier} modifier")
                };
                return Err(
                    self.unsupported(p, format!("{what} cannot be expressed in an HL7 v2 query"))
                );
            }
            if name.contains('.') {
                return Err(self.unsupported(
                    p,
                    "a chained parameter cannot be expressed in an HL7 v2 query",
                ));
            }
            if !escapes_are_valid(&p.value) {
                return Err(self.fail(
                    p,
                    ErrorKind::BadValue,
                    r"a `\` in a search value escapes `$`, `,`, `|` or `\` only: write `\\` for a backslash",
                ));
            }
            match name {
                CONTINUATION => {
                    pointer = Some(self.single(p)?);
                    continue;
                }
                QUERY_TAG => {
                    tag = Some(self.single(p)?);
                    continue;
                }
                _ => {}
            }
            let Some(i) = self.rows.params.iter().position(|r| r.name == name) else {
                let [kind, event, _] = self.style.message();
                return Err(self.unsupported(
                    p,
                    format!(
                        "this search parameter cannot be expressed in a {kind}^{event} query (no {} row in {})",
                        self.style.name(),
                        self.file
                    ),
                ));
            };
            let row = &self.rows.params[i];
            match row.kind {
                ParamKind::Identifier => self.identifier(p, &mut q)?,
                ParamKind::Count => {
                    if q.count.is_some() {
                        return Err(self.unsupported(p, "_count is given twice"));
                    }
                    q.count = Some(self.count(p, row)?);
                }
                _ => {
                    if q.pairs[i].is_some() {
                        return Err(self.unsupported(
                            p,
                            "the parameter is given twice: the query carries one value per field",
                        ));
                    }
                    let value = self.value(p, row)?;
                    // An e-mail address is XTN.4; any other telecom value is the number, XTN.1.
                    let which = usize::from(row.kind == ParamKind::Telecom && value.contains('@'));
                    q.pairs[i] = Some((row.references().swap_remove(which), value));
                }
            }
        }
        match (tag, pointer) {
            (tag, Some(c)) => {
                if self.style == Style::A19 {
                    return Err(continuation_error(
                        search,
                        self.resource,
                        "QRY^A19 has no DSC segment in HL7 v2.5: a continuation cannot be sent as an A19 query",
                    ));
                }
                q.continuation = Some((tag, c));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(continuation_error(
                    search,
                    self.resource,
                    "_querytag names the query a _continuation continues; alone it asks nothing",
                ));
            }
        }
        let has_criteria = q.identifier.is_some() || q.pairs.iter().any(Option::is_some);
        if !has_criteria {
            return Err(Error::new(
                ErrorKind::Unsupported,
                match self.style {
                    Style::Q22 => "no search criteria: a patient demographics query (QPD-3) needs at least one",
                    Style::A19 => "QRY^A19 needs an identifier for its who subject filter (QRD-8)",
                },
            )
            .at_fhir_path(self.resource.to_string()));
        }
        if self.style == Style::A19 && q.count.is_none() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "QRY^A19 requires a quantity limit (QRD-7): add _count",
            )
            .at_fhir_path(self.resource.to_string()));
        }
        Ok(q)
    }

    /// The one value of a parameter that takes no list.
    fn single(&self, p: &Param) -> Result<String, Error> {
        let parts = split(&p.value, ',');
        if parts.len() > 1 {
            return Err(self.unsupported(p, "takes one value"));
        }
        let v = unescape(parts[0]);
        if v.is_empty() {
            return Err(self.fail(p, ErrorKind::BadValue, "has no value"));
        }
        Ok(v)
    }

    /// `_count` as the quantity of RCP-2 or QRD-7: a CQ whose quantity is an NM, which HL7
    /// allows 16 characters, so 16 digits at most.
    fn count(&self, p: &Param, row: &ParamRow) -> Result<u64, Error> {
        const MAX: u64 = 9_999_999_999_999_999;
        let too_big = || {
            self.unsupported(
                p,
                format!(
                    "_count above {MAX} cannot be sent: the quantity of {} (NM) carries at most 16 digits",
                    row.field
                ),
            )
        };
        let n: u64 = match p.value.parse() {
            Ok(n) => n,
            // A whole number too long for u64 is too long for the NM as well.
            Err(_) if !p.value.is_empty() && p.value.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(too_big());
            }
            Err(_) => {
                return Err(self.fail(
                    p,
                    ErrorKind::BadValue,
                    format!("_count takes a whole number from 1 to {MAX}"),
                ));
            }
        };
        if n == 0 {
            return Err(self.unsupported(
                p,
                "_count=0 asks for the total alone, which an HL7 v2 query cannot ask",
            ));
        }
        if n > MAX {
            return Err(too_big());
        }
        Ok(n)
    }

    /// The HL7 text of a string, date, code or telecom parameter.
    fn value(&self, p: &Param, row: &ParamRow) -> Result<String, Error> {
        if split(&p.value, ',').len() > 1 {
            return Err(self.unsupported(
                p,
                "several values ask for any of them: the query cannot express OR",
            ));
        }
        let text = match row.kind {
            ParamKind::Code | ParamKind::Telecom => {
                let parts = split(&p.value, '|');
                match (row.kind, parts.as_slice()) {
                    (ParamKind::Code, [system, code]) => {
                        return self.code(p, row, Some(system), code);
                    }
                    (ParamKind::Code, [code]) => return self.code(p, row, None, code),
                    (ParamKind::Telecom, [value]) => unescape(value),
                    _ => {
                        return Err(self.unsupported(
                            p,
                            "a system part cannot be expressed for this parameter",
                        ));
                    }
                }
            }
            _ => unescape(&p.value),
        };
        if text.trim().is_empty() {
            return Err(self.fail(p, ErrorKind::BadValue, "has no value"));
        }
        if row.kind == ParamKind::Date {
            return self.date(p, &text);
        }
        Ok(text)
    }

    /// A FHIR date search value as an HL7 date: a full date, with no prefix but `eq`.
    fn date(&self, p: &Param, text: &str) -> Result<String, Error> {
        const PREFIXES: [&str; 9] = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"];
        let (prefix, date) = match text.get(..2) {
            Some(pre) if PREFIXES.contains(&pre) => (pre, &text[2..]),
            _ => ("eq", text),
        };
        if prefix != "eq" {
            return Err(self.unsupported(
                p,
                format!(
                    "the prefix `{prefix}` asks for a range of dates; the query matches one date"
                ),
            ));
        }
        // Only a date followed by a time of day is a dateTime the query cannot match; any
        // other text holding a `T` (`SEPT`) is no date at all.
        let (date, time) = match date.split_once('T') {
            Some((day, time)) => (day, Some(time)),
            None => (date, None),
        };
        let shape = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        match time {
            Some(t) if shape && is_time_of_day(t) => {
                return Err(self.unsupported(
                    p,
                    "a time of day cannot be queried: the query matches a date",
                ));
            }
            Some(_) => return Err(self.fail(p, ErrorKind::BadValue, "is not a date (YYYY-MM-DD)")),
            None => {}
        }
        if !shape {
            let partial = matches!(date.len(), 4 | 7)
                && date.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            return Err(if partial {
                self.unsupported(
                    p,
                    "a year or a month is a range of dates; the query matches one date (YYYY-MM-DD)",
                )
            } else {
                self.fail(p, ErrorKind::BadValue, "is not a date (YYYY-MM-DD)")
            });
        }
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            return Err(self.fail(p, ErrorKind::BadValue, "is not a calendar date"));
        }
        Ok(date.replace('-', ""))
    }

    /// A code through the row's vocabulary, read backwards. A FHIR code that several HL7 codes
    /// translate to (AdministrativeSex `other`: O, A and N) has no single HL7 code to send.
    fn code(
        &self,
        p: &Param,
        row: &ParamRow,
        system: Option<&str>,
        code: &str,
    ) -> Result<String, Error> {
        let Some(v) = row.vocabulary.map(|i| &self.plan.vocabularies[i]) else {
            return Err(self.unsupported(p, "has no vocabulary"));
        };
        let code = unescape(code);
        let system = system.map(unescape);
        if code.is_empty() {
            return Err(self.fail(p, ErrorKind::BadValue, "has no code"));
        }
        let sources: Vec<&String> = v
            .forward
            .iter()
            .filter(|(_, c)| c.code == code && system.as_ref().is_none_or(|s| *s == c.system))
            .map(|(hl7, _)| hl7)
            .collect();
        match sources.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(self.unsupported(
                p,
                format!("no HL7 code translates to this code in vocabulary {}", v.name),
            )),
            many => Err(self.unsupported(
                p,
                format!(
                    "{} HL7 codes translate to this code in vocabulary {}: the query cannot ask for any of them",
                    many.len(),
                    v.name
                ),
            )),
        }
    }

    /// `value` (any system), `system|value`, or `system|` (a domain to return, q22 only),
    /// domains possibly as a list.
    fn identifier(&self, p: &Param, q: &mut Query) -> Result<(), Error> {
        let alternatives = split(&p.value, ',');
        let several = alternatives.len() > 1;
        for alt in alternatives {
            let parts = split(alt, '|');
            let (system, value) = match parts.as_slice() {
                [value] => ("", unescape(value)),
                [system, value] => (*system, unescape(value)),
                _ => {
                    return Err(self.fail(p, ErrorKind::BadValue, "is not a token (system|value)"));
                }
            };
            let system = unescape(system);
            match (system.is_empty(), value.is_empty()) {
                (true, true) => return Err(self.fail(p, ErrorKind::BadValue, "has no value")),
                (true, false) if parts.len() == 2 => {
                    return Err(self.unsupported(
                        p,
                        "an identifier without a system (`|value`) cannot be expressed: HL7 v2 cannot ask for an identifier with no assigning authority",
                    ));
                }
                (false, true) => {
                    if self.style == Style::A19 {
                        return Err(self.unsupported(
                            p,
                            "QRY^A19 cannot ask which identifier domains to return",
                        ));
                    }
                    let a = self.authority(p, &system)?;
                    if !q.domains.contains(&a) {
                        q.domains.push(a);
                    }
                }
                _ if several => {
                    return Err(self.unsupported(
                        p,
                        "several identifiers ask for any of them: the query cannot express OR",
                    ));
                }
                _ if q.identifier.is_some() => {
                    return Err(self.unsupported(p, "a second identifier: the query carries one"));
                }
                (no_system, false) => {
                    let authority = if no_system {
                        Authority::default()
                    } else {
                        self.authority(p, &system)?
                    };
                    q.identifier = Some((value, authority));
                }
            }
        }
        Ok(())
    }

    fn authority(&self, p: &Param, system: &str) -> Result<Authority, Error> {
        self.queries.authority(system).ok_or_else(|| {
            self.unsupported(
                p,
                "the identifier system has no assigning authority: list it in query/AssigningAuthority.csv (only urn:oid: systems need no row)",
            )
        })
    }
}

/// Whether `t` is the time of a FHIR search dateTime after its `T`: `hh:mm`, optionally
/// `:ss` and a fraction, optionally `Z` or `±hh:mm`.
fn is_time_of_day(t: &str) -> bool {
    let (clock, zone) = t.find(['Z', '+', '-']).map_or((t, ""), |i| t.split_at(i));
    let zone_ok = match zone.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    let clock_ok = ["%H:%M", "%H:%M:%S", "%H:%M:%S%.f"]
        .iter()
        .any(|f| chrono::NaiveTime::parse_from_str(clock, f).is_ok());
    zone_ok && clock_ok
}

fn continuation_error(search: &Search, resource: &str, reason: &str) -> Error {
    let e = Error::new(ErrorKind::Unsupported, reason);
    match search
        .params
        .iter()
        .find(|p| p.name == CONTINUATION || p.name == QUERY_TAG)
    {
        Some(p) => p.locate(resource, e),
        None => e.at_fhir_path(resource.to_string()),
    }
}

/// The query tag of message `n` of a run: a seeded prefix and the message's number, so that
/// tags are unique within a run and the same for the same seed. QPD-2 allows 32 characters;
/// QRD-4 allows 10, which a 4-character prefix keeps to for the first million queries.
pub(crate) fn query_tag(env: &Envelope, style: Style, n: u64) -> String {
    let mut h = IdHasher::new("query tag");
    h.add(&env.seed.to_string());
    let hex = h.finish().replace('-', "").to_uppercase();
    match style {
        Style::Q22 => format!("{}-{n}", &hex[..8]),
        Style::A19 => format!("{}{n}", &hex[..4]),
    }
}

/// Translates one search into an HL7 v2 query; `n` numbers it within a run.
pub(crate) fn build(
    plan: &Plan,
    queries: &QueryPlan,
    search: &Search,
    opts: &QueryOptions,
    show_values: bool,
    n: u64,
) -> Result<Written, Error> {
    let table = queries.resource(&search.resource).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} searches cannot be sent: there is no query table query/{}.csv (see mappings/README.md)",
                search.resource, search.resource
            ),
        )
        .at_fhir_path(search.resource.clone())
    })?;
    // The command line refuses this before reading any search; a library caller learns it here.
    opts.style
        .check_version(&opts.envelope.version)
        .map_err(|why| {
            Error::new(ErrorKind::Unsupported, why).at_fhir_path(search.resource.clone())
        })?;
    let rows = table.style(opts.style);
    if rows.is_empty() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} has no {} rows: {} searches cannot be sent in that style",
                table.file,
                opts.style.name(),
                search.resource
            ),
        )
        .at_fhir_path(search.resource.clone()));
    }
    let reader = Reader {
        plan,
        queries,
        rows,
        style: opts.style,
        resource: &search.resource,
        file: &table.file,
        show_values,
    };
    let q = reader.read(search)?;
    let env = &opts.envelope;
    let control_id = env.control_id(n);
    let time = env.timestamp();
    let mut b = MessageBuilder::new(Delimiters::default(), Charset::Utf8);
    env.write_header(&mut b, opts.style.message(), &control_id, &time);
    // A continuation repeats the tag of the query it continues, even none.
    let tag = match &q.continuation {
        Some((tag, _)) => tag.clone().unwrap_or_default(),
        None => query_tag(env, opts.style, n),
    };
    match opts.style {
        Style::Q22 => {
            let qpd = b.add_segment("QPD");
            let rcp = b.add_segment("RCP");
            constants(&mut b, rows);
            b.set(qpd, 2, 1, 1, 1, &tag);
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (row, written) in rows.params.iter().zip(&q.pairs) {
                if row.kind == ParamKind::Identifier
                    && let Some((value, a)) = &q.identifier
                {
                    let refs = row.references();
                    for (r, v) in refs.iter().zip([
                        value,
                        &a.namespace,
                        &a.universal_id,
                        &a.universal_id_type,
                    ]) {
                        if !v.is_empty() {
                            pairs.push((r.clone(), v.clone()));
                        }
                    }
                }
                pairs.extend(written.clone());
            }
            for (i, (reference, value)) in pairs.iter().enumerate() {
                b.set(qpd, 3, i + 1, 1, 1, &format!("@{reference}"));
                b.set(qpd, 3, i + 1, 2, 1, value);
            }
            for (i, a) in q.domains.iter().enumerate() {
                authority_into(&mut b, qpd, 8, i + 1, 4, a);
            }
            if let Some(count) = q.count {
                b.set(rcp, 2, 1, 1, 1, &count.to_string());
                b.set(rcp, 2, 1, 2, 1, "RD");
            }
            if let Some((_, pointer)) = &q.continuation {
                let dsc = b.add_segment("DSC");
                b.set(dsc, 1, 1, 1, 1, pointer);
                // Table 0398: I, an interactive continuation of a query's response.
                b.set(dsc, 2, 1, 1, 1, "I");
            }
        }
        Style::A19 => {
            let qrd = b.add_segment("QRD");
            constants(&mut b, rows);
            b.set(qrd, 1, 1, 1, 1, &time);
            b.set(qrd, 4, 1, 1, 1, &tag);
            if let Some(count) = q.count {
                b.set(qrd, 7, 1, 1, 1, &count.to_string());
                b.set(qrd, 7, 1, 2, 1, "RD");
            }
            if let Some((value, a)) = &q.identifier {
                b.set(qrd, 8, 1, 1, 1, value);
                authority_into(&mut b, qrd, 8, 1, 9, a);
            }
        }
    }
    let message = b.encode().map_err(|e| {
        Error::new(
            e.kind(),
            format!("the query cannot be written: {}", e.reason()),
        )
        .at_fhir_path(search.resource.clone())
    })?;
    Ok(Written {
        message,
        control_id,
        query_tag: tag,
    })
}

fn constants(b: &mut MessageBuilder, rows: &StyleTable) {
    for c in &rows.constants {
        b.set_at(&c.field, &c.value);
    }
}

/// Writes an assigning authority as the subcomponents of component `comp` of a field.
fn authority_into(
    b: &mut MessageBuilder,
    seg: usize,
    field: usize,
    rep: usize,
    comp: usize,
    a: &Authority,
) {
    for (sub, v) in [&a.namespace, &a.universal_id, &a.universal_id_type]
        .into_iter()
        .enumerate()
    {
        if !v.is_empty() {
            b.set(seg, field, rep, comp, sub + 1, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_time_of_day;

    #[test]
    fn times_of_day() {
        for (t, want) in [
            ("10:00", true),
            ("10:00:00", true),
            ("10:00:00.123Z", true),
            ("23:59:59+05:30", true),
            ("10:00-08:00", true),
            ("", false),
            ("25:99", false),
            ("10:00+0530", false),
            ("10:00Zulu", false),
            ("SEPT", false),
        ] {
            assert_eq!(is_time_of_day(t), want, "{t}");
        }
    }
}
