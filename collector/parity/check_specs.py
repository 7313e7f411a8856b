"""Every check the engine can produce, once: its name, the layers it appears in, and the threshold that judges it.

The checks modules build their ``Check`` rows with these names; the dashboard and
alert-rule builders read them from here, so that a renamed check cannot leave a
panel or an alert looking for a series that no longer exists. ``threshold`` names
the field of ``Thresholds`` that decides the check (``None``: decided otherwise,
for example a fingerprint difference or a derived row shown for context).
"""

from __future__ import annotations

from dataclasses import dataclass

from envparity.collector.parity.model import Layer, Thresholds


@dataclass(frozen=True)
class CheckSpec:
    """One check name with the layers it belongs to and the threshold field that judges it."""

    name: str
    layers: tuple[Layer, ...]
    threshold: str | None
    description: str


_DISTRIBUTION: tuple[Layer, ...] = ("data", "prediction")
_FINGERPRINT: tuple[Layer, ...] = (
    "fingerprint.code",
    "fingerprint.config",
    "fingerprint.artifacts",
    "fingerprint.compute",
)

CHECKS: tuple[CheckSpec, ...] = (
    # infrastructure
    CheckSpec("requests", ("infrastructure",), None, "requests counted in each environment"),
    CheckSpec("request_rate", ("infrastructure",), None, "requests per second, target against baseline"),
    CheckSpec("error_rate", ("infrastructure",), "error_rate_max_increase", "error rate increase"),
    CheckSpec("latency_p50_ratio", ("infrastructure",), "latency_ratio_max", "median latency ratio"),
    CheckSpec("latency_p95_ratio", ("infrastructure",), "latency_ratio_max", "p95 latency ratio"),
    CheckSpec("latency_p99_ratio", ("infrastructure",), "latency_ratio_max", "p99 latency ratio"),
    CheckSpec("gpu_utilization", ("infrastructure",), "gpu_utilization_max", "GPU utilisation"),
    CheckSpec("gpu_memory_headroom", ("infrastructure",), "gpu_memory_headroom_min", "free GPU memory share"),
    CheckSpec("gpu_lost", ("infrastructure",), None, "GPUs reported lost"),
    # data and prediction distributions
    CheckSpec("psi", _DISTRIBUTION, "psi_fail", "population stability index"),
    CheckSpec("wasserstein", _DISTRIBUTION, "wasserstein_fail", "Wasserstein distance in baseline std"),
    CheckSpec("ks", _DISTRIBUTION, "fail_fdr", "Kolmogorov-Smirnov test, BH-corrected"),
    CheckSpec("chi2", _DISTRIBUTION, "fail_fdr", "chi-square test of categories, BH-corrected"),
    CheckSpec("jensen_shannon", _DISTRIBUTION, None, "Jensen-Shannon distance, shown for context (always ok)"),
    CheckSpec("drift", (*_DISTRIBUTION, "outcome"), "min_samples", "too few values to compare"),
    CheckSpec("samples", ("data",), None, "an environment without data in the window fails"),
    CheckSpec("null_rate", ("data",), "null_rate_max_increase", "null rate increase, two-proportion test BH-corrected"),
    CheckSpec("range", ("data",), "range_violation_max", "share of values outside the baseline range"),
    CheckSpec("schema", ("data",), None, "feature missing, new, retyped, or of a type not compared"),
    # prediction only
    CheckSpec("mean_shift", ("prediction",), None, "mean shift in baseline std, shown for context (always ok)"),
    CheckSpec("variance_ratio", ("prediction",), None, "variance ratio, shown for context (always ok)"),
    CheckSpec("shadow_agreement", ("prediction",), "shadow_agreement_min", "same request, same prediction"),
    CheckSpec("feature_equality", ("prediction",), "feature_mismatch_max", "same request, same feature vector"),
    CheckSpec("golden", ("prediction",), "golden_tolerance", "same golden input, same output, within the tolerance"),
    # outcome
    *(
        CheckSpec(name, ("outcome",), "outcome_max_drop", f"{name} drop once labels arrive")
        for name in ("accuracy", "precision", "recall", "f1")
    ),
    # fingerprint dimensions
    CheckSpec("package", _FINGERPRINT, None, "installed package version"),
    CheckSpec("python", _FINGERPRINT, None, "Python interpreter"),
    CheckSpec("env_var", _FINGERPRINT, None, "environment variable"),
    CheckSpec("config_key", _FINGERPRINT, None, "key of a configuration file"),
    CheckSpec("artifact_hash", _FINGERPRINT, None, "model artifact content hash"),
    CheckSpec("artifact_alias", _FINGERPRINT, None, "artifact an alias points at"),
    CheckSpec("gpu", _FINGERPRINT, None, "GPU model, memory, driver"),
    CheckSpec("image", ("fingerprint.code",), None, "container image"),
    CheckSpec("image_digest", ("fingerprint.code",), None, "container image digest"),
    CheckSpec("revision", ("fingerprint.code",), None, "code revision"),
    CheckSpec("platform", ("fingerprint.compute",), None, "operating system"),
    CheckSpec("machine", ("fingerprint.compute",), None, "machine architecture"),
    CheckSpec("cpu_model", ("fingerprint.compute",), None, "CPU model"),
    CheckSpec("cpu_count", ("fingerprint.compute",), None, "CPUs of the machine"),
    CheckSpec("memory_bytes", ("fingerprint.compute",), None, "memory of the machine"),
    CheckSpec("cgroup_cpu_limit", ("fingerprint.compute",), None, "CPU limit of the container"),
    CheckSpec("cgroup_memory_limit_bytes", ("fingerprint.compute",), None, "memory limit of the container"),
)

_BY_NAME = {c.name: c for c in CHECKS}


def check_spec(name: str) -> CheckSpec:
    """The spec of a check by name; ``KeyError`` names the unknown check."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no check named {name!r}") from None


def default_threshold(name: str) -> float | None:
    """The default value of the threshold that judges ``name`` (None when no threshold field judges it)."""
    field = check_spec(name).threshold
    return None if field is None else float(getattr(Thresholds(), field))
