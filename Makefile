.PHONY: demo test setup bench

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/minion demo $(ARGS)

test: setup
	.venv/bin/python -m pytest $(ARGS)

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
