"""Wire format v1: the only contract between an agent and the collector.

A snapshot is what one agent observed in one window: a header naming the agent,
its sequence number and the window, plus optional sections. The collector
imports nothing else from the agent package, so everything both sides must agree
on (names, units, bucket bounds) is defined here.

Versioning: ``wire_version`` is ``MAJOR.MINOR``. A collector accepts any minor
version of the major it speaks (unknown fields are ignored) and refuses another
major version with a message that names both.

Limits: every field is bounded by what the store can hold (string lengths equal
to the columns', no NUL character, no lone surrogate, 64-bit integers, finite
numbers, timestamps between 2000 and a day from now), so that a snapshot the
model accepts is one the store can write; anything else is refused with a 422
naming the field, never a 5xx.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

WIRE_MAJOR = 1
WIRE_MINOR = 3
WIRE_VERSION = f"{WIRE_MAJOR}.{WIRE_MINOR}"
COLUMNS_SINCE = (1, 3)  # the first version whose collectors read ``Snapshot.columns``

# Latency histogram upper bounds in seconds, shared by agent and collector so
# that windows from any agent merge bucket by bucket. The last bucket is +Inf.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,126}$"
_NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL; pydantic refuses lone surrogates in a pattern-checked str
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
MAX_FEATURES = 1_000  # distinct feature names in one snapshot: columns cost names x samples
MAX_SAMPLES = 100_000
MAX_PROBE_INPUTS = 1_000  # golden inputs answered in one snapshot
MAX_PROBE_OUTPUTS = 1_000  # outputs of one golden input
MAX_CLOCK_SKEW = timedelta(days=1)  # how far past the collector's clock a timestamp may lie
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Int64 = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Strings of at most the column's length, with no NUL and no lone surrogate.
Tiny = Annotated[str, Field(max_length=64, pattern=_NO_NUL)]
Short = Annotated[str, Field(max_length=128, pattern=_NO_NUL)]
Long = Annotated[str, Field(max_length=256, pattern=_NO_NUL)]
Value = Annotated[str, Field(max_length=4096, pattern=_NO_NUL)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="service, environment or agent name")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range") from None
    if not EARLIEST <= value <= datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError(f"timestamp {value.isoformat()} is not between {EARLIEST.year} and a day from now")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields from newer minor versions are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=False)


class HostIdentity(WireModel):
    hostname: Long | None = None
    pod: Long | None = None
    namespace: Long | None = None
    node: Long | None = None
    container: Long | None = None


class Header(WireModel):
    wire_version: str = WIRE_VERSION
    agent_id: Name
    sequence: int = Field(ge=0, le=INT64_MAX, description="monotonically increasing per agent")
    service: Name
    environment: Name
    window_start: UtcDatetime
    window_end: UtcDatetime
    agent_version: Tiny
    host: HostIdentity = Field(default_factory=HostIdentity)
    snapshots_lost: dict[Short, Count] = Field(
        default_factory=dict,
        max_length=64,
        description="wire 1.1: snapshots this agent lost before delivery since its spool began, by reason "
        "(spool_bound, refused, server_error); cumulative",
    )

    @model_validator(mode="after")
    def _window_order(self) -> Header:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


# --- fingerprint -----------------------------------------------------------


class ConfigValue(WireModel):
    """One configuration value. Secrets carry ``redacted`` and a salted hash, never the value."""

    value: str | None = None
    redacted: bool = False
    hash: str | None = Field(default=None, description="salted PBKDF2 hash of a redacted value")

    @model_validator(mode="after")
    def _secret_has_no_value(self) -> ConfigValue:
        if self.redacted and self.value is not None:
            raise ValueError("a redacted config value must not carry its value")
        return self


class ConfigFile(WireModel):
    sha256: Sha256 | None = Field(default=None, description="hash of the file; absent if redacted")
    format: str
    keys: dict[str, ConfigValue] = Field(default_factory=dict)


class ConfigFingerprint(WireModel):
    env: dict[str, ConfigValue] = Field(default_factory=dict)
    files: dict[str, ConfigFile] = Field(default_factory=dict)


class PythonInfo(WireModel):
    version: str
    implementation: str


class CodeFingerprint(WireModel):
    python: PythonInfo
    packages: dict[str, str] = Field(default_factory=dict, description="normalised name -> version")
    packages_source: str = "importlib"
    image: str | None = None
    image_digest: str | None = None
    revision: str | None = None


class ArtifactFile(WireModel):
    sha256: Sha256
    size_bytes: int = Field(ge=0)


class Artifact(WireModel):
    kind: Literal["file", "directory"]
    sha256: Sha256 = Field(description="file hash, or hash of the directory manifest")
    size_bytes: int = Field(ge=0)
    manifest: dict[str, ArtifactFile] | None = None


class ArtifactAlias(WireModel):
    target: str
    sha256: Sha256


class ArtifactsFingerprint(WireModel):
    items: dict[str, Artifact] = Field(default_factory=dict)
    aliases: dict[str, ArtifactAlias] = Field(default_factory=dict)


class GpuIdentity(WireModel):
    index: int
    name: str
    uuid: str
    memory_total_bytes: int | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    compute_capability: str | None = None
    mig_mode: bool | None = None
    pci_bus_id: str | None = None
    vbios_version: str | None = None
    power_limit_watts: float | None = None


class ComputeFingerprint(WireModel):
    platform: str
    machine: str
    cpu_model: str | None = None
    cpu_count: int | None = None
    memory_bytes: int | None = None
    cgroup_cpu_limit: float | None = Field(default=None, description="CPUs; None if unlimited")
    cgroup_memory_limit_bytes: int | None = None
    gpus: list[GpuIdentity] = Field(default_factory=list)


class FingerprintBody(WireModel):
    code: CodeFingerprint
    config: ConfigFingerprint = Field(default_factory=ConfigFingerprint)
    artifacts: ArtifactsFingerprint = Field(default_factory=ArtifactsFingerprint)
    compute: ComputeFingerprint


class Fingerprint(FingerprintBody):
    hash: Sha256

    @model_validator(mode="before")
    @classmethod
    def _hash_matches(cls, data: Any) -> Any:
        # Checked on the JSON as sent, so that fields of a newer minor version count too.
        if isinstance(data, dict) and "hash" in data:
            expected = canonical_hash({k: v for k, v in data.items() if k != "hash"})
            if data["hash"] != expected:
                raise ValueError(f"fingerprint hash {data['hash']} does not match its content")
        return data


def canonical_hash(data: Any) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of JSON-like data."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint_hash(body: FingerprintBody) -> str:
    """Content hash of a fingerprint (its own ``hash`` field excluded)."""
    return canonical_hash(body.model_dump(mode="json", exclude={"hash"}))


def seal_fingerprint(body: FingerprintBody) -> Fingerprint:
    """Attach the content hash to a fingerprint body."""
    data = body.model_dump(mode="json", exclude={"hash"})
    return Fingerprint.model_validate({**data, "hash": canonical_hash(data)})


# --- requests, samples, GPU (filled by later agent features) ---------------


class RequestAggregates(WireModel):
    """Exact counts over every request in the window (not only sampled ones)."""

    requests: Count
    errors: dict[Short, Count] = Field(default_factory=dict, max_length=256, description="error class -> count")
    latency_bucket_bounds_s: list[NonNegative] = Field(default_factory=lambda: list(LATENCY_BUCKETS_S), max_length=256)
    latency_bucket_counts: list[Count] = Field(
        default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1),
        max_length=257,
        description="non-cumulative counts; one more than the bounds (+Inf)",
    )
    latency_sum_s: NonNegative = 0.0

    @model_validator(mode="after")
    def _buckets_consistent(self) -> RequestAggregates:
        if len(self.latency_bucket_counts) != len(self.latency_bucket_bounds_s) + 1:
            raise ValueError("latency_bucket_counts must have one entry more than the bounds")
        if sum(self.latency_bucket_counts) > self.requests:
            raise ValueError("latency histogram counts more requests than 'requests'")
        if sum(self.errors.values()) > self.requests:
            raise ValueError("errors exceed requests")
        return self

    def merge(self, other: RequestAggregates) -> RequestAggregates:
        """The aggregates of both windows together: exact, bucket by bucket."""
        if other.latency_bucket_bounds_s != self.latency_bucket_bounds_s:
            raise ValueError("cannot merge latency histograms with different bucket bounds")
        errors = dict(self.errors)
        for name, count in other.errors.items():
            errors[name] = errors.get(name, 0) + count
        return RequestAggregates(
            requests=self.requests + other.requests,
            errors=errors,
            latency_bucket_bounds_s=list(self.latency_bucket_bounds_s),
            latency_bucket_counts=[
                a + b for a, b in zip(self.latency_bucket_counts, other.latency_bucket_counts, strict=True)
            ],
            latency_sum_s=self.latency_sum_s + other.latency_sum_s,
        )


FeatureValue = Finite | Int64 | bool | Value | None


class Sample(WireModel):
    request_id: Long | None = None
    ts: UtcDatetime
    features: dict[Long, FeatureValue] = Field(default_factory=dict, max_length=MAX_FEATURES)
    prediction: Finite | Long | None = None
    confidence: Finite | None = None
    latency_s: NonNegative | None = None
    model_version: Short | None = None
    error: Short | None = None


class SampleColumns(WireModel):
    """wire 1.3: the samples of a window as columns, one list per field; position i of each list is sample i.

    The content of ``samples``, parsed a column at a time instead of an object per
    sample. Every list has one value per sample (null where a sample has none); a
    field left out is null for every sample, and so is a feature where its list holds null.
    """

    ts: list[AwareDatetime] = Field(min_length=1, max_length=MAX_SAMPLES)
    request_id: list[Long | None] | None = None
    features: dict[Long, list[FeatureValue]] = Field(default_factory=dict, max_length=MAX_FEATURES)
    prediction: list[Finite | Long | None] | None = None
    confidence: list[Finite | None] | None = None
    latency_s: list[NonNegative | None] | None = None
    model_version: list[Short | None] | None = None
    error: list[Short | None] | None = None

    @model_validator(mode="after")
    def _aligned(self) -> SampleColumns:
        n = len(self.ts)
        lists = {name: getattr(self, name) for name in _SAMPLE_FIELDS} | {
            f"features.{k}": v for k, v in self.features.items()
        }
        for name, values in lists.items():
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} values for {n} samples (ts)")
        self.ts = [value.astimezone(UTC) for value in self.ts]  # as the row form keeps them
        for value in (min(self.ts), max(self.ts)):
            _require_utc(value)
        return self

    @classmethod
    def of(cls, samples: list[Sample]) -> SampleColumns:
        """The column form of samples (``samples`` non-empty); a field no sample has is left out."""
        names = list(dict.fromkeys(name for sample in samples for name in sample.features))
        fields = {name: [getattr(s, name) for s in samples] for name in _SAMPLE_FIELDS}
        return cls(
            ts=[s.ts for s in samples],
            features={name: [s.features.get(name) for s in samples] for name in names},
            **{name: values for name, values in fields.items() if any(v is not None for v in values)},
        )


_SAMPLE_FIELDS = ("request_id", "prediction", "confidence", "latency_s", "model_version", "error")


class Outcome(WireModel):
    request_id: Long
    outcome: Finite | Long | Int64 | bool
    ts: UtcDatetime | None = None


class GpuMetrics(WireModel):
    """Per-GPU window summary; metric names follow dcgm-exporter field names where one exists."""

    uuid: Short
    index: int = Field(ge=0, le=INT32_MAX)
    name: Long | None = None
    lost: bool = False
    values: dict[Short, Finite] = Field(default_factory=dict, max_length=256)


class GpuSection(WireModel):
    devices: list[GpuMetrics] = Field(default_factory=list, max_length=64)


class ProbeResult(WireModel):
    """wire 1.2: one golden input's answer, its outputs by name (a JSON pointer, or a feature), or why it has none."""

    id: Long = Field(description="the input's id in the inputs file (with the entity for a feature server)")
    ts: UtcDatetime
    outputs: dict[Long, Finite | Value] = Field(default_factory=dict, max_length=MAX_PROBE_OUTPUTS)
    error: Short | None = Field(default=None, description="why the probe failed: connect, timeout, http_5xx, ...")


class ProbeSection(WireModel):
    """wire 1.2: golden probes, the same inputs replayed against the endpoint in every environment."""

    results: list[ProbeResult] = Field(default_factory=list, max_length=MAX_PROBE_INPUTS)


# --- snapshot ----------------------------------------------------------------


class UnsupportedWireVersion(ValueError):
    """Raised for a snapshot whose major wire version this side does not speak."""


def check_wire_version(version: Any) -> None:
    """Refuse a major version other than ours with a sentence naming both."""
    match = re.fullmatch(r"(\d+)\.(\d+)", str(version))
    if not match:
        raise UnsupportedWireVersion(
            f"wire_version {version!r} is not of the form MAJOR.MINOR; this side speaks {WIRE_VERSION}"
        )
    if int(match.group(1)) != WIRE_MAJOR:
        raise UnsupportedWireVersion(
            f"unsupported wire version {version}: this side speaks {WIRE_MAJOR}.x; "
            "upgrade the collector or pin the agent to a matching release"
        )


class Snapshot(WireModel):
    header: Header
    fingerprint: Fingerprint | None = None
    fingerprint_hash: Sha256 | None = Field(
        default=None, description="sent instead of the full fingerprint when unchanged"
    )
    requests: RequestAggregates | None = None
    samples: list[Sample] | None = Field(default=None, max_length=MAX_SAMPLES)
    columns: SampleColumns | None = Field(
        default=None, description="wire 1.3: the samples as columns, instead of samples"
    )
    outcomes: list[Outcome] | None = Field(default=None, max_length=MAX_SAMPLES)
    gpu: GpuSection | None = None
    probes: ProbeSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("header"), dict):
            check_wire_version(data["header"].get("wire_version", WIRE_VERSION))
        return data

    @model_validator(mode="after")
    def _fingerprint_consistent(self) -> Snapshot:
        if self.fingerprint is not None and self.fingerprint_hash not in (None, self.fingerprint.hash):
            raise ValueError("fingerprint_hash differs from the hash of the fingerprint sent")
        return self

    @model_validator(mode="after")
    def _one_sample_form(self) -> Snapshot:
        if self.samples and self.columns is not None:
            raise ValueError("send the samples as samples or as columns, not both")
        return self

    @model_validator(mode="after")
    def _bounded_features(self) -> Snapshot:
        """Distinct feature names over all samples are bounded too: each one becomes a column of every sample."""
        names: set[str] = set()
        for sample in self.samples or ():
            names.update(sample.features)
            if len(names) > MAX_FEATURES:
                raise ValueError(f"samples name more than {MAX_FEATURES} distinct features")
        return self

    @property
    def effective_fingerprint_hash(self) -> str | None:
        return self.fingerprint.hash if self.fingerprint else self.fingerprint_hash


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a v1 snapshot, as committed in ``agent/wire_schema_v1.json``."""
    schema = Snapshot.model_json_schema()
    schema["$id"] = f"https://envparity.dev/schemas/snapshot-v{WIRE_MAJOR}.json"
    schema["title"] = f"envparity snapshot, wire version {WIRE_VERSION}"
    return schema


def utcnow() -> datetime:
    return datetime.now(UTC)
