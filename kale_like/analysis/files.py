"""Files a step reads and writes by literal path (``df.to_csv('data/train.csv')``).

Pure, on ``ast``: calls whose path argument is a string literal (or ``Path('a') / 'b'``,
``os.path.join('a', 'b')``, an f-string without placeholders, or a name bound to such a
value in the prelude or earlier in the step) are recorded as reads or writes of that path,
relative to the working directory. Other paths are left to the runtime, which carries
every file a step writes anyway (:mod:`kale_like.runtime.workspace`); these facts give the
step graph its ``file`` edges, the diagnostics, and the cache the files to fingerprint.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic
from .parse import parse_cell

# Methods (on any receiver) whose path argument is written: (positional index, keywords).
WRITE_METHODS: dict[str, tuple[int, tuple[str, ...]]] = {
    "to_csv": (0, ("path_or_buf",)),
    "to_parquet": (0, ("path",)),
    "to_json": (0, ("path_or_buf",)),
    "to_pickle": (0, ("path",)),
    "to_excel": (0, ("excel_writer",)),
    "to_feather": (0, ("path",)),
    "to_hdf": (0, ("path_or_buf",)),
    "to_orc": (0, ("path",)),
    "to_stata": (0, ("path",)),
    "write_csv": (0, ("file",)),
    "write_parquet": (0, ("file",)),
    "savefig": (0, ("fname",)),
    "imwrite": (0, ("filename",)),
    "imsave": (0, ("fname",)),
    "save_model": (0, ("fname", "filepath")),
}
READ_METHODS: dict[str, tuple[int, tuple[str, ...]]] = {
    name: (0, ("filepath_or_buffer", "path", "path_or_buf", "io", "source", "file"))
    for name in (
        "read_csv",
        "read_table",
        "read_parquet",
        "read_json",
        "read_pickle",
        "read_excel",
        "read_feather",
        "read_hdf",
        "read_orc",
        "read_fwf",
        "read_stata",
        "loadtxt",
        "genfromtxt",
        "imread",
        "load_model",
    )
}
# Ambiguous names (np.save(path, a) / torch.save(obj, path) / joblib.dump(obj, path)):
# the argument that is a literal path is the file.
AMBIGUOUS_WRITES = frozenset({"save", "savez", "savez_compressed", "savetxt", "dump"})
AMBIGUOUS_READS = frozenset({"load"})
PATH_KEYWORDS = ("file", "filename", "fname", "f", "path", "filepath")
PATH_METHODS_WRITE = frozenset({"write_text", "write_bytes", "touch"})
PATH_METHODS_READ = frozenset({"read_text", "read_bytes"})


@dataclass
class FileFacts:
    """Per step: literal paths read before being written, and written; with locations."""

    reads: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    writes: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    # Folders a path read or written lives in, the step did not create first: writing
    # `out/m.joblib` needs the `out` an earlier `os.makedirs('out')` made.
    needs: dict[str, tuple[int | None, int]] = field(default_factory=dict)


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _glob_folder(pattern: str) -> str | None:
    """The folder part of a glob pattern before its first wildcard (``out/parts/*.csv``)."""
    head = pattern.split("*")[0].split("?")[0].split("[")[0]
    folder = head.rsplit("/", 1)[0] if "/" in head else ""
    return normalize(folder) if folder else None


def normalize(path: str) -> str | None:
    """A relative POSIX path inside the working directory, or None (absolute, ``..``, URL)."""
    if not path or "://" in path or path.startswith(("/", "~", "\\")) or "\0" in path:
        return None
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm in (".", "") or norm.startswith(".."):
        return None
    return norm


def _name(node: ast.AST) -> str | None:
    """Dotted name of ``a.b.c``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def const_path(node: ast.AST | None, env: Mapping[str, str]) -> str | None:
    """The string value of a path expression made of literals, or None."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.FormattedValue) and node.conversion == -1 and not node.format_spec:
        return const_path(node.value, env)
    if isinstance(node, ast.JoinedStr):
        parts = [const_path(v, env) for v in node.values]
        return "".join(p for p in parts if p is not None) if None not in parts else None
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Add)):
        left, right = const_path(node.left, env), const_path(node.right, env)
        if left is None or right is None:
            return None
        return posixpath.join(left, right) if isinstance(node.op, ast.Div) else left + right
    if isinstance(node, ast.Call):
        fn = _name(node.func) or ""
        args = [const_path(a, env) for a in node.args]
        if None in args or node.keywords:
            return None
        if fn.split(".")[-1] in ("Path", "PurePath", "PosixPath", "str") and len(args) >= 1:
            return posixpath.join(*args)  # type: ignore[arg-type]
        if fn in ("os.path.join", "path.join", "join", "posixpath.join") and args:
            return posixpath.join(*args)  # type: ignore[arg-type]
    return None


def _arg(call: ast.Call, index: int, keywords: tuple[str, ...]) -> ast.AST | None:
    if len(call.args) > index:
        return call.args[index]
    for kw in call.keywords:
        if kw.arg in keywords:
            return kw.value
    return None


def _open_mode(call: ast.Call, index: int) -> str | None:
    node = _arg(call, index, ("mode",))
    if node is None:
        return "r"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Collector(ast.NodeVisitor):
    def __init__(self, cell: int | None, env: dict[str, str]) -> None:
        self.cell = cell
        self.env = env
        self.events: list[tuple[int, int, str, str]] = []  # (line, col, "r"|"w", path)

    def _add(self, node: ast.AST, kind: str, expr: ast.AST | None) -> None:
        path = normalize(const_path(expr, self.env) or "")
        if path is not None:
            self.events.append(
                (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), kind, path)
            )

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        value = const_path(node.value, self.env)
        for target in node.targets:
            if isinstance(target, ast.Name):
                if value is not None:
                    self.env[target.id] = value
                else:
                    self.env.pop(target.id, None)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        fn = node.func
        name = _name(fn) or ""
        last = name.split(".")[-1] if name else (fn.attr if isinstance(fn, ast.Attribute) else "")
        if name in ("os.makedirs", "os.mkdir", "makedirs", "mkdir"):
            self._add(node, "w", _arg(node, 0, ("name", "path")))
            return
        if name in ("glob.glob", "glob.iglob", "glob", "iglob"):
            pattern = const_path(_arg(node, 0, ("pathname",)), self.env)
            folder = _glob_folder(pattern) if pattern else None
            if folder:  # a folder listed: it needs the folder, like reading a file in it
                self.events.append(
                    (getattr(node, "lineno", 0), getattr(node, "col_offset", 0), "n", folder)
                )
            return
        if isinstance(fn, ast.Attribute) and last == "mkdir":  # Path('out').mkdir(...)
            self._add(node, "w", fn.value)
            return
        if name in ("open", "io.open", "codecs.open"):
            mode = _open_mode(node, 1)
            if mode is not None:
                kind = "w" if set(mode) & set("wax+") else "r"
                self._add(node, kind, _arg(node, 0, ("file", "filename")))
            return
        if isinstance(fn, ast.Attribute) and last == "open":
            if const_path(fn.value, self.env) is not None:  # Path('x').open('w')
                mode = _open_mode(node, 0)
                if mode is not None:
                    self._add(node, "w" if set(mode) & set("wax+") else "r", fn.value)
            else:  # Image.open('x.png'), h5py-like readers
                self._add(node, "r", _arg(node, 0, ("fp", "filename", "file")))
            return
        if not isinstance(fn, ast.Attribute):
            return
        if last in WRITE_METHODS:
            index, keywords = WRITE_METHODS[last]
            self._add(node, "w", _arg(node, index, keywords))
        elif last in READ_METHODS:
            index, keywords = READ_METHODS[last]
            self._add(node, "r", _arg(node, index, keywords))
        elif last in PATH_METHODS_WRITE:
            self._add(node, "w", fn.value)
        elif last in PATH_METHODS_READ:
            self._add(node, "r", fn.value)
        elif last in AMBIGUOUS_WRITES or last in AMBIGUOUS_READS:
            kind = "w" if last in AMBIGUOUS_WRITES else "r"
            candidates = list(node.args) + [
                k.value for k in node.keywords if k.arg in PATH_KEYWORDS
            ]
            for cand in candidates:
                if normalize(const_path(cand, self.env) or ""):
                    self._add(node, kind, cand)
                    break
        elif name in ("shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move"):
            self._add(node, "r", _arg(node, 0, ("src",)))
            self._add(node, "w", _arg(node, 1, ("dst",)))


def literal_bindings(sources: Iterable[str]) -> dict[str, str]:
    """Names bound to literal paths at module level of ``sources`` (e.g. the prelude)."""
    env: dict[str, str] = {}
    for src in sources:
        try:
            tree = parse_cell(src)
        except Exception:  # the main analysis reports syntax errors
            continue
        _Collector(None, env).visit(tree)
    return env


def pipeline_files(
    prelude: Iterable[str], steps: Iterable[tuple[str, Iterable[tuple[int, str]]]]
) -> dict[str, FileFacts]:
    """:func:`step_files` of each step in notebook order; path names carry across steps."""
    env = literal_bindings(prelude)
    return {name: step_files(cells, env) for name, cells in steps}


def step_files(cells: Iterable[tuple[int, str]], env: dict[str, str] | None = None) -> FileFacts:
    """Literal file reads (before a write in the step) and writes of a step's cells.

    ``env`` (names bound to literal paths) is updated with the step's own bindings.
    """
    facts = FileFacts()
    names = env if env is not None else {}
    for index, src in cells:
        try:
            tree = parse_cell(src, index)
        except Exception:
            continue
        collector = _Collector(index, names)
        collector.visit(tree)
        for line, _col, kind, path in sorted(collector.events):
            for folder in _parents(path):
                if folder not in facts.writes:
                    facts.needs.setdefault(folder, (index, line))
            if kind == "n":  # a folder listed (glob): needed, not a file read
                if path not in facts.writes:
                    facts.needs.setdefault(path, (index, line))
            elif kind == "w":
                facts.writes.setdefault(path, (index, line))
            elif path not in facts.writes:
                facts.reads.setdefault(path, (index, line))
    return facts


@dataclass
class FileFlow:
    """File edges per step, and reads that a later step's write could race with."""

    inputs: dict[str, dict[str, str]]  # step -> path -> producer
    later_writers: list[tuple[str, str, str]]  # (reader, path, first later writer)


def file_flow(names: list[str], facts: Mapping[str, FileFacts]) -> FileFlow:
    """A read of P comes from the last step above it (notebook order) that writes P.

    A read with no writer above reads the file as it was before the run (as top to bottom);
    a later step that writes P is listed, so the caller can warn when the two are parallel.
    """
    inputs: dict[str, dict[str, str]] = {s: {} for s in names}
    later_writers: list[tuple[str, str, str]] = []
    for i, s in enumerate(names):
        for path in facts[s].reads:
            writers = [w for w in names[:i] if path in facts[w].writes]
            if writers:
                inputs[s][path] = writers[-1]
                continue
            later = [w for w in names[i + 1 :] if path in facts[w].writes]
            if later:
                later_writers.append((s, path, later[0]))
        for folder in facts[s].needs:
            if folder in inputs[s]:
                continue
            # The last step above that made the folder (or wrote into it) provides it.
            inside = folder + "/"
            makers = [
                w
                for w in names[:i]
                if any(p == folder or p.startswith(inside) for p in facts[w].writes)
            ]
            if makers:
                inputs[s][folder] = makers[-1]
    return FileFlow(inputs, later_writers)


def file_diagnostics(
    flow: FileFlow,
    facts: Mapping[str, FileFacts],
    anc: Mapping[str, AbstractSet[str]],
    prev_anc: Mapping[str, AbstractSet[str]],
    has_prev: bool,
) -> list[Diagnostic]:
    """``file-dependency`` (info) or ``missing-dependency`` (with prev: tags) for each file
    edge; ``parallel-file-access`` when a parallel later step writes a file a step reads."""
    diags: list[Diagnostic] = []
    for s, paths in flow.inputs.items():
        for path, producer in paths.items():
            cell, line = facts[s].reads.get(path) or facts[s].needs[path]
            if has_prev and producer not in prev_anc[s]:
                diags.append(
                    Diagnostic(
                        "warning",
                        "missing-dependency",
                        f"step {s!r} reads file {path!r} written by step {producer!r} but has "
                        "no prev: path to it; the edge was added",
                        cell,
                        line,
                        f"add the tag prev:{producer}",
                        s,
                    )
                )
            elif not has_prev:
                diags.append(
                    Diagnostic(
                        "info",
                        "file-dependency",
                        f"step {s!r} runs after {producer!r} because it reads file {path!r}",
                        cell,
                        line,
                        None,
                        s,
                    )
                )
    for s, path, writer in flow.later_writers:
        if writer in anc.get(s, ()) or s in anc.get(writer, ()):
            continue
        cell, line = facts[s].reads[path]
        diags.append(
            Diagnostic(
                "warning",
                "parallel-file-access",
                f"step {s!r} reads file {path!r}, which the parallel step {writer!r} (below it)"
                f" writes; {s!r} gets the file as it was before the run, as top to bottom, "
                "but on a shared volume the two would race",
                cell,
                line,
                f"to read what {writer!r} writes, move {writer!r} above {s!r}; otherwise "
                f"write to another path or add the tag prev:{s} to {writer!r}",
                s,
            )
        )
    return diags
