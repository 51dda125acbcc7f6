"""The README's Entra permission list is exactly what portal/permissions.py says."""

from __future__ import annotations

import io
import re
from pathlib import Path

from django.core.management import call_command

from portal import permissions

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(
    r"<!-- entra-permissions:start -->\n(.*?)   <!-- entra-permissions:end -->", re.S
)


def test_the_readme_lists_exactly_the_permissions_of_the_table():
    match = BLOCK.search((ROOT / "README.md").read_text())
    assert match, "the README lost its entra-permissions markers"
    assert match.group(1) == permissions.entra_markdown(), (
        "README.md and portal/permissions.py disagree: paste `manage.py entra_permissions`"
    )


def test_the_command_prints_the_list():
    out = io.StringIO()
    call_command("entra_permissions", stdout=out)
    assert out.getvalue() == permissions.entra_markdown()


def test_discovery_needs_the_application_group_member_permission():
    needed = permissions.app_registration_permissions()
    assert "GroupMember.Read.All" in needed[permissions.PermissionType.APPLICATION]
    assert "User.Read.All" in needed[permissions.PermissionType.APPLICATION]


def test_every_rule_in_use_exists_and_the_sign_in_asks_for_the_delegated_ones():
    needed = permissions.app_registration_permissions()
    for key in permissions.IN_USE:
        assert key in permissions.TABLE
    assert set(permissions.delegated_scopes()) == set(needed[permissions.PermissionType.DELEGATED])
