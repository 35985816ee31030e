"""`minion demo`: a sample repo with a failing test, fixed by a scripted (or real) model."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_MODEL

SCRIPT = Path(__file__).with_name("script.json")

TASK = (
    "total() in shop/cart.py ignores quantities and the discount. Make it count quantities, "
    "apply the fractional discount and round to cents, so that tests/test_cart.py passes."
)

SAMPLE = {
    "README.md": "# shop\n\nA tiny shopping cart, used by `minion demo`.\n",
    ".gitignore": "__pycache__/\n",
    "pyproject.toml": (
        '[project]\nname = "shop"\nversion = "0.1.0"\n\n'
        "[tool.minion]\n"
        "# Checks minion runs in its sandbox after the agent's change.\n"
        'checks = { tests = "python3 -m unittest discover -s tests -t . -q" }\n'
    ),
    "shop/__init__.py": "",
    "shop/cart.py": (
        '"""A tiny shopping cart."""\n\n\n'
        "def total(items, discount=0.0):\n"
        '    """Total of (price, quantity) pairs, minus a fractional discount (0.1 = 10% off)."""\n'
        "    # TODO(minion): count quantities, apply the discount, round to cents\n"
        "    return sum(price for price, quantity in items)\n"
    ),
    "tests/__init__.py": "",
    "tests/test_cart.py": (
        "import unittest\n\nfrom shop.cart import total\n\n\n"
        "class TotalTest(unittest.TestCase):\n"
        "    def test_counts_quantities(self):\n"
        "        self.assertEqual(total([(2.5, 2), (1.0, 3)]), 8.0)\n\n"
        "    def test_applies_discount(self):\n"
        "        self.assertEqual(total([(10.0, 3)], discount=0.1), 27.0)\n\n"
        "    def test_rounds_to_cents(self):\n"
        "        self.assertEqual(total([(0.1, 3)]), 0.3)\n"
    ),
}


@dataclass
class Demo:
    repo: Path
    task: str
    model: str
    model_note: str


def _create_sample_repo() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="minion-demo-")) / "shop"
    for rel, text in SAMPLE.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    identity = ["-c", "user.name=minion demo", "-c", "user.email=demo@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*identity, "commit", "-q", "-m", "shop: a tiny cart"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo


def prepare_demo(model: str | None) -> Demo:
    """The sample repo and the model: Claude when asked or when a key is set, else the script."""
    if model is None and os.environ.get("ANTHROPIC_API_KEY"):
        model = DEFAULT_MODEL
    if model:
        note = f"model: {model} (real Claude; this costs a few cents)"
    else:
        model = f"scripted:{SCRIPT}"
        note = (
            "model: [bold]scripted[/] — a recorded list of turns stands in for Claude, so this runs "
            "offline. It drives the real tools, sandbox and checks. Set ANTHROPIC_API_KEY to use Claude."
        )
    return Demo(repo=_create_sample_repo(), task=TASK, model=model, model_note=note)
