#define _POSIX_C_SOURCE 200809L
/* Host driver for the cross-language tests: reads commands on stdin, writes window bodies
 * and envelopes as hex on stdout. Built against one generated spec header (SPEC_HEADER).
 *
 *   I <now_ms> [wire_version] [capacity]   init (device dev-c, model from argv)
 *   R <pred> <lat> <energy> <v0> ... <vN-1>  one record, values in spec order
 *   N <pred> <lat> <energy> <name>=<v> ...   one record by name (names hex-encoded)
 *   S <now_ms> <seq>                          seal: prints "W <hex body>"
 *   E <key> <ts> <seq>                        envelope of the last body: "E <hex>"
 *   H <key-hex> <msg-hex>                     HMAC-SHA256: "H <hex>"
 *   Q <key> <device> <ts> <encoding> <hex>     request signature: "Q <hex>"
 *   B                                         bounds: "B <arena> <max_window> <macro_arena>
 *                                             <macro_window>"
 * A value is m (absent/None), f<16 hex bits>, i<int>, s<hex utf-8>, b0/b1 or o (other). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgedrift.h"
#include SPEC_HEADER

static uint8_t arena[EDC_SPEC_ARENA_BYTES];
static uint8_t body[EDC_SPEC_MAX_WINDOW_BYTES];
static uint8_t env[EDC_SPEC_MAX_WINDOW_BYTES + 400];
static char strpool[64][4096];
static int strused;
static long body_len;

static int unhex(const char *s, char *out, size_t cap) {
    size_t n = strlen(s) / 2, i;
    if (n + 1 > cap) return -1;
    for (i = 0; i < n; i++) { unsigned v; sscanf(s + 2 * i, "%2x", &v); out[i] = (char)v; }
    out[n] = 0;
    return (int)n;
}

static void parse_value(const char *tok, edc_value *v) {
    memset(v, 0, sizeof *v);
    switch (tok[0]) {
    case 'f': { unsigned long long b = strtoull(tok + 1, NULL, 16); v->type = EDC_T_F64;
                memcpy(&v->v.f, &b, 8); break; }
    case 'i': v->type = EDC_T_I64; v->v.i = strtoll(tok + 1, NULL, 10); break;
    case 's': v->type = EDC_T_STR; unhex(tok + 1, strpool[strused % 64], 4096);
              v->v.s = strpool[strused++ % 64]; break;
    case 'b': v->type = EDC_T_BOOL; v->v.b = tok[1] == '1'; break;
    case 'o': v->type = EDC_T_OTHER; break;
    default: v->type = EDC_T_MISSING; break;
    }
}

static void print_hex(char tag, const uint8_t *p, long n) {
    long i;
    printf("%c ", tag);
    for (i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    static char line[1 << 20];
    edc_monitor mon;
    edc_config cfg;
    const char *model = argc > 1 ? argv[1] : "kws";
    memset(&cfg, 0, sizeof cfg);
    cfg.device_id = argc > 3 ? argv[3] : "dev-c";
    cfg.model = model;
    cfg.version = argc > 2 ? argv[2] : "1.3.0";
    while (fgets(line, sizeof line, stdin)) {
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        if (!tok) continue;
        if (tok[0] == 'I') {
            unsigned long long now = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            char *wv = strtok_r(NULL, " \n", &save), *cap = strtok_r(NULL, " \n", &save);
            int rc;
            cfg.wire_version = wv ? (uint8_t)atoi(wv) : 2;
            cfg.category_capacity = cap ? (uint16_t)atoi(cap) : 0;
            rc = edc_init(&mon, &EDC_SPEC, &cfg, arena, sizeof arena, now);
            if (rc) { printf("X init %d\n", rc); return 1; }
        } else if (tok[0] == 'R' || tok[0] == 'N') {
            edc_value pred, lat, en, vals[EDC_SPEC_FEATURES > 0 ? 256 : 1];
            static char names[256][256];
            const char *np[256];
            size_t n = 0;
            parse_value(strtok_r(NULL, " \n", &save), &pred);
            parse_value(strtok_r(NULL, " \n", &save), &lat);
            parse_value(strtok_r(NULL, " \n", &save), &en);
            while ((tok = strtok_r(NULL, " \n", &save)) != NULL && n < 256) {
                if (line[0] == 'N') {
                    char *eq = strchr(tok, '=');
                    *eq = 0;
                    unhex(tok, names[n], sizeof names[n]);
                    np[n] = names[n];
                    parse_value(eq + 1, &vals[n++]);
                } else parse_value(tok, &vals[n++]);
            }
            if (line[0] == 'N') edc_log_named(&mon, np, vals, n, pred.type ? &pred : NULL,
                                              lat.type ? &lat : NULL, en.type ? &en : NULL);
            else edc_log(&mon, vals, pred.type ? &pred : NULL, lat.type ? &lat : NULL,
                         en.type ? &en : NULL);
        } else if (tok[0] == 'S') {
            unsigned long long now = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            unsigned long long seq = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            body_len = edc_seal(&mon, now, seq, NULL, body, sizeof body);
            if (body_len < 0) { printf("X seal %ld\n", body_len); return 1; }
            print_hex('W', body, body_len);
        } else if (tok[0] == 'E') {
            char *key = strtok_r(NULL, " \n", &save);
            unsigned long long ts = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            unsigned long long seq = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            long n = edc_envelope(key, cfg.device_id, cfg.model, ts, seq, body,
                                  (size_t)body_len, env, sizeof env);
            print_hex('E', env, n);
        } else if (tok[0] == 'H') {
            static char k[4096], msg[1 << 16];
            uint8_t out[32];
            int kl = unhex(strtok_r(NULL, " \n", &save), k, sizeof k);
            char *mh = strtok_r(NULL, " \n", &save);
            int ml = mh ? unhex(mh, msg, sizeof msg) : 0;
            edc_hmac_sha256(k, (size_t)kl, msg, (size_t)ml, out);
            print_hex('H', out, 32);
        } else if (tok[0] == 'Q') {
            static char qbody[1 << 18];
            char sig[65];
            char *key = strtok_r(NULL, " \n", &save), *dev = strtok_r(NULL, " \n", &save);
            unsigned long long ts = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
            char *enc = strtok_r(NULL, " \n", &save);
            int bl = unhex(strtok_r(NULL, " \n", &save), qbody, sizeof qbody);
            edc_request_signature(key, dev, ts, enc, (const uint8_t *)qbody, (size_t)bl, sig);
            printf("Q %s\n", sig);
        } else if (tok[0] == 'B') {
            printf("B %zu %zu %zu %zu\n", edc_arena_bytes(&EDC_SPEC, cfg.category_capacity),
                   edc_max_window_bytes(&EDC_SPEC, &cfg), (size_t)EDC_SPEC_ARENA_BYTES,
                   (size_t)EDC_SPEC_MAX_WINDOW_BYTES);
        }
        fflush(stdout);
    }
    return 0;
}
