# Two commands get a newcomer going: `make demo` and `make test`.
# Each creates .venv when missing and installs PolicyKit into it; `make test` also installs
# Microsoft's SARIF validator and mermaid (the markdown report's graph, drawn as GitHub draws it)
# from npm into .tools/ and, when missing, Debian's chromium (as root, with apt-get) for the
# browser tests.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
MULTITOOL := $(TOOLS)/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
SARIF_MULTITOOL_VERSION ?= 5.7.0
MERMAID := $(TOOLS)/mermaid/mermaid.min.js
MERMAID_VERSION ?= 11.17.2

.PHONY: demo test install install-test browser validator mermaid clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet .

install-test: install browser
	$(BIN)/python -m pip install --quiet ".[test,collect]"

# The HTML report is tested in a real headless Chromium: Debian's package, installed once.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

$(MULTITOOL):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) @microsoft/sarif-multitool@$(SARIF_MULTITOOL_VERSION)
	chmod u+x $(MULTITOOL)

validator: $(MULTITOOL)

# Only the bundled build of mermaid, out of its package: the browser test loads it as a file.
$(MERMAID):
	@mkdir -p $(TOOLS)/mermaid
	cd $(TOOLS)/mermaid && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null && \
		tar -xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js && \
		mv package/dist/mermaid.min.js mermaid.min.js && rm -rf package mermaid-$(MERMAID_VERSION).tgz

mermaid: $(MERMAID)

demo: install
	@mkdir -p out
	$(BIN)/policykit scan --config examples/lunch-order/policykit.yaml --fail-on never \
		--format text --output out/lunch-order.txt
	@cat out/lunch-order.txt
	$(BIN)/policykit scan --config examples/lunch-order/policykit.yaml --fail-on never \
		--format sarif --output out/lunch-order.sarif
	@echo "Wrote out/lunch-order.sarif (SARIF 2.1.0) and out/lunch-order.txt"

test: install-test validator mermaid
	POLICYKIT_SARIF_MULTITOOL=$(abspath $(MULTITOOL)) POLICYKIT_MERMAID=$(abspath $(MERMAID)) $(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(TOOLS) out build dist .pytest_cache
