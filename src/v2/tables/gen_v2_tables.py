#!/usr/bin/env python3
"""Writes segments.csv and datatypes.csv: the HL7 v2 segment and data type definitions the
mapping loader checks field and component references against; and codes.csv: the codes of each
HL7 table and the versions whose table has them, so that a writer sends only codes its version
defines.

Every version from 2.1 to 2.8.2 is merged: a field or component is listed if any version
defines it, with its data type in the latest version that has it (and, in `earlier`, the versions
where it had another type or none, the versions that require it and the ones that allow another
number of repetitions), so references to fields later versions withdrew (AL1-6) still
check and a writer can use the type of the version it writes. Source: the structure definitions shipped with
hl7apy (pip install hl7apy==1.3.5), which transcribe the HL7 standards. Usage:

    python3 gen_v2_tables.py OUT_DIR
"""
import importlib
import sys

# Errors in the source, corrected here: hl7apy 1.3.5 repeats OBR-26 (Parent Result, PRL) as the
# v2.7 OBR-27, which is Quantity/Timing, withdrawn in v2.7 as ORC-7 is.
ERRATA = {("2_7", "OBR", 27): ("QUANTITY_TIMING", "WD")}

VERSIONS = ["2_1", "2_2", "2_3", "2_3_1", "2_4", "2_5", "2_5_1", "2_6", "2_7", "2_8", "2_8_1", "2_8_2"]


def absent(t):
    """A withdrawn field or component (type WD) is one the version does not have."""
    return "" if t == "WD" else t


def main(out):
    seg_fields = {}
    seg_types = {}
    dt_comps = {}
    dt_types = {}
    dt_versions = {}
    dt_required = {}
    seg_versions = {}
    seg_required = {}
    seg_max = {}
    for v in VERSIONS:
        segments = importlib.import_module(f"hl7apy.v{v}.segments")
        seg_versions[v.replace("_", ".")] = set(segments.SEGMENTS)
        datatypes = importlib.import_module(f"hl7apy.v{v}.datatypes")
        for seg, spec in segments.SEGMENTS.items():
            for entry in (spec[1] if len(spec) > 1 else ()):
                # A few 2.1 definitions are malformed (ORO); they add nothing later versions lack.
                if not isinstance(entry, tuple) or len(entry) != 4 or not str(entry[0]).startswith(seg + "_"):
                    continue
                name, child, (lo, hi), _ = entry
                num = int(name.split("_")[-1])
                label, dt = ERRATA.get((v, seg, num), (child[3], child[2]))
                seg_fields.setdefault(seg, {})[num] = (label, dt, "*" if hi == -1 else hi)
                seg_types.setdefault((seg, num), {})[v.replace("_", ".")] = dt
                seg_max.setdefault((seg, num), {})[v.replace("_", ".")] = "*" if hi == -1 else str(hi)
                if lo >= 1:
                    seg_required.setdefault((seg, num), []).append(v.replace("_", "."))
        dt_versions[v.replace("_", ".")] = set(datatypes.DATATYPES_STRUCTS)
        for dt, comps in datatypes.DATATYPES_STRUCTS.items():
            for entry in comps:
                name, sub = entry[0], entry[1]
                num = int(name.split("_")[-1])
                dt_comps.setdefault(dt, {})[num] = (sub[3], sub[2])
                dt_types.setdefault((dt, num), {})[v.replace("_", ".")] = sub[2]
                # Components are required only from 2.6 on (CX.1; CX.5 and XTN.3 from 2.7).
                if entry[2][0] >= 1:
                    dt_required.setdefault((dt, num), []).append(v.replace("_", "."))
    with open(f"{out}/segments.csv", "w") as f:
        f.write("segment,field,name,datatype,max,earlier,required,max_earlier\n")
        for seg in sorted(seg_fields):
            for num in sorted(seg_fields[seg]):
                label, dt, hi = seg_fields[seg][num]
                # Versions whose type differs from the latest: what a writer of that version uses.
                # A version that has the segment but not the field (NTE-5 before 2.6) has an empty
                # type, so a writer of that version leaves the field out.
                types = seg_types[(seg, num)]
                has_segment = [v for v in (x.replace("_", ".") for x in VERSIONS) if seg in seg_versions[v]]
                earlier = ";".join(
                    f"{v}={absent(types.get(v, ''))}"
                    for v in has_segment
                    if absent(types.get(v, "")) != dt
                )
                # The versions that require the field; `all` when every version defining it does.
                required = seg_required.get((seg, num), [])
                defining = [v for v in types]
                required = "all" if required and required == defining else ";".join(required)
                # Versions that allow another number of repetitions (PID-5 repeats from 2.3.1).
                maxes = seg_max[(seg, num)]
                max_earlier = ";".join(f"{v}={m}" for v, m in maxes.items() if m != str(hi))
                f.write(f"{seg},{num},{label},{dt},{hi},{earlier},{required},{max_earlier}\n")
    with open(f"{out}/datatypes.csv", "w") as f:
        f.write("datatype,component,name,datatype_of_component,earlier,required\n")
        for dt in sorted(dt_comps):
            for num in sorted(dt_comps[dt]):
                label, sub = dt_comps[dt][num]
                # As for fields: the versions where the component had another type, or none
                # (XTN.1 is withdrawn from 2.6).
                types = dt_types[(dt, num)]
                has_type = [v for v in (x.replace("_", ".") for x in VERSIONS) if dt in dt_versions[v]]
                earlier = ";".join(
                    f"{v}={absent(types.get(v, ''))}"
                    for v in has_type
                    if absent(types.get(v, "")) != sub
                )
                required = ";".join(dt_required.get((dt, num), []))
                f.write(f"{dt},{num},{label},{sub},{earlier},{required}\n")

    write_codes(out)


# Versions whose tables hl7apy transcribes (it has none before 2.3.1).
TABLE_VERSIONS = [v for v in VERSIONS if v not in ("2_1", "2_2", "2_3")]

# Table 0396 (coding systems) is open: HL7 registers new coding systems between versions, and
# senders name them in every version; its transcription lacks ones in use long before it lists them.
OPEN_TABLES = {"HL70396"}


def ranges(present):
    """`2.3.1-2.8.2`, or several `;`-separated runs where a code left a table and came back."""
    runs, start, prev = [], None, None
    for v in TABLE_VERSIONS:
        if v in present:
            start = start or v
            prev = v
        elif start:
            runs.append((start, prev))
            start = None
    if start:
        runs.append((start, prev))
    name = lambda v: v.replace("_", ".")
    return ";".join(name(a) if a == b else f"{name(a)}-{name(b)}" for a, b in runs)


def write_codes(out):
    codes = {}
    for v in TABLE_VERSIONS:
        tables = importlib.import_module(f"hl7apy.v{v}.tables")
        for table, entry in tables.TABLES.items():
            if table in OPEN_TABLES:
                continue
            for code in entry[1]:
                # A code that a CSV line cannot hold as it is (none in 1.3.5), and the transcription's
                # placeholder `...`, are left out.
                if not code or code == "..." or any(ch in code for ch in ",\n\r\""):
                    continue
                codes.setdefault((table, code), set()).add(v)
    with open(f"{out}/codes.csv", "w") as f:
        f.write("table,versions,code\n")
        for (table, code) in sorted(codes):
            f.write(f"{table},{ranges(codes[(table, code)])},{code}\n")


if __name__ == "__main__":
    main(sys.argv[1])
