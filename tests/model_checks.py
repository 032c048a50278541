"""Helpers shared by the model-zoo tests: parity of a whole network against the same network
built from torch.nn primitives, and a short training run on the bundled digits."""
import numpy as np

import tinygrad_img as tg
from tinygrad_img import nn
from torch_parity import check_param_grads, load_into_torch, torch


def randomise_bn_stats(model):
    """Non-trivial BN statistics and affine parameters, so eval-mode parity means something."""
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[...] = rng.normal(0, 0.1, m.num_features)
            m.running_var.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[...] = rng.normal(0, 0.1, m.num_features)


def assert_parity(ours, theirs, theirs_fn, x, training):
    """Forward, input and parameter gradients, and BN running statistics against torch. Training
    mode runs in float64: batch statistics over a handful of values (a 2x2 map in layer4) make the
    float32 gradients of both libraries differ by rounding far above the usual tolerances."""
    dtype = np.float64 if training else np.float32
    tol = {"atol": 1e-9, "rtol": 1e-7} if training else {"atol": 1e-4, "rtol": 1e-3}
    ours.train(training).to(dtype)
    theirs.train(training).to(torch.float64 if training else torch.float32)
    load_into_torch(theirs, ours)
    x = x.astype(dtype)
    xt, xp = tg.Tensor(x, dtype=dtype, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs_fn(xp)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    ((out + 1) ** 2).mean().backward()
    ((ref + 1) ** 2).mean().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xp.grad.numpy(), **tol)
    check_param_grads(ours, theirs, tol)
    for name, b in theirs.named_buffers():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), b.numpy(), **tol, err_msg=name)


def train_on_digits(model, epochs, lr=3e-3, batch=64):
    """Adam on the digits training split; returns (per-batch losses, test accuracy in eval mode)."""
    (x, y), (x_test, y_test) = tg.data.datasets.load_digits()
    opt = tg.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            loss = tg.functional.cross_entropy(model(tg.Tensor(x[i:i + batch])), tg.Tensor(y[i:i + batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    with tg.no_grad():
        acc = (model(tg.Tensor(x_test)).numpy().argmax(1) == y_test).mean()
    return losses, acc
