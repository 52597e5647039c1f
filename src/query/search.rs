//! Reading a FHIR search into its resource type and parameters: a search URL
//! (`Patient?family=SMITH`, `https://fhir.example.org/r4/Patient?…`, values percent-encoded per
//! RFC 3986, so `+` is a plus sign) or a `Parameters` resource whose parameters are the search
//! parameters (`_type` names the resource type, Patient when absent). Both give the same
//! [`Param`]s for the same search: a textual `value[x]` is the value as the URL carries it once
//! decoded, so the translation reads one form only.
//!
//! Values keep FHIR's search escapes (`\,` `\|` `\$` `\\`) so that the translation can split
//! them on the unescaped separators; [`split`] and [`unescape`] do that, after the translation
//! has refused a value holding any other backslash ([`escapes_are_valid`]). Errors name the
//! parameter and its byte offset in the input, never its value.

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::fhir::elements;

/// A search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The resource type searched, e.g. `Patient`.
    pub resource: String,
    /// The parameters, in the order given.
    pub params: Vec<Param>,
}

/// Where a parameter was found, for error records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Its byte offset in a search URL.
    Byte(usize),
    /// Its element in a `Parameters` resource, e.g. `Parameters.parameter[2]`.
    Element(String),
}

/// One search parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name as written, with any modifier or chain (`family:exact`, `organization.name`).
    pub name: String,
    /// The value, percent-decoded; FHIR search escapes still in place.
    pub value: String,
    /// Where it was found.
    pub origin: Origin,
}

impl Param {
    /// Attaches where the parameter was found to an error.
    pub fn locate(&self, resource: &str, e: Error) -> Error {
        let e = e.at_fhir_path(format!("{resource}?{}", self.name));
        match &self.origin {
            Origin::Byte(b) => e.at_offset(*b as u64),
            Origin::Element(_) => e,
        }
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadFhir, reason)
}

/// Reads one search: a URL, or a `Parameters` resource (input starting with `{`).
///
/// ```
/// use hl7fhir::query::search::parse;
/// let s = parse(b"https://fhir.example.org/Patient?family=O%27Brien&given=J%C3%BCrgen").unwrap();
/// assert_eq!(s.resource, "Patient");
/// assert_eq!((s.params[0].name.as_str(), s.params[0].value.as_str()), ("family", "O'Brien"));
/// assert_eq!(s.params[1].value, "Jürgen");
/// ```
pub fn parse(input: &[u8]) -> Result<Search, Error> {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    let text = &input[start..end];
    if text.is_empty() {
        return Err(Error::new(ErrorKind::EmptyInput, "the search is empty"));
    }
    if text[0] == b'{' {
        return parameters(text);
    }
    url(text, start)
}

fn url(text: &[u8], at: usize) -> Result<Search, Error> {
    let text = std::str::from_utf8(text).map_err(|e| {
        bad("the search is not UTF-8 text").at_offset((at + e.valid_up_to()) as u64)
    })?;
    if let Some(i) = text.find(['#', ' ', '\t']) {
        return Err(bad(if text.as_bytes()[i] == b'#' {
            "a search URL has no fragment (`#`)"
        } else {
            "a search URL holds no spaces: encode them as %20"
        })
        .at_offset((at + i) as u64));
    }
    let (path, query, query_at) = match text.split_once('?') {
        Some((p, q)) => (p, q, at + p.len() + 1),
        None => (text, "", at + text.len()),
    };
    let path = match path.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest.split_once('/').map_or("", |(_, p)| p)
        }
        Some(_) => return Err(bad("a search URL is http or https").at_offset(at as u64)),
        None => path,
    };
    let mut steps = path.split('/').filter(|s| !s.is_empty());
    let mut last = steps.next_back();
    if last == Some("_search") {
        last = steps.next_back();
    }
    let resource = match last {
        Some(r) if elements::is_resource(r) => r.to_string(),
        _ => {
            return Err(bad(
                "the search URL does not end in a FHIR resource type (`Patient?family=…`)",
            )
            .at_offset(at as u64));
        }
    };
    let mut params = Vec::new();
    let mut offset = query_at;
    for piece in query.split('&') {
        let here = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let Some((name, value)) = piece.split_once('=') else {
            return Err(bad("a search parameter without `=` and a value").at_offset(here as u64));
        };
        if name.is_empty() {
            return Err(bad("a search parameter without a name").at_offset(here as u64));
        }
        // The name as written locates a value that does not decode.
        let place = |e: Error| e.at_fhir_path(format!("{resource}?{name}"));
        let value = decode(value, here + piece.len() - value.len()).map_err(place)?;
        let name = decode(name, here).map_err(place)?;
        params.push(Param {
            name,
            value,
            origin: Origin::Byte(here),
        });
    }
    Ok(Search { resource, params })
}

/// Percent-decodes one name or value that starts at byte `at` of the input.
fn decode(text: &str, at: usize) -> Result<String, Error> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => out.push(v),
                None => {
                    return Err(bad(
                        "bad percent-encoding: `%` must be followed by two hex digits",
                    )
                    .at_offset((at + i) as u64));
                }
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| bad("a percent-encoded value is not UTF-8").at_offset(at as u64))
}

/// Reads a `Parameters` resource.
fn parameters(text: &[u8]) -> Result<Search, Error> {
    let json: Json = serde_json::from_slice(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if json.get("resourceType").and_then(Json::as_str) != Some("Parameters") {
        return Err(bad("a search is a URL or a Parameters resource").at_fhir_path("resourceType"));
    }
    let list = match json.get("parameter") {
        None => &[][..],
        Some(Json::Array(a)) => a.as_slice(),
        Some(_) => return Err(bad("expected an array").at_fhir_path("Parameters.parameter")),
    };
    let mut resource = "Patient".to_string();
    let mut params = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let path = format!("Parameters.parameter[{i}]");
        let name = p
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("a parameter needs a name").at_fhir_path(format!("{path}.name")))?;
        let values: Vec<(&String, &Json)> = p
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("value") || *k == "part" || *k == "resource")
            .collect();
        let [(key, value)] = values.as_slice() else {
            return Err(
                bad("a search parameter takes exactly one value[x]").at_fhir_path(path.clone())
            );
        };
        let value = search_value(key, value).ok_or_else(|| {
            bad(format!(
                "{key} is not a search value (string, code, uri, date, integer, Identifier, Coding)"
            ))
            .at_fhir_path(format!("{path}.{key}"))
        })?;
        if name == "_type" {
            if !elements::is_resource(&value) {
                return Err(bad("_type names a FHIR resource type").at_fhir_path(path));
            }
            resource = value;
            continue;
        }
        params.push(Param {
            name: name.to_string(),
            value,
            origin: Origin::Element(path),
        });
    }
    Ok(Search { resource, params })
}

/// A `value[x]` in search syntax. Text is the value as a search URL carries it once
/// percent-decoded, separators and escapes included, so that `{"name":"identifier",
/// "valueString":"sys|v"}` means what `identifier=sys|v` means and every check of the URL form
/// applies. An Identifier or Coding is the token of its parts, each escaped: those parts are
/// literal.
fn search_value(key: &str, v: &Json) -> Option<String> {
    let text = |v: &Json| v.as_str().map(escape);
    match key {
        "valueString" | "valueCode" | "valueUri" | "valueUrl" | "valueCanonical" | "valueId"
        | "valueDate" | "valueDateTime" => v.as_str().map(str::to_string),
        "valueInteger" | "valuePositiveInt" | "valueUnsignedInt" => {
            v.as_i64().map(|n| n.to_string())
        }
        "valueBoolean" => v.as_bool().map(|b| b.to_string()),
        "valueIdentifier" | "valueCoding" => {
            let code_key = if key == "valueIdentifier" {
                "value"
            } else {
                "code"
            };
            let system = v.get("system").map(text);
            let code = v.get(code_key).map(text);
            match (system, code) {
                (Some(Some(s)), Some(Some(c))) => Some(format!("{s}|{c}")),
                (Some(Some(s)), None) => Some(format!("{s}|")),
                (None, Some(Some(c))) => Some(c),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Escapes FHIR's search separators in literal text (`,` `|` `$` `\`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, ',' | '|' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits a value on the unescaped `sep`, keeping escapes.
pub fn split(value: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut from, mut escaped) = (0, false);
    for (i, c) in value.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, c) if c == sep => {
                parts.push(&value[from..i]);
                from = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&value[from..]);
    parts
}

/// Whether every `\` in a value escapes one of `$` `,` `|` `\`. FHIR R4 search (Escaping
/// Search Parameters, search.html#escaping) defines no other escape and calls the value `xx\xx`
/// illegal, so such a value is refused: neither dropped (`OBrien` is another name) nor guessed
/// to mean a literal backslash.
///
/// ```
/// use hl7fhir::query::search::escapes_are_valid;
/// assert!(escapes_are_valid(r"O\\Brien\,Jr"));
/// assert!(!escapes_are_valid(r"O\Brien"));
/// assert!(!escapes_are_valid(r"SMITH\"));
/// ```
pub fn escapes_are_valid(value: &str) -> bool {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('$' | ',' | '|' | '\\')) {
            return false;
        }
    }
    true
}

/// Removes FHIR's search escapes.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

/// Percent-encodes a name or value for a search URL: everything but letters, digits,
/// `-._~` and `:` `/`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &Search) -> Vec<(&str, &str)> {
        s.params
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

    #[test]
    fn urls() {
        let s = parse(b"  Patient?family=SMITH&given=JOHN&&birthdate=eq1980-01-01\r\n").unwrap();
        assert_eq!(s.resource, "Patient");
        assert_eq!(
            params(&s),
            [
                ("family", "SMITH"),
                ("given", "JOHN"),
                ("birthdate", "eq1980-01-01")
            ]
        );
        assert_eq!(s.params[1].origin, Origin::Byte(23));
        let s = parse(
            b"http://h.example/fhir/Patient/_search?identifier=urn:oid:1.2%7C45&family:exact=A+B",
        )
        .unwrap();
        assert_eq!(
            params(&s),
            [("identifier", "urn:oid:1.2|45"), ("family:exact", "A+B")]
        );
        assert_eq!(parse(b"Patient").unwrap().params, []);
        let errors: &[(&[u8], &str)] = &[
            (
                b"Patient?family=%G1",
                "Patient?family at byte 15: bad percent-encoding: `%` must be followed by two hex digits",
            ),
            (
                b"Patient?family",
                "at byte 8: a search parameter without `=` and a value",
            ),
            (
                b"Patient?=x",
                "at byte 8: a search parameter without a name",
            ),
            (
                b"Patient/123",
                "at byte 0: the search URL does not end in a FHIR resource type (`Patient?family=…`)",
            ),
            (
                b"Patient?family=a#b",
                "at byte 16: a search URL has no fragment (`#`)",
            ),
            (
                b"Patient?family=a b",
                "at byte 16: a search URL holds no spaces: encode them as %20",
            ),
            (
                b"ftp://x/Patient?a=b",
                "at byte 0: a search URL is http or https",
            ),
            (
                b"Patient?family=%FF",
                "Patient?family at byte 15: a percent-encoded value is not UTF-8",
            ),
            (b"\n\n", "the search is empty"),
        ];
        for (input, want) in errors {
            assert_eq!(
                parse(input).unwrap_err().to_string(),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn parameters_resource() {
        let s = parse(br#"{"resourceType":"Parameters","parameter":[{"name":"family","valueString":"O,Neil"},{"name":"identifier","valueIdentifier":{"system":"urn:oid:1.2","value":"7"}},{"name":"_count","valueInteger":5},{"name":"gender","valueCoding":{"code":"male"}}]}"#).unwrap();
        assert_eq!(s.resource, "Patient");
        assert_eq!(
            params(&s),
            [
                ("family", "O,Neil"),
                ("identifier", "urn:oid:1.2|7"),
                ("_count", "5"),
                ("gender", "male")
            ]
        );
        // An Identifier's or a Coding's parts are literal: their separators are escaped.
        let s = parse(br#"{"resourceType":"Parameters","parameter":[{"name":"identifier","valueIdentifier":{"system":"urn:x|y","value":"a,b"}}]}"#).unwrap();
        assert_eq!(params(&s), [("identifier", r"urn:x\|y|a\,b")]);
        let errors: &[(&str, &str)] = &[
            (
                r#"{"resourceType":"Patient"}"#,
                "resourceType: a search is a URL or a Parameters resource",
            ),
            (
                r#"{"resourceType":"Parameters","parameter":[{"valueString":"x"}]}"#,
                "Parameters.parameter[0].name: a parameter needs a name",
            ),
            (
                r#"{"resourceType":"Parameters","parameter":[{"name":"family"}]}"#,
                "Parameters.parameter[0]: a search parameter takes exactly one value[x]",
            ),
            (
                r#"{"resourceType":"Parameters","parameter":[{"name":"family","valueQuantity":{"value":1}}]}"#,
                "Parameters.parameter[0].valueQuantity: valueQuantity is not a search value (string, code, uri, date, integer, Identifier, Coding)",
            ),
            (
                r#"{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Nope"}]}"#,
                "Parameters.parameter[0]: _type names a FHIR resource type",
            ),
            (
                r#"{"resourceType":"#,
                "not JSON: EOF while parsing a value at line 1 column 16",
            ),
        ];
        for (input, want) in errors {
            assert_eq!(parse(input.as_bytes()).unwrap_err().to_string(), *want);
        }
    }

    /// A textual value[x] means what the same value means in a search URL: both forms give the
    /// same parameters, so the translation cannot tell them apart.
    #[test]
    fn parameters_mean_what_the_url_means() {
        let cases: &[(&str, &str, &str)] = &[
            ("identifier", "valueString", "urn:oid:1.2.3|MRN1"),
            ("identifier", "valueUri", "urn:oid:1.2.3|"),
            ("identifier", "valueString", "|MRN1"),
            ("telecom", "valueString", "phone|555"),
            ("family", "valueString", "A,B"),
            ("family", "valueString", r"O\,Neil"),
            (
                "gender",
                "valueCode",
                "http://hl7.org/fhir/administrative-gender|male",
            ),
            ("birthdate", "valueString", "ge1980-01-01"),
        ];
        for (name, key, value) in cases {
            let json = serde_json::json!({
                "resourceType": "Parameters",
                "parameter": [{"name": name, *key: value}],
            });
            let from_parameters = parse(json.to_string().as_bytes()).unwrap();
            let url = format!("Patient?{name}={}", encode(value));
            let from_url = parse(url.as_bytes()).unwrap();
            assert_eq!(params(&from_parameters), params(&from_url), "{url}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(split(r"a\,b,c|d", ','), [r"a\,b", "c|d"]);
        assert_eq!(split(r"sys\|x|v", '|'), [r"sys\|x", "v"]);
        assert_eq!(unescape(r"a\,b\\c\$"), r"a,b\c$");
        for (value, valid) in [
            (r"a\,b\|c\$d\\e", true),
            ("plain", true),
            (r"O\Brien", false),
            (r"SMITH\", false),
            (r"\\\", false),
            (r"a\ü", false),
        ] {
            assert_eq!(escapes_are_valid(value), valid, "{value}");
        }
        assert_eq!(escape(r"a,b\c"), r"a\,b\\c");
        assert_eq!(encode("urn:oid:1.2|O'B ü"), "urn:oid:1.2%7CO%27B%20%C3%BC");
    }
}
