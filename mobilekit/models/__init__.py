"""The mobilekit model zoo: export-safe video models with timm-named backbones.

Input (B, T, 3, H, W) float32 RGB normalised with ImageNet mean/std; output logits
(B, num_classes), or a dict of logits per named head when `num_classes` is a dict.
"""

from mobilekit.models.info import count_gflops, count_params, model_info
from mobilekit.models.registry import ModelCard, create_model, get_card, list_models, register_model

__all__ = ["ModelCard", "count_gflops", "count_params", "create_model", "get_card",
           "list_models", "model_info", "register_model"]
