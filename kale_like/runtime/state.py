"""Process-global state carried between steps (``model.STATE_KINDS``).

After a step runs, :func:`save` writes a snapshot of every kind; a later step :func:`apply`
only the kinds it takes from that producer. RNG states are carried whole (the state *after*
the earlier draws, not a re-seed). The environment, ``sys.path`` and the working directory
are carried as the *changes* a step's code made relative to how its process started, so the
engine's own settings (and a pod's HOSTNAME on a cluster) are never replayed elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from ..envcheck import credential_like
from ..model import STATE_KINDS
from .marshal import pickle_dump, pickle_load

_MPL_SKIP = {"backend", "backend_fallback", "interactive"}


def baseline() -> dict[str, Any]:
    """How the process started: what the carried deltas are relative to."""
    return {"os.environ": dict(os.environ), "sys.path": list(sys.path), "cwd": os.getcwd()}


def _pandas_options() -> dict[str, Any] | None:
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    registered = pd._config.config._registered_options
    out: dict[str, Any] = {}
    for key, opt in registered.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated options warn when read
                value = pd.get_option(key)
        except Exception:
            continue
        try:
            differs = bool(value != opt.defval)
        except Exception:
            differs = True
        if differs:
            out[key] = value
    return out


# Environment variables whose names look like credentials are never written anywhere
# (state files, caches, artifacts): a later step that needs one gets it from a `secret:` tag
# or from the imports cell, which every step replays (see kale_like/envcheck.py).


def snapshot(base: dict[str, Any], carry_environment: bool = True) -> dict[str, Any]:
    """Every state kind now (``None`` where the library was never imported).

    Environment changes are carried except credential-looking ones (only their names are
    kept, under ``withheld``); ``carry_environment=False`` carries none."""
    import random

    snap: dict[str, Any] = {"random": random.getstate()}
    np = sys.modules.get("numpy")
    snap["numpy.random"] = np.random.get_state() if np is not None else None
    torch = sys.modules.get("torch")
    snap["torch.random"] = torch.get_rng_state() if torch is not None else None
    env = dict(os.environ)
    old = base["os.environ"]
    changed = {k: v for k, v in env.items() if old.get(k) != v}
    snap["os.environ"] = {
        "set": {k: v for k, v in changed.items() if carry_environment and not credential_like(k)},
        "unset": sorted(k for k in old if k not in env) if carry_environment else [],
        "withheld": sorted(k for k in changed if credential_like(k) or not carry_environment),
    }
    snap["sys.path"] = _path_delta(base["sys.path"], list(sys.path))
    cwd = os.getcwd()
    snap["cwd"] = (
        None
        if cwd == base["cwd"]
        else {"absolute": cwd, "relative": os.path.relpath(cwd, base["cwd"])}
    )
    snap["warnings"] = list(warnings.filters)
    snap["pandas.options"] = _pandas_options()
    mpl = sys.modules.get("matplotlib")
    snap["matplotlib.rc"] = (
        {k: v for k, v in dict(mpl.rcParams).items() if k not in _MPL_SKIP}
        if mpl is not None
        else None
    )
    return snap


def _path_delta(old: list[str], new: list[str]) -> dict[str, Any]:
    olds = set(old)
    first_kept = next((i for i, p in enumerate(new) if p in olds), len(new))
    return {
        "front": [p for p in new[:first_kept] if p not in olds],
        "back": [p for p in new[first_kept:] if p not in olds],
        "removed": [p for p in old if p not in set(new)],
        "full": new,
        "base": old,
    }


def save(path: str | Path, snap: dict[str, Any]) -> None:
    """Write a :func:`snapshot` to ``path`` (a directory), atomically."""
    from .artifact_files import atomic_dir

    def fill(tmp: Path) -> None:
        with open(tmp / "state.pkl", "wb") as fh:
            pickle_dump(snap, fh)
        (tmp / "meta.json").write_text(
            json.dumps({"format": 1, "kinds": list(STATE_KINDS)}), encoding="utf-8"
        )

    atomic_dir(Path(path), fill)


def load(path: str | Path) -> dict[str, Any]:
    with open(Path(path) / "state.pkl", "rb") as fh:
        snap: dict[str, Any] = pickle_load(fh)
    return snap


def apply(kind: str, value: Any) -> None:
    """Restore one kind of state exactly as the producer left it."""
    if kind not in STATE_KINDS:
        raise ValueError(f"unknown state kind {kind!r}; valid kinds: {', '.join(STATE_KINDS)}")
    if value is None:
        return  # the producer never imported the library: nothing to carry
    if kind == "random":
        import random

        random.setstate(value)
    elif kind == "numpy.random":
        import numpy as np

        np.random.set_state(value)
    elif kind == "torch.random":
        import torch

        torch.set_rng_state(value)
    elif kind == "os.environ":
        for k in value["unset"]:
            os.environ.pop(k, None)
        os.environ.update(value["set"])
    elif kind == "sys.path":
        if list(sys.path) == value["base"]:
            sys.path[:] = value["full"]
        else:
            removed = set(value["removed"])
            kept = [p for p in sys.path if p not in removed]
            sys.path[:] = value["front"] + kept + [p for p in value["back"] if p not in kept]
    elif kind == "cwd":
        rel = os.path.join(os.getcwd(), value["relative"])
        for candidate in (value["absolute"], rel):
            if os.path.isdir(candidate):
                os.chdir(candidate)
                break
    elif kind == "warnings":
        warnings.filters[:] = value  # type: ignore[index]
        mutated = getattr(warnings, "_filters_mutated", None) or getattr(
            warnings, "_filters_mutated_lock_held", None
        )
        if mutated is not None:
            mutated()
    elif kind == "pandas.options":
        import pandas as pd

        registered = pd._config.config._registered_options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for key, opt in registered.items():
                target = value.get(key, opt.defval)
                try:
                    if pd.get_option(key) != target:
                        pd.set_option(key, target)
                except Exception:
                    continue
    elif kind == "matplotlib.rc":
        import matplotlib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for key, v in value.items():
                try:
                    matplotlib.rcParams[key] = v
                except Exception:
                    continue


def apply_from(paths: dict[str, str]) -> None:
    """Apply each kind from its producer's snapshot (one load per distinct path)."""
    cache: dict[str, dict[str, Any]] = {}
    for kind, path in paths.items():
        if path not in cache:
            cache[path] = load(path)
        apply(kind, cache[path].get(kind))


SEED_ENV = "KALE_LIKE_SEED"


def seed_all(seed: int) -> None:
    """Seed the process-wide RNGs (``random``, and NumPy's when installed) with ``seed``.

    ``verify`` seeds both of its runs this way, so that a notebook that never seeds its
    random draws still gives the same values top to bottom and as a pipeline (where each
    step starts from this seed unless an earlier step's RNG state is carried in)."""
    import random

    random.seed(seed)
    try:
        import numpy as np
    except ModuleNotFoundError:
        return
    np.random.seed(seed % 2**32)


def seed_from_env() -> None:
    """``seed_all`` with ``$KALE_LIKE_SEED`` when it is set (verify's pipeline run)."""
    value = os.environ.get(SEED_ENV, "")
    if value.isdigit():
        seed_all(int(value))
