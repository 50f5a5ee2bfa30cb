/* Categorical sketch: exact counts of up to `capacity` categories (the spec's known ones
 * first, then new ones in order of first appearance), "other" beyond, quality counters.
 * Matches edge_sdk.categorical.CategoricalSketch and edge_sdk.values.category_key. */
#include "edc_sketch.h"

void edc_cat_setup(edc_cat *s, const edc_feature_spec *fs, uint16_t capacity,
                   uint32_t *counts, edc_key *extra) {
    s->fs = fs;
    s->n_known = fs ? fs->n_known : 0;
    s->capacity = capacity > s->n_known ? capacity : s->n_known;
    s->counts = counts;
    s->extra = extra;
    edc_cat_reset(s);
}

void edc_cat_reset(edc_cat *s) {
    memset(s->counts, 0, 4u * s->capacity);
    s->n_extra = 0;
    s->missing = s->type_mismatch = s->unseen = s->other = 0;
}

/* Valid UTF-8 cut to 64 characters and EDC_KEY_BYTES bytes; 0 if the kept part is not
 * valid UTF-8 (edge_sdk only ever sees valid strings). */
static int utf8_cut(const char *s, size_t *out_len, uint32_t *hash) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, chars = 0;
    uint32_t h = 2166136261u;
    while (p[i] && chars < EDC_MAX_CHARS) {
        uint8_t c = p[i];
        if (c < 0x80) {                        /* ASCII: the common case */
            if (i + 1 > EDC_KEY_BYTES) break;
            h = (h ^ c) * 16777619u;
            i++;
            chars++;
            continue;
        }
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4 : 0;
        size_t j;
        uint32_t cp;
        if (!n) return 0;
        cp = n == 1 ? c : n == 2 ? (c & 0x1fu) : n == 3 ? (c & 0x0fu) : (c & 0x07u);
        for (j = 1; j < n; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3fu);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        if (i + n > EDC_KEY_BYTES) break;
        for (j = 0; j < n; j++) h = (h ^ p[i + j]) * 16777619u;
        i += n;
        chars++;
    }
    *out_len = i;
    *hash = h;
    return 1;
}

#define u64_dec edc_u64_dec

/* Decimal digits of an integral double >= 2^63 (exact; at most 309 digits), cut to `room`. */
static size_t big_dec(double x, char *out, size_t room) {
    uint32_t limb[36];                 /* base 1e9, little-endian */
    size_t nl, i, n = 0;
    uint64_t bits, mant;
    int exp, e;
    char tmp[12];
    memcpy(&bits, &x, 8);
    exp = (int)((bits >> 52) & 0x7ff) - 1075;
    mant = (bits & 0xfffffffffffffULL) | 0x10000000000000ULL;
    limb[0] = 0;
    nl = 1;
    for (e = 52 + exp; e >= 0; e--) {  /* times 2 plus the next mantissa bit, then 2^exp */
        uint32_t carry = e >= exp ? (uint32_t)(mant >> (e - exp) & 1u) : 0u;
        for (i = 0; i < nl; i++) {
            uint32_t v = limb[i] * 2u + carry;
            carry = v >= 1000000000u;
            limb[i] = carry ? v - 1000000000u : v;
        }
        if (carry) limb[nl++] = 1;
    }
    while (nl > 1 && limb[nl - 1] == 0) nl--;
    for (i = nl; i-- > 0;) {
        size_t k, d = 0;
        uint32_t v = limb[i];
        for (k = 0; k < 9; k++) { tmp[8 - k] = (char)('0' + v % 10); v /= 10; }
        if (i == nl - 1) while (d < 8 && tmp[d] == '0') d++;
        for (; d < 9 && n < room; d++) out[n++] = tmp[d];
    }
    return n;
}

static int category_key(const edc_value *v, char *buf, const char **out, size_t *len,
                        uint32_t *hash) {
    int rc;
    if (v->type == EDC_T_STR) {
        if (!v->v.s || !utf8_cut(v->v.s, len, hash)) return -1;
        *out = v->v.s;
        return 1;
    }
    rc = edc_category_key(v, buf, out, len);
    if (rc == 1) *hash = edc_fnv1a(*out, *len);
    return rc;
}

int edc_category_key(const edc_value *v, char *buf, const char **out, size_t *len) {
    uint32_t h;
    switch (v->type) {
    case EDC_T_MISSING: return 0;
    case EDC_T_STR:
        if (!v->v.s || !utf8_cut(v->v.s, len, &h)) return -1;
        *out = v->v.s;
        return 1;
    case EDC_T_BOOL:
        *out = v->v.b ? "true" : "false";
        *len = v->v.b ? 4 : 5;
        return 1;
    case EDC_T_I64: {
        int64_t i = v->v.i;
        size_t n = 0;
        if (i < 0) buf[n++] = '-';
        n += u64_dec(i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i, buf + n);
        *out = buf;
        *len = n;
        return 1;
    }
    case EDC_T_F64: {
        double x = v->v.f;
        uint64_t bits;
        int exp;
        size_t n = 0;
        memcpy(&bits, &x, 8);
        exp = (int)((bits >> 52) & 0x7ff);
        if (exp == 0x7ff) return (bits << 12) ? 0 : -1;      /* NaN: missing; inf: no key */
        if (exp < 1075) {                                     /* |x| < 2^52: integral? */
            if (exp < 1023) { if ((bits << 1) != 0) return -1; buf[0] = '0'; *len = 1; }
            else {
                uint64_t mant = (bits & 0xfffffffffffffULL) | 0x10000000000000ULL;
                int frac = 1075 - exp;
                if (mant & ((1ULL << frac) - 1)) return -1;
                if (bits >> 63) buf[n++] = '-';
                *len = n + u64_dec(mant >> frac, buf + n);
            }
        } else if (exp <= 1086) {                             /* 2^52 <= |x| < 2^64 */
            uint64_t mant = (bits & 0xfffffffffffffULL) | 0x10000000000000ULL;
            if (bits >> 63) buf[n++] = '-';
            *len = n + u64_dec(mant << (exp - 1075), buf + n);
        } else {
            if (bits >> 63) buf[n++] = '-';
            *len = n + big_dec(bits >> 63 ? -x : x, buf + n, EDC_MAX_CHARS - n);
        }
        *out = buf;
        return 1;
    }
    default: return -1;
    }
}

void edc_cat_update(edc_cat *s, const edc_value *v) {
    char buf[72];
    const char *key = NULL;
    size_t len = 0, i;
    uint32_t h = 0;
    int r = category_key(v, buf, &key, &len, &h);
    if (r <= 0) {
        if (r == 0) s->missing++;
        else s->type_mismatch++;
        return;
    }
    for (i = 0; i < s->n_known; i++) {
        const char *k = s->fs->known[i];
        if (s->fs->known_hash[i] == h && memcmp(k, key, len) == 0 && k[len] == '\0') {
            s->counts[i]++;
            return;
        }
    }
    if (s->n_known) s->unseen++;
    for (i = 0; i < s->n_extra; i++) {
        const edc_key *k = &s->extra[i];
        if (k->hash == h && k->len == len && memcmp(k->s, key, len) == 0) {
            s->counts[s->n_known + i]++;
            return;
        }
    }
    if (s->n_known + s->n_extra < s->capacity) {
        edc_key *k = &s->extra[s->n_extra];
        k->hash = h;
        k->len = (uint8_t)len;
        memcpy(k->s, key, len);
        s->counts[s->n_known + s->n_extra++] = 1;
        return;
    }
    s->other++;
}

static uint32_t cat_n(const edc_cat *s) {
    uint32_t n = s->other;
    unsigned i;
    for (i = 0; i < (unsigned)s->n_known + s->n_extra; i++) n += s->counts[i];
    return n;
}

void edc_cat_finalize(edc_cat *s, uint32_t records) {
    uint32_t seen = cat_n(s) + s->missing + s->type_mismatch;
    if (records > seen) s->missing += records - seen;
}

void edc_cat_encode(edc_mp *w, const edc_cat *s, const char *name) {
    unsigned i, total = (unsigned)s->n_known + s->n_extra, nonzero = 0;
    for (i = 0; i < total; i++) nonzero += s->counts[i] != 0;
    edc_mp_array(w, 7u + (name != NULL));
    if (name) edc_mp_cstr(w, name);
    edc_mp_uint(w, 1);
    edc_mp_uint(w, cat_n(s));
    edc_mp_uint(w, s->missing);
    edc_mp_uint(w, s->type_mismatch);
    edc_mp_uint(w, s->unseen);
    edc_mp_uint(w, s->other);
    edc_mp_map(w, nonzero);
    for (i = 0; i < total; i++) {
        if (!s->counts[i]) continue;
        if (i < s->n_known) edc_mp_cstr(w, s->fs->known[i]);
        else edc_mp_str(w, s->extra[i - s->n_known].s, s->extra[i - s->n_known].len);
        edc_mp_uint(w, s->counts[i]);
    }
}
