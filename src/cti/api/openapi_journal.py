"""The OpenAPI entries of the organisations' journal (docs/organisations.md). The bodies
and the query are flat models: their schemas go inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cti.api.cases import CaseQuery
from cti.api.journal import HandOver, JournalMove, JournalNote


def _body(op: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def journal_paths(_op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`_op` builds one operation (cti.api.openapi). An organisation user reaches only
    its organisations' cases: another's is 404 `case_not_found`, as a wrong id."""
    case = "/api/v1/journal/cases/{case_id}"
    search = _op(
        "the cases of the user's organisations (everyone's for supervisors), with the"
        " filters of GET /api/v1/cases and the caller's name; paginated (audited)",
        (401, 403, 422),
    )
    search["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in CaseQuery.model_json_schema()["properties"].items()
    ]
    return {
        "/api/v1/journal/cases": {"get": search},
        case: {
            "get": _op(
                "a case of the user's organisations with its caller's name and history (audited)",
                (401, 403, 404),
                param="case_id",
            )
        },
        f"{case}/take": {
            "post": _op(
                "the user works the case (assignee); registered or forwarded: in_progress",
                (401, 403, 404, 422),
                param="case_id",
            )
        },
        f"{case}/status": {
            "post": _body(
                _op(
                    "move the case (the status machine of every case); `resolved` needs the"
                    " result the citizen is told, and opens the task to tell them",
                    (401, 403, 404, 422),
                    param="case_id",
                ),
                JournalMove,
            )
        },
        f"{case}/notes": {
            "post": _body(
                _op(
                    "an internal note in the history (never told to the citizen)",
                    (401, 403, 404, 422),
                    ok="201",
                    param="case_id",
                ),
                JournalNote,
            )
        },
        f"{case}/handover": {
            "post": _body(
                _op(
                    "hand the case to another organisation with a reason (kept in the"
                    " history); the first no longer sees it",
                    (401, 403, 404, 422),
                    param="case_id",
                ),
                HandOver,
            )
        },
        "/api/v1/journal/organisations": {
            "get": _op("every organisation, the user's own marked (to hand a case to)", (401, 403))
        },
    }
