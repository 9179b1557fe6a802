"""Importing the model interface stays cheap: no provider's SDK comes with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_llm_interface_does_not_import_the_openai_sdk() -> None:
    # A fresh interpreter: in this one, other tests have long since imported openai.
    code = "import sys, coach.llm.base; print('openai' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False", result.stdout + result.stderr
