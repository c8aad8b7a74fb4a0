"""Storage in PostgreSQL (asyncpg); an embedded server when no URL is configured."""
