/* The spec's constant tables in their own object, so `make size` can tell them apart. */
#include "spec.h"
const edc_spec *const edc_app_spec = &EDC_SPEC;
