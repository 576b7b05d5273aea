"""Gate operating points, Challenge 25 and error by group, on data whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_age.eval.assurance import buffer_threshold, by_group, challenge_25, gate_point, utkface_groups


def test_a_perfect_estimator_flags_exactly_the_people_under_the_gate() -> None:
    y = np.arange(1, 81, dtype=float).repeat(10)
    g = gate_point(y, y.copy(), 18)
    assert (g["tpr"], g["fpr"], g["positives"]) == (1.0, 0.0, 170)
    assert g["tpr_ci95"] == [1.0, 1.0] and g["fpr_ci95"] == [0.0, 0.0]
    assert g["buffer_threshold"] == 17.01  # one step above the highest estimate under 18 that must be challenged
    assert g["buffer_fpr"] == 0.0


def test_the_buffer_keeps_99_percent_of_minors_below_it() -> None:
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 80, 5000)
    p = y + rng.normal(0, 6, y.size)
    g = gate_point(y, p, 25)
    minors = y < 25
    assert 0.99 <= float((p[minors] < g["buffer_threshold"]).mean()) < 0.995
    assert g["buffer_fpr"] == round(float((p[~minors] < g["buffer_threshold"]).mean()), 4)
    lo, hi = g["buffer_fpr_ci95"]
    assert lo <= g["buffer_fpr"] <= hi and hi - lo < 0.1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(100, 400), seed=st.integers(0, 2 ** 16), ties=st.booleans())
def test_the_buffer_never_lets_more_than_1_percent_through(n: int, seed: int, ties: bool) -> None:
    """At any n, with or without tied estimates: interpolating the 99th percentile lets more through."""
    rng = np.random.default_rng(seed)
    p = rng.normal(20, 5, n)
    if ties:
        p = np.round(p)
    b = buffer_threshold(p)
    assert (p >= b).mean() <= 0.01
    assert (p >= b - 0.01 - 1e-9).mean() > 0.01  # and it is the lowest such step


def test_too_few_people_under_the_gate_give_no_buffer() -> None:
    y = np.array([5.0] * 20 + [40.0] * 200)
    assert gate_point(y, y, 18)["buffer_threshold"] is None


def test_challenge_25_counts_teenagers_estimated_under_25() -> None:
    y = np.array([14, 15, 16, 17, 30, 12], dtype=float)
    p = np.array([20, 26, 22, 24, 30, 30], dtype=float)
    c = challenge_25(y, p)
    assert c["n"] == 4 and c["tpr"] == 0.75 and c["tpr_ci95"][0] <= 0.75 <= c["tpr_ci95"][1]


def test_by_group_names_the_worst_group_and_the_gap_with_its_interval() -> None:
    rng = np.random.default_rng(1)
    n = 400
    gender = ["male", "female"] * (n // 2)
    eth = ["asian"] * (n // 2) + ["white"] * (n // 2)
    y = rng.uniform(10, 70, n)
    err = np.where(np.asarray(eth) == "white", 5.0, 1.0) * np.where(np.asarray(gender) == "male", 1.2, 1.0)
    p = y + err * rng.choice([-1, 1], n)
    out = by_group(y, p, {"gender": gender, "ethnicity": eth})
    assert out["worst"] == "gender=male,ethnicity=white" and out["best"] == "gender=female,ethnicity=asian"
    assert out["gap"] == 5.0
    rows = {r["group"]: r for r in out["groups"]}
    assert rows["gender=male"]["n"] == 200 and rows["ethnicity=white"]["mae"] == 5.5


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 90), st.integers(-20, 20)), min_size=5, max_size=200))
def test_rates_lie_in_their_intervals_and_in_0_1(pairs) -> None:
    y = np.array([a for a, _ in pairs], dtype=float)
    p = np.clip(y + np.array([d for _, d in pairs]), 0, None)
    for t in (13, 18, 21, 25):
        g = gate_point(y, p, t)
        for key in ("tpr", "fpr"):
            if g[key] is not None:
                lo, hi = g[f"{key}_ci95"]
                assert 0 <= lo <= g[key] <= hi <= 1


def test_utkface_names_carry_gender_and_ethnicity() -> None:
    g = utkface_groups(["30_1_2_2017.jpg.chip.jpg", "UTKFace/8_0_4_2017.jpg.chip.jpg", "photo.jpg"])
    assert g == {"gender": ["female", "male", None], "ethnicity": ["asian", "other", None]}
    assert utkface_groups(["a.jpg", "b.jpg"]) is None


def test_eval_reports_groups_and_operating_points(exported: dict, tmp_path: Path) -> None:
    from edge_age.cli import main

    js = tmp_path / "m.json"
    rc = main(["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(exported["data"]), "--split", "all",
               "--json", str(js), "--out", str(tmp_path / "ev"), "--report", str(tmp_path / "rep"), "--no-progress"])
    m = json.loads(js.read_text())["metrics"]
    assert rc == 0 and set(m["gates"]) == {"under_13", "under_18", "under_21", "under_25"}
    assert {"tpr_ci95", "fpr_ci95", "buffer_threshold"} <= set(m["gates"]["under_18"])
    assert any(r["group"] == "gender=male,ethnicity=white" for r in m["by_group"]["groups"])
    assert m["interval"]["level"] == 0.8 and 0 <= m["interval"]["coverage"] <= 1  # the export fitted intervals
    page = (tmp_path / "rep" / "report.md").read_text()
    assert "## Gates" in page and "## Per-face 80% intervals" in page and "## MAE by group" in page
    for png in ("mae_by_band.png", "gates.png", "mae_by_group.png", "interval_coverage.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000 and f"]({png})" in page
    # the faces behind the figures: one row each, whose errors and intervals give the same MAE and coverage
    import csv

    with open(tmp_path / "ev" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == m["n"] and len({r["name"] for r in rows}) == m["n"]
    assert np.mean([abs(float(r["error"])) for r in rows]) == pytest.approx(m["mae"], abs=1e-3)
    inside = [float(r["interval_lo"]) <= float(r["age"]) <= float(r["interval_hi"]) for r in rows]
    assert round(float(np.mean(inside)), 4) == m["interval"]["coverage"]  # metrics.json rounds it to 4 places


def test_conformal_intervals_hold_their_level_on_held_out_faces() -> None:
    from edge_age.runtime import intervals

    rng = np.random.default_rng(0)
    y = rng.uniform(1, 90, 8000)
    p = y + rng.normal(0, 1 + y / 10, y.size)  # errors grow with age, as real models' do
    fitted = intervals.fit(p[:4000], y[:4000])
    lo, hi = intervals.interval(p[4000:], fitted)
    cov = intervals.coverage(y[4000:], lo, hi, [(0, 12), (13, 17), (18, 24), (25, 34), (35, 44), (45, 59), (60, 200)])
    assert abs(cov["coverage"] - 0.8) < 0.02
    assert all(0.7 <= b["coverage"] <= 0.9 for b in cov["per_band"].values()), cov
    young, old = intervals.interval(np.array([5.0, 70.0]), fitted)
    assert (old - young)[1] > (old - young)[0]  # wider where the model errs more
    assert (lo >= 0).all()


def test_conformal_intervals_cover_at_small_n_on_average() -> None:
    """Split conformal's promise holds at any calibration size: averaged over many draws of 50 val
    faces, at least 80% of new faces fall inside (interpolated percentiles fall short here)."""
    from edge_age.runtime import intervals

    rng = np.random.default_rng(3)
    covered = []
    for _ in range(400):
        err_val, err_new = rng.standard_t(3, 50), rng.standard_t(3, 2000)
        lo_err, hi_err = intervals._quantiles(err_val, 0.8)
        covered.append(((err_new >= lo_err) & (err_new <= hi_err)).mean())
    assert np.mean(covered) >= 0.8


def test_intervals_follow_the_bands_the_card_was_fitted_with() -> None:
    from edge_age.runtime import intervals

    fitted = {"level": 0.8, "bands": [{"from": 0, "err": [-1, 1]}, {"from": 30, "err": [-10, 10]}]}
    lo, hi = intervals.interval(np.array([10.0, 29.9, 30.0, 90.0]), fitted)
    assert list(hi - lo) == [2.0, 2.0, 20.0, 20.0]


@given(st.lists(st.integers(0, 6), min_size=3, max_size=60), st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_width_error_spearman_averages_ties(widths: list[int], seed: int) -> None:
    """Interval widths come in a few values (one per band): the rank correlation must not depend on the order of
    tied faces, and it is the Pearson correlation of mean ranks (the textbook Spearman with ties)."""
    from edge_age.runtime import intervals
    w = np.asarray(widths, np.float64)
    err = np.random.default_rng(seed).normal(size=w.size)
    rho = intervals.spearman(w, err)
    order = np.random.default_rng(seed + 1).permutation(w.size)
    again = intervals.spearman(w[order], err[order])
    assert (rho is None) == (again is None)
    if rho is not None:
        assert abs(rho - again) < 1e-12 and -1 - 1e-12 <= rho <= 1 + 1e-12
        mean_rank = np.array([np.mean(np.flatnonzero(np.sort(w) == v)) for v in w])
        assert abs(rho - np.corrcoef(mean_rank, np.argsort(np.argsort(err)))[0, 1]) < 1e-9


def test_coverage_says_how_well_width_tracks_error() -> None:
    from edge_age.runtime import intervals
    true = np.zeros(6)
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    cov = intervals.coverage(true, pred - 2 * pred, pred + 2 * pred, [(0, 200)], pred)  # width grows with |error|
    assert cov["width_error_spearman"] == 1.0 and cov["coverage"] == 1.0
    flat = intervals.coverage(true, pred - 10, pred + 10, [(0, 200)], pred)
    assert flat["width_error_spearman"] is None  # one width for every face: no rank to correlate
    assert "width_error_spearman" not in intervals.coverage(true, pred - 10, pred + 10, [(0, 200)])


def test_scaled_intervals_hold_their_level_and_widen_with_the_estimate() -> None:
    """Normalised conformal (the card's ``scale``): on faces whose error grows with age, the interval holds its level
    on held-out faces, a child estimated at 11 gets a wider interval than a baby at 1 (one band for both), and the
    card validates."""
    from edge_age.runtime import intervals
    from edge_age.runtime.card import _check_interval
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 90, 12000)
    p = y + rng.normal(0, 0.5 + 0.12 * y)
    fitted = intervals.fit_scaled(p[:6000], y[:6000], calibrated_on=[{"set": "synthetic", "n": 6000}])
    _check_interval("tflite_int8", fitted)
    lo, hi = intervals.interval(p[6000:], fitted)
    cov = intervals.coverage(y[6000:], lo, hi, [(0, 12), (13, 30), (31, 60), (61, 200)], p[6000:])
    assert 0.77 <= cov["coverage"] <= 0.83, cov
    assert cov["width_error_spearman"] > 0.2, cov
    (lo1, lo11), (hi1, hi11) = intervals.interval(np.array([1.0, 11.0]), fitted)
    assert hi11 - lo11 > 1.5 * (hi1 - lo1)
    plain = intervals.fit(p[:6000], y[:6000])
    assert "scale" not in plain and intervals.interval(np.array([5.0]), plain)[0].shape == (1,)


def test_cross_fitted_intervals_do_not_hang_on_the_draw_of_faces() -> None:
    """calibrate's fit draws its folds from a seed, and a pool changed by a few faces draws them anew: cross-fitted
    (every face gives a percentile, from a scale fitted without it), held-out coverage moves by under 0.01 between
    ten draws on 1,500 faces. The half split it replaced (scale on one half, percentiles on the other) moved by
    0.05 on these faces."""
    from edge_age.runtime import intervals
    rng = np.random.default_rng(2)

    def faces(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.uniform(0, 90, n)
        return y, y + rng.normal(0, 0.5 + 0.12 * y)

    (y, p), (yh, ph) = faces(1500), faces(20000)
    covered = [float(((yh >= lo) & (yh <= hi)).mean())
               for s in range(10) for lo, hi in [intervals.interval(ph, intervals.fit_scaled(p, y, seed=s))]]
    assert 0.77 <= min(covered) and max(covered) <= 0.83 and max(covered) - min(covered) < 0.01, covered


def test_a_cross_fit_on_fewer_faces_than_folds_leaves_one_out_and_says_so() -> None:
    from edge_age.runtime import intervals
    fitted = intervals.fit_scaled(np.array([10.0, 20.0, 30.0]), np.array([12.0, 18.0, 33.0]))
    assert "3-fold" in fitted["method"] and all(np.isfinite(b["err"]).all() for b in fitted["bands"])
    with pytest.raises(ValueError, match="at least 2 faces"):
        intervals.fit_scaled(np.array([10.0]), np.array([12.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=300), st.sampled_from([0.5, 0.8, 0.9]))
def test_weighted_quantiles_with_equal_weights_are_the_plain_order_statistics(err: list[float], level: float) -> None:
    from edge_age.runtime import intervals
    e = np.asarray(err)
    assert intervals._quantiles(e, level, np.ones(e.size)) == intervals._quantiles(e, level)


def test_weighing_sets_equally_brings_a_small_hard_set_nearer_its_level() -> None:
    """Calibration pools 3,000 clean faces with 300 degraded ones that err 2.5 times as much. Each face counting once,
    the small set's coverage falls far under the level; each set counting equally (``calibrate --weigh sets``), the
    intervals are fitted to the two kinds' even mixture: on held-out faces the hard set comes much nearer the level
    and the clean one goes over it. Tiny sets weigh as MIN_BAND faces would."""
    from edge_age.runtime import intervals
    rng = np.random.default_rng(1)

    def faces(n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        y = rng.uniform(5, 80, n)
        return y, y + rng.normal(0, noise * (1 + 0.05 * y))

    (yc, pc), (yh, ph) = faces(3000, 1.0), faces(300, 2.5)
    w = intervals.set_weights([3000, 300])
    assert np.isclose(w[:3000].sum(), w[3000:].sum()) and np.isclose(w.mean(), 1.0)
    held = {name: faces(20000, noise) for name, noise in (("clean", 1.0), ("hard", 2.5))}

    def cov(fitted: dict) -> dict[str, float]:
        return {k: float(((y >= lo) & (y <= hi)).mean()) for k, (y, p) in held.items()
                for lo, hi in [intervals.interval(p, fitted)]}

    by_face = cov(intervals.fit_scaled(np.r_[pc, ph], np.r_[yc, yh]))
    by_set = cov(intervals.fit_scaled(np.r_[pc, ph], np.r_[yc, yh], weights=w))
    assert by_face["hard"] < 0.6 and by_face["clean"] > 0.77, by_face
    assert by_set["hard"] > by_face["hard"] + 0.1 and by_set["clean"] > 0.85, by_set
    assert "weighted equally" in intervals.fit_scaled(np.r_[pc, ph], np.r_[yc, yh], weights=w)["method"]
    tiny = intervals.set_weights([3000, 1])
    assert np.isclose(tiny[-1] / tiny.sum(), 1 / intervals.MIN_BAND / (1 + 1 / intervals.MIN_BAND))


def test_weighted_quantiles_follow_the_weights() -> None:
    """Most of the weight on the five largest errors of 100 pulls the upper end up among them; on the five smallest,
    the lower end down; weights that are equal but not 1.0 are the plain order statistics."""
    from edge_age.runtime import intervals
    e = np.arange(100, dtype=np.float64)
    plain = intervals._quantiles(e, 0.8)
    up = np.r_[np.full(95, 5 / 95), np.full(5, 19.0)]
    assert intervals._quantiles(e, 0.8, up)[1] >= 95 > plain[1]
    assert intervals._quantiles(e, 0.8, up[::-1])[0] <= 4 < plain[0]
    assert intervals._quantiles(e, 0.8, np.full(100, 0.37) / 0.37000000001) == plain


def test_a_card_scale_that_is_not_rising_positive_points_is_refused() -> None:
    from edge_age.runtime.card import _check_interval
    base = {"level": 0.8, "bands": [{"from": 0, "err": [-1.5, 1.5]}]}
    for bad in ([[10, 1.0], [5, 2.0]], [[5, 0.0]], [[5, "x"]], [], [[5, 1.0, 2.0]], [[5, 400.0]]):
        with pytest.raises(ValueError, match="scale"):
            _check_interval("tflite_int8", {**base, "scale": bad})
    _check_interval("tflite_int8", {**base, "scale": [[1.5, 0.8], [60, 9.0]]})


def test_predict_gives_intervals_and_abstains_when_asked(exported: dict, tmp_path: Path, capsys) -> None:
    from edge_age.cli import main

    face = next(exported["data"].glob("*.jpg"))
    model = str(exported["out"] / "simplecnn_int8.tflite")
    assert main(["predict", "--crops", str(face), "--model", model, "--json", str(tmp_path / "a.json")]) == 0
    r = json.loads((tmp_path / "a.json").read_text())["results"][0]
    lo, hi = r["interval"]
    assert lo <= r["age"] <= hi and r["std"] > 0 and r["abstained"] is None
    capsys.readouterr()
    assert main(["predict", "--crops", str(face), "--model", model, "--max-uncertainty", "0.01", "--json", str(tmp_path / "b.json")]) == 0
    r = json.loads((tmp_path / "b.json").read_text())["results"][0]
    assert r["age"] is None and "max-uncertainty" in r["abstained"]
    assert "1 abstained" in capsys.readouterr().err


def test_abstention_options_that_cannot_act_are_one_line_errors(exported: dict, tmp_path: Path, capsys) -> None:
    import shutil

    from edge_age.cli import main

    face = str(next(exported["data"].glob("*.jpg")))
    folder = tmp_path / "m"
    shutil.copytree(exported["out"], folder)
    model = str(folder / "simplecnn_int8.tflite")
    assert main(["predict", "--crops", face, "--model", model, "--min-face", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--min-face needs face detection" in err and len(err.splitlines()) == 1, err
    card_file = folder / "simplecnn.json"
    card = json.loads(card_file.read_text())
    for entry in card["files"].values():
        entry.pop("interval", None)
    card_file.write_text(json.dumps(card))
    assert main(["predict", "--crops", face, "--model", model, "--max-uncertainty", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--max-uncertainty needs per-face intervals" in err and "simplecnn_int8.tflite" in err, err


def test_a_report_folder_that_is_a_file_is_refused_before_any_work(exported: dict, tmp_path: Path, capsys) -> None:
    from edge_age.cli import main

    (tmp_path / "rep").write_text("not a folder")
    rc = main(["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(exported["data"]), "--split",
               "all", "--report", str(tmp_path / "rep"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--report names a folder" in err and not (tmp_path / "ev").exists(), err
    assert (tmp_path / "rep").read_text() == "not a folder"


def test_a_csv_with_group_columns_gets_a_fairness_report(exported: dict, tmp_path: Path) -> None:
    from conftest import face_image, write_jpg
    from edge_age.cli import main

    rows = ["file_name,age,Sex,race"]
    for k in range(80):
        age = 5 + k
        write_jpg(tmp_path / "img" / f"p{k:03d}.jpg", face_image(age, k))
        rows.append(f"img/p{k:03d}.jpg,{age},{'F' if k % 2 else 'M'},{['a', 'b'][k % 4 // 2] if k % 5 else ''}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    js = tmp_path / "m.json"
    rc = main(["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(tmp_path / "labels.csv"),
               "--split", "all", "--json", str(js), "--out", str(tmp_path / "ev"), "--no-progress"])
    bg = json.loads(js.read_text())["metrics"]["by_group"]
    groups = {r["group"]: r["n"] for r in bg["groups"]}
    assert rc == 0 and groups["gender=f"] == 40 and groups["gender=m"] == 40
    assert groups["ethnicity=a"] + groups["ethnicity=b"] == 64  # rows without a value are in no ethnicity group
    assert "gender=f,ethnicity=a" in groups
