"""Microsoft To Do of the seeded people (called from sandbox/content.py).

Each person has the default "Tasks" list with one task. Alice also has the list "Q3":
"Prepare the Q3 report" (high importance, due and reminder in Berlin time, a checklist
of three, a linked resource and an attachment: the demo deletes it between its two
backups, so a newcomer can restore it), a weekly "Review vendor contracts" and a
completed "Send the budget to Carol". Ids derive from names: the same seed, the same
tenant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sandbox import generator
from sandbox.graph import ids, todo
from sandbox.models import DirectoryUser, TodoList

Q3 = "Q3"
REPORT = "Prepare the Q3 report"
OUTLINE = b"Q3 report outline\n1. Revenue\n2. Hiring\n3. Risks\n"


def _at(days: int, hour: int) -> dict[str, str]:
    moment = (generator.EPOCH + timedelta(days=days)).replace(hour=hour, minute=0, second=0)
    return {
        "dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        "timeZone": "W. Europe Standard Time",
    }


def _task(owner: DirectoryUser, task_list: TodoList, data: dict[str, Any]) -> Any:
    seed = f"{owner.user_principal_name}:todo:{data['title']}"
    return todo.new_task(
        owner,
        task_list,
        data,
        task_id=ids.message_id(seed),
        now=generator.EPOCH - timedelta(days=20),
    )


def seed_person(user: DirectoryUser) -> None:
    tasks = todo.default_list(user)
    _task(user, tasks, {"title": "Book travel for the offsite", "dueDateTime": _at(10, 0)})
    if not user.user_principal_name.startswith("alice@"):
        return
    q3 = TodoList.objects.create(
        id=ids.folder_id(f"todo:{user.user_principal_name}:{Q3}"), owner=user, display_name=Q3
    )
    report = _task(
        user,
        q3,
        {
            "title": REPORT,
            "body": {
                "contentType": "text",
                "content": "Numbers from finance first, then the narrative.",
            },
            "importance": "high",
            "status": "inProgress",
            "categories": ["Finance"],
            "startDateTime": _at(-3, 0),
            "dueDateTime": _at(14, 0),
            "reminderDateTime": _at(13, 9),
            "isReminderOn": True,
            "linkedResources": [
                {
                    "webUrl": "https://contoso.example/finance/q3",
                    "applicationName": "Finance portal",
                    "displayName": "Q3 figures",
                    "externalId": "q3-figures",
                }
            ],
        },
    )
    for name, checked in (
        ("Collect revenue figures", True),
        ("Draft the narrative", False),
        ("Send to Carol for review", False),
    ):
        todo.add_checklist_item(report, {"displayName": name, "isChecked": checked})
    todo.attach(report, "Outline.txt", "text/plain", OUTLINE)
    _task(
        user,
        q3,
        {
            "title": "Review vendor contracts",
            "dueDateTime": _at(7, 0),
            "recurrence": {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": ["friday"],
                    "firstDayOfWeek": "monday",
                },
                "range": {
                    "type": "noEnd",
                    "startDate": (generator.EPOCH + timedelta(days=7)).strftime("%Y-%m-%d"),
                },
            },
        },
    )
    _task(
        user,
        q3,
        {
            "title": "Send the budget to Carol",
            "status": "completed",
            "completedDateTime": _at(-2, 0),
        },
    )
