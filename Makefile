# mcp-tunnel — every entry point a developer or CI needs. Runs as root on Debian 12 with no stdin.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export DEBIAN_FRONTEND := noninteractive

# Lab processes write their PIDs here so `make test` can reap them even if a test crashes.
LAB_ROOT := $(CURDIR)/.lab-run
SWIFT_TEST_FLAGS ?=

.PHONY: all deps build test test-unit test-lab test-stress test-unit-run test-lab-run lint format docs docs-check check-imports demo bench clean \
  release install install-files uninstall package test-package test-package-run

all: build

## deps: install everything builds and tests need (apt packages, the lab's Python venv). Idempotent.
deps:
	Tests/Lab/install-deps.sh
	Tests/Lab/setup-venv.sh

## build: debug build of the CLI.
build: deps
	swift build

## test: install what is needed and run every test: the generated-docs check, the unit tier, the lab
## tier (real peers and the built binary), then the package checks (test-package: the self-contained
## release binary and the .deb). The release build (its own scratch path, .build-release) runs at the
## lowest CPU priority beside the two tiers, which leave CPU idle while they wait for their peers;
## test-package then only checks what it built. Its log: $(RELEASE_LOG).
RELEASE_LOG ?= $(CURDIR)/.release-build.log
test: deps
	swift build --build-tests
	scripts/check-docs.sh
	status=0; \
	  nice -n 19 scripts/release-build.sh >$(RELEASE_LOG) 2>&1 & release=$$!; \
	  $(MAKE) --no-print-directory test-unit-run || status=1; \
	  $(MAKE) --no-print-directory test-lab-run || status=1; \
	  if wait $$release; then tail -1 $(RELEASE_LOG); \
	  else echo "release build failed:" >&2; tail -40 $(RELEASE_LOG) >&2; status=1; fi; \
	  $(MAKE) --no-print-directory test-package-run || status=1; exit $$status

## test-unit: every test that starts no lab process and runs no built binary, in every target (the
## suites tagged `.tags(.lab)` are skipped, and LabSupport refuses to start a process in this tier).
test-unit:
	swift build --build-tests
	$(MAKE) --no-print-directory test-unit-run

## test-lab: only the lab tier (needs `make deps`). The lab directories are kept (MCP_TUNNEL_LAB_KEEP)
## until scripts/secret-scan.sh has looked through them for every token the suite issued; the next
## run starts from an empty $(LAB_ROOT). The whole-lab suites (`.wholeLab`) take turns, one suite at a
## time among them; the other lab suites run beside them.
test-lab: deps
	swift build --build-tests
	$(MAKE) --no-print-directory test-lab-run

## test-stress: the whole suite with every test process and lab peer pinned to one CPU
## (`taskset -c $(STRESS_CPUS)`), so that a test which waits for time instead of an event, or blocks
## the cooperative pool, fails here first. Run it before you submit.
STRESS_CPUS ?= 0
test-stress: deps
	swift build --build-tests
	status=0; $(MAKE) --no-print-directory test-unit-run TEST_WRAPPER="taskset -c $(STRESS_CPUS)" || status=1; \
	  $(MAKE) --no-print-directory test-lab-run TEST_WRAPPER="taskset -c $(STRESS_CPUS)" || status=1; exit $$status

# The runs themselves, on an existing build.
# The unit tier runs at most UNIT_WIDTH test cases at once (Swift Testing's
# SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH; SwiftPM 6.3 has no flag for it). Unbounded, all
# ~600 start together and a job queued on the two-thread cooperative pool waits behind all of
# their first steps (measured: up to 2.4 s; with 8, under 20 ms) — the run is also faster.
UNIT_WIDTH ?= 8
TEST_WRAPPER ?=
test-unit-run:
	scripts/test-tiers.sh check
	MCP_TUNNEL_TEST_TIER=unit SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(UNIT_WIDTH) \
	  $(TEST_WRAPPER) swift test --skip-build \
	  --skip "$$(scripts/test-tiers.sh lab-regex)" $(SWIFT_TEST_FLAGS)

test-lab-run:
	Tests/Lab/reap.sh $(LAB_ROOT) 2>/dev/null || true
	rm -rf $(LAB_ROOT) && mkdir -p $(LAB_ROOT)
	MCP_TUNNEL_LAB_ROOT=$(LAB_ROOT) MCP_TUNNEL_LAB_KEEP=1 $(TEST_WRAPPER) swift test --skip-build \
	  --filter "$$(scripts/test-tiers.sh lab-regex)" $(SWIFT_TEST_FLAGS); status=$$?; \
	  Tests/Lab/reap.sh $(LAB_ROOT) || true; exit $$status
	scripts/secret-scan.sh $(LAB_ROOT)

## lint: swift-format in strict mode, as CI runs it.
lint:
	swift format lint --strict --recursive Package.swift Sources Tests

format:
	swift format format --in-place --recursive Package.swift Sources Tests

## docs: regenerate completions/ and man/ from the command tree.
docs:
	scripts/gen-docs.sh .

docs-check:
	scripts/check-docs.sh

## check-imports: C modules only in their adapter; every import declared as a target dependency.
check-imports:
	scripts/check-imports.sh

## demo: install, build, start the local lab and walk through what a user sees.
demo: deps
	swift build
	scripts/demo.sh

## release: the self-contained binary (Swift runtime and Foundation linked statically, stripped,
## `git describe` baked in) as dist/mcp-tunnel; its own scratch path .build-release.
release:
	scripts/release-build.sh

## install: the release binary, the man page, the bash/zsh/fish completions and the systemd user
## units under $(DESTDIR)$(PREFIX). uninstall removes exactly those files.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man/man1
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
USERUNITDIR ?= $(PREFIX)/lib/systemd/user
INSTALLED := $(BINDIR)/mcp-tunnel $(MANDIR)/mcp-tunnel.1 $(BASHCOMPDIR)/mcp-tunnel $(ZSHCOMPDIR)/_mcp-tunnel \
  $(FISHCOMPDIR)/mcp-tunnel.fish $(USERUNITDIR)/mcp-tunnel@.service $(USERUNITDIR)/mcp-tunnel@.socket
install: release install-files

# The copy alone, from an existing dist/mcp-tunnel (package-deb.sh uses it).
install-files:
	install -D -m 0755 dist/mcp-tunnel $(DESTDIR)$(BINDIR)/mcp-tunnel
	install -D -m 0644 man/mcp-tunnel.1 $(DESTDIR)$(MANDIR)/mcp-tunnel.1
	install -D -m 0644 completions/mcp-tunnel.bash $(DESTDIR)$(BASHCOMPDIR)/mcp-tunnel
	install -D -m 0644 completions/_mcp-tunnel $(DESTDIR)$(ZSHCOMPDIR)/_mcp-tunnel
	install -D -m 0644 completions/mcp-tunnel.fish $(DESTDIR)$(FISHCOMPDIR)/mcp-tunnel.fish
	mkdir -p $(DESTDIR)$(USERUNITDIR)
	for unit in mcp-tunnel@.service mcp-tunnel@.socket; do \
	  sed 's|/usr/bin/mcp-tunnel|$(BINDIR)/mcp-tunnel|g' packaging/systemd/$$unit >$(DESTDIR)$(USERUNITDIR)/$$unit; \
	  chmod 0644 $(DESTDIR)$(USERUNITDIR)/$$unit; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

## package: dist/mcp-tunnel_<version>_<arch>.deb from the release binary (dpkg-deb, Depends from
## dpkg-shlibdeps), then lintian.
package: release
	scripts/package-deb.sh

## test-package: builds the release (incrementally) and the .deb, then checks them: runtime libraries, the
## package's contents and lintian, --version/--help/doctor with the Swift toolchain hidden,
## `make install DESTDIR=` / `uninstall`, `systemd-analyze verify` on the units.
test-package: deps
	scripts/test-package.sh

test-package-run:
	scripts/test-package.sh

## bench: mcp-tunnel vs OpenSSH `ssh -J -L` vs the direct path over the same lab (raw tcp, then MCP
## tools/call through the http proxy vs a static header), with the binary users get (release-build.sh
## → dist/mcp-tunnel; MCP_TUNNEL_BIN=… measures another). Each script prints its table; at the end one
## table has every row of issue 18 with its target and ✓/✗. Exit 1 when a script failed.
bench: deps
	if [[ -z "$${MCP_TUNNEL_BIN:-}" ]]; then scripts/release-build.sh; fi
	report=$$(mktemp "$${TMPDIR:-/tmp}/mcp-tunnel-bench-report.XXXXXX"); status=0; \
	  export MCP_TUNNEL_BIN="$${MCP_TUNNEL_BIN:-$(CURDIR)/dist/mcp-tunnel}" BENCH_REPORT="$$report"; \
	  scripts/bench.sh || { status=1; echo "make bench: scripts/bench.sh failed" >&2; }; \
	  scripts/bench-http.sh || { status=1; echo "make bench: scripts/bench-http.sh failed" >&2; }; \
	  scripts/bench/report.sh "$$report" "$$MCP_TUNNEL_BIN"; rm -f "$$report"; exit $$status

clean:
	rm -rf .build .lab-run
