"""Same params, same machine: every stage's summary is the same number for number (timings aside)."""
import json

from slamslib import stages
from slamslib.config import load_config
from slamslib.pipeline import STAGE_NAMES
from slamslib.summary import without_timings


def test_two_runs_of_the_same_params_write_identical_summaries(smoke_run, tmp_path):
    """The session's smoke run (notebooks under papermill) against a second run of the same params
    through the stage functions, in this process."""
    first, overrides, _ = smoke_run
    second = load_config("params/smoke.yaml", {**overrides, "results_dir": str(tmp_path / "second")})
    for stage in STAGE_NAMES:
        run = getattr(stages, stage)
        run(second) if stage == "benchmark" else run(second, progress=False)
    runs = [{s: json.loads((cfg.stage_dir(s) / "summary.json").read_text()) for s in STAGE_NAMES}
            for cfg in (first, second)]
    for stage in STAGE_NAMES:
        ours, again = (without_timings(run[stage]) for run in runs)
        assert ours == again, f"{stage}: summaries differ between two runs of the same params"
    # and the comparison is not empty: the headline numbers are in what was compared
    assert without_timings(runs[0]["segmentation"])["metrics"]["seg_miou"]["full_supervision"] >= 0
    assert "train_s" not in without_timings(runs[0]["segmentation"])["metrics"]


def test_without_timings_drops_only_timing_keys():
    summary = {"wall_time_s": 3.0, "metrics": {"seed_miou": {"slams": 1.0}, "train_s": {"cam": 2.0},
                                               "seconds": {"x": 1}, "images_per_s": 4.0,
                                               "throughput_ratio_slams_to_cam": 0.5,
                                               "rows": [{"refine_s": 1.0, "miou": 2.0}]}}
    assert without_timings(summary) == {"metrics": {"seed_miou": {"slams": 1.0}, "rows": [{"miou": 2.0}]}}
