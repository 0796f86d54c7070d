"""The gateway's own command handlers: users (the User aggregate), split by capability into
user_accounts.py and user_sessions.py over user_base.py."""

from __future__ import annotations

from ombudsman.gateway.user_accounts import UserAccounts
from ombudsman.gateway.user_base import ActiveUser, IssuedTokens
from ombudsman.gateway.user_sessions import UserSessions

__all__ = ["ActiveUser", "IssuedTokens", "UserService"]


class UserService(UserAccounts, UserSessions):
    """Registration, login, refresh, logout and role changes over the gateway's event store."""
