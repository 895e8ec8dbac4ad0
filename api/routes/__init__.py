"""Every route table of the REST API, in registration order."""

from __future__ import annotations

from api.routes import (
    accounts,
    channels,
    guilds,
    invites,
    members,
    messages,
    pins,
    reactions,
    read_states,
    recipients,
    roles,
)

__all__ = ["ROUTE_TABLES"]

# pins before messages: its literal ``/messages/pins`` must win over ``/messages/{message_id}``.
ROUTE_TABLES = [accounts.routes, guilds.routes, channels.routes, pins.routes, messages.routes,
                reactions.routes, members.routes, roles.routes, invites.routes, read_states.routes,
                recipients.routes]
