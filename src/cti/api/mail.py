"""E-mail through the centre's SMTP server (settings `[smtp]`) with the standard
library: smtplib runs in a worker thread, every wait on the server bounded by
`timeout_s`, so the event loop never blocks on a slow or dead server."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from cti.config import SmtpSettings

SUBJECTS = {
    "due_soon": "Case {case_number} is due on {deadline}",
    "overdue": "Case {case_number} is overdue (deadline {deadline})",
}


def compose(settings: SmtpSettings, entry: dict[str, Any]) -> EmailMessage:
    """The e-mail of one inbox entry (`cti.store.deadlines.claim_mail`)."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = entry["email"]
    message["Subject"] = SUBJECTS[entry["kind"]].format(**entry)
    state = "is due on" if entry["kind"] == "due_soon" else "was due on"
    message.set_content(
        f"Case {entry['case_number']} ({entry['topic']}, organisation"
        f" {entry['organisation'] or '-'}) {state} {entry['deadline']} and is {entry['status']}.\n"
        f"\n{entry['description']}\n\nOpen it in the journal: /journal\n"
    )
    return message


def _send(settings: SmtpSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password.get_secret_value())
        smtp.send_message(message)


async def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send one message; raises OSError / smtplib.SMTPException / TimeoutError. The
    thread's own socket timeout bounds each step; the whole is bounded here too (a
    thread left behind ends at its socket timeout)."""
    await asyncio.wait_for(asyncio.to_thread(_send, settings, message), settings.timeout_s * 4)
