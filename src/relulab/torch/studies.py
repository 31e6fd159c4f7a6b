"""``relulab.torch.study``: which activation suits *your* PyTorch model, on your data, with
evidence: every activation over seeds, trained (seeds vectorised where the model allows),
scored, compared with the statistics, stored, reported.

::

    result = relulab.torch.study(lambda act: nn.Sequential(nn.Linear(64, 64), act,
                                                           nn.Linear(64, 10)),
                                 (X_train, y_train), (X_test, y_test),
                                 task="classification",
                                 activations=["relu", "leaky_relu", "gelu", "silu"])
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from relulab.errors import RelulabError
from relulab.paths import DEFAULT_DB
from relulab.result import StudyResult
from relulab.study.task_inputs import named, run_user_study, task_data
from relulab.torch.modules import is_activation, module
from relulab.torch.swap import swap_activations

__all__ = ["factory", "study"]


class _Function(nn.Module):
    """A user's activation function (``x -> y``) as a module, so its site can be watched."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def factory(activation: Any) -> Callable[[], nn.Module]:
    """What makes a fresh module of ``activation``: for a name of relulab's family, PyTorch's
    own module of that function where it has one (``nn.ReLU``, ``nn.GELU``, ...: the same
    values, PyTorch's kernels) and relulab's otherwise (PReLU's learnable slope, a
    registered activation); an ``nn.Module`` class (called with no arguments), an
    ``nn.Module`` instance (deep-copied each time) or a function ``x -> y``."""
    if isinstance(activation, str):
        ours = module(activation)  # an unknown name fails here, in one line
        native = getattr(nn, type(ours).__name__, None)
        if (native is not None and type(ours).__name__ != "Identity"
                and not any(True for _ in ours.parameters())):
            # PyTorch's own module for the same function with the same defaults: its
            # fused kernels train the study about twice as fast as relulab's array-API
            # definition (benchmarks/torch_study.py --native)
            return native
        return lambda: module(activation)
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    if isinstance(activation, nn.Module):
        return lambda: copy.deepcopy(activation)
    if callable(activation):
        return lambda: _Function(activation)
    raise RelulabError(f"activation {activation!r} is neither a name, an nn.Module nor a "
                       "function; pass e.g. 'relu', nn.GELU or torch.tanh")


def _swapping(model: nn.Module) -> Callable[[nn.Module], nn.Module]:
    """``build`` for a model that hard-codes its activations: a deep copy of ``model`` per
    arm and seed (the user's model is never touched), each activation module swapped for
    the one given (one module used at several places stays one), and every layer with
    ``reset_parameters`` re-initialised from the seed the study set."""
    if not any(is_activation(m) for m in model.modules()):
        raise RelulabError(f"the model {type(model).__name__} holds no activation module "
                           "to swap (activations called as functions, F.relu(x), are code); "
                           "pass build=lambda act: YourModel(act) instead")

    def build(activation: nn.Module) -> nn.Module:
        copy_ = copy.deepcopy(model)
        for m in copy_.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset) and not is_activation(m):
                reset()
        return swap_activations(copy_, activation)

    return build


def study(build: Callable[[nn.Module], nn.Module] | nn.Module, train: Any, test: Any, *,
          task: str, activations: Sequence[Any] = ("relu", "leaky_relu", "gelu", "silu"),
          seeds: int = 10, epochs: int = 20, batch_size: int = 64,
          learning_rate: float = 1e-3, optimizer: str = "adam",
          validation: Any = None, patience: int | None = None, reference: Any = None,
          loss: Callable[[Any, Any], Any] | None = None, metrics: Any = None,
          db: Any = DEFAULT_DB,
          report: Any = None, json: Any = None, progress: bool | Callable[[Any], None] = True,
          name: str = "", seed_offset: int = 0, vectorise: bool = True,
          unit_axis: int | None = None) -> StudyResult:
    """Study the activations of a PyTorch model on your data: every activation over
    ``seeds`` seeds, paired (seed ``s`` of every activation starts from the same weights
    where the shapes agree and sees the same batches), scored on ``test``, compared with
    ``reference`` (the first activation by default) and stored in ``db`` (a rerun resumes;
    ``db=None`` keeps nothing); ``report``/``json`` name files to write.

    ``build(activation) -> nn.Module`` makes a fresh model around the activation module it
    is given; or pass a model instance that hard-codes ``nn.ReLU`` (or any activation
    module), and each arm trains a re-initialised deep copy with its activations swapped.
    ``train``/``test``/``validation``: ``(X, y)`` tensors or arrays, a ``Dataset`` or a
    ``DataLoader``. ``task``: ``"classification"`` (the model outputs one logit per
    class; cross-entropy; accuracy, log loss, macro-F1) or ``"regression"`` (one output;
    MSE; RMSE, MAE); ``loss(output, target)`` replaces the loss; ``metrics={name: fn}``
    (or ``{name: (fn, "higher")}``) adds your own, ``fn(y, predictions)`` on the test
    predictions (class probabilities, or values). ``activations``: names
    of relulab's family or registered ones, ``nn.Module`` classes or instances, or
    functions. Adam's betas and eps are PyTorch's defaults. ``patience`` stops a seed after
    that many epochs without a better validation loss and keeps its best weights. Seeds
    train as one vectorised program (``torch.func``) where the model allows it, else one by
    one (the result's warnings say why); ``vectorise=False`` asks for the loop."""
    from relulab.torch.vectorised import TorchEngine

    arms = named(activations)
    makers = {n: factory(a) for n, a in arms.items()}
    builder = _swapping(build) if isinstance(build, nn.Module) else build
    if not callable(builder):
        raise RelulabError(f"build must be a function activation -> nn.Module or an "
                           f"nn.Module, got {type(build).__name__}")
    data = task_data(train, test, validation, task, name or "data")
    engine = TorchEngine(builder, makers, loss=loss, unit_axis=unit_axis, vectorise=vectorise)
    return run_user_study(engine, arms, data, loss=loss, metrics=metrics, eps=1e-8, db=db,
                          report=report, json=json, progress=progress, task=task,
                          seeds=seeds, epochs=epochs, batch_size=batch_size,
                          learning_rate=learning_rate, optimizer=optimizer,
                          patience=patience, reference=reference, name=name,
                          seed_offset=seed_offset)
