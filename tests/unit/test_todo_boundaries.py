"""Where a TODO ends: never on a line of the user's (issue 12, item 1).

A TODO directly above the user's own comment once took that comment into its task and
deleted it with the TODO. Each case gives a file, the task the TODO must yield and the
file as removing the TODO must leave it, byte for byte.
"""

import importlib.util

import pytest
from minion.blueprint.registry import builtin_dir
from minion.context import todo_at
from support.gitrepo import make_repo

spec = importlib.util.spec_from_file_location("todo_blueprint", builtin_dir() / "todo.py")
todo_blueprint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(todo_blueprint)
PATTERNS = ["TODO(minion)", "TODO: minion"]

# The two cases of the report, verbatim.
GO_REPORTED = """\
package hex

// TODO(minion): make xtob handle upper case
// xtob converts hex characters to a byte.
func xtob(c byte) byte {
\treturn c - '0'
}
"""
GO_REPORTED_AFTER = """\
package hex

// xtob converts hex characters to a byte.
func xtob(c byte) byte {
\treturn c - '0'
}
"""
RUST_REPORTED = """\
// TODO(minion): treat a blank buffer as empty
/// Returns whether the buffer is empty.
pub fn is_empty(b: &str) -> bool {
    b.is_empty()
}
"""
RUST_REPORTED_AFTER = """\
/// Returns whether the buffer is empty.
pub fn is_empty(b: &str) -> bool {
    b.is_empty()
}
"""

# One per language: a TODO right above a doc comment or an ordinary comment of the user's.
ABOVE_THE_USERS_COMMENT = [
    ("hex.go", GO_REPORTED, "make xtob handle upper case", GO_REPORTED_AFTER),
    ("lib.rs", RUST_REPORTED, "treat a blank buffer as empty", RUST_REPORTED_AFTER),
    (
        "area.py",
        "# TODO(minion): add type hints\n# Compute the area of a circle.\ndef area(r):\n    return 3.14 * r * r\n",
        "add type hints",
        "# Compute the area of a circle.\ndef area(r):\n    return 3.14 * r * r\n",
    ),
    (
        "app.js",
        "// TODO(minion): trim the name\n/** Formats a name for display. */\nfunction format(name) {}\n",
        "trim the name",
        "/** Formats a name for display. */\nfunction format(name) {}\n",
    ),
    (
        "date.ts",
        ("// TODO(minion): accept a locale\n// Formats a date for display.\nexport function show(d: Date): string {\n"
         "  return d.toString();\n}\n"),
        "accept a locale",
        "// Formats a date for display.\nexport function show(d: Date): string {\n  return d.toString();\n}\n",
    ),
    (
        "view.tsx",
        ("// TODO: minion add a subtitle\n/**\n * The page title.\n */\nexport function Title() {\n"
         "  return <h1>x</h1>;\n}\n"),
        "add a subtitle",
        "/**\n * The page title.\n */\nexport function Title() {\n  return <h1>x</h1>;\n}\n",
    ),
    (
        "Server.java",
        ("class Server {\n    // TODO(minion): validate the port\n    /** Starts the server. */\n"
         "    void start() {}\n}\n"),
        "validate the port",
        "class Server {\n    /** Starts the server. */\n    void start() {}\n}\n",
    ),
    (
        "util.c",
        ("/* TODO(minion): make the bounds configurable */\n/* Clamps v to [0, 255]. */\n"
         "static int clamp(int v);\n"),
        "make the bounds configurable",
        "/* Clamps v to [0, 255]. */\nstatic int clamp(int v);\n",
    ),
    (
        "engine.cpp",
        "namespace engine {\n// TODO(minion): warm up first\n/// Starts the engine.\nvoid start();\n}\n",
        "warm up first",
        "namespace engine {\n/// Starts the engine.\nvoid start();\n}\n",
    ),
    (
        "model.rb",
        ("class Model\n  # TODO(minion): validate before saving\n  # Saves the model to the store.\n"
         "  def save; end\nend\n"),
        "validate before saving",
        "class Model\n  # Saves the model to the store.\n  def save; end\nend\n",
    ),
    (
        "init.lua",
        ("-- TODO(minion): merge opts with defaults\n--- Sets the plugin up.\n---@param opts table\n"
         "function M.setup(opts) end\n"),
        "merge opts with defaults",
        "--- Sets the plugin up.\n---@param opts table\nfunction M.setup(opts) end\n",
    ),
]


def the_todo(path: str, source: str):
    """The one TODO of ``source``, asked for on its marker's line as the editor does."""
    line = next(i for i, text in enumerate(source.split("\n")) if "TODO" in text)
    todo = todo_at(path, source, line, PATTERNS)
    assert todo is not None
    return todo


def without_the_todo(path: str, source: str) -> str:
    todo = the_todo(path, source)
    data = source.encode()
    return (data[: todo.start_byte] + data[todo.end_byte :]).decode()


@pytest.mark.parametrize("path, source, task, after", ABOVE_THE_USERS_COMMENT,
                         ids=[case[0] for case in ABOVE_THE_USERS_COMMENT])
def test_a_todo_above_the_users_comment_leaves_it_alone(path, source, task, after):
    assert the_todo(path, source).text == task
    assert without_the_todo(path, source) == after


def test_the_users_line_is_no_part_of_the_todo_for_the_editor():
    # The hand-off is offered on the TODO's line only, and its anchor covers that line only.
    todo = the_todo("hex.go", GO_REPORTED)
    assert (todo.start_line, todo.end_line) == (3, 3)
    assert todo_at("hex.go", GO_REPORTED, 3, PATTERNS) is None


@pytest.mark.parametrize("path, source, task, after", [
    ("hex.go", GO_REPORTED, "make xtob handle upper case", GO_REPORTED_AFTER),
    ("lib.rs", RUST_REPORTED, "treat a blank buffer as empty", RUST_REPORTED_AFTER),
], ids=["go", "rust"])
def test_the_todo_blueprint_removes_the_reported_todos_and_nothing_else(tmp_path, path, source, task, after):
    repo = make_repo(tmp_path / "r", {path: source})
    assert todo_blueprint.remove_todo_comment(repo, path, task, PATTERNS)
    assert (repo / path).read_text() == after


@pytest.mark.parametrize("path, source, task, after", [
    (
        "a.go",
        "// TODO(minion): make xtob\n//   handle upper case\n// xtob converts hex characters.\nfunc xtob() {}\n",
        "make xtob\nhandle upper case",
        "// xtob converts hex characters.\nfunc xtob() {}\n",
    ),
    (
        "a.py",
        "def f():\n    # TODO(minion): read the radius\n    #     from the shape\n    # The user's note.\n    return 1\n",
        "read the radius\nfrom the shape",
        "def f():\n    # The user's note.\n    return 1\n",
    ),
    (
        # A doc comment's own TODO: continued by the same leader, indented; ended by the doc.
        "a.rs",
        "/// TODO(minion): document\n///   the panics\n/// Returns whether x.\nfn f() {}\n",
        "document\nthe panics",
        "/// Returns whether x.\nfn f() {}\n",
    ),
    (
        # Nothing but the TODO in the Javadoc: the whole comment goes.
        "A.java",
        ("class A {\n    /**\n     * TODO(minion): parse the arguments\n     *   with a real parser\n     */\n"
         "    void f() {}\n}\n"),
        "parse the arguments\nwith a real parser",
        "class A {\n    void f() {}\n}\n",
    ),
    (
        "a.lua",
        "--[[ TODO(minion): merge opts\n       with defaults ]]\nlocal x = 1\n",
        "merge opts\nwith defaults",
        "local x = 1\n",
    ),
], ids=["go", "python", "rust-doc", "java-whole-javadoc", "lua-block"])
def test_a_continuation_indented_past_the_marker_is_the_todos(path, source, task, after):
    assert the_todo(path, source).text == task
    assert without_the_todo(path, source) == after


@pytest.mark.parametrize("path, source, task, after", [
    (
        "a.go",
        "// TODO(minion): add a cache\n//\n// Fetch loads a page.\nfunc Fetch() {}\n",
        "add a cache",
        "//\n// Fetch loads a page.\nfunc Fetch() {}\n",
    ),
    (
        "a.rb",
        # Blank but for trailing blanks: still a blank line, though they reach past the marker.
        "# TODO(minion): add a cache\n#      \n#   an indented note of the user's\nx = 1\n",
        "add a cache",
        "#      \n#   an indented note of the user's\nx = 1\n",
    ),
], ids=["go", "ruby-trailing-blanks"])
def test_a_blank_comment_line_ends_the_todo(path, source, task, after):
    assert the_todo(path, source).text == task
    assert without_the_todo(path, source) == after


def test_another_marker_ends_the_todo_however_it_is_indented():
    source = "# TODO(minion): first\n#   TODO(minion): second\nx = 1\n"
    assert the_todo("a.py", source).text == "first"
    assert without_the_todo("a.py", source) == "#   TODO(minion): second\nx = 1\n"


def test_python_todo_inside_a_function_above_its_docstring():
    source = (
        "def area(r):\n"
        "    # TODO(minion): reject a negative radius\n"
        '    """The area of a circle of radius r."""\n'
        "    return 3.14 * r * r\n"
    )
    assert the_todo("a.py", source).text == "reject a negative radius"
    assert without_the_todo("a.py", source) == (
        "def area(r):\n"
        '    """The area of a circle of radius r."""\n'
        "    return 3.14 * r * r\n"
    )


def test_a_marker_that_ends_its_line_takes_one_line_below_not_the_users_next():
    source = "\t// TODO(minion):\n\t// make xtob handle upper case\n\t// xtob converts hex.\nfunc xtob() {}\n"
    assert the_todo("a.go", source).text == "make xtob handle upper case"
    assert without_the_todo("a.go", source) == "\t// xtob converts hex.\nfunc xtob() {}\n"


@pytest.mark.parametrize("path, source, task, after", [
    (
        # The TODO opens the comment: the opener stays for the user's text.
        "a.c",
        "/* TODO(minion): check the bounds\n * Clamps v to [0, 255]. */\nint clamp(int v);\n",
        "check the bounds",
        "/*\n * Clamps v to [0, 255]. */\nint clamp(int v);\n",
    ),
    (
        # Between the user's lines: its line goes, theirs and the blank one stay.
        "A.java",
        "/**\n * TODO(minion): parse the arguments\n *\n * Runs the program.\n */\nclass A {}\n",
        "parse the arguments",
        "/**\n *\n * Runs the program.\n */\nclass A {}\n",
    ),
    (
        # Last, with the closer on its line: the closer stays, on a line of its own.
        "a.ts",
        "  /**\n   * Formats a name.\n   * TODO(minion): trim it */\nfunction f() {}\n",
        "trim it",
        "  /**\n   * Formats a name.\n   */\nfunction f() {}\n",
    ),
    (
        "a.cpp",
        "/*\n * TODO(minion): warm up first\n * The engine's entry point.\n */\nvoid start();\n",
        "warm up first",
        "/*\n * The engine's entry point.\n */\nvoid start();\n",
    ),
], ids=["c-opener", "java-middle", "ts-closer", "cpp-not-indented"])
def test_a_todo_sharing_a_block_comment_takes_only_its_lines(path, source, task, after):
    assert the_todo(path, source).text == task
    assert without_the_todo(path, source) == after


@pytest.mark.parametrize("path, source, after", [
    # The comment after the next line's code is that code's, however far it is indented.
    ("a.py", "x = 1  # TODO(minion): name it\ny = 2  #   keep y small\n", "x = 1\ny = 2  #   keep y small\n"),
    ("a.c", "int f(/* TODO(minion): name it */ int a);\n", "int f(int a);\n"),
    ("a.c", "int x; /* TODO(minion): name it */ int z;\n", "int x; int z;\n"),
    ("a.js", "// Fix later. TODO(minion): name it\nlet a;\n", "// Fix later.\nlet a;\n"),
    ("a.py", "# TODO(minion): name it\r\n# the user's\r\nx = 1\r\n", "# the user's\r\nx = 1\r\n"),
], ids=["python-trailing", "c-inside-code", "c-between-code", "js-after-text", "crlf"])
def test_code_text_and_line_ends_next_to_the_todo_stay(path, source, after):
    assert the_todo(path, source).text == "name it"
    assert without_the_todo(path, source) == after


def test_files_without_a_grammar_follow_the_same_rule():
    source = "# TODO(minion): fail fast\n#   on the first error\n# Builds the site.\nmake\n"
    assert the_todo("build.sh", source).text == "fail fast\non the first error"
    assert without_the_todo("build.sh", source) == "# Builds the site.\nmake\n"
