"""benchmarks/gpu_budget.py counts per-image FLOPs and saved bytes of a real training step."""
import importlib.util

import pytest
import torch

from slamslib.config import load_config
from slamslib.training import build_task

spec = importlib.util.spec_from_file_location("gpu_budget", "benchmarks/gpu_budget.py")
gpu_budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_budget)


@pytest.mark.parametrize("name", ["cam", "activation_net", "segmentation_slams"])
def test_counts_are_per_image_and_grow_with_the_crop(name):
    """(The activation net's work also depends on the categories of each image, drawn at random, and
    its judge sees every piece at the SE's fixed input size: it grows, but less than the pixels.)"""
    cfg = load_config("params/smoke.yaml", check_data=False)
    task = build_task(cfg, name, 5, untrained=True).train()   # in a fresh clone nothing is trained
    cpu = torch.device("cpu")
    two = gpu_budget.count_step(task, gpu_budget.batch_for(name, 2, 64, 5, cpu))
    four = gpu_budget.count_step(task, gpu_budget.batch_for(name, 4, 64, 5, cpu))
    big = gpu_budget.count_step(task, gpu_budget.batch_for(name, 2, 128, 5, cpu))
    assert two[0] > 0 and two[1] > 0
    assert big[0] > 1.5 * two[0] and big[1] > 1.5 * two[1]
    if name != "activation_net":
        assert four[0] == pytest.approx(two[0], rel=0.02)         # FLOPs per image, whatever the batch
        assert 3 < big[0] / two[0] < 5 and 3 < big[1] / two[1] < 5   # 4x the pixels, ~4x the work
