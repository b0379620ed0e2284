"""The PyTorch Lite interpreter on the host (the torch build's own)."""

from __future__ import annotations

from pathlib import Path

from converters.runtimes import HostRuntime
from mobilekit.errors import MobilekitError


class LiteInterpreterRuntime(HostRuntime):
    name = "pytorch-lite"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        import torch
        from torch.jit.mobile import _load_for_lite_interpreter

        self.version = torch.__version__.split("+")[0]
        if threads:
            torch.set_num_threads(int(threads))  # the lite interpreter uses torch's intra-op pool
        try:
            self._module = _load_for_lite_interpreter(str(file))
        except Exception as e:
            raise MobilekitError(f"the PyTorch Lite interpreter could not load {file}: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
                                 "re-convert with `mobilekit convert --target ptl`") from e

    def _run(self, *xs):
        import torch

        with torch.no_grad():
            out = self._module(*(torch.from_numpy(x) for x in xs))
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]


RUNTIME = LiteInterpreterRuntime
