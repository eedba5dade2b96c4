# `make demo` and `make test` each create .venv on first use and install the project into it.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test wheel-check bench gpu-check clean

# ONNX Runtime is an extra (cpu or gpu: two distributions of one module that must not be mixed): keep the
# one already installed, else gpu where an NVIDIA driver is present, else cpu.
ORT_EXTRA = $(shell if $(PY) -m pip show -q onnxruntime-gpu >/dev/null 2>&1; then echo gpu; \
	elif $(PY) -m pip show -q onnxruntime >/dev/null 2>&1; then echo cpu; \
	elif command -v nvidia-smi >/dev/null 2>&1; then echo gpu; else echo cpu; fi)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,$(ORT_EXTRA)]'
	touch $(STAMP)

venv: $(STAMP)

# The test suite, then the installed-wheel check (build the wheel, install it in a fresh environment,
# run the shipped table and a tiny search from outside the checkout; about 20 s).
test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)
	tools/check_wheel.sh $(PY)

wheel-check: $(STAMP)
	tools/check_wheel.sh $(PY)

# The three journeys on the embedded default (digits, this machine's CPU): measure a lookup table for
# this machine (reused on later runs) and check it on whole networks, search a latency-aware Pareto
# series, train the most accurate Pareto member, export it to ONNX, and measure it beside the prediction.
TND      := $(PY) -m tnd.cli.main
DEMO     := runs/demo
DEMO_LUT := runs/lut/cpu.json
# validate.json is written last, so an interrupted table build is resumed, never taken as complete.
$(DEMO_LUT:.json=.validate.json): $(STAMP) configs/search/demo.yaml
	$(PY) tools/build_lut.py --device cpu --config configs/search/demo.yaml --out $(DEMO_LUT) --resume --fit-predictor
	$(TND) lut validate $(DEMO_LUT) --samples 20

demo: $(DEMO_LUT:.json=.validate.json)
	@echo '== the demo optimises latency: on a CPU without readable RAPL energy is only a TDP estimate (tnd lut show runs/lut/cpu.json names the method used) =='
	rm -rf $(DEMO)
	$(TND) search --config configs/search/demo.yaml --lut $(DEMO_LUT) --out $(DEMO)/search
	$(TND) train --genotype $(DEMO)/search/result.json --config configs/train/digits.yaml --epochs 10 --out $(DEMO)/train
	$(TND) export $(DEMO)/train/checkpoint.pt --out $(DEMO)/model.onnx
	$(TND) bench $(DEMO)/model.onnx --device cpu --lut $(DEMO_LUT) --json $(DEMO)/bench.json

# On a machine with an NVIDIA GPU: every GPU check in one go (tools/gpu_check.sh; results in runs/gpu-check):
# the paper preset's step times and projected search time, the gpu-marked tests, this GPU's table for the
# paper preset (real NVML energy; the preset is detected) checked on 30 whole networks, and torchrun on NCCL.
gpu-check: $(STAMP)
	tools/gpu_check.sh $(PY) runs/gpu-check

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf runs .pytest_cache
