"""Where features, predictions and confidences sit in prediction request and response bodies.

Defaults fit the common serving protocols, and JSON pointers (RFC 6901) override
them for anything else:

* TF Serving / KServe v1: ``{"instances": [...]}`` -> ``{"predictions": [...]}``;
  an instance is an object (features by name) or a list (``f0``, ``f1``, ...);
* KServe v2 (Open Inference Protocol): ``{"inputs": [{"name", "shape", "data"}]}``
  -> ``{"outputs": [{"name", "shape", "data"}]}``, one instance per row;
* plain JSON: ``{"features": {...}}`` or the body's scalar fields, answered by
  ``{"prediction": ..., "confidence": ...}``.

A prediction that is an object gives ``prediction``/``label``/``class`` and
``confidence``/``probability``/``score``; a list of class probabilities gives the
arg max and its probability. Only scalar feature values are kept.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from typing import Any

from jsonpointer import JsonPointerException, resolve_pointer

from envparity.agent.recorder import Instance

DEFAULT_PATHS = ("/predict", "/v1/predict", "/v1/models/*:predict", "/v2/models/*/infer", "/invocations")
_PREDICTION_KEYS = ("prediction", "label", "class", "predicted", "output")
_CONFIDENCE_KEYS = ("confidence", "probability", "score", "proba")


@dataclass(frozen=True)
class CaptureConfig:
    """Which routes are predictions and where their fields sit."""

    paths: tuple[str, ...] = DEFAULT_PATHS  # glob patterns of prediction routes
    features_pointer: str | None = None  # in the request: a batch (list) or one instance (object)
    prediction_pointer: str | None = None  # in the response: a list (one per instance) or a scalar
    confidence_pointer: str | None = None
    request_id_header: str = "x-request-id"
    model_version_header: str = "x-model-version"
    max_body_bytes: int = 4 * 1024 * 1024  # bodies beyond this are passed through, not parsed
    max_instances: int = 256  # samples taken from one batch

    @functools.cached_property
    def _route(self) -> re.Pattern[str]:
        return re.compile("|".join(fnmatch.translate(p) for p in self.paths))

    def matches(self, path: str) -> bool:
        return self._route.match(path) is not None


_SCALARS = frozenset({type(None), bool, int, float, str})


def _scalar(value: Any) -> bool:
    return type(value) in _SCALARS


def _as_features(item: Any) -> dict[str, Any] | None:
    if isinstance(item, dict):  # parsed JSON: keys are strings already
        return {k: v for k, v in item.items() if type(v) in _SCALARS}
    if isinstance(item, list):
        return {f"f{i}": v for i, v in enumerate(item) if _scalar(v)}
    return {"f0": item} if _scalar(item) else None


def _rows(data: list[Any], shape: list[int] | None) -> list[Any]:
    """A KServe v2 tensor's flat ``data`` as one entry per row (a value or a list)."""
    if data and isinstance(data[0], list):
        return data
    if not shape or len(shape) < 2:
        return data
    width = 1
    for n in shape[1:]:
        width *= n
    return [data[i : i + width] for i in range(0, len(data), width)]


def _v2_features(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = [(t.get("name", f"input{i}"), _rows(t.get("data") or [], t.get("shape"))) for i, t in enumerate(inputs)]
    n = max((len(rows) for _, rows in columns), default=0)
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, rows in columns:
        for i, row in enumerate(rows[:n]):
            if isinstance(row, list):
                out[i].update({f"{name}_{j}": v for j, v in enumerate(row) if _scalar(v)})
            elif _scalar(row):
                out[i][name] = row
    return out


def request_features(body: Any, config: CaptureConfig) -> list[dict[str, Any] | None]:
    """The feature dict of every instance in a request body."""
    if config.features_pointer is not None:
        found = resolve_pointer(body, config.features_pointer)
        return [_as_features(i) for i in found] if isinstance(found, list) else [_as_features(found)]
    if isinstance(body, dict):
        if isinstance(body.get("instances"), list):
            return [_as_features(i) for i in body["instances"]]
        if isinstance(body.get("inputs"), list) and body["inputs"] and isinstance(body["inputs"][0], dict):
            return list(_v2_features(body["inputs"]))
        if isinstance(body.get("features"), list):
            return [_as_features(i) for i in body["features"]]
        if isinstance(body.get("features"), dict):
            return [_as_features(body["features"])]
        return [_as_features(body)]
    if isinstance(body, list):
        return [_as_features(i) for i in body]
    return []


def _output(item: Any) -> tuple[Any, float | None]:
    """(prediction, confidence) of one instance's output."""
    if isinstance(item, dict):
        prediction = next((item[k] for k in _PREDICTION_KEYS if k in item), None)
        confidence = next((item[k] for k in _CONFIDENCE_KEYS if k in item), None)
        return (prediction if prediction is not None else confidence), confidence
    if isinstance(item, list) and item and all(isinstance(v, int | float) for v in item):
        best = max(range(len(item)), key=item.__getitem__)
        return (best, float(item[best])) if len(item) > 1 else (item[0], None)
    return item, None


def response_outputs(body: Any, config: CaptureConfig) -> list[tuple[Any, float | None]]:
    """(prediction, confidence) of every instance in a response body."""
    if config.prediction_pointer is not None:
        found = resolve_pointer(body, config.prediction_pointer)
        outputs = [_output(i) for i in found] if isinstance(found, list) else [_output(found)]
        if config.confidence_pointer is not None:
            conf = resolve_pointer(body, config.confidence_pointer, None)
            confs = conf if isinstance(conf, list) else [conf] * len(outputs)
            outputs = [(p, c) for (p, _), c in zip(outputs, confs, strict=False)]
        return outputs
    if isinstance(body, dict):
        if isinstance(body.get("predictions"), list):
            return [_output(i) for i in body["predictions"]]
        if isinstance(body.get("outputs"), list) and body["outputs"] and isinstance(body["outputs"][0], dict):
            first = body["outputs"][0]
            return [_output(r) for r in _rows(first.get("data") or [], first.get("shape"))]
        if "prediction" in body or "predictions" in body:
            value = body.get("prediction", body.get("predictions"))
            confidence = body.get("confidence")
            if isinstance(value, list):
                confs = confidence if isinstance(confidence, list) else [confidence] * len(value)
                return [(v, c) for v, c in zip(value, confs, strict=False)]
            return [(value, confidence)]
    if isinstance(body, list):
        return [_output(i) for i in body]
    return [_output(body)]


def instances(request: Any, response: Any, config: CaptureConfig) -> list[Instance]:
    """One (features, prediction, confidence) per instance of a batch; empty when nothing could be read."""
    try:
        features = request_features(request, config)[: config.max_instances]
        outputs = response_outputs(response, config) if response is not None else []
    except (JsonPointerException, TypeError, ValueError, KeyError, IndexError):
        return []
    out: list[Instance] = []
    for i, feats in enumerate(features):
        prediction, confidence = outputs[i] if i < len(outputs) else (None, None)
        out.append((feats, prediction, confidence if isinstance(confidence, int | float) else None))
    return out
