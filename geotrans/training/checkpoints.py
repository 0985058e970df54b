"""A run's checkpoint (everything needed to resume exactly, loaded without unpickling code) and the signals
that ask a run to write one and stop."""
from __future__ import annotations

import json
import logging
import pickle
import signal
import threading
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from geotrans.errors import ModelError
from geotrans.io.files import atomic_path
from geotrans.training.pix2pix import Pix2Pix

log = logging.getLogger("geotrans.training.train")

CHECKPOINT = "checkpoint.pt"


class StopRequest:
    """Set by a signal handler (or a test): training finishes its step, checkpoints and returns."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()



def save_checkpoint(path: Path, model: Pix2Pix, progress: dict) -> None:
    """Atomically write everything needed to resume exactly: weights, optimizers, RNG, position."""
    state = model.state()
    state.update(progress=progress, config=json.dumps(asdict(model.config)), torch_rng=torch.get_rng_state())
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, role: str = "the checkpoint to resume",
                    hint: str = "start again without --resume (the run folder is replaced)") -> dict:
    """A run's checkpoint, loaded without unpickling code; a ModelError in one line when it is damaged (cut
    short, not a checkpoint, or a pickle that needs code to load) or not there."""
    if not Path(path).is_file():
        raise ModelError(f"{path}: {role} is not there", hint=hint)
    try:
        with warnings.catch_warnings():  # torch's own advice (to unpickle) is not for our users
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        json.loads(state["config"])
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as err:
        archive = open(path, "rb").read(4) == b"PK\x03\x04"  # torch saves a zip; anything else is no checkpoint
        kind = "holds more than weights (code to unpickle), never loaded" if archive and (
            "weights_only" in str(err) or isinstance(err, pickle.UnpicklingError)) else \
            "is damaged or not a geotrans checkpoint"
        raise ModelError(f"{path}: {role} {kind}", hint=hint) from None
    return state


class stop_on_signals:
    """While active, SIGTERM, SIGHUP and the first Ctrl-C ask training to checkpoint and stop; a second Ctrl-C
    aborts."""

    def __init__(self, stop: StopRequest):
        self.stop = stop
        self.previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.stop:
            raise KeyboardInterrupt
        log.warning("%s: finishing this step, writing a checkpoint, then stopping",
                    signal.Signals(signum).name)
        self.stop.set()

    def __enter__(self) -> "stop_on_signals":
        for signum in (signal.SIGTERM, signal.SIGINT, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

