"""The fuzz campaign (docs/fuzzing.md): hypothesis at scale over everything
Homeward reads from outside, run by `make fuzz`, never by the default pytest
run (it lives outside tests/).

Each target is a function of one generated input that must return or raise
the target's typed error; anything else is a crash, and an input that runs
past the per-input bound is a hang.
"""
