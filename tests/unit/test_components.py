"""Message components and modals (core.components), sans I/O: Discord's limits on a message's
action rows, buttons and select menus; a click or selection checked against the message; a
modal's definition and its submit; autocomplete choices. 50035 at the field's path."""

from __future__ import annotations

from typing import Any

import pytest

from core.components import (
    autocomplete_choices,
    check_click,
    check_submit,
    parse_components,
    parse_modal,
)
from core.errors import ApiError

Json = dict[str, Any]


def button(custom_id: str = "go", **kw: Any) -> Json:
    return {"type": 2, "style": 1, "label": "Go", "custom_id": custom_id, **kw}


def row(*items: Json) -> Json:
    return {"type": 1, "components": list(items)}


def select(custom_id: str = "pick", **kw: Any) -> Json:
    options = [{"label": c.upper(), "value": c} for c in "abc"]
    return {"type": 3, "custom_id": custom_id, "options": options, **kw}


def path_of(error: ApiError) -> str:
    """The dotted path of the one bad field in a 50035's errors."""
    node, parts = error.errors, []
    while node and "_errors" not in node:
        key = next(iter(node))
        parts.append(key)
        node = node[key]
    return ".".join(parts)


def fails(path: str, call: Any, *args: Any) -> None:
    with pytest.raises(ApiError) as info:
        call(*args)
    assert info.value.code == 50035
    assert path_of(info.value) == path


def test_buttons_and_selects_normalized() -> None:
    rows = parse_components([
        row(button("a"), button("b", style=4, disabled=True, emoji={"name": "🔥"}),
            {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com/"}),
        row(select(max_values=2, placeholder="Pick")),
        row({"type": 5, "custom_id": "who", "default_values": [{"id": "12", "type": "user"}]}),
    ])
    assert rows[0]["components"][0] == {"type": 2, "style": 1, "label": "Go", "custom_id": "a",
                                        "disabled": False}
    assert rows[0]["components"][1]["emoji"] == {"name": "🔥"}
    assert rows[0]["components"][2]["url"] == "https://example.com/"
    assert "custom_id" not in rows[0]["components"][2]
    menu = rows[1]["components"][0]
    assert (menu["min_values"], menu["max_values"], menu["placeholder"]) == (1, 2, "Pick")
    assert menu["options"][0] == {"label": "A", "value": "a", "default": False}
    assert rows[2]["components"][0]["default_values"] == [{"id": "12", "type": "user"}]
    assert parse_components(None) == ()


def test_discords_limits() -> None:
    fails("components", parse_components, [row(button(str(i))) for i in range(6)])
    fails("components.0.components", parse_components,
          [row(*(button(str(i)) for i in range(6)))])
    fails("components.0.components", parse_components, [row()])
    fails("components.0.components.1.type", parse_components, [row(button(), select())])
    fails("components.0.components.0.custom_id", parse_components, [row(button("x" * 101))])
    fails("components.1.components.0.custom_id", parse_components,
          [row(button("same")), row(button("same"))])
    fails("components.0.components.0.options", parse_components,
          [row({"type": 3, "custom_id": "s", "options": [
              {"label": str(i), "value": str(i)} for i in range(26)]})])
    fails("components.0.components.0.max_values", parse_components,
          [row(select(max_values=4))])
    fails("components.0.components.0.min_values", parse_components,
          [row(select(min_values=3, max_values=2))])
    fails("components.0.components.0.label", parse_components,
          [row({"type": 2, "style": 1, "custom_id": "x"})])
    fails("components.0.components.0.label", parse_components, [row(button(label="x" * 81))])
    fails("components.0.components.0.url", parse_components,
          [row({"type": 2, "style": 5, "label": "L"})])
    fails("components.0.components.0.custom_id", parse_components,
          [row({"type": 2, "style": 5, "label": "L", "url": "https://e/", "custom_id": "c"})])
    fails("components.0.components.0.type", parse_components,
          [row({"type": 4, "custom_id": "t", "label": "T", "style": 1})])
    fails("components.0.type", parse_components, [button()])


def test_a_click_checked_against_the_message() -> None:
    rows = parse_components([row(button("go"), button("off", disabled=True),
                                 {"type": 2, "style": 5, "label": "L", "url": "https://e/"}),
                             row(select(max_values=2)),
                             row({"type": 5, "custom_id": "who", "max_values": 3})])
    data, _ = check_click(rows, {"custom_id": "go", "component_type": 2})
    assert data == {"custom_id": "go", "component_type": 2}
    fails("data.custom_id", check_click, rows, {"custom_id": "nope", "component_type": 2})
    fails("data.custom_id", check_click, rows, {"custom_id": "go", "component_type": 3})
    fails("data.custom_id", check_click, rows, {"custom_id": "off", "component_type": 2})
    data, _ = check_click(rows, {"custom_id": "pick", "component_type": 3, "values": ["a", "c"]})
    assert data["values"] == ["a", "c"]
    fails("data.values", check_click, rows,
          {"custom_id": "pick", "component_type": 3, "values": ["a", "b", "c"]})
    fails("data.values", check_click, rows, {"custom_id": "pick", "component_type": 3})
    fails("data.values.0", check_click, rows,
          {"custom_id": "pick", "component_type": 3, "values": ["z"]})
    fails("data.values", check_click, rows,
          {"custom_id": "pick", "component_type": 3, "values": ["a", "a"]})
    data, targets = check_click(rows, {"custom_id": "who", "component_type": 5,
                                       "values": ["12", 13]})
    assert data["values"] == ["12", "13"] and targets.users == {12, 13}


MODAL = {"custom_id": "feedback", "title": "Feedback", "components": [
    row({"type": 4, "custom_id": "name", "label": "Name", "style": 1, "max_length": 10}),
    row({"type": 4, "custom_id": "more", "label": "More", "style": 2, "required": False}),
    {"type": 18, "label": "Mood", "component": select("mood")},
]}


def test_modal_checked_and_its_submit() -> None:
    modal = parse_modal(MODAL)
    name = modal["components"][0]["components"][0]
    assert (name["required"], name["min_length"], name["max_length"]) == (True, 0, 10)
    submitted, _ = check_submit(modal, {"components": [
        row({"type": 4, "custom_id": "name", "value": "Ada"}),
        {"type": 18, "component": {"type": 3, "custom_id": "mood", "values": ["b"]}},
    ]})
    assert submitted == [
        {"type": 1, "components": [{"type": 4, "custom_id": "name", "value": "Ada"}]},
        {"type": 1, "components": [{"type": 4, "custom_id": "more", "value": ""}]},
        {"type": 18, "component": {"type": 3, "custom_id": "mood", "values": ["b"]}},
    ]
    mood = {"type": 18, "component": {"type": 3, "custom_id": "mood", "values": ["a"]}}
    fails("data.components", check_submit, modal, {"components": [mood]})  # name required
    fails("data.components", check_submit, modal, {"components": [
        row({"type": 4, "custom_id": "name", "value": "x" * 11}), mood]})
    fails("data.components", check_submit, modal, {"components": [
        row({"type": 4, "custom_id": "name", "value": "Ada"}),
        row({"type": 4, "custom_id": "other", "value": "?"}), mood]})
    fails("data.components.1.components.0.custom_id", check_submit, modal, {"components": [
        row({"type": 4, "custom_id": "name", "value": "Ada"}),
        row({"type": 4, "custom_id": "name", "value": "Bob"}), mood]})


def test_bad_modals() -> None:
    fails("data.title", parse_modal, {**MODAL, "title": "x" * 46})
    fails("data.components", parse_modal, {**MODAL, "components": []})
    fails("data.components", parse_modal, {**MODAL, "components": MODAL["components"] * 2})
    fails("data.components.0.components.0.label", parse_modal, {**MODAL, "components": [
        row({"type": 4, "custom_id": "n", "style": 1})]})
    fails("data.components.0.components", parse_modal, {**MODAL, "components": [
        row({"type": 4, "custom_id": "n", "label": "N"}, {"type": 4, "custom_id": "m",
                                                          "label": "M"})]})
    fails("data.components.0.type", parse_modal, {**MODAL, "components": [button()]})
    fails("data.custom_id", parse_modal, {**MODAL, "custom_id": ""})


def test_autocomplete_choices_of_the_options_type() -> None:
    assert autocomplete_choices({"choices": [{"name": "Red", "value": "red"}]}, 3) == [
        {"name": "Red", "value": "red"}]
    assert autocomplete_choices({"choices": [{"name": "Two", "value": 2}]}, 4)[0]["value"] == 2
    fails("data.choices.0.value", autocomplete_choices,
          {"choices": [{"name": "Red", "value": "red"}]}, 4)
    fails("data.choices.0.value", autocomplete_choices,
          {"choices": [{"name": "Half", "value": 0.5}]}, 4)
    fails("data.choices", autocomplete_choices,
          {"choices": [{"name": str(i), "value": str(i)} for i in range(26)]}, 3)
    fails("data.choices.0.name", autocomplete_choices, {"choices": [{"value": "v"}]}, 3)
