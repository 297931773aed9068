"""A fake Python environment for requirement inference tests (no real packages needed)."""

from __future__ import annotations

from kale_like.images.environment import PythonEnvironment, canonical


def fake_env(**extra: tuple[str, str, tuple[str, ...]]) -> PythonEnvironment:
    """A small, fixed environment: module -> distribution, versions, dependencies."""
    dists: dict[str, tuple[str, str, tuple[str, ...]]] = {
        # canonical: (display name, version, requires)
        "numpy": ("numpy", "2.4.6", ()),
        "pandas": ("pandas", "3.1.1", ("numpy>=1.26", "python-dateutil>=2.8")),
        "python-dateutil": ("python-dateutil", "2.9.0", ("six>=1.5",)),
        "six": ("six", "1.17.0", ()),
        "pyarrow": ("pyarrow", "20.0.0", ()),
        "scikit-learn": (
            "scikit-learn",
            "1.9.1",
            ("numpy>=1.22", "scipy>=1.8", "joblib>=1.2", 'pytest>=7; extra == "tests"'),
        ),
        "scipy": ("scipy", "1.16.0", ("numpy>=1.25",)),
        "joblib": ("joblib", "1.5.0", ()),
        "requests": (
            "requests",
            "2.33.0",
            ("urllib3<3", 'PySocks!=1.5.7; extra == "socks"', 'idna; python_version < "3"'),
        ),
        "urllib3": ("urllib3", "2.8.0", ()),
        "pysocks": ("PySocks", "1.7.1", ()),
        "kfp": ("kfp", "2.17.3", ("PyYAML<7", "protobuf<7")),
        "pyyaml": ("PyYAML", "6.0.2", ()),
        "protobuf": ("protobuf", "6.31.1", ()),
        "ipython": ("ipython", "9.18.1", ()),
        "cloudpickle": ("cloudpickle", "3.1.1", ()),
        "kale-like": ("kale-like", "0.1.0", ("kfp",)),
    }
    dists.update(extra)
    modules = {
        "numpy": ("numpy",),
        "pandas": ("pandas",),
        "sklearn": ("scikit-learn",),
        "scipy": ("scipy",),
        "joblib": ("joblib",),
        "requests": ("requests",),
        "yaml": ("PyYAML",),
        "kfp": ("kfp",),
        "IPython": ("ipython",),
        "pyarrow": ("pyarrow",),
    }
    return PythonEnvironment(
        module_dists=modules,
        versions={canonical(k): (v[0], v[1]) for k, v in dists.items()},
        requires={canonical(k): v[2] for k, v in dists.items()},
        python="3.11",
    )
