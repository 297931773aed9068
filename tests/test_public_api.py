"""The public surface of ``kale_like`` is explicit and pinned (a change here is deliberate)."""

from __future__ import annotations

import kale_like

EXPECTED = {
    "AnalysisError",
    "Diagnostic",
    "EnvironmentProblem",
    "InputError",
    "KaleError",
    "Metric",
    "NotebookError",
    "Parameter",
    "Pipeline",
    "Prelude",
    "RunEvent",
    "RunFailed",
    "RunResult",
    "Step",
    "StepResult",
    "StepSettings",
    "TagError",
    "UsageError",
    "__version__",
    "analyze",
    "compile",
    "load_pipeline",
    "run",
    "verify",
}


def test_all_is_pinned() -> None:
    assert set(kale_like.__all__) == EXPECTED
    assert len(kale_like.__all__) == len(set(kale_like.__all__))


def test_every_name_resolves() -> None:
    for name in ("AnalysisError", "Pipeline", "Step", "__version__", "analyze", "load_pipeline"):
        assert getattr(kale_like, name) is not None


def test_load_pipeline_is_the_api_verb() -> None:
    from kale_like.api.analysis import analyze, load_pipeline

    assert kale_like.load_pipeline is load_pipeline
    assert kale_like.analyze is analyze


def test_api_verbs_are_functions_whatever_was_imported() -> None:
    import kale_like.api
    import kale_like.api.analysis
    import kale_like.api.execution
    import kale_like.verification

    # No api module shares a verb's name, so importing one never hides a verb.
    assert kale_like.api.run is kale_like.api.execution.run
    assert kale_like.api.analyze is kale_like.api.analysis.analyze
    assert kale_like.api.verify is kale_like.verification.verify
    assert kale_like.run is kale_like.api.execution.run
    # The verify verb's own package is named apart from it: importing it hides nothing.
    assert kale_like.verify is kale_like.verification.verify
    assert set(kale_like.api.__all__) >= {"analyze", "compile", "load_pipeline", "run", "verify"}


def test_every_api_verb_resolves_to_a_function() -> None:
    import kale_like.api

    for name in kale_like.api.__all__:
        assert callable(getattr(kale_like.api, name)), name
