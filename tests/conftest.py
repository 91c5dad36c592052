import pytest

from slamslib.config import load_config
from slamslib.data.synthetic import generate


@pytest.fixture(scope="session")
def smoke_tree(tmp_path_factory):
    """The smoke benchmark, generated once per session; returns (config, VOC2012 root)."""
    base = tmp_path_factory.mktemp("smoke")
    root = base / "VOCdevkit" / "VOC2012"
    cfg = load_config("params/smoke.yaml", {"data.root": str(root), "results_dir": str(base / "results")})
    generate(cfg.benchmark, root)
    return cfg, root
