/* The docs/sdk-c.md example, compiled and run by `make test` against the benchmark spec. */
#include <stdio.h>
#include "edgedrift.h"
#include "spec.h"

static uint8_t arena[EDC_SPEC_ARENA_BYTES];
static uint8_t body[EDC_SPEC_MAX_WINDOW_BYTES];
static uint8_t env[EDC_SPEC_MAX_WINDOW_BYTES + EDC_ENVELOPE_OVERHEAD(64, 64)];
static edc_monitor mon;

int main(void) {
    const char *key = "edk_3f9a1c2b_c2VjcmV0";
    edc_config cfg = {"dev-0042", "kws", "1.3.0", NULL, NULL, 0, 0, 0};
    edc_value rec[EDC_SPEC_FEATURES] = {EDC_MISSING_INIT};     /* all absent */
    edc_value pred = EDC_F64_INIT(0.93), lat = EDC_F64_INIT(4.1);
    edc_health health = {0, 0, 0, 0, 0, 0, 0};
    char sig_hex[65];
    long n, e;
    if (edc_init(&mon, &EDC_SPEC, &cfg, arena, sizeof arena, 1700000000000ULL) != EDC_OK)
        return 1;
    rec[EDC_F_F00] = (edc_value)EDC_F64_INIT(0.21);
    rec[EDC_F_MIC] = (edc_value)EDC_STR_INIT("front");
    edc_log(&mon, rec, &pred, &lat, NULL);                    /* never fails, no I/O */
    n = edc_seal(&mon, 1700000060000ULL, 7, &health, body, sizeof body);
    if (n < 0) return 1;
    e = edc_envelope(key, "dev-0042", "kws", 1700000061, 7, body, (size_t)n, env, sizeof env);
    if (e < 0) return 1;
    edc_request_signature(key, "dev-0042", 1700000061, "identity", env, (size_t)e, sig_hex);
    printf("example: window %ld bytes, envelope %ld bytes, signature %.16s...\n", n, e, sig_hex);
    return 0;
}
