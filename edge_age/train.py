"""The training loop: AdamW + warm-up/cosine LR, early stopping on val MAE, resumable.

Every epoch ends with two atomic writes: ``last.pt`` (weights, optimiser, scheduler, history,
early-stopping state) and, when val MAE improved, ``best.pt``. An interrupted run therefore loses
at most the epoch in flight, and ``--resume`` continues from ``last.pt``. Shuffling, augmentation
and dropout are seeded per epoch from ``(seed, epoch)``, so a resumed run replays the same batches.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from edge_age import distributed, fileio, plots
from edge_age.checkpoint import load_checkpoint, save_checkpoint
from edge_age.data.dataset import DataConfig, Dataset, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.models import create_model
from edge_age.models.registry import distribution_head

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "smoothl1": lambda p, y: F.smooth_l1_loss(p, y, beta=2.0),
}
DISTRIBUTION_LOSSES = ("dldl",)


class DLDLLoss:
    """Label-distribution loss (DLDL-v2, Gao et al. 2018): KL to a Gaussian around the true age + L1.

    The age is spread over neighbouring one-year bins (sigma 2 years), so the network learns that
    37 and 38 look alike instead of fitting one exact number; the L1 term on the softmax expectation
    aligns the training target with the reported age. The logits come from a forward hook on the
    model's :class:`AgeExpectation`, so the model's forward stays ``faces -> ages``.
    """

    def __init__(self, model: torch.nn.Module, sigma: float = 2.0) -> None:
        head = distribution_head(model)
        if head is None:
            raise EdgeAgeError("--loss dldl needs a model with a distribution head (e.g. --model mobilenetv2_age "
                               "--head distribution)")
        self.bins, self.sigma = head.bins, sigma
        self.logits: torch.Tensor | None = None
        head.register_forward_hook(self._keep_logits)

    def _keep_logits(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.logits = inputs[0]

    def __call__(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert self.logits is not None, "forward pass must run before the loss"
        q = torch.exp(-0.5 * ((self.bins[None, :] - y[:, None]) / self.sigma) ** 2)
        q = q / q.sum(dim=1, keepdim=True)
        kl = -(q * torch.log_softmax(self.logits.float(), dim=1)).sum(dim=1).mean()
        return kl + F.l1_loss(pred, y)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "simplecnn"
    out: str = "runs/simplecnn"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    loss: str = "l1"
    patience: int = 8
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32
    threads: int = 0  # 0: all cores
    augment: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    max_steps: int = 0  # stop each epoch after this many steps (0: full epochs); for smoke tests
    bn_recalib: int = 0  # recompute BatchNorm statistics on this many clean train faces per epoch (0: off)
    # Framing error to train through (edge_age.data.framing_fit.Jitter as a dict; None: the mild default
    # affine alone): half of each batch is cropped with a scale, shift and turn drawn from these ranges.
    jitter: dict[str, list[float]] | None = None


def choose_precision(requested: str, device: torch.device) -> str:
    """bf16 autocast only where the hardware runs it natively; otherwise it is slower than fp32.

    Measured here (2-core Xeon without AVX512-BF16/AMX exposed): SimpleCNN trains at 52 img/s in
    fp32 and 28 img/s under bf16 autocast, so ``auto`` must not assume bf16 helps.
    """
    if requested in ("bf16", "fp32"):
        return requested
    if requested != "auto":
        raise EdgeAgeError(f"unknown precision {requested!r}; choose auto, bf16 or fp32")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return "bf16" if native else "fp32"


def tune_malloc() -> bool:
    """Stop glibc from returning activation buffers to the OS after every step (Linux only).

    By default glibc serves the >32 MB activation tensors with mmap and unmaps them on free, so
    every step page-faults ~1 GB back in: measured here, 30% of CPU time went to the kernel and a
    SimpleCNN step ran at 25 img/s; with these limits raised, 0% kernel time and 40 img/s.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return all(
            libc.mallopt(opt, val) == 1
            for opt, val in ((m_mmap_threshold, 2**31 - 1), (m_trim_threshold, 2**30), (m_top_pad, 2**28))
        )
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False


def augment(x: torch.Tensor, gen: torch.Generator, jitter: dict[str, list[float]] | None = None) -> torch.Tensor:
    """Batched augmentation on 0-255 float NCHW: flip, small affine, colour jitter.

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
    bright = 1 + u(n, 1, 1, 1) * 0.2
    contrast = 1 + u(n, 1, 1, 1) * 0.2
    sat = 1 + u(n, 1, 1, 1) * 0.2
    x = x * bright
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    gray = x.mean(dim=1, keepdim=True)
    x = (x - gray) * sat + gray
    return x.clamp_(0, 255)


def to_input(faces: np.ndarray, spec: PreprocessSpec, gen: torch.Generator | None,
             jitter: dict[str, list[float]] | None = None) -> torch.Tensor:
    """uint8 NHWC crops -> normalised NCHW float tensor in channels-last memory (optionally augmented)."""
    x = torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).float()
    if gen is not None:
        x = augment(x, gen, jitter)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict_array(model: torch.nn.Module, faces: np.ndarray, spec: PreprocessSpec, batch: int = 128) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = [model(to_input(faces[i : i + batch], spec, None).to(device)).float().reshape(-1).cpu()
           for i in range(0, len(faces), batch)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def _lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    total = max(warm + 1, cfg.epochs * steps_per_epoch)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))

    return f


def train(
    cfg: TrainConfig,
    data_cfg: DataConfig,
    spec: PreprocessSpec = PreprocessSpec(),
    resume: bool = False,
    progress: bool = True,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
    command: str = "",
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``data_cfg``; write ``best.pt``, ``last.pt``, ``metrics.csv``, ``loss.png``.

    ``command`` (the CLI line) is appended to ``train_command.txt``, one line per start or resume.
    Under ``torchrun`` every process runs this function; see :mod:`edge_age.distributed`.
    """
    ctx = distributed.setup()
    try:
        return _train(cfg, data_cfg, spec, resume, progress, cache_dir, log, command, ctx)
    finally:
        ctx.close()


def _train(cfg: TrainConfig, data_cfg: DataConfig, spec: PreprocessSpec, resume: bool, progress: bool,
           cache_dir: Path | None, log: Callable[[str], None], command: str,
           ctx: distributed.Context) -> dict[str, Any]:
    if not ctx.is_main:
        log, progress = (lambda s: None), False
    out = Path(cfg.out)
    last_path = out / "last.pt"
    state: dict[str, Any] | None = None
    if last_path.exists():
        if not resume:
            raise EdgeAgeError("already holds a training run; pass --resume to continue it or choose another --out", out)
        state = load_checkpoint(last_path)
        stored = TrainConfig(**state["train_config"])
        # The stored run defines the model, data split and preprocessing; only --epochs may grow.
        cfg = replace(stored, epochs=cfg.epochs, out=cfg.out, threads=cfg.threads or stored.threads)
        stored_data = DataConfig.from_dict(state["data"])
        data_cfg = replace(stored_data, path=data_cfg.path)
        spec = PreprocessSpec.from_dict(state["preprocess"])
        log(f"resuming {out} after epoch {state['epoch'] + 1}/{cfg.epochs}")
    if cfg.loss not in LOSSES and cfg.loss not in DISTRIBUTION_LOSSES:
        raise EdgeAgeError(f"unknown loss {cfg.loss!r}; choose from {', '.join([*LOSSES, *DISTRIBUTION_LOSSES])}")

    # Processes on one machine share its cores.
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // ctx.local_world))
    tune_malloc()
    device = ctx.device
    precision = choose_precision(cfg.precision, device)
    torch.manual_seed(cfg.seed)

    if command and ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "train_command.txt", "a") as f:
            f.write(command + "\n")
    if not ctx.is_main:
        ctx.barrier()  # rank 0 builds the face cache first; the others then read it
    ds = load_dataset(data_cfg, spec, cache_dir=cache_dir, progress=progress)
    if ctx.is_main:
        ctx.barrier()
    _report_problems(ds, log)
    tr, va = ds.indices("train"), ds.indices("val")
    if len(tr) == 0 or len(va) == 0:
        raise EdgeAgeError(f"need faces in both train and val splits, got {len(tr)} and {len(va)}", data_cfg.path)
    faces = np.asarray(ds.faces.faces)  # into RAM: 23.7k faces are 1.2 GB
    ages = ds.faces.ages
    age_mean = float(ages[tr].mean())
    model_kwargs = {**cfg.model_kwargs, "age_mean": round(age_mean, 3), "age_std": round(float(ages[tr].std()), 3)}
    if state is not None:
        model_kwargs = state["model_kwargs"]
    model = create_model(cfg.model, **model_kwargs).to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(tr) / cfg.batch_size)
    if cfg.max_steps:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps_per_epoch))
    if model_kwargs.get("head", "regression") != "regression" and distribution_head(model) is None:
        raise EdgeAgeError(f"model {cfg.model!r} has no distribution head; --head distribution needs mobilenetv2_age")
    loss_fn = DLDLLoss(model) if cfg.loss == "dldl" else LOSSES[cfg.loss]

    history: list[dict[str, float]] = []
    start, best_mae, best_epoch = 0, float("inf"), -1
    if state is not None:
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = state["history"]
        start, best_mae, best_epoch = state["epoch"] + 1, state["best_mae"], state["best_epoch"]
    net: torch.nn.Module = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    base_payload = {
        "model": cfg.model,
        "model_kwargs": model_kwargs,
        "preprocess": spec.to_dict(),
        "data": data_cfg.to_dict(),
        "train_config": asdict(cfg),
        "split_counts": ds.counts(),
        "precision": precision,
    }
    baseline = float(np.abs(ages[va] - age_mean).mean())
    bn_faces = np.sort(np.random.default_rng([cfg.seed, 17]).permutation(tr)[: cfg.bn_recalib])
    log(
        f"{cfg.model}: {sum(p.numel() for p in model.parameters()):,} params | train {len(tr)} val {len(va)} "
        f"| {precision} | {device.type} x {ctx.world} process(es), {torch.get_num_threads()} threads each "
        f"| val MAE of predicting the mean: {baseline:.2f}"
    )
    for epoch in range(start, cfg.epochs):
        if epoch - best_epoch > cfg.patience and best_epoch >= 0:
            log(f"early stop: val MAE has not improved for {cfg.patience} epochs")
            break
        row = _run_epoch(net, opt, sched, loss_fn, faces, ages, tr, spec, cfg, epoch, precision, steps_per_epoch,
                         progress, ctx)
        if cfg.bn_recalib:
            recalibrate_bn(model, faces[bn_faces], spec)
        mine = va[ctx.rows(len(va))]  # each process scores its share of val; the sums are combined
        err_sum, n_val = ctx.all_sum([float(np.abs(predict_array(model, faces[mine], spec) - ages[mine]).sum()),
                                      float(len(mine))])
        row["val_mae"] = err_sum / n_val
        row["lr"] = sched.get_last_lr()[0]
        history.append(row)
        improved = row["val_mae"] < best_mae
        if improved:
            best_mae, best_epoch = row["val_mae"], epoch
        if ctx.is_main:  # one writer; the weights are identical in every process
            if improved:
                save_checkpoint(out / "best.pt", {**base_payload, "state_dict": model.state_dict(), "epoch": epoch,
                                                  "metrics": row})
            save_checkpoint(last_path, {
                **base_payload, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "epoch": epoch, "history": history,
                "best_mae": best_mae, "best_epoch": best_epoch,
            })
            fileio.write_csv(out / "metrics.csv", history)
            plots.loss_curves(history, out / "loss.png")
        log(
            f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.3f}  train MAE {row['train_mae']:.2f}  "
            f"val MAE {row['val_mae']:.2f}{' *' if improved else ''}  {row['img_per_s']:.0f} img/s  {row['seconds']:.0f}s"
        )
    summary = {
        "out": str(out), "best_val_mae": best_mae, "best_epoch": best_epoch + 1, "epochs_run": len(history),
        "baseline_val_mae": baseline, "precision": precision,
    }
    if ctx.is_main:
        fileio.write_json(out / "summary.json", summary)
    return summary


def train_step(model, opt, loss_fn, x: torch.Tensor, y: torch.Tensor, precision: str, weight: float = 1.0):
    """One optimiser step; the loop and the throughput benchmark both time exactly this.

    ``weight`` scales the loss that is backpropagated (not the one returned): with the global batch
    split across processes, ``local rows * processes / global rows`` makes DDP's gradient average
    equal the one-process gradient of the whole batch even when the shares differ by a row.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        pred = model(x)
    pred = pred.float().reshape(-1)
    loss = loss_fn(pred, y)
    opt.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        (loss * weight if weight != 1.0 else loss).backward()
        opt.step()
    return loss.detach(), pred.detach()


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


def _run_epoch(model, opt, sched, loss_fn, faces, ages, tr, spec, cfg, epoch, precision, steps, progress,
               ctx: distributed.Context = distributed.Context()):
    """One epoch. Every process draws the same order and augments the whole global batch with the same
    generator, then trains on its own rows: the inputs are exactly those of a one-process run."""
    from tqdm import tqdm

    model.train()
    rng = np.random.default_rng([cfg.seed, epoch])
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    torch.manual_seed(cfg.seed * 100_019 + epoch)  # dropout
    order = rng.permutation(tr)
    total_loss = total_abs = seen = 0.0
    t0 = time.perf_counter()
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}", leave=False, disable=not progress, dynamic_ncols=True)
    for step in bar:
        idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
        if len(idx) < ctx.world:
            continue  # a last batch too small to give every process a row: skipped by all of them
        x = to_input(faces[idx], spec, gen if cfg.augment else None, cfg.jitter)
        y = torch.from_numpy(ages[idx]).float()
        rows = ctx.rows(len(idx))
        x, y = x[rows].to(ctx.device), y[rows].to(ctx.device)
        loss, pred = train_step(model, opt, loss_fn, x, y, precision, weight=len(y) * ctx.world / len(idx))
        if not torch.isfinite(loss):
            raise EdgeAgeError(f"training diverged at epoch {epoch + 1} step {step} (loss {loss.item()}); lower --lr")
        sched.step()
        total_loss += loss.item() * len(y)
        total_abs += (pred.detach() - y).abs().sum().item()
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.2f}")
    total_loss, total_abs, seen = ctx.all_sum([total_loss, total_abs, seen])
    dt = time.perf_counter() - t0
    return {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_mae": total_abs / seen,
            "images": int(seen), "img_per_s": seen / dt, "seconds": dt}


def _report_problems(ds: Dataset, log: Callable[[str], None]) -> None:
    problems = ds.problems
    if problems:
        log(f"skipped {len(problems)} item(s) with problems:")
        for p in problems[:10]:
            log(f"  {p}")
        if len(problems) > 10:
            log(f"  ... and {len(problems) - 10} more (see `edge-age data report`)")
