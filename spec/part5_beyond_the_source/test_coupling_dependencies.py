"""coupling.dependencies

What is true (confirmed):
- For a model that treats samples independently, the gradient of sample i's output with respect to sample j's input
  (the Jacobian block d out_i / d x_j) is exactly zero for every i != j, while the diagonal blocks are not.
- A model that mixes samples has non-zero off-diagonal blocks even when every shape is right and training runs, for
  example when a time-major (T, N, H) tensor is reshaped as if it were (N, T*H), or when a softmax is taken over the
  batch dimension instead of the class dimension.
- Computing these blocks with autograd names exactly the sample pairs that are mixed.

Why: "use backprop to chart dependencies" (A. Karpathy, A Recipe for Training Neural Networks, 2019, sec. 2). The
check (support.dependencies.cross_sample_dependencies) computes the blocks d out_i / d x_j with torch.autograd.grad
and returns the pairs (i, j), i != j, whose block is non-zero. An MLP has exact-zero off-diagonal blocks and
non-zero diagonal ones, and recurrent models (RNN, LSTM, GRU) have no cross-sample pair either. An RNN run
time-major whose (T, N, H) output is flattened with reshape(N, -1) has the same output shape as the correct
transpose-then-reshape, but row r then holds the entry (t, n) at flat position t N + n, i.e. the samples (r T + k)
mod N for k < T: the check returns exactly those pairs. A log_softmax over dim 0 couples all N (N - 1) pairs.
Batch-wise normalisation in train mode is coupling.batchnorm.
"""

import pytest
import torch
from torch import nn

from support.data import sequences
from support.dependencies import cross_sample_dependencies, dependency_matrix
from support.models import mlp, recurrent
from support.tensors import maker, seeded_init

pytestmark = pytest.mark.claim("coupling.dependencies")
N, T, FEATURES, HIDDEN = 4, 3, 2, 5


class TimeMajorRNNHead(nn.Module):
    """An RNN run time-major (T, N, F), its outputs flattened per sample and read out by a linear layer.

    ``buggy=True`` flattens the (T, N, H) output with ``reshape(N, -1)`` as if it were batch-major: the shape is
    (N, T*H) either way, so nothing fails, but row r then holds time steps of other samples.
    """

    def __init__(self, buggy: bool):
        super().__init__()
        self.buggy = buggy
        with seeded_init(0):
            self.rnn = nn.RNN(FEATURES, HIDDEN)  # batch_first=False: (T, N, F) in, (T, N, H) out
            self.head = nn.Linear(T * HIDDEN, 1)

    def forward(self, x):  # x: (N, T, F)
        out, _ = self.rnn(x.transpose(0, 1))
        flat = out.reshape(x.shape[0], -1) if self.buggy else out.transpose(0, 1).reshape(x.shape[0], -1)
        return self.head(flat)


def test_per_sample_models_have_only_diagonal_dependencies(device):
    x = maker(device).randn(6, 3, seed=54)
    net = mlp(3, 8, 2, depth=3, seed=1, device=device)
    strength = dependency_matrix(net, x)
    assert cross_sample_dependencies(net, x) == []
    assert torch.equal(strength - torch.diag(strength.diagonal()), torch.zeros_like(strength))  # exact zeros
    assert (strength.diagonal() > 0).all()  # and each output does depend on its own input
    seqs = sequences(N, T, FEATURES, seed=2, device=device)
    for kind in ("rnn", "lstm", "gru"):
        assert cross_sample_dependencies(recurrent(kind, FEATURES, HIDDEN, seed=3, device=device), seqs) == []


def test_a_time_major_reshape_mixes_samples_and_the_chart_names_the_pairs(device, figures):
    x = sequences(N, T, FEATURES, seed=4, device=device)
    good, bad = (TimeMajorRNNHead(b).to(device=device, dtype=torch.float64) for b in (False, True))
    assert good(x).shape == bad(x).shape == (N, 1)  # the bug is silent: same shapes, training would run
    assert cross_sample_dependencies(good, x) == []
    # derived: the (T, N, H) buffer read as (N, T*H) puts (t, n), at flat position t*N + n, into row
    # (t*N + n) // T, so row r holds the samples (r*T + k) mod N for k < T
    expected = sorted({(r, (r * T + k) % N) for r in range(N) for k in range(T)} - {(r, r) for r in range(N)})
    pairs = cross_sample_dependencies(bad, x)
    assert pairs == expected
    figures.record(
        "cross-sample pairs of the time-major reshape bug (N=4, T=3)",
        len(pairs),
        "pairs",
        zh="时间维在前的 reshape 错误所混合的跨样本对(N=4, T=3)",
    )


def test_a_softmax_over_the_batch_dimension_couples_every_pair(device):
    # log_softmax(z, dim=0)[i, c] = z[i, c] - logsumexp_j z[j, c]: every output sees every sample
    net = mlp(3, 8, 4, seed=5, device=device)
    x = maker(device).randn(5, 3, seed=82)
    assert cross_sample_dependencies(lambda t: torch.log_softmax(net(t), dim=1), x) == []
    assert len(cross_sample_dependencies(lambda t: torch.log_softmax(net(t), dim=0), x)) == 5 * 4
