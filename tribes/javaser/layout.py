"""Per-descriptor field layout, cached on the descriptor (primitives first, then objects)."""
from __future__ import annotations

import struct
from typing import Any

from .values import ClassDesc

_FMT = {"B": "b", "C": "H", "D": "d", "F": "f", "I": "i", "J": "q", "S": "h", "Z": "B"}


class Layout:
    __slots__ = (
        "struct", "prim_idx", "prim_codes", "obj_idx", "nfields", "plain", "float_offsets", "prims_first", "size",
    )

    def __init__(self, desc: ClassDesc) -> None:
        prim_idx = []
        codes = []
        obj_idx = []
        for i, f in enumerate(desc.fields):
            if f.classname is None:
                prim_idx.append(i)
                codes.append(f.typecode)
            else:
                obj_idx.append(i)
        self.struct = struct.Struct(">" + "".join(_FMT[c] for c in codes))
        self.prim_idx = prim_idx
        self.prim_codes = codes
        self.obj_idx = obj_idx
        self.nfields = len(desc.fields)
        self.size = self.struct.size
        #: primitives before objects, as Java always writes them (prim_idx == 0..k-1)
        self.prims_first = prim_idx == list(range(len(prim_idx)))
        #: no conversion needed between struct values and Python values
        self.plain = all(c in "BDIJS" for c in codes)
        offs = []
        pos = 0
        for c in codes:
            if c == "F":
                offs.append(pos)
            pos += struct.calcsize(">" + _FMT[c])
        self.float_offsets = offs


#: layouts by field type codes (a layout depends on nothing else), shared by the descriptors of
#: every stream; bounded, in case a stream makes up many shapes
_LAYOUTS: dict[str, Layout] = {}
_MAX_LAYOUTS = 4096


def layout(desc: ClassDesc) -> Layout:
    lay = desc._layout
    if lay is None:
        sig = "".join([f.typecode for f in desc.fields])
        lay = _LAYOUTS.get(sig)
        if lay is None:
            lay = Layout(desc)
            if len(_LAYOUTS) < _MAX_LAYOUTS:
                _LAYOUTS[sig] = lay
        desc._layout = lay
    return lay


def chain(desc: ClassDesc) -> list[ClassDesc]:
    c = desc._chain
    if c is None:
        c = desc._chain = desc.chain()
    return c


def conv_in(code: str, v: Any, raw: bytes, off: int) -> Any:
    """struct value -> Python value for codes needing it (Z, C, F)."""
    if code == "Z":
        return True if v == 1 else False if v == 0 else v
    if code == "C":
        return chr(v)
    if code == "F":
        if v != v:
            from .values import JavaFloat

            return JavaFloat.from_bits(struct.unpack_from(">I", raw, off)[0])
        return v
    return v


def conv_out(code: str, v: Any) -> Any:
    if code == "C":
        if isinstance(v, str):
            if len(v) != 1 or ord(v) > 0xFFFF:
                raise ValueError(f"a char field needs one UTF-16 code unit, not {v!r}")
            return ord(v)
        return int(v)
    if code == "Z":
        return 1 if v is True else 0 if v is False else int(v)
    if code == "F" or code == "D":
        return float(v)
    return int(v)
