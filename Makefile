# dtsen-pipeline: every target sets up what it needs and can be run again safely.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.8

DEMO_PERSONS ?= 5000
DEMO_MONTH   ?= 2025-01
SIZES        ?= 100000,1000000
PROFILES     ?= default,hard
GEN_SIZES    ?=
INGEST_SIZES ?=
INCR_SIZES   ?= 1000000
YEAR_SIZES   ?=
ENGINES      ?= duckdb
BASELINES    ?= yes
RETENTION_MONTHS  ?=
RETENTION_PERSONS ?= 2000
RETENTION_KEEP    ?= 3
OLD_DUCKDB   := 1.0.0 1.1.3

.PHONY: setup java lint demo test test-slow browser postgres ui serve docs bench clean-data

setup: $(STAMP) java
	$(BIN)/python -m dtsen_pipeline.defs.dbt.project

# A Java runtime for Splink's Spark backend (config/linkage.yaml engine: spark; the tests link a
# small world on both engines): Debian's, when the machine has none (root or sudo).
java:
	@command -v java >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq default-jre-headless; }

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# Exactly the lock (sync removes what it does not list). It leaves out what dagster-dbt's
	@# sqlglot[rs] would bring: sqlglotc, the compiled sqlglot whose classes Splink's Spark dialect
	@# cannot subclass ("interpreted classes cannot inherit from compiled"), and sqlglotrs, which
	@# sqlglot says is no longer compatible (requirements.lock's header: --no-emit-package).
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@# Older DuckDB clients, each in its own folder (never on the venv's path), for the test that
	@# opens a release as an analyst's older tool would (tests/publish/test_releases.py, OLD_DUCKDB).
	for v in $(OLD_DUCKDB); do $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps \
		--target $(VENV)/duckdb-compat/$$v duckdb==$$v; done
	@rm -f $(VENV)/.installed-*
	@touch $@

# Linters (CI runs them before the tests): ruff on the Python; sqlfluff on the dbt project's SQL
# (.sqlfluff: DuckDB dialect, the models rendered with dbt's builtins and the project's macros,
# including the registry macros `make setup` generates from config/sources, hence the dependency).
SQL_PATHS := dbt_project/models dbt_project/tests dbt_project/macros
lint: setup
	$(BIN)/ruff format --check dtsen_pipeline tests
	$(BIN)/ruff check dtsen_pipeline tests
	$(BIN)/sqlfluff lint $(SQL_PATHS) --disable-progress-bar

demo: setup
	@log=$$($(BIN)/python -m dtsen_pipeline.lib.paths logs_dir)/demo.log; : > "$$log"; \
	echo "dtsen demo: a $(DEMO_PERSONS)-person world, month $(DEMO_MONTH); every step's output goes to $$log"; \
	step() { echo "  $$1"; shift; "$$@" >> "$$log" 2>&1 || { echo "failed: $$*; the end of $$log:"; tail -n 20 "$$log"; exit 1; }; }; \
	step "generating the agencies' extracts and the truth ..." $(BIN)/dtsen generate --persons $(DEMO_PERSONS) --start $(DEMO_MONTH) --months 1; \
	step "running the monthly job (ingest, staging, Splink, marts, gate, release: about a minute) ..." $(BIN)/dtsen run --month $(DEMO_MONTH); \
	step "evaluating linkage against the truth (JSON in the log) ..." $(BIN)/dtsen evaluate --month $(DEMO_MONTH); \
	echo ""; $(BIN)/dtsen status --month $(DEMO_MONTH)
	@echo ""
	@echo "Query it      : $(BIN)/dtsen query \"select kode_prov, count(*) from dtsen_individu group by 1\""
	@echo "Work lists    : $(BIN)/dtsen worklists --month $(DEMO_MONTH)   (XLSX for Dinsos operators)"
	@echo "Reports       : data/reports/index.html (or make ui, then http://127.0.0.1:3001/)"
	@echo "Dagster UI    : make ui, then open http://localhost:3000 (this run is in Runs)"

# The suite runs on TEST_WORKERS processes (pytest-xdist), a test module per process at a time
# (--dist loadscope: a module's fixtures are built once); each process builds the session's world in
# its own temporary data root. TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope)
test: setup browser postgres
	$(PYTEST)

# The slow tests: `dtsen run` killed with SIGKILL at each stage then run again, and two-month
# backfills launched from the UI and through its GraphQL API (about 20 minutes; CI runs them too).
test-slow: setup browser postgres
	$(PYTEST) -m slow

# PostgreSQL's server for `make serve` and its test (Debian's package: initdb and postgres under
# /usr/lib/postgresql/<version>/bin; root or sudo), when the machine has none.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

# Headless Chromium and its driver for the UI test (Debian packages; root or sudo).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

# The Dagster UI on http://127.0.0.1:3000 and, beside it, the report server (GX Data Docs, Splink
# charts: the UI's links to them) on http://127.0.0.1:3001 (`make ui DTSEN_REPORTS_PORT=4000` moves
# it); Ctrl-C stops both.
DTSEN_REPORTS_PORT ?= 3001
ui: setup
	@export DAGSTER_HOME=$$($(BIN)/python -m dtsen_pipeline.lib.paths dagster_home) DTSEN_REPORTS_PORT=$(DTSEN_REPORTS_PORT); \
		$(BIN)/python -m dtsen_pipeline.lib.reports & reports=$$!; \
		trap 'kill $$reports 2>/dev/null' EXIT INT TERM; \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The deployment (docs/operations.md, "Deployment"): PostgreSQL (a cluster under data/postgres, or
# DTSEN_POSTGRES_URL), the code location, the daemon and the webserver on http://127.0.0.1:3000,
# each its own process; Ctrl-C stops them all. `make ui` stays the quick local path.
serve: setup postgres
	$(BIN)/dtsen serve

# The documentation site of the current release (MONTH=YYYY-MM for another): dbt docs of the
# release's tables and columns as analysts see them, one offline page under data/reports/docs/,
# served by `make ui` (dtsen_pipeline/publish/docs_site.py; each publication builds its own too).
MONTH ?=
docs: setup
	$(BIN)/python -m dtsen_pipeline.publish.docs_site $(if $(MONTH),--month $(MONTH))

bench: setup
	$(BIN)/python -m dtsen_pipeline.bench --sizes="$(SIZES)" --profiles="$(PROFILES)" --generate-sizes="$(GEN_SIZES)" --ingest-sizes="$(INGEST_SIZES)" --incremental-sizes="$(INCR_SIZES)" --year-sizes="$(YEAR_SIZES)" --engines="$(ENGINES)" $(if $(filter no,$(BASELINES)),--no-baselines) --retention-months="$(or $(RETENTION_MONTHS),0)" --retention-persons="$(RETENTION_PERSONS)" --retention-keep-months="$(RETENTION_KEEP)"

clean-data:
	chmod -R u+w data/publish 2>/dev/null || true  # releases are read-only
	rm -rf data/landing data/truth data/warehouse data/publish data/reports data/logs data/bench
