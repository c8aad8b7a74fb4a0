-- The language a person's pages speak (agent desktop, wallboard, reports), chosen per user.
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language IN ('en', 'bg', 'ru', 'hu'));
