"""An invocation's options checked against the command (core.interaction_options): the
levels mirror the definition, types, required, choices, ranges and lengths, the ids collected
for data.resolved, and 50035 at the field's path."""

from __future__ import annotations

from typing import Any

import pytest

from core.command_form import parse_command
from core.errors import ApiError
from core.interaction_options import check_options

Json = dict[str, Any]

_, _, ROLL = parse_command({"name": "roll", "description": "d", "options": [
    {"type": 4, "name": "sides", "description": "d", "required": True, "min_value": 2,
     "max_value": 100},
    {"type": 3, "name": "color", "description": "d", "choices": [
        {"name": "Red", "value": "red"}, {"name": "Blue", "value": "blue"}]},
    {"type": 3, "name": "label", "description": "d", "min_length": 2, "max_length": 5},
    {"type": 10, "name": "weight", "description": "d", "max_value": 1.5},
    {"type": 5, "name": "loud", "description": "d"},
    {"type": 6, "name": "who", "description": "d"},
    {"type": 7, "name": "where", "description": "d", "channel_types": [0]},
    {"type": 8, "name": "role", "description": "d"},
    {"type": 9, "name": "any", "description": "d"},
]})
_, _, CONFIG = parse_command({"name": "config", "description": "d", "options": [
    {"type": 2, "name": "role", "description": "d", "options": [
        {"type": 1, "name": "set", "description": "d", "options": [
            {"type": 8, "name": "role", "description": "d", "required": True}]}]},
    {"type": 1, "name": "show", "description": "d"}]})


def path_of(e: ApiError) -> str:
    parts, node = [], e.errors
    while node is not None and "_errors" not in node:
        key = next(iter(node))
        parts.append(key)
        node = node[key]
    return ".".join(parts)


def test_values_of_every_type_and_the_ids_to_resolve() -> None:
    given = [{"name": "sides", "type": 4, "value": 6},
             {"name": "color", "type": 3, "value": "red"},
             {"name": "label", "type": 3, "value": "abc"},
             {"name": "weight", "type": 10, "value": 1.25},
             {"name": "loud", "type": 5, "value": True},
             {"name": "who", "type": 6, "value": "11"},
             {"name": "where", "type": 7, "value": 12},
             {"name": "role", "type": 8, "value": "13"},
             {"name": "any", "type": 9, "value": "14"}]
    options, targets = check_options(ROLL["options"], given)
    assert [o["value"] for o in options] == [6, "red", "abc", 1.25, True, "11", "12", "13", "14"]
    assert targets.users == {11} and targets.roles == {13} and targets.mentionables == {14}
    assert targets.channels == {12: frozenset({0})}
    assert check_options(ROLL["options"], [given[0]])[0] == [
        {"name": "sides", "type": 4, "value": 6}]


def test_sub_commands_and_groups() -> None:
    options, targets = check_options(CONFIG["options"], [
        {"name": "role", "type": 2, "options": [
            {"name": "set", "type": 1, "options": [{"name": "role", "type": 8, "value": "5"}]}]}])
    assert options[0]["options"][0]["options"][0]["value"] == "5" and targets.roles == {5}
    assert check_options(CONFIG["options"], [{"name": "show", "type": 1}])[0] == [
        {"name": "show", "type": 1, "options": []}]


def test_an_autocomplete_request_may_be_partial() -> None:
    options, _ = check_options(ROLL["options"], [
        {"name": "sides", "type": 4, "value": 6},
        {"name": "label", "type": 3, "value": "a", "focused": True}])
    assert options[1] == {"name": "label", "type": 3, "value": "a", "focused": True}


SIDES = {"name": "sides", "type": 4, "value": 6}
BAD: list[tuple[list[Json], Any, str]] = [
    (ROLL["options"], None, "data.options"),  # sides is required
    (ROLL["options"], [], "data.options"),
    (ROLL["options"], "x", "data.options"),
    (ROLL["options"], [SIDES] * 26, "data.options"),
    (ROLL["options"], [SIDES, "x"], "data.options.1"),
    (ROLL["options"], [SIDES, {"name": "nope", "type": 3, "value": "x"}], "data.options.1.name"),
    (ROLL["options"], [SIDES, SIDES], "data.options.1.name"),
    (ROLL["options"], [{**SIDES, "type": 3}], "data.options.0.type"),
    (ROLL["options"], [{**SIDES, "value": 1}], "data.options.0.value"),
    (ROLL["options"], [{**SIDES, "value": 101}], "data.options.0.value"),
    (ROLL["options"], [{**SIDES, "value": "6"}], "data.options.0.value"),
    (ROLL["options"], [{**SIDES, "value": True}], "data.options.0.value"),
    (ROLL["options"], [{**SIDES, "value": 6.5}], "data.options.0.value"),
    (ROLL["options"], [SIDES, {"name": "color", "type": 3, "value": "green"}],
     "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "label", "type": 3, "value": "a"}],
     "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "label", "type": 3, "value": "abcdef"}],
     "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "weight", "type": 10, "value": 2}],
     "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "loud", "type": 5, "value": 1}], "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "who", "type": 6, "value": "abc"}],
     "data.options.1.value"),
    (ROLL["options"], [SIDES, {"name": "who", "type": 6, "value": "0"}],
     "data.options.1.value"),
    (CONFIG["options"], [], "data.options"),
    (CONFIG["options"], [{"name": "show", "type": 1}, {"name": "role", "type": 2}],
     "data.options"),
    (CONFIG["options"], [{"name": "role", "type": 2, "options": [
        {"name": "set", "type": 1, "options": []}]}], "data.options.0.options.0.options"),
    (CONFIG["options"], [{"name": "role", "type": 2, "options": [
        {"name": "set", "type": 1, "options": [{"name": "role", "type": 8, "value": "x"}]}]}],
     "data.options.0.options.0.options.0.value"),
    (CONFIG["options"], [{"name": "show", "type": 2}], "data.options.0.type"),
]


@pytest.mark.parametrize(("declared", "given", "where"), BAD)
def test_refused_at_the_fields_path(declared: list[Json], given: Any, where: str) -> None:
    with pytest.raises(ApiError) as e:
        check_options(declared, given)
    assert e.value.code == 50035 and path_of(e.value) == where, e.value.errors
