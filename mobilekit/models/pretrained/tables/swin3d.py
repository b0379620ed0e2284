"""Video Swin checkpoints -> mobilekit.models.swin3d (swin_t: Swin-T, patch 2x4x4, window 8x7x7).

Names from SwinTransformer/Video-Swin-Transformer@db018fb (the repository carries only
mmaction2's tags) mmaction/models/backbones/swin_transformer.py (`SwinTransformer3D`) and
mmaction/models/heads/i3d_head.py, as mmaction's Recognizer3D saves them
({"state_dict": {"backbone.*", "cls_head.fc_cls.*"}, "meta": ...}), e.g. its released
swin_tiny_patch244_window877_kinetics400_1k.pth. The zoo's backbone names are the
reference's. `relative_position_index` is a buffer the release saves and the zoo computes
the same way from the window size.
"""

from mobilekit.models.pretrained.layout import Layout

VIDEO_SWIN = Layout(
    name="video-swin",
    family="swin3d",
    source="SwinTransformer/Video-Swin-Transformer@db018fb mmaction/models/backbones/swin_transformer.py",
    signature=("backbone.layers.0.blocks.0.attn.relative_position_bias_table", "cls_head.fc_cls.weight"),
    renames=(
        (r"^backbone\.", ""),
        (r"^cls_head\.fc_cls\.", "head.fc."),
    ),
    ignore=(r"backbone\.layers\.\d+\.blocks\.\d+\.attn\.relative_position_index",),
    hint="the zoo has Swin-T only (swin_t, window 8x7x7): Swin-S/B/L checkpoints have more blocks or widths",
)

LAYOUTS = (VIDEO_SWIN,)
