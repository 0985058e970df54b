"""What a user's job is, beyond how each scene runs (``RunOptions``), as data: where it runs (``Cluster``) and,
for a folder run, which scenes it takes and where their maps go (``FolderJob``). Each checks itself when
made, so the library refuses what the CLI would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from geotrans.errors import InputError


@dataclass(frozen=True)
class Cluster:
    """Where the work runs: here (the default), on the Dask cluster whose scheduler is at ``scheduler``
    (``tcp://HOST:8786``), or on a local cluster of ``local_workers`` processes started for the run."""

    scheduler: Optional[str] = None
    local_workers: Optional[int] = None

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.local_workers is not None:
            raise InputError("{scheduler} and {local_workers}: a run uses one cluster; give one of them",
                             options=["scheduler", "local_workers"])
        if self.local_workers is not None and (isinstance(self.local_workers, bool) or self.local_workers < 1):
            raise InputError(f"a local cluster needs at least one worker, not {self.local_workers!r}")

    @property
    def here(self) -> bool:
        """No cluster: the run is this process's."""
        return self.scheduler is None and self.local_workers is None

    def describe(self) -> str:
        return "this machine" if self.here else f"a Dask cluster ({self.scheduler or f'local:{self.local_workers}'})"


@dataclass(frozen=True)
class FolderJob:
    """A folder run's scenes and outputs: every scene under ``src`` matching ``patterns`` (default:
    ``jobs.batch.DEFAULT_PATTERNS``), in its sub-folders too with ``recursive``, or each scene ``list_file``
    names (one path a line) instead; a map for each in ``out_dir`` at the same relative path. A re-run skips
    maps that are complete and current unless ``force``."""

    src: Optional[str]
    out_dir: str
    patterns: tuple[str, ...] = ()
    recursive: bool = False
    list_file: Optional[str] = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.src is None and self.list_file is None:
            raise InputError("a folder run needs a folder of scenes or a list file")
        object.__setattr__(self, "patterns", tuple(self.patterns))


HERE = Cluster()  # no cluster: the run is this process's
