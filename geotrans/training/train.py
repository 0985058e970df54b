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

import copy
import csv
import json
import logging
import os
import pickle
import platform
import signal
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from geotrans.errors import ModelError
from geotrans.io.files import atomic_path
from geotrans.model.generator import UnetGenerator, build_generator, to_model_range
from geotrans.model.palette import Palette
from geotrans.model.precision import Precision, resolve_precision
from geotrans.model.style import CLASSES, MapStyle
from geotrans.model.weights import load_generator, read_model_info
from geotrans.training.config import TrainConfig
from geotrans.training.data import PairSet
from geotrans.training.losses import class_cross_entropy, class_weights, dry_hinge, feature_matching, gradient_l1
from geotrans.training.networks import build_discriminator
from geotrans.training.report import sample_pairs, write_loss_curve, write_sample_grid
from geotrans.training.sources import MixedSet, mixed_set, read_mix
from geotrans.training.widen import widened

log = logging.getLogger("geotrans.training.train")

CHECKPOINT = "checkpoint.pt"
LOSS_COLUMNS = ["step", "epoch", "g_gan", "g_l1", "g_fm", "g_grad", "g_dry", "g_class", "d_real", "d_fake", "lr",
                "seconds"]
CLASS_TEMPERATURE = 0.02  # of the class decision's logits (model range, squared): background and building, the
# nearest class colours (0.04 apart), differ by 2 nats; water and green (0.46 apart) by 23
DRY_MARGIN = 0.15  # dry land this close to the water colour (mean |difference| per channel) is pushed away:
# about the water side of the midpoint to the nearest other map colour (building, 0.25 away)


class StopRequest:
    """Set by a signal handler (or a test): training finishes its step, checkpoints and returns."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


@dataclass
class Pix2Pix:
    """Generator, discriminator and their optimizers; one call of ``step`` is one pix2pix iteration."""

    config: TrainConfig
    device: torch.device
    generator: UnetGenerator = field(init=False)
    discriminator: nn.Module = field(init=False)

    def __post_init__(self) -> None:
        torch.manual_seed(self.config.seed)
        self.generator = build_generator(ngf=self.config.ngf).to(self.device)
        self.discriminator = build_discriminator(ndf=self.config.ndf).to(self.device)
        if self.config.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        betas = (self.config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas)
        self.gan_loss = nn.BCEWithLogitsLoss()
        self.l1_loss = nn.L1Loss()
        self.water = None if self.config.water_rgb is None else \
            to_model_range(torch.tensor(self.config.water_rgb, dtype=torch.float32, device=self.device))
        self.class_colours = None if self.config.class_rgb is None else \
            to_model_range(torch.tensor(self.config.class_rgb, dtype=torch.float32, device=self.device))
        self.class_weights = None
        weighed = []
        if self.config.water_weight != 1:
            if self.config.water_weight <= 0 or self.class_colours is None or self.water is None:
                raise ValueError("water_weight needs a positive weight, the class decision (lambda_class) and the "
                                 "water colour (water_rgb): train on a mix")
            weighed.append((self.water, self.config.water_weight))
        if self.config.building_weight != 1:
            if self.config.building_weight < 0 or self.class_colours is None or self.config.building_rgb is None:
                raise ValueError("building_weight needs a weight of 0 or more, the class decision (lambda_class) and "
                                 "the building colour (building_rgb): train on a mix")
            building = to_model_range(torch.tensor(self.config.building_rgb, dtype=torch.float32, device=self.device))
            weighed.append((building, self.config.building_weight))
        if weighed:
            self.class_weights = class_weights(self.class_colours, weighed)
        self.precision: Precision = resolve_precision(self.config.precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.name == "fp16")
        self.g_train, self.d_train = self.generator, self.discriminator  # replaced by DDP wrappers
        self.d_frozen = self.discriminator  # the generator's view of D: no DDP sync, no D update
        self.ema_generator: Optional[UnetGenerator] = self._new_ema() if self.config.ema else None
        if self.config.compile:
            self.g_train, self.d_train = torch.compile(self.generator), torch.compile(self.discriminator)
            self.d_frozen = self.d_train

    def _new_ema(self) -> UnetGenerator:
        """A copy of the generator whose weights follow it as a moving average; never trained itself."""
        ema = copy.deepcopy(self.generator)
        set_requires_grad(ema, False)
        return ema

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * generator, in fp32, after each step."""
        if self.ema_generator is None:
            return
        ema = list(self.ema_generator.state_dict().values())
        now = list(self.generator.state_dict().values())
        torch._foreach_lerp_(ema, now, 1.0 - self.config.ema)

    @property
    def exported_generator(self) -> UnetGenerator:
        """What the run's samples show and its export holds: the moving average where there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def distribute(self, local_rank: int) -> None:
        ids = [local_rank] if self.device.type == "cuda" else None
        self.g_train = DistributedDataParallel(self.g_train, device_ids=ids)
        self.d_train = DistributedDataParallel(self.d_train, device_ids=ids)

    @staticmethod
    def discriminator_pairs(source, target, fake):
        """(real pair, fake pair): the fake pair is (source, generated), never (source, real)."""
        return torch.cat([source, target], 1), torch.cat([source, fake.detach()], 1)

    def adversarial_weight(self, step: int) -> float:
        """0 while the discriminator warms up, then a linear ramp to 1 over ``gan_ramp_steps``."""
        config = self.config
        if step < config.d_warmup_steps:
            return 0.0
        if config.gan_ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - config.d_warmup_steps + 1) / config.gan_ramp_steps)

    def step(self, source: torch.Tensor, target: torch.Tensor, labelled: Optional[torch.Tensor] = None,
             dry: Optional[torch.Tensor] = None, rendered: Optional[torch.Tensor] = None, step: int = 10**9) -> dict:
        """One iteration at global step ``step``. ``labelled`` (N, 1, H, W) of 0 and 1 marks the pixels the
        target knows: the L1 term is their mean, and the real pair shows the generator's own output elsewhere.
        ``dry`` (the same shape) marks unlabelled pixels known to be dry land, kept from the water colour by
        ``lambda_dry``. ``rendered`` (N, 1) of 0 and 1 marks the samples whose map is rendered from class labels
        (``class_on`` "rendered" scores the class decision on those alone; None: none is)."""
        config = self.config
        source, target = self._to_device(source), self._to_device(target)
        self.generator.train()
        self.discriminator.train()
        warming = step < config.d_warmup_steps
        with self.precision.autocast(), torch.set_grad_enabled(not warming):
            fake = self.g_train(source)
        if labelled is not None:
            labelled = self._to_device(labelled)
            target = labelled * target + (1 - labelled) * fake.detach().float()

        # Discriminator: real pairs -> 1, generated pairs -> 0; the loss is halved.
        set_requires_grad(self.discriminator, True)
        self.opt_d.zero_grad(set_to_none=True)
        real_pair, fake_pair = self.discriminator_pairs(source, target, fake)
        with self.precision.autocast():
            # One pass over both (norm is per sample): DDP allows each parameter one use per backward.
            logits, features = self.d_train(torch.cat([real_pair, fake_pair]), features=True)
        pred_real, pred_fake = logits.float().chunk(2)
        d_real = self.gan_loss(pred_real, torch.ones_like(pred_real))
        d_fake = self.gan_loss(pred_fake, torch.zeros_like(pred_fake))
        d_loss = 0.5 * (d_real + d_fake)
        self.scaler.scale(d_loss).backward()
        self.scaler.step(self.opt_d)
        if warming:  # the generator stays as it is while the new discriminator learns to judge it
            self.scaler.update()
            zero = 0.0
            return {"g_gan": zero, "g_l1": self._l1(fake.detach().float(), target, labelled).item(), "g_fm": zero,
                    "g_grad": zero, "g_dry": zero, "d_real": d_real.item(), "d_fake": d_fake.item()}

        # Generator: fool the (frozen) discriminator, plus lambda * L1 to the real map, plus the optional terms.
        set_requires_grad(self.discriminator, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            pred, fake_features = self.d_frozen(torch.cat([source, fake], 1), features=True)
        pred = pred.float()
        fake = fake.float()
        g_gan = self.gan_loss(pred, torch.ones_like(pred))
        g_l1 = self._l1(fake, target, labelled)
        adversarial = self.adversarial_weight(step)
        g_loss = adversarial * g_gan + config.lambda_l1 * g_l1
        # The real pair's features come from the discriminator pass above (pix2pixHD does the same).
        g_fm = feature_matching(fake_features, [f.chunk(2)[0] for f in features]) if config.lambda_fm else None
        g_grad = gradient_l1(fake, target) if config.lambda_grad else None
        if g_fm is not None:
            g_loss = g_loss + adversarial * config.lambda_fm * g_fm
        if g_grad is not None:
            g_loss = g_loss + config.lambda_grad * g_grad
        g_dry = self._dry(fake, dry) if config.lambda_dry and dry is not None else None
        if g_dry is not None:
            g_loss = g_loss + config.lambda_dry * g_dry
        g_class = class_cross_entropy(fake, target, self.class_colours, self._classed(labelled, rendered, fake),
                                      CLASS_TEMPERATURE, self.class_weights) if config.lambda_class else None
        if g_class is not None:
            g_loss = g_loss + config.lambda_class * g_class
        self.scaler.scale(g_loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        set_requires_grad(self.discriminator, True)
        self.update_ema()
        return {"g_gan": g_gan.item(), "g_l1": g_l1.item(), "g_fm": 0.0 if g_fm is None else g_fm.item(),
                "g_grad": 0.0 if g_grad is None else g_grad.item(), "g_dry": 0.0 if g_dry is None else g_dry.item(),
                "g_class": 0.0 if g_class is None else g_class.item(),
                "d_real": d_real.item(), "d_fake": d_fake.item()}

    def _dry(self, fake: torch.Tensor, dry: torch.Tensor) -> torch.Tensor:
        if self.water is None:
            raise ValueError("lambda_dry needs the water colour (water_rgb): train on a mix")
        return dry_hinge(fake, self._to_device(dry), self.water, DRY_MARGIN)

    def _classed(self, labelled: Optional[torch.Tensor], rendered: Optional[torch.Tensor],
                 fake: torch.Tensor) -> Optional[torch.Tensor]:
        """The pixels the class decision scores: the labelled ones, of rendered maps only where ``class_on`` says."""
        if self.config.class_on == "all":
            return labelled
        known = torch.ones_like(fake[:, :1]) if labelled is None else labelled
        if rendered is None:
            return torch.zeros_like(known)
        return known * self._to_device(rendered).view(-1, 1, 1, 1)

    def _l1(self, fake: torch.Tensor, target: torch.Tensor, labelled: Optional[torch.Tensor]) -> torch.Tensor:
        """Mean absolute error over the labelled pixels (all of them when ``labelled`` is None)."""
        if labelled is None:
            return self.l1_loss(fake, target)
        return ((fake - target).abs() * labelled).sum() / (labelled.sum() * fake.shape[1]).clamp(min=1)

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device)
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr

    def state(self) -> dict:
        state = {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "scaler": self.scaler.state_dict()}
        if self.ema_generator is not None:
            state["ema_generator"] = self.ema_generator.state_dict()
        return state

    def load_state(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema_generator is not None:
            # A run that turns the average on at a resume starts it from the generator as it is now.
            self.ema_generator.load_state_dict(state.get("ema_generator", state["generator"]))


def warm_start(model: Pix2Pix, config: TrainConfig) -> None:
    """Start the generator (and its moving average) from an exported model's weights, widened to the run's
    ``ngf`` where that is larger; the discriminator and optimizers start fresh.

    Records the file's hash in ``config`` (and so in the checkpoint and the card).
    """
    net, info = load_generator(config.init_generator, announce=False)  # the warm-start line below says it
    if info.ngf > config.ngf or info.norm != model.generator.norm:
        raise ValueError(f"{config.init_generator}: a U-Net with ngf={info.ngf}, {info.norm} norm; this run "
                         f"builds ngf={config.ngf}, {model.generator.norm} norm")
    if info.ngf < config.ngf:
        net = widened(net, config.ngf)  # one start for every run widened from this file, whatever its seed
        config.init_ngf = info.ngf
        log.info("widened %s from ngf %d to %d (the same function; new channels start unread)",
                 config.init_generator, info.ngf, config.ngf)
    model.generator.load_state_dict(net.state_dict())
    if model.ema_generator is not None:  # the average starts where the generator does, not at the random init
        model.ema_generator.load_state_dict(net.state_dict())
    config.init_sha256 = info.sha256
    log.info("warm start from %s (%s, sha256 %s); fresh discriminator and optimizers", config.init_generator,
             info.name, info.sha256[:12])


def lr_at(config: TrainConfig, epoch: int) -> float:
    """Constant lr, then linear decay to 0 over the last ``decay_epochs`` (pix2pix's 'linear' policy)."""
    constant = config.epochs - config.decay_epochs
    if epoch < constant:
        return config.lr
    return config.lr * (1 - (epoch - constant + 1) / (config.decay_epochs + 1))


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


def train(config: TrainConfig, device: Optional[torch.device] = None, resume: bool = False,
          train_set: Optional[PairSet | MixedSet] = None, stop: Optional[StopRequest] = None,
          on_step: Optional[Callable[[dict], None]] = None) -> Pix2Pix:
    """Run (or resume) training as configured; returns the trained model.

    When ``stop`` becomes true, the current step finishes, a checkpoint is written and training returns.
    ``on_step`` is called with the progress (step, epoch, seconds) after every step.
    """
    world, rank, local_rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)), \
        int(os.environ.get("LOCAL_RANK", 0))
    if device is None:
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if config.batch_size % world:
        raise ValueError(f"batch size {config.batch_size} does not split over {world} processes")
    batch = config.batch_size // world  # this process's share of each step
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if train_set is None and config.mix:  # a bad mix is one line before anything is written
        train_set = mixed_set(config.mix, crop=config.crop, augment=config.augment, seed=config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config = with_recorded_colours(config)
    model = Pix2Pix(config, device)
    log.info("training on %s in %s, batch %d%s, %s", device, model.precision.name, config.batch_size,
             f" ({batch} per process)" if world > 1 else "", config.augment.describe())
    progress = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0}
    checkpoint = out / CHECKPOINT
    if resume and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        model.load_state(state)
        progress = dict(state["progress"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log.info("resumed at epoch %d, batch %d (step %d)", progress["epoch"], progress["batch"], progress["step"])
    else:
        if config.init_generator:
            warm_start(model, config)
        torch.manual_seed(config.seed + 1)  # dropout stream, distinct from the init seed
    if world > 1:
        model.distribute(local_rank)
    if train_set is None:
        train_set = PairSet.from_folder(Path(config.data) / "train", limit=config.train_limit, crop=config.crop,
                                        augment=config.augment, seed=config.seed)
    samples = sample_pairs(Path(config.data) / "val", config.sample_pairs) if rank == 0 else []
    steps_per_epoch = train_set.steps_per_epoch(batch, world)
    csv_path = out / "losses.csv"
    started = time.perf_counter() - progress["seconds"]
    budget = Budget(config, progress["seconds"], stop if stop is not None else StopRequest())

    appending = resume and csv_path.exists() and csv_path.stat().st_size > 0
    if appending:
        with open(csv_path, newline="") as existing:
            columns = next(csv.reader(existing))
    else:
        columns = LOSS_COLUMNS
    with open(csv_path, "a" if appending else "w", newline="") as csv_file:
        writer = csv.DictWriter(csv_file, columns, extrasaction="ignore")  # a resumed run keeps its file's columns
        if csv_file.tell() == 0:
            writer.writeheader()
        stopping = agreed(budget.spent(progress), device)
        while progress["epoch"] < config.epochs and not stopping:
            epoch = progress["epoch"]
            model.set_lr(lr_at(config, epoch))
            batches = train_set.prefetched(epoch, batch, skip=progress["batch"], rank=rank, world=world)
            bar = tqdm(batches,
                       total=steps_per_epoch, initial=progress["batch"], desc=f"epoch {epoch + 1}/{config.epochs}",
                       disable=rank != 0 or not os.isatty(2), unit="step")
            for batch_tensors in bar:
                losses = model.step(*batch_tensors, step=progress["step"])
                progress["batch"] += 1
                progress["step"] += 1
                progress["seconds"] = time.perf_counter() - started
                if rank == 0:
                    writer.writerow({"step": progress["step"], "epoch": epoch + 1, "lr": lr_at(config, epoch),
                                     "seconds": round(progress["seconds"], 2),
                                     **{k: round(v, 5) for k, v in losses.items()}})
                    bar.set_postfix(l1=f"{losses['g_l1']:.3f}", d=f"{losses['d_real'] + losses['d_fake']:.2f}")
                    if progress["step"] % 50 == 0:
                        csv_file.flush()  # so the losses can be watched while training runs
                if on_step is not None:
                    on_step(progress)
                stopping = agreed(budget.spent(progress), device)
                if stopping:
                    break
            else:
                progress["epoch"] += 1
                progress["batch"] = 0
            csv_file.flush()
            if rank == 0:
                save_checkpoint(checkpoint, model, progress)
                write_loss_curve(csv_path, out / "loss_curve.png")
                write_sample_grid(model.exported_generator, samples, out / "samples.png", device)
                log.info("epoch %d: step %d, %.0f s", epoch + 1, progress["step"], progress["seconds"])
            batches.close()
            if stopping:
                log.info("stopped at step %d (%.1f min in all): %s; continue with --resume", progress["step"],
                         progress["seconds"] / 60, budget.reason(progress) or "another process stopped")
                break
    if rank == 0:
        run = {"config": asdict(config), "progress": progress, "train_pairs": len(train_set),
               "hardware": hardware(device)}
        if isinstance(train_set, MixedSet):
            run["sources"] = train_set.describe()
            if train_set.recolour:
                run["recolour"] = train_set.recolour
        (out / "run.json").write_text(json.dumps(run, indent=2))
    return model


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
    """The config with the map colours its losses need, read once from its mix's style (or the style model's
    card) and recorded in the run: water (dry-land hinge, dark land, water weight), building (building weight)
    and the class decision's choices."""
    needs_water = (config.lambda_dry or config.dark_land or config.water_coloured or config.water_weight != 1) \
        and config.water_rgb is None \
        and config.mix
    needs_building = config.building_weight != 1 and config.building_rgb is None and config.mix
    needs_classes = config.lambda_class and config.class_rgb is None
    if not (needs_water or needs_building or needs_classes):
        return config
    mix = read_mix(config.mix) if config.mix else None
    # the style model's card, read only where the colours come from it: no mix, or the class decision's palette
    card = read_model_info(mix.resolve(mix.style_model) if mix and mix.style_model else None).card \
        if not mix or needs_classes else None
    style = mix.style() if mix else MapStyle.from_card(card)
    if needs_water:
        config = replace(config, water_rgb=list(style.colours["water"]))
    if needs_building:
        config = replace(config, building_rgb=list(style.colours["building"]))
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
            raise ValueError("--class-colours palette needs a style model with a palette")
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

