"""QGIS: ``plugin`` (the Processing provider, run inside QGIS's own Python: it imports nothing of geotrans
and starts this environment's ``geotrans`` command) and ``install`` (copies it into a QGIS profile).
"""
