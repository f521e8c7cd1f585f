"""The lean Llama decoder against transformers' own forward, and the worker with and without it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from bot.generation import GenerationRequest, GenerationSettings, SamplingParams
from bot.generation.decoders import Decoder, ModelForward, RowCache
from bot.generation.fast_llama import FastLlama, KVCache, supports, why_unsupported
from bot.generation.service import build_generation_service
from bot.models import bundled_model_path

GREEDY = SamplingParams(temperature=0.0, repetition_penalty=1.0, ignore_eos=True)
PROMPTS = [
    "Once upon a time, there was a little girl named Lily. She loved to play",
    "Tom and his dog",
    "The sun was hot and the sky was blue. Mia went to the park with her mom and",
]


@pytest.fixture(scope="module")
def bundled() -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = bundled_model_path()
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


class _Rows:
    """A left-padded batch driven the way the decode worker drives it, for one decoder."""

    def __init__(self, decoder: Decoder, ids: list[list[int]]) -> None:
        self.decoder = decoder
        width = max(len(row) for row in ids)
        tokens = torch.zeros((len(ids), width), dtype=torch.long)
        self.mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            tokens[i, width - len(row) :] = torch.tensor(row)
            self.mask[i, width - len(row) :] = 1
        positions = (self.mask.cumsum(dim=1) - 1).clamp(min=0)
        self.logits, self.cache = decoder(tokens, self.mask, positions, None)

    @property
    def cache_rows(self) -> RowCache:
        return self.cache  # type: ignore[no-any-return]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """One new token per row (``[rows]``), or several (``[rows, n]``)."""
        tokens = tokens.view(tokens.shape[0], -1)
        rows, new = tokens.shape
        self.mask = torch.cat([self.mask, self.mask.new_ones((rows, new))], 1)
        positions = self.mask.cumsum(dim=1)[:, -new:] - 1
        self.logits, self.cache = self.decoder(tokens, self.mask, positions, self.cache)
        return self.logits

    def select(self, keep: list[int]) -> None:
        index = torch.tensor(keep)
        self.mask = self.mask.index_select(0, index)
        lead = int(self.mask.argmax(dim=1).min())
        self.mask = self.mask[:, lead:]
        self.cache_rows.select(index, lead)

    def merge(self, other: _Rows) -> None:
        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(mask: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.pad(mask, [width - mask.shape[1], 0])

        self.mask = torch.cat([pad(self.mask), pad(other.mask)])
        self.cache_rows.merge(other.cache, width)
        self.logits = torch.cat([self.logits, other.logits])


def test_logits_match_transformers_through_prefill_steps_select_and_merge(
    bundled: tuple[Any, Any],
) -> None:
    model, tokenizer = bundled
    assert supports(model)
    ids = [tokenizer.encode(p) for p in PROMPTS]
    joiner = tokenizer.encode("A big red ball rolled down the hill, and the little")
    with torch.inference_mode():
        fast, reference = _Rows(FastLlama(model), ids), _Rows(ModelForward(model), ids)
        assert isinstance(fast.cache, KVCache)
        checked = 0

        def compare() -> None:
            nonlocal checked
            torch.testing.assert_close(fast.logits, reference.logits, atol=1e-4, rtol=1e-4)
            checked += 1

        compare()
        for _ in range(6):
            next_tokens = reference.logits.argmax(dim=-1)
            fast.step(next_tokens)
            reference.step(next_tokens)
            compare()
        tokens = reference.logits.argmax(dim=-1)
        longest = max(range(len(ids)), key=lambda i: len(ids[i]))
        keep = [i for i in range(len(ids)) if i != longest]
        for rows in (fast, reference):  # the longest row leaves: leading padding is trimmed
            rows.select(keep)
        tokens = tokens[keep]
        assert fast.mask.shape[1] == max(len(ids[i]) for i in keep) + 6 < len(ids[longest]) + 6
        for _ in range(3):
            fast.step(tokens)
            reference.step(tokens)
            compare()
            tokens = reference.logits.argmax(dim=-1)
        fast.merge(_Rows(FastLlama(model), [joiner]))
        reference.merge(_Rows(ModelForward(model), [joiner]))
        compare()
        tokens = reference.logits.argmax(dim=-1)
        for _ in range(200):  # past the cache's first allocation
            fast.step(tokens)
            reference.step(tokens)
            compare()
            tokens = reference.logits.argmax(dim=-1)
    assert checked == 1 + 6 + 3 + 1 + 200
    assert isinstance(fast.cache, KVCache) and fast.cache.length == fast.mask.shape[1]


def _generate_greedy(model: Any, tokenizer: Any, prompt: str, new_tokens: int) -> str:
    """Plain greedy ``generate`` (the model's sampling defaults and repetition penalty off)."""
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            do_sample=False,
            temperature=None,
            top_k=None,
            top_p=None,
            repetition_penalty=None,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
        )
    return str(tokenizer.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True))


async def _greedy_texts(settings: GenerationSettings, new_tokens: int) -> list[str]:
    """A long request decoding, the others joining it, leaving and a last one joining late."""
    async with build_generation_service(settings) as service:
        stream = service.stream(
            GenerationRequest(PROMPTS[0], GREEDY.replace(max_new_tokens=3 * new_tokens))
        )
        first = await anext(stream)
        joined = await asyncio.gather(
            *(
                service.complete(GenerationRequest(p, GREEDY.replace(max_new_tokens=new_tokens)))
                for p in PROMPTS[1:]
            )
        )
        late = await service.complete(
            GenerationRequest(PROMPTS[1], GREEDY.replace(max_new_tokens=new_tokens // 2))
        )
        last = first
        async for chunk in stream:
            last = chunk
        assert service.stats().mean_batch_size > 1.0
        return [last.text, *(r.text for r in joined), late.text]


@pytest.mark.parametrize("fast_decoder", [True, False])
async def test_greedy_service_text_equals_generate(
    bundled: tuple[Any, Any], fast_decoder: bool, caplog: pytest.LogCaptureFixture
) -> None:
    model, tokenizer = bundled
    settings = GenerationSettings(device="cpu", max_batch_size=8, fast_decoder=fast_decoder)
    with caplog.at_level(logging.INFO, logger="bot.generation.decoders"):
        texts = await _greedy_texts(settings, 24)
    expected = [
        _generate_greedy(model, tokenizer, PROMPTS[0], 72),
        *(_generate_greedy(model, tokenizer, p, 24) for p in PROMPTS[1:]),
        _generate_greedy(model, tokenizer, PROMPTS[1], 12),
    ]
    assert texts == expected
    path = "lean Llama decoder" if fast_decoder else "model's own forward"
    assert any(path in r.getMessage() for r in caplog.records)


def _tiny_llama(**changes: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        **changes,
    )
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"attention_bias": True}, "bias"),
        ({"mlp_bias": True}, "bias"),
        ({"hidden_act": "gelu"}, "activation"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "RoPE"),
    ],
)
def test_unsupported_llama_variants_are_refused(changes: dict[str, Any], reason: str) -> None:
    model = _tiny_llama(**changes)
    assert not supports(model)
    assert reason in (why_unsupported(model) or "")
    with pytest.raises(ValueError, match="does not support"):
        FastLlama(model)


def test_a_plain_tiny_llama_matches_transformers_also_in_chunks() -> None:
    model = _tiny_llama()
    ids = [[5, 9, 13, 2, 40], [7, 8]]
    chunk = torch.tensor([[3, 4, 5], [60, 61, 62]])  # several new tokens on top of a cache
    with torch.inference_mode():
        fast, reference = _Rows(FastLlama(model), ids), _Rows(ModelForward(model), ids)
        for step in range(5):
            torch.testing.assert_close(fast.logits, reference.logits, atol=1e-5, rtol=1e-4)
            tokens = chunk if step == 2 else reference.logits.argmax(dim=-1)
            fast.step(tokens)
            reference.step(tokens)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random GPT-2 next to the bundled tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    directory = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


async def test_other_models_fall_back_to_their_own_forward(
    gpt2_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(gpt2_dir)
    assert not supports(model)
    settings = GenerationSettings(model=str(gpt2_dir), device="cpu", fast_decoder=True)
    with caplog.at_level(logging.INFO, logger="bot.generation.decoders"):
        async with build_generation_service(settings) as service:
            batched = await asyncio.gather(
                *(
                    service.complete(GenerationRequest(p, GREEDY.replace(max_new_tokens=8)))
                    for p in PROMPTS
                )
            )
            alone = await service.complete(
                GenerationRequest(PROMPTS[1], GREEDY.replace(max_new_tokens=8))
            )
    assert any("model's own forward" in r.getMessage() for r in caplog.records)
    assert [r.completion_tokens for r in batched] == [8, 8, 8]
    assert alone.text == _generate_greedy(model, tokenizer, PROMPTS[1], 8)
