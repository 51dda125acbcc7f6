"""Restoring messages into an Outlook mailbox through Graph.

A message is created from JSON (research 5.6), never from MIME, which Exchange always
makes a draft: `POST …/mailFolders/{id}/messages` with

- PR_MESSAGE_FLAGS (`Integer 0x0E07`) in the create itself (read-only after the first
  save): MSGFLAG_READ (0x1) or 0, never MSGFLAG_UNSENT (0x8) → not a draft, read flag kept;
- PR_CLIENT_SUBMIT_TIME (`SystemTime 0x0039`) → sentDateTime; PR_MESSAGE_DELIVERY_TIME
  (`SystemTime 0x0E06`) → receivedDateTime: the original dates;
- the restore marker (`String {guid} Name LifeboatRestoreMarker` = "<job>:<item>"), which
  a retry looks for with `$filter=singleValueExtendedProperties/any(…)`, in `$batch`es.

Body, recipients and attachments come from the stored MIME (parsed with `email`);
Item.meta overrides what the backup read from Graph itself (recipients, importance,
categories, flag, dates). Attachments under 3 MB travel in the create when together they
stay under 3 MB, so a message appears whole or not at all. Otherwise the message is
created marked incomplete (`…:incomplete`), attachments are added one by one (an upload
session for 3 MB and more), then the marker is completed; a retry deletes an incomplete
one and starts again.

Collisions: "skip" skips a message whose internetMessageId is already in the target
folder; "keep both" creates it anyway. Mail has no "overwrite" (see restore/jobs/lifecycle.py).

A dry run (`plan`) resolves the same target folders without creating any and asks the
same internetMessageId question (batched), so it says what `restore` then does. After
writing, `verify` reads the messages back — by listing each target folder from the
batch's first createdDateTime (one request per folder and batch), else by id in
`$batch`es — and compares what Graph can give back: subject, sentDateTime,
receivedDateTime, internetMessageId, the marker (complete, not `…:incomplete`) and the
attachments' count and names (docs/restore.md says why size is not compared for mail).
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from portal.graph import GraphClient, GraphError
from restore.blobs import blob_store
from restore.jobs import faults, throttle
from restore.jobs.restorers import Action, Outcome, Step, Verdict, collision_step, marker_value
from restore.models import Folder, Item, RestoreJob, RestoreJobItem, valid_at

logger = logging.getLogger(__name__)

MARKER_GUID = "7b1f3c2e-5a4d-4e8b-9c6f-1d2e3f4a5b6c"
MARKER_PROPERTY = f"String {{{MARKER_GUID}}} Name LifeboatRestoreMarker"
INCOMPLETE = ":incomplete"
MAX_SIMPLE_ATTACHMENT = 3 * 1024 * 1024
UPLOAD_CHUNK = 4 * 1024 * 1024  # Outlook attachment sessions take up to 4 MB at a time
MSGFLAG_READ = 0x1
NO_CONTENT = "The backup holds no content for this message."
ALREADY_THERE = "The message is already in that folder."
VERIFY_SELECT = "subject,sentDateTime,receivedDateTime,internetMessageId,hasAttachments"
LISTING_PAGE = 200  # messages per page when reading a batch back by listing its folder
LISTING_LIMIT = 1000  # more than that in the folder since the batch began: read by id
VERIFY_EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY}'),attachments($select=name)"
)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _iso(value: datetime | str | None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recipients(header: object) -> list[dict[str, Any]]:
    if not header:
        return []
    return [
        {"emailAddress": {"name": name or address, "address": address}}
        for name, address in getaddresses([str(header)])
        if address
    ]


class MailRestorer:
    def __init__(self, job: RestoreJob, graph: GraphClient) -> None:
        self.job = job
        self.graph = graph
        # Where it goes: the source mailbox, or another person's (target=another).
        into = job.destination
        self.mailbox = f"users/{into.owner_id}"
        self.throttle_key = f"mail:{into.tenant_id}:{into.owner_id}"
        self.graph.before_upload = partial(throttle.reserve_upload, self.throttle_key)
        point = job.restore_point
        # Folders by path: every state of the object's folders (items picked at older
        # points in a selection basket keep theirs), the job's own point winning.
        states = Folder.objects.filter(object=job.object)
        self.folders_by_path = {f.path: f for f in states.order_by("first_seq", "id")} | {
            f.path: f for f in states.filter(valid_at(point.seq))
        }
        # catalog folder path → Graph folder id (None: missing, in a dry run)
        self._targets: dict[str, str | None] = {}
        self._expected: dict[int, dict[str, Any]] = {}  # job item id → what verify compares
        # job item id → (Graph folder id, createdDateTime Graph answered), written this run
        self._written_to: dict[int, tuple[str, str]] = {}
        # Folders this run created: nothing was in them before, so "skip" needs no lookup
        # (a resumed run finds them instead of creating them, and looks again).
        self._created: set[str] = set()
        self._lock = threading.Lock()

    # --- where it goes ------------------------------------------------------------------

    def _child_folder(self, parent: str, name: str, *, create: bool = True) -> str | None:
        """The id of `parent`'s child folder called `name`, created if missing (None if
        missing and not `create`: a dry run)."""
        base = f"{self.mailbox}/mailFolders/{parent}/childFolders"
        for attempt in range(2):
            for child in self.graph.iterate(base, **{"$top": "100"}):
                if str(child.get("displayName", "")).casefold() == name.casefold():
                    return str(child["id"])
            if not create:
                return None
            try:
                created = str(self.graph.post(base, {"displayName": name})["id"])
                self._created.add(created)
                return created
            except GraphError as error:
                # Someone made it meanwhile (another worker on the same job): look again.
                if error.status != 409 or attempt:
                    raise
        raise AssertionError("unreachable")

    def _path_under(
        self, parent: str | None, path: str, *, well_known_top: bool, create: bool = True
    ) -> str | None:
        segments = [s for s in path.split("/") if s]
        for index, name in enumerate(segments):
            if parent is None:
                return None  # a dry run: this folder and those below it would be created
            prefix = "/".join(segments[: index + 1])
            state = self.folders_by_path.get(prefix)
            if index == 0 and well_known_top and state is not None and state.well_known:
                parent = str(
                    self.graph.get(
                        f"{self.mailbox}/mailFolders/{state.well_known}", **{"$select": "id"}
                    )["id"]
                )
                continue
            parent = self._child_folder(parent, name, create=create)
        return parent

    def _target_folder(self, folder: Folder, *, create: bool = True) -> str | None:
        """The Graph id of the folder `folder`'s messages go to, made if missing; with
        `create=False` (a dry run) None when it would have to be made."""
        with self._lock:
            if folder.path in self._targets:
                return self._targets[folder.path]
            target: str | None
            if self.job.target == RestoreJob.Target.ORIGINAL:
                try:
                    found = self.graph.get(
                        f"{self.mailbox}/mailFolders/{folder.graph_id}", **{"$select": "id"}
                    )
                    target = str(found["id"])
                except GraphError as error:
                    if not error.is_not_found:
                        raise
                    target = self._path_under(
                        "msgfolderroot", folder.path, well_known_top=True, create=create
                    )
            else:
                if "" in self._targets:
                    top: str | None = self._targets[""]
                else:
                    top = self._child_folder("msgfolderroot", self.job.target_name, create=create)
                    self._targets[""] = top
                target = self._path_under(top, folder.path, well_known_top=False, create=create)
            self._targets[folder.path] = target
            return target

    # --- markers ------------------------------------------------------------------------

    def _marker_filter(self, value: str) -> str:
        return (
            f"singleValueExtendedProperties/any(ep: ep/id eq {_quote_literal(MARKER_PROPERTY)}"
            f" and ep/value eq {_quote_literal(value)})"
        )

    def _lookup_url(self, value: str) -> str:
        return (
            f"/{self.mailbox}/messages?$filter={quote(self._marker_filter(value))}"
            "&$select=id&$top=1"
        )

    def find_restored(self, job_items: list[RestoreJobItem]) -> dict[int, str]:
        urls = {str(ji.pk): self._lookup_url(marker_value(ji)) for ji in job_items}
        found: dict[int, str] = {}
        for key, (status, body) in self.graph.get_many(urls).items():
            if status == 200 and (body or {}).get("value"):
                found[int(key)] = str(body["value"][0]["id"])
            elif status >= 400:
                error = (body or {}).get("error", {})
                raise GraphError(status, str(error.get("code", "")), str(error.get("message")))
        return found

    def _delete_incomplete(self, job_item: RestoreJobItem) -> None:
        value = marker_value(job_item) + INCOMPLETE
        for message in self.graph.iterate(
            f"{self.mailbox}/messages", **{"$filter": self._marker_filter(value), "$select": "id"}
        ):
            self.graph.post(f"{self.mailbox}/messages/{message['id']}/permanentDelete")

    # --- the message --------------------------------------------------------------------

    def _parse(self, item: Item) -> EmailMessage:
        with blob_store().open(item.content_sha256) as stream:
            return email.message_from_binary_file(stream, policy=email.policy.default)

    def _internet_message_id(self, item: Item, mime: EmailMessage | None = None) -> str:
        """What "already in that folder" compares: the id Graph read, else the MIME's."""
        if value := (item.meta or {}).get("internetMessageId"):
            return str(value)
        mime = mime if mime is not None else self._parse(item)
        return str(mime["Message-ID"] or "").strip()

    def _message_json(
        self, item: Item, mime: EmailMessage, marker: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        meta = item.meta or {}
        body_part = mime.get_body(preferencelist=("html", "plain"))
        body = {"contentType": "text", "content": ""}
        if body_part is not None:
            body = {
                "contentType": "html" if body_part.get_content_subtype() == "html" else "text",
                "content": body_part.get_content(),
            }
        sent = meta.get("sentDateTime") or item.sent_at
        if not sent and mime["Date"]:
            try:
                sent = parsedate_to_datetime(str(mime["Date"]))
            except (TypeError, ValueError):
                sent = None
        received = meta.get("receivedDateTime") or item.dated_at
        from_list = _recipients(mime["From"])
        data: dict[str, Any] = {
            "subject": str(mime["Subject"] or item.name or ""),
            "body": body,
            "from": meta.get("from") or (from_list[0] if from_list else None),
            "toRecipients": meta.get("toRecipients") or _recipients(mime["To"]),
            "ccRecipients": meta.get("ccRecipients") or _recipients(mime["Cc"]),
            "bccRecipients": meta.get("bccRecipients") or _recipients(mime["Bcc"]),
            "replyTo": meta.get("replyTo") or _recipients(mime["Reply-To"]),
            "internetMessageId": self._internet_message_id(item, mime),
            "importance": meta.get("importance") or "normal",
            "categories": meta.get("categories") or [],
        }
        if meta.get("sender"):
            data["sender"] = meta["sender"]
        if isinstance(meta.get("flag"), dict):
            data["flag"] = {"flagStatus": meta["flag"].get("flagStatus", "notFlagged")}
        data = {k: v for k, v in data.items() if v not in (None, "")}
        properties = [
            {"id": "Integer 0x0E07", "value": str(MSGFLAG_READ if item.is_read else 0)},
            {"id": MARKER_PROPERTY, "value": marker},
        ]
        if sent_iso := _iso(sent):
            properties.append({"id": "SystemTime 0x0039", "value": sent_iso})
        if received_iso := _iso(received):
            properties.append({"id": "SystemTime 0x0E06", "value": received_iso})
        data["singleValueExtendedProperties"] = properties
        attachments = []
        for part in mime.iter_attachments():
            payload = part.get_payload(decode=True) or b""
            attachments.append(
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": part.get_filename() or "attachment",
                    "contentType": part.get_content_type(),
                    "isInline": part.get_content_disposition() == "inline",
                    "contentId": (part["Content-ID"] or "").strip().strip("<>") or None,
                    "_data": payload,
                }
            )
        return data, attachments

    def _in_folder_url(self, folder_id: str, internet_message_id: str) -> str:
        """The lookup "is this message already in that folder" (restore and dry run)."""
        query = f"internetMessageId eq {_quote_literal(internet_message_id)}"
        return (
            f"/{self.mailbox}/mailFolders/{folder_id}/messages?$filter={quote(query)}"
            "&$select=id&$top=1"
        )

    @staticmethod
    def _first_id(page: dict[str, Any] | None) -> str | None:
        values = (page or {}).get("value") or []
        return str(values[0]["id"]) if values else None

    def _already_in_folder(self, folder_id: str, internet_message_id: str) -> str | None:
        if not internet_message_id:
            return None
        return self._first_id(self.graph.get(self._in_folder_url(folder_id, internet_message_id)))

    def _step(self, existing: str | None) -> Step:
        """What the collision policy makes of an item already there (or not)."""
        return collision_step(
            self.job,
            existing,
            ALREADY_THERE,
            "The message is already in that folder; a second copy is added.",
        )

    def _add_attachment(self, message_id: str, attachment: dict[str, Any]) -> None:
        data: bytes = attachment["_data"]
        base = f"{self.mailbox}/messages/{message_id}/attachments"
        if len(data) < MAX_SIMPLE_ATTACHMENT:
            self.graph.post(base, _wire(attachment))
            return
        session = self.graph.post(
            f"{base}/createUploadSession",
            {
                "AttachmentItem": {
                    "attachmentType": "file",
                    "name": attachment["name"],
                    "size": len(data),
                    "contentType": attachment["contentType"],
                    "isInline": attachment["isInline"],
                }
            },
        )
        url = session["uploadUrl"]
        for start in range(0, len(data), UPLOAD_CHUNK):
            self.graph.put_fragment(url, data[start : start + UPLOAD_CHUNK], start, len(data))

    def restore(self, job_item: RestoreJobItem) -> Outcome:
        item = job_item.item
        if not item.content_sha256:
            return Outcome.failed(NO_CONTENT)
        folder_id = self._target_folder(item.folder)
        if folder_id is None:  # only a dry run leaves a folder missing
            raise RuntimeError("The target folder was not made.")
        mime = self._parse(item)
        marker = marker_value(job_item)
        data, attachments = self._message_json(item, mime, marker)
        if self.job.collision == RestoreJob.Collision.SKIP and folder_id not in self._created:
            existing = self._already_in_folder(folder_id, data.get("internetMessageId", ""))
            if self._step(existing).action == Action.SKIP:
                return Outcome.skipped(ALREADY_THERE, existing or "")
        self._expected[job_item.pk] = _fingerprint(data, attachments, marker)
        total = sum(len(a["_data"]) for a in attachments)
        whole = total < MAX_SIMPLE_ATTACHMENT
        if whole:
            data["attachments"] = [_wire(a) for a in attachments]
        else:
            if job_item.attempts > 1:
                self._delete_incomplete(job_item)
            data["singleValueExtendedProperties"][1]["value"] = marker + INCOMPLETE
        created = self.graph.post(f"{self.mailbox}/mailFolders/{folder_id}/messages", data)
        message_id = str(created["id"])
        if created_at := str(created.get("createdDateTime") or ""):
            self._written_to[job_item.pk] = (folder_id, created_at)
        if not whole:
            try:
                for attachment in attachments:
                    self._add_attachment(message_id, attachment)
            except GraphError as error:
                if faults.is_transient(error):
                    raise  # waited out by the runner; the next try deletes this one
                self.graph.post(f"{self.mailbox}/messages/{message_id}/permanentDelete")
                size = max(len(a["_data"]) for a in attachments) / 1024 / 1024
                return Outcome.failed(
                    f"An attachment ({size:.1f} MB) could not be added: Microsoft 365 answered "
                    f"{error.status} {error.code}. The message was not restored."
                )
            self.graph.patch(
                f"{self.mailbox}/messages/{message_id}",
                {"singleValueExtendedProperties": [{"id": MARKER_PROPERTY, "value": marker}]},
            )
        return Outcome.done(message_id)

    # --- a dry run ----------------------------------------------------------------------

    def plan(self, job_items: list[RestoreJobItem]) -> list[Step]:
        steps: list[Step | None] = [None] * len(job_items)
        lookups: dict[str, str] = {}
        for index, job_item in enumerate(job_items):
            item = job_item.item
            if not item.content_sha256:
                steps[index] = Step(Action.CANNOT, NO_CONTENT)
                continue
            folder_id = self._target_folder(item.folder, create=False)
            if folder_id is None:
                steps[index] = Step(Action.RESTORE, "Its folder is created first.")
                continue
            message_id = self._internet_message_id(item)
            if not message_id:
                steps[index] = Step(Action.RESTORE)
                continue
            lookups[str(index)] = self._in_folder_url(folder_id, message_id)
        for key, (status, body) in self.graph.get_many(lookups).items():
            if status >= 400:
                error = (body or {}).get("error", {})
                steps[int(key)] = Step(
                    Action.CANNOT,
                    f"Microsoft 365 answered {status} {error.get('code', '')} when asked "
                    "what is in the folder.",
                )
                continue
            steps[int(key)] = self._step(self._first_id(body))
        return [step or Step(Action.RESTORE) for step in steps]

    # --- reading back -------------------------------------------------------------------

    def _verify_url(self, graph_id: str) -> str:
        return (
            f"/{self.mailbox}/messages/{graph_id}?$select={VERIFY_SELECT}"
            f"&$expand={quote(VERIFY_EXPAND)}"
        )

    def _created_since(self, job_items: list[RestoreJobItem]) -> dict[str, dict]:
        """{message id: message} read back by listing each folder this batch wrote to,
        from the earliest createdDateTime Graph answered for its creates (the server's
        clock, so no skew): one request per folder and batch instead of one per message.
        The listing also holds mail that arrived meanwhile, which is ignored; it is read
        page by page up to LISTING_LIMIT messages. Anything not found this way (a
        resumed run's items, a message gone) is read by id."""
        since: dict[str, str] = {}
        for job_item in job_items:
            if written := self._written_to.get(job_item.pk):
                folder, created_at = written
                since[folder] = min(since.get(folder, created_at), created_at)
        found: dict[str, dict] = {}
        for folder, created_at in since.items():
            seen = 0
            for page in self.graph.pages(
                f"{self.mailbox}/mailFolders/{folder}/messages",
                **{
                    "$filter": f"createdDateTime ge {created_at}",
                    "$select": VERIFY_SELECT,
                    "$expand": VERIFY_EXPAND,
                    "$top": str(LISTING_PAGE),
                },
            ):
                values = page.get("value") or []
                found.update({str(m["id"]): m for m in values})
                seen += len(values)
                if seen >= LISTING_LIMIT:
                    break
        return found

    def _expected_of(self, job_item: RestoreJobItem) -> dict[str, Any]:
        if (known := self._expected.pop(job_item.pk, None)) is not None:
            return known
        marker = marker_value(job_item)
        data, attachments = self._message_json(job_item.item, self._parse(job_item.item), marker)
        return _fingerprint(data, attachments, marker)

    def _judge(self, job_item: RestoreJobItem, message: dict[str, Any]) -> Verdict:
        differences = compare(self._expected_of(job_item), message)
        return Verdict.differs(differences) if differences else Verdict.matches()

    def verify(self, job_items: list[RestoreJobItem]) -> dict[int, Verdict]:
        verdicts: dict[int, Verdict] = {}
        listed = self._created_since(job_items)
        by_key: dict[str, RestoreJobItem] = {}
        for job_item in job_items:
            self._written_to.pop(job_item.pk, None)
            if (message := listed.get(job_item.result_graph_id)) is not None:
                verdicts[job_item.pk] = self._judge(job_item, message)
            else:
                by_key[str(job_item.pk)] = job_item
        urls = {key: self._verify_url(ji.result_graph_id) for key, ji in by_key.items()}
        for key, (status, body) in self.graph.get_many(urls).items():
            job_item = by_key[key]
            if status == 404:
                verdicts[job_item.pk] = Verdict.differs(["not found in the mailbox"])
            elif status >= 400:
                code = ((body or {}).get("error") or {}).get("code", "")
                verdicts[job_item.pk] = Verdict.unreadable(
                    f"Could not be read back: Microsoft 365 answered {status} {code}."
                )
            else:
                verdicts[job_item.pk] = self._judge(job_item, body or {})
        return verdicts


def _wire(attachment: dict[str, Any]) -> dict[str, Any]:
    wire = {k: v for k, v in attachment.items() if not k.startswith("_") and v is not None}
    wire["contentBytes"] = base64.b64encode(attachment["_data"]).decode("ascii")
    return wire


def _fingerprint(data: dict[str, Any], attachments: list[dict[str, Any]], marker: str) -> dict:
    """What a restored message must read back as (from the JSON the create sends)."""
    dates = {p["id"]: p["value"] for p in data["singleValueExtendedProperties"]}
    return {
        "subject": data.get("subject", ""),
        "sentDateTime": dates.get("SystemTime 0x0039"),
        "receivedDateTime": dates.get("SystemTime 0x0E06"),
        "internetMessageId": data.get("internetMessageId", ""),
        "marker": marker,
        "attachments": sorted(str(a["name"]) for a in attachments),
    }


def _same_time(expected: str | None, found: object) -> bool:
    return expected is None or _iso(str(found or "")) == expected


def compare(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """How a message read back differs from its fingerprint (empty: it matches)."""
    differences = []
    if str(found.get("subject") or "") != expected["subject"]:
        differences.append(f"subject “{str(found.get('subject') or '')[:80]}”")
    for field_name, label in (("sentDateTime", "sent"), ("receivedDateTime", "received")):
        if not _same_time(expected[field_name], found.get(field_name)):
            differences.append(f"{label} date {found.get(field_name)}")
    if expected["internetMessageId"] and (
        str(found.get("internetMessageId") or "") != expected["internetMessageId"]
    ):
        differences.append("internetMessageId")
    properties = {
        str(p.get("id", "")).casefold(): p.get("value")
        for p in found.get("singleValueExtendedProperties") or []
    }
    if properties.get(MARKER_PROPERTY.casefold()) != expected["marker"]:
        differences.append("restore marker missing or incomplete")
    names = sorted(str(a.get("name", "")) for a in found.get("attachments") or [])
    if names != expected["attachments"]:
        differences.append(f"{len(names)} of {len(expected['attachments'])} attachments")
    return differences
