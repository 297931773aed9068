"""Moved to :mod:`kale_like.records` (every engine and verb reads run records, not only the
local engine); this name stays for code that still imports it from here."""

from ...records import (  # noqa: F401 - re-exported
    DEFAULT_ROOT_NAME,
    ENV_RUN_ROOT,
    RUN_RECORD,
    collect_metrics,
    default_run_root,
    ensure_writable,
    find_record,
    list_records,
    new_run_id,
    notebook_info,
    read_record,
    reconcile,
    runner_alive,
    runner_identity,
    step_dirname,
)
