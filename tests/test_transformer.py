"""nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch parity (post-norm and norm_first,
relu/gelu/callable activations, time-first), independent layer copies, a float64 gradcheck of a
tiny encoder, and PyTorch's keyword arguments we accept."""
import numpy as np
import pytest

import tinygrad_img as tg
from module_params import with_tensors
from torch_parity import check_param_grads, check_parity, load_from_torch, requires_torch, torch

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def t64(a, grad=True):
    return tg.Tensor(a, dtype="float64", requires_grad=grad)


@requires_torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_parity(norm_first):
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                              norm_first=norm_first)
    ours = tg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)
    theirs.train()  # the training path: PyTorch's fused eval fast path is not the reference here
    kpm = np.zeros((2, 5), bool)
    kpm[0, 3:] = True
    check_parity(lambda x: ours(x, src_key_padding_mask=tg.Tensor(kpm)),
                 lambda x: theirs(x, src_key_padding_mask=torch.tensor(kpm)), [arr(2, 5, 8)])


@requires_torch
@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu"), (False, "callable")])
def test_transformer_encoder_parity(norm_first, activation):
    torch.manual_seed(0)
    act_t, act_o = (torch.nn.GELU(), tg.nn.GELU()) if activation == "callable" else (activation, activation)
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                               norm_first=norm_first, activation=act_t)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    layer_o = tg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first,
                                            activation=act_o)
    ours = tg.nn.TransformerEncoder(layer_o, 2, norm=tg.nn.LayerNorm(8))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)
    ours.eval(), theirs.eval()
    kpm = np.zeros((2, 5), bool)
    kpm[0, 3:] = True
    causal = np.triu(np.ones((5, 5), bool), 1)
    check_parity(lambda x: ours(x, mask=tg.Tensor(causal), src_key_padding_mask=tg.Tensor(kpm)),
                 lambda x: theirs(x, mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(kpm)),
                 [arr(2, 5, 8)])
    check_param_grads(ours, theirs)


@requires_torch
def test_transformer_encoder_time_first_without_norm_parity():
    torch.manual_seed(0)
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0), 3,
                                         enable_nested_tensor=False)
    ours = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(8, 4, 12, dropout=0.0, batch_first=False), 3)
    load_from_torch(ours, theirs)
    check_parity(lambda x: ours(x), lambda x: theirs(x), [arr(6, 2, 8)])
    check_param_grads(ours, theirs)


@requires_torch
def test_transformer_encoder_accepts_pytorchs_nested_tensor_arguments():
    torch.manual_seed(0)
    kw = {"enable_nested_tensor": False, "mask_check": False}
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True),
                                         2, **kw)
    ours = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0), 2, **kw)
    load_from_torch(ours, theirs)
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    check_parity(lambda x: ours(x, src_key_padding_mask=tg.Tensor(kpm)),
                 lambda x: theirs(x, src_key_padding_mask=torch.tensor(kpm)), [arr(2, 5, 8)])
    check_param_grads(ours, theirs)
    ours_default = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0), 2,
                                            enable_nested_tensor=True, mask_check=True)
    ours_default.load_state_dict(ours.state_dict())
    x = tg.Tensor(arr(2, 5, 8))
    np.testing.assert_array_equal(ours_default(x, src_key_padding_mask=kpm).numpy(),
                                  ours(x, src_key_padding_mask=kpm).numpy())     # ignored: same result


def test_transformer_encoder_copies_are_independent():
    layer = tg.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6)
    enc = tg.nn.TransformerEncoder(layer, 2, norm=tg.nn.LayerNorm(4))
    names = [n for n, _ in enc.named_parameters()]
    assert names[0] == "layers.0.self_attn.in_proj_weight" and names[-1] == "norm.bias"
    assert len(names) == 2 * len(list(layer.parameters())) + 2
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not layer.linear1.weight and w0 is not w1
    np.testing.assert_array_equal(w0.numpy(), layer.linear1.weight.numpy())
    w0.data[...] = 0
    assert np.abs(w1.numpy()).sum() > 0 and np.abs(layer.linear1.weight.numpy()).sum() > 0
    x = tg.Tensor(arr(2, 3, 4))
    enc.eval()
    out = enc(x, is_causal=True)
    np.testing.assert_allclose(out.numpy(), enc(x, mask=np.triu(np.ones((3, 3), bool), 1)).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="TransformerEncoder: needs a Module layer and num_layers >= 1, got "
                                         "TransformerEncoderLayer and 0"):
        tg.nn.TransformerEncoder(layer, 0)
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable, got 'tanh'"):
        tg.nn.TransformerEncoderLayer(4, 2, activation="tanh")


def test_transformer_encoder_gradcheck():
    enc = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0,
                                                                 activation="gelu"),
                                   2, norm=tg.nn.LayerNorm(4)).to(dtype="float64")
    named = list(enc.named_parameters())
    kpm = np.array([[False, False, True], [False, False, False]])

    def fn(x, *ws):
        return with_tensors(enc, **dict(zip((n for n, _ in named), ws)))(x, src_key_padding_mask=kpm, is_causal=True)
    assert tg.gradcheck(fn, [t64(arr(2, 3, 4))] + [t64(p.numpy()) for _, p in named])


@pytest.mark.gpu
def test_mha_extra_keys_and_encoder_on_gpu_match_cpu():
    m = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0), 2)
    m.layers[0].self_attn = tg.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    x = arr(2, 4, 8)
    ref = m(x, is_causal=True)
    m.to("cuda")
    out = m(tg.Tensor(x, device="cuda"), is_causal=True)
    assert out.device == "cuda"
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5, rtol=1e-4)
