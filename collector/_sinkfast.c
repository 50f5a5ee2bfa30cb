/* The sink's hot loop in C: Kafka records and window sketches -> checked Arrow buffers.
 *
 * An optional accelerator of collector.records and collector.arrow_rows: the pure-Python
 * path (msgpack objects, a transpose, then one Arrow conversion and one vectorised check
 * per column) is the reference and stays in use when this module is not built. Both
 * produce the same rows in the same order; tests/collector/test_sinkfast.py holds them
 * equal on random and mutated input (docs/parquet-schema.md, docs/architecture.md).
 *
 * parse_record(value, max_bin_len)
 *     The Kafka record envelope {"v": 1, "r", "t", "w"}: (r, t, w_start, w_end), or None
 *     for anything else (the msgpack path then decides and names the error).
 *
 * split_numeric(window_bytes, max_name_len, builtin_slots, pseudo_names)
 *     Walks one msgpack window body (untrusted: every read is bounds-checked) and packs
 *     as checked rows, so msgpack never builds Python objects for them: the numeric
 *     (arrays of 14, kind 0) and categorical (arrays of 8, kind 1) entries of "f", the
 *     numeric "pr", "lt" and "en" sketches (named by ``pseudo_names``) and classification
 *     labels "lb". Returns (rest, rows, row_count, f_count, packed, cats, cat_count,
 *     labels): ``rest`` is the window re-encoded without them (the caller decodes it
 *     with msgpack and its limits), ``f_count`` the length of the original "f",
 *     ``packed`` bit k set if the k-th of pr, lt, en, lb was taken. Returns None, and
 *     the caller decodes the whole window as before, whenever anything is unusual: not
 *     a map, no "f" or a key twice, no numeric entry, an entry breaking a rule below, ext
 *     types, trailing or missing bytes, nesting beyond 32. It never raises on bad input,
 *     so the error a window gets is always the one the plain path gives.
 *
 * numeric_columns(sources, check, max_name_len, builtin_slots)
 * categorical_columns(sources, check, max_name_len)
 * label_columns(sources, check, max_len)
 *     A chunk's rows, from ``sources``: decoded lists (untrusted, type-checked) and bytes
 *     (packed by split_numeric, in order), as bytearrays the caller wraps as Arrow
 *     buffers without a copy (int64/float64 columns one after another, Arrow string
 *     offsets + data, the int32 bin matrix column after column; numeric rows ordered by
 *     bin shape, stably, with the permutation returned; for numeric rows also the
 *     slot-sum columns of collector/slot_sums.py: 9 int64, pos0..7 and sums_n, and 2
 *     float64, the tails). With check true they return
 *     None as soon as a list breaks a rule (the caller then validates window by window,
 *     which names the field); with check false a wrong type raises TypeError.
 *
 * group_rows(lead, texts), group_add(groups, columns)
 *     The sink's sketch sums (collector/sketch_sums.py): number rows by their keys, and
 *     add value columns into each group's cells (in _sinkfast_sums.c, where each is
 *     described).
 *
 * The rules: names and layout ids strs of 1..max_name_len (layout 1..32) UTF-8 bytes;
 * kinds the ints 0 and 1; counts ints in 0..2^40-1; min, max, mean, m2 finite numbers
 * (ints converted as float() does); bins a width byte 1, 2 or 4 and 1..64 little-endian
 * counts, each at most 2^31-1, summing to n; a built-in layout id with exactly its slot
 * count; slot sums (v2) empty or a byte per region and two finite float32 >= 0; category
 * keys strs of 1..64 bytes, counts + other == n, unseen <= n; label
 * classes strs of 1..max_len bytes, cells + other == n. These are the column-wise
 * proofs' rules of collector.chunk_checks or stricter (exact types), never looser. The
 * rules across rows and windows (names unique per window, counts within the window's
 * records, min <= max) stay in collector.arrow_rows.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_sinkfast_sums.h"     /* group_add, group_rows: the sketch sums' steps */

#define ENTRY_LEN 14
#define NSLOTS 64
#define MAX_UINT ((1LL << 40) - 1)
#define MAX_LAYOUT_LEN 32
#define MAX_BINS_LEN (1 + NSLOTS * 4)
#define N_INTS 6
#define N_FLOATS 4
#define MAX_DEPTH 32
#define MAX_F_LEN 4096      /* WireLimits.max_array_len */
#define MAX_MAP_LEN 1024    /* WireLimits.max_map_len */
#define MAX_BUILTIN 16
#define N_CAT_INTS 5
#define CAT_LEN 8
#define MAX_CATEGORY_LEN 64
#define MAX_FAST_CATEGORIES 256
#define LABEL_LEN 5
#define MAX_LABEL_LEN 4096    /* WireLimits.max_str_len */
#define MAX_FAST_CELLS 4096   /* WireLimits.max_array_len */
#define INDEX_BITS 23
#define INDEX_MASK ((1ULL << INDEX_BITS) - 1)
#define N_REGIONS 8          /* edge_sdk.layout.REGIONS */
#define N_SUM_INTS (N_REGIONS + 1)   /* pos0 .. pos7, sums_n */
#define E_SUMS 14            /* wire v2: the slot sums after out_of_range */

/* entry indices (edge_sdk.wire: a numeric sketch entry with its name first) */
enum { E_NAME = 0, E_KIND = 1, E_LAYOUT = 2, E_N = 3, E_MISSING = 4, E_NAN = 5, E_INF = 6,
       E_MIN = 7, E_MAX = 8, E_MEAN = 9, E_M2 = 10, E_BINS = 11, E_MISMATCH = 12, E_OOR = 13 };
static const int INT_FIELDS[N_INTS] = {E_N, E_MISSING, E_NAN, E_INF, E_MISMATCH, E_OOR};
static const int FLOAT_FIELDS[N_FLOATS] = {E_MIN, E_MAX, E_MEAN, E_M2};

/* ---- growable bytearrays ----------------------------------------------------------- */
typedef struct {
    PyObject *obj;          /* bytearray */
    char *data;
    Py_ssize_t size, used;
} Growable;

static int grow_init(Growable *g, Py_ssize_t size) {
    g->obj = PyByteArray_FromStringAndSize(NULL, size > 0 ? size : 1);
    if (!g->obj) return -1;
    g->data = PyByteArray_AS_STRING(g->obj);
    g->size = size > 0 ? size : 1;
    g->used = 0;
    return 0;
}

static int grow_reserve(Growable *g, Py_ssize_t len) {
    if (g->used + len <= g->size) return 0;
    Py_ssize_t want = g->size ? g->size * 2 : 8192;
    while (want < g->used + len) want *= 2;
    if (g->obj) {                               /* a bytearray handed to Python */
        if (PyByteArray_Resize(g->obj, want) < 0) return -1;
        g->data = PyByteArray_AS_STRING(g->obj);
    } else {                                    /* a scratch buffer (see below) */
        char *data = PyMem_RawRealloc(g->data, (size_t)want);
        if (!data) { PyErr_NoMemory(); return -1; }
        g->data = data;
    }
    g->size = want;
    return 0;
}

static int grow_append(Growable *g, const void *src, Py_ssize_t len) {
    if (grow_reserve(g, len) < 0) return -1;
    memcpy(g->data + g->used, src, (size_t)len);
    g->used += len;
    return 0;
}

static int grow_finish(Growable *g) { return PyByteArray_Resize(g->obj, g->used); }

/* every bytearray buffer shrunk to its used size (0), or -1 */
static int finish_all(Growable *gs[], int n) {
    for (int i = 0; i < n; i++)
        if (gs[i]->obj && grow_finish(gs[i]) < 0) return -1;
    return 0;
}

static void release_all(Growable *gs[], int n) {
    for (int i = 0; i < n; i++) Py_XDECREF(gs[i]->obj);
}

/* Scratch buffers of split_numeric (Growables without a bytearray), kept between calls: a
 * window's few KB would otherwise cost several mallocs of more than 512 bytes (~1 us each
 * here). Only used with the GIL held and never across a call that could release it. */
typedef Growable Scratch;
#define scratch_reserve grow_reserve
#define scratch_append grow_append

static Scratch s_rest, s_rows, s_pseudo[3], s_cats, s_labels;

/* ---- shared row rules ---------------------------------------------------------------- */
typedef struct {
    const char *id;
    Py_ssize_t len;
    long slots;
} Builtin;

typedef struct {
    Builtin items[MAX_BUILTIN];
    int count;
} Builtins;

/* the {layout id: slots} dict as a C table (its str keys stay alive in the dict) */
static int builtins_from(PyObject *dict, Builtins *out) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    out->count = 0;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (out->count == MAX_BUILTIN || !PyUnicode_Check(key) || !PyLong_Check(value)) {
            PyErr_SetString(PyExc_ValueError, "builtin_slots: at most 16 {str: int} items");
            return -1;
        }
        Builtin *b = &out->items[out->count++];
        b->id = PyUnicode_AsUTF8AndSize(key, &b->len);
        if (!b->id) return -1;
        b->slots = PyLong_AsLong(value);
        if (b->slots == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

/* 1 if a layout id is a built-in one with another slot count */
static int breaks_builtin(const Builtins *b, const char *layout, Py_ssize_t len, int slots) {
    for (int i = 0; i < b->count; i++)
        if (b->items[i].len == len && memcmp(b->items[i].id, layout, (size_t)len) == 0)
            return b->items[i].slots != slots;
    return 0;
}

static uint64_t read_count(const unsigned char *p, int width) {
    switch (width) {
    case 1: return p[0];
    case 2: return (uint64_t)p[0] | ((uint64_t)p[1] << 8);
    default:
        return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16)
               | ((uint64_t)p[3] << 24);
    }
}

/* bins: width byte then counts; 0 ok (slots and total set), 1 a broken rule */
static int bins_shape(const unsigned char *p, Py_ssize_t length, int *width, int *slots) {
    if (length < 2 || length > MAX_BINS_LEN) return 1;
    *width = p[0];
    if (!(*width == 1 || *width == 2 || *width == 4) || (length - 1) % *width != 0) return 1;
    *slots = (int)((length - 1) / *width);
    return (*slots < 1 || *slots > NSLOTS) ? 1 : 0;
}

/* counts of valid bins, each at most 2^31-1 (1 otherwise); their total in *total */
static int bins_total(const unsigned char *p, int width, int slots, uint64_t *total) {
    uint64_t sum = 0;
    for (int s = 0; s < slots; s++) {
        uint64_t c = read_count(p + 1 + (Py_ssize_t)s * width, width);
        if (c > INT32_MAX) return 1;
        sum += c;
    }
    *total = sum;
    return 0;
}

static int utf8_ok(const char *s, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) {      /* not ASCII: Python's strict decoder decides */
            PyObject *u = PyUnicode_DecodeUTF8(s, len, "strict");
            if (!u) { PyErr_Clear(); return 0; }
            Py_DECREF(u);
            return 1;
        }
    return 1;
}

/* ---- packed rows (split_numeric -> numeric_columns, in this process only) ------------ */
typedef struct {
    int64_t ints[N_INTS];
    double floats[N_FLOATS];
    uint32_t name_len, layout_len, bins_len, sums_len;
} RowHead;            /* followed by name, layout, bins and slot sums bytes */

/* ---- wire-v2 slot sums (edge_sdk.layout.regions, collector/slot_sums.py) -------------- */
/* The region rule of edge_sdk.layout.regions (the one statement of it, in Python): the
 * inner slots 1 .. slots - 2 in at most N_REGIONS runs; region r of count is
 * [region_first(r), region_first(r + 1) - 1]. tests/collector/test_sinkfast.py compares
 * region_bounds() below with regions() for every slot count. */
static int regions_of(int slots) {
    int inner = slots > 2 ? slots - 2 : 0;
    return inner < N_REGIONS ? inner : N_REGIONS;
}

static int region_first(int r, int count, int slots) {
    int inner = slots > 2 ? slots - 2 : 0;
    return 1 + r * inner / count;
}

static float read_f32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
                 | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 0: no sums, or a byte per region then two finite float32 tails >= 0; 1: a broken rule */
static int sums_rule(const unsigned char *p, Py_ssize_t len, int slots) {
    if (len == 0) return 0;
    if (len != regions_of(slots) + 8) return 1;
    for (int k = 0; k < 2; k++) {
        float t = read_f32(p + len - 8 + 4 * k);
        if (!isfinite(t) || !(t >= 0.0f)) return 1;
    }
    return 0;
}

/* one row's slot-sum columns from its bins (bin_row) and sums bytes: per region count x
 * position byte, the tails, and n when the row has sums (else zeros) */
static void sums_row(const int32_t *bin_row, int slots, const unsigned char *sums,
                     Py_ssize_t sums_len, int64_t n, int64_t *ints, double *tails) {
    memset(ints, 0, sizeof(int64_t) * N_SUM_INTS);
    tails[0] = tails[1] = 0.0;
    if (!sums_len) return;
    int count = regions_of(slots);
    for (int r = 0; r < count; r++) {
        int first = region_first(r, count, slots), end = region_first(r + 1, count, slots);
        int64_t c = 0;
        for (int s = first; s < end; s++) c += bin_row[s];
        ints[r] = c * (int64_t)sums[r];
    }
    tails[0] = (double)read_f32(sums + count);
    tails[1] = (double)read_f32(sums + count + 4);
    ints[N_REGIONS] = n;
}

/* ---- a bounds-checked msgpack reader ------------------------------------------------- */
typedef struct {
    const unsigned char *p, *end;
} Reader;

static int need_bytes(Reader *r, Py_ssize_t n) { return n >= 0 && r->end - r->p >= n; }

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* a header of a fix-format (``fix_mask``/``fix_tag``, length in ``len_mask``) or of the two
 * or three longer formats starting at ``first`` with 1, 2, 4 (str) or 2, 4 byte lengths:
 * its length (bytes, elements or pairs); -1 if the next object is not of that kind */
static int64_t header(Reader *r, unsigned char fix_mask, unsigned char fix_tag,
                      unsigned char len_mask, unsigned char first, int widths) {
    if (!need_bytes(r, 1)) return -1;
    unsigned char t = *r->p;
    if ((t & fix_mask) == fix_tag) { r->p++; return t & len_mask; }
    if (t < first || t >= first + widths) return -1;
    int n = widths == 3 ? 1 << (t - first) : 2 << (t - first);
    if (!need_bytes(r, 1 + n)) return -1;
    int64_t len = (int64_t)be(r->p + 1, n);
    r->p += 1 + n;
    return len;
}

static int64_t str_header(Reader *r) { return header(r, 0xe0, 0xa0, 0x1f, 0xd9, 3); }
static int64_t array_header(Reader *r) { return header(r, 0xf0, 0x90, 0x0f, 0xdc, 2); }
static int64_t map_header(Reader *r) { return header(r, 0xf0, 0x80, 0x0f, 0xde, 2); }

/* skip one object (0) or give up (-1): truncated, ext types, nesting beyond MAX_DEPTH */
static int skip(Reader *r, int depth) {
    if (depth > MAX_DEPTH || !need_bytes(r, 1)) return -1;
    unsigned char t = *r->p;
    int64_t len;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) { r->p++; return 0; }
    if ((t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb) {
        len = str_header(r);
        if (len < 0 || !need_bytes(r, len)) return -1;
        r->p += len;
        return 0;
    }
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        len = array_header(r);
        if (len < 0) return -1;
        for (int64_t i = 0; i < len; i++)
            if (skip(r, depth + 1) < 0) return -1;
        return 0;
    }
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        len = map_header(r);
        if (len < 0) return -1;
        for (int64_t i = 0; i < 2 * len; i++)
            if (skip(r, depth + 1) < 0) return -1;
        return 0;
    }
    switch (t) {
    case 0xc4: case 0xc5: case 0xc6: {           /* bin 8/16/32 */
        int n = t == 0xc4 ? 1 : t == 0xc5 ? 2 : 4;
        if (!need_bytes(r, 1 + n)) return -1;
        len = (int64_t)be(r->p + 1, n);
        r->p += 1 + n;
        if (!need_bytes(r, len)) return -1;
        r->p += len;
        return 0;
    }
    case 0xca: case 0xcc: case 0xcd: case 0xce: case 0xcf:
    case 0xcb: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        static const int sizes[] = {[0xca - 0xca] = 4, [0xcb - 0xca] = 8, [0xcc - 0xca] = 1,
                                    [0xcd - 0xca] = 2, [0xce - 0xca] = 4, [0xcf - 0xca] = 8,
                                    [0xd0 - 0xca] = 1, [0xd1 - 0xca] = 2, [0xd2 - 0xca] = 4,
                                    [0xd3 - 0xca] = 8};
        int n = sizes[t - 0xca];
        if (!need_bytes(r, 1 + n)) return -1;
        r->p += 1 + n;
        return 0;
    }
    default:
        return -1;                               /* ext types and the never-used 0xc1 */
    }
}

/* a non-negative int (as msgpack decodes it to a Python int) of at most ``top`` */
static int read_nonneg(Reader *r, uint64_t top, int64_t *out) {
    if (!need_bytes(r, 1)) return -1;
    unsigned char t = *r->p;
    if (t <= 0x7f) { *out = t; r->p++; return 0; }
    if (t < 0xcc || t > 0xd3) return -1;   /* negative fixint, float, bool, nil, ...: no */
    int n = 1 << ((t - 0xcc) & 3);         /* 0xcc..0xcf uint 8..64, 0xd0..0xd3 int 8..64 */
    int is_signed = t >= 0xd0;
    if (!need_bytes(r, 1 + n)) return -1;
    uint64_t raw = be(r->p + 1, n);
    r->p += 1 + n;
    if (is_signed && (raw >> (8 * n - 1))) return -1;        /* negative */
    if (raw > top) return -1;
    *out = (int64_t)raw;
    return 0;
}

/* a count: an int in 0..MAX_UINT */
static int read_uint(Reader *r, int64_t *out) { return read_nonneg(r, (uint64_t)MAX_UINT, out); }

/* a time: an int in 0..2^63-1 */
static int read_int63(Reader *r, int64_t *out) { return read_nonneg(r, (uint64_t)INT64_MAX, out); }

/* a finite number: float 32/64, or any int converted as Python's float() does */
static int read_number(Reader *r, double *out) {
    if (!need_bytes(r, 1)) return -1;
    unsigned char t = *r->p;
    double x;
    if (t <= 0x7f) { x = t; r->p++; }
    else if (t >= 0xe0) { x = (double)(int8_t)t; r->p++; }
    else {
        int n;
        switch (t) {
        case 0xca: case 0xce: case 0xd2: n = 4; break;
        case 0xcb: case 0xcf: case 0xd3: n = 8; break;
        case 0xcc: case 0xd0: n = 1; break;
        case 0xcd: case 0xd1: n = 2; break;
        default: return -1;
        }
        if (!need_bytes(r, 1 + n)) return -1;
        uint64_t raw = be(r->p + 1, n);
        r->p += 1 + n;
        switch (t) {
        case 0xca: { uint32_t u = (uint32_t)raw; float f; memcpy(&f, &u, 4); x = f; break; }
        case 0xcb: memcpy(&x, &raw, 8); break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf: x = (double)raw; break;
        case 0xd0: x = (double)(int8_t)raw; break;
        case 0xd1: x = (double)(int16_t)raw; break;
        case 0xd2: x = (double)(int32_t)raw; break;
        default: x = (double)(int64_t)raw; break;
        }
    }
    if (!isfinite(x)) return -1;
    *out = x;
    return 0;
}

static int read_str(Reader *r, Py_ssize_t max_len, const char **s, Py_ssize_t *len) {
    int64_t n = str_header(r);
    if (n < 1 || n > max_len || !need_bytes(r, n)) return -1;
    *s = (const char *)r->p;
    *len = (Py_ssize_t)n;
    r->p += n;
    return utf8_ok(*s, *len) ? 0 : -1;
}

static int read_bin(Reader *r, const unsigned char **s, Py_ssize_t *len) {
    if (!need_bytes(r, 1)) return -1;
    unsigned char t = *r->p;
    int n = t == 0xc4 ? 1 : t == 0xc5 ? 2 : t == 0xc6 ? 4 : 0;
    if (!n || !need_bytes(r, 1 + n)) return -1;
    int64_t l = (int64_t)be(r->p + 1, n);
    r->p += 1 + n;
    if (!need_bytes(r, l)) return -1;
    *s = r->p;
    *len = (Py_ssize_t)l;
    r->p += l;
    return 0;
}

/* one numeric sketch (after its name: kind, layout, n, ...) -> a packed row named ``name``;
 * -1: a broken rule, -2: no memory */
static int pack_sketch(Reader *r, const char *name, Py_ssize_t name_len,
                       const Builtins *builtins, Scratch *rows, int with_sums) {
    RowHead head;
    const char *layout;
    const unsigned char *bins, *sums = NULL;
    Py_ssize_t layout_len, bins_len, sums_len = 0;
    int64_t kind;
    int width, slots;
    uint64_t total;
    if (read_uint(r, &kind) < 0 || kind != 0) return -1;
    if (read_str(r, MAX_LAYOUT_LEN, &layout, &layout_len) < 0) return -1;
    for (int k = 0; k < 4; k++)                          /* n, missing, nan, inf */
        if (read_uint(r, &head.ints[k]) < 0) return -1;
    for (int k = 0; k < N_FLOATS; k++)
        if (read_number(r, &head.floats[k]) < 0) return -1;
    if (read_bin(r, &bins, &bins_len) < 0) return -1;
    if (read_uint(r, &head.ints[4]) < 0 || read_uint(r, &head.ints[5]) < 0) return -1;
    if (with_sums && read_bin(r, &sums, &sums_len) < 0) return -1;
    if (bins_shape(bins, bins_len, &width, &slots) || bins_total(bins, width, slots, &total)
        || total != (uint64_t)head.ints[0] || breaks_builtin(builtins, layout, layout_len, slots)
        || (with_sums && sums_rule(sums, sums_len, slots)))
        return -1;
    head.name_len = (uint32_t)name_len;
    head.layout_len = (uint32_t)layout_len;
    head.bins_len = (uint32_t)bins_len;
    head.sums_len = (uint32_t)sums_len;
    Py_ssize_t size = (Py_ssize_t)sizeof head + name_len + layout_len + bins_len + sums_len;
    if (scratch_reserve(rows, size) < 0)
        return -2;
    char *out = rows->data + rows->used;
    memcpy(out, &head, sizeof head);
    memcpy(out + sizeof head, name, (size_t)name_len);
    memcpy(out + sizeof head + name_len, layout, (size_t)layout_len);
    memcpy(out + sizeof head + name_len + layout_len, bins, (size_t)bins_len);
    if (sums_len)
        memcpy(out + sizeof head + name_len + layout_len + bins_len, sums, (size_t)sums_len);
    rows->used += size;
    return 0;
}

/* a categorical entry's packed row: CatHead, name, then per category: uint32 key length,
 * key bytes, int64 count */
typedef struct {
    int64_t ints[N_CAT_INTS];        /* n, missing, mismatch, unseen, other */
    uint32_t name_len, categories;
} CatHead;

/* one categorical entry (after its name: kind 1, n, missing, mismatch, unseen, other,
 * {category: count}) -> a packed row; -1: a broken rule (or a map this path does not
 * take: duplicate keys, more than MAX_FAST_CATEGORIES), -2: no memory */
static int pack_categorical(Reader *r, const char *name, Py_ssize_t name_len, Scratch *out) {
    CatHead head;
    int64_t kind;
    uint64_t total = 0;
    if (read_uint(r, &kind) < 0 || kind != 1) return -1;
    for (int k = 0; k < N_CAT_INTS; k++)
        if (read_uint(r, &head.ints[k]) < 0) return -1;
    int64_t ncat = map_header(r);
    if (ncat < 0 || ncat > MAX_FAST_CATEGORIES) return -1;
    head.name_len = (uint32_t)name_len;
    head.categories = (uint32_t)ncat;
    if (scratch_append(out, &head, sizeof head) < 0 || scratch_append(out, name, name_len) < 0)
        return -2;
    const char *keys[MAX_FAST_CATEGORIES];
    Py_ssize_t key_lens[MAX_FAST_CATEGORIES];
    for (int64_t c = 0; c < ncat; c++) {
        int64_t count;
        if (read_str(r, MAX_CATEGORY_LEN, &keys[c], &key_lens[c]) < 0) return -1;
        for (int64_t d = 0; d < c; d++)     /* msgpack would keep one: the plain path decides */
            if (key_lens[d] == key_lens[c] && memcmp(keys[d], keys[c], (size_t)key_lens[c]) == 0)
                return -1;
        if (read_uint(r, &count) < 0) return -1;
        total += (uint64_t)count;
        uint32_t len = (uint32_t)key_lens[c];
        if (scratch_append(out, &len, sizeof len) < 0
            || scratch_append(out, keys[c], key_lens[c]) < 0
            || scratch_append(out, &count, sizeof count) < 0)
            return -2;
    }
    /* category counts + other == n, unseen <= n (the chunk proofs' rules) */
    if (total + (uint64_t)head.ints[4] != (uint64_t)head.ints[0] || head.ints[3] > head.ints[0])
        return -1;
    return 0;
}

/* classification labels [2, n, mismatch, other, [[predicted, actual, count], ...]] packed:
 * LabelHead, then per cell: uint32 length, predicted, uint32 length, actual, int64 count */
typedef struct {
    int64_t n, mismatch, other;
    uint32_t cells, pad;
} LabelHead;

/* the label array (after its header: 2, n, ...) -> packed; -1 a broken rule, -2 no memory */
static int pack_labels(Reader *r, Scratch *out) {
    LabelHead head = {0};
    int64_t task;
    uint64_t total = 0;
    if (read_uint(r, &task) < 0 || task != 2) return -1;
    if (read_uint(r, &head.n) < 0 || read_uint(r, &head.mismatch) < 0
        || read_uint(r, &head.other) < 0)
        return -1;
    int64_t cells = array_header(r);
    if (cells < 0 || cells > MAX_FAST_CELLS) return -1;
    head.cells = (uint32_t)cells;
    if (scratch_append(out, &head, sizeof head) < 0) return -2;
    for (int64_t c = 0; c < cells; c++) {
        const char *pred, *actual;
        Py_ssize_t pred_len, actual_len;
        int64_t count;
        if (array_header(r) != 3 || read_str(r, MAX_LABEL_LEN, &pred, &pred_len) < 0
            || read_str(r, MAX_LABEL_LEN, &actual, &actual_len) < 0 || read_uint(r, &count) < 0)
            return -1;
        total += (uint64_t)count;
        uint32_t pl = (uint32_t)pred_len, al = (uint32_t)actual_len;
        if (scratch_append(out, &pl, 4) < 0 || scratch_append(out, pred, pred_len) < 0
            || scratch_append(out, &al, 4) < 0 || scratch_append(out, actual, actual_len) < 0
            || scratch_append(out, &count, 8) < 0)
            return -2;
    }
    return total + (uint64_t)head.other == (uint64_t)head.n ? 0 : -1;   /* cells + other == n */
}

/* the window-level sketches packed as rows after the features, in this order */
static const char *const PSEUDO_KEYS[3] = {"pr", "lt", "en"};
#define PACKED_LB 8            /* bit of ``packed``: the classification labels were taken */

/* which of PSEUDO_KEYS a map key is, in any str encoding msgpack accepts (-1: none) */
static int pseudo_key(Reader key) {
    int64_t len = str_header(&key);
    if (len != 2 || !need_bytes(&key, 2)) return -1;
    for (int k = 0; k < 3; k++)
        if (key.p[0] == PSEUDO_KEYS[k][0] && key.p[1] == PSEUDO_KEYS[k][1]) return k;
    return -1;
}

static PyObject *split_numeric(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t max_name_len;
    PyObject *builtin_dict, *result = NULL;
    const char *pseudo_name[3];
    Py_ssize_t pseudo_len[3];
    Builtins builtins;
    Scratch *rest = &s_rest, *rows = &s_rows, *pseudo = s_pseudo, *cats = &s_cats,
            *labels = &s_labels;
    int64_t cat_count = 0;
    if (!PyArg_ParseTuple(args, "y*nO!(s#s#s#):split_numeric", &view, &max_name_len,
                          &PyDict_Type, &builtin_dict, &pseudo_name[0], &pseudo_len[0],
                          &pseudo_name[1], &pseudo_len[1], &pseudo_name[2], &pseudo_len[2]))
        return NULL;
    if (builtins_from(builtin_dict, &builtins) < 0) goto fail;
    rest->used = rows->used = cats->used = labels->used = 0;
    pseudo[0].used = pseudo[1].used = pseudo[2].used = 0;
    Reader r = {(const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len};
    int64_t pairs = map_header(&r), row_count = 0, f_count = -1;
    int packed = 0;                          /* bit k: PSEUDO_KEYS[k] packed */
    int version = 0;       /* 1 or 2 by the packed numeric entries' length, all the same */
    if (pairs < 0 || pairs > MAX_MAP_LEN) goto plain;
    unsigned char map_head[5] = {0xdf, 0, 0, 0, 0};  /* map 32, count set below */
    if (scratch_append(rest, map_head, 5) < 0) goto fail;
    for (int64_t i = 0; i < pairs; i++) {
        const unsigned char *start = r.p;
        Reader key = r;                     /* "f" in any str encoding msgpack accepts */
        int64_t key_len = str_header(&key);
        int is_f = key_len == 1 && need_bytes(&key, 1) && key.p[0] == 'f';
        int which = is_f ? -1 : pseudo_key(r);
        int is_lb = key_len == 2 && need_bytes(&key, 2) && key.p[0] == 'l' && key.p[1] == 'b';
        if (skip(&r, 1) < 0) goto plain;                              /* the key */
        if (is_lb) {
            if (packed & PACKED_LB) goto plain;          /* a key twice: msgpack's rules */
            Reader probe = r;
            if (array_header(&probe) == LABEL_LEN && need_bytes(&probe, 1)
                && probe.p[0] == 0x02) {                  /* classification labels */
                array_header(&r);
                int k = pack_labels(&r, labels);
                if (k == -2) goto fail;
                if (k < 0) goto plain;
                packed |= PACKED_LB;
                continue;                                 /* not in the rest */
            }
        }
        if (which >= 0) {
            if (packed & (1 << which)) goto plain;       /* a key twice: msgpack's rules */
            Reader probe = r;
            int64_t len = array_header(&probe);
            if ((len == ENTRY_LEN - 1 || len == ENTRY_LEN) && need_bytes(&probe, 1)
                && probe.p[0] == 0x00) {                  /* [0, layout, ...]: numeric */
                int v = (int)(len - ENTRY_LEN + 2);
                if (version && v != version) goto plain;  /* entries of two versions */
                version = v;
                array_header(&r);
                int k = pack_sketch(&r, pseudo_name[which], pseudo_len[which], &builtins,
                                    &pseudo[which], v == 2);
                if (k == -2) goto fail;
                if (k < 0) goto plain;
                packed |= 1 << which;
                continue;                                 /* not in the rest */
            }
        }
        if (!is_f) {
            if (skip(&r, 1) < 0) goto plain;
            if (scratch_append(rest, start, r.p - start) < 0) goto fail;
            continue;
        }
        if (f_count >= 0) goto plain;                    /* two "f" keys: msgpack's rules */
        if (scratch_append(rest, start, r.p - start) < 0) goto fail;
        f_count = array_header(&r);
        if (f_count < 0 || f_count > MAX_F_LEN) goto plain;
        Py_ssize_t header_at = rest->used;                /* array 32, count set below */
        unsigned char header[5] = {0xdd, 0, 0, 0, 0};
        if (scratch_append(rest, header, 5) < 0) goto fail;
        uint32_t kept = 0;
        for (int64_t e = 0; e < f_count; e++) {
            const unsigned char *entry = r.p;
            Reader probe = r;
            int64_t len = array_header(&probe);
            if ((len == ENTRY_LEN || len == ENTRY_LEN + 1) && skip(&probe, 3) == 0
                && need_bytes(&probe, 1) && probe.p[0] == 0x00) {   /* [name, 0, ...]: numeric */
                const char *name;
                Py_ssize_t name_len;
                int v = (int)(len - ENTRY_LEN + 1);
                if (version && v != version) goto plain;  /* entries of two versions */
                version = v;
                r.p = entry;
                array_header(&r);
                if (read_str(&r, max_name_len, &name, &name_len) < 0) goto plain;
                int k = pack_sketch(&r, name, name_len, &builtins, rows, v == 2);
                if (k == -2) goto fail;
                if (k < 0) goto plain;
                row_count++;
                continue;
            }
            probe = r;
            if (array_header(&probe) == CAT_LEN && skip(&probe, 3) == 0 && need_bytes(&probe, 1)
                && probe.p[0] == 0x01) {                  /* [name, 1, ...]: categorical */
                const char *name;
                Py_ssize_t name_len;
                r.p = entry;
                array_header(&r);
                if (read_str(&r, max_name_len, &name, &name_len) < 0) goto plain;
                int k = pack_categorical(&r, name, name_len, cats);
                if (k == -2) goto fail;
                if (k < 0) goto plain;
                cat_count++;
                continue;
            }
            if (skip(&r, 2) < 0) goto plain;
            if (scratch_append(rest, entry, r.p - entry) < 0) goto fail;
            kept++;
        }
        unsigned char *h = (unsigned char *)rest->data + header_at;
        h[1] = (unsigned char)(kept >> 24); h[2] = (unsigned char)(kept >> 16);
        h[3] = (unsigned char)(kept >> 8); h[4] = (unsigned char)kept;
    }
    if (r.p != r.end || row_count == 0 || f_count < 0) goto plain;
    uint32_t left = (uint32_t)pairs - ((packed & PACKED_LB) ? 1 : 0);
    for (int k = 0; k < 3; k++) {
        if (!(packed & (1 << k))) continue;
        left--;
        row_count++;
        if (scratch_append(rows, pseudo[k].data, pseudo[k].used) < 0) goto fail;
    }
    rest->data[1] = (char)(left >> 24); rest->data[2] = (char)(left >> 16);
    rest->data[3] = (char)(left >> 8); rest->data[4] = (char)left;
    {   /* copies first: the tuple's allocation may run the GC (and finalizers) */
        PyObject *rest_bytes = PyBytes_FromStringAndSize(rest->data, rest->used);
        PyObject *rows_bytes = PyBytes_FromStringAndSize(rows->data, rows->used);
        PyObject *cat_bytes = PyBytes_FromStringAndSize(cats->data, cats->used);
        PyObject *label_bytes = (packed & PACKED_LB)
            ? PyBytes_FromStringAndSize(labels->data, labels->used) : Py_NewRef(Py_None);
        if (!rest_bytes || !rows_bytes || !cat_bytes || !label_bytes) {
            Py_XDECREF(rest_bytes);
            Py_XDECREF(rows_bytes);
            Py_XDECREF(cat_bytes);
            Py_XDECREF(label_bytes);
            goto fail;
        }
        result = Py_BuildValue("(NNLLiNLNi)", rest_bytes, rows_bytes, (long long)row_count,
                               (long long)f_count, packed, cat_bytes, (long long)cat_count,
                               label_bytes, version);
    }
    goto done;
plain:
    result = Py_NewRef(Py_None);
    goto done;
fail:
    result = NULL;
done:
    PyBuffer_Release(&view);
    return result;
}

/* ---- parse_record -------------------------------------------------------------------- */
/* The Kafka record value of collector.records: {"v": 1, "r": received ms, "t": sent s,
 * "w": window bytes}, each key once, nothing else. Returns (r, t, w_start, w_end) or None
 * (anything else: the caller's msgpack path decides, and names the error). */
static PyObject *parse_record(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t max_bin_len;
    PyObject *result;
    if (!PyArg_ParseTuple(args, "y*n:parse_record", &view, &max_bin_len)) return NULL;
    Reader r = {(const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len};
    int64_t v = -1, received = -1, sent = -1;
    const unsigned char *w = NULL;
    Py_ssize_t w_len = 0;
    int seen = 0;
    if (map_header(&r) != 4) goto plain;
    for (int i = 0; i < 4; i++) {
        Reader key = r;
        if (str_header(&key) != 1 || !need_bytes(&key, 1)) goto plain;
        char k = (char)key.p[0];
        int bit = k == 'v' ? 1 : k == 'r' ? 2 : k == 't' ? 4 : k == 'w' ? 8 : 0;
        if (!bit || (seen & bit)) goto plain;
        seen |= bit;
        key.p++;
        r = key;
        if (k == 'w') {
            if (read_bin(&r, &w, &w_len) < 0 || w_len > max_bin_len) goto plain;
        } else {
            int64_t *out = k == 'v' ? &v : k == 'r' ? &received : &sent;
            if (read_int63(&r, out) < 0) goto plain;
        }
    }
    if (r.p != r.end || v != 1 || sent > INT64_MAX / 1000) goto plain;
    result = Py_BuildValue("(LLnn)", (long long)received, (long long)sent,
                           (Py_ssize_t)(w - (const unsigned char *)view.buf),
                           (Py_ssize_t)(w - (const unsigned char *)view.buf) + w_len);
    PyBuffer_Release(&view);
    return result;
plain:
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* ---- numeric_columns ------------------------------------------------------------------ */
/* 0 ok, 1 rule broken (check mode: give up), -1 Python error set */
static int uint_value(PyObject *v, int check, int64_t *out) {
    if (!PyLong_CheckExact(v)) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected an int count");
        return -1;
    }
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (overflow || (check && (x < 0 || x > MAX_UINT))) {
        if (check) return 1;
        PyErr_SetString(PyExc_OverflowError, "numeric entry: count out of int64 range");
        return -1;
    }
    *out = (int64_t)x;
    return 0;
}

static int float_value(PyObject *v, int check, double *out) {
    double x;
    if (PyFloat_CheckExact(v)) {
        x = PyFloat_AS_DOUBLE(v);
    } else if (PyLong_CheckExact(v)) {
        x = PyLong_AsDouble(v);      /* rounds as float() does; huge ints overflow */
        if (x == -1.0 && PyErr_Occurred()) {
            if (!check) return -1;
            PyErr_Clear();
            return 1;
        }
    } else {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected a number");
        return -1;
    }
    if (check && !isfinite(x)) return 1;
    *out = x;
    return 0;
}

static int str_value(PyObject *v, int check, Py_ssize_t max_len, const char **s,
                     Py_ssize_t *len) {
    if (!PyUnicode_CheckExact(v)) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected a str");
        return -1;
    }
    *s = PyUnicode_AsUTF8AndSize(v, len);
    if (!*s) {
        if (!check) return -1;
        PyErr_Clear();
        return 1;
    }
    return (check && (*len < 1 || *len > max_len)) ? 1 : 0;
}

static int append_str(Growable *data, int32_t *end, const char *s, Py_ssize_t len) {
    if (data->used + len > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "numeric entry: string column over 2 GiB");
        return -1;
    }
    if (grow_append(data, s, len) < 0) return -1;
    *end = (int32_t)data->used;
    return 0;
}

static int compare_keys(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#define TILE 64

/* rows [start, start + count) of the bin matrix (column after column) from a tile */
static void flush_tile(int32_t *bcol, Py_ssize_t rows, Py_ssize_t start, Py_ssize_t count,
                       int32_t tile[][NSLOTS]) {
    for (int s = 0; s < NSLOTS; s++) {
        int32_t *col = bcol + (Py_ssize_t)s * rows + start;
        for (Py_ssize_t r = 0; r < count; r++) col[r] = tile[r][s];
    }
}

typedef struct {
    PyObject *entry;                 /* a decoded entry, or NULL for a packed row */
    const char *packed;
} RowRef;

static PyObject *numeric_columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sources, *builtin_dict;
    int check;
    Py_ssize_t max_name_len;
    if (!PyArg_ParseTuple(args, "O!pnO!:numeric_columns", &PyList_Type, &sources, &check,
                          &max_name_len, &PyDict_Type, &builtin_dict))
        return NULL;
    PyObject *result = NULL, *order_obj = Py_None;
    Growable ints = {0}, floats = {0}, name_off = {0}, name_data = {0}, lay_off = {0},
             lay_data = {0}, bins = {0}, sum_ints = {0}, sum_floats = {0}, order = {0};
    Growable *all[] = {&ints, &floats, &name_off, &name_data, &lay_off, &lay_data, &bins,
                       &sum_ints, &sum_floats, &order};
    uint64_t *keys = NULL;
    RowRef *refs = NULL;
    Builtins builtins;
    Py_ssize_t nsources = PyList_GET_SIZE(sources), rows = 0, cap = nsources + 64;
    Py_INCREF(Py_None);
    if (builtins_from(builtin_dict, &builtins) < 0) goto fail;

    /* 1. every row and its bin shape code (length * 8 + width byte, as _bin_shapes) */
    refs = PyMem_Malloc(sizeof(RowRef) * (size_t)cap);
    keys = PyMem_Malloc(sizeof(uint64_t) * (size_t)cap);
    if (!refs || !keys) { PyErr_NoMemory(); goto fail; }
    int sorted = 1;
    for (Py_ssize_t s = 0; s < nsources; s++) {
        PyObject *src = PyList_GET_ITEM(sources, s);
        const char *p = NULL, *end = NULL;
        if (PyBytes_CheckExact(src)) {               /* rows packed by split_numeric */
            p = PyBytes_AS_STRING(src);
            end = p + PyBytes_GET_SIZE(src);
        }
        while (p == NULL || p < end) {
            int64_t code;
            if (rows + 1 >= ((Py_ssize_t)1 << INDEX_BITS)) {
                PyErr_SetString(PyExc_ValueError, "numeric_columns: at most 2^23 rows per call");
                goto fail;
            }
            if (rows == cap) {
                cap *= 2;
                RowRef *r2 = PyMem_Realloc(refs, sizeof(RowRef) * (size_t)cap);
                if (!r2) { PyErr_NoMemory(); goto fail; }
                refs = r2;
                uint64_t *k2 = PyMem_Realloc(keys, sizeof(uint64_t) * (size_t)cap);
                if (!k2) { PyErr_NoMemory(); goto fail; }
                keys = k2;
            }
            if (p == NULL) {                         /* one decoded entry */
                if (!PyList_CheckExact(src) || (PyList_GET_SIZE(src) != ENTRY_LEN
                                                && PyList_GET_SIZE(src) != ENTRY_LEN + 1)) {
                    if (check) goto refuse;
                    PyErr_SetString(PyExc_TypeError, "numeric entry: expected a list of 14 "
                                                     "(wire v1) or 15 (v2)");
                    goto fail;
                }
                PyObject *b = PyList_GET_ITEM(src, E_BINS);
                if (!PyBytes_CheckExact(b) || PyBytes_GET_SIZE(b) < 2
                    || PyBytes_GET_SIZE(b) > (1 << 30)) {
                    if (check) goto refuse;
                    PyErr_SetString(PyExc_TypeError, "numeric entry: expected bin bytes");
                    goto fail;
                }
                code = (int64_t)PyBytes_GET_SIZE(b) * 8 + (unsigned char)PyBytes_AS_STRING(b)[0];
                refs[rows].entry = src;
                refs[rows].packed = NULL;
            } else {
                RowHead head;
                if (end - p < (Py_ssize_t)sizeof head) goto corrupt;
                memcpy(&head, p, sizeof head);
                Py_ssize_t size = (Py_ssize_t)sizeof head + head.name_len + head.layout_len
                                  + head.bins_len + head.sums_len;
                if (end - p < size || head.bins_len < 2) goto corrupt;
                code = (int64_t)head.bins_len * 8
                       + (unsigned char)p[sizeof head + head.name_len + head.layout_len];
                refs[rows].entry = NULL;
                refs[rows].packed = p;
                p += size;
            }
            keys[rows] = ((uint64_t)code << INDEX_BITS) | (uint64_t)rows;
            if (rows && (keys[rows] >> INDEX_BITS) < (keys[rows - 1] >> INDEX_BITS)) sorted = 0;
            rows++;
            if (end == NULL) break;                  /* a decoded entry is one row */
        }
    }
    if (!sorted) {
        qsort(keys, (size_t)rows, sizeof(uint64_t), compare_keys);
        if (grow_init(&order, rows * 8) < 0) goto fail;
        int64_t *o = (int64_t *)order.data;
        for (Py_ssize_t i = 0; i < rows; i++) o[i] = (int64_t)(keys[i] & INDEX_MASK);
        order.used = rows * 8;
        Py_DECREF(order_obj);
        order_obj = order.obj;
        Py_INCREF(order_obj);
    }

    /* 2. the columns, row by row in that order */
    if (grow_init(&ints, rows * 8 * N_INTS) < 0 || grow_init(&floats, rows * 8 * N_FLOATS) < 0
        || grow_init(&name_off, (rows + 1) * 4) < 0 || grow_init(&name_data, rows * 8) < 0
        || grow_init(&lay_off, (rows + 1) * 4) < 0 || grow_init(&lay_data, rows * 3) < 0
        || grow_init(&bins, rows * 4 * NSLOTS) < 0
        || grow_init(&sum_ints, rows * 8 * N_SUM_INTS) < 0
        || grow_init(&sum_floats, rows * 8 * 2) < 0)
        goto fail;
    sum_ints.used = rows * 8 * N_SUM_INTS;
    sum_floats.used = rows * 8 * 2;
    int64_t *scol = (int64_t *)sum_ints.data;
    double *tcol = (double *)sum_floats.data;
    ints.used = rows * 8 * N_INTS;
    floats.used = rows * 8 * N_FLOATS;
    name_off.used = lay_off.used = (rows + 1) * 4;
    bins.used = rows * 4 * NSLOTS;
    int64_t *icol = (int64_t *)ints.data;
    double *fcol = (double *)floats.data;
    int32_t *noff = (int32_t *)name_off.data, *loff = (int32_t *)lay_off.data;
    int32_t *bcol = (int32_t *)bins.data;
    noff[0] = loff[0] = 0;
    /* Bins go through a tile of TILE rows x 64 (row-major, in L1) and then out column by
     * column: writing each row straight into 64 columns rows*4 bytes apart touches 64
     * pages per row and was most of this function's time. */
    int32_t tile[TILE][NSLOTS];
    Py_ssize_t tile_start = 0;

    for (Py_ssize_t row = 0; row < rows; row++) {
        if (row - tile_start == TILE) {
            flush_tile(bcol, rows, tile_start, TILE, tile);
            tile_start = row;
        }
        int32_t *bin_row = tile[row - tile_start];
        RowRef *ref = &refs[keys[row] & INDEX_MASK];
        const char *name, *layout;
        const unsigned char *packed, *sums = NULL;
        Py_ssize_t name_len, layout_len, bins_len, sums_len = 0;
        int r, width, slots;
        if (ref->entry == NULL) {                    /* proven by split_numeric */
            RowHead head;
            memcpy(&head, ref->packed, sizeof head);
            for (int k = 0; k < N_INTS; k++) icol[k * rows + row] = head.ints[k];
            for (int k = 0; k < N_FLOATS; k++) fcol[k * rows + row] = head.floats[k];
            name = ref->packed + sizeof head;
            name_len = head.name_len;
            layout = name + name_len;
            layout_len = head.layout_len;
            packed = (const unsigned char *)layout + layout_len;
            bins_len = head.bins_len;
            sums = packed + bins_len;
            sums_len = head.sums_len;
            if (bins_shape(packed, bins_len, &width, &slots)) goto corrupt;
        } else {
            PyObject **item = ((PyListObject *)ref->entry)->ob_item;
            if (check && !(PyLong_CheckExact(item[E_KIND]) && PyLong_AsLong(item[E_KIND]) == 0)) {
                PyErr_Clear();
                goto refuse;
            }
            r = str_value(item[E_NAME], check, max_name_len, &name, &name_len);
            if (r) { if (r > 0) goto refuse; goto fail; }
            r = str_value(item[E_LAYOUT], check, MAX_LAYOUT_LEN, &layout, &layout_len);
            if (r) { if (r > 0) goto refuse; goto fail; }
            for (int k = 0; k < N_INTS; k++) {
                r = uint_value(item[INT_FIELDS[k]], check, &icol[k * rows + row]);
                if (r) { if (r > 0) goto refuse; goto fail; }
            }
            for (int k = 0; k < N_FLOATS; k++) {
                r = float_value(item[FLOAT_FIELDS[k]], check, &fcol[k * rows + row]);
                if (r) { if (r > 0) goto refuse; goto fail; }
            }
            packed = (const unsigned char *)PyBytes_AS_STRING(item[E_BINS]);
            bins_len = PyBytes_GET_SIZE(item[E_BINS]);
            if (bins_shape(packed, bins_len, &width, &slots)) {
                if (check) goto refuse;
                PyErr_SetString(PyExc_ValueError, "numeric entry: bad bin shape");
                goto fail;
            }
            if (PyList_GET_SIZE(ref->entry) == ENTRY_LEN + 1) {       /* wire v2 */
                PyObject *sb = item[E_SUMS];
                if (!PyBytes_CheckExact(sb)
                    || sums_rule((const unsigned char *)PyBytes_AS_STRING(sb),
                                 PyBytes_GET_SIZE(sb), slots)) {
                    if (check) goto refuse;
                    PyErr_SetString(PyExc_ValueError, "numeric entry: bad slot sums");
                    goto fail;
                }
                sums = (const unsigned char *)PyBytes_AS_STRING(sb);
                sums_len = PyBytes_GET_SIZE(sb);
            }
        }
        if (append_str(&name_data, &noff[row + 1], name, name_len) < 0
            || append_str(&lay_data, &loff[row + 1], layout, layout_len) < 0)
            goto fail;
        uint64_t total = 0;
        for (int s = 0; s < slots; s++) {
            uint64_t c = read_count(packed + 1 + (Py_ssize_t)s * width, width);
            if (c > INT32_MAX) {
                if (check) goto refuse;
                PyErr_SetString(PyExc_OverflowError, "numeric entry: bin count over int32");
                goto fail;
            }
            total += c;
            bin_row[s] = (int32_t)c;
        }
        memset(bin_row + slots, 0, sizeof(int32_t) * (size_t)(NSLOTS - slots));
        {
            int64_t si[N_SUM_INTS];
            double st[2];
            sums_row(bin_row, slots, sums, sums_len, icol[row], si, st);
            for (int k = 0; k < N_SUM_INTS; k++) scol[k * rows + row] = si[k];
            tcol[row] = st[0];
            tcol[rows + row] = st[1];
        }
        if (check && ref->entry != NULL
            && (total != (uint64_t)icol[row]                       /* bins sum to n */
                || breaks_builtin(&builtins, layout, layout_len, slots)))
            goto refuse;
    }
    if (rows > tile_start) flush_tile(bcol, rows, tile_start, rows - tile_start, tile);
    if (finish_all(all, 9) < 0) goto fail;
    result = Py_BuildValue("(OOOOOOOOOO)", ints.obj, floats.obj, name_off.obj, name_data.obj,
                           lay_off.obj, lay_data.obj, bins.obj, order_obj, sum_ints.obj,
                           sum_floats.obj);
    goto done;

corrupt:
    PyErr_SetString(PyExc_ValueError, "numeric_columns: packed rows not made by split_numeric");
    goto fail;
refuse:
    result = Py_NewRef(Py_None);
    goto done;
fail:
    result = NULL;
done:
    PyMem_Free(keys);
    PyMem_Free(refs);
    release_all(all, 10);
    Py_DECREF(order_obj);
    return result;
}

/* ---- categorical_columns -------------------------------------------------------------- */
static int cat_list_entry(PyObject *src, int check, Py_ssize_t max_name_len, Growable *ints,
                          Py_ssize_t row, Growable *name_off,
                          Growable *name_data, Growable *cat_entry, Growable *cat_off,
                          Growable *cat_data, Growable *cat_counts) {
    if (!PyList_CheckExact(src) || PyList_GET_SIZE(src) != CAT_LEN) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "categorical entry: expected a list of 8");
        return -1;
    }
    PyObject **item = ((PyListObject *)src)->ob_item;
    const char *name;
    Py_ssize_t name_len;
    int64_t v[N_CAT_INTS];
    int r;
    if (check && !(PyLong_CheckExact(item[1]) && PyLong_AsLong(item[1]) == 1)) {
        PyErr_Clear();
        return 1;
    }
    r = str_value(item[0], check, max_name_len, &name, &name_len);
    if (r) return r;
    for (int k = 0; k < N_CAT_INTS; k++) {
        r = uint_value(item[2 + k], check, &v[k]);
        if (r) return r;
    }
    PyObject *counts = item[7];
    if (!PyDict_CheckExact(counts)) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "categorical entry: expected a map of counts");
        return -1;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    uint64_t total = 0;
    while (PyDict_Next(counts, &pos, &key, &value)) {
        const char *k;
        Py_ssize_t k_len;
        int64_t c;
        r = str_value(key, check, MAX_CATEGORY_LEN, &k, &k_len);
        if (r) return r;
        r = uint_value(value, check, &c);
        if (r) return r;
        total += (uint64_t)c;
        int32_t entry = (int32_t)row, end;
        if (grow_append(cat_entry, &entry, 4) < 0 || grow_append(cat_counts, &c, 8) < 0
            || append_str(cat_data, &end, k, k_len) < 0 || grow_append(cat_off, &end, 4) < 0)
            return -1;
    }
    if (check && (total + (uint64_t)v[4] != (uint64_t)v[0] || v[3] > v[0])) return 1;
    int32_t end;
    if (append_str(name_data, &end, name, name_len) < 0
        || grow_append(name_off, &end, 4) < 0 || grow_append(ints, v, sizeof v) < 0)
        return -1;
    return 0;
}

static PyObject *categorical_columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sources, *result = NULL;
    int check;
    Py_ssize_t max_name_len;
    if (!PyArg_ParseTuple(args, "O!pn:categorical_columns", &PyList_Type, &sources, &check,
                          &max_name_len))
        return NULL;
    Growable ints = {0}, name_off = {0}, name_data = {0}, cat_entry = {0}, cat_off = {0},
             cat_data = {0}, cat_counts = {0};
    Growable *all[] = {&ints, &name_off, &name_data, &cat_entry, &cat_off, &cat_data,
                       &cat_counts};
    Py_ssize_t nsources = PyList_GET_SIZE(sources), rows = 0;
    int32_t zero = 0;
    if (grow_init(&ints, 64 * 8 * N_CAT_INTS) < 0 || grow_init(&name_off, 256) < 0
        || grow_init(&name_data, 256) < 0 || grow_init(&cat_entry, 1024) < 0
        || grow_init(&cat_off, 1024) < 0 || grow_init(&cat_data, 1024) < 0
        || grow_init(&cat_counts, 2048) < 0)
        goto fail;
    if (grow_append(&name_off, &zero, 4) < 0 || grow_append(&cat_off, &zero, 4) < 0) goto fail;
    for (Py_ssize_t s = 0; s < nsources; s++) {
        PyObject *src = PyList_GET_ITEM(sources, s);
        if (!PyBytes_CheckExact(src)) {              /* one decoded entry */
            int r = cat_list_entry(src, check, max_name_len, &ints, rows, &name_off,
                                   &name_data, &cat_entry, &cat_off, &cat_data, &cat_counts);
            if (r > 0) goto refuse;
            if (r < 0) goto fail;
            rows++;
            continue;
        }
        const char *p = PyBytes_AS_STRING(src), *end = p + PyBytes_GET_SIZE(src);
        while (p < end) {                            /* rows packed by split_numeric */
            CatHead head;
            int32_t stop;
            if (end - p < (Py_ssize_t)sizeof head) goto corrupt;
            memcpy(&head, p, sizeof head);
            p += sizeof head;
            if (end - p < (Py_ssize_t)head.name_len) goto corrupt;
            if (append_str(&name_data, &stop, p, head.name_len) < 0
                || grow_append(&name_off, &stop, 4) < 0
                || grow_append(&ints, head.ints, sizeof head.ints) < 0)
                goto fail;
            p += head.name_len;
            for (uint32_t c = 0; c < head.categories; c++) {
                uint32_t len;
                int64_t count;
                int32_t entry = (int32_t)rows;
                if (end - p < 4) goto corrupt;
                memcpy(&len, p, 4);
                p += 4;
                if (end - p < (Py_ssize_t)len + 8) goto corrupt;
                if (append_str(&cat_data, &stop, p, len) < 0 || grow_append(&cat_off, &stop, 4) < 0)
                    goto fail;
                p += len;
                memcpy(&count, p, 8);
                p += 8;
                if (grow_append(&cat_entry, &entry, 4) < 0 || grow_append(&cat_counts, &count, 8) < 0)
                    goto fail;
            }
            rows++;
        }
    }
    {   /* ints: rows of 5 -> 5 columns */
        Growable cols = {0};
        if (grow_init(&cols, rows * 8 * N_CAT_INTS) < 0) goto fail;
        const int64_t *in = (const int64_t *)ints.data;
        int64_t *out = (int64_t *)cols.data;
        for (Py_ssize_t row = 0; row < rows; row++)
            for (int k = 0; k < N_CAT_INTS; k++) out[k * rows + row] = in[row * N_CAT_INTS + k];
        cols.used = rows * 8 * N_CAT_INTS;
        Py_DECREF(ints.obj);
        ints = cols;
    }
    if (finish_all(all, 7) < 0) goto fail;
    result = Py_BuildValue("(OOOOOOO)", ints.obj, name_off.obj, name_data.obj, cat_entry.obj,
                           cat_off.obj, cat_data.obj, cat_counts.obj);
    goto done;
corrupt:
    PyErr_SetString(PyExc_ValueError, "categorical_columns: packed rows not made by split_numeric");
    goto fail;
refuse:
    result = Py_NewRef(Py_None);
    goto done;
fail:
    result = NULL;
done:
    release_all(all, 7);
    return result;
}

/* ---- label_columns ------------------------------------------------------------------- */
typedef struct {
    Growable cell_src, pred_off, pred_data, actual_off, actual_data, counts;
} LabelCells;

static int add_cell(LabelCells *c, int32_t src, const char *pred, Py_ssize_t pred_len,
                    const char *actual, Py_ssize_t actual_len, int64_t count) {
    int32_t end;
    if (grow_append(&c->cell_src, &src, 4) < 0 || grow_append(&c->counts, &count, 8) < 0
        || append_str(&c->pred_data, &end, pred, pred_len) < 0
        || grow_append(&c->pred_off, &end, 4) < 0
        || append_str(&c->actual_data, &end, actual, actual_len) < 0
        || grow_append(&c->actual_off, &end, 4) < 0)
        return -1;
    return 0;
}

/* one decoded classification label list; 0 ok, 1 a broken rule (check), -1 error */
static int label_list(PyObject *src, int check, Py_ssize_t max_len, int32_t index,
                      int64_t *out, LabelCells *c) {
    if (!PyList_CheckExact(src) || PyList_GET_SIZE(src) != LABEL_LEN) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "labels: expected a list of 5");
        return -1;
    }
    PyObject **item = ((PyListObject *)src)->ob_item;
    int r;
    for (int k = 0; k < 3; k++) {              /* n, mismatch, other */
        r = uint_value(item[1 + k], check, &out[k]);
        if (r) return r;
    }
    PyObject *cells = item[4];
    if (!PyList_CheckExact(cells)) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "labels: expected a list of cells");
        return -1;
    }
    uint64_t total = 0;
    int64_t correct = 0;
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(cells); j++) {
        PyObject *cell = PyList_GET_ITEM(cells, j);
        const char *pred, *actual;
        Py_ssize_t pred_len, actual_len;
        int64_t count;
        if (!PyList_CheckExact(cell) || PyList_GET_SIZE(cell) != 3) {
            if (check) return 1;
            PyErr_SetString(PyExc_TypeError, "labels: expected cells of 3");
            return -1;
        }
        PyObject **v = ((PyListObject *)cell)->ob_item;
        r = str_value(v[0], check, max_len, &pred, &pred_len);
        if (r) return r;
        r = str_value(v[1], check, max_len, &actual, &actual_len);
        if (r) return r;
        r = uint_value(v[2], check, &count);
        if (r) return r;
        total += (uint64_t)count;
        if (pred_len == actual_len && memcmp(pred, actual, (size_t)pred_len) == 0) correct += count;
        if (add_cell(c, index, pred, pred_len, actual, actual_len, count) < 0) return -1;
    }
    if (check && total + (uint64_t)out[2] != (uint64_t)out[0]) return 1;
    out[3] = correct;
    return 0;
}

static PyObject *label_columns(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sources, *result = NULL;
    int check;
    Py_ssize_t max_len;
    if (!PyArg_ParseTuple(args, "O!pn:label_columns", &PyList_Type, &sources, &check, &max_len))
        return NULL;
    Py_ssize_t nsrc = PyList_GET_SIZE(sources);
    Growable ints = {0};
    LabelCells c = {{0}};
    Growable *all[] = {&ints, &c.cell_src, &c.pred_off, &c.pred_data, &c.actual_off,
                       &c.actual_data, &c.counts};
    int32_t zero = 0;
    for (int k = 0; k < 7; k++)
        if (grow_init(all[k], k == 0 ? nsrc * 8 * 4 : 1024) < 0) goto fail;
    ints.used = nsrc * 8 * 4;
    if (grow_append(&c.pred_off, &zero, 4) < 0 || grow_append(&c.actual_off, &zero, 4) < 0)
        goto fail;
    int64_t *col = (int64_t *)ints.data;          /* n, mismatch, other, correct */
    for (Py_ssize_t s = 0; s < nsrc; s++) {
        PyObject *src = PyList_GET_ITEM(sources, s);
        int64_t v[4] = {0, 0, 0, 0};
        if (PyBytes_CheckExact(src)) {           /* packed by split_numeric */
            const char *p = PyBytes_AS_STRING(src), *end = p + PyBytes_GET_SIZE(src);
            LabelHead head;
            if (end - p < (Py_ssize_t)sizeof head) goto corrupt;
            memcpy(&head, p, sizeof head);
            p += sizeof head;
            v[0] = head.n; v[1] = head.mismatch; v[2] = head.other;
            for (uint32_t j = 0; j < head.cells; j++) {
                uint32_t pl, al;
                int64_t count;
                if (end - p < 4) goto corrupt;
                memcpy(&pl, p, 4);
                if (end - p < 4 + (Py_ssize_t)pl + 4) goto corrupt;
                const char *pred = p + 4;
                memcpy(&al, pred + pl, 4);
                const char *actual = pred + pl + 4;
                if (end - actual < (Py_ssize_t)al + 8) goto corrupt;
                memcpy(&count, actual + al, 8);
                p = actual + al + 8;
                if (pl == al && memcmp(pred, actual, pl) == 0) v[3] += count;
                if (add_cell(&c, (int32_t)s, pred, pl, actual, al, count) < 0) goto fail;
            }
            if (p != end) goto corrupt;
        } else {
            int r = label_list(src, check, max_len, (int32_t)s, v, &c);
            if (r > 0) goto refuse;
            if (r < 0) goto fail;
        }
        for (int k = 0; k < 4; k++) col[k * nsrc + s] = v[k];
    }
    if (finish_all(all, 7) < 0) goto fail;
    result = Py_BuildValue("(OOOOOOO)", ints.obj, c.cell_src.obj, c.pred_off.obj,
                           c.pred_data.obj, c.actual_off.obj, c.actual_data.obj, c.counts.obj);
    goto done;
corrupt:
    PyErr_SetString(PyExc_ValueError, "label_columns: packed labels not made by split_numeric");
    goto fail;
refuse:
    result = Py_NewRef(Py_None);
    goto done;
fail:
    result = NULL;
done:
    release_all(all, 7);
    return result;
}

/* region_bounds(slots) -> ((first, last), ...): the regions sums_row uses (for tests) */
static PyObject *region_bounds(PyObject *self, PyObject *args) {
    int slots;
    if (!PyArg_ParseTuple(args, "i", &slots)) return NULL;
    int count = regions_of(slots);
    PyObject *out = PyTuple_New(count);
    if (out == NULL) return NULL;
    for (int r = 0; r < count; r++) {
        PyObject *pair = Py_BuildValue("(ii)", region_first(r, count, slots),
                                       region_first(r + 1, count, slots) - 1);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, r, pair);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"group_rows", group_rows, METH_VARARGS,
     "group_rows(lead, ((offsets, data, nulls[, lists]), ...)) -> (ids, first): rows' key "
     "groups"},
    {"group_add", group_add, METH_VARARGS,
     "group_add(groups, ((op, values, acc), ...)) -> None: per-group sums, minima, maxima"},
    {"region_bounds", region_bounds, METH_VARARGS,
     "region_bounds(slots) -> ((first, last), ...) of the slot-sum regions"},
    {"parse_record", parse_record, METH_VARARGS,
     "parse_record(value, max_bin_len) -> (received_ms, sent_s, w_start, w_end) or None"},
    {"split_numeric", split_numeric, METH_VARARGS,
     "split_numeric(window, max_name_len, builtin_slots) -> (rest, rows, row_count, f_count)"
     " or None"},
    {"label_columns", label_columns, METH_VARARGS,
     "label_columns(sources, check, max_len) -> column buffers or None"},
    {"categorical_columns", categorical_columns, METH_VARARGS,
     "categorical_columns(sources, check, max_name_len) -> column buffers or None"},
    {"numeric_columns", numeric_columns, METH_VARARGS,
     "numeric_columns(sources, check, max_name_len, builtin_slots) -> column buffers or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sinkfast",
    "Numeric feature entries -> checked column buffers (optional accelerator of "
    "collector.arrow_rows).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sinkfast(void) { return PyModule_Create(&module); }
