"""``opt_fields`` projection: answer exactly the fields asked for, compact otherwise.

Asana returns ``gid`` and ``resource_type`` always, and only the requested fields
besides; a referenced object named without subfields comes back in its compact form.
"""
from __future__ import annotations

from typing import Any, Callable

from . import spec
from .store import Record, Store

FieldTree = dict[str, "FieldTree"]


class FieldError(ValueError):
    """A requested field that the endpoint does not offer; the server answers 400."""


def parse_opt_fields(raw: str | None, allowed: frozenset[str]) -> FieldTree | None:
    """Turn ``a,b.c`` into a tree, refusing names outside the spec's enum for the endpoint."""
    if raw is None:
        return None
    tree: FieldTree = {}
    for name in (f.strip() for f in raw.split(",")):
        if not name:
            continue
        if name not in allowed:
            raise FieldError(name)
        node = tree
        for part in name.split("."):
            node = node.setdefault(part, {})
    return tree


def _permalink(store: Store, rec: Record) -> str:
    return rec.get("permalink_url") or f"https://app.asana.com/0/0/{rec['gid']}"


def _num_subtasks(store: Store, rec: Record) -> int:
    return len(store.subtasks.get(rec["gid"], ()))


def _task_custom_fields(store: Store, rec: Record) -> list[Record]:
    """Each custom field of the task's projects, carrying the task's value for it."""
    seen: dict[str, Record] = {}
    for proj in rec.get("projects", ()):
        for cf in proj.get("custom_fields", ()):
            seen.setdefault(cf["gid"], cf)
    values = rec.get("_cf", {})
    out = []
    for gid, cf in seen.items():
        entry = {k: v for k, v in cf.items() if not k.startswith("_") and k != "workspace"}
        typ = cf["type"]
        val = values.get(gid)
        if typ == "text":
            entry["text_value"] = val
            display = val
        elif typ == "number":
            entry["number_value"] = val
            display = None if val is None else f"{val:.2f}"
        elif typ == "enum":
            entry["enum_value"] = val
            display = val["name"] if val else None
        elif typ == "multi_enum":
            entry["multi_enum_values"] = val or []
            display = ", ".join(o["name"] for o in val) if val else None
        elif typ == "date":
            entry["date_value"] = {"date": val, "date_time": None} if val else None
            display = val
        else:
            entry["people_value"] = val or []
            display = ", ".join(u["name"] for u in val) if val else None
        entry["display_value"] = display
        out.append(entry)
    return out


COMPUTED: dict[str, dict[str, Callable[[Store, Record], Any]]] = {
    "task": {"num_subtasks": _num_subtasks, "custom_fields": _task_custom_fields,
             "permalink_url": _permalink},
    "project": {"permalink_url": _permalink},
}


def compact(store: Store, rec: Record) -> Record:
    """The default (compact) representation of a record."""
    kind = rec.get("resource_type", "")
    out: Record = {}
    computed = COMPUTED.get(kind, {})
    for f in spec.compact_fields(kind):
        if f in rec:
            out[f] = _render(store, rec[f], {})
        elif f in computed:
            out[f] = _render(store, computed[f](store, rec), {})
    return out


def project(store: Store, rec: Record, tree: FieldTree | None) -> Record:
    """Project one record through an opt_fields tree (None: compact)."""
    if tree is None:
        return compact(store, rec)
    kind = rec["resource_type"]
    out: Record = {"gid": rec["gid"], "resource_type": kind}
    computed = COMPUTED.get(kind, {})
    for f, sub in tree.items():
        if f in ("gid", "resource_type"):
            continue
        if f in computed:
            value = computed[f](store, rec)
        elif f in rec:
            value = rec[f]
        else:
            value = spec.default_value(kind, f)
        out[f] = _render(store, value, sub)
    return out


def _render(store: Store, value: Any, sub: FieldTree) -> Any:
    if isinstance(value, list):
        return [_render(store, v, sub) for v in value]
    if not isinstance(value, dict):
        return value
    if "resource_type" in value and "gid" in value:
        return project(store, value, sub) if sub else compact(store, value)
    if sub:
        return {k: _render(store, value.get(k), s) for k, s in sub.items()}
    return {k: _render(store, v, {}) for k, v in value.items() if not k.startswith("_")}
