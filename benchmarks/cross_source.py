"""The cross-source table (issue 35): models trained on UTKFace, on All-Age-Faces, or on both, each scored on each
source's held-apart test split: UTKFace's aligned test chips, the same faces in context through detection
(`data wild`), and AAF's test split through detection. MAE, bias, the under-18 bias (0-17, the band where one
source's faces teach the other's young to read old), the under-18 gate and Challenge 25, each from an
`edge-age eval --json` file whose command is kept beside it.

    python benchmarks/cross_source.py --out benchmarks/cross_source \\
        --model "UTKFace only" runs/r35/cross_reference_blazeface --model "UTKFace + AAF" runs/r35/cross_reference_mix

Each ``--model LABEL PREFIX`` reads PREFIX_utk_aligned.json, PREFIX_utk_scenes.json and PREFIX_aaf.json (a missing
one is a dash); the JSONs are copied into OUT/ (metrics only: no image or file name of the datasets).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from edge_age.eval.metrics import young_bias

SETS = {"utk_aligned": "UTKFace test, aligned chips", "utk_scenes": "UTKFace test, faces in context (detected)",
        "aaf": "AAF test, head crops (detected)"}


def cell(m: dict | None) -> list[str]:
    if m is None:
        return ["-"] * 5
    f = lambda x, s="{:.3f}": "-" if x is None else s.format(x)  # noqa: E731
    return [f(m["mae"]), f(m["bias"], "{:+.2f}"), f(young_bias(m), "{:+.2f}"),
            f(m["gates"]["under_18"]["tpr"]), f((m.get("challenge_25") or {}).get("tpr"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md, OUT.json and the eval JSONs into OUT/")
    ap.add_argument("--model", nargs=2, action="append", metavar=("LABEL", "PREFIX"), required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, commands = [], []
    for label, prefix in args.model:
        row = {"model": label, "sets": {}}
        for key in SETS:
            src = Path(f"{prefix}_{key}.json")
            if not src.exists():
                row["sets"][key] = None
                continue
            result = json.loads(src.read_text())
            shutil.copyfile(src, args.out / src.name)
            row["sets"][key] = {"file": src.name, "n": result["metrics"]["n"], **{
                k: v for k, v in zip(("mae", "bias", "under_18_bias", "under_18_tpr", "challenge_25"),
                                     cell(result["metrics"]))}}
            commands.append(f"`{result['command']}` -> `{src.name}`")
        rows.append((row, [json.loads(Path(f"{prefix}_{k}.json").read_text())["metrics"]
                           if Path(f"{prefix}_{k}.json").exists() else None for k in SETS]))
    head = "| model | " + " | ".join(f"{SETS[k]}: MAE / bias / under-18 bias / u18 TPR / C25" for k in SETS) + " |"
    md = ["# Cross-source table: what each training source adds", "",
          f"`python benchmarks/cross_source.py --out {args.out} "
          + " ".join(f'--model "{lab}" {pre}' for lab, pre in args.model) + "`", "",
          head, "|---|" + "---|" * len(SETS)]
    for row, metrics in rows:
        md.append(f"| {row['model']} | " + " | ".join(" / ".join(cell(m)) for m in metrics) + " |")
    md += ["", "Each cell: MAE, mean bias (estimate - truth), the bias over true ages 0-17, the under-18 gate's "
           "true-positive rate and Challenge 25 (13-17-year-olds estimated under 25). The evals:", ""]
    md += [f"- {c}" for c in commands]
    Path(f"{args.out}.md").write_text("\n".join(md) + "\n")
    Path(f"{args.out}.json").write_text(json.dumps([r for r, _ in rows], indent=1) + "\n")
    print("\n".join(md[4:4 + len(rows) + 2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
