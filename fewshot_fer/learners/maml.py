"""MAML: model-agnostic meta-learning (Finn, Abbeel & Levine, ICML 2017), with ``torch.func``.

Each episode adapts a linear head (and, with ``adapt="all"``, the whole backbone) by a few
gradient steps on the support set; the query loss of the adapted model trains the initial
weights. The head is created per episode, so any ``n_way`` works: ``head_init="proto"``
starts it from the support prototypes (``W = 2 c_k``, ``b = -|c_k|^2``, so step 0 is a
prototypical network; Triantafillou et al. 2020), ``"zero"`` from zeros.

Second order (default) back-propagates through the inner updates (``create_graph=True``);
``first_order=True`` treats the inner gradients as constants (FOMAML).

Batch norm: ``batch_norm="transductive"`` (default, as in Finn et al.'s code) normalises every
pass with the statistics of its own batch (support during the inner steps, the query batch for
the query), in training and in evaluation; running statistics are neither used nor updated.
``"running"`` uses batch statistics in training (updating the running ones) and the running
statistics in evaluation, so predictions do not depend on which images share a batch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from torch.func import functional_call

from .base import MAX_STEPS, FewShotLearner, Predictor, check_support_labels, register_learner
from .protonet import class_means


@contextmanager
def batch_norm_in_train_mode(module: nn.Module, enabled: bool) -> Iterator[None]:
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if enabled else []
    modes = [m.training for m in norms]
    for m in norms:
        m.train()
    try:
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)


@register_learner("maml")
class MAML(FewShotLearner):
    episode_independent_embedding = False

    def __init__(self, backbone: nn.Module, inner_steps: int = 5, inner_lr: float = 0.1,
                 eval_steps: int | None = 10, first_order: bool = False, adapt: str = "head",
                 head_init: str = "proto", batch_norm: str = "transductive") -> None:
        super().__init__(backbone)
        if not 1 <= inner_steps <= MAX_STEPS or (eval_steps is not None and not 1 <= eval_steps <= MAX_STEPS) \
                or not inner_lr > 0:
            raise ValueError(f"inner_steps and eval_steps must be from 1 to {MAX_STEPS} and inner_lr > 0, got {inner_steps}, "
                             f"{eval_steps} and {inner_lr}.")
        for name, value, allowed in (("adapt", adapt, ("head", "all")), ("head_init", head_init, ("proto", "zero")),
                                     ("batch_norm", batch_norm, ("transductive", "running"))):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
        self.inner_steps, self.inner_lr, self.first_order = inner_steps, inner_lr, first_order
        self.eval_steps = eval_steps or inner_steps
        self.adapt_all, self.head_init, self.transductive = adapt == "all", head_init, batch_norm == "transductive"

    def features(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``[B, D]`` computed with the given (possibly adapted) parameters."""
        state = dict(params)
        if self.transductive:  # fresh copies: batch norm's running-stat updates go nowhere
            state.update({k: v.clone() for k, v in self.backbone.named_buffers()})
        with batch_norm_in_train_mode(self.backbone, self.transductive):
            return functional_call(self.backbone, state, (x,)).flatten(1)

    def adapted_weights(self, support_x: torch.Tensor, support_y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The inner loop: backbone parameters (adapted or not) and the head ``weight [n_way, D]``,
        ``bias [n_way]`` after the inner steps on the support set."""
        n_way = check_support_labels(support_y)
        outer = torch.is_grad_enabled() and self.training
        create_graph = outer and not self.first_order
        with torch.enable_grad():  # the inner loop needs gradients even under torch.no_grad()
            body = dict(self.backbone.named_parameters())
            f = self.features(body, support_x)
            if self.head_init == "proto":
                prototypes = class_means(f, support_y, n_way)
                head = {"weight": 2 * prototypes, "bias": -prototypes.pow(2).sum(-1)}
            else:
                head = {"weight": f.new_zeros(n_way, f.shape[1]), "bias": f.new_zeros(n_way)}
            if not outer:  # evaluation: adapt from detached leaves, keep no graph
                head = {k: v.detach().requires_grad_() for k, v in head.items()}
            for step in range(self.inner_steps if self.training else self.eval_steps):
                if self.adapt_all and step > 0:
                    f = self.features(body, support_x)
                loss = nn.functional.cross_entropy(f @ head["weight"].T + head["bias"], support_y)
                names = list(head) + (list(body) if self.adapt_all else [])
                tensors = list(head.values()) + (list(body.values()) if self.adapt_all else [])
                grads = torch.autograd.grad(loss, tensors, create_graph=create_graph, retain_graph=outer,
                                            allow_unused=True)
                updated = {n: t if g is None else t - self.inner_lr * (g if create_graph else g.detach())
                           for n, t, g in zip(names, tensors, grads)}
                head = {k: updated[k] for k in head}
                if self.adapt_all:
                    body = {k: updated[k] for k in body}
        if not outer:
            head = {k: v.detach() for k, v in head.items()}
            body = {k: v.detach() for k, v in body.items()}
        return {"body": body, **head}

    def predict(self, weights: dict, query_x: torch.Tensor) -> torch.Tensor:
        return self.features(weights["body"], query_x) @ weights["weight"].T + weights["bias"]

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """``[n_way * k_shot, C, H, W]``, ``[n_way * k_shot]``, ``[n_query_total, C, H, W]`` ->
        logits ``[n_query_total, n_way]`` of the model adapted to the support set."""
        return self.predict(self.adapted_weights(support_x, support_y), query_x)

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor) -> Predictor:
        weights = self.adapted_weights(support_x, support_y)
        return lambda query_x: self.predict(weights, query_x)
