"""Credential-looking environment variables a step sets: never carried, so warn at analysis.

The runtime never writes the value of an environment variable whose name looks like a
credential (``runtime/state.credential_like``) to a state file, cache entry or artifact. A
later step that needs it would run without it: :func:`secret_env_diagnostics` warns, naming
the cell, the variable and the fix (a ``secret:`` tag, or set it in the imports cell, which
every step replays). Pure: regular expressions over the step sources (magics included).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .diagnostics import Diagnostic
from .errors import cell_label
from .model import Step

CREDENTIAL_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|AUTH", re.IGNORECASE)
_NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
_SETTERS = [
    re.compile(rf"environ\s*\[\s*['\"]{_NAME}['\"]\s*\]\s*="),
    re.compile(rf"environ\.setdefault\(\s*['\"]{_NAME}['\"]"),
    re.compile(rf"putenv\(\s*['\"]{_NAME}['\"]"),
    re.compile(rf"^\s*%env\s+{_NAME}\s*[=\s]", re.MULTILINE),
]
_UPDATE = re.compile(r"environ\.update\(([^)]*)\)")
_UPDATE_KEYS = [re.compile(rf"\b{_NAME}\s*="), re.compile(rf"['\"]{_NAME}['\"]\s*:")]


def credential_like(name: str) -> bool:
    return bool(CREDENTIAL_NAME.search(name))


def env_names_set(source: str) -> list[str]:
    """Environment variable names a cell sets by literal name, in order of appearance."""
    found: list[tuple[int, str]] = []
    for pattern in _SETTERS:
        found += [(m.start(), m.group(1)) for m in pattern.finditer(source)]
    for m in _UPDATE.finditer(source):
        for key in _UPDATE_KEYS:
            found += [(m.start(), k.group(1)) for k in key.finditer(m.group(1))]
    return list(dict.fromkeys(name for _, name in sorted(found)))


def secret_env_diagnostics(
    steps: Iterable[Step], carry_environment: bool = True
) -> list[Diagnostic]:
    """A warning per credential-looking variable a step sets that a later step may need."""
    order = sorted(steps, key=lambda s: min(s.cells) if s.cells else -1)
    diags: list[Diagnostic] = []
    for i, step in enumerate(order):
        for cell, source in zip(step.cells, step.sources, strict=False):
            for name in env_names_set(source):
                if carry_environment and not credential_like(name):
                    continue
                mention = re.compile(rf"\b{re.escape(name)}\b")
                needs = [
                    s.name
                    for s in order[i + 1 :]
                    if any(k == "os.environ" for k, _ in s.state_inputs)
                    or any(mention.search(src) for src in s.sources)
                ]
                if not needs:
                    continue
                why = (
                    "looks like a credential: its value is never written to state files, "
                    "caches or artifacts"
                    if carry_environment
                    else "is not carried: the notebook sets carry_environment: false"
                )
                diags.append(
                    Diagnostic(
                        "warning",
                        "environment-not-carried",
                        f"step {step.name!r} sets environment variable {name}"
                        f" ({cell_label(cell)}), "
                        f"which {why}; later steps ({', '.join(needs)}) run without it",
                        cell,
                        None,
                        f"give the steps that need it a `secret:SECRET:KEY:{name}` tag, or set "
                        f"{name} in the imports cell (every step replays it)",
                        step.name,
                    )
                )
    return diags
