/* POSIX reference port: a file spool (edge_sdk's .edw format, drop-oldest and corruption
 * accounting as edge_sdk.spool) and an HTTP/1.1 POST of signed envelopes over a socket. */
#ifndef EDC_POSIX_H
#define EDC_POSIX_H
#include "edgedrift.h"

typedef struct edc_spool {
    char dir[512];
    uint64_t max_bytes;
    uint32_t max_files;
    uint64_t next_seq, dropped, corrupt, rejected;
} edc_spool;

/* <dir>/<model>/, created if needed; a new stream's first sequence number is now_ms (as
 * edge_sdk's, so a wiped spool never reuses one). 0 or -1 (errno set). */
int edc_spool_open(edc_spool *s, const char *dir, const char *model, uint64_t max_bytes,
                   uint32_t max_files, uint64_t now_ms);
uint64_t edc_spool_next_seq(edc_spool *s);
/* <seq:020d>.edw = "EDW1" | u32 LE length | u32 LE CRC-32 | body, via a temp file, fsync,
 * rename; then the oldest windows are dropped (and counted) while over the limits. */
int edc_spool_append(edc_spool *s, uint64_t seq, const uint8_t *body, size_t len);
/* The oldest valid window into out (its length; 0: spool empty; EDC_E_SPACE: too small);
 * corrupt files on the way are deleted and counted. */
long edc_spool_oldest(edc_spool *s, uint64_t *seq, uint8_t *out, size_t cap);
int edc_spool_remove(edc_spool *s, uint64_t seq);
/* Remove a window the collector refused (a 4xx): counted in rejected (state.edc). */
int edc_spool_reject(edc_spool *s, uint64_t seq);
/* Windows and bytes waiting. */
void edc_spool_backlog(const edc_spool *s, uint64_t *windows, uint64_t *bytes);
void edc_spool_health(const edc_spool *s, edc_health *h);
uint32_t edc_crc32(const uint8_t *p, size_t n);

/* POST body (one envelope or a batch) to http://host:port/path with the request
 * signature headers; returns the HTTP status, EDC_HTTP_SKEW for a 401 timestamp_skew, or
 * -1 on a network error. */
#define EDC_HTTP_SKEW 1401
int edc_http_post(const char *host, const char *port, const char *path, const char *key,
                  const char *device, uint64_t ts, const uint8_t *body, size_t len);

/* The reference port as edc_port callbacks (edc_posix_port.c): now from the wall clock,
 * next_seq/persist/load/remove/health on the spool, send as edc_http_post. Fill the
 * fields, then edc_posix_port(&ctx, &port) and edc_start(..., &port). */
typedef struct edc_posix {
    edc_spool spool;
    const char *host, *port, *path;   /* the collector: "127.0.0.1", "8080", "/v1/telemetry" */
    const char *key, *device;         /* request signature: the device key and id */
} edc_posix;
void edc_posix_port(edc_posix *ctx, edc_port *port);
#endif
