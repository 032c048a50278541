"""Recurrent cells and layers: float64 gradchecks, PyTorch parity, the articles' GRU against a
NumPy reference, variable lengths, a 1,000-step unroll and the error messages."""
import gc

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F
from torch_parity import check_param_grads, check_parity, load_from_torch, load_into_torch, requires_torch, torch

RNG = np.random.default_rng(0)


def arr(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def t64(a, grad=True):
    return tg.Tensor(a, dtype="float64", requires_grad=grad)


def cell_inputs(gates, B=3, I=4, H=5, bias=(True, True)):
    x, h, c = arr(B, I), arr(B, H), arr(B, H)
    w_ih, w_hh = arr(gates * H, I), arr(gates * H, H)
    b_ih = arr(gates * H) if bias[0] else None
    b_hh = arr(gates * H) if bias[1] else None
    return x, h, c, w_ih, w_hh, b_ih, b_hh


# ----- the articles' GRU, float64 NumPy reference
def _sig(a):
    return 1 / (1 + np.exp(-a))


def gru_ref(x, h, w_ih, w_hh, b_ih, b_hh):
    """z = sig(W_xz x + W_hz h + b), r = sig(...), n = tanh(W_xn x + W_hn (r h) + b), h' = (1-z) h + z n."""
    H = h.shape[1]
    gi = x @ w_ih.T + b_ih
    r = _sig(gi[:, :H] + h @ w_hh[:H].T + b_hh[:H])
    z = _sig(gi[:, H:2 * H] + h @ w_hh[H:2 * H].T + b_hh[H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T + b_hh[2 * H:])
    return (1 - z) * h + z * n


# ----- gradchecks
@pytest.mark.parametrize("bias", [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_gradcheck(bias, nonlinearity):
    x, h, _, w_ih, w_hh, b_ih, b_hh = cell_inputs(1, bias=bias)
    args = [t64(a) for a in (x, h, w_ih, w_hh) + tuple(b for b in (b_ih, b_hh) if b is not None)]

    def fn(x, h, w_ih, w_hh, *bs):
        b = list(bs) + [None] * (2 - len(bs))
        return F.rnn_cell(x, h, w_ih, w_hh, *b, nonlinearity=nonlinearity)
    assert tg.gradcheck(fn, args)


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_gradcheck(bias):
    x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(4, bias=(bias, bias))
    args = [t64(a) for a in (x, h, c, w_ih, w_hh) + ((b_ih, b_hh) if bias else ())]
    assert tg.gradcheck(lambda *a: F.lstm_cell(*a), args)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_gradcheck(bias):
    x, h, _, w_ih, w_hh, b_ih, b_hh = cell_inputs(3, bias=(bias, bias))
    args = [t64(a) for a in (x, h, w_ih, w_hh) + ((b_ih, b_hh) if bias else ())]
    assert tg.gradcheck(lambda *a: F.gru_cell(*a), args)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_recurrence_gradcheck_with_lengths(mode, reverse):
    G = {"rnn_tanh": 1, "lstm": 4, "gru": 3}[mode]
    T, B, I, H = 4, 3, 2, 3
    x, h0, c0 = arr(T, B, I), arr(B, H), arr(B, H)
    w_ih, w_hh, b_ih, b_hh = arr(G * H, I), arr(G * H, H), arr(G * H), arr(G * H)
    lstm = mode == "lstm"

    def fn(x, h0, w_ih, w_hh, b_ih, b_hh, *c0):
        return F.recurrence(x, h0, w_ih, w_hh, b_ih, b_hh, c0=c0[0] if lstm else None, mode=mode,
                            reverse=reverse, lengths=[4, 1, 2])
    args = [t64(a) for a in (x, h0, w_ih, w_hh, b_ih, b_hh)] + ([t64(c0)] if lstm else [])
    assert tg.gradcheck(fn, args)


# ----- GRU against the NumPy formula
def test_gru_cell_matches_numpy_formula():
    x, h, _, w_ih, w_hh, b_ih, b_hh = (a.astype(np.float64) for a in cell_inputs(3))
    out = F.gru_cell(*(tg.Tensor(a, dtype="float64") for a in (x, h, w_ih, w_hh, b_ih, b_hh)))
    np.testing.assert_allclose(out.numpy(), gru_ref(x, h, w_ih, w_hh, b_ih, b_hh), rtol=1e-12, atol=1e-12)


def test_gru_layer_bidirectional_matches_numpy_formula():
    m = tg.nn.GRU(3, 4, num_layers=2, bidirectional=True).to(dtype="float64")
    x = RNG.standard_normal((2, 5, 3))
    out, h_n = m(tg.Tensor(x, dtype="float64"))
    p = {k: v.numpy() for k, v in m.state_dict().items()}
    inp, finals = x, []
    for layer in range(2):
        outs = []
        for sfx in ("", "_reverse"):
            w = [p[f"{n}_l{layer}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h = np.zeros((2, 4))
            seq = np.zeros((2, 5, 4))
            for t in (range(4, -1, -1) if sfx else range(5)):
                h = gru_ref(inp[:, t], h, *w)
                seq[:, t] = h
            outs.append(seq)
            finals.append(h)
        inp = np.concatenate(outs, axis=2)
    np.testing.assert_allclose(out.numpy(), inp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), np.stack(finals), rtol=1e-10, atol=1e-12)


# ----- PyTorch parity
@requires_torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_parity(nonlinearity):
    x, h, _, w_ih, w_hh, b_ih, b_hh = cell_inputs(1)
    check_parity(lambda *a: F.rnn_cell(*a, nonlinearity=nonlinearity),
                 lambda x, h, *w: (torch.rnn_tanh_cell if nonlinearity == "tanh" else torch.rnn_relu_cell)(x, h, *w),
                 [x, h, w_ih, w_hh, b_ih, b_hh])


@requires_torch
def test_lstm_cell_parity():
    x, h, c, w_ih, w_hh, b_ih, b_hh = cell_inputs(4)
    check_parity(lambda *a: F.lstm_cell(*a),
                 lambda x, h, c, *w: torch.lstm_cell(x, (h, c), *w),
                 [x, h, c, w_ih, w_hh, b_ih, b_hh])


@requires_torch
@pytest.mark.parametrize("cls", ["RNN", "LSTM"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, True), (2, True, True),
                                                                  (3, False, False), (2, True, False)])
def test_layer_parity_with_copied_weights(cls, num_layers, bidirectional, batch_first):
    ours = getattr(tg.nn, cls)(4, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    theirs = getattr(torch.nn, cls)(4, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)
    D = 2 if bidirectional else 1
    x = arr(3, 5, 4) if batch_first else arr(5, 3, 4)
    h0, c0 = arr(num_layers * D, 3, 6), arr(num_layers * D, 3, 6)
    lstm = cls == "LSTM"

    def run(model):
        def fn(x, h0, c0):
            out, state = model(x, (h0, c0) if lstm else h0)
            return (out,) + (state if lstm else (state,))
        return fn
    check_parity(run(ours), run(theirs), [x, h0, c0], grad=[True, True, lstm])
    check_param_grads(ours, theirs)


@requires_torch
@pytest.mark.parametrize("cls", ["RNN", "LSTM"])
def test_lengths_match_packed_sequences(cls):
    ours, theirs = getattr(tg.nn, cls)(3, 4, num_layers=2, bidirectional=True), \
        getattr(torch.nn, cls)(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    load_from_torch(ours, theirs)
    x, lengths = arr(3, 6, 3), [6, 2, 4]
    xt = tg.Tensor(x, requires_grad=True)
    out, state = ours(xt, lengths=lengths)
    px = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(px, lengths, batch_first=True, enforce_sorted=False)
    ref, ref_state = theirs(packed)
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first=True, total_length=6)
    h, rh = (state[0], ref_state[0]) if cls == "LSTM" else (state, ref_state)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(h.numpy(), rh.detach().numpy(), atol=1e-5, rtol=1e-4)
    ((out + 1) ** 2).mean().backward()
    ((ref + 1) ** 2).mean().backward()
    np.testing.assert_allclose(xt.grad.numpy(), px.grad.numpy(), atol=1e-5, rtol=1e-3)


def test_padding_does_not_change_the_result():
    m = tg.nn.GRU(2, 3, bidirectional=True)
    x = arr(2, 5, 2)
    full, h_full = m(x[:1, :3])
    padded = x.copy()
    out, h = m(padded, lengths=[3, 5])
    np.testing.assert_allclose(out.numpy()[0, :3], full.numpy()[0], atol=1e-6)
    np.testing.assert_allclose(out.numpy()[0, 3:], 0)
    np.testing.assert_allclose(h.numpy()[:, 0], h_full.numpy()[:, 0], atol=1e-6)


@requires_torch
def test_gru_loads_pytorch_state_dict_but_computes_the_articles_formula():
    theirs = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    ours = tg.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    load_from_torch(ours, theirs)
    assert ours.weight_hh_l1_reverse.shape == (12, 4)
    x = arr(2, 5, 3)
    out, _ = ours(x)
    ref, _ = theirs(torch.tensor(x))
    assert np.abs(out.numpy() - ref.detach().numpy()).max() > 1e-3  # the articles' GRU is not PyTorch's
    p = {k: v.detach().numpy().astype(np.float64) for k, v in theirs.state_dict().items()}
    inp = x.astype(np.float64)
    for layer in range(2):
        outs = []
        for sfx in ("", "_reverse"):
            w = [p[f"{n}_l{layer}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, seq = np.zeros((2, 4)), np.zeros((2, 5, 4))
            for t in (range(4, -1, -1) if sfx else range(5)):
                h = gru_ref(inp[:, t], h, *w)
                seq[:, t] = h
            outs.append(seq)
        inp = np.concatenate(outs, axis=2)
    np.testing.assert_allclose(out.numpy(), inp, rtol=1e-4, atol=1e-5)


def test_cells_unbatched_and_default_state():
    cell = tg.nn.LSTMCell(3, 4)
    x = arr(3)
    h, c = cell(x)
    hb, cb = cell(x[None], (tg.zeros(1, 4), tg.zeros(1, 4)))
    assert h.shape == (4,) and c.shape == (4,) and hb.shape == (1, 4)
    np.testing.assert_allclose(h.numpy(), hb.numpy()[0])
    np.testing.assert_allclose(c.numpy(), cb.numpy()[0])
    g = tg.nn.GRUCell(3, 4)
    assert g(arr(2, 3)).shape == (2, 4)
    r = tg.nn.RNNCell(3, 4, nonlinearity="relu")
    assert (r(arr(2, 3)).numpy() >= 0).all()


def test_inter_layer_dropout_only_in_training():
    m = tg.nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = arr(2, 4, 3)
    a, b = m(x)[0].numpy(), m(x)[0].numpy()
    assert not np.allclose(a, b)
    m.eval()
    np.testing.assert_array_equal(m(x)[0].numpy(), m(x)[0].numpy())


# ----- deep unrolls
def test_1000_step_lstm_unroll_and_memory_is_stable():
    cell = tg.nn.LSTMCell(4, 8)
    xs = tg.Tensor(arr(1000, 2, 4))
    kept = []  # the final states stay referenced: backward must still free their 1,000-step graph

    def step():
        h = c = tg.zeros(2, 8)
        for t in range(1000):
            h, c = cell(xs[t], (h, c))
        cell.zero_grad()
        (h * h).sum().backward()
        kept.append((h, c))
        return cell.weight_hh.grad.numpy()

    def live():
        gc.collect()
        return sum(issubclass(type(o), (tg.Function, tg.Tensor)) for o in gc.get_objects())

    grad = step()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    before = live()
    for _ in range(3):
        step()
    assert live() <= before + 3 * 10


@pytest.mark.gpu
@pytest.mark.parametrize("cls,kw", [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("LSTM", {"proj_size": 2})])
def test_layers_on_gpu_match_cpu(cls, kw):
    m = getattr(tg.nn, cls)(3, 4, num_layers=2, bidirectional=True, **kw)
    x = arr(2, 5, 3)
    ref = m(x, lengths=[5, 3])[0]
    (ref * ref).sum().backward()
    grads = {n: p.grad.numpy() for n, p in m.named_parameters()}
    m.zero_grad()
    m.to("cuda")
    out = m(tg.Tensor(x, device="cuda"), lengths=[5, 3])[0]
    (out * out).sum().backward()
    assert out.device == "cuda"
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5, rtol=1e-4)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[n], atol=1e-4, rtol=1e-3, err_msg=n)


# ----- errors
def test_errors_name_the_shapes():
    x, h, c, w_ih, w_hh, b_ih, b_hh = (tg.Tensor(a) if a is not None else None for a in cell_inputs(4))
    with pytest.raises(ValueError, match="input has 4 features"):
        F.lstm_cell(tg.Tensor(arr(3, 4)), h, c, tg.Tensor(arr(20, 7)), w_hh)
    with pytest.raises(ValueError, match=r"c has shape \(3, 2\)"):
        F.lstm_cell(x, h, tg.Tensor(arr(3, 2)), w_ih, w_hh)
    with pytest.raises(ValueError, match="w_hh must have shape"):
        F.gru_cell(x, h, tg.Tensor(arr(15, 4)), tg.Tensor(arr(15, 4)))
    with pytest.raises(ValueError, match="b_ih has shape"):
        F.lstm_cell(x, h, c, w_ih, w_hh, tg.Tensor(arr(7)))
    m = tg.nn.LSTM(4, 5, num_layers=2)
    with pytest.raises(ValueError, match="input has 3 features but input_size is 4"):
        m(arr(2, 3, 3))
    with pytest.raises(ValueError, match=r"initial state has shape \(1, 2, 5\), expected \(2, 2, 5\)"):
        m(arr(2, 3, 4), (tg.zeros(1, 2, 5), tg.zeros(1, 2, 5)))
    with pytest.raises(ValueError, match="lengths must be 2 integers"):
        m(arr(2, 3, 4), lengths=[3, 4])
    with pytest.raises(ValueError, match="share one float dtype, got x float64"):
        m(tg.Tensor(arr(2, 3, 4), dtype="float64"))
    with pytest.raises(ValueError, match="nonlinearity"):
        tg.nn.RNN(2, 3, nonlinearity="sigmoid")


# ----- LSTM with a projection (proj_size)
@pytest.mark.parametrize("reverse,lengths", [(False, None), (True, [4, 1, 2])])
def test_projected_recurrence_gradcheck(reverse, lengths):
    T, B, I, H, P = 4, 3, 2, 3, 2
    arrays = [arr(T, B, I), arr(B, P), arr(B, H), arr(4 * H, I), arr(4 * H, P), arr(P, H), arr(4 * H), arr(4 * H)]

    def fn(x, h0, c0, w_ih, w_hh, w_hr, b_ih, b_hh):
        return F.recurrence(x, h0, w_ih, w_hh, b_ih, b_hh, c0=c0, reverse=reverse, lengths=lengths, w_hr=w_hr)
    assert tg.gradcheck(fn, [t64(a) for a in arrays])


def test_projected_lstm_layer_gradcheck():
    m = tg.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2).to(dtype="float64")
    params = [p for _, p in m.named_parameters()]
    names = [n for n, _ in m.named_parameters()]
    assert m.weight_hr_l1_reverse.shape == (2, 3) and m.weight_ih_l1.shape == (12, 4)

    def fn(x, h0, c0, *ws):
        for n, w in zip(names, ws):
            setattr(m, n, w)
        out, (h, c) = m(x, (h0, c0))
        return out, h, c
    args = [t64(arr(2, 3, 2)), t64(arr(4, 2, 2)), t64(arr(4, 2, 3))] + \
        [t64(p.numpy()) for p in params]
    assert tg.gradcheck(fn, args)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@requires_torch
@pytest.mark.parametrize("bidirectional,batch_first", [(False, True), (True, True), (True, False)])
def test_projected_lstm_parity_with_copied_weights(bidirectional, batch_first):
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=bidirectional, batch_first=batch_first, proj_size=3)
    ours, theirs = tg.nn.LSTM(4, 6, **kw), torch.nn.LSTM(4, 6, **kw)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    load_from_torch(ours, theirs)
    D = 2 if bidirectional else 1
    x = arr(3, 5, 4) if batch_first else arr(5, 3, 4)
    h0, c0 = arr(2 * D, 3, 3), arr(2 * D, 3, 6)

    def run(model):
        def fn(x, h0, c0):
            out, (h, c) = model(x, (h0, c0))
            return out, h, c
        return fn
    check_parity(run(ours), run(theirs), [x, h0, c0])
    check_param_grads(ours, theirs)
    # and back: our state dict loads into PyTorch
    load_into_torch(theirs, ours)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@requires_torch
def test_projected_lstm_lengths_match_packed_sequences():
    torch.manual_seed(0)
    ours = tg.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=2)
    load_from_torch(ours, theirs)
    x, lengths = arr(3, 6, 3), [6, 2, 4]
    out, (h, c) = ours(x, lengths=lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, batch_first=True,
                                                     enforce_sorted=False)
    ref, (rh, rc) = theirs(packed)
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(ref, batch_first=True, total_length=6)
    for a, b in ((out, ref), (h, rh), (c, rc)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-5, rtol=1e-4)


def test_projected_lstm_shapes_and_errors():
    m = tg.nn.LSTM(4, 6, num_layers=2, proj_size=2)
    out, (h, c) = m(arr(3, 5, 4))
    assert out.shape == (3, 5, 2) and h.shape == (2, 3, 2) and c.shape == (2, 3, 6)
    out, (h, c) = m(arr(5, 4))  # unbatched
    assert out.shape == (5, 2) and h.shape == (2, 2) and c.shape == (2, 6)
    assert "proj_size=2" in repr(m)
    with pytest.raises(ValueError, match=r"LSTM: proj_size must be in \[0, hidden_size\), got proj_size=6 "
                                         r"with hidden_size=6"):
        tg.nn.LSTM(4, 6, proj_size=6)
    with pytest.raises(ValueError, match="LSTM: proj_size .* got proj_size=-1"):
        tg.nn.LSTM(4, 6, proj_size=-1)
    with pytest.raises(ValueError, match=r"initial state has shape \(2, 3, 6\), expected \(2, 3, 2\) "
                                         r"\(num_layers \* directions, batch, proj_size\)"):
        m(arr(3, 5, 4), (tg.zeros(2, 3, 6), tg.zeros(2, 3, 6)))
    with pytest.raises(ValueError, match=r"w_hh must have shape \(4\*H, proj_size\), got \(24, 6\)"):
        F.recurrence(arr(5, 3, 4), arr(3, 2), arr(24, 4), arr(24, 6), c0=arr(3, 6), w_hr=arr(2, 6))
    with pytest.raises(ValueError, match="needs mode 'lstm'"):
        F.recurrence(arr(5, 3, 4), arr(3, 2), arr(6, 4), arr(6, 2), mode="rnn_tanh", w_hr=arr(2, 6))


def test_recurrent_layers_take_api_md_positional_order():
    """API.md: RNN/LSTM/GRU(input_size, hidden_size, num_layers=1, batch_first=True, bidirectional=False)."""
    for cls in (tg.nn.RNN, tg.nn.LSTM, tg.nn.GRU):
        m = cls(3, 4, 2, False, True)
        assert (m.num_layers, m.batch_first, m.bidirectional) == (2, False, True)
        out = m(tg.randn(5, 2, 3))[0]  # time-major because batch_first=False
        assert out.shape == (5, 2, 8)
    with pytest.raises(TypeError, match="RNN: batch_first must be a bool, got 'relu'"):
        tg.nn.RNN(3, 4, 1, "relu")  # PyTorch's positional nonlinearity must not be taken for batch_first
    assert tg.nn.RNN(3, 4, nonlinearity="relu").mode == "rnn_relu"


def test_recurrence_lstm_without_c0_is_a_clear_error_and_nn_lstm_starts_from_zeros():
    """F.recurrence lives in functional/sequence.py beside scaled_dot_product_attention."""
    x, h0 = tg.Tensor(arr(4, 2, 3)), tg.Tensor(np.zeros((2, 5), np.float32))
    w_ih, w_hh = tg.Tensor(arr(20, 3)), tg.Tensor(arr(20, 5))
    with pytest.raises(ValueError, match=r"recurrence: mode 'lstm' needs c0 \(B, H\) = \(2, 5\), got None"):
        F.recurrence(x, h0, w_ih, w_hh, mode="lstm")
    with pytest.raises(ValueError, match=r"recurrence: mode 'gru' needs h0 \(B, H\) = \(2, 5\), got None"):
        F.recurrence(x, None, tg.Tensor(arr(15, 3)), tg.Tensor(arr(15, 5)), mode="gru")
    out, _, c = F.recurrence(x, h0, w_ih, w_hh, c0=h0, mode="lstm")
    lstm = tg.nn.LSTM(3, 5, bias=False, batch_first=False)
    lstm.weight_ih_l0.data[...], lstm.weight_hh_l0.data[...] = w_ih.numpy(), w_hh.numpy()
    out_nn, (_, c_nn) = lstm(x)                                      # no states given: zeros
    np.testing.assert_allclose(out_nn.numpy(), out.numpy(), atol=1e-6)
    np.testing.assert_allclose(c_nn.numpy()[0], c.numpy(), atol=1e-6)
