/*
 * A stand-in for the NVIDIA driver's libnvidia-ml.so.1, loaded by the real pynvml bindings in tests
 * (no GPU is attached in CI). It answers from a scenario given in environment variables:
 *
 *   FAKE_NVML_GPUS    "name:memory_mib[:cc_major.cc_minor],..."  (default two GPUs of different models)
 *   FAKE_NVML_DRIVER  driver version string (default 535.104.05)
 *   FAKE_NVML_CUDA    CUDA driver version as NVML encodes it (default 12020 = 12.2)
 *   FAKE_NVML_LOST    "index:from_s:until_s": that GPU answers GPU_IS_LOST in that interval after nvmlInit
 *
 * Values change with time since nvmlInit. GPU 1 answers NOT_SUPPORTED for ECC, PCIe throughput, MIG mode
 * and the process list, as consumer and older boards do.
 *
 * Compiled with -DFAKE_NVML_OLD_DRIVER it is a driver older than the bindings: the symbols that newer
 * branches added (the clock-event-reasons name, CUDA compute capability, MIG mode, the v3 process list)
 * are missing, so pynvml answers FUNCTION_NOT_FOUND for them; the older throttle-reasons name and the
 * v2 process list remain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
enum { OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7, GPU_IS_LOST = 15 };

typedef struct { int index; char name[96]; unsigned long long memory; int cc_major, cc_minor; } gpu_t;
typedef struct { unsigned long long total, free, used; } memory_t;
typedef struct { unsigned int gpu, memory; } utilization_t;
typedef struct {
    char busIdLegacy[16]; unsigned int domain, bus, device, pciDeviceId, pciSubSystemId; char busId[32];
} pci_t;

static gpu_t gpus[8];
static int gpu_count = -1;
static double started = 0;
static int initialised = 0;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double elapsed(void) { return now_s() - started; }

static void load_scenario(void) {
    const char *spec = getenv("FAKE_NVML_GPUS");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec ? spec : "NVIDIA A100-SXM4-40GB:40960:8.0,Tesla T4:15360:7.5");
    gpu_count = 0;
    for (char *item = strtok(buf, ","); item && gpu_count < 8; item = strtok(NULL, ",")) {
        gpu_t *g = &gpus[gpu_count];
        char *colon = strchr(item, ':');
        g->index = gpu_count;
        g->cc_major = 8; g->cc_minor = 0;
        if (colon) {
            *colon = 0;
            g->memory = strtoull(colon + 1, NULL, 10) * 1024ULL * 1024ULL;
            char *cc = strchr(colon + 1, ':');
            if (cc) sscanf(cc + 1, "%d.%d", &g->cc_major, &g->cc_minor);
        } else {
            g->memory = 16ULL << 30;
        }
        snprintf(g->name, sizeof g->name, "%s", item);
        gpu_count++;
    }
}

static int lost(const gpu_t *g) {
    const char *spec = getenv("FAKE_NVML_LOST");
    int index; double from, until;
    if (!spec || sscanf(spec, "%d:%lf:%lf", &index, &from, &until) != 3) return 0;
    double t = elapsed();
    return g->index == index && t >= from && t < until;
}

#define DEVICE(handle) const gpu_t *g = (const gpu_t *)(handle); \
    if (!initialised) return UNINITIALIZED; \
    if (!g) return INVALID_ARGUMENT; \
    if (lost(g)) return GPU_IS_LOST;

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    if (gpu_count < 0) load_scenario();
    if (!initialised) started = now_s();
    initialised = 1;
    return OK;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { initialised = 0; return OK; }

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
        case OK: return "Success";
        case UNINITIALIZED: return "Uninitialized";
        case INVALID_ARGUMENT: return "Invalid Argument";
        case NOT_SUPPORTED: return "Not Supported";
        case INSUFFICIENT_SIZE: return "Insufficient Size";
        case GPU_IS_LOST: return "GPU is lost";
        default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    const char *v = getenv("FAKE_NVML_DRIVER");
    snprintf(version, length, "%s", v ? v : "535.104.05");
    return initialised ? OK : UNINITIALIZED;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
    const char *v = getenv("FAKE_NVML_CUDA");
    *version = v ? atoi(v) : 12020;
    return initialised ? OK : UNINITIALIZED;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) { return nvmlSystemGetCudaDriverVersion_v2(version); }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialised) return UNINITIALIZED;
    *count = (unsigned int)gpu_count;
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **handle) {
    if (!initialised) return UNINITIALIZED;
    if ((int)index >= gpu_count) return INVALID_ARGUMENT;
    *handle = &gpus[index];
    return OK;
}

nvmlReturn_t nvmlDeviceGetName(void *handle, char *name, unsigned int length) {
    DEVICE(handle)
    snprintf(name, length, "%s", g->name);
    return OK;
}

nvmlReturn_t nvmlDeviceGetUUID(void *handle, char *uuid, unsigned int length) {
    DEVICE(handle)
    snprintf(uuid, length, "GPU-fa4e%04d-0000-4000-8000-%012d", g->index, 4242 + g->index);
    return OK;
}

nvmlReturn_t nvmlDeviceGetVbiosVersion(void *handle, char *version, unsigned int length) {
    DEVICE(handle)
    snprintf(version, length, "92.00.%02d.00.01", 36 + g->index);
    return OK;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(void *handle, pci_t *pci) {
    DEVICE(handle)
    memset(pci, 0, sizeof *pci);
    pci->bus = 0x17 + g->index;
    snprintf(pci->busId, sizeof pci->busId, "00000000:%02X:00.0", pci->bus);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", pci->bus);
    return OK;
}

#ifndef FAKE_NVML_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(void *handle, int *major, int *minor) {
    DEVICE(handle)
    *major = g->cc_major;
    *minor = g->cc_minor;
    return OK;
}

nvmlReturn_t nvmlDeviceGetMigMode(void *handle, unsigned int *current, unsigned int *pending) {
    DEVICE(handle)
    if (g->index == 1) return NOT_SUPPORTED;
    *current = *pending = 0;
    return OK;
}
#endif

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(void *handle, unsigned int *limit) {
    DEVICE(handle)
    *limit = g->index == 0 ? 400000 : 70000;
    return OK;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(void *handle, unsigned int *power) {
    DEVICE(handle)
    *power = (unsigned int)((g->index == 0 ? 250000 : 35000) + 1000 * ((int)elapsed() % 10));
    return OK;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(void *handle, memory_t *memory) {
    DEVICE(handle)
    unsigned long long used = (g->memory / 4) + (unsigned long long)(elapsed() * 1024 * 1024);
    if (used > g->memory) used = g->memory;
    memory->total = g->memory;
    memory->used = used;
    memory->free = g->memory - used;
    return OK;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(void *handle, utilization_t *u) {
    DEVICE(handle)
    u->gpu = (unsigned int)(30 + 20 * g->index + (int)(elapsed() * 10)) % 100;
    u->memory = (unsigned int)(10 + 5 * g->index + (int)(elapsed() * 5)) % 100;
    return OK;
}

nvmlReturn_t nvmlDeviceGetTemperature(void *handle, int sensor, unsigned int *temp) {
    DEVICE(handle)
    if (sensor != 0) return NOT_SUPPORTED;
    *temp = 55 + 10 * g->index;
    return OK;
}

nvmlReturn_t nvmlDeviceGetClockInfo(void *handle, int type, unsigned int *clock) {
    DEVICE(handle)
    *clock = type == 1 ? 1410 : type == 2 ? 1215 : 1000;
    return OK;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(void *handle, unsigned long long *reasons) {
    DEVICE(handle)
    *reasons = g->index == 1 ? 0x4ULL : 0x0ULL;  /* GPU 1: software power cap */
    return OK;
}
#ifndef FAKE_NVML_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(void *h, unsigned long long *r) {
    return nvmlDeviceGetCurrentClocksThrottleReasons(h, r);
}
#endif

nvmlReturn_t nvmlDeviceGetTotalEccErrors(void *handle, int error_type, int counter_type,
                                         unsigned long long *count) {
    DEVICE(handle)
    (void)counter_type;
    if (g->index == 1) return NOT_SUPPORTED;
    *count = error_type == 0 ? 3 : 0;
    return OK;
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(void *handle, int counter, unsigned int *value) {
    DEVICE(handle)
    if (g->index == 1) return NOT_SUPPORTED;
    *value = counter == 0 ? 20480 : 10240;
    return OK;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(void *handle, unsigned int *count, void *infos) {
    DEVICE(handle)
    (void)infos;
    if (g->index == 1) return NOT_SUPPORTED;
    *count = 0;
    return OK;
}
#ifndef FAKE_NVML_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *handle, unsigned int *count, void *infos) {
    return nvmlDeviceGetComputeRunningProcesses_v2(handle, count, infos);
}
#endif
