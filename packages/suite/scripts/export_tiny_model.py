"""Writes the trainer's checkpoint as the shipped model and a PyTorch reference for @pillow/core.

usage: python3 export_tiny_model.py TRAINER_DIR MODEL_DIR REFERENCE.json

TRAINER_DIR/model.safetensors (trainer token layout) -> MODEL_DIR/model.safetensors (the shipped
tokenizer's layout, f32). REFERENCE.json holds, for a few prompts, PyTorch's last-position logits and
greedy continuation, so a test can check that @pillow/core's native runtime computes the same model.
"""

import json
import os
import sys

import torch

from generate_tiny_torch import greedy
from tiny_llama_torch import Config, TinyLlama, read_safetensors, to_shipped_layout, write_safetensors

BOS = 1
BYTE_OFFSET = 3

PROMPTS = [
    "### Instruction:\nPluralize the word.\n### Input:\nwindow\n### Response:\n",
    "### Instruction:\nGive the result.\n### Input:\n12 + 30\n### Response:\n42\n\n"
    "### Instruction:\nGive the result.\n### Input:\n7 + 5\n### Response:\n",
]


def main():
    trainer_dir, model_dir, reference_file = sys.argv[1:4]
    torch.set_num_threads(1)
    trainer_tensors = read_safetensors(os.path.join(trainer_dir, "model.safetensors"))
    write_safetensors(os.path.join(model_dir, "model.safetensors"), to_shipped_layout(trainer_tensors), {"format": "pt"})
    config = Config(**json.load(open(os.path.join(model_dir, "config.json"))))
    model = TinyLlama(config)
    model.load_hf_state_dict(trainer_tensors)
    model.eval()
    cases = []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = [BOS] + [BYTE_OFFSET + b for b in prompt.encode("utf-8")]
            last = model(torch.tensor([ids]))[0, -1]
            # Report logits in the shipped layout: shipped id i is trainer row TRAINER_TO_SHIPPED_ROWS[i].
            shipped_logits = last[[3 + b for b in range(256)] + [1, 2, 0]]
            cases.append({
                "prompt": prompt,
                "lastLogits": [round(float(x), 6) for x in shipped_logits],
                "greedy": greedy(model, prompt, 16),
            })
    json.dump({"generator": "packages/suite/scripts/export_tiny_model.py", "cases": cases}, open(reference_file, "w"), indent=1)
    print(f"wrote {model_dir}/model.safetensors and {reference_file}")


if __name__ == "__main__":
    main()
