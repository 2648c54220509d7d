"""Run the document's model-generic claims on a model: "does *my* training code behave as the document says?"

* ``subject``: ``ModelUnderTest``, the contract: the model, one batch, the loss and optionally the optimizer;
  ``batch``: batches as tensors, tuples or dicts, and the output the loss reads (a tensor, or the logits of a
  ModelOutput); ``losses``: ``SequenceCrossEntropyLoss`` for class-last logits (causal LMs, taggers);
  ``preserve``: putting the model back after a check.
* ``validation``: ``load_subject("package.module:factory")`` and ``validate``, which raise ``SpecInputError`` naming
  the problem (unknown module or attribute, a factory that raises, missing or wrong-typed fields, a batch of fewer
  than 2 samples, a forward or backward that fails, inputs whose dim 0 is not the batch).
* ``catalog``: one torch-free entry per check (id, titles en/zh, claims, numbers, curves), in report order.
* ``checks``: one module per check (``checks/<id>.py``), each returning a ``CheckResult`` (an ``Outcome``, a message
  and an optional note in English and Chinese, the measured numbers); ``runner.run_check`` runs one as the spec does.
* ``references``: the suite's four reference subjects (an MLP, a CNN with BatchNorm, an LSTM over padded
  sequences with ignore_index, a small Transformer encoder classifier), small, seeded and CPU-cheap.

No pytest here: the plugin part ``support.pytest_plugin.your_model`` adds ``--model`` and the ``model_under_test``
fixture, and ``spec/part6_your_model/`` runs one check per test.

This ``__init__`` imports nothing heavy: the plugin reads ``REFERENCE_NAMES`` in processes that must not import
torch (the controller of an xdist run).
"""

REFERENCE_NAMES = ("mlp", "cnn-batchnorm", "lstm-padded", "transformer")

__all__ = ["REFERENCE_NAMES"]
