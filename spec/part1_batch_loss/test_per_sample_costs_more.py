"""per-sample.costs-more

Source: 「这种方法通常不推荐,因为它会导致多次反向传播,从而增加计算开销」

What is true (confirmed):
- Backpropagating each sample's loss separately runs N backward passes where the batch route runs one, for the same
  gradient.
- Each parameter's gradient is accumulated N times instead of once.
- Every per-sample pass walks the whole shared graph, so at least N times as many autograd nodes are executed, while
  the batch backward's node count does not depend on N.

Why: each backward pass walks the graph from its root to the leaves, so N single-sample passes through the shared
batch graph repeat the model's part of it N times (PyTorch tutorial, Per-sample-gradients, for the vmap
alternative). The tests count, they do not time: post-accumulate-grad hooks show each parameter's .grad written N
times on the per-sample route (N = 4 and 16) and once on the batch route, and support.gradients.executed_nodes
shows the batch backward running the same number of autograd nodes at N = 4 and N = 16, every single-sample pass at
least as many, and the N passes together at least N times as many. Wall-clock ratios depend on the hardware and are
not asserted.
"""

import pytest
import torch

from support.data import classification
from support.gradients import executed_nodes
from support.models import mlp

pytestmark = pytest.mark.claim("per-sample.costs-more")
IN, WIDTH, CLASSES, DEPTH = 4, 8, 3, 3  # the ReLU MLP whose backward passes are counted


def _model_and_losses(n, device):
    x, y = classification(n, IN, CLASSES, seed=31, device=device)
    model = mlp(IN, WIDTH, CLASSES, depth=DEPTH, seed=31, device=device)
    return model, torch.nn.functional.cross_entropy(model(x), y, reduction="none")


def _accumulations(model):
    """Count how often each parameter's .grad is accumulated (one per backward pass that reaches it)."""
    counts = {name: 0 for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda _p, name=name: counts.__setitem__(name, counts[name] + 1))
    return counts


@pytest.mark.parametrize("n", [4, 16])
def test_per_sample_route_accumulates_each_gradient_n_times(n, device, figures):
    model, losses = _model_and_losses(n, device)
    per_sample = _accumulations(model)
    for i in range(n):
        losses[i].backward(retain_graph=i < n - 1)
    assert set(per_sample.values()) == {n}

    model, losses = _model_and_losses(n, device)
    batch = _accumulations(model)
    losses.mean().backward()
    assert set(batch.values()) == {1}
    figures.record(
        f"gradient accumulations over all parameters, per-sample / batch (N={n})",
        sum(per_sample.values()) / sum(batch.values()),
        "1",
        zh=f"所有参数上的梯度累加次数,逐样本 / batch (N={n})",
    )


def test_executed_autograd_nodes_grow_n_fold(device, figures):
    batch_nodes = {}
    for n in (4, 16):
        _, losses = _model_and_losses(n, device)
        batch_nodes[n] = executed_nodes(losses.mean())
    # the batch graph is the same whatever the batch size
    assert batch_nodes[4] == batch_nodes[16]

    n = 16
    _, losses = _model_and_losses(n, device)
    per_sample = [executed_nodes(losses[i], retain_graph=i < n - 1) for i in range(n)]
    # every single-sample pass walks the whole model graph (plus the indexing node)...
    assert min(per_sample) >= batch_nodes[n]
    # ...so the total is at least N times the batch backward's
    assert sum(per_sample) >= n * batch_nodes[n]
    on = f"ReLU MLP of {DEPTH} Linear layers ({IN} inputs, width {WIDTH}, {CLASSES} classes), cross-entropy, batch {n}"
    on_zh = f"ReLU MLP,{DEPTH} 个 Linear 层({IN} 个输入,宽度 {WIDTH},{CLASSES} 个类别),交叉熵,batch 大小 {n}"
    figures.record(
        "autograd nodes executed, batch backward",
        batch_nodes[n],
        "nodes",
        zh="执行的 autograd 节点数,batch 反向传播",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        f"autograd nodes executed, {n} per-sample backwards",
        sum(per_sample),
        "nodes",
        zh=f"执行的 autograd 节点数,{n} 次逐样本反向传播",
        measured_on=on,
        measured_on_zh=on_zh,
    )
    figures.record(
        "ratio per-sample / batch",
        sum(per_sample) / batch_nodes[n],
        "1",
        zh="逐样本 / batch 之比",
        measured_on=on,
        measured_on_zh=on_zh,
    )
