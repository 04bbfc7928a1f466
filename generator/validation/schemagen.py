"""Derives the strict JSON schema of a Katib Experiment manifest from Katib's typed
OpenAPI document (`api/openapi-spec/swagger.json` in kubeflow/katib).

Katib's CRD carries no schema at all, so this is the only typed description of the wire
shape. The derivation keeps every type reachable from `v1beta1.Experiment`, forbids
properties the OpenAPI does not name, pins apiVersion and kind, requires a name, and
leaves out `status` (a rendered spec never carries one). Run it when Katib's API changes:

    python -m generator.validation.schemagen path/to/swagger.json \
        generator/schemas/experiment-v1beta1.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = "v1beta1.Experiment"
_REF_PREFIX = "#/components/schemas/"
_DROPPED_KEYS = {"description", "default", "x-kubernetes-v2-schema"}


def derive(openapi: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = openapi["components"]["schemas"]
    needed: dict[str, Any] = {}
    pending = [ROOT]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        converted = _convert(components[name], pending)
        needed[name] = converted
    root = needed.pop(ROOT)
    root["properties"].pop("status", None)
    root["properties"]["apiVersion"] = {"const": "kubeflow.org/v1beta1"}
    root["properties"]["kind"] = {"const": "Experiment"}
    root["required"] = ["apiVersion", "kind", "metadata", "spec"]
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    needed[meta] = {**needed[meta], "required": ["name"]}
    reachable = _reachable(root, needed)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Katib v1beta1 Experiment (strict, derived from Katib's typed OpenAPI)",
        **root,
        "$defs": {name: needed[name] for name in sorted(reachable)},
    }


def _reachable(root: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """Definitions still referenced once `status` is gone."""
    seen: set[str] = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.removeprefix("#/$defs/")
                if name not in seen:
                    seen.add(name)
                    stack.append(defs[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return seen


def _convert(node: Any, pending: list[str]) -> Any:
    if isinstance(node, list):
        return [_convert(item, pending) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = node["$ref"].removeprefix(_REF_PREFIX)
        pending.append(target)
        return {"$ref": f"#/$defs/{target}"}
    if set(node) - _DROPPED_KEYS == {"allOf"} and len(node["allOf"]) == 1:
        return _convert(node["allOf"][0], pending)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            result[key] = {prop: _convert(sub, pending) for prop, sub in value.items()}
        else:
            result[key] = _convert(value, pending)
    if result.get("type") == "object" and "properties" in result:
        result.setdefault("additionalProperties", False)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = (Path(arg) for arg in argv)
    schema = derive(json.loads(source.read_text(encoding="utf-8")))
    target.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
