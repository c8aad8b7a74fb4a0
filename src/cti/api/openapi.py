"""OpenAPI 3.1 for the REST routes, generated from the pydantic models that validate
the requests (one definition for both)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cti.api.agents import AgentProfileIn
from cti.api.cases import CaseQuery, StatusMove
from cti.api.live import AnnouncementCreate, ClickToCall
from cti.api.models import (
    AgentView,
    ErrorReply,
    LanguageChange,
    LoginReply,
    LoginRequest,
    QueueLive,
    StateChange,
    TransferTarget,
)
from cti.api.openapi_campaigns import campaign_paths
from cti.api.openapi_deadlines import deadline_paths
from cti.api.openapi_journal import journal_paths
from cti.api.openapi_knowledge import knowledge_paths
from cti.api.openapi_outbound import outbound_paths
from cti.api.records import CallerContact, CdrQuery
from cti.api.reports import KpiQuery
from cti.store.models import Case, CaseCreate, CaseEvent, CaseUpdate, ScreenPop
from cti.version import VERSION

_MODELS: list[type[BaseModel]] = [
    LoginRequest,
    LoginReply,
    StateChange,
    ErrorReply,
    AgentView,
    QueueLive,
    ScreenPop,
    Case,
    CaseCreate,
    CaseUpdate,
    CaseEvent,
]


_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "error", "content": _json(ErrorReply)} for c in codes}


def _list(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": _ref(model)}}}
    return {"application/json": {"schema": schema}}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _op(
    summary: str,
    codes: tuple[int, ...],
    ok: str = "200",
    body: type[BaseModel] | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {ok: {"description": "done"}, **_errors(*codes)},
    }
    if param is not None:
        op["parameters"] = [_path_param(param)]
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
    return op


def _more_paths() -> dict[str, Any]:

    return {
        **outbound_paths(_op),
        **campaign_paths(_op),
        **knowledge_paths(_op),
        **journal_paths(_op),
        **deadline_paths(_op),
        "/api/v1/me": {
            "get": _op(
                "who the token belongs to, their language and the centre's time zone", (401,)
            )
        },
        "/api/v1/logout": {"post": _op("revoke the token of this request at once", (401,))},
        "/api/v1/users/{username}/tokens": {
            "delete": _op(
                "revoke every token of a user and close their websockets (audited)",
                (401, 403, 404),
                param="username",
            )
        },
        "/api/v1/me/language": {
            "put": _op("the language of the user's pages", (401, 422), body=LanguageChange)
        },
        "/api/v1/names": {
            "get": _op(
                "what the pages call queues, skills, topics, organisations and agents,"
                " per language",
                (401,),
            )
        },
        "/api/v1/topics": {
            "get": _op("the classifier: topics, their organisation and days", (401, 403))
        },
        "/api/v1/agents/{agent_id}": {
            "get": _op(
                "an agent's profile, state and statistics", (401, 403, 404), param="agent_id"
            ),
            "put": _op(
                "add (201) or change an agent's endpoint, skills and queues (stored)",
                (401, 403, 422),
                body=AgentProfileIn,
                param="agent_id",
            ),
            "delete": _op(
                "remove a logged-out agent (stored)", (401, 403, 404, 409), param="agent_id"
            ),
        },
        "/api/v1/transfer-targets": {
            "get": _op("the ready agents (with skills) and the queues to transfer to", (401, 403))
        },
        "/api/v1/callers/{number}/contact": {
            "put": _op(
                "a caller's name and address, as the agent heard them (audited)",
                (401, 403, 422),
                body=CallerContact,
                param="number",
            )
        },
        "/api/v1/queues/{queue}": {
            "get": _op("a queue's configuration and live figures", (401, 403, 404), param="queue")
        },
        "/api/v1/calls/{call_id}/transfer": {
            "post": _op(
                "hand an answered call to a queue, a ready agent or an outside number (audited)",
                (401, 403, 404, 409, 422),
                body=TransferTarget,
                param="call_id",
            )
        },
        "/api/v1/announcements/{announcement_id}": {
            "delete": _op("delete a notice", (401, 403, 404), param="announcement_id")
        },
        "/api/v1/calls/{call_id}/routing": {
            "get": _op(
                "why this agent: every routing decision for the call (candidates, their"
                " availability and reserves, the rule that chose) and, while it waits, why"
                " nobody takes it yet",
                (401, 403, 404),
                param="call_id",
            )
        },
    }


def document() -> dict[str, Any]:

    schemas: dict[str, Any] = {}
    extra: list[type[BaseModel]] = [
        AgentProfileIn,
        TransferTarget,
        ClickToCall,
        AnnouncementCreate,
        LanguageChange,
        CallerContact,
    ]
    for model in [*_MODELS, *extra]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    for model in (StatusMove,):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    case_id = [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    query = [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in CaseQuery.model_json_schema()["properties"].items()
    ]
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "cti", "version": VERSION},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            **_more_paths(),
            "/api/v1/calls": {
                "get": {
                    "summary": "live calls",
                    "security": bearer,
                    "responses": {"200": {"description": "calls"}, **_errors(401, 403)},
                },
                "post": {
                    "summary": "click-to-call from an agent's phone",
                    "security": bearer,
                    "responses": {
                        "201": {"description": "placed"},
                        **_errors(401, 403, 404, 409, 422),
                    },
                },
            },
            "/api/v1/calls/{call_id}": {
                "delete": {
                    "summary": "hang up a live call",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "call_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "hung up"}, **_errors(401, 403, 404)},
                }
            },
            "/api/v1/announcements": {
                "get": {
                    "summary": "notices for the IVR",
                    "security": bearer,
                    "responses": {"200": {"description": "notices"}, **_errors(401, 403)},
                },
                "post": {
                    "summary": "add a notice",
                    "security": bearer,
                    "requestBody": {"required": True, "content": _json(AnnouncementCreate)},
                    "responses": {"201": {"description": "added"}, **_errors(401, 403, 422)},
                },
            },
            "/api/v1/surveys": {
                "get": {
                    "summary": "survey results per question and day",
                    "security": bearer,
                    "responses": {"200": {"description": "results"}, **_errors(401, 403)},
                }
            },
            "/api/v1/reports/kpis": {
                "get": {
                    "summary": "KPIs: totals or per 15 min, hour, day, month, queue, topic, agent",
                    "security": bearer,
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "schema": f}
                        for n, f in KpiQuery.model_json_schema()["properties"].items()
                    ],
                    "responses": {"200": {"description": "rows"}, **_errors(401, 403, 422)},
                }
            },
            "/api/v1/reports/occupancy": {
                "get": {
                    "summary": "agents' time per state and occupancy; format=csv (flat)",
                    "security": bearer,
                    "responses": {"200": {"description": "rows"}, **_errors(401, 403, 422)},
                }
            },
            "/api/v1/reports/settings": {
                "get": {
                    "summary": "the centre's time zone and today's date there",
                    "security": bearer,
                    "responses": {"200": {"description": "zone, today"}, **_errors(401, 403)},
                }
            },
            "/api/v1/interactions": {
                "get": {
                    "summary": "CDR search (agents: own calls), paginated; format=csv exports",
                    "security": bearer,
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "schema": f}
                        for n, f in CdrQuery.model_json_schema()["properties"].items()
                    ],
                    "responses": {
                        "200": {"description": "a page of interactions, or CSV"},
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/api/v1/recordings": {
                "get": {
                    "summary": "recordings of an interaction (?interaction=)",
                    "security": bearer,
                    "responses": {"200": {"description": "recordings"}, **_errors(401, 403, 422)},
                }
            },
            "/api/v1/recordings/{recording_id}/audio": {
                "get": {
                    "summary": "the WAV file (logged in the access log and the audit log)",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "recording_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "audio/wav"},
                        **_errors(401, 403, 404, 422),
                    },
                }
            },
            "/api/v1/cases": {
                "post": {
                    "summary": "register a case (number, deadline from the topic)",
                    "security": bearer,
                    "requestBody": {"required": True, "content": _json(CaseCreate)},
                    "responses": {
                        "201": {"description": "created", "content": _json(Case)},
                        **_errors(401, 403, 422),
                    },
                },
                "get": {
                    "summary": "search cases (topic includes sub-topics); paginated",
                    "security": bearer,
                    "parameters": query,
                    "responses": {
                        "200": {"description": "a page", "content": _list(Case)},
                        **_errors(401, 403, 422),
                    },
                },
            },
            "/api/v1/cases/{case_id}": {
                "get": {
                    "summary": "a case",
                    "security": bearer,
                    "parameters": case_id,
                    "responses": {
                        "200": {"description": "case", "content": _json(Case)},
                        **_errors(401, 403, 404),
                    },
                },
                "patch": {
                    "summary": "change topic, description, organisation",
                    "security": bearer,
                    "parameters": case_id,
                    "requestBody": {"required": True, "content": _json(CaseUpdate)},
                    "responses": {
                        "200": {"description": "case", "content": _json(Case)},
                        **_errors(401, 403, 404, 422),
                    },
                },
            },
            "/api/v1/cases/{case_id}/status": {
                "post": {
                    "summary": "move a case along its lifecycle",
                    "security": bearer,
                    "parameters": case_id,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/StatusMove"}
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "case", "content": _json(Case)},
                        **_errors(401, 403, 404, 422),
                    },
                }
            },
            "/api/v1/cases/{case_id}/history": {
                "get": {
                    "summary": "every change, who and when",
                    "security": bearer,
                    "parameters": case_id,
                    "responses": {
                        "200": {"description": "history", "content": _list(CaseEvent)},
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/api/v1/login": {
                "post": {
                    "summary": "password login for people: a session token",
                    "requestBody": {"required": True, "content": _json(LoginRequest)},
                    "responses": {
                        "200": {"description": "logged in", "content": _json(LoginReply)},
                        **_errors(401, 422, 429, 503),
                    },
                }
            },
            "/api/v1/queues": {
                "get": {
                    "summary": "live figures per queue",
                    "security": bearer,
                    "responses": {
                        "200": {"description": "queues", "content": _list(QueueLive)},
                        **_errors(401, 403),
                    },
                }
            },
            "/api/v1/agents": {
                "get": {
                    "summary": "agents and their states",
                    "security": bearer,
                    "responses": {
                        "200": {"description": "agents", "content": _list(AgentView)},
                        **_errors(401, 403),
                    },
                }
            },
            "/api/v1/agents/{agent_id}/state": {
                "post": {
                    "summary": "change an agent's state (an agent: its own; a supervisor: any)",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "agent_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {"required": True, "content": _json(StateChange)},
                    "responses": {
                        "200": {"description": "done"},
                        **_errors(401, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/callers/{number}": {
                "get": {
                    "summary": "a caller by phone number, recent calls, open cases (audited)",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "number",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "caller", "content": _json(ScreenPop)},
                        **_errors(401, 403, 422),
                    },
                }
            },
        },
    }
