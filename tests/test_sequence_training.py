"""Train-to-threshold on the bundled 8x8 digits: an LSTM reading each image row by row and a
small attention model over image patches each reach >= 90% test accuracy in a few seconds."""
import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.data.datasets import load_digits
from tinygrad_img.optim import Adam


class RowLSTM(tg.nn.Module):
    """8 time steps of 8 pixels -> LSTM(64) -> the last hidden state -> 10 logits."""

    def __init__(self):
        super().__init__()
        self.lstm = tg.nn.LSTM(8, 64)
        self.head = tg.nn.Linear(64, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x.reshape(-1, 8, 8))
        return self.head(h[0])


class PatchAttention(tg.nn.Module):
    """16 patches of 2x2 pixels embedded with a learned position, one multi-head
    self-attention block with a residual, mean-pooled -> 10 logits."""

    def __init__(self, dim=32):
        super().__init__()
        self.embed = tg.nn.Linear(4, dim)
        self.pos = tg.nn.Parameter(tg.randn(16, dim) * 0.1)
        self.attn = tg.nn.MultiheadAttention(dim, 4)
        self.head = tg.nn.Linear(dim, 10)

    def forward(self, x):
        patches = x.reshape(-1, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(-1, 16, 4)
        h = self.embed(patches) + self.pos
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.head((h + a).relu().mean(axis=1))


def train_and_evaluate(model, epochs, lr=1e-2, batch=64):
    (x, y), (xt, yt) = load_digits()
    opt = Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(tg.Tensor(x[idx])), tg.Tensor(y[idx].astype(np.int64)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with tg.no_grad():
        return float((model(tg.Tensor(xt)).numpy().argmax(axis=1) == yt).mean())


@pytest.mark.slow
def test_row_lstm_reaches_90_percent_on_digits():
    assert train_and_evaluate(RowLSTM(), epochs=10) >= 0.90


@pytest.mark.slow
def test_patch_attention_reaches_90_percent_on_digits():
    assert train_and_evaluate(PatchAttention(), epochs=12) >= 0.90
