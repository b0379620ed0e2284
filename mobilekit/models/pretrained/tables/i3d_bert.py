"""I3D-BERT checkpoints -> mobilekit.models.i3d_bert (i3d_bert: I3D ResNet-50 + one 2048-wide
BERT layer, paper 001's configuration). None loads: the authors' release is another model.

Names from artest08/LateTemporalModeling3DCNN@03279af (the repository has no tags), the
official code of Kalfaoglu et al. 2020: models/rgb_I3D.py (`rgb_I3D64f_bert2`: the Inception
I3D of piergiaj/pytorch-i3d as `features`, a 1024-wide BERT2 as `bert`, `fc_action`), and the
same `bert` + `fc_action` over R(2+1)D-34 (models/rgb_r2plus1d.py), ResNeXt-101
(rgb_resneXt3D.py) and SlowFast-50 (rgb_slowfast.py) backbones. two_stream_bert2.py saves
{"state_dict": model.state_dict(), "arch", "epoch", ...}. None of its backbones is an I3D
ResNet-50, and its BERT (1024 wide over the Inception I3D, norms as `a_2`/`b_2`, a learned
`clsToken` and position table, a 4x feed-forward) is not the zoo's 2048-wide layer, so its
checkpoints are refused by their `bert.clsToken` and `fc_action`.
"""

from mobilekit.models.pretrained.layout import Layout

LATE_TEMPORAL_BERT = Layout(
    name="late-temporal-bert",
    family="i3d_bert",
    source="artest08/LateTemporalModeling3DCNN@03279af models/rgb_I3D.py, models/BERT/bert.py",
    signature=("bert.clsToken", "fc_action.weight"),
    renames=(),
    refuse=("it is LateTemporalModeling3DCNN's BERT over an Inception-I3D, R(2+1)D-34, ResNeXt-101 or "
            "SlowFast backbone, and the zoo's I3D-BERT is paper 001's I3D ResNet-50 with a 2048-wide "
            "pre-norm BERT layer"),
    hint="no public I3D ResNet-50 + BERT checkpoint exists: start from ImageNet ResNet-50 weights "
         "(model.i3d.load_inflated_weights('resnet50.pth')) and train with python -m mobilekit.train",
)

LAYOUTS = (LATE_TEMPORAL_BERT,)
