/* A small extended float for the numeric sketch's tails and seal arithmetic (internal).
 *
 * value = m 2^e with |m| in [2^61, 2^62) (or m = 0): 62 significant bits, more than a
 * double's 53, built from 64-bit integer operations only. On a core without a double FPU
 * (Cortex-M0+, M4F, ESP32-C3) this replaces libgcc's soft-float helpers (__aeabi_dadd,
 * dmul, ddiv, d2f, l2d ...: 5.7 KB on a Cortex-M0+) with well under 1 KB of C, and the
 * results are the same on every target. Only edc_xf_pack rounds to an IEEE format (to
 * nearest, ties to even, subnormals and overflow to infinity as IEEE). Operands are passed
 * by pointer (smaller calls on Thumb-1); r may be a or b. */
#ifndef EDC_XF_H
#define EDC_XF_H
#include <stdint.h>

typedef struct { int64_t m; int32_t e; } edc_xf;

/* Leading zeros of u != 0 (one instruction on cores with CLZ). */
static inline int edc_clz64(uint64_t u) {
#if defined(__GNUC__)
    return (u >> 32) ? __builtin_clz((uint32_t)(u >> 32)) : 32 + __builtin_clz((uint32_t)u);
#else
    int n = 0;
    while (!(u >> 63)) { u <<= 1; n++; }
    return n;
#endif
}

void edc_xf_norm(edc_xf *r, int64_t m, int32_t e);     /* m 2^e, truncated to 62 bits */
void edc_xf_of_u64(edc_xf *r, uint64_t u, int32_t e);  /* u 2^e */
void edc_xf_of_bits(edc_xf *r, uint64_t bits);         /* a finite double by its bits (exact) */
void edc_xf_add(edc_xf *r, const edc_xf *a, const edc_xf *b);
void edc_xf_sub(edc_xf *r, const edc_xf *a, const edc_xf *b);
void edc_xf_mul(edc_xf *r, const edc_xf *a, const edc_xf *b);
void edc_xf_div(edc_xf *r, const edc_xf *a, const edc_xf *b);   /* b != 0 */
/* IEEE bits of neg ? -u 2^e : u 2^e with mb fraction bits, bias, exponent field max emax
 * (52, 1023, 2047: double; 23, 127, 255: float) and the sign at bit sbit. */
uint64_t edc_xf_pack(int neg, uint64_t u, int32_t e, int mb, int bias, int emax, int sbit);
/* The IEEE bits of a as a double (fmt 0) or a float (fmt 1). */
uint64_t edc_xf_ieee(const edc_xf *a, int fmt);
#endif
