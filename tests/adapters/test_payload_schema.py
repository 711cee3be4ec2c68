"""The generic webhook payload against the JSON Schema shipped in the package
(monitor/adapters/render/schemas/digest-v1.schema.json), and the README's example against both."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from delivery_fixtures import HOSTILE_TITLE
from jsonschema import Draft202012Validator
from test_payload_limits import big_digest

from monitor.adapters.render.payloads import SCHEMA, cut, json_payload, json_schema
from monitor.core.digest import DigestContent
from monitor.core.digest.model import DevelopmentOf
from monitor.core.states import DigestKind

REPO_README = __import__("pathlib").Path(__file__).resolve().parents[2] / "README.md"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["title"] == SCHEMA
    return Draft202012Validator(schema)


def contents() -> dict[str, DigestContent]:
    big = big_digest()
    hostile = replace(
        big.items[0], title=HOSTILE_TITLE, url="javascript:alert(1)", story_id=None, snippet=None
    )
    return {
        "sixty stories": big,
        "cut to five": cut(big, 5),
        "heading only": cut(big, 0),
        "alert": replace(
            big, kind=DigestKind.ALERT, items=big.items[:1], total=1, window_start=None
        ),
        "empty": replace(big, items=(), total=0),
        "hostile": replace(big, items=(hostile,), total=1),
        "update": replace(
            big,
            items=(
                replace(
                    big.items[0],
                    development_of=DevelopmentOf(
                        story_id=3,
                        match_id=9,
                        article_id=None,
                        title=HOSTILE_TITLE,
                        url="javascript:alert(1)",
                        digest_id=None,
                        new_sentence="",
                        rule="x",
                    ),
                ),
            ),
            total=1,
        ),
    }


@pytest.mark.parametrize("name", list(contents()))
@pytest.mark.parametrize("digest_id", [17, None])
def test_every_generated_payload_is_valid(
    validator: Draft202012Validator, name: str, digest_id: int | None
) -> None:
    payload = json.loads(json.dumps(json_payload(digest_id, contents()[name])))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert errors == []


def test_a_broken_payload_is_caught(validator: Draft202012Validator) -> None:
    payload = json_payload(1, big_digest())
    payload["stories"][0]["url"] = "javascript:alert(1)"
    del payload["omitted"]
    assert len(list(validator.iter_errors(payload))) == 2


def test_the_readme_example_is_valid_and_its_highlights_mark_the_terms(
    validator: Draft202012Validator,
) -> None:
    text = REPO_README.read_text(encoding="utf-8")
    section = text[text.index("#### The JSON payload") :]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    assert list(validator.iter_errors(example)) == []
    for story in example["stories"]:
        marked = [story["snippet"][start:end] for start, end in story["highlights"]]
        assert sorted(marked) == sorted(story["matched_terms"]), story["title"]
