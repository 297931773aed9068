"""Tables behind the analysis: pure methods, argument-mutating calls, global-state effects.

Kept apart from the walker so the rules are easy to read and extend. For a value of
unknown kind, a method not listed as pure is treated as mutating its receiver (a wrong
"write" only costs parallelism; a wrong "pure" would pass a stale value); values of a
known kind (a str, a list, an iterator...) follow the tables of :mod:`.kinds`.
"""

from __future__ import annotations

import builtins

# Names every cell can use without anyone defining them.
BUILTIN_NAMES: frozenset[str] = frozenset(dir(builtins)) | frozenset(
    {
        "get_ipython",
        "display",
        "In",
        "Out",
        "_",
        "__",
        "___",
        "_i",
        "_ii",
        "_iii",
        "_ih",
        "_oh",
        "_dh",
        "exit",
        "quit",
        "__name__",
        "__file__",
        "__builtins__",
        "__doc__",
        "__spec__",
        "__loader__",
        "__package__",
    }
)

# Methods that never change their receiver (strings, containers, numpy, pandas, sklearn,
# torch). ``sort_values``/``drop``/... mutate only with ``inplace=True`` (checked apart).
PURE_METHODS: frozenset[str] = frozenset(
    """
    copy deepcopy count index get keys values items sum mean min max std var median mode prod
    cumsum cumprod cummax cummin head tail describe info astype tolist item any all format
    format_map join split rsplit splitlines strip lstrip rstrip lower upper title capitalize
    casefold swapcase startswith endswith find rfind rindex replace encode decode isdigit
    isalpha isalnum isspace isupper islower isnumeric isdecimal isidentifier istitle zfill
    center ljust rjust partition rpartition expandtabs translate removeprefix removesuffix
    groupby merge query reshape ravel flatten transpose dot matmul round isna isnull notna
    notnull unique nunique value_counts apply applymap map filter sort_values sort_index drop
    drop_duplicates dropna fillna ffill bfill reset_index set_index rename rename_axis where
    mask clip abs agg aggregate transform pipe assign iterrows itertuples iteritems to_numpy
    to_dict to_list to_frame to_string to_json to_csv to_parquet to_pickle to_records
    to_markdown to_html to_excel to_sql to_datetime to_period to_timestamp tobytes tofile
    predict predict_proba predict_log_proba score decision_function get_params
    get_feature_names_out inverse_transform kneighbors argmax argmin argsort nonzero
    searchsorted diff pct_change rolling expanding ewm resample shift rank corr corrwith cov
    quantile nlargest nsmallest idxmax idxmin isin between duplicated equals sample view
    conjugate conj most_common elements total difference intersection union
    symmetric_difference issubset issuperset isdisjoint fromkeys hex bit_length
    as_integer_ratio is_integer explode melt pivot pivot_table stack unstack combine compare
    align reindex droplevel swaplevel first last nth size cumcount ngroup xs take squeeze
    memory_usage select_dtypes infer_objects convert_dtypes get_group nunique sem skew kurt
    add_prefix add_suffix truncate interpolate asfreq tz_localize tz_convert strftime
    isoformat total_seconds timestamp date time weekday isoweekday toordinal swapaxes repeat
    trace diagonal cpu numpy detach clone float long int double half bool cuda to
    parameters named_parameters state_dict children modules numel dim contiguous unsqueeze
    permute expand norm softmax log_softmax evaluate summary read_text read_bytes exists
    is_file is_dir with_suffix with_name relative_to resolve absolute glob rglob iterdir
    stat joinpath as_posix open_dataset keys_view search match fullmatch findall finditer
    sub subn group groups groupdict span start end dumps hexdigest digest
    debug info warning error exception critical log plot hist boxplot savefig show save
    """.split()
)

# Methods whose result is (part of) the receiver's object, and builtins returning one of
# their arguments: the result aliases them (`lst = d.get("k"); lst.append(1)` changes d).
RETURNS_PART: frozenset[str] = frozenset(
    "get setdefault pop popitem __getitem__ item values keys items".split()
)
RETURNS_ARG: frozenset[str] = frozenset("getattr max min next".split())

# Methods that store their arguments in the receiver (`lst.append(a)`: lst holds a).
STORING_METHODS: frozenset[str] = frozenset(
    "append insert add appendleft setdefault update put put_nowait".split()
)

# Builtins that wrap an iterable lazily: the result moves on when the wrapped iterator does.
LAZY_BUILTINS: frozenset[str] = frozenset("iter map filter zip enumerate reversed".split())
# Builtins that look at an argument without iterating it (an iterator passed to any other
# call may be consumed by it).
NON_CONSUMING: frozenset[str] = frozenset(
    "id type isinstance issubclass print repr str callable hasattr getattr setattr delattr"
    " vars dir bool len".split()
)
_ITER_CALLS = frozenset(
    "os.scandir os.walk re.finditer csv.reader csv.DictReader glob.iglob fileinput.input".split()
)
_RNG_CALLS = frozenset(
    "random.Random random.SystemRandom numpy.random.default_rng numpy.random.RandomState"
    " numpy.random.Generator".split()
)


def qualified_kind(q: str) -> str | None:
    """The likely kind (see :mod:`~kale_like.analysis.kinds`) of what call ``q`` returns."""
    if q.startswith("itertools.") or q in _ITER_CALLS:
        return "iter"
    if q in _RNG_CALLS:
        return "rng"
    return None


# Calls (qualified) that mutate their first positional argument.
ARG_MUTATORS: frozenset[str] = frozenset(
    """
    heapq.heappush heapq.heappop heapq.heapify heapq.heappushpop heapq.heapreplace
    random.shuffle numpy.random.shuffle numpy.copyto numpy.put numpy.place numpy.putmask
    numpy.fill_diagonal setattr delattr next operator.setitem operator.delitem
    operator.iadd bisect.insort bisect.insort_left bisect.insort_right
    """.split()
)

_RANDOM_INDEPENDENT = frozenset({"Random", "SystemRandom"})
_NP_INDEPENDENT = frozenset(
    "default_rng Generator RandomState SeedSequence BitGenerator PCG64 PCG64DXSM MT19937 "
    "Philox SFC64".split()
)
_TORCH_SEED = frozenset(
    "manual_seed seed set_rng_state random.manual_seed random.seed random.set_rng_state "
    "cuda.manual_seed cuda.manual_seed_all cuda.set_rng_state".split()
)
_TORCH_DRAW = frozenset(
    "rand randn randint randperm normal bernoulli multinomial poisson rand_like randn_like "
    "randint_like".split()
)
_LIST_MUTATORS = frozenset("append insert extend remove pop clear reverse sort".split())
_DICT_MUTATORS = frozenset("update pop setdefault clear popitem".split())
_MPL_WRITERS = frozenset(
    """
    matplotlib.pyplot.style.use matplotlib.style.use matplotlib.rc matplotlib.pyplot.rc
    matplotlib.rcdefaults matplotlib.pyplot.rcdefaults matplotlib.rcParams.update
    matplotlib.pyplot.rcParams.update matplotlib.use matplotlib.pyplot.switch_backend
    """.split()
)

# scikit-learn functions and estimators that draw from NumPy's global RNG when called or
# built without `random_state=` (check_random_state(None) is the global RandomState); an
# estimator draws when fitted, its construction stands for that. Splitters marked in
# _SKLEARN_SHUFFLE draw only with `shuffle=True`.
_SKLEARN_DRAWS = frozenset(
    """
    train_test_split shuffle resample make_classification make_regression make_blobs
    make_moons make_circles make_friedman1 make_friedman2 make_friedman3 make_gaussian_quantiles
    make_hastie_10_2 make_low_rank_matrix make_sparse_coded_signal make_spd_matrix
    make_swiss_roll make_s_curve make_multilabel_classification make_biclusters
    make_checkerboard KFold StratifiedKFold StratifiedGroupKFold ShuffleSplit
    StratifiedShuffleSplit GroupShuffleSplit RepeatedKFold RepeatedStratifiedKFold
    RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor
    DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor
    GradientBoostingClassifier GradientBoostingRegressor HistGradientBoostingClassifier
    HistGradientBoostingRegressor BaggingClassifier BaggingRegressor AdaBoostClassifier
    AdaBoostRegressor IsolationForest RandomTreesEmbedding KMeans MiniBatchKMeans
    BisectingKMeans MLPClassifier MLPRegressor SGDClassifier SGDRegressor SGDOneClassSVM
    Perceptron PassiveAggressiveClassifier PassiveAggressiveRegressor GaussianMixture
    BayesianGaussianMixture TSNE
    """.split()
)
_SKLEARN_SHUFFLE = frozenset("KFold StratifiedKFold StratifiedGroupKFold".split())


def sklearn_draws(q: str, keywords: dict[str | None, object]) -> bool:
    """A call ``q`` (qualified) with ``keywords`` (name -> constant value, or ``...`` when not
    a constant; ``None`` names ``**kwargs``) draws from NumPy's global RNG."""
    if not q.startswith("sklearn.") or None in keywords:
        return False
    name = q.rsplit(".", 1)[1]
    if name not in _SKLEARN_DRAWS:
        return False
    if keywords.get("random_state", None) is not None:
        return False
    return name not in _SKLEARN_SHUFFLE or keywords.get("shuffle", False) not in (False, None)


# Methods of any receiver that draw from NumPy's global RNG when called without
# `random_state=` (pandas `DataFrame/Series/GroupBy.sample`): the receiver's type is unknown,
# so a `random.Random` instance's `.sample` is counted too (an extra edge, never a wrong run).
_GLOBAL_RNG_METHODS = frozenset({"sample"})


def method_draws(attr: str, keywords: dict[str | None, object]) -> bool:
    """A method call ``x.attr(**keywords)`` (see :func:`sklearn_draws`) draws from NumPy's
    global RNG."""
    if attr not in _GLOBAL_RNG_METHODS or None in keywords:
        return False
    return keywords.get("random_state", None) is None


Effect = tuple[frozenset[str], frozenset[str]]  # (state reads, state writes)
_NONE: Effect = (frozenset(), frozenset())


def _rw(kind: str) -> Effect:
    return (frozenset({kind}), frozenset({kind}))


def _r(kind: str) -> Effect:
    return (frozenset({kind}), frozenset())


def _w(kind: str) -> Effect:
    return (frozenset(), frozenset({kind}))


def _rng_effect(
    kind: str, attr: str, independent: frozenset[str], getter: str, setters: tuple[str, ...]
) -> Effect:
    """A module-level RNG: own generators touch nothing, the getter reads, setters write,
    every other function draws (reads and writes)."""
    if attr in independent:
        return _NONE
    if attr == getter:
        return _r(kind)
    if attr in setters:
        return _w(kind)
    return _rw(kind)


def call_state(q: str, keywords: dict[str | None, object] | None = None) -> Effect:
    """Global-state reads/writes of a call to the qualified name ``q`` (``keywords``: see
    :func:`sklearn_draws`)."""
    if keywords is not None and sklearn_draws(q, keywords):
        return _rw("numpy.random")
    head, _, rest = q.partition(".")
    if head == "random" and rest:
        return _rng_effect("random", rest, _RANDOM_INDEPENDENT, "getstate", ("seed", "setstate"))
    if q.startswith("numpy.random."):
        attr = q[len("numpy.random.") :].split(".")[0]
        return _rng_effect(
            "numpy.random", attr, _NP_INDEPENDENT, "get_state", ("seed", "set_state")
        )
    if head == "torch":
        if rest in _TORCH_SEED:
            return _w("torch.random")
        if rest in ("get_rng_state", "random.get_rng_state", "initial_seed"):
            return _r("torch.random")
        if rest in _TORCH_DRAW or rest.startswith("nn.init.") or rest == "nn.functional.dropout":
            return _rw("torch.random")
        return _NONE
    if head == "os":
        if rest in ("chdir", "fchdir"):
            return _rw("cwd")
        if rest == "getcwd":
            return _r("cwd")
        if rest in ("putenv", "unsetenv"):
            return _rw("os.environ")
        if rest in ("getenv", "getenvb"):
            return _r("os.environ")
        if rest.startswith("environ."):
            return _rw("os.environ") if rest[8:] in _DICT_MUTATORS else _r("os.environ")
        return _NONE
    if q.startswith("sys.path."):
        return _rw("sys.path") if q[9:] in _LIST_MUTATORS else _r("sys.path")
    if head == "warnings":
        if rest in ("filterwarnings", "simplefilter", "resetwarnings"):
            return _rw("warnings")
        if rest in ("warn", "warn_explicit", "catch_warnings"):
            return _r("warnings")
        return _NONE
    if head == "pandas":
        if rest in ("set_option", "reset_option"):
            return _rw("pandas.options")
        if rest in ("get_option", "describe_option", "option_context"):
            return _r("pandas.options")
        return _NONE
    if q in _MPL_WRITERS or q.startswith("seaborn.set"):
        return _rw("matplotlib.rc")
    if q.startswith("matplotlib.pyplot.") or q.startswith("seaborn."):
        return _r("matplotlib.rc")
    if q in ("pathlib.Path.cwd",):
        return _r("cwd")
    return _NONE


# Qualified attribute prefixes that name a piece of global state when read or assigned.
STATE_ATTRS: dict[str, str] = {
    "os.environ": "os.environ",
    "sys.path": "sys.path",
    "pandas.options": "pandas.options",
    "matplotlib.rcParams": "matplotlib.rc",
    "matplotlib.pyplot.rcParams": "matplotlib.rc",
    "warnings.filters": "warnings",
}


def attr_state(q: str) -> str | None:
    """The state kind a qualified attribute chain (``os.environ``...) refers to, if any."""
    for prefix, kind in STATE_ATTRS.items():
        if q == prefix or q.startswith(prefix + "."):
            return kind
    return None


# Line magics whose argument is Python code run in the user namespace.
CODE_LINE_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug"})
CODE_CELL_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug"})
DYNAMIC_MAGICS = frozenset({"run", "load", "store", "reset", "macro", "recall", "rerun"})
