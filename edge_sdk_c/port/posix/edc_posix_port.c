/* The POSIX reference port as the library's callbacks (edc_port): the wall clock, the file
 * spool (edc_posix.c) for next_seq/persist/load/remove/health, HTTP POST for send. */
#define _POSIX_C_SOURCE 200809L
#include "edc_posix.h"

#include <time.h>

static uint64_t now_ms(void *ctx) {
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t next_seq(void *ctx) { return edc_spool_next_seq(&((edc_posix *)ctx)->spool); }

static int persist(void *ctx, uint64_t seq, const uint8_t *body, size_t len) {
    return edc_spool_append(&((edc_posix *)ctx)->spool, seq, body, len);
}

static long load(void *ctx, uint64_t *seq, uint8_t *buf, size_t cap) {
    return edc_spool_oldest(&((edc_posix *)ctx)->spool, seq, buf, cap);
}

static void remove_window(void *ctx, uint64_t seq, int rejected) {
    edc_spool *s = &((edc_posix *)ctx)->spool;
    if (rejected) edc_spool_reject(s, seq);
    else edc_spool_remove(s, seq);
}

static int send_envelope(void *ctx, const uint8_t *env, size_t len, uint64_t ts) {
    const edc_posix *p = (const edc_posix *)ctx;
    return edc_http_post(p->host, p->port, p->path, p->key, p->device, ts, env, len);
}

static void health(void *ctx, edc_health *h) { edc_spool_health(&((edc_posix *)ctx)->spool, h); }

void edc_posix_port(edc_posix *ctx, edc_port *port) {
    port->ctx = ctx;
    port->now_ms = now_ms;
    port->next_seq = next_seq;
    port->persist = persist;
    port->load = load;
    port->remove = remove_window;
    port->send = send_envelope;
    port->health = health;
}
