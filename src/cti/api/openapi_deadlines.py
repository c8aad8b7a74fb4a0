"""The OpenAPI entries of deadlines, the inbox of deadline alerts, the current
broadcasts and the on-time report (docs/organisations.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cti.api.deadlines import DueQuery, InboxQuery, SummaryQuery


def _query(op: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    op["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in model.model_json_schema()["properties"].items()
    ]
    return op


def deadline_paths(_op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`_op` builds one operation (cti.api.openapi). Organisation users get their
    organisations' cases and alerts only."""
    return {
        "/api/v1/deadlines/cases": {
            "get": _query(
                _op(
                    "cases still being worked that are overdue or due soon (state, days),"
                    " by organisation and topic; deadline order, paginated (audited)",
                    (401, 403, 422),
                ),
                DueQuery,
            )
        },
        "/api/v1/deadlines/summary": {
            "get": _query(
                _op("per organisation and topic: cases due soon and overdue", (401, 403, 422)),
                SummaryQuery,
            )
        },
        "/api/v1/inbox": {
            "get": _query(
                _op("the user's deadline alerts, newest first, and the unread count", (401, 403)),
                InboxQuery,
            )
        },
        "/api/v1/inbox/read": {"post": _op("mark all the user's alerts read", (401, 403))},
        "/api/v1/inbox/{entry_id}/read": {
            "post": _op("mark one alert read", (401, 403, 404), param="entry_id")
        },
        "/api/v1/broadcasts": {
            "get": _op("the supervisors' current messages to everyone (12 h)", (401, 403))
        },
        "/api/v1/reports/deadlines": {
            "get": _op(
                "on-time rates: cases resolved in the period (first_day, last_day) and how"
                " many by their deadline, per organisation and topic (format=csv)",
                (401, 403, 422),
            )
        },
    }
