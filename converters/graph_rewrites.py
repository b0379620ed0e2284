"""Graph-level rewrites on the torch.export graph: ops a target's delegate refuses, replaced
by numerically equal ops it takes. They work on ANY model (a user's module, PyTorchVideo's,
the zoo's, plain functional calls), never edit the caller's module, and complement the
module-level rewrites of mobilekit/models/rewrites.py (which retype known layers such as
nn.Conv3d).

Each pass declares the findings it fixes, as the compatibility checks name them: the op
(without its overload) and a condition on the node (`Fixes`). A check asks `fix_for(op,
nodes)` which pass removes a finding and puts its name on the finding; `mobilekit check --fix`
applies exactly those passes; a backend's `Target.graph_passes` lists the ones `convert` runs
by default. For XNNPACK (ExecuTorch 1.5.1's partitioner, executorch/backends/xnnpack/partition/
config) and the Neural Engine:

    conv3d_as_conv2d       aten.convolution / aten.conv3d with a 5-D weight -> a sum of conv2d
                           over time-shifted frames (step-1 slices, constant per-tap weights,
                           rank <= 5), as mobilekit.models.rewrites.Conv3dAsConv2d does for modules
    batch_norm_5d_as_4d    batch norm on a rank-5 input -> the same op on a (B, C, T*H, W) view
    adaptive_pool_as_mean  adaptive_avg_pool{2,3}d to size 1 -> keepdim mean over (H, W) /
                           (T, H, W), which mean_as_4d then makes 4-D
    avg_pool3d_as_2d       avg_pool3d -> avg_pool2d per frame on (B, C*T, H, W), then
                           avg_pool2d with a (kt, 1) kernel over time on (B, C, T, H'*W')
    mean_as_4d             mean over any dims of any rank -> permute + reshape to
                           (1, kept, reduced, last reduced) + a keepdim 4-D mean over (2, 3)
                           (the only mean it delegates) + reshape back
    softmax_last_dim       softmax over a non-last dim -> permute + softmax(-1) + permute

`rewrite_graph(model, example_input, target)` exports the model (strict=False), runs the
target's passes (or the ones named) on the GraphModule and returns it (an nn.Module the
converter exports again) with the names of the passes that changed something, for the
manifest; when none applies, the model itself comes back untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import fx, nn

aten = torch.ops.aten


# ---- node facts, the same on the export graph and on ExecuTorch's edge graph ---------------

def _shape(node) -> list[int] | None:
    """The static shape of a node's value; None when unknown or symbolic."""
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    if not isinstance(val, torch.Tensor) or not all(isinstance(d, int) for d in val.shape):
        return None
    return list(val.shape)


def base_op(target) -> str:
    """aten.mean for aten.mean.dim, edge-dialect aten.mean.dim, aten::mean and "aten.mean"."""
    name = getattr(target, "_name", None) or getattr(target, "__name__", None) or str(target)
    name = str(name).replace("::", ".")
    if name.startswith("torch.ops."):
        name = name.removeprefix("torch.ops.")
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else name


def _is(node, *bases: str) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_function" and base_op(node.target) in bases


def _arg(node: fx.Node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _dims(dims, rank: int) -> list[int]:
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        return list(range(rank))  # mean.dim with no dims is a mean over all of them
    dims = [dims] if isinstance(dims, int) else list(dims)
    return sorted({d % rank for d in dims})


def _triple(value, rank: int = 3) -> list[int]:
    if isinstance(value, int):
        return [value] * rank
    value = list(value)
    return value * rank if len(value) == 1 else value


def _kept_meta(node: fx.Node) -> dict:
    """What a replacement keeps of the node it stands for: where it comes from, and its value."""
    return {k: v for k, v in node.meta.items() if k in ("nn_module_stack", "stack_trace", "val")}


def _place(new: fx.Node, like: fx.Node) -> None:
    """Give `new` and the nodes added with it (those with no module stack yet) `like`'s module
    stack, so the checks and ETDump rows name the user's module for them too."""
    stack = like.meta.get("nn_module_stack")
    todo = [new]
    while stack and todo:
        n = todo.pop()
        if n.op == "call_function" and "nn_module_stack" not in n.meta:
            n.meta["nn_module_stack"] = stack
            todo.extend(n.all_input_nodes)


def _replace(graph: fx.Graph, node: fx.Node, new: fx.Node) -> None:
    _place(new, node)
    new.meta.update(_kept_meta(node))
    node.replace_all_uses_with(new)
    graph.erase_node(node)


# ---- plans: what a pass would do with a node (None: it leaves the node alone) ---------------
# The pass and the checks' "which pass fixes this finding?" use the same plan, so a finding is
# tagged exactly when the pass would rewrite its node.

def _overload(target) -> str:
    return getattr(target, "_overloadname", None) or str(target).rsplit(".", 1)[-1]


def _mean_plan(node: fx.Node):
    if not _is(node, "aten.mean") or node.kwargs.get("dtype") is not None:
        return None
    shape, out_shape = _shape(node.args[0]), _shape(node)
    if shape is None or out_shape is None or not shape:
        return None
    if _overload(node.target) == "default":  # x.mean(): over every dim; its 2nd argument is a dtype
        if len(node.args) > 1 and node.args[1] is not None:
            return None
        dims, keepdim = list(range(len(shape))), False
    else:
        dims = _dims(_arg(node, 1, "dim"), len(shape))
        keepdim = bool(_arg(node, 2, "keepdim", False))
    if len(shape) == 4 and dims == [2, 3] and keepdim:
        return None  # already the form XNNPACK delegates
    return shape, dims, out_shape


def _adaptive_plan(node: fx.Node):
    pools = {"aten.adaptive_avg_pool2d": 2, "aten._adaptive_avg_pool2d": 2,
             "aten.adaptive_avg_pool3d": 3, "aten._adaptive_avg_pool3d": 3}
    if not _is(node, *pools):
        return None
    n = pools[base_op(node.target)]
    shape = _shape(node.args[0])
    if shape is None or any(s != 1 for s in _triple(node.args[1], n)):
        return None
    return list(range(len(shape) - n, len(shape)))


def _avg_pool3d_plan(node: fx.Node):
    if not _is(node, "aten.avg_pool3d"):
        return None
    args = list(node.args) + [None] * (7 - len(node.args))
    x, kernel, stride, padding, ceil_mode, include_pad, divisor = args
    shape, out_shape = _shape(x), _shape(node)
    kernel = _triple(kernel)
    stride = _triple(stride) if stride else kernel
    padding = _triple(padding if padding is not None else 0)
    include_pad = True if include_pad is None else bool(include_pad)
    if shape is None or out_shape is None or len(shape) != 5 or ceil_mode or divisor is not None:
        return None
    if padding[0] and not include_pad:
        return None  # edge windows would divide by fewer frames: not separable
    return shape, out_shape, kernel, stride, padding, include_pad


def _softmax_plan(node: fx.Node):
    if not _is(node, "aten.softmax", "aten._softmax"):
        return None
    if base_op(node.target) == "aten.softmax" and (node.kwargs.get("dtype") is not None or
                                                   (len(node.args) > 2 and node.args[2] is not None)):
        return None
    if base_op(node.target) == "aten._softmax" and node.args[2]:
        return None  # half_to_float changes the dtype
    shape = _shape(node.args[0])
    if shape is None or len(shape) < 2:
        return None
    dim = node.args[1] % len(shape)
    return None if dim == len(shape) - 1 else (shape, dim)


def _conv3d_plan(node: fx.Node):
    """(x shape, weight shape, stride, padding, dilation, groups) of a 3-D convolution."""
    if _is(node, "aten.conv3d"):
        x, w, b = node.args[0], node.args[1], _arg(node, 2, "bias")
        stride, padding = _triple(_arg(node, 3, "stride", 1)), _arg(node, 4, "padding", 0)
        dilation, groups = _triple(_arg(node, 5, "dilation", 1)), _arg(node, 6, "groups", 1)
    elif _is(node, "aten.convolution"):
        x, w, b, stride, padding, dilation, transposed, _, groups = node.args[:9]
        if transposed:
            return None
        stride, dilation = _triple(stride), _triple(dilation)
    else:
        return None
    shape, wshape = _shape(x), _shape(w)
    if shape is None or wshape is None or len(wshape) != 5 or len(shape) != 5:
        return None
    if isinstance(padding, str):   # conv3d.padding: "valid", or "same" when it pads evenly
        if padding == "valid":
            padding = [0, 0, 0]
        elif padding == "same" and stride == [1, 1, 1] and all(d * (k - 1) % 2 == 0
                                                                 for d, k in zip(dilation, wshape[2:])):
            padding = [d * (k - 1) // 2 for d, k in zip(dilation, wshape[2:])]
        else:
            return None
    return shape, wshape, b, stride, _triple(padding), dilation, int(groups)


_BN_OPS = ("aten.batch_norm", "aten._native_batch_norm_legit_no_training")


def _bn5d_plan(node: fx.Node):
    if not _is(node, *_BN_OPS):
        return None
    if base_op(node.target) == "aten.batch_norm" and _arg(node, 5, "training", False):
        return None  # training mode updates running statistics: left as it is
    shape = _shape(node.args[0])
    return shape if shape is not None and len(shape) == 5 else None


# ---- the passes -----------------------------------------------------------------------------

def _mean_4d(graph: fx.Graph, x: fx.Node, shape: list[int], dims: list[int], out_shape: list[int]) -> fx.Node:
    """Nodes for x.mean(dims) reshaped to out_shape, written with a keepdim 4-D mean over (2, 3)."""
    rank = len(shape)
    kept = [d for d in range(rank) if d not in dims]
    if kept + dims != list(range(rank)):  # the reduced dims last, in order
        x = graph.call_function(aten.permute.default, (x, kept + dims))
    lead = math.prod(shape[d] for d in kept)
    inner = math.prod(shape[d] for d in dims[:-1])
    x = graph.call_function(aten.reshape.default, (x, [1, lead, inner, shape[dims[-1]]]))
    x = graph.call_function(aten.mean.dim, (x, [2, 3], True))
    return graph.call_function(aten.reshape.default, (x, list(out_shape)))


def mean_as_4d(gm: fx.GraphModule) -> int:
    """Every mean XNNPACK would refuse (not a keepdim 4-D mean over (2, 3)) as one it takes."""
    count = 0
    for node in list(gm.graph.nodes):
        plan = _mean_plan(node)
        if plan is None:
            continue
        shape, dims, out_shape = plan
        with gm.graph.inserting_before(node):
            new = _mean_4d(gm.graph, node.args[0], shape, dims, out_shape)
        _replace(gm.graph, node, new)
        count += 1
    return count


def adaptive_pool_as_mean(gm: fx.GraphModule) -> int:
    """adaptive_avg_pool2d/3d to output size 1 (global pooling) as a keepdim mean over the
    pooled dims: the same numbers (every output averages the whole plane / volume)."""
    count = 0
    for node in list(gm.graph.nodes):
        dims = _adaptive_plan(node)
        if dims is None:
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(aten.mean.dim, (node.args[0], dims, True))
        _replace(gm.graph, node, new)  # same output shape: its `val` is the pool's
        count += 1
    return count


def avg_pool3d_as_2d(gm: fx.GraphModule) -> int:
    """avg_pool3d on (B, C, T, H, W) as avg_pool2d over each frame, then a (kt, 1) avg_pool2d
    over time: an average over a box is the average over its frames of each frame's average
    when every frame of a window has the same divisor. That holds without temporal padding,
    or with it counted (count_include_pad, then the zeros are padded explicitly). ceil_mode and
    divisor_override are left as they are."""
    count = 0
    for node in list(gm.graph.nodes):
        plan = _avg_pool3d_plan(node)
        if plan is None:
            continue
        shape, out_shape, kernel, stride, padding, include_pad = plan
        x = node.args[0]
        b, c, t, h, w = shape
        g = gm.graph
        with g.inserting_before(node):
            if include_pad and any(padding):  # zeros counted in the divisor: pad them explicitly
                pt, ph, pw = padding
                x = g.call_function(aten.constant_pad_nd.default, (x, [pw, pw, ph, ph, pt, pt], 0.0))
                t, h, w = t + 2 * pt, h + 2 * ph, w + 2 * pw
                padding = [0, 0, 0]
            x = g.call_function(aten.reshape.default, (x, [b, c * t, h, w]))
            if kernel[1:] != [1, 1] or stride[1:] != [1, 1] or any(padding[1:]):
                x = g.call_function(aten.avg_pool2d.default,
                                    (x, kernel[1:], stride[1:], padding[1:], False, include_pad))
            _, _, _, h2, w2 = out_shape
            x = g.call_function(aten.reshape.default, (x, [b, c, t, h2 * w2]))
            if kernel[0] != 1 or stride[0] != 1:
                x = g.call_function(aten.avg_pool2d.default, (x, [kernel[0], 1], [stride[0], 1]))
            new = g.call_function(aten.reshape.default, (x, list(out_shape)))
        _replace(g, node, new)
        count += 1
    return count


def softmax_last_dim(gm: fx.GraphModule) -> int:
    """softmax over dim d < last as permute (swap d and last) + softmax(-1) + the same permute."""
    count = 0
    for node in list(gm.graph.nodes):
        plan = _softmax_plan(node)
        if plan is None:
            continue
        shape, dim = plan
        perm = list(range(len(shape)))
        perm[dim], perm[-1] = perm[-1], perm[dim]
        g = gm.graph
        with g.inserting_before(node):
            x = g.call_function(aten.permute.default, (node.args[0], perm))
            x = g.call_function(aten.softmax.int, (x, -1))
            new = g.call_function(aten.permute.default, (x, perm))
        _replace(g, node, new)
        count += 1
    return count


def _constant(gm: fx.GraphModule, node) -> torch.Tensor | None:
    """The tensor behind a get_attr node (a parameter, buffer or constant of the graph)."""
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        return None
    value = gm
    for part in str(node.target).split("."):
        value = getattr(value, part, None)
    return value if isinstance(value, torch.Tensor) else None


def _new_constant(gm: fx.GraphModule, stem: str, value: torch.Tensor) -> str:
    i = 0
    while hasattr(gm, f"{stem}_{i}"):
        i += 1
    # Not persistent: derived from a parameter (not a new weight a state dict should hold).
    gm.register_buffer(f"{stem}_{i}", value.detach().clone().contiguous(), persistent=False)
    return f"{stem}_{i}"


def conv3d_as_conv2d(gm: fx.GraphModule) -> int:
    """A 3-D convolution (nn.Conv3d, F.conv3d, aten.convolution with a 5-D weight) as the sum
    over its temporal taps i of conv2d(frames t*st + i*dt, weight[:, :, i]) (+ bias once), the
    numbers of mobilekit.models.rewrites.Conv3dAsConv2d, for any model. The rules that made the
    module version delegate fully hold here: the frames are sliced with step 1 (a temporal
    stride picks frames through a reshape, at rank 5 since Core ML refuses rank 6), and each
    tap's kernel is a constant of the graph (a buffer cut from the weight once) because XNNPACK
    delegates a conv2d only when its weight is one. A weight computed in forward is cut per tap
    with select instead: the conv2d then runs, undelegated, where a conv3d would not run at all."""
    count, replaced = 0, set()
    g = gm.graph
    for node in list(g.nodes):
        plan = _conv3d_plan(node)
        if plan is None:
            continue
        (b, c, t, h, w), (cout, cin_g, kt, kh, kw), bias, stride, padding, dilation, groups = plan
        st, pt, dt = stride[0], padding[0], dilation[0]
        t_out = (t + 2 * pt - dt * (kt - 1) - 1) // st + 1
        out_shape = _shape(node)
        if t_out < 1 or out_shape is None:
            continue
        weight = _constant(gm, node.args[1])
        if weight is not None:
            replaced.add(str(node.args[1].target))
        taps = [_new_constant(gm, "_conv3d_tap", weight[:, :, i]) for i in range(kt)] if weight is not None else None
        with g.inserting_before(node):
            # (B, T, C, H, W): frames are rows, so a tap is a step-1 slice along dim 1.
            frames = g.call_function(aten.permute.default, (node.args[0], [0, 2, 1, 3, 4]))
            # Zeros in front (padding) and behind (padding, plus room for the stride reshape).
            behind = max(pt, dt * (kt - 1) + t_out * st - (t + pt))
            length = t + pt + behind
            if pt or behind:
                frames = g.call_function(aten.constant_pad_nd.default, (frames, [0, 0, 0, 0, 0, 0, pt, behind], 0.0))
            out = None
            for i in range(kt):
                start = i * dt
                tap = frames
                if not (start == 0 and t_out * st == length):  # a full slice lowers to alias_copy
                    tap = g.call_function(aten.slice.Tensor, (frames, 1, start, start + t_out * st))
                if st > 1:  # every st-th frame: (B, T', st*C, H, W) -> the first C channels of each group
                    tap = g.call_function(aten.reshape.default, (tap, [b, t_out, st * c, h, w]))
                    tap = g.call_function(aten.slice.Tensor, (tap, 2, 0, c))
                tap = g.call_function(aten.reshape.default, (tap, [b * t_out, c, h, w]))
                kernel = g.get_attr(taps[i]) if taps else g.call_function(aten.select.int, (node.args[1], 2, i))
                y = g.call_function(aten.conv2d.default, (tap, kernel, bias if i == 0 else None, stride[1:],
                                                          padding[1:], dilation[1:], groups))
                out = y if out is None else g.call_function(aten.add.Tensor, (out, y))
            _, _, _, h2, w2 = out_shape
            out = g.call_function(aten.reshape.default, (out, [b, t_out, cout, h2, w2]))
            new = g.call_function(aten.permute.default, (out, [0, 2, 1, 3, 4]))
        _replace(g, node, new)
        count += 1
    _drop_unused_weights(gm, replaced)
    return count


def _drop_unused_weights(gm: fx.GraphModule, names: set[str]) -> None:
    """Erase the get_attr nodes of `names` nobody reads any more, and the tensors behind them:
    ExecuTorch writes every parameter and buffer of the program into the .pte, used or not."""
    read = set()
    for node in list(gm.graph.nodes):
        if node.op == "get_attr" and str(node.target) in names and not node.users:
            gm.graph.erase_node(node)
        elif node.op == "get_attr":
            read.add(str(node.target))
    for name in names - read:
        owner_path, _, leaf = name.rpartition(".")
        owner = gm.get_submodule(owner_path) if owner_path else gm
        if hasattr(owner, leaf):
            delattr(owner, leaf)


def batch_norm_5d_as_4d(gm: fx.GraphModule) -> int:
    """Batch norm (eval mode) on (B, C, T, H, W) as the same op on a (B, C, T*H, W) view: the
    same per-channel affine, at the rank XNNPACK takes (2-4; BatchNorm3d is refused)."""
    count = 0
    g = gm.graph
    for node in list(g.nodes):
        shape = _bn5d_plan(node)
        if shape is None:
            continue
        b, c, t, h, w = shape
        with g.inserting_before(node):
            x4 = g.call_function(aten.reshape.default, (node.args[0], [b, c, t * h, w]))
        _place(x4, node)
        node.update_arg(0, x4)
        if base_op(node.target) == "aten.batch_norm":   # one tensor out
            with g.inserting_after(node):
                back = g.call_function(aten.reshape.default, (node, list(shape)))
            back.meta.update(_kept_meta(node))   # the 5-D value a later node plans with
            node.replace_all_uses_with(back, delete_user_cb=lambda user: user is not back)
        else:                                           # (out, mean, invstd): reshape out only
            for user in list(node.users):
                if user.op == "call_function" and user.args[1:] == (0,):
                    with g.inserting_after(user):
                        back = g.call_function(aten.reshape.default, (user, list(shape)))
                    back.meta.update(_kept_meta(user))
                    user.replace_all_uses_with(back, delete_user_cb=lambda u, back=back: u is not back)
        count += 1
    return count


# ---- the registry -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fixes:
    """One finding a pass removes: the op as the checks name it (without its overload; Core ML's
    ANE rules name MIL ops, e.g. "conv (5-D)") and when (`applies` on a node of that op, on the
    export or the edge graph; None: every such finding)."""

    op: str
    condition: str
    applies: Callable[[fx.Node], bool] | None = None


@dataclass(frozen=True)
class GraphPass:
    name: str
    run: Callable[[fx.GraphModule], int]   # rewrites in place, returns how many nodes it changed
    fixes: tuple[Fixes, ...]
    description: str
    # Passes applied with this one because they make its op: ExecuTorch decomposes a global
    # adaptive pool into the mean XNNPACK refuses, so that mean finding needs both.
    with_passes: tuple[str, ...] = ()
    # The delegates whose findings it fixes (None: any). Vulkan's conv2d takes batch 1 only, so
    # one conv per frame is its fix; XNNPACK takes the batched conv as it is.
    delegates: tuple[str, ...] | None = None

    def __call__(self, gm: fx.GraphModule) -> int:
        return self.run(gm)


def _has(plan) -> Callable[[fx.Node], bool]:
    return lambda node: plan(node) is not None


def _split_batched_conv2d(gm: fx.GraphModule) -> int:
    from converters.backends.executorch.vulkan import split_batched_conv2d

    return split_batched_conv2d(gm)


def _batched_conv2d(node: fx.Node) -> bool:
    x = node.args[0] if node.args else None
    shape = _shape(x) if isinstance(x, fx.Node) else None
    return shape is not None and len(shape) == 4 and shape[0] > 1


_CONV5 = "a 5-D weight (3-D convolution)"
_POOL5 = "on a 5-D input, no ceil_mode / divisor_override, temporal padding counted"

# name -> pass, in the order they run (a target lists the ones it needs in this order: the
# convolution and pooling passes first, since they leave means and batch norms for the later
# ones). The manifest records "graph_<name>".
GRAPH_PASSES: dict[str, GraphPass] = {p.name: p for p in (
    GraphPass("conv3d_as_conv2d", conv3d_as_conv2d,
              (Fixes("aten.convolution", _CONV5, _has(_conv3d_plan)), Fixes("aten.conv3d", _CONV5, _has(_conv3d_plan)),
               Fixes("conv (5-D)", "Core ML: a 3-D convolution off the ANE")),
              "Conv3d as a sum of conv2d over time-shifted frames (constant per-tap kernels)"),
    GraphPass("batch_norm_5d_as_4d", batch_norm_5d_as_4d,
              tuple(Fixes(op, "on a rank-5 input, eval mode", _has(_bn5d_plan)) for op in _BN_OPS),
              "batch norm on a (B, C, T*H, W) view of the rank-5 input"),
    GraphPass("adaptive_pool_as_mean", adaptive_pool_as_mean,
              tuple(Fixes(op, "output size 1 (global pooling)", _has(_adaptive_plan))
                    for op in ("aten._adaptive_avg_pool2d", "aten.adaptive_avg_pool2d",
                               "aten._adaptive_avg_pool3d", "aten.adaptive_avg_pool3d")),
              "global adaptive average pooling as a keepdim mean"),
    GraphPass("avg_pool3d_as_2d", avg_pool3d_as_2d,
              (Fixes("aten.avg_pool3d", _POOL5, _has(_avg_pool3d_plan)),
               Fixes("avg_pool (5-D)", "Core ML: 3-D pooling off the ANE")),
              "AvgPool3d as avg_pool2d per frame, then over time"),
    GraphPass("mean_as_4d", mean_as_4d,
              (Fixes("aten.mean", "any mean but a keepdim 4-D mean over (2, 3)", _has(_mean_plan)),),
              "a keepdim 4-D mean over (2, 3) between reshapes", with_passes=("adaptive_pool_as_mean",)),
    GraphPass("split_batched_conv2d", _split_batched_conv2d,
              (Fixes("aten.convolution", "a 2-D convolution on a batch of frames (N > 1)", _batched_conv2d),),
              "one conv2d per frame + cat (the batch-1 form Vulkan takes)", delegates=("vulkan",)),
    GraphPass("softmax_last_dim", softmax_last_dim,
              tuple(Fixes(op, "over a dim other than the last", _has(_softmax_plan))
                    for op in ("aten._softmax", "aten.softmax")),
              "permute + softmax over the last dim + permute"),
)}


def fix_for(op: str, nodes=(), delegate: str | None = None) -> str | None:
    """The name of the pass that removes a finding: `op` as the checks name it (with or without
    its overload), `nodes` the graph nodes behind it, `delegate` the delegate that refused it
    (for passes that fix one delegate's findings). A condition on the node needs a node."""
    base = op.rsplit(".", 1)[0] if op.count(".") >= 2 else op
    for graph_pass in GRAPH_PASSES.values():
        if graph_pass.delegates is not None and delegate not in graph_pass.delegates:
            continue
        for fixes in graph_pass.fixes:
            if fixes.op != base:
                continue
            if fixes.applies is None or any(fixes.applies(n) for n in nodes if isinstance(n, fx.Node)):
                return graph_pass.name
    return None


def _as_args(example_input) -> tuple:
    """The model's positional inputs: one tensor, or a tuple (a stream step: frame + state)."""
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def _propagate_shapes(gm: fx.GraphModule, example_input: torch.Tensor) -> None:
    """Fresh `val` metadata on every node (the nodes a pass adds have none), so the next pass
    sees the shapes it plans with."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    try:
        FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(*_as_args(example_input))
    except Exception:  # an op fake tensors cannot run: later passes skip the nodes without shapes
        pass


def rewrite_graph(model: nn.Module, example_input: torch.Tensor, target: str,
                  passes: list[str] | tuple[str, ...] | None = None) -> tuple[nn.Module, list[str]]:
    """(the model to convert, names of the passes applied). Exports `model` on `example_input`
    and runs the passes (`passes` by name with the ones they come with, in the registry's order;
    else `target`'s own) on the graph; returns the rewritten GraphModule, or `model` itself (not
    exported, not copied) when no pass applies. A model that does not export comes back as it
    is: the converter's own export then says why."""
    from converters.backends import get_target

    if passes is None:
        names = list(get_target(target).graph_passes)
    else:
        wanted = set(passes) | {w for n in passes for w in GRAPH_PASSES[n].with_passes}
        names = [n for n in GRAPH_PASSES if n in wanted]
    if not names:
        return model, []
    try:
        with torch.no_grad():
            gm = torch.export.export(model, _as_args(example_input), strict=False).module()
    except Exception:
        return model, []
    applied = []
    for name in names:
        if GRAPH_PASSES[name].run(gm):
            applied.append(f"graph_{name}")
            gm.graph.lint()
            gm.recompile()
            _propagate_shapes(gm, example_input)
    if not applied:
        return model, []
    return gm, applied


__all__ = ["Fixes", "GRAPH_PASSES", "GraphPass", "adaptive_pool_as_mean", "avg_pool3d_as_2d", "base_op",
           "batch_norm_5d_as_4d", "conv3d_as_conv2d", "fix_for", "mean_as_4d", "rewrite_graph", "softmax_last_dim"]
