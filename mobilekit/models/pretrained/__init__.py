"""Official pretrained video checkpoints (PyTorchVideo, PySlowFast and the families' own
releases) loaded into zoo models by name tables: `create_model(name, checkpoint=FILE)`."""

from mobilekit.models.pretrained.labels import dataset_labels, read_label_file
from mobilekit.models.pretrained.layout import Layout
from mobilekit.models.pretrained.loader import (Pretrained, detect_layout, known_layouts, read_checkpoint,
                                                read_pretrained)
from mobilekit.models.pretrained.tables import LAYOUTS

__all__ = ["LAYOUTS", "Layout", "Pretrained", "dataset_labels", "detect_layout", "known_layouts",
           "read_checkpoint", "read_label_file", "read_pretrained"]
