"""`python tests/pbx/runs_here.py`: exit 0 if the pbx tier's Asterisk can run on this
machine's processor, else print why and exit 3 (`.ci/run` asks before the tier)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pbx.asterisk import install_dir, runs_here

if __name__ == "__main__":
    why = runs_here(install_dir())
    if why is not None:
        print(why)
        sys.exit(3)
    print(f"the Asterisk at {install_dir()} runs on this processor")
