"""tg.compress low-rank factorisation: the truncated SVD's error, rank choice, dtypes, errors."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import compress as C
from tinygrad_img import nn
from tinygrad_img.decomposition import fewest_reaching


@pytest.mark.parametrize("rank", [1, 5, 12])
def test_low_rank_linear_error_is_discarded_singular_values(rank):
    lin = nn.Linear(20, 12)
    w = lin.weight.numpy().astype(np.float64)
    seq = C.low_rank_linear(lin, rank)
    wr = seq[1].weight.numpy().astype(np.float64) @ seq[0].weight.numpy().astype(np.float64)
    s = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(C.singular_values(lin.weight), s, rtol=1e-12)
    np.testing.assert_allclose(np.sum((w - wr) ** 2), np.sum(s[rank:] ** 2), rtol=1e-4, atol=1e-9)
    assert np.linalg.matrix_rank(wr, tol=1e-4) == rank
    x = tg.randn(7, 20)
    np.testing.assert_allclose(seq(x).numpy(), x.numpy() @ wr.T + lin.bias.numpy(), rtol=1e-4, atol=1e-5)
    assert C.parameter_count(seq) == rank * (20 + 12) + 12 and seq[1].bias is lin.bias
    assert seq[0].bias is None and seq[0].weight.dtype == np.float32


def test_low_rank_energy_fraction_and_errors():
    lin = nn.Linear(8, 8, bias=False)
    lin.weight.data[...] = np.diag([4.0, 3, 2, 1, 0, 0, 0, 0]).astype(np.float32)
    assert C.low_rank_linear(lin, 25 / 30)[0].out_features == 2          # 16 + 9 of 30
    assert C.low_rank_linear(lin, 0.84)[0].out_features == 3
    assert C.low_rank_linear(lin, 1.0)[0].out_features == 4
    energy = np.array([16.0, 9, 4, 1, 0, 0, 0, 0])   # s_i^2
    for f in (0.05, 0.5, 0.9, 0.99, 0.9999):   # the energy rule is decomposition's shared helper
        assert C.low_rank_linear(lin, f)[0].out_features == fewest_reaching(energy, f)
    with pytest.raises(ValueError, match=r"low_rank_linear: rank=0 is out of range \[1, 8\]"):
        C.low_rank_linear(lin, 0)
    with pytest.raises(ValueError, match=r"rank=9 is out of range"):
        C.low_rank_linear(lin, 9)
    with pytest.raises(ValueError, match=r"energy fraction rank=1.5"):
        C.low_rank_linear(lin, 1.5)
    with pytest.raises(TypeError, match="low_rank_linear: expected an nn.Linear, got Conv2d"):
        C.low_rank_linear(nn.Conv2d(1, 1, 1), 1)


def test_low_rank_keeps_float64():
    lin = nn.Linear(6, 5).double()
    seq = C.low_rank_linear(lin, 5)
    assert seq[0].weight.dtype == seq[1].weight.dtype == np.float64
    np.testing.assert_allclose(seq[1].weight.numpy() @ seq[0].weight.numpy(), lin.weight.numpy(), atol=1e-12)


@pytest.mark.gpu
def test_low_rank_on_cuda_factorises_on_the_gpu():
    lin = nn.Linear(20, 12)
    gpu = nn.Linear(20, 12).to("cuda")
    gpu.load_state_dict(lin.state_dict())
    seq, gseq = C.low_rank_linear(lin, 4), C.low_rank_linear(gpu, 4)
    assert gseq[0].weight.device == gseq[1].weight.device == "cuda"
    assert C.singular_values(gpu.weight).__class__.__module__.startswith("cupy")
    wr = seq[1].weight.numpy() @ seq[0].weight.numpy()
    np.testing.assert_allclose(gseq[1].weight.numpy() @ gseq[0].weight.numpy(), wr, atol=1e-5)
