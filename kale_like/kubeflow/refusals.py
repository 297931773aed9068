"""KFP's refusals of a compiled pipeline, told in the notebook's terms.

KFP checks a pipeline while the generated module runs its `@dsl.pipeline` body (the task
calls and setting methods) and while compiling; :func:`compile_refusal` traces its message
to the step, tag and cell (or variable, parameter) the user wrote.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import KaleError
from .dsl_map import (
    DslMap,
    dsl_lineno,
    literals,
    read_dsl_map,
    statement_at,
    step_of,
)

# ------------------------------------------------------------------ compile refusals
#
# KFP checks a pipeline while the generated module runs its `@dsl.pipeline` body (the
# task calls and setting methods) and while compiling. Its messages name what it saw: a
# setting value, or a generated input/output name. The DSL itself records how those map
# back to the user's notebook (`set_display_name` gives the step of a task, the
# `run_step(inputs=..., outputs=..., parameters=...)` dicts give the user's name of each
# argument), so the refusal is traced to the statement KFP refused and told in the user's
# names: step, tag and cell for a setting, variable or parameter for a name.

# Setting calls of the templates (codegen/settings.py) -> tag keyword.
_TASK_SETTINGS = {
    "set_cpu_limit": ("limit", "cpu"),
    "set_cpu_request": ("request", "cpu"),
    "set_memory_limit": ("limit", "memory"),
    "set_memory_request": ("request", "memory"),
    "set_accelerator_type": ("limit", None),
    "set_accelerator_limit": ("limit", None),
    "set_env_variable": ("env", None),
    "set_caching_options": ("cache", None),
    "set_retry": ("retry", None),
}
_K8S_SETTINGS = {
    "set_timeout": "timeout",
    "add_node_selector": "node-selector",
    "use_secret_as_env": "secret",
    "use_config_map_as_env": "configmap",
    "set_security_context": "security-context",
    "mount_pvc": "volume",
    "add_pod_label": "label",
    "add_pod_annotation": "annotation",
    "add_toleration": "toleration",
}
# What KFP accepts, per setting (checked against kfp 2.17's validators).
_SETTING_FIXES = {
    "cpu": "KFP takes a number of cores (1, 0.5) or whole millicores (500m), e.g. {example}",
    "memory": "KFP takes a whole number, alone (bytes) or followed by one of E, P, T, G, M, "
    "K, Ei, Pi, Ti, Gi, Mi, Ki (no decimals, lower-case k or m, or exponent), e.g. {example}",
    "accelerator": "KFP takes a whole number of devices, e.g. {example}",
    "timeout": "KFP takes a whole number of seconds, e.g. {example}",
}
_DEFAULT_VALUES = {"cpu": "500m", "memory": "2Gi", "accelerator": "1", "timeout": "3600"}
# Kubernetes quantity suffixes -> factor.
_FACTORS: dict[str, Fraction | int] = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9,
    "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
    "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:[eE]([0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkKMGTPE]))?")


def _quantity(text: str) -> Fraction | None:
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number, exponent, suffix = match.groups()
    return Fraction(number) * (10 ** int(exponent) if exponent else _FACTORS[suffix or ""])


def _kfp_value(family: str, value: str) -> str | None:
    """The same amount spelled as KFP accepts it, when there is one (``1.5Gi`` -> ``1536Mi``,
    ``2k`` -> ``2K``, ``1e3`` -> ``1000``); None when the amount itself cannot be taken."""
    amount = _quantity(value)
    if amount is None or amount < 0:
        return None
    suffix = _QUANTITY.fullmatch(value).group(3)  # type: ignore[union-attr]
    if family != "memory" and suffix not in (None, "m"):
        return None  # `cpu:2Gi` is a slip for memory, not two billion cores
    if family == "memory":
        if amount.denominator != 1:
            return None
        binary = "i" in value
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki") if binary else "EPTGMK":
            if amount % _FACTORS[suffix] == 0:
                return f"{amount // _FACTORS[suffix]}{suffix}"
        return str(amount)
    if family == "cpu":
        millis = amount * 1000
        if millis.denominator != 1:
            return None
        return str(amount.numerator) if amount.denominator == 1 else f"{millis}m"
    if family in ("accelerator", "timeout") and amount.denominator == 1:
        return str(amount)
    return None


def _setting_fix(family: str | None, tag: str) -> str | None:
    if family not in _SETTING_FIXES:
        return None
    head, _, value = tag.rpartition(":")
    better = _kfp_value(family, value)
    if better is not None and better != value:
        return _SETTING_FIXES[family].format(example=f"{head}:{better}") + " (the same amount)"
    return _SETTING_FIXES[family].format(example=f"{head}:{_DEFAULT_VALUES[family]}")


def _setting_site(stmt: Any, dsl: DslMap, pipeline: Any) -> tuple[str, str, str | None] | None:
    """(step, tag text, setting family) of a setting call the templates emit, else None."""
    import ast

    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    func = call.func
    receiver = func.value.id if isinstance(func.value, ast.Name) else None
    values = literals(call)
    if receiver in dsl.task_step and func.attr in _TASK_SETTINGS:
        step = dsl.task_step[receiver]
        keyword, resource = _TASK_SETTINGS[func.attr]
        if resource is not None:
            return step, f"{keyword}:{resource}:{values[0]}", resource
        if func.attr in ("set_accelerator_type", "set_accelerator_limit"):
            return step, _accelerator_tag(step, func.attr, values[0], pipeline), "accelerator"
        if func.attr == "set_env_variable":
            return step, f"env:{values[0]}={values[1]}", None
        if func.attr == "set_caching_options":
            return step, "cache:" + ("enabled" if values[0] else "disabled"), None
        return step, f"retry:{values[0]}", None
    first = call.args[0] if call.args else None
    if receiver == "kubernetes" and func.attr in _K8S_SETTINGS and isinstance(first, ast.Name):
        k8s_step = dsl.task_step.get(first.id)
        if k8s_step is None:
            return None
        step = k8s_step
        keyword = _K8S_SETTINGS[func.attr]
        parts = [str(v) for v in values[1:] if isinstance(v, (str, int))]
        if keyword in ("timeout", "node-selector", "volume", "label", "annotation"):
            return step, ":".join([keyword, *parts]), keyword if keyword == "timeout" else None
        return step, f"{keyword}:…", None
    return None


def _accelerator_tag(step: str, method: str, value: Any, pipeline: Any) -> str:
    """``limit:``/``request:RESOURCE:VALUE`` as the user wrote it (KFP sets only limits)."""
    settings = None
    if pipeline is not None:
        settings = next((s.settings for s in pipeline.steps if s.name == step), None)
    if settings is not None:
        for keyword, pairs in (("limit", settings.limits), ("request", settings.requests)):
            for resource, quantity in pairs:
                if (method == "set_accelerator_type" and resource == value) or (
                    method == "set_accelerator_limit" and quantity == value
                ):
                    return f"{keyword}:{resource}:{quantity}"
    return f"limit:RESOURCE:{value}" if method == "set_accelerator_limit" else f"limit:{value}:N"


def _tag_cell(pipeline: Any, step: str, tag: str) -> tuple[int | None, str | None, bool]:
    """(cell, notebook path, found on a cell) of the tag of ``step``; the step's first cell
    and the main notebook when no cell carries it (it came from notebook metadata)."""
    if pipeline is None:
        return None, None, False
    found = next((s for s in pipeline.steps if s.name == step), None)
    if found is None:
        return None, pipeline.notebook_path, False
    path = pipeline.notebook_path
    sub = getattr(found, "notebook", None)  # a composed step's own notebook
    if path and sub:
        path = str(Path(path).parent / sub)
    if path:
        try:
            from ..notebook import read_notebook

            cells = {c.index: c for c in read_notebook(path, collect_tag_errors=True).cells}
        except KaleError:
            cells = {}
        for index in found.cells:
            if tag in getattr(cells.get(index), "raw_tags", ()):
                return index, path, True
    return (found.cells[0] if found.cells else None), path, False


def _user_text(text: str, dsl: DslMap) -> tuple[str, list[tuple[str, str]]]:
    """KFP's message with each generated name followed by the user's name it stands for,
    and the (kind, user name) pairs it mentions."""

    names: dict[str, str] = {}
    users: dict[str, tuple[str, str]] = {}
    for fn, mapping in dsl.args.items():
        step = dsl.function_step.get(fn)
        for arg, (kind, user) in mapping.items():
            if arg != user and arg not in names:
                where = f" of step {step!r}" if step and kind == "variable" else ""
                names[arg], users[arg] = f"{kind} {user!r}{where}", (kind, user)
    for fn, step in dsl.function_step.items():
        if fn != step and fn not in names:
            names[fn], users[fn] = f"step {step!r}", ("step", step)
    mentioned: list[tuple[str, str]] = []
    if not names:
        return text, mentioned
    # One pass: what is inserted is never rewritten again.
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")

    def explain(match: re.Match[str]) -> str:
        kind, user = users[match.group()]
        if kind != "step":
            mentioned.append((kind, user))
        return f"{match.group()} (the {names[match.group()]})"

    text = pattern.sub(explain, text)
    return text, mentioned
    return text


def compile_refusal(exc: BaseException, dsl_path: Path, pipeline: Any = None) -> KaleError:
    """The error to show when KFP refuses the generated module ``dsl_path``.

    A refused setting names the step, its tag (and the cell carrying it when ``pipeline``
    is given) and what KFP accepts; anything else names the step or variable KFP's message
    is about, in the user's names, and does not blame the settings.
    """
    import ast

    from ..errors import InputError

    text = str(exc).strip() or type(exc).__name__
    path = getattr(pipeline, "notebook_path", None)
    try:
        tree = ast.parse(dsl_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        tree = None
    dsl = read_dsl_map(tree) if tree is not None else DslMap({}, {}, {}, {})
    lineno = dsl_lineno(exc, dsl_path)
    stmt = statement_at(tree, lineno) if tree is not None and lineno else None
    site = _setting_site(stmt, dsl, pipeline) if stmt is not None else None
    if site is not None:
        step, tag, family = site
        cell, path, on_cell = _tag_cell(pipeline, step, tag)
        origin = "" if on_cell or pipeline is None else " (from the notebook metadata)"
        keyword = tag.split(":", 1)[0]
        fix = _setting_fix(family, tag)
        what = "this setting" if on_cell else f"the setting {tag!r}"
        return InputError(
            f"KFP refused {what} of step {step!r}{origin}: {text}",
            kind="kfp-compile-error",
            path=path,
            cell=cell,
            tag=tag if on_cell else None,
            fix=fix
            or f"change the value of the {keyword}: tag of step {step!r} to one KFP "
            "accepts (see `kale-like analyze --help` for the tag grammar)",
        )
    at = step_of(stmt, tree, dsl) if stmt is not None else None
    cell = None
    if pipeline is not None and at is not None:
        found = next((s for s in pipeline.steps if s.name == at), None)
        cell = found.cells[0] if found is not None and found.cells else None
    about = f" at step {at!r}" if at else ""
    told, mentioned = _user_text(text, dsl)
    report = "please report it with the notebook: kale-like (for kfp 2.17) should have "
    if mentioned:
        kind, user = mentioned[0]
        fix = (
            f"rename the {kind} {user!r} to a plain name KFP takes (ASCII letters, digits "
            f"and _, starting with a letter, e.g. {_plain_name(user)}); and {report}"
            "made the name KFP-safe"
        )
    else:
        fix = f"this is not caused by a step setting; {report}generated a pipeline KFP takes"
    return InputError(
        f"KFP refused the pipeline{about}: {told}",
        kind="kfp-compile-error",
        path=path,
        cell=cell,
        fix=fix,
    )


def _plain_name(name: str) -> str:
    """An ASCII identifier starting with a letter, close to ``name``."""
    from ..codegen.names import transliterate

    text = re.sub(r"[^A-Za-z0-9_]+", "_", transliterate(name)).strip("_")
    return text if text[:1].isalpha() else "v_" + text
