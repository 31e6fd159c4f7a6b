"""Register :class:`~relulab.activations.Activation` with Keras 3's serialisation, without
importing Keras.

A model saved with a relulab activation records it as ``"relulab>Activation"``; loading it
needs that name in Keras' registry, so that ``keras.models.load_model`` works without
``custom_objects``. Importing Keras costs seconds, so ``import relulab.activations`` must not
do it. Instead :func:`install` registers at once if Keras is already imported, and otherwise
leaves a one-shot hook on ``sys.meta_path`` that registers right after Keras' own import
finishes (whenever, if ever, that happens). ``Activation.get_config`` also calls
:func:`register_if_imported`: Keras calls it while saving, before it looks up the name.

The class to register is passed in (``install(Activation)``), so this module imports
nothing of relulab and ``activation.py`` can import it without a loop.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from typing import Any

PACKAGE = "relulab"
NAME = "Activation"
REGISTERED_NAME = f"{PACKAGE}>{NAME}"


def register(keras: Any, cls: type) -> None:
    """Register ``cls`` (the Activation class) with ``keras`` as
    :data:`REGISTERED_NAME` (idempotent)."""
    saving = keras.saving
    if saving.get_registered_object(REGISTERED_NAME) is not cls:
        saving.register_keras_serializable(package=PACKAGE, name=NAME)(cls)


def register_if_imported(cls: type) -> None:
    """Register ``cls`` if Keras is (fully) imported; never imports it."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "saving"):
        register(keras, cls)


class _AfterKerasImport:
    """A meta path finder that finds nothing itself: for ``keras`` it asks the other finders
    for the spec and makes its loader register ``cls`` once the module has executed."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        _uninstall()  # one-shot; also keeps the lookup below from finding us again
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module  # this spec's own loader instance

        def exec_then_register(module: Any) -> None:
            try:
                exec_module(module)
            except BaseException:
                install(self.cls)  # Keras failed to import (e.g. no backend): try next time
                raise
            try:
                register(module, self.cls)
            except Exception as error:  # never break `import keras` itself
                warnings.warn(f"relulab: could not register Activation with Keras: {error}",
                              RuntimeWarning, stacklevel=2)

        spec.loader.exec_module = exec_then_register
        return spec


def install(cls: type) -> None:
    """Register ``cls`` now if Keras is imported, else once it is."""
    if "keras" in sys.modules:
        register_if_imported(cls)
    elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport(cls))


def _uninstall() -> None:
    for finder in [f for f in sys.meta_path if isinstance(f, _AfterKerasImport)]:
        sys.meta_path.remove(finder)
