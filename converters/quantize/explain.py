"""`quantize --explain`: which quantized layer costs what.

Accuracy, per layer: the fp32 exported graph and the converted (quantize/dequantize) graph run
the same clips with an output logger after every node (torchao's PT2E numeric debugger, which
pairs a converted node with the fp32 node it came from by its `from_node` provenance). For
each quantized op: its output's SQNR (dB, over all clips) and mean cosine with fp32. Both are
cumulative (they include every earlier layer's error), so layers are ranked by the noise they
add themselves: their output's noise-to-signal ratio minus the worst of their inputs'
(noise ratios add when errors are independent). Those errors are PyTorch's simulation of the
scheme (fp32 arithmetic on int8-rounded values), not the runtime's kernels.

Time, per layer (xnnpack): the fp32 and the int8 program each run with ETDump on the host;
XNNPACK's per-operator events ("Convolution (NHWC, QC8) DWConv #3") are paired across the two
programs by kind and ordinal. XNNPACK's ETRecord maps no delegated operator to a graph node
(its preprocess returns an empty debug handle map in ExecuTorch 1.5.1), so module paths are
given where the ordinal identifies the node: depthwise convolutions, which run as XNNPACK's
DWConv in the graph's order. Other kinds are compared as totals.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import torch

from converters.quantize.pt2e import graph_tensors, layer_names

_A = torch.ops.aten
_QDQ = ("quantize_per_tensor", "dequantize_per_tensor", "quantize_per_channel", "dequantize_per_channel",
        "choose_qparams")
# Ops that only move values: their error is their input's, never their own.
_MOVES = {"view", "reshape", "permute", "transpose", "slice", "squeeze", "unsqueeze", "flatten", "clone",
          "contiguous", "expand", "select", "getitem", "pad", "constant_pad_nd", "split", "split_with_sizes", "cat"}


def _op(node: torch.fx.Node) -> str:
    target = node.target
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0]


def _is_qdq(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and _op(node).startswith(_QDQ)


def quantized_nodes(converted: torch.fx.GraphModule) -> set[str]:
    """Names of the compute nodes that take dequantized (int8) inputs in the converted graph."""
    out = set()
    for node in converted.graph.nodes:
        if node.op != "call_function" or _is_qdq(node) or _op(node) in _MOVES:
            continue
        if any(isinstance(a, torch.fx.Node) and _is_qdq(a) for a in node.all_input_nodes):
            out.add(node.name)
    return out


def _tensor(x) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().float()
    return None


def layer_errors(graph: torch.fx.GraphModule, converted: torch.fx.GraphModule, clips: list[np.ndarray]) -> list[dict]:
    """Every quantized op's error against fp32 on `clips`, the most harmful first: node, op,
    module, sqnr_db and cosine (cumulative), added_noise (its own share of the output's noise
    to signal ratio). `graph` is the fp32 exported graph that `converted` was prepared from."""
    from torchao.quantization.pt2e._numeric_debugger import (extract_results_from_loggers,
                                                             prepare_for_propagation_comparison)

    ref_logged, q_logged = prepare_for_propagation_comparison(graph), prepare_for_propagation_comparison(converted)
    with torch.no_grad():
        for clip in clips:
            x = torch.from_numpy(clip)
            ref_logged(x)
            q_logged(x)
    ref, act = extract_results_from_loggers(ref_logged), extract_results_from_loggers(q_logged)
    by_name = {n.name: n for n in graph.graph.nodes}
    # The converted node that carries each fp32 node's name (the op itself, not its q/dq).
    int8_ops = quantized_nodes(converted)
    quantized = {_origin(n) for n in converted.graph.nodes if n.name in int8_ops}
    stats: dict[str, dict] = {}
    for info, (ref_name, _stack, ref_vals) in ref.items():
        if info not in act or ref_name not in by_name:
            continue
        signal = noise = 0.0
        cosines = []
        for r, q in zip(ref_vals, act[info][2]):
            r, q = _tensor(r), _tensor(q)
            if r is None or q is None or r.shape != q.shape:
                break
            signal += float(r.pow(2).sum())
            noise += float((r - q).pow(2).sum())
            denom = float(r.norm() * q.norm())
            cosines.append(float((r * q).sum()) / denom if denom > 0 else 1.0)
        else:
            if cosines:
                stats[ref_name] = {"nsr": noise / signal if signal > 0 else (0.0 if noise == 0 else math.inf),
                                   "cosine": float(np.mean(cosines))}
    rows = []
    for name in quantized:
        node = by_name.get(name)
        if node is None or name not in stats:
            continue
        nsr = stats[name]["nsr"]
        inputs = [stats[a.name]["nsr"] for a in node.all_input_nodes if a.name in stats]
        added = nsr - max(inputs, default=0.0)
        names = layer_names(node)
        rows.append({"node": name, "op": _op(node), "module": names[-1] if names else "",
                     "sqnr_db": _db(nsr), "cosine": round(stats[name]["cosine"], 6),
                     "added_noise": float(max(added, 0.0)) if math.isfinite(added) else math.inf})
    return sorted(rows, key=lambda r: (-r["added_noise"], r["sqnr_db"]))


def float_gains(unfolded: torch.fx.GraphModule, nodes: list[str], clips: list[np.ndarray],
                reference: list[list[np.ndarray]], float_biases: dict[str, torch.Tensor] | None = None
                ) -> dict[str, float]:
    """For each op in `nodes`: how much the mean logit cosine with fp32 (`reference`, on `clips`)
    rises when that op alone computes in float, everything else int8 as converted.

    The local error (layer_errors' added noise) misses what matters most: an early layer's small
    error is amplified by every layer after it. On EfficientNet-Lite0 (xnnpack int8, before bias
    correction) the first depthwise conv, last of 63 ops by added noise, was one of the two ops
    ranked first by float gain; keeping those two in float took the simulated mean cosine on
    held-out photos from 0.9930 to 0.9972 (measured).
    `unfolded` is the converted graph with fold_quantize=False, so every quantized input edge
    is dequantize(quantize(v)) with v in float: an op computes in float when its inputs bypass
    that pair (a weight, its fp32 value; an activation, its producer's output), while its
    consumers still quantize its output, as a float op in the artifact (pt2e float_nodes).
    `float_biases` ({bias attribute: value}): the biases before bias correction, which a float
    op gets back (its correction was for its own int8 error)."""
    from converters.quantize.mixed import outputs_of
    from converters.quantize.report import agreement

    by_name = {n.name: n for n in unfolded.graph.nodes}
    params = graph_tensors(unfolded)
    float_biases = float_biases or {}

    def bypasses(node: torch.fx.Node) -> list[tuple[torch.fx.Node, torch.fx.Node]]:
        out = []
        for dq in node.all_input_nodes:
            q = dq.args[0] if _is_qdq(dq) and _op(dq).startswith("dequantize") and dq.args else None
            if isinstance(q, torch.fx.Node) and _is_qdq(q) and _op(q).startswith("quantize") \
                    and isinstance(q.args[0], torch.fx.Node):
                out.append((dq, q.args[0]))
        return out

    def cosine() -> float:
        unfolded.recompile()
        return agreement(reference, outputs_of(unfolded, clips))["mean_cosine"]

    base = cosine()
    gains = {}
    for name in nodes:
        node = by_name.get(name)
        pairs = bypasses(node) if node is not None else []
        if not pairs:
            continue
        bias = node.args[2] if len(node.args) > 2 and isinstance(node.args[2], torch.fx.Node) else None
        restore = bias.target if bias is not None and bias.target in float_biases else None
        saved = params[restore].detach().clone() if restore else None
        for dq, value in pairs:
            node.replace_input_with(dq, value)
        if restore:
            params[restore].data.copy_(float_biases[restore])
        try:
            gains[name] = cosine() - base
        finally:
            for dq, value in pairs:
                node.replace_input_with(value, dq)
            if restore:
                params[restore].data.copy_(saved)
    unfolded.recompile()
    return gains


def _origin(node: torch.fx.Node) -> str:
    """The fp32 graph's name for a converted node (prepare/convert keep the name; provenance
    says so where a pass renamed it)."""
    source = (node.meta.get("from_node") or [None])[-1]
    while source is not None and getattr(source, "from_node", None):
        source = source.from_node[-1]
    return getattr(source, "name", None) or node.name


def _db(nsr: float) -> float:
    if nsr <= 0:
        return math.inf
    return round(-10 * math.log10(nsr), 2) if math.isfinite(nsr) else -math.inf


# --- time: ETDump of the fp32 and the int8 program ------------------------------------------

_EVENT = re.compile(r"^(?P<kind>[^(#]+?)\s*(?:\((?P<types>[^)]*)\))?\s*(?P<variant>[^#(]*?)\s*#(?P<ordinal>\d+)$")


def _event_key(event: str) -> tuple[str, int] | None:
    """("Convolution DWConv", 3) for "Convolution (NHWC, QC8) DWConv #3": kind without dtypes."""
    m = _EVENT.match(event.strip())
    if not m:
        return None
    kind = " ".join(p for p in (m["kind"].strip(), m["variant"].strip()) if p)
    return kind, int(m["ordinal"])


def depthwise_modules(graph: torch.fx.GraphModule) -> list[tuple[str, str]]:
    """(node, module) of every depthwise convolution in graph order."""
    out = []
    for node in graph.graph.nodes:
        if node.op != "call_function" or _op(node) not in ("conv2d", "convolution", "conv1d"):
            continue
        weight = node.args[1] if len(node.args) > 1 else None
        groups = node.args[-1] if _op(node) == "convolution" else (node.args[6] if len(node.args) > 6 else 1)
        shape = getattr(getattr(weight, "meta", {}).get("val"), "shape", None)
        if isinstance(groups, int) and groups > 1 and shape is not None and shape[1] == 1:
            names = layer_names(node)
            out.append((node.name, names[-1] if names else ""))
    return out


def kernel_times(fp32_rows: list[dict], int8_rows: list[dict], depthwise: list[tuple[str, str]]) -> dict:
    """Per XNNPACK operator and per kind: int8 vs fp32 p50 (ms) from two ETDump profiles
    (converters.backends.executorch.compat.profile_pte rows). Depthwise convolutions carry
    their node and module (`depthwise`, in graph order) when the counts agree."""
    def index(rows):
        return {k: r["p50_ms"] for r in rows if r.get("delegated") and (k := _event_key(r["event"]))}

    f, q = index(fp32_rows), index(int8_rows)
    pairs = []
    for key in sorted(set(f) & set(q)):
        pairs.append({"kind": key[0], "ordinal": key[1], "fp32_ms": round(f[key], 4), "int8_ms": round(q[key], 4),
                      "ratio": round(q[key] / f[key], 3) if f[key] > 0 else None})
    dw = sorted((p for p in pairs if p["kind"].endswith("DWConv")), key=lambda p: p["ordinal"])
    dw_int8 = sorted(k for k in q if k[0].endswith("DWConv"))
    if depthwise and len(dw_int8) == len(depthwise) and len(dw) == len(depthwise):
        for p, (node, module) in zip(dw, depthwise):
            p["node"], p["module"] = node, module
    kinds: dict[str, dict] = defaultdict(lambda: {"fp32_ms": 0.0, "int8_ms": 0.0, "count": 0})
    for p in pairs:
        k = kinds[p["kind"]]
        k["fp32_ms"] += p["fp32_ms"]
        k["int8_ms"] += p["int8_ms"]
        k["count"] += 1
    unpaired = {"fp32_only_ms": round(sum(v for k, v in f.items() if k not in q), 4),
                "int8_only_ms": round(sum(v for k, v in q.items() if k not in f), 4)}
    by_kind = sorted(({"kind": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in agg.items()},
                       "ratio": round(agg["int8_ms"] / agg["fp32_ms"], 3) if agg["fp32_ms"] else None}
                      for name, agg in kinds.items()), key=lambda r: -r["int8_ms"])
    return {"operators": sorted(pairs, key=lambda p: -(p["int8_ms"] - p["fp32_ms"])), "by_kind": by_kind,
            "unpaired": unpaired,
            "total_fp32_ms": round(sum(f.values()), 4), "total_int8_ms": round(sum(q.values()), 4)}


def slower_in_int8(times: dict, margin: float = 1.0) -> list[str]:
    """Nodes whose int8 operator took longer than its fp32 one (ratio > margin)."""
    return [p["node"] for p in times.get("operators", []) if p.get("node") and p["ratio"] and p["ratio"] > margin]


def explain_table(errors: list[dict], times: dict | None, limit: int = 15) -> list[str]:
    """Text lines: the worst layers, then the kernel-time comparison by kind."""
    from mobilekit.table import format_table

    by_node = {p["node"]: p for p in (times or {}).get("operators", []) if p.get("node")}
    rows = []
    for e in errors[:limit]:
        t = by_node.get(e["node"])
        gain = e.get("float_gain")
        rows.append([e["module"] or "-", e["op"], _fmt_db(e["sqnr_db"]), f"{e['cosine']:.4f}",
                     f"{e['added_noise']:.2e}", f"{gain:+.5f}" if gain is not None else "",
                     f"{t['int8_ms']:.3f}/{t['fp32_ms']:.3f}" if t else ""])
    ranked = "logit cosine its float recovers" if any("float_gain" in e for e in errors) else "added noise"
    lines = [f"per-layer error vs fp32 (PyTorch simulation), the {min(limit, len(errors))} worst of "
             f"{len(errors)} quantized ops by {ranked}:"]
    lines += format_table(rows, ["module", "op", "SQNR dB", "cosine", "added noise", "float gain",
                                 "int8/fp32 ms"]).splitlines()
    if times and times.get("by_kind"):
        lines.append(f"XNNPACK kernel time on this host (ETDump p50), int8 {times['total_int8_ms']:.3f} ms vs "
                     f"fp32 {times['total_fp32_ms']:.3f} ms:")
        lines += format_table([[k["kind"], k["count"], f"{k['int8_ms']:.3f}", f"{k['fp32_ms']:.3f}",
                                f"{k['ratio']:.2f}" if k["ratio"] else ""] for k in times["by_kind"]],
                              ["kind", "count", "int8 ms", "fp32 ms", "int8/fp32"]).splitlines()
    return lines


def _fmt_db(v: float) -> str:
    return "inf" if v == math.inf else f"{v:.1f}"
