"""``relulab.keras.study``: which activation suits *your* Keras 3 model, on your data, with
evidence: every activation over seeds, trained (paired: seed ``s`` of every activation
starts from the same weights and sees the same batches), scored, compared with the
statistics, stored and reported, as ``relulab.torch.study`` does for PyTorch.

::

    result = relulab.keras.study(
        lambda act: keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, act),
                                      keras.layers.Dense(10)]),
        (X_train, y_train), (X_test, y_test), task="classification",
        activations=["relu", "leaky_relu", "gelu", "silu"])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from relulab.errors import RelulabError
from relulab.keras.engine_keras import KerasEngine
from relulab.paths import DEFAULT_DB
from relulab.result import StudyResult
from relulab.study.task_inputs import named, run_user_study, task_data

__all__ = ["factory", "study"]


def factory(activation: Any) -> Callable[[], Any]:
    """What makes the activation handed to ``build``: relulab's activation for a name of
    its family (or a registered one; a Keras activation callable), a Keras layer class
    (called with no arguments), or a function ``x -> y`` as it is."""
    if isinstance(activation, str):
        from relulab import activations

        activations.get(activation)  # an unknown name fails here, in one line
        return lambda: activations.get(activation)
    if isinstance(activation, type) and issubclass(activation, keras.layers.Layer):
        return activation
    if callable(activation):
        return lambda: activation
    raise RelulabError(f"activation {activation!r} is neither a name, a Keras layer class "
                       "nor a function; pass e.g. 'relu', keras.layers.ReLU or keras.ops.tanh")


def study(build: Callable[[Any], Any], train: Any, test: Any, *, task: str,
          activations: Sequence[Any] = ("relu", "leaky_relu", "gelu", "silu"),
          seeds: int = 10, epochs: int = 20, batch_size: int = 64,
          learning_rate: float = 1e-3, optimizer: str = "adam", validation: Any = None,
          patience: int | None = None, reference: Any = None, loss: Any = None,
          metrics: Any = None, db: Any = DEFAULT_DB, report: Any = None, json: Any = None,
          progress: bool | Callable[[Any], None] = True, name: str = "",
          seed_offset: int = 0, vectorise: bool = True) -> StudyResult:
    """Study the activations of a Keras 3 model (functional or Sequential, any backend) on
    your data; the arguments and the result are ``relulab.torch.study``'s.

    ``build(activation) -> keras.Model`` makes a fresh model around the activation it is
    given (pass it as a layer's ``activation=``, or call it). The model outputs logits
    (classification: one per class; sparse cross-entropy) or one number (regression:
    MSE); ``loss`` replaces the loss; ``metrics`` adds your own, as in
    ``relulab.torch.study``. Adam's betas and epsilon are Keras' defaults. On the JAX
    backend all seeds of an activation train as one program (``model.train_step`` under
    ``jax.vmap``; the result's warnings say why where a model cannot, and its seeds then
    train one after another); ``vectorise=False`` asks for one ``model.fit`` per seed.
    Other backends train the seeds one after another. On the JAX backend the compiled
    programs are kept on disk, so a rerun skips most of XLA's compiling."""
    if keras.backend.backend() == "jax":
        from relulab.study.jax_trainer import enable_compilation_cache

        enable_compilation_cache()
    if not callable(build):
        raise RelulabError(f"build must be a function activation -> keras.Model, got "
                           f"{type(build).__name__}")
    arms = named(activations)
    engine = KerasEngine(build, {n: factory(a) for n, a in arms.items()}, loss=loss,
                         vectorise=vectorise)
    data = task_data(train, test, validation, task, name or "data")
    return run_user_study(engine, arms, data, loss=loss, metrics=metrics, eps=1e-7, db=db,
                          report=report, json=json, progress=progress, task=task,
                          seeds=seeds, epochs=epochs, batch_size=batch_size,
                          learning_rate=learning_rate, optimizer=optimizer,
                          patience=patience, reference=reference, name=name,
                          seed_offset=seed_offset)
