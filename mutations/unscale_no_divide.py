"""Mutation: GradScaler.unscale_ (and so scaler.step) still checks gradients for inf/NaN but no longer divides
them by the scale: the optimizer steps on gradients scale times too large."""

import torch

_orig = torch._amp_foreach_non_finite_check_and_unscale_


def _check_without_unscaling(grads, found_inf, inv_scale):
    return _orig(grads, found_inf, torch.ones_like(inv_scale))


torch._amp_foreach_non_finite_check_and_unscale_ = _check_without_unscaling
