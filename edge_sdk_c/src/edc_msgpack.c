/* The msgpack subset the wire format uses, written the way Python's msgpack packs it
 * (smallest integer form, float64, str8 for 32..255 bytes, bin8/16/32). */
#include "edc_internal.h"

void edc_mp_raw(edc_mp *w, const void *data, size_t n) {
    if (w->err || n > w->cap - w->len) { w->err = 1; return; }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void put_be(edc_mp *w, uint8_t tag, uint64_t v, int bytes) {
    uint8_t b[9];
    int i;
    b[0] = tag;
    for (i = 0; i < bytes; i++) b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    edc_mp_raw(w, b, (size_t)bytes + 1);
}

void edc_mp_uint(edc_mp *w, uint64_t v) {
    if (v < 128) { uint8_t b = (uint8_t)v; edc_mp_raw(w, &b, 1); }
    else if (v <= 0xff) put_be(w, 0xcc, v, 1);
    else if (v <= 0xffff) put_be(w, 0xcd, v, 2);
    else if (v <= 0xffffffffu) put_be(w, 0xce, v, 4);
    else put_be(w, 0xcf, v, 8);
}

void edc_mp_int(edc_mp *w, int64_t v) {
    if (v >= 0) { edc_mp_uint(w, (uint64_t)v); return; }
    if (v >= -32) { uint8_t b = (uint8_t)(0xe0 | (v + 32)); edc_mp_raw(w, &b, 1); }
    else if (v >= -128) put_be(w, 0xd0, (uint64_t)v & 0xff, 1);
    else if (v >= -32768) put_be(w, 0xd1, (uint64_t)v & 0xffff, 2);
    else if (v >= INT32_MIN) put_be(w, 0xd2, (uint64_t)v & 0xffffffffu, 4);
    else put_be(w, 0xd3, (uint64_t)v, 8);
}

void edc_mp_f64(edc_mp *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_be(w, 0xcb, bits, 8);
}

void edc_mp_str(edc_mp *w, const char *s, size_t n) {
    if (n < 32) { uint8_t b = (uint8_t)(0xa0 | n); edc_mp_raw(w, &b, 1); }
    else if (n <= 0xff) put_be(w, 0xd9, n, 1);
    else if (n <= 0xffff) put_be(w, 0xda, n, 2);
    else put_be(w, 0xdb, n, 4);
    edc_mp_raw(w, s, n);
}

void edc_mp_cstr(edc_mp *w, const char *s) { edc_mp_str(w, s, strlen(s)); }

void edc_mp_bin_header(edc_mp *w, size_t n) {
    if (n <= 0xff) put_be(w, 0xc4, n, 1);
    else if (n <= 0xffff) put_be(w, 0xc5, n, 2);
    else put_be(w, 0xc6, n, 4);
}

void edc_mp_array(edc_mp *w, uint32_t n) {
    if (n < 16) { uint8_t b = (uint8_t)(0x90 | n); edc_mp_raw(w, &b, 1); }
    else if (n <= 0xffff) put_be(w, 0xdc, n, 2);
    else put_be(w, 0xdd, n, 4);
}

void edc_mp_map(edc_mp *w, uint32_t n) {
    if (n < 16) { uint8_t b = (uint8_t)(0x80 | n); edc_mp_raw(w, &b, 1); }
    else if (n <= 0xffff) put_be(w, 0xde, n, 2);
    else put_be(w, 0xdf, n, 4);
}

uint32_t edc_fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
    return h;
}

/* Decimal digits of v without 64-bit division (which would pull libgcc's 700-byte
 * __udivmoddi4 into a Cortex-M image): subtract powers of ten. */
size_t edc_u64_dec(uint64_t v, char *out) {
    static const uint64_t p10[20] = {
        10000000000000000000ULL, 1000000000000000000ULL, 100000000000000000ULL,
        10000000000000000ULL, 1000000000000000ULL, 100000000000000ULL, 10000000000000ULL,
        1000000000000ULL, 100000000000ULL, 10000000000ULL, 1000000000ULL, 100000000ULL,
        10000000ULL, 1000000ULL, 100000ULL, 10000ULL, 1000ULL, 100ULL, 10ULL, 1ULL};
    size_t n = 0;
    int i;
    for (i = 0; i < 20; i++) {
        char d = '0';
        while (v >= p10[i]) { v -= p10[i]; d++; }
        if (d != '0' || n || i == 19) out[n++] = d;
    }
    return n;
}
