import shutil

import pytest

from slamslib.config import load_config
from slamslib.data.synthetic import generate
from slamslib.pipeline import reproduce


@pytest.fixture(scope="session")
def smoke_tree(tmp_path_factory):
    """The smoke benchmark, generated once per session; returns (config, VOC2012 root)."""
    base = tmp_path_factory.mktemp("smoke")
    root = base / "VOCdevkit" / "VOC2012"
    cfg = load_config("params/smoke.yaml", {"data.root": str(root), "results_dir": str(base / "results")})
    generate(cfg.benchmark, root)
    return cfg, root


@pytest.fixture(scope="session")
def smoke_run(smoke_tree, tmp_path_factory):
    """`slams reproduce` of all seven stages on the smoke params (every notebook executed by papermill,
    every default ablation row trained), made once per session: it is the suite's longest step. A test
    may read it and add a report to it; one that reruns, corrupts or deletes part of it takes
    `smoke_run_copy`. Returns (config, overrides, the report rows)."""
    _, root = smoke_tree
    overrides = {"data.root": str(root), "results_dir": str(tmp_path_factory.mktemp("run") / "results")}
    cfg = load_config("params/smoke.yaml", overrides)
    return cfg, overrides, reproduce(cfg, "params/smoke.yaml", overrides)


@pytest.fixture
def smoke_run_copy(smoke_run, tmp_path):
    """A private copy of the finished smoke run (file times kept: `is_current` compares them), with the
    config and overrides that point at it."""
    cfg, overrides, _ = smoke_run
    overrides = {**overrides, "results_dir": str(tmp_path / "results")}
    shutil.copytree(cfg.results_dir, tmp_path / "results", copy_function=shutil.copy2)
    return load_config("params/smoke.yaml", overrides), overrides
