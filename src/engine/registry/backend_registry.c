/* backend_registry.c — the backends by name: `--device cpu | cpu-guarded | cuda[:N]` to a filled
 * table (backend.h). It sits above every backend (src/engine/cpu, and gpu/ in CUDA builds), so a
 * backend never knows the others and the engine below never opens one by name: the model zoo
 * (models.c, this folder) opens the model's backend here. Adding a backend: docs/engine.md. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "device_pick.h"

const char *const absa_backend_names[] = {"cpu", "cpu-guarded", NULL};

/* the launcher's node-local rank (Open MPI); 0 without one */
static int launch_local_index(void)
{
    const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    return lr && *lr ? atoi(lr) : 0;
}

/* TEST ONLY: the fallback's device count (ABSA_TEST_CUDA_DEVICES, unset: 1) */
static int fallback_count(void)
{
    const char *v = getenv("ABSA_TEST_CUDA_DEVICES");
    if (!v || !*v) return 1;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 1024) ABSA_ABORT("ABSA_TEST_CUDA_DEVICES=%s: expected 1 to 1024 (a test-only switch)", v);
    return (int)n;
}

int absa_backend_device_for(const char *device, int local_index)
{
    int explicit_n = -1;
    if (!device || strncmp(device, "cuda", 4) || (device[4] && device[4] != ':')) return -1; /* no message */
    if (absa_cuda_parse(device, &explicit_n) != ABSA_OK) return -1;
    if (local_index < 0) local_index = launch_local_index();
    if (explicit_n >= 0) return explicit_n;
    if (absa_cuda_fallback_mode()) return absa_cuda_pick(local_index, fallback_count(), -1);
#ifdef ABSA_HAVE_CUDA
    return absa_cuda_pick(local_index, absa_backend_cuda_count(), -1);
#else
    return -1;
#endif
}

absa_status absa_backend_open(const char *device, absa_backend **out) { return absa_backend_open_at(device, -1, out); }

absa_status absa_backend_open_at(const char *device, int local_index, absa_backend **out)
{
    absa_status status = ABSA_OK;
    *out = NULL;
    absa_backend *be = absa_xcalloc(1, sizeof *be);
    if (local_index < 0) local_index = launch_local_index();
    if (!device || !strcmp(device, "cpu")) absa_backend_cpu_fill(be);
    else if (!strcmp(device, "cpu-guarded")) ABSA_TRY(absa_backend_guarded_fill(be));
    else if (!strncmp(device, "cuda", 4) && (!device[4] || device[4] == ':') && absa_cuda_fallback_mode()) {
        int explicit_n = -1;
        ABSA_TRY(absa_cuda_parse(device, &explicit_n));
        absa_backend_cpu_fill(be); /* TEST ONLY (backend.h): the CPU kernels under the name cuda */
        absa_backend_xl_host_fill(be); /* ... and the device-sum path of the real cuda backend */
        be->name = "cuda";
        be->device = absa_cuda_pick(local_index, fallback_count(), explicit_n);
    } else if (!strncmp(device, "cuda", 4) && (!device[4] || device[4] == ':')) {
#ifdef ABSA_HAVE_CUDA
        ABSA_TRY(absa_backend_cuda_fill(be, device, local_index));
#else
        ABSA_FAIL(ABSA_EINVAL, "--device %s: this absa was built without CUDA (no nvcc, or -DABSA_WITH_CUDA=OFF)",
                  device);
#endif
    } else ABSA_FAIL(ABSA_EINVAL, "unknown device '%s' (known: cpu, cpu-guarded, cuda[:N])", device);
    *out = be;
    return ABSA_OK;
cleanup:
    free(be);
    return status;
}

int absa_cuda_fallback_mode(void)
{
    const char *v = getenv("ABSA_TEST_CUDA_FALLBACK");
    if (!v || !*v) return ABSA_FALLBACK_OFF;
    static const char *const modes[] = {"never", "fail", "ready", "shared"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(v, modes[i])) return ABSA_FALLBACK_NEVER + i;
    ABSA_ABORT("ABSA_TEST_CUDA_FALLBACK=%s: expected never, fail, ready or shared (a test-only switch)", v);
}

int absa_backend_known(const char *device)
{
    for (int i = 0; absa_backend_names[i]; i++)
        if (!strcmp(absa_backend_names[i], device)) return 1;
    return !strncmp(device, "cuda", 4) && (!device[4] || device[4] == ':');
}
