"""Train storyloom's bundled story model: a byte-level BPE tokenizer and a small Llama-style causal LM.

The script reads every ``*.txt`` file of a corpus folder (documents separated by lines
``<|endoftext|>``; a file without separators is cut into paragraph-aligned chunks), holds out two
seeded splits of documents from each file -- validation, which chooses the checkpoint, and test,
which decides nothing and is only reported -- trains on all the rest, checkpoints (``--resume``),
exports the best model in Hugging Face format (atomically swapped into ``--out``) and writes the
train, validation and test bits per UTF-8 byte of that model into ``training_metrics.json``.

``--device cuda`` trains on a GPU with bf16 autocast (``--compile`` adds ``torch.compile``);
``scripts/train_model_gpu.sh`` is the prepared run for a lent GPU machine.

Example (the command that trained the bundled model is in bot/models/tiny_story/README.md)::

    python scripts/train_model.py ../shared/corpus --out bot/models/tiny_story \
        --run-dir runs/tiny_story --max-minutes 94
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from plugins.kit.textcraft import mend_quote_case

logger = logging.getLogger("train_model")

EOT = "<|endoftext|>"
KEPT_ON_EXPORT = ("README.md", "__init__.py")


@dataclass(frozen=True, slots=True)
class ModelShape:
    """Architecture and batch shape of one size preset."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    seq_len: int
    batch_size: int


PRESETS: dict[str, ModelShape] = {
    # A minuscule model for tests: trains a few steps in about a second.
    "tiny": ModelShape(320, 32, 64, 1, 2, 2, 32, 4),
    "small": ModelShape(2048, 192, 512, 4, 6, 6, 256, 16),
    # The bundled model.
    "default": ModelShape(4096, 256, 704, 4, 8, 4, 512, 8),
    # For a lent GPU (scripts/train_model_gpu.sh): 7.2M parameters, 29 MB in float32 (under the
    # 32 MB cap), deeper than the default and fed 8x larger batches.
    "gpu": ModelShape(4096, 288, 768, 6, 4, 4, 512, 64),
}


@dataclass(frozen=True, slots=True)
class SourceSplit:
    """One corpus file's documents: train / validation (chooses) / test (only reported)."""

    name: str
    train: list[str]
    validation: list[str]
    test: list[str]


# ---------------------------------------------------------------- data


def read_documents(path: Path) -> list[str]:
    """Documents of a corpus file, split on ``<|endoftext|>`` lines, stripped, empties dropped."""
    text = path.read_text(encoding="utf-8")
    return [doc.strip() for doc in text.split(EOT) if doc.strip()]


def split_documents(
    docs: list[str], holdout_docs: int, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """Seeded split by document: (train, validation, test); each held-out split gets
    ``holdout_docs`` documents but never more than a twentieth of the file."""
    if len(docs) < 3:
        return list(docs), [], []
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n = min(holdout_docs, max(1, len(docs) // 20))
    val = [docs[i] for i in order[:n]]
    test = [docs[i] for i in order[n : 2 * n]]
    train = [docs[i] for i in order[2 * n :]]
    return train, val, test


def corpus_documents(path: Path) -> list[str]:
    """A corpus file's documents: ``<|endoftext|>``-separated, else paragraph-aligned chunks."""
    text = path.read_text(encoding="utf-8")
    if EOT in text:
        return read_documents(path)
    return chunk_paragraphs(text)


_MID_SENTENCE_WORD = re.compile(r"(?<=[a-z,;] )([A-Za-z]+)\b")


def lowercase_words(docs: list[str], min_count: int = 5) -> frozenset[str]:
    """Words written in lower case at least nine times in ten in the middle of a sentence
    (so not names): the words a capital after a closing quotation mark gets wrong."""
    lower: dict[str, int] = {}
    upper: dict[str, int] = {}
    for doc in docs:
        for word in _MID_SENTENCE_WORD.findall(doc):
            table = lower if word[0].islower() else upper
            table[word.lower()] = table.get(word.lower(), 0) + 1
    return frozenset(
        w for w, n in lower.items() if n >= min_count and n >= 9 * upper.get(w, 0) and w != "i"
    )


def load_corpus(
    folder: Path, holdout_docs: int, seed: int, max_docs: int | None
) -> list[SourceSplit]:
    """Every ``*.txt`` file of ``folder``, each split by document.

    Capitals after closing quotation marks are mended in every split alike (the TinyStories
    copy had its case restored by a heuristic that capitalises ``"Hi," She said``).
    """
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise SystemExit(f"no *.txt files in {folder}: give the folder holding the story corpus")
    sources = []
    for path in files:
        docs = corpus_documents(path)
        lower = lowercase_words(docs)
        docs = [mend_quote_case(doc, lower) for doc in docs]
        if max_docs:
            docs = docs[:max_docs]
        train, val, test = split_documents(docs, holdout_docs, seed)
        sources.append(SourceSplit(path.stem, train, val, test))
    return sources


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE (every string encodes, decoding is lossless) with ``<|endoftext|>``."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def hf_tokenizer(tok: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    """Wrap for ``AutoTokenizer``: eos = bos = pad = unk = ``<|endoftext|>``, left padding."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOT,
        eos_token=EOT,
        pad_token=EOT,
        unk_token=EOT,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=max_length,
    )


def encode_stream(tok: Tokenizer, docs: list[str], eot_id: int) -> torch.Tensor:
    """One token stream: ``<eot> doc <eot> doc ...`` (the separator also serves as bos)."""
    ids: list[int] = [eot_id]
    for enc in tok.encode_batch(docs):
        ids.extend(enc.ids)
        ids.append(eot_id)
    return torch.tensor(ids, dtype=torch.long)


def chunk_paragraphs(text: str, chunk_chars: int = 2000) -> list[str]:
    """Text without document separators (whole books) cut into paragraph-aligned chunks."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for para in paragraphs:
        current.append(para)
        size += len(para)
        if size >= chunk_chars:
            chunks.append("\n\n".join(current))
            current, size = [], 0
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def sample_batch(
    streams: list[torch.Tensor],
    weights: torch.Tensor,
    batch: int,
    seq_len: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """``batch`` random windows of ``seq_len + 1`` tokens; each row's stream drawn by ``weights``."""
    picks = torch.multinomial(weights, batch, replacement=True, generator=gen).tolist()
    rows = []
    for pick in picks:
        stream = streams[pick]
        high = len(stream) - seq_len - 1
        start = int(torch.randint(0, max(1, high), (1,), generator=gen))
        rows.append(stream[start : start + seq_len + 1])
    return torch.stack(rows)


def mixture_weights(names: list[str], sizes: list[int], spec: str | None) -> torch.Tensor:
    """Sampling weight of each source: ``name=weight,...`` (normalised), or by size."""
    if not spec:
        return torch.tensor(sizes, dtype=torch.float)
    given: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in names:
            raise SystemExit(f"--mix {spec!r}: use name=weight with names from {names}")
        given[name.strip()] = float(value)
    missing = [n for n in names if n not in given]
    if missing:
        raise SystemExit(f"--mix {spec!r}: give a weight for {missing} too")
    return torch.tensor([given[n] for n in names], dtype=torch.float)


# ---------------------------------------------------------------- model


def build_model(shape: ModelShape, eot_id: int, vocab_size: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        max_position_embeddings=shape.seq_len,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        pad_token_id=eot_id,
        initializer_range=0.02,
    )
    return LlamaForCausalLM(config)


def add_residual_dropout(model: LlamaForCausalLM, p: float) -> None:
    """Dropout on each attention/MLP output while training (hooks only: the export stays plain)."""
    if p <= 0:
        return

    def mlp_hook(module: torch.nn.Module, _inp: object, out: torch.Tensor) -> torch.Tensor:
        return F.dropout(out, p, module.training)

    def attn_hook(module: torch.nn.Module, _inp: object, out: tuple) -> tuple:  # type: ignore[type-arg]
        return (F.dropout(out[0], p, module.training), *out[1:])

    for layer in model.model.layers:
        layer.mlp.register_forward_hook(mlp_hook)
        layer.self_attn.register_forward_hook(attn_hook)


def lr_at(progress: float, peak: float, warmup: float, floor: float) -> float:
    """Linear warmup then cosine decay to ``floor * peak``; ``progress`` in [0, 1]."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.01)
    t = min(1.0, (progress - warmup) / max(1e-9, 1.0 - warmup))
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t)))


@torch.no_grad()
def bits_per_byte(
    model: LlamaForCausalLM, tok: Tokenizer, docs: list[str], eot_id: int, batch: int = 16
) -> tuple[float, float]:
    """(bits per UTF-8 byte, nats per token) over ``docs``: each scored from a leading ``<eot>``.

    Every token of every document is scored (long documents in consecutive windows of the
    context length), the closing ``<eot>`` is not; bytes are the documents' UTF-8 bytes.
    """
    was_training = model.training
    model.eval()
    ctx = model.config.max_position_embeddings
    windows: list[list[int]] = []
    for enc in tok.encode_batch(docs):
        ids = [eot_id, *enc.ids]
        for start in range(0, len(ids) - 1, ctx):
            windows.append(ids[start : start + ctx + 1])
    windows.sort(key=len)
    total_nats = 0.0
    total_tokens = 0
    for i in range(0, len(windows), batch):
        group = windows[i : i + batch]
        width = max(len(w) for w in group)
        x = torch.full((len(group), width), eot_id, dtype=torch.long)
        y = torch.full((len(group), width - 1), -100, dtype=torch.long)
        mask = torch.zeros((len(group), width - 1), dtype=torch.long)
        for row, w in enumerate(group):
            x[row, : len(w)] = torch.tensor(w)
            y[row, : len(w) - 1] = torch.tensor(w[1:])
            mask[row, : len(w) - 1] = 1
        logits = model(input_ids=x[:, :-1], attention_mask=mask).logits
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        total_nats += float(nll)
        total_tokens += int((y != -100).sum())
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    model.train(was_training)
    return total_nats / math.log(2) / n_bytes, total_nats / max(1, total_tokens)


# ---------------------------------------------------------------- export


def default_generation_config(eot_id: int) -> GenerationConfig:
    """Sampling defaults for stories (chosen from samples; see the model card)."""
    return GenerationConfig(
        do_sample=True,
        temperature=0.7,
        top_k=40,
        top_p=0.9,
        repetition_penalty=1.1,
        max_new_tokens=128,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        pad_token_id=eot_id,
    )


def export_model(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    out: Path,
    metrics: dict[str, object],
) -> None:
    """Write an HF model dir next to ``out`` and swap it in (readers never see half a model).

    The model card and package marker already in ``out`` are carried over.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    eot_id = model.config.eos_token_id
    assert isinstance(eot_id, int)
    model.generation_config = default_generation_config(eot_id)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for kept in KEPT_ON_EXPORT:
        if (out / kept).exists():
            shutil.copy2(out / kept, tmp / kept)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train the storyloom story model (tokenizer + Llama-style causal LM).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("corpus", type=Path, help="folder of *.txt story files (../shared/corpus)")
    p.add_argument("--out", type=Path, required=True, help="HF model dir to export into")
    p.add_argument(
        "--run-dir",
        type=Path,
        default=Path("runs/train_model"),
        help="scratch: tokenizer, checkpoint, log",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--vocab-size", type=int, help="override the preset's vocabulary size")
    p.add_argument("--layers", type=int, help="override the preset's number of layers")
    p.add_argument(
        "--hidden",
        type=int,
        help="override the preset's width (a multiple of 32: heads of 32, MLP 2.75x wide)",
    )
    p.add_argument("--seq-len", type=int, help="override the preset's training window")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument(
        "--holdout-docs",
        type=int,
        default=250,
        help="documents per file in each of the validation and test splits (at most 1/20 each)",
    )
    p.add_argument("--max-docs", type=int, help="use only the first N documents of each file")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=0.03, help="warmup share of the run")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1, help="residual dropout while training")
    p.add_argument(
        "--mix",
        help="sampling weight per corpus file, e.g. tinystories_train=3,gutenberg_stories=1 "
        "(default: by size)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="evaluate and export an exponential moving average of the weights with this decay "
        "(e.g. 0.998; 0: off)",
    )
    p.add_argument(
        "--select-on",
        default="all",
        help="validation bits/byte that chooses the checkpoint: 'all' files or one file's name",
    )
    p.add_argument(
        "--max-gap",
        type=float,
        help="export only checkpoints whose --select-on validation bits/byte is at most this "
        "much above a same-sized sample of their training text (early stopping against "
        "memorising a small corpus; every evaluation records both figures)",
    )
    p.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: no limit)")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after N minutes; the LR schedule fits this budget (0: no limit)",
    )
    p.add_argument(
        "--max-cpu-minutes",
        type=float,
        default=0.0,
        help="stop after N minutes of this process's CPU time (all threads): a budget that a "
        "busy machine does not shrink; the LR schedule fits it (0: no limit)",
    )
    p.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps (0: by time)")
    p.add_argument("--eval-minutes", type=float, default=7.0, help="evaluate every N minutes")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N (cuda trains with bf16 autocast)"
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on for cuda, off for cpu)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward")
    p.add_argument("--resume", action="store_true", help="continue from run-dir's checkpoint")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.max_steps <= 0 and args.max_minutes <= 0 and args.max_cpu_minutes <= 0:
        p.error("give --max-steps, --max-minutes and/or --max-cpu-minutes")
    if not 0.0 <= args.ema < 1.0:
        p.error("--ema is a decay in [0, 1)")
    if args.hidden is not None and (args.hidden < 32 or args.hidden % 32):
        p.error("--hidden must be a multiple of 32 (attention heads are 32 wide)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: no CUDA device here; use --device cpu")
    return args


def split_report(
    model: LlamaForCausalLM,
    tok: Tokenizer,
    sources: list[SourceSplit],
    eot_id: int,
    train_samples: dict[str, list[str]],
) -> dict[str, object]:
    """Train / validation / test bits per byte of ``model``, per file and over all files.

    "train" scores ``train_samples`` (per file, as large as its held-out splits), so the
    train/test gap compares like with like.
    """
    report: dict[str, object] = {}
    totals: dict[str, list[float]] = {
        "train": [0.0, 0.0],
        "validation": [0.0, 0.0],
        "test": [0.0, 0.0],
    }
    per_source: dict[str, dict[str, float]] = {}
    for src in sources:
        row: dict[str, float] = {}
        for split, docs in (
            ("train", train_samples[src.name]),
            ("validation", src.validation),
            ("test", src.test),
        ):
            if not docs:
                continue
            bpb, _ = bits_per_byte(model, tok, docs, eot_id)
            n_bytes = sum(len(d.encode("utf-8")) for d in docs)
            row[split] = round(bpb, 4)
            totals[split][0] += bpb * n_bytes
            totals[split][1] += n_bytes
        per_source[src.name] = row
    for split, (bits, n_bytes) in totals.items():
        report[f"{split}_bits_per_byte"] = round(bits / max(1.0, n_bytes), 4)
    train_bpb = report["train_bits_per_byte"]
    test_bpb = report["test_bits_per_byte"]
    assert isinstance(train_bpb, float) and isinstance(test_bpb, float)
    report["train_test_gap"] = round(test_bpb - train_bpb, 4)
    report["per_source"] = per_source
    return report


def split_bits(
    model: LlamaForCausalLM,
    tok: Tokenizer,
    sources: list[SourceSplit],
    eot_id: int,
    docs_of: Callable[[SourceSplit], list[str]],
) -> dict[str, float]:
    """Bits per byte of ``docs_of(source)`` for each file, and over all files (``"all"``,
    byte-weighted)."""
    scores: dict[str, float] = {}
    bits, n_bytes = 0.0, 0
    for src in sources:
        docs = docs_of(src)
        if not docs:
            continue
        bpb, _ = bits_per_byte(model, tok, docs, eot_id)
        size = sum(len(d.encode("utf-8")) for d in docs)
        scores[src.name] = bpb
        bits, n_bytes = bits + bpb * size, n_bytes + size
    scores["all"] = bits / max(1, n_bytes)
    return scores


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    use_bf16 = device.type == "cuda" if args.bf16 is None else args.bf16
    shape = PRESETS[args.preset]
    if args.hidden:
        heads = max(1, args.hidden // 32)
        shape = replace(
            shape,
            hidden_size=args.hidden,
            intermediate_size=int(round(args.hidden * 2.75 / 8) * 8),
            num_heads=heads,
            num_kv_heads=max(1, heads // 2),
        )
    shape = replace(
        shape,
        num_layers=args.layers or shape.num_layers,
        vocab_size=args.vocab_size or shape.vocab_size,
        seq_len=args.seq_len or shape.seq_len,
        batch_size=args.batch_size or shape.batch_size,
    )
    run_dir: Path = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    tok_path = run_dir / "tokenizer.json"
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    sources = load_corpus(args.corpus, args.holdout_docs, args.seed, args.max_docs)
    names = [src.name for src in sources]
    if args.select_on != "all" and args.select_on not in names:
        raise SystemExit(f"--select-on {args.select_on!r}: use 'all' or one of {names}")
    train_docs = [doc for src in sources for doc in src.train]
    random.Random(args.seed).shuffle(train_docs)
    # A fixed sample of each file's training text as large as its held-out splits: scored at
    # every evaluation (the gap as it opens) and in the final report (the train/test gap).
    sample_rng = random.Random(args.seed + 2)
    train_samples = {
        src.name: sample_rng.sample(src.train, min(len(src.validation), len(src.train)))
        for src in sources
    }

    if args.resume and tok_path.exists():
        tok = Tokenizer.from_file(str(tok_path))
    else:
        tok = train_tokenizer(train_docs, shape.vocab_size)
        tok.save(str(tok_path))
    eot_id = tok.token_to_id(EOT)
    assert eot_id is not None
    vocab = tok.get_vocab_size()
    streams = [encode_stream(tok, src.train, eot_id) for src in sources]
    weights = mixture_weights(names, [len(stream) for stream in streams], args.mix)
    shares = (weights / weights.sum()).tolist()
    for src, stream, share in zip(sources, streams, shares, strict=True):
        train_bytes = sum(len(d.encode("utf-8")) for d in src.train)
        logger.info(
            "%s: %d train, %d validation, %d test documents; %d training tokens "
            "(%.2f bytes/token), %.0f%% of each batch",
            src.name,
            len(src.train),
            len(src.validation),
            len(src.test),
            len(stream),
            train_bytes / max(1, len(stream)),
            100 * share,
        )

    model = build_model(shape, eot_id, vocab)
    add_residual_dropout(model, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %s, %.2fM parameters", asdict(shape), n_params / 1e6)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    # The averaged weights are what gets evaluated and exported when --ema is on.
    ema_model = copy.deepcopy(model).requires_grad_(False) if args.ema > 0 else None
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed_before, cpu_before, best_bpb = 0, 0.0, 0.0, float("inf")
    history: list[dict[str, float]] = []
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        if ema_model is not None:
            ema_model.load_state_dict(state.get("ema") or state["model"])
        step, elapsed_before = state["step"], state["elapsed"]
        cpu_before = state.get("cpu_seconds", 0.0)
        best_bpb, history = state["best_bpb"], state["history"]
        logger.info("resumed at step %d (%.1f min)", step, elapsed_before / 60)
    model.to(device)
    if ema_model is not None:
        ema_model.to(device)
    forward = torch.compile(model) if args.compile else model

    max_seconds = args.max_minutes * 60
    max_cpu_seconds = args.max_cpu_minutes * 60
    hf_tok = hf_tokenizer(tok, shape.seq_len)
    run_facts = {
        "parameters": n_params,
        "shape": asdict(shape),
        "sources": {
            src.name: [len(src.train), len(src.validation), len(src.test)] for src in sources
        },
        "training_tokens": {
            src.name: len(stream) for src, stream in zip(sources, streams, strict=True)
        },
        "mix": {name: round(share, 4) for name, share in zip(names, shares, strict=True)},
        "ema": args.ema,
        "dropout": args.dropout,
        "selected_on": args.select_on,
        "seed": args.seed,
        "device": str(device),
        "bf16": use_bf16,
        "compile": args.compile,
        "torch": torch.__version__,
        "args": sys.argv[1:] if argv is None else argv,
    }

    def progress_of(step_now: int, elapsed: float, cpu_seconds: float) -> float:
        parts = []
        if args.max_steps > 0:
            parts.append(step_now / args.max_steps)
        if max_seconds > 0:
            parts.append(elapsed / max_seconds)
        if max_cpu_seconds > 0:
            parts.append(cpu_seconds / max_cpu_seconds)
        return max(parts)

    def evaluate_and_save(elapsed: float, cpu_seconds: float) -> None:
        nonlocal best_bpb
        scored = (ema_model if ema_model is not None else model).to("cpu")
        scores = split_bits(scored, tok, sources, eot_id, lambda src: src.validation)
        seen = split_bits(scored, tok, sources, eot_id, lambda src: train_samples[src.name])
        bpb = scores[args.select_on]
        gap = bpb - seen[args.select_on]
        history.append(
            {
                "step": step,
                "minutes": elapsed / 60,
                "cpu_minutes": cpu_seconds / 60,
                "bits_per_byte": bpb,
                "gap": gap,
                **{f"validation_{name}": value for name, value in scores.items()},
                **{f"train_{name}": value for name, value in seen.items()},
            }
        )
        within_gap = args.max_gap is None or gap <= args.max_gap
        improved = within_gap and bpb < best_bpb
        if within_gap:
            best_bpb = min(best_bpb, bpb)
        verdict = "  (best, exported)" if improved else ""
        if not within_gap:
            verdict = f"  (over --max-gap {args.max_gap})"
        logger.info(
            "step %d  %.1f min (%.1f CPU min)  validation bits/byte %s  gap %.4f%s",
            step,
            elapsed / 60,
            cpu_seconds / 60,
            "  ".join(f"{name} {value:.4f}" for name, value in scores.items()),
            gap,
            verdict,
        )
        if improved:
            metrics = {
                "step": step,
                "minutes": round(elapsed / 60, 2),
                "cpu_minutes": round(cpu_seconds / 60, 2),
                "validation_selected_bits_per_byte": round(bpb, 4),
                **run_facts,
            }
            export_model(scored, hf_tok, args.out, metrics)
        model_state = model.to("cpu").state_dict()
        torch.save(
            {
                "model": model_state,
                "ema": ema_model.state_dict() if ema_model is not None else None,
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "step": step,
                "elapsed": elapsed,
                "cpu_seconds": cpu_seconds,
                "best_bpb": best_bpb,
                "history": history,
            },
            ckpt_path.with_suffix(".tmp"),
        )
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)
        (run_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
        model.to(device)
        if ema_model is not None:
            ema_model.to(device)

    model.train()
    start = time.monotonic() - elapsed_before
    cpu_start = time.process_time() - cpu_before
    last_eval = time.monotonic()
    model_params = list(model.parameters())
    ema_params = list(ema_model.parameters()) if ema_model is not None else []
    bar = tqdm(
        total=args.max_steps or None,
        initial=step,
        disable=args.no_progress,
        unit="step",
        dynamic_ncols=True,
        mininterval=5.0,
    )
    smoothed = None
    while True:
        elapsed = time.monotonic() - start
        progress = progress_of(step, elapsed, time.process_time() - cpu_start)
        if progress >= 1.0:
            break
        lr = lr_at(progress, args.lr, args.warmup, args.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = sample_batch(streams, weights, shape.batch_size, shape.seq_len, gen).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = forward(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if ema_model is not None:
            with torch.no_grad():
                ema_decay = min(args.ema, (1 + step) / (10 + step))
                torch._foreach_lerp_(ema_params, model_params, 1.0 - ema_decay)
        loss_value = loss.item()
        smoothed = loss_value if smoothed is None else 0.98 * smoothed + 0.02 * loss_value
        bar.update(1)
        bar.set_postfix(loss=f"{smoothed:.3f}", lr=f"{lr:.2e}", refresh=False)
        due_steps = args.eval_every > 0 and step % args.eval_every == 0
        due_time = args.eval_every <= 0 and time.monotonic() - last_eval >= args.eval_minutes * 60
        if due_steps or due_time:
            evaluate_and_save(time.monotonic() - start, time.process_time() - cpu_start)
            last_eval = time.monotonic()
    bar.close()
    if not history or history[-1]["step"] != step:
        evaluate_and_save(time.monotonic() - start, time.process_time() - cpu_start)

    # The exported (best-validation) model, scored once on every split. The test figures are
    # written down here and decide nothing.
    metrics_path = args.out / "training_metrics.json"
    if best_bpb == float("inf"):
        logger.error(
            "no evaluation came within --max-gap %s, so nothing was exported: evaluate earlier "
            "(--eval-every), regularise more (--dropout, --weight-decay) or allow a larger gap",
            args.max_gap,
        )
        return 1
    best = LlamaForCausalLM.from_pretrained(args.out).eval()
    metrics = json.loads(metrics_path.read_text())
    metrics.update(split_report(best, tok, sources, eot_id, train_samples))
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    logger.info(
        "done: %d steps, %.1f min; best model: train %.4f, validation %.4f, test %.4f bits/byte "
        "(gap %.4f); per file: %s",
        step,
        (time.monotonic() - start) / 60,
        metrics["train_bits_per_byte"],
        metrics["validation_bits_per_byte"],
        metrics["test_bits_per_byte"],
        metrics["train_test_gap"],
        json.dumps(metrics["per_source"]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
