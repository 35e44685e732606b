/* test_gpu_probe.c — the device probe the CLI uses for --device cuda: on a machine without a
 * GPU or driver (this one, CI) absa_gpu_device_count() is 0, the reason is one line, and
 * creating a context fails with a one-line message instead of crashing; on a GPU machine the
 * context starts on device 0 and refuses a device number past the last one. Runs everywhere. */
#include <stdio.h>
#include <string.h>

#include "absa_test.h"
#include "gpu_ctx.h"

int main(void)
{
    const int n = absa_gpu_device_count();
    const char *why = absa_gpu_unavailable_reason();
    printf("devices: %d (%s)\n", n, why);
    CHECK(n >= 0, "negative device count");
    CHECK(why && *why && !strchr(why, '\n'), "reason is not one line");
    absa_gpu_ctx g;
    if (n == 0) {
        CHECK(absa_gpu_ctx_create(&g, 0) == ABSA_EINVAL, "context without a device");
        const char *msg = absa_last_error();
        printf("message: %s\n", msg);
        CHECK(strstr(msg, "--device cuda") && !strchr(msg, '\n'), "message: '%s'", msg);
    } else {
        CHECK(absa_gpu_ctx_create(&g, 0) == ABSA_OK, "context on device 0: %s", absa_last_error());
        absa_gpu_ctx_destroy(&g);
        CHECK(absa_gpu_ctx_create(&g, n) == ABSA_EINVAL, "device %d of %d accepted", n, n);
        printf("message: %s\n", absa_last_error());
    }
    return absa_test_finish("test_gpu_probe");
}
