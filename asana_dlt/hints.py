"""Column hints from field lists, so every table and column exists, typed, from the first run on.

An all-null column would otherwise not be created, and a timestamp would land as text until a
value showed up. Pure functions of `settings.py`'s field lists.
"""

from typing import Any, Dict, Sequence

import dlt

from .settings import COLUMN_TYPES, LIST_FIELDS, NESTED_COLUMN_TYPES, OBJECT_FIELDS, REFERENCE_FIELDS


def columns(fields: Sequence[str]) -> Dict[str, Any]:
    """Typed, nullable columns for every scalar and reference field a resource asks for."""
    found: Dict[str, Any] = {}
    for field in fields:
        name, _, sub = field.partition(".")
        if name in LIST_FIELDS or name in OBJECT_FIELDS:
            continue
        if name in REFERENCE_FIELDS:
            found[f"{name}__gid"] = {"data_type": "text", "nullable": True}
        if sub:
            found[f"{name}__{sub}"] = {"data_type": COLUMN_TYPES.get(sub, "text"), "nullable": True}
        elif name not in REFERENCE_FIELDS:
            found[name] = {"data_type": COLUMN_TYPES.get(name, "text"), "nullable": True}
    return found


def nested(fields: Sequence[str]) -> Dict[str, Any]:
    """Typed columns for the child tables a resource's list fields become."""
    lists = {field.split(".")[0] for field in fields} & set(NESTED_COLUMN_TYPES)
    return {
        name: dlt.mark.make_nested_hints(
            columns={col: {"data_type": kind, "nullable": True} for col, kind in NESTED_COLUMN_TYPES[name].items()}
        )
        for name in sorted(lists)
    }


def deletion_columns(mode: str) -> Dict[str, Any]:
    """The tombstone columns of `tasks` and `stories`; in hard mode dlt deletes flagged rows."""
    flag: Dict[str, Any] = {"data_type": "bool", "nullable": True}
    if mode == "hard":
        flag["hard_delete"] = True
    return {"is_deleted": flag, "deleted_at": {"data_type": "timestamp", "nullable": True}}
