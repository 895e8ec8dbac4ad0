"""Reaction emoji: the ``{emoji}`` segment of Discord's reaction routes, and its JSON.

Discord names the emoji of a reaction by its URL-encoded text (libraries quote it, aiohttp
decodes it): a unicode emoji itself ("👍", "❤️", a ZWJ sequence, a flag, a keycap), or a
guild's custom emoji as ``name:id`` (discord.py's ``PartialEmoji._as_reaction``; ``a:name:id``
and ``<:name:id>`` are read too). Anything else is 400 10014 Unknown Emoji, as on Discord.

Custom emoji: this server has no emoji store yet (no ``/guilds/{id}/emojis``), so no custom
emoji exists that anyone could use. A ``name:id`` is parsed as Discord parses it, then refused
with 10014, which is Discord's answer for an id that is no emoji of the guild. The stored key
of a custom emoji would be its id (names change); :func:`emoji_json` renders one already.

A unicode emoji is recognized by its code points, not by a list of every emoji (Unicode's
grows every year): pictographic code points (Unicode's Extended_Pictographic blocks, a little
generously), joined by ZWJ, with variation selectors, skin tones, tag sequences (subdivision
flags), paired regional indicators (flags) and keycaps (``0-9#*`` + U+20E3). Letters, digits
alone, punctuation and anything longer than :data:`MAX_CODE_POINTS` are refused.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from core.errors import ApiError, ErrorCode

__all__ = ["MAX_CODE_POINTS", "Emoji", "emoji_from_key", "emoji_json", "parse_emoji"]

# Longer than any emoji sequence Unicode defines (a family with skin tones is ~11).
MAX_CODE_POINTS = 32

# Inclusive (first, last) ranges of pictographic code points, sorted.
_PICTOGRAPHIC = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x2388, 0x2388), (0x23CF, 0x23CF),
    (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF),
    (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297),
    (0x3299, 0x3299), (0x1F000, 0x1FAFF), (0x1FC00, 0x1FFFD),
)
_STARTS = tuple(first for first, _ in _PICTOGRAPHIC)
_ZWJ, _KEYCAP, _VS15, _VS16 = 0x200D, 0x20E3, 0xFE0E, 0xFE0F
_TAGS = (0xE0020, 0xE007F)
_REGIONAL = (0x1F1E6, 0x1F1FF)
_KEYCAP_BASES = frozenset(map(ord, "0123456789#*"))
# name:id, a:name:id, <:name:id>, <a:name:id> (Discord's custom emoji names: 2-32 of \w).
_CUSTOM = re.compile(r"<?(?:a?:)?(\w{1,32}):([0-9]{1,20})>?")


@dataclass(frozen=True, slots=True)
class Emoji:
    """A reaction emoji: unicode (``id`` None, ``name`` is the emoji) or custom."""

    name: str
    id: int | None = None

    @property
    def key(self) -> str:
        """What the stores keep: the unicode emoji itself, or the custom emoji's id."""
        return self.name if self.id is None else str(self.id)


def parse_emoji(text: str) -> Emoji:
    """The emoji a reaction route names (already URL-decoded).

    Raises:
        ApiError: 400 10014 Unknown Emoji: not a unicode emoji, or a custom emoji (none
            exists on this server; see the module docstring).
    """
    custom = _CUSTOM.fullmatch(text)
    if custom is not None or not is_unicode_emoji(text):
        raise ApiError(400, ErrorCode.UNKNOWN_EMOJI, "Unknown Emoji")
    return Emoji(text)


def emoji_from_key(key: str) -> Emoji:
    """The emoji a stored key stands for (a custom one's name is not stored: empty)."""
    return Emoji("", int(key)) if key.isdigit() else Emoji(key)


def emoji_json(emoji: Emoji) -> dict[str, Any]:
    """Discord's partial emoji object, as reactions and their events carry it."""
    if emoji.id is None:
        return {"id": None, "name": emoji.name}
    return {"id": str(emoji.id), "name": emoji.name or None, "animated": False}


def is_unicode_emoji(text: str) -> bool:
    """Whether ``text`` is made of emoji code points only (see the module docstring)."""
    points = [ord(c) for c in text]
    if not 0 < len(points) <= MAX_CODE_POINTS:
        return False
    pictures = regional = 0
    for i, cp in enumerate(points):
        if cp in _KEYCAP_BASES:
            rest = points[i + 1:i + 3]
            if rest[:1] != [_KEYCAP] and rest != [_VS16, _KEYCAP]:
                return False
            pictures += 1
        elif _REGIONAL[0] <= cp <= _REGIONAL[1]:
            regional += 1
        elif _is_pictographic(cp):
            pictures += 1
        elif cp not in (_ZWJ, _KEYCAP, _VS15, _VS16) and not _TAGS[0] <= cp <= _TAGS[1]:
            return False
    return (pictures > 0 or regional > 0) and regional % 2 == 0


def _is_pictographic(cp: int) -> bool:
    i = bisect.bisect_right(_STARTS, cp) - 1
    return i >= 0 and cp <= _PICTOGRAPHIC[i][1]
