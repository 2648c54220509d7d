"""Tests of support.gradients: flat_grad order and None handling, total_grad_norm for p = 1, 2, inf,
per-sample gradients (loop vs. vmap vs. a hand formula, and their sum vs. the batch gradient), and
executed_nodes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from support import gradients, models, tolerances
from support.errors import SpecInputError, SpecTypeError
from support.tensors import generator
from support.tolerances import assert_close

F64 = torch.float64


def _two_params():
    a = torch.zeros(2, 2, dtype=F64, requires_grad=True)
    b = torch.zeros(3, dtype=F64, requires_grad=True)
    a.grad = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    b.grad = torch.tensor([5.0, 6.0, 7.0], dtype=F64)
    return a, b


# ---------------------------------------------------------------- flat_grad
def test_flat_grad_concatenates_in_parameter_order():
    a, b = _two_params()
    assert gradients.flat_grad([a, b]).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert gradients.flat_grad([b, a]).tolist() == [5.0, 6.0, 7.0, 1.0, 2.0, 3.0, 4.0]


def test_flat_grad_of_module_matches_manual_cat():
    net = models.mlp(3, 4, 2, depth=3)
    net(torch.randn(5, 3, dtype=F64)).pow(2).sum().backward()
    expected = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    assert torch.equal(gradients.flat_grad(net), expected)
    assert gradients.flat_grad(net).numel() == sum(p.numel() for p in net.parameters())


def test_flat_grad_single_tensor_is_accepted():
    a, _ = _two_params()
    assert gradients.flat_grad(a).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_flat_grad_missing_grad_raises_unless_none_as_zero():
    a, b = _two_params()
    b.grad = None
    with pytest.raises(SpecInputError, match=r"parameter 1 \(shape \(3,\)\) has no .grad"):
        gradients.flat_grad([a, b])
    assert gradients.flat_grad([a, b], none_as_zero=True).tolist() == [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "params, error, match",
    [([], SpecInputError, "no parameters"), ([1.0, 2.0], SpecTypeError, "parameters must be tensors")],
)
def test_flat_grad_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        gradients.flat_grad(params)


# ---------------------------------------------------------------- total_grad_norm
@pytest.mark.parametrize("norm_type, expected", [(2, 140**0.5), (2.0, 140**0.5), (1, 28.0), (float("inf"), 7.0)])
def test_total_grad_norm_by_hand(norm_type, expected):
    a, b = _two_params()  # grads 1..7: sum of squares 140, sum 28, max 7
    assert gradients.total_grad_norm([a, b], norm_type).item() == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("norm_type", [1, 2, float("inf")])
def test_total_grad_norm_equals_norm_of_flat_grad(norm_type):
    net = models.mlp(3, 4, 2, depth=2)
    net(torch.randn(6, 3, dtype=F64)).sum().backward()
    flat = gradients.flat_grad(net)
    expected = {1: flat.abs().sum(), 2: flat.pow(2).sum().sqrt(), float("inf"): flat.abs().max()}[norm_type]
    assert_close(gradients.total_grad_norm(net, norm_type), expected)


def test_total_grad_norm_skips_missing_grads():
    a, b = _two_params()
    b.grad = None
    assert gradients.total_grad_norm([a, b]).item() == pytest.approx(30**0.5, rel=1e-14)
    a.grad = None
    with pytest.raises(SpecInputError, match="no parameter has a .grad"):
        gradients.total_grad_norm([a, b])


@pytest.mark.parametrize("norm_type", [0, -2.0, True, "2", float("nan")])
def test_total_grad_norm_rejects_bad_norm_type(norm_type):
    a, b = _two_params()
    with pytest.raises(SpecInputError, match="norm_type"):
        gradients.total_grad_norm([a, b], norm_type)


# ---------------------------------------------------------------- per-sample gradients
def _ce_sum(out, y):
    return nn.functional.cross_entropy(out, y, reduction="sum")


def _mse_sum(out, y):
    return nn.functional.mse_loss(out, y, reduction="sum")


def _problems():
    n = 6
    x = torch.randn(n, 4, dtype=F64)
    y_cls = torch.randint(0, 3, (n,))
    y_reg = torch.randn(n, 3, dtype=F64)
    return [
        (models.mlp(4, 5, 3, depth=2, activation="tanh", seed=1), _ce_sum, x, y_cls),
        (models.mlp(4, 5, 3, depth=2, seed=2), _mse_sum, x, y_reg),
        (models.linear_model(4, 3, seed=3), _ce_sum, x, y_cls),
        (models.linear_model(4, 3, seed=4), _mse_sum, x, y_reg),
    ]


@pytest.mark.parametrize("case", range(4), ids=["mlp-ce", "mlp-mse", "linear-ce", "linear-mse"])
def test_per_sample_loop_and_vmap_agree_and_sum_to_batch_grad(case):
    model, loss_fn, x, y = _problems()[case]
    loop = gradients.per_sample_grads_loop(model, loss_fn, x, y)
    vm = gradients.per_sample_grads_vmap(model, loss_fn, x, y)
    batch = gradients.batch_grads(model, loss_fn, x, y)
    names = [n for n, _ in model.named_parameters()]
    assert list(loop) == names and sorted(vm) == sorted(names)
    for name, p in model.named_parameters():
        assert loop[name].shape == (x.shape[0], *p.shape)
        assert_close(vm[name], loop[name])
        # with reduction 'sum' the batch loss is the sum of the sample losses, so its gradient is too
        assert_close(loop[name].sum(0), batch[name])


def test_per_sample_grads_of_linear_mse_match_hand_formula():
    # l_i = ||W x_i + b - y_i||^2  =>  dl/dW = 2 r_i x_i^T, dl/db = 2 r_i with r_i = W x_i + b - y_i
    model = models.linear_model(3, 2, seed=9)
    x, y = torch.randn(5, 3, dtype=F64), torch.randn(5, 2, dtype=F64)
    with torch.no_grad():
        r = x @ model.weight.T + model.bias - y
    g = gradients.per_sample_grads_loop(model, _mse_sum, x, y)
    assert_close(g["weight"], 2 * r[:, :, None] * x[:, None, :])
    assert_close(g["bias"], 2 * r)


def test_batch_grads_leaves_dot_grad_untouched():
    model = models.linear_model(3, 2)
    x, y = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    gradients.batch_grads(model, _mse_sum, x, y)
    assert all(p.grad is None for p in model.parameters())


class _WithUnused(nn.Module):
    """A linear model with a parameter the forward never reads."""

    def __init__(self):
        super().__init__()
        self.used = models.linear_model(3, 2)
        self.unused = nn.Parameter(torch.ones(4, dtype=F64))

    def forward(self, x):
        return self.used(x)


@pytest.mark.parametrize("fn", [gradients.batch_grads, gradients.per_sample_grads_loop])
def test_an_unused_parameter_is_an_error_unless_allowed_then_its_gradient_is_zero(fn):
    model = _WithUnused()
    x, y = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        fn(model, _mse_sum, x, y)
    g = fn(model, _mse_sum, x, y, allow_unused=True)
    assert torch.equal(g["unused"], torch.zeros_like(g["unused"]))
    assert g["unused"].shape[-1] == 4 and g["used.weight"].abs().sum() > 0  # the used ones are still computed


def test_grads_by_name_copies_and_fills_missing_with_zeros():
    model = models.linear_model(3, 2)
    model.weight.grad = torch.ones_like(model.weight)
    g = gradients.grads_by_name(model)
    assert torch.equal(g["weight"], torch.ones(2, 3, dtype=F64)) and torch.equal(g["bias"], torch.zeros(2, dtype=F64))
    model.weight.grad.mul_(5)
    assert torch.equal(g["weight"], torch.ones(2, 3, dtype=F64))  # a copy, not a view


@pytest.mark.parametrize(
    "fn", [gradients.batch_grads, gradients.per_sample_grads_loop, gradients.per_sample_grads_vmap]
)
def test_batch_size_mismatch_is_rejected(fn):
    model = models.linear_model(3, 2)
    with pytest.raises(SpecInputError, match="x and y must have the same batch size"):
        fn(model, _mse_sum, torch.randn(4, 3, dtype=F64), torch.randn(5, 2, dtype=F64))


@pytest.mark.parametrize(
    "fn", [gradients.batch_grads, gradients.per_sample_grads_loop, gradients.per_sample_grads_vmap]
)
def test_a_batch_that_is_not_a_tensor_is_a_type_error_naming_it(fn):
    # support._arguments.same_batch reads .dim() and .shape: a list must be refused by name, not by AttributeError
    model = models.linear_model(3, 2)
    with pytest.raises(SpecTypeError, match="x must be a torch.Tensor, got list"):
        fn(model, _mse_sum, [[0.0, 1.0, 2.0]], torch.randn(1, 2, dtype=F64))
    with pytest.raises(SpecTypeError, match="y must be a torch.Tensor, got tuple"):
        fn(model, _mse_sum, torch.randn(1, 3, dtype=F64), ((0.0, 1.0),))


@pytest.mark.parametrize("randomness", ["Same", "none", None, 1])
def test_per_sample_grads_vmap_rejects_an_unknown_randomness(randomness):
    model = models.linear_model(3, 2)
    with pytest.raises(SpecInputError, match="randomness must be one of 'error', 'different', 'same'"):
        gradients.per_sample_grads_vmap(
            model, _mse_sum, torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64), randomness=randomness
        )


@pytest.mark.parametrize("randomness", ["error", "different", "same"])
def test_per_sample_grads_vmap_randomness_does_not_change_a_deterministic_model(randomness):
    model, loss_fn, x, y = _problems()[0]
    vm = gradients.per_sample_grads_vmap(model, loss_fn, x, y, randomness=randomness)
    loop = gradients.per_sample_grads_loop(model, loss_fn, x, y)
    for name in loop:
        assert_close(vm[name], loop[name])


def test_batch_grads_rejects_unreduced_loss():
    model = models.linear_model(3, 2)
    with pytest.raises(SpecInputError, match="loss_fn must return a scalar"):
        gradients.batch_grads(
            model, lambda o, t: (o - t) ** 2, torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
        )


# ---------------------------------------------------------------- executed_nodes
def test_executed_nodes_counts_a_hand_built_graph():
    # (w * x).sum(): SumBackward0, MulBackward0 and w's AccumulateGrad -> 3 nodes
    w = torch.randn(3, dtype=F64, requires_grad=True)
    assert gradients.executed_nodes((w * torch.randn(3, dtype=F64)).sum()) == 3
    assert w.grad is not None  # backward really ran


def test_executed_nodes_does_not_grow_with_batch_size():
    counts = []
    for n in (4, 32):
        model = models.mlp(3, 5, 2, depth=3)
        x, y = torch.randn(n, 3, dtype=F64), torch.randn(n, 2, dtype=F64)
        counts.append(gradients.executed_nodes(nn.functional.mse_loss(model(x), y)))
    assert counts[0] > 0
    assert counts[0] == counts[1]


def test_executed_nodes_passes_retain_graph_to_backward():
    w = torch.randn(3, dtype=F64, requires_grad=True)
    loss = (w * 2).sum()
    assert gradients.executed_nodes(loss, retain_graph=True) == 3
    assert gradients.executed_nodes(loss) == 3  # the graph was kept, so a second backward runs
    assert torch.equal(w.grad, torch.full((3,), 4.0, dtype=F64))  # d/dw = 2, accumulated twice
    with pytest.raises(RuntimeError):
        loss.backward()  # now freed


@pytest.mark.parametrize(
    "make_loss, error, match",
    [
        (lambda w: w * 2, SpecInputError, "loss must be a scalar"),
        (lambda w: torch.tensor(1.0, dtype=F64), SpecInputError, "no grad_fn"),
        (lambda w: 1.0, SpecTypeError, "loss must be a torch.Tensor"),
    ],
)
def test_executed_nodes_rejects_bad_loss(make_loss, error, match):
    w = torch.randn(3, dtype=F64, requires_grad=True)
    with pytest.raises(error, match=match):
        gradients.executed_nodes(make_loss(w))


def test_flat_params_concatenates_detached_copies_in_parameter_order():
    from support.gradients import flat_params

    model = torch.nn.Linear(3, 2).double()
    flat = flat_params(model)
    assert torch.equal(flat, torch.cat([model.weight.reshape(-1), model.bias]).detach())
    assert not flat.requires_grad
    flat[0] += 1.0  # a copy: the model is unchanged
    assert not torch.equal(flat, flat_params(model))


# ---------------------------------------------------------------- peers: ExpandedWeights and Opacus
PEERS = ["expanded_weights", "opacus"]


def _peer(name):
    if name == "opacus":
        pytest.importorskip("opacus", reason="Opacus (dev extra) is not installed")
    return getattr(gradients, f"per_sample_grads_{name}")


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_equal_the_loop_and_leave_the_model_alone(peer):
    model = models.mlp(4, 6, 3, seed=2)
    x = torch.randn(5, 4, dtype=torch.float64, generator=generator(2))
    y = torch.tensor([0, 1, 2, 1, 0])
    got = _peer(peer)(model, F.cross_entropy, x, y)
    want = gradients.per_sample_grads_loop(model, F.cross_entropy, x, y)
    assert got.keys() == want.keys()
    for name in want:
        assert_close(got[name], want[name], tol=tolerances.accumulation(torch.float64, 5))
    # the caller's model: no per-sample attributes, no hooks, no .grad
    for p in model.parameters():
        assert not hasattr(p, "grad_sample") and p.grad is None
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_read_the_reduction_off_the_batch(peer, reduction):
    # the loop differentiates each sample's loss alone, where 'mean' and 'sum' are the same loss: whatever the batch
    # reduction, the per-sample gradients are the same (told the wrong reduction, the peers are off by N = 5)
    model = models.mlp(4, 6, 3, seed=3)
    x = torch.randn(5, 4, dtype=torch.float64, generator=generator(3))
    y = torch.tensor([2, 1, 0, 1, 2])

    def loss_fn(out, t):
        return F.cross_entropy(out, t, reduction=reduction)

    got = _peer(peer)(model, loss_fn, x, y)
    want = gradients.per_sample_grads_loop(model, loss_fn, x, y)
    for name in want:
        assert_close(got[name], want[name], tol=tolerances.accumulation(torch.float64, 5))


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_reject_a_loss_that_is_neither_mean_nor_sum(peer):
    # a class-weighted mean divides by sum_i w[y_i] = 1 + 1 + 4 + 4 = 10, neither 1 (sum) nor N = 4 (mean)
    model = models.mlp(4, 6, 3, seed=2)
    x, y = torch.randn(4, 4, dtype=torch.float64), torch.tensor([0, 0, 2, 2])
    weight = torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64)
    with pytest.raises(SpecInputError, match="neither the mean nor the sum of the samples' own losses"):
        _peer(peer)(model, lambda out, t: F.cross_entropy(out, t, weight=weight), x, y)


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_cannot_tell_the_reduction_of_a_zero_loss(peer):
    model = models.mlp(4, 6, 3, seed=2)
    x, y = torch.randn(4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    with pytest.raises(SpecInputError, match="cannot tell whether loss_fn averages or sums"):
        _peer(peer)(model, lambda out, t: (out - out.detach()).sum(), x, y)


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_name_a_parameter_that_does_not_require_grad(peer):
    model = models.mlp(4, 6, 3, seed=2)
    model[0].bias.requires_grad_(False)
    x, y = torch.randn(4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    with pytest.raises(SpecInputError, match=r"'0\.bias' has requires_grad=False"):
        _peer(peer)(model, F.cross_entropy, x, y)


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_name_a_parameter_they_cannot_handle(peer):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()  # BatchNorm couples samples
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1])
    with pytest.raises((RuntimeError, NotImplementedError), match=r"batch_norm|BatchNorm1d"):  # their own errors
        _peer(peer)(model, F.cross_entropy, x, y)


@pytest.mark.parametrize("peer", PEERS)
def test_peer_per_sample_grads_need_a_scalar_batch_loss(peer):
    model = models.mlp(4, 6, 3, seed=2)
    x, y = torch.randn(3, 4, dtype=torch.float64), torch.tensor([0, 1, 2])
    with pytest.raises(SpecInputError, match="mean loss"):
        _peer(peer)(model, lambda out, t: F.cross_entropy(out, t, reduction="none"), x, y)


def test_loss_hessian_max_eigenvalue_of_least_squares_is_that_of_two_x_transpose_x_over_n():
    # MSELoss of nn.Linear(d, 1) on N samples: the Hessian w.r.t. (w, b) is 2/N [x 1]^T [x 1], whatever the weights
    g = generator(4)
    x, y = torch.randn(12, 3, generator=g, dtype=torch.float64), torch.randn(12, 1, generator=g, dtype=torch.float64)
    model = models.linear_model(3, 1, seed=4)
    design = torch.cat([x, torch.ones(12, 1, dtype=torch.float64)], dim=1)
    expected = torch.linalg.eigvalsh(2 * design.T @ design / 12)[-1].item()
    assert abs(gradients.loss_hessian_max_eigenvalue(model, F.mse_loss, x, y) - expected) <= 1e-12 * expected
    elsewhere = gradients.flat_params(model) + 3.0  # a quadratic: the same curvature at any point
    got = gradients.loss_hessian_max_eigenvalue(model, F.mse_loss, x, y, at=elsewhere)
    assert abs(got - expected) <= 1e-12 * expected


def test_loss_hessian_max_eigenvalue_names_bad_input():
    model = models.linear_model(3, 1, seed=4)
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    with pytest.raises(SpecInputError, match="at has 3 entries, but the model has 4 parameters"):
        gradients.loss_hessian_max_eigenvalue(model, F.mse_loss, x, y, at=torch.zeros(3, dtype=torch.float64))
    with pytest.raises(SpecInputError, match="must return a scalar"):
        gradients.loss_hessian_max_eigenvalue(model, lambda o, t: F.mse_loss(o, t, reduction="none"), x, y)
