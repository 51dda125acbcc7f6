"""Download names: every path segment of a zip entry or file name is made safe.

The names come from mailboxes and drives, so they are hostile input: `..` folders, slashes
and backslashes in subjects, control and bidi characters, Windows device names, trailing
dots, and lengths no file system takes.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from authflow import tokens
from restore import filenames
from restore.models import Folder, RestoreJob
from tests.restore.jobs_support import back_up_mailbox

HOSTILE = [
    ("..", "_"),
    (".", "_"),
    ("...", "_"),
    ("", "_"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("a\\..\\b", "a_.._b"),
    ("CON", "_CON"),
    ("con.txt", "_con.txt"),
    ("Com1.eml", "_Com1.eml"),
    ("LPT9", "_LPT9"),
    ("lpt¹.txt", "_lpt¹.txt"),
    ("report. ", "report"),
    ("  .hidden", "hidden"),
    ("bell\x07 tab\t nul\x00", "bell_ tab_ nul_"),
    ("invoice\u202egpj.exe", "invoice_gpj.exe"),
    ('what?*:<>|"', "what_______"),
]


@pytest.mark.parametrize(("name", "safe"), HOSTILE)
def test_a_hostile_segment_becomes_a_harmless_one(name, safe):
    assert filenames.segment(name) == safe


def test_a_long_name_is_cut_in_bytes_keeping_its_extension():
    name = "é" * 300 + ".docx"
    safe = filenames.segment(name)
    assert len(safe.encode("utf-8")) <= filenames.MAX_SEGMENT_BYTES
    assert safe.endswith(".docx")
    assert safe.startswith("éé")


def test_a_path_has_no_empty_dot_or_dotdot_segment():
    assert filenames.path("../../x", "..", "a/./b") == "_/_/x/_/a/_/b"
    assert filenames.file_name("../..", suffix=".eml", fallback="message") == "message.eml"
    assert filenames.file_name("nul", suffix=".eml") == "_nul.eml"


def assert_harmless(entry: str) -> None:
    segments = entry.split("/")
    for segment in segments:
        assert segment not in ("", ".", ".."), entry
        assert "\\" not in segment, entry
        assert all(unicodedata.category(ch)[0] != "C" for ch in segment), entry
        assert len(segment.encode("utf-8")) <= filenames.MAX_SEGMENT_BYTES, entry
        assert segment.partition(".")[0].upper() not in filenames.RESERVED, entry
        assert segment == segment.strip(" ."), entry


@pytest.mark.django_db(transaction=True)
def test_a_zip_of_hostile_folders_and_subjects_unpacks_inside_its_folder(sandbox, alice, tmp_path):
    """A mail folder `..` inside another `..`, with hostile subjects, really in the
    mailbox (made through Graph), backed up and downloaded as a .zip."""
    graph = tokens.graph_as(alice, ["Mail.ReadWrite"])
    me = f"users/{sandbox.user('alice').id}"
    outer = graph.post(f"{me}/mailFolders", {"displayName": ".."})["id"]
    inner = graph.post(f"{me}/mailFolders/{outer}/childFolders", {"displayName": ".."})["id"]
    device = graph.post(f"{me}/mailFolders/{outer}/childFolders", {"displayName": "CON"})["id"]
    subjects = {
        inner: ["../../evil", "..\\..\\evil", "x" * 400, "bell\x07\u202egpj.exe"],
        device: ["aux", "  ..  "],
    }
    for folder, names in subjects.items():
        for subject in names:
            graph.post(
                f"{me}/mailFolders/{folder}/messages",
                {"subject": subject, "body": {"contentType": "text", "content": "hostile"}},
            )
    point = back_up_mailbox("alice")
    top = Folder.objects.get(object=point.object, path="..")

    client = Client()
    client.force_login(alice)
    client.post(
        reverse("restore:start-restore"),
        {"point": point.pk, "folders": [top.pk], "target": "download"},
    )
    job = RestoreJob.objects.get()
    download = client.get(reverse("restore:job-download", args=[job.pk]))
    archive = zipfile.ZipFile(io.BytesIO(download.getvalue()))
    names = archive.namelist()

    assert len(names) == 6
    for entry in names:
        assert_harmless(entry)
    assert "_/_/_.._evil.eml" in names  # and "_/_/_.._evil (2).eml" from the backslashes
    assert "_/_CON/_aux.eml" in names
    target = tmp_path / "unpacked"
    archive.extractall(target)
    for path in target.rglob("*"):
        assert path.resolve().is_relative_to(target.resolve())
    assert len([p for p in target.rglob("*.eml") if p.is_file()]) == 6
    assert Path(target, "_", "_").is_dir()


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("plan.txt", "plan.txt"),
        ("Q3 budget — final.eml", "Q3 budget - final.eml"),
        ("Überweisung für März.pdf", "Uberweisung fur Marz.pdf"),
        ("日本語.txt", "___.txt"),
    ],
)
def test_downloads_name_themselves_for_every_client(name, plain):
    """RFC 6266's UTF-8 filename*, and an ASCII filename for clients that read only that."""
    header = filenames.attachment_header(name)
    assert header.startswith(f'attachment; filename="{plain}"')
    if plain != name:
        assert header.endswith("filename*=utf-8''" + quote(name, safe=""))
