"""Independent PyTorch reference for the shipped tiny model, for the `shippedModel` test.

usage: /usr/bin/python3 reference_tiny_model.py MODEL_DIR REFERENCE.json

Loads MODEL_DIR/model.safetensors (written by @pillow/core's saveModel, in the shipped tokenizer's
id layout) into the plain-PyTorch LLaMA of tiny_llama_torch.py and writes, for a few prompts, the
last-position logits and the greedy one-line continuation. @pillow/core's native runtime must
reproduce both: that checks the checkpoint and the runtime against code that shares nothing with them.
"""

import json
import os
import sys

import torch

from generate_tiny_torch import greedy
from tiny_llama_torch import TRAINER_TO_SHIPPED_ROWS, Config, TinyLlama, read_safetensors, to_trainer_layout

BOS = 1
BYTE_OFFSET = 3

PROMPTS = [
    "### Instruction:\nPluralize the word.\n### Input:\nwindow\n### Response:\n",
    "### Instruction:\nUse this number.\n### Input:\n41\n### Response:\n42\n\n"
    "### Instruction:\nUse this number.\n### Input:\n199\n### Response:\n",
    "### Instruction:\nChange these words.\n### Input:\nbig house\n### Response:\nbig_house\n\n"
    "### Instruction:\nChange these words.\n### Input:\nred car\n### Response:\n",
]


def main():
    model_dir, reference_file = sys.argv[1:3]
    torch.set_num_threads(1)
    config = Config(**json.load(open(os.path.join(model_dir, "config.json"))))
    model = TinyLlama(config)
    # tiny_llama_torch computes in its own token layout; permuting the tied embedding rows is exact.
    model.load_hf_state_dict(to_trainer_layout(read_safetensors(os.path.join(model_dir, "model.safetensors"))))
    model.eval()
    cases = []
    with torch.no_grad():
        for prompt in PROMPTS:
            ids = [BOS] + [BYTE_OFFSET + b for b in prompt.encode("utf-8")]
            last = model(torch.tensor([ids]))[0, -1]
            shipped_logits = last[TRAINER_TO_SHIPPED_ROWS]
            cases.append({
                "prompt": prompt,
                "lastLogits": [round(float(x), 6) for x in shipped_logits],
                "greedy": greedy(model, prompt, 16),
            })
    json.dump({"generator": "packages/suite/scripts/reference_tiny_model.py", "cases": cases}, open(reference_file, "w"), indent=1)
    print(f"wrote {reference_file} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
