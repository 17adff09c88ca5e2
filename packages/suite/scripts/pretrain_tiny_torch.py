"""Pretrains the tiny model on the corpus written by `node scripts/tiny-model.mjs corpus`.

usage: python3 pretrain_tiny_torch.py CORPUS.jsonl OUT_DIR --steps N [--seed S] [--batch B] [--lr LR]

Byte-level tokens (id = 3 + byte, <pad>=0, <s>=1, </s>=2), one document per row, BOS first. Loss is
cross-entropy on every answer token (weight 1) and on the rest of the text (weight 0.1, so the
template and inputs are still modelled but capacity goes to answering). AdamW, linear warm-up then
cosine decay to 10 %, gradient clipping at 1.0. Writes OUT_DIR/model.safetensors and a log.
"""

import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from tiny_llama_torch import Config, TinyLlama, write_safetensors

PAD, BOS, EOS, BYTE_OFFSET = 0, 1, 2, 3


def encode(document):
    data = document["text"].encode("utf-8")
    ids = [BOS] + [BYTE_OFFSET + b for b in data]
    weights = [0.1] * len(ids)
    for start, end in document["answerSpans"]:
        for position in range(start, end):
            weights[position + 1] = 1.0  # +1: BOS shifts every byte by one
    return ids, weights


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("out_dir")
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--micro-batch", type=int, default=4,
                        help="rows per forward/backward; gradients accumulate over the batch (smaller "
                             "activations stay in the malloc heap instead of fresh mmap pages)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--time-budget-s", type=float, default=0,
                        help="also end (with the schedule fully decayed) when this much wall-clock time has passed")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    config_fields = json.load(open(args.config))
    config = Config(**config_fields)
    model = TinyLlama(config)
    model.init_weights(torch.Generator().manual_seed(args.seed))

    documents = [encode(json.loads(line)) for line in open(args.corpus)]
    longest = max(len(ids) for ids, _ in documents)
    if longest > config.max_position_embeddings:
        raise SystemExit(f"{args.corpus}: a document has {longest} tokens > max_position_embeddings")
    order = list(range(len(documents)))
    rng.shuffle(order)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )

    started = time.time()

    def progress_at(step):
        # Fraction of the run done: by steps, or by wall-clock time when a budget is set and the
        # machine is slower than planned (so the schedule still decays fully before the budget ends).
        by_steps = (step - args.warmup) / max(1, args.steps - args.warmup)
        by_time = (time.time() - started) / args.time_budget_s if args.time_budget_s > 0 else 0
        return min(1.0, max(by_steps, by_time))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_at(step))))

    os.makedirs(args.out_dir, exist_ok=True)
    log = open(os.path.join(args.out_dir, "train_log.jsonl"), "a")
    cursor = 0
    tokens_seen = 0
    for step in range(args.steps):
        if step >= args.warmup and progress_at(step) >= 1.0:
            break
        # Bucket by length: take 4 batches' worth, sort, keep one contiguous run (less padding).
        pool = []
        for _ in range(args.batch * 4):
            pool.append(documents[order[cursor % len(order)]])
            cursor += 1
        pool.sort(key=lambda doc: len(doc[0]))
        start = rng.randrange(4) * args.batch
        batch = pool[start:start + args.batch]
        length = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), length), PAD, dtype=torch.long)
        weights = torch.zeros((len(batch), length))
        for row, (doc_ids, doc_weights) in enumerate(batch):
            ids[row, : len(doc_ids)] = torch.tensor(doc_ids)
            weights[row, : len(doc_weights)] = torch.tensor(doc_weights)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        optimizer.zero_grad()
        target_weights = weights[:, 1:]
        total_weight = target_weights.sum()
        answer_mask = (target_weights == 1.0).float()
        loss_sum = 0.0
        answer_loss_sum = 0.0
        for first in range(0, len(batch), args.micro_batch):
            rows = slice(first, first + args.micro_batch)
            micro_ids = ids[rows]
            used = int((micro_ids != PAD).sum(dim=1).max())  # trim this micro-batch's own padding
            logits = model(micro_ids[:, : used - 1])
            losses = F.cross_entropy(logits.reshape(-1, config.vocab_size), micro_ids[:, 1:used].reshape(-1),
                                     reduction="none")
            micro_weights = target_weights[rows, : used - 1].reshape(-1)
            micro_loss = (losses * micro_weights).sum() / total_weight
            micro_loss.backward()
            loss_sum += micro_loss.item()
            answer_loss_sum += (losses.detach() * answer_mask[rows, : used - 1].reshape(-1)).sum().item()
        loss = torch.tensor(loss_sum)
        answer_loss = torch.tensor(answer_loss_sum / answer_mask.sum().item())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens_seen += int((ids != PAD).sum())
        record = {"step": step + 1, "loss": round(loss.item(), 4), "answer_loss": round(answer_loss.item(), 4),
                  "lr": lr_at(step), "tokens": tokens_seen, "elapsed_s": round(time.time() - started, 1)}
        log.write(json.dumps(record) + "\n")
        log.flush()
        if (step + 1) % 10 == 0:
            print(json.dumps(record), flush=True)
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps or progress_at(step + 1) >= 1.0:
            tmp = os.path.join(args.out_dir, "model.safetensors.tmp")
            write_safetensors(tmp, model.hf_state_dict(), {"format": "pt", "step": str(step + 1)})
            os.replace(tmp, os.path.join(args.out_dir, "model.safetensors"))
            json.dump({**record, "seed": args.seed, "batch": args.batch, "peak_lr": args.lr, "warmup": args.warmup,
                       "planned_steps": args.steps, "time_budget_s": args.time_budget_s,
                       "documents": len(documents)},
                      open(os.path.join(args.out_dir, "train_state.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
