"""relulab.torch's DeadUnitMonitor and swap_activations on models built to have known dead
units: chosen units get a bias of -1e3, after which they are exactly 0. Every expectation is
also recomputed by hand from the model's layers (an independent reference)."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import relulab.torch as rt  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402
from relulab.torch.monitor import COLUMNS, FUNCTIONAL, dormancy_scores  # noqa: E402

DEAD = -1e3


def _kill(linear_or_conv: nn.Module, units: list[int], bias: float = DEAD) -> None:
    with torch.no_grad():
        linear_or_conv.bias[units] = bias


def _dead(h: torch.Tensor, axis: int = 1) -> list[int]:
    """Units of h (numpy reference) that are 0 on every other axis."""
    a = np.moveaxis(h.detach().double().numpy(), axis, 0).reshape(h.shape[axis], -1)
    return np.flatnonzero(~(a != 0).any(axis=1)).tolist()


def _dormant(h: torch.Tensor, threshold: float = 0.1, axis: int = 1) -> list[int]:
    a = np.abs(np.moveaxis(h.detach().double().numpy(), axis, 0).reshape(h.shape[axis], -1))
    mean = a.mean(axis=1)
    return np.flatnonzero(mean / mean.mean() <= threshold).tolist()


def _row(frame, site: str):
    rows = frame[frame["site"] == site]
    assert len(rows) == 1, f"no single row {site!r} in {frame['site'].tolist()}"
    return rows.iloc[0]


def _quiet():
    from rich.console import Console

    return Console(file=io.StringIO(), width=160)


def _no_hooks_left(model: nn.Module) -> None:
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert torch.overrides._get_current_function_mode_stack() == []


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))
    _kill(net[0], [2, 7, 11])
    _kill(net[2], [0, 5])
    return net


def test_mlp_reports_exactly_the_killed_units_over_all_batches():
    net = _mlp()
    batches = [torch.randn(32, 5, generator=torch.Generator().manual_seed(s)) for s in (1, 2)]
    with rt.DeadUnitMonitor(net) as monitor:
        for x in batches:
            net(x)
    frame = monitor.summary(console=_quiet())
    assert frame["site"].tolist() == ["1", "3"]
    x = torch.cat(batches)
    h1 = net[1](net[0](x))
    h2 = net[3](net[2](h1))
    assert _dead(h1) == [2, 7, 11] and _dead(h2) == [0, 5]  # the fixture does what it says
    for site, h in (("1", h1), ("3", h2)):
        row = _row(frame, site)
        assert row["dead_units"] == _dead(h)
        assert row["dormant_units"] == _dormant(h)
        assert set(row["dead_units"]) <= set(row["dormant_units"])
        assert (row["units"], row["calls"], row["samples"]) == (h.shape[1], 2, 64)
        assert row["dead"] == len(row["dead_units"])
        assert row["dead_fraction"] == len(row["dead_units"]) / h.shape[1]
        assert (row["kind"], row["activation"]) == ("module", "ReLU")


def test_dormancy_against_a_hand_computed_case():
    # mean |a| per unit: 0, 0.05, 1, 2; layer mean 0.7625; scores 0, 0.066, 1.31, 2.62.
    x = torch.tensor([[-1.0, 0.1, 1.0, 2.0], [-3.0, 0.0, 1.0, 2.0]])
    with rt.DeadUnitMonitor(nn.ReLU(), threshold=0.1) as monitor:
        monitor.model(x)
    row = _row(monitor.to_frame(), "model")
    assert row["dead_units"] == [0]
    assert row["dormant_units"] == [0, 1]
    np.testing.assert_allclose(
        dormancy_scores(np.array([0.0, 0.05, 1.0, 2.0])), np.array([0, 0.05, 1, 2]) / 0.7625
    )
    assert dormancy_scores(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]  # a silent layer


def test_unit_alive_in_a_later_batch_is_not_dead():
    relu = nn.ReLU()
    with rt.DeadUnitMonitor(relu) as monitor:
        relu(torch.tensor([[-1.0, 1.0], [-2.0, 1.0]]))
        assert monitor.to_frame()["dead_units"][0] == [0]
        relu(torch.tensor([[0.5, 1.0]]))
    row = _row(monitor.to_frame(), "model")
    assert (row["dead_units"], row["calls"], row["samples"]) == ([], 2, 3)


def test_conv_net_reports_dead_channels():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3), nn.GELU())
    _kill(net[0], [1, 6])
    x = torch.randn(4, 3, 10, 10)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x)
    frame = monitor.to_frame()
    h1 = net[1](net[0](x))
    assert _dead(h1) == [1, 6]
    row = _row(frame, "1")
    assert (row["units"], row["dead_units"], row["samples"]) == (8, [1, 6], 4)
    assert row["dormant_units"] == _dormant(h1)
    assert _row(frame, "3")["dead_units"] == []


class _Reused(nn.Module):
    """One ReLU instance called after each of two layers: two sites."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.fc1, self.fc2, self.out = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 1)
        self.act = nn.ReLU()
        _kill(self.fc1, [0, 3])
        _kill(self.fc2, [2])

    def forward(self, x):
        return self.out(self.act(self.fc2(self.act(self.fc1(x)))))


def test_reused_instance_is_one_site_per_call():
    net, x = _Reused(), torch.randn(16, 4)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x)
        net(x)  # the call index restarts with each forward pass
    frame = monitor.to_frame()
    assert frame["site"].tolist() == ["act#0", "act#1"]
    h1 = torch.relu(net.fc1(x))
    h2 = torch.relu(net.fc2(h1))
    assert _row(frame, "act#0")["dead_units"] == _dead(h1) == [0, 3]
    assert _row(frame, "act#1")["dead_units"] == _dead(h2)
    assert 2 in _dead(h2)
    assert frame["calls"].tolist() == [2, 2]


def test_inplace_relu_is_read_after_it_ran():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
    _kill(net[0], [4])
    x = torch.randn(16, 4)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x)
    row = _row(monitor.to_frame(), "1")
    assert row["dead_units"] == _dead(torch.relu(net[0](x))) == [4]
    assert row["activation"] == "ReLU(inplace=True)"


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        _kill(self.fc, [1, 5])

    def forward(self, x):
        return F.relu(self.fc(x))


class _Functional(nn.Module):
    """Activations called as functions, in a child's forward and in the model's own."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.block = _Block()
        self.fc = nn.Linear(6, 5)
        self.act = nn.ReLU()  # calls F.relu inside: must not be a second site
        self.rl = rt.ReLU()  # relulab's module calls torch functions inside: idem
        _kill(self.fc, [0])

    def forward(self, x):
        h = self.block(x)
        g = self.fc(h).relu()
        return torch.sigmoid(self.rl(self.act(g)))


def test_functional_calls_are_sites_named_by_their_caller():
    net, x = _Functional(), torch.randn(16, 4)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x).sum().backward()  # the backward pass adds no site
    frame = monitor.to_frame()
    assert frame["site"].tolist() == ["block.F.relu", "Tensor.relu", "act", "rl", "torch.sigmoid"]
    assert frame["kind"].tolist() == ["functional", "functional", "module", "module", "functional"]
    h = torch.relu(net.block.fc(x))
    assert _row(frame, "block.F.relu")["dead_units"] == _dead(h) == [1, 5]
    g = torch.relu(net.fc(h))
    for site in ("Tensor.relu", "act", "rl"):
        assert _row(frame, site)["dead_units"] == _dead(g)
    assert 0 in _dead(g)
    assert _row(frame, "rl")["activation"] == "relulab.ReLU"
    assert _row(frame, "torch.sigmoid")["dead_units"] == []
    with rt.DeadUnitMonitor(net, functional=False) as monitor:
        net(x)
        assert torch.overrides._get_current_function_mode_stack() == []
    assert monitor.to_frame()["site"].tolist() == ["act", "rl"]


def test_functional_table_knows_the_usual_spellings():
    for func, label in (
        (F.relu, "F.relu"),
        (torch.relu, "torch.relu"),
        (torch.Tensor.relu, "Tensor.relu"),
        (F.leaky_relu, "F.leaky_relu"),
        (F.gelu, "F.gelu"),
        (F.silu, "F.silu"),
        (F.elu, "F.elu"),
        (torch.sigmoid, "torch.sigmoid"),
        (torch.tanh, "torch.tanh"),
    ):
        assert FUNCTIONAL[func] == label


@pytest.mark.parametrize(
    ("act", "bias"), [(nn.SiLU(), -12.0), (nn.GELU(), -4.0), (rt.SiLU(), -12.0)]
)
def test_smooth_activation_units_are_dormant_not_dead(act, bias):
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(5, 8), act)
    _kill(net[0], [1, 4], bias=bias)
    with torch.no_grad():  # a constant input to the unit: float32 GELU is 0 below about -5.5
        net[0].weight[[1, 4]] = 0.0
    x = torch.randn(64, 5)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x)
    row = _row(monitor.to_frame(), "1")
    h = act(net[0](x))
    assert bool((h[:, [1, 4]] != 0).all())  # tiny, not zero
    assert row["dead_units"] == [] == _dead(h)
    assert row["dormant_units"] == _dormant(h) == [1, 4]


def _everything() -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(6)
            self.fc1, self.fc2, self.fc3 = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 1)
            self.act = nn.ReLU()
            self.inplace = nn.LeakyReLU(0.1, inplace=True)
            self.gelu = rt.GELU()
            self.prelu = rt.PReLU(8)
            _kill(self.fc1, [3])

        def forward(self, x):
            h = self.act(self.fc1(x))
            h = self.inplace(self.prelu(self.fc2(h)))
            h = self.act(F.silu(self.gelu(h)))
            return self.fc3(h)

    return Net()


@pytest.mark.parametrize("training", [True, False])
def test_outputs_and_gradients_unchanged(training):
    x = torch.randn(16, 4)
    results = []
    for watched in (False, True):
        net = _everything().train(training)
        if watched:
            with rt.DeadUnitMonitor(net) as monitor:
                y = net(x)
                y.square().sum().backward()
                with torch.no_grad():
                    y_no_grad = net(x)
            assert len(monitor.to_frame()) == 6
        else:
            y = net(x)
            y.square().sum().backward()
            with torch.no_grad():
                y_no_grad = net(x)
        results.append((y.detach(), y_no_grad, [p.grad.clone() for p in net.parameters()]))
    (y0, n0, g0), (y1, n1, g1) = results
    assert torch.equal(y0, y1) and torch.equal(n0, n1)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1, strict=True))


class _Fails(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.act, self.fail = nn.Linear(3, 4), nn.ReLU(), False

    def forward(self, x):
        h = self.act(self.fc(x))
        if self.fail:
            raise RuntimeError("boom")
        return F.relu(h)


def test_hooks_and_mode_removed_on_exit_and_on_exception():
    net, x = _Fails(), torch.randn(5, 3)
    with rt.DeadUnitMonitor(net) as monitor:
        net.fail = True
        with pytest.raises(RuntimeError, match="boom"):
            net(x)  # a forward that raises leaves the monitor's module stack sound
        net.fail = False
        net(x)
        with pytest.raises(RelulabError, match="already active"):
            monitor.__enter__()
    _no_hooks_left(net)
    assert monitor.to_frame()["site"].tolist() == ["act", "F.relu"]
    assert monitor.to_frame()["calls"].tolist() == [2, 1]
    with pytest.raises(KeyError):
        with rt.DeadUnitMonitor(net):
            net(x)
            raise KeyError("user code fails in the block")
    _no_hooks_left(net)
    assert torch.equal(F.relu(x), x.clamp(min=0))  # F.relu works outside, unwatched


def test_reset_starts_a_new_count_and_empty_summary_has_the_columns():
    net, x = _Reused(), torch.randn(8, 4)
    monitor = rt.DeadUnitMonitor(net)
    console = _quiet()
    empty = monitor.summary(console=console)
    assert empty.empty and tuple(empty.columns) == COLUMNS
    assert "no activation seen" in console.file.getvalue()
    with monitor:
        net(x)
        monitor.reset()
        assert monitor.to_frame().empty
        _kill(net.fc1, [0, 3], bias=1e3)  # revived
        net(x)
    assert _row(monitor.to_frame(), "act#0")["dead_units"] == []
    assert _row(monitor.to_frame(), "act#0")["calls"] == 1
    monitor.summary(console=console)
    assert "act#1" in console.file.getvalue()


def test_unit_axis_for_sequences_and_a_clear_error_when_units_vary():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
    _kill(net[0], [2])
    x = torch.randn(4, 7, 3)  # (N, L, F)
    with rt.DeadUnitMonitor(net, unit_axis=-1) as monitor:
        net(x)
    row = _row(monitor.to_frame(), "1")
    assert (row["units"], row["dead_units"]) == (5, [2])
    with rt.DeadUnitMonitor(net) as monitor:  # default: dimension 1, here the length
        net(x)
        assert _row(monitor.to_frame(), "1")["units"] == 7
        with pytest.raises(RelulabError, match="unit_axis=-1"):
            net(torch.randn(4, 9, 3))
    _no_hooks_left(net)
    with pytest.raises(RelulabError, match="threshold"):
        rt.DeadUnitMonitor(net, threshold=-1)


def test_swap_replaces_every_activation_and_keeps_sharing():
    net = _Reused()
    net.extra = nn.Sequential(nn.Linear(1, 1), nn.GELU())
    net.alias = net.act  # one instance under two names
    x = torch.randn(8, 4)
    swapped = rt.swap_activations(net, "leaky_relu", negative_slope=0.2)
    assert swapped is net
    assert isinstance(net.act, rt.LeakyReLU) and net.act.negative_slope == 0.2
    assert net.alias is net.act
    assert isinstance(net.extra[1], rt.LeakyReLU) and net.extra[1] is not net.act
    assert not any(isinstance(m, (nn.ReLU, nn.GELU)) for m in net.modules())
    expected = net.out(F.leaky_relu(net.fc2(F.leaky_relu(net.fc1(x), 0.2)), 0.2))
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)
    with rt.DeadUnitMonitor(net) as monitor:
        net(x)
    frame = monitor.to_frame()
    assert frame["site"].tolist() == ["act#0", "act#1"]
    assert frame["dead_units"].tolist() == [[], []]
    assert frame["activation"][0] == "relulab.LeakyReLU(negative_slope=0.2)"


def test_swap_of_a_bare_activation_gives_slope_times_x_on_negatives():
    leaky = rt.swap_activations(nn.ReLU(), "leaky_relu", negative_slope=0.3)
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5])
    assert torch.equal(leaky(x), torch.tensor([-0.6, -0.15, 0.0, 1.5]))


def test_swap_to_prelu_follows_the_model_dtype_and_training_flag():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh()).double().eval()
    rt.swap_activations(net, "prelu")
    assert isinstance(net[1], rt.PReLU) and net[1].weight.dtype == torch.float64
    assert net[1].weight is not net[3].weight
    assert not net[1].training
    assert net(torch.ones(1, 2, dtype=torch.float64)).dtype == torch.float64


def test_swap_rejects_unknown_names_and_parameters_before_touching_the_model():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(RelulabError, match="leaky_relu"):
        rt.swap_activations(net, "no_such_activation")
    with pytest.raises(RelulabError, match="LeakyReLU"):
        rt.swap_activations(net, "leaky_relu", slope=0.1)
    assert isinstance(net[1], nn.ReLU)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_unit_sums_against_float64_and_the_smallest_nonzero(dtype):
    """A feature map's per-unit sums of |a|: float32 partial sums over each sample's
    positions, then float64, agree with an all-float64 sum to float32 rounding (float64
    outputs exactly); a unit whose only non-zero is the smallest subnormal is not dead."""
    from relulab.torch.monitor import unit_sums

    gen = torch.Generator().manual_seed(3)
    a = torch.relu(torch.randn(40, 5, 9, 7, generator=gen)).to(dtype)
    a[:, 1] = 0.0
    a[:, 2] = 0.0
    # the smallest positive number (bfloat16: its smallest normal, subnormals aside)
    tiny = {torch.float32: 1e-45, torch.float64: 5e-324,
            torch.bfloat16: torch.finfo(torch.bfloat16).smallest_normal}[dtype]
    a[7, 2, 3, 4] = tiny
    for layout in (a, a.contiguous(memory_format=torch.channels_last)):
        sums = unit_sums(layout)
        # float64 throughout, in unit_sums' order (positions, then samples): float64
        # outputs must match it bit for bit on any CPU
        want = layout.double().abs().sum(dim=(2, 3)).sum(dim=0)
        assert sums.abs_sum.dtype == torch.float64
        rtol = 0 if dtype == torch.float64 else 1e-5
        np.testing.assert_allclose(sums.abs_sum.numpy(), want.numpy(), rtol=rtol, atol=0)
        assert sums.nonzero.tolist() == [True, False, True, True, True]
        assert (sums.per_unit, sums.samples) == (40 * 9 * 7, 40)
