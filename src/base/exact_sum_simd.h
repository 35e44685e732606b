/* exact_sum_simd.h — internal to exact_sum.c: the AVX-512F (exact_sum_avx512.c) and AVX2
 * (exact_sum_avx2.c) versions of its element-wise float loops, for n a multiple of 8, the same
 * bits as the scalar loops. fix (set, or add) and add_get return whether an addend was out of
 * range (the bad flag). absa_xsum_wide says which exact_sum.c uses (decided once per process):
 * on x86-64, AVX-512F when the CPU has it, else AVX2 when it has that; ABSA_CPU_PATH (the variable
 * of the conv engine's paths, src/engine/cpu/conv_path.h: one switch for every per-CPU path) =
 * avx2 caps it at AVX2, baseline at the scalar loops. */
#ifndef ABSA_EXACT_SUM_SIMD_H
#define ABSA_EXACT_SUM_SIMD_H
#include <stddef.h>

#include "exact_sum.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define ABSA_XSUM_HAVE_SIMD 1
int absa_xsum512_fix(absa_xword *v, const float *x, size_t n, double limit, int add); /* set, or add */
int absa_xsum512_add_get(const absa_xword *v, const float *x, float *out, size_t n, double limit);
void absa_xsum512_get(const absa_xword *v, float *out, size_t n);
int absa_xsum2_fix(absa_xword *v, const float *x, size_t n, double limit, int add);
int absa_xsum2_add_get(const absa_xword *v, const float *x, float *out, size_t n, double limit);
void absa_xsum2_get(const absa_xword *v, float *out, size_t n);
#else
#define ABSA_XSUM_HAVE_SIMD 0
#endif

enum { ABSA_XSUM_SCALAR = 0, ABSA_XSUM_AVX2 = 1, ABSA_XSUM_AVX512 = 2 };
int absa_xsum_wide(void); /* one of the above */

#endif
