"""Request bodies checked against the spec, so a write refuses what it cannot honour.

A write that silently ignored a field would let a test believe it renamed or changed something
it did not; so the writes that use this answer 400 for a field their operation does not declare
(as the server does for query parameters and ``opt_fields``), for a read-only one, for a
declared one the simulator does not model, and for a value of the wrong type or outside the
spec's enum. The field schemas come from ``spec.Operation.body_fields``.
"""
from __future__ import annotations

from typing import Any, Iterable

from . import spec
from .errors import bad_request
from .reads import Req

_TYPES: dict[str, Any] = {"string": str, "boolean": bool, "integer": int, "number": (int, float),
                          "array": list, "object": dict}


def checked_body(req: Req, method: str, path: str, supported: Iterable[str]) -> dict[str, Any]:
    """The request's ``data`` once every field passed; raises Asana's 400 envelope otherwise.

    Args:
        req: The request.
        method: The operation's method, e.g. ``"PUT"``.
        path: The operation's templated path, as in the spec.
        supported: The declared fields this write models; any other declared field is refused
            rather than dropped.
    """
    declared = spec.operation(method, path).body_fields
    allowed = set(supported)
    for name, value in req.body.items():
        prop = declared.get(name)
        if prop is None:
            raise bad_request(f"{name}: Unknown field for {method} {path}.")
        if prop.get("readOnly"):
            raise bad_request(f"{name}: Cannot write this property; it is read-only.")
        if name not in allowed:
            raise bad_request(f"{name}: The simulator does not support writing this field with "
                              f"{method} {path}.")
        _check_value(name, value, prop)
    return req.body


def _check_value(name: str, value: Any, prop: dict[str, Any]) -> None:
    if value is None:
        if prop.get("nullable"):
            return
        raise bad_request(f"{name}: Cannot be null.")
    typ = prop.get("type")
    expected = _TYPES.get(str(typ))
    wrong_number = typ in ("integer", "number") and isinstance(value, bool)
    if expected is not None and (not isinstance(value, expected) or wrong_number):
        raise bad_request(f"{name}: Not a valid {typ}: {value!r}.")
    if "enum" in prop and value not in prop["enum"]:
        options = ", ".join(str(v) for v in prop["enum"] if v is not None)
        raise bad_request(f"{name}: {value!r} is not one of {options}.")
