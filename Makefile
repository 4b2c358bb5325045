.PHONY: setup run test lint format
setup:
	bash scripts/setup.sh
run:
	bash scripts/setup.sh --serve
test:
	bash scripts/test.sh
lint:
	.venv/bin/ruff check gridgis api tests benchmarks
	.venv/bin/ruff format --check gridgis api tests benchmarks
	.venv/bin/mypy
format:
	.venv/bin/ruff format gridgis api tests benchmarks
	.venv/bin/ruff check --fix gridgis api tests benchmarks
