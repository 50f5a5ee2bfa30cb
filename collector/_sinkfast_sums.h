/* The sketch sums' steps in C (collector/sketch_sums.py), part of ``collector._sinkfast``
 * (its method table in _sinkfast.c lists them). */
#ifndef EDGEDRIFT_SINKFAST_SUMS_H
#define EDGEDRIFT_SINKFAST_SUMS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *group_add(PyObject *self, PyObject *args);
PyObject *group_rows(PyObject *self, PyObject *args);

#endif
