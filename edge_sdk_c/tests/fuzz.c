/* Random encoder inputs under AddressSanitizer and UBSan: NaN payloads, infinities, huge
 * and subnormal values, extreme integers, invalid and long UTF-8, unknown feature names,
 * every prediction type, small category capacities, wire v1 and v2. Every window must fit
 * the compile-time bound; each is printed as "W <hex>" for edge_sdk.wire to decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgedrift.h"
#include "spec.h"

static uint64_t state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return state;
}

static char strings[512][300];
static int next_str;

static double special(void) {
    static const uint64_t bits[] = {
        0x7ff8000000000000ULL, 0x7ff0000000000001ULL, 0xfff8000000000123ULL,  /* NaNs */
        0x7ff0000000000000ULL, 0xfff0000000000000ULL,                         /* +-inf */
        0x0000000000000001ULL, 0x8000000000000000ULL, 0x0000000000000000ULL,  /* tiny, -0, 0 */
        0x7fefffffffffffffULL, 0xffefffffffffffffULL,                         /* +-DBL_MAX */
        0x54b249ad2594c37dULL, 0x54b249ad2594c37eULL, 0xd4b249ad2594c37dULL}; /* 1e100 .. */
    double x;
    uint64_t b;
    switch (rnd() % 4) {
    case 0: b = bits[rnd() % (sizeof bits / sizeof bits[0])]; break;
    case 1: b = rnd(); break;
    default: x = ((double)(rnd() % 2000001) - 1000000.0) / (double)(1 + rnd() % 1000);
             memcpy(&b, &x, 8);
    }
    memcpy(&x, &b, 8);
    return x;
}

static const char *rstring(void) {
    char *s = strings[next_str++ % 512];
    size_t n = rnd() % 280, i;
    static const char *pieces[] = {"front", "rear", "usb", "en", "4.1.0", "\xc3\xa9", "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80", "\xff", "\xc0\xaf", "\xed\xa0\x80", "x"};
    size_t len = 0;
    if (rnd() % 3 == 0) {
        for (i = 0; i < n && len < 280; i++) {
            const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(p);
            if (len + pl >= 299) break;
            memcpy(s + len, p, pl);
            len += pl;
        }
    } else {
        const char *p = pieces[rnd() % 6];
        len = strlen(p);
        memcpy(s, p, len);
        if (rnd() % 4 == 0) s[len++] = (char)('a' + rnd() % 26);
    }
    s[len] = 0;
    return s;
}

static void rvalue(edc_value *v) {
    memset(v, 0, sizeof *v);
    switch (rnd() % 8) {
    case 0: v->type = EDC_T_MISSING; break;
    case 1: case 2: case 3: v->type = EDC_T_F64; v->v.f = special(); break;
    case 4: v->type = EDC_T_I64;
            v->v.i = rnd() % 3 == 0 ? (int64_t)rnd() : (int64_t)(rnd() % 40) - 20; break;
    case 5: v->type = EDC_T_STR; v->v.s = rstring(); break;
    case 6: v->type = EDC_T_BOOL; v->v.b = (int)(rnd() & 1); break;
    default: v->type = EDC_T_OTHER;
    }
}

static uint8_t arena[EDC_SPEC_ARENA_BYTES + 64 * 1024];
static uint8_t out[EDC_SPEC_MAX_WINDOW_BYTES + 64 * 1024];

int main(int argc, char **argv) {
    int windows = argc > 1 ? atoi(argv[1]) : 300, w, r, i;
    static const char *const tags[] = {"fw", "4.2.0", "region", "eu"};
    for (w = 0; w < windows; w++) {
        edc_monitor m;
        edc_config cfg = {"dev-fuzz", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
        int records = (int)(rnd() % 60);
        size_t bound;
        long len;
        cfg.wire_version = (uint8_t)(1 + rnd() % 2);
        cfg.category_capacity = (uint16_t)(rnd() % 3 ? 1 + rnd() % 40 : 0);
        if (rnd() % 2) { cfg.model_hash = "sha256:abcdef"; cfg.tags = tags; cfg.n_tags = 2; }
        if (edc_init(&m, &EDC_SPEC, &cfg, arena, sizeof arena, 1000) != EDC_OK) {
            printf("X init\n");
            return 1;
        }
        for (r = 0; r < records; r++) {
            edc_value vals[EDC_SPEC_FEATURES + 4], pred, lat, en;
            const char *names[EDC_SPEC_FEATURES + 4];
            rvalue(&pred); rvalue(&lat); rvalue(&en);
            for (i = 0; i < EDC_SPEC_FEATURES + 4; i++) rvalue(&vals[i]);
            if (rnd() % 3 == 0) {
                for (i = 0; i < EDC_SPEC_FEATURES + 4; i++)
                    names[i] = i < EDC_SPEC_FEATURES && rnd() % 4
                        ? EDC_SPEC.features[rnd() % EDC_SPEC_FEATURES].name : rstring();
                edc_log_named(&m, names, vals, EDC_SPEC_FEATURES + 4, rnd() % 2 ? &pred : NULL,
                              rnd() % 2 ? &lat : NULL, rnd() % 2 ? &en : NULL);
            } else {
                edc_log(&m, rnd() % 50 ? vals : NULL, rnd() % 2 ? &pred : NULL,
                        rnd() % 2 ? &lat : NULL, rnd() % 2 ? &en : NULL);
            }
        }
        bound = edc_max_window_bytes(&EDC_SPEC, &cfg);
        if (edc_seal(&m, 500 + rnd() % 2000, (uint64_t)w, NULL, out, rnd() % 400) >= 0
            && records) {
            /* a window with records never fits in < 400 bytes */
            printf("X fits in a tiny buffer\n");
            return 1;
        }
        len = edc_seal(&m, 5000, (uint64_t)w, NULL, out, bound);
        if (len < 0 || (size_t)len > bound) {
            printf("X window %d: %ld bytes, bound %zu\n", w, len, bound);
            return 1;
        }
        printf("W ");
        for (i = 0; i < len; i++) printf("%02x", out[i]);
        printf("\n");
    }
    return 0;
}
