"""Bad inputs raise ValueError/IndexError messages that name the op and the shapes or values at fault."""
import re

import numpy as np
import pytest

import tinygrad_img as tg
import tinygrad_img.functional as F


def _shapes_named(msg, *shapes):
    return all(str(tuple(s)) in msg for s in shapes)


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b), ("maximum", tg.maximum), ("minimum", tg.minimum),
])
def test_broadcast_mismatch_names_op_and_both_shapes(name, op):
    a, b = tg.ones(2, 3, requires_grad=True), tg.ones(4, 5)
    with pytest.raises(ValueError) as info:
        op(a, b)
    msg = str(info.value)
    assert msg.startswith(f"{name}:") and _shapes_named(msg, (2, 3), (4, 5)), msg


@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 2, 3), (2, 4, 1))])
def test_matmul_mismatch(sa, sb):
    with pytest.raises(ValueError) as info:
        tg.ones(*sa) @ tg.ones(*sb)
    msg = str(info.value)
    assert msg.startswith("matmul:") and _shapes_named(msg, sa, sb), msg


def test_matmul_of_0d():
    with pytest.raises(ValueError, match=r"matmul: .*\(\)"):
        tg.tensor(2.0) @ tg.ones(2)


def test_linear_mismatch():
    with pytest.raises(ValueError) as info:
        F.linear(tg.ones(4, 3), tg.ones(5, 2))
    assert info.value.args[0].startswith("linear:") and _shapes_named(str(info.value), (4, 3), (5, 2))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(4,\) .* weight of shape \(5, 3\)"):
        F.linear(tg.ones(4, 3), tg.ones(5, 3), tg.ones(4))


def test_shape_op_errors():
    x = tg.ones(2, 3)
    with pytest.raises(ValueError, match=re.escape("reshape: cannot reshape a tensor of shape (2, 3) (6 elements) "
                                                   "into shape (4, 2)")):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast shape \(2, 3\) to \(4, 3\)"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0, 1\)"):
        x.permute(0, 0, 1)
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(2, 3\), \(3, 3\)\] do not match outside axis 1"):
        tg.cat([x, tg.ones(3, 3)], axis=1)
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape"):
        tg.stack([x, tg.ones(3, 2)])
    with pytest.raises(ValueError, match=r"pad: pad_width .* shape \(2, 3\)"):
        tg.pad(x, (1, 1, 2, 2))
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match="unsqueeze: axis 4"):
        x.unsqueeze(4)


def test_loss_errors():
    logits = tg.ones(4, 3)
    with pytest.raises(ValueError, match=r"cross_entropy: target of shape \(5,\).*\(4,\)"):
        F.cross_entropy(logits, np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match=r"cross_entropy: target holds class indices outside \[0, 3\)"):
        F.cross_entropy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"cross_entropy: probability target of shape \(4, 2\)"):
        F.cross_entropy(logits, np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"cross_entropy: class weight of shape \(2,\) does not match 3 classes"):
        F.cross_entropy(logits, np.array([0, 1, 2, 0]), weight=np.ones(2))
    with pytest.raises(ValueError, match="cross_entropy: reduction must be"):
        F.cross_entropy(logits, np.array([0, 1, 2, 0]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(logits, np.array([0, 1, 2, 0]), label_smoothing=1.5)
    for fn in (F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError) as info:
            fn(tg.full((2, 3), 0.5), tg.full((3, 2), 0.5))
        assert info.value.args[0].startswith(fn.__name__) and _shapes_named(str(info.value), (2, 3), (3, 2))
    with pytest.raises(ValueError, match="binary_cross_entropy: input must hold probabilities"):
        F.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0]))
    with pytest.raises(ValueError, match="mse_loss: reduction must be"):
        F.mse_loss(tg.ones(2), tg.ones(2), reduction="avg")


def test_clip_needs_a_bound_and_gelu_mode_is_checked():
    with pytest.raises(ValueError, match="clip: give at least one"):
        tg.ones(2).clip()
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        F.gelu(tg.ones(2), approximate="fast")


@pytest.mark.parametrize("name, op", [
    ("concatenate", lambda m: tg.cat([m, m], axis=2)),
    ("concatenate", lambda m: tg.cat([m, m], axis=-3)),
    ("transpose", lambda m: m.transpose(0, 2)),
    ("transpose", lambda m: m.permute(0, 5)),
    ("flatten", lambda m: m.flatten(5)),
    ("flatten", lambda m: m.flatten(1, 0)),
    ("softmax", lambda m: m.softmax(3)),
    ("softmax", lambda m: F.softmax(m, axis=-3)),
    ("log_softmax", lambda m: m.log_softmax(3)),
])
def test_out_of_range_axes_raise_instead_of_wrapping(name, op):
    with pytest.raises(ValueError) as info:
        op(tg.ones(2, 3))
    assert str(info.value).startswith(f"{name}:"), str(info.value)


def test_cross_entropy_target_mismatch_names_the_real_input_shape():
    with pytest.raises(ValueError) as info:
        F.cross_entropy(tg.ones(2, 3, 4, 5), np.zeros((2, 4), np.int64))
    assert _shapes_named(str(info.value), (2, 3, 4, 5), (2, 4)), str(info.value)


def test_bool_of_many_elements_names_bool():
    with pytest.raises(ValueError, match=r"^bool: .*\(2,\)"):
        bool(tg.tensor([1.0, 2.0]))
    assert bool(tg.tensor([2.0])) and not bool(tg.tensor(0.0))


def test_cross_entropy_takes_api_md_positional_order():
    """API.md: F.cross_entropy(logits, target, reduction="mean", label_smoothing=0.0)."""
    logits = tg.Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    target = np.array([0, 2, 1, 0])
    total = F.cross_entropy(logits, target, "sum").item()
    assert np.isclose(total, 4 * F.cross_entropy(logits, target).item(), rtol=1e-6)
    assert F.cross_entropy(logits, target, "none").shape == (4,)
    assert np.isclose(F.cross_entropy(logits, target, "mean", 0.1).item(),
                      F.cross_entropy(logits, target, label_smoothing=0.1).item())
    with pytest.raises(TypeError, match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got ndarray"):
        F.cross_entropy(logits, target, np.ones(3, np.float32))   # PyTorch's positional weight
