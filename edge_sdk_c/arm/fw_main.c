/* Firmware for `make size` (FW_EMPTY: the baseline) and `make qemu` (FW_BENCH: the golden
 * window of the benchmark records and the instructions per log()). */
#include <stdint.h>
#include <string.h>
#include "edgedrift.h"

void edc_puts(const char *s);
extern const edc_spec *const edc_app_spec;

#ifndef FW_EMPTY
#include "spec.h"
static uint8_t arena[EDC_SPEC_ARENA_BYTES] __attribute__((aligned(8)));
static uint8_t body[EDC_SPEC_MAX_WINDOW_BYTES];
static uint8_t env[EDC_SPEC_MAX_WINDOW_BYTES + 256];
#endif

#if !defined(FW_EMPTY) && !defined(FW_BENCH)
/* a port with the smallest callbacks: the size counts the library's side of the calls */
static uint64_t clock_ms = 1700000000000ULL, seq = 7;
static long kept;
static uint64_t now_ms(void *ctx) { (void)ctx; return clock_ms; }
static uint64_t next_seq(void *ctx) { (void)ctx; return seq++; }
static int persist(void *ctx, uint64_t s, const uint8_t *b, size_t len) {
    (void)ctx; (void)s; (void)b; kept = (long)len; return 0;
}
static long load(void *ctx, uint64_t *s, uint8_t *b, size_t cap) {
    (void)ctx; (void)b; (void)cap; *s = 7; return kept;
}
static void drop(void *ctx, uint64_t s, int rejected) { (void)ctx; (void)s; (void)rejected; kept = 0; }
static int post(void *ctx, const uint8_t *e, size_t len, uint64_t ts) {
    (void)ctx; (void)e; (void)ts; return len ? 202 : 400;
}
static void health(void *ctx, edc_health *h) { (void)ctx; h->backlog = kept != 0; }
static const edc_port port = {NULL, now_ms, next_seq, persist, load, drop, post, health};
#endif

#ifdef FW_BENCH
extern const unsigned edc_bench_n;
extern const edc_value edc_bench_values[][EDC_SPEC_FEATURES];
extern const edc_value edc_bench_pred[], edc_bench_lat[];

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static void put_hex(const uint8_t *p, long n) {
    static const char d[] = "0123456789abcdef";
    char buf[129];
    long i = 0;
    while (i < n) {
        int k = 0;
        for (; k < 64 && i < n; k++, i++) { buf[2 * k] = d[p[i] >> 4]; buf[2 * k + 1] = d[p[i] & 15]; }
        buf[2 * k] = 0;
        edc_puts(buf);
    }
}

static void put_u(uint64_t v) {
    char b[24];
    int n = 23;
    b[n] = 0;
    do { b[--n] = (char)('0' + v % 10); v /= 10; } while (v);
    edc_puts(b + n);
}

static uint32_t ticks(void) { return SYST_CVR; }

/* 2 instructions per iteration: subs, bne */
static void spin(uint32_t n) {
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n bne 1b" : "+l"(n) : : "cc");
}
#endif

int main(void) {
#ifdef FW_EMPTY
    edc_puts("empty\n");
    return 0;
#else
    edc_monitor m;
    edc_config cfg = {"dev-0042", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
    long n, e;
    char sig[65];
    if (edc_init(&m, edc_app_spec, &cfg, arena, sizeof arena, 1700000000000ULL) != EDC_OK) {
        edc_puts("init failed\n");
        return 1;
    }
#ifdef FW_BENCH
    {
        uint32_t t0, t1, c0, c1;
        unsigned i;
        const uint32_t spins = 200000;
        SYST_RVR = 0xFFFFFF;
        SYST_CVR = 0;
        SYST_CSR = 5;                           /* enabled, processor clock */
        c0 = ticks();
        spin(spins);
        c1 = ticks();
        t0 = ticks();
        for (i = 0; i < edc_bench_n; i++)
            edc_log(&m, edc_bench_values[i], &edc_bench_pred[i], &edc_bench_lat[i], NULL);
        t1 = ticks();
        n = edc_seal(&m, 1700000060000ULL, 7, NULL, body, sizeof body);
        edc_puts("W ");
        put_hex(body, n);
        edc_puts("\n");
        /* instructions = ticks * (2 * spins) / calibration ticks (QEMU -icount) */
        {
            uint64_t cal = (c0 - c1) & 0xFFFFFF, used = (t0 - t1) & 0xFFFFFF;
            uint64_t per_log = cal ? used * 2u * spins / cal / edc_bench_n : 0;
            edc_puts(TARGET_NAME " instructions_per_log=");
            put_u(per_log);
            edc_puts("\n");
        }
    }
#else
    {
        edc_value v[EDC_SPEC_FEATURES];
        edc_value lat = EDC_F64_INIT(4.0);
        unsigned i;
        for (i = 0; i < EDC_SPEC_FEATURES; i++) {   /* integers (no soft-float in the app) */
            v[i].type = EDC_T_I64;
            v[i].v.i = (int64_t)i;
        }
        edc_log(&m, v, &lat, &lat, &lat);
        n = edc_seal(&m, 1700000060000ULL, 7, NULL, body, sizeof body);
        if (edc_start(&m, edc_app_spec, &cfg, arena, sizeof arena, &port) != EDC_OK
            || edc_close_window(&m, body, sizeof body) <= 0
            || edc_deliver(&m, "edk_3f9a1c2b_c2VjcmV0", env, sizeof env) != 202)
            return 1;
    }
#endif
    e = edc_envelope("edk_3f9a1c2b_c2VjcmV0", "dev-0042", "kws", 1700000061, 7, body,
                     (size_t)n, env, sizeof env);
    edc_request_signature("edk_3f9a1c2b_c2VjcmV0", "dev-0042", 1700000061, "identity", env,
                          (size_t)e, sig);
    edc_puts("E ");
    edc_puts(sig);
    edc_puts("\n");
    return n > 0 && e > 0 ? 0 : 1;
#endif
}
