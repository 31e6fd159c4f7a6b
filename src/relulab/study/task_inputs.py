"""What ``relulab.torch.study`` and ``relulab.keras.study`` share: a user's activations
named, their data turned into a :class:`relulab.tasks.TaskData`, the study's config made,
and its progress printed. Pure but for the printer; no framework is imported here (a
framework's tensors are read through ``numpy.asarray`` or their ``numpy()``).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.study import events
from relulab.tasks import TASK_NAMES, TaskData

__all__ = ["activation_name", "arrays", "config_for", "line_progress", "register_metrics",
           "run_user_study", "task_data"]


def activation_name(activation: Any) -> str:
    """A study's name for an activation: a name of relulab's family (or a registered one)
    as written; a user's class or function by its own name."""
    if isinstance(activation, str):
        return activation.strip()
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return str(name)


def definition(activation: Any) -> str:
    """What identifies a user's activation definition in a study's key: its source where
    Python has it, else its qualified name (a name of the family adds nothing: the
    config's key holds a registered activation's fingerprint)."""
    if isinstance(activation, str):
        return ""
    target = activation if inspect.isclass(activation) or inspect.isfunction(activation) \
        else type(activation)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        text = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def named(activations: Sequence[Any]) -> dict[str, Any]:
    """``{name: activation}`` in the given order; one line for a repeated name."""
    if isinstance(activations, str):
        activations = [activations]
    out: dict[str, Any] = {}
    for a in activations:
        name = activation_name(a)
        if name in out:
            raise RelulabError(f"activation {name!r} is given twice; pass each activation once")
        out[name] = a
    if not out:
        raise RelulabError("no activations given; pass e.g. activations=['relu', 'gelu']")
    from relulab.activations import canonical_names, get

    for n, a in out.items():
        if isinstance(a, str):
            get(n)  # an unknown name: one line listing the known ones
    canonical_names([n for n, a in out.items() if isinstance(a, str)])  # aliases, case
    return out


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        try:
            return np.asarray(x.numpy())
        except (TypeError, RuntimeError):
            pass
    return np.asarray(x)


def _batches(data: Iterable[Any], what: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for item in data:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise RelulabError(f"the {what} data yields {type(item).__name__} items; each "
                               "item must be an (input, target) pair")
        x, y = item
        xs.append(_numpy(x))
        ys.append(_numpy(y))
    if not xs:
        raise RelulabError(f"the {what} data is empty; pass at least one example")
    return np.concatenate(xs), np.concatenate(ys)


def arrays(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` as NumPy arrays from a pair of arrays or tensors, a map-style dataset
    (``len`` and ``[i] -> (x, y)``) or an iterable of ``(x_batch, y_batch)`` (a
    ``DataLoader``, a ``tf.data``-like iterable): read once, in its order; the study draws
    its own seeded batches from it, the same for every activation."""
    if data is None:
        raise RelulabError(f"no {what} data given; pass (X, y) arrays, a Dataset or a "
                           "DataLoader")
    if isinstance(data, list | tuple) and len(data) == 2 and not _is_pair_list(data):
        x, y = (_numpy(d) for d in data)
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__") and \
            not isinstance(data, list | tuple | np.ndarray):
        x, y = _batches(([_numpy(a)[None] for a in data[i]] for i in range(len(data))), what)
    elif isinstance(data, Iterable):
        x, y = _batches(data, what)
    else:
        raise RelulabError(f"cannot read the {what} data from a {type(data).__name__}; pass "
                           "(X, y) arrays, a Dataset or a DataLoader")
    if x.ndim < 1 or len(x) != len(y):
        raise RelulabError(f"the {what} data has {len(x)} inputs but {len(y)} targets; pass "
                           "one target per input")
    return x, y


def _is_pair_list(data: Sequence[Any]) -> bool:
    """A list of two (x, y) examples rather than (X, y): both items pairs themselves."""
    return all(isinstance(d, list | tuple) and len(d) == 2 for d in data)


def _targets(y: np.ndarray, task: str, what: str) -> np.ndarray:
    y = np.asarray(y)
    if task == "regression":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.number):
            raise RelulabError(f"the {what} targets have shape {y.shape} and type {y.dtype}; "
                               "a regression needs one number per example")
        return y.astype(np.float64)
    if y.ndim == 2 and y.shape[1] > 1:
        raise RelulabError(f"the {what} targets are {y.shape[1]} columns (one-hot?); pass "
                           "class indices 0..classes-1, e.g. y.argmax(1)")
    y = y.reshape(-1)
    if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)) or np.any(y < 0):
        raise RelulabError(f"the {what} labels must be class indices 0, 1, 2, ...; map your "
                           "labels to integers first")
    return y.astype(np.int64)


def task_data(train: Any, test: Any, validation: Any, task: str, name: str) -> TaskData:
    """The user's splits as a :class:`TaskData` (inputs float32, as models train)."""
    if task not in TASK_NAMES:
        raise RelulabError(f"unknown task {task!r}; pass task='classification' or "
                           "task='regression'")
    parts = {"train": arrays(train, "train"), "test": arrays(test, "test")}
    if validation is not None:
        parts["validation"] = arrays(validation, "validation")
    xs = {k: np.asarray(x, dtype=np.float32) for k, (x, _) in parts.items()}
    ys = {k: _targets(y, task, k) for k, (_, y) in parts.items()}
    shapes = {x.shape[1:] for x in xs.values()}
    if len(shapes) > 1:
        found = ", ".join(f"{k}: {x.shape[1:]}" for k, x in xs.items())
        raise RelulabError(f"the splits' inputs differ in shape ({found}); pass the same "
                           "features in every split")
    for k, x in xs.items():
        if not np.all(np.isfinite(x)):
            raise RelulabError(f"the {k} inputs contain NaN or inf; fill or drop those "
                               "examples first")
    classes = int(max(int(y.max()) for y in ys.values())) + 1 if task == "classification" else 0
    return TaskData(name, task, xs["train"], ys["train"], xs["test"], ys["test"],
                    xs.get("validation"), ys.get("validation"), classes=classes)


def config_for(names: Sequence[str], *, task: str, seeds: int, epochs: int, batch_size: int,
               learning_rate: float, optimizer: str, patience: int | None,
               reference: str | None, has_validation: bool, model_id: str,
               model_description: str, name: str, seed_offset: int = 0,
               **training: Any) -> StudyConfig:
    """The study's config: what decides its numbers (hashed) and its words."""
    if patience is not None and not has_validation:
        raise RelulabError("early stopping (patience=...) needs validation data; pass "
                           "validation=(X_val, y_val), or leave patience out")
    ref = names[0] if reference is None else activation_name(reference)
    if ref not in names:
        raise RelulabError(f"reference {ref!r} is not among the activations "
                           f"({', '.join(names)}); pass one of them")
    return StudyConfig(task=task, model="user", model_id=model_id,
                       model_description=model_description, activations=tuple(names),
                       reference=ref, seeds=seeds, seed_offset=seed_offset, epochs=epochs,
                       batch_size=batch_size, learning_rate=learning_rate,
                       optimizer=optimizer, patience=patience, name=name, **training)


def register_metrics(task: str, metrics: Any) -> dict[str, str]:
    """A user's own metrics, ``{name: fn}`` or ``{name: (fn, direction)}`` with ``fn(y,
    predictions) -> float`` (predictions as the task's: class probabilities ``(n,
    classes)``, or values ``(n,)``) and a direction of :data:`relulab.metrics.DIRECTIONS`
    ("lower" by default), registered in the one metric registry for ``task``: every run
    is then scored with them, and the summary, the table and the report show them. A
    name registered already is taken again only for the same function. Returns ``{name:
    definition}`` for the study's key (runs scored with other metrics are another study)."""
    from relulab import metrics as registry

    if not metrics:
        return {}
    if not isinstance(metrics, dict):
        raise RelulabError("metrics must be a dict {name: fn} or {name: (fn, direction)}")
    out: dict[str, str] = {}
    for name, spec in metrics.items():
        fn, direction = spec if isinstance(spec, tuple) else (spec, "lower")
        if not callable(fn) or not str(name).isidentifier():
            raise RelulabError(f"metric {name!r}: pass a name like 'brier' and a function "
                               "fn(y, predictions) -> float")
        known = registry.METRICS.get(name)
        if known is not None:
            if getattr(known.fn, "__wrapped__", None) is not fn or task not in known.tasks:
                raise RelulabError(f"metric {name!r} is registered already as another "
                                   "function; give yours another name")
        else:
            scored = _scorer(fn)
            scored.__name__ = str(name)
            scored.__wrapped__ = fn  # type: ignore[attr-defined]
            try:
                registry.metric(label=str(name), direction=direction,
                                description=f"{name} (the user's)", unit="",
                                terminal_format=".4g", task=task)(scored)
            except ValueError as exc:
                raise RelulabError(f"metric {name!r}: {exc}; pass a direction among "
                                   f"{', '.join(registry.DIRECTIONS)}") from None
        out[str(name)] = definition(fn)
    return out


def _scorer(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], float]:
    def scored(y: Any, yhat: Any) -> float:
        return float(fn(y, yhat))

    return scored


def line_progress(stream: Any = None) -> events.ProgressFn:
    """A progress function that prints one line per activation trained (to stderr)."""
    out = sys.stderr if stream is None else stream

    def progress(event: Any) -> None:
        if isinstance(event, events.Started) and event.cached:
            print(f"{event.cached} activation(s) found in the results store", file=out)
        elif isinstance(event, events.GroupDone):
            print(f"  {event.activation}: trained in {event.seconds:.1f} s "
                  f"({event.index + event.units} of {event.total})", file=out, flush=True)

    return progress


def progress_fn(progress: bool | Callable[[Any], None]) -> events.ProgressFn:
    """``True``: lines on stderr; ``False``: nothing; a callable: itself."""
    if callable(progress):
        return progress
    return line_progress() if progress else events.quiet


def run_user_study(engine: Any, arms: dict[str, Any], data: TaskData, *, loss: Any,
                   metrics: Any, eps: float, db: Any, report: Any, json: Any,
                   progress: bool | Callable[[Any], None], **fields: Any) -> Any:
    """What ``relulab.torch.study`` and ``relulab.keras.study`` do once they have made
    their framework's engine and read the data: the config (the model's identity from
    ``engine.describe()``, the activations', loss's and metrics' definitions; Adam's betas
    0.9 and 0.999 with the framework's ``eps``), then the study, stored and reported.
    ``fields``: task, seeds, epochs, batch_size, learning_rate, optimizer, patience,
    reference, name, seed_offset."""
    from relulab.study.task_study import describe, model_id, run_task_study

    described = engine.describe()
    identity = ({n: definition(a) for n, a in arms.items()}
                | ({"loss": definition(loss)} if loss is not None else {})
                | {f"metric:{k}": v
                   for k, v in register_metrics(fields["task"], metrics).items()})
    config = config_for(list(arms), has_validation=data.x_val is not None,
                        model_id=model_id(described, identity),
                        model_description=describe(described), beta1=0.9, beta2=0.999,
                        eps=eps, **fields)
    result, _ = run_task_study(engine, data, config, db=db, report=report, json=json,
                               progress=progress_fn(progress))
    return result
