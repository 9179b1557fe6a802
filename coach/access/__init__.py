"""Access control: roles, the checked and audited actions (``workbench.Workbench``), and
signing in (``signin``). Off by default: everyone is a local admin and the actions are still
audited."""

from coach.access.roles import Action, Actor, Role, check

__all__ = ["Action", "Actor", "Role", "check"]
