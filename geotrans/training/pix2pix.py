"""The pix2pix model: the U-Net generator (with a moving average of its weights) and the 70x70 PatchGAN, their
optimizers, and one training iteration (``Pix2Pix.step``): the discriminator's loss halved, the generator's a
list of weighted terms (``LossTerm``): adversarial + lambda * L1, and those the config turns on (feature
matching, image gradients, the class decision). ``warm_start`` starts it from an exported generator.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from geotrans.model.generator import UnetGenerator, build_generator, to_model_range
from geotrans.model.precision import Precision, resolve_precision
from geotrans.model.weights import load_generator
from geotrans.training.config import TrainConfig
from geotrans.training.losses import class_cross_entropy, class_weights, feature_matching, gradient_l1
from geotrans.training.networks import build_discriminator
from geotrans.training.widen import widened

log = logging.getLogger("geotrans.training.train")

CLASS_TEMPERATURE = 0.02  # of the class decision's logits (model range, squared): background and building, the
# nearest class colours (0.04 apart), differ by 2 nats; water and green (0.46 apart) by 23


@dataclass(frozen=True)
class Judged:
    """What the generator's loss terms see at one step: the pair, the generated map (float), the pixels the
    target knows (``labelled``, (N, 1, H, W) of 0 and 1, None for all), the unlabelled ones known to be dry land
    (``dry``), which samples' maps are rendered from class labels (``rendered``, (N, 1)), and the frozen
    discriminator's verdict on the generated pair (logits and features) beside its features of the real pair."""

    source: torch.Tensor
    target: torch.Tensor
    fake: torch.Tensor
    labelled: Optional[torch.Tensor]
    dry: Optional[torch.Tensor]
    rendered: Optional[torch.Tensor]
    logits: torch.Tensor
    features: list
    real_features: list  # the discriminator pass over both pairs, real half first


@dataclass(frozen=True)
class LossTerm:
    """One term of the generator's loss: its name (the ``g_<name>`` loss column), its weight, and its loss of a
    step's ``Judged``; an ``adversarial`` term is ramped in with the adversarial weight."""

    name: str
    weight: float
    loss: Callable[[Judged], torch.Tensor]
    adversarial: bool = False


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
        self.water = self._model_colour(self.config.water_rgb)
        self.class_colours = self._model_colour(self.config.class_rgb)
        weighed = self.weighed_classes()
        self.class_weights = class_weights(self.class_colours, weighed) if weighed else None
        self.terms = self.generator_terms()
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

    TERMS = ("gan", "l1", "fm", "grad", "class")  # every term's name, in the order the loss adds them up

    def generator_terms(self) -> list[LossTerm]:
        """The generator's loss: adversarial + lambda * L1, then each optional term the config weighs."""
        config = self.config
        terms = [LossTerm("gan", 1.0, lambda j: self.gan_loss(j.logits, torch.ones_like(j.logits)), adversarial=True),
                 LossTerm("l1", config.lambda_l1, lambda j: self._l1(j.fake, j.target, j.labelled))]
        if config.lambda_fm:  # the real pair's features come from the discriminator's pass (as pix2pixHD's do)
            terms.append(LossTerm("fm", config.lambda_fm, adversarial=True, loss=lambda j: feature_matching(
                j.features, [f.chunk(2)[0] for f in j.real_features])))
        if config.lambda_grad:
            terms.append(LossTerm("grad", config.lambda_grad, lambda j: gradient_l1(j.fake, j.target)))
        if config.lambda_class:
            terms.append(LossTerm("class", config.lambda_class, lambda j: class_cross_entropy(
                j.fake, j.target, self.class_colours, self.classed(j), CLASS_TEMPERATURE, self.class_weights)))
        return terms

    def weighed_classes(self) -> list[tuple[torch.Tensor, float]]:
        """(class colour, weight) for each class the class decision weighs other than 1: water by
        ``water_weight``."""
        if self.config.water_weight == 1:
            return []
        if self.config.water_weight <= 0 or self.class_colours is None or self.water is None:
            raise ValueError("water_weight needs a positive weight, the class decision (lambda_class) and the "
                             "water colour (water_rgb): train on a mix")
        return [(self.water, self.config.water_weight)]

    def classed(self, judged: Judged) -> Optional[torch.Tensor]:
        """The pixels the class decision scores: the labelled ones."""
        return judged.labelled

    def step(self, source: torch.Tensor, target: torch.Tensor, labelled: Optional[torch.Tensor] = None,
             dry: Optional[torch.Tensor] = None, rendered: Optional[torch.Tensor] = None, step: int = 10**9) -> dict:
        """One iteration at global step ``step``; the losses by name (``g_<term>``, ``d_real``, ``d_fake``).
        ``labelled`` (N, 1, H, W) of 0 and 1 marks the pixels the target knows: the L1 term is their mean, and
        the real pair shows the generator's own output elsewhere. ``dry`` (the same shape) marks unlabelled
        pixels known to be dry land, ``rendered`` (N, 1) of 0 and 1 the samples whose map is rendered from class
        labels (None: none is); terms may read both."""
        source, target = self._to_device(source), self._to_device(target)
        self.generator.train()
        self.discriminator.train()
        warming = step < self.config.d_warmup_steps
        with self.precision.autocast(), torch.set_grad_enabled(not warming):
            fake = self.g_train(source)
        if labelled is not None:
            labelled = self._to_device(labelled)
            target = labelled * target + (1 - labelled) * fake.detach().float()
        d_real, d_fake, features = self._discriminator_step(source, target, fake)
        losses = {f"g_{name}": 0.0 for name in self.TERMS}
        if warming:  # the generator stays as it is while the new discriminator learns to judge it
            self.scaler.update()
            return {**losses, "g_l1": self._l1(fake.detach().float(), target, labelled).item(), "d_real": d_real,
                    "d_fake": d_fake}

        # Generator: fool the (frozen) discriminator, plus lambda * L1 to the real map, plus the optional terms.
        set_requires_grad(self.discriminator, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            logits, fake_features = self.d_frozen(torch.cat([source, fake], 1), features=True)
        judged = Judged(source, target, fake.float(), labelled, None if dry is None else self._to_device(dry),
                        None if rendered is None else self._to_device(rendered), logits.float(), fake_features,
                        features)
        g_loss, values = weighed_sum(self.terms, judged, self.adversarial_weight(step))
        self.scaler.scale(g_loss).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        set_requires_grad(self.discriminator, True)
        self.update_ema()
        return {**losses, **{f"g_{name}": value.item() for name, value in values.items()}, "d_real": d_real,
                "d_fake": d_fake}

    def _discriminator_step(self, source: torch.Tensor, target: torch.Tensor,
                            fake: torch.Tensor) -> tuple[float, float, list]:
        """Real pairs -> 1, generated pairs -> 0, the loss halved; its two halves, and the features of both pairs
        (for feature matching)."""
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
        return d_real.item(), d_fake.item(), features

    def _l1(self, fake: torch.Tensor, target: torch.Tensor, labelled: Optional[torch.Tensor]) -> torch.Tensor:
        """Mean absolute error over the labelled pixels (all of them when ``labelled`` is None)."""
        if labelled is None:
            return self.l1_loss(fake, target)
        return ((fake - target).abs() * labelled).sum() / (labelled.sum() * fake.shape[1]).clamp(min=1)

    def _model_colour(self, rgb: Optional[list]) -> Optional[torch.Tensor]:
        """Colours in 8-bit RGB ((3,) or (K, 3)) in the model's range on its device; None stays None."""
        return None if rgb is None else to_model_range(torch.tensor(rgb, dtype=torch.float32, device=self.device))

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


def weighed_sum(terms: list[LossTerm], judged: Judged, adversarial: float) -> tuple[torch.Tensor, dict]:
    """The generator's loss: each term's loss times its weight (an adversarial term's also times
    ``adversarial``), added up in the terms' order; and each term's loss by name."""
    total, values = None, {}
    for term in terms:
        values[term.name] = value = term.loss(judged)
        weighed = (adversarial * term.weight if term.adversarial else term.weight) * value
        total = weighed if total is None else total + weighed
    return total, values


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


