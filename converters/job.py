"""What a target converter receives, and the quiet context the third-party tools run in."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from converters.backends.base import Target


@dataclass
class ConversionJob:
    """One conversion: a private copy of the model (tuple outputs), its example input, the
    target, and where to write the file. Converters return the manifest's `conversion`
    extras (notes, delegation; convert() adds the rewrites it applied) and may rename inputs/outputs they cannot control."""

    model: nn.Module
    example_input: torch.Tensor
    target: Target
    path: Path
    input_name: str
    output_names: list[str]
    options: dict = field(default_factory=dict)
    # Inputs after the first (a streaming step's state tensors), in the model's argument order.
    extra_inputs: tuple[torch.Tensor, ...] = ()
    extra_input_names: list[str] = field(default_factory=list)

    @property
    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        """Every input, in order: what the lowerings export with."""
        return (self.example_input, *self.extra_inputs)

    @property
    def input_names(self) -> list[str]:
        return [self.input_name, *self.extra_input_names]


@contextlib.contextmanager
def quiet():
    """Swallow what converters and runtimes print (progress bars, C++ log lines, deprecation
    warnings): library code does not print. Captures at the file-descriptor level because
    ExecuTorch and LiteRT log from C++; the text is kept on the yielded buffer for errors."""
    captured = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(sink.fileno(), fd)
                except OSError:
                    pass
            with warnings.catch_warnings(), contextlib.redirect_stdout(captured), \
                    contextlib.redirect_stderr(captured):
                warnings.simplefilter("ignore")
                yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, dup in saved:
                os.dup2(dup, fd)
                os.close(dup)
            sink.seek(0)
            captured.write(sink.read().decode(errors="replace"))
