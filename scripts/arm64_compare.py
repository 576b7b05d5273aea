"""Helper of scripts/test_arm64.sh (host Python, standard library only).

Subcommands:
  extract ARCHIVE OUT N         copy N real faces (evenly spaced over the sorted names) out of a face archive
  env JSON CPU --results R      check the emulated interpreter's report (aarch64, runtime packages, no torch)
  predict REF ARM --tol T ...   compare two `edge-age predict --json` files face by face (PASS/FAIL, exit 1 on FAIL)
  eval REF ARM --tol T ...      compare two `edge-age eval --json` files (face count and MAE)
  spread ARM [--ref REF] ...    a finding, never a failure: how spread the ages of one run are (and how far from REF)
  note --results R ...          a finding from a command that may be absent (edge-age check)
  report --results R ...        print the per-CPU table; with --json/--md write benchmarks/arm64.{json,md}

UTKFace's licence forbids publishing its images or file names: nothing here prints or records a file
name -- only counts and statistics of ages. Emulated timings are never recorded.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

FACE_NAME = re.compile(r"\d+_\d+(_\d+)?_\d{10,}\S*\.jpg", re.I)  # a UTKFace file name: never recorded
IMAGE_EXT = (".jpg", ".jpeg", ".png")


def _record(results: str, rec: dict[str, Any]) -> None:
    with open(results, "a") as f:
        f.write(json.dumps(rec) + "\n")


def _verdict(ok: bool, line: str) -> int:
    print(("PASS " if ok else "FAIL ") + line)
    return 0 if ok else 1


def cmd_extract(a: argparse.Namespace) -> int:
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(a.archive)
    if src.is_dir():
        names = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.suffix.lower() in IMAGE_EXT)
        read = lambda n: (src / n).read_bytes()  # noqa: E731
    elif zipfile.is_zipfile(src):
        z = zipfile.ZipFile(src)
        names = sorted(n for n in z.namelist() if n.lower().endswith(IMAGE_EXT))
        read = z.read
    else:
        t = tarfile.open(src)
        members = {m.name: m for m in t.getmembers() if m.isfile() and m.name.lower().endswith(IMAGE_EXT)}
        names = sorted(members)
        read = lambda n: t.extractfile(members[n]).read()  # noqa: E731
    n = min(a.n, len(names))
    if n == 0:
        print(f"no images in {src}", file=sys.stderr)
        return 1
    step = len(names) / n
    for i in range(n):
        name = names[int(i * step + step / 2)]
        (out / Path(name).name).write_bytes(read(name))
    print(f"{n} faces of {len(names)}")
    return 0


def cmd_env(a: argparse.Namespace) -> int:
    try:
        env = json.loads(Path(a.json).read_text())
    except (OSError, ValueError) as e:
        return _verdict(False, f"{a.cpu} runtime-only install: no report from the emulated interpreter ({e})")
    missing = [k for k in ("numpy", "cv2", "onnxruntime", "ai_edge_litert") if not env.get(k)]
    ok = env.get("machine") == "aarch64" and not missing and not env.get("torch")
    _record(a.results, {"kind": "env", "cpu": a.cpu, "pass": ok, **env})
    detail = (f"machine {env.get('machine')}, python {env.get('python')}, numpy {env.get('numpy')}, "
              f"opencv {env.get('cv2')}, onnxruntime {env.get('onnxruntime')}, ai-edge-litert {env.get('ai_edge_litert')}, "
              f"torch {'importable (should not be)' if env.get('torch') else 'absent'}")
    if missing:
        detail += f"; missing {', '.join(missing)}"
    return _verdict(ok, f"{a.cpu} runtime-only install: {detail}")


SAFE_NOTE = "using its safe path"  # what edge-age says on stderr when its golden check switched to the safe path


def _path_used(log: str | None) -> str | None:
    """'safe' when edge-age's golden-output check switched the runtime to its safe path, else 'default'."""
    if not log or not Path(log).is_file():
        return None
    return "safe" if SAFE_NOTE in Path(log).read_text(errors="replace") else "default"


def _error_line(log: str | None) -> str | None:
    """The last `edge-age: error:` line of a log, with file paths cut to their names."""
    if not log or not Path(log).is_file():
        return None
    errs = [ln for ln in Path(log).read_text(errors="replace").splitlines() if "error" in ln]
    if not errs:
        return None
    line = errs[-1].replace("edge-age: error: ", "")
    return FACE_NAME.sub("<face>", re.sub(r"(/[^/\s:]+)+/([^/\s:]+)", r"\2", line))


def _ages(path: str) -> tuple[dict[str, float], int, str]:
    d = json.loads(Path(path).read_text())
    ages = {r["file"]: float(r["age"]) for r in d["results"] if "age" in r}
    errors = sum(1 for r in d["results"] if "error" in r)
    return ages, errors, d.get("runtime", "?")


def cmd_predict(a: argparse.Namespace) -> int:
    label = f"{a.cpu} predict {a.model}"
    try:
        ref, ref_err, _ = _ages(a.ref)
        arm, arm_err, runtime = _ages(a.arm)
    except (OSError, ValueError, KeyError) as e:
        _record(a.results, {"kind": "predict", "cpu": a.cpu, "model": a.model, "pass": False, "error": str(e)})
        return _verdict(False, f"{label}: unreadable result ({type(e).__name__})")
    common = sorted(set(ref) & set(arm))
    diffs = [abs(arm[k] - ref[k]) for k in common]
    n_ok = len(common) == len(ref) == len(arm) == a.faces and not ref_err and not arm_err
    worst = max(diffs) if diffs else float("nan")
    ok = n_ok and bool(diffs) and worst <= a.tol
    path, ref_path = _path_used(a.log), _path_used(a.ref_log)
    rec = {"kind": "predict", "cpu": a.cpu, "model": a.model, "runtime": runtime, "faces": len(common),
           "kernels": path, "kernels_x86": ref_path,
           "skipped": arm_err, "max_abs_diff": round(worst, 4) if diffs else None,
           "mean_abs_diff": round(statistics.fmean(diffs), 4) if diffs else None,
           "identical": sum(1 for d in diffs if d == 0), "tol": a.tol, "pass": ok}
    _record(a.results, rec)
    return _verdict(ok, f"{label} [{runtime}]: {len(common)}/{a.faces} faces, max |age diff| vs x86-64 "
                        f"{worst:.4f} y (tolerance {a.tol}), {rec['identical']} identical"
                        + (f", {path} kernels (x86-64: {ref_path})" if path else ""))


def _metrics(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())["metrics"]


def cmd_eval(a: argparse.Namespace) -> int:
    label = f"{a.cpu} eval {a.model} --limit {a.limit}"
    try:
        ref, arm = _metrics(a.ref), _metrics(a.arm)
    except (OSError, ValueError, KeyError) as e:
        _record(a.results, {"kind": "eval", "cpu": a.cpu, "model": a.model, "pass": False, "error": str(e)})
        return _verdict(False, f"{label}: unreadable result ({type(e).__name__})")
    d = abs(arm["mae"] - ref["mae"])
    ok = arm["n"] == ref["n"] > 0 and d <= a.tol
    _record(a.results, {"kind": "eval", "cpu": a.cpu, "model": a.model, "faces": arm["n"],
                        "mae_x86": round(ref["mae"], 4), "mae_arm": round(arm["mae"], 4),
                        "abs_mae_diff": round(d, 4), "tol": a.tol, "pass": ok})
    return _verdict(ok, f"{label}: n {arm['n']} (x86-64 {ref['n']}), MAE {arm['mae']:.4f} vs x86-64 "
                        f"{ref['mae']:.4f}, |diff| {d:.4f} (tolerance {a.tol})")


def cmd_spread(a: argparse.Namespace) -> int:
    rec: dict[str, Any] = {"kind": "finding", "cpu": a.cpu, "model": a.model, "how": a.how}
    if a.how == "predict" and Path(a.arm).is_file():
        rec["kernels"] = _path_used(a.log)
    try:
        arm, err, runtime = _ages(a.arm)
        vals = list(arm.values())
        rec.update(runtime=runtime, faces=len(vals), skipped=err, age_min=round(min(vals), 2),
                   age_max=round(max(vals), 2), age_std=round(statistics.pstdev(vals), 3),
                   distinct_ages=len(set(vals)))
        if a.ref:
            ref, _, _ = _ages(a.ref)
            diffs = [abs(arm[k] - ref[k]) for k in set(arm) & set(ref)]
            rec["max_abs_diff_vs_x86"] = round(max(diffs), 4) if diffs else None
    except (OSError, ValueError, KeyError) as e:
        said = _error_line(a.log)
        rec["error"] = (f"refused, exit {a.rc}: {said}" if said else
                        f"no result ({type(e).__name__}); the command exited {a.rc}")
    rec["rc"] = a.rc
    _record(a.results, rec)
    if "error" in rec:
        print(f"FINDING -cpu {a.cpu} {a.how} {a.model}: {rec['error']}")
    else:
        vs = f", max |age diff| vs x86-64 {rec['max_abs_diff_vs_x86']:.2f} y" if a.ref else ""
        how = {"raw": "default kernels, golden check off", "safe": "safe path, golden check off",
               "predict": "edge-age predict"}.get(a.how, a.how)
        used = f", {rec['kernels']} kernels" if rec.get("kernels") else ""
        print(f"FINDING -cpu {a.cpu} {a.model} ({how}{used}): ages {rec['age_min']}..{rec['age_max']}, "
              f"std {rec['age_std']:.2f} y, {rec['distinct_ages']} distinct of {rec['faces']}{vs}")
    return 0


def cmd_note(a: argparse.Namespace) -> int:
    text = Path(a.output).read_text(errors="replace") if a.output and Path(a.output).is_file() else ""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    lines = [FACE_NAME.sub("<face>", ln) for ln in lines][-a.keep:]
    _record(a.results, {"kind": "note", "cpu": a.cpu, "what": a.what, "rc": a.rc, "output": lines})
    ok, bad = sum(": ok," in ln for ln in lines), sum("MISMATCH" in ln for ln in lines)
    print(f"FINDING -cpu {a.cpu} {a.what}: exit {a.rc}; {ok} file(s) ok, {bad} MISMATCH")
    return 0


MODELS = ("tflite int8", "tflite fp32", "onnx int8", "onnx fp32")


def _fmt(v: Any, nd: int = 4) -> str:
    return "-" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def cmd_report(a: argparse.Namespace) -> int:
    recs = [json.loads(ln) for ln in Path(a.results).read_text().splitlines() if ln.strip()]
    meta = json.loads(Path(a.meta).read_text()) if a.meta else {}
    cpus = [c for c in meta.get("cpus", []) if any(r.get("cpu") == c for r in recs)]
    rows = []
    for cpu in cpus:
        row: dict[str, Any] = {"cpu": cpu, "board": meta.get("boards", {}).get(cpu, "")}
        checks = [r for r in recs if r.get("cpu") == cpu and "pass" in r]
        row["passed"] = sum(r["pass"] for r in checks)
        row["failed"] = len(checks) - row["passed"]
        for r in recs:
            if r.get("cpu") != cpu:
                continue
            if r["kind"] == "predict":
                row.setdefault("faces", r.get("faces"))
                row[f"predict {r['model']}"] = {k: r.get(k) for k in ("faces", "max_abs_diff", "mean_abs_diff",
                                                                       "identical", "tol", "kernels", "pass")}
            elif r["kind"] == "eval":
                row[f"eval {r['model']}"] = {k: r.get(k) for k in ("faces", "mae_x86", "mae_arm", "abs_mae_diff",
                                                                    "tol", "pass")}
            elif r["kind"] == "env":
                row["env_pass"] = r["pass"]
        rows.append(row)
    findings = [r for r in recs if r["kind"] in ("finding", "note")]
    env = next((r for r in recs if r["kind"] == "env"), {})
    passed = sum(1 for r in recs if r.get("pass") is True)
    failed = sum(1 for r in recs if r.get("pass") is False)

    head = "| CPU (board) | faces | tflite int8 | tflite fp32 | onnx int8 | onnx fp32 | eval MAE diff (tflite int8 / onnx int8) |"
    table = [head, "|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [_fmt((row.get(f"predict {m}") or {}).get("max_abs_diff")) for m in MODELS]
        ev = " / ".join(_fmt((row.get(f"eval {m}") or {}).get("abs_mae_diff")) for m in ("tflite int8", "onnx int8"))
        table.append(f"| {row['cpu']} ({row['board']}) | {_fmt(row.get('faces'))} | " + " | ".join(cells) + f" | {ev} |")
    print("\n".join(table))

    if a.json:
        out = {"command": "bash scripts/test_arm64.sh", "emulated_timings": "not measured (meaningless under qemu)",
               **{k: v for k, v in meta.items() if k not in ("cpus", "boards")},
               "arm64_packages": {k: env.get(k) for k in ("python", "numpy", "cv2", "onnxruntime", "ai_edge_litert")},
               "per_cpu": rows, "findings": findings, "passed": passed, "failed": failed}
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    if a.md:
        Path(a.md).write_text(_markdown(meta, env, table, rows, findings, passed, failed))
    return 0


def _markdown(meta: dict[str, Any], env: dict[str, Any], table: list[str], rows: list[dict[str, Any]],
              findings: list[dict[str, Any]], passed: int, failed: int) -> str:
    tol = meta.get("tolerances", {})
    faces = meta.get("faces", "?")
    lines = [
        "# edge-age on emulated ARM64 (Raspberry Pi 4 / Pi 5 CPUs)",
        "",
        "Regenerate with `bash scripts/test_arm64.sh --write-benchmarks`; the check alone is",
        "",
        "```bash",
        "bash scripts/test_arm64.sh",
        "```",
        "",
        "It builds a **runtime-only** arm64 install from scratch, with no torch: Debian bookworm's arm64 "
        f"Python {env.get('python', '3.11')} (`python3.11`) and the libraries it needs (`apt-get download` + `dpkg -x` into a root "
        "folder), and PyPI's aarch64 wheels of setup.cfg's `install_requires` (pinned to the versions of the "
        "x86-64 reference install) installed with `pip install --target --platform manylinux_2_28_aarch64 ...`, "
        "with the `edge_age` source on the path. It runs `edge-age predict` and `edge-age eval` under "
        f"`{meta.get('qemu', 'qemu-aarch64-static')}` (user-mode emulation, one thread, `-cpu cortex-a72` = Pi 4, "
        "`-cpu cortex-a76` = Pi 5, each with a matching Pi-like `/proc/cpuinfo` in the emulated root: without one "
        "onnxruntime's CPU detection crashes) and compares the ages with the same commands run natively on "
        "x86-64. Everything is cached under `.cache/arm64/` (git-ignored).",
        "",
        f"Faces: {faces} real UTKFace faces, evenly spaced over the archive's sorted names, copied to a temporary "
        "folder at run time and deleted after (the dataset's licence forbids committing any image or file name; "
        "only counts and age statistics are recorded here). `eval` runs `--split all --limit "
        f"{meta.get('eval_limit', '?')}` on that folder.",
        "",
        f"arm64 packages: Python {env.get('python')}, numpy {env.get('numpy')}, opencv-python-headless "
        f"{env.get('cv2')}, onnxruntime {env.get('onnxruntime')}, ai-edge-litert {env.get('ai_edge_litert')} "
        "(same versions as on x86-64).",
        "",
        "## Results: max |age difference| vs x86-64, in years",
        "",
        f"Tolerances: LiteRT int8 and fp32 {tol.get('tflite int8')} y (expected identical), ONNX int8 "
        f"{tol.get('onnx int8')} y (room for x86 and ARM int8 kernels rounding differently, reported elsewhere at "
        f"~0.7 y), ONNX fp32 {tol.get('onnx fp32')} y; eval: |MAE difference| within the same model's tolerance. "
        "Ages are compared at the 0.01 y resolution of `predict --json`; eval's MAE at full precision. "
        "*default kernels*: edge-age's golden-output check passed on that CPU, so the runtime's default path "
        "(XNNPACK / optimised ONNX graph) was used, as on x86-64.",
        "",
        *table,
        "",
        f"Result: **{passed} passed, {failed} failed** (per CPU: runtime-only install imports, 4 predict "
        "comparisons, 2 eval comparisons).",
        "",
    ]
    for row in rows:
        details = []
        for m in MODELS:
            p = row.get(f"predict {m}")
            if p:
                details.append(f"{m}: {p['identical']}/{p['faces']} ages identical, mean |diff| {_fmt(p['mean_abs_diff'])}"
                               + (f", {p['kernels']} kernels" if p.get("kernels") else ""))
        for m in ("tflite int8", "onnx int8"):
            e = row.get(f"eval {m}")
            if e:
                details.append(f"eval {m}: MAE {_fmt(e['mae_arm'], 3)} (x86-64 {_fmt(e['mae_x86'], 3)})")
        lines.append(f"- {row['cpu']}: " + "; ".join(details))
    lines += ["", "## Finding: `-cpu max` (qemu's default max CPU, which advertises SME)", "",
              "Recorded, never a failure of the script (no Raspberry Pi has SME). *raw*: the runtime's default "
              "kernels with edge-age's golden-output check turned off (`load_predictor(..., check=False)` inside "
              "`edge-age predict`'s code), i.e. what XNNPACK itself returns; *safe*: the runtime's safe path (LiteRT "
              "without the XNNPACK delegate), the golden check's fallback, compared with the safe path on x86-64; "
              "*predict*: `edge-age predict` as a user runs it (golden check on).", ""]
    spread = [f for f in findings if f["kind"] == "finding"]
    if spread:
        lines += ["| -cpu | model | how | kernels used | faces | ages min..max | std of ages | distinct ages "
                  "| max \\|diff\\| vs x86-64 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for f in spread:
            used = f.get("kernels") or {"raw": "default", "safe": "safe"}.get(f["how"], "-")
            if "error" in f:
                lines.append(f"| {f['cpu']} | {f['model']} | {f['how']} | {used} | - | {f['error']} | | | |")
            else:
                lines.append(f"| {f['cpu']} | {f['model']} | {f['how']} | {used} | {f['faces']} | "
                             f"{f['age_min']}..{f['age_max']} | {f['age_std']:.2f} | {f['distinct_ages']} | "
                             f"{_fmt(f.get('max_abs_diff_vs_x86'), 2)} |")
        lines += ["", _max_finding(spread), ""]
    notes = [f for f in findings if f["kind"] == "note"]
    if notes:
        lines += ["`edge-age check` on the four model files (recorded, not a pass/fail check of this script):", ""]
        for f in notes:
            lines += [f"`-cpu {f['cpu']}` (exit {f['rc']}):", "", "```", *f["output"], "```", ""]
    else:
        lines += ["`edge-age check` did not exist when this was run; the script runs it under `-cpu max` and "
                  "`-cpu cortex-a72` once it does, and records its output without depending on it.", ""]
    lines += ["## Timings", "",
              "Not measured. Emulated (qemu TCG) timings say nothing about a real Pi, so none are recorded; "
              "measure on the board with `edge-age bench`.", ""]
    return "\n".join(lines)


def _max_finding(spread: list[dict[str, Any]]) -> str:
    """What -cpu max did to LiteRT int8, from the recorded spreads."""
    by = {(f["cpu"], f["model"], f["how"]): f for f in spread if "error" not in f}
    mx, off, base = (by.get((c, "tflite int8", "raw")) for c in ("max", "max,sme=off", "cortex-a72"))
    if not (mx and base):
        return "The `-cpu max` runs gave no comparable result (see the table)."
    collapsed = mx["age_std"] < 0.25 * base["age_std"]
    out = [f"Under `-cpu max` LiteRT's int8 kernels (XNNPACK) gave {mx['distinct_ages']} distinct age(s) for "
           f"{mx['faces']} faces ({mx['age_min']}..{mx['age_max']}, std {mx['age_std']:.2f} y), against "
           f"{base['distinct_ages']} distinct ({base['age_min']}..{base['age_max']}, std {base['age_std']:.2f} y) "
           f"under `-cpu cortex-a72`."]
    if off:
        out.append(f"With SME off (`-cpu max,sme=off`) the same kernels give max |diff| vs x86-64 "
                   f"{_fmt(off.get('max_abs_diff_vs_x86'), 2)} y.")
    out.append("This reproduces the reported bug: XNNPACK's int8 path on an SME-advertising CPU returns nearly the "
               "same age for every face." if collapsed else "The reported collapse of the ages did not reproduce.")
    others = [f"{m} {_fmt(by[('max', m, 'raw')].get('max_abs_diff_vs_x86'), 2)} y" for m in MODELS[1:]
              if ("max", m, "raw") in by]
    if others:
        out.append("Other models' default kernels under `-cpu max`, max |diff| vs x86-64: " + ", ".join(others) + ".")
    safe = [f"`-cpu {c}` {_fmt(by[(c, 'tflite int8', 'safe')].get('max_abs_diff_vs_x86'), 2)} y"
            for c in ("cortex-a72", "max") if (c, "tflite int8", "safe") in by]
    if safe:
        out.append("LiteRT's safe path (no XNNPACK) is not bit-identical across architectures: its int8 ages on "
                   "these faces differ from the safe path's on x86-64 by up to " + ", ".join(safe) + ".")
    user = next((f for f in spread if f["cpu"] == "max" and f["model"] == "tflite int8" and f["how"] == "predict"),
                None)
    if user and "error" in user:
        out.append(f"`edge-age predict` under `-cpu max`: {user['error']}. So the golden check does catch the "
                   "fault; it refuses the file rather than falling back, because the safe path's golden ages were "
                   "recorded on x86-64 and ARM's built-in int8 kernels round differently (see `edge-age check` "
                   "below).")
    elif user:
        out.append(f"`edge-age predict` under `-cpu max` ran on the {user.get('kernels') or '?'} kernels and gave "
                   f"max |diff| vs x86-64 {_fmt(user.get('max_abs_diff_vs_x86'), 2)} y"
                   + (": its golden-output check caught the fault and switched to LiteRT without XNNPACK."
                      if user.get("kernels") == "safe" else "."))
    return " ".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("extract")
    s.add_argument("archive")
    s.add_argument("out")
    s.add_argument("n", type=int)
    s.set_defaults(f=cmd_extract)
    s = sub.add_parser("env")
    s.add_argument("json")
    s.add_argument("cpu")
    s.add_argument("--results", required=True)
    s.set_defaults(f=cmd_env)
    for name, f in (("predict", cmd_predict), ("eval", cmd_eval)):
        s = sub.add_parser(name)
        s.add_argument("ref")
        s.add_argument("arm")
        s.add_argument("--tol", type=float, required=True)
        s.add_argument("--cpu", required=True)
        s.add_argument("--model", required=True)
        s.add_argument("--faces", type=int, default=0)
        s.add_argument("--limit", type=int, default=0)
        s.add_argument("--log")
        s.add_argument("--ref-log")
        s.add_argument("--results", required=True)
        s.set_defaults(f=f)
    s = sub.add_parser("spread")
    s.add_argument("arm")
    s.add_argument("--ref")
    s.add_argument("--cpu", required=True)
    s.add_argument("--model", required=True)
    s.add_argument("--rc", type=int, default=0)
    s.add_argument("--how", default="raw", choices=("raw", "safe", "predict"))
    s.add_argument("--log")
    s.add_argument("--results", required=True)
    s.set_defaults(f=cmd_spread)
    s = sub.add_parser("note")
    s.add_argument("--output")
    s.add_argument("--what", required=True)
    s.add_argument("--cpu", required=True)
    s.add_argument("--rc", type=int, default=0)
    s.add_argument("--keep", type=int, default=15)
    s.add_argument("--results", required=True)
    s.set_defaults(f=cmd_note)
    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--meta")
    s.add_argument("--json")
    s.add_argument("--md")
    s.set_defaults(f=cmd_report)
    a = p.parse_args()
    return a.f(a)


if __name__ == "__main__":
    raise SystemExit(main())
