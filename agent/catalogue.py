"""The metric catalogue: every metric the collector and the agent export, in one place.

Each entry has its name, type, help text, labels and unit. The exporters build
their instruments and metric families from it, and the dashboard and alert-rule
builders read it, so that a query can only name what is exported (a test checks
every generated query against this catalogue).

Names follow Prometheus conventions (``envparity_`` prefix, base units,
``_total`` on counters, ``_seconds``/``_bytes``/``_ratio`` suffixes). The GPU
series keep dcgm-exporter's metric names (``DCGM_FI_DEV_*``) and types (the ECC
error totals are counters) so that existing GPU dashboards read them; their
labels are snake_case (``uuid``, ``model_name``, ``hostname``) because
dcgm-exporter's ``modelName`` fails ``promtool check metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

MetricType = Literal["counter", "gauge", "histogram"]
Component = Literal["collector", "agent"]

PAIR = ("service", "baseline", "target")
CHECK = (*PAIR, "layer", "check", "subject")
ENVIRONMENT = ("service", "environment")
GPU = ("gpu", "uuid", "model_name", "hostname", "service", "environment")
# The value envparity_check_status exports for each check status: the verdict alert rules and dashboards compare.
CHECK_STATUS_VALUES: dict[str, int] = {"ok": 0, "warn": 1, "fail": 2, "insufficient_data": -1}
_STATUS_TEXT = ", ".join(f"{value} {status.replace('_', ' ')}" for status, value in CHECK_STATUS_VALUES.items())
# Counters and histograms carry no ``_created`` series: nothing reads them, and they double the series count.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

INGEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric family."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""  # base unit: seconds, bytes, ratio, percent, celsius, watts, megahertz, mebibytes, ...
    component: Component = "collector"

    @property
    def series(self) -> tuple[str, ...]:
        """The sample names a scrape shows for this family."""
        if self.type == "histogram":
            return tuple(f"{self.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        return (self.name,)

    def instrument(self, registry: CollectorRegistry, buckets: tuple[float, ...] = ()) -> Counter | Gauge | Histogram:
        """A prometheus-client instrument registered in ``registry``."""
        labels = list(self.labels)
        if self.type == "counter":
            return Counter(self.name, self.help, labels, registry=registry)
        if self.type == "gauge":
            return Gauge(self.name, self.help, labels, registry=registry)
        return Histogram(self.name, self.help, labels, registry=registry, buckets=buckets or INGEST_BUCKETS_S)

    def family(self) -> GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily:
        """An empty metric family for a custom collector's ``collect()``."""
        labels = list(self.labels)
        if self.type == "counter":
            return CounterMetricFamily(self.name, self.help, labels=labels)
        if self.type == "gauge":
            return GaugeMetricFamily(self.name, self.help, labels=labels)
        return HistogramMetricFamily(self.name, self.help, labels=labels)


def _gpu(name: str, text: str, unit: str) -> MetricSpec:
    return MetricSpec(name, "gauge", text, GPU, unit)


METRICS: tuple[MetricSpec, ...] = (
    # --- collector: ingest -------------------------------------------------------------
    MetricSpec(
        "envparity_snapshots_ingested_total",
        "counter",
        "Snapshots received, by outcome (stored, duplicate, or the refusal reason).",
        ("outcome",),
    ),
    MetricSpec(
        "envparity_ingest_duration_seconds",
        "histogram",
        "Time to decode, validate and store one snapshot.",
        (),
        "seconds",
    ),
    MetricSpec("envparity_rows_stored_total", "counter", "Rows written to the store, by table.", ("table",)),
    MetricSpec(
        "envparity_store_memory_bytes",
        "gauge",
        "Memory DuckDB's buffer manager holds (duckdb_memory()); past its limit it spills to disk. DuckDB only.",
        (),
        "bytes",
    ),
    MetricSpec(
        "envparity_store_memory_limit_bytes",
        "gauge",
        "DuckDB's memory limit (--duckdb-memory-limit). DuckDB only.",
        (),
        "bytes",
    ),
    # --- collector: what the environments report --------------------------------------------
    MetricSpec(
        "envparity_environment_last_snapshot_timestamp_seconds",
        "gauge",
        "Unix time the newest snapshot of the environment arrived (agent freshness).",
        ENVIRONMENT,
        "seconds",
    ),
    MetricSpec(
        "envparity_environment_agents",
        "gauge",
        "Agents that sent a snapshot of the environment within the freshness period.",
        ENVIRONMENT,
    ),
    MetricSpec(
        "envparity_requests_total",
        "counter",
        "Requests served by the environment, counted by its agents (every request, not only sampled ones).",
        ENVIRONMENT,
    ),
    MetricSpec(
        "envparity_request_errors_total",
        "counter",
        "Requests that failed, by error class, counted by the environment's agents.",
        (*ENVIRONMENT, "error_class"),
    ),
    MetricSpec(
        "envparity_request_duration_seconds",
        "histogram",
        "Request latency measured by the environment's agents (exact histogram of every request).",
        ENVIRONMENT,
        "seconds",
    ),
    MetricSpec(
        "envparity_environment_snapshots_lost_total",
        "counter",
        "Snapshots the environment's agents lost before delivery, as they report them, by reason (spool_bound, "
        "refused, server_error).",
        (*ENVIRONMENT, "reason"),
    ),
    MetricSpec(
        "envparity_environment_snapshots_missing",
        "gauge",
        "Sequence numbers missing between the first and the last snapshot the collector holds of each of the "
        "environment's agents (lost, or still on their way).",
        ENVIRONMENT,
    ),
    MetricSpec(
        "envparity_fingerprint_changes_total",
        "counter",
        "Fingerprints never seen before, first reported by the environment (package, config, artifact changes).",
        ENVIRONMENT,
    ),
    # --- collector: parity ----------------------------------------------------------------
    MetricSpec("envparity_parity_score", "gauge", "Parity score 0-100 of the latest evaluation.", PAIR, "percent"),
    MetricSpec(
        "envparity_parity_layer_score",
        "gauge",
        "Parity sub-score 0-100 per layer or fingerprint dimension.",
        (*PAIR, "layer"),
        "percent",
    ),
    MetricSpec("envparity_check_status", "gauge", f"Check status: {_STATUS_TEXT}.", CHECK),
    MetricSpec("envparity_check_value", "gauge", "Measured value of a numeric check.", CHECK),
    MetricSpec("envparity_failing_checks", "gauge", "Failing checks per layer.", (*PAIR, "layer")),
    MetricSpec(
        "envparity_fingerprint_parity_ratio",
        "gauge",
        "Share of the fingerprint entries (packages, config keys, artifacts, compute) equal in target and baseline.",
        (*PAIR, "dimension"),
        "ratio",
    ),
    MetricSpec(
        "envparity_probable_cause",
        "gauge",
        "Score of the top probable causes of the latest evaluation (rank 1 most likely): a fingerprint difference "
        "(cause) and its dimension.",
        (*PAIR, "rank", "cause", "dimension"),
    ),
    MetricSpec(
        "envparity_evaluation_duration_seconds",
        "gauge",
        "Duration of the last scheduled evaluation cycle.",
        (),
        "seconds",
    ),
    MetricSpec(
        "envparity_evaluation_last_success_timestamp_seconds",
        "gauge",
        "Unix time the last scheduled evaluation cycle finished.",
        (),
        "seconds",
    ),
    # --- collector: GPUs (dcgm-exporter names) --------------------------------------------------
    _gpu("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "percent"),
    _gpu("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", "percent"),
    _gpu("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", "mebibytes"),
    _gpu("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", "mebibytes"),
    _gpu("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB).", "mebibytes"),
    _gpu("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "celsius"),
    _gpu("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "watts"),
    _gpu("DCGM_FI_DEV_POWER_MGMT_LIMIT", "Power management limit (in W).", "watts"),
    _gpu("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", "megahertz"),
    _gpu("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", "megahertz"),
    _gpu("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "Current clock throttle reasons (bitmask).", ""),
    # counters, as dcgm-exporter types them, under its names (no ``_total`` added)
    MetricSpec("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors.", GPU),
    MetricSpec("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors.", GPU),
    _gpu("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "PCIe TX throughput (in KB/s).", "kilobytes_per_second"),
    _gpu("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "PCIe RX throughput (in KB/s).", "kilobytes_per_second"),
    _gpu("envparity_gpu_processes", "Compute processes running on the GPU.", ""),
    _gpu("envparity_gpu_lost", "1 when the GPU stopped answering NVML.", ""),
    # --- agent ----------------------------------------------------------------------------
    MetricSpec("envparity_agent_windows_sealed_total", "counter", "Windows sealed into snapshots.", component="agent"),
    MetricSpec(
        "envparity_agent_snapshots_sent_total", "counter", "Snapshots acknowledged by the collector.", component="agent"
    ),
    MetricSpec(
        "envparity_agent_snapshots_spooled_total", "counter", "Snapshots written to the spool.", component="agent"
    ),
    MetricSpec(
        "envparity_agent_snapshots_dropped_total",
        "counter",
        "Snapshots lost: dropped by the spool bound or dead-lettered.",
        ("reason",),
        component="agent",
    ),
    MetricSpec(
        "envparity_agent_values_cleaned_total",
        "counter",
        "Recorded values made wire-safe when a window was sealed (cut, NUL or surrogates replaced, nulled, dropped), "
        "by reason.",
        ("reason",),
        component="agent",
    ),
    MetricSpec(
        "envparity_agent_values_masked_total",
        "counter",
        "Sampled feature values masked as personal data or secrets before they left the process.",
        component="agent",
    ),
    MetricSpec(
        "envparity_agent_push_duration_seconds",
        "histogram",
        "Duration of one push attempt.",
        ("result",),
        "seconds",
        component="agent",
    ),
    MetricSpec(
        "envparity_agent_spool_bytes", "gauge", "Bytes of snapshots waiting in the spool.", (), "bytes", "agent"
    ),
    MetricSpec("envparity_agent_requests_recorded_total", "counter", "Requests recorded.", component="agent"),
    MetricSpec(
        "envparity_agent_shadow_requests_total",
        "counter",
        "Copies of requests mirrored to the shadow service, by result (ok, error, failed, dropped, skipped).",
        ("result",),
        component="agent",
    ),
    MetricSpec(
        "envparity_agent_probe_failures_total",
        "counter",
        "Golden probes that got no outputs, by reason (connect, timeout, http_error, http_4xx, http_5xx, not_json, "
        "missing_output, no_output).",
        ("reason",),
        component="agent",
    ),
)

CATALOGUE: dict[str, MetricSpec] = {m.name: m for m in METRICS}
# The GPU series read from each GPU's newest window (envparity_gpu_lost is the window's own flag).
GPU_METRICS: tuple[MetricSpec, ...] = tuple(m for m in METRICS if m.labels == GPU and m.name != "envparity_gpu_lost")


def spec(name: str) -> MetricSpec:
    """The catalogue entry of ``name``; a KeyError names what is missing."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"metric {name} is not in the catalogue (agent/catalogue.py)") from None


def series_names() -> dict[str, MetricSpec]:
    """Every sample name a scrape can show, mapped to its family."""
    return {series: m for m in METRICS for series in m.series}


_Instrument = TypeVar("_Instrument", Counter, Gauge, Histogram)
_Family = TypeVar("_Family", CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)


def instrument(
    registry: CollectorRegistry, name: str, kind: type[_Instrument], buckets: tuple[float, ...] = ()
) -> _Instrument:
    """The catalogue's instrument ``name`` registered in ``registry``; it must be of ``kind``."""
    return _of_kind(name, spec(name).instrument(registry, buckets), kind)


def family(name: str, kind: type[_Family]) -> _Family:
    """An empty metric family of the catalogue's ``name`` for a custom collector; it must be of ``kind``."""
    return _of_kind(name, spec(name).family(), kind)


_T = TypeVar("_T")


def _of_kind(name: str, made: object, kind: type[_T]) -> _T:
    if not isinstance(made, kind):
        raise TypeError(f"{name} is a {type(made).__name__} in the metric catalogue, not a {kind.__name__}")
    return made
