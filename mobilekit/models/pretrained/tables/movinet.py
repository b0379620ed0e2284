"""MoViNet checkpoints -> mobilekit.models.movinet (movinet_a0 / movinet_a2 and their *_stream
forms, which share one state dict: the official causal Stream form).

Names from Atze00/MoViNet-pytorch@c2d1edf (the repository has no tags) movinets/models.py
(`MoViNet`, `BasicBneck`, `SqueezeExcitation`, `ConvBlock3D`) and movinets/config.py, as
`MoViNet(cfg, causal=True, pretrained=True)` builds the model it loads
weights/modelA{0,2}_stream_statedict_v3 into: conv_type '2plus1d' (Conv2d + BatchNorm2d, the
temporal half of a depthwise conv in `deep.conv_2`), the '2plus3d' SE and a ReZero `alpha`
per block. The files are the TF Hub movinet/a{0,2}/stream/kinetics-600 weights renamed by
the port's weights/weight_load.ipynb and saved as a bare state dict (600 Kinetics classes).
Conv2d weights (C, C', k, k) and (C, 1, kt, 1) load into the zoo's Conv3d (C, C', 1, k, k)
and (C, 1, kt, 1, 1), 1x1 convs into the head's Linears, by the loader's size-1 reshape.

The port's base files (weights/modelA{0..5}_statedict_v3: non-causal, 3-D convolutions, an
SE of C -> C/4 over the whole clip) are another model: they are refused, naming the stream
file to use instead.
"""

from mobilekit.models.pretrained.layout import Layout

_HINT = ("MoViNet-A0 checkpoints load into movinet_a0 / movinet_a0_stream (image_size=172), A2 into "
         "movinet_a2 / movinet_a2_stream (image_size=224); the zoo has no A1 or A3-A5")

MOVINET_PYTORCH_STREAM = Layout(
    name="movinet-pytorch-stream",
    family="movinet",
    source="Atze00/MoViNet-pytorch@c2d1edf movinets/models.py",
    signature=("conv1.conv_1.conv2d.weight", "blocks.b0_l0.se.fc1.conv_1.conv2d.weight"),
    renames=(
        (r"^conv1\.conv_1\.", "stem."),
        (r"^conv7\.conv_1\.", "head_conv."),
        (r"^classifier\.0\.conv_1\.conv2d\.", "hidden."),
        (r"^classifier\.3\.conv_1\.conv2d\.", "head.fc."),
        (r"\.deep\.conv_1\.", ".conv."),            # depthwise 1xkxk, spatial
        (r"\.deep\.conv_2\.", ".conv_t."),          # depthwise kt x 1 x 1, causal (kt > 1)
        (r"\.expand\.conv_1\.", ".expand."),
        (r"\.project\.conv_1\.", ".project."),
        (r"\.se\.fc([12])\.conv_1\.conv2d\.", r".se.fc\1."),
        # res is [pool, conv] when the block is strided, [conv] when only the width changes.
        (r"\.res\.[01]\.conv_1\.", ".shortcut.proj."),
        (r"\.conv2d\.", ".conv."),
    ),
    datasets=("kinetics600",),
    hint=_HINT,
)

MOVINET_PYTORCH_BASE = Layout(
    name="movinet-pytorch-base",
    family="movinet",
    source="Atze00/MoViNet-pytorch@c2d1edf movinets/models.py",
    signature=("conv1.conv_1.conv3d.weight", "blocks.b0_l0.se.fc1.conv_1.conv3d.weight"),
    renames=(),
    refuse=("it is MoViNet-pytorch's base model (non-causal 3-D convolutions, an SE of C -> C/4 over the "
            "whole clip), and the zoo's MoViNet is the causal Stream form"),
    hint="load the stream file of the same size instead: modelA0_stream_statedict_v3 or "
         "modelA2_stream_statedict_v3",
)

LAYOUTS = (MOVINET_PYTORCH_STREAM, MOVINET_PYTORCH_BASE)
