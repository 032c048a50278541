"""The PyTorch parity helpers: ``check_parity`` runs both on the same inputs with the same
non-uniform loss and compares the forward values and every input's gradient;
``check_param_grads`` then compares every parameter's gradient of two modules;
``load_from_torch`` / ``load_into_torch`` copy a state dict between the two libraries."""
import numpy as np
import pytest

import tinygrad_img as tg

try:
    import torch
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (parity oracle)")

FWD_TOL = dict(atol=1e-5, rtol=1e-4)
BWD_TOL = dict(atol=1e-4, rtol=1e-3)


def _loss_ours(out):
    return ((out + 1) ** 2).mean()


def _loss_torch(out):
    return ((out + 1) ** 2).mean()


def check_parity(ours, theirs, arrays, grad=None, fwd_tol=FWD_TOL, bwd_tol=BWD_TOL):
    """Run ``ours(*tensors)`` and ``theirs(*torch_tensors)`` on the same float32 arrays.

    ``grad`` lists which arrays get gradients (default: every float array).
    Compares the output and each gradient, and asserts each gradient has the
    shape and dtype of its input.
    """
    if grad is None:
        grad = [np.asarray(a).dtype.kind == "f" for a in arrays]
    ts = [tg.Tensor(a, dtype=np.asarray(a).dtype, requires_grad=g) for a, g in zip(arrays, grad)]
    ps = [torch.tensor(np.asarray(a), requires_grad=g) for a, g in zip(arrays, grad)]
    out, ref = ours(*ts), theirs(*ps)
    outs = out if isinstance(out, (tuple, list)) else [out]
    refs = ref if isinstance(ref, (tuple, list)) else [ref]
    for o, r in zip(outs, refs):
        assert o.shape == tuple(r.shape), f"forward shape {o.shape} != torch {tuple(r.shape)}"
        np.testing.assert_allclose(o.numpy(), r.detach().numpy(), **fwd_tol)
    loss = sum((_loss_ours(o) for o in outs if o.requires_grad), start=tg.Tensor(0.0))
    loss_ref = sum(_loss_torch(r) for r in refs if r.requires_grad)
    if not any(grad):
        return
    loss.backward()
    loss_ref.backward()
    for i, (t, p, g) in enumerate(zip(ts, ps, grad)):
        if not g:
            continue
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype, \
            f"input {i}: grad {t.grad.shape}/{t.grad.dtype} vs input {t.shape}/{t.dtype}"
        np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), **bwd_tol, err_msg=f"grad of input {i}")


def check_param_grads(ours, theirs, tol=BWD_TOL):
    """After a backward through both: our module and the torch module have the same parameter
    names, and each of our parameters has a gradient of its shape equal to torch's."""
    their_params = dict(theirs.named_parameters())
    ours_named = list(ours.named_parameters())
    assert [n for n, _ in ours_named] == list(their_params), "parameter names differ from torch's"
    for name, p in ours_named:
        assert p.grad is not None and p.grad.shape == p.shape, f"{name}: no gradient of shape {p.shape}"
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), **tol, err_msg=name)


def load_from_torch(ours, theirs):
    """Give our module the torch module's parameters and buffers (same names)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def load_into_torch(theirs, ours):
    """Give the torch module our module's parameters and buffers (same names): the other
    direction of ``load_from_torch``."""
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
