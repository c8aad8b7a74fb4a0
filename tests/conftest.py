import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cti.sim import transcripts


@pytest.fixture(scope="session", autouse=True)
def _transcripts_present() -> None:
    folder = transcripts.default_dir()
    if not folder.is_dir():
        pytest.exit(f"Asterisk transcripts not found at {folder}; set CTI_TRANSCRIPTS_DIR", 3)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A real PostgreSQL for the session: `CTI_TEST_DATABASE_URL`, else an embedded server
    in a directory made for it (removed afterwards)."""
    url = os.environ.get("CTI_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from cti.store.embedded import EmbeddedPostgres

    base = Path(tempfile.mkdtemp(prefix="cti-test-pg-"))
    base.chmod(0o755)  # as root the server runs as its own user and must reach its data
    server = EmbeddedPostgres(base / "pg")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
