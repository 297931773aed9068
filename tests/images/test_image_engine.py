"""Docker engine pieces that need no engine: task timings from kfp.local's log, options."""

from __future__ import annotations

import pytest

from kale_like.engines.docker import DockerEngine, task_seconds
from kale_like.errors import UsageError

LOG = """\
23:59:59.500 - INFO - Executing task \x1b[96m'prepare'\x1b[0m
23:59:59.600 - INFO - Streamed logs:
    Found image 'kale-like/x:sha-0123456789ab'
00:00:00.250 - INFO - Task \x1b[96m'prepare'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
00:00:00.251 - INFO - Task \x1b[96m'prepare'\x1b[0m outputs:
00:00:00.300 - INFO - Executing task \x1b[96m'divide-2'\x1b[0m
00:00:01.800 - ERROR - Task \x1b[96m'divide-2'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
00:00:01.900 - INFO - Executing task 'never-finished'
"""


def test_task_seconds_from_the_kfp_log() -> None:
    # across midnight, with and without colour codes; unfinished tasks have no time
    assert task_seconds(LOG) == {"prepare": 0.75, "divide-2": 1.5}


def test_unknown_engine_options_are_refused() -> None:
    with pytest.raises(UsageError):
        DockerEngine(base_imag="typo")
