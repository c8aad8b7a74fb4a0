"""The words of the knowledge base as PostgreSQL's full-text search sees them (pure: no
I/O), the same at index time and at query time.

Per language: PostgreSQL's snowball stemmers do Russian, Hungarian and English
(`to_tsvector('russian', ...)`: "пособия" and "пособие" are both 'пособ'); PostgreSQL
ships none for Bulgarian, so Bulgarian words are reduced here, by a light suffix
stripper in the manner of J. Savoy's light Bulgarian stemmer (the one Lucene's
BulgarianStemmer implements), adjusted so that -ие/-ия nouns meet: the definite
article (-ът, -ят, -та, -то, -те, -ите, -ията, -ието...) and then the plural or gender
ending (-и, -ове, -ия, -ие, -а, -я, -о, -е), with -ен → -н so that "социален",
"социална" and "социални" meet. Where a word ends ambiguously ("работа": the noun's
-а, or an article -та?) every reading is kept, so a word is a small set of stems: an
article indexes them all, a query asks for any of them. The stems go to PostgreSQL's
'simple' configuration. Everything is case-folded here first: a C-locale server
lowers ASCII only, and pg_trgm there sees no trigrams in Cyrillic at all.

A query is each of its words as a prefix (`стем:*`), all of them required, so that a
half-typed word finds too.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["bg", "ru", "hu", "en"]
LANGUAGES: tuple[Language, ...] = ("bg", "ru", "hu", "en")
# The text-search configuration of each language (bg: our stems, PostgreSQL's 'simple').
CONFIGS: dict[Language, str] = {"bg": "simple", "ru": "russian", "hu": "hungarian", "en": "english"}
MAX_QUERY_WORDS = 8
MAX_WORD = 60

_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-яѐ-ѝ]")
# Longest first: the first that fits is taken.
_ARTICLES = ("ията", "ието", "ите", "ата", "ото", "ята", "ият", "ът", "ят", "та", "то", "те")
_ENDINGS = ("ища", "ове", "еве", "ия", "ие", "ии", "а", "я", "о", "е", "и")
_VELAR = (("ци", "к"), ("зи", "г"), ("си", "х"))  # ученик → ученици, подлог → подлози
MIN_STEM = 3
# Bulgarian words too common to ask for (a query of "помощ за отопление" wants the two
# nouns; "за" would have to be in the article too).
_BG_STOP_WORDS = (
    "и в във на за от до с със по при към как какво кога къде кой коя кое кои какъв"
    " какви колко ли да не се си е са съм ще а но или че ако му ѝ им го я ги ни ви"
)
_BG_STOP = frozenset(_BG_STOP_WORDS.split())


def words(text: str) -> list[str]:
    """The words of `text`, case-folded (Cyrillic and Hungarian too, whatever the server)."""
    return _WORD.findall(text.casefold().replace("ѝ", "и"))


def bulgarian_stems(word: str) -> set[str]:
    """Every stem a case-folded Bulgarian word may have (one, or two where ambiguous)."""
    if len(word) <= MIN_STEM or not _CYRILLIC.search(word):
        return {word}
    forms = [word]
    for article in _ARTICLES:
        if word.endswith(article) and len(word) - len(article) >= MIN_STEM:
            forms.append(word[: -len(article)])
            break
    stems = {_without_ending(form) for form in forms}
    for plural, single in _VELAR:
        if word.endswith(plural) and len(word) - 2 >= MIN_STEM:
            stems.add(word[:-2] + single)
    return stems


def _without_ending(form: str) -> str:
    for ending in _ENDINGS:
        if form.endswith(ending) and len(form) - len(ending) >= MIN_STEM:
            form = form[: -len(ending)]
            break
    if len(form) > MIN_STEM + 1 and form.endswith("ен"):
        form = form[:-2] + "н"  # социален / социалн-а: the fleeting е
    return form


def index_text(text: str, language: Language) -> str:
    """What `to_tsvector(CONFIGS[language], ...)` indexes for `text`."""
    found = words(text)
    if language != "bg":
        return " ".join(found)
    return " ".join(stem for word in found for stem in sorted(bulgarian_stems(word)))


def query_text(query: str, language: Language) -> str | None:
    """A `to_tsquery(CONFIGS[language], ...)` string for what an agent typed: every word
    required, each as a prefix; None when nothing searchable is left. Safe to pass as a
    parameter: only letters and digits, `&`, `|`, parentheses and `:*`."""
    found = [w[:MAX_WORD] for w in words(query)]
    if language == "bg":
        found = [w for w in found if w not in _BG_STOP and len(w) > 1]
    found = found[:MAX_QUERY_WORDS]
    if not found:
        return None
    if language != "bg":
        return " & ".join(f"{w}:*" for w in found)
    return " & ".join(
        "(" + " | ".join(f"{s}:*" for s in sorted(bulgarian_stems(w))) + ")" for w in found
    )


# --- the SQL of a search (strings only; the store runs them) ---------------------------


def search_sql(title_param: str, body_param: str, config_param: str) -> str:
    """The tsvector of a row from its title, body and configuration parameters: the
    title weighs more than the body."""
    return (
        f"setweight(to_tsvector({config_param}::regconfig, {title_param}), 'A')"
        f" || setweight(to_tsvector({config_param}::regconfig, {body_param}), 'B')"
    )


def query_params(q: str | None) -> list[str | None] | None:
    """The tsquery string of each language (LANGUAGES order); None: no words to match
    (nothing typed, or only punctuation and little words): every row."""
    per_language = [query_text(q, lang) for lang in LANGUAGES] if q else []
    return per_language if any(per_language) else None


def text_match(alias: str, first: int) -> str:
    """`alias.search` against the query of the row's own language ($first...: the
    tsquery strings in LANGUAGES order; a NULL one matches nothing)."""
    return (
        "("
        + " OR ".join(
            f"({alias}.language = '{lang}' AND ${first + i}::text IS NOT NULL"
            f" AND {alias}.search @@ to_tsquery('{CONFIGS[lang]}', ${first + i}::text))"
            for i, lang in enumerate(LANGUAGES)
        )
        + ")"
    )


def rank_sql(alias: str, first: int) -> str:
    cases = " ".join(
        f"WHEN '{lang}' THEN to_tsquery('{CONFIGS[lang]}', coalesce(${first + i}::text, ''))"
        for i, lang in enumerate(LANGUAGES)
    )
    return f"ts_rank({alias}.search, CASE {alias}.language {cases} END)"


RELATED_TOPIC = (
    "EXISTS (SELECT 1 FROM unnest({alias}.topics) t WHERE t = ${n}"
    " OR starts_with(t, ${n} || '.') OR starts_with(${n}, t || '.'))"
)
