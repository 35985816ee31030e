"""A small repo in all eleven languages minion has grammars for.

Every source file defines a container with a method and a free function, calls a
function, and carries one TODO for minion in a comment plus a decoy inside a string
literal. `EXPECTED` says what tree-sitter must find in each file.
"""

from pathlib import Path

from .gitrepo import make_repo, write_files

FILES: dict[str, str] = {
    "py/shapes.py": '''\
import math


class Shape:
    """A shape."""

    def area(self):
        return math.pi * radius(self)


def radius(shape):
    # TODO(minion): read the radius from the shape
    #   instead of hard-coding it
    return "TODO(minion): not a comment"
''',
    "js/app.js": """\
class Greeter {
  greet(name) {
    return format(name);
  }
}

function format(name) {
  // TODO(minion): trim the name
  return `TODO(minion): ${name}`;
}

const shout = (s) => s.toUpperCase();
""",
    "ts/service.ts": """\
interface Store {
  get(key: string): Item;
}

class Service {
  constructor(private store: Store) {}
  lookup(key: string): Item {
    return this.store.get(key);
  }
}

export function makeService(store: Store): Service {
  /* TODO(minion): cache services */
  const note = "TODO(minion): not this";
  return new Service(store);
}
""",
    "ts/view.tsx": """\
type Props = { title: string };

export function Title(props: Props) {
  // TODO: minion add a subtitle
  return <h1 title="TODO(minion): attribute">{props.title}</h1>;
}

export class Panel {
  render() {
    return Title({ title: "x" });
  }
}
""",
    "go/server.go": """\
package server

import "fmt"

type Server struct {
	Addr string
}

type Handler interface {
	Serve(s *Server) error
}

func (s *Server) Start() error {
	// TODO(minion): listen on s.Addr
	fmt.Println("TODO(minion): not this one")
	return nil
}

func NewServer(addr string) *Server {
	return &Server{Addr: addr}
}
""",
    "rust/lib.rs": """\
pub struct Point {
    pub x: f64,
}

pub trait Norm {
    fn norm(&self) -> f64;
}

impl Norm for Point {
    fn norm(&self) -> f64 {
        self.x.abs()
    }
}

pub enum Shape {
    Dot(Point),
}

pub fn origin() -> Point {
    // TODO(minion): take coordinates
    let _s = "TODO(minion): in a string";
    Point { x: 0.0 }
}
""",
    "java/Main.java": """\
package demo;

public class Main {
    /**
     * TODO(minion): parse the arguments
     *   with a real parser
     */
    public static void main(String[] args) {
        Helper h = new Helper();
        h.run("TODO(minion): string");
    }
}

interface Runner {
    void run(String arg);
}
""",
    "c/util.c": """\
#include "util.h"

struct buffer {
    int len;
};

static int
clamp(int v)
{
    /* TODO(minion): make the bounds configurable */
    const char *s = "TODO(minion): literal";
    return v < 0 ? 0 : v;
}

int util_len(struct buffer *b) { return clamp(b->len); }
""",
    "c/util.h": """\
int util_len(struct buffer *b);
""",
    "cpp/engine.cpp": """\
#include <string>

namespace engine {

class Engine {
public:
    void start();
    int speed() const { return 1; }
};

void Engine::start() {
    // TODO(minion): warm up first
    std::string s = "TODO(minion): no";
    speed();
}

}  // namespace engine
""",
    "ruby/model.rb": """\
module Store
  class Model
    def save
      # TODO(minion): validate before saving
      persist("TODO(minion): no")
    end
  end
end

def persist(data)
  data
end
""",
    "lua/init.lua": """\
local M = {}

function M.setup(opts)
  -- TODO(minion): merge opts with defaults
  return M.apply("TODO(minion): no")
end

function M:apply(x)
  return x
end

local function helper()
  return M.setup({})
end

return M
""",
    # No grammar: the line-based fallback for well-known comment prefixes.
    "scripts/build.sh": """\
#!/bin/sh
# TODO(minion): fail on the first error
echo "TODO(minion): in a string"
""",
    "README.md": "# TODO(minion): a heading, not a comment\n",
    ".gitignore": "ignored/\n",
}

# path -> (outline as (kind, name, depth) in order, references that must be found).
EXPECTED: dict[str, tuple[list[tuple[str, str, int]], set[str]]] = {
    "py/shapes.py": (
        [("class", "Shape", 0), ("method", "area", 1), ("function", "radius", 0)],
        {"radius", "math", "pi"},
    ),
    "js/app.js": (
        [("class", "Greeter", 0), ("method", "greet", 1), ("function", "format", 0),
         ("function", "shout", 0)],
        {"format", "toUpperCase"},
    ),
    "ts/service.ts": (
        [("interface", "Store", 0), ("method", "get", 1), ("class", "Service", 0),
         ("method", "constructor", 1), ("method", "lookup", 1), ("function", "makeService", 0)],
        {"Item", "Store", "Service", "get"},
    ),
    "ts/view.tsx": (
        [("type", "Props", 0), ("function", "Title", 0), ("class", "Panel", 0),
         ("method", "render", 1)],
        {"Props", "Title"},
    ),
    "go/server.go": (
        [("struct", "Server", 0), ("interface", "Handler", 0), ("method", "Start", 0),
         ("function", "NewServer", 0)],
        {"Server", "Println", "Addr"},
    ),
    "rust/lib.rs": (
        [("struct", "Point", 0), ("trait", "Norm", 0), ("method", "norm", 1),
         ("impl", "Point", 0), ("method", "norm", 1), ("enum", "Shape", 0),
         ("function", "origin", 0)],
        {"Point", "Norm", "abs"},
    ),
    "java/Main.java": (
        [("class", "Main", 0), ("method", "main", 1), ("interface", "Runner", 0),
         ("method", "run", 1)],
        {"Helper", "run", "String"},
    ),
    "c/util.c": (
        [("struct", "buffer", 0), ("function", "clamp", 0), ("function", "util_len", 0)],
        {"clamp", "len"},
    ),
    "c/util.h": ([("function", "util_len", 0)], {"buffer"}),
    "cpp/engine.cpp": (
        [("module", "engine", 0), ("class", "Engine", 1), ("method", "start", 2),
         ("method", "speed", 2), ("function", "start", 1)],
        {"speed", "string", "Engine"},
    ),
    "ruby/model.rb": (
        [("module", "Store", 0), ("class", "Model", 1), ("method", "save", 2),
         ("method", "persist", 0)],
        {"persist"},
    ),
    "lua/init.lua": (
        [("function", "setup", 0), ("method", "apply", 0), ("function", "helper", 0)],
        {"apply", "setup", "M"},
    ),
}

# (path, line, text) of every TODO find_todos must report, in its order.
EXPECTED_TODOS: list[tuple[str, int, str]] = [
    ("c/util.c", 10, "make the bounds configurable"),
    ("cpp/engine.cpp", 12, "warm up first"),
    ("go/server.go", 14, "listen on s.Addr"),
    ("java/Main.java", 5, "parse the arguments\nwith a real parser"),
    ("js/app.js", 8, "trim the name"),
    ("lua/init.lua", 4, "merge opts with defaults"),
    ("py/shapes.py", 12, "read the radius from the shape\ninstead of hard-coding it"),
    ("ruby/model.rb", 4, "validate before saving"),
    ("rust/lib.rs", 20, "take coordinates"),
    ("scripts/build.sh", 2, "fail on the first error"),
    ("ts/service.ts", 13, "cache services"),
    ("ts/view.tsx", 4, "add a subtitle"),
]


def make_polyglot_repo(path: Path) -> Path:
    """The polyglot repo, committed, plus an untracked and an ignored file with TODOs."""
    make_repo(path, FILES)
    write_files(path, {
        "py/untracked.py": "# TODO(minion): untracked, not reported\n",
        "ignored/gen.py": "# TODO(minion): ignored, not reported\n",
    })
    return path
