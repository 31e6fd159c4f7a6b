"""The study configuration: one frozen dataclass, stored with every result.

A config plus the data (identified by its content hash) determines a study's results
exactly, on a given machine: the seeds are ``seed_offset + range(seeds)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from relulab.errors import RelulabError

# The model families and the MLP's initialisers a config chooses among (relulab.specs, where
# the registries read them too), re-exported for the CLI's help.
from relulab.specs import DEFAULT_INIT, TrainSpec
from relulab.specs import INITS as INITS
from relulab.specs import MODELS as MODELS

CORRECTIONS = ("holm", "bonferroni", "none")  # relulab.stats.adjust_p's methods
TASKS = ("forecast", "classification", "regression")  # relulab.metrics.TASKS' keys
OPTIMIZERS = ("adam", "adamw", "sgd")
STRATEGIES = ("direct", "recursive")  # how a forecast of more than one step is made
POOLINGS = ("local", "global")  # one model per series, or one across the panel
SCALERS = ("global", "window-minmax", "window-standard", "robust", "diff")  # windows.SCALERS
# The baselines a forecast is scored beside (relulab.baselines): the protocol's (naive,
# seasonal naive with --season, ARIMA), or the field's besides (AutoETS, seasonal AutoARIMA
# and seasonal naive with the season of the dates; statsforecast, relulab[forecast]).
BASELINE_SETS = ("protocol", "field")


@dataclass(frozen=True)
class StudyConfig:
    """Everything that decides a study's numbers.

    Defaults are the reference experiment of PROTOCOL.md (the ``seed`` preset) except for
    ``activations`` and ``seeds``, which a study exists to vary.
    """

    # What is compared.
    activations: tuple[str, ...] = ("tanh", "relu")
    reference: str = "tanh"  # each activation is compared against this one (Keras' default)
    seeds: int = 10
    seed_offset: int = 0

    # What is learnt: "forecast" (a series, PROTOCOL.md) or, for a user's model or a table
    # (relulab.tasks), "classification" | "regression".
    task: str = "forecast"

    # Model.
    model: str = "lstm"  # "lstm" | "mlp" | "user" (a user's PyTorch or Keras model)
    # A user's model, as its study knows it: framework, architecture and parameter count
    # hashed (relulab.study.task_study.model_id); "" for relulab's own models.
    model_id: str = ""
    units: int = 4  # LSTM units per layer, or MLP width
    layers: int = 1  # stacked LSTM layers, or MLP hidden layers
    recurrent_activation: str = "sigmoid"
    init: str = DEFAULT_INIT  # the MLP's hidden-layer initialiser (the LSTM's is Keras')

    # Data and windows (PROTOCOL.md).
    lookback: int = 5
    test_size: int = 15
    train_fraction: float = 0.8  # of the points before the test window
    # How a forecast's windows are scaled (relulab.windows.SCALERS): "global" min-max on the
    # train region (the protocol's), per-window "window-minmax" | "window-standard" |
    # "robust" (NeuralForecast's temporal normalisation), or "diff" (first differences).
    scaler: str = "global"
    season: int | None = None  # seasonal period for seasonal naive and MASE (None: m = 1)
    # Steps ahead each forecast path reaches (1: the protocol's one-step forecasts). The test
    # region is tiled by paths of ``horizon`` steps, each from the actual values before its
    # origin (relulab.windows). "direct": one multi-output head trained on H-step targets;
    # "recursive": the one-step model fed its own forecasts.
    horizon: int = 1
    strategy: str = "direct"
    # "local": one model per series (the protocol's); "global": one model per activation
    # and seed trained on every series' windows pooled (relulab.study.global_trainer),
    # scored per series. A global study's config carries its panel's identity
    # (panel_key, set by the plan): a series' numbers then depend on the whole panel.
    pooling: str = "local"
    panel_key: str = ""
    baselines: str = "protocol"  # "protocol" | "field" (BASELINE_SETS)
    test_fraction: float = 0.2  # a table's share of rows held out for the test (--table)

    # Training (Keras defaults).
    epochs: int = 500
    batch_size: int = 1
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    optimizer: str = "adam"  # "adam" | "adamw" | "sgd" (tasks); forecasts train with Adam
    validation_split: float = 0.2
    patience: int | None = None  # early stopping on validation loss, best weights restored

    # Evaluation.
    folds: int = 1  # rolling-origin folds; 1 = the single split of PROTOCOL.md
    bootstrap: int = 2000
    confidence: float = 0.95
    # The verdicts (relulab.stats): the multiplicity correction of the p-values over the
    # study's comparisons, and the relative RMSE difference within which two activations
    # count as equivalent. They decide no training, only the analysis.
    correction: str = "holm"  # "holm" | "bonferroni" | "none"
    equivalence_margin: float = 0.02

    # Where the series comes from, so `Study(config).run()` can load it and a stored result
    # says what it was run on: a CSV path, "bundled:NAME" or "dataset:NAME[:LOCAL_FILE]"
    # (read by relulab.data.DataSource.from_config; the config does not import the data
    # package, which sits above it). Not part of the hash: the data's
    # content hash is.
    data: str | None = field(default=None, compare=False)
    column: str | None = field(default=None, compare=False)
    date_column: str | None = field(default=None, compare=False)
    date_format: str | None = field(default=None, compare=False)  # strftime, e.g. %d/%m/%Y

    # Free-form label; not part of the hash.
    name: str = field(default="", compare=False)
    # A user's model in words (framework, parameter count, its repr) for the report; what
    # decides the numbers is model_id, hashed.
    model_description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "activations", tuple(self.activations))
        if self.task not in TASKS:
            raise RelulabError(f"unknown task {self.task!r}; choose one of: {', '.join(TASKS)}")
        if self.optimizer not in OPTIMIZERS:
            raise RelulabError(f"unknown optimizer {self.optimizer!r}; choose one of: "
                               f"{', '.join(OPTIMIZERS)}")
        if self.task == "forecast" and (self.optimizer != "adam" or self.model == "user"):
            raise RelulabError("relulab's forecasters train with Adam (Keras' LSTM semantics); "
                               "leave optimizer at 'adam' and model at 'lstm' or 'mlp'")
        if self.scaler not in SCALERS:
            raise RelulabError(f"unknown scaler {self.scaler!r}; choose one of: "
                               f"{', '.join(SCALERS)}")
        if self.pooling not in POOLINGS:
            raise RelulabError(f"unknown pooling {self.pooling!r}; choose one of: "
                               f"{', '.join(POOLINGS)}")
        if self.pooling == "global" and self.task != "forecast":
            raise RelulabError("a global model pools a panel's series: it applies to "
                               "forecasts; leave --global out for a table or your own model")
        if self.strategy not in STRATEGIES:
            raise RelulabError(f"unknown strategy {self.strategy!r}; choose one of: "
                               f"{', '.join(STRATEGIES)}")
        if int(self.horizon) < 1:
            raise RelulabError(f"horizon must be at least 1, got {self.horizon}; pass "
                               "--horizon 1 or more")
        if self.task != "forecast" and int(self.horizon) != 1:
            raise RelulabError("a horizon applies to forecasts; leave --horizon out for a "
                               "classification or regression task")
        if int(self.horizon) > int(self.test_size):
            raise RelulabError(f"horizon {self.horizon} is longer than the test region of "
                               f"{self.test_size} points, which could not hold one path; "
                               f"raise --test-size to at least {self.horizon} or lower "
                               "--horizon")
        if self.baselines not in BASELINE_SETS:
            raise RelulabError(f"unknown baselines {self.baselines!r}; pass --baselines with "
                               f"one of: {', '.join(BASELINE_SETS)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise RelulabError(f"test_fraction must lie in (0, 1), got {self.test_fraction}; "
                               "pass e.g. --test-fraction 0.2")
        # The model and training fields are the specs' (relulab.specs), checked there once.
        TrainSpec.from_config(self)
        if not self.activations:
            raise RelulabError("no activations given; pass e.g. --activations tanh,relu")
        if len(set(self.activations)) != len(self.activations):
            raise RelulabError(f"activations repeat: {', '.join(self.activations)}")
        for key in ("seeds", "lookback", "test_size", "folds", "bootstrap"):
            if int(getattr(self, key)) < 1:
                raise RelulabError(f"{key} must be at least 1, got {getattr(self, key)}; "
                                   f"pass --{key.replace('_', '-')} 1 or more")
        if not 0.0 < self.train_fraction < 1.0:
            raise RelulabError(f"train_fraction must lie in (0, 1), got {self.train_fraction}; "
                               "pass a fraction such as 0.8")
        if not 0.0 <= self.validation_split < 1.0:
            raise RelulabError(
                f"validation_split must lie in [0, 1), got {self.validation_split}; "
                "pass --validation-split 0.2 (Keras' default) or 0 for none"
            )
        if self.patience is not None and self.validation_split == 0:
            raise RelulabError("early stopping (--patience) needs a validation_split > 0")
        if not 0.0 < self.confidence < 1.0:
            raise RelulabError(f"confidence must lie in (0, 1), got {self.confidence}; pass "
                               "e.g. 0.95")
        if self.correction not in CORRECTIONS:
            raise RelulabError(f"unknown correction {self.correction!r}; pass --correction "
                               f"with one of: {', '.join(CORRECTIONS)}")
        margin = self.equivalence_margin
        if not (isinstance(margin, int | float) and math.isfinite(margin) and 0 < margin < 1):
            raise RelulabError(f"equivalence_margin must lie in (0, 1), got {margin}; pass "
                               "--equivalence-margin as a relative RMSE difference, e.g. 0.02")
        if self.season is not None and int(self.season) < 1:
            raise RelulabError(f"season must be at least 1, got {self.season}; pass --season "
                               "with the seasonal period (e.g. 52 for weekly data), or leave it "
                               "out")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.seeds))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["activations"] = list(self.activations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise RelulabError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def replace(self, **changes: Any) -> StudyConfig:
        return dataclasses.replace(self, **changes)

    def key(self) -> str:
        """Hash of everything that decides the study's numbers; the store finds a study by it."""
        return _hash(self._hashed())

    def _hashed(self) -> dict[str, Any]:
        # A field added after the first schema drops out while it holds its default, so a
        # study stored before the field existed keeps its key.
        d = self.to_dict()
        for k in _NOT_HASHED:
            d.pop(k)
        if d["horizon"] == 1:  # one step: direct and recursive are the same forecasts
            d["strategy"] = _FIELD_DEFAULTS["strategy"]
        for k in _ADDED:
            if d[k] == _FIELD_DEFAULTS[k]:
                d.pop(k)
        # A registered activation is known by its name only in the process that registered
        # it: its definition's fingerprint keeps a study of another definition under the
        # same name from resuming this one's runs (built-in names add nothing).
        from relulab.activations import fingerprint

        names = (*self.activations, self.recurrent_activation)
        prints = {n: fingerprint(n) for n in names}
        registered = {n: f for n, f in prints.items() if f is not None}
        if registered:
            d["registered"] = registered
        return d


# Labels and data locations: the same study on the same numbers has the same key wherever
# the file lies (the store pairs the key with the data's content hash).
_NOT_HASHED = ("name", "data", "column", "date_column", "date_format", "model_description")

# Fields added after the first schema: their defaults reproduce the numbers of the studies
# stored before them, and they are hashed only when they differ from it (see
# StudyConfig._hashed). A new field that changes numbers goes here, its "as before" value
# its default.
_ADDED = ("init", "correction", "equivalence_margin", "task", "model_id", "optimizer",
          "test_fraction", "scaler", "horizon", "strategy", "pooling", "panel_key",
          "baselines")
_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(StudyConfig)}


def _hash(d: dict[str, Any]) -> str:
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


PRESETS: dict[str, dict[str, Any]] = {
    # PROTOCOL.md's reference experiment, exactly.
    "seed": dict(
        model="lstm", units=4, layers=1, lookback=5, test_size=15, train_fraction=0.8,
        epochs=500, batch_size=1, validation_split=0.2, learning_rate=1e-3,
    ),
}

DEMO_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "gelu")


def preset(preset_name: str, /, **overrides: Any) -> StudyConfig:
    if preset_name not in PRESETS:
        raise RelulabError(
            f"unknown preset {preset_name!r}; choose one of: {', '.join(PRESETS)}"
        )
    return StudyConfig(**{**PRESETS[preset_name], **overrides})
