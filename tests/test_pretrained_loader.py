"""create_model(name, checkpoint=FILE): layouts told from keys, one-line refusals, heads,
and class names that travel from the checkpoint into the artifact's manifest."""

from __future__ import annotations

import json

import pytest
import torch
from test_pretrained_oracles import read_oracle, save_official, zoo_args

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.pretrained import dataset_labels, known_layouts, read_label_file


def official_rows(name: str, **replace_shapes):
    """The oracle's rows, with some shapes replaced ({key: shape})."""
    _, rows = read_oracle(name)
    return [(k, tuple(replace_shapes.get(k, shape)), dtype) for k, shape, dtype in rows]


def small_random_state_dict(rows) -> dict[str, torch.Tensor]:
    """Weights that give finite, input-dependent outputs (variances positive)."""
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for key, shape, dtype in rows:
        if dtype == torch.int64:
            sd[key] = torch.zeros(shape, dtype=dtype)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=gen) * 0.1
    return sd


def one_line_error(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and isinstance(excinfo.value, WeightsError)
    return text


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "X3D_XS.pyth"
    path.write_text("<html>404 not found</html>")
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path))
    assert f"cannot read checkpoint {path}" in one_line_error(e)


def test_a_truncated_checkpoint_is_one_line(tmp_path):
    whole = save_official(tmp_path / "whole.pyth", "pyslowfast-x3d")
    cut = tmp_path / "cut.pyth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(cut))
    assert "truncated" in one_line_error(e)


def test_an_unknown_layout_lists_the_known_ones(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(3)}}, path)
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path))
    text = one_line_error(e)
    assert "cannot tell which release" in text and "backbone.conv1.weight" in text
    assert f"known layouts: {known_layouts()}" in text and "pytorchvideo-x3d (x3d)" in text


def test_a_state_dict_without_tensors_is_refused(tmp_path):
    path = tmp_path / "meta.pyth"
    torch.save({"epoch": 3, "cfg": "MODEL: X3D"}, path)
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path))
    assert "holds no state dict of tensors (top-level keys: epoch, cfg)" in one_line_error(e)


def test_a_mobilekit_training_checkpoint_is_sent_to_its_own_loader(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": "x3d_xs", "model_config": {}, "classes": [], "state_dict": {}}, path)
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path))
    assert "is a mobilekit.train checkpoint" in one_line_error(e) and "--checkpoint" in str(e.value)


def test_a_checkpoint_of_another_family_names_the_model_it_loads_into(tmp_path):
    path = save_official(tmp_path / "K400_MVIT_B_16x4_CONV.pyth", "pyslowfast-mvit")
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path))
    assert "is a pyslowfast-mvit checkpoint, which loads into the mvit family (mvit_s), not x3d_xs" \
        in one_line_error(e)


def test_another_architecture_lists_missing_and_unexpected_keys_in_one_line(tmp_path):
    path = save_official(tmp_path / "K400_MVIT_B_16x4_CONV.pyth", "pyslowfast-mvit")
    with pytest.raises(WeightsError) as e:   # MViT-B has 16 blocks, mvit_s 10
        create_model("mvit_s", checkpoint=str(path))
    text = one_line_error(e)
    assert "(pyslowfast-mvit) does not fit mvit_s" in text
    assert "missing: blocks.7.proj.weight" in text and "unexpected: blocks.10." in text
    assert "stage_depths=(1, 2, 11, 2)" in text


def test_other_frames_than_the_checkpoints_is_a_shape_error_naming_the_embedding(tmp_path):
    path = save_official(tmp_path / "MVIT_B_16x4.pyth", "pytorchvideo-mvit")
    args = {**zoo_args("pytorchvideo-mvit"), "num_frames": 8}
    with pytest.raises(WeightsError) as e:
        create_model(**args, checkpoint=str(path))
    assert "1 of wrong shape (checkpoint vs model): pos_embed_temporal (1, 8, 96) vs (1, 4, 96)" \
        in one_line_error(e)


def test_labels_without_a_checkpoint_are_refused(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("run\n")
    with pytest.raises(WeightsError, match="labels name the classes of a checkpoint, and none was given"):
        create_model("x3d_xs", labels=str(labels))


def test_a_missing_checkpoint_file_is_one_line(tmp_path):
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(tmp_path / "X3D_XS.pyth"))
    assert "does not exist" in one_line_error(e)


def test_a_safetensors_checkpoint_without_container_loads(tmp_path):
    from safetensors.torch import save_file

    _, rows = read_oracle("pyslowfast-x3d")
    sd = small_random_state_dict(rows)
    save_file(sd, str(tmp_path / "x3d_xs.safetensors"))
    model = create_model("x3d_xs", checkpoint=str(tmp_path / "x3d_xs.safetensors"))
    assert torch.equal(model.stages[3][6].se.fc2.weight, sd["s5.pathway0_res6.branch2.se.fc2.weight"].reshape(432, 32))


def test_checkpoint_and_backbone_weights_together_are_refused(tmp_path):
    path = save_official(tmp_path / "x3d_xs.pyth", "pyslowfast-x3d")
    with pytest.raises(WeightsError, match="both checkpoint and backbone_weights"):
        create_model("x3d_xs", checkpoint=str(path), backbone_weights=str(path))


def test_a_kinetics_head_brings_the_kinetics_400_names(tmp_path):
    path = save_official(tmp_path / "X3D_XS.pyth", "pytorchvideo-x3d")
    model = create_model("x3d_xs", checkpoint=str(path))
    assert model.mobilekit_config["num_classes"] == 400
    assert model.mobilekit_classes == dataset_labels("kinetics400")
    assert model.mobilekit_classes[:2] == ["abseiling", "air drumming"]
    assert model.mobilekit_pretrained["dataset"] == "kinetics400"


def test_an_ssv2_head_sets_174_classes_and_the_ssv2_names(tmp_path):
    rows = official_rows("pyslowfast-x3d", **{"head.projection.weight": (174, 2048),
                                              "head.projection.bias": (174,)})
    path = save_official(tmp_path / "x3d_ssv2.pyth", "pyslowfast-x3d", small_random_state_dict(rows))
    model = create_model("x3d_xs", checkpoint=str(path))
    assert model.head.fc.out_features == 174 and model.mobilekit_config["num_classes"] == 174
    assert model.mobilekit_classes[0] == "Approaching something with your camera"
    assert len(model.mobilekit_classes) == 174 and model.mobilekit_pretrained["dataset"] == "ssv2"


def test_other_classes_keep_the_new_head_and_load_the_rest(tmp_path):
    _, rows = read_oracle("pyslowfast-x3d")
    sd = small_random_state_dict(rows)
    path = save_official(tmp_path / "x3d_xs.pyth", "pyslowfast-x3d", sd)
    torch.manual_seed(0)
    fresh_head = create_model("x3d_xs", num_classes=10).head.fc.weight.detach().clone()
    torch.manual_seed(0)
    model = create_model("x3d_xs", num_classes=10, checkpoint=str(path))
    assert torch.equal(model.head.fc.weight, fresh_head)            # left as built
    assert torch.equal(model.stem[0].weight, sd["s1.pathway0_stem.conv_xy.weight"])
    assert torch.equal(model.post_conv.weight, sd["head.lin_5.weight"].reshape(2048, 432))
    assert model.mobilekit_classes is None and model.mobilekit_pretrained["head"].startswith("new")
    # EPIC-KITCHENS-style named heads: new too, the rest loaded
    named = create_model("x3d_xs", num_classes={"verb": 3, "noun": 4}, checkpoint=str(path))
    assert torch.equal(named.stem[0].weight, sd["s1.pathway0_stem.conv_xy.weight"])
    assert named.mobilekit_classes is None


def test_a_label_file_names_the_classes(tmp_path):
    path = save_official(tmp_path / "X3D_XS.pyth", "pytorchvideo-x3d")
    names = [f"action {i}" for i in range(400)]
    as_text = tmp_path / "labels.txt"
    as_text.write_text("\n".join(names) + "\n\n")
    assert create_model("x3d_xs", checkpoint=str(path), labels=str(as_text)).mobilekit_classes == names
    # PyTorchVideo's kinetics_classnames.json: {"\"name\"": index}, not in index order
    as_json = tmp_path / "kinetics_classnames.json"
    as_json.write_text(json.dumps({f'"{n}"': i for i, n in reversed(list(enumerate(names)))}))
    assert read_label_file(as_json) == names


def test_a_label_file_of_the_wrong_length_is_refused(tmp_path):
    path = save_official(tmp_path / "X3D_XS.pyth", "pytorchvideo-x3d")
    labels = tmp_path / "labels.txt"
    labels.write_text("run\njump\nswim\n")
    with pytest.raises(WeightsError) as e:
        create_model("x3d_xs", checkpoint=str(path), labels=str(labels))
    assert "names 3 classes but the model has 400 outputs" in one_line_error(e)


@pytest.mark.parametrize("content, problem", [
    ('{"run": 0, "jump": 2}', "maps names to something other than the indices 0..1"),
    ("[1, 2]", "holds neither a list of names"),
    ("{not json", "is not valid JSON"),
    ('["run", "run"]', "repeats class names (run)"),
])
def test_bad_label_files_are_one_line(tmp_path, content, problem):
    labels = tmp_path / "labels.json"
    labels.write_text(content)
    with pytest.raises(WeightsError) as e:
        read_label_file(labels)
    assert problem in one_line_error(e)


def test_checkpoint_class_names_travel_into_the_manifest(tmp_path):
    from converters.api import convert

    _, rows = read_oracle("pytorchvideo-x3d")
    path = save_official(tmp_path / "X3D_XS.pyth", "pytorchvideo-x3d", small_random_state_dict(rows))
    model = create_model("x3d_xs", num_frames=2, image_size=32, checkpoint=str(path))
    art = convert(model, "ptl", tmp_path / "art", samples=1, latency_runs=0)
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    assert manifest["classes"] == dataset_labels("kinetics400") and manifest["num_classes"] == 400
    assert art is not None
