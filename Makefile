# sdzero: two commands on a fresh machine.
#   make demo   runs the end-to-end demo (tiny model, SRT, SD-Zero, RFT, GRPO) on the CPU
#   make test   runs the test suite (what CI runs)
GO ?= go
export CGO_ENABLED ?= 0
# pipefail: make test pipes go test into a summariser and must keep its status.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all build demo test vet fmt bench gpu-build

all: build

build:
	$(GO) build -o bin/sdzero ./cmd/sdzero

demo: build
	./bin/sdzero demo --out demo-out

test:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) build -o bin/testsum ./internal/testsum
	$(GO) test -count=1 -timeout 20m -json ./... | ./bin/testsum

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./kernels/cpu ./model

gpu-build:
	bash scripts/gpu-check.sh
