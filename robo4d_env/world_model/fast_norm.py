"""A faster, numerically equivalent forward for the Wan VAE's channel RMS norm.

diffusers' ``WanRMS_norm`` calls ``F.normalize(x, dim=1)`` on (B, C, T, H, W) activations. On CPU that
reduction over the strided channel axis is 3-5x slower than a sum of squares: in a batch-8
``Kinema4D-v0`` step it was 1.8 s of the VAE's 4.6 s. The result is the same to float rounding
(~1e-7): ``x / max(||x||, eps)`` = ``x * rsqrt(max(sum x^2, eps^2))``.
"""
from __future__ import annotations

import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm
from torch import nn

NORMALIZE_EPS = 1e-12           # F.normalize's default


class FastWanRMSNorm(WanRMS_norm):
    """``WanRMS_norm`` with the sum-of-squares normalisation; same parameters and state-dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x   # reduce in fp32, as diffusers
        sq = xf.pow(2).sum(dim=1 if self.channel_first else -1, keepdim=True)
        normalized = (xf * torch.rsqrt(sq.clamp_min(NORMALIZE_EPS ** 2))).to(x.dtype)
        return normalized * self.scale * self.gamma + self.bias


def use_fast_rms_norm(module: nn.Module) -> nn.Module:
    """Switch every ``WanRMS_norm`` inside ``module`` (in place) to ``FastWanRMSNorm``; returns it."""
    for m in module.modules():
        if type(m) is WanRMS_norm:
            m.__class__ = FastWanRMSNorm    # a subclass with the same state: weights and keys unchanged
    return module
