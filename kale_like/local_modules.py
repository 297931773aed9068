"""Helper modules beside a notebook: the files an ``import name`` of a step resolves to.

One rule for the local step cache (whose key hashes these files) and the image builder
(which copies them into the image), so a file that reaches an image also keys the cache.
"""

from __future__ import annotations

from pathlib import Path

from .runtime.workspace import SKIP_DIRS

_BYTECODE = (".pyc", ".pyo")


def local_module_files(base_dir: Path | None, module: str) -> list[Path] | None:
    """Every file of the top-level module ``module`` found in ``base_dir``, or None when it
    is not local there.

    Resolved as Python's path finder does: a package (``name/__init__.py``) before a module
    (``name.py``) before a namespace folder holding Python files. A package contributes every
    file, not only its ``.py``: a module may read its own data (``conf.json``, templates),
    and an edit there changes what a step computes. Bytecode, hidden entries
    (``.ipynb_checkpoints``, editor swap files), caches, VCS and virtual-environment folders
    and ``node_modules`` are left out.
    """
    top = module.split(".")[0]
    if base_dir is None or not top.isidentifier():
        return None
    package = base_dir / top
    single = base_dir / f"{top}.py"
    if (package / "__init__.py").is_file():
        return _package_files(package)
    if single.is_file():
        return [single]
    if package.is_dir():
        files = _package_files(package)
        if any(p.suffix == ".py" for p in files):
            return files
    return None


def _package_files(package: Path) -> list[Path]:
    files: list[Path] = []
    todo = [package]
    while todo:
        folder = todo.pop()
        for entry in folder.iterdir():
            if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                continue
            if entry.is_dir():
                if not entry.is_symlink() and not (entry / "pyvenv.cfg").exists():
                    todo.append(entry)
            elif entry.is_file() and entry.suffix not in _BYTECODE:
                files.append(entry)
    return sorted(files)
