"""scripts/export_gguf.py: the bundled model in GGUF gives llama.cpp the same tokens and the same
next-token logits as transformers."""

from __future__ import annotations

import json
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


def test_llama_cpp_reads_the_same_tokens_and_logits(gguf_path: Path) -> None:
    from llama_cpp import Llama

    path = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    llm = Llama(str(gguf_path), n_ctx=512, logits_all=True, n_threads=1, verbose=False)
    assert llm.n_vocab() == len(tokenizer)
    assert llm.token_eos() == tokenizer.eos_token_id == 0
    try:
        for text in TEXTS:
            ids = tokenizer.encode(text, add_special_tokens=False)
            assert llm.tokenize(text.encode(), add_bos=False, special=False) == ids, text
            assert llm.detokenize(ids).decode() == text
            llm.reset()
            llm.eval(ids)
            ours = np.array(llm.scores[: len(ids)])
            with torch.no_grad():
                theirs = model(torch.tensor([ids])).logits[0].numpy()
            assert np.abs(ours - theirs).max() < 2e-2 * np.abs(theirs).max(), text
            assert (ours.argmax(-1) == theirs.argmax(-1)).all(), text
    finally:
        llm.close()


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
