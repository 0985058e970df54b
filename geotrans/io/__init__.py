"""Reading and writing: scenes in, windows out, maps and files written safely.

Reading: ``scene`` (inspect a source, read its windows), ``bands``, ``resolution``, ``footprint`` (valid
pixels, the AOI), ``tiler`` (the 256 px windows), ``network`` and ``gdal_messages`` (GDAL's paths and
complaints), ``labels`` (vector and raster labels drawn in the map style). Writing: ``sink`` (the map
GeoTIFF), ``files`` (atomic files and locks), ``targets`` (no output may be an input under another name).
May import the model layer; never a run.
"""
