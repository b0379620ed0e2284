"""TSM checkpoints -> mobilekit.models.tsm (tsm_r50: ResNet-50, residual shift, 1/8 each way).

Names from mit-han-lab/temporal-shift-module@1f6a834 (the repository has no tags)
ops/models.py (`TSN`: `base_model` is torchvision's ResNet-50, `new_fc` the classifier) and
ops/temporal_shift.py (`make_temporal_shift` with place "blockres" wraps every bottleneck's
conv1 in a `TemporalShift`, hence "conv1.net"). main.py saves the DataParallel model
({"state_dict": {"module.*"}, ...}), e.g. its TSM_kinetics_RGB_resnet50_shift8_blockres_
avg_segment8_e50.pth and TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth.
The release averages per-frame logits, the zoo per-frame features before the same Linear:
the same numbers.
"""

from mobilekit.models.pretrained.layout import Layout

TSM = Layout(
    name="tsm",
    family="tsm",
    source="mit-han-lab/temporal-shift-module@1f6a834 ops/models.py",
    signature=("base_model.layer1.0.conv1.net.weight", "new_fc.weight"),
    renames=(
        (r"\.conv1\.net\.", ".conv1."),
        (r"^base_model\.", "backbone."),
        (r"^new_fc\.", "head.fc."),
    ),
    hint="the zoo's TSM is ResNet-50 with the residual (blockres) shift: other backbones or in-place "
         "shift checkpoints do not fit",
)

LAYOUTS = (TSM,)
