import pytest

from slamslib.config import load_config
from slamslib.errors import SlamsError


def test_misspelled_key_names_it_and_suggests_the_closest():
    with pytest.raises(SlamsError, match=r"unknown key 'benchmark.cue_shar' \(did you mean "
                                         r"'benchmark.cue_share'\?\)"):
        load_config("params/smoke.yaml", ["benchmark.cue_shar=[0.1, 0.2]"])


def test_wrong_type_names_the_key_and_value():
    with pytest.raises(SlamsError, match=r"benchmark.val_size: .*integer.*'many'"):
        load_config("params/smoke.yaml", {"benchmark.val_size": "many"})


def test_bad_choice_and_bad_range():
    with pytest.raises(SlamsError, match=r"data.name: .*'synthetic', 'voc' or 'coco'"):
        load_config("params/smoke.yaml", ["data.name=imagenet"])
    with pytest.raises(SlamsError, match=r"train_size must not exceed train_aug_size"):
        load_config("params/smoke.yaml", ["benchmark.train_size=1000"])


@pytest.mark.parametrize("override, message", [
    ("maps.scales=[-1.0]", r"maps.scales: Input should be greater than 0, got -1.0"),
    ("segmentation.eval.scales=[0.0]", r"segmentation.eval.scales: Input should be greater than 0"),
    ("maps.thresholds=[0.5, 1.5]", r"maps.thresholds: Input should be less than 1, got 1.5"),
    ("pseudo_labels.affinity.threshold=1.5", r"pseudo_labels.affinity.threshold: Input should be less than 1"),
    ("benchmark.objects_per_image=[0, 0]", r"benchmark.objects_per_image: .*greater than or equal to 1"),
    ("benchmark.object_scale=[0, 0.5]", r"benchmark.object_scale: Input should be greater than 0"),
])
def test_values_that_would_run_and_mean_nothing_are_refused(override, message):
    with pytest.raises(SlamsError, match=message):
        load_config("params/smoke.yaml", [override])


def test_missing_dataset_directory_for_real_data(tmp_path):
    with pytest.raises(SlamsError, match=r"data.root '.*nowhere' is not a directory \(data.name=voc"):
        load_config("params/smoke.yaml", ["data.name=voc", f"data.root={tmp_path / 'nowhere'}"])


def test_missing_params_file_and_bad_yaml(tmp_path):
    with pytest.raises(SlamsError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: [unclosed\n")
    with pytest.raises(SlamsError, match="not valid YAML"):
        load_config(bad)
    partial = tmp_path / "partial.yaml"
    partial.write_text("run_name: x\n")
    with pytest.raises(SlamsError, match="required key 'data' is missing"):
        load_config(partial)


def test_overrides_from_console_and_notebook_agree_and_values_parse_as_yaml():
    console = load_config("params/smoke.yaml", ["benchmark.objects_per_image=[2, 4]", "seed=3"])
    notebook = load_config("params/smoke.yaml", {"benchmark.objects_per_image": [2, 4], "seed": 3})
    assert console.benchmark.objects_per_image == (2, 4) and console.seed == 3
    assert console.hash() == notebook.hash()


def test_hash_is_stable_and_follows_the_params():
    a, b = load_config("params/smoke.yaml"), load_config("params/smoke.yaml")
    assert a.hash() == b.hash() and len(a.hash()) == 16
    c = load_config("params/smoke.yaml", ["benchmark.context_rate=0.5"])
    assert c.hash() != a.hash()
    assert c.hash("data") == a.hash("data")   # a section's hash ignores the other sections


def test_default_splits_follow_the_dataset():
    cfg = load_config("params/smoke.yaml")
    assert (cfg.data.train_split, cfg.data.seed_split, cfg.data.val_split) == ("train_aug", "train", "val")


@pytest.mark.parametrize("name", ["demo", "smoke", "voc", "coco"])
def test_every_shipped_params_file_validates(name):
    load_config(f"params/{name}.yaml", check_data=False)


def test_a_run_with_every_slams_loss_switched_off_is_refused():
    overrides = {f"activation_net.losses.{k}": 0 for k in ("sem", "fg", "bg", "reg", "con")}
    with pytest.raises(SlamsError, match="at least one loss weight"):
        load_config("params/smoke.yaml", overrides)


def refuses_to_train(smoke_tree, tmp_path, name: str, overrides: dict, message: str) -> None:
    from slamslib.training import train_network
    _, root = smoke_tree
    cfg = load_config("params/smoke.yaml", {"data.root": str(root), "results_dir": str(tmp_path), **overrides})
    with pytest.raises(SlamsError, match=message):
        train_network(cfg, name, 5, progress=False)


def test_the_global_batch_must_split_over_the_processes(smoke_tree, tmp_path):
    refuses_to_train(smoke_tree, tmp_path, "semantic_encoder", {"semantic_encoder.train.batch_size": 100},
                     "has 40 images, fewer than train.batch_size=100")


def test_one_image_per_process_is_refused_for_the_aspp_v3_head(smoke_tree, tmp_path):
    refuses_to_train(smoke_tree, tmp_path, "segmentation_full_supervision",
                     {"segmentation.train.batch_size": 1}, "segmentation.train.batch_size gives 1 image")
