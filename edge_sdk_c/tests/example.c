/* The docs/sdk-c.md example, compiled and run by `make test` against the benchmark spec:
 * the callback form, with a port that keeps one window in RAM and "sends" by checking the
 * envelope (a device would write flash and POST; port/posix/ is the reference port). */
#include <stdio.h>
#include <string.h>
#include "edgedrift.h"
#include "spec.h"

static uint8_t arena[EDC_SPEC_ARENA_BYTES];
static uint8_t buf[2 * (EDC_SPEC_MAX_WINDOW_BYTES + EDC_ENVELOPE_OVERHEAD(64, 64))];
static edc_monitor mon;

/* -- the app's port: clock, sequence numbers, storage, transport ---------------------- */
static struct { uint64_t clock_ms, seq, kept_seq; uint8_t kept[EDC_SPEC_MAX_WINDOW_BYTES];
                size_t kept_len; int sent; } dev = {1700000000000ULL, 7, 0, {0}, 0, 0};
static uint64_t now_ms(void *ctx) { (void)ctx; return dev.clock_ms; }
static uint64_t next_seq(void *ctx) { (void)ctx; return dev.seq++; }
static int persist(void *ctx, uint64_t seq, const uint8_t *body, size_t len) {
    (void)ctx;
    if (len > sizeof dev.kept) return -1;
    memcpy(dev.kept, body, len);
    dev.kept_seq = seq;
    dev.kept_len = len;
    return 0;
}
static long load(void *ctx, uint64_t *seq, uint8_t *out, size_t cap) {
    (void)ctx;
    if (!dev.kept_len) return 0;
    if (dev.kept_len > cap) return EDC_E_SPACE;
    memcpy(out, dev.kept, dev.kept_len);
    *seq = dev.kept_seq;
    return (long)dev.kept_len;
}
static void remove_window(void *ctx, uint64_t seq, int rejected) {
    (void)ctx; (void)rejected;
    if (seq == dev.kept_seq) dev.kept_len = 0;
}
static int send_window(void *ctx, const uint8_t *env, size_t len, uint64_t ts) {
    (void)ctx; (void)ts;
    dev.sent = (int)len;              /* a device POSTs env with the request signature */
    return env[0] == 0x87 || env[0] == 0x88 ? 202 : 400;   /* a msgpack map of 7 or 8 */
}
static const edc_port port = {NULL, now_ms, next_seq, persist, load, remove_window, send_window, NULL};

int main(void) {
    edc_config cfg = {"dev-0042", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
    edc_value rec[EDC_SPEC_FEATURES] = {EDC_MISSING_INIT};     /* all absent */
    edc_value pred = EDC_F64_INIT(0.93), lat = EDC_F64_INIT(4.1);
    long n;
    int status;
    if (edc_start(&mon, &EDC_SPEC, &cfg, arena, sizeof arena, &port) != EDC_OK) return 1;
    rec[EDC_F_F00] = (edc_value)EDC_F64_INIT(0.21);
    rec[EDC_F_MIC] = (edc_value)EDC_STR_INIT("front");
    edc_log(&mon, rec, &pred, &lat, NULL);                    /* never fails, no I/O */
    dev.clock_ms += 60000;                                    /* a timer, every window */
    n = edc_close_window(&mon, buf, sizeof buf);              /* seal + persist */
    if (n < 0) return 1;
    status = edc_deliver(&mon, "edk_3f9a1c2b_c2VjcmV0", buf, sizeof buf); /* load + send */
    if (status != 202 || dev.kept_len != 0) return 1;
    printf("example: window %ld bytes, envelope %d bytes, HTTP %d, nothing kept\n", n,
           dev.sent, status);
    return 0;
}
