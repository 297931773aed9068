"""The tag grammar against the shared vectors (also used by labextension/src/tags.ts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kale_like.errors import TagError
from kale_like.tags import KNOWN_TAGS, Tag, format_tag, make_tag, parse_tag, suggest

VECTORS = json.loads((Path(__file__).parent / "tag_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["tag"] or "<empty>" for v in VECTORS])
def test_vector(vector: dict) -> None:
    if vector["error"] is None:
        tag = parse_tag(vector["tag"])
        assert tag.to_json() == vector["parsed"]
        assert format_tag(tag) == vector["tag"]
    else:
        with pytest.raises(TagError) as info:
            parse_tag(vector["tag"])
        assert info.value.kind == vector["error"]


def test_vectors_cover_every_keyword() -> None:
    keywords = {v["tag"].partition(":")[0] for v in VECTORS if v["error"] is None}
    assert keywords == set(KNOWN_TAGS)


def test_did_you_mean() -> None:
    assert suggest("stpe") == "step"
    assert suggest("pipeline-metric") == "pipeline-metrics"
    with pytest.raises(TagError) as info:
        parse_tag("pipline-parameters")
    assert "pipeline-parameters" in (info.value.fix or "")


def test_block_is_step_and_parameters_is_pipeline_parameters() -> None:
    assert parse_tag("block:x").kind == "step"
    assert parse_tag("parameters").kind == "pipeline-parameters"


def test_image_splits_on_first_colon() -> None:
    assert parse_tag("image:python:3.11-slim").args == ("python:3.11-slim",)


def test_make_tag_validates() -> None:
    assert make_tag("limit", "memory", "1Gi") == parse_tag("limit:memory:1Gi")
    with pytest.raises(TagError):
        make_tag("step", "Bad")


NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
QUANTITY = st.from_regex(r"[1-9][0-9]{0,3}(Gi|Mi|m|)", fullmatch=True)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
ENV = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
VALID_TAGS = st.one_of(
    st.builds(lambda k, n: f"{k}:{n}", st.sampled_from(["step", "block", "prev"]), NAME),
    st.sampled_from(
        [
            "skip",
            "imports",
            "functions",
            "pipeline-parameters",
            "parameters",
            "injected-parameters",
            "pipeline-metrics",
            "cache:enabled",
            "report:disabled",
        ]
    ),
    st.builds(
        lambda k, r, q: f"{k}:{r}:{q}",
        st.sampled_from(["limit", "request"]),
        st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]),
        QUANTITY,
    ),
    st.builds(lambda n, v: f"env:{n}={v}", ENV, TEXT),
    st.builds(lambda v: f"annotation:note:{v}", TEXT),
    st.builds(lambda n: f"retry:{n}", st.integers(0, 50)),
    st.builds(lambda n: f"timeout:{n}", st.integers(1, 10**6)),
)


@given(VALID_TAGS)
def test_round_trip(text: str) -> None:
    tag = parse_tag(text)
    assert isinstance(tag, Tag)
    assert format_tag(tag) == text
    assert parse_tag(format_tag(tag)) == tag


@given(st.text(max_size=60))
def test_parse_never_raises_anything_but_tag_error(text: str) -> None:
    try:
        tag = parse_tag(text)
    except TagError:
        return
    assert format_tag(tag) == text
