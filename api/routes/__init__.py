"""Every route table of the REST API, in registration order."""

from __future__ import annotations

from api.routes import (
    accounts,
    app_commands,
    audit_logs,
    bans,
    cdn,
    channels,
    guilds,
    interactions,
    invites,
    members,
    messages,
    pins,
    reactions,
    read_states,
    recipients,
    roles,
    search,
    threads,
    webhooks,
)

__all__ = ["ROUTE_TABLES"]

# pins and search before messages: their literal ``/messages/pins`` and ``/messages/search``
# must win over ``/messages/{message_id}``. interactions before webhooks: their follow-up
# routes take only an interaction's token at ``/webhooks/{id}/{token}``.
ROUTE_TABLES = [accounts.routes, guilds.routes, channels.routes, threads.routes, pins.routes,
                search.routes,
                messages.routes,
                reactions.routes, members.routes, roles.routes, invites.routes, read_states.routes,
                recipients.routes, bans.routes, audit_logs.routes,
                interactions.routes, webhooks.routes,
                app_commands.routes, cdn.routes]
