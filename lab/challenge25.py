"""Which 13-17-year-olds fail the Challenge-25 check, and do the models here fail the same ones?

    python lab/challenge25.py NAME=runs/eval/RUN/predictions.csv [NAME=...] --out lab/challenge25

Reads the per-face tables ``edge-age eval`` writes (``predictions.csv``) for several models on the
same split and reports, for the 13-17-year-olds: how many each model estimates at 25 or over, how
many every model fails and any model fails, what the mean of the models' estimates (an ensemble)
fails, and the true ages and estimates of the failing faces. It answers whether the target (>= 0.98
estimated under 25) is out of reach of one model or of all of them. The output holds no file names
(the dataset's licence forbids publishing a list of them): faces are numbered by estimate.

Lab script (lab/README.md). It imports edge_age internals (edge_age.fileio), so a rename there can break it:
tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_age import fileio  # noqa: E402

TEEN, GATE = (13, 18), 25.0  # 13 <= age < 18, as edge_age.eval.assurance.challenge_25


def _read(path: str) -> dict[str, tuple[float, float]]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if rows and not {"name", "age", "estimate"} <= set(rows[0]):
        raise SystemExit(f"{path}: not an `edge-age eval` predictions.csv (needs name, age, estimate columns)")
    return {r["name"]: (float(r["age"]), float(r["estimate"])) for r in rows}


def analyse(tables: dict[str, dict[str, tuple[float, float]]]) -> dict:
    first = next(iter(tables.values()))
    for name, t in tables.items():  # one split, one labelling: otherwise the counts compare other faces
        if t.keys() != first.keys() or any(t[n][0] != first[n][0] for n in first):
            raise SystemExit(f"{name}: scores other faces or ages than {next(iter(tables))} (another split, "
                             f"--limit or data?)")
    teens = [n for n in sorted(first) if TEEN[0] <= first[n][0] < TEEN[1]]
    if not teens:
        raise SystemExit("the tables hold no 13-17-year-old")
    est = np.array([[t[n][1] for n in teens] for t in tables.values()])  # models x faces
    fails = est >= GATE
    ens = est.mean(axis=0)
    any_fail = fails.any(axis=0)
    order = np.argsort(-ens)
    faces = [{"age": first[teens[i]][0], "estimates": [round(float(v), 2) for v in est[:, i]]}
             for i in order if any_fail[i]]
    return {
        "n": len(teens), "gate": GATE, "models": list(tables),
        "per_model": {m: {"fail": int(fails[k].sum()), "tpr": round(1 - float(fails[k].mean()), 4)}
                      for k, m in enumerate(tables)},
        "failed_by_all": int(fails.all(axis=0).sum()), "failed_by_any": int(any_fail.sum()),
        "ensemble_mean": {"fail": int((ens >= GATE).sum()), "tpr": round(1 - float((ens >= GATE).mean()), 4)},
        "failures_allowed_at_0.98": int(np.floor(0.02 * len(teens))),
        "failing_faces": faces,
    }


def to_markdown(r: dict, command: str) -> str:
    lines = [f"# Challenge 25: 13-17-year-olds estimated at {r['gate']:g} or over", "",
             f"`{command}`", "",
             f"{r['n']} faces aged 13-17; the target (>= 0.98 under 25) allows "
             f"{r['failures_allowed_at_0.98']} failures. "
             f"Estimates to two places (25.00 and over fails).", "",
             "| model | failures | TPR |", "|---|---:|---:|"]
    lines += [f"| {m} | {v['fail']} | {v['tpr']:.3f} |" for m, v in r["per_model"].items()]
    ens = r["ensemble_mean"]
    lines += [f"| mean of the {len(r['models'])} estimates | {ens['fail']} | {ens['tpr']:.3f} |",
              "", f"Failed by every model: {r['failed_by_all']}; by at least one: {r['failed_by_any']}.", "",
              "| true age | " + " | ".join(r["models"]) + " |", "|---:|" + "---:|" * len(r["models"])]
    lines += [f"| {f['age']:g} | " + " | ".join(f"{e:.2f}" for e in f["estimates"]) + " |"
              for f in r["failing_faces"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tables", nargs="+", metavar="NAME=CSV", help="a model's name and its eval predictions.csv")
    p.add_argument("--out", required=True, help="output stem: writes OUT.md and OUT.json")
    args = p.parse_args(argv)
    tables = {}
    for item in args.tables:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            p.error(f"{item}: expected NAME=path/to/predictions.csv of an existing file")
        if name in tables:
            p.error(f"{item}: the name {name} is given twice")
        tables[name] = _read(path)
    result = analyse(tables)
    command = "python lab/challenge25.py " + " ".join(args.tables) + f" --out {args.out}"
    fileio.write_json(args.out + ".json", {"command": command, **result})
    fileio.write_text(args.out + ".md", to_markdown(result, command))
    print(to_markdown(result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
