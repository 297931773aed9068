"""One rule for a notebook's helper modules: the files the step cache keys on are the files
an image carries, data files included."""

from __future__ import annotations

from pathlib import Path

from kale_like.engines.local.cache import modules_hash
from kale_like.local_modules import local_module_files


def _helper(root: Path) -> Path:
    pkg = root / "helper"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import x\n", encoding="utf-8")
    (pkg / "sub" / "__init__.py").write_text("x = 1\n", encoding="utf-8")
    (pkg / "conf.json").write_text('{"f": 2}', encoding="utf-8")
    for junk in ("__pycache__", ".ipynb_checkpoints", "node_modules", ".git"):
        (pkg / junk).mkdir()
        (pkg / junk / "x.pyc").write_bytes(b"\0")
    (pkg / "venv").mkdir()
    (pkg / "venv" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (pkg / "stale.pyc").write_bytes(b"\0")
    return pkg


def test_a_package_contributes_every_file_but_caches_and_environments(tmp_path: Path) -> None:
    _helper(tmp_path)
    files = local_module_files(tmp_path, "helper.sub")
    assert files is not None
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "helper/__init__.py",
        "helper/conf.json",
        "helper/sub/__init__.py",
    ]


def test_editing_a_helper_data_file_changes_the_cache_key(tmp_path: Path) -> None:
    pkg = _helper(tmp_path)
    before = modules_hash(tmp_path, ("helper", "json"))
    assert modules_hash(tmp_path, ("helper", "json")) == before
    (pkg / "conf.json").write_text('{"f": 5}', encoding="utf-8")
    assert modules_hash(tmp_path, ("helper", "json")) != before
    # Files outside what an image carries never change the key.
    after = modules_hash(tmp_path, ("helper",))
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"\1")
    (pkg / "node_modules" / "y.js").write_text("1", encoding="utf-8")
    assert modules_hash(tmp_path, ("helper",)) == after


def test_resolution_follows_python(tmp_path: Path) -> None:
    assert local_module_files(None, "helper") is None
    assert local_module_files(tmp_path, "helper") is None
    (tmp_path / "helper.py").write_text("", encoding="utf-8")
    assert local_module_files(tmp_path, "helper") == [tmp_path / "helper.py"]
    # A folder of data beside a module of the same name is not what the import finds...
    (tmp_path / "helper").mkdir()
    (tmp_path / "helper" / "data.csv").write_text("a\n", encoding="utf-8")
    assert local_module_files(tmp_path, "helper") == [tmp_path / "helper.py"]
    # ...but a package is, before the module.
    (tmp_path / "helper" / "__init__.py").write_text("", encoding="utf-8")
    assert local_module_files(tmp_path, "helper") == [
        tmp_path / "helper" / "__init__.py",
        tmp_path / "helper" / "data.csv",
    ]
    # A folder without Python files is not a module.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n", encoding="utf-8")
    assert local_module_files(tmp_path, "data") is None
