"""Collect the committed result tables from what the runs wrote -- no figure is typed by hand.

    python benchmarks/collect.py training RUN_DIR|EVAL.json ...  -> benchmarks/training.{md,json} (rows merged)
    python benchmarks/collect.py export CARD.json [CARD.json ...]  -> benchmarks/export.{md,json}
    python benchmarks/collect.py photo DIR [DIR ...]  -> stdout: a photo-path table per folder of photo_path.sh's files
    python benchmarks/collect.py speedup BENCH.json [BENCH.json ...]  -> stdout: the speed-ups of each bench run

A training run folder holds summary.json, metrics.csv, train_command.txt and test_metrics.json
(from ``edge-age eval --json``); the export card holds sizes and parity. A run whose folder is gone
is collected from ``edge-age eval --json`` of its exported fp32 file and the card beside it.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from edge_age import fileio

HERE = Path(__file__).parent


def _test_columns(test: dict | None) -> dict:
    m = test["metrics"] if test else {}
    return {"test_mae": round(m["mae"], 3) if test else None, "test_rmse": round(m["rmse"], 3) if test else None,
            "test_cs5": round(m["cs5"], 3) if test else None, "test_n": m.get("n"),
            "eval_command": test.get("command", "") if test else "",
            "mae_per_band": m.get("mae_per_band"), "gates": m.get("gates")}


def _run_row(run: Path) -> dict:
    """A row from a training run folder: its history, summary and ``edge-age eval --json`` of best.pt."""
    s = json.loads((run / "summary.json").read_text())
    hist = list(csv.DictReader(open(run / "metrics.csv")))
    test = json.loads((run / "test_metrics.json").read_text()) if (run / "test_metrics.json").exists() else None
    # One line per start: the first run, then each --resume (as checkpoints keep them, joined by " ; ").
    cmd = (" ; ".join((run / "train_command.txt").read_text().split("\n")).strip(" ;")
           if (run / "train_command.txt").exists() else "")
    return {"run": run.name, "epochs_run": len(hist), "best_epoch": s["best_epoch"],
            "best_val_mae": round(s["best_val_mae"], 3),
            "train_img_per_s": round(sum(float(h["img_per_s"]) for h in hist) / len(hist), 1),
            "train_hours": round(sum(float(h["seconds"]) for h in hist) / 3600, 2),
            "precision": s["precision"], "train_command": cmd, **_test_columns(test)}


def _eval_row(eval_json: Path) -> dict:
    """A row from ``edge-age eval --json`` of an exported fp32 file, for a run whose folder is gone.

    Run folders are scratch space (not committed); the model card beside the file still records the
    checkpoint's epoch and val MAE. Throughput and hours are not recorded there, so they stay empty.
    """
    test = json.loads(eval_json.read_text())
    model = Path(test["model"])
    card = json.loads((model.parent / f"{model.parent.name}.json").read_text())
    ck = card["checkpoint"]
    return {"run": Path(ck["file"]).parent.name, "epochs_run": None, "best_epoch": ck["epoch"],
            "best_val_mae": round(ck["val_mae"], 3), "train_img_per_s": None, "train_hours": None,
            "precision": None, "train_command": " ; ".join(ck.get("train_command", [])),
            **_test_columns(test)}


def training(sources: list[Path]) -> None:
    """Update benchmarks/training.*: a row per run folder (or eval JSON of an exported file).

    Rows already in training.json for runs not named here are kept, so a table built over many
    sessions survives the loss of old run folders.
    """
    old = json.loads((HERE / "training.json").read_text()) if (HERE / "training.json").exists() else []
    new = [_eval_row(p) if p.suffix == ".json" else _run_row(p) for p in sources]
    by_run = {r["run"]: r for r in old} | {r["run"]: r for r in new}
    rows = list(by_run.values())
    fileio.write_json(HERE / "training.json", rows)
    lines = ["| run | epochs | best epoch | val MAE | test MAE | test RMSE | CS@5 | train img/s | hours | precision |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    cols = ("run", "epochs_run", "best_epoch", "best_val_mae", "test_mae", "test_rmse", "test_cs5",
            "train_img_per_s", "train_hours", "precision")
    lines += ["| " + " | ".join("-" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", "Commands:", ""] + [
        f"- {r['run']}: `{r['train_command']}` then `{r['eval_command']}`" if r["train_command"] else
        f"- {r['run']}: run folder not kept (epoch and val MAE from its export card); test: `{r['eval_command']}`"
        for r in rows]
    bands = [r for r in rows if r.get("mae_per_band")]
    if bands:
        names = list(bands[0]["mae_per_band"])
        lines += ["", "Test MAE per age band, and the age gates (flagged = predicted age below the gate):", "",
                  "| run | " + " | ".join(names) + " | <18 TPR | <18 FPR | <25 TPR | <25 FPR |",
                  "|---|" + "---:|" * (len(names) + 4)]
        for r in bands:
            g = r["gates"]
            lines.append(f"| {r['run']} | " + " | ".join(f"{r['mae_per_band'][n]['mae']:.2f}" for n in names) + " | "
                         + " | ".join(f"{g[k][m]:.3f}" for k in ("under_18", "under_25") for m in ("tpr", "fpr")) + " |")
    fileio.write_text(HERE / "training.md", "\n".join(lines) + "\n")


def _export_rows(card: dict) -> list[dict]:
    ranges = (card.get("calibration") or {}).get("ranges", {})  # how each int8 file's ranges were set (or QAT)
    return [{"model": card["name"], "file": e["file"], "mb": round(e["bytes"] / 1e6, 2),
             "val_mae": round(e["parity"]["mae"], 3), "torch_val_mae": round(e["parity"]["torch_mae"], 3),
             "max_abs_diff": round(e["parity"]["max_abs_diff"], 3), "mean_abs_diff": round(e["parity"]["mean_abs_diff"], 4),
             "mae_ratio_vs_fp32": round(e["parity"].get("mae_ratio_vs_fp32", 1.0), 4),
             "int8_ranges": ranges.get(fmt, "-")} for fmt, e in card["files"].items()]


def export(card_files: list[Path]) -> None:
    cards = [json.loads(f.read_text()) for f in card_files]
    fileio.write_json(HERE / "export.json", [{"model": c["name"], "command": c["command"], "parity_on": c["parity_on"],
                                              "rows": _export_rows(c)} for c in cards])
    lines: list[str] = []
    for card in cards:
        lines += [f"### {card['name']}", "",
                  f"Parity on the {card['parity_on']['split']} split ({card['parity_on']['n']} faces) against the "
                  f"PyTorch checkpoint (val MAE {card['checkpoint']['val_mae']:.3f}); calibration: "
                  f"{card['calibration']['n'] if card['calibration'] else '-'} faces.", "",
                  f"Command: `{card['command']}`", "",
                  "| file | MB | val MAE | max abs diff vs torch | mean abs diff | MAE / fp32 MAE | int8 ranges |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in _export_rows(card):
            lines.append(f"| {r['file']} | {r['mb']} | {r['val_mae']} | {r['max_abs_diff']} | {r['mean_abs_diff']} | "
                         f"{r['mae_ratio_vs_fp32']} | {r['int8_ranges']} |")
        lines.append("")
    fileio.write_text(HERE / "export.md", "\n".join(lines))


def photo(folders: list[Path]) -> None:
    """One section per folder: aligned chips vs the photo path (chips and scenes through detection)."""
    for folder in folders:
        _photo_section(folder)


def _photo_section(folder: Path) -> None:
    """Aligned chips vs the photo path (chips and scenes through detection), and the targets' deltas."""
    rows = []
    aligned = json.loads((folder / "aligned.json").read_text())["metrics"]
    for key, what in (("aligned", "UTKFace test chips, aligned (no detection)"),
                      ("chips_detect", "the same chips with `--detect-faces`"),
                      ("wild", "faces in context (`edge-age data wild`, test split) with `--detect-faces`")):
        r = json.loads((folder / f"{key}.json").read_text())
        m, n_all = r["metrics"], r["metrics"]["n"] + r["skipped"]
        g = m["gates"]["under_18"]
        rows.append(f"| {what} | {m['n']}/{n_all} ({m['n'] / n_all:.1%}) | {m['mae']:.3f} | {m['mae'] - aligned['mae']:+.3f} "
                    f"| {m['bias']:+.2f} | {g['tpr']:.3f} / {g['fpr']:.3f} |")
    bench = json.loads((folder / "bench.json").read_text())
    cost = [f"- photo path before the model (detect + frame + crop + resize, 640x480, {t} thread): p50 {p['p50_ms']:.0f} ms, "
            f"p90 {p['p90_ms']:.0f} ms; {p['no_face_p50_ms']:.0f} ms for a photo without a face; "
            f"CPU: {bench['machine']['cpu']}" for t, p in bench["photo_path"].items()]
    wild = json.loads((folder / "wild.json").read_text())
    model = f"`{wild['model']}`" + (", each estimate averaged with the mirror image's (`--flip-average`)"
                                   if wild.get("flip_average") else "")
    print("\n".join([f"### `{folder}`", "", f"Model: {model}", "",
                     "| input | faces scored | MAE | vs aligned | bias | under-18 TPR / FPR |",
                     "|---|---:|---:|---:|---:|---:|", *rows, "", *cost, ""]))


def _fastest(rows: list[dict], model: str, int8: bool) -> dict | None:
    mine = [r for r in rows if r["model"] == model and bool(r["int8"]) == int8 and r["threads"] == 1]
    return min(mine, key=lambda r: r["p50_ms"]) if mine else None


def speedup(bench_files: list[Path]) -> None:
    """Per bench run (1 thread): the fastest int8 file of each of our models against the fastest fp32 file of
    each ResNet (best runtime against best runtime), and the same-runtime ratios the bench itself writes."""
    lines = ["| run | compact int8 ms | x R50 (best/best) | x R50 same runtime | SimpleCNN int8 ms | x R50 (best/best) "
             "| x R50 same runtime | R50 fp32 ms | x R18 (compact, best/best) |", "|---|" + "---:|" * 8]
    for f in bench_files:
        rows = json.loads(f.read_text())["rows"]
        r50, r18 = _fastest(rows, "resnet50", False), _fastest(rows, "resnet18", False)
        cells = []
        for model in ("mobilenetv2_age", "simplecnn"):
            best = _fastest(rows, model, True)
            same = max(r["speedup_vs_resnet50"] for r in rows if r["model"] == model and r["int8"] and r["threads"] == 1)
            cells += [f"{best['p50_ms']:.3f}", f"{r50['p50_ms'] / best['p50_ms']:.1f}", f"{same:.1f}"]
        compact = _fastest(rows, "mobilenetv2_age", True)
        lines.append(f"| `{f}` | " + " | ".join(cells) + f" | {r50['p50_ms']:.2f} | {r18['p50_ms'] / compact['p50_ms']:.1f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    what, *paths = sys.argv[1:]
    {"training": lambda: training([Path(p) for p in paths]), "export": lambda: export([Path(p) for p in paths]),
     "photo": lambda: photo([Path(p) for p in paths]),
     "speedup": lambda: speedup([Path(p) for p in paths])}[what]()
