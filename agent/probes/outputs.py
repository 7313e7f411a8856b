"""The outputs of one golden answer: what is compared across environments, each under a stable name.

By default every number and string of the answer is an output named by its JSON
pointer (RFC 6901: ``/predictions/0/score``); booleans count as the strings
``true`` and ``false``, nulls as nothing. ``pointers`` (``--output``) keep only
what lies under them. A feature server's answer in Feast's ``get-online-features``
shape (``metadata.feature_names`` beside ``results[].values``, asked with
``entities``) is read per entity instead: one row of outputs per entity, each named
by its feature, so that a difference names the feature and the entity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jsonpointer import JsonPointerException, resolve_pointer

Outputs = dict[str, float | int | str]


class MissingOutput(LookupError):
    """An output pointer that finds nothing in the answer."""


def extract(answer: Any, request: Any, pointers: Sequence[str] = ()) -> list[tuple[str, Outputs]]:
    """The answer's outputs as (entity, outputs) rows: one row with entity ``""``, or one per entity asked.

    Raises ``MissingOutput`` naming the first pointer that finds nothing.
    """
    if pointers:
        outputs: Outputs = {}
        for pointer in pointers:
            try:
                found = resolve_pointer(answer, pointer)
            except JsonPointerException:
                raise MissingOutput(f"no output at {pointer}") from None
            outputs.update(leaves(found, pointer))
        return [("", outputs)]
    rows = feature_rows(answer, request)
    return rows if rows is not None else [("", leaves(answer))]


def leaves(value: Any, prefix: str = "") -> Outputs:
    """Every number and string under ``value``, named by its JSON pointer (``prefix`` names ``value`` itself)."""
    out: Outputs = {}
    stack = [(prefix, value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((f"{pointer}/{_escape(str(key))}", child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{pointer}/{index}", child) for index, child in enumerate(item))
        elif isinstance(item, bool):
            out[pointer] = "true" if item else "false"
        elif isinstance(item, int | float | str):
            out[pointer] = item
    return dict(sorted(out.items()))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def feature_rows(answer: Any, request: Any) -> list[tuple[str, Outputs]] | None:
    """A Feast online-features answer as one row per entity asked (``user_id=2``); None for an answer of another shape.

    Row ``i`` of the answer belongs to entity ``i`` of the request's ``entities`` lists; the
    entity columns the answer repeats are not outputs.
    """
    entities = request.get("entities") if isinstance(request, Mapping) else None
    shape = _feast_shape(answer)
    if not isinstance(entities, Mapping) or not entities or shape is None:
        return None
    names, results = shape
    columns = [r["values"] for r in results if isinstance(r, Mapping) and isinstance(r.get("values"), list)]
    lengths = {len(c) for c in columns} | {len(k) if isinstance(k, list) else -1 for k in entities.values()}
    if len(columns) != len(names) or len(lengths) != 1 or -1 in lengths:
        return None
    count = lengths.pop()
    features = [(name, column) for name, column in zip(names, columns, strict=True) if name not in entities]
    return [
        (
            ",".join(f"{key}={values[i]}" for key, values in entities.items()),
            {f"{name}{pointer}": v for name, column in features for pointer, v in leaves(column[i]).items()},
        )
        for i in range(count)
    ]


def _feast_shape(answer: Any) -> tuple[list[str], list[Any]] | None:
    """A Feast answer's feature names (``metadata.feature_names``) and its list of ``results``; else None."""
    if not isinstance(answer, Mapping) or not isinstance(results := answer.get("results"), list):
        return None
    metadata = answer.get("metadata")
    names = metadata.get("feature_names") if isinstance(metadata, Mapping) else None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return names, results
    return None
