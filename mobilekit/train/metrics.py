"""Accuracy bookkeeping (top-1 / top-5; verb / noun / action for EK100) and the metrics log."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def correct_topk(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, torch.Tensor]:
    """Per-sample bool tensors: is the target among the top-k predictions, for each k."""
    kmax = min(max(ks), logits.shape[-1])
    top = logits.topk(kmax, dim=-1).indices
    hit = top.eq(target.view(-1, 1))
    return {k: hit[:, :min(k, kmax)].any(dim=1) for k in ks}


def metric_names(heads: list[str] | None = None) -> list[str]:
    """The metrics of a single-head model (heads None), or of EK100-style named heads."""
    if not heads:
        return ["top1", "top5"]
    return [f"{h}_top{k}" for h in heads for k in (1, 5)] + ["action_top1"]


class AccuracyMeter:
    """Sums of correct predictions per metric; `.compute()` -> {"top1": .., "top5": ..} or for
    multi-head outputs {"verb_top1", "verb_top5", "noun_top1", ..., "action_top1"}.

    `heads` (the output's head names, None for one head) fixes the metrics up front, so a
    process that saw no batch still sends every entry in `all_reduce`."""

    def __init__(self, device: torch.device | str = "cpu", heads: list[str] | None = None):
        self.device = device
        self.sums: dict[str, torch.Tensor] = {n: torch.zeros((), dtype=torch.float64, device=device)
                                              for n in metric_names(heads)}
        self.count = torch.zeros((), dtype=torch.float64, device=device)

    def _add(self, name: str, hits: torch.Tensor) -> None:
        v = hits.sum().to(torch.float64)
        self.sums[name] = self.sums.get(name, torch.zeros((), dtype=torch.float64, device=self.device)) + v

    def update(self, output, target) -> None:
        if isinstance(output, dict) and "top1" in self.sums and not self.count:
            # Built without `heads` for a multi-head model: take the heads from its first output.
            self.sums = {n: torch.zeros((), dtype=torch.float64, device=self.device)
                         for n in metric_names(list(output))}
        if isinstance(output, dict):
            tops1 = []
            for head, logits in output.items():
                hits = correct_topk(logits.detach().float(), target[head])
                self._add(f"{head}_top1", hits[1])
                self._add(f"{head}_top5", hits[5])
                tops1.append(hits[1])
            both = torch.stack(tops1).all(dim=0)
            self._add("action_top1", both)
            n = next(iter(output.values())).shape[0]
        else:
            hits = correct_topk(output.detach().float(), target)
            self._add("top1", hits[1])
            self._add("top5", hits[5])
            n = output.shape[0]
        self.count += n

    def all_reduce(self) -> None:
        """Sum over DDP processes (each evaluated its own shard)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            names = sorted(self.sums)
            packed = torch.stack([self.sums[n] for n in names] + [self.count])
            dist.all_reduce(packed)
            self.sums = dict(zip(names, packed[:-1]))
            self.count = packed[-1]

    def compute(self) -> dict[str, float]:
        n = float(self.count)
        return {k: (float(v) / n if n else 0.0) for k, v in sorted(self.sums.items())}

    @property
    def num(self) -> int:
        return int(self.count)


def primary_metric(metrics: dict[str, float]) -> float:
    """The number the lr schedule and best.pt follow: top-1, or EK100 action top-1."""
    return metrics.get("action_top1", metrics.get("top1", 0.0))


class MetricsLog:
    """One JSON object per line (metrics.jsonl): machine-readable and appendable on resume."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
