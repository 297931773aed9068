"""Build the example notebooks of this folder with nbformat (run: python examples/make_examples.py).

The notebooks are generated so that they stay small, reviewable and reproducible; edit this
script rather than the .ipynb files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).resolve().parent

KERNEL = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(textwrap.dedent(source).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(source: str) -> nbformat.NotebookNode:
    return v4.new_markdown_cell(textwrap.dedent(source).strip("\n"))


def notebook(cells: list[nbformat.NotebookNode], **metadata: object) -> nbformat.NotebookNode:
    nb = v4.new_notebook(cells=cells, metadata={**KERNEL, **metadata})
    # Stable cell ids keep the files byte-identical between runs of this script.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def quickstart() -> nbformat.NotebookNode:
    """Stdlib only, runs in about a second: parameters, metrics and a parallel branch."""
    return notebook(
        [
            md(
                """
                # Quickstart
                `generate` makes numbers; `stats` and `histogram` run in parallel on them;
                `report` joins both. Compile it with
                `kale-like compile examples/quickstart.ipynb -o out/`.
                """
            ),
            code(
                """
                import json
                import random
                import statistics
                """,
                "imports",
            ),
            code(
                """
                n_samples = 200
                seed = 7
                bins = 5
                """,
                "pipeline-parameters",
            ),
            code(
                """
                random.seed(seed)
                samples = [random.gauss(10.0, 2.0) for _ in range(n_samples)]
                print(f"generated {len(samples)} samples")
                """,
                "step:generate",
            ),
            code(
                """
                mean = round(statistics.fmean(samples), 4)
                stdev = round(statistics.stdev(samples), 4)
                print(mean, stdev)
                """,
                "step:stats",
                "prev:generate",
            ),
            code(
                """
                low, high = min(samples), max(samples)
                width = (high - low) / bins
                counts = [0] * bins
                for s in samples:
                    counts[min(int((s - low) / width), bins - 1)] += 1
                print(counts)
                """,
                "step:histogram",
                "prev:generate",
            ),
            code(
                """
                summary = json.dumps({"mean": mean, "stdev": stdev, "counts": counts})
                peak_bin = counts.index(max(counts))
                print(summary)
                """,
                "step:report",
                "prev:stats",
                "prev:histogram",
            ),
            code(
                """
                print(mean)
                print(peak_bin)
                """,
                "pipeline-metrics",
            ),
        ],
        kubeflow_notebook={
            "pipeline_name": "quickstart",
            "experiment_name": "examples",
            "pipeline_description": (
                "Stdlib-only quickstart: generate, two parallel summaries, report"
            ),
        },
    )


def sklearn_iris() -> nbformat.NotebookNode:
    """numpy/pandas/scikit-learn: load -> split -> train -> evaluate, accuracy as a metric."""
    return notebook(
        [
            md(
                """
                # Iris classifier
                Load the iris data set, split it, train a logistic regression and report
                its accuracy.
                """
            ),
            code(
                """
                import numpy as np
                import pandas as pd
                from sklearn.datasets import load_iris
                from sklearn.linear_model import LogisticRegression
                from sklearn.metrics import accuracy_score
                from sklearn.model_selection import train_test_split
                """,
                "imports",
            ),
            code(
                """
                test_size = 0.25
                C = 1.0
                max_iter = 200
                random_state = 0
                """,
                "pipeline-parameters",
            ),
            code(
                """
                iris = load_iris(as_frame=True)
                df = iris.frame
                print(df.shape)
                """,
                "step:load",
            ),
            code(
                """
                features = df.drop(columns=["target"])
                target = df["target"]
                x_train, x_test, y_train, y_test = train_test_split(
                    features, target,
                    test_size=test_size, random_state=random_state, stratify=target,
                )
                """,
                "step:split",
                "prev:load",
            ),
            code(
                """
                model = LogisticRegression(C=C, max_iter=max_iter)
                model.fit(x_train, y_train)
                """,
                "step:train",
                "prev:split",
            ),
            code(
                """
                predictions = model.predict(x_test)
                accuracy = float(np.round(accuracy_score(y_test, predictions), 4))
                confusion = pd.crosstab(y_test, predictions)
                print(confusion)
                """,
                "step:evaluate",
                "prev:train",
            ),
            code("print(accuracy)", "pipeline-metrics"),
        ],
        kubeflow_notebook={
            "pipeline_name": "sklearn-iris",
            "experiment_name": "examples",
            "pipeline_description": "Iris logistic regression: load, split, train, evaluate",
        },
    )


def kale_legacy() -> nbformat.NotebookNode:
    """A Kale 0.x notebook: `block:`/`prev:` tags and Kale's kubeflow_notebook metadata."""
    return notebook(
        [
            md("# Kale 0.x style notebook\nTags use `block:` and the metadata is Kale's."),
            code("import math", "imports"),
            code(
                """
                def area(radius):
                    return math.pi * radius ** 2
                """,
                "functions",
            ),
            code(
                """
                radius = 3
                """,
                "pipeline-parameters",
            ),
            code(
                """
                radii = [radius * k for k in range(1, 4)]
                """,
                "block:make_radii",
            ),
            code(
                """
                areas = [round(area(r), 3) for r in radii]
                """,
                "block:compute_areas",
                "prev:make_radii",
            ),
            code(
                """
                total_area = round(sum(areas), 3)
                print(total_area)
                """,
                "block:total",
                "prev:compute_areas",
            ),
            code("print(total_area)", "pipeline-metrics"),
            code("print('scratch: not part of the pipeline')", "skip"),
        ],
        kubeflow_notebook={
            "autosnapshot": False,
            "docker_image": "",
            "experiment": {"id": "new", "name": "legacy"},
            "experiment_name": "legacy",
            "katib_metadata": {},
            "katib_run": False,
            "pipeline_description": "Kale 0.x notebook: areas of circles",
            "pipeline_name": "kale-legacy",
            "snapshot_volumes": False,
            "steps_defaults": [],
            "volume_access_mode": "rwm",
            "volumes": [],
        },
    )


EXAMPLES = {
    "quickstart.ipynb": quickstart,
    "sklearn_iris.ipynb": sklearn_iris,
    "kale_legacy.ipynb": kale_legacy,
}


def main() -> None:
    for filename, build in EXAMPLES.items():
        nb = build()
        nbformat.validate(nb)
        (HERE / filename).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        print(f"wrote examples/{filename}")


if __name__ == "__main__":
    main()
