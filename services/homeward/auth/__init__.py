"""Identity and authorization shared by every entry point: who the caller is
(principal.py), what the roles table lets them do (roles.py)."""

from homeward.auth.principal import Principal, PrincipalKind
from homeward.auth.roles import Action, Forbidden, RolesTable, current_roles

__all__ = ["Action", "Forbidden", "Principal", "PrincipalKind", "RolesTable", "current_roles"]
