"""A hand-written three-step KFP pipeline for the deploy tests.

No ``from __future__ import annotations`` here: KFP reads the component annotations as types.
"""

from typing import Any


def write_small_pipeline(path: Any, name: str = "small-demo") -> Any:
    """Compile a hand-written three-step pipeline (prepare -> train -> publish) to ``path``."""
    from kfp import compiler, dsl  # noqa: I001

    @dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
    def prepare(n: int) -> int:
        return n

    @dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
    def train(x: int, alpha: float) -> float:
        return x * alpha

    @dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
    def publish(value: float, label: str) -> str:
        return f"{label}={value}"

    @dsl.pipeline(name=name, description="three steps")
    def pipeline(n: int = 3, alpha: float = 0.5, label: str = "demo") -> None:
        a = prepare(n=n)
        b = train(x=a.output, alpha=alpha)
        publish(value=b.output, label=label)

    compiler.Compiler().compile(pipeline, str(path))
    return path
