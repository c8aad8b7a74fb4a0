"""The OpenAPI entries of telephone survey campaigns (docs/outbound.md "Survey
campaigns"): the campaign, its number list, its state, its results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti.api.campaigns import NewCampaign, NumbersQuery

_ID = "campaign_id"


def campaign_paths(_op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`_op` builds one operation (cti.api.openapi)."""
    one = "/api/v1/campaigns/{campaign_id}"
    moves = {
        "start": "start calling (draft to running; the list must not be empty)",
        "pause": "pause a running campaign (calls in progress finish)",
        "resume": "resume a paused campaign",
        "stop": "end the campaign: nobody more is called (done)",
    }
    return {
        "/api/v1/campaigns": {
            "get": _op("survey campaigns with their progress and outcomes", (401, 403)),
            "post": _op(
                "a new survey campaign (draft): questionnaire, prompts, calling hours,"
                " attempts and spacing, lines",
                (401, 403, 422),
                ok="201",
                body=NewCampaign,
            ),
        },
        one: {
            "get": _op("one campaign with its progress", (401, 403, 404), param=_ID),
            "delete": _op(
                "discard a draft with its numbers (409 once it was started)",
                (401, 403, 404, 409),
                ok="204",
                param=_ID,
            ),
        },
        one + "/numbers": {
            "post": _op(
                "upload the number list (text/csv, the number in the first column): each bad"
                " line refused with its line, reason and the reason's code, duplicates merged;"
                " a list of more than 100,000 lines is refused whole (422 list_too_long)",
                (401, 403, 404, 409, 413, 422),
                param=_ID,
            )
        },
        one + "/numbers/query": {
            "post": _op(
                "add the citizens of cases or calls of a period (at most 400 days), topic and"
                " organisation",
                (401, 403, 404, 409, 422),
                body=NumbersQuery,
                param=_ID,
            )
        },
        **{
            f"{one}/{move}": {"post": _op(summary, (401, 403, 404, 409), param=_ID)}
            for move, summary in moves.items()
        },
        one + "/results": {
            "get": _op(
                "outcomes, answers per question (counts; mean for scales), per topic and"
                " organisation of the source case or call",
                (401, 403, 404),
                param=_ID,
            )
        },
        one + "/results.csv": {
            "get": _op(
                "one CSV line per number: outcome, attempts, answers", (401, 403, 404), param=_ID
            )
        },
    }
