/* Numeric sketch: a histogram over a fixed layout, extremes, moments and slot sums.
 *
 * Matches edge_sdk.numeric.NumericSketch value for value: NaN and None count as missing,
 * +-inf and |x| > 1e100 as inf, non-numbers as type mismatches; slot = number of edges <= x.
 * Comparisons run on integer order keys (no floating point), so binning is exact on a
 * soft-float core. Per value one subtraction, one product and two additions: the sum and
 * the sum of squares of the distance from the value's group reference edge (the slot sums
 * of wire v2 are those sums; mean and m2 follow at seal from the within-group and
 * between-group parts, which are all non-negative). edge_sdk folds sorted buffers with
 * fsum; the two agree to ~1e-12 relative, see docs/sdk-c.md. */
#include "edc_sketch.h"

#define ABS_MASK INT64_MAX
#define EXP_INF  0x7ff0000000000000LL
#define BITS_1E100 0x54b249ad2594c37dLL   /* 1e100 */

void edc_num_setup(edc_num *s, const edc_layout *layout, uint32_t *counts, double *gsum,
                   const edc_feature_spec *fs) {
    s->layout = layout;
    s->counts = counts;
    s->gsum = gsum;
    s->qsum = (int64_t *)(void *)(gsum + 2u * (layout->n_regions + 2u));
    s->qsq = (uint64_t *)(void *)(gsum + 3u * (layout->n_regions + 2u));
    s->has_range = fs ? fs->has_range : 0;
    s->range_lo = fs ? fs->range_lo : 0;
    s->range_hi = fs ? fs->range_hi : 0;
    edc_num_reset(s);
}

void edc_num_reset(edc_num *s) {
    memset(s->counts, 0, 4u * (s->layout->n_edges + 1u));
    memset(s->gsum, 0, 32u * (s->layout->n_regions + 2u));
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
    if (lay->fx_shift[g] != EDC_FX_NONE) {    /* inner regions: integers, no soft float */
        uint32_t q = (uint32_t)(fixed_point(bits, lay->fx_shift[g]) - lay->fx_ref[g]);
        uint64_t q2 = (uint64_t)q * q;
        s->qsum[g] += q;
        if (s->qsq[g] + q2 < q2) {              /* fold before the sum of squares wraps */
            s->gsum[g + lay->n_regions + 2u] += (double)s->qsq[g];
            s->qsq[g] = 0;
        }
        s->qsq[g] += q2;
    } else {                                   /* the tails: doubles */
        double x, d;
        memcpy(&x, &bits, 8);
        d = x + edc_neg(edc_double_of(e[lay->ref[g]]));
        s->gsum[g] += d;
        s->gsum[g + lay->n_regions + 2u] += d * d;
    }
}

static void add_double(edc_num *s, double x) {
    uint64_t bits;
    memcpy(&bits, &x, 8);
    add_bits(s, bits);
}

void edc_num_update(edc_num *s, const edc_value *v) {
    switch (v->type) {
    case EDC_T_F64: { uint64_t b; memcpy(&b, &v->v.f, 8); add_bits(s, b); break; }
    case EDC_T_I64: add_double(s, (double)v->v.i); break;
    case EDC_T_MISSING: s->missing++; break;
    default: s->type_mismatch++; break;               /* strings, bools, other */
    }
}

void edc_num_finalize(edc_num *s, uint32_t records) {
    uint32_t seen = s->n + s->nan + s->inf + s->type_mismatch + s->missing;
    if (records > seen) s->missing += records - seen;
}

static int f32_bits_ok(double t, uint8_t out[4]) {
    float f = (float)t;
    uint32_t b;
    memcpy(&b, &f, 4);
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

static double ref_of(const edc_layout *lay, unsigned g) {
    return edc_double_of(lay->keys[lay->ref[g]]);
}

static double pow2(int e) {                   /* 2^e for |e| < 1023, no libm */
    uint64_t bits = (uint64_t)(e + 1023) << 52;
    double x;
    memcpy(&x, &bits, 8);
    return x;
}

/* Per group: D = sum of (x - ref) and Q = sum of (x - ref)^2, from doubles or integers. */
static void group_sums(const edc_num *s, const uint32_t *cnt, double *D, double *Q) {
    const edc_layout *lay = s->layout;
    unsigned G = lay->n_regions + 2u, g;
    for (g = 0; g < G; g++) {
        D[g] = s->gsum[g];
        Q[g] = s->gsum[G + g];
        if (lay->fx_shift[g] != EDC_FX_NONE && cnt[g]) {
            double sc = pow2(-lay->fx_shift[g]), c = (double)cnt[g];
            double delta = (double)lay->fx_ref[g] * sc + edc_neg(ref_of(lay, g));
            double sq = (double)s->qsum[g], q2 = Q[g] + (double)s->qsq[g];
            D[g] = sc * sq + c * delta;
            Q[g] = sc * sc * q2 + 2.0 * sc * delta * sq + c * delta * delta;
        }
    }
}

static void encode_sums(edc_mp *w, const edc_num *s, const uint32_t *cnt, const double *D) {
    const edc_layout *lay = s->layout;
    unsigned R = lay->n_regions, g, last = 0, i;
    uint8_t out[EDC_REGIONS + 8];
    double t0 = -D[0], t1 = D[R + 1];
    for (g = 1; g <= R; g++) {
        double lo = ref_of(lay, g), width, q;
        uint8_t b = 0;
        for (i = last; i <= lay->n_edges && lay->group[i] <= g; i++) last = i;
        width = edc_double_of(lay->keys[last]) + edc_neg(lo);          /* edges[last] - edges[first-1] */
        if (cnt[g]) {
            q = D[g] / ((double)cnt[g] * width) * 256.0;
            b = !edc_positive(q) ? 0 : edc_key_of(q) >= 0x406fe00000000000LL /* 255.0 */
                ? 255 : (uint8_t)(int)q;
        }
        out[g - 1] = b;
    }
    if (!edc_positive(t0)) t0 = 0.0;
    if (!edc_positive(t1)) t1 = 0.0;
    if (!f32_bits_ok(t0, out + R) || !f32_bits_ok(t1, out + R + 4)) {
        edc_mp_bin_header(w, 0);
        return;
    }
    edc_mp_bin_header(w, R + 8u);
    edc_mp_raw(w, out, R + 8u);
}

void edc_num_encode(edc_mp *w, const edc_num *s, int version, const char *name) {
    unsigned slots = s->layout->n_edges + 1u, i, width;
    uint32_t top = 0, cnt[EDC_REGIONS + 2];
    double D[EDC_REGIONS + 2], Q[EDC_REGIONS + 2];
    double mean = 0.0, m2 = 0.0, total = 0.0;
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
    if (s->n) {                 /* mean; m2 = within-group + between-group parts */
        unsigned groups = s->layout->n_regions + 2u;
        for (i = 0; i < groups; i++)
            if (cnt[i]) total += D[i] + (double)cnt[i] * ref_of(s->layout, i);
        mean = total / (double)s->n;
        for (i = 0; i < groups; i++) {
            double c = (double)cnt[i], d, within;
            if (!cnt[i]) continue;
            within = Q[i] + edc_neg(D[i] * D[i] / c);
            d = D[i] / c + ref_of(s->layout, i) + edc_neg(mean);
            m2 += (edc_positive(within) ? within : 0.0) + c * d * d;
        }
    }
    edc_mp_f64(w, mean);
    edc_mp_f64(w, m2);
    for (i = 0; i < slots; i++) if (s->counts[i] > top) top = s->counts[i];
    width = top < 0x100 ? 1 : top < 0x10000 ? 2 : 4;
    edc_mp_bin_header(w, 1 + width * slots);
    b[0] = (uint8_t)width;
    edc_mp_raw(w, b, 1);
    for (i = 0; i < slots; i++) {
        uint32_t c = s->counts[i];
        b[0] = (uint8_t)c; b[1] = (uint8_t)(c >> 8); b[2] = (uint8_t)(c >> 16);
        b[3] = (uint8_t)(c >> 24);
        edc_mp_raw(w, b, width);
    }
    edc_mp_uint(w, s->type_mismatch);
    edc_mp_uint(w, s->out_of_range);
    if (version >= 2) encode_sums(w, s, cnt, D);
}
