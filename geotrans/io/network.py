"""Network sources: GDAL's HTTP timeouts and retries, so a silent server cannot hang a run; and the bound
on a Dask scheduler's answer.

GDAL reads these configuration options from the environment at each request. A
value the user set in the environment is kept; ``--http-timeout`` sets both
timeouts. Retries with back-off cover the transient answers (HTTP 429, 502, 503,
504) that GDAL retries.
"""
from __future__ import annotations

import os
from typing import MutableMapping, Optional

SCHEDULER_WAIT_S = 30  # a Dask scheduler that does not answer within this is given up on

HTTP_DEFAULTS = {
    "GDAL_HTTP_CONNECTTIMEOUT": "15",  # seconds to connect
    "GDAL_HTTP_TIMEOUT": "60",  # seconds for a whole request: a server that accepts and never answers ends here
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "2",  # seconds before the first retry; GDAL doubles it each time
}


def http_settings(timeout_s: Optional[float] = None, environ: Optional[MutableMapping[str, str]] = None) -> dict:
    """The HTTP options a run uses: the defaults, under what ``environ`` sets, under ``timeout_s``."""
    environ = os.environ if environ is None else environ
    settings = {key: environ.get(key, value) for key, value in HTTP_DEFAULTS.items()}
    if timeout_s is not None:
        if not timeout_s > 0:
            raise ValueError("the HTTP timeout must be a positive number of seconds")
        seconds = f"{timeout_s:g}"
        settings.update(GDAL_HTTP_TIMEOUT=seconds, GDAL_HTTP_CONNECTTIMEOUT=seconds)
    return settings


def apply_http_settings(timeout_s: Optional[float] = None,
                        environ: Optional[MutableMapping[str, str]] = None) -> dict:
    """Put ``http_settings`` into the environment GDAL reads (this process and Dask workers it starts)."""
    environ = os.environ if environ is None else environ
    settings = http_settings(timeout_s, environ)
    environ.update(settings)
    return settings
