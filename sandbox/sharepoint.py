"""The sandbox's SharePoint: a team site per Microsoft 365 group (its drive is the site's
default library), the Finance team's channels (a standard "General", a private "Audit"
with a site of its own: Alice and Bob, not Frank), and the "Projects" communication site
with two libraries (Carol owns it, Dave is a member, Grace a visitor who may only read).

Seeded after the directory and the drives (sandbox/seed.py); ids derive from names, so a
reset gives the same sites.
"""

from __future__ import annotations

from datetime import timedelta

from sandbox.content import Batches, seed_drive
from sandbox.generator import EPOCH, File, stable_id
from sandbox.graph import ids
from sandbox.models import Channel, DirectoryUser, Drive, DriveItem, Group, Site

# Known files (the tests and the demo name them).
AUDIT_FINDINGS = "Audit findings 2025.docx"
AUDIT_FILES = [
    f"/Findings/{AUDIT_FINDINGS}",
    "/Findings/Management letter.docx",
    "/Evidence/Bank reconciliation.xlsx",
    "/Evidence/Expense sample.xlsx",
]
PROJECTS_FILES = {
    "Documents": ["/Roadmap.docx", "/Launch/Launch plan.docx", "/Launch/Budget.xlsx"],
    "Plans": ["/2026/Hiring plan.xlsx", "/2026/Office move.pptx"],
}


def site_id(tenant_host: str, name: str) -> str:
    """Graph's shape: hostname, site collection id, web id."""
    return f"{tenant_host},{stable_id('site', name)},{stable_id('web', name)}"


def _host(group_or_user: Group | DirectoryUser) -> str:
    return f"{group_or_user.tenant.default_domain.split('.')[0]}.sharepoint.com"


def _files(key: str, paths: list[str]) -> list[File]:
    files = []
    for n, path in enumerate(paths):
        when = EPOCH - timedelta(days=60 - n)
        body = f"{key} {path}\n".encode() * (20 + n)
        files.append(File(path=path, versions=[body], modified=[when]))
    return files


def _library(batches: Batches, site: Site, name: str, files: list[File]) -> Drive:
    drive = Drive(
        id=ids.drive_id(f"site:{site.id}:{name}"),
        tenant_id=site.tenant_id,
        site=site,
        name=name,
        created_at=site.created_at,
    )
    batches.add(drive)
    seed_drive(batches, drive, None, files)
    return drive


def seed_sites() -> None:
    batches = Batches()
    created = EPOCH - timedelta(days=400)
    users = {u.user_principal_name.partition("@")[0]: u for u in DirectoryUser.objects.all()}
    for group in Group.objects.select_related("tenant").filter(group_types__icontains="Unified"):
        site = Site.objects.create(
            id=site_id(_host(group), group.mail_nickname),
            tenant_id=group.tenant_id,
            name=group.mail_nickname,
            display_name=group.display_name,
            description=group.description,
            kind=Site.Kind.TEAM,
            group=group,
            created_at=created,
        )
        Drive.objects.filter(owner_group=group).update(site=site)
        if group.display_name != "Finance":
            continue
        drive = Drive.objects.get(owner_group=group)
        root = DriveItem.objects.get(drive=drive, parent__isnull=True)
        DriveItem.objects.create(
            id=ids.item_id(f"{drive.id}:/General"),
            drive=drive,
            parent=root,
            name="General",
            is_folder=True,
            depth=1,
            created_at=created,
            modified_at=created,
        )
        Channel.objects.create(
            id=f"19:{stable_id('channel', 'Finance/General').hex}@thread.tacv2",
            team=group,
            display_name="General",
            created_at=created,
        )
        audit = Site.objects.create(
            id=site_id(_host(group), f"{group.mail_nickname}-Audit"),
            tenant_id=group.tenant_id,
            name=f"{group.mail_nickname}-Audit",
            display_name=f"{group.display_name} - Audit",
            description="Private channel Audit of Finance",
            kind=Site.Kind.CHANNEL,
            group=group,
            created_at=created,
        )
        audit.owners.set([users["bob"]])
        audit.members.set([users["alice"], users["bob"]])
        Channel.objects.create(
            id=f"19:{stable_id('channel', 'Finance/Audit').hex}@thread.tacv2",
            team=group,
            display_name="Audit",
            description="External and internal audit",
            membership_type=Channel.Membership.PRIVATE,
            site=audit,
            created_at=created,
        )
        _library(batches, audit, "Documents", _files("Audit", AUDIT_FILES))
    carol = users.get("carol")
    if carol is not None:
        projects = Site.objects.create(
            id=site_id(_host(carol), "Projects"),
            tenant_id=carol.tenant_id,
            name="Projects",
            display_name="Projects",
            description="Company projects and plans",
            kind=Site.Kind.COMMUNICATION,
            created_at=created,
        )
        projects.owners.set([carol])
        projects.members.set([users["carol"], users["dave"]])
        projects.visitors.set([users["grace"]])  # reads the site, may not write in it
        for name, paths in PROJECTS_FILES.items():
            _library(batches, projects, name, _files(f"Projects {name}", paths))
    batches.flush()
