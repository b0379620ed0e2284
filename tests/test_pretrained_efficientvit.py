"""EfficientViT: mit-han-lab/efficientvit's ImageNet B1 classifiers (the only public
checkpoints of the zoo's network; there is no video release) load into efficientvit_b1_tsn by
create_model(checkpoint=), and into efficientvit_b1_3d by inflation. The key/shape oracle is
tests/data/pretrained/efficientvit-cls.tsv (loaded tensor by tensor in test_pretrained_oracles)."""

from __future__ import annotations

import pytest
import torch
from test_pretrained_loader import small_random_state_dict
from test_pretrained_oracles import read_oracle, save_official

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.efficientvit import inflate_2d_checkpoint

TINY = dict(num_frames=2, image_size=64)


@pytest.fixture(scope="module")
def imagenet_b1(tmp_path_factory):
    _, rows = read_oracle("efficientvit-cls")
    sd = small_random_state_dict(rows)
    return save_official(tmp_path_factory.mktemp("evit") / "efficientvit_b1_r224.pt", "efficientvit-cls", sd), sd


def test_an_imagenet_b1_fine_tunes_into_the_per_frame_model(imagenet_b1):
    path, sd = imagenet_b1
    model = create_model("efficientvit_b1_tsn", num_classes=400, checkpoint=str(path), **TINY)
    assert model.mobilekit_pretrained["layout"] == "efficientvit-cls"
    assert model.mobilekit_pretrained["head"].startswith("new") and model.mobilekit_classes is None
    assert model.head.op_list[3].linear.out_features == 400
    assert torch.equal(model.head.op_list[2].linear.weight, sd["head.op_list.2.linear.weight"])


def test_the_3d_model_is_sent_to_the_inflating_loader_and_it_takes_every_tensor(imagenet_b1):
    path, sd = imagenet_b1
    with pytest.raises(WeightsError) as e:
        create_model("efficientvit_b1_3d", checkpoint=str(path), **TINY)
    text = str(e.value)
    assert "\n" not in text and "of wrong shape" in text and "inflate_2d_checkpoint(model, FILE)" in text
    model = create_model("efficientvit_b1_3d", num_classes=1000, **TINY)
    assert inflate_2d_checkpoint(model, path) == []            # nothing skipped, nothing left out
    kernel = sd["backbone.input_stem.op_list.0.conv.weight"]
    inflated = dict(model.state_dict())["backbone.input_stem.op_list.0.conv.weight"]
    # stored folded (C_out, C_in * T_k, k, k), each of the 3 taps a third of the 2-D kernel
    torch.testing.assert_close(inflated.reshape(16, 3, 3, 3, 3).sum(2), kernel)
