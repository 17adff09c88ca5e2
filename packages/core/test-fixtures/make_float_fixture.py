# Writes float-reference.safetensors: the same values stored as F32, F16 and BF16, with PyTorch's own
# conversions beside them, so the TypeScript reader and converters are checked against PyTorch.
# The safetensors container is written by hand (json + struct) because the `safetensors` package is
# not installed here; run with Debian's python3 (python3-torch):  /usr/bin/python3 make_float_fixture.py
import json
import struct

import torch

torch.manual_seed(7)
special = torch.tensor(
    [0.0, -0.0, 1.0, -1.0, 0.5, 65504.0, 65520.0, 1e5, -1e5, 6.1e-5, 5.96e-8, 2.98e-8, 1e-9, 3.0e-7,
     float("inf"), float("-inf"), 1.00390625, 1.01171875, 1.0000001, 3.4e38, 1.17549435e-38, 1e-40],
    dtype=torch.float32,
)
values = torch.cat([special, torch.randn(200) * 3, torch.randn(100) * 1e-5, torch.rand(50) * 70000])

tensors = {
    "f32": values,
    "f16": values.to(torch.float16),
    "bf16": values.to(torch.bfloat16),
    # PyTorch's widening of each narrow format back to f32.
    "f16_as_f32": values.to(torch.float16).to(torch.float32),
    "bf16_as_f32": values.to(torch.bfloat16).to(torch.float32),
    # PyTorch's rounding of f32 and of f16 to bf16, as raw bits.
    "f32_to_bf16_bits": values.to(torch.bfloat16).view(torch.int16),
    "f16_to_bf16_bits": values.to(torch.float16).to(torch.bfloat16).view(torch.int16),
    "f32_to_f16_bits": values.to(torch.float16).view(torch.int16),
    "matrix_bf16": torch.randn(3, 4, 5).to(torch.bfloat16),
    "matrix_bf16_as_f32": torch.randn(0),  # replaced below
}
tensors["matrix_bf16_as_f32"] = tensors["matrix_bf16"].to(torch.float32)

dtype_names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int16: "I16"}
header = {"__metadata__": {"generator": "make_float_fixture.py", "torch": torch.__version__}}
chunks = []
offset = 0
for name, tensor in tensors.items():
    data = tensor.contiguous().view(torch.uint8).numpy().tobytes() if tensor.numel() > 0 else b""
    header[name] = {"dtype": dtype_names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
    chunks.append(data)
    offset += len(data)
header_bytes = json.dumps(header).encode()
header_bytes += b" " * ((8 - (8 + len(header_bytes)) % 8) % 8)
with open("float-reference.safetensors", "wb") as file:
    file.write(struct.pack("<Q", len(header_bytes)))
    file.write(header_bytes)
    for chunk in chunks:
        file.write(chunk)
print("wrote float-reference.safetensors,", offset, "data bytes")
