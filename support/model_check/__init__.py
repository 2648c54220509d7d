"""Run the document's model-generic claims on a model: "does *my* training code behave as the document says?"

* ``subject``: ``ModelUnderTest`` (the model, one batch, the loss and optionally the optimizer) and
  ``load_subject("package.module:factory")``, which imports a factory, calls it and validates what it returns
  (raising ``SpecInputError`` naming the problem: unknown module or attribute, a factory that raises, missing or
  wrong-typed fields, a batch of fewer than 2 samples, a forward that fails on the batch).
* ``references``: the suite's four reference subjects (an MLP, a CNN with BatchNorm, an LSTM over padded
  sequences with ignore_index, a small Transformer encoder classifier), small, seeded and CPU-cheap.
* ``checks``: one pure function per check, each returning a ``CheckResult`` (verdict, a message in the user's
  terms -- parameter names, sample pairs, layer names -- and the measured numbers).

No pytest here: the plugin part ``support.pytest_plugin.model`` adds ``--model`` and the ``model_under_test``
fixture, and ``spec/part6_your_model/`` runs one check per test.

This ``__init__`` imports nothing heavy: the plugin reads ``REFERENCE_NAMES`` in processes that must not import
torch (the controller of an xdist run).
"""

REFERENCE_NAMES = ("mlp", "cnn-batchnorm", "lstm-padded", "transformer")

__all__ = ["REFERENCE_NAMES"]
