"""EfficientViT checkpoints -> mobilekit.models.efficientvit (efficientvit_b1_tsn).

mit-han-lab/efficientvit publishes no video checkpoint; its ImageNet classifiers
efficientvit_b1_r224.pt / r256 / r288 ({"state_dict": ...}) are the zoo's per-frame network
and head. Names from mit-han-lab/efficientvit@de7d773 (the repository has no tags)
efficientvit/models/efficientvit/cls.py (`efficientvit_cls_b1`), backbone.py and
models/nn/ops.py: the zoo's are the same, so the table renames nothing. A 1000-class head
loads as is (ImageNet logits of the frame-averaged features); `num_classes=N` keeps every
other tensor for fine-tuning. efficientvit_b1_3d needs the kernels inflated along time, which
`mobilekit.models.efficientvit.inflate_2d_checkpoint` does.
"""

from mobilekit.models.pretrained.layout import Layout

EFFICIENTVIT_CLS = Layout(
    name="efficientvit-cls",
    family="efficientvit",
    source="mit-han-lab/efficientvit@de7d773 efficientvit/models/efficientvit/cls.py",
    signature=("backbone.input_stem.op_list.0.conv.weight", "head.op_list.3.linear.weight"),
    renames=(),
    datasets=(),                                  # ImageNet-1k: no class list shipped
    classifier="head.op_list.3.linear",
    hint="EfficientViT-B1 ImageNet checkpoints load into efficientvit_b1_tsn; for efficientvit_b1_3d use "
         "mobilekit.models.efficientvit.inflate_2d_checkpoint(model, FILE), which inflates the kernels in time",
)

LAYOUTS = (EFFICIENTVIT_CLS,)
