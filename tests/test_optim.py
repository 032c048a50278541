"""Optimisers and schedulers: step-by-step parity with torch.optim, hand-computed updates,
in-place updates, parameter groups and state_dict round trips."""
import math

import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img import nn, optim
from tinygrad_img.optim import lr_scheduler as sched
from torch_parity import requires_torch, torch

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
]


def _params_and_grads(steps=5):
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)]
    gs = [[rng.standard_normal(w.shape).astype(np.float32) for w in ws] for _ in range(steps)]
    return ws, gs


@requires_torch
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_matches_torch_step_by_step(name, kw):
    ws, gs = _params_and_grads()
    ours = [nn.Parameter(w.copy()) for w in ws]
    theirs = [torch.nn.Parameter(torch.tensor(w.copy())) for w in ws]
    # two groups, the second with half the learning rate
    o = getattr(optim, name)([{"params": ours[:1]}, {"params": ours[1:], "lr": kw["lr"] / 2}], **kw)
    t = getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": kw["lr"] / 2}], **kw)
    for step_grads in gs:
        for p, q, g in zip(ours, theirs, step_grads):
            p.grad, q.grad = tg.Tensor(g), torch.tensor(g)
        o.step()
        t.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_updates_in_place(name, kw):
    ws, gs = _params_and_grads(3)
    ps = [nn.Parameter(w.copy()) for w in ws]
    arrays = [p.data for p in ps]
    o = getattr(optim, name)(ps, **kw)
    for step_grads in gs:
        for p, g in zip(ps, step_grads):
            p.grad = tg.Tensor(g)
        o.step()
        states = [{k: v for k, v in o.state[p].items() if hasattr(v, "shape")} for p in ps]
        assert all(p.data is a for p, a in zip(ps, arrays))
    assert all(not np.allclose(p.data, w) for p, w in zip(ps, ws))
    again = [{k: v for k, v in o.state[p].items() if hasattr(v, "shape")} for p in ps]
    assert all(s[k] is a[k] for s, a in zip(states, again) for k in s)


def test_grads_are_never_written():
    p = nn.Parameter(np.ones(3, np.float32))
    g = np.array([1.0, -2.0, 3.0], np.float32)
    p.grad = tg.Tensor(g)
    opt = optim.Adam([p], lr=0.1, weight_decay=0.5)
    opt.step()
    np.testing.assert_array_equal(g, [1.0, -2.0, 3.0])


def test_sgd_hand_computed():
    p = nn.Parameter(np.array([1.0, 2.0], np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.1)
    g = np.array([0.5, -1.0], np.float32)
    p.grad = tg.Tensor(g)
    opt.step()                       # buf = g + 0.1 w = [0.6, -0.8]; w -= 0.1 buf
    np.testing.assert_allclose(p.data, [0.94, 2.08], rtol=1e-6)
    opt.step()                       # g' = g + 0.1 w = [0.594, -0.792]; buf = 0.5 buf + g'
    np.testing.assert_allclose(p.data, [0.94 - 0.1 * (0.3 + 0.594), 2.08 - 0.1 * (-0.4 - 0.792)], rtol=1e-6)


def test_adam_and_adamw_hand_computed():
    g = np.array([0.5, -2.0], np.float32)
    p = nn.Parameter(np.array([1.0, 1.0], np.float32))
    p.grad = tg.Tensor(g)
    optim.Adam([p], lr=0.1, eps=1e-8).step()     # m_hat = g, v_hat = g^2: w -= lr * sign(g)
    np.testing.assert_allclose(p.data, [0.9, 1.1], rtol=1e-6)
    q = nn.Parameter(np.array([1.0, 1.0], np.float32))
    q.grad = tg.Tensor(g)
    optim.AdamW([q], lr=0.1, weight_decay=0.5).step()   # w <- w (1 - 0.05) then the Adam step
    np.testing.assert_allclose(q.data, [0.85, 1.05], rtol=1e-6)
    r = nn.Parameter(np.array([1.0, 1.0], np.float32))
    opt = optim.Adam([r], lr=0.1)
    for grad in ([1.0, 1.0], [3.0, 1.0]):
        r.grad = tg.Tensor(np.array(grad, np.float32))
        opt.step()
    m = 0.9 * 0.1 * 1.0 + 0.1 * 3.0
    v = 0.999 * 0.001 * 1.0 + 0.001 * 9.0
    expected = 0.9 - 0.1 / (1 - 0.81) * m / (math.sqrt(v) / math.sqrt(1 - 0.999 ** 2) + 1e-8)
    np.testing.assert_allclose(r.data[0], expected, rtol=1e-6)
    np.testing.assert_allclose(r.data[1], 0.8, rtol=1e-6)


def test_rmsprop_hand_computed():
    p = nn.Parameter(np.array([1.0], np.float32))
    p.grad = tg.Tensor(np.array([2.0], np.float32))
    optim.RMSprop([p], lr=0.01, alpha=0.99).step()   # s = 0.01 g^2: w -= lr g / (0.1 |g| + eps)
    np.testing.assert_allclose(p.data, [1.0 - 0.01 * 2.0 / (0.2 + 1e-8)], rtol=1e-6)


def test_param_groups_and_errors():
    a, b, c = (nn.Parameter(np.ones(2, np.float32)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    opt.add_param_group({"params": c, "momentum": 0.9})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0, 0.1]
    assert opt.param_groups[2]["momentum"] == 0.9
    for p in (a, b, c):
        p.grad = tg.Tensor(np.ones(2, np.float32))
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0], c.data[0]], [0.9, 0.0, 0.9], rtol=1e-6)
    opt.zero_grad()
    assert a.grad is None and c.grad is None
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([a], betas=(1.0, 0.9))


def _train(model, opt, batches):
    for x in batches:
        opt.zero_grad()
        ((model(tg.Tensor(x)) - 1) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_state_dict_resume_equals_uninterrupted(name):
    kw = dict(lr=0.05, momentum=0.9) if name != "Adam" else dict(lr=0.05, amsgrad=True)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(6)]
    ref, model = nn.Linear(3, 2), nn.Linear(3, 2)
    model.load_state_dict(ref.state_dict())
    make = getattr(optim, name)
    _train(ref, make(ref.parameters(), **kw), batches)
    opt = make(model.parameters(), **kw)
    _train(model, opt, batches[:3])
    resumed = nn.Linear(3, 2)
    resumed.load_state_dict(model.state_dict())
    resumed_opt = make(resumed.parameters(), lr=1.0)
    resumed_opt.load_state_dict(opt.state_dict())
    assert resumed_opt.param_groups[0]["lr"] == 0.05
    _train(resumed, resumed_opt, batches[3:])
    np.testing.assert_allclose(resumed.weight.data, ref.weight.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(resumed.bias.data, ref.bias.data, rtol=1e-6, atol=1e-7)


def test_load_state_dict_mismatch_changes_nothing():
    a = nn.Parameter(np.ones((2, 2), np.float32))
    opt = optim.Adam([a])
    a.grad = tg.Tensor(np.ones((2, 2), np.float32))
    opt.step()
    sd = opt.state_dict()
    other = optim.Adam([nn.Parameter(np.ones(3, np.float32))], lr=0.5)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(sd)
    assert other.state == {} and other.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="groups"):
        optim.Adam([{"params": [a]}, {"params": [nn.Parameter(np.ones(1, np.float32))]}]).load_state_dict(sd)


# ----- schedulers
def _torch_lrs(make, steps, lr=0.1, opt="SGD", metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    o = getattr(torch.optim, opt)([p], lr=lr)
    s = make(o)
    out = []
    for i in range(steps):
        out.append(o.param_groups[0]["lr"])
        o.step()
        s.step(metrics[i]) if metrics is not None else s.step()
    return out


def _our_lrs(make, steps, lr=0.1, opt="SGD", metrics=None):
    o = getattr(optim, opt)([nn.Parameter(np.zeros(1, np.float32))], lr=lr)
    s = make(o)
    out = []
    for i in range(steps):
        out.append(o.param_groups[0]["lr"])
        s.step(metrics[i]) if metrics is not None else s.step()
    return out


SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=20, anneal_strategy="linear", pct_start=0.25)),
]


@requires_torch
@pytest.mark.parametrize("name,kw", SCHEDULES)
def test_schedulers_match_torch(name, kw):
    steps = 20 if name == "OneCycleLR" else 16
    ours = _our_lrs(lambda o: getattr(sched, name)(o, **kw), steps)
    theirs = _torch_lrs(lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kw), steps)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@requires_torch
def test_linear_warmup_matches_torch_linear_lr():
    ours = _our_lrs(lambda o: sched.LinearWarmup(o, start_factor=0.1, total_iters=4), 8)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4), 8)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@requires_torch
def test_one_cycle_cycles_adam_beta1_like_torch():
    ours = optim.Adam([nn.Parameter(np.zeros(1, np.float32))], lr=0.1)
    p = torch.nn.Parameter(torch.zeros(1))
    theirs = torch.optim.Adam([p], lr=0.1)
    s1, s2 = sched.OneCycleLR(ours, max_lr=0.1, total_steps=10), \
        torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=10)
    for _ in range(9):
        np.testing.assert_allclose(ours.param_groups[0]["betas"], theirs.param_groups[0]["betas"], rtol=1e-9)
        theirs.step()
        s1.step(), s2.step()


@requires_torch
@pytest.mark.parametrize("kw", [dict(patience=2), dict(mode="max", patience=1, cooldown=2, factor=0.5, min_lr=0.01),
                                dict(threshold_mode="abs", threshold=0.1, patience=0)])
def test_reduce_on_plateau_matches_torch(kw):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7, 0.69, 0.7, 0.7]
    ours = _our_lrs(lambda o: sched.ReduceLROnPlateau(o, **kw), len(metrics), metrics=metrics)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw), len(metrics),
                        metrics=metrics)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_schedulers_hand_computed():
    assert _our_lrs(lambda o: sched.StepLR(o, step_size=2, gamma=0.5), 6, lr=1.0) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    cos = _our_lrs(lambda o: sched.CosineAnnealingLR(o, T_max=4), 5, lr=1.0)
    np.testing.assert_allclose(cos, [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 - math.cos(math.pi / 4)) / 2, 0.0],
                               atol=1e-12)
    warm = _our_lrs(lambda o: sched.LinearWarmup(o, start_factor=0.25, total_iters=3), 5, lr=1.0)
    np.testing.assert_allclose(warm, [0.25, 0.5, 0.75, 1.0, 1.0])
    plateau = _our_lrs(lambda o: sched.ReduceLROnPlateau(o, patience=1, factor=0.5), 5, lr=1.0,
                       metrics=[1.0, 1.0, 1.0, 1.0, 1.0])
    assert plateau == [1.0, 1.0, 1.0, 0.5, 0.5]
    o = optim.SGD([nn.Parameter(np.zeros(1, np.float32))], lr=0.1)
    s = sched.OneCycleLR(o, max_lr=1.0, total_steps=3)
    with pytest.raises(ValueError, match="total_steps"):
        for _ in range(4):
            s.step()


@pytest.mark.gpu
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_cuda_updates_equal_cpu(name, kw):
    ws, gs = _params_and_grads(3)
    cpu = [nn.Parameter(w.copy()) for w in ws]
    gpu = [nn.Parameter(tg.Tensor(w.copy(), device="cuda")) for w in ws]
    arrays = [p.data for p in gpu]
    o_cpu, o_gpu = getattr(optim, name)(cpu, **kw), getattr(optim, name)(gpu, **kw)
    for step_grads in gs:
        for p, q, g in zip(cpu, gpu, step_grads):
            p.grad, q.grad = tg.Tensor(g), tg.Tensor(g, device="cuda")
        o_cpu.step()
        o_gpu.step()
    for p, q, a in zip(cpu, gpu, arrays):
        assert q.data is a and q.device == "cuda"
        assert all(v.device == "cuda" for v in o_gpu.state[q].values() if hasattr(v, "device"))
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-6)
    o_gpu.load_state_dict(o_cpu.state_dict())
    assert all(type(v) is type(arrays[0]) for v in o_gpu.state[gpu[0]].values() if hasattr(v, "shape"))


def test_optimizer_zero_grad_with_zeros_keeps_float64():
    w = tg.Tensor(np.ones(3), dtype=np.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad.dtype == np.float64 and not w.grad.numpy().any()


@requires_torch
def test_clip_grad_norm_matches_torch_with_one_host_conversion(monkeypatch):
    from tinygrad_img.nn import utils
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s).astype(np.float32) * 3 for s in ((4, 3), (3,), (2, 2, 2), (5,), (1,))]
    for norm_type in (2.0, 1.0, math.inf):
        params = [tg.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = tg.Tensor(g.copy())
        conversions = []

        def counting_float(v):
            if hasattr(v, "dtype"):
                conversions.append(v)  # an array -> Python float: a host sync on CUDA
            return float(v)
        monkeypatch.setattr(utils, "float", counting_float, raising=False)
        total = nn.utils.clip_grad_norm_(params, 1.0, norm_type=norm_type)
        monkeypatch.undo()
        ref_params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
        for p, g in zip(ref_params, grads):
            p.grad = torch.tensor(g)
        ref_total = torch.nn.utils.clip_grad_norm_(ref_params, 1.0, norm_type=norm_type)
        assert len(conversions) == 1
        np.testing.assert_allclose(total, ref_total.item(), rtol=1e-5)
        for p, r in zip(params, ref_params):
            assert p.grad.dtype == np.float32
            np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-5, atol=1e-7)
