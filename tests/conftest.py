import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cti.sim import transcripts


@pytest.fixture(scope="session", autouse=True)
def _transcripts_present() -> None:
    folder = transcripts.default_dir()
    if not folder.is_dir():
        pytest.exit(f"Asterisk transcripts not found at {folder}; set CTI_TRANSCRIPTS_DIR", 3)
