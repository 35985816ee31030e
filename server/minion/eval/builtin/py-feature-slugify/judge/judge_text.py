# mypy: ignore-errors
# (The hidden judge: it imports what the task asks for, which the repo as shipped lacks.)
import unittest
from pathlib import Path

from text import slugify


class HiddenSlugifyTest(unittest.TestCase):
    def test_slugs(self):
        self.assertEqual(slugify("Hello, World!"), "hello-world")
        self.assertEqual(slugify("  spaces   everywhere  "), "spaces-everywhere")
        self.assertEqual(slugify("already-a-slug"), "already-a-slug")
        self.assertEqual(slugify("C++ & Rust 2024"), "c-rust-2024")
        self.assertEqual(slugify("MiXeD_case"), "mixed-case")
        self.assertEqual(slugify("---"), "")
        self.assertEqual(slugify("Café au lait"), "caf-au-lait")

    def test_the_todo_is_done_and_gone(self):
        self.assertNotIn("TODO(minion)", Path("text.py").read_text())


if __name__ == "__main__":
    unittest.main()
