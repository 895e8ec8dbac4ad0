"""Message components and modals: checked as Discord checks them, and what a user does with
them (a click, a selection, a modal's submit) checked against them.

Pure (no store). Discord's limits ("Component Reference", legacy components, not the
IS_COMPONENTS_V2 layout):

- a message holds at most 5 action rows (type 1); a row holds 1 to 5 buttons, or exactly one
  select menu; text inputs are for modals only;
- a button (2): ``style`` 1-5 (PRIMARY, SECONDARY, SUCCESS, DANGER need a ``custom_id``; LINK
  needs a ``url`` of at most 512 characters and has no ``custom_id``), a ``label`` of at most
  80 characters or an ``emoji``, ``disabled``;
- a select menu: string (3) with 1 to 25 ``options`` (``label`` and ``value`` 1-100,
  ``description`` up to 100, ``emoji``, ``default``), user (5), role (6), mentionable (7),
  channel (8, ``channel_types``) with up to 25 ``default_values``; ``placeholder`` up to 150,
  ``min_values`` 0-25 (default 1), ``max_values`` 1-25 (default 1, a string select's at most
  its number of options), ``disabled``;
- every ``custom_id`` 1-100 characters, unique in its message (or modal);
- a modal: ``custom_id``, ``title`` 1-45, 1 to 5 components, each an action row holding one
  text input (4: ``style`` 1 short or 2 paragraph, ``label`` 1-45, ``min_length`` 0-4000,
  ``max_length`` 1-4000, ``required`` (default true), ``value`` and ``placeholder``), a label
  (18: ``label`` 1-45, ``description`` up to 100, and one text input or select menu) or a text
  display (10, ``content``).

Anything else is 50035 with the field's path (``components.0.components.2.custom_id``). What is
stored and returned is the normalized component: Discord's keys only, defaults filled in.
"""

from __future__ import annotations

from typing import Any

from core.command_form import NUMBER_LIMIT, OptionType, at
from core.errors import invalid_form
from core.interaction_options import Targets
from core.validate import get_bool, get_int, get_str, require_object, snowflake_value

__all__ = [
    "ACTION_ROW",
    "BUTTON",
    "SELECT_TYPES",
    "STRING_SELECT",
    "TEXT_INPUT",
    "autocomplete_choices",
    "check_click",
    "check_submit",
    "find_component",
    "parse_components",
    "parse_modal",
]

Json = dict[str, Any]

ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT = 1, 2, 3, 4
USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT = 5, 6, 7, 8
TEXT_DISPLAY, LABEL = 10, 18
SELECT_TYPES = (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT)
LINK, PREMIUM = 5, 6

MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_OPTIONS = 25
CUSTOM_ID_MAX = 100
LABEL_MAX = 80
URL_MAX = 512
PLACEHOLDER_MAX = 150
MODAL_TITLE_MAX = 45
MODAL_LABEL_MAX = 45
TEXT_INPUT_MAX = 4000
TEXT_DISPLAY_MAX = 4000
CHOICES_MAX = 25
_DEFAULT_VALUE_TYPES = {USER_SELECT: ("user",), ROLE_SELECT: ("role",),
                        MENTIONABLE_SELECT: ("user", "role"), CHANNEL_SELECT: ("channel",)}


# -- a message's components --------------------------------------------------------------------


def parse_components(value: Any) -> tuple[Json, ...]:
    """A message's ``components`` (None: none), normalized.

    Raises:
        ApiError: 50035 at ``components...``.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ROWS:
        raise invalid_form("components", "BASE_TYPE_MAX_LENGTH",
                           f"Must be {MAX_ROWS} or fewer in length.")
    with at("components"):
        seen: set[str] = set()
        rows = []
        for i, raw in enumerate(value):
            with at(str(i)):
                rows.append(_message_row(raw, seen))
    return tuple(rows)


def _message_row(raw: Any, seen: set[str]) -> Json:
    row = require_object(raw)
    if row.get("type") != ACTION_ROW:
        raise invalid_form("type", "COMPONENT_TYPE_INVALID",
                           "A message's top-level components are action rows (1).")
    items = row.get("components")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ROW_ITEMS:
        raise invalid_form("components", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between 1 and {MAX_ROW_ITEMS} in length.")
    out = []
    with at("components"):
        for j, item in enumerate(items):
            with at(str(j)):
                obj = require_object(item)
                kind = obj.get("type")
                if kind == BUTTON:
                    out.append(_button(obj))
                elif kind in SELECT_TYPES:
                    if len(items) != 1:
                        raise invalid_form("type", "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                           "A select menu fills its action row alone.")
                    out.append(_select(obj))
                else:
                    raise invalid_form("type", "COMPONENT_TYPE_INVALID",
                                       "Only buttons and select menus go in a message's rows.")
                _unique(out[-1], seen)
    return {"type": ACTION_ROW, **_id(row), "components": out}


def _id(obj: Json) -> Json:
    """A component's optional numeric ``id`` (Discord's component identifier)."""
    number = get_int(obj, "id", lo=0, hi=(1 << 31) - 1, default=None)
    return {} if number is None else {"id": number}


def _unique(component: Json, seen: set[str]) -> None:
    custom_id = component.get("custom_id")
    if custom_id is None:
        return
    if custom_id in seen:
        raise invalid_form("custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                           "Component custom id cannot be duplicated.")
    seen.add(custom_id)


def _custom_id(obj: Json) -> str:
    custom_id: str = get_str(obj, "custom_id", required=True, min_len=1, max_len=CUSTOM_ID_MAX)
    return custom_id


def _emoji(obj: Json) -> Json | None:
    raw = obj.get("emoji")
    if raw is None:
        return None
    with at("emoji"):
        emoji = require_object(raw)
        out: Json = {}
        if emoji.get("id") is not None:
            out["id"] = str(snowflake_value(emoji["id"], "id"))
        name = get_str(emoji, "name", max_len=32, nullable=True, default=None)
        if name is not None:
            out["name"] = name
        if not out:
            raise invalid_form("_root", "BASE_TYPE_REQUIRED", "An emoji needs an id or a name.")
        if get_bool(emoji, "animated", default=False):
            out["animated"] = True
    return out


def _button(obj: Json) -> Json:
    style = get_int(obj, "style", required=True, lo=1, hi=PREMIUM)
    if style == PREMIUM:
        raise invalid_form("style", "BUTTON_STYLE_INVALID", "Premium buttons need a SKU.")
    out: Json = {"type": BUTTON, **_id(obj), "style": style}
    label = get_str(obj, "label", max_len=LABEL_MAX, nullable=True, default=None)
    emoji = _emoji(obj)
    if label is None and emoji is None:
        raise invalid_form("label", "BASE_TYPE_REQUIRED", "A button needs a label or an emoji.")
    if label is not None:
        out["label"] = label
    if emoji is not None:
        out["emoji"] = emoji
    if style == LINK:
        if obj.get("custom_id") is not None:
            raise invalid_form("custom_id", "BUTTON_LINK_CUSTOM_ID",
                               "A link button has no custom_id.")
        out["url"] = get_str(obj, "url", required=True, min_len=1, max_len=URL_MAX)
    else:
        if obj.get("url") is not None:
            raise invalid_form("url", "BUTTON_NON_LINK_URL", "Only a link button has a url.")
        out["custom_id"] = _custom_id(obj)
    out["disabled"] = get_bool(obj, "disabled", default=False)
    return out


def _select(obj: Json) -> Json:
    kind = obj["type"]
    out: Json = {"type": kind, **_id(obj), "custom_id": _custom_id(obj)}
    placeholder = get_str(obj, "placeholder", max_len=PLACEHOLDER_MAX, nullable=True,
                          default=None)
    if placeholder is not None:
        out["placeholder"] = placeholder
    low = get_int(obj, "min_values", lo=0, hi=MAX_OPTIONS, default=1)
    high = get_int(obj, "max_values", lo=1, hi=MAX_OPTIONS, default=1)
    if low > high:
        raise invalid_form("min_values", "NUMBER_TYPE_MAX",
                           "min_values must not be greater than max_values.")
    if kind == STRING_SELECT:
        options = obj.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
            raise invalid_form("options", "BASE_TYPE_BAD_LENGTH",
                               f"Must be between 1 and {MAX_OPTIONS} in length.")
        with at("options"):
            out["options"] = [_select_option(o, i) for i, o in enumerate(options)]
        values = [o["value"] for o in out["options"]]
        if len(set(values)) != len(values):
            raise invalid_form("options", "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                               "Each option's value must be unique.")
        if high > len(values):
            raise invalid_form("max_values", "NUMBER_TYPE_MAX",
                               "max_values must not exceed the number of options.")
    else:
        if kind == CHANNEL_SELECT and obj.get("channel_types") is not None:
            types = obj["channel_types"]
            if not isinstance(types, list) or len(types) > 25 or not all(
                    isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 16
                    for t in types):
                raise invalid_form("channel_types", "BASE_TYPE_CHOICES",
                                   "Must be a list of channel types.")
            out["channel_types"] = list(dict.fromkeys(types))
        defaults = obj.get("default_values")
        if defaults is not None:
            out["default_values"] = _default_values(defaults, kind, low, high)
    out["min_values"], out["max_values"] = low, high
    out["disabled"] = get_bool(obj, "disabled", default=False)
    return out


def _select_option(raw: Any, index: int) -> Json:
    with at(str(index)):
        obj = require_object(raw)
        out: Json = {
            "label": get_str(obj, "label", required=True, min_len=1, max_len=100),
            "value": get_str(obj, "value", required=True, min_len=1, max_len=100),
        }
        description = get_str(obj, "description", max_len=100, nullable=True, default=None)
        if description is not None:
            out["description"] = description
        emoji = _emoji(obj)
        if emoji is not None:
            out["emoji"] = emoji
        out["default"] = get_bool(obj, "default", default=False)
    return out


def _default_values(raw: Any, kind: int, low: int, high: int) -> list[Json]:
    if not isinstance(raw, list) or not low <= len(raw) <= high:
        raise invalid_form("default_values", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between {low} and {high} in length.")
    out = []
    with at("default_values"):
        for i, item in enumerate(raw):
            with at(str(i)):
                obj = require_object(item)
                if obj.get("type") not in _DEFAULT_VALUE_TYPES[kind]:
                    raise invalid_form("type", "BASE_TYPE_CHOICES",
                                       f"Must be one of {_DEFAULT_VALUE_TYPES[kind]}.")
                out.append({"id": str(snowflake_value(obj.get("id"), "id")),
                            "type": obj["type"]})
    return out


def find_component(rows: tuple[Json, ...] | list[Json], custom_id: str) -> Json | None:
    """The button or select menu of ``rows`` (a message's, as stored) with this custom id."""
    for row in rows:
        for item in row.get("components", ()):
            if item.get("custom_id") == custom_id:
                found: Json = item
                return found
    return None


# -- what a user does with them ----------------------------------------------------------------


def check_click(message_components: tuple[Json, ...], data: Any) -> tuple[Json, Targets]:
    """A MESSAGE_COMPONENT interaction's ``data`` (``custom_id``, ``component_type``,
    ``values``) checked against its message's components: the component exists with that
    type, is enabled and is no link button; a select's values are its options' (or ids for
    the other selects), distinct, as many as ``min_values``..``max_values``.

    Returns:
        The ``data`` the bot gets, and the ids to resolve.

    Raises:
        ApiError: 50035 at ``data...``.
    """
    with at("data"):
        obj = require_object(data)
        custom_id = _custom_id(obj)
        kind = obj.get("component_type")
        component = find_component(message_components, custom_id)
        if component is None or component["type"] != kind:
            raise invalid_form("custom_id", "COMPONENT_UNKNOWN",
                               "The message has no such component.")
        if component.get("disabled") or component.get("style") == LINK:
            raise invalid_form("custom_id", "COMPONENT_DISABLED",
                               "This component cannot be used.")
        out: Json = {"custom_id": custom_id, "component_type": kind}
        if "id" in component:
            out["id"] = component["id"]
        selected = Targets()
        if kind in SELECT_TYPES:
            out["values"] = _values(component, obj.get("values"), selected)
    return out, selected


def _values(component: Json, raw: Any, selected: Targets) -> list[str]:
    low, high = component["min_values"], component["max_values"]
    if not isinstance(raw, list) or not low <= len(raw) <= high:
        raise invalid_form("values", "BASE_TYPE_BAD_LENGTH",
                           f"Must be between {low} and {high} in length.")
    kind = component["type"]
    values: list[str] = []
    for i, value in enumerate(raw):
        if kind == STRING_SELECT:
            allowed = {o["value"] for o in component["options"]}
            if not isinstance(value, str) or value not in allowed:
                raise invalid_form(f"values.{i}", "SELECT_COMPONENT_VALUE_INVALID",
                                   "Must be one of the menu's options.")
            values.append(value)
            continue
        number = snowflake_value(value, f"values.{i}")
        values.append(str(number))
        if kind == USER_SELECT:
            selected.users.add(number)
        elif kind == ROLE_SELECT:
            selected.roles.add(number)
        elif kind == MENTIONABLE_SELECT:
            selected.mentionables.add(number)
        else:
            selected.channels[number] = frozenset(component.get("channel_types") or ())
    if len(set(values)) != len(values):
        raise invalid_form("values", "SELECT_COMPONENT_VALUE_DUPLICATED",
                           "A value may be chosen once.")
    return values


# -- modals ------------------------------------------------------------------------------------


def parse_modal(data: Any) -> Json:
    """A modal response's ``data`` (callback type 9), normalized.

    Raises:
        ApiError: 50035 at ``data...``.
    """
    with at("data"):
        obj = require_object(data)
        out: Json = {
            "custom_id": _custom_id(obj),
            "title": get_str(obj, "title", required=True, min_len=1, max_len=MODAL_TITLE_MAX),
        }
        raw = obj.get("components")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ROWS:
            raise invalid_form("components", "BASE_TYPE_BAD_LENGTH",
                               f"Must be between 1 and {MAX_ROWS} in length.")
        seen: set[str] = set()
        components = []
        with at("components"):
            for i, item in enumerate(raw):
                with at(str(i)):
                    components.append(_modal_component(item, seen))
        if not seen:
            raise invalid_form("components", "MODAL_NO_INPUT", "A modal needs an input.")
        out["components"] = components
    return out


def _modal_component(raw: Any, seen: set[str]) -> Json:
    obj = require_object(raw)
    kind = obj.get("type")
    if kind == TEXT_DISPLAY:
        return {"type": TEXT_DISPLAY, **_id(obj),
                "content": get_str(obj, "content", required=True, min_len=1,
                                   max_len=TEXT_DISPLAY_MAX)}
    if kind == ACTION_ROW:
        items = obj.get("components")
        if not isinstance(items, list) or len(items) != 1:
            raise invalid_form("components", "BASE_TYPE_BAD_LENGTH",
                               "A modal's action row holds one text input.")
        with at("components.0"):
            inner = require_object(items[0])
            if inner.get("type") != TEXT_INPUT:
                raise invalid_form("type", "COMPONENT_TYPE_INVALID",
                                   "A modal's action row holds a text input (4).")
            text = _text_input(inner, labelled=False)
            _unique(text, seen)
        return {"type": ACTION_ROW, **_id(obj), "components": [text]}
    if kind == LABEL:
        out: Json = {"type": LABEL, **_id(obj),
                     "label": get_str(obj, "label", required=True, min_len=1,
                                      max_len=MODAL_LABEL_MAX)}
        description = get_str(obj, "description", max_len=100, nullable=True, default=None)
        if description is not None:
            out["description"] = description
        with at("component"):
            inner = require_object(obj.get("component"))
            if inner.get("type") == TEXT_INPUT:
                out["component"] = _text_input(inner, labelled=True)
            elif inner.get("type") in SELECT_TYPES:
                out["component"] = _select(inner)
            else:
                raise invalid_form("type", "COMPONENT_TYPE_INVALID",
                                   "A label holds a text input or a select menu.")
            _unique(out["component"], seen)
        return out
    raise invalid_form("type", "COMPONENT_TYPE_INVALID",
                       "A modal holds action rows, labels and text displays.")


def _text_input(obj: Json, *, labelled: bool) -> Json:
    out: Json = {"type": TEXT_INPUT, **_id(obj), "custom_id": _custom_id(obj),
                 "style": get_int(obj, "style", lo=1, hi=2, default=1)}
    label = get_str(obj, "label", required=not labelled, min_len=1, max_len=MODAL_LABEL_MAX,
                    nullable=labelled, default=None)
    if label is not None:
        out["label"] = label
    low = get_int(obj, "min_length", lo=0, hi=TEXT_INPUT_MAX, default=0)
    high = get_int(obj, "max_length", lo=1, hi=TEXT_INPUT_MAX, default=TEXT_INPUT_MAX)
    if low > high:
        raise invalid_form("min_length", "NUMBER_TYPE_MAX",
                           "min_length must not be greater than max_length.")
    out["min_length"], out["max_length"] = low, high
    out["required"] = get_bool(obj, "required", default=True)
    for key, limit in (("value", high), ("placeholder", 100)):
        text = get_str(obj, key, max_len=limit, nullable=True, default=None)
        if text is not None:
            out[key] = text
    return out


def check_submit(modal: Json, data: Any) -> tuple[list[Json], Targets]:
    """A MODAL_SUBMIT's ``data.components`` checked against the modal shown: every input
    given at most once, known, of its type; a text input's value within its lengths (an empty
    one only if not required); a select's values as :func:`check_click` checks them.

    Returns:
        The submitted components in the modal's own layout (rows and labels, each input with
        its ``custom_id`` and ``value`` or ``values``), and the ids to resolve.

    Raises:
        ApiError: 50035 at ``data.components...``.
    """
    given: dict[str, Json] = {}
    with at("data"):
        obj = require_object(data)
        raw = obj.get("components")
        if not isinstance(raw, list) or len(raw) > MAX_ROWS:
            raise invalid_form("components", "BASE_TYPE_MAX_LENGTH",
                               f"Must be {MAX_ROWS} or fewer in length.")
        with at("components"):
            _collect(raw, given, depth=0)
        selected = Targets()
        out: list[Json] = []
        for item in modal["components"]:
            if item["type"] == ACTION_ROW:
                text = item["components"][0]
                out.append({"type": ACTION_ROW, **_id(item),
                            "components": [_submitted(text, given, selected)]})
            elif item["type"] == LABEL:
                out.append({"type": LABEL, **_id(item),
                            "component": _submitted(item["component"], given, selected)})
        if given:
            raise invalid_form("components", "COMPONENT_UNKNOWN",
                               f"The modal has no input {next(iter(given))!r}.")
    return out, selected


def _collect(raw: list[Any], given: dict[str, Json], depth: int) -> None:
    """The inputs of a submit by custom id, whatever rows or labels hold them."""
    for i, item in enumerate(raw):
        with at(str(i)):
            obj = require_object(item)
            if obj.get("type") == ACTION_ROW and depth == 0:
                inner = obj.get("components")
                if not isinstance(inner, list) or len(inner) > MAX_ROW_ITEMS:
                    raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Too many inputs.")
                with at("components"):
                    _collect(inner, given, depth + 1)
            elif obj.get("type") == LABEL and depth == 0:
                with at("component"):
                    _collect([obj.get("component")], given, depth + 1)
            elif obj.get("type") != TEXT_DISPLAY:
                custom_id = _custom_id(obj)
                if custom_id in given:
                    raise invalid_form("custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                                       "An input may be given once.")
                given[custom_id] = obj


def _submitted(spec: Json, given: dict[str, Json], selected: Targets) -> Json:
    custom_id = spec["custom_id"]
    raw = given.pop(custom_id, None)
    out: Json = {"type": spec["type"], **_id(spec), "custom_id": custom_id}
    if raw is not None and raw.get("type") != spec["type"]:
        raise invalid_form("components", "COMPONENT_TYPE_INVALID",
                           f"{custom_id!r} must be of type {spec['type']}.")
    if spec["type"] == TEXT_INPUT:
        value = "" if raw is None else raw.get("value", "")
        if not isinstance(value, str):
            raise invalid_form("components", "BASE_TYPE_STRING", f"{custom_id!r}: not a string.")
        if value or spec["required"]:
            low, high = max(spec["min_length"], 1 if spec["required"] else 0), spec["max_length"]
            if not low <= len(value) <= high:
                raise invalid_form("components", "BASE_TYPE_BAD_LENGTH",
                                   f"{custom_id!r}: must be between {low} and {high} in length.")
        out["value"] = value
    else:
        with at("components"):
            out["values"] = _values(spec, [] if raw is None else raw.get("values"), selected)
    return out


# -- autocomplete ------------------------------------------------------------------------------


def autocomplete_choices(data: Any, option_type: int) -> list[Json]:
    """An autocomplete result's ``data.choices`` (callback type 8) for an option of this type:
    at most 25, each ``name`` 1-100 and a ``value`` of the option's type (a string of at most
    100 characters, an integer, a number).

    Raises:
        ApiError: 50035 at ``data.choices...``.
    """
    with at("data"):
        obj = require_object(data)
        raw = obj.get("choices")
        if not isinstance(raw, list) or len(raw) > CHOICES_MAX:
            raise invalid_form("choices", "BASE_TYPE_MAX_LENGTH",
                               f"Must be {CHOICES_MAX} or fewer in length.")
        out = []
        with at("choices"):
            for i, item in enumerate(raw):
                with at(str(i)):
                    choice = require_object(item)
                    name = get_str(choice, "name", required=True, min_len=1, max_len=100)
                    out.append({"name": name, "value": _choice_value(choice.get("value"),
                                                                     option_type)})
    return out


def _choice_value(value: Any, option_type: int) -> str | int | float:
    if option_type == OptionType.STRING:
        if not isinstance(value, str) or len(value) > 100:
            raise invalid_form("value", "BASE_TYPE_BAD_LENGTH", "Must be a string of 100 or fewer.")
        return value
    numeric = isinstance(value, int) if option_type == OptionType.INTEGER else (
        isinstance(value, int | float) and value == value)
    if isinstance(value, bool) or not numeric or not -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
        raise invalid_form("value", "NUMBER_TYPE_COERCE", "Must be a number of the option's type.")
    number: int | float = value
    return number
