"""X3D checkpoints -> mobilekit.models.x3d (x3d_xs; the zoo model's widths and depths are XS's).

PyTorchVideo: names from facebookresearch/pytorchvideo@0.1.3 pytorchvideo/models/x3d.py
(`create_x3d`: blocks.0 stem, blocks.1-4 res stages, blocks.5 ResNetBasicHead with a
ProjectedPool); its hub's X3D_XS.pyth ({"model_state": ...}) is what torch.hub serves.
Its res2 shortcut has no BatchNorm (`create_x3d_res_block` adds one only when the width
changes), while PySlowFast, which trained the weights, and the zoo have one: it loads as an
identity, which is exactly PyTorchVideo's computation.

PySlowFast: names from facebookresearch/SlowFast@e289403 (the repository has no tags)
slowfast/models/video_model_builder.py (`X3D`), resnet_helper.py, stem_helper.py and
head_helper.py (`X3DHead`), built with configs/Kinetics/X3D_XS.yaml; its model zoo's
x3d_xs.pyth ({"model_state": ...}).
"""

from mobilekit.models.pretrained.layout import Layout

PYTORCHVIDEO_X3D = Layout(
    name="pytorchvideo-x3d",
    family="x3d",
    source="facebookresearch/pytorchvideo@0.1.3 pytorchvideo/models/x3d.py",
    signature=("blocks.0.conv.conv_t.weight", "blocks.0.conv.conv_xy.weight"),
    renames=(
        # PyTorchVideo calls the 1x3x3 spatial conv conv_t and the 5x1x1 temporal one conv_xy.
        (r"^blocks\.0\.conv\.conv_t\.", "stem.0."),
        (r"^blocks\.0\.conv\.conv_xy\.", "stem.1."),
        (r"^blocks\.0\.norm\.", "stem.2."),
        (r"^blocks\.1\.res_blocks\.", "stages.0."),
        (r"^blocks\.2\.res_blocks\.", "stages.1."),
        (r"^blocks\.3\.res_blocks\.", "stages.2."),
        (r"^blocks\.4\.res_blocks\.", "stages.3."),
        (r"\.branch1_conv\.", ".shortcut.0."),
        (r"\.branch1_norm\.", ".shortcut.1."),
        # norm_b is Sequential(BatchNorm, SqueezeExcitation) where the block has SE.
        (r"\.branch2\.norm_b\.0\.", ".norm_b."),
        (r"\.branch2\.norm_b\.1\.block\.0\.", ".se.fc1."),
        (r"\.branch2\.norm_b\.1\.block\.2\.", ".se.fc2."),
        (r"\.branch2\.", "."),
        (r"^blocks\.5\.pool\.pre_conv\.", "pre_conv.0."),
        (r"^blocks\.5\.pool\.pre_norm\.", "pre_conv.1."),
        (r"^blocks\.5\.pool\.post_conv\.", "post_conv."),
        (r"^blocks\.5\.proj\.", "head.fc."),
    ),
    identity_norms=("stages.0.0.shortcut.1",),
)

PYSLOWFAST_X3D = Layout(
    name="pyslowfast-x3d",
    family="x3d",
    source="facebookresearch/SlowFast@e289403 slowfast/models/video_model_builder.py",
    signature=("s1.pathway0_stem.conv_xy.weight", "head.lin_5.weight"),
    renames=(
        (r"^s1\.pathway0_stem\.conv_xy\.", "stem.0."),
        (r"^s1\.pathway0_stem\.conv\.", "stem.1."),
        (r"^s1\.pathway0_stem\.bn\.", "stem.2."),
        (r"^s2\.pathway0_res", "stages.0."),
        (r"^s3\.pathway0_res", "stages.1."),
        (r"^s4\.pathway0_res", "stages.2."),
        (r"^s5\.pathway0_res", "stages.3."),
        (r"\.branch1\.", ".shortcut.0."),
        (r"\.branch1_bn\.", ".shortcut.1."),
        (r"\.branch2\.a\.", ".conv_a."),
        (r"\.branch2\.a_bn\.", ".norm_a."),
        (r"\.branch2\.b\.", ".conv_b."),
        (r"\.branch2\.b_bn\.", ".norm_b."),
        (r"\.branch2\.se\.", ".se."),
        (r"\.branch2\.c\.", ".conv_c."),
        (r"\.branch2\.c_bn\.", ".norm_c."),
        (r"^head\.conv_5\.", "pre_conv.0."),
        (r"^head\.conv_5_bn\.", "pre_conv.1."),
        (r"^head\.lin_5\.", "post_conv."),
        (r"^head\.projection\.", "head.fc."),
    ),
)

LAYOUTS = (PYTORCHVIDEO_X3D, PYSLOWFAST_X3D)
