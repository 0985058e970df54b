"""Files written safely: every file geotrans writes (map, preview, summary, GeoPackage, model, checkpoint)
goes to a hidden temporary name beside its target (``temporary_path``) and is renamed over it only when
complete (``atomic_path``, ``durable_replace``); one run at a time writes a target (``output_lock``).
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import stat
import threading
import time
import uuid
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterator, Optional

from geotrans.errors import DiskFullError, OutputBusyError, OutputError, one_line
from geotrans.io.gdal_messages import reason

log = logging.getLogger(__name__)

# Hidden, beside the target: the target's whole name, then what no name can stand for: a tag of 8 hex digits,
# unique per write, and after it the stage of an intermediate file (the model grid, a cluster's strip).
TEMPORARY = ".{name}.{tag}.{suffix}"
STAGE = re.compile(r"model-grid|strip-[0-9a-f]+-[0-9]{5}")  # the map's intermediate files
SIDECARS = (".msk", ".aux.xml")  # files GDAL may write beside a temporary file
LOCK_RECORD_BYTES = 1 << 16  # a lock file holds its holder and its temporary files' names, never more
FULL_BELOW_BYTES = 1 << 20  # a write that fails with less free space than this failed for want of space


def write_error(path: Path, action: str, messages: list[str], err: Optional[BaseException] = None) -> OutputError:
    """The one-line error for a failed write: a DiskFullError when the disk is full, and the file-size limit
    named when the file outgrew it."""
    if isinstance(err, OSError) and err.errno == errno.EFBIG or any("File too large" in m for m in messages):
        return OutputError(f"{path}: the file grew past the largest file this process may write "
                           f"({_file_size_limit() or 'the file system'}'s limit) while {action}; nothing was "
                           "written there", hint="raise the limit (ulimit -f) or write where none applies")
    if isinstance(err, OSError) and err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return OutputError(f"{path}: {action} failed: {err.strerror or 'not allowed'}; nothing was written there",
                           hint="choose a folder you may write")
    free = free_bytes(path.parent)
    full = isinstance(err, OSError) and err.errno == errno.ENOSPC or \
        any("No space left" in m for m in messages) or free is not None and free < FULL_BELOW_BYTES
    if full:
        left = "" if free is None else f" ({free // 1024} KiB left)"
        return DiskFullError(f"{path}: the disk is full{left} while {action}; nothing was written there",
                             hint="free some space and run again")
    limit = _file_size_limit()
    if limit is not None:  # GDAL's TIFF writer prints EFBIG to stderr past its handler: say what likely caused it
        return OutputError(f"{path}: {action} failed ({one_line(Exception(reason(messages, 'unknown')))}); "
                           f"nothing was written there", hint=f"files this process writes are limited to "
                           f"{limit}: raise the limit (ulimit -f) if the map needs more")
    return OutputError(f"{path}: {action} failed ({one_line(Exception(reason(messages, 'unknown')))})")


def _file_size_limit() -> Optional[str]:
    """This process's limit on the size of a file it writes (``ulimit -f``), in words; None when unlimited."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"


def free_bytes(folder: Path) -> Optional[int]:
    """Free space where ``folder`` is, or None when it cannot be known (a folder that is not there)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def temporary_path(path: str | os.PathLike, suffix: str = "part", stage: Optional[str] = None) -> Path:
    """A hidden, unique temporary name beside ``path``; ``stage`` names an intermediate file of its write."""
    path = Path(path)
    if stage is not None:
        assert STAGE.fullmatch(stage), stage
        suffix = f"{stage}.{suffix}"
    tmp = path.with_name(TEMPORARY.format(name=path.name, tag=uuid.uuid4().hex[:8], suffix=suffix))
    own_temporaries(path, glob_escape(tmp.name) + "*")  # the file and the sidecars GDAL writes beside it
    return tmp


def own_temporaries(path: str | os.PathLike, pattern: str) -> None:
    """Record in ``path``'s lock file, when this process holds it, that the files beside ``path`` whose names
    match ``pattern`` (a glob) are this run's temporary files: if the run is killed, the next run to take the
    lock removes them, and nothing else (a user's file named like a temporary one is never touched)."""
    with _HELD_GUARD:
        held = _HELD.get(_lock_key(path))
        if held is None:
            return
        fd, record = held
        if pattern in record["temporaries"]:
            return
        record["temporaries"].append(pattern)
        try:
            _write_record(fd, record)
        except OSError as err:
            raise write_error(Path(path), "recording a temporary file in the output's lock", [one_line(err)], err) \
                from None


def is_temporary_of(candidate: str, path: Path) -> bool:
    """Whether ``candidate`` (a file name) is one of the temporary files of ``path`` exactly, never one of
    another target's: after the name comes the tag, and no other target's temporary has 8 hex digits and
    then a stage or ``.part`` there (``m.tif.x.tif``, ``m.tif.model-grid`` or ``m.tif.0badf00d`` beside
    ``m.tif``)."""
    sidecars = "|".join(re.escape(s) for s in (*SIDECARS, ".cog"))
    pattern = rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}(\.(?:{STAGE.pattern}))?\.part({sidecars})*"
    return re.fullmatch(pattern, candidate) is not None


def remove_temporary(tmp: Path) -> None:
    for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in SIDECARS)):
        leftover.unlink(missing_ok=True)


def durable_replace(tmp: Path, path: Path) -> None:
    """Rename the finished ``tmp`` over ``path`` so that a power cut leaves the old file or the whole new one:
    the file's data reach the disk before the rename, and the folder's entry after it."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory handles (Windows): its rename is already durable
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (network mounts) refuse fsync on a folder
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it durably replaces ``path``, on any error it is removed
    (``path`` keeps what it held). An OSError while writing becomes an OutputError (DiskFullError)."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        yield tmp
        durable_replace(tmp, path)
    except OSError as err:
        if isinstance(err, OutputError):
            raise
        raise write_error(path, "writing", [one_line(err)], err) from None
    finally:
        remove_temporary(tmp)
        _forget_temporaries(path, glob_escape(tmp.name) + "*")  # a summary rewritten after each scene stays small


def _forget_temporaries(path: str | os.PathLike, pattern: str) -> None:
    with _HELD_GUARD:
        held = _HELD.get(_lock_key(path))
        if held is None or pattern not in held[1]["temporaries"]:
            return
        held[1]["temporaries"].remove(pattern)
        try:
            _write_record(held[0], held[1])
        except OSError:
            pass  # the record keeps a name that is gone: harmless


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


# The locks this process holds: the lock file's absolute name -> (its descriptor, its record).
_HELD: dict[str, tuple[int, dict]] = {}
_HELD_GUARD = threading.Lock()


def _lock_key(path: str | os.PathLike) -> str:
    return os.path.abspath(lock_path(path))


def _write_record(fd: int, record: dict) -> None:
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextmanager
def output_lock(path: str | os.PathLike, clean: bool = True, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (a lock file beside it recording host and PID) while writing it.

    Another run holding it raises OutputBusyError naming the holder. A lock whose holder died is free
    (the kernel drops it with the process), and on taking it the temporary files the dead run recorded in it
    (``own_temporaries``) are removed (``clean``). The lock file goes when the lock is released. With
    ``wait_s``, a busy lock is retried for that long first.
    """
    path = Path(path)
    lock = lock_path(path)
    deadline = time.monotonic() + wait_s
    while True:
        try:  # never through a link: a lock name that is one is somebody's, not ours
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise OutputError(f"{lock}: the lock file's name is a link, not a geotrans lock; it is left as "
                                  "it is and nothing was written", hint="remove the link, or choose another output") \
                    from None
            raise write_error(path, "locking the output", [one_line(err)], err) from None
        try:
            _check_lock_file(fd, lock)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise OutputBusyError(f"{path}: is being written by another run ({holder})",
                                  hint="wait for it, or choose another output") from None
        if _same_file(fd, lock):  # not a lock file that its holder removed while we waited
            break
        os.close(fd)
    key = _lock_key(path)
    try:
        left = _recorded_temporaries(fd)  # by a run that died holding the lock
        record = {"host": socket.gethostname(), "pid": os.getpid(), "temporaries": []}
        try:
            _write_record(fd, record)
        except OSError as err:
            raise write_error(path, "locking the output", [one_line(err)], err) from None
        with _HELD_GUARD:
            _HELD[key] = (fd, record)
        if clean:
            remove_stale_temporaries(path, left)
        yield
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        lock.unlink(missing_ok=True)  # while still held, so no one takes a lock on a file about to vanish
        os.close(fd)


def _check_lock_file(fd: int, lock: Path) -> None:
    """Refuse (closing ``fd``) a lock file that is not a geotrans lock: not a regular file, one with other
    names (hard links), or one holding anything but a lock's record (it is left as it is, never deleted)."""
    info = os.fstat(fd)
    content = os.pread(fd, LOCK_RECORD_BYTES, 0) if stat.S_ISREG(info.st_mode) else b""
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and (not content or _is_lock_record(content)):
        return
    os.close(fd)
    raise OutputError(f"{lock}: is not a geotrans lock file; it is left as it is and nothing was written",
                      hint="move it, or choose another output")


def _is_lock_record(content: bytes) -> bool:
    try:
        record = json.loads(content)
    except ValueError:
        return False
    if not (isinstance(record, dict) and {"host", "pid"} <= set(record) <= {"host", "pid", "temporaries"}):
        return False
    temporaries = record.get("temporaries", [])
    return isinstance(temporaries, list) and all(isinstance(t, str) for t in temporaries)


def _recorded_temporaries(fd: int) -> list[str]:
    """The temporary files (globs) the lock's last holder recorded; none from a lock of geotrans 0.1.0."""
    try:
        record = json.loads(os.pread(fd, LOCK_RECORD_BYTES, 0) or b"{}")
    except (ValueError, OSError):
        return []
    return list(record.get("temporaries", [])) if isinstance(record, dict) else []


def remove_stale_temporaries(path: Path, recorded: list[str]) -> list[Path]:
    """Remove the temporary files of ``path`` that a killed run recorded (globs, ``own_temporaries``); call
    only while holding its lock. A file is removed only when it is one of ``path``'s temporary names and one
    the run recorded."""
    stale = [p for p in path.parent.glob(f".{glob_escape(path.name)}.*")
             if is_temporary_of(p.name, path) and any(fnmatchcase(p.name, r) for r in recorded)]
    for leftover in stale:
        leftover.unlink(missing_ok=True)
    if stale:
        log.info("%s: removed %d temporary file(s) left by a run that was killed", path, len(stale))
    return stale


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, LOCK_RECORD_BYTES, 0) or b"{}")
        return f"host {holder['host']}, pid {holder['pid']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
