/* The sink's sketch sums in C: a batch's feature and category rows numbered by their keys
 * (group_rows) and their value columns added into each group's cells (group_add), the two
 * steps of collector/sketch_sums.py that cost; numpy twins there (group_rows_py, add_py),
 * held equal by tests/collector/test_sketch_sums.py, and fuzzed under the sanitizers by
 * fuzz/sinkfast.py. Part of the ``collector._sinkfast`` module.
 */
#include "_sinkfast_sums.h"

#include <stdint.h>
#include <string.h>

/* Add ``n`` values of one piece (``v``, op as in group_add) into the cells ``acc``.
 *
 * Sums skip blocks of ZERO_BLOCK values that are all zero (+0.0 or -0.0 for doubles:
 * either leaves a sum as it is): most of a batch's cells are (the error counters, a
 * layout's unused bins: 82% of them in bench/bench_sink.py's windows, half the blocks),
 * and testing a block is a vectorised pass, where adding it is a scattered add a value.
 * Minima and maxima add every value. */
#define ZERO_BLOCK 64

#define SUM_BLOCKS(T, CELL)                                                              \
    do {                                                                                 \
        const T *x = (const T *)v;                                                       \
        for (Py_ssize_t b = 0; b < n; b += ZERO_BLOCK) {                                 \
            Py_ssize_t e = b + ZERO_BLOCK < n ? b + ZERO_BLOCK : n;                      \
            int any = 0;                                                                 \
            for (Py_ssize_t r = b; r < e; r++) any |= x[r] != 0;                         \
            if (!any) continue;                                                          \
            for (Py_ssize_t r = b; r < e; r++) CELL[g[r]] += x[r];                       \
        }                                                                                \
    } while (0)

static void add_piece(int op, const void *v, const int64_t *f, const double *a,
                      const int64_t *g, Py_ssize_t n, void *acc) {
    int64_t *isum = (int64_t *)acc;
    double *dcell = (double *)acc;
    if (op == 5) {                /* n * mean: a window's sum of x */
        const double *x = (const double *)v;
        for (Py_ssize_t r = 0; r < n; r++) dcell[g[r]] += (double)f[r] * x[r];
        return;
    }
    if (op == 6) {                /* m2 + n * mean^2: its sum of x^2 */
        const double *x = (const double *)v;
        for (Py_ssize_t r = 0; r < n; r++) dcell[g[r]] += a[r] + (double)f[r] * x[r] * x[r];
        return;
    }
    if (op == 0) {
        SUM_BLOCKS(int32_t, isum);
    } else if (op == 1) {
        SUM_BLOCKS(int64_t, isum);
    } else if (op == 2) {
        SUM_BLOCKS(double, dcell);
    } else if (op == 3) {
        const double *x = (const double *)v;
        for (Py_ssize_t r = 0; r < n; r++)
            if (x[r] < dcell[g[r]]) dcell[g[r]] = x[r];
    } else {
        const double *x = (const double *)v;
        for (Py_ssize_t r = 0; r < n; r++)
            if (x[r] > dcell[g[r]]) dcell[g[r]] = x[r];
    }
}

/* group_add(groups, ((op, values, acc), ...)) -> None
 *
 * The sketch sums of a batch (collector/sketch_sums.py): ``groups`` is an int64 buffer
 * giving each row's group (>= 0); each column adds its rows into its group's cell of the
 * writable 8-byte-cell buffer ``acc`` (at least max group + 1 cells): op 0 = sum of int32
 * values (int64 cells), 1 = sum of int64, 2 = sum of doubles, 3 = min of doubles,
 * 4 = max of doubles (double cells), 5 = sum of n * x and 6 = sum of a + n * x^2 (the
 * sketch's sum of x and of x^2 from its count, mean and m2; double cells), whose
 * ``values`` is a tuple (x doubles, n int64[, a doubles]). A source of values is one
 * buffer, or a list of buffers whose values follow one another (a column's chunks: no
 * concatenation); a tuple's sources come in pieces of the same lengths.
 *
 * Every column is checked before any is added: a refused call adds nothing. (Tiles of
 * rows, every column per tile, measured ~30% slower than a column at a time.) */

typedef struct {
    int op, ninputs;             /* inputs: x; ops 5-6: x, n (and a) */
    Py_ssize_t width[3], npieces[3], held[3];
    Py_buffer *views[3];
    Py_buffer acc;
    int have_acc;
} group_column;

static void release_columns(group_column *cols, Py_ssize_t n) {
    for (Py_ssize_t j = 0; j < n; j++) {
        for (int i = 0; i < 3; i++) {
            for (Py_ssize_t k = 0; k < cols[j].held[i]; k++)
                PyBuffer_Release(&cols[j].views[i][k]);
            PyMem_Free(cols[j].views[i]);
        }
        if (cols[j].have_acc) PyBuffer_Release(&cols[j].acc);
    }
    PyMem_Free(cols);
}

/* One source of values (a buffer or a list of them) into ``c``'s input ``i``: how many
 * values it holds, or -1 (an error set, or 0 left for the caller to name). */
static Py_ssize_t take_source(group_column *c, int i, PyObject *values) {
    int listed = PyList_Check(values);
    c->npieces[i] = listed ? PyList_GET_SIZE(values) : 1;
    c->views[i] = PyMem_Calloc((size_t)(c->npieces[i] ? c->npieces[i] : 1), sizeof(Py_buffer));
    if (c->views[i] == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t got = 0;
    for (Py_ssize_t k = 0; k < c->npieces[i]; k++) {
        PyObject *piece = listed ? PyList_GET_ITEM(values, k) : values;
        if (PyObject_GetBuffer(piece, &c->views[i][k], PyBUF_C_CONTIGUOUS) < 0) return -1;
        c->held[i] = k + 1;
        if (c->views[i][k].len % c->width[i] != 0) return -1;
        got += c->views[i][k].len / c->width[i];
    }
    return got;
}

PyObject *group_add(PyObject *self, PyObject *args) {
    Py_buffer gview;
    PyObject *columns;
    if (!PyArg_ParseTuple(args, "y*O", &gview, &columns)) return NULL;
    PyObject *seq = NULL, *result = NULL;
    group_column *cols = NULL;
    Py_ssize_t ncols = 0;
    Py_ssize_t rows = gview.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *g = (const int64_t *)gview.buf;
    int64_t gmax = -1;
    if (gview.len % (Py_ssize_t)sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "group_add: groups must be int64");
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (g[r] < 0) {
            PyErr_Format(PyExc_ValueError, "group_add: row %zd has group %lld, expected >= 0",
                         r, (long long)g[r]);
            goto done;
        }
        if (g[r] > gmax) gmax = g[r];
    }
    seq = PySequence_Fast(columns, "group_add: columns must be a sequence of "
                                   "(op, values, acc)");
    if (seq == NULL) goto done;
    Py_ssize_t total = PySequence_Fast_GET_SIZE(seq);
    cols = PyMem_Calloc((size_t)(total ? total : 1), sizeof(group_column));
    if (cols == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < total; j++) {
        group_column *c = &cols[j];
        PyObject *values;
        ncols = j + 1;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, j), "iOw*", &c->op, &values,
                              &c->acc))
            goto done;
        c->have_acc = 1;
        int ok = c->op >= 0 && c->op <= 6
                 && c->acc.len >= (gmax + 1) * (Py_ssize_t)sizeof(int64_t);
        c->ninputs = c->op == 5 ? 2 : c->op == 6 ? 3 : 1;
        PyObject *sources[3] = {values, NULL, NULL};
        if (ok && c->ninputs > 1) {
            ok = PyTuple_Check(values) && PyTuple_GET_SIZE(values) == c->ninputs;
            for (int i = 0; ok && i < c->ninputs; i++) sources[i] = PyTuple_GET_ITEM(values, i);
        }
        c->width[0] = c->op == 0 ? 4 : 8;
        c->width[1] = c->width[2] = 8;
        for (int i = 0; ok && i < c->ninputs; i++) {
            Py_ssize_t got = take_source(c, i, sources[i]);
            ok = got == rows && c->npieces[i] == c->npieces[0];
            for (Py_ssize_t k = 0; ok && k < c->npieces[i]; k++)
                ok = c->views[i][k].len / c->width[i] == c->views[0][k].len / c->width[0];
        }
        if (!ok) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "group_add: column %zd: expected op 0-6 "
                             "(5-6: a tuple of sources in pieces of the same lengths), %zd "
                             "values and at least %lld cells, got op %d and %zd bytes of "
                             "cells", j, rows, (long long)(gmax + 1), c->op, c->acc.len);
            goto done;
        }
    }
    for (Py_ssize_t j = 0; j < ncols; j++) {     /* column by column: each one streams */
        Py_ssize_t at = 0;
        group_column *c = &cols[j];
        for (Py_ssize_t k = 0; k < c->npieces[0]; k++) {
            Py_ssize_t n = c->views[0][k].len / c->width[0];
            add_piece(c->op, c->views[0][k].buf,
                      c->ninputs > 1 ? (const int64_t *)c->views[1][k].buf : NULL,
                      c->ninputs > 2 ? (const double *)c->views[2][k].buf : NULL,
                      g + at, n, c->acc.buf);
            at += n;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    if (cols != NULL) release_columns(cols, ncols);
    Py_XDECREF(seq);
    PyBuffer_Release(&gview);
    return result;
}

/* group_rows(lead, texts) -> (ids, first)
 *
 * Numbers the distinct keys of a batch's rows in order of first appearance (the sketch
 * sums' groups, collector/sketch_sums.py). A row's key is its value in the int64 buffer
 * ``lead`` and its string in each column of ``texts``, a sequence of (offsets, data,
 * nulls): ``offsets`` int32 Arrow string offsets (rows + 1 of them) into the bytes
 * ``data``, ``nulls`` a byte per row (nonzero: null, another key than any string) or None;
 * a fourth element, int32 ``lists`` offsets (rows + 1), makes each row the list of strings
 * ``lists[r]`` .. ``lists[r + 1]`` - 1 (a map's keys or values), ``offsets`` then indexing
 * those strings. Returns two bytearrays of int64: each row's group, and each group's first
 * row.
 * (An open-addressing table over 8-byte-at-a-time hashes: ~15 ns a row here, against
 * ~50 ns for Arrow's dictionary encoding of each key column and packing the codes.) */

typedef struct {
    const int32_t *off;
    const char *data;
    const uint8_t *nulls;
    const int32_t *lists;       /* NULL: a string a row */
} text_column;

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static inline uint64_t string_hash(uint64_t h, const text_column *c, Py_ssize_t i) {
    const char *s = c->data + c->off[i];
    size_t n = (size_t)(c->off[i + 1] - c->off[i]);
    h = (h ^ (uint64_t)n) * 0x9e3779b97f4a7c15ULL;
    for (; n >= 8; n -= 8, s += 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    if (n) {
        uint64_t w = 0;                           /* (a byte loop: no memcpy call) */
        for (size_t k = 0; k < n; k++) w |= (uint64_t)(uint8_t)s[k] << (8 * k);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    return h ^ (h >> 29);
}

static inline uint64_t row_hash(int64_t lead, const text_column *texts, Py_ssize_t ntexts,
                                Py_ssize_t r) {
    uint64_t h = (uint64_t)lead * 0xff51afd7ed558ccdULL;
    for (Py_ssize_t t = 0; t < ntexts; t++) {
        const text_column *c = &texts[t];
        if (c->nulls != NULL && c->nulls[r]) {
            h = (h ^ 0xc4ceb9fe1a85ec53ULL) * 0x9e3779b97f4a7c15ULL;
        } else if (c->lists == NULL) {
            h = string_hash(h, c, r);
        } else {
            h = (h ^ (uint64_t)(c->lists[r + 1] - c->lists[r])) * 0xc4ceb9fe1a85ec53ULL;
            for (int32_t i = c->lists[r]; i < c->lists[r + 1]; i++) h = string_hash(h, c, i);
        }
    }
    return mix64(h);          /* (one full mix a row: the table's index is its low bits) */
}

/* Short strings compared inline (a memcmp call costs more than the names it compares). */
static inline int bytes_equal(const char *a, const char *b, int32_t n) {
    for (; n >= 8; n -= 8, a += 8, b += 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    for (int32_t k = 0; k < n; k++)
        if (a[k] != b[k]) return 0;
    return 1;
}

static inline int same_string(const text_column *c, Py_ssize_t i, Py_ssize_t j) {
    int32_t li = c->off[i + 1] - c->off[i], lj = c->off[j + 1] - c->off[j];
    return li == lj && bytes_equal(c->data + c->off[i], c->data + c->off[j], li);
}

static inline int same_key(const int64_t *lead, const text_column *texts, Py_ssize_t ntexts,
                           Py_ssize_t a, Py_ssize_t b) {
    if (lead[a] != lead[b]) return 0;
    for (Py_ssize_t t = 0; t < ntexts; t++) {
        const text_column *c = &texts[t];
        int na = c->nulls != NULL && c->nulls[a], nb = c->nulls != NULL && c->nulls[b];
        if (na || nb) {
            if (na != nb) return 0;
        } else if (c->lists == NULL) {
            if (!same_string(c, a, b)) return 0;
        } else {
            int32_t ia = c->lists[a], ib = c->lists[b], n = c->lists[a + 1] - ia;
            if (n != c->lists[b + 1] - ib) return 0;
            for (int32_t k = 0; k < n; k++)
                if (!same_string(c, ia + k, ib + k)) return 0;
        }
    }
    return 1;
}

PyObject *group_rows(PyObject *self, PyObject *args) {
    Py_buffer lview;
    PyObject *texts_arg;
    if (!PyArg_ParseTuple(args, "y*O", &lview, &texts_arg)) return NULL;
    PyObject *seq = NULL, *result = NULL, *ids_obj = NULL, *first_obj = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t held = 0, ntexts = 0;
    text_column *texts = NULL;
    int64_t *slots = NULL, *first = NULL;
    uint64_t *hashes = NULL;
    Py_ssize_t rows = lview.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *lead = (const int64_t *)lview.buf;
    if (lview.len % (Py_ssize_t)sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "group_rows: lead must be int64");
        goto done;
    }
    seq = PySequence_Fast(texts_arg, "group_rows: texts must be a sequence of "
                                     "(offsets, data, nulls)");
    if (seq == NULL) goto done;
    ntexts = PySequence_Fast_GET_SIZE(seq);
    texts = PyMem_Calloc((size_t)(ntexts ? ntexts : 1), sizeof(text_column));
    views = PyMem_Calloc((size_t)(4 * ntexts + 1), sizeof(Py_buffer));
    if (texts == NULL || views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < ntexts; t++) {
        PyObject *off, *data, *nulls, *lists = Py_None;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, t), "OOO|O", &off, &data, &nulls,
                              &lists))
            goto done;
        Py_buffer *ov = &views[held];
        if (PyObject_GetBuffer(off, ov, PyBUF_C_CONTIGUOUS) < 0) goto done;
        held++;
        Py_buffer *dv = &views[held];
        if (PyObject_GetBuffer(data, dv, PyBUF_C_CONTIGUOUS) < 0) goto done;
        held++;
        texts[t].off = (const int32_t *)ov->buf;
        texts[t].data = (const char *)dv->buf;
        if (nulls != Py_None) {
            Py_buffer *nv = &views[held];
            if (PyObject_GetBuffer(nulls, nv, PyBUF_C_CONTIGUOUS) < 0) goto done;
            held++;
            if (nv->len != rows) {
                PyErr_Format(PyExc_ValueError, "group_rows: text %zd: expected %zd null "
                             "flags, got %zd", t, rows, nv->len);
                goto done;
            }
            texts[t].nulls = (const uint8_t *)nv->buf;
        }
        Py_ssize_t strings = rows;           /* strings the offsets delimit */
        if (lists != Py_None) {
            Py_buffer *lv = &views[held];
            if (PyObject_GetBuffer(lists, lv, PyBUF_C_CONTIGUOUS) < 0) goto done;
            held++;
            if (lv->len != (rows + 1) * (Py_ssize_t)sizeof(int32_t)) {
                PyErr_Format(PyExc_ValueError, "group_rows: text %zd: expected %zd int32 "
                             "list offsets, got %zd bytes", t, rows + 1, lv->len);
                goto done;
            }
            texts[t].lists = (const int32_t *)lv->buf;
            strings = ov->len / (Py_ssize_t)sizeof(int32_t) - 1;
            for (Py_ssize_t r = 0; r < rows; r++) {   /* untrusted: every list in range */
                int32_t a = texts[t].lists[r], b = texts[t].lists[r + 1];
                int is_null = texts[t].nulls != NULL && texts[t].nulls[r];
                if (!is_null && (a < 0 || b < a || (Py_ssize_t)b > strings)) {
                    PyErr_Format(PyExc_ValueError, "group_rows: text %zd: row %zd's list "
                                 "%d..%d is outside its %zd strings", t, r, a, b, strings);
                    goto done;
                }
            }
        }
        if (strings < 0 || ov->len != (strings + 1) * (Py_ssize_t)sizeof(int32_t)) {
            PyErr_Format(PyExc_ValueError, "group_rows: text %zd: expected %zd int32 "
                         "offsets, got %zd bytes", t, strings + 1, ov->len);
            goto done;
        }
        for (Py_ssize_t i = 0; i < strings; i++) {   /* untrusted: every slice inside data */
            int32_t a = texts[t].off[i], b = texts[t].off[i + 1];
            int is_null = texts[t].lists == NULL && texts[t].nulls != NULL
                          && texts[t].nulls[i];
            if (!is_null && (a < 0 || b < a || (Py_ssize_t)b > dv->len)) {
                PyErr_Format(PyExc_ValueError, "group_rows: text %zd: string %zd's offsets "
                             "%d..%d are outside its %zd bytes of data", t, i, a, b, dv->len);
                goto done;
            }
        }
    }
    ids_obj = PyByteArray_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (ids_obj == NULL) goto done;
    int64_t *ids = (int64_t *)PyByteArray_AS_STRING(ids_obj);
    Py_ssize_t cap = 1024, ngroups = 0;        /* slots: group + 1 (0 empty), <= half full */
    slots = PyMem_Calloc((size_t)cap, sizeof(int64_t));
    first = PyMem_Malloc((size_t)(cap / 2) * sizeof(int64_t));
    hashes = PyMem_Malloc((size_t)(cap / 2) * sizeof(uint64_t));
    if (slots == NULL || first == NULL || hashes == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        uint64_t h = row_hash(lead[r], texts, ntexts, r);
        Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        for (;;) {
            int64_t g = slots[i] - 1;
            if (g < 0) {                              /* a new group */
                slots[i] = ngroups + 1;
                first[ngroups] = r;
                hashes[ngroups] = h;
                ids[r] = ngroups++;
                break;
            }
            if (hashes[g] == h && same_key(lead, texts, ntexts, first[g], r)) {
                ids[r] = g;
                break;
            }
            i = (i + 1) & (cap - 1);
        }
        if (ngroups * 2 >= cap) {                     /* grow: re-place every group */
            Py_ssize_t ncap = cap * 2;
            int64_t *ns = PyMem_Calloc((size_t)ncap, sizeof(int64_t));
            int64_t *nf = PyMem_Realloc(first, (size_t)(ncap / 2) * sizeof(int64_t));
            if (nf != NULL) first = nf;
            uint64_t *nh = PyMem_Realloc(hashes, (size_t)(ncap / 2) * sizeof(uint64_t));
            if (nh != NULL) hashes = nh;
            if (ns == NULL || nf == NULL || nh == NULL) {
                PyMem_Free(ns);
                PyErr_NoMemory();
                goto done;
            }
            for (Py_ssize_t g = 0; g < ngroups; g++) {
                Py_ssize_t j = (Py_ssize_t)(hashes[g] & (uint64_t)(ncap - 1));
                while (ns[j]) j = (j + 1) & (ncap - 1);
                ns[j] = g + 1;
            }
            PyMem_Free(slots);
            slots = ns;
            cap = ncap;
        }
    }
    first_obj = PyByteArray_FromStringAndSize((const char *)first,
                                              ngroups * (Py_ssize_t)sizeof(int64_t));
    if (first_obj == NULL) goto done;
    result = PyTuple_Pack(2, ids_obj, first_obj);
done:
    for (Py_ssize_t k = 0; k < held; k++) PyBuffer_Release(&views[k]);
    PyMem_Free(views);
    PyMem_Free(texts);
    PyMem_Free(slots);
    PyMem_Free(first);
    PyMem_Free(hashes);
    Py_XDECREF(ids_obj);
    Py_XDECREF(first_obj);
    Py_XDECREF(seq);
    PyBuffer_Release(&lview);
    return result;
}
