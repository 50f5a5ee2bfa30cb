/* The window: every feature's sketch plus prediction, latency and energy, carved out of the
 * app's arena at init; log() updates them, seal() encodes the window body (wire v2, or v1)
 * in the key order edge_sdk.monitor writes and starts the next window. */
#include "edc_sketch.h"

#define PRED_NONE 0xff
#define LAT_SLOTS 49u
#define BIG_SLOTS 64u

/* A categorical feature tracks max(capacity, known categories): the generator's capacity,
 * or the config's when that is smaller (edge_sdk's Monitor(category_capacity=...)). */
static uint16_t cat_capacity(const edc_feature_spec *fs, uint16_t cap) {
    uint16_t c = fs && fs->capacity ? fs->capacity : 32;
    if (cap && cap < c) c = cap;
    return fs && fs->n_known > c ? fs->n_known : c;
}

static uint16_t default_capacity(const edc_config *cfg) {
    return cfg ? cfg->category_capacity : 0;
}

/* Room for a categorical prediction: none when the spec's prediction is numeric. */
static uint16_t pred_capacity(const edc_spec *spec, uint16_t cap) {
    const edc_feature_spec *p = spec->prediction;
    if (p && p->type == EDC_NUMERIC) return 0;
    return p ? cat_capacity(p, cap) : cap ? cap : 32;
}

size_t edc_arena_bytes(const edc_spec *spec, uint16_t category_capacity) {
    size_t total = EDC_ALIGN8(2u * spec->n_features);
    uint16_t cap = category_capacity, i;
    for (i = 0; i < spec->n_features; i++) {
        const edc_feature_spec *fs = &spec->features[i];
        if (fs->type == EDC_NUMERIC)
            total += EDC_NUM_BYTES(fs->layout->n_edges + 1u, fs->layout->n_regions);
        else
            total += EDC_CAT_BYTES(cat_capacity(fs, cap), fs->n_known);
    }
    return total + EDC_BASE_ARENA_BYTES(pred_capacity(spec, cap));
}

static void *carve(edc_monitor *m, size_t bytes) {
    void *p;
    bytes = EDC_ALIGN8(bytes);
    if (bytes > m->arena_bytes - m->arena_used) return NULL;
    p = m->arena + m->arena_used;
    m->arena_used += bytes;
    return p;
}

static int valid_name(const char *s, size_t max) {
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max;
}

int edc_feature_index(const edc_spec *spec, const char *name) {
    uint16_t i;
    if (!name) return -1;
    for (i = 0; i < spec->n_features; i++)
        if (strcmp(spec->features[i].name, name) == 0) return i;
    return -1;
}

static void reset_window(edc_monitor *m, uint64_t now_ms) {
    uint16_t i;
    const edc_feature_spec *p = m->spec->prediction;
    m->window_start_ms = now_ms;
    m->n = m->unknown_feature = m->untyped = m->bad_record = 0;
    for (i = 0; i < m->spec->n_features; i++) {
        if (m->spec->features[i].type == EDC_NUMERIC) edc_num_reset(&m->num[m->slot[i]]);
        else edc_cat_reset(&m->cat[m->slot[i]]);
    }
    edc_num_reset(&m->latency);
    edc_num_reset(&m->energy);
    m->energy_on = 0;
    m->pred_kind = p ? p->type : PRED_NONE;
    if (p && p->type == EDC_NUMERIC) edc_num_setup(&m->pred_num, p->layout, m->pred_num.counts,
                                                   m->pred_num.grp, p);
    if (p && p->type == EDC_CATEGORICAL) edc_cat_reset(&m->pred_cat);
}

/* docs/wire-format.md: a model name is 1..128 letters, digits, '.', '_' or '-', starting
 * with a letter or digit (it names a directory of the dataset). */
static int valid_model(const char *s) {
    size_t i;
    if (!valid_name(s, 128)) return 0;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return 0;
    }
    return 1;
}

int edc_init(edc_monitor *m, const edc_spec *spec, const edc_config *cfg, void *arena,
             size_t arena_bytes, uint64_t now_ms) {
    uint16_t i, n_num = 0, n_cat = 0, cap = default_capacity(cfg);
    const edc_feature_spec *p;
    if (!m || !spec || !cfg || !arena) return EDC_E_ARG;
    if (!valid_name(cfg->device_id, 128) || !valid_model(cfg->model)
        || !valid_name(cfg->version, 128)
        || (cfg->model_hash && strlen(cfg->model_hash) > 128) || cfg->n_tags > 16
        || (cfg->n_tags && !cfg->tags) || cfg->wire_version > 2)
        return EDC_E_CONFIG;
    for (i = 0; i < cfg->n_tags; i++)
        if (!valid_name(cfg->tags[2 * i], 64) || !cfg->tags[2 * i + 1]
            || strlen(cfg->tags[2 * i + 1]) > 64)
            return EDC_E_CONFIG;
    memset(m, 0, sizeof *m);
    m->spec = spec;
    m->cfg = *cfg;
    m->arena = (uint8_t *)arena;
    m->arena_bytes = arena_bytes;
    if (arena_bytes < edc_arena_bytes(spec, cap)) return EDC_E_ARENA;
    for (i = 0; i < spec->n_features; i++) {
        if (spec->features[i].type == EDC_NUMERIC) n_num++;
        else n_cat++;
    }
    m->slot = (uint16_t *)carve(m, 2u * spec->n_features);
    m->num = (edc_num *)carve(m, sizeof(edc_num) * n_num);
    m->cat = (edc_cat *)carve(m, sizeof(edc_cat) * n_cat);
    n_num = n_cat = 0;
    for (i = 0; i < spec->n_features; i++) {
        const edc_feature_spec *fs = &spec->features[i];
        if (fs->type == EDC_NUMERIC) {
            unsigned slots = fs->layout->n_edges + 1u;
            uint32_t *counts = (uint32_t *)carve(m, 4u * slots);
            void *grp = carve(m, 32u * (fs->layout->n_regions + 2u));
            m->slot[i] = n_num;
            edc_num_setup(&m->num[n_num++], fs->layout, counts, grp, fs);
        } else {
            uint16_t c = cat_capacity(fs, cap);
            uint32_t *counts = (uint32_t *)carve(m, 4u * c);
            edc_key *extra = (edc_key *)carve(m, sizeof(edc_key) * (c - fs->n_known));
            m->slot[i] = n_cat;
            edc_cat_setup(&m->cat[n_cat++], fs, c, counts, extra);
        }
    }
    edc_num_setup(&m->latency, &edc_layout_lat1, (uint32_t *)carve(m, 4u * LAT_SLOTS),
                  carve(m, 32u * 10u), NULL);
    edc_num_setup(&m->energy, &edc_layout_en1, (uint32_t *)carve(m, 4u * BIG_SLOTS),
                  carve(m, 32u * 10u), NULL);
    p = spec->prediction;
    edc_num_setup(&m->pred_num, p && p->type == EDC_NUMERIC ? p->layout : &edc_layout_u1,
                  (uint32_t *)carve(m, 4u * BIG_SLOTS), carve(m, 32u * 10u), p);
    {
        uint16_t c = pred_capacity(spec, cap);
        uint16_t known = p && p->type == EDC_CATEGORICAL ? p->n_known : 0;
        uint32_t *counts = (uint32_t *)carve(m, 4u * c);
        edc_key *extra = (edc_key *)carve(m, sizeof(edc_key) * (c - known));
        edc_cat_setup(&m->pred_cat, p && p->type == EDC_CATEGORICAL ? p : NULL, c, counts,
                      extra);
    }
    reset_window(m, now_ms);
    return EDC_OK;
}

static void log_prediction(edc_monitor *m, const edc_value *v) {
    if (!v || v->type == EDC_T_MISSING) return;              /* None: nothing to count */
    if (m->pred_kind == PRED_NONE) {                         /* edge_sdk.window.infer_sketch */
        if (v->type == EDC_T_F64) {
            int64_t k = edc_key_of(v->v.f);
            int unit = k >= 0 && k <= 0x3ff0000000000000LL;    /* 0 <= x <= 1, not NaN */
            edc_num_setup(&m->pred_num, unit ? &edc_layout_p1 : &edc_layout_u1,
                          m->pred_num.counts, m->pred_num.grp, NULL);
            m->pred_kind = EDC_NUMERIC;
        } else {
            char buf[72];
            const char *key;
            size_t len;
            if (v->type == EDC_T_OTHER || edc_category_key(v, buf, &key, &len) != 1) return;
            edc_cat_reset(&m->pred_cat);
            m->pred_kind = EDC_CATEGORICAL;
        }
    }
    if (m->pred_kind == EDC_NUMERIC) edc_num_update(&m->pred_num, v);
    else edc_cat_update(&m->pred_cat, v);
}

static void log_tail(edc_monitor *m, const edc_value *prediction, const edc_value *latency_ms,
                     const edc_value *energy_mj) {
    log_prediction(m, prediction);
    if (latency_ms && latency_ms->type != EDC_T_MISSING) edc_num_update(&m->latency, latency_ms);
    if (energy_mj && energy_mj->type != EDC_T_MISSING) {
        m->energy_on = 1;
        edc_num_update(&m->energy, energy_mj);
    }
}

void edc_log(edc_monitor *m, const edc_value *values, const edc_value *prediction,
             const edc_value *latency_ms, const edc_value *energy_mj) {
    const edc_feature_spec *fs = m->spec->features;
    uint16_t i, n = m->spec->n_features;
    m->n++;
    if (!values) m->bad_record++;
    else
        for (i = 0; i < n; i++) {
            if (values[i].type == EDC_T_MISSING) continue;   /* absent: missing at seal */
            if (fs[i].type == EDC_NUMERIC) edc_num_update(&m->num[m->slot[i]], &values[i]);
            else edc_cat_update(&m->cat[m->slot[i]], &values[i]);
        }
    log_tail(m, prediction, latency_ms, energy_mj);
}

void edc_log_named(edc_monitor *m, const char *const *names, const edc_value *values,
                   size_t n, const edc_value *prediction, const edc_value *latency_ms,
                   const edc_value *energy_mj) {
    size_t j;
    uint8_t seen[32];                    /* features already given in this record */
    m->n++;
    memset(seen, 0, sizeof seen);
    if (!names || !values) m->bad_record++;
    else
        for (j = 0; j < n; j++) {
            int i = edc_feature_index(m->spec, names[j]);
            /* unknown names, and a name repeated in one record, count as unknown features
               (a record has at most one value per feature, as a Python dict) */
            if (i < 0 || i >= 256 || (seen[i >> 3] >> (i & 7)) & 1) {
                m->unknown_feature++;
                continue;
            }
            seen[i >> 3] = (uint8_t)(seen[i >> 3] | (1u << (i & 7)));
            if (m->spec->features[i].type == EDC_NUMERIC)
                edc_num_update(&m->num[m->slot[i]], &values[j]);
            else edc_cat_update(&m->cat[m->slot[i]], &values[j]);
        }
    log_tail(m, prediction, latency_ms, energy_mj);
}

static void key(edc_mp *w, const char *k) { edc_mp_cstr(w, k); }

static void write_body(edc_monitor *m, edc_mp *w, uint64_t end_ms, uint64_t seq,
                       const edc_health *hl) {
    const edc_spec *spec = m->spec;
    const edc_config *c = &m->cfg;
    int version = c->wire_version == 1 ? 1 : 2;
    int q = m->unknown_feature || m->untyped || m->bad_record;
    uint32_t entries = 12u + (c->model_hash != NULL) + (c->n_tags > 0) + (spec->spec_id != NULL)
                     + (m->pred_kind != PRED_NONE) + m->energy_on + (uint32_t)q;
    uint16_t i;
    edc_mp_map(w, entries);
    key(w, "v"); edc_mp_uint(w, (uint64_t)version);
    key(w, "d"); edc_mp_cstr(w, c->device_id);
    key(w, "m"); edc_mp_cstr(w, c->model);
    key(w, "mv"); edc_mp_cstr(w, c->version);
    key(w, "sq"); edc_mp_uint(w, seq);
    key(w, "ws"); edc_mp_uint(w, m->window_start_ms);
    key(w, "we"); edc_mp_uint(w, end_ms);
    key(w, "sdk"); edc_mp_cstr(w, EDC_SDK_NAME);
    if (c->model_hash) { key(w, "mh"); edc_mp_cstr(w, c->model_hash); }
    if (c->n_tags) {
        key(w, "tg");
        edc_mp_map(w, c->n_tags);
        for (i = 0; i < c->n_tags; i++) {
            edc_mp_cstr(w, c->tags[2 * i]);
            edc_mp_cstr(w, c->tags[2 * i + 1]);
        }
    }
    if (spec->spec_id) { key(w, "si"); edc_mp_cstr(w, spec->spec_id); }
    key(w, "n"); edc_mp_uint(w, m->n);
    key(w, "f");
    edc_mp_array(w, spec->n_features);
    for (i = 0; i < spec->n_features; i++) {
        const edc_feature_spec *fs = &spec->features[i];
        if (fs->type == EDC_NUMERIC) edc_num_encode(w, &m->num[m->slot[i]], version, fs->name);
        else edc_cat_encode(w, &m->cat[m->slot[i]], fs->name);
    }
    key(w, "lt"); edc_num_encode(w, &m->latency, version, NULL);
    if (m->pred_kind == EDC_NUMERIC) { key(w, "pr"); edc_num_encode(w, &m->pred_num, version, NULL); }
    if (m->pred_kind == EDC_CATEGORICAL) { key(w, "pr"); edc_cat_encode(w, &m->pred_cat, NULL); }
    if (m->energy_on) { key(w, "en"); edc_num_encode(w, &m->energy, version, NULL); }
    if (q) {
        key(w, "q");
        edc_mp_map(w, 3);
        key(w, "uf"); edc_mp_uint(w, m->unknown_feature);
        key(w, "ut"); edc_mp_uint(w, m->untyped);
        key(w, "br"); edc_mp_uint(w, m->bad_record);
    }
    key(w, "hl");
    edc_mp_map(w, 7);
    key(w, "dp"); edc_mp_uint(w, hl ? hl->dropped : 0);
    key(w, "dc"); edc_mp_uint(w, hl ? hl->corrupt : 0);
    key(w, "rj"); edc_mp_uint(w, hl ? hl->rejected : 0);
    key(w, "ie"); edc_mp_uint(w, hl ? hl->internal_errors : 0);
    key(w, "lm"); edc_mp_uint(w, hl ? hl->label_misses : 0);
    key(w, "sb"); edc_mp_uint(w, hl ? hl->backlog : 0);
    key(w, "sk"); edc_mp_int(w, hl ? hl->skew_ms : 0);
}

long edc_seal(edc_monitor *m, uint64_t now_ms, uint64_t seq, const edc_health *health,
              uint8_t *out, size_t cap) {
    edc_mp w;
    uint16_t i;
    if (!m || !out) return EDC_E_ARG;
    for (i = 0; i < m->spec->n_features; i++) {
        if (m->spec->features[i].type == EDC_NUMERIC)
            edc_num_finalize(&m->num[m->slot[i]], m->n);
        else edc_cat_finalize(&m->cat[m->slot[i]], m->n);
    }
    w.p = out; w.len = 0; w.cap = cap; w.err = 0;
    write_body(m, &w, now_ms > m->window_start_ms ? now_ms : m->window_start_ms, seq, health);
    if (w.err) return EDC_E_SPACE;              /* the window stays open: retry with room */
    reset_window(m, now_ms);
    return (long)w.len;
}

/* -- worst-case sizes (the generator computes the same numbers for its macro) ---------- */
static size_t str_bound(size_t n) { return n + (n < 32 ? 1 : n < 256 ? 2 : 3); }

static size_t num_bound(const edc_layout *lay) {
    size_t slots = lay->n_edges + 1u;
    return 1 + 1 + str_bound(strlen(lay->id)) + 4 * 5 + 4 * 9 + 3 + 1 + 4 * slots + 2 * 5
         + 2 + lay->n_regions + 8;
}

static size_t cat_bound(const edc_feature_spec *fs, uint16_t capacity) {
    size_t total = 1 + 1 + 5 * 5 + 3, i, known = fs ? fs->n_known : 0;
    for (i = 0; i < known; i++) total += str_bound(strlen(fs->known[i])) + 5;
    return total + (capacity - known) * (str_bound(EDC_KEY_BYTES) + 5);
}

size_t edc_max_window_bytes(const edc_spec *spec, const edc_config *cfg) {
    uint16_t cap = default_capacity(cfg), i;
    const edc_feature_spec *p = spec->prediction;
    size_t total = 1 + 18 * 4 + 1 + 3 * 9 + 5 + str_bound(strlen(EDC_SDK_NAME));
    size_t pr_num = num_bound(p && p->type == EDC_NUMERIC ? p->layout : &edc_layout_u1);
    size_t pr_cat = cat_bound(p && p->type == EDC_CATEGORICAL ? p : NULL, pred_capacity(spec, cap));
    total += str_bound(strlen(cfg->device_id)) + str_bound(strlen(cfg->model))
           + str_bound(strlen(cfg->version));
    if (cfg->model_hash) total += str_bound(strlen(cfg->model_hash));
    total += 3;
    for (i = 0; i < cfg->n_tags; i++)
        total += str_bound(strlen(cfg->tags[2 * i])) + str_bound(strlen(cfg->tags[2 * i + 1]));
    if (spec->spec_id) total += str_bound(strlen(spec->spec_id));
    total += 3;                                               /* f's array header */
    for (i = 0; i < spec->n_features; i++) {
        const edc_feature_spec *fs = &spec->features[i];
        total += 1 + str_bound(strlen(fs->name));
        total += fs->type == EDC_NUMERIC ? num_bound(fs->layout)
                                         : cat_bound(fs, cat_capacity(fs, cap));
    }
    total += num_bound(&edc_layout_lat1) + (pr_num > pr_cat ? pr_num : pr_cat)
           + num_bound(&edc_layout_en1);
    total += 1 + 3 * 8 + 1 + 7 * 12;                          /* q, hl */
    return total;
}
