/* The callback form of the API: the library drives the app's port (now, next_seq, persist,
 * load, remove, send, health), so an app needs three calls: edc_start at boot, edc_log per
 * inference, and from a timer edc_close_window and edc_deliver. */
#include "edc_internal.h"

/* x / 1000 by 16-bit long division (no 64-bit division helper from libgcc). */
static uint64_t seconds_of(uint64_t ms) {
    uint64_t q = 0;
    uint32_t r = 0;
    int i;
    for (i = 48; i >= 0; i -= 16) {
        uint32_t cur = (r << 16) | (uint32_t)((ms >> i) & 0xffffu);
        q = (q << 16) | (cur / 1000u);
        r = cur % 1000u;
    }
    return q;
}

int edc_start(edc_monitor *m, const edc_spec *spec, const edc_config *cfg, void *arena,
              size_t arena_bytes, const edc_port *port) {
    int rc;
    if (!port || !port->now_ms || !port->next_seq || !port->persist || !port->load
        || !port->remove || !port->send)
        return EDC_E_ARG;
    rc = edc_init(m, spec, cfg, arena, arena_bytes, port->now_ms(port->ctx));
    if (rc == EDC_OK) m->port = port;
    return rc;
}

long edc_close_window(edc_monitor *m, uint8_t *buf, size_t cap) {
    const edc_port *p = m->port;
    edc_health h;
    uint64_t seq;
    long n;
    if (!p) return EDC_E_ARG;
    memset(&h, 0, sizeof h);
    if (p->health) p->health(p->ctx, &h);
    seq = p->next_seq(p->ctx);
    n = edc_seal(m, p->now_ms(p->ctx), seq, p->health ? &h : NULL, buf, cap);
    if (n < 0) return n;
    return p->persist(p->ctx, seq, buf, (size_t)n) < 0 ? EDC_E_PORT : n;
}

int edc_deliver(edc_monitor *m, const char *key, uint8_t *buf, size_t cap) {
    const edc_port *p = m->port;
    size_t half = cap / 2;
    uint64_t seq, ts;
    long n, e;
    int status;
    if (!p) return EDC_E_ARG;
    n = p->load(p->ctx, &seq, buf, half);
    if (n <= 0) return n == 0 ? 0 : n == EDC_E_SPACE ? EDC_E_SPACE : EDC_E_PORT;
    ts = seconds_of(p->now_ms(p->ctx));
    e = edc_envelope(key, m->cfg.device_id, m->cfg.model, ts, seq, buf, (size_t)n, buf + half,
                     cap - half);
    if (e < 0) return EDC_E_SPACE;
    status = p->send(p->ctx, buf + half, (size_t)e, ts);
    if (status >= 200 && status < 300) p->remove(p->ctx, seq, 0);
    else if (status >= 400 && status < 500 && status != 408 && status != 429)
        p->remove(p->ctx, seq, 1);
    return status < 0 ? EDC_E_PORT : status;
}
