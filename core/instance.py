"""Instance settings: what the operator sets (``discord-arch admin``) and the server reads.

They live in the metadata store (``instance_settings``, key/value text) and are read where they
are used, never cached: registration reads its mode once per registration, which is rare, and
so a change made by the admin CLI, another process, applies to the next request on every
worker without telling any of them.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from core.store.base import MetaStore

__all__ = ["REGISTRATION_KEY", "Registration", "registration_mode", "set_registration_mode"]

logger = logging.getLogger(__name__)

REGISTRATION_KEY = "registration"


class Registration(StrEnum):
    """Who may ``POST /auth/register``."""

    OPEN = "open"  # anyone (the default: an instance never configured behaves as before)
    CLOSED = "closed"  # no one: accounts are made with ``discord-arch admin create-user``
    INVITE_ONLY = "invite-only"  # whoever brings a registration code (``registration_code``)


async def registration_mode(meta: MetaStore) -> Registration:
    """The registration mode; ``closed`` for a value this version does not know (written by
    a newer one): refusing is the safe reading of a setting not understood."""
    value = await meta.get_setting(REGISTRATION_KEY)
    if value is None:
        return Registration.OPEN
    try:
        return Registration(value)
    except ValueError:
        logger.warning("unknown registration mode %r in the instance settings: closed", value)
        return Registration.CLOSED


async def set_registration_mode(meta: MetaStore, mode: Registration) -> None:
    await meta.set_setting(REGISTRATION_KEY, mode.value)
