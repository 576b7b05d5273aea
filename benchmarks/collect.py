"""Collect the committed result tables from what the runs wrote -- no figure is typed by hand.

    python benchmarks/collect.py training [RUN_DIR|EVAL.json ...]
        -> lab/training_history.{md,json} (every run, rows merged) and benchmarks/training.{md,json}
           (the shipped models' rows only, each with the recipe it was trained with: SHIPPED below)
    python benchmarks/collect.py export CARD.json [CARD.json ...]  -> benchmarks/export.{md,json}
    python benchmarks/collect.py photo DIR [DIR ...]  -> stdout: a photo-path table per folder of photo_path.sh's files
    python benchmarks/collect.py speedup BENCH.json [BENCH.json ...]  -> stdout: the speed-ups of each bench run

A training run folder holds summary.json, metrics.csv, train_command.txt and test_metrics.json
(from ``edge-age eval --json``); the export card holds sizes and parity. A run whose folder is gone
is collected from ``edge-age eval --json`` of its exported fp32 file and the card beside it.
``training`` with no argument rebuilds both tables from lab/training_history.json.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from edge_age import fileio

HERE = Path(__file__).parent
LAB = HERE.parent / "lab"
HISTORY = "training_history"  # lab/training_history.{md,json}: every training run collected here

# The training runs behind the shipped files, and the recipe (edge_age/recipes/NAME.toml) each ran: the rows of
# benchmarks/training.md. A promotion (CONTRIBUTING.md) changes this table and re-runs `collect.py training`.
SHIPPED = {
    "mobilenetv2_age_mix24": "reference",  # export/mobilenetv2_age/ and edge_age/reference/ (lab/aaf/, mix_w1)
    "simplecnn10": "simplecnn",  # export/simplecnn/ (with --epochs 10)
    "resnet18_dldl": "resnet18",  # the float ResNet18 baseline (export/resnet18/, not committed: 45 MB a file)
    "resnet50_dldl": "resnet50",  # the float ResNet50 baseline (its run folder was lost before an export)
}
# The reference run split scripts/path_training.py's folder again and pooled it with All-Age-Faces' val, so its own
# val MAE is neither UTKFace's nor clean; what it was chosen on is the UTKFace val split (edge-age eval --json of its
# checkpoint, in lab/aaf/w1/) and both sources' val photos (lab/aaf/README.md).
REFERENCE_VAL = "aaf/w1/val_aligned_fp32.json"


def _shipped_notes(rows: dict[str, dict], lab: Path) -> list[str]:
    ref = next(run for run, recipe in SHIPPED.items() if recipe == "reference")
    val = json.loads((lab / REFERENCE_VAL).read_text())["metrics"]["mae"]
    return [
        "# Training runs of the shipped models (seed 0)",
        "",
        "Made by `python benchmarks/collect.py training` from `lab/training_history.json` (every run trained here:",
        "`lab/training_history.md`). `recipe`: the `edge-age train --recipe NAME` whose options the run used",
        "(`edge_age/recipes/NAME.toml`). The commands below are the runs' own, as recorded, in the spelling of their",
        "day: `--model ARCH` is now `--arch ARCH`, and `benchmarks/framing_fit_mtcnn.json` is the same file, moved to",
        "`edge_age/reference/framing_mtcnn.json`. simplecnn10 ran the simplecnn recipe with `--epochs 10`;",
        "resnet18_dldl trained before `--degrade` existed. The val column is each run's own val split:",
        f"{ref} trained on UTKFace and All-Age-Faces (`lab/aaf/sources_w1.toml`); its {rows[ref]['best_val_mae']}",
        "pools both sources' val, with UTKFace's part split from `scripts/path_training.py`'s folder again (a chip",
        f"and its own scene can sit on both sides); on the UTKFace val split it scores {val:.3f}",
        f"(`lab/{REFERENCE_VAL}`).",
        "",
    ]


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


def _table(rows: list[dict], recipe: bool) -> list[str]:
    """The markdown of a training table: one row per run, its commands, and MAE per age band with the gates."""
    cols = ("run", "epochs_run", "best_epoch", "best_val_mae", "test_mae", "test_rmse", "test_cs5",
            "train_img_per_s", "train_hours", "precision")
    head = "| run | epochs | best epoch | val MAE | test MAE | test RMSE | CS@5 | train img/s | hours | precision |"
    lines = ["| recipe " + head if recipe else head, "|---" * recipe + "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    lines += [("| " + SHIPPED[r["run"]] + " " if recipe else "")
              + "| " + " | ".join("-" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
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
    return lines


def training(sources: list[Path], lab: Path = LAB, out: Path = HERE) -> None:
    """Update lab/training_history.* (a row per run folder or eval JSON of an exported file) and rewrite
    benchmarks/training.* with the shipped models' rows (SHIPPED), each with its recipe.

    Rows already in the history for runs not named here are kept, so a table built over many
    sessions survives the loss of old run folders.
    """
    hist = lab / f"{HISTORY}.json"
    old = json.loads(hist.read_text()) if hist.exists() else []
    new = [_eval_row(p) if p.suffix == ".json" else _run_row(p) for p in sources]
    by_run = {r["run"]: r for r in old} | {r["run"]: r for r in new}
    rows = list(by_run.values())
    fileio.write_json(hist, rows)
    fileio.write_text(lab / f"{HISTORY}.md", "\n".join(_table(rows, recipe=False)) + "\n")
    missing = sorted(set(SHIPPED) - set(by_run))
    if missing:
        raise SystemExit(f"collect.py: no row for the shipped run(s) {', '.join(missing)} in {hist}")
    shipped = [{"recipe": recipe, **by_run[run]} for run, recipe in SHIPPED.items()]
    fileio.write_json(out / "training.json", shipped)
    fileio.write_text(out / "training.md", "\n".join([*_shipped_notes(by_run, lab), *_table(shipped, recipe=True)]) + "\n")


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
    # photo_path keys: the thread count in files written before issue 33, "DETECTOR SIZEpx INTERP, N thr" since
    cost = [f"- photo path before the model (detect + frame + crop, 640x480, "
            f"{f'{key} thread' if str(key).isdigit() else key}): p50 {p['p50_ms']:.1f} ms, "
            f"p90 {p['p90_ms']:.1f} ms; {p['no_face_p50_ms']:.1f} ms for a photo without a face; "
            f"CPU: {bench['machine']['cpu']}" for key, p in bench["photo_path"].items()]
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
    commands = {"training": training, "export": export, "photo": photo, "speedup": speedup}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        sys.exit(0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2)
    commands[sys.argv[1]]([Path(p) for p in sys.argv[2:]])
