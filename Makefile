# aws-key-rotation: `make demo` shows the whole job on a local moto; `make test` proves it.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: demo test e2e tools unit lint package artifact bench fmt clean-venv

## Rotate a key and audit KMS keys against a local moto, with the built Lambda binaries.
demo:
	scripts/demo.sh $(ARGS)

## Everything CI runs: format and lint checks, unit tests, moto end-to-end tests, cfn-lint, the docs'
## checks (DuckDB in .venv-docs, requirements-docs.txt), and the binaries end to end. Tests and
## binaries build once, in the `ci` profile (Cargo.toml).
test: tools lint
	VENV=$(CURDIR)/.venv-docs scripts/venv.sh requirements-docs.txt
	scripts/with-moto.sh $(CARGO) nextest run --cargo-profile ci --workspace --all-targets --no-fail-fast
	scripts/e2e.sh

## The binaries end to end under cargo-lambda's Lambda emulator, next to moto (`ci` profile;
## E2E_PROFILE=release for the shipped one).
e2e:
	scripts/e2e.sh

## The Rust tools the checks use, installed when missing.
tools:
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

## Format, clippy, the templates (cfn-lint with its informational checks, checkov), and the
## deploy checks: samconfig against the template, rust-version against Cargo.lock, the README's
## pins against the requirements files, the dashboard's metrics against the code.
lint: tools
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	scripts/lint-template.sh
	$(CARGO) nextest run --cargo-profile ci --test pure -E 'test(/^template::deploy::/)'

## Every test that needs no moto: the unit tests, the pure tests and the mock tests.
unit: tools
	$(CARGO) nextest run --lib --test pure --test mocks

## Both Lambda zips (cargo-lambda, release, arm64 by default; ARCH=x86_64 for Intel).
package:
	scripts/package.sh

## The deploy path and its artifacts (not part of `make test`): `sam validate --lint`, `sam build`
## as the README says, then the demo with the arm64 bootstraps SAM built, under qemu-user.
artifact:
	scripts/artifact.sh

## Benchmarks (not part of `make test`).
bench:
	scripts/bench.sh

fmt:
	$(CARGO) fmt

clean-venv:
	rm -rf .venv .venv-deploy .venv-docs .venv-lint
