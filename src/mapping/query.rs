//! The query tables (`mappings/query/`): which FHIR search parameter goes where in an HL7 v2
//! query (a QPD-3 pair of a QBP^Q22, a QRD field of a QRY^A19), the fixed fields of each query
//! style, and the identifier systems known as assigning authorities. They are checked and
//! compiled once, like the other tables, so that a bad row is an error naming its file and line
//! at load, and a search is translated by name lookups only.
//!
//! One file per resource type (`query/Patient.csv`); a resource without one cannot be searched.

use super::load::{TableSet, read_rows};
use super::plan::{Plan, check_path};
use crate::error::{Error, ErrorKind};
use crate::fhir::elements;
use crate::v2::{Path, spec};

/// The file naming assigning authorities.
pub const AUTHORITIES: &str = "query/AssigningAuthority.csv";

/// The HL7 v2 query a search is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Style {
    /// QBP^Q22^QBP_Q21 (IHE PDQ, ITI-21), answered by RSP^K22.
    #[default]
    Q22,
    /// QRY^A19^QRY_A19 (original-mode patient query), answered by ADR^A19.
    A19,
}

impl Style {
    /// The name used in the tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Style::Q22 => "q22",
            Style::A19 => "a19",
        }
    }

    /// The style named `q22` or `a19`.
    pub fn from_name(name: &str) -> Option<Style> {
        match name {
            "q22" => Some(Style::Q22),
            "a19" => Some(Style::A19),
            _ => None,
        }
    }

    /// The message a query of this style is written as, e.g. `QBP^Q22^QBP_Q21`.
    pub fn message(self) -> [&'static str; 3] {
        match self {
            Style::Q22 => ["QBP", "Q22", "QBP_Q21"],
            Style::A19 => ["QRY", "A19", "QRY_A19"],
        }
    }

    /// Checks that HL7 version `version` (MSH-12, e.g. `2.5.1`) defines this style's message;
    /// gives the reason it does not. QRY_A19 and ADR_A19 are "deprecated and removed as of
    /// v2.7" (HL7 table 0354), and table 0048 that QRD-9 takes its code from ends at v2.6, so
    /// an A19 query under a v2.7 or later MSH-12 is a message its receiver cannot parse. A
    /// version that is not `MAJOR.MINOR[.PATCH]` is left to the writer, which writes whatever
    /// version it is given.
    ///
    /// ```
    /// use hl7fhir::query::Style;
    /// assert!(Style::A19.check_version("2.6").is_ok());
    /// assert!(Style::A19.check_version("2.7").is_err());
    /// assert!(Style::Q22.check_version("2.8").is_ok());
    /// ```
    pub fn check_version(self, version: &str) -> Result<(), String> {
        let mut parts = version.split('.').map(str::parse::<u32>);
        let number = match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
            _ => return Ok(()),
        };
        if self == Style::A19 && number >= (2, 7) {
            return Err(format!(
                "QRY^A19 is not in HL7 v{version}: v2.7 withdrew it (HL7 table 0354)"
            ));
        }
        Ok(())
    }
}

/// How a parameter's value becomes HL7 v2 (the `type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A token `system|value` on a CX (or XCN) field: the value in component 1, the system as
    /// the assigning authority (CX.4, XCN.9); `system|` alone names a domain to return (QPD-8).
    Identifier,
    /// A string, as is.
    Text,
    /// A full date, as an HL7 date.
    Date,
    /// A code, through the row's vocabulary read backwards.
    Code,
    /// A telecom value: an e-mail address (it holds `@`) in XTN.4, any other in XTN.1.
    Telecom,
    /// `_count`, as a quantity of records (`N^RD`).
    Count,
}

impl ParamKind {
    fn from_name(name: &str) -> Option<ParamKind> {
        Some(match name {
            "identifier" => ParamKind::Identifier,
            "string" => ParamKind::Text,
            "date" => ParamKind::Date,
            "code" => ParamKind::Code,
            "telecom" => ParamKind::Telecom,
            "count" => ParamKind::Count,
            _ => return None,
        })
    }
}

/// A row mapping one search parameter.
#[derive(Debug, Clone)]
pub struct ParamRow {
    /// 1-based line in the table.
    pub line: u32,
    /// The search parameter, e.g. `family`.
    pub name: String,
    /// How the value is converted.
    pub kind: ParamKind,
    /// Where it goes: a field (or component) named in QPD-3 for q22, a QRD or RCP field.
    pub field: Path,
    /// A vocabulary (index into [`Plan::vocabularies`]), for codes.
    pub vocabulary: Option<usize>,
}

impl ParamRow {
    /// The QPD-3 references (`PID.3.1`, without the `@`) this row writes, in order.
    pub fn references(&self) -> Vec<String> {
        let base = reference(&self.field);
        match self.kind {
            ParamKind::Identifier => ["1", "4.1", "4.2", "4.3"]
                .iter()
                .map(|c| format!("{base}.{c}"))
                .collect(),
            ParamKind::Telecom => vec![format!("{base}.1"), format!("{base}.4")],
            _ => vec![base],
        }
    }
}

/// A fixed field of a query.
#[derive(Debug, Clone)]
pub struct Constant {
    /// 1-based line in the table.
    pub line: u32,
    /// The field (or component).
    pub field: Path,
    /// Its text.
    pub value: String,
}

/// The rows of one style.
#[derive(Debug, Clone, Default)]
pub struct StyleTable {
    /// Parameter rows, in table order (the order QPD-3 pairs are written in).
    pub params: Vec<ParamRow>,
    /// Fixed fields.
    pub constants: Vec<Constant>,
}

impl StyleTable {
    /// The row for a parameter.
    pub fn param(&self, name: &str) -> Option<&ParamRow> {
        self.params.iter().find(|p| p.name == name)
    }

    /// True when the table has no rows for this style.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty() && self.constants.is_empty()
    }
}

/// The query rows of one resource type.
#[derive(Debug, Clone)]
pub struct ResourceQueries {
    /// The resource type, e.g. `Patient`.
    pub resource: String,
    /// The table file.
    pub file: String,
    /// Rows for QBP^Q22.
    pub q22: StyleTable,
    /// Rows for QRY^A19.
    pub a19: StyleTable,
}

impl ResourceQueries {
    /// The rows of a style.
    pub fn style(&self, style: Style) -> &StyleTable {
        match style {
            Style::Q22 => &self.q22,
            Style::A19 => &self.a19,
        }
    }
}

/// An HL7 assigning authority (HD): namespace id, universal id, universal id type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authority {
    /// HD.1.
    pub namespace: String,
    /// HD.2.
    pub universal_id: String,
    /// HD.3.
    pub universal_id_type: String,
}

/// The compiled query tables.
#[derive(Debug, Clone, Default)]
pub struct QueryPlan {
    /// One entry per table file.
    pub resources: Vec<ResourceQueries>,
    /// (FHIR identifier system, its assigning authority), from `query/AssigningAuthority.csv`.
    pub authorities: Vec<(String, Authority)>,
}

fn err(file: &str, line: u32, msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Mapping, msg).in_table(file.to_string(), line)
}

/// `PID-5.1.1` as QPD-3 writes it, without the `@`: `PID.5.1.1`.
pub fn reference(p: &Path) -> String {
    let mut s = format!("{}.{}", p.segment_id(), p.field);
    for n in [p.component, p.subcomponent].into_iter().flatten() {
        s.push_str(&format!(".{n}"));
    }
    s
}

/// The data type a path names: the field's type, then its components' types.
fn type_at(p: &Path) -> Option<&'static str> {
    let mut ty = spec::field_type(p.segment_id(), p.field as usize)?;
    for n in [p.component, p.subcomponent].into_iter().flatten() {
        ty = spec::component_type(ty, n as usize)?;
    }
    Some(ty)
}

/// Fields the query builder writes itself; a constant may not set them.
const WRITTEN: &[(&str, u32)] = &[
    ("QPD", 2),
    ("QPD", 3),
    ("QPD", 8),
    ("RCP", 2),
    ("QRD", 1),
    ("QRD", 4),
    ("QRD", 7),
    ("QRD", 8),
];

/// Search parameters the query builder reads itself; no row may name them.
const RESERVED: &[&str] = &["_continuation", "_querytag", "_type"];

impl QueryPlan {
    /// Checks and compiles every `query/` table of `tables`; `plan` gives the vocabularies.
    pub fn compile(tables: &TableSet, plan: &Plan) -> Result<QueryPlan, Error> {
        let mut q = QueryPlan::default();
        for path in tables.paths() {
            let Some(name) = path.strip_prefix("query/") else {
                continue;
            };
            let text = tables.get(path).unwrap_or_default();
            if path == AUTHORITIES {
                q.authorities = authorities(path, text)?;
                continue;
            }
            let resource = name.trim_end_matches(".csv");
            if !elements::is_resource(resource) {
                return Err(err(
                    path,
                    0,
                    format!(
                        "`{resource}` is not a FHIR R4 resource type (query tables are named after the resource searched)"
                    ),
                ));
            }
            q.resources
                .push(resource_table(path, resource, text, plan)?);
        }
        Ok(q)
    }

    /// The query rows of a resource type.
    pub fn resource(&self, ty: &str) -> Option<&ResourceQueries> {
        self.resources.iter().find(|r| r.resource == ty)
    }

    /// The assigning authority of a FHIR identifier system: a row of the table, else
    /// `urn:oid:X` as `&X&ISO`; `None` for any other system.
    pub fn authority(&self, system: &str) -> Option<Authority> {
        if let Some((_, a)) = self.authorities.iter().find(|(s, _)| s == system) {
            return Some(a.clone());
        }
        let oid = system.strip_prefix("urn:oid:")?;
        let valid = !oid.is_empty()
            && oid
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        valid.then(|| Authority {
            namespace: String::new(),
            universal_id: oid.to_string(),
            universal_id_type: "ISO".into(),
        })
    }

    /// The FHIR identifier system of an assigning authority: the table row with exactly these
    /// parts, else an ISO OID as `urn:oid:X`.
    pub fn system(&self, a: &Authority) -> Option<String> {
        if let Some((s, _)) = self.authorities.iter().find(|(_, row)| row == a) {
            return Some(s.clone());
        }
        (a.namespace.is_empty() && a.universal_id_type == "ISO" && !a.universal_id.is_empty())
            .then(|| format!("urn:oid:{}", a.universal_id))
    }
}

fn authorities(file: &str, text: &str) -> Result<Vec<(String, Authority)>, Error> {
    let rows = read_rows(
        file,
        text,
        &[
            "system",
            "namespace_id",
            "universal_id",
            "universal_id_type",
        ],
    )?;
    let mut out: Vec<(String, Authority)> = Vec::new();
    for row in rows {
        let system = row.cell(0).to_string();
        let a = Authority {
            namespace: row.cell(1).to_string(),
            universal_id: row.cell(2).to_string(),
            universal_id_type: row.cell(3).to_string(),
        };
        let e = |m: String| err(file, row.line, m);
        if !system.contains(':') {
            return Err(e(format!("system `{system}` is not a URI")));
        }
        if a.namespace.is_empty() && a.universal_id.is_empty() {
            return Err(e(
                "an assigning authority needs a namespace_id or a universal_id".into(),
            ));
        }
        if a.universal_id.is_empty() != a.universal_id_type.is_empty() {
            return Err(e(
                "universal_id and universal_id_type go together (HD.2 and HD.3)".into(),
            ));
        }
        for part in [&a.namespace, &a.universal_id, &a.universal_id_type] {
            if part.contains(['|', '^', '~', '\\', '&']) {
                return Err(e(format!("`{part}` holds an HL7 delimiter")));
            }
        }
        if out.iter().any(|(s, _)| *s == system) {
            return Err(e(format!("system `{system}` is listed twice")));
        }
        if out.iter().any(|(_, b)| *b == a) {
            return Err(e(
                "this assigning authority is listed twice: a response could not say which system it means".into(),
            ));
        }
        out.push((system, a));
    }
    Ok(out)
}

fn resource_table(
    file: &str,
    resource: &str,
    text: &str,
    plan: &Plan,
) -> Result<ResourceQueries, Error> {
    let rows = read_rows(
        file,
        text,
        &["style", "parameter", "type", "field", "vocabulary", "value"],
    )?;
    let mut q = ResourceQueries {
        resource: resource.to_string(),
        file: file.to_string(),
        q22: StyleTable::default(),
        a19: StyleTable::default(),
    };
    for row in rows {
        let e = |m: String| err(file, row.line, m);
        let style = Style::from_name(row.cell(0))
            .ok_or_else(|| e(format!("style `{}`: write q22 or a19", row.cell(0))))?;
        let field: Path = row
            .cell(3)
            .parse()
            .map_err(|er: Error| e(format!("field `{}`: {}", row.cell(3), er.reason())))?;
        check_path(&field).map_err(e)?;
        if field.occurrence != 1 || field.repetition.is_some() {
            return Err(e(format!(
                "field `{field}`: name a field or component, without an occurrence or repetition"
            )));
        }
        let (name, ty, vocab, value) = (row.cell(1), row.cell(2), row.cell(4), row.cell(5));
        let table = match style {
            Style::Q22 => &mut q.q22,
            Style::A19 => &mut q.a19,
        };
        if name.is_empty() {
            if !ty.is_empty() || !vocab.is_empty() {
                return Err(e(
                    "a row without a parameter sets a constant: leave type and vocabulary empty"
                        .into(),
                ));
            }
            constant(style, &field, value).map_err(e)?;
            table.constants.push(Constant {
                line: row.line,
                field,
                value: value.to_string(),
            });
            continue;
        }
        if !value.is_empty() {
            return Err(e(
                "a parameter row takes its value from the search: leave value empty".into(),
            ));
        }
        if name.contains([':', '.', ',', '|', '=', '&']) || RESERVED.contains(&name) {
            return Err(e(format!(
                "parameter `{name}`: name a search parameter, without modifier or chain"
            )));
        }
        let kind = ParamKind::from_name(ty).ok_or_else(|| {
            e(format!(
                "type `{ty}`: write identifier, string, date, code, telecom or count"
            ))
        })?;
        if (kind == ParamKind::Count) != (name == "_count") {
            return Err(e(
                "the count type is for `_count`, and `_count` is a count".into()
            ));
        }
        let vocabulary = match (kind, vocab) {
            (ParamKind::Code, "") => {
                return Err(e("a code row needs a vocabulary".into()));
            }
            (ParamKind::Code, v) => Some(
                *plan
                    .vocabulary_index
                    .get(v)
                    .ok_or_else(|| e(format!("no vocabulary vocabulary/{v}.csv")))?,
            ),
            (_, "") => None,
            _ => return Err(e("only code rows take a vocabulary".into())),
        };
        param_field(style, kind, &field).map_err(e)?;
        if table.param(name).is_some() {
            return Err(e(format!(
                "parameter `{name}` appears twice for {}",
                style.name()
            )));
        }
        let param = ParamRow {
            line: row.line,
            name: name.to_string(),
            kind,
            field,
            vocabulary,
        };
        if style == Style::Q22 && kind != ParamKind::Count {
            let mine = param.references();
            if let Some(other) = table.params.iter().find(|o| {
                o.kind != ParamKind::Count && o.references().iter().any(|r| mine.contains(r))
            }) {
                return Err(e(format!(
                    "`{}` overlaps the row for `{}` (line {}): a response could not say which parameter it echoes",
                    param.field, other.name, other.line
                )));
            }
        }
        table.params.push(param);
    }
    Ok(q)
}

/// Checks that a constant sets a field of its style's query segments that the builder leaves
/// to the table.
fn constant(style: Style, field: &Path, value: &str) -> Result<(), String> {
    let segments: &[&str] = match style {
        Style::Q22 => &["QPD", "RCP"],
        Style::A19 => &["QRD", "QRF"],
    };
    let id = field.segment_id();
    if !segments.contains(&id) {
        return Err(format!(
            "a {} constant sets a field of {}",
            style.name(),
            segments.join(" or ")
        ));
    }
    if WRITTEN.contains(&(id, field.field)) {
        return Err(format!(
            "{id}-{} is written from the search, not from a constant",
            field.field
        ));
    }
    if value.is_empty() {
        return Err("a constant row needs a value".into());
    }
    Ok(())
}

/// Checks where a parameter row may write, by style and kind.
fn param_field(style: Style, kind: ParamKind, field: &Path) -> Result<(), String> {
    let id = field.segment_id();
    let whole = field.component.is_none();
    let ty = type_at(field).unwrap_or("");
    match (style, kind) {
        (Style::Q22, ParamKind::Count) if id == "RCP" && field.field == 2 && whole => Ok(()),
        (Style::A19, ParamKind::Count) if id == "QRD" && field.field == 7 && whole => Ok(()),
        (Style::Q22, ParamKind::Count) => Err("_count goes to RCP-2 in a q22 query".into()),
        (Style::A19, ParamKind::Count) => Err("_count goes to QRD-7 in an a19 query".into()),
        (Style::A19, ParamKind::Identifier) if id == "QRD" && field.field == 8 && whole => Ok(()),
        (Style::A19, _) => Err(
            "QRY^A19 names its patient in QRD-8: only an identifier row (QRD-8) and _count (QRD-7)"
                .into(),
        ),
        (Style::Q22, _) if ["MSH", "QPD", "RCP", "DSC"].contains(&id) => Err(format!(
            "QPD-3 names fields of the data queried (PID-5.1.1), not of {id}"
        )),
        (Style::Q22, ParamKind::Identifier) if !(whole && ty == "CX") => {
            Err(format!("an identifier row names a CX field, not `{field}`"))
        }
        (Style::Q22, ParamKind::Telecom) if !(whole && ty == "XTN") => {
            Err(format!("a telecom row names an XTN field, not `{field}`"))
        }
        (Style::Q22, ParamKind::Date) if !matches!(ty, "DTM" | "TS" | "DT" | "DR") => Err(format!(
            "a date row names a date field (DTM, TS, DT), not `{field}` ({ty})"
        )),
        (Style::Q22, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_with(path: &str, text: &str) -> Result<QueryPlan, Error> {
        let mut t = TableSet::embedded();
        t.insert(path, text);
        let plan = Plan::compile(&t)?;
        QueryPlan::compile(&t, &plan)
    }

    #[test]
    fn embedded_tables_compile() {
        let t = TableSet::embedded();
        let q = QueryPlan::compile(&t, &Plan::compile(&t).unwrap()).unwrap();
        let p = q.resource("Patient").unwrap();
        assert_eq!(p.q22.param("family").unwrap().references(), ["PID.5.1.1"]);
        assert_eq!(
            p.q22.param("identifier").unwrap().references(),
            ["PID.3.1", "PID.3.4.1", "PID.3.4.2", "PID.3.4.3"]
        );
        assert_eq!(
            q.authority("urn:oid:1.2.3").unwrap().universal_id_type,
            "ISO"
        );
        assert_eq!(q.authority("urn:oid:1..2"), None);
        assert_eq!(q.authority("http://example.org/ids"), None);
    }

    #[test]
    fn table_errors_name_file_and_line() {
        let head = "style,parameter,type,field,vocabulary,value\n";
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "query/Patient.csv",
                format!("{head}q23,family,string,PID-5.1.1,,\n"),
                "query/Patient.csv:2: style `q23`: write q22 or a19",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,family,string,PID-99,,\n"),
                "query/Patient.csv:2: PID-99: PID has 40 fields",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,family,text,PID-5.1.1,,\n"),
                "query/Patient.csv:2: type `text`: write identifier, string, date, code, telecom or count",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,gender,code,PID-8,NoSuchVocab,\n"),
                "query/Patient.csv:2: no vocabulary vocabulary/NoSuchVocab.csv",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,family,string,PID-5.1.1,,\nq22,last,string,PID-5.1.1,,\n"),
                "query/Patient.csv:3: `PID-5.1.1` overlaps the row for `family` (line 2): a response could not say which parameter it echoes",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,birthdate,date,PID-5,,\n"),
                "query/Patient.csv:2: a date row names a date field (DTM, TS, DT), not `PID-5` (XPN)",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,,,QPD-2,,TAG\n"),
                "query/Patient.csv:2: QPD-2 is written from the search, not from a constant",
            ),
            (
                "query/Patient.csv",
                format!("{head}a19,family,string,PID-5.1.1,,\n"),
                "query/Patient.csv:2: QRY^A19 names its patient in QRD-8: only an identifier row (QRD-8) and _count (QRD-7)",
            ),
            (
                "query/Patient.csv",
                format!("{head}q22,family:exact,string,PID-5.1.1,,\n"),
                "query/Patient.csv:2: parameter `family:exact`: name a search parameter, without modifier or chain",
            ),
            (
                "query/Widget.csv",
                head.to_string(),
                "query/Widget.csv: `Widget` is not a FHIR R4 resource type (query tables are named after the resource searched)",
            ),
            (
                AUTHORITIES,
                "system,namespace_id,universal_id,universal_id_type\nhttp://a.example/ids,GHH,,\nhttp://b.example/ids,GHH,,\n".into(),
                "query/AssigningAuthority.csv:3: this assigning authority is listed twice: a response could not say which system it means",
            ),
            (
                AUTHORITIES,
                "system,namespace_id,universal_id,universal_id_type\nhttp://a.example/ids,,1.2.3,\n".into(),
                "query/AssigningAuthority.csv:2: universal_id and universal_id_type go together (HD.2 and HD.3)",
            ),
        ];
        for (path, text, want) in cases {
            let got = compile_with(path, &text).unwrap_err().to_string();
            let want = want.replace(
                "40 fields",
                &format!("{} fields", spec::field_count("PID").unwrap_or(0)),
            );
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn authorities_both_ways() {
        let q = compile_with(
            AUTHORITIES,
            "system,namespace_id,universal_id,universal_id_type\nhttp://hospital.example.org/mrn,GHH,,\nurn:oid:1.2.3,LAB,1.2.3,ISO\n",
        )
        .unwrap();
        let ghh = q.authority("http://hospital.example.org/mrn").unwrap();
        assert_eq!(ghh.namespace, "GHH");
        assert_eq!(
            q.system(&ghh).as_deref(),
            Some("http://hospital.example.org/mrn")
        );
        assert_eq!(q.authority("urn:oid:1.2.3").unwrap().namespace, "LAB");
        let bare = Authority {
            universal_id: "9.8".into(),
            universal_id_type: "ISO".into(),
            ..Authority::default()
        };
        assert_eq!(q.system(&bare).as_deref(), Some("urn:oid:9.8"));
        let unknown = Authority {
            namespace: "XYZ".into(),
            ..Authority::default()
        };
        assert_eq!(q.system(&unknown), None);
    }
}
