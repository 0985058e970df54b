"""The ``geotrans`` command line: each command parses its options, calls one library function, and reports.

``main`` (the group), one module per command (``run``, ``info``, ``tune``, ``vectorize``, ``qgis``), the
options they share (``options``) and what they share around the call (``console``: the error boundary,
logging, progress). Nothing here decides how a scene is run: that is ``geotrans.jobs``.
"""
from geotrans.cli.main import main

__all__ = ["main"]
