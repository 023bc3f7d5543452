"""Derives the compact `asana_oas.json` the simulator and the tests read from Asana's full
OpenAPI description, so that nothing reads outside the repository at run time.

Regenerate it (after Asana publishes a new description) with one command:

    python -m asana_sim.derive_spec path/to/asana_oas.yaml

What is kept: every path, its operations, their parameters, request bodies and response
schemas, and the components those reach. What is dropped: prose (descriptions, summaries),
vendor extensions and documentation links; a description that marks a field "[Opt In]" is kept
as just that marker, because it decides which fields Asana returns by default, and so is one
that marks it "*Conditional*" (kept as "[Conditional]"): such a field only has a value when it
applies, e.g. a story's `new_section` on a section change, and is null otherwise. The components'
examples stay (the simulator answers them for fields it does not model); the operations' go. The result carries its provenance and
Asana's license (Apache-2.0, see `ASANA_OAS_LICENSE`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

DERIVED_PATH = Path(__file__).resolve().parent / "asana_oas.json"
SOURCE = {
    "repository": "Asana/openapi",
    "file": "defs/asana_oas.yaml",
    "commit": "fc9f8dcf224efa8e06bfc955d91dd95aac7a398d",
    "license": "Apache-2.0 (Asana, Inc.); full text in asana_sim/ASANA_OAS_LICENSE",
}
_METHODS = ("get", "post", "put", "delete", "patch")
_OPERATION_KEYS = ("operationId", "parameters", "requestBody", "responses")
_DROPPED = {"summary", "externalDocs", "tags", "x-readme", "title", "security"}
OPT_IN = "[Opt In]"
CONDITIONAL = "[Conditional]"


def _strip(node: Any, examples: bool = True) -> Any:
    """Drops prose and vendor extensions, recursively; keeps the "[Opt In]" and "[Conditional]" markers.

    Keys of `properties` (and response codes) are names, not keywords: those are all kept.
    """
    if isinstance(node, list):
        return [_strip(value, examples) for value in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        key = str(key)
        if key == "properties" and isinstance(value, dict):
            out[key] = {str(name): _strip(prop, examples) for name, prop in value.items()}
            continue
        if key == "description" and isinstance(value, str):
            if OPT_IN in value:
                out[key] = OPT_IN
            elif "*Conditional*" in value:
                out[key] = CONDITIONAL
            continue
        if key in _DROPPED or key.startswith("x-") or (not examples and key in ("example", "examples")):
            continue
        out[key] = _strip(value, examples)
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def derive(spec: dict[str, Any], sha256: str) -> dict[str, Any]:
    """The compact description: paths and the components they reach, without prose."""
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        kept: dict[str, Any] = {}
        if "parameters" in item:
            kept["parameters"] = _strip(item["parameters"], examples=False)
        for method in _METHODS:
            if method in item:
                op = item[method]
                kept[method] = {k: _strip(op[k], examples=False) for k in _OPERATION_KEYS if k in op}
        paths[path] = kept

    # Keep only the components the paths reach, following refs transitively.
    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    _refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done or not ref.startswith("#/components/"):
            continue
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        value = _strip(spec["components"][section][name])
        components.setdefault(section, {})[name] = value
        _refs(value, pending)
    return {
        "openapi": spec.get("openapi"),
        "info": {"title": spec["info"].get("title"), "version": spec["info"].get("version")},
        "x-derived-from": dict(SOURCE, sha256=sha256),
        "servers": spec.get("servers"),
        "paths": paths,
        "components": {section: dict(sorted(items.items())) for section, items in sorted(components.items())},
    }


def derive_file(source: Path) -> str:
    """The committed file's exact text for a given full description."""
    raw = source.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(raw, Loader=loader)
    derived = derive(spec, hashlib.sha256(raw).hexdigest())
    return json.dumps(derived, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m asana_sim.derive_spec path/to/asana_oas.yaml", file=sys.stderr)
        return 2
    DERIVED_PATH.write_text(derive_file(Path(argv[0])), encoding="utf-8")
    print(f"wrote {DERIVED_PATH} ({DERIVED_PATH.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
