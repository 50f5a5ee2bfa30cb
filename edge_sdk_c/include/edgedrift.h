/* edgedrift C SDK: drift sketches, wire-format windows and signed envelopes, no heap.
 *
 * The app includes the header generated from its spec (gen_header.py), which defines
 * EDC_SPEC (a const edc_spec), EDC_SPEC_ARENA_BYTES and EDC_SPEC_MAX_WINDOW_BYTES, supplies
 * one static arena of that size and a port (edc_port: its clock, storage and transport as
 * callbacks):
 *
 *     static uint8_t arena[EDC_SPEC_ARENA_BYTES];
 *     static uint8_t buf[2 * (EDC_SPEC_MAX_WINDOW_BYTES + EDC_ENVELOPE_OVERHEAD(64, 64))];
 *     edc_monitor mon;
 *     edc_config cfg = {"dev-0042", "kws", "1.3.0"};
 *     edc_start(&mon, &EDC_SPEC, &cfg, arena, sizeof arena, &port);
 *     edc_value rec[EDC_SPEC_FEATURES] = {EDC_F64_INIT(0.21), ...};
 *     edc_log(&mon, rec, &pred, &lat, NULL);            (per inference: no I/O)
 *     edc_close_window(&mon, buf, sizeof buf);          (every window: seal, persist)
 *     edc_deliver(&mon, key, buf, sizeof buf);          (load, envelope, sign, send)
 *
 * Nothing allocates after edc_init (nothing allocates at all); edc_log never fails.
 * docs/sdk-c.md describes the API, the ports and how the output compares with edge_sdk.
 */
#ifndef EDGEDRIFT_H
#define EDGEDRIFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDC_WIRE_VERSION 2
#define EDC_SDK_NAME "edgedrift-c/0.1.0"
#define EDC_MAX_EDGES 63
#define EDC_MAX_SLOTS 64
#define EDC_REGIONS 8
/* A category key is cut to 64 characters (as edge_sdk) and, in bytes, to EDC_KEY_BYTES. */
#ifndef EDC_KEY_BYTES
#define EDC_KEY_BYTES 64
#endif
#define EDC_MAX_CHARS 64
/* Values beyond +-1e100 count as "inf" (edge_sdk.numeric.MAX_MAGNITUDE). */
#define EDC_MAX_MAGNITUDE 1e100

/* -- spec tables (generated, const, in flash) ----------------------------------------- */
typedef struct edc_layout {
    const char *id;          /* "u1", "lat1", "e:<12 hex>" ... */
    const int64_t *keys;     /* order keys of the edges (edc_key_of), strictly increasing,
                                padded to 63 entries with INT64_MAX */
    const uint8_t *group;    /* slot -> 0 (below e0), 1..R (region), R+1 (at/above e_last) */
    const uint8_t *ref;      /* group -> index of its reference edge (e0, the region's lower
                                edge, e_last): slot sums are distances from it */
    const int16_t *fx_shift; /* group -> S: its values are summed as round(x 2^S) - fx_ref,
                                integers below 2^31 (EDC_FX_NONE: in doubles, the tails) */
    const int64_t *fx_ref;   /* group -> round(ref 2^S) */
    uint8_t n_edges;         /* 1..63; slots = n_edges + 1 */
    uint8_t n_regions;       /* min(8, slots - 2) */
} edc_layout;

enum { EDC_NUMERIC = 0, EDC_CATEGORICAL = 1 };
#define EDC_FX_NONE INT16_MIN

typedef struct edc_feature_spec {
    const char *name;
    uint8_t type;                  /* EDC_NUMERIC or EDC_CATEGORICAL */
    uint8_t has_range;
    uint16_t n_known;              /* categorical: known categories */
    uint16_t capacity;             /* categorical: max(category_capacity, n_known) */
    const edc_layout *layout;      /* numeric */
    int64_t range_lo, range_hi;    /* order keys of the valid range */
    const char *const *known;      /* categorical: the spec's categories */
    const uint32_t *known_hash;    /* FNV-1a 32 of each */
} edc_feature_spec;

typedef struct edc_spec {
    const char *spec_id;           /* "s:<16 hex>" or NULL */
    uint16_t n_features;
    const edc_feature_spec *features;
    const edc_feature_spec *prediction;  /* NULL: inferred from the first prediction */
} edc_spec;

extern const edc_layout edc_layout_u1, edc_layout_lat1, edc_layout_en1, edc_layout_p1;

/* -- values ---------------------------------------------------------------------------- */
enum { EDC_T_MISSING = 0, EDC_T_F64, EDC_T_I64, EDC_T_STR, EDC_T_BOOL, EDC_T_OTHER };

typedef struct edc_value {
    uint8_t type;                  /* EDC_T_* */
    union { double f; int64_t i; const char *s; int b; } v;
} edc_value;

#define EDC_F64_INIT(x) {EDC_T_F64, {.f = (x)}}
#define EDC_I64_INIT(x) {EDC_T_I64, {.i = (x)}}
#define EDC_STR_INIT(x) {EDC_T_STR, {.s = (x)}}
#define EDC_BOOL_INIT(x) {EDC_T_BOOL, {.b = (x)}}
#define EDC_MISSING_INIT {EDC_T_MISSING, {.i = 0}}

/* -- sketch state (inside the arena) -------------------------------------------------- */
typedef struct edc_num {
    const edc_layout *layout;
    uint32_t *counts;              /* slots */
    union edc_grp *grp;            /* per group (32 bytes): sums of the distance from the
                                      group's reference edge and of its square */
    int64_t kmin, kmax;            /* order keys of min / max */
    uint32_t n, missing, nan, inf, type_mismatch, out_of_range;
    uint8_t has_range;
    int64_t range_lo, range_hi;
} edc_num;

typedef struct edc_key {
    uint32_t hash;
    uint8_t len;
    char s[EDC_KEY_BYTES];
} edc_key;

typedef struct edc_cat {
    const edc_feature_spec *fs;    /* NULL: no known categories */
    uint32_t *counts;              /* capacity: known first, then first-seen keys */
    edc_key *extra;                /* capacity - n_known */
    uint16_t capacity, n_known, n_extra;
    uint32_t missing, type_mismatch, unseen, other;
} edc_cat;


/* Arena bytes of one sketch (the generator sums these for EDC_SPEC_ARENA_BYTES). */
#define EDC_ALIGN8(x) (((x) + 7u) & ~(size_t)7u)
#define EDC_NUM_BYTES(slots, regions) \
    (EDC_ALIGN8(sizeof(edc_num)) + EDC_ALIGN8(4u * (slots)) + 32u * ((regions) + 2u))
#define EDC_CAT_BYTES(capacity, known) \
    (EDC_ALIGN8(sizeof(edc_cat)) + EDC_ALIGN8(4u * (capacity)) \
     + EDC_ALIGN8(sizeof(edc_key) * ((capacity) - (known))))
/* the fixed part: latency (49 slots), energy (64), prediction (numeric and categorical) */
#define EDC_BASE_ARENA_BYTES(pred_capacity) \
    (EDC_NUM_BYTES(49, 8) + EDC_NUM_BYTES(64, 8) + EDC_NUM_BYTES(64, 8) \
     + EDC_CAT_BYTES(pred_capacity, 0))

typedef struct edc_config {
    const char *device_id;         /* 1..128 chars */
    const char *model;             /* 1..128 letters, digits, . _ - */
    const char *version;           /* 1..128 chars */
    const char *model_hash;        /* optional, NULL */
    const char *const *tags;       /* optional: n_tags (key, value) pairs */
    uint8_t n_tags;
    uint8_t wire_version;          /* 0 or 2: v2; 1: v1 (no slot sums) */
    uint16_t category_capacity;    /* 0: 32 (edge_sdk's default) */
} edc_config;

typedef struct edc_health {        /* the body's "hl" map, from the port */
    uint64_t dropped, corrupt, rejected, internal_errors, label_misses, backlog;
    int64_t skew_ms;
} edc_health;

/* Ports: what the app (or a reference port, port/posix/) supplies, registered at edc_start.
 * Every callback gets ctx. health may be NULL; the others are required. */
typedef struct edc_port {
    void *ctx;
    uint64_t (*now_ms)(void *ctx);                 /* wall clock, Unix milliseconds */
    uint64_t (*next_seq)(void *ctx);               /* a new sequence number (persistent,
                                                      increasing: e.g. a stored counter) */
    /* Keep a sealed window body (e.g. a spool file); 0, or negative on failure. */
    int (*persist)(void *ctx, uint64_t seq, const uint8_t *body, size_t len);
    /* The oldest kept window into buf: its length (0: none; negative: error or too small). */
    long (*load)(void *ctx, uint64_t *seq, uint8_t *buf, size_t cap);
    /* Forget a kept window: delivered (rejected = 0) or refused by the collector (1). */
    void (*remove)(void *ctx, uint64_t seq, int rejected);
    /* POST one signed envelope (ts: its signing time, Unix seconds): the HTTP status, or
     * negative for a network error; the port adds the request signature headers. */
    int (*send)(void *ctx, const uint8_t *envelope, size_t len, uint64_t ts);
    /* The body's health map ("hl": drops, corruption, backlog ...) or NULL. */
    void (*health)(void *ctx, edc_health *h);
} edc_port;

typedef struct edc_monitor {
    const edc_spec *spec;
    const edc_port *port;          /* edc_start's, or NULL (edc_init) */
    edc_config cfg;
    uint8_t *arena;
    size_t arena_bytes, arena_used;
    uint64_t window_start_ms;
    uint32_t n, unknown_feature, untyped, bad_record;
    edc_num *num;                  /* one per feature, indexed by the spec's feature index */
    edc_cat *cat;
    uint16_t *slot;                /* feature index -> index into num[] or cat[] */
    edc_num latency, energy, pred_num;
    edc_cat pred_cat;
    uint8_t energy_on, pred_kind;  /* pred_kind: 0 numeric, 1 categorical, 0xff none yet */
} edc_monitor;

/* Errors (negative return values). */
enum { EDC_OK = 0, EDC_E_ARENA = -1, EDC_E_CONFIG = -2, EDC_E_SPACE = -3, EDC_E_ARG = -4,
       EDC_E_PORT = -5 };

/* -- API ------------------------------------------------------------------------------- */
/* Arena bytes edc_init needs for a spec (equal to the generated EDC_SPEC_ARENA_BYTES). */
size_t edc_arena_bytes(const edc_spec *spec, uint16_t category_capacity);
/* Worst-case encoded window bytes (equal to the generated EDC_SPEC_MAX_WINDOW_BYTES when the
 * config's strings are within the generator's limits). */
size_t edc_max_window_bytes(const edc_spec *spec, const edc_config *cfg);
int edc_init(edc_monitor *m, const edc_spec *spec, const edc_config *cfg, void *arena,
             size_t arena_bytes, uint64_t now_ms);
/* One inference: values[i] for spec feature i (EDC_T_MISSING: absent); prediction,
 * latency_ms, energy_mj may be NULL (not given). Never fails. */
void edc_log(edc_monitor *m, const edc_value *values, const edc_value *prediction,
             const edc_value *latency_ms, const edc_value *energy_mj);
/* The same with values by name; names outside the spec count as unknown features. */
void edc_log_named(edc_monitor *m, const char *const *names, const edc_value *values,
                   size_t n, const edc_value *prediction, const edc_value *latency_ms,
                   const edc_value *energy_mj);
/* Seal the open window: write its body into out (returns bytes, or EDC_E_SPACE if cap is
 * too small: the window is kept), then start a new window at now_ms. */
long edc_seal(edc_monitor *m, uint64_t now_ms, uint64_t seq, const edc_health *health,
              uint8_t *out, size_t cap);
int edc_feature_index(const edc_spec *spec, const char *name);

/* -- the callback form (edc_port.c): the library calls the port, the app calls these -- */
/* edc_init at port->now_ms(), with the port registered (it must outlive the monitor). */
int edc_start(edc_monitor *m, const edc_spec *spec, const edc_config *cfg, void *arena,
              size_t arena_bytes, const edc_port *port);
/* Seal the open window at now_ms() under next_seq(), with the port's health, into buf and
 * persist() it: the body's length, EDC_E_SPACE (buf too small: the window stays open) or
 * EDC_E_PORT (persist failed). Call it every window period (a timer). */
long edc_close_window(edc_monitor *m, uint8_t *buf, size_t cap);
/* One delivery step: load() the oldest window into the first half of buf, envelope and sign
 * it with key at now_ms() into the second half, send() it; a 2xx removes it, a 4xx other
 * than 408/429 removes it as rejected, anything else (5xx, 429, a skewed clock, network
 * errors) keeps it for a retry with backoff. Returns the status, 0 when nothing is kept,
 * EDC_E_SPACE or EDC_E_PORT. cap >= 2 (EDC_SPEC_MAX_WINDOW_BYTES + EDC_ENVELOPE_OVERHEAD). */
int edc_deliver(edc_monitor *m, const char *key, uint8_t *buf, size_t cap);

/* -- envelope, request and signing (edc_envelope.c, edc_sha256.c) --------------------- */
typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t fill; } edc_sha256;
void edc_sha256_init(edc_sha256 *s);
void edc_sha256_update(edc_sha256 *s, const void *data, size_t len);
void edc_sha256_final(edc_sha256 *s, uint8_t out[32]);
typedef struct { edc_sha256 inner; uint8_t okey[64]; } edc_hmac;
void edc_hmac_init(edc_hmac *h, const void *key, size_t key_len);
void edc_hmac_update(edc_hmac *h, const void *data, size_t len);
void edc_hmac_final(edc_hmac *h, uint8_t out[32]);
void edc_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                     uint8_t out[32]);
/* HMAC over "edgedrift/1\n" d "\n" m "\n" t "\n" s "\n" body (docs/wire-format.md, 4). */
void edc_sign_window(const char *key, const char *device, const char *model, uint64_t ts,
                     uint64_t seq, const uint8_t *body, size_t len, uint8_t sig[32]);
/* Envelope map {v, d, m, t, s, w, g[, k]}: bytes written, or EDC_E_SPACE. */
long edc_envelope(const char *key, const char *device, const char *model, uint64_t ts,
                  uint64_t seq, const uint8_t *body, size_t len, uint8_t *out, size_t cap);
#define EDC_ENVELOPE_OVERHEAD(device_len, model_len) ((device_len) + (model_len) + 120u)
/* Request signature header value: 64 hex chars + NUL. */
void edc_request_signature(const char *key, const char *device, uint64_t ts,
                           const char *content_encoding, const uint8_t *body, size_t len,
                           char hex[65]);
/* The key id of "edk_<id>_<secret>" (copied into id, <= 32 chars), or "" for other keys. */
size_t edc_key_id(const char *key, char id[33]);

#ifdef __cplusplus
}
#endif
#endif
