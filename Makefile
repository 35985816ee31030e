.PHONY: demo test setup editors bench

setup:
	@bash scripts/bootstrap.sh

# The real editors tests/editors drives (Neovim, Emacs, code-server, Chromium) and the VS
# Code extension's npm dependencies. Idempotent; code-server is cached outside the repo.
editors: setup
	@bash scripts/install-editors.sh

demo: setup
	.venv/bin/minion demo $(ARGS)

test: setup editors
	.venv/bin/python -m pytest $(ARGS)

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
