"""Video decoding with PyAV: frame counts and the frames at given indices, resized.

PyAV is imported inside the functions (it is an optional dependency, `mobilekit[data]`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")


class VideoDecodeError(RuntimeError):
    """A video that is missing, corrupt or has no video stream. Datasets catch it and skip
    the clip (counted, with a warning) instead of stopping an epoch."""


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"missing video {path}")
    try:
        container = av.open(str(path))
    except Exception as e:  # av.error.InvalidDataError and friends
        raise VideoDecodeError(f"cannot open {path}: {e}") from e
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {path}")
    return container


def _frame_count(stream) -> int:
    if stream.frames:
        return int(stream.frames)
    # webm (and some mkv) containers do not store a frame count: derive it from the duration.
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration is not None and stream.time_base is not None and rate:
        return max(1, int(round(float(stream.duration * stream.time_base) * float(rate))))
    container_duration = stream.container.duration  # microseconds
    if container_duration and rate:
        return max(1, int(round(container_duration / 1e6 * float(rate))))
    return 0


def count_frames(path: str | Path) -> int:
    """Number of frames in the first video stream (from metadata; 0 if unknown)."""
    with _open(path) as container:
        return _frame_count(container.streams.video[0])


def _resize_shape(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if not short_side:
        return width, height
    scale = short_side / min(width, height)
    # Even sizes keep swscale happy with subsampled formats.
    return max(short_side, round(width * scale / 2) * 2), max(short_side, round(height * scale / 2) * 2)


def decode_frames(path: str | Path, indices: list[int] | None = None, num_frames: int | None = None,
                  train: bool = False, short_side: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Decode frames of a video as uint8 (T, 3, H, W) RGB, the short side resized to
    `short_side` by libswscale while converting.

    Give `indices` explicitly, or `num_frames` to take TSN indices (random per segment when
    `train`, centres otherwise) over the frame count. Decoding is sequential (clips are short;
    seeking in webm/h264 is unreliable), converting only the wanted frames. When the real
    count is below the metadata's, missing indices repeat the last frame.
    """
    from mobilekit.data.sampling import tsn_indices

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if indices is None:
            if not num_frames:
                raise ValueError("give indices or num_frames")
            total = _frame_count(stream)
            if total <= 0:
                raise VideoDecodeError(f"cannot tell how many frames {path} has")
            indices = tsn_indices(total, num_frames, train, generator)
        wanted: dict[int, list[int]] = {}
        for pos, idx in enumerate(indices):
            wanted.setdefault(int(idx), []).append(pos)
        out: list[np.ndarray | None] = [None] * len(indices)
        last_index = max(wanted)
        last = None
        size = None
        try:
            for i, frame in enumerate(container.decode(stream)):
                if size is None:
                    size = _resize_shape(frame.width, frame.height, short_side)
                if i in wanted:
                    arr = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                    for pos in wanted[i]:
                        out[pos] = arr
                last = frame
                if i >= last_index:
                    break
        except Exception as e:  # a damaged packet mid-stream
            if last is None:
                raise VideoDecodeError(f"cannot decode {path}: {e}") from e
        if last is None:
            raise VideoDecodeError(f"no decodable frames in {path}")
        missing = [p for p, a in enumerate(out) if a is None]
        if missing:
            fill = last.to_ndarray(format="rgb24", width=size[0], height=size[1])
            for p in missing:
                out[p] = fill
    finally:
        container.close()
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def load_image_frames(paths: list[Path], short_side: int | None = None) -> torch.Tensor:
    """Read extracted RGB frames (jpg/png) as uint8 (T, 3, H, W), short side resized."""
    from PIL import Image

    arrays = []
    cache: dict[Path, np.ndarray] = {}
    for p in paths:
        if p not in cache:
            try:
                with Image.open(p) as img:
                    img = img.convert("RGB")
                    if short_side:
                        img = img.resize(_resize_shape(img.width, img.height, short_side), Image.BILINEAR)
                    cache[p] = np.asarray(img)
            except (OSError, ValueError) as e:
                raise VideoDecodeError(f"cannot read frame {p}: {e}") from e
        arrays.append(cache[p])
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
