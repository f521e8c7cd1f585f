"""scripts/export_gguf.py: the bundled model in GGUF gives llama.cpp the same tokens and the same
next-token logits as transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bench.scale import gguf_script
from bot.models import bundled_model_path

TEXTS = (
    "Once upon a time there was a little dragon who loved to read books.",
    'Lily said, "Hello!" and ran to the park with 3 friends... It\'s fun.',
    "The wizard's cat jumped over 12 tall walls   and\nslept.",
)


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "tiny_story.f32.gguf"
    assert gguf_script().main([str(bundled_model_path()), "-o", str(out)]) == 0
    return out


LLAMA_CPP_READS = """
import json, sys
import numpy as np
from llama_cpp import Llama

llm = Llama(sys.argv[1], n_ctx=512, logits_all=True, n_threads=1, verbose=False)
out = {"n_vocab": llm.n_vocab(), "eos": llm.token_eos(), "texts": []}
for text in json.loads(sys.argv[2]):
    ids = llm.tokenize(text.encode(), add_bos=False, special=False)
    llm.reset()
    llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)]).tolist()
    out["texts"].append({"ids": ids, "back": llm.detokenize(ids).decode(), "scores": scores})
llm.close()
print(json.dumps(out))
"""
"""llama.cpp runs in its own process: llama-cpp-python opens /dev/null at import and never
closes it, which the test process would report as a ResourceWarning at exit."""


def test_llama_cpp_reads_the_same_tokens_and_logits(gguf_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LLAMA_CPP_READS, str(gguf_path), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    llama = json.loads(done.stdout.strip().splitlines()[-1])
    path = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    assert llama["n_vocab"] == len(tokenizer)
    assert llama["eos"] == tokenizer.eos_token_id == 0
    for text, read in zip(TEXTS, llama["texts"], strict=True):
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert read["ids"] == ids and read["back"] == text, text
        ours = np.array(read["scores"])
        with torch.no_grad():
            theirs = model(torch.tensor([ids])).logits[0].numpy()
        assert np.abs(ours - theirs).max() < 2e-2 * np.abs(theirs).max(), text
        assert (ours.argmax(-1) == theirs.argmax(-1)).all(), text


def test_refuses_what_it_cannot_convert(tmp_path: Path) -> None:
    source = Path(bundled_model_path())
    broken = tmp_path / "model"
    broken.mkdir()
    config = json.loads((source / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "tokenizer.json").write_text((source / "tokenizer.json").read_text())
    assert gguf_script().main([str(broken), "-o", str(tmp_path / "x.gguf")]) == 1
    assert not (tmp_path / "x.gguf").exists()
