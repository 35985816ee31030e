.PHONY: demo test setup editors toolchains bench lint

setup:
	@bash scripts/bootstrap.sh

# The real editors tests/editors drives (Neovim, Emacs, code-server, Chromium) and the VS
# Code extension's npm dependencies. Idempotent; code-server is cached outside the repo.
editors: setup
	@bash scripts/install-editors.sh

# Go, cargo and npm for tests/realworld (Debian packages where the machine has none).
toolchains:
	@bash scripts/install-toolchains.sh

demo: setup
	.venv/bin/minion demo $(ARGS)

# ruff and mypy, as configured in pyproject.toml: server/ and blueprints/.
lint: setup
	.venv/bin/ruff check server blueprints
	.venv/bin/mypy

test: setup editors toolchains lint
	.venv/bin/python -m pytest $(ARGS)

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
