"""Non-local R50 checkpoints -> mobilekit.models.nonlocal_r50 (nl_r50: a 2-D ResNet-50 per frame,
C2D, with 5 non-local blocks after res3 blocks 1, 3 and res4 blocks 1, 3, 5; paper 001's
configuration). None loads: the PyTorch releases are I3D, another model.

Names from open-mmlab/mmaction2@v1.2.0 mmaction/models/backbones/resnet3d.py (`ResNet3d`,
mmcv's `NonLocal3d` as `layerN.i.non_local_block`) and heads/i3d_head.py (`fc_cls`), under
Recognizer3D's `backbone` / `cls_head`: the i3d_imagenet-pretrained-r50-nl-{embedded-gaussian,
gaussian,dot-product}_8xb8-32x2x1-100e_kinetics400-rgb releases ({"state_dict", "meta"}).
Their non-local blocks are the zoo's (same places, same tensors), but the ResNet-50 is
inflated (a 5x7x7 conv1, 3x1x1 first convs in half the blocks), so they are refused.

Not covered: mmaction2's TSM-NL (a shifted ResNet, non-local after blocks 0, 2, 4), PySlowFast's
I3D_NLN_8x8_R50.pkl (I3D again), and the one C2D release, facebookresearch/video-nonlocal-net's
c2d_nonlocal_{8x8,32x2}_IN_pretrain_400k.pkl: a Caffe2 pickle of numpy blobs, with biases on
every non-local conv (the zoo's output conv has none, before its BatchNorm) and a temporal max
pool after res2 that the zoo does not have.
"""

from mobilekit.models.pretrained.layout import Layout

MMACTION2_I3D_NL = Layout(
    name="mmaction2-i3d-nl",
    family="nonlocal",
    source="open-mmlab/mmaction2@v1.2.0 mmaction/models/backbones/resnet3d.py, heads/i3d_head.py",
    signature=("backbone.layer2.1.non_local_block.conv_out.conv.weight", "cls_head.fc_cls.weight"),
    renames=(),
    refuse=("it is mmaction2's I3D-NL, whose ResNet-50 is inflated to 3-D (5x7x7 conv1, 3x1x1 convs), and the "
            "zoo's nl_r50 is paper 001's C2D (a 2-D ResNet-50 per frame) with the same non-local blocks"),
    hint="no public C2D non-local checkpoint loads here: start nl_r50 from ResNet-50 ImageNet weights "
         "(create_model('nl_r50', backbone_weights=FILE)) and train with python -m mobilekit.train",
)

LAYOUTS = (MMACTION2_I3D_NL,)
