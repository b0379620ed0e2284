"""MViT v1 checkpoints -> mobilekit.models.mvit (MViT-B with stage_depths=(1, 2, 11, 2);
mvit_s itself has no public checkpoint).

PyTorchVideo: names from facebookresearch/pytorchvideo@0.1.3
pytorchvideo/models/vision_transformers.py (`create_multiscale_vision_transformers`) and
pytorchvideo/layers/attention.py; its hub serves MVIT_B_16x4.pyth and MVIT_B_32x3.pyth.
The zoo's block names already are PyTorchVideo's and PySlowFast's; only the stem, the
position embeddings, the last norm and the head differ.

PySlowFast: names from facebookresearch/SlowFast@e289403 (the last MViT v1 code; the
repository has no tags) slowfast/models/video_model_builder.py (`MViT`) and attention.py,
built with configs/Kinetics/MVIT_B_16x4_CONV.yaml; its model zoo's
K400_MVIT_B_16x4_CONV.pyth. Only the head's name differs from the zoo's.
MViTv2 checkpoints (relative position tables, no separable embeddings) are another model.
"""

from mobilekit.models.pretrained.layout import Layout

MVIT_HINT = ("MViT-B checkpoints load into create_model('mvit_s', stage_depths=(1, 2, 11, 2)) at their "
             "frames and size (16x4: num_frames=16, 32x3: num_frames=32; image_size=224)")

PYTORCHVIDEO_MVIT = Layout(
    name="pytorchvideo-mvit",
    family="mvit",
    source="facebookresearch/pytorchvideo@0.1.3 pytorchvideo/models/vision_transformers.py",
    signature=("patch_embed.patch_model.weight", "cls_positional_encoding.cls_token"),
    renames=(
        (r"^patch_embed\.patch_model\.", "patch_embed.proj."),
        (r"^cls_positional_encoding\.", ""),
        (r"^norm_embed\.", "norm."),
        (r"^head\.proj\.", "head.fc."),
    ),
    hint=MVIT_HINT,
)

PYSLOWFAST_MVIT = Layout(
    name="pyslowfast-mvit",
    family="mvit",
    source="facebookresearch/SlowFast@e289403 slowfast/models/video_model_builder.py",
    signature=("patch_embed.proj.weight", "head.projection.weight"),
    renames=((r"^head\.projection\.", "head.fc."),),
    hint=MVIT_HINT,
)

LAYOUTS = (PYTORCHVIDEO_MVIT, PYSLOWFAST_MVIT)
