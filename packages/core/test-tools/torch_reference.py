#!/usr/bin/env python3
"""Independent reference for @pillow/core's model tests: a plain-PyTorch LLaMA-family forward
(LlamaForCausalLM / Qwen2ForCausalLM semantics, written from the HF modeling code's math, not
imported from transformers) with PEFT-style LoRA.

For each case it writes, under OUT/<case>/:
  model/config.json, model/model.safetensors       a tiny random HF checkpoint (f32)
  adapter/adapter_config.json, adapter/adapter_model.safetensors   a PEFT LoRA adapter (random A and B)
  reference.safetensors   logits_lora [T,V], logits_base [T,V], lora grads ("lora_grad/<peft name>"),
                          full grads of the base model ("full_grad/<hf name>")
  reference.json          tokens, labels, loss_lora, loss_base, and the case settings

Computation is in float64 (the truth); pillow computes in float32 and must match within tolerance.
The safetensors format is written by hand (8-byte little-endian header length, JSON header, raw data).

Usage: python3 torch_reference.py OUT [case ...]     (default: every case)
"""
import json
import math
import os
import struct
import sys

import torch

CASES = {
    # GQA (4 query heads over 2 kv heads), untied lm_head, all seven LoRA targets.
    "llama_gqa": dict(
        architecture="LlamaForCausalLM", vocab=67, hidden=32, intermediate=48, layers=2, heads=4, kv_heads=2,
        tie=False, bias=False, rope_theta=10000.0, rope_scaling=None, eps=1e-5, seq=37, seed=1,
        lora=dict(r=4, alpha=8, targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], rslora=False),
    ),
    # A single token (T = 1): logits only (after the shift there is nothing to predict).
    "llama_t1": dict(
        architecture="LlamaForCausalLM", vocab=50, hidden=16, intermediate=40, layers=1, heads=2, kv_heads=2,
        tie=False, bias=False, rope_theta=500000.0, rope_scaling=None, eps=1e-6, seq=1, seed=2,
        lora=dict(r=2, alpha=16, targets=["q_proj", "v_proj"], rslora=False),
    ),
    # Qwen2: q/k/v bias, tied embeddings, multi-query attention (1 kv head), rsLoRA.
    "qwen2_tied_bias": dict(
        architecture="Qwen2ForCausalLM", vocab=71, hidden=24, intermediate=56, layers=2, heads=4, kv_heads=1,
        tie=True, bias=True, rope_theta=1000000.0, rope_scaling=None, eps=1e-6, seq=37, seed=3,
        lora=dict(r=8, alpha=16, targets=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"], rslora=True),
    ),
    # Llama-3 rope scaling with bands that every frequency class falls into (head_dim 8).
    "llama3_rope": dict(
        architecture="LlamaForCausalLM", vocab=64, hidden=32, intermediate=64, layers=2, heads=4, kv_heads=4,
        tie=False, bias=False, rope_theta=10000.0,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64),
        eps=1e-5, seq=37, seed=4, head_dim=8,
        lora=dict(r=4, alpha=4, targets=["q_proj", "k_proj", "gate_proj", "up_proj"], rslora=False),
    ),
    # Linear position scaling.
    "llama_linear_rope": dict(
        architecture="MistralForCausalLM", vocab=40, hidden=16, intermediate=32, layers=1, heads=2, kv_heads=1,
        tie=False, bias=False, rope_theta=10000.0, rope_scaling=dict(type="linear", factor=4.0),
        eps=1e-5, seq=20, seed=5,
        lora=dict(r=2, alpha=4, targets=["o_proj", "down_proj"], rslora=False),
    ),
}

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        t = tensor.detach().to(torch.float32).contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    header_bytes = json.dumps(header).encode("utf-8")
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)


def dims(case):
    head_dim = case.get("head_dim", case["hidden"] // case["heads"])
    return head_dim, case["heads"] * head_dim, case["kv_heads"] * head_dim


def linear_shape(case, module):
    _, q, kv = dims(case)
    h, i = case["hidden"], case["intermediate"]
    return {"q_proj": (q, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, q),
            "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}[module]


def make_weights(case, gen):
    w = {}
    h, v = case["hidden"], case["vocab"]
    w["model.embed_tokens.weight"] = torch.randn(v, h, generator=gen, dtype=torch.float64) * 0.5
    for l in range(case["layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen, dtype=torch.float64)
        w[p + "post_attention_layernorm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen, dtype=torch.float64)
        for m in MODULES:
            out_f, in_f = linear_shape(case, m)
            group = "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            w[f"{p}{group}.{m}.weight"] = torch.randn(out_f, in_f, generator=gen, dtype=torch.float64) / math.sqrt(in_f)
            if case["bias"] and m in ("q_proj", "k_proj", "v_proj"):
                w[f"{p}{group}.{m}.bias"] = 0.1 * torch.randn(out_f, generator=gen, dtype=torch.float64)
    w["model.norm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen, dtype=torch.float64)
    if not case["tie"]:
        w["lm_head.weight"] = torch.randn(v, h, generator=gen, dtype=torch.float64) / math.sqrt(h)
    return w


def peft_name(layer, module, which):
    group = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"base_model.model.model.layers.{layer}.{group}.{module}.lora_{which}.weight"


def make_adapter(case, gen):
    lora = case["lora"]
    a = {}
    for l in range(case["layers"]):
        for m in lora["targets"]:
            out_f, in_f = linear_shape(case, m)
            a[peft_name(l, m, "A")] = torch.randn(lora["r"], in_f, generator=gen, dtype=torch.float64) / math.sqrt(in_f)
            # Non-zero B (a trained adapter), so the LoRA path changes the logits.
            a[peft_name(l, m, "B")] = 0.2 * torch.randn(out_f, lora["r"], generator=gen, dtype=torch.float64)
    return a


def inverse_frequencies(case):
    head_dim = dims(case)[0]
    base = case["rope_theta"]
    # As HF: computed in float32.
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaling = case["rope_scaling"]
    if scaling is not None:
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "linear":
            inv = inv / scaling["factor"]
        elif kind == "llama3":
            factor = scaling["factor"]
            low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
            old = scaling["original_max_position_embeddings"]
            low_wavelen, high_wavelen = old / low, old / high
            wavelen = 2 * math.pi / inv
            scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
            inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def forward(case, w, adapter, tokens):
    """logits [T, V] for one sequence; adapter: dict of PEFT tensors or None."""
    head_dim, _, _ = dims(case)
    heads, kv_heads = case["heads"], case["kv_heads"]
    T = tokens.shape[0]
    lora = case["lora"]
    scale = lora["alpha"] / (math.sqrt(lora["r"]) if lora["rslora"] else lora["r"])

    def linear(x, layer, module):
        group = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        name = f"model.layers.{layer}.{group}.{module}"
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        if adapter is not None and module in lora["targets"]:
            a = adapter[peft_name(layer, module, "A")]
            b = adapter[peft_name(layer, module, "B")]
            y = y + (x @ a.T @ b.T) * scale
        return y

    inv = inverse_frequencies(case)
    positions = torch.arange(T, dtype=torch.float32)
    freqs = positions[:, None] * inv[None, :]  # float32 as HF
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().double(), emb.sin().double()

    x = w["model.embed_tokens.weight"][tokens]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(case["layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], case["eps"])
        q = linear(h, l, "q_proj").view(T, heads, head_dim).transpose(0, 1)
        k = linear(h, l, "k_proj").view(T, kv_heads, head_dim).transpose(0, 1)
        v = linear(h, l, "v_proj").view(T, kv_heads, head_dim).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = heads // kv_heads
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(head_dim) + mask
        attn = torch.softmax(scores, dim=-1) @ v  # [heads, T, D]
        attn = attn.transpose(0, 1).reshape(T, heads * head_dim)
        x = x + linear(attn, l, "o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], case["eps"])
        gate = linear(h, l, "gate_proj")
        up = linear(h, l, "up_proj")
        x = x + linear(torch.nn.functional.silu(gate) * up, l, "down_proj")
    x = rms_norm(x, w["model.norm.weight"], case["eps"])
    head = w["model.embed_tokens.weight"] if case["tie"] else w["lm_head.weight"]
    return x @ head.T


def loss_of(logits, labels):
    # HF: logits at t predict labels[t + 1]; mean over labels != -100.
    return torch.nn.functional.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="mean")


def hf_config(case):
    head_dim = dims(case)[0]
    config = {
        "architectures": [case["architecture"]],
        "model_type": {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "MistralForCausalLM": "mistral"}[case["architecture"]],
        "vocab_size": case["vocab"],
        "hidden_size": case["hidden"],
        "intermediate_size": case["intermediate"],
        "num_hidden_layers": case["layers"],
        "num_attention_heads": case["heads"],
        "num_key_value_heads": case["kv_heads"],
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 256,
        "rms_norm_eps": case["eps"],
        "rope_theta": case["rope_theta"],
        "rope_scaling": case["rope_scaling"],
        "tie_word_embeddings": case["tie"],
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    if case["architecture"] == "LlamaForCausalLM":
        config["attention_bias"] = case["bias"]
    return config


def run_case(out_dir, name, case):
    gen = torch.Generator().manual_seed(case["seed"])
    weights = make_weights(case, gen)
    adapter = make_adapter(case, gen)
    T = case["seq"]
    tokens = torch.randint(0, case["vocab"], (T,), generator=gen)
    labels = tokens.clone()
    # Ignore the first few labels (a "prompt") and one in the middle.
    labels[: min(3, T)] = -100
    if T > 10:
        labels[T // 2] = -100
    if T == 1:
        labels = tokens.clone()

    case_dir = os.path.join(out_dir, name)
    os.makedirs(os.path.join(case_dir, "model"), exist_ok=True)
    os.makedirs(os.path.join(case_dir, "adapter"), exist_ok=True)
    with open(os.path.join(case_dir, "model", "config.json"), "w") as f:
        json.dump(hf_config(case), f, indent=2)
    write_safetensors(os.path.join(case_dir, "model", "model.safetensors"), weights, {"format": "pt"})
    lora = case["lora"]
    with open(os.path.join(case_dir, "adapter", "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": lora["r"], "lora_alpha": lora["alpha"],
                   "target_modules": lora["targets"], "lora_dropout": 0.0, "use_rslora": lora["rslora"],
                   "bias": "none", "base_model_name_or_path": None}, f, indent=2)
    write_safetensors(os.path.join(case_dir, "adapter", "adapter_model.safetensors"), adapter, {"format": "pt"})

    outputs = {}
    # LoRA: logits, loss, grads of A and B.
    lora_params = {k: v.clone().requires_grad_(True) for k, v in adapter.items()}
    logits = forward(case, weights, lora_params, tokens)
    outputs["logits_lora"] = logits.detach()
    loss_lora = None
    if T > 1:
        loss = loss_of(logits, labels)
        loss.backward()
        loss_lora = loss.item()
        for k, v in lora_params.items():
            outputs["lora_grad/" + k] = v.grad
    # Base model: logits, loss, grads of every weight (full training).
    base_params = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    logits = forward(case, base_params, None, tokens)
    outputs["logits_base"] = logits.detach()
    loss_base = None
    if T > 1:
        loss = loss_of(logits, labels)
        loss.backward()
        loss_base = loss.item()
        for k, v in base_params.items():
            outputs["full_grad/" + k] = v.grad
    write_safetensors(os.path.join(case_dir, "reference.safetensors"), outputs)
    with open(os.path.join(case_dir, "reference.json"), "w") as f:
        json.dump({"tokens": tokens.tolist(), "labels": labels.tolist(), "loss_lora": loss_lora,
                   "loss_base": loss_base, "case": case}, f, indent=2)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    out_dir = sys.argv[1]
    names = sys.argv[2:] or list(CASES)
    torch.set_num_threads(1)
    for name in names:
        if name not in CASES:
            sys.exit(f"unknown case {name}; known: {', '.join(CASES)}")
        run_case(out_dir, name, CASES[name])
    print(json.dumps({"cases": names}))


if __name__ == "__main__":
    main()
