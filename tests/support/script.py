"""Build scripted-model files: turns of Messages-API content blocks (minion.testing's own
helpers, which users test their blueprints with), and a check command for any test repo."""

import sys

from minion.testing import Block, bash, done, replace, text, tool, write_script

__all__ = ["PYTEST", "Block", "bash", "done", "replace", "text", "tool", "write_script"]

# A check command that works in any test repo: the test venv's own pytest.
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
