"""The OpenAPI 3.1 document of the REST API, served at ``/api/openapi.json``.

Paths and path parameters come from the app's own router, so the document cannot name a route
that does not exist; what each operation takes and returns comes from ``OPERATIONS`` below,
and ``tests/api/test_openapi.py`` fails when a route has no entry there (or an entry has no
route), and checks real responses against the declared schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.search_form import CONTENT_MAX, HAS_VALUES
from core.store.searchquery import SEARCH_OFFSET_MAX, SEARCH_PAGE_MAX
from core.thread_listings import ARCHIVED_PAGE_MAX
from core.threads import ARCHIVE_DURATIONS, MEMBERS_PAGE_MAX, THREAD_NAME_MAX

__all__ = ["OPERATIONS", "Op", "build_document"]

V = "/api/v10"


@dataclass(frozen=True, slots=True)
class Op:
    """What one route does: summary, request body schema, response schema and status.

    Every operation also documents the errors any route can answer (:func:`_error_statuses`);
    ``also`` adds other successes (status, schema name or None for no body), ``errors`` the
    errors only this route gives, ``query`` its query parameters (name, schema; an array is
    the parameter repeated). ``files``: the route also takes ``multipart/form-data``, the
    ``body`` schema's JSON as ``payload_json`` and up to 10 ``files[n]`` (``api.multipart``).
    """

    summary: str
    response: str | None = None  # a schema name in SCHEMAS, "[Name]" for a list, None for 204
    body: str | None = None
    status: int = 200
    public: bool = False
    also: tuple[tuple[int, str | None], ...] = ()
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    files: bool = False  # the body may also be multipart/form-data: payload_json + files[n]


def _ref(name: str) -> dict[str, Any]:
    if name.startswith("["):
        return {"type": "array", "items": {"$ref": f"#/components/schemas/{name[1:-1]}"}}
    return {"$ref": f"#/components/schemas/{name}"}


_SNOWFLAKE = {"type": "string", "pattern": "^[0-9]{1,20}$"}
_NSNOWFLAKE = {"type": ["string", "null"], "pattern": "^[0-9]{1,20}$"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
# A message's action rows of buttons and select menus (core.components: 5 rows at most).
_COMPONENTS = {"type": "array", "maxItems": 5, "items": {"type": "object"}}
# payload_json's attachments: new files by their n (filename, description), and in an edit
# the existing attachments (by snowflake) to keep.
_ATTACHMENTS_IN = {"type": "array", "maxItems": 10, "items": {"type": "object", "properties": {
    "id": {"type": ["string", "integer"]}, "filename": {"type": "string"},
    "description": {"type": "string"}}}}
_ID_IN = {"oneOf": [{"type": "string"}, {"type": "integer"}]}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    return {"type": "object", "required": list(required), "properties": props}


# A thread's auto_archive_duration (minutes) and name (core.threads).
_ARCHIVE_DURATION = {"enum": list(ARCHIVE_DURATIONS)}
_THREAD_NAME = {"type": "string", "minLength": 1, "maxLength": THREAD_NAME_MAX}

# What a command definition may hold besides its name (core.command_form).
_COMMAND_FIELDS: dict[str, Any] = {
    "type": {"enum": [1, 2, 3]}, "description": _STR,
    "options": {"type": "array", "maxItems": 25, "items": {"type": "object"}},
    "default_member_permissions": {"type": ["string", "integer", "null"]},
    "dm_permission": _BOOL, "nsfw": _BOOL,
    "contexts": {"type": ["array", "null"], "items": {"enum": [0, 1, 2]}},
    "integration_types": {"type": ["array", "null"], "items": {"enum": [0, 1]}},
    "name_localizations": {"type": ["object", "null"]},
    "description_localizations": {"type": ["object", "null"]},
}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"code": _INT, "message": _STR}, {"errors": {"type": "object"}}),
    "User": _obj({"id": _SNOWFLAKE, "username": _STR, "discriminator": _STR,
                  "global_name": _NSTR, "avatar": _NSTR, "bot": _BOOL}),
    "Auth": _obj({"token": _STR, "user": _ref("User")}),
    "Login": _obj({"token": _STR, "user_id": _SNOWFLAKE}),
    # registration_code: needed while the instance's registration is invite-only.
    "Register": _obj({"username": _STR, "password": _STR}, {"registration_code": _STR}),
    "LoginBody": _obj({"login": _STR, "password": _STR}),
    "Application": _obj({"id": _SNOWFLAKE, "name": _STR, "description": _STR, "icon": _NSTR,
                         "bot_public": _BOOL, "bot_require_code_grant": _BOOL,
                         "owner": _ref("User"), "verify_key": _STR, "flags": _INT},
                        {"token": _STR, "bot": _ref("User")}),
    "ApplicationCreate": _obj({"name": _STR}, {"description": _STR}),
    "Gateway": _obj({"url": _STR}),
    "GatewayBot": _obj({"url": _STR, "shards": _INT, "session_start_limit": _obj(
        {"total": _INT, "remaining": _INT, "reset_after": _INT, "max_concurrency": _INT})}),
    "UserPatch": {"type": "object", "properties": {"username": _STR, "global_name": _NSTR,
                                                   "avatar": _NSTR, "password": _STR,
                                                   "new_password": _STR}},
    # PATCH /users/@me's answer: the user, and with a password change the token to use.
    "UserEdited": {"allOf": [_ref("User"), {"type": "object", "properties": {"token": _STR}}]},
    "Role": _obj({"id": _SNOWFLAKE, "name": _STR, "color": _INT, "hoist": _BOOL,
                  "position": _INT, "permissions": _STR, "managed": _BOOL,
                  "mentionable": _BOOL}),
    "RoleBody": {"type": "object", "properties": {
        "name": _STR, "permissions": _ID_IN, "color": _INT, "hoist": _BOOL,
        "mentionable": _BOOL}},
    "Positions": {"type": "array", "items": _obj({"id": _ID_IN}, {"position": _INT,
                                                                   "parent_id": _ID_IN})},
    "Guild": _obj({"id": _SNOWFLAKE, "name": _STR, "owner_id": _SNOWFLAKE, "icon": _NSTR,
                   "roles": _ref("[Role]"), "features": {"type": "array"}}),
    "PartialGuild": _obj({"id": _SNOWFLAKE, "name": _STR, "icon": _NSTR, "owner": _BOOL,
                          "permissions": _STR}),
    "GuildCreate": _obj({"name": _STR}),
    "GuildPatch": {"type": "object", "properties": {
        "name": _STR, "icon": _NSTR, "description": _NSTR, "system_channel_id": _ID_IN,
        "owner_id": _ID_IN}},
    "Overwrite": _obj({"id": _SNOWFLAKE, "type": _INT, "allow": _STR, "deny": _STR}),
    "OverwriteBody": _obj({"type": _INT}, {"allow": _ID_IN, "deny": _ID_IN}),
    "Channel": _obj({"id": _SNOWFLAKE, "type": _INT}, {
        "guild_id": _SNOWFLAKE, "name": _NSTR, "topic": _NSTR, "position": _INT,
        "parent_id": _NSNOWFLAKE, "permission_overwrites": _ref("[Overwrite]"),
        "recipients": _ref("[User]"), "last_message_id": _NSNOWFLAKE,
        "owner_id": _NSNOWFLAKE, "icon": _NSTR,
        # A thread's (core.thread_wire): its state, counts and the reader's membership.
        "thread_metadata": {"type": "object"}, "member_count": _INT, "message_count": _INT,
        "member": _ref("ThreadMember")}),
    # archived, locked, auto_archive_duration, invitable: a thread's (core.threads).
    "ChannelBody": {"type": "object", "properties": {
        "name": _STR, "type": _INT, "topic": _NSTR, "position": _INT, "parent_id": _ID_IN,
        "nsfw": _BOOL, "rate_limit_per_user": _INT, "permission_overwrites": {"type": "array"},
        "icon": _NSTR, "owner_id": _ID_IN, "archived": _BOOL, "locked": _BOOL,
        "auto_archive_duration": _ARCHIVE_DURATION, "invitable": _BOOL}},
    # Threads (core.threads, core.thread_listings).
    "ThreadMember": _obj({"id": _SNOWFLAKE, "user_id": _SNOWFLAKE, "join_timestamp": _STR,
                          "flags": _INT}, {"member": _ref("Member")}),
    "ThreadFromMessage": _obj({"name": _THREAD_NAME}, {
        "auto_archive_duration": _ARCHIVE_DURATION, "rate_limit_per_user": _INT}),
    # type: 11 public, 12 private (the default, as Discord's).
    "ThreadCreate": _obj({"name": _THREAD_NAME}, {
        "type": {"enum": [11, 12]}, "auto_archive_duration": _ARCHIVE_DURATION,
        "invitable": _BOOL, "rate_limit_per_user": _INT}),
    # has_more: in the archived listings only.
    "ThreadList": _obj({"threads": _ref("[Channel]"), "members": _ref("[ThreadMember]")},
                       {"has_more": _BOOL}),
    # recipient_id: a DM; recipients (user ids, at most 9): a group DM, one id its DM.
    "DmCreate": {"type": "object", "properties": {
        "recipient_id": _ID_IN, "recipients": {"type": "array", "items": _ID_IN}}},
    "AckBody": {"type": "object", "properties": {
        "token": _NSTR, "manual": _BOOL, "mention_count": _INT, "last_viewed": _INT}},
    "Ack": _obj({"token": {"type": "null"}}),
    "Member": _obj({"roles": {"type": "array", "items": _SNOWFLAKE}, "joined_at": _STR,
                    "flags": _INT, "deaf": _BOOL, "mute": _BOOL},
                   {"user": _ref("User"), "nick": _NSTR, "communication_disabled_until": _NSTR}),
    "MemberPatch": {"type": "object", "properties": {
        "nick": _NSTR, "roles": {"type": "array"}, "communication_disabled_until": _NSTR}},
    "Invite": _obj({"code": _STR, "guild": {"type": "object"}, "channel": {"type": "object"}},
                   {"inviter": {"oneOf": [_ref("User"), {"type": "null"}]},
                    "uses": _INT, "max_uses": _INT, "max_age": _INT}),
    "InviteCreate": {"type": "object", "properties": {
        "max_age": _INT, "max_uses": _INT, "temporary": _BOOL, "unique": _BOOL}},
    "Message": _obj({"id": _SNOWFLAKE, "channel_id": _SNOWFLAKE, "author": _ref("User"),
                     "content": _STR, "timestamp": _STR, "edited_timestamp": _NSTR,
                     "tts": _BOOL, "mention_everyone": _BOOL, "mentions": _ref("[User]"),
                     "mention_roles": {"type": "array"}, "attachments": {"type": "array"},
                     "embeds": {"type": "array"}, "components": _COMPONENTS, "pinned": _BOOL,
                     "type": _INT},
                    {"member": _ref("Member"), "nonce": _ID_IN, "guild_id": _SNOWFLAKE,
                     "message_reference": {"type": "object"},
                     "reactions": _ref("[Reaction]"), "webhook_id": _SNOWFLAKE}),
    "Reaction": _obj({"count": _INT, "count_details": _obj({"burst": _INT, "normal": _INT}),
                      "me": _BOOL, "me_burst": _BOOL, "burst_colors": {"type": "array"},
                      "emoji": _obj({"id": _NSNOWFLAKE, "name": _NSTR})}),
    "PinsPage": _obj({"items": {"type": "array", "items": _obj(
        {"pinned_at": _STR, "message": _ref("Message")})}, "has_more": _BOOL}),
    "MessageCreate": {"type": "object", "properties": {
        "content": _STR, "nonce": _ID_IN, "enforce_nonce": _BOOL, "tts": _BOOL,
        "message_reference": _obj({"message_id": _ID_IN}), "embeds": {"type": "array"},
        "components": _COMPONENTS, "attachments": _ATTACHMENTS_IN}},
    "MessagePatch": {"type": "object", "properties": {"content": _STR, "embeds": {"type": "array"},
                                                      "flags": _INT,
                                                      "components": _COMPONENTS,
                                                      "attachments": _ATTACHMENTS_IN}},
    "BulkDelete": _obj({"messages": {"type": "array", "items": _ID_IN}}),
    # Each hit alone in an array (Discord's shape, once the hit and its context).
    "SearchResults": _obj({"total_results": _INT,
                           "messages": {"type": "array", "items": _ref("[Message]")},
                           "analytics_id": _STR, "doing_deep_historical_index": _BOOL},
                          {"threads": {"type": "array"}, "members": {"type": "array"}}),
    "Ban": _obj({"reason": _NSTR, "user": _ref("User")}),
    "BanBody": {"type": "object", "properties": {
        "delete_message_seconds": {"type": "integer", "minimum": 0, "maximum": 604800},
        "delete_message_days": {"type": "integer", "minimum": 0, "maximum": 7}}},
    "BulkBan": _obj({"user_ids": {"type": "array", "items": _ID_IN, "minItems": 1,
                                  "maxItems": 200}},
                    {"delete_message_seconds": {"type": "integer", "minimum": 0,
                                                "maximum": 604800}}),
    "BulkBanResult": _obj({"banned_users": {"type": "array", "items": _SNOWFLAKE},
                           "failed_users": {"type": "array", "items": _SNOWFLAKE}}),
    "AuditLogEntry": _obj({"id": _SNOWFLAKE, "user_id": _NSNOWFLAKE, "target_id": _NSNOWFLAKE,
                           "action_type": _INT, "changes": {"type": "array", "items": _obj(
                               {"key": _STR}, {"old_value": {}, "new_value": {}})}},
                          {"options": {"type": "object"}, "reason": _STR}),
    "AuditLog": _obj({"audit_log_entries": _ref("[AuditLogEntry]"), "users": _ref("[User]"),
                      **{name: {"type": "array"} for name in (
                          "integrations", "webhooks", "guild_scheduled_events", "threads",
                          "application_commands", "auto_moderation_rules")}}),
    # user: for who may manage it (not on the token routes); token and url: likewise, and on
    # the token routes.
    "Webhook": _obj({"id": _SNOWFLAKE, "type": _INT, "guild_id": _SNOWFLAKE,
                     "channel_id": _SNOWFLAKE, "name": _STR, "avatar": _NSTR,
                     "application_id": _NSNOWFLAKE},
                    {"user": _ref("User"), "token": _STR, "url": _STR}),
    "WebhookCreate": _obj({"name": _STR}, {"avatar": _NSTR}),
    "WebhookPatch": {"type": "object", "properties": {"name": _STR, "avatar": _NSTR,
                                                      "channel_id": _ID_IN}},
    "WebhookTokenPatch": {"type": "object", "properties": {"name": _STR, "avatar": _NSTR}},
    # Interactions (core.interactions, core.interaction_responses).
    # application_id: a command's (2, 4) and a modal submit's (5); a component's (3) is its
    # message's author, message_id naming the message.
    "InteractionInvoke": {"type": "object", "required": ["type", "channel_id", "data"],
                          "properties": {
        "type": {"enum": [2, 3, 4, 5]}, "application_id": _ID_IN, "guild_id": _ID_IN,
        "channel_id": _ID_IN, "message_id": _ID_IN, "data": {"type": "object"}, "nonce": _STR,
        "session_id": _STR}},
    "InteractionCallback": {"type": "object", "required": ["type"], "properties": {
        "type": {"enum": [4, 5, 6, 7, 8, 9]}, "data": {"type": "object"}}},
    "InteractionCallbackResponse": {"type": "object", "required": ["interaction", "resource"],
                                    "properties": {"interaction": {"type": "object"},
                                                   "resource": {"type": "object"}}},
    "WebhookExecute": {"type": "object", "properties": {
        "content": _STR, "username": _STR, "avatar_url": _STR, "tts": _BOOL,
        "embeds": {"type": "array"}, "allowed_mentions": {"type": "object"}, "flags": _INT,
        "components": _COMPONENTS, "attachments": _ATTACHMENTS_IN}},
    # Application commands (core.app_commands, core.command_form: Discord's limits).
    "ApplicationCommand": _obj(
        {"id": _SNOWFLAKE, "application_id": _SNOWFLAKE, "version": _SNOWFLAKE,
         "type": {"enum": [1, 2, 3]}, "name": _STR, "description": _STR,
         "options": {"type": "array", "maxItems": 25}, "default_member_permissions": _NSTR,
         "dm_permission": _BOOL, "nsfw": _BOOL},
        {"guild_id": _SNOWFLAKE, "contexts": {"type": ["array", "null"]},
         "integration_types": {"type": ["array", "null"]},
         "name_localizations": {"type": ["object", "null"]},
         "description_localizations": {"type": ["object", "null"]}}),
    # What a member may run in a guild (Discord's client's command index).
    "ApplicationCommandIndex": _obj(
        {"applications": {"type": "array", "items": _obj(
            {"id": _SNOWFLAKE, "name": _STR, "icon": _NSTR, "description": _STR,
             "bot_id": _SNOWFLAKE})},
         "application_commands": _ref("[ApplicationCommand]"), "version": _SNOWFLAKE}),
    "ApplicationCommandCreate": _obj({"name": _STR}, _COMMAND_FIELDS),
    "ApplicationCommandPatch": {"type": "object", "properties": {"name": _STR, **_COMMAND_FIELDS}},
    # A bulk overwrite: at most the scope's limits together (core.app_commands).
    "ApplicationCommandList": {"type": "array", "maxItems": 130,
                               "items": _obj({"name": _STR}, _COMMAND_FIELDS)},
}

_G = V + "/guilds/{guild_id}"
_C = V + "/channels/{channel_id}"

# Discord's search parameters (core.search_form).
_SNOWFLAKES = {"type": "array", "items": _SNOWFLAKE}
_HAS = sorted(HAS_VALUES)
_SEARCH_QUERY: tuple[tuple[str, dict[str, Any]], ...] = (
    ("content", {"type": "string", "maxLength": CONTENT_MAX}),
    ("author_id", {**_SNOWFLAKES, "maxItems": 100}),
    ("mentions", {**_SNOWFLAKES, "maxItems": 100}),
    ("channel_id", {**_SNOWFLAKES, "maxItems": 500}),
    ("has", {"type": "array", "items": {"enum": _HAS + [f"-{h}" for h in _HAS]}}),
    ("min_id", _SNOWFLAKE),
    ("max_id", _SNOWFLAKE),
    ("pinned", _BOOL),
    ("mention_everyone", _BOOL),
    ("include_nsfw", _BOOL),
    ("offset", {"type": "integer", "minimum": 0, "maximum": SEARCH_OFFSET_MAX}),
    ("limit", {"type": "integer", "minimum": 1, "maximum": SEARCH_PAGE_MAX}),
    ("sort_by", {"enum": ["timestamp", "relevance"]}),
    ("sort_order", {"enum": ["desc", "asc"]}),
)
_APP = V + "/applications/{application_id}"
_TM = _C + "/thread-members"
_WITH_MEMBER = ("with_member", {"enum": ["true", "false"]})
# before: an ISO 8601 time (the channel's listings) or a thread id (the caller's own).
_ARCHIVED_QUERY: tuple[tuple[str, dict[str, Any]], ...] = (
    ("before", _STR),
    ("limit", {"type": "integer", "minimum": 1, "maximum": ARCHIVED_PAGE_MAX}),
)
_THREAD_OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", _C + "/messages/{message_id}/threads"): Op(
        "Start a public thread from a message, its id the message's (CREATE_PUBLIC_THREADS; "
        "400 160004 when it has one)", "Channel", "ThreadFromMessage", 201),
    ("POST", _C + "/threads"): Op(
        "Start a thread without a message (type 11: CREATE_PUBLIC_THREADS, 12: "
        "CREATE_PRIVATE_THREADS)", "Channel", "ThreadCreate", 201),
    ("PUT", _TM + "/{user_id}"): Op(
        "Join a thread (@me) or add a member (SEND_MESSAGES_IN_THREADS; 400 50083 archived)",
        None, status=204),
    ("DELETE", _TM + "/{user_id}"): Op(
        "Leave a thread (@me) or remove a member (MANAGE_THREADS, or a private thread's "
        "owner)", None, status=204),
    ("GET", _TM + "/{user_id}"): Op("A thread member (with_member: the guild member too)",
                                    "ThreadMember", query=(_WITH_MEMBER,)),
    ("GET", _TM): Op("A thread's members by user id (after, limit 1-100, with_member)",
                     "[ThreadMember]", query=(("after", _SNOWFLAKE), (
                         "limit", {"type": "integer", "minimum": 1,
                                   "maximum": MEMBERS_PAGE_MAX}), _WITH_MEMBER)),
    ("GET", _G + "/threads/active"): Op(
        "The guild's active threads the caller may see, and its memberships", "ThreadList"),
    ("GET", _C + "/threads/archived/public"): Op(
        "A channel's archived public threads, newest archived first (READ_MESSAGE_HISTORY)",
        "ThreadList", query=_ARCHIVED_QUERY),
    ("GET", _C + "/threads/archived/private"): Op(
        "A channel's archived private threads (READ_MESSAGE_HISTORY and MANAGE_THREADS)",
        "ThreadList", query=_ARCHIVED_QUERY),
    ("GET", _C + "/users/@me/threads/archived/private"): Op(
        "The archived private threads of a channel the caller is in", "ThreadList",
        query=_ARCHIVED_QUERY),
}


def _command_operations(base: str, scope: str) -> dict[tuple[str, str], Op]:
    """The six application-command routes of one scope (the application's bot only)."""
    one = base + "/{command_id}"
    return {
        ("GET", base): Op(f"The application's {scope} commands", "[ApplicationCommand]"),
        ("POST", base): Op(f"Create a {scope} command (201), or replace the one of its name "
                           "and type (200)", "ApplicationCommand", "ApplicationCommandCreate",
                           status=201, also=((200, "ApplicationCommand"),)),
        ("PUT", base): Op(f"Overwrite the {scope} commands with this list (tree.sync()); "
                          "ids kept by name and type", "[ApplicationCommand]",
                          "ApplicationCommandList"),
        ("GET", one): Op(f"A {scope} command", "ApplicationCommand"),
        ("PATCH", one): Op(f"Edit a {scope} command", "ApplicationCommand",
                           "ApplicationCommandPatch"),
        ("DELETE", one): Op(f"Delete a {scope} command", None, status=204),
    }


_W = V + "/webhooks/{webhook_id}"
_WT = _W + "/{webhook_token}"
# A webhook's message routes: thread_id, a thread of the webhook's channel; execute also wait
# (200 with the message, else 204).
_THREAD_QUERY: tuple[tuple[str, dict[str, Any]], ...] = (("thread_id", _SNOWFLAKE),)
# with_components: a webhook no application owns has its components ignored without it, and
# may then send non-interactive ones only (core.webhook_messages).
_WITH_COMPONENTS = (("with_components", {"enum": ["true", "false"]}),)
_EXECUTE_QUERY = (("wait", {"enum": ["true", "false"]}), *_THREAD_QUERY, *_WITH_COMPONENTS)

# Interactions (core.interactions, core.interaction_responses): a user invokes (Discord's own
# client route); the bot answers and follows up with the interaction's token alone.
_IT = V + "/webhooks/{application_id}/{interaction_token}"
_INTERACTION_OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", V + "/interactions"): Op(
        "Invoke a command (2), click or select a message component (3), ask autocomplete "
        "choices (4), submit a modal (5): checked, then INTERACTION_CREATE to the bot",
        None, "InteractionInvoke", status=204),
    ("POST", V + "/interactions/{interaction_id}/{interaction_token}/callback"): Op(
        "The initial response (4 message, 5 deferred, 6/7 update a component's message, "
        "8 autocomplete choices, 9 modal; once, within 3 s: 40060, 10062); the callback "
        "response with with_response", "InteractionCallbackResponse",
        "InteractionCallback", public=True,
        also=((204, None),), query=(("with_response", _BOOL),)),
    ("POST", _IT): Op("A follow-up message (the response after a deferral)", "Message",
                      "WebhookExecute", public=True, errors=(401,)),
    ("GET", _IT + "/messages/{message_id}"): Op("A response message (@original or an id)",
                                                "Message", public=True, errors=(401,)),
    ("PATCH", _IT + "/messages/{message_id}"): Op("Edit a response message", "Message",
                                                  "MessagePatch", public=True, errors=(401,)),
    ("DELETE", _IT + "/messages/{message_id}"): Op("Delete a response message", None,
                                                   status=204, public=True, errors=(401,)),
}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", V + "/auth/register"): Op("Create an account, as the instance's registration "
                                       "mode allows (closed: 403; invite-only: "
                                       "registration_code)", "Auth", "Register", 201, True),
    ("POST", V + "/auth/login"): Op("Log in", "Login", "LoginBody", public=True),
    ("POST", V + "/auth/logout"): Op("Revoke the token used", None, status=204),
    ("GET", V + "/users/@me"): Op("The current user", "User"),
    ("PATCH", V + "/users/@me"): Op("Edit the current user; new_password (with the current "
                                    "password) revokes the other tokens", "UserEdited",
                                    "UserPatch"),
    ("GET", V + "/users/{user_id}"): Op("A user", "User"),
    ("POST", V + "/applications"): Op("Create a bot application (token shown once)",
                                      "Application", "ApplicationCreate", 201),
    ("GET", V + "/applications"): Op("The current user's applications", "[Application]"),
    ("GET", V + "/oauth2/applications/@me"): Op("The bot's application", "Application"),
    ("GET", V + "/applications/@me"): Op("The bot's application", "Application"),
    ("GET", V + "/gateway"): Op("Gateway URL", "Gateway", public=True),
    ("GET", V + "/gateway/bot"): Op("Gateway URL, shards and identify limits", "GatewayBot"),
    ("POST", V + "/guilds"): Op("Create a guild", "Guild", "GuildCreate", 201),
    ("GET", _G): Op("A guild", "Guild"),
    ("PATCH", _G): Op("Edit a guild (MANAGE_GUILD)", "Guild", "GuildPatch"),
    ("DELETE", _G): Op("Delete a guild (owner)", None, status=204),
    ("GET", V + "/users/@me/guilds"): Op("The current user's guilds", "[PartialGuild]"),
    ("DELETE", V + "/users/@me/guilds/{guild_id}"): Op("Leave a guild", None, status=204),
    ("GET", _G + "/channels"): Op("A guild's channels", "[Channel]"),
    ("POST", _G + "/channels"): Op("Create a channel (MANAGE_CHANNELS)", "Channel",
                                   "ChannelBody", 201),
    ("PATCH", _G + "/channels"): Op("Reorder channels", None, "Positions", 204),
    ("GET", _C): Op("A channel", "Channel"),
    ("PATCH", _C): Op("Edit a channel (MANAGE_CHANNELS); a group DM's name, icon or owner; a "
                      "thread's name, archived, locked (its owner, or MANAGE_THREADS)",
                      "Channel", "ChannelBody"),
    ("DELETE", _C): Op("Delete a channel (a thread: MANAGE_THREADS), close a DM or leave a "
                       "group DM", "Channel"),
    ("POST", V + "/users/@me/channels"): Op("Open a DM, or create a group DM (recipients; "
                                            "user accounts, at most 10 members)", "Channel",
                                            "DmCreate"),
    ("GET", V + "/users/@me/channels"): Op("The current user's DMs and group DMs",
                                           "[Channel]"),
    ("PUT", _C + "/recipients/{user_id}"): Op("Add a recipient to a group DM (at most 10 "
                                              "members)", None, status=204),
    ("DELETE", _C + "/recipients/{user_id}"): Op("Remove a recipient from a group DM (the "
                                                 "owner), or leave it", None, status=204),
    ("POST", _C + "/messages/{message_id}/ack"): Op("Mark the channel read up to a message "
                                                    "(user accounts; bots 403 20001)", "Ack",
                                                    "AckBody"),
    ("PUT", _C + "/permissions/{overwrite_id}"): Op("Set a permission overwrite", None,
                                                    "OverwriteBody", 204),
    ("DELETE", _C + "/permissions/{overwrite_id}"): Op("Delete a permission overwrite", None,
                                                       status=204),
    # 409: no free code in 5 random draws (of 62^8 codes and more: never seen).
    ("POST", _C + "/invites"): Op("Create an invite", "Invite", "InviteCreate",
                                  errors=(409,)),
    ("GET", _C + "/invites"): Op("A channel's invites (MANAGE_CHANNELS)", "[Invite]"),
    ("GET", _G + "/invites"): Op("A guild's invites (MANAGE_GUILD)", "[Invite]"),
    ("GET", V + "/invites/{code}"): Op("An invite", "Invite", public=True),
    ("POST", V + "/invites/{code}"): Op("Join a guild by invite", "Invite"),
    ("DELETE", V + "/invites/{code}"): Op("Delete an invite", "Invite"),
    ("GET", _G + "/members"): Op("List members (limit 1-1000, after)", "[Member]"),
    ("GET", _G + "/members/{user_id}"): Op("A member", "Member"),
    ("PUT", _G + "/members/{user_id}"): Op("Add a bot user (MANAGE_GUILD): 201 with the member, "
                                           "204 when it already is one", "Member", None, 201,
                                           also=((204, None),)),
    ("PATCH", _G + "/members/{user_id}"): Op("Edit a member", "Member", "MemberPatch"),
    ("PATCH", _G + "/members/@me"): Op("Edit the current member", "Member", "MemberPatch"),
    ("DELETE", _G + "/members/{user_id}"): Op("Kick a member (KICK_MEMBERS)", None, status=204),
    ("GET", _G + "/bans"): Op("A guild's bans by user id (BAN_MEMBERS; limit 1-1000, "
                              "before, after)", "[Ban]"),
    ("GET", _G + "/bans/{user_id}"): Op("A user's ban (BAN_MEMBERS)", "Ban"),
    ("PUT", _G + "/bans/{user_id}"): Op("Ban a user, member or not, deleting their messages of "
                                        "the last delete_message_seconds (BAN_MEMBERS)", None,
                                        "BanBody", 204),
    ("DELETE", _G + "/bans/{user_id}"): Op("Lift a ban (BAN_MEMBERS)", None, status=204),
    ("POST", _G + "/bulk-ban"): Op("Ban up to 200 users (BAN_MEMBERS and MANAGE_GUILD; 400 "
                                   "500000 when none was banned)", "BulkBanResult", "BulkBan"),
    ("GET", _G + "/audit-logs"): Op("The audit log, newest first (VIEW_AUDIT_LOG; user_id, "
                                    "action_type, before, after, limit 1-100)", "AuditLog"),
    ("PUT", _G + "/members/{user_id}/roles/{role_id}"): Op("Give a role", None, status=204),
    ("DELETE", _G + "/members/{user_id}/roles/{role_id}"): Op("Take a role", None, status=204),
    ("GET", _G + "/roles"): Op("A guild's roles", "[Role]"),
    ("POST", _G + "/roles"): Op("Create a role (MANAGE_ROLES)", "Role", "RoleBody"),
    ("PATCH", _G + "/roles"): Op("Reorder roles", "[Role]", "Positions"),
    ("PATCH", _G + "/roles/{role_id}"): Op("Edit a role", "Role", "RoleBody"),
    ("DELETE", _G + "/roles/{role_id}"): Op("Delete a role", None, status=204),
    # 503: its write failed or the worker is draining (retry).
    ("POST", _C + "/messages"): Op("Send a message (durable when answered)", "Message",
                                   "MessageCreate", errors=(503,), files=True),
    ("GET", _C + "/messages"): Op("Message history (before/after/around, limit 1-100)",
                                  "[Message]"),
    ("GET", _C + "/messages/{message_id}"): Op("A message", "Message"),
    ("PATCH", _C + "/messages/{message_id}"): Op("Edit own message", "Message", "MessagePatch",
                                                 files=True),
    ("DELETE", _C + "/messages/{message_id}"): Op("Delete a message", None, status=204),
    ("POST", _C + "/messages/bulk-delete"): Op("Delete 2-100 messages (MANAGE_MESSAGES)", None,
                                               "BulkDelete", 204),
    ("POST", _C + "/typing"): Op("Show the typing indicator", None, status=204),
    ("PUT", _C + "/messages/{message_id}/reactions/{emoji}/@me"): Op(
        "React (READ_MESSAGE_HISTORY; ADD_REACTIONS for an emoji new to the message; "
        "at most 20 emojis)", None, status=204),
    ("DELETE", _C + "/messages/{message_id}/reactions/{emoji}/@me"): Op(
        "Remove own reaction", None, status=204),
    ("DELETE", _C + "/messages/{message_id}/reactions/{emoji}/{user_id}"): Op(
        "Remove a user's reaction (MANAGE_MESSAGES)", None, status=204),
    ("GET", _C + "/messages/{message_id}/reactions/{emoji}"): Op(
        "Users who reacted with an emoji (after, limit 1-100, type)", "[User]"),
    ("DELETE", _C + "/messages/{message_id}/reactions/{emoji}"): Op(
        "Remove every reaction with an emoji (MANAGE_MESSAGES)", None, status=204),
    ("DELETE", _C + "/messages/{message_id}/reactions"): Op(
        "Remove every reaction (MANAGE_MESSAGES)", None, status=204),
    ("GET", _C + "/pins"): Op("Pinned messages, most recently pinned first (Discord's "
                              "deprecated route)", "[Message]"),
    ("GET", _C + "/messages/pins"): Op("Pinned messages (before: ISO 8601, limit 1-50)",
                                       "PinsPage"),
    ("PUT", _C + "/pins/{message_id}"): Op("Pin a message (deprecated route)", None,
                                           status=204),
    ("DELETE", _C + "/pins/{message_id}"): Op("Unpin a message (deprecated route)", None,
                                              status=204),
    ("PUT", _C + "/messages/pins/{message_id}"): Op(
        "Pin a message (PIN_MESSAGES or MANAGE_MESSAGES; at most 50 a channel)", None,
        status=204),
    ("DELETE", _C + "/messages/pins/{message_id}"): Op("Unpin a message", None, status=204),
    ("POST", _C + "/webhooks"): Op("Create a webhook (MANAGE_WEBHOOKS; at most 10 a channel)",
                                   "Webhook", "WebhookCreate"),
    ("GET", _C + "/webhooks"): Op("A channel's webhooks (MANAGE_WEBHOOKS)", "[Webhook]"),
    ("GET", _G + "/webhooks"): Op("A guild's webhooks (MANAGE_WEBHOOKS)", "[Webhook]"),
    ("GET", _W): Op("A webhook (MANAGE_WEBHOOKS)", "Webhook"),
    ("PATCH", _W): Op("Edit a webhook, or move it to another channel of its guild "
                      "(MANAGE_WEBHOOKS)", "Webhook", "WebhookPatch"),
    ("DELETE", _W): Op("Delete a webhook (MANAGE_WEBHOOKS)", None, status=204),
    # The token routes: the token is the credential (401 50027 when wrong).
    ("GET", _WT): Op("A webhook, by its token", "Webhook", public=True, errors=(401,)),
    ("PATCH", _WT): Op("Edit a webhook's name or avatar, by its token", "Webhook",
                       "WebhookTokenPatch", public=True, errors=(401,)),
    ("DELETE", _WT): Op("Delete a webhook, by its token", None, status=204, public=True,
                        errors=(401,)),
    # 503: its write failed or the worker is draining (retry).
    ("POST", _WT): Op("Execute a webhook: 200 with the message with wait=true, else 204 "
                      "(durable when answered; 5 per 2 s a webhook, 30 a minute a channel)",
                      "Message", "WebhookExecute", public=True, also=((204, None),),
                      errors=(401, 503), query=_EXECUTE_QUERY, files=True),
    ("GET", _WT + "/messages/{message_id}"): Op("A message the webhook sent", "Message",
                                                public=True, errors=(401,),
                                                query=_THREAD_QUERY),
    ("PATCH", _WT + "/messages/{message_id}"): Op("Edit a message the webhook sent", "Message",
                                                  "MessagePatch", public=True, errors=(401,),
                                                  query=(*_THREAD_QUERY, *_WITH_COMPONENTS),
                                                  files=True),
    ("DELETE", _WT + "/messages/{message_id}"): Op("Delete a message the webhook sent", None,
                                                   status=204, public=True, errors=(401,),
                                                   query=_THREAD_QUERY),
    # 503: a statement ran past its time (core.search: narrow the search).
    ("GET", _G + "/messages/search"): Op(
        "Search the guild's messages the caller may read (bots too)", "SearchResults",
        errors=(503,), query=_SEARCH_QUERY),
    ("GET", _C + "/messages/search"): Op(
        "Search one channel's messages (users only: 403 20001 for a bot)", "SearchResults",
        errors=(503,), query=_SEARCH_QUERY),
    **{op: entry for scope, where in ((_APP + "/commands", "global"),
                                      (_APP + "/guilds/{guild_id}/commands", "guild"))
       for op, entry in _command_operations(scope, where).items()},
    ("GET", _G + "/application-command-index"): Op(
        "The commands the caller may run in the guild, with their applications (Discord's "
        "client route)", "ApplicationCommandIndex"),
    **_THREAD_OPERATIONS,
    **_INTERACTION_OPERATIONS,
    ("GET", "/api/openapi.json"): Op("This document", public=True),
}

_PARAM = re.compile(r"\{(\w+)\}")


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every API route of ``app`` (HEAD and static left out)."""
    out = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method in ("HEAD", "*") or resource is None:
            continue
        path = resource.canonical
        if path.startswith("/api/"):
            out.add((route.method, path))
    return out


def build_document(app: web.Application, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``app``'s routes (those without an entry are left out)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in sorted(app_routes(app)):
        op = OPERATIONS.get((method, path))
        if op is None:
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Discord Arch REST API", "version": "10",
                 "description": "A subset of Discord's REST API v10, with Discord's shapes, "
                                "error codes and rate-limit headers."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header",
                                          "name": "Authorization",
                                          "description": "`<token>` or `Bot <token>`"}},
        },
        "security": [{"token": []}],
    }


def _error_statuses(op: Op) -> list[int]:
    """Every error ``op`` can answer: 400 (a bad body or value), 401 (no valid token; never
    on a public route), 403, 404, 413 (a body over ``max_body_bytes``; routes that read one),
    429 (rate limits, public routes too), 500 (a bug or a failing backend: Discord's JSON
    500), and the route's own."""
    statuses = {400, 403, 404, 429, 500, *op.errors}
    if not op.public:
        statuses.add(401)
    if op.body:
        statuses.add(413)
    return sorted(statuses)


def _multipart(body: str) -> dict[str, Any]:
    """A multipart message body as discord.py and discord.js send it (``api.multipart``): the
    JSON as the ``payload_json`` part, files as ``files[0]`` .. ``files[9]`` (each at most
    ``max_attachment_bytes``, 413 40005), described by the JSON's ``attachments`` array."""
    file = {"type": "string", "contentMediaType": "application/octet-stream",
            "description": "A file; its part's filename becomes the attachment's (unless "
                           "payload_json's attachments[].filename names another)."}
    return {
        "schema": {
            "type": "object",
            "properties": {
                "payload_json": {"type": "string", "contentMediaType": "application/json",
                                 "contentSchema": _ref(body)},
                **{f"files[{n}]": file for n in range(10)},
            },
            "additionalProperties": False,
        },
        "encoding": {"payload_json": {"contentType": "application/json"}},
    }


def _operation(method: str, path: str, op: Op) -> dict[str, Any]:
    error = {"description": "Discord JSON error",
             "content": {"application/json": {"schema": _ref("Error")}}}
    responses: dict[str, Any] = {}
    for status, schema in ((op.status, op.response), *op.also):
        ok: dict[str, Any] = {"description": op.summary}
        if schema:
            ok["content"] = {"application/json": {"schema": _ref(schema)}}
        responses[str(status)] = ok
    responses.update((str(status), error) for status in _error_statuses(op))
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "responses": responses,
    }
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in _PARAM.findall(path)]
    params += [{"name": n, "in": "query", "required": False, "schema": schema}
               for n, schema in op.query]
    if params:
        out["parameters"] = params
    if op.body:
        content: dict[str, Any] = {"application/json": {"schema": _ref(op.body)}}
        if op.files:
            content["multipart/form-data"] = _multipart(op.body)
        out["requestBody"] = {"required": True, "content": content}
    if op.public:
        out["security"] = []
    return out
