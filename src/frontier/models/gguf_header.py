"""A GGUF file's header (metadata and tensor table) read without touching tensor data.

Why not `gguf.GGUFReader`: it turns every metadata array element into its own numpy view, so the ~100,000
tokenizer strings of even a 135M model took 6-8 s per file here; the registry describes every file in the
models folder on a `/v1/models` request. This walks the same layout (GGUF v2/v3, little-endian) with
`struct` over an mmap in tens of milliseconds, and uses the `gguf` package for the format's constants.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

_SCALARS = {
    gguf.GGUFValueType.UINT8: "<B", gguf.GGUFValueType.INT8: "<b", gguf.GGUFValueType.UINT16: "<H",
    gguf.GGUFValueType.INT16: "<h", gguf.GGUFValueType.UINT32: "<I", gguf.GGUFValueType.INT32: "<i",
    gguf.GGUFValueType.FLOAT32: "<f", gguf.GGUFValueType.BOOL: "<?", gguf.GGUFValueType.UINT64: "<Q",
    gguf.GGUFValueType.INT64: "<q", gguf.GGUFValueType.FLOAT64: "<d",
}  # fmt: skip


class HeaderError(ValueError):
    """The bytes are not a GGUF header (or it is cut short)."""


@dataclass(slots=True)
class TensorEntry:
    name: str
    n_elements: int
    n_bytes: int
    offset: int  # absolute, in the file


@dataclass(slots=True)
class GgufHeader:
    fields: dict[str, Any]  # scalars and strings; arrays are kept only as their length
    tensors: list[TensorEntry]


class _Cursor:
    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.at = 0

    def unpack(self, fmt: str) -> Any:
        try:
            (value,) = struct.unpack_from(fmt, self.data, self.at)
        except struct.error as exc:
            raise HeaderError(f"header cut short at byte {self.at}") from exc
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.at + length > len(self.data):
            raise HeaderError(f"header cut short at byte {self.at}")
        text = bytes(self.data[self.at : self.at + length]).decode("utf-8", errors="replace")
        self.at += length
        return text

    def value(self, kind: int) -> Any:
        if kind == gguf.GGUFValueType.STRING:
            return self.string()
        if kind == gguf.GGUFValueType.ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            if item == gguf.GGUFValueType.STRING:
                for _ in range(count):
                    self.at += 8 + self.unpack("<Q")
            elif item in _SCALARS:
                self.at += count * struct.calcsize(_SCALARS[gguf.GGUFValueType(item)])
            else:
                for _ in range(count):
                    self.value(item)
            return count
        try:
            return self.unpack(_SCALARS[gguf.GGUFValueType(kind)])
        except (ValueError, KeyError) as exc:
            raise HeaderError(f"unknown metadata value type {kind}") from exc


def read_header(path: Path) -> GgufHeader:
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        cursor = _Cursor(data)
        if bytes(data[:4]) != b"GGUF":
            raise HeaderError("bad magic bytes")
        cursor.at = 4
        version = cursor.unpack("<I")
        if version not in (2, 3):
            raise HeaderError(f"unsupported GGUF version {version}")
        n_tensors, n_fields = cursor.unpack("<Q"), cursor.unpack("<Q")
        fields: dict[str, Any] = {}
        for _ in range(n_fields):
            key = cursor.string()
            fields[key] = cursor.value(cursor.unpack("<I"))
        raw = []
        for _ in range(n_tensors):
            name = cursor.string()
            dims = [cursor.unpack("<Q") for _ in range(cursor.unpack("<I"))]
            raw.append((name, dims, cursor.unpack("<I"), cursor.unpack("<Q")))
        alignment = int(fields.get("general.alignment") or gguf.GGUF_DEFAULT_ALIGNMENT)
        start = -(-cursor.at // alignment) * alignment
    tensors = []
    for name, dims, kind, offset in raw:
        count = 1
        for dim in dims:
            count *= dim
        try:
            block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
        except (ValueError, KeyError) as exc:
            raise HeaderError(f"tensor {name}: unknown type {kind}") from exc
        tensors.append(TensorEntry(name, count, count * size // block, start + offset))
    return GgufHeader(fields, tensors)
