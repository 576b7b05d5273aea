"""ONNX files: fp32 from the torch exporter, int8 from onnxruntime's static QDQ quantizer."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import onnx
import torch

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec, normalize
from edge_age.errors import EdgeAgeError
from edge_age.formats import META_CARD, META_SPEC
from edge_age.quiet import library_chatter_off

if TYPE_CHECKING:
    from edge_age.export.job import WriteJob

OPSET = 17


def write_fp32(job: "WriteJob", path: Path) -> None:
    """Formats-table writer for onnx_fp32."""
    export_fp32(job.model, path, job.spec, job.meta)


def write_int8(job: "WriteJob", path: Path) -> str:
    """Formats-table writer for onnx_int8: quantizes a float export made beside it, then drops it."""
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=path.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(job.model, fp32, job.spec, job.meta)
        return quantize_int8(fp32, path, job.calibration(), job.spec, job.meta)


def _set_metadata(model: onnx.ModelProto, spec: PreprocessSpec, card: dict[str, Any]) -> None:
    del model.metadata_props[:]
    for key, value in ((META_SPEC, fileio.json_text(spec.to_dict(), indent=None)),
                       (META_CARD, fileio.json_text(card, indent=None))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def export_fp32(model: torch.nn.Module, path: Path, spec: PreprocessSpec, card: dict[str, Any]) -> None:
    sample = torch.zeros(1, 3, spec.size, spec.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=path.parent) as tmp:  # beside the target, never /tmp
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (sample,), str(raw), dynamo=False, opset_version=OPSET, input_names=["input"],
                output_names=["age"], dynamic_axes={"input": {0: "batch"}, "age": {0: "batch"}},
            )
        m = onnx.load(str(raw))  # weights inline: one self-contained file
    _set_metadata(m, spec, card)
    onnx.checker.check_model(m)
    fileio.write_bytes(path, m.SerializeToString())


class _Reader:
    """onnxruntime CalibrationDataReader over uint8 face crops."""

    def __init__(self, faces: np.ndarray, spec: PreprocessSpec, input_name: str, batch: int = 16) -> None:
        self.batches = [normalize(faces[i : i + batch], spec, "NCHW") for i in range(0, len(faces), batch)]
        self.input_name = input_name
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {self.input_name: self.batches[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0


def quantize_int8(fp32_path: Path, path: Path, calib_faces: np.ndarray, spec: PreprocessSpec,
                  card: dict[str, Any]) -> str:
    """Static QDQ int8: per-channel int8 weights, uint8 activations (U8S8, fast on x86 VNNI and ARM).

    Activation ranges are the 99.99th percentile of the calibration values, not their min/max: for
    ``mobilenetv2_age`` (val faces) int8/fp32 MAE was 1.036 with MinMax, 1.036 with Entropy and
    1.009 with Percentile -- a few outlier activations stretched MinMax ranges. Calibration feeds one
    face at a time (ORT's percentile collector needs equal batch shapes).
    Dynamic quantization is never used for conv nets: measured 5-10x slower than float here.
    Returns how the activation ranges were set (recorded in the model card).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path.parent.mkdir(parents=True, exist_ok=True)
    with _scratch_beside(path) as tmp, library_chatter_off():
        pre = tmp / "pre.onnx"
        out = tmp / "int8.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        norm = _normalize_node(onnx.load(str(pre)))
        common = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                      weight_type=QuantType.QInt8, nodes_to_exclude=[norm.name] if norm is not None else [])
        method = "99.99th percentile"
        try:
            quantize_static(str(pre), str(out), _Reader(calib_faces, spec, "input", batch=1),
                            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": 99.99},
                            **common)
        except ValueError:
            # ORT's percentile histogram cannot bin an activation that is constant over the calibration
            # faces (seen on barely trained models); min/max ranges are well defined there.
            method = "min/max (percentile failed: constant activation)"
            quantize_static(str(pre), str(out), _Reader(calib_faces, spec, "input", batch=1),
                            calibrate_method=CalibrationMethod.MinMax, **common)
        m = onnx.load(str(out))
    pad_stem_channels(m)
    _set_metadata(m, spec, card)
    fileio.write_bytes(path, m.SerializeToString())
    return method


@contextlib.contextmanager
def _scratch_beside(path: Path) -> Iterator[Path]:
    """A temporary folder beside ``path`` for the quantizer's files. onnxruntime's quantizer writes some of
    them through onnx's C++ shape inference, which ignores a failed write: on a full disk the truncated file
    then fails to parse (a protobuf DecodeError, a traceback). A failure inside that leaves the folder's disk
    without space is that full disk's, raised as the OSError a Python write raises there (export makes it
    one line); the check runs before the folder, which holds the truncated file, is removed."""
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=path.parent) as tmp:
        try:
            yield Path(tmp)
        except (OSError, EdgeAgeError):
            raise
        except Exception as e:
            if not fileio.no_space_left(tmp):
                raise
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from e


def _normalize_node(m: onnx.ModelProto) -> onnx.NodeProto | None:
    """The per-channel normalisation in front of a pixel-input model (export.prepare.PixelInput): the one
    grouped 1x1 Conv that reads the graph input. It stays float in int8 files: quantized, it would add a
    requantization of the pixels ahead of the stem's own."""
    users = [n for n in m.graph.node if m.graph.input[0].name in n.input]
    grouped = len(users) == 1 and any(a.name == "group" and a.i == 3 for a in users[0].attribute)
    if grouped and users[0].op_type == "Conv":
        return users[0]
    return None


def _stem(m: onnx.ModelProto) -> tuple[str, Any, list, list, list] | None:
    """The QDQ stem of a model: its input tensor (behind the float normalisation of a pixel-input file),
    that input's QuantizeLinear, its DequantizeLinear(s), and each first Conv's weight DequantizeLinear with
    its int8 initializer; None where the graph does not start input -> Q -> DQ -> Conv (group 1)."""
    g = m.graph
    users: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    after = _normalize_node(m)
    name = g.input[0].name if after is None else after.output[0]
    producer = {o: n for n in g.node for o in n.output}
    inits = {t.name: t for t in g.initializer}
    q = users.get(name, [])
    if len(q) != 1 or q[0].op_type != "QuantizeLinear":
        return None
    dq = users.get(q[0].output[0], [])
    convs = [c for d in dq if d.op_type == "DequantizeLinear" for c in users.get(d.output[0], [])]
    if not dq or not convs or any(c.op_type != "Conv" or c.input[0] not in {d.output[0] for d in dq} for c in convs):
        return None
    weights = []
    for c in convs:
        wdq = producer.get(c.input[1])
        if wdq is None or wdq.op_type != "DequantizeLinear" or wdq.input[0] not in inits:
            return None
        if any(a.name == "group" and a.i != 1 for a in c.attribute):
            return None
        weights.append((wdq, inits[wdq.input[0]]))
    return name, after, q, dq, weights


def pad_stem_channels(m: onnx.ModelProto, multiple: int = 4) -> bool:
    """Zero-pad the RGB input of a QDQ model's first convolution to ``multiple`` channels, in place.

    Why: onnxruntime's int8 convolution is slow on 3 input channels (27-long dot products): on SimpleCNN's
    int8 file the 14 MMAC stem took longer than the 75 MMAC conv after it, and half as long once padded
    (``lab/stem_padding.py``, figures in ``lab/stem_padding.json``). The output is unchanged:
    the extra channel is 0 in float, so it quantizes to the zero point, and its weights are 0. The file's
    input stays 3-channel.
    Returns False (model untouched) where the graph does not start input -> Q -> DQ -> Conv.
    """
    stem = _stem(m)
    if stem is None:
        return False
    name, after, q, dq, weights = stem
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    channels = weights[0][1].dims[1]
    if channels % multiple == 0 or any(w.dims[1] != channels for _, w in weights):
        return False
    extra = -channels % multiple
    for wdq, w in weights:
        wq = onnx.numpy_helper.to_array(w)
        zp = onnx.numpy_helper.to_array(inits[wdq.input[2]]) if len(wdq.input) > 2 else np.zeros(1, wq.dtype)
        pad = np.broadcast_to(zp.reshape(-1, 1, 1, 1), (wq.shape[0], extra, *wq.shape[2:])).astype(wq.dtype)
        w.CopyFrom(onnx.numpy_helper.from_array(np.concatenate([wq, pad], axis=1), w.name))
    pads = onnx.numpy_helper.from_array(np.array([0, 0, 0, 0, 0, extra, 0, 0], np.int64), f"{name}_channel_pads")
    g.initializer.append(pads)
    padded = f"{name}_channel_padded"
    q[0].input[0] = padded
    at = 0 if after is None else list(g.node).index(after) + 1
    g.node.insert(at, onnx.helper.make_node("Pad", [name, pads.name], [padded], name=f"{name}_channel_pad"))
    # Shapes recorded by quant_pre_process for the changed tensors are now wrong: let ORT infer them.
    stale = {q[0].output[0], *(d.output[0] for d in dq), *(wdq.output[0] for wdq, _ in weights)}
    keep = [v for v in g.value_info if v.name not in stale]
    del g.value_info[:]
    g.value_info.extend(keep)
    onnx.checker.check_model(m)
    return True
