/* C-level unit tests: HMAC-SHA256 against RFC 4231, msgpack integer forms, category keys,
 * the compile-time bounds against the library's, and a seal into a too-small buffer. */
#include <stdio.h>
#include <string.h>
#include "edgedrift.h"
#include "edc_internal.h"
#include "edc_sketch.h"
#include "spec.h"
#include "edc_xf.h"
#include <math.h>

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, \
    __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static void hex(const uint8_t *p, size_t n, char *out) {
    size_t i;
    for (i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void rfc4231(void) {
    static const struct { uint8_t kb; size_t kl; const char *data; uint8_t db; size_t dl;
                          const char *mac; } v[] = {
        {0x0b, 20, "Hi There", 0, 0,
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {0, 0, "what do ya want for nothing?", 0, 0,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {0xaa, 20, NULL, 0xdd, 50,
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {1, 25, NULL, 0xcd, 50,
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {0x0c, 20, "Test With Truncation", 0, 0, "a3b6167473100ee06e0c796c2955552b"},
        {0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {0xaa, 131, "This is a test using a larger than block-size key and a larger than "
         "block-size data. The key needs to be hashed before being used by the HMAC "
         "algorithm.", 0, 0,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"}};
    size_t i, j;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t key[131], data[64], mac[32];
        char got[65];
        const void *msg = v[i].data;
        size_t kl = v[i].kl, ml = v[i].data ? strlen(v[i].data) : v[i].dl;
        if (i == 1) { memcpy(key, "Jefe", 4); kl = 4; }
        else for (j = 0; j < kl; j++) key[j] = v[i].kb == 1 ? (uint8_t)(j + 1) : v[i].kb;
        if (!v[i].data) { memset(data, v[i].db, v[i].dl); msg = data; }
        edc_hmac_sha256(key, kl, msg, ml, mac);
        hex(mac, 32, got);
        CHECK(strncmp(got, v[i].mac, strlen(v[i].mac)) == 0, "RFC 4231 case %zu: %s", i + 1, got);
    }
}

static void msgpack_forms(void) {
    static const struct { int64_t v; const char *bytes; } ints[] = {
        {0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"},
        {65536, "ce00010000"}, {4294967296LL, "cf0000000100000000"}, {-1, "ff"},
        {-32, "e0"}, {-33, "d0df"}, {-129, "d1ff7f"}, {-40000, "d2ffff63c0"}};
    size_t i;
    for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        uint8_t buf[16];
        char got[40];
        edc_mp w = {buf, 0, sizeof buf, 0};
        edc_mp_int(&w, ints[i].v);
        hex(buf, w.len, got);
        CHECK(strcmp(got, ints[i].bytes) == 0, "msgpack %lld: %s", (long long)ints[i].v, got);
    }
    {
        uint8_t buf[4];
        edc_mp w = {buf, 0, sizeof buf, 0};
        edc_mp_f64(&w, 1.0);
        CHECK(w.err && w.len == 0, "an overflowing write sets err and writes nothing");
    }
}

static void category_keys(void) {
    static const struct { edc_value v; int rc; const char *key; } cases[] = {
        {EDC_F64_INIT(16.0), 1, "16"}, {EDC_F64_INIT(-0.0), 1, "0"},
        {EDC_F64_INIT(16.5), -1, ""}, {EDC_F64_INIT(1e20), 1, "100000000000000000000"},
        {EDC_F64_INIT(-9007199254740993.0), 1, "-9007199254740992"},
        {EDC_F64_INIT(1e300), 1, "1000000000000000052504760255204420248704468581108159154915854115"},
        {EDC_I64_INIT(INT64_MIN), 1, "-9223372036854775808"}, {EDC_BOOL_INIT(1), 1, "true"},
        {EDC_STR_INIT("front"), 1, "front"}, {EDC_STR_INIT("\xff"), -1, ""},
        {EDC_MISSING_INIT, 0, ""}};
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[72], got[80] = "";
        const char *k = NULL;
        size_t len = 0;
        int rc = edc_category_key(&cases[i].v, buf, &k, &len);
        if (rc == 1) { memcpy(got, k, len); got[len] = 0; }
        CHECK(rc == cases[i].rc && strcmp(got, cases[i].key) == 0, "key %zu: rc %d %s", i, rc, got);
    }
    {
        edc_value nan;
        uint64_t bits = 0x7ff8000000000001ULL;
        char buf[72];
        const char *k;
        size_t len;
        nan.type = EDC_T_F64;
        memcpy(&nan.v.f, &bits, 8);
        CHECK(edc_category_key(&nan, buf, &k, &len) == 0, "NaN is missing");
    }
}

static uint8_t arena[EDC_SPEC_ARENA_BYTES];
static uint8_t out[EDC_SPEC_MAX_WINDOW_BYTES];

static void bounds_and_space(void) {
    static const char id[] = "0123456789012345678901234567890123456789012345678901234567890123";
    edc_config cfg = {id, id, id, NULL, NULL, 0, 0, 0};
    edc_monitor m;
    edc_value v[EDC_SPEC_FEATURES];
    edc_value lat = EDC_F64_INIT(4.0);
    long small, full;
    int i;
    CHECK(sizeof id - 1 == EDC_SPEC_MAX_ID_LEN, "id length");
    CHECK(edc_arena_bytes(&EDC_SPEC, 0) == EDC_SPEC_ARENA_BYTES, "arena %zu vs macro %zu",
          edc_arena_bytes(&EDC_SPEC, 0), (size_t)EDC_SPEC_ARENA_BYTES);
    CHECK(edc_max_window_bytes(&EDC_SPEC, &cfg) == EDC_SPEC_MAX_WINDOW_BYTES,
          "window bound %zu vs macro %u", edc_max_window_bytes(&EDC_SPEC, &cfg),
          EDC_SPEC_MAX_WINDOW_BYTES);
    CHECK(edc_init(&m, &EDC_SPEC, &cfg, arena, sizeof arena - 8, 0) == EDC_E_ARENA,
          "a short arena is refused");
    {
        edc_config bad = cfg;
        static const char *const tags[] = {"", "x"};
        bad.model = "../etc";
        CHECK(edc_init(&m, &EDC_SPEC, &bad, arena, sizeof arena, 0) == EDC_E_CONFIG,
              "a model name that is not a directory name is refused");
        bad.model = "kws-v2.1";
        CHECK(edc_init(&m, &EDC_SPEC, &bad, arena, sizeof arena, 0) == EDC_OK, "kws-v2.1");
        bad.tags = tags;
        bad.n_tags = 1;
        CHECK(edc_init(&m, &EDC_SPEC, &bad, arena, sizeof arena, 0) == EDC_E_CONFIG,
              "an empty tag name is refused");
    }
    CHECK(edc_init(&m, &EDC_SPEC, &cfg, arena, sizeof arena, 0) == EDC_OK, "init");
    CHECK(m.arena_used <= sizeof arena, "carved %zu of %zu", m.arena_used, sizeof arena);
    for (i = 0; i < EDC_SPEC_FEATURES; i++) { v[i].type = EDC_T_F64; v[i].v.f = i * 0.5; }
    edc_log(&m, v, NULL, &lat, NULL);
    small = edc_seal(&m, 1000, 1, NULL, out, 100);
    CHECK(small == EDC_E_SPACE, "a small buffer: %ld", small);
    CHECK(m.n == 1, "the window stays open after EDC_E_SPACE");
    full = edc_seal(&m, 1000, 1, NULL, out, sizeof out);
    CHECK(full > 0 && m.n == 0, "seal with room: %ld", full);
    {
        char kid[33];
        CHECK(edc_key_id("edk_3f9a_secret_x", kid) == 4 && strcmp(kid, "3f9a") == 0, "key id");
        CHECK(edc_key_id("plain-secret", kid) == 0 && kid[0] == 0, "no key id");
    }
}

/* The extended floats against the host's IEEE doubles: conversions exact (the rounding of
 * int64 -> double and double -> float as C's), +, *, / within 2^-50 relative. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static double rnd(void) {                  /* signed doubles over 2^-1074 .. 2^600 */
    uint64_t b = next(), ex = (b >> 52) & 0x7ff;
    double x;
    b = (b & 0x800fffffffffffffULL) | ((ex % 1700) << 52);
    memcpy(&x, &b, 8);
    return x;
}
static double dbl(const edc_xf *a) { uint64_t b = edc_xf_ieee(a, 0); double d; memcpy(&d, &b, 8); return d; }
static int close_to(double got, double want) {
    return got == want || fabs(got - want) <= 0x1p-50 * fabs(want);
}

static void extended_floats(void) {
    int i;
    for (i = 0; i < 20000; i++) {
        double a = rnd(), b = i % 3 ? rnd() : a * (1 + 0x1p-30), w;
        int64_t k = (int64_t)next() >> (next() % 64);
        edc_xf xa, xb, r;
        float f = (float)a;
        uint32_t fb;
        uint64_t kb = edc_xf_pack(k < 0, k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k, 0,
                                  52, 1023, 2047, 63);
        double kd;
        uint64_t ab, bb;
        memcpy(&kd, &kb, 8);
        memcpy(&fb, &f, 4);
        memcpy(&ab, &a, 8);
        memcpy(&bb, &b, 8);
        edc_xf_of_bits(&xa, ab);
        edc_xf_of_bits(&xb, bb);
        CHECK(dbl(&xa) == a, "round trip %a", a);
        CHECK(kd == (double)k, "int64 %lld -> %a, want %a", (long long)k, kd, (double)k);
        CHECK((uint32_t)edc_xf_ieee(&xa, 1) == fb, "float of %a: %08x want %08x", a,
              (unsigned)edc_xf_ieee(&xa, 1), (unsigned)fb);
        edc_xf_add(&r, &xa, &xb);
        w = a + b;
        if (!(fabs(w) < 1e300) || fabs(w) < 1e-290 || fabs(w) < 1e-12 * fabs(a)) continue;
        CHECK(close_to(dbl(&r), w), "%a + %a = %a, want %a", a, b, dbl(&r), w);
        edc_xf_sub(&r, &xa, &xb);
        if (fabs(a - b) > 1e-12 * fabs(a))
            CHECK(close_to(dbl(&r), a - b), "%a - %a = %a", a, b, dbl(&r));
        w = a * b;
        edc_xf_mul(&r, &xa, &xb);
        if (fabs(w) < 1e300 && fabs(w) > 1e-290)
            CHECK(close_to(dbl(&r), w), "%a * %a = %a, want %a", a, b, dbl(&r), w);
        w = a / b;
        edc_xf_div(&r, &xa, &xb);
        if (fabs(w) < 1e300 && fabs(w) > 1e-290)
            CHECK(close_to(dbl(&r), w), "%a / %a = %a, want %a", a, b, dbl(&r), w);
    }
}

/* The callback form: what edc_deliver does with each answer of send(). */
static struct { uint64_t seq; long kept; int status, removed, rejected; } pt;
static uint64_t pt_now(void *c) { (void)c; return 1700000000000ULL; }
static uint64_t pt_seq(void *c) { (void)c; return ++pt.seq; }
static int pt_persist(void *c, uint64_t q, const uint8_t *b, size_t n) {
    (void)c; (void)q; (void)b; pt.kept = (long)n; return 0;
}
static long pt_load(void *c, uint64_t *q, uint8_t *b, size_t cap) {
    (void)c;
    if (pt.kept > (long)cap) return EDC_E_SPACE;
    memset(b, 0xc0, (size_t)pt.kept);
    *q = pt.seq;
    return pt.kept;
}
static void pt_remove(void *c, uint64_t q, int rejected) {
    (void)c; (void)q; pt.kept = 0; pt.removed++; pt.rejected += rejected;
}
static int pt_send(void *c, const uint8_t *e, size_t n, uint64_t ts) {
    (void)c; (void)e; (void)n; (void)ts; return pt.status;
}

static void callback_port(void) {
    static const edc_port port = {NULL, pt_now, pt_seq, pt_persist, pt_load, pt_remove,
                                  pt_send, NULL};
    static const struct { int status, removed, rejected; } cases[] = {
        {202, 1, 0}, {503, 0, 0}, {429, 0, 0}, {408, 0, 0}, {1401, 0, 0}, {-1, 0, 0},
        {400, 1, 1}, {413, 1, 1}};
    static uint8_t buf[2 * EDC_SPEC_MAX_WINDOW_BYTES + 512];
    edc_config cfg = {"dev-0042", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
    edc_monitor m;
    edc_port bad = port;
    size_t i;
    bad.send = NULL;
    CHECK(edc_start(&m, &EDC_SPEC, &cfg, arena, sizeof arena, &bad) == EDC_E_ARG,
          "a port without send");
    CHECK(edc_start(&m, &EDC_SPEC, &cfg, arena, sizeof arena, &port) == EDC_OK, "start");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got;
        memset(&pt, 0, sizeof pt);
        pt.status = cases[i].status;
        CHECK(edc_close_window(&m, buf, sizeof buf) > 0 && pt.kept > 0, "close %zu", i);
        got = edc_deliver(&m, "k", buf, sizeof buf);
        CHECK(got == (cases[i].status < 0 ? EDC_E_PORT : cases[i].status), "status %d", got);
        CHECK(pt.removed == cases[i].removed && pt.rejected == cases[i].rejected,
              "after %d: removed %d rejected %d", cases[i].status, pt.removed, pt.rejected);
    }
    pt.kept = 0;
    CHECK(edc_deliver(&m, "k", buf, sizeof buf) == 0, "nothing kept: 0");
    pt.kept = 100;
    CHECK(edc_deliver(&m, "k", buf, 120) == EDC_E_SPACE, "a small buffer");
}

int main(void) {
    rfc4231();
    msgpack_forms();
    category_keys();
    bounds_and_space();
    extended_floats();
    callback_port();
    printf("unit: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
