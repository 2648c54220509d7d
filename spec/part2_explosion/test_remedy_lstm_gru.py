"""remedy.lstm-gru

Source: 「使用更为稳定的网络架构,如长短期记忆网络(LSTM)或门控循环单元(GRU),这些结构设计上能够更好地处理长序列数据并减少梯度爆炸的风险。」

What is true (qualified): LSTM and GRU add a path whose per-step gain is a gate value, not a weight matrix.
From the update equations (PyTorch docs, nn.LSTM: c' = f*c + i*g, h' = o*tanh(c'); nn.GRU: h' = (1-z)*n + z*h):
* with no recurrent coupling (W_hh = 0) and constant inputs, dc_T/dc_0 = f^T for an LSTM and dh_T/dh_0 = z^T
  for a GRU, while a plain RNN gives exactly 0. A forget/update gate held near 1 (a gate bias of 3 gives
  sigmoid(3) = 0.953) keeps the gradient alive over long sequences: that is the fix, and it is a fix for
  *vanishing* (Hochreiter & Schmidhuber 1997; Gers et al. 2000).
* they can still explode: at the zero state with every recurrent block s*I and zero biases, the per-step gain
  is s for an RNN, f + o*i*s = 0.5 + 0.25 s for an LSTM and z + (1-z)*r*s = 0.5 + 0.25 s for a GRU -- above 1
  for s > 2 (1.5 at s = 4). Gating moves the critical scale, it does not remove it; LSTMs are still clipped in
  practice (Sutskever et al. 2014, sec. 3.4: norm 5).
At PyTorch's default init (the same U(-1/sqrt(H), 1/sqrt(H)) for all three) with random inputs, RNN, LSTM and
GRU gradients all vanish geometrically; an LSTM with forget-gate bias 3 or a GRU with update-gate bias 3 keeps
them.
"""

import math

import pytest
import torch

from support.explosion import fit_log_slope
from support.models import recurrent

pytestmark = pytest.mark.claim("remedy.lstm-gru")
# The gradients are products of up to T = 40 one-step Jacobians in float64: rounding ~T * 2.2e-16 ~ 1e-14
# relative, plus libm's sigmoid/tanh; 1e-9 is that with a wide margin, far below any change of the powers.
PRODUCT_RTOL = 1e-9

H = 8
GATE = {"lstm": 1, "gru": 1}  # row block of the forget gate (LSTM: i, f, g, o) / update gate (GRU: r, z, n)


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def _cell(kind, device, *, recurrent_scale=None, gate_bias=None, input_size=1):
    rnn = recurrent(kind, input_size, H, seed=71, device=device).rnn
    with torch.no_grad():
        if recurrent_scale is not None:  # every H x H block of W_hh set to s * I, all biases zero
            blocks = rnn.weight_hh_l0.shape[0] // H
            rnn.weight_hh_l0.copy_(torch.cat([recurrent_scale * torch.eye(H, dtype=torch.float64)] * blocks).to(device))
            rnn.bias_hh_l0.zero_()
            rnn.bias_ih_l0.zero_()
        if gate_bias is not None:
            k = GATE[kind]
            rnn.bias_ih_l0[k * H:(k + 1) * H] = 0.0
            rnn.bias_hh_l0[k * H:(k + 1) * H] = gate_bias
    return rnn


def _grad_wrt_initial_state(rnn, kind, x, wrt="h"):
    """d(sum of the last hidden state, or of the last cell state for wrt="c") / d(initial h or c)."""
    h0 = torch.zeros(1, x.shape[0], H, dtype=torch.float64, device=x.device, requires_grad=True)
    if kind == "lstm":
        c0 = torch.zeros_like(h0, requires_grad=True)
        out, (_, c_n) = rnn(x, (h0, c0))
        target, leaf = (c_n.sum(), c0) if wrt == "c" else (out[:, -1].sum(), h0)
    else:
        out, _ = rnn(x, h0)
        target, leaf = out[:, -1].sum(), h0
    (g,) = torch.autograd.grad(target, leaf)
    return g


@pytest.mark.parametrize("s", [0.5, 4.0])
@pytest.mark.parametrize("T", [5, 20])
def test_zero_state_gain_per_step_is_s_for_rnn_and_half_plus_quarter_s_for_lstm_and_gru(device, s, T, figures):
    # zero inputs and zero initial state stay at zero (tanh(0) = 0), where every gate is sigmoid(0) = 1/2 and
    # tanh' = 1; the gradient of sum(h_T) is then a power of the one-step Jacobian:
    #   RNN:  s I                                    -> s^T sqrt(H)
    #   LSTM: [[f, i s], [o f, o i s]] per unit      -> o i s (f + o i s)^(T-1) sqrt(H), f = i = o = 1/2
    #   GRU:  z + (1 - z) r s                        -> (1/2 + s/4)^T sqrt(H)
    x = torch.zeros(1, T, 1, dtype=torch.float64, device=device)
    rate = 0.5 + 0.25 * s
    expected = {"rnn": s**T, "lstm": 0.25 * s * rate ** (T - 1), "gru": rate**T}
    for kind, value in expected.items():
        g = _grad_wrt_initial_state(_cell(kind, device, recurrent_scale=s), kind, x)
        assert math.isclose(g.norm().item(), value * math.sqrt(H), rel_tol=PRODUCT_RTOL), kind
        if T == 20:  # at s = 4 the gated cells explode too, only more slowly (1.5^T against 4^T)
            figures.record(f"zero state, s={s}, T=20: {kind} ||d sum h_T / d h_0|| / sqrt(H)",
                           g.norm().item() / math.sqrt(H), "1")


@pytest.mark.parametrize("gate_bias", [0.0, 3.0])
def test_without_recurrent_coupling_the_gated_path_carries_gate_to_the_T(device, gate_bias, figures):
    T = 40
    x = torch.zeros(1, T, 1, dtype=torch.float64, device=device)
    gate = _sigmoid(gate_bias)
    # LSTM, W_hh = 0: the gates are constant and g = tanh(0) = 0, so c' = f c and dc_T/dc_0 = f^T
    lstm = _cell("lstm", device, recurrent_scale=0.0, gate_bias=gate_bias)
    g = _grad_wrt_initial_state(lstm, "lstm", x, wrt="c")
    assert math.isclose(g.norm().item(), gate**T * math.sqrt(H), rel_tol=PRODUCT_RTOL)
    figures.record(f"W_hh = 0, gate bias {gate_bias}: LSTM ||d sum c_T / d c_0|| / sqrt(H), T=40",
                   g.norm().item() / math.sqrt(H), "1")
    # GRU, W_hh = 0: n = tanh(0) = 0, so h' = z h and dh_T/dh_0 = z^T
    gru = _cell("gru", device, recurrent_scale=0.0, gate_bias=gate_bias)
    g = _grad_wrt_initial_state(gru, "gru", x)
    assert math.isclose(g.norm().item(), gate**T * math.sqrt(H), rel_tol=PRODUCT_RTOL)
    # a plain RNN with W_hh = 0 forgets h_0 after one step
    rnn = _cell("rnn", device, recurrent_scale=0.0)
    assert torch.equal(_grad_wrt_initial_state(rnn, "rnn", x), torch.zeros(1, 1, H, dtype=torch.float64, device=device))


def test_at_default_init_gradients_vanish_unless_a_gate_is_held_open(device, figures):
    lengths = (10, 20, 40, 80)
    x = torch.randn(4, lengths[-1], 4, dtype=torch.float64, generator=torch.Generator().manual_seed(72)).to(device)
    configs = {"RNN": ("rnn", None), "LSTM": ("lstm", None), "GRU": ("gru", None),
               "LSTM, forget bias 3": ("lstm", 3.0), "GRU, update bias 3": ("gru", 3.0)}
    slopes = {}
    for name, (kind, bias) in configs.items():
        rnn = _cell(kind, device, gate_bias=bias, input_size=4)
        # one forward over the longest sequence: h_T for shorter T are its prefixes (the cells are causal)
        h0 = torch.zeros(1, x.shape[0], H, dtype=torch.float64, device=device, requires_grad=True)
        out, _ = rnn(x, (h0, torch.zeros_like(h0)) if kind == "lstm" else h0)
        norms = []
        for T in lengths:
            (g,) = torch.autograd.grad(out[:, T - 1].sum(), h0, retain_graph=True)
            norms.append(g.norm(dim=2).log().mean().exp().item())  # geometric mean over the 4 sequences
        slopes[name] = fit_log_slope(lengths, norms).slope
        figures.record(f"{name}: log-norm slope per step (default init)", slopes[name], "1/step")
        figures.series(name + ("" if device == "cpu" else f" ({device})"), lengths, norms,
                       plot="gradient norm vs sequence length at PyTorch's default init",
                       x_label="sequence length T (steps)",
                       y_label="||d sum h_T / d h_0|| (L2, geo. mean of 4 seqs)", log_y=True)
    # Reference rate: a gate at sigmoid(3) = 0.953 alone would lose log 0.953 = -0.049 per step; other paths
    # add or subtract, so take twice that as the line between "kept" and "vanishing".
    line = 2 * math.log(_sigmoid(3.0))
    for name in ("RNN", "LSTM", "GRU"):
        assert slopes[name] < line, f"{name}: {slopes[name]:.3f} per step"
    for name in ("LSTM, forget bias 3", "GRU, update bias 3"):
        assert line < slopes[name] <= 0.0, f"{name}: {slopes[name]:.3f} per step"
