"""``relulab.keras.engine_keras``: your own Keras 3 model, trained for every activation over
seeds, as a :class:`relulab.tasks.Engine`.

:class:`KerasEngine` takes a function ``build(activation) -> keras.Model`` that makes a
fresh model around the activation it is handed, and the activations to compare
(``{name: factory}``, ``factory()`` returning what to hand to ``build``: a name Keras
knows such as ``"relu"``, a relulab activation such as ``relulab.activations.get("gelu")``,
a Keras activation function, or an activation layer such as ``keras.layers.PReLU()``)::

    >>> def build(act):
    ...     inputs = keras.Input((64,))
    ...     h = keras.layers.Dense(128, activation=act)(inputs)
    ...     return keras.Model(inputs, keras.layers.Dense(10)(h))   # logits
    >>> engine = KerasEngine(build, {"relu": lambda: "relu",
    ...                              "gelu": lambda: activations.get("gelu")})
    >>> runs = engine.fit("gelu", seeds=range(5), data=task_data, config=study_config)

What it trains, per seed ``s`` of one activation:

- the model: ``keras.utils.set_random_seed(s)`` right before ``build`` (and before the
  factory), so every activation's seed ``s`` starts from the same weights wherever the
  shapes agree (a PReLU layer adds its own weights; the others are still drawn alike);
- the task's loss: cross-entropy from logits for a classification (the model outputs one
  logit per class, ``(n, classes)``, and its predictions are their softmax), mean squared
  error for a regression (the model outputs ``(n,)`` or ``(n, 1)``); ``loss=`` replaces
  the loss (the outputs stay logits, resp. numbers);
- the optimiser of the config: ``Adam`` / ``AdamW`` (Keras' default ``weight_decay``) with
  ``learning_rate``, ``beta1``, ``beta2``, ``eps``, or plain ``SGD`` with ``learning_rate``;
- the minibatches: epoch ``e`` visits the training examples in the order
  ``np.random.default_rng([s, e]).permutation(n)``, cut into ``batch_size`` rows (the
  last batch may be smaller), the same for every activation; one ``model.fit`` epoch on
  them, the epoch's loss Keras' mean over its examples;
- early stopping (``config.patience`` set and the data has validation examples): Keras'
  ``EarlyStopping(monitor="val_loss", patience, restore_best_weights=True)``, as
  :func:`relulab.training.early_stopping` (the first epoch always improves; training
  stops after ``patience`` epochs without a lower validation loss; the best epoch's
  weights make the predictions);
- divergence: an epoch whose training loss is not finite ends that seed; its record keeps
  the non-finite loss and the predictions of the weights it ended with, so relulab marks
  the run diverged (no exception).

Dead and dormant units (``track_units``): after every epoch the first ``max_track``
training inputs go through the model in inference mode and every *site* (each top-level
layer that applies the activation under study: a layer whose ``activation`` it is, or
the activation layer itself) is measured with :class:`relulab.keras.DeadUnitCallback`'s
definitions (:func:`~relulab.keras.callback.unit_activity`): ``epoch_stats`` and
``unit_stats`` carry the names of :class:`relulab.training.TrainOutput`. A site is named
by its layer's name; Keras numbers unnamed layers by a global counter (``dense_3`` when
three were made before), so an unnamed layer's name is renumbered within the model
(:func:`site_names`): the same for every seed and activation, whatever was built before.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np

from relulab.errors import RelulabError
from relulab.keras.callback import abs_sums, activation_name, probe_of, unit_activity
from relulab.specs import DORMANT_THRESHOLD
from relulab.tasks import Fitted, TaskData

__all__ = ["KerasEngine", "batch_order", "site_names", "unit_records"]

# How a fit trained its seeds (describe()["seeds"]).
VMAP, LOOP = "jax.vmap", "loop"
WHY_LOOPED = ("seeds looped: asked for (vectorise=False); each seed is its own Keras model "
              "and model.fit")
# Rows per forward pass when measuring units and predicting (not the training batch).
_EVAL_ROWS = 512
# At most this many layers are named in describe()'s one-line model.
_SHOWN_LAYERS = 12


# -- pure pieces ------------------------------------------------------------------------


def batch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which seed ``seed`` visits ``n`` training examples in ``epoch``: the
    same for every activation."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def _snake(name: str) -> str:
    """A class name as Keras names its layers (``Conv2D`` -> ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def site_names(layers: Sequence[Any]) -> list[str]:
    """Names for a model's ``layers`` (in model order) that do not depend on what was built
    before: a name Keras made itself (``dense``, ``dense_7``: the class's name and a
    counter) is renumbered by its place among the model's layers of that class
    (``dense``, ``dense_1``, ...); a name the user gave is kept. Unique."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        stem = _snake(type(layer).__name__)
        name = str(layer.name)
        if re.fullmatch(rf"{re.escape(stem)}(_\d+)?", name):
            k = counts.get(stem, 0)
            counts[stem] = k + 1
            name = stem if k == 0 else f"{stem}_{k}"
        names.append(name)
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, k = name, 1
        while candidate in taken:
            candidate, k = f"{name}_{k}", k + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique


def unit_records(sites: Sequence[str], dead: Sequence[Sequence[np.ndarray]],
                 dormant: Sequence[Sequence[np.ndarray]],
                 kept: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(epoch_stats, unit_stats)`` (:class:`relulab.training.TrainOutput`'s names) from
    per-epoch masks: ``dead[e][i]``, ``dormant[e][i]`` whether each unit of site ``i``
    was dead, dormant at the end of epoch ``e``; ``kept`` the epoch whose weights the run
    returns."""
    epoch_stats: dict[str, np.ndarray] = {}
    unit_stats: dict[str, np.ndarray] = {}
    epochs = len(dead)
    dead_units = np.zeros(epochs)
    all_units = 0
    for i, site in enumerate(sites):
        d = np.stack([np.asarray(m[i], bool) for m in dead])  # (epochs, units)
        z = np.stack([np.asarray(m[i], bool) for m in dormant])
        died = d.any(axis=0)
        death = np.where(died, d.argmax(axis=0), -1).astype(np.int32)
        later = np.arange(epochs)[:, None] > death[None, :]
        epoch_stats[f"dead_share:{site}"] = d.mean(axis=1, dtype=np.float64)
        epoch_stats[f"dormant_share:{site}"] = z.mean(axis=1, dtype=np.float64)
        unit_stats[f"dead:{site}"] = d[kept]
        unit_stats[f"dormant:{site}"] = z[kept]
        unit_stats[f"death_epoch:{site}"] = death
        unit_stats[f"came_back:{site}"] = (died & (later & ~d).any(axis=0))
        dead_units += d.sum(axis=1)
        all_units += d.shape[1]
    if sites:
        epoch_stats["dead_fraction"] = dead_units / max(all_units, 1)
    return epoch_stats, unit_stats


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _Stopping(NamedTuple):
    """Keras' EarlyStopping between epochs (as :func:`relulab.training.early_stopping`)."""

    best_val: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    stop: bool = False


def _stopping_after(state: _Stopping, epoch: int, val_loss: float,
                    patience: int) -> tuple[_Stopping, bool]:
    """The state after ``epoch`` and whether that epoch improved (its weights are kept)."""
    improved = epoch == 0 or val_loss < state.best_val
    if improved:
        return _Stopping(val_loss, epoch, 0, False), True
    wait = state.wait + 1
    return state._replace(wait=wait, stop=wait >= patience and epoch > 0), False


# -- the engine -------------------------------------------------------------------------


def _applies(layer: Any, given: Any, resolved: Any) -> bool:
    """Whether ``layer`` applies the activation ``given`` (``resolved``: what Keras makes
    of it, for a name): it is the layer, or the layer's activation (or Lambda function)."""
    if layer is given:
        return True
    for attr in ("activation", "function"):
        fn = getattr(layer, attr, None)
        if fn is not None and (fn is given or (resolved is not None and fn is resolved)):
            return True
    return False


def _resolved(given: Any) -> Any:
    if not isinstance(given, str):
        return None
    try:
        return keras.activations.get(given)
    except (ValueError, TypeError):
        return None


def _optimizer(config: Any) -> Any:
    name = config.optimizer
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=config.learning_rate, beta_1=config.beta1,
                                     beta_2=config.beta2, epsilon=config.eps)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=config.learning_rate, beta_1=config.beta1,
                                      beta_2=config.beta2, epsilon=config.eps)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=config.learning_rate)
    raise RelulabError(f"KerasEngine: unknown optimizer {name!r}; choose adam, adamw or sgd")


def _shape_text(layer: Any) -> str:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return ""
    out = out[0] if isinstance(out, (list, tuple)) else out
    return " " + str(tuple(out.shape)).replace("None", "n")


def _model_text(model: Any) -> str:
    """One line: the model's class and its layers' classes with their output shapes."""
    parts = [f"{type(layer).__name__}{_shape_text(layer)}" for layer in model.layers]
    if len(parts) > _SHOWN_LAYERS:
        head, tail = parts[:_SHOWN_LAYERS - 2], parts[-2:]
        parts = [*head, f"... {len(parts) - len(head) - len(tail)} more", *tail]
    unbuilt = "" if model.built else " (not built: its shapes are known once it trains)"
    return f"{type(model).__name__}: " + " -> ".join(parts) + unbuilt


class _Built(NamedTuple):
    model: Any
    sites: tuple[Any, ...]  # the layers that apply the activation (top level)
    names: tuple[str, ...]  # their site names
    flat_output: bool  # a regression model whose output is (n,)


class KerasEngine:
    """Train a user's Keras 3 model for each activation over seeds (module docstring).

    Args:
        build: ``build(activation) -> keras.Model`` (functional or Sequential; subclassed
            models train too, with ``track_units=False``), a fresh model around the
            activation it is given, outputting logits ``(n, classes)`` or, for a
            regression, ``(n,)`` / ``(n, 1)``.
        activations: ``{name: factory}``, ``factory()`` what to hand to ``build`` for that
            activation.
        loss: a Keras loss (name or object) instead of the task's own.
        track_units: measure dead and dormant units at every epoch's end.
        dormant_threshold: ReDo's tau (a unit is dormant when its mean ``|a|`` is at most
            this share of its site's average).
        max_track: how many training inputs (the first ones) the units are measured on.
        vectorise: on the JAX backend, train all seeds of an activation as one program
            (:mod:`relulab.keras.seed_program`: ``model.train_step`` under ``jax.vmap``),
            falling back to one ``model.fit`` per seed, with why, for a model it cannot
            run; ``False`` always loops. Other backends loop.
    """

    def __init__(self, build: Callable[[Any], Any], activations: Mapping[str, Callable[[], Any]],
                 *, loss: Any = None, track_units: bool = True,
                 dormant_threshold: float = DORMANT_THRESHOLD, max_track: int = 2048,
                 vectorise: bool = True) -> None:
        if not callable(build):
            raise RelulabError(f"KerasEngine: build is a {type(build).__name__}, not a "
                               "function; pass build(activation) -> keras.Model")
        if not isinstance(activations, Mapping) or not activations:
            raise RelulabError("KerasEngine: activations must be a non-empty dict "
                               "{name: factory}, e.g. {'relu': lambda: 'relu'}")
        for name, factory in activations.items():
            if not callable(factory):
                raise RelulabError(f"KerasEngine: activations[{name!r}] is not a function; "
                                   f"pass a factory, e.g. {{{name!r}: lambda: {name!r}}}")
        if not (isinstance(max_track, int) and max_track >= 1):
            raise RelulabError(f"KerasEngine: max_track={max_track!r}; give a whole number "
                               "of training inputs, 1 or more")
        if not 0 <= dormant_threshold < math.inf:
            raise RelulabError(f"KerasEngine: dormant_threshold={dormant_threshold!r}; give "
                               "a share of the site's mean activity, 0 or more")
        self.build = build
        self.activations = dict(activations)
        self.loss = loss
        self.track_units = bool(track_units)
        self.dormant_threshold = float(dormant_threshold)
        self.max_track = max_track
        self.vectorise = bool(vectorise)
        self._described: dict[str, dict[str, Any]] = {}
        self._warned: set[str] = set()
        self._why = ""  # why some fit looped its seeds (the first reason stays)
        self._how: set[str] = set()  # how the fits so far trained their seeds

    # -- the Engine protocol ------------------------------------------------------------

    def fit(self, activation: str, seeds: Sequence[int], data: TaskData,
            config: Any) -> list[Fitted]:
        """Every seed of ``activation`` trained on ``data`` with ``config``'s settings
        (module docstring); one :class:`~relulab.tasks.Fitted` per seed, in seed order."""
        if activation not in self.activations:
            raise RelulabError(f"KerasEngine: unknown activation {activation!r}; known: "
                               f"{', '.join(self.activations)}")
        seeds = [int(seed) for seed in seeds]
        why = self._why_looped()
        if not why:
            try:
                fitted = self._fit_vectorised(activation, seeds, data, config)
                self._how.add(VMAP)
                return fitted
            except RelulabError:
                raise
            except Exception as exc:  # the model cannot run as one program: the loop can
                why = _why(exc)
        self._why = self._why or why
        self._how.add(LOOP)
        return [self._fit_seed(activation, seed, data, config) for seed in seeds]

    def _why_looped(self) -> str:
        """Why seeds will be looped before trying ("" when the program is tried)."""
        if not self.vectorise:
            return WHY_LOOPED
        backend = keras.backend.backend()
        if backend != "jax":
            return (f"seeds looped: Keras' {backend} backend trains each seed with its own "
                    "model.fit; only the JAX backend runs them as one program")
        return ""

    def describe(self) -> dict[str, Any]:
        """What this engine trains: ``framework``, ``backend``, ``model`` (one line),
        ``parameters``, ``vectorised`` and ``why`` (see :class:`relulab.tasks.Engine`),
        and ``seeds``: how the fits so far trained their seeds (``"jax.vmap"``,
        ``"loop"``, joined by ", " when they differed; "" before any fit). The model is
        the one built for the first activation (once trained, as trained)."""
        first = next(iter(self.activations))
        if first not in self._described:
            keras.utils.set_random_seed(0)
            given = self.activations[first]()
            keras.utils.set_random_seed(0)
            model = self.build(given)
            self._check_model(first, model)
            return self._description(model)
        return self._description(None)

    # -- all seeds as one program (JAX backend) -----------------------------------------

    def _fit_vectorised(self, name: str, seeds: list[int], data: TaskData,
                        config: Any) -> list[Fitted]:
        """Every seed of ``name`` trained by one :class:`~relulab.keras.seed_program.
        SeedProgram`: the same batches, early stopping, divergence and unit records as
        :meth:`_fit_seed`, seed by seed, between the program's epochs."""
        import jax.numpy as jnp

        from relulab.keras.seed_program import SeedProgram

        builts = [self._make(name, seed, data) for seed in seeds]
        first = builts[0]
        model = first.model
        if not all(getattr(layer, "supports_jit", True) for layer in model._flatten_layers()):
            raise _NoJit("a layer of the model does not support XLA compilation")
        model.compile(optimizer=_optimizer(config), loss=self._loss(data))
        x = data.x_train
        y = self._targets(data, data.y_train, first.flat_output)
        batch = int(config.batch_size)
        model._symbolic_build(data_batch=(x[:batch], y[:batch]))
        probe = (probe_of(model, first.sites, "KerasEngine")
                 if self.track_units and first.sites else None)
        program = SeedProgram(model, [b.model for b in builts],
                              None if probe is None else probe.model)
        val = (None if data.x_val is None else
               (data.x_val, self._targets(data, data.y_val, first.flat_output)))
        stopping = config.patience is not None and val is not None
        track = x[:self.max_track]
        rows = max(batch, _EVAL_ROWS)
        xs, ys = jnp.asarray(x), jnp.asarray(y)

        count = len(seeds)
        losses: list[list[float]] = [[] for _ in seeds]
        val_losses: list[list[float]] = [[] for _ in seeds]
        dead: list[list[list[np.ndarray]]] = [[] for _ in seeds]
        dormant: list[list[list[np.ndarray]]] = [[] for _ in seeds]
        states = [_Stopping()] * count
        diverged = np.zeros(count, bool)
        active = np.ones(count, bool)
        state = program.initial()
        final = state  # each seed's state when it stopped
        best = program.weights(state)  # each seed's weights at its best epoch
        for epoch in range(int(config.epochs)):
            orders = np.stack([batch_order(seed, epoch, len(x)) for seed in seeds])
            state, loss = program.epoch(state, xs, ys, orders, batch)
            val_loss = (program.loss(state, *val, rows) if val is not None
                        else np.full(count, math.nan))
            sums = program.abs_sums(state, track, rows) if probe is not None else None
            improved = np.zeros(count, bool)
            ended = np.zeros(count, bool)
            for k in np.flatnonzero(active):
                losses[k].append(float(loss[k]))
                val_losses[k].append(float(val_loss[k]))
                if sums is not None:
                    masks = _unit_masks([s[k] for s in sums], self.dormant_threshold)
                    dead[k].append(masks[0])
                    dormant[k].append(masks[1])
                if not math.isfinite(loss[k]):
                    diverged[k] = ended[k] = True
                    continue
                if stopping:
                    states[k], improved[k] = _stopping_after(states[k], epoch, val_loss[k],
                                                             config.patience)
                    ended[k] = states[k].stop
            if improved.any():
                best = program.pick(improved, program.weights(state), best)
            if ended.any():
                final = program.pick(ended, state, final)
            active &= ~ended
            if not active.any():
                break
        final = program.pick(active, state, final)

        kept = np.array([len(ls) - 1 for ls in losses])
        restore = np.array([stopping and not diverged[k] and states[k].best_epoch != kept[k]
                            for k in range(count)])
        kept = np.where(restore, [s.best_epoch for s in states], kept)
        weights = program.pick(restore, best, program.weights(final))
        program.write(weights, [b.model for b in builts])
        test_pred = program.predict(weights, data.x_test, rows)
        val_pred = None if data.x_val is None else program.predict(weights, data.x_val, rows)
        fitted = []
        for k, seed in enumerate(seeds):
            epoch_stats, unit_stats = (unit_records(first.names, dead[k], dormant[k],
                                                    int(kept[k]))
                                       if probe is not None else ({}, {}))
            fitted.append(Fitted(
                seed=seed, loss=np.asarray(losses[k], np.float64),
                val_loss=np.asarray(val_losses[k], np.float64), best_epoch=int(kept[k]),
                test_pred=self._outputs(test_pred[k], data),
                val_pred=None if val_pred is None else self._outputs(val_pred[k], data),
                epoch_stats=epoch_stats, unit_stats=unit_stats))
        return fitted

    # -- one seed -----------------------------------------------------------------------

    def _fit_seed(self, name: str, seed: int, data: TaskData, config: Any) -> Fitted:
        built = self._make(name, seed, data)
        model = built.model
        model.compile(optimizer=_optimizer(config), loss=self._loss(data))
        x = data.x_train
        y = self._targets(data, data.y_train, built.flat_output)
        val = (None if data.x_val is None else
               (data.x_val, self._targets(data, data.y_val, built.flat_output)))
        stopping = config.patience is not None and val is not None
        probe = (probe_of(model, built.sites, "KerasEngine")
                 if self.track_units and built.sites else None)
        track = x[:self.max_track]
        eval_rows = max(int(config.batch_size), _EVAL_ROWS)

        losses: list[float] = []
        val_losses: list[float] = []
        dead: list[list[np.ndarray]] = []
        dormant: list[list[np.ndarray]] = []
        state, best_weights, diverged = _Stopping(), None, False
        for epoch in range(int(config.epochs)):
            order = batch_order(seed, epoch, len(x))
            history = model.fit(x[order], y[order], batch_size=int(config.batch_size),
                                epochs=1, shuffle=False, verbose=0, validation_data=val,
                                validation_batch_size=eval_rows).history
            loss = float(history["loss"][-1])
            val_loss = float(history["val_loss"][-1]) if val is not None else math.nan
            losses.append(loss)
            val_losses.append(val_loss)
            if probe is not None:
                masks = _unit_masks(abs_sums(probe, track, eval_rows), self.dormant_threshold)
                dead.append(masks[0])
                dormant.append(masks[1])
            if not math.isfinite(loss):
                diverged = True
                break
            if stopping:
                state, improved = _stopping_after(state, epoch, val_loss, config.patience)
                if improved:
                    best_weights = model.get_weights()
                if state.stop:
                    break

        kept = len(losses) - 1
        if stopping and not diverged and state.best_epoch != kept:
            model.set_weights(best_weights)
            kept = state.best_epoch
        epoch_stats, unit_stats = (unit_records(built.names, dead, dormant, kept)
                                   if probe is not None else ({}, {}))
        return Fitted(
            seed=seed, loss=np.asarray(losses, np.float64),
            val_loss=np.asarray(val_losses, np.float64), best_epoch=kept,
            test_pred=self._predict(model, data.x_test, data, eval_rows),
            val_pred=(None if data.x_val is None
                      else self._predict(model, data.x_val, data, eval_rows)),
            epoch_stats=epoch_stats, unit_stats=unit_stats)

    def _make(self, name: str, seed: int, data: TaskData) -> _Built:
        """Seed ``seed``'s model for activation ``name``, checked (the activation used,
        the output's shape), and its sites."""
        keras.utils.set_random_seed(seed)
        given = self.activations[name]()
        keras.utils.set_random_seed(seed)  # the model's draws do not depend on the factory's
        model = self.build(given)
        self._check_model(name, model)
        resolved = _resolved(given)
        if not any(_applies(layer, given, resolved)
                   for layer in model._flatten_layers(include_self=False)):
            raise RelulabError(
                f"KerasEngine: the model build made for activation {name!r} does not use it "
                "(no layer has it as its activation, nor is it a layer of the model); pass "
                "the argument build receives to your layers, e.g. "
                "keras.layers.Dense(64, activation=act)")
        if not model.built:
            model.build((None, *data.input_shape))
        flat = self._check_output(name, model, data)
        sites = tuple(layer for layer in model.layers if _applies(layer, given, resolved))
        if self.track_units:
            if not getattr(model, "inputs", None):
                raise RelulabError(
                    f"KerasEngine: the model for activation {name!r} has no symbolic inputs "
                    "(a subclassed model), so its units cannot be measured; build it with "
                    "the functional API or keras.Sequential, or pass track_units=False")
            if not sites and name not in self._warned:
                self._warned.add(name)
                warnings.warn(
                    f"KerasEngine: activation {name!r} is used only inside nested models, "
                    "whose units are not measured; build the model from its layers to "
                    "measure them", stacklevel=4)
        names = site_names(model.layers)
        by_layer = {id(layer): n for layer, n in zip(model.layers, names, strict=True)}
        if name not in self._described:
            self._described[name] = self._model_description(model)
        return _Built(model, sites, tuple(by_layer[id(layer)] for layer in sites), flat)

    def _check_model(self, name: str, model: Any) -> None:
        if not isinstance(model, keras.Model):
            raise RelulabError(
                f"KerasEngine: build returned a {type(model).__name__} for activation "
                f"{name!r}, not a keras.Model; return keras.Model(inputs, outputs) or "
                "keras.Sequential([...])")

    def _check_output(self, name: str, model: Any, data: TaskData) -> bool:
        """Refuse an output that does not suit the task; whether it is ``(n,)``."""
        out = model(data.x_train[:2], training=False)
        if isinstance(out, (list, tuple, dict)):
            raise RelulabError(
                f"KerasEngine: the model for activation {name!r} has {len(out)} outputs; "
                "give it one output (logits for a classification, one number for a "
                "regression)")
        shape = tuple(out.shape)
        n = shape[0]
        if data.task == "classification":
            want = (n, data.classes)
            fix = f"end it with keras.layers.Dense({data.classes}) (logits, no activation)"
            ok = shape == want
        else:
            want = (n,)
            fix = "end it with keras.layers.Dense(1)"
            ok = shape in ((n,), (n, 1))
        if not ok:
            raise RelulabError(
                f"KerasEngine: the model for activation {name!r} outputs shape "
                f"{_dims(shape)} but a {data.task} of this data needs {_dims(want)}"
                + (" or (n, 1)" if data.task == "regression" else "") + f"; {fix}")
        if data.task == "classification" and model.layers and \
                activation_name(model.layers[-1]) == "softmax":
            raise RelulabError(
                f"KerasEngine: the model for activation {name!r} ends in a softmax; output "
                "logits instead (drop the softmax): the engine trains with cross-entropy "
                "from logits and takes the softmax of the outputs as the predictions")
        return len(shape) == 1

    def _loss(self, data: TaskData) -> Any:
        if self.loss is not None:
            return self.loss
        if data.task == "classification":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.MeanSquaredError()

    @staticmethod
    def _targets(data: TaskData, y: np.ndarray, flat: bool) -> np.ndarray:
        if data.task == "classification":
            return np.asarray(y, np.int32)
        y = np.asarray(y, np.float32)
        return y if flat else y.reshape(-1, 1)

    @classmethod
    def _predict(cls, model: Any, x: np.ndarray, data: TaskData, rows: int) -> np.ndarray:
        out = np.concatenate([
            np.asarray(keras.ops.convert_to_numpy(model(x[i:i + rows], training=False)),
                       np.float64)
            for i in range(0, len(x), rows)])
        return cls._outputs(out, data)

    @staticmethod
    def _outputs(out: np.ndarray, data: TaskData) -> np.ndarray:
        """The predictions of a model's outputs: the softmax of a classifier's logits, a
        regression's numbers flat."""
        if data.task == "classification":
            return _softmax(out)
        return out.reshape(-1)

    def _model_description(self, model: Any) -> dict[str, Any]:
        try:
            parameters = int(model.count_params())
        except ValueError:  # a model not built yet has no weights to count
            parameters = 0
        return {"framework": "keras", "backend": keras.backend.backend(),
                "model": _model_text(model), "parameters": parameters}

    def _description(self, model: Any) -> dict[str, Any]:
        """The first activation's model (``model``, or as described when it was built)
        and how the seeds trained."""
        first = next(iter(self.activations))
        described = (self._model_description(model) if model is not None
                     else self._described[first])
        why = self._why or self._why_looped()
        return {**described, "vectorised": not why, "why": why,
                "seeds": ", ".join(h for h in (VMAP, LOOP) if h in self._how)}


class _NoJit(Exception):
    """The model cannot be compiled as one XLA program."""


def _why(exc: BaseException) -> str:
    """One line: why the seeds are trained one by one."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    low = message.lower()
    if isinstance(exc, _NoJit):
        what = message
    elif "concretization" in low or "tracer" in low:
        what = "the model's call uses data-dependent Python control flow"
    else:
        what = "the model cannot be run as one program over seeds"
    short = message if len(message) <= 160 else message[:157] + "..."
    detail = "" if isinstance(exc, _NoJit) else f" (jax.vmap: {type(exc).__name__}: {short})"
    return f"seeds looped: {what}{detail}"


def _unit_masks(sums: Sequence[np.ndarray], threshold: float
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each site's dead and dormant units (boolean masks) from its per-unit ``|a|`` sums,
    with :class:`DeadUnitCallback`'s definitions."""
    found = [unit_activity(s, threshold) for s in sums]
    return ([_mask(f.dead, s.size) for f, s in zip(found, sums, strict=True)],
            [_mask(f.dormant, s.size) for f, s in zip(found, sums, strict=True)])


def _mask(indices: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[indices] = True
    return mask


def _dims(shape: tuple) -> str:
    return "(" + ", ".join("n" if i == 0 else str(d) for i, d in enumerate(shape)) + \
        ("," if len(shape) == 1 else "") + ")"
