"""Greedy answers of a tiny-model checkpoint to the prompts written by
`node scripts/tiny-model.mjs eval-prompts PROMPTS.jsonl` (zero-shot and few-shot per line).

usage: python3 generate_tiny_torch.py MODEL_DIR PROMPTS.jsonl ANSWERS.jsonl [--max-new-tokens 32]

MODEL_DIR is a shipped folder (written by @pillow/core's saveModel). Decodes with a KV cache and stops at the first newline (the suite's stop string) or </s>.
"""

import argparse
import json
import os

import torch

from tiny_llama_torch import Config, TinyLlama, read_safetensors, to_trainer_layout

BOS, EOS, BYTE_OFFSET = 1, 2, 3


@torch.no_grad()
def greedy(model, prompt, max_new_tokens):
    ids = [BOS] + [BYTE_OFFSET + b for b in prompt.encode("utf-8")]
    caches = [{} for _ in model.layers]
    logits = model(torch.tensor([ids]), 0, caches)
    position = len(ids)
    out = bytearray()
    for _ in range(max_new_tokens):
        token = int(logits[0, -1].argmax())
        if token == EOS or token < BYTE_OFFSET:
            break
        byte = token - BYTE_OFFSET
        if byte == 10:  # newline: the answer is one line
            break
        out.append(byte)
        if position >= model.config.max_position_embeddings:
            break
        logits = model(torch.tensor([[token]]), position, caches)
        position += 1
    return out.decode("utf-8", errors="replace")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("prompts")
    parser.add_argument("answers")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = Config(**json.load(open(os.path.join(args.model_dir, "config.json"))))
    model = TinyLlama(config)
    # The folder holds the shipped layout (see tiny_llama_torch.py); decode in the trainer's.
    model.load_hf_state_dict(to_trainer_layout(read_safetensors(os.path.join(args.model_dir, "model.safetensors"))))
    model.eval()
    with open(args.answers, "w") as out:
        for line in open(args.prompts):
            prompt = json.loads(line)
            answer = {"zeroShot": greedy(model, prompt["zeroShot"], args.max_new_tokens),
                      "fewShot": greedy(model, prompt["fewShot"], args.max_new_tokens)}
            out.write(json.dumps(answer) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
