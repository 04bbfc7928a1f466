"""Scalars from TensorFlow event files, for Katib's TensorFlowEvent collector, without
TensorFlow: the TFRecord framing and the few protobuf messages involved are decoded here.

An event file is a sequence of records: an 8-byte little-endian length, its masked
CRC-32C, the data, the data's masked CRC-32C. Each record is an `Event` whose `summary`
holds `Value`s: a tag and either `simple_value` (old-style scalars, as PyTorch's
SummaryWriter writes them) or a `tensor` (TF2's `tf.summary.scalar`). A record cut short
(a trial still writing) or failing its checksum ends the file there.
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# protobuf field numbers, from tensorflow/core/util/event.proto, summary.proto,
# tensor.proto and types.proto
EVENT_WALL_TIME, EVENT_STEP, EVENT_SUMMARY = 1, 2, 5
SUMMARY_VALUE = 1
VALUE_TAG, VALUE_SIMPLE, VALUE_TENSOR = 1, 2, 8
TENSOR_DTYPE, TENSOR_SHAPE, TENSOR_CONTENT = 1, 2, 4
TENSOR_FLOATS, TENSOR_DOUBLES, TENSOR_INTS, TENSOR_INT64S, TENSOR_HALVES = 5, 6, 7, 10, 13
SHAPE_DIM = 2
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_HALF = 1, 2, 3, 9, 19


@dataclass(frozen=True)
class Scalar:
    tag: str
    value: float
    wall_time: float
    step: int


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(data: bytes) -> Iterator[bytes]:
    """The complete, intact records of a TFRecord file's bytes."""
    offset = 0
    while offset + 12 <= len(data):
        header = data[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
        end = offset + 12 + length + 4
        if header_crc != masked_crc(header) or end > len(data):
            return
        body = data[offset + 12 : offset + 12 + length]
        (body_crc,) = struct.unpack("<I", data[end - 4 : end])
        if body_crc != masked_crc(body):
            return
        yield body
        offset = end


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if offset >= len(data):
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message: an int for varints and
    fixed widths (as raw bits), bytes for length-delimited fields."""
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, offset = _varint(data, offset)
        elif wire == 1:
            (value,) = struct.unpack("<Q", data[offset : offset + 8])
            offset += 8
        elif wire == 5:
            (value,) = struct.unpack("<I", data[offset : offset + 4])
            offset += 4
        elif wire == 2:
            length, offset = _varint(data, offset)
            value = data[offset : offset + length]
            offset += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if offset > len(data):
            raise ValueError("truncated protobuf message")
        yield number, wire, value


def _packed(value: int | bytes, fmt: str) -> list[float]:
    """A repeated numeric field: packed (bytes) or one element (raw bits)."""
    size = struct.calcsize(fmt)
    if isinstance(value, bytes):
        if fmt in ("q", "i"):  # varints, packed
            out, offset = [], 0
            while offset < len(value):
                number, offset = _varint(value, offset)
                out.append(float(number - (1 << 64) if number >= 1 << 63 else number))
            return out
        return [float(v) for (v,) in struct.iter_unpack("<" + fmt, value)]
    if fmt in ("q", "i"):
        return [float(value - (1 << 64) if value >= 1 << 63 else value)]
    return [struct.unpack("<" + fmt, value.to_bytes(size, "little"))[0]]


def tensor_scalar(data: bytes) -> float | None:
    """The value of a TensorProto holding one number, or None for anything else."""
    dtype, dims, content = DT_FLOAT, 0, b""
    values: list[float] = []
    for number, _, value in fields(data):
        if number == TENSOR_DTYPE and isinstance(value, int):
            dtype = value
        elif number == TENSOR_SHAPE and isinstance(value, bytes):
            dims = sum(1 for n, _, _ in fields(value) if n == SHAPE_DIM)
        elif number == TENSOR_CONTENT and isinstance(value, bytes):
            content = value
        elif number == TENSOR_FLOATS:
            values += _packed(value, "f")
        elif number == TENSOR_DOUBLES:
            values += _packed(value, "d")
        elif number in (TENSOR_INTS, TENSOR_INT64S):
            values += _packed(value, "q")
        elif number == TENSOR_HALVES:
            values += [
                struct.unpack("<e", int(v).to_bytes(2, "little"))[0] for v in _packed(value, "i")
            ]
    if dims:
        return None  # not a scalar
    formats = {DT_FLOAT: "<f", DT_DOUBLE: "<d", DT_INT32: "<i", DT_INT64: "<q", DT_HALF: "<e"}
    if content and dtype in formats:
        values = [v for (v,) in struct.iter_unpack(formats[dtype], content)]
    if len(values) != 1:
        return None
    return _single(values[0]) if dtype in (DT_FLOAT, DT_HALF) else float(values[0])


def _single(value: float) -> float:
    """A single-precision number as the shortest decimal that reads back as it: the 0.9
    the trainer logged, not 0.8999999761581421."""
    return float(str(np.float32(value)))


def scalars(data: bytes) -> Iterator[Scalar]:
    """The scalar summaries of an event file's bytes, in file order."""
    for record in records(data):
        wall_time, step, summaries = 0.0, 0, []
        for number, _, value in fields(record):
            if number == EVENT_WALL_TIME and isinstance(value, int):
                wall_time = struct.unpack("<d", value.to_bytes(8, "little"))[0]
            elif number == EVENT_STEP and isinstance(value, int):
                step = value
            elif number == EVENT_SUMMARY and isinstance(value, bytes):
                summaries.append(value)
        for summary in summaries:
            for number, _, entry in fields(summary):
                if number == SUMMARY_VALUE and isinstance(entry, bytes):
                    found = _value(entry)
                    if found is not None:
                        yield Scalar(found[0], found[1], wall_time, step)


def _value(data: bytes) -> tuple[str, float] | None:
    tag, result = "", None
    for number, _, value in fields(data):
        if number == VALUE_TAG and isinstance(value, bytes):
            tag = value.decode("utf-8", errors="replace")
        elif number == VALUE_SIMPLE and isinstance(value, int):
            result = _single(struct.unpack("<f", value.to_bytes(4, "little"))[0])
        elif number == VALUE_TENSOR and isinstance(value, bytes):
            result = tensor_scalar(value)
    return (tag, float(result)) if result is not None else None


def matches(tag: str, metric: str, folder: tuple[str, ...]) -> bool:
    """Katib's rule for which tags feed a metric, without its prefix match (Katib reads
    `accuracy_top5` as `accuracy`): the tag is the metric's last path part (or ends in `/`
    and it, under a name scope), and a metric written `dir/name` reads only the files in
    a folder `dir` (`train/accuracy`: the event files under `train/`). `folder`: the
    event file's folder, as path parts below the collector's root."""
    *folders, name = metric.split("/")
    if tag != name and not tag.endswith("/" + name):
        return False
    return not folders or list(folder[-len(folders) :]) == folders


@functools.lru_cache(maxsize=512)
def _file_scalars(path: str, size: int, mtime_ns: int) -> tuple[Scalar, ...]:
    """A file's scalars, read again only when its size or time changes (a running trial's
    folder is read at every early-stopping check)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ()
    found: list[Scalar] = []
    # Not an event file, or a damaged one: what came before the damage counts.
    with contextlib.suppress(ValueError, struct.error):
        for scalar in scalars(data):
            found.append(scalar)
    return tuple(found)


def read_folder(root: Path, metrics: list[str]) -> dict[str, list[float]]:
    """Every value of `metrics` in the event files under `root`, each metric's in
    wall-time order (Katib orders its observation log by time)."""
    found: dict[str, list[tuple[float, int, float]]] = {m: [] for m in metrics}
    if not root.is_dir():
        return {}
    for index, file in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        try:
            stat = file.stat()
        except OSError:
            continue
        folder = file.parent.relative_to(root).parts
        for position, scalar in enumerate(_file_scalars(str(file), stat.st_size, stat.st_mtime_ns)):
            for metric in metrics:
                if matches(scalar.tag, metric, folder):
                    order = index * 1_000_000 + position
                    found[metric].append((scalar.wall_time, order, scalar.value))
    return {
        metric: [value for _, _, value in sorted(entries)]
        for metric, entries in found.items()
        if entries
    }
