"""Convert a Llama model with a byte-level BPE tokenizer (the bundled story model) to GGUF.

    python scripts/export_gguf.py [MODEL_DIR] [-o OUT.gguf]

MODEL_DIR defaults to the bundled model (bot/models/tiny_story); the output defaults to
``var/gguf/<model>.f32.gguf``. The weights are written in float32 (the model is small; llama.cpp
then computes the same logits as transformers, which tests/scripts/test_export_gguf.py checks),
with the tokenizer as a GPT-2-style BPE vocabulary (tokens, merges, the end-of-text token), so
llama.cpp's server (``python -m llama_cpp.server --model OUT.gguf``) can serve it to the bot's
``openai`` backend.

What it handles: ``LlamaForCausalLM`` with default RoPE, grouped-query attention, tied or untied
output embeddings, a ``tokenizers`` BPE with the ByteLevel pre-tokenizer. Anything else is
refused with a message (llama.cpp's own ``convert_hf_to_gguf.py`` covers the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class ExportError(Exception):
    """The model is not one this script converts; the message says why."""


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """Reorder q/k rows from transformers' half-split RoPE to llama.cpp's interleaved pairs."""
    rows = weights.shape[0]
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _check(config: dict[str, Any], tokenizer: dict[str, Any]) -> None:
    if config.get("architectures") != ["LlamaForCausalLM"]:
        raise ExportError(f"only LlamaForCausalLM is converted (got {config.get('architectures')})")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", "default") != "default":
        raise ExportError(f"only default RoPE is converted (got {rope.get('rope_type')!r})")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise ExportError("biases in attention or MLP layers are not converted")
    model = tokenizer.get("model") or {}
    pre = tokenizer.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or pre.get("add_prefix_space"):
        raise ExportError("only a byte-level BPE tokenizer without a prefix space is converted")
    if tokenizer.get("normalizer") is not None:
        raise ExportError("tokenizers with a normalizer are not converted")


def export(model_dir: Path, out: Path) -> Path:
    """Write ``model_dir`` as a float32 GGUF file at ``out``; returns ``out``."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    _check(config, tokenizer)
    tensors = load_file(str(model_dir / "model.safetensors"))

    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // heads)
    rope = config.get("rope_parameters") or {}
    theta = float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0)

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch="llama")
    writer.add_name(model_dir.name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_vocab_size(int(config["vocab_size"]))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _add_tokenizer(writer, tokenizer, config, model_dir)

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for layer in range(int(config["num_hidden_layers"])):
        for hf, ours in per_layer.items():
            names[f"model.layers.{layer}.{hf}"] = f"blk.{layer}.{ours}"
    for name, tensor in sorted(tensors.items()):
        if name not in names:
            raise ExportError(f"unexpected tensor {name!r}")
        data = np.ascontiguousarray(tensor.astype(np.float32))
        if name.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif name.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        writer.add_tensor(names[name], data)
    # tied embeddings: no output.weight, llama.cpp reads token_embd for the output layer
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _add_tokenizer(
    writer: Any, tokenizer: dict[str, Any], config: dict[str, Any], model_dir: Path
) -> None:
    import gguf

    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    size = int(config["vocab_size"])
    tokens = [""] * size
    types = [gguf.TokenType.UNUSED] * size
    for text, index in vocab.items():
        tokens[index], types[index] = text, gguf.TokenType.NORMAL
    for added in tokenizer.get("added_tokens") or []:
        index = int(added["id"])
        tokens[index] = added["content"]
        types[index] = (
            gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
        )
    for index, text in enumerate(tokens):
        if not text:
            tokens[index] = f"[PAD{index}]"
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # the ByteLevel pre-tokenizer's regex is GPT-2's
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    settings_path = model_dir / "tokenizer_config.json"
    settings = (
        json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.exists() else {}
    )
    special = {a["content"]: int(a["id"]) for a in tokenizer.get("added_tokens") or []}
    for key, add in (
        ("bos_token", writer.add_bos_token_id),
        ("eos_token", writer.add_eos_token_id),
        ("pad_token", writer.add_pad_token_id),
        ("unk_token", writer.add_unk_token_id),
    ):
        value = settings.get(key)
        if isinstance(value, str) and value in special:
            add(special[value])
    # the transformers tokenizer adds no BOS (its post-processor is the bare sequence)
    post = tokenizer.get("post_processor") or {}
    adds_bos = any("SpecialToken" in part for part in post.get("single", []))
    writer.add_add_bos_token(adds_bos)
    writer.add_add_eos_token(False)


def default_output(model_dir: Path) -> Path:
    return ROOT / "var" / "gguf" / f"{model_dir.name}.f32.gguf"


def main(argv: list[str] | None = None) -> int:
    from bot.models import bundled_model_path

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("model_dir", nargs="?", type=Path, default=Path(bundled_model_path()))
    parser.add_argument("-o", "--output", type=Path, default=None, help="the .gguf file to write")
    args = parser.parse_args(argv)
    out = args.output or default_output(args.model_dir)
    try:
        export(args.model_dir, out)
    except (ExportError, OSError, KeyError, ValueError) as exc:
        print(f"cannot convert {args.model_dir}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
