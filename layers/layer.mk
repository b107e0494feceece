# What the layers' Makefiles share (layers/*/Makefile include it). `sam build` runs a layer's
# Makefile (BuildMethod: makefile) in a copy of the layer's folder, with ARTIFACTS_DIR set: this
# file is not in that copy, so a Makefile includes it by its own path. `sam build --cached` and
# the benchmarks' layer cache (tests/bench/coldstart.py) key on a layer's folder: neither sees a
# change made here alone (build once without --cached, and clear the benchmarks' cache).
# For Lambda (arm64, CPython 3.13) the locked wheels of the layer's requirements.txt, and their
# bytecode compiled here: /opt is read-only on Lambda, so without it every cold start compiles
# every module it imports. Unchecked-hash bytecode stays valid whatever the file times the zip
# keeps. PLATFORM=host builds the same layer for this machine (benchmarks).
PYTHON ?= python3.13
PLATFORM ?= manylinux2014_aarch64
ifeq ($(PLATFORM),host)
WHEELS :=
else
WHEELS := --platform $(PLATFORM) --implementation cp --python-version 3.13 --only-binary=:all:
endif
TARGET = $(ARTIFACTS_DIR)/python

# The recipe lines of a layer: $(install-wheels), then what the layer adds to $(TARGET), then
# $(compile-bytecode).
define install-wheels
$(PYTHON) -m pip install --quiet --no-deps --require-hashes --no-compile $(WHEELS) \
	--target "$(TARGET)" -r requirements.txt
endef

define compile-bytecode
find "$(TARGET)" -name __pycache__ -prune -exec rm -rf {} +
$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(TARGET)" >/dev/null
endef
