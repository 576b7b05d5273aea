"""Convert MTCNN's three networks (P-, R-, O-Net) to ONNX for the torch-free face detector.

The weights are those shipped inside the facenet-pytorch wheel (MIT licence; the networks and their
weights are Zhang et al.'s MTCNN, 2016), fetched from the package registry: no model hub download.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fp && unzip -o /tmp/fp/*.whl -d /tmp/fp
    python scripts/convert_mtcnn.py /tmp/fp --out edge_age/detector

Each ONNX file is checked against the torch module on random inputs before it is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from edge_age import fileio


def convert(wheel_dir: Path, out: Path) -> None:
    sys.path.insert(0, str(wheel_dir))
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet  # noqa: E402  (from the unpacked wheel)

    # P-Net is fully convolutional: any image side; R-/O-Net take fixed 24/48 px crops, any batch.
    nets = {"pnet": (PNet(), (1, 3, 37, 53), {0: "n", 2: "h", 3: "w"}),
            "rnet": (RNet(), (5, 3, 24, 24), {0: "n"}), "onet": (ONet(), (5, 3, 48, 48), {0: "n"})}
    out.mkdir(parents=True, exist_ok=True)
    for name, (net, shape, axes) in nets.items():
        net.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            want = [t.numpy() for t in net(x)]
        outputs = [f"out{i}" for i in range(len(want))]
        path = out / f"mtcnn_{name}.onnx"
        tmp = path.with_suffix(".tmp.onnx")
        torch.onnx.export(net, (x,), str(tmp), input_names=["x"], output_names=outputs, opset_version=17,
                          dynamic_axes={"x": axes, **{o: {0: "n"} for o in outputs}}, dynamo=False)
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        x2 = torch.randn(*shape[:2], *(s + 7 if name == "pnet" else s for s in shape[2:])) if name == "pnet" else x
        with torch.no_grad():
            want2 = [t.numpy() for t in net(x2)]
        for got, w in zip(sess.run(None, {"x": x2.numpy()}), want2):
            assert np.allclose(got, w, atol=1e-4), f"{name}: ONNX differs from torch"
        fileio.write_bytes(path, tmp.read_bytes())
        tmp.unlink()
        print(f"{path}: {path.stat().st_size} bytes, outputs {[o.shape for o in want]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel_dir", type=Path, help="the unpacked facenet-pytorch wheel")
    ap.add_argument("--out", type=Path, default=Path("edge_age/detector"))
    args = ap.parse_args()
    convert(args.wheel_dir, args.out)
