"""Adversarial tagged notebooks built from real-world patterns (Kaggle, Kale examples, files).

Each builder returns the cells of one notebook; the final ``pipeline-metrics`` cell sums up
what the notebook computed, so a pipeline that silently diverges shows in the metrics even
where no variable is passed between the steps that differ. Data is generated in code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nb_kit import cell

Builder = Callable[[], list[Any]]
NOTEBOOKS: dict[str, Builder] = {}


def notebook(fn: Builder) -> Builder:
    """Register ``fn`` under its name (without the ``nb_`` prefix)."""
    NOTEBOOKS[fn.__name__.removeprefix("nb_")] = fn
    return fn


_FRAME = (
    "rng = np.random.RandomState(0)\n"
    "df = pd.DataFrame({'age': rng.randint(18, 80, 60).astype(float),\n"
    "                   'fare': rng.rand(60) * 100,\n"
    "                   'sex': rng.choice(['m', 'f'], 60),\n"
    "                   'port': rng.choice(['S', 'C', 'Q', None], 60),\n"
    "                   'survived': rng.randint(0, 2, 60)})\n"
    "df.loc[::7, 'age'] = np.nan\n"
    "df.to_csv('train.csv', index=False)\n"
)


@notebook
def nb_kaggle_inplace() -> list[Any]:
    """pandas load -> inplace fillna/drop, chained assignment, loc, apply, parallel models."""
    return [
        cell("import numpy as np\nimport pandas as pd", "imports"),
        cell(_FRAME, "step:make"),
        cell("data = pd.read_csv('train.csv')", "step:load"),
        cell(
            "data.fillna({'age': data['age'].median()}, inplace=True)\n"
            "data.dropna(subset=['port'], inplace=True)\n"
            "data.loc[data['fare'] > 90, 'fare'] = 90.0\n"
            "data.reset_index(drop=True, inplace=True)",
            "step:clean",
        ),
        cell(
            "data['fare_band'] = data['fare'].apply(lambda f: int(f // 25))\n"
            "data['is_m'] = data['sex'].map({'m': 1, 'f': 0})\n"
            "features = ['age', 'fare', 'fare_band', 'is_m']",
            "step:features",
        ),
        cell(
            "from sklearn.model_selection import train_test_split\n"
            "X_tr, X_va, y_tr, y_va = train_test_split(data[features], data['survived'],\n"
            "                                          test_size=0.3, random_state=1)",
            "step:split",
        ),
        cell(
            "from sklearn.linear_model import LogisticRegression\n"
            "lr = LogisticRegression(max_iter=500).fit(X_tr, y_tr)\n"
            "acc_lr = float(lr.score(X_va, y_va))",
            "step:logreg",
        ),
        cell(
            "from sklearn.tree import DecisionTreeClassifier\n"
            "dt = DecisionTreeClassifier(random_state=0).fit(X_tr, y_tr)\n"
            "acc_dt = float(dt.score(X_va, y_va))",
            "step:tree",
            "prev:split",
        ),
        cell(
            "from sklearn.ensemble import RandomForestClassifier\n"
            "rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_tr, y_tr)\n"
            "acc_rf = float(rf.score(X_va, y_va))",
            "step:forest",
            "prev:split",
        ),
        cell(
            "scores = {'lr': acc_lr, 'dt': acc_dt, 'rf': acc_rf}\n"
            "best = max(scores, key=scores.get)\nbest_acc = scores[best]\nrows = len(data)",
            "step:compare",
        ),
        cell("print(best_acc)\nprint(rows)", "pipeline-metrics"),
    ]


@notebook
def nb_label_encoder_split() -> list[Any]:
    """A LabelEncoder created in one step, fitted in another, used to transform in a third."""
    return [
        cell(
            "import numpy as np\nimport pandas as pd\n"
            "from sklearn.preprocessing import LabelEncoder",
            "imports",
        ),
        cell(
            "cities = pd.Series(['oslo', 'rome', 'paris', 'rome', 'oslo', 'lima'])\n"
            "enc = LabelEncoder()",
            "step:create",
        ),
        cell("enc.fit(cities)", "step:fit"),
        cell(
            "codes = enc.transform(cities)\ncode_sum = int(codes.sum())\n"
            "n_classes = len(enc.classes_)",
            "step:transform",
        ),
        cell("print(code_sum)\nprint(n_classes)", "pipeline-metrics"),
    ]


@notebook
def nb_kale_block_style() -> list[Any]:
    """Kale 0.x style: block: tags, an empty block: continuation, untagged helper cells."""
    return [
        cell("import math", "imports"),
        cell(
            "calls = 0\n\ndef counted(fn):\n    def wrap(*a):\n        global calls\n"
            "        calls += 1\n        return fn(*a)\n    return wrap\n\n"
            "@counted\ndef area(r):\n    return math.pi * r * r",
            "functions",
        ),
        cell("radii = [1, 2, 3]", "block:data"),
        cell("radii.append(4)"),
        cell("radii.append(5)", "block:"),
        cell("areas = [area(r) for r in radii]", "block:compute", "prev:data"),
        cell("total = sum(areas)"),  # untagged: joins compute
        cell("n_calls = calls\ntotal_area = round(total, 6)", "block:report", "prev:compute"),
        cell("print(total_area)\nprint(n_calls)", "pipeline-metrics"),
    ]


@notebook
def nb_files_between_steps() -> list[Any]:
    """Files handed between steps: to_csv/read_csv, joblib, pickle, np.save, a globbed folder."""
    return [
        cell(
            "import glob, os, pickle\nfrom pathlib import Path\nimport joblib\n"
            "import numpy as np\nimport pandas as pd",
            "imports",
        ),
        cell(
            "os.makedirs('out/parts', exist_ok=True)\n"
            "for i in range(3):\n"
            "    pd.DataFrame({'x': np.arange(i, i + 4)}).to_csv(f'out/parts/p{i}.csv',"
            " index=False)\n"
            "np.save('out/arr.npy', np.arange(5) * 2)\n"
            "Path('out/note.txt').write_text('hello')",
            "step:write",
        ),
        cell(
            "from sklearn.linear_model import LinearRegression\n"
            "m = LinearRegression().fit(np.arange(10).reshape(-1, 1), np.arange(10) * 3.0)\n"
            "joblib.dump(m, 'out/model.joblib')\n"
            "with open('out/meta.pkl', 'wb') as fh:\n    pickle.dump({'k': 7}, fh)",
            "step:train",
        ),
        cell(
            "parts = sorted(glob.glob('out/parts/*.csv'))\n"
            "frame = pd.concat([pd.read_csv(p) for p in parts])\n"
            "arr = np.load('out/arr.npy')\n"
            "model = joblib.load('out/model.joblib')\n"
            "with open('out/meta.pkl', 'rb') as fh:\n    meta = pickle.load(fh)\n"
            "pred = float(model.predict([[4.0]])[0])\n"
            "summary = float(frame['x'].sum() + arr.sum() + meta['k'])\n"
            "note_len = len(Path('out/note.txt').read_text())",
            "step:read",
        ),
        cell("print(pred)\nprint(summary)\nprint(note_len)", "pipeline-metrics"),
    ]


@notebook
def nb_method_mutations() -> list[Any]:
    """list.sort, dict.update, set.add, deque, Counter mutated in later steps."""
    return [
        cell("from collections import Counter, deque", "imports"),
        cell(
            "xs = [5, 3, 9, 1]\ncfg = {'a': 1}\nseen = set()\nq = deque([1, 2])\n"
            "cnt = Counter('abca')",
            "step:make",
        ),
        cell(
            "xs.sort()\ncfg.update(b=2)\nseen.add('x')\nq.appendleft(0)\nq.rotate(1)\n"
            "cnt.update('zz')",
            "step:mutate",
        ),
        cell(
            "first = xs[0]\nkeys = len(cfg)\nn_seen = len(seen)\nhead = q[0]\nzz = cnt['z']",
            "step:read",
        ),
        cell(
            "print(first)\nprint(keys)\nprint(n_seen)\nprint(head)\nprint(zz)", "pipeline-metrics"
        ),
    ]


@notebook
def nb_stateful_class() -> list[Any]:
    """A class defined in a step cell, an instance mutated through methods in later steps."""
    return [
        cell(
            "class Tracker:\n    def __init__(self):\n        self.items = []\n"
            "    def add(self, v):\n        self.items.append(v)\n        return self\n"
            "    def total(self):\n        return sum(self.items)\n\n"
            "tr = Tracker()",
            "step:define",
        ),
        cell("tr.add(3)\ntr.add(4)", "step:feed"),
        cell("tr.items.append(10)", "step:poke"),
        cell("tot = tr.total()", "step:sum"),
        cell("print(tot)", "pipeline-metrics"),
    ]


@notebook
def nb_container_aliases() -> list[Any]:
    """Aliases across containers: d['k'] = lst; lst.append later; read through d."""
    return [
        cell("lst = [1, 2]\nd = {'k': lst}\npair = (lst, 'tag')", "step:make"),
        cell("lst.append(3)", "step:grow"),
        cell("via_d = len(d['k'])\nvia_pair = len(pair[0])", "step:read"),
        cell("print(via_d)\nprint(via_pair)", "pipeline-metrics"),
    ]


@notebook
def nb_generator_between_steps() -> list[Any]:
    """An iterator created in one step, advanced in the next, drained in a third."""
    return [
        cell("it = iter(range(10))\ngen = (i * i for i in range(5))", "step:make"),
        cell("a = next(it)\nb = next(it)\ng0 = next(gen)", "step:advance"),
        cell("rest = sum(it)\ngrest = sum(gen)\nheads = a + b + g0", "step:drain"),
        cell("print(rest)\nprint(grest)\nprint(heads)", "pipeline-metrics"),
    ]


@notebook
def nb_global_config() -> list[Any]:
    """A global config dict mutated by functions; a `global` counter rebound by a function."""
    return [
        cell(
            "CONFIG = {'lr': 0.1, 'epochs': 1}\nSTEPS = 0\n\n"
            "def bump(key, factor):\n    CONFIG[key] = CONFIG[key] * factor\n\n"
            "def tick():\n    global STEPS\n    STEPS += 1",
            "functions",
        ),
        cell("bump('lr', 0.5)\ntick()", "step:tune"),
        cell("bump('epochs', 3)\ntick()\ntick()", "step:more"),
        cell(
            "lr_final = CONFIG['lr']\nepochs_final = CONFIG['epochs']\nsteps = STEPS", "step:report"
        ),
        cell("print(lr_final)\nprint(epochs_final)\nprint(steps)", "pipeline-metrics"),
    ]


@notebook
def nb_numpy_rng_sample() -> list[Any]:
    """np.random.seed, draws in several steps, df.sample without random_state."""
    return [
        cell("import numpy as np\nimport pandas as pd", "imports"),
        cell("np.random.seed(42)\nnoise = np.random.rand(3)", "step:seed"),
        cell("frame = pd.DataFrame({'v': np.arange(20)})\nsub = frame.sample(5)", "step:sample"),
        cell(
            "more = np.random.randn(4)\npicked = int(sub['v'].sum())\n"
            "more_sum = float(more.sum())\nnoise_sum = float(noise.sum())",
            "step:draw",
        ),
        cell("print(picked)\nprint(more_sum)\nprint(noise_sum)", "pipeline-metrics"),
    ]


@notebook
def nb_random_instances() -> list[Any]:
    """random.Random instances and the module RNG, used across steps and parallel branches."""
    return [
        cell("import random", "imports"),
        cell("random.seed(7)\nr = random.Random(3)\nfirst = r.random()", "step:make"),
        cell("x1 = r.randint(0, 1000)\ny1 = random.randint(0, 1000)", "step:left"),
        cell("x2 = random.random()", "step:right", "prev:make"),
        cell("tot = x1 + y1 + x2 + first", "step:join", "prev:left", "prev:right"),
        cell("print(tot)", "pipeline-metrics"),
    ]


@notebook
def nb_matplotlib_across_steps() -> list[Any]:
    """A figure built across steps (fig/ax passed on), saved in a later step."""
    return [
        cell(
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt", "imports"
        ),
        cell("fig, ax = plt.subplots()\nax.plot([1, 2, 3], [3, 1, 2])", "step:draw"),
        cell("ax.set_title('demo')\nax.plot([1, 2], [0, 5])", "step:decorate"),
        cell(
            "n_lines = len(ax.get_lines())\ntitle_len = len(ax.get_title())\n"
            "fig.savefig('fig.png')",
            "step:save",
        ),
        cell("print(n_lines)\nprint(title_len)", "pipeline-metrics"),
    ]


@notebook
def nb_magics() -> list[Any]:
    """%%time, %timeit, !ls and %env inside steps."""
    return [
        cell("%%time\nvals = [i * 2 for i in range(100)]", "step:make"),
        cell(
            "%timeit -n1 -r1 sum(vals)\n%env MODE=fast\nfiles = !ls\nvals.append(1)", "step:magic"
        ),
        cell(
            "import os\nmode = os.environ.get('MODE', '')\ns = sum(vals)\nmode_len = len(mode)",
            "step:read",
        ),
        cell("print(s)\nprint(mode_len)", "pipeline-metrics"),
    ]


@notebook
def nb_try_except_binds() -> list[Any]:
    """Names bound in try/except (the exception name, fallback values) read later."""
    return [
        cell(
            "value = 1\ntry:\n    value = int('x')\nexcept ValueError as exc:\n"
            "    err = str(exc)\n    value = -1",
            "step:parse",
        ),
        cell(
            "try:\n    import not_a_module_xyz\n    have = True\nexcept ImportError:\n"
            "    have = False",
            "step:probe",
        ),
        cell("score = value * 10 + (5 if have else 0) + len(err)", "step:use"),
        cell("print(score)", "pipeline-metrics"),
    ]


@notebook
def nb_del_recreate() -> list[Any]:
    """`del` then re-create under the same name, in different steps."""
    return [
        cell("tmp = [1, 2, 3]\nkeep = tmp", "step:make"),
        cell("del tmp", "step:drop"),
        cell("tmp = {'new': True}\nkeep.append(4)", "step:remake"),
        cell("n = len(tmp) + len(keep)", "step:read"),
        cell("print(n)", "pipeline-metrics"),
    ]


@notebook
def nb_parameters_rebound() -> list[Any]:
    """Pipeline parameters rebound in steps and read downstream."""
    return [
        cell("alpha = 0.5\nn = 4\nname = 'run'", "pipeline-parameters"),
        cell("alpha = alpha * 2\nvals = list(range(n))", "step:scale"),
        cell("n += 1\nname = name.upper()", "step:bump"),
        cell("out = alpha * n + len(vals) + len(name)", "step:use"),
        cell("print(out)", "pipeline-metrics"),
    ]


@notebook
def nb_model_fitted_later() -> list[Any]:
    """A model created in one step, fitted in a parallel-looking later step, scored after."""
    return [
        cell("import numpy as np\nfrom sklearn.linear_model import Ridge", "imports"),
        cell(
            "X = np.arange(20, dtype=float).reshape(10, 2)\ny = X[:, 0] * 2 + 1\n"
            "model = Ridge(alpha=1.0)",
            "step:setup",
        ),
        cell("X_scaled = X / X.max()", "step:scale"),
        cell("model.fit(X_scaled, y)", "step:fit"),
        cell("r2 = float(model.score(X_scaled, y))\ncoef0 = float(model.coef_[0])", "step:score"),
        cell("print(r2)\nprint(coef0)", "pipeline-metrics"),
    ]


@notebook
def nb_for_loop_alias_frames() -> list[Any]:
    """Kaggle's `for df in [train, test]: df[...] = ...` feature engineering idiom."""
    return [
        cell("import pandas as pd", "imports"),
        cell(
            "train = pd.DataFrame({'a': [1, 2, 3]})\ntest = pd.DataFrame({'a': [4, 5]})",
            "step:load",
        ),
        cell(
            "for frame in [train, test]:\n    frame['b'] = frame['a'] * 2\n"
            "combined = [train, test]",
            "step:engineer",
        ),
        cell("for f in combined:\n    f.drop(columns=['a'], inplace=True)", "step:prune"),
        cell(
            "cols = len(train.columns) + len(test.columns)\nbsum = int(train['b'].sum())",
            "step:read",
        ),
        cell("print(cols)\nprint(bsum)", "pipeline-metrics"),
    ]


@notebook
def nb_pickle_roundtrip_shared() -> list[Any]:
    """Objects pickled by one step and mutated in memory by another (file vs memory)."""
    return [
        cell("import pickle", "imports"),
        cell(
            "state = {'count': 1}\nwith open('state.pkl', 'wb') as fh:\n    pickle.dump(state, fh)",
            "step:save",
        ),
        cell("state['count'] += 5", "step:bump"),
        cell(
            "with open('state.pkl', 'rb') as fh:\n    disk = pickle.load(fh)\n"
            "diff = state['count'] - disk['count']",
            "step:compare",
        ),
        cell("print(diff)", "pipeline-metrics"),
    ]


@notebook
def nb_functions_cell_helpers() -> list[Any]:
    """Helpers in a functions cell that read notebook globals defined by steps."""
    return [
        cell("import numpy as np", "imports"),
        cell(
            "def scaled(v):\n    return v * FACTOR\n\n"
            "def register(name):\n    REGISTRY.append(name)\n    return len(REGISTRY)",
            "functions",
        ),
        cell("FACTOR = 3\nREGISTRY = []", "step:setup"),
        cell("a = scaled(np.arange(3)).sum()\nregister('x')", "step:first"),
        cell("FACTOR = 10\nregister('y')", "step:change"),
        cell("b = int(scaled(2))\nk = register('z')\na = int(a)", "step:last"),
        cell("print(a)\nprint(b)\nprint(k)", "pipeline-metrics"),
    ]


@notebook
def nb_setdefault_nested() -> list[Any]:
    """Nested containers mutated through helpers: setdefault, nested lists, in-place numpy."""
    return [
        cell("import numpy as np", "imports"),
        cell("groups = {}\narr = np.zeros(4)\nrows = [[0], [0]]", "step:make"),
        cell(
            "groups.setdefault('a', []).append(1)\narr[1:3] += 2\nrows[1].append(9)\n"
            "np.add(arr, 1, out=arr)",
            "step:fill",
        ),
        cell("g = len(groups['a'])\nasum = float(arr.sum())\nr = sum(rows[1])", "step:read"),
        cell("print(g)\nprint(asum)\nprint(r)", "pipeline-metrics"),
    ]


@notebook
def nb_step_function_globals() -> list[Any]:
    """A function a step defines changes globals when a later step calls it (``global``
    counter, a module-level list it appends to): the function must change the receiving
    step's namespace, as it changes ``__main__`` top to bottom."""
    return [
        cell("import numpy as np", "imports"),
        cell(
            "calls = 0\nlog = []\nSCALE = 2\n"
            "def record(x):\n    global calls\n    calls += 1\n    log.append(x)\n    return x\n"
            "class Scaler:\n    def apply(self, v):\n        return v * SCALE\n"
            "scaler = Scaler()",
            "step:define",
        ),
        cell("record(1)\nrecord(2)", "step:use"),
        cell("total = calls + sum(log) + scaler.apply(1) + int(np.sum(log))", "step:report"),
        cell("print(total)", "pipeline-metrics"),
    ]


@notebook
def nb_code_in_values() -> list[Any]:
    """Values that carry code reading globals a later step rebinds: an instance of a
    step-defined class whose method reads a module constant, a closure from a factory."""
    return [
        cell("import numpy as np", "imports"),
        cell(
            "SCALE = 2\nbase = 10\n"
            "class Scaler:\n    def apply(self, v):\n        return np.float64(v) * SCALE\n"
            "def make_adder():\n    def add(v):\n        return v + base\n    return add\n"
            "scaler = Scaler()\nadder = make_adder()",
            "step:define",
        ),
        cell("SCALE = 5\nbase = 100", "step:change"),
        cell("total = float(scaler.apply(1)) + adder(1)", "step:use"),
        cell("print(total)", "pipeline-metrics"),
    ]
