"""A corpus of healthy models written as other people write them (Hugging Face transformers, timm, torchvision,
hand-written training code) and of broken variants of some of them, for the model checks of spec/part6_your_model.

* ``catalog``: one entry per model (id, family, factory, optional package, the notes the checks should give, the
  checks that do not apply) and per broken variant (the check that must fail, the words that must name the cause).
* ``handwritten``, ``hf``, ``timm_models``, ``torchvision_models``: the factories, one module per family;
  ``broken``: the broken variants; ``losses``: the losses they train with.
* ``torchvision_cpu``: torchvision's pure-Python parts made importable beside a torch its C extension cannot load
  into (the root conftest.py uses it).
tests/model_check/test_corpus.py runs every check on every model (no false alarm, no crash, the notes right) and
on every broken variant (caught, the cause named).

Every factory takes no argument (``--model=tests.model_corpus.handwritten:mlp_dropout`` works) and builds its
model from a fixed seed and its batch from a seeded generator, with no download.
"""
