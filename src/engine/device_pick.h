/* device_pick.h — which GPU a process takes for --device cuda[:N]: a pure function of the
 * process's node-local index (its rank among the ranks of its node in the merged communicator;
 * for launched ranks the launcher's local rank), the node's device count and an explicit N.
 * Used by the CUDA backend (gpu/backend_cuda.c), the test fallback (registry) and the trainer,
 * which re-chooses for a rank spawned by a growth once it has joined (docs/gpu.md). */
#ifndef ABSA_DEVICE_PICK_H
#define ABSA_DEVICE_PICK_H

#include "absa_error.h"

/* "cuda" -> *explicit_n = -1; "cuda:N" (0 <= N <= 1024) -> N; anything else: ABSA_EINVAL with
 * one line recorded. */
absa_status absa_cuda_parse(const char *device, int *explicit_n);

/* The device: explicit_n when >= 0 (as given, even beyond count: opening it says so); else
 * local_index modulo count (one GPU per node-local rank, wrapping when there are more ranks
 * than GPUs: those share, and the NCCL layer takes the host path); 0 when count <= 0 or the
 * index is unknown (< 0). */
int absa_cuda_pick(int local_index, int count, int explicit_n);

#endif
