#!/usr/bin/env python3
"""PyTorch peer for `pnpm bench core`: a plain-torch LLaMA (f32, same math as pillow's) with LoRA on
every linear layer, trained with torch.optim.AdamW on random tokens. Prints one JSON line:
{"train_tokens_per_second": ..., "threads": ...}.

Usage: python3 torch_lora_train.py HIDDEN INTERMEDIATE LAYERS HEADS VOCAB SEQ BATCH RANK STEPS THREADS
"""
import json
import math
import sys
import time

import torch

hidden, inter, layers, heads, vocab, seq, batch, rank, steps, threads = map(int, sys.argv[1:11])
torch.set_num_threads(threads)
torch.manual_seed(0)
head_dim = hidden // heads


class LoraLinear(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02, requires_grad=False)
        self.a = torch.nn.Parameter(torch.randn(rank, n_in) / math.sqrt(n_in))
        self.b = torch.nn.Parameter(torch.zeros(n_out, rank))
        self.scale = 2.0

    def forward(self, x):
        return x @ self.weight.T + (x @ self.a.T @ self.b.T) * self.scale


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = torch.nn.Parameter(torch.ones(hidden), requires_grad=False)
        self.n2 = torch.nn.Parameter(torch.ones(hidden), requires_grad=False)
        self.q, self.k, self.v, self.o = (LoraLinear(hidden, hidden) for _ in range(4))
        self.gate, self.up = LoraLinear(hidden, inter), LoraLinear(hidden, inter)
        self.down = LoraLinear(inter, hidden)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = rms(x, self.n1)
        q = self.q(h).view(B, T, heads, head_dim).transpose(1, 2)
        k = self.k(h).view(B, T, heads, head_dim).transpose(1, 2)
        v = self.v(h).view(B, T, heads, head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim) + mask, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, hidden))
        h = rms(x, self.n2)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))


embed = torch.randn(vocab, hidden) * 0.02
blocks = torch.nn.ModuleList(Block() for _ in range(layers))
norm = torch.ones(hidden)
inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
freqs = torch.arange(seq).float()[:, None] * inv[None, :]
emb = torch.cat((freqs, freqs), dim=-1)
cos, sin = emb.cos(), emb.sin()
mask = torch.full((seq, seq), float("-inf")).triu(1)
params = [p for p in blocks.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(params, lr=1e-4)
tokens = torch.randint(0, vocab, (batch, seq))


def step():
    x = embed[tokens]
    for block in blocks:
        x = block(x, cos, sin, mask)
    logits = rms(x, norm) @ embed.T
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


step()  # warm-up
started = time.perf_counter()
for _ in range(steps):
    step()
elapsed = time.perf_counter() - started
print(json.dumps({"train_tokens_per_second": batch * seq * steps / elapsed, "threads": threads}))
