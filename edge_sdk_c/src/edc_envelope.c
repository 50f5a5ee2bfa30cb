/* Signed envelopes and request signatures (docs/wire-format.md, sections 4 and 5), written
 * as edge_sdk.wire.make_envelope / encode_request and edge_sdk.signing write them. */
#include "edc_internal.h"

#define dec edc_u64_dec

void edc_sign_window(const char *key, const char *device, const char *model, uint64_t ts,
                     uint64_t seq, const uint8_t *body, size_t len, uint8_t sig[32]) {
    edc_hmac h;
    char num[21];
    edc_hmac_init(&h, key, strlen(key));
    edc_hmac_update(&h, "edgedrift/1\n", 12);
    edc_hmac_update(&h, device, strlen(device));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, model, strlen(model));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, num, dec(ts, num));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, num, dec(seq, num));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, body, len);
    edc_hmac_final(&h, sig);
}

size_t edc_key_id(const char *key, char id[33]) {
    size_t n = 0;
    id[0] = '\0';
    if (key[0] != 'e' || key[1] != 'd' || key[2] != 'k' || key[3] != '_') return 0;
    while (key[4 + n] && key[4 + n] != '_') n++;
    if (key[4 + n] != '_' || n == 0 || n > 32) return 0;
    memcpy(id, key + 4, n);
    id[n] = '\0';
    return n;
}

long edc_envelope(const char *key, const char *device, const char *model, uint64_t ts,
                  uint64_t seq, const uint8_t *body, size_t len, uint8_t *out, size_t cap) {
    edc_mp w;
    uint8_t sig[32];
    char kid[33];
    size_t kid_len = edc_key_id(key, kid);
    w.p = out; w.len = 0; w.cap = cap; w.err = 0;
    edc_sign_window(key, device, model, ts, seq, body, len, sig);
    edc_mp_map(&w, kid_len ? 8 : 7);
    edc_mp_cstr(&w, "v"); edc_mp_uint(&w, 1);
    edc_mp_cstr(&w, "d"); edc_mp_cstr(&w, device);
    edc_mp_cstr(&w, "m"); edc_mp_cstr(&w, model);
    edc_mp_cstr(&w, "t"); edc_mp_uint(&w, ts);
    edc_mp_cstr(&w, "s"); edc_mp_uint(&w, seq);
    edc_mp_cstr(&w, "w"); edc_mp_bin_header(&w, len); edc_mp_raw(&w, body, len);
    edc_mp_cstr(&w, "g"); edc_mp_bin_header(&w, 32); edc_mp_raw(&w, sig, 32);
    if (kid_len) { edc_mp_cstr(&w, "k"); edc_mp_str(&w, kid, kid_len); }
    return w.err ? EDC_E_SPACE : (long)w.len;
}

void edc_request_signature(const char *key, const char *device, uint64_t ts,
                           const char *content_encoding, const uint8_t *body, size_t len,
                           char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    edc_hmac h;
    uint8_t sig[32];
    char num[21];
    int i;
    const char *enc = content_encoding && *content_encoding ? content_encoding : "identity";
    edc_hmac_init(&h, key, strlen(key));
    edc_hmac_update(&h, "edgedrift-request/1\n", 20);
    edc_hmac_update(&h, device, strlen(device));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, num, dec(ts, num));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, enc, strlen(enc));
    edc_hmac_update(&h, "\n", 1);
    edc_hmac_update(&h, body, len);
    edc_hmac_final(&h, sig);
    for (i = 0; i < 32; i++) { hex[2 * i] = digits[sig[i] >> 4]; hex[2 * i + 1] = digits[sig[i] & 15]; }
    hex[64] = '\0';
}
