"""Faces as tensors (torch side): input conversion, augmentation, batch prediction, BatchNorm statistics.

Shared by training and by quantization-aware fine-tuning in export, so neither imports the other.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edge_age.data.preprocess import PreprocessSpec

# What real photos do to a face that aligned chips never show, each at a strength drawn per face: the
# colour of old scans and night modes, the softness of a small face scaled up, heavy compression, sensor
# grain, exposure. Measured on the reference model before training with them (benchmarks/robustness.md):
# grain alone moved its estimates up by 18 years on average. Their names: :data:`DEGRADATIONS`, below.


def _gray(x: torch.Tensor, level: torch.Tensor, gen: torch.Generator, rgb: bool) -> torch.Tensor:
    """The channel mean: no luma weights, so RGB and BGR inputs get the same grey."""
    return x.mean(dim=1, keepdim=True).expand_as(x)


def _lowres(x: torch.Tensor, level: torch.Tensor, gen: torch.Generator, rgb: bool) -> torch.Tensor:
    """A face 1.5-4x smaller than the input, scaled up: what a face far from the camera gives."""
    h, w = x.shape[-2:]

    def small(v: float) -> tuple[int, int]:
        return max(4, round(h / (1.5 + 2.5 * v))), max(4, round(w / (1.5 + 2.5 * v)))

    out = [F.interpolate(F.interpolate(f[None], size=small(float(v)), mode="bilinear", antialias=True,
                                       align_corners=False), size=(h, w), mode="bilinear", align_corners=False)
           for f, v in zip(x, level)]
    return torch.cat(out)


def _jpeg(x: torch.Tensor, level: torch.Tensor, gen: torch.Generator, rgb: bool) -> torch.Tensor:
    """JPEG at quality 10-49, by OpenCV's libjpeg (torchvision's JPEG codec is deprecated). OpenCV reads
    BGR: RGB faces are flipped around the codec, so luma and chroma are those of the real colours."""
    rows = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    order = slice(None, None, -1) if rgb else slice(None)

    def codec(face: np.ndarray, quality: int) -> np.ndarray:
        _, buf = cv2.imencode(".jpg", np.ascontiguousarray(face[..., order]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)[..., order]

    out = [codec(f, int(10 + 40 * float(v))) for f, v in zip(rows, level)]
    return torch.from_numpy(np.ascontiguousarray(np.stack(out))).permute(0, 3, 1, 2).float()


def _noise(x: torch.Tensor, level: torch.Tensor, gen: torch.Generator, rgb: bool) -> torch.Tensor:
    """Gaussian grain of 2-16 grey levels per pixel, half of it shared by the channels (luminance)."""
    sigma = (2 + 14 * level).view(-1, 1, 1, 1)
    luma = torch.randn(x.shape[0], 1, *x.shape[2:], generator=gen)
    colour = torch.randn(x.shape, generator=gen)
    return x + sigma * (luma + colour) / math.sqrt(2)


def _gamma(x: torch.Tensor, level: torch.Tensor, gen: torch.Generator, rgb: bool) -> torch.Tensor:
    """Exposure: gamma 0.5-2 (brighter to darker)."""
    g = torch.exp((level * 2 - 1) * math.log(2)).view(-1, 1, 1, 1)
    return 255 * (x.clamp(0, 255) / 255) ** g


_DEGRADE = {"gray": _gray, "lowres": _lowres, "jpeg": _jpeg, "noise": _noise, "gamma": _gamma}
DEGRADATIONS = tuple(_DEGRADE)  # the order is part of the seeded draw: append, never reorder


def degrade(x: torch.Tensor, gen: torch.Generator, p: float, rgb: bool = True) -> torch.Tensor:
    """Give each face, with probability ``p``, one of :data:`DEGRADATIONS` at a random strength (all
    drawn from ``gen``, so a seeded run replays the same degradations). ``rgb``: the channel order of ``x``
    (RGB, else BGR), which JPEG's colour transform depends on."""
    n = x.shape[0]
    hit = torch.rand(n, generator=gen) < p
    kind = torch.randint(len(DEGRADATIONS), (n,), generator=gen)
    level = torch.rand(n, generator=gen)
    x = x.clamp(0, 255)
    for k, name in enumerate(DEGRADATIONS):
        rows = torch.nonzero(hit & (kind == k)).flatten()
        if len(rows):
            x[rows] = _DEGRADE[name](x[rows], level[rows], gen, rgb)
    return x.clamp_(0, 255)


# How far a photo's edge cuts into a face's square (share of the square's side): past about half, the
# detector no longer finds the face. Tilted like the faces of the "faces in context" set, because the
# crop turns the face upright and so turns the photo's edge with it.
EDGE_REACH = (0.02, 0.4)
EDGE_TILT_DEGREES = 25.0


def edge_cut(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Give each face, with probability ``p``, the border a photo's edge leaves in its crop: beyond a line
    at a random side (tilted by up to :data:`EDGE_TILT_DEGREES`), at a random depth in :data:`EDGE_REACH`,
    every pixel repeats the line's pixel along the line's normal, as the runtime's crop repeats the photo's
    edge pixel (edge_age.data.framing.warp_square). Chips never show this; half the faces-in-context squares
    do, and they carried most of its gap to the aligned chips (lab/photo_gap.md)."""
    n = x.shape[0]
    rows = torch.nonzero(torch.rand(n, generator=gen) < p).flatten()
    m = len(rows)
    if not m:
        return x
    side = torch.randint(4, (m,), generator=gen).float() * (math.pi / 2)
    tilt = (torch.rand(m, generator=gen) * 2 - 1) * math.radians(EDGE_TILT_DEGREES)
    lo, hi = EDGE_REACH
    reach = lo + (hi - lo) * torch.rand(m, generator=gen)
    normal = torch.stack([torch.cos(side + tilt), torch.sin(side + tilt)], 1)  # (m, 2), x then y
    # affine_grid's units: the square spans [-1, 1]; the line sits 1 - 2 * reach from the centre.
    eye = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(m, 2, 3)
    grid = F.affine_grid(eye, [m, *x.shape[1:]], align_corners=False)  # (m, H, W, 2)
    past = ((grid * normal[:, None, None, :]).sum(-1) - (1 - 2 * reach)[:, None, None]).clamp(min=0)
    grid = grid - past[..., None] * normal[:, None, None, :]
    cut = F.grid_sample(x[rows], grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Resampling at the pixel centres is exact only up to float rounding: keep the untouched side as it was.
    x[rows] = torch.where((past > 0)[:, None], cut, x[rows])
    return x


def augment(x: torch.Tensor, gen: torch.Generator, jitter: dict[str, list[float]] | None = None,
            degrade_p: float = 0.0, rgb: bool = True, edge_p: float = 0.0) -> torch.Tensor:
    """Batched augmentation on 0-255 float NCHW: flip, small affine, with ``edge_p`` > 0 the photo edge
    of :func:`edge_cut`, colour jitter, and with ``degrade_p`` > 0 the photo degradations of :func:`degrade`.

    With ``jitter`` (ranges of crop side / chip side, centre shift in chip sides, angle in degrees, as
    measured after detection and framing), half of the faces get that affine instead of the mild one,
    so the model has seen the crops a detector really gives.
    """
    n = x.shape[0]

    def u(*shape: int) -> torch.Tensor:  # uniform in [-1, 1)
        return torch.rand(*shape, generator=gen) * 2 - 1

    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle = u(n) * math.radians(10)
    zoom = 1 / (1 + u(n) * 0.08)  # crop side / chip side
    shift = u(n, 2) * 0.06
    if jitter is not None:
        def draw(key: str, *shape: int) -> torch.Tensor:
            lo, hi = jitter[key]
            return lo + (hi - lo) * torch.rand(*shape, generator=gen)

        framed = torch.rand(n, generator=gen) < 0.5
        angle = torch.where(framed, torch.deg2rad(draw("angle", n)), angle)
        zoom = torch.where(framed, draw("scale", n), zoom)
        # Shifts in chip sides -> affine_grid's units (the chip spans 2).
        shift = torch.where(framed[:, None], 2 * torch.stack([draw("shift_x", n), draw("shift_y", n)], 1), shift)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if edge_p > 0:  # drawn only when on, so runs without it replay the batches they trained on
        x = edge_cut(x, gen, edge_p)
    bright = 1 + u(n, 1, 1, 1) * 0.2
    contrast = 1 + u(n, 1, 1, 1) * 0.2
    sat = 1 + u(n, 1, 1, 1) * 0.2
    x = x * bright
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    gray = x.mean(dim=1, keepdim=True)
    x = (x - gray) * sat + gray
    if degrade_p > 0:
        x = degrade(x, gen, degrade_p, rgb)
    return x.clamp_(0, 255)


def to_input(faces: np.ndarray, spec: PreprocessSpec, gen: torch.Generator | None,
             jitter: dict[str, list[float]] | None = None, degrade_p: float = 0.0,
             edge_p: float = 0.0) -> torch.Tensor:
    """uint8 NHWC crops -> NCHW float tensor in channels-last memory (optionally augmented): normalised,
    or the pixel values for graphs that normalise inside (``spec.input_pixels``, export)."""
    x = torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).float()
    if gen is not None:
        x = augment(x, gen, jitter, degrade_p, spec.color_order == "RGB", edge_p)
    if not spec.input_pixels:
        x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    return x.contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict_array(model: torch.nn.Module, faces: np.ndarray, spec: PreprocessSpec, batch: int = 128) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = [model(to_input(faces[i : i + batch], spec, None).to(device)).float().reshape(-1).cpu()
           for i in range(0, len(faces), batch)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, faces: np.ndarray, spec: PreprocessSpec, batch: int = 128) -> bool:
    """Replace every BatchNorm's running statistics by their plain average over ``faces`` (un-augmented).

    Why: the running statistics are a momentum-0.1 average over the last augmented batches, so they
    describe colour-jittered, rotated faces and drift from epoch to epoch -- the val MAE of
    ``mobilenetv2_age`` (DLDL) swung between 5.20 and 5.43 over its last epochs at a learning rate
    near zero. Recomputed on 4096 clean train faces ("precise BN"), the same weights scored test MAE
    5.01 instead of 5.12. Training is unaffected (it normalises with batch statistics); only the
    statistics used at inference change. Returns whether the model has any BatchNorm.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or len(faces) == 0:
        return False
    momenta = [m.momentum for m in bns]
    was_training = model.training
    model.eval()  # dropout and the rest in inference mode; only BatchNorm collects statistics
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    device = next(model.parameters()).device
    for i in range(0, len(faces), batch):
        model(to_input(faces[i : i + batch], spec, None).to(device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return True
