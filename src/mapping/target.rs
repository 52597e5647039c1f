//! FHIR target paths of mapping rows (`name[]`, `communication.language`,
//! `extension(http://…/patient-birthTime).valueDateTime`), parsed once into steps and checked
//! against the R4 element table.

use crate::fhir::elements::{self, Element};

/// One step of a target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An element; `append` makes a new list entry (`name[]`), otherwise the first entry of a
    /// list, or the element itself, is found or made.
    Member {
        /// Element name.
        name: String,
        /// `_name`: where JSON puts the extensions of a primitive element.
        shadow: String,
        /// True for `[]`.
        append: bool,
        /// For `name[N]`: the N-th entry of the list (1-based), made (with empty ones before
        /// it) when absent. Rows that fill one list entry together name the same N. `name[$]`
        /// is the last entry (made when the list is empty), stored as `u32::MAX`.
        index: Option<u32>,
        /// True when the element is a list.
        many: bool,
    },
    /// The entry of a list whose member at `key` (a path of single elements ending at a
    /// primitive) holds `value`, found or made with that value: `content(attachment.contentType=
    /// application/text)` is the one content entry of a document's plain text, however many
    /// segments add lines to it.
    Entry {
        /// Element name (a list).
        name: String,
        /// The member path inside the entry (`attachment.contentType`).
        key: Vec<String>,
        /// The value that member holds.
        value: String,
    },
    /// The extension (or modifierExtension) with this URL, found or made (`append`: always made).
    Extension {
        /// `extension` or `modifierExtension`.
        name: String,
        /// The extension URL.
        url: String,
        /// True for `[]`.
        append: bool,
    },
}

impl Step {
    /// True for `[]` steps.
    pub fn appends(&self) -> bool {
        match self {
            Step::Member { append, .. } | Step::Extension { append, .. } => *append,
            Step::Entry { .. } => false,
        }
    }

    /// The element the step enters.
    pub fn name(&self) -> &str {
        match self {
            Step::Member { name, .. } | Step::Extension { name, .. } | Step::Entry { name, .. } => {
                name
            }
        }
    }
}

/// A checked target: its steps and the type of the element it ends at.
#[derive(Debug, Clone)]
pub struct Target {
    /// The path as written in the table, e.g. `name[].given[]`.
    pub text: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// The FHIR type of the last element.
    pub ty: &'static str,
    /// The allowed codes of the last element, when a required binding fixes them.
    pub codes: &'static [&'static str],
    /// True when the last element is a list.
    pub many: bool,
}

/// Splits a path into raw steps, keeping dots inside `(…)` (extension URLs).
fn split_steps(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in path.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// Parses and checks `path` relative to the FHIR type `owner`.
///
/// ```
/// use hl7fhir::mapping::target::parse;
/// let t = parse("Patient", "name[].given[]").unwrap();
/// assert_eq!(t.ty, "string");
/// assert_eq!(parse("Patient", "nmae").unwrap_err(), "Patient has no element `nmae`");
/// ```
pub fn parse(owner: &str, path: &str) -> Result<Target, String> {
    let mut ty: &'static str = "";
    let mut current = owner.to_string();
    let mut steps = Vec::new();
    let mut last: Option<&'static Element> = None;
    if path.trim().is_empty() {
        return Err("empty target".into());
    }
    for raw in split_steps(path.trim()) {
        let (raw, append, index) = match raw.strip_suffix("[]") {
            Some(r) => (r, true, None),
            None => match raw.strip_suffix(']').and_then(|r| r.rsplit_once('[')) {
                Some((r, "$")) => (r, false, Some(u32::MAX)),
                Some((r, n)) => match n.parse::<u32>() {
                    Ok(n) if n >= 1 => (r, false, Some(n)),
                    _ => {
                        return Err(format!(
                            "bad index `[{n}]` in `{raw}`: write [], [$] or [N] with N from 1"
                        ));
                    }
                },
                None => (raw, false, None),
            },
        };
        let (name, url) = match raw.split_once('(') {
            Some((n, rest)) => match rest.strip_suffix(')') {
                Some(u) if !u.is_empty() => (n, Some(u)),
                _ => return Err(format!("bad step `{raw}`: expected name(URL)")),
            },
            None => (raw, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("bad step `{raw}` in target `{path}`"));
        }
        if elements::PRIMITIVES.contains(&current.as_str()) && url.is_some() && name == "extension"
        {
            // An extension of a primitive lives beside it in JSON: `_birthDate.extension`.
            if let Some(Step::Member {
                name: prev,
                shadow,
                many: false,
                ..
            }) = steps.last_mut()
            {
                *prev = shadow.clone();
                current = "Element".to_string();
            }
        }
        if current.is_empty() || !elements::is_complex(&current) {
            return Err(format!(
                "`{name}`: {} has no elements",
                if ty.is_empty() { &current } else { ty }
            ));
        }
        let el = elements::element(&current, name)
            .ok_or_else(|| format!("{current} has no element `{name}`"))?;
        if append && !el.many {
            return Err(format!(
                "{current}.{name} is not a list: `{name}[]` cannot append"
            ));
        }
        if index.is_some() && !el.many {
            return Err(format!(
                "{current}.{name} is not a list: `{name}[N]` cannot index it"
            ));
        }
        match url {
            // In any list but extensions, `(…)` chooses an entry by a member's value.
            Some(selector) if !matches!(name, "extension" | "modifierExtension") => {
                if !el.many || append || index.is_some() {
                    return Err(format!(
                        "`{raw}`: `name(member=value)` chooses an entry of a list, without [] or [N]"
                    ));
                }
                let Some((key, value)) = selector
                    .split_once('=')
                    .filter(|(k, v)| !k.is_empty() && !v.is_empty() && v.trim() == *v)
                else {
                    return Err(format!(
                        "bad step `{raw}`: expected {name}(URL) for an extension, or {name}(member=value)"
                    ));
                };
                let mut owner = el.ty;
                let mut names = Vec::new();
                for member in key.split('.') {
                    let found = elements::element(owner, member)
                        .filter(|m| !m.many)
                        .ok_or_else(|| {
                            format!("`{raw}`: {owner} has no single element `{member}`")
                        })?;
                    names.push(member.to_string());
                    owner = found.ty;
                }
                if !elements::PRIMITIVES.contains(&owner) {
                    return Err(format!(
                        "`{raw}`: `{key}` is of type {owner}, not a primitive an entry can be chosen by"
                    ));
                }
                steps.push(Step::Entry {
                    name: name.to_string(),
                    key: names,
                    value: value.to_string(),
                });
            }
            Some(url) => {
                if index.is_some() {
                    // The first extension with the URL is found or made; `[]` adds another.
                    return Err(format!(
                        "`{}`: an extension chosen by URL takes `[]` or no index",
                        path.trim()
                    ));
                }
                if el.ty != "Extension" {
                    return Err(format!(
                        "`{name}(…)` selects by URL, only for extension and modifierExtension"
                    ));
                }
                steps.push(Step::Extension {
                    name: name.to_string(),
                    url: url.to_string(),
                    append,
                });
            }
            None => steps.push(Step::Member {
                name: name.to_string(),
                shadow: format!("_{name}"),
                append,
                index,
                many: el.many,
            }),
        }
        ty = el.ty;
        current = el.ty.to_string();
        last = Some(el);
    }
    let el = last.ok_or("empty target")?;
    let addressed = match steps.last() {
        Some(Step::Member { append, index, .. }) => *append || index.is_some(),
        _ => true,
    };
    if matches!(steps.last(), Some(Step::Entry { .. })) {
        return Err(format!(
            "`{}`: an entry chosen by a member's value is filled through a step after it",
            path.trim()
        ));
    }
    if el.many && !addressed {
        return Err(format!(
            "`{}` is a list: write `{}[]` to add to it, or `[N]` for its N-th entry",
            path.trim(),
            path.trim()
        ));
    }
    Ok(Target {
        text: path.trim().to_string(),
        steps,
        ty,
        codes: &el.codes,
        many: el.many,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let ok: &[(&str, &str, &str)] = &[
            ("Patient", "gender", "code"),
            ("Patient", "name[]", "HumanName"),
            ("Patient", "communication.language", "CodeableConcept"),
            (
                "Patient",
                "extension(http://hl7.org/fhir/StructureDefinition/patient-birthTime).valueDateTime",
                "dateTime",
            ),
            ("HumanName", "given[]", "string"),
            ("Observation", "valueQuantity.value", "decimal"),
            ("Encounter", "participant[].individual", "Reference"),
            ("CodeableConcept", "coding[2].code", "code"),
            ("Appointment", "participant[$].type[]", "CodeableConcept"),
            (
                "Patient",
                "birthDate.extension(http://hl7.org/fhir/StructureDefinition/patient-birthTime).valueDateTime",
                "dateTime",
            ),
        ];
        for (owner, path, ty) in ok {
            assert_eq!(parse(owner, path).map(|t| t.ty), Ok(*ty), "{owner} {path}");
        }
        let bad: &[(&str, &str, &str)] = &[
            ("Patient", "gender.code", "`code`: code has no elements"),
            (
                "Patient",
                "name",
                "`name` is a list: write `name[]` to add to it, or `[N]` for its N-th entry",
            ),
            (
                "Patient",
                "gender[2]",
                "Patient.gender is not a list: `gender[N]` cannot index it",
            ),
            (
                "Patient",
                "name[0]",
                "bad index `[0]` in `name[0]`: write [], [$] or [N] with N from 1",
            ),
            (
                "Patient",
                "gender[]",
                "Patient.gender is not a list: `gender[]` cannot append",
            ),
            ("Patient", "na-me", "bad step `na-me` in target `na-me`"),
            (
                "Patient",
                "extension(http://a.b/c)[$].valueString",
                "`extension(http://a.b/c)[$].valueString`: an extension chosen by URL takes `[]` or no index",
            ),
            ("Patient", "", "empty target"),
            (
                "Patient",
                "name(x)",
                "bad step `name(x)`: expected name(URL) for an extension, or name(member=value)",
            ),
            (
                "Patient",
                "name(given=A).family",
                "`name(given=A)`: HumanName has no single element `given`",
            ),
            (
                "DocumentReference",
                "content(attachment=A).format",
                "`content(attachment=A)`: `attachment` is of type Attachment, not a primitive an entry can be chosen by",
            ),
            (
                "DocumentReference",
                "content(format.code=A)[]",
                "`content(format.code=A)`: `name(member=value)` chooses an entry of a list, without [] or [N]",
            ),
            (
                "DocumentReference",
                "content(format.code=A)",
                "`content(format.code=A)`: an entry chosen by a member's value is filled through a step after it",
            ),
            (
                "Patient",
                "gender(x=y).id",
                "`gender(x=y)`: `name(member=value)` chooses an entry of a list, without [] or [N]",
            ),
        ];
        for (owner, path, want) in bad {
            assert_eq!(parse(owner, path).unwrap_err(), *want, "{owner} {path}");
        }
        let t = parse(
            "DocumentReference",
            "content(attachment.contentType=application/text).attachment.data",
        )
        .unwrap();
        assert_eq!(t.ty, "base64Binary");
        assert_eq!(
            t.steps[0],
            Step::Entry {
                name: "content".into(),
                key: vec!["attachment".into(), "contentType".into()],
                value: "application/text".into()
            }
        );
        let s = parse("Patient", "extension(http://a.b/c)[]").unwrap();
        assert_eq!(
            s.steps,
            vec![Step::Extension {
                name: "extension".into(),
                url: "http://a.b/c".into(),
                append: true
            }]
        );
    }
}
