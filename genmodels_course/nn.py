"""Shared building blocks: small networks that several chapters reuse."""
from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Sequential):
    """A multilayer perceptron ``d_in -> hidden[0] -> ... -> d_out``.

    Shapes: ``(N, d_in) -> (N, d_out)``. ``hidden`` is a sequence of widths; the activation
    follows every hidden layer, none follows the output layer.
    """

    def __init__(self, d_in: int, hidden, d_out: int, act: type[nn.Module] = nn.SiLU):
        if isinstance(hidden, int):
            hidden = [hidden]
        widths = [d_in, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(widths[-1], d_out))
        super().__init__(*layers)
        self.d_in, self.d_out = d_in, d_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_in:
            raise ValueError(f"MLP expects inputs with last dimension {self.d_in}, got shape {tuple(x.shape)}")
        return super().forward(x)
