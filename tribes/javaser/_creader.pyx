# cython: language_level=3, annotation_typing=False, boundscheck=False, wraparound=False
include "reader.py"
