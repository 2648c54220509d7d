"""Example models for ``pytest spec/part6_your_model --model=examples.<module>:make`` (see README)."""
