r"""GPU identity and telemetry through NVML (the ``nvidia-ml-py`` bindings, imported as ``pynvml``).

Metric names are dcgm-exporter's field names where one exists, so dashboards
built for dcgm-exporter read ours too:

| name                                 | unit  | NVML call                                   |
|--------------------------------------|-------|---------------------------------------------|
| DCGM_FI_DEV_GPU_UTIL                 | %     | nvmlDeviceGetUtilizationRates().gpu          |
| DCGM_FI_DEV_MEM_COPY_UTIL            | %     | nvmlDeviceGetUtilizationRates().memory       |
| DCGM_FI_DEV_FB_USED / _FREE / _TOTAL | MiB   | nvmlDeviceGetMemoryInfo()                   |
| DCGM_FI_DEV_GPU_TEMP                 | °C    | nvmlDeviceGetTemperature(GPU)               |
| DCGM_FI_DEV_POWER_USAGE              | W     | nvmlDeviceGetPowerUsage() / 1000             |
| DCGM_FI_DEV_POWER_MGMT_LIMIT         | W     | nvmlDeviceGetEnforcedPowerLimit() / 1000     |
| DCGM_FI_DEV_SM_CLOCK, _MEM_CLOCK     | MHz   | nvmlDeviceGetClockInfo(SM / MEM)            |
| DCGM_FI_DEV_CLOCK_THROTTLE_REASONS   | mask  | nvmlDeviceGetCurrentClocksEventReasons() *   |
| DCGM_FI_DEV_ECC_SBE_VOL_TOTAL, _DBE_ | count | nvmlDeviceGetTotalEccErrors(volatile)        |
| DCGM_FI_DEV_PCIE_TX_THROUGHPUT, _RX_ | KB/s  | nvmlDeviceGetPcieThroughput()               |
| envparity_gpu_processes              | count | nvmlDeviceGetComputeRunningProcesses_v3() *  |

\* On a driver that predates the call, its older form: ``...ThrottleReasons()``, ``..._v2()``.

A call the GPU answers with NOT_SUPPORTED, or that the driver predates
(FUNCTION_NOT_FOUND, e.g. compute capability or MIG mode on older branches),
leaves its field or metric absent, never zero; the rest is read.
Without the NVML library there is no GPU section and one log line. A GPU that
answers GPU_IS_LOST is reported as lost, and picked up again when it answers.
A window reports the mean of its samples, except counters and masks (last value).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from envparity.agent.wire import GpuIdentity, GpuMetrics, GpuSection

log = logging.getLogger("envparity.agent.gpu")
MIB = 1024 * 1024
LAST_VALUE = frozenset(
    {
        "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "DCGM_FI_DEV_FB_TOTAL",
    }
)

try:
    import pynvml
except ImportError:  # the agent extra carries it; without it there is simply no GPU telemetry
    pynvml = None

_init_lock = threading.Lock()
_state: dict[str, Any] = {"initialised": False, "reported": False}


def nvml_available() -> bool:
    """Initialise NVML once; False (with one log line) when the library or driver is missing."""
    with _init_lock:
        if _state["initialised"]:
            return True
        if pynvml is None:
            reason = "the nvidia-ml-py package is not installed"
        else:
            try:
                pynvml.nvmlInit()
                _state["initialised"] = True
                return True
            except pynvml.NVMLError as exc:
                reason = str(exc)
        if not _state["reported"]:
            log.info("no GPU telemetry: NVML unavailable (%s)", reason)
            _state["reported"] = True
        return False


_T = TypeVar("_T")


def _optional(call: Callable[..., _T], *args: object) -> _T | None:
    """The value of an NVML call, or None when this GPU does not support it or the driver predates the call."""
    try:
        return call(*args)
    except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound):
        return None


def _newest(h: Any, *calls: Callable[[Any], _T]) -> _T | None:
    """The value of the first of ``calls`` (newest first) that the driver has; None when the GPU does not support it."""
    for call in calls:
        try:
            return call(h)
        except pynvml.NVMLError_FunctionNotFound:
            continue
        except pynvml.NVMLError_NotSupported:
            return None
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version(encoded: int) -> str:
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def gpu_identities() -> list[GpuIdentity]:
    """Every GPU's identity for the compute fingerprint; empty without NVML."""
    if not nvml_available():
        return []
    n = pynvml
    driver = _text(n.nvmlSystemGetDriverVersion())
    cuda_encoded = _optional(n.nvmlSystemGetCudaDriverVersion_v2)
    cuda = _cuda_version(cuda_encoded) if cuda_encoded is not None else None
    gpus = []
    for index in range(n.nvmlDeviceGetCount()):
        try:
            h = n.nvmlDeviceGetHandleByIndex(index)
            cc = _optional(n.nvmlDeviceGetCudaComputeCapability, h)
            mig = _optional(n.nvmlDeviceGetMigMode, h)
            limit = _optional(n.nvmlDeviceGetEnforcedPowerLimit, h)
            pci = _optional(n.nvmlDeviceGetPciInfo, h)
            vbios = _optional(n.nvmlDeviceGetVbiosVersion, h)
            gpus.append(
                GpuIdentity(
                    index=index,
                    name=_text(n.nvmlDeviceGetName(h)),
                    uuid=_text(n.nvmlDeviceGetUUID(h)),
                    memory_total_bytes=int(n.nvmlDeviceGetMemoryInfo(h).total),
                    driver_version=driver,
                    cuda_driver_version=cuda,
                    compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
                    mig_mode=bool(mig[0]) if mig else None,
                    pci_bus_id=_text(pci.busId) if pci is not None else None,
                    vbios_version=_text(vbios) if vbios is not None else None,
                    power_limit_watts=limit / 1000 if limit is not None else None,
                )
            )
        except n.NVMLError as exc:
            log.warning("GPU %d left out of the fingerprint: %s", index, exc)
    return gpus


def _read_device(h: Any) -> dict[str, float]:
    n = pynvml
    values: dict[str, float | None] = {}
    util = _optional(n.nvmlDeviceGetUtilizationRates, h)
    if util is not None:
        values["DCGM_FI_DEV_GPU_UTIL"], values["DCGM_FI_DEV_MEM_COPY_UTIL"] = util.gpu, util.memory
    mem = _optional(n.nvmlDeviceGetMemoryInfo, h)
    if mem is not None:
        values.update(
            DCGM_FI_DEV_FB_USED=mem.used / MIB, DCGM_FI_DEV_FB_FREE=mem.free / MIB, DCGM_FI_DEV_FB_TOTAL=mem.total / MIB
        )
    values["DCGM_FI_DEV_GPU_TEMP"] = _optional(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU)
    power = _optional(n.nvmlDeviceGetPowerUsage, h)
    values["DCGM_FI_DEV_POWER_USAGE"] = power / 1000 if power is not None else None
    limit = _optional(n.nvmlDeviceGetEnforcedPowerLimit, h)
    values["DCGM_FI_DEV_POWER_MGMT_LIMIT"] = limit / 1000 if limit is not None else None
    values["DCGM_FI_DEV_SM_CLOCK"] = _optional(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM)
    values["DCGM_FI_DEV_MEM_CLOCK"] = _optional(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM)
    values["DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"] = _newest(
        h, n.nvmlDeviceGetCurrentClocksEventReasons, n.nvmlDeviceGetCurrentClocksThrottleReasons
    )
    for name, kind in (("SBE", n.NVML_MEMORY_ERROR_TYPE_CORRECTED), ("DBE", n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED)):
        values[f"DCGM_FI_DEV_ECC_{name}_VOL_TOTAL"] = _optional(
            n.nvmlDeviceGetTotalEccErrors, h, kind, n.NVML_VOLATILE_ECC
        )
    for name, counter in (("TX", n.NVML_PCIE_UTIL_TX_BYTES), ("RX", n.NVML_PCIE_UTIL_RX_BYTES)):
        values[f"DCGM_FI_DEV_PCIE_{name}_THROUGHPUT"] = _optional(n.nvmlDeviceGetPcieThroughput, h, counter)
    procs = _newest(h, n.nvmlDeviceGetComputeRunningProcesses_v3, n.nvmlDeviceGetComputeRunningProcesses_v2)
    values["envparity_gpu_processes"] = len(procs) if procs is not None else None
    return {k: float(v) for k, v in values.items() if v is not None}


class GpuSampler:
    """Samples every GPU every few seconds and summarises each window."""

    def __init__(self) -> None:
        self.enabled = nvml_available()
        self._lock = threading.Lock()
        self._sums: dict[str, dict[str, float]] = {}
        self._last: dict[str, dict[str, float]] = {}
        self._counts: dict[str, int] = {}
        self._index: dict[str, int] = {}
        self._uuids: dict[int, str] = {}
        self._names: dict[str, str] = {}
        self._lost: set[int] = set()  # indices of GPUs that answer GPU_IS_LOST

    def _uuid(self, index: int, h: Any) -> str:
        if index not in self._uuids:
            uuid = self._uuids[index] = _text(pynvml.nvmlDeviceGetUUID(h))
            self._names[uuid] = _text(pynvml.nvmlDeviceGetName(h))
        return self._uuids[index]

    def sample(self) -> None:
        """One pass over all GPUs; a lost GPU is marked, not raised."""
        if not self.enabled:
            return
        n = pynvml
        for index in range(n.nvmlDeviceGetCount()):
            try:
                h = n.nvmlDeviceGetHandleByIndex(index)
                uuid = self._uuid(index, h)
                values = _read_device(h)
            except n.NVMLError_GpuIsLost:
                with self._lock:
                    newly = index not in self._lost
                    self._lost.add(index)
                if newly:
                    log.error(
                        "GPU %d (%s) is lost: it fell off the bus or stopped answering",
                        index,
                        self._uuids.get(index, "uuid unknown"),
                    )
                continue
            with self._lock:
                recovered = index in self._lost
                self._lost.discard(index)
            if recovered:
                log.warning("GPU %d (%s) answers again", index, uuid)
            self._record(uuid, index, values)

    def _record(self, uuid: str, index: int, values: dict[str, float]) -> None:
        with self._lock:
            self._index[uuid] = index
            sums = self._sums.setdefault(uuid, {})
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
            self._last[uuid] = values
            self._counts[uuid] = self._counts.get(uuid, 0) + 1

    def seal(self) -> GpuSection | None:
        """The window's per-GPU summary; None when there is no GPU telemetry at all."""
        if not self.enabled:
            return None
        with self._lock:
            sums, last, counts, index = self._sums, self._last, self._counts, dict(self._index)
            lost = {self._uuids.get(i, f"index-{i}") for i in self._lost}
            index.update({self._uuids.get(i, f"index-{i}"): i for i in self._lost})
            self._sums, self._last, self._counts = {}, {}, {}
        devices = []
        for uuid in sorted(set(sums) | lost, key=lambda u: index.get(u, 0)):
            values = {
                name: (last[uuid][name] if name in LAST_VALUE and name in last.get(uuid, {}) else total / counts[uuid])
                for name, total in sums.get(uuid, {}).items()
            }
            devices.append(
                GpuMetrics(
                    uuid=uuid, index=index.get(uuid, -1), name=self._names.get(uuid), lost=uuid in lost, values=values
                )
            )
        return GpuSection(devices=devices)
