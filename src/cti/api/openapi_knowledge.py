"""The OpenAPI entries of the knowledge base and the directory of services
(docs/knowledge.md). The bodies and queries are flat models: their schemas go inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cti.api.knowledge import DirectoryQuery, EntryUpdate, KnowledgeQuery
from cti.store.directory import EntryIn
from cti.store.knowledge import ArticleIn, ArticleUpdate, FeedbackIn


def _body(op: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


def _query(op: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    op["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": field}
        for name, field in model.model_json_schema()["properties"].items()
    ]
    return op


def knowledge_paths(_op: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`_op` builds one operation (cti.api.openapi)."""
    article, entry = "article_id", "entry_id"
    return {
        "/api/v1/knowledge": {
            "get": _query(
                _op(
                    "search the knowledge base (q: words in bg, ru, hu or en, inflected forms"
                    " found; valid now unless valid=all, for those who keep it)",
                    (401, 403, 422),
                ),
                KnowledgeQuery,
            ),
            "post": _body(
                _op("add an article or a call script (supervisor, admin)", (401, 403, 422), "201"),
                ArticleIn,
            ),
        },
        "/api/v1/knowledge/{article_id}": {
            "get": _op(
                "one article with its helpful / outdated counts", (401, 403, 404), param=article
            ),
            "patch": _body(
                _op("change an article (supervisor, admin)", (401, 403, 404, 422), param=article),
                ArticleUpdate,
            ),
        },
        "/api/v1/knowledge/{article_id}/feedback": {
            "post": _body(
                _op(
                    "an agent's word on an article: helpful or outdated (her latest counts)",
                    (401, 403, 404, 422),
                    param=article,
                ),
                FeedbackIn,
            ),
            "get": _op(
                "the counts and the outdated reports, for the article's owner",
                (401, 403, 404),
                param=article,
            ),
        },
        "/api/v1/directory": {
            "get": _query(
                _op("search the directory of services (the same search)", (401, 403, 422)),
                DirectoryQuery,
            ),
            "post": _body(
                _op("add an office or service (supervisor, admin)", (401, 403, 422), "201"),
                EntryIn,
            ),
        },
        "/api/v1/directory/{entry_id}": {
            "get": _op("one entry of the directory", (401, 403, 404), param=entry),
            "patch": _body(
                _op("change an entry (supervisor, admin)", (401, 403, 404, 422), param=entry),
                EntryUpdate,
            ),
        },
    }
