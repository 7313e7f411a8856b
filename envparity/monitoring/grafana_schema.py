"""The dashboards' JSON in Grafana's current schema: what grafanalib emits, brought from its schema 12 to 39.

grafanalib 0.7 writes panels Grafana 11 and 12 read (``timeseries``, ``stat``
and ``table`` with ``fieldConfig.defaults.unit``) but stamps them with schema
version 12 and keeps fields of the old Angular model, which Grafana would
migrate or drop on every load: rows, ``style`` and ``sharedCrosshair``,
``span`` and ``height`` of a panel, the old table's ``columns`` and font size,
``intervalFactor`` and ``step`` of a query, tags of a variable, a table cell's
``displayMode`` (now ``cellOptions``). This module drops them, and every unset
(``null``) field of the dashboard, its time picker, its panels and their
queries, so the committed files read as Grafana saves a dashboard today.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 39  # Grafana 11.0 and later; 12 still reads it without migrating
_DASHBOARD = frozenset({"__inputs", "gnetId", "hideControls", "rows", "sharedCrosshair", "style"})
_PANEL = frozenset(
    {"cacheTimeout", "color", "columns", "editable", "error", "fontSize", "height", "mappings", "minSpan", "span"}
)
_TARGET = frozenset({"intervalFactor", "metric", "query", "step", "target"})
_VARIABLE = frozenset({"tagValuesQuery", "tagsQuery", "useTags"})
_INTERVAL_ONLY = frozenset({"auto", "auto_count", "auto_min"})  # options of an interval variable alone

Json = dict[str, Any]


def _without(item: Json, legacy: frozenset[str]) -> Json:
    return {key: value for key, value in item.items() if key not in legacy and value is not None}


def _table_cells(panel: Json) -> None:
    """A table's cell ``displayMode`` as the ``cellOptions`` Grafana has used since schema 38."""
    custom = panel["fieldConfig"]["defaults"].get("custom", {})
    if "displayMode" in custom:
        custom["cellOptions"] = {"type": custom.pop("displayMode")}


def _panel(panel: Json) -> Json:
    current = _without(panel, _PANEL)
    current["targets"] = [_without(target, _TARGET) for target in panel["targets"]]
    if current["type"] == "table":
        _table_cells(current)
    return current


def _variable(variable: Json) -> Json:
    """A variable without tags; without ``current`` when grafanalib set none (Grafana then picks the first option)."""
    current = _without(variable, _VARIABLE if variable["type"] == "interval" else _VARIABLE | _INTERVAL_ONLY)
    if current["current"]["value"] is None:
        del current["current"]
    return current


def current(model: Json) -> Json:
    """``model`` (grafanalib's dashboard JSON) in schema ``SCHEMA_VERSION``."""
    dashboard = _without(model, _DASHBOARD)
    dashboard["schemaVersion"] = SCHEMA_VERSION
    dashboard["timepicker"] = _without(model["timepicker"], frozenset())
    dashboard["panels"] = [_panel(panel) for panel in model["panels"]]
    dashboard["templating"] = {"list": [_variable(v) for v in model["templating"]["list"]]}
    return dashboard
