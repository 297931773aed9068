"""pytest-jupyter's server fixtures (jp_fetch, ...) for the hostile REST probes."""

from pytest_jupyter.jupyter_server import *  # noqa: F403
