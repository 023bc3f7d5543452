"""Facts derived from Asana's OpenAPI description, loaded once per process.

The simulator must refuse exactly what Asana refuses (unknown query parameters,
unknown ``opt_fields``) and answer in Asana's shapes, so rather than hand-typing
hundreds of field names we read them from the spec. The spec read is the compact
``asana_oas.json`` committed beside this module (``python -m asana_sim.derive_spec``
makes it from Asana's full description), so nothing outside the repository is needed.
"""
from __future__ import annotations

import copy
import json
import os
import re
import threading
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

_LOCK = threading.Lock()
DERIVED_SPEC = Path(__file__).resolve().parent / "asana_oas.json"
CONDITIONAL = "[Conditional]"  # derive_spec.py's marker for Asana's "*Conditional*" fields


def spec_path() -> Path:
    """Where the spec lives: ``ASANA_OAS_PATH`` (a full YAML or derived JSON) wins over the
    committed derived file."""
    env = os.environ.get("ASANA_OAS_PATH")
    return Path(env) if env else DERIVED_SPEC


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """Parse the spec once per process."""
    path = spec_path()
    with open(path, encoding="utf-8") as fh:
        if path.suffix == ".json":
            return json.load(fh)  # type: ignore[no-any-return]
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(fh, Loader=loader)  # type: ignore[no-any-return]


def resolve(node: Any) -> Any:
    """Follow local ``$ref`` chains so callers can treat the spec as plain data."""
    spec = load_spec()
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].split("/")[1:]:
            target = target[part]
        node = target
    return node


def flat_properties(schema: Any) -> dict[str, Any]:
    """Merge ``allOf`` parts into one property map, as a reader of the schema would."""
    schema = resolve(schema)
    props: dict[str, Any] = {}
    for part in schema.get("allOf", []):
        props.update(flat_properties(part))
    props.update(schema.get("properties", {}))
    return props


class Operation:
    """One GET/POST/... of the spec: the parameters it declares and its ``opt_fields`` enum."""

    def __init__(self, path: str, method: str, op: dict[str, Any], common: list[Any]) -> None:
        self.path = path
        self.method = method
        params = [resolve(p) for p in common + op.get("parameters", [])]
        self.query_params = {p["name"] for p in params if p["in"] == "query"}
        self.required = {p["name"] for p in params if p["in"] == "query" and p.get("required")}
        self.opt_fields: frozenset[str] = frozenset()
        for p in params:
            if p["name"] == "opt_fields":
                self.opt_fields = frozenset(p["schema"]["items"]["enum"])
        self.responses = op.get("responses", {})
        self.request_body = op.get("requestBody")
        regex = re.sub(r"\{[^}]+\}", r"([^/]+)", path)
        self.regex = re.compile("^" + regex + "$")
        self.literal_segments = path.count("/") - path.count("{")

    @cached_property
    def body_fields(self) -> dict[str, Any]:
        """The fields the request body's ``data`` object declares, each its resolved schema
        (empty without a body): what a write may be sent, and with which values."""
        if self.request_body is None:
            return {}
        schema = resolve(self.request_body).get("content", {}).get("application/json", {}).get("schema")
        data = flat_properties(schema).get("data") if schema else None
        if data is None:
            return {}
        return {name: _merged(prop) for name, prop in flat_properties(data).items()}

    def response_schema(self, status: int = 200) -> dict[str, Any] | None:
        """The JSON schema of a response body, still holding ``$ref``s."""
        resp = self.responses.get(status) or self.responses.get(str(status))
        if resp is None:
            return None
        resp = resolve(resp)
        return resp.get("content", {}).get("application/json", {}).get("schema")


@lru_cache(maxsize=1)
def operations() -> dict[tuple[str, str], Operation]:
    """Every operation keyed by (METHOD, templated path)."""
    ops: dict[tuple[str, str], Operation] = {}
    for path, item in load_spec()["paths"].items():
        common = item.get("parameters", [])
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                ops[(method.upper(), path)] = Operation(path, method.upper(), op, common)
    return ops


def operation(method: str, path: str) -> Operation:
    """Look up an operation that the simulator implements; fails loudly on a typo."""
    return operations()[(method, path)]


@lru_cache(maxsize=None)
def compact_fields(resource_type: str) -> tuple[str, ...]:
    """Fields Asana returns by default: the ``*Compact`` schema minus "[Opt In]" ones."""
    name = _schema_name(resource_type, "Compact")
    if name is None:
        return ("gid", "resource_type", "name")
    props = flat_properties({"$ref": f"#/components/schemas/{name}"})
    return tuple(k for k, v in props.items() if "[Opt In]" not in str(resolve(v).get("description", "")))


_SCHEMA_BASE = {
    "task": "Task", "project": "Project", "section": "Section", "tag": "Tag", "story": "Story",
    "team": "Team", "user": "User", "workspace": "Workspace", "custom_field": "CustomField",
    "custom_field_setting": "CustomFieldSetting", "project_membership": "ProjectMembership",
    "team_membership": "TeamMembership", "attachment": "Attachment", "portfolio": "Portfolio",
    "enum_option": "EnumOption", "workspace_membership": "WorkspaceMembership",
    "portfolio_membership": "PortfolioMembership", "goal": "Goal",
    "goal_relationship": "GoalRelationship", "status_update": "StatusUpdate",
    "time_period": "TimePeriod", "time_tracking_entry": "TimeTrackingEntry",
    "project_template": "ProjectTemplate", "task_template": "TaskTemplate",
    "allocation": "Allocation", "audit_log_event": "AuditLogEvent",
}


def _schema_name(resource_type: str, suffix: str) -> str | None:
    base = _SCHEMA_BASE.get(resource_type)
    if base is None:
        return None
    schemas = load_spec()["components"]["schemas"]
    for cand in (base + suffix, base + "NormalResponse" if suffix == "Response" else "", base,
                 base + "Base"):
        if cand and cand in schemas:
            return cand
    return None


@lru_cache(maxsize=None)
def _full_properties(resource_type: str) -> dict[str, Any]:
    name = _schema_name(resource_type, "Response")
    if name is None:
        return {}
    return flat_properties({"$ref": f"#/components/schemas/{name}"})


def default_value(resource_type: str, field: str) -> Any:
    """A schema-valid value for a field the generator does not model.

    Asana always answers every requested field; for rarely used ones we answer null
    where the spec allows it, else the spec's own example, so responses stay valid.
    """
    value = _DEFAULTS.get(resource_type, {}).get(field, _UNSET)  # read without the lock once computed
    if value is _UNSET:
        with _LOCK:
            cache = _DEFAULTS.setdefault(resource_type, {})
            if field not in cache:
                cache[field] = _compute_default(_full_properties(resource_type).get(field))
            value = cache[field]
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


_DEFAULTS: dict[str, dict[str, Any]] = {}
_UNSET = object()


def _merged(prop: Any) -> dict[str, Any]:
    """A property's schema with its ``allOf`` parts folded in (a ``$ref`` plus a description)."""
    prop = resolve(prop)
    if "allOf" in prop and "type" not in prop:
        merged: dict[str, Any] = {}
        for part in prop["allOf"]:
            merged.update(resolve(part))
        merged.update({k: v for k, v in prop.items() if k != "allOf"})
        prop = merged
    return prop  # type: ignore[no-any-return]


def _compute_default(prop: Any) -> Any:
    if prop is None:
        return None
    prop = _merged(prop)
    if prop.get("nullable"):
        return None
    typ = prop.get("type")
    if "example" in prop and typ != "object":
        return prop["example"]
    if typ == "array":
        return []
    if typ == "boolean":
        return False
    if typ in ("integer", "number"):
        return 0
    if typ == "string":
        return ""
    if typ == "object" or "properties" in prop:
        return {k: _compute_default(v) for k, v in prop.get("properties", {}).items()} or None
    return None


def to_jsonschema(schema: Any, _depth: int = 0) -> Any:
    """Convert an OpenAPI 3.0 schema to plain JSON Schema (inline refs, honour ``nullable``).

    Used by the faithfulness tests; kept here because it is knowledge about the spec. A field
    the spec marks "*Conditional*" (a story's ``old_section``, ...) is null when it does not
    apply, so it validates as nullable.
    """
    conditional = isinstance(schema, dict) and schema.get("description") == CONDITIONAL
    schema = resolve(schema)
    conditional = conditional or (isinstance(schema, dict) and schema.get("description") == CONDITIONAL)
    if isinstance(schema, list):
        return [to_jsonschema(s, _depth + 1) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if _depth > 40:
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("example", "description", "x-insert-after", "x-env-variable", "readOnly",
                   "writeOnly", "nullable", "deprecated", "xml", "externalDocs", "discriminator",
                   "x-docs-override"):
            continue
        if key == "properties":
            out[key] = {k: to_jsonschema(v, _depth + 1) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_jsonschema(value, _depth + 1)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_jsonschema(v, _depth + 1) for v in value]
        elif key == "format":
            continue
        else:
            out[key] = value
    nullable = schema.get("nullable") or conditional or any(
        isinstance(part, dict) and "$ref" not in part
        and (part.get("nullable") or part.get("description") == CONDITIONAL)
        for part in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []))
    if nullable:
        if "allOf" in out or "oneOf" in out or "anyOf" in out:
            return {"anyOf": [out, {"type": "null"}]}
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out
