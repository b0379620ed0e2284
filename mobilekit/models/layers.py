"""Export-safe building blocks shared by the zoo.

Attention is written from Linear, 3-D bmm and softmax only: `nn.MultiheadAttention` and
`nn.TransformerEncoder` take nested-tensor and mask fast paths at inference that leave
non-delegable ops (eq, any, where, expand_copy ...) behind on ExecuTorch/XNNPACK, and a
broadcasting 4-D matmul lowers to expand_copy + bmm. Folding heads into the batch and
using `torch.bmm` delegates fully (measured with executorch 1.5.1).

Parameter names follow timm's ViT `Block` (norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2) so transformer weights saved by timm load by key.
"""

from __future__ import annotations

import torch
from torch import nn

def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one spatial side: (before, after), the odd one after."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "hardswish": nn.Hardswish}


def make_activation(name: str) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(_ACTIVATIONS)}") from None


class Attention(nn.Module):
    """Multi-head self-attention over (B, N, C) with heads folded into the batch."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, t: torch.Tensor, b: int, n: int) -> torch.Tensor:
        """(B, N, C) -> (B*h, N, d)"""
        return t.reshape(b, n, self.num_heads, self.head_dim).permute(0, 2, 1, 3).reshape(
            b * self.num_heads, n, self.head_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x)
        # Static slices of the last dim, not chunk/unbind: split_with_sizes and select
        # stay on portable kernels, slices delegate.
        q = self._heads(qkv[..., :c], b, n) * self.scale
        k = self._heads(qkv[..., c:2 * c], b, n)
        v = self._heads(qkv[..., 2 * c:], b, n)
        attn = self.attn_drop(torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1))
        out = torch.bmm(attn, v).reshape(b, self.num_heads, n, self.head_dim)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str = "gelu", drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class TransformerLayer(nn.Module):
    """One transformer encoder layer.

    `norm_first=False` is the vanilla (Vaswani et al.) post-norm layer that VLF and VTN use;
    `norm_first=True` is the pre-norm layer of ViT-style models.
    """

    def __init__(self, dim: int, num_heads: int = 8, mlp_dim: int | None = None,
                 act: str = "gelu", dropout: float = 0.1, attn_dropout: float = 0.0,
                 norm_first: bool = False, eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, attn_drop=attn_dropout, proj_drop=dropout)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim or 4 * dim, act=act, drop=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class ClassificationHeads(nn.Module):
    """A single Linear head, or one Linear per named task (EK100 verb + noun).

    With several heads the output is a dict {task: logits}; torch.export keeps dict outputs
    and the converters flatten them in key order.
    """

    def __init__(self, dim: int, num_classes: int | dict[str, int], dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        if isinstance(num_classes, dict):
            self.fc = None
            self.heads = nn.ModuleDict({k: nn.Linear(dim, int(v)) for k, v in num_classes.items()})
        else:
            self.fc = nn.Linear(dim, int(num_classes))
            self.heads = None

    def forward(self, x: torch.Tensor):
        x = self.drop(x)
        if self.fc is not None:
            return self.fc(x)
        return {k: head(x) for k, head in self.heads.items()}


def frames_to_batch(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(B, T, C, H, W) -> (B*T, C, H, W), returning B and T for the way back."""
    if x.dim() != 5:
        raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
    b, t = x.shape[0], x.shape[1]
    return x.flatten(0, 1), b, t


def temporal_mean(x: torch.Tensor, b: int, t: int) -> torch.Tensor:
    """Average (B*T, C) over T -> (B, C).

    Written as a 4-D mean over dims (2, 3), the global-average-pool form that XNNPACK
    delegates; a plain `.mean(1)` on a 3-D tensor stays on portable kernels.
    """
    c = x.shape[-1]
    return x.reshape(b, t, c).transpose(1, 2).unsqueeze(-1).mean((2, 3), keepdim=True).flatten(1)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) average pool, in the delegable 4-D mean form (keepdim)."""
    return x.mean((2, 3), keepdim=True).flatten(1)


def prepend_token(token: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """cat([token, z], 1) for a (1, 1, C) token and (B, N, C) tokens.

    Shapes are static at export, so at batch 1 no expand is emitted (expand_copy is not
    delegated by XNNPACK)."""
    b, _, c = z.shape
    return torch.cat([token if b == 1 else token.expand(b, 1, c), z], dim=1)


def first_token(z: torch.Tensor) -> torch.Tensor:
    """z[:, 0] as a slice + reshape: `select` is not delegated, a slice is."""
    return z[:, :1].reshape(z.shape[0], z.shape[2])


def frames_kernel(conv: nn.Conv3d) -> torch.Tensor:
    """The (O, C/groups, kt, kh, kw) Conv3d weight as a conv2d kernel (O, C/groups * kt, kh, kw)
    over kt frames stacked along channels (channel-major, tap-minor: the flattened kernel's
    order), a reshape; or the buffer `FramesConv3d.freeze_for_export` stored."""
    frozen = getattr(conv, "frames_weight", None)
    if frozen is not None:
        return frozen
    return conv.weight.reshape(conv.out_channels, -1, *conv.kernel_size[1:])


class FramesConv3d(nn.Conv3d):
    """An nn.Conv3d (same parameters, state-dict keys and forward) that a model applies as one
    conv2d over stacked frames with `frames_kernel` (ExecuTorch has no conv3d kernel).

    `freeze_for_export()` stores that kernel as the non-persistent, contiguous buffer
    `frames_weight`, numerically identical: XNNPACK delegates a conv only when its weight is a
    constant, and a reshape of the parameter in forward is an op ("Expected weight to be a
    static param"). The converters call it on their private copy (rewrites.freeze_weight_derived);
    `unfreeze()` goes back. Not an nn.Conv3d by type, so rewrite_conv3d (which would add per-tap
    kernels this module never uses; ExecuTorch serialises unused buffers) leaves it alone."""

    @property
    def frozen(self) -> bool:
        return "frames_weight" in self._buffers

    def freeze_for_export(self) -> None:
        self.unfreeze()
        with torch.no_grad():
            kernel = frames_kernel(self).detach().clone(memory_format=torch.contiguous_format)
        self.register_buffer("frames_weight", kernel, persistent=False)

    def unfreeze(self) -> None:
        self._buffers.pop("frames_weight", None)


def sinusoidal_embedding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """The fixed sin/cos positional encoding of Vaswani et al. (2017): (N,) positions -> (N, dim)."""
    freq = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(0, dim, 2).float() / dim)
    angle = positions.float()[:, None] * freq
    pe = torch.zeros(len(positions), dim)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


def init_token(*shape: int) -> nn.Parameter:
    """A learnable token / positional embedding, truncated-normal std 0.02 as in ViT."""
    p = nn.Parameter(torch.zeros(*shape))
    nn.init.trunc_normal_(p, std=0.02)
    return p
