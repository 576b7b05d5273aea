"""The training loop: AdamW + warm-up/cosine LR, early stopping on val MAE, resumable.

Every epoch ends with two atomic writes: ``last.pt`` (weights, optimiser, scheduler, history,
early-stopping state, the ``--ema`` average) and, when val MAE improved, ``best.pt``. An interrupted run therefore loses
at most the epoch in flight, and ``--resume`` continues from ``last.pt``. Shuffling, augmentation
and dropout are seeded per epoch from ``(run seed, epoch)`` (``TrainConfig.run_seed``: ``--init-seed``, else
``--seed``), so a resumed run replays the same batches.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from edge_age import fileio, plots
from edge_age.train import distributed
from edge_age.models.checkpoint import load_checkpoint, save_checkpoint
from edge_age.data.dataset import DataConfig, Dataset, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.train.hardware import choose_precision, tune_malloc
from edge_age.train.losses import DISTRIBUTION_LOSSES, LOSSES, DLDLLoss, balance_weights
from edge_age.models import create_model
from edge_age.models.registry import distribution_head
from edge_age.train.optim import make_optimizer
from edge_age.train.tensors import predict_array, recalibrate_bn, to_input
from edge_age.train.config import TrainConfig

__all__ = ["TrainConfig", "train", "train_step"]

def train(
    cfg: TrainConfig,
    data_cfg: DataConfig,
    spec: PreprocessSpec = PreprocessSpec(),
    resume: bool = False,
    progress: bool = True,
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
    command: str = "",
    resume_new_data: bool = False,
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``data_cfg``; write ``best.pt``, ``last.pt``, ``metrics.csv``, ``loss.png``.

    ``command`` (the CLI line) is appended to ``train_command.txt``, one line per start or resume.
    The run folder is locked for the run (a second writer is refused); a resume whose data splits
    differently from the run's is refused unless ``resume_new_data``.
    Under ``torchrun`` every process runs this function; see :mod:`edge_age.train.distributed`.
    """
    ctx = distributed.setup()
    try:
        with fileio.folder_lock(cfg.out) if ctx.is_main else contextlib.nullcontext():
            return _train(cfg, data_cfg, spec, resume, progress, cache_dir, log, command, ctx, resume_new_data)
    finally:
        ctx.close()


def _resume_state(out: Path, cfg: TrainConfig, data_cfg: DataConfig, spec: PreprocessSpec, resume: bool,
                  log: Callable[[str], None]) -> tuple[dict[str, Any] | None, TrainConfig, DataConfig, PreprocessSpec]:
    """The run's saved state, if any. The stored run defines the model, data split and preprocessing;
    only --epochs (and --threads, --data's location) may change on resume."""
    last_path = out / "last.pt"
    if not last_path.exists():
        return None, cfg, data_cfg, spec
    if not resume:
        raise EdgeAgeError("already holds a training run; pass --resume to continue it or choose another --out", out)
    state = load_checkpoint(last_path)
    # Runs saved before --degrade / --balance / --gate-loss / --ema / --edge-cut existed trained without them.
    stored = TrainConfig(**{"degrade": 0.0, "balance": 0.0, "gate_loss": 0.0, "ema": 0.0, "edge_cut": 0.0,
                            **state["train_config"]})
    cfg = replace(stored, epochs=cfg.epochs, out=cfg.out, threads=cfg.threads or stored.threads)
    stored_data = DataConfig.from_dict(state["data"])
    if len(stored_data.sources()) != len(data_cfg.sources()):
        raise EdgeAgeError(f"--resume: this run was trained on {len(stored_data.sources())} source(s), --data gives "
                           f"{len(data_cfg.sources())}", out)
    # The data's location may change (another machine); what each source is and its weight stay the run's.
    data_cfg = replace(stored_data, path=data_cfg.path,
                       also=tuple(replace(a, path=b.path) for a, b in zip(stored_data.also, data_cfg.also)))
    log(f"resuming {out} after epoch {state['epoch'] + 1}/{cfg.epochs}")
    return state, cfg, data_cfg, PreprocessSpec.from_dict(state["preprocess"])


def _setup_torch(cfg: TrainConfig, ctx: distributed.Context) -> str:
    """Threads, allocator, precision and seed; returns the precision used."""
    if cfg.loss not in LOSSES and cfg.loss not in DISTRIBUTION_LOSSES:
        raise EdgeAgeError(f"unknown loss {cfg.loss!r}; choose from {', '.join([*LOSSES, *DISTRIBUTION_LOSSES])}")
    if cfg.teacher and cfg.loss != "dldl":
        raise EdgeAgeError(f"--teacher distils the teacher's age distribution: it needs --loss dldl (and --head "
                           f"distribution), not --loss {cfg.loss}")
    if cfg.gate_loss and cfg.loss != "dldl":
        raise EdgeAgeError(f"--gate-loss prices the distribution head's mass below each gate age: it needs --loss "
                           f"dldl, not --loss {cfg.loss}")
    if cfg.progressive and cfg.progressive_epochs >= cfg.epochs:
        raise EdgeAgeError(f"--progressive-epochs {cfg.progressive_epochs} leaves no epoch at the input size "
                           f"(--epochs {cfg.epochs})")
    # Processes on one machine share its cores.
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // ctx.local_world))
    tune_malloc()
    precision = choose_precision(cfg.precision, ctx.device)
    torch.manual_seed(cfg.run_seed)
    return precision


def _load_data(data_cfg: DataConfig, spec: PreprocessSpec, cache_dir: Path | None, progress: bool,
               ctx: distributed.Context, log: Callable[[str], None]) -> Dataset:
    if not ctx.is_main:
        ctx.barrier()  # rank 0 builds the face cache first; the others then read it
    ds = load_dataset(data_cfg, spec, cache_dir=cache_dir, progress=progress)
    if ctx.is_main:
        ctx.barrier()
    _report_problems(ds, log)
    tr, va = ds.indices("train"), ds.indices("val")
    if len(tr) == 0 or len(va) == 0:
        raise EdgeAgeError(f"need faces in both train and val splits, got {len(tr)} and {len(va)}", data_cfg.path)
    if float(np.ptp(ds.faces.ages[tr])) == 0:
        log(f"warning: every training face is labelled {ds.faces.ages[tr][0]:g}: the model can only learn that "
            f"one age (check the labels or --labels)")
    return ds


def _build_model(cfg: TrainConfig, train_ages: np.ndarray, state: dict[str, Any] | None,
                 device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The registry model; its output starts at the training ages' mean and spread."""
    model_kwargs = {**cfg.model_kwargs, "age_mean": round(float(train_ages.mean()), 3),
                    "age_std": round(float(train_ages.std()), 3)}
    if state is not None:
        model_kwargs = state["model_kwargs"]
    model = create_model(cfg.model, **model_kwargs).to(device, memory_format=torch.channels_last)
    if model_kwargs.get("head", "regression") != "regression" and distribution_head(model) is None:
        raise EdgeAgeError(f"model {cfg.model!r} has no distribution head; choose another --arch for "
                           f"--head distribution")
    return model, model_kwargs


def _check_sides(cfg: TrainConfig, model: torch.nn.Module, full: int, device: torch.device) -> None:
    """--progressive needs a model that takes any input side (global pooling); SimpleCNN's FC does not."""
    if not cfg.progressive:
        return
    if cfg.progressive >= full:
        raise EdgeAgeError(f"--progressive {cfg.progressive} must be below the input size, {full} px")
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, 3, cfg.progressive, cfg.progressive, device=device))
    except RuntimeError as e:
        raise EdgeAgeError(f"--progressive {cfg.progressive}: {cfg.model} takes only {full} px inputs "
                           f"({str(e).splitlines()[0][:80]})") from e
    finally:
        model.train()


def _average(cfg: TrainConfig, model: torch.nn.Module) -> AveragedModel | None:
    """The weight average that validation and best.pt use (``--ema``), or None when off. BatchNorm
    statistics are averaged with the weights (statistics of the trained weights would not describe the
    averaged ones' activations) unless ``--bn-recalib`` recomputes them each epoch. BatchNorm's integer
    step counters are averaged too and so lag; nothing reads them while a momentum is set."""
    if not cfg.ema:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)


def _restore(state: dict[str, Any] | None, model: torch.nn.Module, opt: Any, sched: Any,
             ema: AveragedModel | None = None
             ) -> tuple[list[dict[str, float]], int, float, int]:
    """History, first epoch, best val MAE and its epoch: from the saved state, or a fresh start."""
    if state is None:
        return [], 0, float("inf"), -1
    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    return state["history"], state["epoch"] + 1, state["best_mae"], state["best_epoch"]


def _wrap(model: torch.nn.Module, ctx: distributed.Context) -> torch.nn.Module:
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def _validate(run: "Epochs") -> dict[str, float]:
    """``val_mae`` over the whole val split (what picks best.pt) and, with several sources, each source's
    (``val_mae_<label>``)."""
    mine = run.va[run.ctx.rows(len(run.va))]  # each process scores its share of val; the sums are combined
    err = np.abs(predict_array(run.scored, run.faces[mine], run.spec) - run.ages[mine])
    groups = [np.ones(len(mine), bool)]
    if run.source is not None:
        groups += [run.source[mine] == k for k in range(len(run.source_labels))]
    sums = run.ctx.all_sum([v for g in groups for v in (float(err[g].sum()), float(g.sum()))])
    maes = [sums[2 * k] / sums[2 * k + 1] if sums[2 * k + 1] else float("nan") for k in range(len(groups))]
    return {"val_mae": maes[0], **{f"val_mae_{lab}": m for lab, m in zip(run.source_labels, maes[1:])}}


def epoch_rows(tr: np.ndarray, seed: int, epoch: int, source: np.ndarray | None = None,
               weights: tuple[float, ...] = ()) -> np.ndarray:
    """The training rows of one epoch in the order drawn. One source: each row once. Several: each source's
    rows ``weight`` times (the fraction a new random subset every epoch), shuffled together, so a source's
    share of the updates is its weight times its size."""
    rng = np.random.default_rng([seed, epoch])
    if source is None:
        return rng.permutation(tr)
    parts = []
    for k, w in enumerate(weights):
        rows = tr[source[tr] == k]
        whole, frac = divmod(float(w), 1.0)
        parts += [rows] * int(whole)
        parts.append(rng.choice(rows, int(round(frac * len(rows))), replace=False))
    return rng.permutation(np.concatenate(parts))


def _save_epoch(out: Path, payload: dict[str, Any], model: torch.nn.Module, opt: Any, sched: Any, epoch: int,
                history: list[dict[str, float]], best: tuple[float, int], improved: bool,
                ema: AveragedModel | None = None) -> None:
    """best.pt (the validated weights: the average with --ema) when val improved, then last.pt (the
    trained weights, and the average), metrics.csv and loss.png: each an atomic write."""
    if improved:
        scored = model if ema is None else ema.module
        save_checkpoint(out / "best.pt", {**payload, "state_dict": scored.state_dict(), "epoch": epoch,
                                          "metrics": history[-1]})
    save_checkpoint(out / "last.pt", {
        **payload, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "epoch": epoch, "history": history,
        "best_mae": best[0], "best_epoch": best[1], **({} if ema is None else {"ema": ema.state_dict()}),
    })
    fileio.write_csv(out / "metrics.csv", history)
    plots.loss_curves(history, out / "loss.png")


@dataclass
class Epochs:
    """Everything an epoch needs, built once per run (``_start``): the model as trained (``net``, wrapped
    for DDP), the one scored (``scored``: the weight average with --ema), the optimiser, the faces and
    their split, and the per-face extras (teacher distributions, balance weights)."""
    cfg: TrainConfig
    spec: PreprocessSpec
    ctx: distributed.Context
    model: torch.nn.Module
    net: torch.nn.Module
    scored: torch.nn.Module
    ema: AveragedModel | None
    opt: Any
    sched: Any
    loss_fn: Any
    steps: int
    precision: str
    faces: np.ndarray
    ages: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    bn_faces: np.ndarray
    progress: bool = True
    soft: np.ndarray | None = None
    weights: np.ndarray | None = None
    # Several sources: each row's source number, the sources' labels and their draw weights.
    source: np.ndarray | None = None
    source_labels: tuple[str, ...] = ()
    source_weights: tuple[float, ...] = ()

    def epoch_order(self, epoch: int) -> np.ndarray:
        return epoch_rows(self.tr, self.cfg.run_seed, epoch, self.source, self.source_weights)

    def after_step(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)


def _record_command(out: Path, command: str, ctx: distributed.Context) -> None:
    if command and ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "train_command.txt", "a") as f:
            f.write(command + "\n")


def _check_resume_data(state: dict[str, Any] | None, ds: Dataset, data_cfg: DataConfig, out: Path,
                       resume_new_data: bool) -> None:
    if state is not None and not resume_new_data and state.get("split_counts") not in (None, ds.counts()):
        raise EdgeAgeError(f"--resume: {data_cfg.path} splits into {ds.counts()}, but this run was trained on "
                           f"{state['split_counts']}: other data. Choose another --out, or pass --resume-new-data "
                           f"to continue on it on purpose (best.pt will then be scored on the new val split)", out)


def _start(cfg: TrainConfig, spec: PreprocessSpec, ds: Dataset, state: dict[str, Any] | None, precision: str,
           ctx: distributed.Context, progress: bool) -> tuple[Epochs, dict[str, Any]]:
    """The model and its builder's arguments, its optimiser and loss, and the faces in RAM (``net`` is
    wrapped for DDP once a resume has restored the weights)."""
    tr, va = ds.indices("train"), ds.indices("val")
    faces, ages = np.asarray(ds.faces.faces), ds.faces.ages  # into RAM: 23.7k faces are 1.2 GB
    model, model_kwargs = _build_model(cfg, ages[tr], state, ctx.device)
    _check_sides(cfg, model, faces.shape[1], ctx.device)
    weights = tuple(s.weight for s in ds.config.sources()) if ds.source is not None else ()
    drawn = len(epoch_rows(tr, cfg.run_seed, 0, ds.source, weights))  # the same count every epoch
    opt, sched, steps = make_optimizer(cfg, model, drawn)
    loss_fn = (DLDLLoss(model, teacher_weight=cfg.teacher_weight, gate_weight=cfg.gate_loss,
                        gate_ages=tuple(cfg.gate_ages)) if cfg.loss == "dldl" else LOSSES[cfg.loss])
    ema = _average(cfg, model)
    return Epochs(cfg=cfg, spec=spec, ctx=ctx, model=model, net=model,
                  scored=model if ema is None else ema.module,  # what validation, precise BN and best.pt see
                  ema=ema, opt=opt, sched=sched, loss_fn=loss_fn, steps=steps, precision=precision, faces=faces,
                  ages=ages, tr=tr, va=va, progress=progress,
                  bn_faces=np.sort(np.random.default_rng([cfg.run_seed, 17]).permutation(tr)[: cfg.bn_recalib]),
                  weights=balance_weights(ages[tr], cfg.balance)(ages) if cfg.balance else None,
                  source=ds.source, source_labels=ds.source_labels, source_weights=weights), model_kwargs


def _train(cfg: TrainConfig, data_cfg: DataConfig, spec: PreprocessSpec, resume: bool, progress: bool,
           cache_dir: Path | None, log: Callable[[str], None], command: str,
           ctx: distributed.Context, resume_new_data: bool = False) -> dict[str, Any]:
    if not ctx.is_main:
        log, progress = (lambda s: None), False
    out = Path(cfg.out)
    state, cfg, data_cfg, spec = _resume_state(out, cfg, data_cfg, spec, resume, log)
    precision = _setup_torch(cfg, ctx)
    _record_command(out, command, ctx)
    ds = _load_data(data_cfg, spec, cache_dir, progress, ctx, log)
    _check_resume_data(state, ds, data_cfg, out, resume_new_data)
    run, model_kwargs = _start(cfg, spec, ds, state, precision, ctx, progress)
    history, start, best_mae, best_epoch = _restore(state, run.model, run.opt, run.sched, run.ema)
    run.net = _wrap(run.model, ctx)
    payload = {"model": cfg.model, "model_kwargs": model_kwargs, "preprocess": spec.to_dict(),
               "data": data_cfg.to_dict(), "train_config": asdict(cfg), "split_counts": ds.counts(),
               "precision": precision}
    if cfg.teacher:
        run.soft, payload["teacher"] = _teacher(cfg, ds, run.tr, run.model, state, cache_dir, progress, ctx.device, log)
    baseline = float(np.abs(run.ages[run.va] - run.ages[run.tr].mean()).mean())
    log(f"{cfg.model}: {sum(p.numel() for p in run.model.parameters()):,} params | train {len(run.tr)} "
        f"val {len(run.va)} | {precision} | {ctx.device.type} x {ctx.world} process(es), "
        f"{torch.get_num_threads()} threads each | val MAE of predicting the mean: {baseline:.2f}")
    if run.source is not None:
        log("sources: " + "; ".join(
            f"{lab} train {int((run.source[run.tr] == k).sum())} val {int((run.source[run.va] == k).sum())} "
            f"weight {w:g}" for k, (lab, w) in enumerate(zip(run.source_labels, run.source_weights))))
    best = _epochs(run, start, history, (best_mae, best_epoch), payload, out, log)
    if best[1] < 0:
        raise EdgeAgeError(f"no epoch completed (--epochs {cfg.epochs}, {start} done before): no best.pt written", out)
    summary = {"out": str(out), "best_val_mae": best[0], "best_epoch": best[1] + 1, "epochs_run": len(history),
               "baseline_val_mae": baseline, "precision": precision}
    if ctx.is_main:
        fileio.write_json(out / "summary.json", summary)
    return summary


def _epochs(run: Epochs, start: int, history: list[dict[str, Any]], best: tuple[float, int],
            payload: dict[str, Any], out: Path, log: Callable[[str], None]) -> tuple[float, int]:
    """Train, validate and save epoch after epoch until --epochs or early stopping; the best (MAE, epoch)."""
    cfg, (best_mae, best_epoch) = run.cfg, best
    for epoch in range(start, cfg.epochs):
        # Epochs on downscaled batches do not count against patience: the model has not yet trained at
        # the size it is validated and deployed at.
        if epoch - max(best_epoch, cfg.progressive_epochs - 1 if cfg.progressive else -1) > cfg.patience \
                and best_epoch >= 0:
            log(f"early stop: val MAE has not improved for {cfg.patience} epochs")
            break
        if run.ema is not None and cfg.progressive and epoch == cfg.progressive_epochs:
            run.ema.n_averaged.zero_()  # average the full-size weights only: the next update restarts it
        row = _run_epoch(run, epoch)
        if run.ema is not None:
            run.ctx.share_buffers(run.ema.module)  # each process averaged its own BatchNorm statistics
        if cfg.bn_recalib:
            recalibrate_bn(run.scored, run.faces[run.bn_faces], run.spec)
        row.update(**_validate(run), lr=run.sched.get_last_lr()[0])
        history.append(row)
        improved = row["val_mae"] < best_mae
        if improved:
            best_mae, best_epoch = row["val_mae"], epoch
        if run.ctx.is_main:  # one writer; the weights (and the average) are identical in every process
            _save_epoch(out, payload, run.model, run.opt, run.sched, epoch, history, (best_mae, best_epoch),
                        improved, run.ema)
        log(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.3f}  train MAE {row['train_mae']:.2f}  "
            f"val MAE {row['val_mae']:.2f}{' *' if improved else ''}  {row['img_per_s']:.0f} img/s"
            f"{' at %d px' % row['train_side'] if 'train_side' in row else ''}  "
            f"{row['seconds']:.0f}s")
    return best_mae, best_epoch


def _teacher(cfg: TrainConfig, ds: Dataset, tr: np.ndarray, model: torch.nn.Module, state: dict[str, Any] | None,
             cache_dir: Path | None, progress: bool, device: torch.device, log: Callable[[str], None]
             ) -> tuple[np.ndarray, dict[str, Any]]:
    """The teacher's targets; a resumed run must find the very teacher it started with, or its
    later epochs would learn other targets than its first ones."""
    from edge_age.train.distill import teacher_targets

    before = (state or {}).get("teacher")
    if before and (not Path(cfg.teacher).is_file() or fileio.sha256_file(cfg.teacher) != before["sha256"]):
        raise EdgeAgeError(f"--resume: the run was distilled from a teacher with sha256 {before['sha256'][:12]}..., "
                           f"and {cfg.teacher} is missing or another file now", cfg.out)
    head = distribution_head(model)
    assert head is not None  # --loss dldl has checked it
    t0 = time.perf_counter()
    soft, info = teacher_targets(cfg.teacher, ds.config, ds.faces.names, ds.counts(), tr, head.num_bins, cache_dir,
                                 progress, device)
    mae = "?" if info["val_mae"] is None else f"{info['val_mae']:.3f}"
    log(f"teacher {info['model']} ({info['input_size']} px, val MAE {mae}): distributions for {len(tr)} train "
        f"faces in {time.perf_counter() - t0:.0f}s, weight {cfg.teacher_weight}")
    return soft, info


def train_step(model, opt, loss_fn, x: torch.Tensor, y: torch.Tensor, precision: str, weight: float = 1.0,
               soft: torch.Tensor | None = None, row_weight: torch.Tensor | None = None):
    """One optimiser step; the loop and the throughput benchmark both time exactly this.

    ``soft``: the teacher's distributions for these rows (distillation), passed to the loss.
    ``row_weight``: per-row loss weights (``--balance``); the loss is their weighted mean.
    ``weight`` scales the loss that is backpropagated (not the one returned): with the global batch
    split across processes, ``local rows * processes / global rows`` makes DDP's gradient average
    equal the one-process gradient of the whole batch even when the shares differ by a row.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        pred = model(x)
    pred = pred.float().reshape(-1)
    extra = {} if row_weight is None else {"weight": row_weight}
    loss = loss_fn(pred, y, **extra) if soft is None else loss_fn(pred, y, soft, **extra)
    opt.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        (loss * weight if weight != 1.0 else loss).backward()
        opt.step()
    return loss.detach(), pred.detach()


def _batch(run: Epochs, idx: np.ndarray, side: int, gen: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """This process's rows of one global batch: inputs (augmented with the whole batch's generator),
    ages, teacher distributions and balance weights (rescaled to mean 1 over the global batch)."""
    cfg, ctx = run.cfg, run.ctx
    x = to_input(run.faces[idx], run.spec, gen if cfg.augment else None, cfg.jitter, cfg.degrade, cfg.edge_cut)
    y = torch.from_numpy(run.ages[idx]).float()
    rows = ctx.rows(len(idx))
    x, y = x[rows].to(ctx.device), y[rows].to(ctx.device)
    if side != x.shape[-1]:  # progressive resizing: fewer pixels, same faces
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    t = None if run.soft is None else torch.from_numpy(run.soft[idx][rows]).to(ctx.device)
    w = None
    if run.weights is not None:
        w = torch.from_numpy(run.weights[idx] / run.weights[idx].mean())[rows].to(ctx.device)
    return x, y, t, w


def _run_epoch(run: Epochs, epoch: int) -> dict[str, Any]:
    """One epoch. Every process draws the same order and augments the whole global batch with the same
    generator, then trains on its own rows: the inputs are exactly those of a one-process run.
    Balance weights (``--balance``) are rescaled to mean 1 over each global batch: a batch that happens to
    draw many rare faces then takes a step of the usual size rather than one many times larger. The
    rescale uses the whole global batch, so every process divides by the same number and the processes'
    gradients still add up to the one-process one. The --ema average is updated after every step."""
    from tqdm import tqdm

    cfg, ctx = run.cfg, run.ctx
    run.net.train()
    gen = torch.Generator().manual_seed(cfg.run_seed * 100_003 + epoch)
    torch.manual_seed(cfg.run_seed * 100_019 + epoch)  # dropout
    order = run.epoch_order(epoch)
    side = trained_side = cfg.input_side(epoch, run.faces.shape[1])
    total_loss = total_abs = seen = 0.0
    t0 = time.perf_counter()
    bar = tqdm(range(run.steps), desc=f"epoch {epoch + 1}", leave=False, disable=not run.progress, dynamic_ncols=True)
    for step in bar:
        idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
        if len(idx) < ctx.world:
            continue  # a last batch too small to give every process a row: skipped by all of them
        x, y, t, w = _batch(run, idx, side, gen)
        trained_side = x.shape[-1]
        loss, pred = train_step(run.net, run.opt, run.loss_fn, x, y, run.precision,
                                weight=len(y) * ctx.world / len(idx), soft=t, row_weight=w)
        if not torch.isfinite(loss):
            raise EdgeAgeError(f"training diverged at epoch {epoch + 1} step {step} (loss {loss.item()}); lower --lr")
        run.sched.step()
        run.after_step()
        total_loss += loss.item() * len(y)
        total_abs += (pred.detach() - y).abs().sum().item()
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.2f}")
    total_loss, total_abs, seen = ctx.all_sum([total_loss, total_abs, seen])
    dt = time.perf_counter() - t0
    row = {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_mae": total_abs / seen,
           "images": int(seen), "img_per_s": seen / dt, "seconds": dt}
    return {**row, "train_side": trained_side} if cfg.progressive else row


def _report_problems(ds: Dataset, log: Callable[[str], None]) -> None:
    problems = ds.problems
    if problems:
        log(f"skipped {len(problems)} item(s) with problems:")
        for p in problems[:10]:
            log(f"  {p}")
        if len(problems) > 10:
            log(f"  ... and {len(problems) - 10} more (see `edge-age data report`)")
