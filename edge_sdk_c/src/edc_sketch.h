/* Numeric and categorical sketches (internal; edc_monitor.c drives them). */
#ifndef EDC_SKETCH_H
#define EDC_SKETCH_H
#include "edc_internal.h"
#include "edc_xf.h"

/* Per group of a numeric sketch, 32 bytes of the arena: the inner regions' fixed-point
 * sums (sum of q, of q^2, and how often that wrapped 2^64) or the tails' sums of the
 * distance from the reference edge and of its square. */
typedef union edc_grp {
    struct { int64_t qsum; uint64_t qsq, carry; } fx;
    struct { edc_xf d, q; } tl;
} edc_grp;

void edc_num_setup(edc_num *s, const edc_layout *layout, uint32_t *counts, void *grp,
                   const edc_feature_spec *fs);
void edc_num_reset(edc_num *s);
void edc_num_update(edc_num *s, const edc_value *v);
void edc_num_finalize(edc_num *s, uint32_t records);
/* The entry; with a name, the feature entry [name, ...entry]. */
void edc_num_encode(edc_mp *w, const edc_num *s, int version, const char *name);

void edc_cat_setup(edc_cat *s, const edc_feature_spec *fs, uint16_t capacity,
                   uint32_t *counts, edc_key *extra);
void edc_cat_reset(edc_cat *s);
void edc_cat_update(edc_cat *s, const edc_value *v);
void edc_cat_finalize(edc_cat *s, uint32_t records);
void edc_cat_encode(edc_mp *w, const edc_cat *s, const char *name);
/* Canonical category key of a value: 1 (key in *out, *len bytes), 0 missing, -1 mismatch.
 * buf (>= 72 bytes) holds keys made from numbers and bools. */
int edc_category_key(const edc_value *v, char *buf, const char **out, size_t *len);
#endif
