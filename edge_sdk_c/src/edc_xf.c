/* Extended float (edc_xf.h): add, multiply, divide and IEEE rounding on 64-bit integers. */
#include "edc_xf.h"

static uint64_t mag(int64_t m) { return m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m; }

void edc_xf_of_u64(edc_xf *r, uint64_t u, int32_t e) {
    int z;
    r->m = 0;
    r->e = 0;
    if (!u) return;
    z = edc_clz64(u) - 2;                   /* leading bit to 61: |m| in [2^61, 2^62) */
    if (z < 0) u >>= -z;
    else u <<= z;
    r->m = (int64_t)u;
    r->e = e - z;
}

void edc_xf_norm(edc_xf *r, int64_t m, int32_t e) {
    edc_xf_of_u64(r, mag(m), e);
    if (m < 0) r->m = -r->m;
}

void edc_xf_of_bits(edc_xf *r, uint64_t bits) {
    int64_t mant = (int64_t)(bits & 0xfffffffffffffULL);
    int32_t ex = (int32_t)((bits >> 52) & 0x7ff);
    if (ex) mant |= (int64_t)1 << 52;
    else ex = 1;
    edc_xf_norm(r, bits >> 63 ? -mant : mant, ex - 1075);
}

void edc_xf_add(edc_xf *r, const edc_xf *a, const edc_xf *b) {
    int32_t d;
    if (!b->m) { *r = *a; return; }
    if (!a->m) { *r = *b; return; }
    if (a->e < b->e) { const edc_xf *t = a; a = b; b = t; }
    d = a->e - b->e;                        /* |a.m| + |b.m >> d| < 2^63: no overflow */
    edc_xf_norm(r, d > 62 ? a->m : a->m + (b->m >> d), a->e);
}

void edc_xf_sub(edc_xf *r, const edc_xf *a, const edc_xf *b) {
    edc_xf nb = *b;
    nb.m = -nb.m;
    edc_xf_add(r, a, &nb);
}

void edc_xf_mul(edc_xf *r, const edc_xf *a, const edc_xf *b) {
    uint64_t ua = mag(a->m), ub = mag(b->m);
    uint64_t ah = ua >> 32, al = ua & 0xffffffffu, bh = ub >> 32, bl = ub & 0xffffffffu;
    /* the top of the 124-bit product: >= 2^58, low bits cut (relative error < 2^-57) */
    uint64_t hi = ah * bh + ((ah * bl) >> 32) + ((al * bh) >> 32);
    int neg = (a->m < 0) != (b->m < 0);
    edc_xf_norm(r, neg ? -(int64_t)hi : (int64_t)hi, a->e + b->e + 64);
}

void edc_xf_div(edc_xf *r, const edc_xf *a, const edc_xf *b) {
    uint64_t rem = mag(a->m), d = mag(b->m), q = 0;
    int neg = (a->m < 0) != (b->m < 0), i;
    for (i = 0; d && i < 62; i++) {         /* restoring division, one bit per step */
        q <<= 1;
        if (rem >= d) { rem -= d; q |= 1; }
        rem <<= 1;
    }
    edc_xf_norm(r, neg ? -(int64_t)q : (int64_t)q, a->e - b->e - 61);
}

uint64_t edc_xf_pack(int neg, uint64_t u, int32_t e, int mb, int bias, int emax, int sbit) {
    uint64_t keep, rem, half, bits, sign = (uint64_t)(neg != 0) << sbit;
    int32_t biased, drop, z;
    if (!u) return sign;
    z = edc_clz64(u);                       /* leading bit at 63: value = u 2^e */
    u <<= z;
    e -= z;
    biased = e + 63 + bias;
    if (biased >= emax) return sign | (uint64_t)emax << mb;
    drop = 63 - mb;
    if (biased < 1) { drop += 1 - biased; biased = 1; }   /* subnormal */
    if (drop > 64) return sign;             /* below half the smallest subnormal */
    keep = drop == 64 ? 0 : u >> drop;
    rem = drop == 64 ? u : u & ((1ULL << drop) - 1);
    half = 1ULL << (drop - 1);
    if (rem > half || (rem == half && (keep & 1))) keep++;
    bits = ((uint64_t)(biased - 1) << mb) + keep;        /* a carry moves into the exponent */
    if ((bits >> mb) >= (uint64_t)emax) bits = (uint64_t)emax << mb;
    return sign | bits;
}

uint64_t edc_xf_ieee(const edc_xf *a, int fmt) {
    return fmt ? edc_xf_pack(a->m < 0, mag(a->m), a->e, 23, 127, 255, 31)
               : edc_xf_pack(a->m < 0, mag(a->m), a->e, 52, 1023, 2047, 63);
}
