# Everything a fresh Debian machine needs to run the tests, then the tests.
#   make test   install system packages + the venv with test extras, run the whole suite
#   make bench  the performance suite (bench/), prints a table and writes bench/results.json
#   make soak   ~20 min of runs on two simulator boxes while the app, sshd and containers are
#               killed; SOAK_ARGS=--quick for ~3 min (tests/soak/run.py --help for the rest)
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := chromium fonts-dejavu-core openssh-server openssh-sftp-server slurm-wlm docker.io iptables busybox-static
# three workers (most tests wait on servers, runs and the browser), a file each at a time
# (module fixtures start once), each in its own network namespace (tests/netns.py), the
# longest files first (tests/durations.py; xdist's own reorder by test count is off).
# PYTEST_ARGS="-n 0" runs serially.
PYTEST_ARGS ?= -n 3 --dist loadfile --no-loadscope-reorder
BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: test bench soak deps system-deps venv bytecode clean

test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(PY) -m bench.run $(BENCH_ARGS)

soak: deps
	$(PY) -m tests.soak.run $(SOAK_ARGS)

deps: system-deps venv bytecode

# Our modules' bytecode, compiled once: the tests start thousands of short Python processes
# (the CLI, the simulator's docker-compatible engine over SSH, the fake Cosmos), and where
# PYTHONDONTWRITEBYTECODE is set, or the process runs as the SSH test user who cannot write
# __pycache__ here, each one compiled every module it imports again (~0.5 s of a CLI start).
bytecode: venv
	@PYTHONDONTWRITEBYTECODE= $(PY) -m compileall -q -j 0 backend components cosmos_ui tests bench launch.py > /dev/null

# apt-get only when something is missing, so a warm machine skips the slow update.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
