/* backend_registry.c — the backends by name: `--device cpu | cpu-guarded | cuda[:N]` to a filled
 * table (backend.h). It sits above every backend (src/engine/cpu, and gpu/ in CUDA builds), so a
 * backend never knows the others and the engine below never opens one by name: the model zoo
 * (models.c, this folder) opens the model's backend here. Adding a backend: docs/engine.md. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"

const char *const absa_backend_names[] = {"cpu", "cpu-guarded", NULL};

absa_status absa_backend_open(const char *device, absa_backend **out)
{
    absa_status status = ABSA_OK;
    *out = NULL;
    absa_backend *be = absa_xcalloc(1, sizeof *be);
    if (!device || !strcmp(device, "cpu")) absa_backend_cpu_fill(be);
    else if (!strcmp(device, "cpu-guarded")) ABSA_TRY(absa_backend_guarded_fill(be));
    else if (!strncmp(device, "cuda", 4) && (!device[4] || device[4] == ':') && absa_cuda_fallback_mode()) {
        absa_backend_cpu_fill(be); /* TEST ONLY (backend.h): the CPU kernels under the name cuda */
        be->name = "cuda";
    } else if (!strncmp(device, "cuda", 4) && (!device[4] || device[4] == ':')) {
#ifdef ABSA_HAVE_CUDA
        ABSA_TRY(absa_backend_cuda_fill(be, device));
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
