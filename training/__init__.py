"""The research entry points behind the shipped model (not installed; run from the repository's root):
``python -m training.train`` (the command line of ``geotrans.training.train``), ``training.export``,
``training.evaluate`` and ``training.compare``, the benchmarks (``semantic``, ``water``, ``roads``), the
mix files (``mixes/``) and the experiments (``experiments/``). The loop, the networks, the losses and the
data ship in the package as ``geotrans.training``; the generator is ``geotrans.model.generator``.
"""
