"""The checks of spec/part6_your_model: one module per check, named like its catalog id
(``support.model_check.catalog``) and its spec module (``spec/part6_your_model/test_<id>.py``), plus what two or more
checks share (``result``, ``_numerics``, ``_zero_gradients``, ``_notes``).

Each check is a function of a ``ModelUnderTest`` returning a ``CheckResult``; it changes the model while it runs (a
step, BatchNorm statistics). ``support.model_check.runner.run_check`` runs one as the spec does.
"""
