"""Every route table of the REST API, in registration order."""

from __future__ import annotations

from api.routes import accounts, channels, guilds, invites, members, messages, roles

__all__ = ["ROUTE_TABLES"]

ROUTE_TABLES = [accounts.routes, guilds.routes, channels.routes, messages.routes,
                members.routes, roles.routes, invites.routes]
