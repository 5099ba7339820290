"""The page's model menu: the embedded model, and every other whose weights are already on this machine
(the torch hub cache). The studio never downloads weights: a model without them is shown with the one
line that says how to get them."""

from __future__ import annotations

import os

from dreamvid.errors import UserError
from dreamvid.nets.registry import DEFAULT_MODEL, MODELS


def missing_weights(name: str) -> str:
    """'' when the model can dream here; else the line that says how to get its weights."""
    if name == DEFAULT_MODEL:
        return ""
    from dreamvid.nets.weights import cached_weights

    url, path = cached_weights(MODELS[name])
    if os.path.isfile(path):
        return ""
    return (f"{name} needs its weights on this machine (the studio downloads nothing): download {url} "
            f"to {path}, or render once with `dreamvid image ... --model {name}`")


def model_menu() -> list[dict]:
    return [{"name": name, "description": spec.description, "missing": missing_weights(name)}
            for name, spec in MODELS.items()]


def check_model(name: object) -> str:
    """The model's name when it can dream here; UserError (one line) otherwise."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; the models are {', '.join(MODELS)}")
    missing = missing_weights(str(name))
    if missing:
        raise UserError(missing)
    return str(name)
