"""What decides a model and its training, as plain data: :class:`ModelSpec`,
:class:`TrainSpec`, and the names they choose among.

No JAX and no NumPy here, so a study config derives its specs the moment it is made
(:meth:`TrainSpec.from_config`, the one place a config's model and training fields are
read) and a user's mistake is one line before anything heavy is imported. Each field is
checked once, by the spec that owns it; the config checks only its own fields.

The registries read their names from here: ``relulab.models.FAMILIES`` holds the module
``relulab.models.NAME`` of each name in :data:`MODELS`, and
``relulab.models.initializers.INITS`` the initialiser of each name in :data:`INITS`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from relulab.errors import RelulabError

# The model families: a family NAME is the module relulab.models.NAME.
MODELS = ("lstm", "mlp", "gru", "tcn")
# The families that initialise as Keras' own layers do (LSTM, GRU, Conv1D), whatever --init.
KERAS_INIT = ("lstm", "gru", "tcn")
# A user's own model (relulab.torch.study, relulab.keras.study): trained by its framework,
# described by StudyConfig.model_id; relulab's JAX trainer has no such family.
USER_MODEL = "user"
# The MLP's hidden-layer initialisers (relulab.models.initializers).
INITS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
         "orthogonal", "rai")
DEFAULT_INIT = "glorot_uniform"  # Keras' Dense default, and the LSTM's kernels'
# ReDo's tau (Sokar et al. 2023): a unit is dormant when its mean |output| is at most this
# share of its site's average (relulab.diagnostics reports it).
DORMANT_THRESHOLD = 0.1


def _at_least_one(spec: Any, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = getattr(spec, key)
        if value is not None and int(value) < 1:
            raise RelulabError(f"{key} must be at least 1, got {value}; pass "
                               f"--{key.replace('_', '-')} 1 or more"
                               + (", or leave it out" if key == "patience" else ""))


@dataclass(frozen=True)
class ModelSpec:
    """What decides a model's shape and computation, apart from its activation: small,
    frozen and hashable, so compiled programs can be cached on it.

    ``units`` is the LSTM's or GRU's units per layer, the MLP's width or the TCN's channels;
    ``layers`` the number of stacked LSTM or GRU layers, MLP hidden layers or TCN residual
    blocks; ``recurrent_activation`` is the LSTM's and GRU's gate activation (unused by the
    MLP and the TCN). ``init`` is the MLP's hidden-layer initialiser, a name of
    :data:`INITS` (the ``Dense(1)`` head stays Glorot-uniform). The LSTM, the GRU and the
    TCN initialise as Keras' ``LSTM``, ``GRU`` and ``Conv1D`` do and refuse any other
    ``init`` (:data:`KERAS_INIT`): an initialiser silently ignored would make two studies
    look different that are not.
    """

    family: str = "lstm"
    units: int = 4
    layers: int = 1
    recurrent_activation: str = "sigmoid"
    init: str = DEFAULT_INIT
    # The head's width: 1 for one-step forecasts (Keras' Dense(1)), H for a direct
    # multi-output forecast of H steps (StudyConfig.horizon with strategy "direct").
    outputs: int = 1

    def __post_init__(self) -> None:
        if self.family not in (*MODELS, USER_MODEL):
            raise RelulabError(f"unknown model {self.family!r}; choose one of: "
                               f"{', '.join(MODELS)}")
        if self.init not in INITS:
            raise RelulabError(f"unknown init {self.init!r}; choose one of: {', '.join(INITS)}")
        if self.family in KERAS_INIT and self.init != DEFAULT_INIT:
            raise RelulabError(f"init {self.init!r} applies to the MLP's hidden layers; the "
                               f"{self.family.upper()} initialises as Keras does "
                               f"({DEFAULT_INIT} kernels"
                               f"{', orthogonal recurrent kernels' if self.family != 'tcn' else ''}"
                               "): pass --model mlp, or leave --init out")
        _at_least_one(self, ("units", "layers", "outputs"))


@dataclass(frozen=True)
class TrainSpec:
    """Everything that decides a compiled training program apart from the activation and
    the data's shapes: the model and Keras ``fit``'s settings. Frozen and hashable, so the
    compiled programs are cached on it.

    ``patience``: ``EarlyStopping(monitor="val_loss", patience=patience,
    restore_best_weights=True)``, or None for none. The Adam fields are Keras' names.
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    epochs: int = 500
    batch_size: int = 1
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    patience: int | None = None
    track_units: bool = True  # per-site dead / dormant units (TrainOutput.unit_stats)
    dormant_threshold: float = DORMANT_THRESHOLD  # ReDo's tau
    # "drawn": every epoch's shuffle order drawn at the start (epochs x samples int32 a
    # model, the local models'); "streamed": each epoch's drawn inside the loop from the
    # model's key folded with the epoch, each step computing its own batch's samples
    # (training.epoch_permutation), so no order is held (a global model
    # over a panel, whose pooled windows would make the drawn orders large).
    shuffle: str = "drawn"

    def __post_init__(self) -> None:
        _at_least_one(self, ("epochs", "batch_size", "patience"))
        if self.shuffle not in ("drawn", "streamed"):
            raise RelulabError(f"shuffle must be 'drawn' or 'streamed', got {self.shuffle!r}")
        # Adam's step: a learning rate <= 0 walks uphill or stands still, and runs would
        # "train" silently; NaN or inf would poison every weight on the first step.
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise RelulabError(f"learning_rate must be a positive number, got "
                               f"{self.learning_rate}; pass e.g. --learning-rate 0.001")
        # Adam's moment decays: 1 would never update the moments (and divide by 0 in the
        # bias correction 1 - beta^t), a negative one makes them oscillate.
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0.0 <= value < 1.0):
                raise RelulabError(f"{key} must lie in [0, 1), got {value}; keep Adam's "
                                   f"default {_DEFAULTS[key]}")
        # eps keeps Adam's division by sqrt(v) finite; 0 divides by zero on flat gradients.
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise RelulabError(f"eps must be a small positive number, got {self.eps}; keep "
                               f"Keras' default {_DEFAULTS['eps']}")

    @classmethod
    def from_config(cls, config: Any) -> TrainSpec:
        """The training of a ``StudyConfig``, its model included: the one place its model
        and training fields are read (and so checked)."""
        model = ModelSpec(family=config.model, units=config.units, layers=config.layers,
                          recurrent_activation=config.recurrent_activation, init=config.init,
                          outputs=head_width(config))
        return cls(model=model, epochs=config.epochs, batch_size=config.batch_size,
                   learning_rate=config.learning_rate, beta1=config.beta1,
                   beta2=config.beta2, eps=config.eps, patience=config.patience)


def head_width(config: Any) -> int:
    """How many values a forecaster's head puts out: the horizon for a direct multi-step
    forecast, else 1 (a one-step model, fed its own forecasts when the strategy is
    recursive)."""
    horizon = int(getattr(config, "horizon", 1))
    return horizon if getattr(config, "strategy", "direct") == "direct" else 1


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainSpec)}
