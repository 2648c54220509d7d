"""Models of other people's training code for the model checks of spec/part6_your_model.

* ``torchvision_cpu``: torchvision's pure-Python parts made importable beside a torch its C extension cannot load
  into (tests/conftest.py uses it too).
"""
