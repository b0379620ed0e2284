"""Which frames of a video make a clip: TSN sparse sampling (Wang et al. 2016), as in paper
001 Sec. 4.1. The video is cut into `num_frames` equal segments; training takes a random
frame in each segment, evaluation the centre of each (evenly spaced frames)."""

from __future__ import annotations

import torch


def tsn_indices(num_total: int, num_frames: int, train: bool,
                generator: torch.Generator | None = None, start: int = 0) -> list[int]:
    """Frame indices in [start, start + num_total) for one clip of `num_frames` frames.

    A video shorter than `num_frames` repeats frames (each segment is then less than one
    frame long), so every clip has exactly `num_frames` frames.
    """
    if num_total < 1:
        raise ValueError(f"cannot sample from a video with {num_total} frames")
    seg = num_total / num_frames
    if train:
        offsets = torch.rand(num_frames, generator=generator)
    else:
        offsets = torch.full((num_frames,), 0.5)
    idx = ((torch.arange(num_frames) + offsets) * seg).floor().long().clamp_(0, num_total - 1)
    return [start + int(i) for i in idx]
