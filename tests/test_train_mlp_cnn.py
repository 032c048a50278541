"""Train-to-threshold on the bundled digits: a 2-layer MLP and the articles' MNIST CNN."""
import numpy as np

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import nn, optim
from tinygrad_img.optim import lr_scheduler
from tinygrad_img.data.datasets import load_digits


def mnist_cnn():
    """The articles' MNIST CNN: Conv(32, 3x3) ReLU MaxPool(2) Conv(64, 3x3) ReLU MaxPool(2)
    Flatten Dense(64) ReLU Dense(10) (softmax folded into the cross-entropy)."""
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10))


def fit(model, opt, x, y, epochs, batch_size, seed=0, scheduler=None):
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(tg.Tensor(x[idx])), tg.Tensor(y[idx])).backward()
            opt.step()
            if scheduler is not None:
                scheduler.step()


def accuracy(model, x, y):
    model.eval()
    with tg.no_grad():
        pred = model(tg.Tensor(x)).numpy().argmax(axis=1)
    return float((pred == y).mean())


def test_mlp_reaches_95_percent_on_digits():
    (x, y), (xt, yt) = load_digits()
    x, xt = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    fit(model, opt, x, y, epochs=15, batch_size=32)
    assert accuracy(model, xt, yt) >= 0.95


def test_mnist_cnn_reaches_97_percent_on_digits_28():
    (x, y), (xt, yt) = load_digits(size=28)
    mean, std = float(x.mean()), float(x.std())
    x, xt = (x - mean) / std, (xt - mean) / std
    model = mnist_cnn()
    opt = optim.Adam(model.parameters())
    epochs, batch_size = 3, 32
    schedule = lr_scheduler.OneCycleLR(opt, max_lr=6e-3, total_steps=epochs * -(-len(x) // batch_size))
    fit(model, opt, x, y, epochs, batch_size, scheduler=schedule)
    assert accuracy(model, xt, yt) >= 0.97
