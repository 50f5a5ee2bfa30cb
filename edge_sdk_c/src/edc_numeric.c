/* Numeric sketch: a histogram over a fixed layout, extremes, moments and slot sums.
 *
 * Matches edge_sdk.numeric.NumericSketch value for value: NaN and None count as missing,
 * +-inf and |x| > 1e100 as inf, non-numbers as type mismatches; slot = number of edges <= x.
 * Comparisons run on integer order keys, so binning is exact with no floating point. Per
 * value the distance from the value's group reference edge is summed, and squared: in fixed
 * point (integers) for the inner regions, in extended floats (edc_xf.h, integers too) for
 * the two tails. The slot sums of wire v2 are those sums; mean and m2 follow at seal from
 * the within-group and between-group parts, which are all non-negative. No double
 * arithmetic runs anywhere (no libgcc soft-float is linked). edge_sdk folds sorted buffers
 * with fsum; the two agree within the quantisation of the fixed-point regions (tails to
 * ~1e-15), see docs/sdk-c.md. */
#include "edc_sketch.h"

#define ABS_MASK INT64_MAX
#define EXP_INF  0x7ff0000000000000LL
#define BITS_1E100 0x54b249ad2594c37dLL   /* 1e100 */

static uint64_t bits_of_key(int64_t k) {
    return (uint64_t)(k < 0 ? k ^ INT64_MAX : k);
}

void edc_num_setup(edc_num *s, const edc_layout *layout, uint32_t *counts, void *grp,
                   const edc_feature_spec *fs) {
    s->layout = layout;
    s->counts = counts;
    s->grp = (edc_grp *)grp;
    s->has_range = fs ? fs->has_range : 0;
    s->range_lo = fs ? fs->range_lo : 0;
    s->range_hi = fs ? fs->range_hi : 0;
    edc_num_reset(s);
}

void edc_num_reset(edc_num *s) {
    memset(s->counts, 0, 4u * (s->layout->n_edges + 1u));
    memset(s->grp, 0, sizeof(edc_grp) * (s->layout->n_regions + 2u));
    s->kmin = s->kmax = 0;
    s->n = s->missing = s->nan = s->inf = s->type_mismatch = s->out_of_range = 0;
}

/* round(x 2^S) (half away from zero) of the double with these bits, whose |x| 2^S < 2^62
 * (the generator checked that bound for every value of the group): integers only. */
static int64_t fixed_point(uint64_t bits, int sh_scale) {
    uint64_t m = bits & 0xfffffffffffffULL;
    int e = (int)((bits >> 52) & 0x7ff), sh;
    int64_t X;
    if (e) m |= 0x10000000000000ULL;
    else e = 1;
    sh = e - 1075 + sh_scale;
    if (sh >= 0) X = (int64_t)(m << sh);
    else if (sh > -63) X = (int64_t)(((m >> (-sh - 1)) + 1u) >> 1);   /* round half up */
    else X = 0;
    return bits >> 63 ? -X : X;
}

/* The tails' hot path: d = x - ref, sum d and d^2 into the group's extended floats with
 * integer operations only. */
#define HIDDEN (1ULL << 52)
#define FRAC (HIDDEN - 1u)
#define B62 ((int64_t)1 << 62)

static void acc(edc_xf *a, int64_t m, int32_t e) {      /* *a += m 2^e, both of one sign */
    int32_t d;
    if (!a->m) { a->m = m; a->e = e; return; }
    if (a->e < e) { int64_t t = a->m; a->m = m; m = t; d = e - a->e; a->e = e; }
    else d = a->e - e;
    if (d > 62) return;
    m = a->m + (m >> d);                                /* |m| < 2^63 */
    if (m >= B62 || m <= -B62) { m /= 2; a->e++; }
    a->m = m;
}

/* The double with these bits as m 2^(e - 1084), |m| in [2^61, 2^62) (0: m = 0). */
static EDC_ALWAYS_INLINE int64_t mant_of(uint64_t bits, int32_t *e) {
    int32_t ex = (int32_t)((bits >> 52) & 0x7ff);
    uint64_t u = bits & FRAC;
    int sh = 9;                                         /* leading bit 52 -> 61 */
    if (ex) u |= HIDDEN;
    else if (u) { sh = edc_clz64(u) - 2; ex = 10 - sh; } /* subnormal: u 2^-1074 */
    *e = ex;
    u <<= sh;
    return bits >> 63 ? -(int64_t)u : (int64_t)u;
}

static void tail_add(edc_grp *gr, uint64_t xb, uint64_t rb) {
    int32_t ex, er, e;
    int64_t mx = mant_of(xb, &ex), mr = -mant_of(rb, &er), m;
    uint64_t u, h, l;
    int z;
    if (ex < er) { int64_t t = mx; int32_t te = ex; mx = mr; mr = t; ex = er; er = te; }
    m = ex - er > 62 ? mx : mx + (mr >> (ex - er));
    if (!m) return;
    u = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
    z = edc_clz64(u) - 2;
    if (z < 0) u >>= 1; else u <<= z;
    e = ex - 1084 - z;
    acc(&gr->tl.d, m < 0 ? -(int64_t)u : (int64_t)u, e);
    h = u >> 32;                                        /* d^2: the top of u^2 */
    l = u & 0xffffffffu;
    u = (h * h + (((h * l) >> 32) << 1)) << 2;          /* in [2^60, 2^62) */
    e = 2 * e + 62;
    if (u < (1ULL << 61)) { u <<= 1; e--; }
    acc(&gr->tl.q, (int64_t)u, e);
}

/* One value given by its bits: NaN is missing, beyond +-1e100 inf, else binned and summed. */
static void add_bits(edc_num *s, uint64_t bits) {
    const edc_layout *lay = s->layout;
    const int64_t *e = lay->keys;             /* padded to 63 keys with INT64_MAX */
    uint64_t a = bits & (uint64_t)INT64_MAX;
    unsigned pos = 0, g;
    int64_t k;
    if (a > (uint64_t)EXP_INF) { s->missing++; return; }          /* NaN */
    if (a > (uint64_t)BITS_1E100) { s->inf++; return; }           /* +-inf, beyond 1e100 */
    k = a == 0 ? 0 : bits >> 63 ? (int64_t)(bits ^ (uint64_t)INT64_MAX) : (int64_t)bits;
    if (e[pos + 31] <= k) pos += 32;          /* slot = edges <= x, in six steps */
    if (e[pos + 15] <= k) pos += 16;
    if (e[pos + 7] <= k) pos += 8;
    if (e[pos + 3] <= k) pos += 4;
    if (e[pos + 1] <= k) pos += 2;
    if (e[pos] <= k) pos += 1;
    s->counts[pos]++;
    if (s->n++ == 0) {
        s->kmin = s->kmax = k;
    } else {
        if (k < s->kmin) s->kmin = k;
        if (k > s->kmax) s->kmax = k;
    }
    if (s->has_range && (k < s->range_lo || k > s->range_hi)) s->out_of_range++;
    g = lay->group[pos];
    if (lay->fx_shift[g] != EDC_FX_NONE) {    /* inner regions: integers */
        uint32_t q = (uint32_t)(fixed_point(bits, lay->fx_shift[g]) - lay->fx_ref[g]);
        uint64_t q2 = (uint64_t)q * q;
        edc_grp *gr = &s->grp[g];
        gr->fx.qsum += q;
        gr->fx.qsq += q2;
        if (gr->fx.qsq < q2) gr->fx.carry++;  /* the sum of squares wrapped: 2^64 more */
    } else {                                   /* the tails: extended floats */
        tail_add(&s->grp[g], bits, bits_of_key(e[lay->ref[g]]));
    }
}

void edc_num_update(edc_num *s, const edc_value *v) {
    switch (v->type) {
    case EDC_T_F64: { uint64_t b; memcpy(&b, &v->v.f, 8); add_bits(s, b); break; }
    case EDC_T_I64: {                                  /* (double)i, rounded as C rounds */
        int64_t i = v->v.i;
        add_bits(s, edc_xf_pack(i < 0, i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, 0,
                                52, 1023, 2047, 63));
        break;
    }
    case EDC_T_MISSING: s->missing++; break;
    default: s->type_mismatch++; break;               /* strings, bools, other */
    }
}

void edc_num_finalize(edc_num *s, uint32_t records) {
    uint32_t seen = s->n + s->nan + s->inf + s->type_mismatch + s->missing;
    if (records > seen) s->missing += records - seen;
}

static int f32_bits_ok(const edc_xf *t, uint8_t out[4]) {
    uint32_t b = (uint32_t)edc_xf_ieee(t, 1);
    if ((b & 0x7f800000u) == 0x7f800000u) return 0;    /* beyond float32: no sums */
    out[0] = (uint8_t)b; out[1] = (uint8_t)(b >> 8);
    out[2] = (uint8_t)(b >> 16); out[3] = (uint8_t)(b >> 24);
    return 1;
}

static void group_counts(const edc_num *s, uint32_t *cnt) {
    const edc_layout *lay = s->layout;
    unsigned i;
    memset(cnt, 0, 4u * (EDC_REGIONS + 2u));
    for (i = 0; i <= lay->n_edges; i++) cnt[lay->group[i]] += s->counts[i];
}

static void xf_key(edc_xf *r, int64_t k) { edc_xf_of_bits(r, bits_of_key(k)); }

static void ref_of(edc_xf *r, const edc_layout *lay, unsigned g) {
    xf_key(r, lay->keys[lay->ref[g]]);
}

/* Per group: D = sum of (x - ref) and Q = sum of (x - ref)^2, from the tails' extended
 * floats or from the integers: with sq = sum(q) 2^-S and delta = fx_ref 2^-S - ref,
 * D = sq + c delta and Q = sum(q^2) 2^-2S + 2 delta sq + c delta^2. */
static void group_sums(const edc_num *s, const uint32_t *cnt, edc_xf *D, edc_xf *Q) {
    const edc_layout *lay = s->layout;
    unsigned G = lay->n_regions + 2u, g;
    for (g = 0; g < G; g++) {
        const edc_grp *gr = &s->grp[g];
        int32_t S = lay->fx_shift[g];
        edc_xf c, delta, sq, t;
        if (S == EDC_FX_NONE) {
            D[g] = gr->tl.d;
            Q[g] = gr->tl.q;
            continue;
        }
        edc_xf_of_u64(&c, cnt[g], 0);
        edc_xf_norm(&t, lay->fx_ref[g], -S);
        ref_of(&delta, lay, g);
        edc_xf_sub(&delta, &t, &delta);
        edc_xf_norm(&sq, gr->fx.qsum, -S);
        edc_xf_mul(&t, &c, &delta);
        edc_xf_add(&D[g], &sq, &t);                              /* D */
        edc_xf_of_u64(&Q[g], gr->fx.qsq, -2 * S);
        edc_xf_of_u64(&t, gr->fx.carry, 64 - 2 * S);
        edc_xf_add(&Q[g], &Q[g], &t);                            /* sum(q^2) 2^-2S */
        edc_xf_mul(&t, &delta, &sq);
        if (t.m) t.e++;
        edc_xf_add(&Q[g], &Q[g], &t);                            /* + 2 delta sq */
        edc_xf_mul(&t, &delta, &delta);
        edc_xf_mul(&t, &c, &t);
        edc_xf_add(&Q[g], &Q[g], &t);                            /* + c delta^2 */
    }
}

static void encode_sums(edc_mp *w, const edc_num *s, const uint32_t *cnt, edc_xf *D) {
    const edc_layout *lay = s->layout;
    unsigned R = lay->n_regions, g, last = 0, i;
    uint8_t out[EDC_REGIONS + 8];
    for (g = 1; g <= R; g++) {
        uint8_t b = 0;
        for (i = last; i <= lay->n_edges && lay->group[i] <= g; i++) last = i;
        if (cnt[g]) {             /* 256 D / (c width), width = edges[last] - edges[first-1] */
            edc_xf q, t;
            xf_key(&q, lay->keys[last]);
            ref_of(&t, lay, g);
            edc_xf_sub(&q, &q, &t);
            edc_xf_of_u64(&t, cnt[g], 0);
            edc_xf_mul(&t, &t, &q);
            q = D[g];
            q.e += 8;
            edc_xf_div(&q, &q, &t);
            b = q.m <= 0 ? 0 : q.e >= 0 ? 255 : q.e <= -63 ? 0
                : (q.m >> -q.e) >= 255 ? 255 : (uint8_t)(q.m >> -q.e);
        }
        out[g - 1] = b;
    }
    D[0].m = -D[0].m;                                       /* the tails' distances, >= 0 */
    for (g = 0; g <= R + 1; g += R + 1) if (D[g].m < 0) D[g].m = 0;
    if (!f32_bits_ok(&D[0], out + R) || !f32_bits_ok(&D[R + 1], out + R + 4)) {
        edc_mp_bin_header(w, 0);
        return;
    }
    edc_mp_bin_header(w, R + 8u);
    edc_mp_raw(w, out, R + 8u);
}

static void put_xf(edc_mp *w, const edc_xf *x) {
    uint64_t b = edc_xf_ieee(x, 0);
    double d;
    memcpy(&d, &b, 8);
    edc_mp_f64(w, d);
}

void edc_num_encode(edc_mp *w, const edc_num *s, int version, const char *name) {
    unsigned slots = s->layout->n_edges + 1u, i, width;
    unsigned groups = s->layout->n_regions + 2u;
    uint32_t top = 0, cnt[EDC_REGIONS + 2];
    edc_xf D[EDC_REGIONS + 2], Q[EDC_REGIONS + 2];
    edc_xf mean = {0, 0}, m2 = {0, 0}, c, t, u;
    uint8_t b[4];
    edc_mp_array(w, (version >= 2 ? 14u : 13u) + (name != NULL));
    if (name) edc_mp_cstr(w, name);
    edc_mp_uint(w, 0);
    edc_mp_cstr(w, s->layout->id);
    edc_mp_uint(w, s->n);
    edc_mp_uint(w, s->missing);
    edc_mp_uint(w, s->nan);
    edc_mp_uint(w, s->inf);
    edc_mp_f64(w, s->n ? edc_double_of(s->kmin) : 0.0);
    edc_mp_f64(w, s->n ? edc_double_of(s->kmax) : 0.0);
    group_counts(s, cnt);
    group_sums(s, cnt, D, Q);
    /* mean = sum(D + c ref) / n; m2 = sum(max(0, Q - D^2/c) + c (D/c + ref - mean)^2) */
    for (i = 0; s->n && i < groups; i++) {
        if (!cnt[i]) continue;
        edc_xf_of_u64(&c, cnt[i], 0);
        ref_of(&t, s->layout, i);
        edc_xf_mul(&t, &c, &t);
        edc_xf_add(&mean, &mean, &t);
        edc_xf_add(&mean, &mean, &D[i]);
    }
    edc_xf_of_u64(&c, s->n, 0);
    if (s->n) edc_xf_div(&mean, &mean, &c);
    for (i = 0; s->n && i < groups; i++) {
        if (!cnt[i]) continue;
        edc_xf_of_u64(&c, cnt[i], 0);
        edc_xf_div(&t, &D[i], &c);                              /* D / c */
        edc_xf_mul(&u, &D[i], &t);
        edc_xf_sub(&u, &Q[i], &u);                              /* within the group */
        if (u.m > 0) edc_xf_add(&m2, &m2, &u);
        ref_of(&u, s->layout, i);
        edc_xf_add(&t, &t, &u);
        edc_xf_sub(&t, &t, &mean);
        edc_xf_mul(&t, &t, &t);
        edc_xf_mul(&t, &c, &t);
        edc_xf_add(&m2, &m2, &t);                               /* between the groups */
    }
    put_xf(w, &mean);
    put_xf(w, &m2);
    for (i = 0; i < slots; i++) if (s->counts[i] > top) top = s->counts[i];
    width = top < 0x100 ? 1 : top < 0x10000 ? 2 : 4;
    edc_mp_bin_header(w, 1 + width * slots);
    b[0] = (uint8_t)width;
    edc_mp_raw(w, b, 1);
    for (i = 0; i < slots; i++) {
        uint32_t cc = s->counts[i];
        b[0] = (uint8_t)cc; b[1] = (uint8_t)(cc >> 8); b[2] = (uint8_t)(cc >> 16);
        b[3] = (uint8_t)(cc >> 24);
        edc_mp_raw(w, b, width);
    }
    edc_mp_uint(w, s->type_mismatch);
    edc_mp_uint(w, s->out_of_range);
    if (version >= 2) encode_sums(w, s, cnt, D);
}
