"""TEA checkpoints -> mobilekit.models.tea (tea_r50: Res2Net-50 26w4s with ME and MTA).
None loads: the authors publish no trained checkpoint, and their code's block is not the zoo's.

Names from Phoenix1327/tea-action-recognition@f59e2f8 (the repository has no tags), the
authors' code: ops/tea50_8f.py / tea50_16f.py (`Bottle2neckShift`: `me`, `convs`, `bns` and
four `shifts`, Conv1d temporal convs) under ops/models.py's `TSN` (`base_model`, `new_fc`),
saved by main.py as {"state_dict": DataParallel(...).state_dict(), ...}. Its README says no
pretrained models are provided (the paper's were made before the modules were renamed), so
such checkpoints come only from training with that code. Its block convolves all four
channel groups in time (`shifts.3` on the group Res2Net passes through) where the zoo's has
three temporal convs, so they are refused by `shifts.3` and `me`.
"""

from mobilekit.models.pretrained.layout import Layout

TEA_OFFICIAL = Layout(
    name="tea-official",
    family="tea",
    source="Phoenix1327/tea-action-recognition@f59e2f8 ops/tea50_8f.py, ops/models.py",
    signature=("base_model.layer1.0.shifts.3.conv.weight", "base_model.layer1.0.me.conv1.weight"),
    renames=(),
    refuse=("it is the TEA authors' code's model, whose blocks have a fourth temporal conv (shifts.3, on the "
            "channel group the zoo's tea_r50 passes through unchanged)"),
    hint="the authors release no trained TEA checkpoint: train tea_r50 with python -m mobilekit.train",
)

LAYOUTS = (TEA_OFFICIAL,)
