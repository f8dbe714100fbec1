# cython: language_level=3, annotation_typing=False, boundscheck=True, wraparound=True, cdivision=False
# The typed compile of reader.py (the pure-Python twin, used when this extension is absent or
# TRIBES_PURE=1): the very same source, with its Cython declarations in effect, plus
# FastObjectInputStream below, which this module exports as ``ObjectInputStream``: objects of
# simple classes (Serializable without readObject data, no serializable superclass, primitive
# fields first) are read from a plan made once per descriptor instead of reader.py's walk over
# the descriptor's attributes. Values, positions and errors are reader.py's
# (tests/unit/test_javaser_speedups.py, test_javaser_fast_paths.py compare the two).
from libc.string cimport memcpy

cdef extern from "Python.h":
    int PyGC_Disable()
    int PyGC_Enable()
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)

from cpython.object cimport PyObject, PyTypeObject


cdef inline object _make_int(type cls, long long v):
    """``int.__new__(cls, v)`` through int's tp_new (no method-wrapper call)."""
    cdef tuple args = (v,)
    return (<PyTypeObject*>int).tp_new(cls, <PyObject*>args, NULL)


cdef inline void _yield_gil():
    """Release and take back the GIL: a thread waiting for it (that asked for a switch) runs now."""
    with nogil:
        pass


include "reader.py"


cdef class _ReadPlan:
    cdef bint simple
    cdef Py_ssize_t size     # bytes of the primitive fields
    cdef Py_ssize_t nobj     # object fields after them
    cdef object unpack       # struct.Struct.unpack_from of the primitive fields


cdef _ReadPlan _read_plan_for(object desc):
    cdef _ReadPlan plan = _ReadPlan()
    plan.simple = False
    if (type(desc) is ClassDesc and desc.flags == SC_SERIALIZABLE and desc.superclass is None
            and desc.proxy_interfaces is None):
        lay = layout(desc)
        if lay.plain and lay.prims_first:
            plan.simple = True
            plan.size = lay.size
            plan.nobj = len(lay.obj_idx)
            plan.unpack = lay.struct.unpack_from
    desc._rplan = plan
    return plan


cdef class FastObjectInputStream(ObjectInputStream):
    """reader.ObjectInputStream with objects of simple classes read from a per-class plan."""

    cpdef _read_ordinary(self, Py_ssize_t pos):
        cdef bytes b = self._b
        cdef Py_ssize_t p = pos + 1
        cdef Py_ssize_t h
        cdef Py_ssize_t q
        cdef Py_ssize_t i
        cdef _ReadPlan plan
        cdef list vals
        if p + 5 <= self._n and b[p] == TC_REFERENCE:
            h = _be_i32(b, p + 1) - BASE_WIRE_HANDLE
            if 0 <= h < len(self._handles):
                desc = self._handles[h]
                if type(desc) is ClassDesc:
                    plan_o = desc._rplan
                    plan = _read_plan_for(desc) if plan_o is None else <_ReadPlan>plan_o
                    if plan.simple and p + 5 + plan.size <= self._n:
                        self._enter(pos)
                        self._pos = p + 5
                        obj = _new_object(desc, [])
                        self._assign(obj)
                        q = self._pos
                        vals = list(plan.unpack(b, q)) if plan.size else []
                        self._pos = q + plan.size
                        for i in range(plan.nobj):
                            vals.append(self._read())
                        obj.class_data = [_new_class_data(desc, vals, None)]
                        self._depth -= 1
                        return obj
        return ObjectInputStream._read_ordinary(self, pos)


# the name every caller uses (tribes.javaser._impl, the tests, the benchmarks)
globals()["ObjectInputStream"] = FastObjectInputStream
