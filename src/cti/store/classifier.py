"""The topic classifier: organisations and a tree of topics, loaded from a YAML file
(`deploy/classifier.yaml`) and synchronised into the database.

A topic's full code is its parents' codes joined with dots (`social.benefits.child`).
Its responsible organisation and regulation (days to answer) are inherited from the
nearest ancestor that sets them. Names are English (`name`) with the other languages of
the pages beside them (`names: {bg: ..., ru: ..., hu: ...}`); an organisation is a name
or names per language. Topics dropped from the file are deactivated, never
deleted: cases keep pointing at them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from cti.config import Names, load_yaml_model

Code = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicNode(_Model):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=300)]
    names: Names = Field(default_factory=dict)  # other languages: {bg: ..., ru: ..., hu: ...}
    organisation: str | None = None
    regulation_days: Annotated[int, Field(ge=1, le=365)] | None = None
    children: tuple[TopicNode, ...] = ()


class Topic(_Model):
    code: str
    parent: str | None
    name: str
    names: Names = Field(default_factory=dict)
    organisation: str | None
    regulation_days: int


class Organisation(_Model):
    """An organisation with its name per language (`en` is the name of record)."""

    en: Annotated[str, Field(min_length=1, max_length=300)]
    bg: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    ru: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    hu: Annotated[str, Field(min_length=1, max_length=300)] | None = None

    def names(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def _organisation(value: Any) -> Any:
    return {"en": value} if isinstance(value, str) else value  # a plain name: English


OrgCode = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")]


class Classifier(_Model):
    # code -> a name (English), or names per language {en: ..., bg: ...}
    organisations: dict[OrgCode, Annotated[Organisation, BeforeValidator(_organisation)]]
    default_regulation_days: Annotated[int, Field(ge=1, le=365)] = 30
    topics: tuple[TopicNode, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: set[str] = set()
        for topic in self.flat():
            if topic.code in seen:
                raise ValueError(f"topic {topic.code} appears twice")
            seen.add(topic.code)
            if topic.organisation is not None and topic.organisation not in self.organisations:
                raise ValueError(f"topic {topic.code}: unknown organisation {topic.organisation!r}")
        return self

    def flat(self) -> list[Topic]:
        """Every topic with its full code and inherited organisation and regulation."""
        out: list[Topic] = []

        def walk(
            nodes: tuple[TopicNode, ...], parent: str | None, org: str | None, days: int
        ) -> None:
            for n in nodes:
                code = n.code if parent is None else f"{parent}.{n.code}"
                o = n.organisation or org
                d = n.regulation_days or days
                names = {"en": n.name, **n.names}
                out.append(
                    Topic(
                        code=code,
                        parent=parent,
                        name=n.name,
                        names=names,
                        organisation=o,
                        regulation_days=d,
                    )
                )
                walk(n.children, code, o, d)

        walk(self.topics, None, None, self.default_regulation_days)
        return out


def load_classifier(path: Path) -> Classifier:
    return load_yaml_model(path, Classifier)


async def sync_classifier(conn: Any, classifier: Classifier) -> dict[str, int]:
    """Make the database's organisations and topics match the file (one transaction)."""
    topics = classifier.flat()
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO organisations (code, name, names) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, names = EXCLUDED.names",
            [(c, o.en, json.dumps(o.names())) for c, o in classifier.organisations.items()],
        )
        await conn.executemany(
            "INSERT INTO topics (code, parent, name, names, regulation_days, organisation, active)"
            " VALUES ($1, $2, $3, $4::jsonb, $5, $6, true)"
            " ON CONFLICT (code) DO UPDATE SET parent = EXCLUDED.parent, name = EXCLUDED.name,"
            " names = EXCLUDED.names, regulation_days = EXCLUDED.regulation_days,"
            " organisation = EXCLUDED.organisation, active = true",
            [
                (t.code, t.parent, t.name, json.dumps(t.names), t.regulation_days, t.organisation)
                for t in topics
            ],
        )
        status = await conn.execute(
            "UPDATE topics SET active = false WHERE active AND NOT (code = ANY($1::text[]))",
            [t.code for t in topics],
        )
    return {"topics": len(topics), "deactivated": int(status.split()[-1])}
