/* exact_sum_simd.h — internal to exact_sum.c: the AVX-512F versions of its element-wise float
 * loops (exact_sum_avx512.c), for n a multiple of 8, the same bits as the scalar loops. fix (set
 * or add) and add_get return whether an addend was out of range (the bad flag). absa_xsum_wide says whether
 * exact_sum.c uses them: x86-64 with AVX-512F, unless ABSA_CPU_PATH is baseline or avx2 (the
 * variable of the conv engine's paths, src/engine/cpu/conv_path.h: one switch for every per-CPU
 * path; decided once per process). */
#ifndef ABSA_EXACT_SUM_SIMD_H
#define ABSA_EXACT_SUM_SIMD_H
#include <stddef.h>

#include "exact_sum.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define ABSA_XSUM_HAVE_512 1
int absa_xsum512_fix(absa_xword *v, const float *x, size_t n, double limit, int add); /* set, or add */
int absa_xsum512_add_get(const absa_xword *v, const float *x, float *out, size_t n, double limit);
void absa_xsum512_get(const absa_xword *v, float *out, size_t n);
#else
#define ABSA_XSUM_HAVE_512 0
#endif

int absa_xsum_wide(void);

#endif
