"""Scaled dot-product attention and the attention layers: float64 gradchecks for every mask
kind, PyTorch parity, NaN-free fully masked rows, seeded dropout, MultiheadAttention with
copied projections (self and cross attention), TransformerEncoderLayer, and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img.ops import attention as attention_op, linalg
from module_params import with_tensors
from torch_parity import check_param_grads, check_parity, load_from_torch, load_into_torch, requires_torch, torch

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def t64(a, grad=True):
    return tg.Tensor(a, dtype="float64", requires_grad=grad)


def bool_mask(*shape, p=0.35):
    m = RNG.random(shape) > p
    m[..., 0] = True  # every query keeps a key (PyTorch gives NaN otherwise)
    return m


# ----- gradchecks
@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "bool+causal"])
def test_sdpa_gradcheck(kind):
    q, k, v = arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 3)
    mask = {"bool": tg.Tensor(bool_mask(3, 5)), "bool+causal": tg.Tensor(bool_mask(2, 3, 5))}.get(kind)
    causal = "causal" in kind
    if kind == "float":
        m = t64(arr(3, 5))
        assert tg.gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m), [t64(q), t64(k), t64(v), m])
    else:
        assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask, is_causal=causal),
                            [t64(q), t64(k), t64(v)])


def test_sdpa_gradcheck_broadcast_leading_dims_and_returned_weights():
    q, k, v = arr(2, 3, 4, 5), arr(3, 6, 5), arr(1, 1, 6, 2)
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, return_weights=True),
                        [t64(q), t64(k), t64(v)])


def test_sdpa_gradcheck_with_seeded_dropout():
    q, k, v = arr(2, 4, 3), arr(2, 5, 3), arr(2, 5, 3)

    def fn(q, k, v):
        tg.manual_seed(3)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    assert tg.gradcheck(fn, [t64(q), t64(k), t64(v)])


def test_sdpa_dropout_is_seeded_and_scaled():
    rng = np.random.default_rng(7)
    q, k, v = (tg.Tensor(rng.standard_normal((4, 32, 8)).astype(np.float32)) for _ in range(3))
    p = 0.3   # asymmetric: a drop probability of 1 - p or a scale of 1 / p would be caught
    tg.manual_seed(5)
    out, w = F.scaled_dot_product_attention(q, k, v, dropout_p=p, return_weights=True)
    tg.manual_seed(5)
    out2 = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    np.testing.assert_array_equal(out.numpy(), out2.numpy())
    w = w.numpy()
    full = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, return_weights=True)[1].numpy()
    assert (full > 0).all()   # so a zero weight can only come from dropout
    dropped = (w == 0).mean()
    tol = 5 * np.sqrt(p * (1 - p) / w.size)   # 5 binomial standard deviations
    assert abs(dropped - p) < tol, (dropped, tol)
    np.testing.assert_allclose(out.numpy(), w @ v.numpy(), atol=1e-5)
    kept = w != 0
    np.testing.assert_allclose(w[kept], full[kept] / (1 - p), rtol=1e-5)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_row_gives_zeros_and_finite_grads(kind):
    q, k, v = arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 3)
    allowed = bool_mask(2, 3, 5)
    allowed[1, 2] = False
    mask = tg.Tensor(allowed) if kind == "bool" else tg.Tensor(np.where(allowed, 0.0, -np.inf).astype(np.float32))
    ts = [tg.Tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, mask)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_array_equal(out.numpy()[1, 2], 0)
    (out * out).sum().backward()
    for t in ts:
        assert np.isfinite(t.grad.numpy()).all()
    assert np.abs(ts[0].grad.numpy()[1, 2]).max() == 0
    masked_rows = [i for i in range(3) if i != 2]
    ref = F.scaled_dot_product_attention(tg.Tensor(q[1:, masked_rows]), tg.Tensor(k[1:]), tg.Tensor(v[1:]),
                                         tg.Tensor(allowed[1:, masked_rows]))
    np.testing.assert_allclose(out.numpy()[1, masked_rows], ref.numpy()[0], atol=1e-6)
    assert tg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask), [t64(a) for a in (q, k, v)])


def test_softmax_is_stable_for_huge_scores():
    q, k, v = arr(2, 3, 4) * 1e4, arr(2, 5, 4) * 1e4, arr(2, 5, 3)
    ts = [tg.Tensor(a, requires_grad=True) for a in (q, k, v)]
    out, w = F.scaled_dot_product_attention(*ts, return_weights=True)
    out.sum().backward()
    assert np.isfinite(out.numpy()).all() and all(np.isfinite(t.grad.numpy()).all() for t in ts)
    np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), v[np.arange(2)[:, None], w.numpy().argmax(-1)], atol=1e-4)


# ----- PyTorch parity
@requires_torch
@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "causal_rect"])
def test_sdpa_parity(kind):
    L = 6
    S = 9 if kind == "causal_rect" else 6
    q, k, v = arr(2, 3, L, 8), arr(2, 3, S, 8), arr(2, 3, S, 5)
    arrays = [q, k, v]
    causal = kind.startswith("causal")
    if kind == "bool":
        arrays.append(bool_mask(2, 1, L, S))
    if kind == "float":
        arrays.append(arr(3, L, S))
    check_parity(lambda q, k, v, *m: F.scaled_dot_product_attention(q, k, v, *m, is_causal=causal),
                 lambda q, k, v, *m: torch.nn.functional.scaled_dot_product_attention(q, k, v, *m, is_causal=causal),
                 arrays)


@requires_torch
@settings(max_examples=10, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), L=st.integers(1, 6), S=st.integers(1, 6),
       E=st.integers(1, 5), kind=st.sampled_from(["none", "bool", "float", "causal"]))
def test_sdpa_parity_random_shapes(lead, L, S, E, kind):
    rng = np.random.default_rng(L * 100 + S * 10 + E)
    q, k, v = (rng.standard_normal(tuple(lead) + (n, E)).astype(np.float32) for n in (L, S, S))
    arrays = [q, k, v]
    if kind == "bool":
        arrays.append(rng.random((L, S)) > 0.3)
        arrays[-1][:, 0] = True
    if kind == "float":
        arrays.append(rng.standard_normal((L, S)).astype(np.float32))
    causal = kind == "causal"
    check_parity(lambda q, k, v, *m: F.scaled_dot_product_attention(q, k, v, *m, is_causal=causal),
                 lambda q, k, v, *m: torch.nn.functional.scaled_dot_product_attention(q, k, v, *m, is_causal=causal),
                 arrays)


@requires_torch
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding"])
def test_mha_self_attention_parity(masks):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    ours = tg.nn.MultiheadAttention(8, 2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)
    kw = {}
    if masks == "bool":
        kw["attn_mask"] = ~bool_mask(4, 4)
    if masks == "float":
        kw["attn_mask"] = arr(3 * 2, 4, 4)
    if masks == "padding":
        kpm = np.zeros((3, 4), bool)
        kpm[0, 2:] = True
        kw["key_padding_mask"] = kpm

    def run(model, wrap):
        def fn(x):
            return model(x, x, x, **{k: wrap(v) for k, v in kw.items()})
        return fn
    check_parity(run(ours, tg.Tensor), run(theirs, torch.tensor), [arr(3, 4, 8)])
    check_param_grads(ours, theirs)


@requires_torch
def test_mha_cross_attention_kdim_vdim_parity():
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 4, kdim=6, vdim=5, batch_first=True)
    ours = tg.nn.MultiheadAttention(8, 4, kdim=6, vdim=5)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    load_from_torch(ours, theirs)
    kpm = np.zeros((2, 7), bool)
    kpm[1, 5:] = True
    check_parity(lambda q, k, v: ours(q, k, v, key_padding_mask=tg.Tensor(kpm), average_attn_weights=False),
                 lambda q, k, v: theirs(q, k, v, key_padding_mask=torch.tensor(kpm), average_attn_weights=False),
                 [arr(2, 3, 8), arr(2, 7, 6), arr(2, 7, 5)])


def test_mha_unbatched_and_time_first_agree_with_batch_first():
    m = tg.nn.MultiheadAttention(6, 3)
    x = arr(2, 4, 6)
    out, w = m(x, x, x)
    single, ws = m(x[1], x[1], x[1])
    np.testing.assert_allclose(single.numpy(), out.numpy()[1], atol=1e-6)
    np.testing.assert_allclose(ws.numpy(), w.numpy()[1], atol=1e-6)
    np.testing.assert_allclose(w.numpy().sum(-1), 1, atol=1e-6)
    m.batch_first = False
    tf, _ = m(x.transpose(1, 0, 2), x.transpose(1, 0, 2), x.transpose(1, 0, 2), need_weights=False)
    np.testing.assert_allclose(tf.numpy().transpose(1, 0, 2), out.numpy(), atol=1e-6)


def test_sinusoidal_positional_encoding():
    pe = tg.nn.sinusoidal_positional_encoding(7, 6).numpy()
    pos, i = 5, 2
    np.testing.assert_allclose(pe[pos, 2 * i], np.sin(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    np.testing.assert_allclose(pe[pos, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    assert tg.nn.sinusoidal_positional_encoding(3, 5).shape == (3, 5)
    x = arr(2, 7, 6)
    np.testing.assert_allclose(tg.nn.PositionalEncoding(6, max_len=10)(x).numpy(), x + pe, atol=1e-6)


@pytest.mark.gpu
def test_sdpa_and_mha_on_gpu_match_cpu():
    q, k, v = arr(2, 3, 4, 8), arr(2, 3, 6, 8), arr(2, 3, 6, 5)
    allowed = bool_mask(2, 1, 4, 6)
    allowed[0, 0, 1] = False
    results = []
    for device in ("cpu", "cuda"):
        ts = [tg.Tensor(a, requires_grad=True, device=device) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts, tg.Tensor(allowed, device=device), is_causal=True)
        (out * out).sum().backward()
        results.append([out.numpy()] + [t.grad.numpy() for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
    dropped = F.scaled_dot_product_attention(*(tg.Tensor(a, device="cuda") for a in (q, k, v)), dropout_p=0.3)
    assert dropped.device == "cuda" and np.isfinite(dropped.numpy()).all()
    m = tg.nn.MultiheadAttention(8, 2, kdim=6, vdim=5)
    x, kv = arr(2, 3, 8), arr(2, 4, 6)
    ref, w = m(x, kv, kv[..., :5])
    m.to("cuda")
    out, wg = m(tg.Tensor(x, device="cuda"), tg.Tensor(kv, device="cuda"), tg.Tensor(kv[..., :5], device="cuda"))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(wg.numpy(), w.numpy(), atol=1e-6)


# ----- errors
def test_errors():
    q, k, v = (tg.Tensor(arr(2, 3, 4)) for _ in range(3))
    with pytest.raises(ValueError, match="divisible"):
        tg.nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match=r"attn_mask \(4, 5\)"):
        F.scaled_dot_product_attention(q, k, v, tg.Tensor(np.ones((4, 5), bool)))
    with pytest.raises(ValueError, match="query dim 4 != key dim 5"):
        F.scaled_dot_product_attention(q, tg.Tensor(arr(2, 3, 5)), v)
    with pytest.raises(ValueError, match="key has 3 positions but value has 2"):
        F.scaled_dot_product_attention(q, k, tg.Tensor(arr(2, 2, 4)))
    with pytest.raises(ValueError, match="do not broadcast"):
        F.scaled_dot_product_attention(q, tg.Tensor(arr(3, 3, 4)), tg.Tensor(arr(3, 3, 4)))
    with pytest.raises(ValueError, match="share one float dtype"):
        F.scaled_dot_product_attention(q, k, tg.Tensor(arr(2, 3, 4), dtype="float64"))
    m = tg.nn.MultiheadAttention(4, 2)
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(2, 4\), expected \(2, 3\)"):
        m(q, k, v, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match="must end in 4 features"):
        m(q, tg.Tensor(arr(2, 3, 5)), v)


def test_attention_reuses_the_linalg_swap_helper():
    assert attention_op._swap is linalg._swap
    a = np.arange(6).reshape(1, 2, 3)
    np.testing.assert_array_equal(linalg._swap(a), a.transpose(0, 2, 1))


# ----- MultiheadAttention's add_bias_kv / add_zero_attn
@requires_torch
@pytest.mark.parametrize("add_bias_kv,add_zero_attn", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "padding+bool"])
def test_mha_bias_kv_and_zero_attn_parity(add_bias_kv, add_zero_attn, masks):
    torch.manual_seed(0)
    kw = dict(add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True, **kw)
    ours = tg.nn.MultiheadAttention(8, 2, **kw)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    load_from_torch(ours, theirs)
    masks_kw = {}
    if "bool" in masks:
        masks_kw["attn_mask"] = ~bool_mask(4, 5)
    if masks == "float":
        masks_kw["attn_mask"] = arr(3 * 2, 4, 5)
    if "padding" in masks:
        kpm = np.zeros((3, 5), bool)
        kpm[0, 2:] = True
        masks_kw["key_padding_mask"] = kpm

    def run(model, wrap):
        def fn(q, kv):
            out, w = model(q, kv, kv, **{k: wrap(v) for k, v in masks_kw.items()})
            return out, w
        return fn
    check_parity(run(ours, tg.Tensor), run(theirs, torch.tensor), [arr(3, 4, 8), arr(3, 5, 8)])
    check_param_grads(ours, theirs)


@requires_torch
def test_mha_bias_kv_cross_attention_state_dicts_load_both_ways():
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 4, add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=5,
                                         batch_first=True)
    ours = tg.nn.MultiheadAttention(8, 4, add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=5)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.bias_k.shape == ours.bias_v.shape == (1, 1, 8)
    load_into_torch(theirs, ours)
    q, k, v = arr(2, 3, 8), arr(2, 7, 6), arr(2, 7, 5)
    out, w = ours(q, k, v, average_attn_weights=False)
    ref, rw = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(v), average_attn_weights=False)
    assert w.shape == (2, 4, 3, 9)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(w.numpy(), rw.detach().numpy(), atol=1e-6)


def test_mha_extra_keys_gradcheck_and_causal_keeps_them_allowed():
    m = tg.nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True).to(dtype="float64")
    x = arr(2, 3, 4).astype(np.float64)
    causal, _ = m(x, x, x, is_causal=True, need_weights=False)
    explicit, w = m(x, x, x, attn_mask=np.triu(np.ones((3, 3), bool), 1))
    np.testing.assert_allclose(causal.numpy(), explicit.numpy(), atol=1e-12)
    assert (w.numpy()[:, 0, 3:] > 0).all() and (w.numpy()[:, 0, 1:3] == 0).all()
    assert tg.gradcheck(lambda q, k, bk, bv: with_tensors(m, bias_k=bk, bias_v=bv)(q, k, k, key_padding_mask=[
        [False, False, True], [False, False, False]])[0], [t64(x), t64(arr(2, 3, 4)), t64(m.bias_k.numpy()),
                                                           t64(m.bias_v.numpy())])


def test_check_param_grads_catches_a_wrong_or_missing_gradient():
    torch.manual_seed(0)
    theirs, ours = torch.nn.MultiheadAttention(4, 2, batch_first=True), tg.nn.MultiheadAttention(4, 2)
    load_from_torch(ours, theirs)
    check_parity(lambda x: ours(x, x, x)[0], lambda x: theirs(x, x, x)[0], [arr(2, 3, 4)])
    check_param_grads(ours, theirs)
    ours.out_proj.bias.grad = ours.out_proj.bias.grad * 1.1
    with pytest.raises(AssertionError, match="out_proj.bias"):
        check_param_grads(ours, theirs)
    ours.out_proj.bias.grad = None
    with pytest.raises(AssertionError, match="out_proj.bias: no gradient"):
        check_param_grads(ours, theirs)


def test_mha_positional_arguments_follow_the_api_contract():
    """API.md: MultiheadAttention(embed_dim, num_heads, dropout, bias, kdim, vdim): kdim/vdim stay 5th/6th."""
    m = tg.nn.MultiheadAttention(8, 2, 0.0, True, 6, 5)
    assert m.k_proj_weight.shape == (8, 6) and m.v_proj_weight.shape == (8, 5)
    assert m.bias_k is None and m.bias_v is None
