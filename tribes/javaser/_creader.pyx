# cython: language_level=3, annotation_typing=False, boundscheck=True, wraparound=True, cdivision=False
# The typed compile of reader.py (the pure-Python twin, used when this extension is absent or
# TRIBES_PURE=1): the very same source, with its Cython declarations in effect.
from libc.string cimport memcpy

cdef extern from "Python.h":
    int PyGC_Disable()
    int PyGC_Enable()

include "reader.py"
