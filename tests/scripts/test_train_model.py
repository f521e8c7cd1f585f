"""scripts/train_model.py end to end on a minuscule corpus, and the bundled model it produced."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bot.models import BUNDLED_MODEL_NAME, bundled_model_path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_model.py"

NAMES = ["Lily", "Tom", "Mia", "Ben", "Sue"]
THINGS = ["a red ball", "a big box", "a small cat", "a shiny stone", "a blue kite"]
PLACES = ["the park", "the garden", "the forest", "the beach"]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_model_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_corpus(folder: Path, n_stories: int = 40) -> None:
    rng = random.Random(7)
    stories = []
    for _ in range(n_stories):
        name, thing, place = rng.choice(NAMES), rng.choice(THINGS), rng.choice(PLACES)
        stories.append(
            f"Once upon a time, {name} went to {place}. {name} found {thing}. "
            f'"Look!" said {name}. {name} was very happy and played with it all day.'
        )
    folder.mkdir()
    (folder / "tinystories_train.txt").write_text("\n<|endoftext|>\n".join(stories) + "\n")
    (folder / "gutenberg_stories.txt").write_text(
        "There was once a king who had three daughters.\n\nThe youngest was the fairest of all.\n"
        * 200
    )


def generate(model_dir: Path, prompt: str, new_tokens: int) -> str:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    inputs = tokenizer(prompt, return_tensors="pt")
    torch.manual_seed(0)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return str(tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))


def test_script_trains_exports_and_resumes_a_tiny_model(tmp_path: Path) -> None:
    corpus, out, run_dir = tmp_path / "corpus", tmp_path / "model", tmp_path / "run"
    write_corpus(corpus)
    script = load_script()
    common = [
        str(corpus),
        "--out",
        str(out),
        "--run-dir",
        str(run_dir),
        "--preset",
        "tiny",
        "--holdout-docs",
        "2",
        "--eval-every",
        "4",
        "--threads",
        "1",
        "--no-progress",
    ]

    assert script.main([*common, "--max-steps", "8"]) == 0

    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (out / name).is_file(), name
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [4, 8]
    assert all(0 < h["bits_per_byte"] < 16 for h in history)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "llama"
    assert len(generate(out, "Once upon a time,", 5)) > 0
    metrics = json.loads((out / "training_metrics.json").read_text())
    for key in ("train_bits_per_byte", "validation_bits_per_byte", "test_bits_per_byte"):
        assert 0 < metrics[key] < 16, key
    assert metrics["train_test_gap"] == pytest.approx(
        metrics["test_bits_per_byte"] - metrics["train_bits_per_byte"], abs=1e-3
    )
    assert set(metrics["per_source"]) == {"tinystories_train", "gutenberg_stories"}
    assert metrics["sources"]["tinystories_train"] == [36, 2, 2]

    # --resume continues from the checkpoint instead of starting over.
    assert script.main([*common, "--max-steps", "12", "--resume"]) == 0
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [4, 8, 12]


def test_splits_are_disjoint_seeded_and_cover_every_file(tmp_path: Path) -> None:
    script = load_script()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, n_stories=200)
    (corpus / "extra_book.txt").write_text("\n\n".join(f"Paragraph {i} " * 40 for i in range(300)))
    sources = script.load_corpus(corpus, 5, 1234, None)
    assert [s.name for s in sources] == ["extra_book", "gutenberg_stories", "tinystories_train"]
    for src in sources:
        assert src.validation and src.test
        train_ids = {id(d) for d in src.train}
        assert not train_ids & {id(d) for d in src.validation + src.test}
        assert not {id(d) for d in src.validation} & {id(d) for d in src.test}
    again = script.load_corpus(corpus, 5, 1234, None)
    assert [s.test for s in again] == [s.test for s in sources]
    stories = sources[2]
    assert len(stories.validation) == len(stories.test) == 5
    assert len(stories.train) == 190


def test_bf16_autocast_path_trains_on_cpu(tmp_path: Path) -> None:
    """The GPU path's options (bf16 autocast) run on CPU with the tiny preset, reshaped by
    --layers and --hidden (the shape sweep's overrides)."""
    corpus, out = tmp_path / "corpus", tmp_path / "model"
    write_corpus(corpus)
    script = load_script()
    args = [str(corpus), "--out", str(out), "--run-dir", str(tmp_path / "run")]
    args += ["--preset", "tiny", "--holdout-docs", "2", "--max-steps", "3", "--eval-every", "3"]
    args += ["--layers", "2", "--hidden", "64"]
    assert script.main([*args, "--threads", "1", "--no-progress", "--bf16"]) == 0
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["bf16"] is True and metrics["device"] == "cpu"
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (2, 64)
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (2, 1)
    assert 0 < metrics["test_bits_per_byte"] < 16


def test_bits_per_byte_divides_nats_by_bytes(tmp_path: Path) -> None:
    script = load_script()
    docs = ["The cat sat on the mat.", "A dog ran to the park and back again."]
    tok = script.train_tokenizer(docs * 5, 300)
    eot = tok.token_to_id(script.EOT)
    shape = script.PRESETS["tiny"]
    model = script.build_model(shape, eot, tok.get_vocab_size())
    bpb, nats_per_token = script.bits_per_byte(model, tok, docs, eot)
    n_tokens = sum(len(tok.encode(d).ids) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    expected = nats_per_token * n_tokens / torch.log(torch.tensor(2.0)).item() / n_bytes
    assert bpb == pytest.approx(expected, rel=1e-4)


def test_bundled_model_loads_and_writes_english() -> None:
    path = bundled_model_path()
    assert path.name == BUNDLED_MODEL_NAME
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size <= 25 * 1024 * 1024

    text = generate(path, "Once upon a time, there was a little girl named Lily. She", 40)

    words = text.split()
    assert len(words) >= 15
    alphabetic = [w for w in words if w.strip(".,!?\"'").isalpha()]
    assert len(alphabetic) / len(words) >= 0.8
    assert {"the", "and", "she", "her", "a", "to", "was"} & {w.lower() for w in alphabetic}


def test_bundled_tokenizer_is_lossless_and_pads_left() -> None:
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    text = 'Zoë said: "¿Qué?" 🐉 <tag>\ttab'
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    batch = tokenizer(["Hi", "Once upon a time"], padding=True, return_tensors="pt")
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][0, -1] == 1


def test_every_preset_exports_under_the_32_mb_cap() -> None:
    script = load_script()
    for name, shape in script.PRESETS.items():
        model = script.build_model(shape, 0, shape.vocab_size)
        size = sum(p.numel() for p in model.parameters()) * 4  # float32, tied embeddings
        assert size <= 32 * 1024 * 1024, (name, size)


def test_mixture_weights_follow_the_spec_or_the_sizes() -> None:
    script = load_script()
    names = ["gutenberg_stories", "tinystories_train"]
    by_size = script.mixture_weights(names, [300, 100], None)
    assert by_size.tolist() == [300.0, 100.0]
    given = script.mixture_weights(names, [300, 100], "tinystories_train=0.8,gutenberg_stories=0.2")
    assert given.tolist() == pytest.approx([0.2, 0.8])
    for bad in ("tinystories_train=1", "poems=1,tinystories_train=1", "tinystories_train"):
        with pytest.raises(SystemExit):
            script.mixture_weights(names, [300, 100], bad)


def test_sample_batch_draws_rows_from_the_weighted_streams() -> None:
    script = load_script()
    streams = [torch.zeros(100, dtype=torch.long), torch.ones(100, dtype=torch.long)]
    gen = torch.Generator().manual_seed(0)
    batch = script.sample_batch(streams, torch.tensor([0.0, 1.0]), 16, 8, gen)
    assert batch.shape == (16, 9) and bool((batch == 1).all())
    batch = script.sample_batch(streams, torch.tensor([3.0, 1.0]), 400, 8, gen)
    share = float(batch[:, 0].float().mean())
    assert 0.15 < share < 0.35


def test_ema_cpu_budget_and_file_selection_export_the_averaged_weights(tmp_path: Path) -> None:
    """--ema exports the averaged weights (not the last step's), --max-cpu-minutes ends the run,
    --select-on chooses by one file's validation split, --mix is recorded."""
    corpus, out, run_dir = tmp_path / "corpus", tmp_path / "model", tmp_path / "run"
    write_corpus(corpus)
    script = load_script()
    args = [str(corpus), "--out", str(out), "--run-dir", str(run_dir), "--preset", "tiny"]
    args += ["--holdout-docs", "2", "--eval-every", "5", "--threads", "1", "--no-progress"]
    args += ["--mix", "tinystories_train=3,gutenberg_stories=1", "--ema", "0.9"]
    args += ["--select-on", "tinystories_train", "--max-cpu-minutes", "0.05", "--lr", "1e-2"]
    assert script.main(args) == 0

    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["mix"] == {"gutenberg_stories": 0.25, "tinystories_train": 0.75}
    assert metrics["ema"] == 0.9 and metrics["selected_on"] == "tinystories_train"
    history = json.loads((run_dir / "history.json").read_text())
    assert history[-1]["cpu_minutes"] >= 0.04  # the CPU budget (0.05 min) ended the run
    best = min(history, key=lambda h: h["validation_tinystories_train"])
    assert metrics["step"] == best["step"]
    assert metrics["validation_selected_bits_per_byte"] == pytest.approx(
        best["validation_tinystories_train"], abs=1e-3
    )
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    exported = AutoModelForCausalLM.from_pretrained(out).state_dict()
    last = {k: v for k, v in state["model"].items() if k in exported}
    averaged = {k: v for k, v in state["ema"].items() if k in exported}
    if metrics["step"] == history[-1]["step"]:
        assert all(torch.equal(averaged[k], exported[k]) for k in averaged)
    assert any(not torch.equal(last[k], averaged[k]) for k in last)


def test_quote_case_is_mended_only_where_a_sentence_goes_on() -> None:
    script = load_script()
    docs = ["the cat said hi. she ran and she said no, the dog said yes."] * 5
    lower = script.lowercase_words(docs + ["Then Lily came and Lily sat."] * 5)
    assert {"she", "said", "the"} <= lower and "lily" not in lower
    fix = script.mend_quote_case
    assert fix('"Hi," She said.', lower) == '"Hi," she said.'
    assert fix('"Hi," Lily said.', lower) == '"Hi," Lily said.'
    assert fix('"Run!" Said the cat.', lower) == '"Run!" said the cat.'
    assert fix('"Run?" She said.', lower) == '"Run?" she said.'
    # After ! or ? a new sentence may begin: left alone without a speech verb.
    assert fix('"Run!" The cat ran.', lower) == '"Run!" The cat ran.'
    assert fix('He stopped. "No." She ran.', lower) == 'He stopped. "No." She ran.'


def test_max_gap_exports_only_checkpoints_that_have_not_memorised(tmp_path: Path) -> None:
    """Every evaluation records validation and a same-sized training sample; --max-gap exports
    the best validation among evaluations within the gap, and nothing when none is."""
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    script = load_script()

    def run(name: str, max_gap: float) -> tuple[int, Path, list[dict[str, float]]]:
        out, run_dir = tmp_path / f"model-{name}", tmp_path / f"run-{name}"
        args = [str(corpus), "--out", str(out), "--run-dir", str(run_dir), "--preset", "tiny"]
        args += ["--holdout-docs", "4", "--eval-every", "3", "--threads", "1", "--no-progress"]
        args += ["--select-on", "tinystories_train", "--max-steps", "12", "--lr", "1e-2"]
        code = script.main([*args, "--max-gap", str(max_gap)])
        return code, out, json.loads((run_dir / "history.json").read_text())

    code, out, history = run("open", 0.5)
    assert code == 0
    for h in history:
        assert h["gap"] == pytest.approx(
            h["validation_tinystories_train"] - h["train_tinystories_train"], abs=1e-9
        )
        assert 0 < h["train_all"] < 16
    within = [h for h in history if h["gap"] <= 0.5]
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["step"] == min(within, key=lambda h: h["bits_per_byte"])["step"]

    code, out, history = run("shut", -100.0)
    assert code == 1
    assert len(history) == 4
    assert not (out / "model.safetensors").exists()
