"""ViViT checkpoints -> mobilekit.models.vivit (vivit_fe: DeiT-small per frame + 2 temporal
layers, paper 001's configuration). None loads: the official release is another size.

Names from google-research/scenic@4a38d47 (no release tags) scenic/projects/vivit/model.py
(`SpaceTimeViViT`, built by `ViViTClassificationModel.build_flax_model` for
attention_config.type 'factorized_encoder'). The released FE checkpoints (README: ViViT-B/16x2
FE on Kinetics 400, ViViT-L/16x2 FE on Kinetics 400/600, Epic Kitchens) are Flax/Scenic
checkpoints: the params tree `cls_SpatialTransformer`, `embedding` (a 2x16x16 tubelet
Conv3d), `SpatialTransformer` (12 or 24 layers at 768 or 1024 wide), `cls_TemporalTransformer`,
`TemporalTransformer` (4 to 24 layers), `output_projection`. The zoo's is 384 wide with a 16x16
per-frame patch embedding, 12 spatial and 2 temporal layers, so they are refused by the two
class tokens, once read as a state dict whose keys are the tree's paths joined by "."
(tests/data/pretrained/README.md).
"""

from mobilekit.models.pretrained.layout import Layout

SCENIC_VIVIT_FE = Layout(
    name="scenic-vivit-fe",
    family="vivit",
    source="google-research/scenic@4a38d47 scenic/projects/vivit/model.py (SpaceTimeViViT)",
    signature=("cls_SpatialTransformer", "cls_TemporalTransformer"),
    renames=(),
    refuse=("it is Scenic's ViViT-B or ViViT-L factorised encoder (768/1024 wide, 2x16x16 tubelets, 4-24 temporal "
            "layers), and the zoo's vivit_fe is paper 001's DeiT-small (384 wide, 16x16 patches per frame) "
            "with 2 temporal layers"),
    hint="no public DeiT-small ViViT-FE checkpoint exists: start from timm's deit_small_patch16_224 ImageNet "
         "weights (create_model('vivit_fe', backbone_weights=FILE)) and train with python -m mobilekit.train",
)

LAYOUTS = (SCENIC_VIVIT_FE,)
