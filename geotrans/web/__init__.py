"""Share the map: web tiles of a map and its scene, and a viewer page that opens from ``file://``."""
