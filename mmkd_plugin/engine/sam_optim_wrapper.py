"""Foret et al., "Sharpness-Aware Minimization for Efficiently Improving
Generalization" (ICLR 2021), the MI-aware optimiser of ReMem ("Mutual
Information-Aware Fine-tuning of Pretrained ViTs for Effective KD").

The whole two-pass update lives in :meth:`_SAMMixin.update_params`.
MMEngine's ``train_step`` hands an optim wrapper only the loss, so the
wrapper also records the model's loss forward while
``optim_wrapper.optim_context(model)`` is open (``BaseModel.train_step``
and ``MMDistributedDataParallel.train_step`` run it there) and replays it
at the perturbed weights. Any MMPretrain model is then trained with SAM by
config alone.
"""
import logging
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Union

import torch
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import nn


class _SAMMixin:
    """SAM's update on top of an MMEngine optim wrapper.

    One ``update_params(loss)``: (1) backward -> g at w; (2) under AMP
    unscale g, and skip the step if g is not finite; (3) perturb
    ``w <- w + e``, ``e = rho * g / ||g||`` (adaptive, Kwon et al. 2021:
    ``e = rho * w^2 g / ||w g||``); (4) replay the loss forward at w + e,
    backward -> g'; (5) restore w exactly (saved copies, no subtraction);
    (6) ``step()`` with g' (clipping, AMP unscale / inf skip / scale update
    as the base wrapper does them).

    Under DDP both gradients are synchronised: the first backward runs on
    the DDP module, so every replica perturbs by the same global-batch
    gradient (one all-reduce more than plain training).
    """

    def _init_sam(self, rho: float, adaptive: bool) -> None:
        if not rho > 0:
            raise ValueError(f'SAM rho must be > 0, got {rho}')
        if self._accumulative_counts != 1:
            raise ValueError(
                'SAM cannot drive gradient accumulation: the perturbation '
                'needs the full gradient of each step; set '
                'accumulative_counts=1 (got '
                f'{self._accumulative_counts})')
        self.rho = float(rho)
        self.adaptive = bool(adaptive)
        self._recorded = None  # (model, [(args, kwargs)]) of the last step

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The base context, recording each call of ``model``."""
        calls = []

        def record(module, args, kwargs):
            calls.append((args, kwargs))

        handle = model.register_forward_pre_hook(record, with_kwargs=True)
        try:
            with super().optim_context(model):
                yield
        finally:
            handle.remove()
            self._recorded = (model, calls)

    def _replay(self) -> Callable[[], torch.Tensor]:
        """The recorded loss forward, as a closure returning the loss."""
        recorded, self._recorded = self._recorded, None
        if recorded is None or len(recorded[1]) != 1:
            calls = 0 if recorded is None else len(recorded[1])
            raise RuntimeError(
                'SAMOptimWrapper replays the loss forward, so the model must '
                'be called exactly once inside optim_wrapper.optim_context'
                f'(model) before update_params (got {calls} calls); as '
                'BaseModel.train_step does, or pass closure=')
        model, [(args, kwargs)] = recorded
        inner = model.module if is_model_wrapper(model) else model

        def closure() -> torch.Tensor:
            with super(_SAMMixin, self).optim_context(model):
                losses = model(*args, **kwargs)
            return inner.parse_losses(losses)[0]

        return closure

    def _params(self) -> List[torch.Tensor]:
        return [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.grad is not None
        ]

    def _unscale_first(self) -> None:
        """Undo the loss scale of the first gradient (AMP only)."""

    def _skip(self) -> None:
        """React to a non-finite first gradient (AMP: back off)."""
        print_log(
            'SAM: non-finite first gradient, step skipped',
            logger='current',
            level=logging.WARNING)

    @torch.no_grad()
    def _perturb(self) -> Optional[Dict[torch.Tensor, torch.Tensor]]:
        """``w <- w + e``; the original weights, or None if g is not
        finite (nothing changed then)."""
        params = self._params()
        if not params:
            return {}
        scaled = [
            p.grad * p.abs() if self.adaptive else p.grad for p in params
        ]
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g.float())
                         for g in scaled]))  # ||g|| (||w g|| adaptive)
        if not torch.isfinite(norm):
            return None
        self.message_hub.update_scalar('train/sam_grad_norm', float(norm))
        factor = self.rho / (norm + 1e-12)
        saved = {}
        for p, g in zip(params, scaled):
            saved[p] = p.detach().clone()
            # adaptive: w^2 g = |w| * (|w| g)
            step = g * p.abs() if self.adaptive else g
            p.add_(step * factor.to(p.dtype))
        return saved

    def update_params(  # type: ignore
            self,
            loss: torch.Tensor,
            step_kwargs: Optional[Dict] = None,
            zero_kwargs: Optional[Dict] = None,
            closure: Optional[Callable[[], torch.Tensor]] = None) -> None:
        """SAM's two-pass update; ``closure`` recomputes the loss at the
        current weights (default: replay the recorded loss forward)."""
        closure = closure or self._replay()
        self.backward(loss)  # g at w
        self._unscale_first()
        saved = self._perturb()
        if saved is None:
            self._skip()
        else:
            self.zero_grad()
            self.backward(closure())  # g' at w + e
            self._inner_count -= 1  # one update, one count
            with torch.no_grad():
                for p, w in saved.items():
                    p.copy_(w)
            self.step(**(step_kwargs or {}))  # base optimiser with g'
        self.zero_grad(**(zero_kwargs or {}))


@OPTIM_WRAPPERS.register_module()
class SAMOptimWrapper(_SAMMixin, OptimWrapper):
    """SAM (Foret et al., ICLR 2021) over any torch optimiser, fp32.

    Config: ``optim_wrapper=dict(type='SAMOptimWrapper', rho=0.05,
    optimizer=dict(type='AdamW', ...), clip_grad=...)``; any constructor
    (e.g. ``LearningRateDecayOptimWrapperConstructor``) builds it by type.
    ``clip_grad`` applies to the second gradient only (clipping by norm
    would not change the normalised first one). Use
    :class:`AmpSAMOptimWrapper` for mixed precision.

    Args:
        rho: radius of the perturbation, > 0.
        adaptive: ASAM's scale-invariant perturbation (scale by ``|w|``).
        **kwargs: :class:`~mmengine.optim.OptimWrapper` arguments;
            ``accumulative_counts`` must be 1.
    """

    def __init__(self, rho: float = 0.05, adaptive: bool = False, **kwargs):
        amp = {'loss_scale', 'dtype'} & set(kwargs)
        if amp:
            raise ValueError(f'SAMOptimWrapper got AMP arguments {sorted(amp)}'
                             '; use type=AmpSAMOptimWrapper')
        super().__init__(**kwargs)
        self._init_sam(rho, adaptive)


@OPTIM_WRAPPERS.register_module()
class AmpSAMOptimWrapper(_SAMMixin, AmpOptimWrapper):
    """SAM (Foret et al., ICLR 2021) with MMEngine's AMP semantics.

    The loss is scaled for each backward; the first gradient is unscaled
    before its norm and a non-finite one skips the whole update and backs
    the dynamic loss scale off; the second goes through
    :meth:`AmpOptimWrapper.step` (unscale, clip, skip on inf, update the
    scale). Unlike ``AmpOptimWrapper`` it also runs on CPU
    (``torch.amp.GradScaler('cpu')``, bfloat16 autocast).

    Args:
        rho, adaptive: as :class:`SAMOptimWrapper`.
        loss_scale: ``'dynamic'``, a float (static) or GradScaler kwargs.
        dtype: autocast dtype (``'float16'``, ``'bfloat16'``...).
    """

    def __init__(self,
                 rho: float = 0.05,
                 adaptive: bool = False,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 **kwargs):
        # AmpOptimWrapper.__init__ refuses CPU; its other methods are used
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            scaler_kwargs = {}
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            scaler_kwargs = dict(init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            scaler_kwargs = loss_scale
        else:
            raise ValueError('loss_scale must be "dynamic", a float or a '
                             f'dict, got {loss_scale!r}')
        self.loss_scaler = torch.amp.GradScaler(get_device(), **scaler_kwargs)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype must be one of {self.valid_dtypes}, '
                                 f'got {dtype!r}')
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype
        self._init_sam(rho, adaptive)

    def _unscale_first(self) -> None:
        inv = 1.0 / self.loss_scaler.get_scale()
        with torch.no_grad():
            for p in self._params():
                p.grad.mul_(inv)

    def _skip(self) -> None:
        # the step is skipped; a dynamic scale backs off as GradScaler
        # does on inf (scale * backoff, growth tracker reset)
        if self._scale_update_param is None and \
                self.loss_scaler.is_enabled():
            state = self.loss_scaler.state_dict()
            state['scale'] *= state['backoff_factor']
            state['_growth_tracker'] = 0
            self.loss_scaler.load_state_dict(state)
        print_log(
            'SAM: non-finite first gradient under AMP, step skipped, loss '
            f'scale now {self.loss_scaler.get_scale()}',
            logger='current',
            level=logging.WARNING)
