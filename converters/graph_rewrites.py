"""Graph-level rewrites on the torch.export graph: ops a target's delegate refuses, replaced
by numerically equal ops it takes. They work on ANY model (a user's module, PyTorchVideo's,
the zoo's), never edit the caller's module, and complement the module-level rewrites of
mobilekit/models/rewrites.py (which retype known layers such as nn.Conv3d).

For XNNPACK (ExecuTorch 1.5.1's partitioner, executorch/backends/xnnpack/partition/config):

    graph_mean_as_4d           mean over any dims of any rank -> permute + reshape to
                               (1, kept, reduced, last reduced) + a keepdim 4-D mean over (2, 3)
                               (the only mean it delegates) + reshape back
    graph_avg_pool3d_as_2d     avg_pool3d -> avg_pool2d per frame on (B, C*T, H, W), then
                               avg_pool2d with a (kt, 1) kernel over time on (B, C, T, H'*W')
    graph_adaptive_pool_as_mean  adaptive_avg_pool{2,3}d to size 1 -> keepdim mean over (H, W) /
                               (T, H, W), which graph_mean_as_4d then makes 4-D
    graph_softmax_last_dim     softmax over a non-last dim -> permute + softmax(-1) + permute

`rewrite_graph(model, example_input, target)` exports the model (strict=False), runs the
target's passes on the GraphModule and returns it (an nn.Module the converter exports again)
with the names of the passes that changed something, for the manifest; when none applies, the
model itself comes back untouched.
"""

from __future__ import annotations

import math

import torch
from torch import fx, nn

aten = torch.ops.aten


def _shape(node) -> list[int] | None:
    """The static shape of a node's value; None when unknown or symbolic."""
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    if not isinstance(val, torch.Tensor) or not all(isinstance(d, int) for d in val.shape):
        return None
    return list(val.shape)


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


def _replace(graph: fx.Graph, node: fx.Node, new: fx.Node) -> None:
    new.meta.update({k: v for k, v in node.meta.items() if k in ("nn_module_stack", "stack_trace", "val")})
    node.replace_all_uses_with(new)
    graph.erase_node(node)


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
        if node.op != "call_function" or node.target not in (aten.mean.dim, aten.mean.default) \
                or node.kwargs.get("dtype") is not None:
            continue
        shape, out_shape = _shape(node.args[0]), _shape(node)
        if shape is None or out_shape is None or not shape:
            continue
        if node.target is aten.mean.default:  # x.mean(): over every dim
            if len(node.args) > 1 and node.args[1] is not None:
                continue
            dims, keepdim = list(range(len(shape))), False
        else:
            dims = _dims(node.args[1] if len(node.args) > 1 else None, len(shape))
            keepdim = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
        if len(shape) == 4 and dims == [2, 3] and keepdim:
            continue  # already the form XNNPACK delegates
        with gm.graph.inserting_before(node):
            new = _mean_4d(gm.graph, node.args[0], shape, dims, out_shape)
        _replace(gm.graph, node, new)
        count += 1
    return count


def adaptive_pool_as_mean(gm: fx.GraphModule) -> int:
    """adaptive_avg_pool2d/3d to output size 1 (global pooling) as a keepdim mean over the
    pooled dims: the same numbers (every output averages the whole plane / volume)."""
    pools = {aten.adaptive_avg_pool2d.default: 2, aten._adaptive_avg_pool2d.default: 2,
             aten.adaptive_avg_pool3d.default: 3, aten._adaptive_avg_pool3d.default: 3}
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in pools:
            continue
        n = pools[node.target]
        shape = _shape(node.args[0])
        if shape is None or any(s != 1 for s in _triple(node.args[1], n)):
            continue
        dims = list(range(len(shape) - n, len(shape)))
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
        if node.op != "call_function" or node.target is not aten.avg_pool3d.default:
            continue
        args = list(node.args) + [None] * (7 - len(node.args))
        x, kernel, stride, padding, ceil_mode, include_pad, divisor = args
        shape, out_shape = _shape(x), _shape(node)
        kernel = _triple(kernel)
        stride = _triple(stride) if stride else kernel
        padding = _triple(padding if padding is not None else 0)
        include_pad = True if include_pad is None else bool(include_pad)
        if shape is None or out_shape is None or len(shape) != 5 or ceil_mode or divisor is not None:
            continue
        if padding[0] and not include_pad:
            continue  # edge windows would divide by fewer frames: not separable
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
        if node.op != "call_function" or node.target not in (aten.softmax.int, aten._softmax.default):
            continue
        if node.target is aten.softmax.int and (node.kwargs.get("dtype") is not None or
                                                (len(node.args) > 2 and node.args[2] is not None)):
            continue
        if node.target is aten._softmax.default and node.args[2]:
            continue  # half_to_float changes the dtype
        shape = _shape(node.args[0])
        if shape is None or len(shape) < 2:
            continue
        dim = node.args[1] % len(shape)
        if dim == len(shape) - 1:
            continue
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


# name -> pass. A target lists the ones it needs, in order (converters/backends: the pooling
# passes first, since they leave means for mean_as_4d); the manifest records "graph_<name>".
GRAPH_PASSES = {
    "adaptive_pool_as_mean": adaptive_pool_as_mean,
    "avg_pool3d_as_2d": avg_pool3d_as_2d,
    "mean_as_4d": mean_as_4d,
    "softmax_last_dim": softmax_last_dim,
}


def rewrite_graph(model: nn.Module, example_input: torch.Tensor, target: str,
                  passes: list[str] | tuple[str, ...] | None = None) -> tuple[nn.Module, list[str]]:
    """(the model to convert, names of the passes applied). Exports `model` on `example_input`
    and runs the passes (`passes` by name, else `target`'s own) on the graph; returns the
    rewritten GraphModule, or `model` itself (not exported, not copied) when no pass applies.
    A model that does not export comes back as it is: the converter's own export then says why."""
    from converters.backends import get_target

    names = get_target(target).graph_passes if passes is None else passes
    if not names:
        return model, []
    try:
        with torch.no_grad():
            gm = torch.export.export(model, (example_input,), strict=False).module()
    except Exception:
        return model, []
    applied = [f"graph_{name}" for name in names if GRAPH_PASSES[name](gm)]
    if not applied:
        return model, []
    gm.graph.lint()
    gm.recompile()
    return gm, applied


__all__ = ["GRAPH_PASSES", "adaptive_pool_as_mean", "avg_pool3d_as_2d", "mean_as_4d", "rewrite_graph",
           "softmax_last_dim"]
