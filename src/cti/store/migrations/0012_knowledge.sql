-- The knowledge base (articles and call scripts) and the directory of services (issue 22).
-- `search` is a tsvector the CTI builds when it writes a row (cti.store.knowledge_text):
-- the text case-folded by Python (a C-locale server lowers ASCII only), then per
-- language: PostgreSQL's snowball stemmer for ru/hu/en, the CTI's own Bulgarian suffix
-- stripping fed to the 'simple' configuration for bg (PostgreSQL ships no bg stemmer).
CREATE TABLE kb_articles (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL DEFAULT 'article' CHECK (kind IN ('article', 'script')),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    topics        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 20),
    language      text NOT NULL CHECK (language IN ('bg', 'ru', 'hu', 'en')),
    valid_from    timestamptz,
    valid_to      timestamptz,
    organisation  text REFERENCES organisations (code),
    review_on     date,
    search        tsvector NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from)
);
CREATE INDEX kb_articles_search ON kb_articles USING gin (search);
CREATE INDEX kb_articles_topics ON kb_articles USING gin (topics);

-- An agent's word on an article: one per agent and article (a second replaces the first).
CREATE TABLE kb_feedback (
    article_id  bigint NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
    username    text NOT NULL,
    verdict     text NOT NULL CHECK (verdict IN ('helpful', 'outdated')),
    comment     text NOT NULL DEFAULT '' CHECK (length(comment) <= 1000),
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (article_id, username)
);

CREATE TABLE directory_entries (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    organisation  text REFERENCES organisations (code),
    handles       text NOT NULL DEFAULT '' CHECK (length(handles) <= 4000),
    topics        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 20),
    phones        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(phones) <= 10),
    email         text NOT NULL DEFAULT '' CHECK (length(email) <= 300),
    web           text NOT NULL DEFAULT '' CHECK (length(web) <= 500),
    address       text NOT NULL DEFAULT '' CHECK (length(address) <= 500),
    hours         text NOT NULL DEFAULT '' CHECK (length(hours) <= 500),
    language      text NOT NULL CHECK (language IN ('bg', 'ru', 'hu', 'en')),
    active        boolean NOT NULL DEFAULT true,
    search        tsvector NOT NULL,
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX directory_entries_search ON directory_entries USING gin (search);
