"""Hand-built IR pipelines for codegen/compile tests (the IR is the contract with analysis)."""

from __future__ import annotations

from kale_like.model import Metric, Parameter, Pipeline, Prelude, Step, StepSettings


def diamond(**overrides: object) -> Pipeline:
    """source -> (left, right) -> join: parameters of every type, metrics, global state."""
    params = (
        Parameter("n", 10, "int", 1, 1),
        Parameter("scale", 2.5, "float", 1, 2),
        Parameter("label", "demo", "str", 1, 3),
        Parameter("verbose", False, "bool", 1, 4),
        Parameter("sizes", [1, 2, 3], "list", 1, 5),
        Parameter("options", {"mode": "fast", "retries": 2}, "dict", 1, 6),
        Parameter("threshold", None, "none", 1, 7),
        Parameter("LEARNING_RATE", 0.01, "float", 1, 8),
    )
    steps = (
        Step(
            "source",
            (2,),
            ("random.seed(n)\nvalues = [random.random() * scale for _ in range(n)]",),
            outputs=("values",),
            parameters=("n", "scale"),
            state_outputs=("random",),
        ),
        Step(
            "left",
            (3,),
            ("total = sum(values) * LEARNING_RATE",),
            after=("source",),
            inputs=(("values", "source"),),
            outputs=("total",),
            parameters=("LEARNING_RATE",),
            metrics=("total",),
        ),
        Step(
            "right",
            (4,),
            ("draw = random.random()\nlimit = threshold or 1",),
            after=("source",),
            outputs=("draw", "limit"),
            parameters=("threshold", "options"),
            state_inputs=(("random", "source"),),
        ),
        Step(
            "join",
            (5, 6),
            ("report = f'{label}: {total} {draw}'", "print(report)"),
            after=("left", "right"),
            inputs=(("total", "left"), ("draw", "right")),
            outputs=("report",),
            parameters=("label", "verbose", "sizes"),
        ),
    )
    kwargs: dict[str, object] = dict(
        name="diamond-demo",
        description="Two parallel branches and a join",
        experiment="tests",
        parameters=params,
        metrics=(Metric("total", "left", 7, 1),),
        prelude=Prelude(imports=("import random",), import_cells=(0,)),
        steps=steps,
        notebook_path="diamond.ipynb",
    )
    kwargs.update(overrides)
    return Pipeline(**kwargs)  # type: ignore[arg-type]


# Corpus 22_step_settings, by hand: image:, limit: (memory, cpu, GPU), cache:.
STEP_SETTINGS_EXPECTED = {
    "prepare": {"image": "python:3.11-slim"},
    "train": {
        "image": "registry.example.com/team/trainer:1.2.3",
        "limits": {"memory": "2Gi", "cpu": "500m", "nvidia.com/gpu": "1"},
        "cache": "disabled",
    },
    "publish": {"cache": "enabled"},
}


def step_settings() -> Pipeline:
    return Pipeline(
        name="22_step_settings",
        description="",
        prelude=Prelude(imports=("import platform",), import_cells=(1,)),
        metrics=(Metric("published", "publish", 5, 1),),
        steps=(
            Step(
                "prepare",
                (2,),
                ("payload = [1, 2, 3]\npy_major = platform.python_version_tuple()[0]",),
                outputs=("payload",),
                settings=StepSettings(image="python:3.11-slim"),
            ),
            Step(
                "train",
                (3,),
                ("weights = [p * 0.5 for p in payload]\nn_weights = len(weights)",),
                after=("prepare",),
                inputs=(("payload", "prepare"),),
                outputs=("weights",),
                settings=StepSettings(
                    image="registry.example.com/team/trainer:1.2.3",
                    limits=(("memory", "2Gi"), ("cpu", "500m"), ("nvidia.com/gpu", "1")),
                    cache=False,
                ),
            ),
            Step(
                "publish",
                (4,),
                ("published = sum(weights)",),
                after=("train",),
                inputs=(("weights", "train"),),
                metrics=("published",),
                settings=StepSettings(cache=True),
            ),
        ),
    )


ALL_SETTINGS = StepSettings(
    image="registry.example.com/x:1",
    limits=(("cpu", "2"), ("memory", "4Gi"), ("amd.com/gpu", "2")),
    requests=(("cpu", "1"), ("memory", "1Gi")),
    cache=False,
    retries=3,
    timeout=600,
    env=(("MODE", "train"), ("EMPTY", "")),
    secrets=(("db-creds", "user", "DB_USER"), ("db-creds", "password", "DB_PASSWORD")),
    annotations=(("example.com/owner", "data team"),),
    labels=(("team", "ml"),),
    volumes=(("data-pvc", "/mnt/data"),),
    node_selector=(("disktype", "ssd"),),
    tolerations=(("gpu", "true", "NoSchedule"), ("spot", "", "NoExecute")),
    report=False,
)


def all_settings() -> Pipeline:
    """One step (then an ordering-only successor) carrying every setting the IR has."""
    return Pipeline(
        name="all-settings",
        steps=(
            Step("work", (0,), ("x = 1",), outputs=("x",), settings=ALL_SETTINGS),
            Step("after_work", (1,), ("print('done')",), after=("work",)),
        ),
    )
