"""pytest-jupyter's server fixtures (jp_fetch, jp_serverapp, ...) for the handler tests only."""

from pytest_jupyter.jupyter_server import *  # noqa: F403
