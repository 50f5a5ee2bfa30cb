/* Internal helpers shared by the library's C files (not part of the API). */
#ifndef EDC_INTERNAL_H
#define EDC_INTERNAL_H
#include <string.h>
#include "edgedrift.h"

/* The hot path's small helpers, inlined even at -Os (edc_log's instruction budget). */
#if defined(__GNUC__)
#define EDC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EDC_ALWAYS_INLINE inline
#endif

/* A bounded msgpack writer: never writes past cap, remembers overflow in err. */
typedef struct { uint8_t *p; size_t len, cap; int err; } edc_mp;

void edc_mp_raw(edc_mp *w, const void *data, size_t n);
void edc_mp_uint(edc_mp *w, uint64_t v);
void edc_mp_int(edc_mp *w, int64_t v);
void edc_mp_f64(edc_mp *w, double v);
void edc_mp_str(edc_mp *w, const char *s, size_t n);
void edc_mp_cstr(edc_mp *w, const char *s);
void edc_mp_bin_header(edc_mp *w, size_t n);
void edc_mp_array(edc_mp *w, uint32_t n);
void edc_mp_map(edc_mp *w, uint32_t n);

/* Order key of a double: integers compare as the doubles do (-0.0 is taken as +0.0). */
static inline int64_t edc_key_of(double x) {
    int64_t k;
    memcpy(&k, &x, 8);
    if (((uint64_t)k << 1) == 0) return 0;
    return k < 0 ? k ^ INT64_MAX : k;
}
static inline double edc_double_of(int64_t k) {
    double x;
    if (k < 0) k ^= INT64_MAX;
    memcpy(&x, &k, 8);
    return x;
}
uint32_t edc_fnv1a(const char *s, size_t n);
size_t edc_u64_dec(uint64_t v, char *out);
#endif
