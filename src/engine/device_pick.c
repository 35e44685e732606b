/* device_pick.c — the GPU of a process for --device cuda[:N] (device_pick.h): pure functions. */
#include <stdlib.h>
#include <string.h>

#include "device_pick.h"

absa_status absa_cuda_parse(const char *device, int *explicit_n)
{
    absa_status status = ABSA_OK;
    *explicit_n = -1;
    if (!strcmp(device, "cuda")) return ABSA_OK;
    if (strncmp(device, "cuda:", 5)) ABSA_FAIL(ABSA_EINVAL, "unknown device '%s'", device);
    char *end = NULL;
    long v = strtol(device + 5, &end, 10);
    if (!device[5] || *end || v < 0 || v > 1024 || device[5] == '+' || device[5] == ' ')
        ABSA_FAIL(ABSA_EINVAL, "--device %s: expected cuda or cuda:N with N a device number", device);
    *explicit_n = (int)v;
cleanup:
    return status;
}

int absa_cuda_pick(int local_index, int count, int explicit_n)
{
    if (explicit_n >= 0) return explicit_n;
    if (count <= 0 || local_index < 0) return 0;
    return local_index % count;
}
