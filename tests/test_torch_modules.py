"""relulab.torch modules against their torch.nn twins: forward, backward, repr, training."""

from __future__ import annotations

import importlib
import sys

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import relulab.torch as rt  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402

# (ours, torch's twin) built with the same arguments.
TWINS = [
    pytest.param(lambda: rt.ReLU(), lambda: nn.ReLU(), id="ReLU"),
    pytest.param(lambda: rt.LeakyReLU(), lambda: nn.LeakyReLU(), id="LeakyReLU"),
    pytest.param(lambda: rt.LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2), id="LeakyReLU-0.2"),
    pytest.param(lambda: rt.ELU(), lambda: nn.ELU(), id="ELU"),
    pytest.param(lambda: rt.ELU(alpha=0.5), lambda: nn.ELU(alpha=0.5), id="ELU-0.5"),
    pytest.param(lambda: rt.GELU(), lambda: nn.GELU(), id="GELU"),
    pytest.param(lambda: rt.GELU("tanh"), lambda: nn.GELU("tanh"), id="GELU-tanh"),
    pytest.param(lambda: rt.SELU(), lambda: nn.SELU(), id="SELU"),
    pytest.param(lambda: rt.CELU(), lambda: nn.CELU(), id="CELU"),
    pytest.param(lambda: rt.CELU(alpha=1.5), lambda: nn.CELU(alpha=1.5), id="CELU-1.5"),
    pytest.param(lambda: rt.SiLU(), lambda: nn.SiLU(), id="SiLU"),
    pytest.param(lambda: rt.Mish(), lambda: nn.Mish(), id="Mish"),
    pytest.param(lambda: rt.Softplus(), lambda: nn.Softplus(), id="Softplus"),
    pytest.param(
        lambda: rt.Softplus(beta=2.0, threshold=5.0),
        lambda: nn.Softplus(beta=2.0, threshold=5.0),
        id="Softplus-2-5",
    ),
    pytest.param(lambda: rt.ReLU6(), lambda: nn.ReLU6(), id="ReLU6"),
    pytest.param(lambda: rt.Hardtanh(), lambda: nn.Hardtanh(), id="Hardtanh"),
    pytest.param(lambda: rt.Hardtanh(-2.0, 3.0), lambda: nn.Hardtanh(-2.0, 3.0), id="Hardtanh-2-3"),
    pytest.param(lambda: rt.Tanh(), lambda: nn.Tanh(), id="Tanh"),
    pytest.param(lambda: rt.Sigmoid(), lambda: nn.Sigmoid(), id="Sigmoid"),
    pytest.param(lambda: rt.Identity(), lambda: nn.Identity(), id="Identity"),
]

DTYPES = [torch.float32, torch.float64]


def grid(dtype: torch.dtype) -> torch.Tensor:
    """Kinks of every twin (0, ±1, -2, 3, 6, the softplus thresholds) plus normals and tails."""
    special = torch.tensor(
        [0.0, -0.0, 1.0, -1.0, -2.0, 3.0, 6.0, 2.5, 2.4999, 20.0, 19.99, 20.01,
         -30.0, 30.0, -80.0, 80.0, 1e-30, -1e-30],
        dtype=torch.float64,
    )
    normals = torch.randn(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return torch.cat([special, 3 * normals]).reshape(2, -1).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("make_ours", "make_theirs"), TWINS)
def test_forward_and_backward_match_torch_nn(make_ours, make_theirs, dtype):
    """The reference is torch.nn's module in float64 on the same inputs, rounded to the
    dtype: torch's own float32 bits depend on the CPU's vector path, float64 is ~2^29 times
    closer to the truth than float32 resolution (accuracy in ulp: test_activations_reference)."""
    ours, theirs = make_ours(), make_theirs()
    x_ours = grid(dtype).requires_grad_()
    x_theirs = grid(dtype).to(torch.float64).requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    assert y_ours.dtype == dtype and y_ours.shape == x_ours.shape
    torch.testing.assert_close(y_ours, y_theirs.detach().to(dtype))

    upstream = torch.randn(x_ours.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    y_ours.backward(upstream)
    y_theirs.backward(upstream.to(torch.float64))
    # Includes the kinks: the gradient there must follow PyTorch's convention exactly.
    torch.testing.assert_close(x_ours.grad, x_theirs.grad.to(dtype))


@pytest.mark.parametrize(("make_ours", "make_theirs"), TWINS)
def test_vmap_and_no_grad_match_torch_nn(make_ours, make_theirs):
    """Batched by torch.func.vmap (the vectorised engine's forward: autograd outside the
    vmap, and torch.func.grad inside it) and run without gradients: the values and
    gradients of torch.nn's module in float64."""
    ours, theirs = make_ours(), make_theirs()
    x = grid(torch.float64)  # 2 "seeds"
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(3),
                           dtype=torch.float64)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = torch.func.vmap(ours)(x_ours)
    torch.testing.assert_close(y, theirs(x_theirs))
    y.backward(upstream)
    theirs(x_theirs).backward(upstream)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)
    grads = torch.func.vmap(torch.func.grad(lambda row, up: (ours(row) * up).sum()))(x, upstream)
    torch.testing.assert_close(grads, x_theirs.grad)
    with torch.no_grad():
        y = ours(x)
        torch.testing.assert_close(y, theirs(x))
        assert y is not x and torch.func.vmap(ours)(x).shape == x.shape


@pytest.mark.parametrize(("make_ours", "make_theirs"), TWINS)
def test_repr_matches_torch_nn(make_ours, make_theirs):
    assert repr(make_ours()) == repr(make_theirs())


@pytest.mark.parametrize(
    "make",
    [rt.SiLU, rt.ELU, lambda: rt.Softplus(beta=2.0), rt.Mish, rt.GELU],
    ids=["SiLU", "ELU", "Softplus-2", "Mish", "GELU"],
)
def test_backward_is_differentiable_again(make):
    # Second derivatives against finite differences (torch's own checker), off the kinks.
    x = torch.linspace(-3, 3, 13, dtype=torch.float64).add(0.01).requires_grad_()
    assert torch.autograd.gradgradcheck(make(), (x,))


# ------------------------------------------------------------------------------- PReLU


PRELU_CASES = [
    pytest.param(1, (7,), id="shared-1d"),
    pytest.param(1, (), id="shared-0d"),
    pytest.param(1, (4, 3, 5), id="shared-3d"),
    pytest.param(3, (4, 3), id="per-channel-2d"),
    pytest.param(3, (2, 3, 5, 2), id="per-channel-4d"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("num_parameters", "shape"), PRELU_CASES)
def test_prelu_matches_torch_nn(num_parameters, shape, dtype):
    gen = torch.Generator().manual_seed(2)
    ours = rt.PReLU(num_parameters, dtype=dtype)
    theirs = nn.PReLU(num_parameters, dtype=dtype)
    assert ours.weight.shape == theirs.weight.shape == (num_parameters,)
    torch.testing.assert_close(ours.weight.detach(), theirs.weight.detach())  # init 0.25
    slopes = torch.rand(num_parameters, generator=gen, dtype=dtype)
    with torch.no_grad():
        ours.weight.copy_(slopes)
        theirs.weight.copy_(slopes)

    x = torch.randn(shape, generator=gen, dtype=dtype)
    if x.numel() > 2:
        x.view(-1)[:2] = 0.0  # the kink: input grad is the slope, weight grad 0
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    assert y_ours.shape == y_theirs.shape
    torch.testing.assert_close(y_ours, y_theirs)

    upstream = torch.randn(y_theirs.shape, generator=gen, dtype=dtype)
    y_ours.backward(upstream)
    y_theirs.backward(upstream)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad)


def test_prelu_repr_init_and_parameters():
    assert repr(rt.PReLU()) == repr(nn.PReLU()) == "PReLU(num_parameters=1)"
    assert repr(rt.PReLU(8, init=0.1)) == repr(nn.PReLU(8, init=0.1))
    module = rt.PReLU(8, init=0.1)
    assert [name for name, _ in module.named_parameters()] == ["weight"]
    torch.testing.assert_close(module.weight.detach(), torch.full((8,), 0.1))
    assert set(module.state_dict()) == set(nn.PReLU(8).state_dict())


def test_prelu_rejects_channel_mismatch_like_torch():
    with pytest.raises(RuntimeError):  # torch's own behaviour, for reference
        nn.PReLU(3)(torch.zeros(2, 4))
    with pytest.raises(RelulabError, match="channel"):
        rt.PReLU(3)(torch.zeros(2, 4))
    with pytest.raises(RelulabError, match="channel"):
        rt.PReLU(3)(torch.zeros(3))  # a 1-d input has one channel, as in torch


# ---------------------------------------------------------------------- in a network


def _net(activation: type, prelu: type) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(5, 4), prelu(4), nn.Linear(4, 4), activation(), nn.Linear(4, 1)
    ).double()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(rt.ELU, nn.ELU), (rt.ReLU, nn.ReLU), (rt.SiLU, nn.SiLU)],
    ids=["ELU", "ReLU", "SiLU"],
)
def test_sequential_training_step_matches_torch_nn(ours, theirs):
    net_ours, net_theirs = _net(ours, rt.PReLU), _net(theirs, nn.PReLU)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y = x.sum(dim=1, keepdim=True)
    for net in (net_ours, net_theirs):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x), y)
            loss.backward()
            opt.step()
    for p_ours, p_theirs in zip(net_ours.parameters(), net_theirs.parameters(), strict=True):
        torch.testing.assert_close(p_ours, p_theirs)
    assert not torch.equal(net_ours[1].weight, torch.full((4,), 0.25, dtype=torch.float64))


# ------------------------------------------------------------------------- factory


def test_module_factory_builds_the_named_module():
    leaky = rt.module("leaky_relu", negative_slope=0.1)
    assert isinstance(leaky, rt.LeakyReLU) and leaky.negative_slope == 0.1
    assert isinstance(rt.module("hard_tanh", min_val=-2.0), rt.Hardtanh)
    prelu = rt.module("prelu", num_parameters=3)
    assert isinstance(prelu, rt.PReLU) and prelu.weight.shape == (3,)
    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(rt.module("gelu", approximate="tanh")(x),
                               nn.functional.gelu(x.double(), approximate="tanh").float())


def test_module_factory_rejects_unknown_names_and_arguments():
    with pytest.raises(RelulabError, match="no_such_activation"):
        rt.module("no_such_activation")
    with pytest.raises(RelulabError, match="LeakyReLU"):
        rt.module("leaky_relu", slope=0.1)


def test_import_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    monkeypatch.delitem(sys.modules, "relulab.torch")
    with pytest.raises(ImportError, match=r"pip install 'relulab\[torch\]'"):
        importlib.import_module("relulab.torch")
