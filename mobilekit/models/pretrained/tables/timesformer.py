"""TimeSformer checkpoints -> mobilekit.models.timesformer (divided space-time, base).

Names from facebookresearch/TimeSformer@a5ef29a (the repository has no tags)
timesformer/models/vit.py: `vit_base_patch16_224` wraps the `VisionTransformer` as `model`,
so its released TimeSformer_divST_*.pyth ({"model_state": ...}) key everything "model.".
The zoo keeps the ViT parts in `backbone` (timm's names, which the release shares) and each
block's temporal half in `temporal.{i}`.
"""

from mobilekit.models.pretrained.layout import Layout

TIMESFORMER = Layout(
    name="timesformer",
    family="timesformer",
    source="facebookresearch/TimeSformer@a5ef29a timesformer/models/vit.py",
    signature=("model.time_embed", "model.blocks.0.temporal_fc.weight"),
    renames=(
        (r"^model\.blocks\.(\d+)\.temporal_", r"temporal.\1.temporal_"),
        (r"^model\.time_embed$", "time_embed"),       # (1, T, C) -> the zoo's (1, T, 1, C)
        (r"^model\.head\.", "head.fc."),
        (r"^model\.", "backbone."),
    ),
    hint="TimeSformer checkpoints load at their frames and size: num_frames=8, image_size=224 for "
         "divST_8x32_224, 16 and 448 for divST_16x16_448, 96 and 224 for divST_96x4_224",
)

LAYOUTS = (TIMESFORMER,)
