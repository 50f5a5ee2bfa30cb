/* POSIX port driver for tests/sdk_c:
 *   posix_send spool DIR               5 windows into a spool of at most 3 files, then the
 *                                      oldest file corrupted: prints the counters
 *   posix_send send DIR HOST PORT KEY DEVICE WINDOWS RECORDS
 *                                      windows of RECORDS records each, spooled, then sent
 *                                      to the gateway; prints each HTTP status */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "edc_posix.h"
#include "spec.h"

static uint8_t arena[EDC_SPEC_ARENA_BYTES];
static uint8_t body[EDC_SPEC_MAX_WINDOW_BYTES];
static uint8_t scratch[2 * (EDC_SPEC_MAX_WINDOW_BYTES + 512)];

static uint64_t fake_now;
static uint64_t test_clock(void *ctx) { (void)ctx; return fake_now; }

static void fill(edc_monitor *m, int records, unsigned seed) {
    static const char *const cats[] = {"front", "rear", "usb", "en", "de", "4.1.0"};
    int r, i;
    for (r = 0; r < records; r++) {
        edc_value v[EDC_SPEC_FEATURES], pred, lat;
        for (i = 0; i < EDC_SPEC_FEATURES; i++) {
            seed = seed * 1103515245u + 12345u;
            if (EDC_SPEC.features[i].type == EDC_NUMERIC) {
                v[i].type = EDC_T_F64;
                v[i].v.f = ((double)(seed >> 8 & 0xffff) - 32768.0) / 8192.0;
            } else {
                v[i].type = EDC_T_STR;
                v[i].v.s = cats[(seed >> 16) % 6];
            }
        }
        pred.type = EDC_T_F64; pred.v.f = (double)(seed >> 20 & 0xff) / 256.0;
        lat.type = EDC_T_F64; lat.v.f = 1.0 + (double)(seed >> 12 & 0xff) / 16.0;
        edc_log(m, v, &pred, &lat, NULL);
    }
}

int main(int argc, char **argv) {
    edc_monitor m;
    edc_config cfg = {"dev-posix", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
    edc_spool sp;
    edc_health h;
    uint64_t now = (uint64_t)time(NULL) * 1000u;
    int w;
    if (argc >= 3 && strcmp(argv[1], "spool") == 0) {
        uint64_t seq;
        long n;
        char path[700];
        FILE *f;
        if (edc_spool_open(&sp, argv[2], "kws", 1u << 20, 3, now) != 0) return 1;
        edc_init(&m, &EDC_SPEC, &cfg, arena, sizeof arena, now);
        for (w = 0; w < 5; w++) {
            fill(&m, 20, (unsigned)w);
            n = edc_seal(&m, now + 1000u * (unsigned)w, edc_spool_next_seq(&sp), NULL, body,
                         sizeof body);
            if (n < 0 || edc_spool_append(&sp, now + (uint64_t)w, body, (size_t)n) != 0) return 1;
        }
        n = edc_spool_oldest(&sp, &seq, body, sizeof body);
        printf("dropped=%llu oldest=%llu len=%ld\n", (unsigned long long)sp.dropped,
               (unsigned long long)(seq - now), n);
        snprintf(path, sizeof path, "%s/%020llu.edw", sp.dir, (unsigned long long)seq);
        f = fopen(path, "r+b");                 /* flip a byte of the oldest body */
        fseek(f, 20, SEEK_SET);
        fputc(0xff ^ body[8], f);
        fclose(f);
        n = edc_spool_oldest(&sp, &seq, body, sizeof body);
        edc_spool_health(&sp, &h);
        printf("corrupt=%llu oldest=%llu backlog=%llu\n", (unsigned long long)sp.corrupt,
               (unsigned long long)(seq - now), (unsigned long long)h.backlog);
        return 0;
    }
    if (argc >= 9 && strcmp(argv[1], "send") == 0) {  /* the callback form */
        int windows = atoi(argv[7]), records = atoi(argv[8]), status;
        edc_posix px;
        edc_port port;
        px.host = argv[3];
        px.port = argv[4];
        px.path = "/v1/telemetry";
        px.key = argv[5];
        px.device = argv[6];
        edc_posix_port(&px, &port);
        port.now_ms = test_clock;          /* windows in the past, a minute apart */
        fake_now = now - 60000u * (unsigned)windows;
        cfg.device_id = argv[6];
        if (edc_spool_open(&px.spool, argv[2], "kws", 1u << 22, 1000, now) != 0) return 1;
        if (edc_start(&m, &EDC_SPEC, &cfg, arena, sizeof arena, &port) != EDC_OK) return 1;
        for (w = 0; w < windows; w++) {
            fill(&m, records, (unsigned)w * 7u + 1u);
            fake_now += 60000u;
            if (edc_close_window(&m, body, sizeof body) < 0) return 1;
        }
        fake_now = now;                    /* sign at the real time */
        while ((status = edc_deliver(&m, argv[5], scratch, sizeof scratch)) != 0) {
            printf("status=%d\n", status);
            if (status < 200 || status >= 300) break;
        }
        edc_spool_health(&px.spool, &h);
        printf("backlog=%llu rejected=%llu\n", (unsigned long long)h.backlog,
               (unsigned long long)h.rejected);
        return 0;
    }
    fprintf(stderr, "usage: posix_send spool DIR | send DIR HOST PORT KEY DEVICE WINDOWS RECORDS\n");
    return 2;
}
