//! Reading a writeback request: a single resource, a `transaction` or `batch` Bundle, or a
//! `message` Bundle whose MessageHeader names the event. Each resource is kept with its FHIR path
//! (for error records), its full URL (to resolve references) and whether it is created or
//! updated.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::fhir::elements;

/// Whether a request creates or updates a resource: `POST` creates, `PUT` updates, and a bare
/// resource counts as an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A new resource.
    Create,
    /// A change to an existing resource.
    Update,
}

/// One resource of a request.
#[derive(Debug, Clone)]
pub struct Resource<'j> {
    /// Its type.
    pub ty: &'j str,
    /// Its JSON.
    pub json: &'j Json,
    /// Its FHIR path in the request, e.g. `Bundle.entry[2].resource`.
    pub path: String,
    /// `Bundle.entry.fullUrl`, when given.
    pub full_url: Option<&'j str>,
    /// Its `id`, when given (`None` for a contained resource: see `local_id`).
    pub id: Option<&'j str>,
    /// For a resource contained in another, its `id`: such a resource is named only as
    /// `#id`, from within its container.
    pub local_id: Option<&'j str>,
    /// The resource whose references this one's resolve as: itself, or for a contained
    /// resource its container. FHIR scopes `#id` to the container, so that two resources may
    /// each contain their own `#performer`.
    pub scope: usize,
    /// Create or update.
    pub method: Method,
}

impl Resource<'_> {
    /// True when `reference` (a Reference.reference), held by a resource of scope `from` (see
    /// [`Resource::scope`]), points at this resource: its full URL, its `Type/id`, or a full URL
    /// ending in `/Type/id`; for a contained resource, `#id` from within its container.
    pub fn is(&self, reference: &str, from: usize) -> bool {
        if let Some(local) = self.local_id {
            return self.scope == from && reference.strip_prefix('#') == Some(local);
        }
        if self.full_url == Some(reference) {
            return true;
        }
        let Some(id) = self.id else {
            return false;
        };
        let Some(rest) = reference.strip_suffix(id) else {
            return false;
        };
        if rest == "urn:uuid:" {
            return true;
        }
        // `Type/id`, or a full URL ending in `/Type/id`.
        rest.strip_suffix('/')
            .and_then(|r| r.strip_suffix(self.ty))
            .is_some_and(|r| r.is_empty() || r.ends_with('/'))
    }
}

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request<'j> {
    /// The resources, in request order (the MessageHeader of a message Bundle left out).
    pub resources: Vec<Resource<'j>>,
    /// The event a message Bundle's MessageHeader names (`eventCoding.code`).
    pub event: Option<String>,
    /// The first resource each way of pointing at one names (see [`Request::resolve`]), for a
    /// request large enough that a walk through it costs more than building this.
    references: Option<References<'j>>,
}

/// The number of resources from which references resolve through [`References`].
const INDEXED_FROM: usize = 64;

/// The ways a reference names a resource ([`Resource::is`]), each mapped to the first resource
/// it names: a reference resolves without a walk through the request, which a report of a
/// thousand results asks once per result.
#[derive(Debug, Clone)]
struct References<'j> {
    /// `Bundle.entry.fullUrl`.
    full_url: HashMap<&'j str, usize>,
    /// `id`, for `urn:uuid:` and the id.
    id: HashMap<&'j str, usize>,
    /// `Type/id`, alone or at the end of a URL.
    type_id: HashMap<String, usize>,
    /// The container and `#id`, for a contained resource.
    local: HashMap<(usize, &'j str), usize>,
}

impl<'j> References<'j> {
    fn new(resources: &[Resource<'j>]) -> References<'j> {
        let mut index = References {
            full_url: HashMap::with_capacity(resources.len()),
            id: HashMap::with_capacity(resources.len()),
            type_id: HashMap::with_capacity(resources.len()),
            local: HashMap::new(),
        };
        for (i, r) in resources.iter().enumerate() {
            if let Some(local) = r.local_id {
                index.local.entry((r.scope, local)).or_insert(i);
                continue;
            }
            if let Some(url) = r.full_url {
                index.full_url.entry(url).or_insert(i);
            }
            if let Some(id) = r.id {
                index.id.entry(id).or_insert(i);
                index.type_id.entry(format!("{}/{id}", r.ty)).or_insert(i);
            }
        }
        index
    }

    /// The first resource `reference`, held in scope `from`, names, as [`Resource::is`]
    /// matches them.
    fn resolve(&self, reference: &str, from: usize) -> Option<usize> {
        if let Some(local) = reference.strip_prefix('#') {
            return self.local.get(&(from, local)).copied();
        }
        let by_url = self.full_url.get(reference).copied();
        let by_uuid = reference
            .strip_prefix("urn:uuid:")
            .and_then(|id| self.id.get(id).copied());
        // `Type/id` is the reference, or its last two steps after a `/`.
        let mut slashes = reference.rmatch_indices('/').map(|(at, _)| at);
        let type_id = match (slashes.next(), slashes.next()) {
            (Some(_), Some(at)) => &reference[at + 1..],
            _ => reference,
        };
        let by_type_id = self.type_id.get(type_id).copied();
        [by_url, by_uuid, by_type_id].into_iter().flatten().min()
    }
}

/// The reference texts of one list of Reference elements (a report's `result`), asked for
/// each resource of a type whether one of them names it: the Observations of a report of
/// thousands of results are each asked against all of its results.
#[derive(Debug)]
pub struct ReferenceList<'j> {
    /// How many Reference elements the list holds, with a `reference` or without.
    elements: usize,
    texts: Vec<&'j str>,
    /// The scope of the resource holding the list (see [`Resource::scope`]).
    from: usize,
    /// For a long list: the texts taken apart the ways [`Resource::is`] matches them.
    index: Option<ReferenceListIndex<'j>>,
    /// The resources of the request the texts resolve to (see [`Request::resolve`]), one per
    /// text that names one: resolved once, as the list is asked once per candidate.
    resolved: Vec<usize>,
}

#[derive(Debug)]
struct ReferenceListIndex<'j> {
    /// Every text (a `fullUrl` matches a text whole).
    whole: HashSet<&'j str>,
    /// What follows `urn:uuid:`.
    uuid: HashSet<&'j str>,
    /// The last two steps of a text, type and id (`Type/id`, alone or ending a URL).
    type_id: HashSet<(&'j str, &'j str)>,
}

impl<'j> ReferenceList<'j> {
    /// The list of Reference `elements` a resource of scope `from` holds (see
    /// [`Resource::scope`]), whose texts resolve against `request`.
    pub fn new(elements: &[&'j Json], request: &Request<'_>, from: usize) -> ReferenceList<'j> {
        let texts: Vec<&str> = elements
            .iter()
            .filter_map(|v| v.get("reference").and_then(Json::as_str))
            .collect();
        let resolved = texts
            .iter()
            .filter_map(|x| request.resolve(x, from))
            .collect();
        let index = (texts.len() >= INDEXED_FROM).then(|| {
            let mut index = ReferenceListIndex {
                whole: HashSet::with_capacity(texts.len()),
                uuid: HashSet::new(),
                type_id: HashSet::with_capacity(texts.len()),
            };
            for &x in &texts {
                index.whole.insert(x);
                if let Some(id) = x.strip_prefix("urn:uuid:") {
                    index.uuid.insert(id);
                }
                if let Some((before, id)) = x.rsplit_once('/') {
                    let ty = before.rsplit_once('/').map_or(before, |(_, ty)| ty);
                    index.type_id.insert((ty, id));
                }
            }
            index
        });
        ReferenceList {
            elements: elements.len(),
            texts,
            from,
            index,
            resolved,
        }
    }

    /// True when the list holds no Reference element.
    pub fn is_empty(&self) -> bool {
        self.elements == 0
    }

    /// True when a text of the list names `r`, as [`Resource::is`] tells.
    pub fn names(&self, r: &Resource<'_>) -> bool {
        let Some(index) = self.index.as_ref().filter(|_| r.local_id.is_none()) else {
            return self.texts.iter().any(|x| r.is(x, self.from));
        };
        if r.full_url.is_some_and(|url| index.whole.contains(url)) {
            return true;
        }
        let Some(id) = r.id else {
            return false;
        };
        // Split at slashes, a text's last two steps are its type and id only when neither
        // holds a slash itself; FHIR allows none in either, but a request may still send one.
        if id.contains('/') || r.ty.contains('/') {
            return self.texts.iter().any(|x| r.is(x, self.from));
        }
        index.uuid.contains(id) || index.type_id.contains(&(r.ty, id))
    }

    /// The resources of the request the list's texts resolve to, one per text that names one.
    pub fn resolved(&self) -> &[usize] {
        &self.resolved
    }

    /// True when no text of the list names a resource of the request.
    fn outside(&self) -> bool {
        self.resolved.is_empty()
    }

    /// True when a text of the list names `r`, or none names anything in the request: a list
    /// of resources held elsewhere does not tie `r` to another resource of the request.
    pub fn names_or_outside(&self, r: &Resource<'_>) -> bool {
        self.names(r) || self.outside()
    }
}

/// The resource types writeback translates.
pub const SUPPORTED: &[&str] = &[
    "Patient",
    "Encounter",
    "Observation",
    "DiagnosticReport",
    "ChargeItem",
    "Account",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "RelatedPerson",
    "Coverage",
    "AllergyIntolerance",
    "Condition",
    "Procedure",
    "ServiceRequest",
    "Specimen",
    "Device",
    // A notification's record of its event (EVN): writeback writes EVN from the event and its
    // time, and reports what the Provenance holds.
    "Provenance",
];

fn bad(path: &str, reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadFhir, reason).at_fhir_path(path)
}

fn resource_type<'j>(json: &'j Json, path: &str) -> Result<&'j str, Error> {
    let ty = json
        .get("resourceType")
        .and_then(Json::as_str)
        .ok_or_else(|| bad(path, "not a FHIR resource: no resourceType"))?;
    if !elements::is_resource(ty) {
        return Err(bad(
            &format!("{path}.resourceType"),
            format!("`{ty}` is not a FHIR R4 resource type"),
        ));
    }
    Ok(ty)
}

/// Reads a request from JSON.
pub fn read(json: &Json) -> Result<Request<'_>, Error> {
    if !json.is_object() {
        return Err(bad("(root)", "not a FHIR resource: expected a JSON object"));
    }
    let ty = resource_type(json, "(root)")?;
    if ty != "Bundle" {
        check_supported(ty, ty)?;
        let mut request = Request {
            resources: vec![Resource {
                ty,
                json,
                path: ty.to_string(),
                full_url: None,
                id: json.get("id").and_then(Json::as_str),
                local_id: None,
                scope: 0,
                method: Method::Update,
            }],
            event: None,
            references: None,
        };
        add_contained(&mut request)?;
        return Ok(request);
    }
    let kind = json.get("type").and_then(Json::as_str).unwrap_or("");
    let entries = json
        .get("entry")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut request = Request {
        resources: Vec::new(),
        event: None,
        references: None,
    };
    match kind {
        "transaction" | "batch" | "message" => {}
        other => {
            return Err(bad(
                "Bundle.type",
                format!("a writeback is a transaction, batch or message Bundle, not `{other}`"),
            ));
        }
    }
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("Bundle.entry[{i}]");
        let res = entry
            .get("resource")
            .ok_or_else(|| bad(&path, "entry has no resource"))?;
        let rpath = format!("{path}.resource");
        let ty = resource_type(res, &rpath)?;
        if kind == "message" && i == 0 {
            if ty != "MessageHeader" {
                return Err(bad(
                    &rpath,
                    "a message Bundle starts with its MessageHeader",
                ));
            }
            request.event = res
                .pointer("/eventCoding/code")
                .and_then(Json::as_str)
                .map(str::to_string);
            if request.event.is_none() {
                return Err(bad(
                    &format!("{rpath}.eventCoding.code"),
                    "the MessageHeader names no event",
                ));
            }
            continue;
        }
        check_supported(ty, &rpath)?;
        let method = match entry.pointer("/request/method").and_then(Json::as_str) {
            Some("POST") => Method::Create,
            Some("PUT") | None => Method::Update,
            Some(m) => {
                return Err(bad(
                    &format!("{path}.request.method"),
                    format!("`{m}` cannot become an HL7 v2 message (POST or PUT)"),
                ));
            }
        };
        let full_url = entry.get("fullUrl").and_then(Json::as_str);
        let scope = request.resources.len();
        request.resources.push(Resource {
            ty,
            json: res,
            path: rpath,
            full_url,
            id: res.get("id").and_then(Json::as_str),
            local_id: None,
            scope,
            method,
        });
    }
    add_contained(&mut request)?;
    if request.resources.len() >= INDEXED_FROM {
        request.references = Some(References::new(&request.resources));
    }
    if request.resources.is_empty() {
        return Err(bad(
            "Bundle.entry",
            "the Bundle holds no resource to write back",
        ));
    }
    Ok(request)
}

/// Adds the resources contained in the request's resources, after all of them (so that none
/// comes before the resources sent on their own: the first Encounter is the visit), each
/// named by `#id` alone, from within its container: FHIR scopes `#id` to the resource that
/// contains it, so two Observations may each contain a `#performer` of their own. Two
/// resources one container holds under the same id are refused, since a reference to either
/// would be ambiguous. A contained resource of a type writeback does not translate is not
/// refused: nothing refers to it that a field takes, and `--explain` names it.
fn add_contained(request: &mut Request<'_>) -> Result<(), Error> {
    let mut seen = HashSet::new();
    let mut contained = Vec::new();
    for (scope, owner) in request.resources.iter().enumerate() {
        let Some(items) = owner.json.get("contained").and_then(Json::as_array) else {
            continue;
        };
        for (i, res) in items.iter().enumerate() {
            let path = format!("{}.contained[{i}]", owner.path);
            let ty = resource_type(res, &path)?;
            let Some(local) = res.get("id").and_then(Json::as_str) else {
                return Err(bad(
                    &format!("{path}.id"),
                    "a contained resource needs the id its container names it by",
                ));
            };
            if !seen.insert((scope, local)) {
                return Err(bad(
                    &format!("{path}.id"),
                    "another resource its container holds has the same id: references to it would be ambiguous",
                ));
            }
            contained.push(Resource {
                ty,
                json: res,
                path,
                full_url: None,
                id: None,
                local_id: Some(local),
                scope,
                method: owner.method,
            });
        }
    }
    request.resources.extend(contained);
    Ok(())
}

fn check_supported(ty: &str, path: &str) -> Result<(), Error> {
    if SUPPORTED.contains(&ty) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{ty} is not a resource writeback translates ({})",
                SUPPORTED.join(", ")
            ),
        )
        .at_fhir_path(path))
    }
}

impl<'j> Request<'j> {
    /// The resources of a type.
    pub fn of(&self, ty: &str) -> impl Iterator<Item = (usize, &Resource<'j>)> + '_ {
        let ty = ty.to_string();
        self.resources
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.ty == ty)
    }

    /// The resource a reference held in scope `from` (see [`Resource::scope`]) points at: the
    /// first in the request, as [`Resource::is`] matches them.
    pub fn resolve(&self, reference: &str, from: usize) -> Option<usize> {
        match &self.references {
            Some(index) => index.resolve(reference, from),
            None => self.resources.iter().position(|r| r.is(reference, from)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_to_the_first_resource_they_name() {
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Encounter", "id": "e1"}},
            {"fullUrl": "https://fhir.example.org/r4/Patient/p9", "resource": {"resourceType": "Patient", "id": "p9"}},
            {"resource": {"resourceType": "Observation", "id": "e1"}},
            {"fullUrl": "Encounter/e1", "resource": {"resourceType": "Observation", "id": "o2"}}
        ]});
        let r = read(&tx).unwrap();
        let cases: &[(&str, Option<usize>)] = &[
            ("urn:uuid:1", Some(0)),
            ("Encounter/e1", Some(1)),
            ("https://fhir.example.org/r4/Encounter/e1", Some(1)),
            ("urn:uuid:e1", Some(1)),
            ("Observation/e1", Some(3)),
            ("https://fhir.example.org/r4/Patient/p9", Some(2)),
            ("http://elsewhere.example/Patient/p9", Some(2)),
            ("Patient/p9", Some(2)),
            ("Patient/e1", None),
            ("urn:uuid:2", None),
            ("p9", None),
            ("", None),
        ];
        // A request this small asks each resource in turn; a large one uses the index.
        assert!(r.references.is_none());
        let index = References::new(&r.resources);
        for &(reference, want) in cases {
            assert_eq!(r.resolve(reference, 0), want, "{reference}");
            assert_eq!(index.resolve(reference, 0), want, "{reference}");
        }
    }

    #[test]
    fn a_long_reference_list_names_what_each_resource_matches() {
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Observation"}},
            {"resource": {"resourceType": "Observation", "id": "o2"}},
            {"fullUrl": "https://fhir.example.org/r4/Observation/o3", "resource": {"resourceType": "Observation", "id": "o3"}},
            {"resource": {"resourceType": "Observation", "id": "o4"}},
            {"resource": {"resourceType": "Observation", "id": "o5"}},
            {"resource": {"resourceType": "Observation", "id": "a/b"}},
            {"resource": {"resourceType": "Specimen", "id": "o2"}},
            {"resource": {"resourceType": "Observation", "id": "o8"}}
        ]});
        let r = read(&tx).unwrap();
        // Every way of naming a resource, and near misses, padded past the length from which
        // the list is indexed.
        let mut texts = vec![
            "urn:uuid:1",
            "http://elsewhere.example/fhir/Observation/o2",
            "https://fhir.example.org/r4/Observation/o3",
            "urn:uuid:o4",
            "Specimen/o5",
            "Observation/a/b",
            "Observationo8",
        ];
        let padding: Vec<String> = (0..INDEXED_FROM).map(|n| format!("Patient/p{n}")).collect();
        texts.extend(padding.iter().map(String::as_str));
        for texts in [&texts[..7], &texts[..]] {
            let elements: Vec<Json> = texts.iter().map(|x| json!({"reference": x})).collect();
            let elements: Vec<&Json> = elements.iter().collect();
            let list = ReferenceList::new(&elements, &r, 0);
            assert_eq!(list.index.is_some(), texts.len() >= INDEXED_FROM);
            for res in &r.resources {
                let want = texts.iter().any(|x| res.is(x, 0));
                assert_eq!(list.names(res), want, "{:?} {:?}", res.ty, res.id);
            }
            let names: Vec<bool> = r.resources.iter().map(|res| list.names(res)).collect();
            let want = [true, true, true, true, false, true, false, false];
            assert_eq!(names, want);
            assert!(!list.outside());
        }
        let elsewhere = [json!({"reference": "Patient/p1"}), json!({"display": "x"})];
        let list = ReferenceList::new(&[&elsewhere[0], &elsewhere[1]], &r, 0);
        assert!(!list.is_empty() && list.outside() && list.names_or_outside(&r.resources[4]));
        let display_only = ReferenceList::new(&[&elsewhere[1]], &r, 0);
        assert!(!display_only.is_empty() && display_only.outside());
        assert!(ReferenceList::new(&[], &r, 0).is_empty());
    }

    #[test]
    fn contained_resources_are_named_by_their_local_id_from_their_container() {
        let observation = |id: &str| json!({"resourceType": "Observation", "id": id});
        let report = |contained: Vec<Json>| json!({"resourceType": "DiagnosticReport", "id": "r1", "contained": contained});
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": report(vec![observation("o1")])},
            {"resource": observation("o2")}
        ]});
        for indexed in [false, true] {
            let mut r = read(&tx).unwrap();
            if indexed {
                r.references = Some(References::new(&r.resources));
            }
            // After the resources sent on their own, at its place in its container, and
            // named from there (the container, or what it contains) alone.
            assert_eq!(r.resources[2].path, "Bundle.entry[0].resource.contained[0]");
            assert_eq!(r.resources[2].scope, 0);
            assert_eq!(r.resolve("#o1", 0), Some(2));
            assert_eq!(r.resolve("#o1", 1), None);
            assert_eq!(r.resolve("Observation/o1", 0), None);
            assert_eq!(r.resolve("#o2", 0), None);
            assert_eq!(r.resolve("Observation/o2", 0), Some(1));
        }
        let alone = report(vec![observation("o1")]);
        assert_eq!(read(&alone).unwrap().resolve("#o1", 0), Some(1));
        // Each container has its own `#o1`, and a long list names the one of its own holder.
        let two = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": report(vec![observation("o1")])},
            {"resource": report(vec![observation("o1")])}
        ]});
        for indexed in [false, true] {
            let mut r = read(&two).unwrap();
            if indexed {
                r.references = Some(References::new(&r.resources));
            }
            assert_eq!(r.resolve("#o1", 0), Some(2));
            assert_eq!(r.resolve("#o1", 1), Some(3));
            let texts: Vec<Json> = std::iter::once(json!({"reference": "#o1"}))
                .chain((0..INDEXED_FROM).map(|n| json!({"reference": format!("Patient/p{n}")})))
                .collect();
            let texts: Vec<&Json> = texts.iter().collect();
            let list = ReferenceList::new(&texts, &r, 1);
            assert!(!list.names(&r.resources[2]) && list.names(&r.resources[3]));
            assert_eq!(list.resolved(), [3]);
        }
        let clash = report(vec![observation("o1"), observation("o1")]);
        assert_eq!(
            read(&clash).unwrap_err().to_string(),
            "DiagnosticReport.contained[1].id: another resource its container holds has the same id: references to it would be ambiguous"
        );
        assert_eq!(
            read(&report(vec![json!({"resourceType": "Observation"})]))
                .unwrap_err()
                .to_string(),
            "DiagnosticReport.contained[0].id: a contained resource needs the id its container names it by"
        );
    }

    #[test]
    fn request_shapes_and_errors() {
        let bare = json!({"resourceType": "Patient", "id": "p1"});
        let r = read(&bare).unwrap();
        assert_eq!(
            (r.resources.len(), r.resources[0].method),
            (1, Method::Update)
        );
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Encounter", "id": "e1"}, "request": {"method": "PUT", "url": "Encounter/e1"}}
        ]});
        let r = read(&tx).unwrap();
        assert_eq!(r.resources[0].method, Method::Create);
        assert!(r.resources[0].is("urn:uuid:1", 0));
        assert!(r.resources[1].is("Encounter/e1", 0));
        assert!(r.resources[1].is("https://fhir.example.org/r4/Encounter/e1", 0));
        let msg = json!({"resourceType": "Bundle", "type": "message", "entry": [
            {"resource": {"resourceType": "MessageHeader", "eventCoding": {"code": "A08"}}},
            {"resource": {"resourceType": "Patient"}}
        ]});
        assert_eq!(read(&msg).unwrap().event.as_deref(), Some("A08"));
        let cases: Vec<(Json, &str)> = vec![
            (
                json!([1]),
                "(root): not a FHIR resource: expected a JSON object",
            ),
            (
                json!({"name": "x"}),
                "(root): not a FHIR resource: no resourceType",
            ),
            (
                json!({"resourceType": "Patinet"}),
                "(root).resourceType: `Patinet` is not a FHIR R4 resource type",
            ),
            (
                json!({"resourceType": "Medication"}),
                "Medication: Medication is not a resource writeback translates (Patient, Encounter, Observation, DiagnosticReport, ChargeItem, Account, Practitioner, PractitionerRole, Organization, Location, RelatedPerson, Coverage, AllergyIntolerance, Condition, Procedure, ServiceRequest, Specimen, Device, Provenance)",
            ),
            (
                json!({"resourceType": "Bundle", "type": "searchset", "entry": []}),
                "Bundle.type: a writeback is a transaction, batch or message Bundle, not `searchset`",
            ),
            (
                json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": {"resourceType": "Patient"}, "request": {"method": "DELETE"}}]}),
                "Bundle.entry[0].request.method: `DELETE` cannot become an HL7 v2 message (POST or PUT)",
            ),
            (
                json!({"resourceType": "Bundle", "type": "message", "entry": [{"resource": {"resourceType": "Patient"}}]}),
                "Bundle.entry[0].resource: a message Bundle starts with its MessageHeader",
            ),
            (
                json!({"resourceType": "Bundle", "type": "batch", "entry": []}),
                "Bundle.entry: the Bundle holds no resource to write back",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(read(&input).unwrap_err().to_string(), want);
        }
    }
}
