"""Video data: PyAV decoding, TSN frame sampling, clip transforms, datasets (SSV2, EK100,
Kinetics, folder-per-class) and a synthetic temporal dataset.

    from mobilekit.data import build_dataset, SyntheticVideoDataset
"""

from mobilekit.data.datasets import DATASETS, ClipBatch, build_dataset, collate_skip_bad
from mobilekit.data.synthetic import SyntheticVideoDataset

__all__ = ["DATASETS", "ClipBatch", "SyntheticVideoDataset", "build_dataset", "collate_skip_bad"]
