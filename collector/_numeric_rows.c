/* Numeric feature entries -> column buffers, checked, in one pass (the sink's hot loop).
 *
 * An optional accelerator of collector.arrow_rows._numeric: the pure-Python path
 * (a transpose, then one Arrow conversion and one vectorised check per column) is
 * the reference and stays in use when this module is not built. Both produce the
 * same rows in the same order; tests/collector/test_numeric_rows.py holds them equal
 * on random and mutated entries.
 *
 * numeric_columns(entries, check, max_name_len, builtin_slots) takes the numeric
 * feature entries of a chunk as msgpack decoded them (untrusted Python objects:
 * every access is type-checked; nothing is assumed of their shape) and returns
 *
 *     (ints, floats, name_offsets, name_data, layout_offsets, layout_data, bins, order)
 *
 * bytearrays holding: int64 columns n, missing, nan, inf, mismatch, out_of_range
 * (6 x rows, column after column); float64 columns min, max, mean, m2 (4 x rows);
 * the Arrow string buffers (int32 offsets + UTF-8 data) of the names and layout ids;
 * the int32 bin matrix (rows x 64, column after column); and the int64 permutation
 * that ordered the entries by bin shape (stable), or None if they already were.
 *
 * With check true it returns None instead as soon as an entry breaks a rule the
 * column-wise proofs of collector.chunk_checks check for these columns (the caller
 * then validates window by window, which names the field). Its rules are those
 * proofs' or stricter (exact types), never looser. With check false (windows already
 * validated) a wrong type raises TypeError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_LEN 14
#define NSLOTS 64
#define MAX_UINT ((1LL << 40) - 1)
#define MAX_LAYOUT_LEN 32
#define N_INTS 6
#define N_FLOATS 4

/* entry indices (see edge_sdk.wire: numeric sketch entry) */
enum { E_NAME = 0, E_KIND = 1, E_LAYOUT = 2, E_N = 3, E_MISSING = 4, E_NAN = 5, E_INF = 6,
       E_MIN = 7, E_MAX = 8, E_MEAN = 9, E_M2 = 10, E_BINS = 11, E_MISMATCH = 12, E_OOR = 13 };
static const int INT_FIELDS[N_INTS] = {E_N, E_MISSING, E_NAN, E_INF, E_MISMATCH, E_OOR};
static const int FLOAT_FIELDS[N_FLOATS] = {E_MIN, E_MAX, E_MEAN, E_M2};

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

static int grow_append(Growable *g, const char *src, Py_ssize_t len) {
    if (g->used + len > g->size) {
        Py_ssize_t want = g->size * 2;
        if (want < g->used + len) want = g->used + len;
        if (PyByteArray_Resize(g->obj, want) < 0) return -1;
        g->data = PyByteArray_AS_STRING(g->obj);
        g->size = want;
    }
    memcpy(g->data + g->used, src, (size_t)len);
    g->used += len;
    return 0;
}

static int grow_finish(Growable *g) {
    return PyByteArray_Resize(g->obj, g->used > 0 ? g->used : 0);
}

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

/* a str's UTF-8 bytes appended to data and its end offset recorded */
static int string_value(PyObject *v, int check, Py_ssize_t max_len, Growable *data,
                        int32_t *end, const char **utf8, Py_ssize_t *len) {
    if (!PyUnicode_CheckExact(v)) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected a str");
        return -1;
    }
    const char *s = PyUnicode_AsUTF8AndSize(v, len);
    if (!s) {
        if (!check) return -1;
        PyErr_Clear();
        return 1;
    }
    if (check && (*len < 1 || *len > max_len)) return 1;
    if (data->used + *len > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "numeric entry: string column over 2 GiB");
        return -1;
    }
    if (grow_append(data, s, *len) < 0) return -1;
    *end = (int32_t)data->used;
    *utf8 = s;
    return 0;
}

static int compare_keys(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* the bin shape code of an entry, as arrow_rows._bin_shapes: length * 8 + width byte */
static int shape_of(PyObject *entry, int check, int64_t *code) {
    if (!PyList_CheckExact(entry) || PyList_GET_SIZE(entry) != ENTRY_LEN) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected a list of 14 items");
        return -1;
    }
    PyObject *bins = PyList_GET_ITEM(entry, E_BINS);
    if (!PyBytes_CheckExact(bins) || PyBytes_GET_SIZE(bins) < 2) {
        if (check) return 1;
        PyErr_SetString(PyExc_TypeError, "numeric entry: expected packed bin bytes");
        return -1;
    }
    Py_ssize_t length = PyBytes_GET_SIZE(bins);
    if (length > ((Py_ssize_t)1 << 30)) {
        if (check) return 1;
        PyErr_SetString(PyExc_OverflowError, "numeric entry: bin bytes too long");
        return -1;
    }
    *code = (int64_t)length * 8 + (unsigned char)PyBytes_AS_STRING(bins)[0];
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

static PyObject *numeric_columns(PyObject *self, PyObject *args) {
    PyObject *entries, *builtin;
    int check;
    Py_ssize_t max_name_len;
    if (!PyArg_ParseTuple(args, "O!pnO!:numeric_columns", &PyList_Type, &entries, &check,
                          &max_name_len, &PyDict_Type, &builtin))
        return NULL;
    Py_ssize_t rows = PyList_GET_SIZE(entries);
    PyObject *result = NULL, *order_obj = Py_None;
    Growable ints = {0}, floats = {0}, name_off = {0}, name_data = {0}, lay_off = {0},
             lay_data = {0}, bins = {0}, order = {0};
    uint64_t *keys = NULL;
    Py_INCREF(Py_None);

    /* 1. bin shapes; a stable order by shape if the entries are not in one already */
    if (rows >= ((Py_ssize_t)1 << 23)) {
        PyErr_SetString(PyExc_ValueError, "numeric_columns: at most 2^23 entries per call");
        goto fail;
    }
    if (rows > 0) {
        keys = PyMem_Malloc(sizeof(uint64_t) * (size_t)rows);
        if (!keys) { PyErr_NoMemory(); goto fail; }
    }
    int sorted = 1;
    for (Py_ssize_t i = 0; i < rows; i++) {
        int64_t code;
        int r = shape_of(PyList_GET_ITEM(entries, i), check, &code);
        if (r) { if (r > 0) goto refuse; goto fail; }
        keys[i] = ((uint64_t)code << 23) | (uint64_t)i;   /* code < 2^34, i < 2^23 */
        if (i && (keys[i] >> 23) < (keys[i - 1] >> 23)) sorted = 0;
    }
    if (!sorted) {
        qsort(keys, (size_t)rows, sizeof(uint64_t), compare_keys);
        if (grow_init(&order, rows * 8) < 0) goto fail;
        int64_t *o = (int64_t *)order.data;
        for (Py_ssize_t i = 0; i < rows; i++) o[i] = (int64_t)(keys[i] & ((1u << 23) - 1));
        order.used = rows * 8;
        Py_DECREF(order_obj);
        order_obj = order.obj;
        Py_INCREF(order_obj);
    }

    /* 2. the columns, row by row in that order */
    if (grow_init(&ints, rows * 8 * N_INTS) < 0 || grow_init(&floats, rows * 8 * N_FLOATS) < 0
        || grow_init(&name_off, (rows + 1) * 4) < 0 || grow_init(&name_data, rows * 8) < 0
        || grow_init(&lay_off, (rows + 1) * 4) < 0 || grow_init(&lay_data, rows * 3) < 0
        || grow_init(&bins, rows * 4 * NSLOTS) < 0)
        goto fail;
    ints.used = rows * 8 * N_INTS;
    floats.used = rows * 8 * N_FLOATS;
    name_off.used = lay_off.used = (rows + 1) * 4;
    bins.used = rows * 4 * NSLOTS;
    memset(bins.data, 0, (size_t)bins.used);
    int64_t *icol = (int64_t *)ints.data;
    double *fcol = (double *)floats.data;
    int32_t *noff = (int32_t *)name_off.data, *loff = (int32_t *)lay_off.data;
    int32_t *bcol = (int32_t *)bins.data;
    noff[0] = loff[0] = 0;

    for (Py_ssize_t row = 0; row < rows; row++) {
        Py_ssize_t i = (Py_ssize_t)(keys[row] & ((1u << 23) - 1));
        PyObject *entry = PyList_GET_ITEM(entries, i);   /* a 14-item list (step 1) */
        PyObject **item = ((PyListObject *)entry)->ob_item;
        const char *utf8;
        Py_ssize_t len;
        int r;
        if (check && !(PyLong_CheckExact(item[E_KIND]) && PyLong_AsLong(item[E_KIND]) == 0)) {
            PyErr_Clear();
            goto refuse;
        }
        r = string_value(item[E_NAME], check, max_name_len, &name_data, &noff[row + 1],
                         &utf8, &len);
        if (r) { if (r > 0) goto refuse; goto fail; }
        r = string_value(item[E_LAYOUT], check, MAX_LAYOUT_LEN, &lay_data, &loff[row + 1],
                         &utf8, &len);
        if (r) { if (r > 0) goto refuse; goto fail; }
        for (int k = 0; k < N_INTS; k++) {
            r = uint_value(item[INT_FIELDS[k]], check, &icol[k * rows + row]);
            if (r) { if (r > 0) goto refuse; goto fail; }
        }
        for (int k = 0; k < N_FLOATS; k++) {
            r = float_value(item[FLOAT_FIELDS[k]], check, &fcol[k * rows + row]);
            if (r) { if (r > 0) goto refuse; goto fail; }
        }
        /* bins: width byte, then little-endian counts */
        PyObject *packed = item[E_BINS];
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(packed);
        Py_ssize_t length = PyBytes_GET_SIZE(packed);
        int width = p[0];
        if (!(width == 1 || width == 2 || width == 4) || (length - 1) % width != 0
            || (length - 1) / width < 1 || (length - 1) / width > NSLOTS) {
            if (check) goto refuse;
            PyErr_SetString(PyExc_ValueError, "numeric entry: bad bin shape");
            goto fail;
        }
        int slots = (int)((length - 1) / width);
        uint64_t total = 0;
        for (int s = 0; s < slots; s++) {
            uint64_t c = read_count(p + 1 + (Py_ssize_t)s * width, width);
            if (c > INT32_MAX) {
                if (check) goto refuse;
                PyErr_SetString(PyExc_OverflowError, "numeric entry: bin count over int32");
                goto fail;
            }
            total += c;
            bcol[(Py_ssize_t)s * rows + row] = (int32_t)c;
        }
        if (check) {
            if (total != (uint64_t)icol[row]) goto refuse;         /* bins sum to n */
            PyObject *want = PyDict_GetItemWithError(builtin, item[E_LAYOUT]);
            if (want) {                   /* a built-in layout id names its slot count */
                long w = PyLong_AsLong(want);
                if (w == -1 && PyErr_Occurred()) goto fail;
                if (w != slots) goto refuse;
            } else if (PyErr_Occurred()) {
                goto fail;
            }
        }
    }
    if (grow_finish(&ints) < 0 || grow_finish(&floats) < 0 || grow_finish(&name_data) < 0
        || grow_finish(&lay_data) < 0 || grow_finish(&bins) < 0)
        goto fail;
    result = Py_BuildValue("(OOOOOOOO)", ints.obj, floats.obj, name_off.obj, name_data.obj,
                           lay_off.obj, lay_data.obj, bins.obj, order_obj);
    goto done;

refuse:
    result = Py_None;
    Py_INCREF(result);
    goto done;
fail:
    result = NULL;
done:
    PyMem_Free(keys);
    Py_XDECREF(ints.obj);
    Py_XDECREF(floats.obj);
    Py_XDECREF(name_off.obj);
    Py_XDECREF(name_data.obj);
    Py_XDECREF(lay_off.obj);
    Py_XDECREF(lay_data.obj);
    Py_XDECREF(bins.obj);
    Py_XDECREF(order.obj);
    Py_DECREF(order_obj);
    return result;
}

static PyMethodDef methods[] = {
    {"numeric_columns", numeric_columns, METH_VARARGS,
     "numeric_columns(entries, check, max_name_len, builtin_slots) -> column buffers or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_numeric_rows",
    "Numeric feature entries -> checked column buffers (optional accelerator of "
    "collector.arrow_rows).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__numeric_rows(void) { return PyModule_Create(&module); }
