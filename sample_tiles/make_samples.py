"""Cut the sample tiles from ../shared/data/scenes (run once; kept for provenance)."""
import shutil

import rasterio
from rasterio.windows import Window

SRC = "../shared/data/scenes/"
# name -> (source file, window (col_off, row_off, width, height) or None for the whole file)
CROPS = {
    "korea_rgb_jpeg_3857.tif": ("korea_cog_jpeg_3857.tif", None),
    "landsat_rgb_nodata_utm.tif": ("landsat_rgb_nodata_utm.tif", None),
    "vegas_rgba_4326.tif": ("vegas_rgba_epsg4326.tif", Window(300, 200, 640, 480)),
    "atlanta_pan_uint16_utm.tif": ("atlanta_pan_uint16_utm.tif", Window(200, 200, 512, 512)),
    "rotterdam_ms_float64_utm.tif": ("rotterdam_ms_float64_utm.tif", Window(50, 50, 200, 200)),
    "dakota_naip_rgbn_nodata.tif": ("dakota_naip_rgbn_nodata.tif", Window(334, 223, 600, 500)),
}
for name, (src, window) in CROPS.items():
    if window is None and src.startswith("korea"):
        shutil.copyfile(SRC + src, "sample_tiles/" + name)  # keep the real JPEG COG byte for byte
        continue
    with rasterio.open(SRC + src) as ds:
        window = window or Window(0, 0, ds.width, ds.height)
        profile = ds.profile
        profile.update(width=window.width, height=window.height, transform=ds.window_transform(window),
                       compress="deflate", tiled=False, blockysize=16)
        profile.pop("blockxsize", None)
        data = ds.read(window=window)
        with rasterio.open("sample_tiles/" + name, "w", **profile) as out:
            out.write(data)
            out.colorinterp = ds.colorinterp
            print(name, data.shape, data.dtype)
