"""The OpenAPI entries of the calls the centre owes citizens (docs/outbound.md): tasks,
their calls and outcomes, scheduled callbacks, their report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti.api.notifications import CallFor, Outcome, ScheduleCallback


def outbound_paths(_op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`_op` builds one operation (cti.api.openapi)."""
    return {
        "/api/v1/notifications": {
            "get": _op(
                "tasks 'tell the citizen the result' (status=, due=true: pending and due now)",
                (401, 403, 422),
            )
        },
        "/api/v1/notifications/{notification_id}/call": {
            "post": _op(
                "an agent calls the citizen of a due task (inbound first, calling hours)",
                (401, 403, 404, 409, 422),
                ok="201",
                body=CallFor,
                param="notification_id",
            )
        },
        "/api/v1/notifications/{notification_id}/outcome": {
            "post": _op(
                "what came of the call: informed, no_answer, busy, wrong_number, refused",
                (401, 403, 404, 422),
                body=Outcome,
                param="notification_id",
            )
        },
        "/api/v1/reports/outbound": {
            "get": _op(
                "calls owed to citizens opened in the period (first_day, last_day): by kind"
                " and status, with their attempts (format=csv)",
                (401, 403, 422),
            )
        },
        "/api/v1/callbacks": {
            "post": _op(
                "schedule a callback: the agent gets it first at that time, then her queue"
                " (one open callback per number: a second is merged)",
                (401, 403, 404, 422),
                ok="201",
                body=ScheduleCallback,
            )
        },
        "/api/v1/notifications/{notification_id}/skip": {
            "post": _op(
                "the agent passes on the task offered to her as a preview: someone else gets it",
                (401, 403, 404),
                param="notification_id",
            )
        },
    }
