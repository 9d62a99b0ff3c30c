import numpy as np
import pytest

from robo4d_env.metrics import bootstrap_ci, mean_abs_diff, mmrv, pearson


def test_pearson_matches_hand_computation():
    # deviations x: (-.5, 0, .5), y: (-11, -2, 13)/30 -> sum xy = 0.4, sum x^2 = 0.5, sum y^2 = 294/900
    r = pearson([0, 0.5, 1], [0.1, 0.4, 0.9])
    assert r == pytest.approx(0.4 / np.sqrt(0.5 * 294 / 900), rel=1e-9)
    assert np.isnan(pearson([0.5, 0.5], [0.1, 0.2]))


def test_mmrv_matches_hand_computation():
    real = [0.9, 0.5, 0.2]
    assert mmrv(real, [0.8, 0.6, 0.1]) == 0.0                   # same ranking
    # gen swaps policies 0 and 1: each of them sees a violation of |0.9 - 0.5| = 0.4, policy 2 none.
    assert mmrv(real, [0.5, 0.7, 0.1]) == pytest.approx((0.4 + 0.4 + 0.0) / 3)


def test_mean_abs_diff_and_bootstrap():
    assert mean_abs_diff([1, 0.5], [0.5, 0.5]) == 0.25
    a = [np.array([1, 1, 0, 0]), np.array([0, 0, 0, 1])]
    lo, hi = bootstrap_ci(a, a, mean_abs_diff, n_boot=200)
    assert lo == hi == 0.0


def test_results_json_is_strict_json_with_undefined_metrics_as_null(tmp_path):
    import json

    from benchmarks.common import write_results
    path = write_results(tmp_path / "r.json", {"pearson": pearson([0.5, 0.5], [0.1, 0.2]), "ci": (np.float32(0.25), np.inf)})

    def reject(name):
        raise ValueError(name)
    res = json.loads(path.read_text(), parse_constant=reject)
    assert res["pearson"] is None and res["ci"] == [0.25, None]


def test_detector_overrides_change_named_fields_and_reject_unknown_ones():
    from benchmarks.common import detector_overrides
    from robo4d_env.success import detector_config
    assert detector_overrides("lift", None) is None
    cfg = detector_overrides("lift", ["lift_mass_frac=0.35"])
    assert cfg.lift_mass_frac == 0.35
    assert cfg.min_consecutive_frames == detector_config("lift").min_consecutive_frames
    assert detector_overrides("lift", ["resting_band_m=[0.005, 0.03]"]).resting_band_m == (0.005, 0.03)
    with pytest.raises(SystemExit, match="lift_mass_frac"):      # the message lists the valid fields
        detector_overrides("lift", ["lift_mass=0.3"])
    with pytest.raises(SystemExit, match="JSON"):
        detector_overrides("lift", ["lift_mass_frac=abc"])
    with pytest.raises(SystemExit, match="lift_mass_frac is a float"):
        detector_overrides("lift", ['lift_mass_frac="0.3"'])
