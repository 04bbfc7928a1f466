"""Derives a strict JSON schema of a Kubernetes batch/v1 Job from the `kubernetes` Python
client's model metadata (`openapi_types` and `attribute_map` of `V1Job` and every model it
reaches). Unknown fields and wrong types are rejected, as Katib's `validateTrialJob`
rejects anything that does not convert into a `batchv1.Job`. Resource quantities accept
numbers as well as strings, as the API server does. Run it when the client changes:

    python -m generator.validation.kubeschema generator/schemas/job-batch-v1.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = "V1Job"
QUANTITY_FIELDS = {"limits", "requests", "capacity", "allocatable", "hard", "used", "overhead"}
_LIST = re.compile(r"^[lL]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\((\w+), (.+)\)|Dict\[(\w+), (.+)\])$")
_QUANTITY = {"anyOf": [{"type": "string"}, {"type": "number"}]}
_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
    "object": {},
}


def derive() -> dict[str, Any]:
    from kubernetes import client  # only needed to regenerate the vendored file

    defs: dict[str, Any] = {}
    pending = [ROOT]
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        model = getattr(client, name)
        properties = {
            model.attribute_map[attr]: _type(kind, pending, attr)
            for attr, kind in sorted(model.openapi_types.items())
        }
        defs[name] = {"type": "object", "properties": properties, "additionalProperties": False}
    root = defs.pop(ROOT)
    root["properties"]["apiVersion"] = {"const": "batch/v1"}
    root["properties"]["kind"] = {"const": "Job"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Kubernetes batch/v1 Job (strict, derived from the kubernetes client models)",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def _type(kind: str, pending: list[str], attribute: str) -> dict[str, Any]:
    listed = _LIST.match(kind)
    if listed:
        return {"type": "array", "items": _type(listed.group(1), pending, "")}
    mapped = _DICT.match(kind)
    if mapped:
        value_kind = mapped.group(2) or mapped.group(4)
        values = _QUANTITY if attribute in QUANTITY_FIELDS else _type(value_kind, pending, "")
        return {"type": "object", "additionalProperties": values}
    if kind in _SCALARS:
        return dict(_SCALARS[kind])
    pending.append(kind)
    return {"$ref": f"#/$defs/{kind}"}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    Path(argv[0]).write_text(json.dumps(derive(), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
