"""Every seed claim as a runnable experiment: a hypothesis, a measured verdict and a report.

``python -m loadtests.experiments [NAME ...] --scale small|full`` (``make experiment NAME=...``,
``make experiments``). Each experiment module declares a :class:`~.model.Experiment`; the runner
(:mod:`.runner`) gives it a :class:`~.lab.Lab` (the stack, its flags and its processes), judges
its checks and restores whatever it changed; :mod:`.report` writes
``loadtests/results/experiments/<name>.{md,json,png}``.
"""
