"""Train the geotrans generator the pix2pix way: ``train(TrainConfig(...))``, from the command line
``python -m training.train`` (the repository's ``training/train.py``).

``--data`` holds ``train/`` and ``val/`` folders of aligned pairs (left half the
photo, right half the map). The run folder receives ``checkpoint.pt`` (resumable,
loads with ``weights_only=True``), ``losses.csv`` (one row per step),
``loss_curve.png`` and ``samples.png`` (photo | generated | real map on fixed val
pairs, through geotrans's own tiling and blending) after every epoch.

Losses as in the paper: the discriminator's loss is halved; the generator's is the
adversarial loss plus lambda * L1 (lambda = 100). Adam, lr 2e-4, beta1 0.5; lr is
constant, then decays linearly to 0 over the last ``--decay-epochs``. Under
``torchrun`` the run is distributed data parallel, one process per GPU (or per
CPU core group); ``--batch-size`` is the batch of one step over all processes,
so a run is the same recipe on any number of them.

Optional terms (off by default): pix2pixHD's discriminator feature matching
(``--lambda-fm``) and SMAPGAN's image-gradient L1 (``--lambda-grad``). The
forward passes run under bf16 autocast where the CPU or GPU supports it
(``--precision``); losses and optimizers stay in fp32. SIGTERM or Ctrl-C writes
a checkpoint and exits, so a run can be paused and continued with ``--resume``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.distributed as dist
from tqdm import tqdm

from geotrans.model.palette import Palette
from geotrans.model.style import CLASSES, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.training.checkpoints import CHECKPOINT, StopRequest, load_checkpoint, save_checkpoint
from geotrans.training.config import TrainConfig
from geotrans.training.data import PairSet
from geotrans.training.pix2pix import Pix2Pix, warm_start
from geotrans.training.report import sample_pairs, write_loss_curve, write_sample_grid
from geotrans.training.sampling import MixedSet, mixed_set
from geotrans.training.sources import read_mix

log = logging.getLogger("geotrans.training.train")



def loss_columns(model: Pix2Pix) -> list[str]:
    """losses.csv's columns: where the run is, each generator term's loss, the discriminator's two halves."""
    return ["step", "epoch", *(f"g_{name}" for name in model.TERMS), "d_real", "d_fake", "lr", "seconds"]


def lr_at(config: TrainConfig, epoch: int) -> float:
    """Constant lr, then linear decay to 0 over the last ``decay_epochs`` (pix2pix's 'linear' policy)."""
    constant = config.epochs - config.decay_epochs
    if epoch < constant:
        return config.lr
    return config.lr * (1 - (epoch - constant + 1) / (config.decay_epochs + 1))


@dataclass(frozen=True)
class Processes:
    """This process's place in a (torchrun) run: how many processes, its rank, its device and batch share."""

    world: int
    rank: int
    local_rank: int
    device: torch.device
    batch: int  # this process's share of each step's batch


def join_processes(config: TrainConfig, device: Optional[torch.device] = None) -> Processes:
    """This process's ``Processes`` from torchrun's environment; the process group joined when there are more."""
    world, rank, local_rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)), \
        int(os.environ.get("LOCAL_RANK", 0))
    if device is None:
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if config.batch_size % world:
        raise ValueError(f"batch size {config.batch_size} does not split over {world} processes")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(world, rank, local_rank, device, config.batch_size // world)


def train(config: TrainConfig, device: Optional[torch.device] = None, resume: bool = False,
          train_set: Optional[PairSet | MixedSet] = None, stop: Optional[StopRequest] = None,
          on_step: Optional[Callable[[dict], None]] = None, model_class: type[Pix2Pix] = Pix2Pix) -> Pix2Pix:
    """Run (or resume) training as configured, a ``model_class`` (Pix2Pix, or a research model built on it);
    returns the trained model.

    When ``stop`` becomes true, the current step finishes, a checkpoint is written and training returns.
    ``on_step`` is called with the progress (step, epoch, seconds) after every step.
    """
    processes = join_processes(config, device)
    if train_set is None and config.mix:  # a bad mix is one line before anything is written
        train_set = mixed_set(config.mix, crop=config.crop, augment=config.augment, seed=config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config = with_recorded_colours(config)
    model = model_class(config, processes.device)
    log.info("training on %s in %s, batch %d%s, %s", processes.device, model.precision.name, config.batch_size,
             f" ({processes.batch} per process)" if processes.world > 1 else "", config.augment.describe())
    progress = start(model, out / CHECKPOINT, resume)
    if processes.world > 1:
        model.distribute(processes.local_rank)
    if train_set is None:
        train_set = PairSet.from_folder(Path(config.data) / "train", limit=config.train_limit, crop=config.crop,
                                        augment=config.augment, seed=config.seed)
    budget = Budget(config, progress["seconds"], stop if stop is not None else StopRequest())
    with LossLog(out / "losses.csv", loss_columns(model), resume, processes.rank == 0) as losses:
        run_epochs(model, train_set, processes, progress, budget, losses, on_step)
    if processes.rank == 0:
        write_run_record(out, config, progress, train_set, processes.device)
    return model


def start(model: Pix2Pix, checkpoint: Path, resume: bool) -> dict:
    """Where the run starts: the checkpoint's progress, weights and random state when resuming, else step 0
    (from the warm-start generator, if any); returns the progress."""
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        model.load_state(state)
        progress = dict(state["progress"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log.info("resumed at epoch %d, batch %d (step %d)", progress["epoch"], progress["batch"], progress["step"])
        return progress
    if model.config.init_generator:
        warm_start(model, model.config)
    torch.manual_seed(model.config.seed + 1)  # dropout stream, distinct from the init seed
    return {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0}


class LossLog:
    """The run's ``losses.csv``: one row per step (rank 0 writes it), appended to when a run resumes with the
    columns its file already has."""

    def __init__(self, path: Path, columns: list[str], resume: bool, writes: bool):
        self.path, self.writes = path, writes
        self.appending = resume and path.exists() and path.stat().st_size > 0
        if self.appending:
            with open(path, newline="") as existing:
                self.columns = next(csv.reader(existing))
        else:
            self.columns = columns

    def __enter__(self) -> "LossLog":
        self.file = open(self.path, "a" if self.appending else "w", newline="")
        self.writer = csv.DictWriter(self.file, self.columns, extrasaction="ignore")  # a resumed run keeps them
        if self.file.tell() == 0:
            self.writer.writeheader()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def row(self, progress: dict, epoch: int, lr: float, losses: dict) -> None:
        if not self.writes:
            return
        self.writer.writerow({"step": progress["step"], "epoch": epoch + 1, "lr": lr,
                              "seconds": round(progress["seconds"], 2), **{k: round(v, 5) for k, v in losses.items()}})
        if progress["step"] % 50 == 0:
            self.file.flush()  # so the losses can be watched while training runs

    def flush(self) -> None:
        self.file.flush()


def run_epochs(model: Pix2Pix, train_set: PairSet | MixedSet, processes: Processes, progress: dict, budget: "Budget",
               losses: LossLog, on_step: Optional[Callable[[dict], None]]) -> None:
    """Epochs from ``progress`` on until the last or the budget is spent (every process agreeing), a
    checkpoint, the loss curve and the sample grid after each."""
    config, out = model.config, Path(model.config.out)
    samples = sample_pairs(Path(config.data) / "val", config.sample_pairs) if processes.rank == 0 else []
    started = time.perf_counter() - progress["seconds"]
    stopping = agreed(budget.spent(progress), processes.device)
    while progress["epoch"] < config.epochs and not stopping:
        epoch = progress["epoch"]
        model.set_lr(lr_at(config, epoch))
        batches = train_set.prefetched(epoch, processes.batch, skip=progress["batch"], rank=processes.rank,
                                       world=processes.world)
        bar = tqdm(batches, total=train_set.steps_per_epoch(processes.batch, processes.world),
                   initial=progress["batch"], desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=processes.rank != 0 or not os.isatty(2), unit="step")
        for batch_tensors in bar:
            step_losses = model.step(*batch_tensors, step=progress["step"])
            progress["batch"] += 1
            progress["step"] += 1
            progress["seconds"] = time.perf_counter() - started
            losses.row(progress, epoch, lr_at(config, epoch), step_losses)
            if processes.rank == 0:
                bar.set_postfix(l1=f"{step_losses['g_l1']:.3f}",
                                d=f"{step_losses['d_real'] + step_losses['d_fake']:.2f}")
            if on_step is not None:
                on_step(progress)
            stopping = agreed(budget.spent(progress), processes.device)
            if stopping:
                break
        else:
            progress["epoch"] += 1
            progress["batch"] = 0
        losses.flush()
        if processes.rank == 0:
            save_checkpoint(out / CHECKPOINT, model, progress)
            write_loss_curve(losses.path, out / "loss_curve.png")
            write_sample_grid(model.exported_generator, samples, out / "samples.png", processes.device)
            log.info("epoch %d: step %d, %.0f s", epoch + 1, progress["step"], progress["seconds"])
        batches.close()
        if stopping:
            log.info("stopped at step %d (%.1f min in all): %s; continue with --resume", progress["step"],
                     progress["seconds"] / 60, budget.reason(progress) or "another process stopped")


def write_run_record(out: Path, config: TrainConfig, progress: dict, train_set: PairSet | MixedSet,
                     device: torch.device) -> None:
    """``run.json``: the config, where the run stands, its data and hardware (what export puts on the card)."""
    run = {"config": asdict(config), "progress": progress, "train_pairs": len(train_set),
           "hardware": hardware(device)}
    if isinstance(train_set, MixedSet):
        run["sources"] = train_set.describe()
        if train_set.recolour:
            run["recolour"] = train_set.recolour
    (out / "run.json").write_text(json.dumps(run, indent=2))


def agreed(flag: bool, device: torch.device) -> bool:
    """``flag`` raised on one process is raised on all, so distributed processes stop after the same step.

    A process that stopped alone would leave the others waiting forever in the next step's gradient all-reduce.
    """
    if not dist.is_initialized():
        return flag
    raised = torch.tensor([int(flag)], device=device)
    dist.all_reduce(raised, op=dist.ReduceOp.MAX)
    return bool(raised.item())


@dataclass
class Budget:
    """When this invocation stops: ``max_steps`` in all, ``max_minutes`` of this invocation, or a stop request."""

    config: TrainConfig
    seconds_at_start: float
    stop: StopRequest

    def reason(self, progress: dict) -> Optional[str]:
        if self.stop:
            return "stop requested"
        if self.config.max_steps is not None and progress["step"] >= self.config.max_steps:
            return f"{self.config.max_steps} steps"
        if self.config.max_minutes is not None and \
                progress["seconds"] - self.seconds_at_start >= self.config.max_minutes * 60:
            return f"{self.config.max_minutes:g} minutes"
        return None

    def spent(self, progress: dict) -> bool:
        return self.reason(progress) is not None




def with_recorded_colours(config: TrainConfig) -> TrainConfig:
    """The config with the map colours its losses and augmentations need (``colours_needed``, on a mix), read
    once from its mix's style (or the style model's card) and recorded in the run as ``<class>_rgb``, and the
    class decision's choices (``class_rgb``)."""
    needed = [name for name in config.colours_needed() if getattr(config, f"{name}_rgb") is None] \
        if config.mix else []
    needs_classes = config.lambda_class and config.class_rgb is None
    if not (needed or needs_classes):
        return config
    mix = read_mix(config.mix) if config.mix else None
    # the style model's card, read only where the colours come from it: no mix, or the class decision's palette
    card = read_model_info(mix.resolve(mix.style_model) if mix and mix.style_model else None).card \
        if not mix or needs_classes else None
    style = mix.style() if mix else MapStyle.from_card(card)
    config = replace(config, **{f"{name}_rgb": list(style.colours[name]) for name in needed})
    if needs_classes:
        config = replace(config, class_rgb=decision_colours(config.class_colours, style, card))
    return config


def decision_colours(class_colours: str, style: MapStyle, card: dict) -> list[list[int]]:
    """The colours the class decision chooses among: the style model's palette (New York's own colours, which
    real maps keep: institutional land, light buildings), or the style's seven map classes (which pull those
    off)."""
    if class_colours == "palette":
        palette = Palette.from_card(card)
        if palette is None:
            raise ValueError("class_colours palette needs a style model with a palette")
        return [list(c) for c in palette.colours]
    return [list(style.colours[name]) for name in CLASSES]


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(device)}"
    return (f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads")


def set_threads(threads: Optional[int]) -> None:
    """One intra-op thread per usable core; a single inter-op thread (the step is one chain of ops)."""
    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already fixed once parallel work has started
        pass
    log.info("%d torch threads", threads)


