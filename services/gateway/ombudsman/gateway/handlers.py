"""The gateway's own command handlers: users (the User aggregate), split by capability into
user_accounts.py, user_sessions.py and user_sso.py (single sign-on) over user_base.py."""

from __future__ import annotations

from ombudsman.gateway.user_accounts import UserAccounts
from ombudsman.gateway.user_base import ActiveUser, IssuedTokens
from ombudsman.gateway.user_sso import UserSSO

__all__ = ["ActiveUser", "IssuedTokens", "UserService"]


class UserService(UserAccounts, UserSSO):
    """Registration, login (password or single sign-on), refresh, logout and role changes over the
    gateway's event store."""
