"""Vectors: a map turned into GIS layers (roads as centre lines, water, green and buildings as polygons).
May import the model and reading and writing; never a run.
"""
