/* Extended float (edc_xf.h): add, multiply, divide and IEEE rounding on 64-bit integers. */
#include "edc_xf.h"

edc_xf edc_xf_of_u64(uint64_t u, int32_t e) {
    edc_xf r = {0, 0};
    int z;
    if (!u) return r;
    z = edc_clz64(u) - 2;                       /* leading bit to 61: |m| in [2^61, 2^62) */
    if (z < 0) { u >>= -z; e -= z; }
    else { u <<= z; e -= z; }
    r.m = (int64_t)u;
    r.e = e;
    return r;
}

edc_xf edc_xf_norm(int64_t m, int32_t e) {
    edc_xf r = edc_xf_of_u64(m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m, e);
    if (m < 0) r.m = -r.m;
    return r;
}

edc_xf edc_xf_of_bits(uint64_t bits) {
    uint64_t mant = bits & 0xfffffffffffffULL;
    int32_t ex = (int32_t)((bits >> 52) & 0x7ff);
    if (ex) mant |= 1ULL << 52;
    else ex = 1;
    return edc_xf_norm(bits >> 63 ? -(int64_t)mant : (int64_t)mant, ex - 1075);
}

edc_xf edc_xf_add(edc_xf a, edc_xf b) {
    int32_t d;
    if (!a.m) return b;
    if (!b.m) return a;
    if (a.e < b.e) { edc_xf t = a; a = b; b = t; }
    d = a.e - b.e;                          /* |a.m| + |b.m >> d| < 2^63: no overflow */
    if (d > 62) return a;
    return edc_xf_norm(a.m + (b.m >> d), a.e);
}

edc_xf edc_xf_mul(edc_xf a, edc_xf b) {
    int neg = (a.m < 0) != (b.m < 0);
    uint64_t ua = a.m < 0 ? (uint64_t)0 - (uint64_t)a.m : (uint64_t)a.m;
    uint64_t ub = b.m < 0 ? (uint64_t)0 - (uint64_t)b.m : (uint64_t)b.m;
    uint64_t ah = ua >> 32, al = ua & 0xffffffffu, bh = ub >> 32, bl = ub & 0xffffffffu;
    /* the top of the 124-bit product: >= 2^58, low bits cut (relative error < 2^-57) */
    uint64_t hi = ah * bh + ((ah * bl) >> 32) + ((al * bh) >> 32);
    if (!a.m || !b.m) return edc_xf_norm(0, 0);
    return edc_xf_norm(neg ? -(int64_t)hi : (int64_t)hi, a.e + b.e + 64);
}


edc_xf edc_xf_div(edc_xf a, edc_xf b) {
    int neg = (a.m < 0) != (b.m < 0), i;
    uint64_t r = a.m < 0 ? (uint64_t)0 - (uint64_t)a.m : (uint64_t)a.m;
    uint64_t d = b.m < 0 ? (uint64_t)0 - (uint64_t)b.m : (uint64_t)b.m, q = 0;
    if (!a.m || !d) return edc_xf_norm(0, 0);
    for (i = 0; i < 62; i++) {              /* restoring division, one bit per step */
        q <<= 1;
        if (r >= d) { r -= d; q |= 1; }
        r <<= 1;
    }
    return edc_xf_norm(neg ? -(int64_t)q : (int64_t)q, a.e - b.e - 61);
}

uint64_t edc_xf_pack(int neg, uint64_t u, int32_t e, int mb, int bias, int emax, int sbit) {
    uint64_t keep, rem, half, bits, sign = (uint64_t)(neg != 0) << sbit;
    int32_t biased, drop;
    if (!u) return sign;
    {                                       /* leading bit at 63: value = u 2^e */
        int z = edc_clz64(u);
        u <<= z;
        e -= z;
    }
    biased = e + 63 + bias;
    if (biased >= emax) return sign | (uint64_t)emax << mb;
    drop = 63 - mb;
    if (biased < 1) { drop += 1 - biased; biased = 1; }   /* subnormal */
    if (drop > 63) return sign;
    keep = u >> drop;
    rem = u & ((1ULL << drop) - 1);
    half = 1ULL << (drop - 1);
    if (rem > half || (rem == half && (keep & 1))) keep++;
    bits = ((uint64_t)(biased - 1) << mb) + keep;        /* a carry moves into the exponent */
    if ((bits >> mb) >= (uint64_t)emax) bits = (uint64_t)emax << mb;
    return sign | bits;
}
