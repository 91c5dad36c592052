import numpy as np
from PIL import Image

from slamslib.cli import main


def _png(path, array):
    Image.fromarray(np.asarray(array, np.uint8), mode="L").save(path)


def test_evaluate_prints_miou_with_two_decimals_over_every_image(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    _png(gt / "a.png", [[0, 1], [1, 255]])
    _png(pred / "a.png", [[0, 1], [0, 2]])
    _png(gt / "b.png", [[2, 2], [0, 0]])
    _png(pred / "b.png", [[2, 2], [0, 0]])
    _png(gt / "c.png", [[0]])          # a ground truth without prediction is not listed: not scored
    assert main(["evaluate", str(pred), "--gt", str(gt), "--num-classes", "3"]) == 0
    out = capsys.readouterr().out
    # class 0: tp 3 / union 4; class 1: 1/2; class 2: 2/2  -> (0.75 + 0.5 + 1) / 3
    assert "mIoU 75.00 over 2 images" in out


def test_evaluate_with_a_list_requires_every_listed_prediction(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    _png(gt / "a.png", [[0]])
    _png(pred / "a.png", [[0]])
    _png(gt / "b.png", [[0]])
    listing = tmp_path / "val.txt"
    listing.write_text("a\nb\n")
    assert main(["evaluate", str(pred), "--gt", str(gt), "--list", str(listing)]) == 2
    err = capsys.readouterr().err
    assert "prediction" in err and "b.png is missing" in err


def test_evaluate_refuses_a_missing_or_empty_list_and_too_few_classes(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    _png(gt / "a.png", [[0]])
    _png(pred / "a.png", [[0]])
    assert main(["evaluate", str(pred), "--gt", str(gt), "--list", str(tmp_path / "nosuch.txt")]) == 2
    assert "nosuch.txt is missing" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("\n")
    assert main(["evaluate", str(pred), "--gt", str(gt), "--list", str(tmp_path / "empty.txt")]) == 2
    assert "empty.txt lists no image" in capsys.readouterr().err
    assert main(["evaluate", str(pred), "--gt", str(gt), "--num-classes", "1"]) == 2
    assert "--num-classes 1" in capsys.readouterr().err


def test_evaluate_refuses_mismatched_sizes_and_classes(tmp_path, capsys):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    _png(gt / "a.png", [[0, 1]])
    _png(pred / "a.png", [[0, 1], [0, 1]])
    assert main(["evaluate", str(pred), "--gt", str(gt)]) == 2
    assert "is 2x2 but its ground truth is 2x1" in capsys.readouterr().err
    _png(pred / "a.png", [[0, 30]])
    assert main(["evaluate", str(pred), "--gt", str(gt)]) == 2
    assert "holds class 30" in capsys.readouterr().err


def test_bad_params_exit_2_with_one_sentence(capsys):
    assert main(["run", "benchmark", "--params", "params/smoke.yaml", "--set", "data.nam=x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "slams: error: params/smoke.yaml: unknown key 'data.nam' (did you mean 'data.name'?)"


def test_later_stages_name_the_stage_they_wait_for(smoke_tree, tmp_path, capsys):
    _, root = smoke_tree
    args = ["--params", "params/smoke.yaml", "--set", f"data.root={root}", "--set", f"results_dir={tmp_path}"]
    for stage, missing in (("cam_visualization", "activation_maps"), ("pseudo_labels", "activation_maps"),
                           ("segmentation", "pseudo_labels"), ("ablation", "activation_maps")):
        assert main(["run", stage, *args]) == 2
        assert f"run the {missing} stage first" in capsys.readouterr().err


def test_run_activation_maps_before_the_encoder_names_the_missing_stage(smoke_tree, tmp_path, capsys):
    _, root = smoke_tree
    args = ["--params", "params/smoke.yaml", "--set", f"data.root={root}",
            "--set", f"results_dir={tmp_path}"]
    assert main(["run", "activation_maps", *args]) == 2
    assert "run the semantic_encoder stage first" in capsys.readouterr().err
    assert main(["run", "semantic_encoder", *args]) == 0
    assert '"presence_map"' in capsys.readouterr().out
    assert (tmp_path / "smoke/semantic_encoder/summary.json").is_file()
