"""References by gid: a row names another object by its gid, never by a copy of its name.

Asana's compact objects (a task's `assignee`, `parent`, `memberships.section`, a story's
`created_by`, a custom field value's `enum_value`) carry the referenced object's name as it is
when the row is read. Tasks and stories are read once and kept until they change, so a renamed
user, section, project, tag, parent task or enum option would leave yesterday's name in them,
run after run. So in the tables kept between runs (`tasks`, `stories`, the per-task tables,
`sections`), a reference keeps only its `gid` (and `resource_type`); the name lives in the
referenced object's own table, which is listed whole every run (users, projects, sections, tags,
teams, workspaces, custom fields with their enum options) or kept current by events (tasks),
and SQL joins for it. A custom field value keeps its typed value (`text_value`,
`number_value`, `date_value`, `enum_value__gid`, ...) but not `display_value` or the field's
`name`, which Asana computes from current names.
"""

from typing import Any, Dict, List

KEPT = ("gid", "resource_type")
# A custom field value: what the task itself holds, not what Asana derives from other objects.
CUSTOM_FIELD_VALUE = ("gid", "resource_type", "type", "resource_subtype", "text_value", "number_value", "date_value")
CUSTOM_FIELD_REFERENCES = ("enum_value", "multi_enum_values", "people_value")


def by_gid(record: Any) -> Any:
    """The record with every reference reduced to its gid, in place (a dlt map step)."""
    if not isinstance(record, dict):
        return record
    for key, value in record.items():
        kind = type(value)
        if kind is dict:
            record[key] = _reference(value)
        elif kind is list and value and type(value[0]) is dict:
            record[key] = [_custom_field_value(v) for v in value] if key == "custom_fields" else [_reference(v) for v in value]
    return record


def _compact(value: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value[key] for key in KEPT if key in value}


def _reference(value: Dict[str, Any]) -> Dict[str, Any]:
    """A compact object keeps its gid and the references inside it (a like's `user`); an object
    of values (a membership, a story's `new_dates`) keeps its values, its references reduced."""
    if "gid" in value:
        kept = _compact(value)
        for key, inner in value.items():
            if type(inner) is dict and "gid" in inner:
                kept[key] = _compact(inner)
        return kept
    return {key: _reference(inner) if type(inner) is dict else inner for key, inner in value.items()}


def _custom_field_value(value: Dict[str, Any]) -> Dict[str, Any]:
    kept = {key: value[key] for key in CUSTOM_FIELD_VALUE if key in value}
    for key in CUSTOM_FIELD_REFERENCES:
        inner = value.get(key)
        if type(inner) is dict:
            kept[key] = _compact(inner)
        elif type(inner) is list:
            kept[key] = [_compact(v) for v in inner if type(v) is dict]
    return kept


def flat_by_gid(row: Dict[str, Any], references: List[str]) -> Dict[str, Any]:
    """A row read back from the warehouse without the name columns an older version loaded
    (`project__name`), so a row kept as loaded names nothing by a stale name."""
    for reference in references:
        row.pop(f"{reference}__name", None)
    return row
