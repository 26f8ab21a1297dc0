"""Drives the PyPI client `netschoolapi` (pinned in deploy/local/
requirements-test.txt) against ASU RSO's /webapi, as a parent's app does,
and prints what it saw as one JSON object for the Rust test to check.

Arguments come as JSON in the environment variable WEBAPI_CASE: the base
URL, the app password's login and password, the school's short name, the
Monday of the week to read, and how long the session lives.
"""

import asyncio
import hashlib
import io
import json
import os
import sys
from datetime import date, timedelta

import httpx
from netschoolapi import NetSchoolAPI, errors


def assignment_seen(assignment):
    return {
        "id": assignment.id,
        "type": assignment.type,
        "content": assignment.content,
        "mark": assignment.mark,
        "is_duty": assignment.is_duty,
        "comment": assignment.comment,
        "deadline": assignment.deadline.isoformat(),
    }


def diary_seen(diary):
    return {
        "start": diary.start.isoformat(),
        "end": diary.end.isoformat(),
        "days": [
            {
                "day": day.day.isoformat(),
                "lessons": [
                    {
                        "subject": lesson.subject,
                        "number": lesson.number,
                        "start": lesson.start.isoformat(),
                        "end": lesson.end.isoformat(),
                        "room": lesson.room,
                        "assignments": [assignment_seen(a) for a in lesson.assignments],
                    }
                    for lesson in day.lessons
                ],
            }
            for day in diary.schedule
        ],
    }


async def main():
    case = json.loads(os.environ["WEBAPI_CASE"])
    url, login, password, school = case["url"], case["login"], case["password"], case["school"]
    monday = date.fromisoformat(case["monday"])
    seen = {}

    # A wrong password: the client's own error, with our message.
    wrong = NetSchoolAPI(url)
    try:
        await wrong.login(login, password[::-1], school)
        seen["wrong_password"] = None
    except errors.AuthError as error:
        seen["wrong_password"] = str(error)
    finally:
        await wrong._wrapped_client.client.aclose()

    api = NetSchoolAPI(url)
    logins = 0
    log_in = api.login

    async def counted_login(*args, **kwargs):
        nonlocal logins
        logins += 1
        return await log_in(*args, **kwargs)

    api.login = counted_login
    await api.login(login, password, school)
    seen["student_id"] = api._student_id
    seen["year_id"] = api._year_id
    seen["types"] = sorted(api._assignment_types.values())

    diary = await api.diary(start=monday, end=monday + timedelta(days=5))
    seen["diary"] = diary_seen(diary)
    seen["overdue"] = [
        assignment_seen(a) for a in await api.overdue(start=monday, end=monday + timedelta(days=5))
    ]
    seen["announcements"] = [
        {
            "name": a.name,
            "content": a.content,
            "author": a.author.full_name,
            "post_date": a.post_date.isoformat(),
        }
        for a in await api.announcements()
    ]

    # The files of the assignment the test made, and the bytes of each.
    target = next(
        (
            a
            for day in diary.schedule
            for lesson in day.lessons
            for a in lesson.assignments
            if a.content == case["assignment"]
        ),
        None,
    )
    seen["files"] = []
    if target is not None:
        for attachment in await api.attachments(target.id):
            buffer = io.BytesIO()
            await api.download_attachment(attachment.id, buffer)
            seen["files"].append(
                {
                    "name": attachment.name,
                    "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
                }
            )

    seen["schools"] = [
        {"id": s.id, "name": s.name, "address": s.address} for s in await api.schools()
    ]
    card = await api.school()
    seen["card"] = {
        "name": card.name,
        "address": card.address,
        "email": card.email,
        "site": card.site,
        "phone": card.phone,
        "director": card.director,
    }

    # The session runs out (past the services' 5 s of leeway for clocks);
    # the next request is refused and the client logs in again by itself.
    await asyncio.sleep(case["session_seconds"] + 7)
    again = await api.diary(start=monday, end=monday + timedelta(days=5))
    seen["logins"] = logins
    seen["diary_after_expiry_days"] = len(again.schedule)

    # Bad input with a live session: a clear refusal, never a 500.
    last_token = api._access_token
    student = str(api._student_id)
    probes = {
        "student_not_a_number": ("student/diary", {"studentId": "abc", "weekStart": case["monday"]}),
        "week_not_a_date": ("student/diary", {"studentId": student, "weekStart": "2026-13-40"}),
        "student_not_ours": ("student/diary", {"studentId": "1", "weekStart": case["monday"]}),
        "assignment_unknown": ("student/diary/assigns/999999999", {"studentId": student}),
        "attachment_not_a_number": ("attachments/abc", {}),
    }
    seen["probes"] = {}
    async with httpx.AsyncClient(base_url=f"{url}/webapi", headers={"at": last_token}) as raw:
        for name, (path, params) in probes.items():
            answer = await raw.get(path, params=params)
            seen["probes"][name] = [answer.status_code, answer.json().get("message", "")]

        # What the library does not wrap, as other apps call it.
        async def get(path, **params):
            answer = await raw.get(path, params=params)
            answer.raise_for_status()
            return answer.json()

        seen["context"] = await get("context")
        seen["years"] = await get("years")
        seen["bells"] = await get("schedule/times")
        teachers = await get("mail/recipients", userId=0, organizationId=0, funcType=2, orgType=1, group=3)
        seen["recipients"] = teachers
        # A file first (as netschoolpy uploads it), then the letter naming it.
        uploaded = await raw.post(
            "attachments",
            files={"file": ("справка.txt", case["letter_file"].encode(), "text/plain")},
            data={"description": ""},
        )
        seen["upload_status"] = uploaded.status_code
        guid = uploaded.json()
        sent = await raw.post(
            "mail/messages",
            json={
                "subject": case["letter"],
                "text": "Здравствуйте! Можно ли пересдать доклад?",
                "to": [teachers[0]["id"]] if teachers else [],
                "cc": [],
                "bcc": [],
                "notify": False,
                "draft": False,
                "fileAttachmentGuids": [guid],
            },
        )
        # The same upload cannot go out twice.
        again = await raw.post(
            "mail/messages",
            json={"subject": "x", "text": "x", "to": [teachers[0]["id"]] if teachers else [],
                  "fileAttachmentGuids": [guid]},
        )
        seen["reused_upload"] = [again.status_code, again.json().get("message", "")]
        seen["sent_status"] = sent.status_code
        seen["sent"] = sent.json()
        registry = await raw.post(
            "mail/registry",
            json={
                "filterContext": {"selectedData": [{"filterId": "MailBox", "filterValue": "Sent"}]},
                "page": 1,
                "pageSize": 20,
                "search": None,
                "order": {"fieldId": "sent", "ascending": False},
            },
        )
        seen["sent_folder"] = registry.json()
        if sent.status_code == 200:
            letter = await get(f"mail/messages/{sent.json()['messageId']}/read", userId=0)
            seen["letter"] = letter
            files = letter.get("fileAttachments", [])
            if files:
                content = await raw.get(f"attachments/{files[0]['id']}")
                seen["letter_file_sha256"] = hashlib.sha256(content.content).hexdigest()
        seen["unread"] = await get("mail/messages/unread", userId=0)

    # Logging out ends the session: its token is refused afterwards.
    await api.logout()
    async with httpx.AsyncClient(base_url=f"{url}/webapi") as raw:
        after = await raw.get("student/diary/init", headers={"at": last_token})
        seen["after_logout_status"] = after.status_code
        seen["after_logout_message"] = after.json().get("message", "")
    await api._wrapped_client.client.aclose()

    json.dump(seen, sys.stdout, ensure_ascii=False)


asyncio.run(main())
