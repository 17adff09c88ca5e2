"""A plain PyTorch LLaMA (HF LlamaForCausalLM layout and numerics) for the tiny model: pretraining
and greedy evaluation while @pillow/core's native full-parameter trainer is not yet available.

Weights are written as HF safetensors with HF key names, so the checkpoint loads anywhere a LLaMA
checkpoint does (transformers, llama.cpp's converter, @pillow/core's loadModel).
"""

import json
import math
import struct

import torch
import torch.nn.functional as F


class Config:
    def __init__(self, **fields):
        self.hidden_size = fields["hidden_size"]
        self.num_hidden_layers = fields["num_hidden_layers"]
        self.num_attention_heads = fields["num_attention_heads"]
        self.num_key_value_heads = fields["num_key_value_heads"]
        self.intermediate_size = fields["intermediate_size"]
        self.vocab_size = fields["vocab_size"]
        self.max_position_embeddings = fields["max_position_embeddings"]
        self.rms_norm_eps = fields.get("rms_norm_eps", 1e-5)
        self.rope_theta = fields.get("rope_theta", 10000.0)
        self.head_dim = self.hidden_size // self.num_attention_heads


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(variance + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config
        self.config = c
        self.q_proj = torch.nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        c = self.config
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, c.num_attention_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        groups = c.num_attention_heads // c.num_key_value_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim)
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class Block(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.input_layernorm = torch.nn.Parameter(torch.ones(config.hidden_size))
        self.post_attention_layernorm = torch.nn.Parameter(torch.ones(config.hidden_size))
        self.self_attn = Attention(config)
        self.gate_proj = torch.nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = torch.nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = torch.nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        eps = self.config.rms_norm_eps
        x = x + self.self_attn(rms_norm(x, self.input_layernorm, eps), cos, sin, mask, cache)
        h = rms_norm(x, self.post_attention_layernorm, eps)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class TinyLlama(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_tokens = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = torch.nn.ModuleList([Block(config) for _ in range(config.num_hidden_layers)])
        self.norm = torch.nn.Parameter(torch.ones(config.hidden_size))
        inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, config.head_dim, 2).float() / config.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def init_weights(self, generator):
        # GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * layers).
        std = 0.02
        for name, parameter in self.named_parameters():
            if parameter.dim() == 2:
                scale = std / math.sqrt(2 * self.config.num_hidden_layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else std
                with torch.no_grad():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)

    def rope(self, positions):
        freqs = positions[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos()[None, None], emb.sin()[None, None]

    def forward(self, ids, start=0, caches=None):
        b, t = ids.shape
        x = self.embed_tokens(ids)
        cos, sin = self.rope(torch.arange(start, start + t))
        mask = None
        if t > 1:
            mask = torch.full((t, start + t), float("-inf")).triu(start + 1)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
        x = rms_norm(x, self.norm, self.config.rms_norm_eps)
        return x @ self.embed_tokens.weight.T  # tied embeddings

    def hf_state_dict(self):
        out = {"model.embed_tokens.weight": self.embed_tokens.weight, "model.norm.weight": self.norm}
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            out[p + "input_layernorm.weight"] = layer.input_layernorm
            out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{name}.weight"] = getattr(layer.self_attn, name).weight
            for name in ("gate_proj", "up_proj", "down_proj"):
                out[p + f"mlp.{name}.weight"] = getattr(layer, name).weight
        return {key: value.detach().float().contiguous() for key, value in out.items()}

    def load_hf_state_dict(self, tensors):
        own = self.hf_state_dict()
        if set(own) != set(tensors):
            raise ValueError(f"tensor names differ: missing {set(own) - set(tensors)}, extra {set(tensors) - set(own)}")
        with torch.no_grad():
            self.embed_tokens.weight.copy_(tensors["model.embed_tokens.weight"])
            self.norm.copy_(tensors["model.norm.weight"])
            for i, layer in enumerate(self.layers):
                p = f"model.layers.{i}."
                layer.input_layernorm.copy_(tensors[p + "input_layernorm.weight"])
                layer.post_attention_layernorm.copy_(tensors[p + "post_attention_layernorm.weight"])
                for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                    getattr(layer.self_attn, name).weight.copy_(tensors[p + f"self_attn.{name}.weight"])
                for name in ("gate_proj", "up_proj", "down_proj"):
                    getattr(layer, name).weight.copy_(tensors[p + f"mlp.{name}.weight"])


# The trainer's own token layout (pad 0, bos 1, eos 2, byte b at 3 + b) differs from the shipped
# tokenizer.json's (@pillow/core's: byte b at b, <s> 256, </s> 257, <pad> 258). With tied embeddings a
# permutation of the embedding rows converts one into the other exactly.
TRAINER_TO_SHIPPED_ROWS = [3 + b for b in range(256)] + [1, 2, 0]


def to_shipped_layout(tensors):
    out = dict(tensors)
    out["model.embed_tokens.weight"] = tensors["model.embed_tokens.weight"][TRAINER_TO_SHIPPED_ROWS].contiguous()
    return out


def to_trainer_layout(tensors):
    inverse = [0] * len(TRAINER_TO_SHIPPED_ROWS)
    for shipped, trainer in enumerate(TRAINER_TO_SHIPPED_ROWS):
        inverse[trainer] = shipped
    out = dict(tensors)
    out["model.embed_tokens.weight"] = tensors["model.embed_tokens.weight"][inverse].contiguous()
    return out


def write_safetensors(path, tensors, metadata=None):
    """Safetensors: u64 little-endian header length, JSON header, raw little-endian f32 data."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for blob in blobs:
            handle.write(blob)


def read_safetensors(path):
    import numpy

    with open(path, "rb") as handle:
        length = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(length))
        data = handle.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        tensors[name] = torch.from_numpy(numpy.frombuffer(data[start:end], dtype="<f4").copy()).view(info["shape"])
    return tensors
