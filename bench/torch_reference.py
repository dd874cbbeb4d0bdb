#!/usr/bin/python3
"""The default multimodal model of BENCHMARK.md in plain PyTorch: the yardstick
for qslaw's CPU training step (`./qslaw bench train-step`, bench/compare.sh).

Same sizes and computation as qslaw's `vision::make_llava` + one AdamW step:
ViT (64x64 images, patch 8, width 128, 4 layers, 4 heads; features are the
patch tokens of layer -2, so the last block never runs) -> mlp2x_gelu
projector -> LLaMA-style LLM (dim 256, 8 layers, 8 heads, SwiGLU 768, RoPE,
RMSNorm, untied head). Batch 16 of 64 image tokens + 64 text tokens, loss on
the text only, f32.

Modes:
  full   every parameter trains
  lora   LoRA r 16, alpha 32, dropout 0.05 on the 7 linears of every LLM block;
         projector trains; ViT and LLM frozen
  qslaw  LLM linears fake-quantized to 4 bits (group 64, min-max grid frozen);
         blocks with index > 1 learn one scale factor per group (METHOD.md);
         projector trains; everything else frozen

Prints one JSON line per run (ms/step, tokens/s, peak RSS, losses).
Run it with Debian's python (/usr/bin/python3) and an optimised BLAS
(libopenblas0-openmp): the reference BLAS is ~30x slower.
"""
import argparse
import ctypes
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def llama_hidden(dim):
    hidden = int(2 * 4 * dim / 3)
    return 256 * ((hidden + 255) // 256)


class Attention(nn.Module):
    def __init__(self, dim, heads, bias, causal, rope):
        super().__init__()
        self.heads, self.causal, self.rope = heads, causal, rope
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(dim, dim, bias=bias)
        self.v_proj = nn.Linear(dim, dim, bias=bias)
        self.o_proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x, cos=None, sin=None):
        b, t, d = x.shape
        h = self.heads
        q = self.q_proj(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k_proj(x).view(b, t, h, d // h).transpose(1, 2)
        v = self.v_proj(x).view(b, t, h, d // h).transpose(1, 2)
        if self.rope:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // h)
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        y = scores.softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, d))


def rope_tables(t, head_dim, theta=10000.0):
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
    freqs = torch.outer(torch.arange(t).float(), inv)
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    x1, x2 = x.chunk(2, -1)
    return x * cos + torch.cat([-x2, x1], -1) * sin


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class VitBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn_norm = nn.LayerNorm(width, eps=1e-5)
        self.attn = Attention(width, heads, bias=True, causal=False, rope=False)
        self.mlp_norm = nn.LayerNorm(width, eps=1e-5)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.attn(self.attn_norm(x))
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))


class Vit(nn.Module):
    def __init__(self, image=64, patch=8, width=128, layers=4, heads=4, select_layer=-2):
        super().__init__()
        self.patch, self.width = patch, width
        n = (image // patch) ** 2
        self.patch_embed = nn.Linear(3 * patch * patch, width, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * 0.02)
        self.position_embedding = nn.Parameter(torch.randn(n + 1, width) * 0.02)
        self.pre_norm = nn.LayerNorm(width, eps=1e-5)
        self.layers = nn.ModuleList(VitBlock(width, heads) for _ in range(layers))
        self.post_norm = nn.LayerNorm(width, eps=1e-5)
        self.blocks_run = layers + 1 + select_layer  # layer L is the output of block L - 1

    def features(self, images):
        b, c, h, w = images.shape
        p = self.patch
        x = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        x = self.patch_embed(x)
        x = torch.cat([self.class_embedding.expand(b, 1, -1), x], 1) + self.position_embedding
        x = self.pre_norm(x)
        for block in self.layers[: self.blocks_run]:
            x = block(x)
        return x[:, 1:]


class Projector(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_out)
        self.fc2 = nn.Linear(n_out, n_out)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class LlamaBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        hidden = llama_hidden(dim)
        self.attn_norm = RMSNorm(dim)
        self.attn = Attention(dim, heads, bias=False, causal=True, rope=True)
        self.mlp_norm = RMSNorm(dim)
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        h = self.mlp_norm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, vocab=2048, dim=256, layers=8, heads=8):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(LlamaBlock(dim, heads) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, embeds):
        t, d = embeds.shape[1], embeds.shape[2]
        cos, sin = rope_tables(t, d // self.heads)
        x = embeds
        for block in self.layers:
            x = block(x, cos, sin)
        return self.lm_head(self.norm(x))


class Llava(nn.Module):
    def __init__(self, dim, image_tokens=64):
        super().__init__()
        self.vision = Vit()
        self.projector = Projector(128, dim)
        self.llm = Llama(dim=dim)
        self.image_tokens = image_tokens
        self.vision_trains = True

    def forward(self, ids, images):
        if self.vision_trains:
            feats = self.vision.features(images)
        else:
            with torch.no_grad():
                feats = self.vision.features(images)
        # <image> holds the first image_tokens positions of every sample.
        text = self.llm.embed(ids[:, self.image_tokens:])
        return self.llm(torch.cat([self.projector(feats), text], 1))


class LoraLinear(nn.Module):
    def __init__(self, base, rank=16, alpha=32.0, dropout=0.05):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.dropout = nn.Dropout(dropout)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        return self.base(x) + (self.dropout(x) @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def round_ste(x):
    return (x.round() - x).detach() + x


class FakeQuantLinear(nn.Module):
    """4-bit group-wise min-max grid (s, z) frozen; with learn_alpha a per-group
    factor enters the rounding: q = clamp(round(w / (s alpha)) + z, 0, Q)."""

    def __init__(self, base, bits=4, group=64, learn_alpha=False):
        super().__init__()
        out, n_in = base.weight.shape
        q = 2 ** bits - 1
        w = base.weight.detach().reshape(out, n_in // group, group)
        lo, hi = w.amin(-1, keepdim=True), w.amax(-1, keepdim=True)
        s = ((hi - lo) / q).clamp(1e-5, 1e4)
        z = (-lo / s).round()
        self.q, self.shape = q, (out, n_in)
        self.register_buffer("s", s)
        self.register_buffer("z", z)
        if learn_alpha:
            self.register_buffer("w", w.clone())
            self.alpha = nn.Parameter(torch.ones_like(s))
        else:  # frozen: quantize once
            self.register_buffer("w_hat", ((torch.clamp(w.div(s).round() + z, 0, q) - z) * s).reshape(out, n_in))
            self.alpha = None

    def forward(self, x):
        if self.alpha is None:
            return F.linear(x, self.w_hat)
        codes = torch.clamp(round_ste(self.w / (self.s * self.alpha)) + self.z, 0, self.q)
        return F.linear(x, ((codes - self.z) * self.s).reshape(self.shape))


LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def block_linears(block):
    for name in LINEARS:
        owner = block.attn if name in ("q_proj", "k_proj", "v_proj", "o_proj") else block
        yield owner, name


def build(mode, dim, start_layer=1):
    torch.manual_seed(0)
    model = Llava(dim)
    if mode == "full":
        return model
    model.requires_grad_(False)
    model.vision_trains = False
    for block_index, block in enumerate(model.llm.layers):
        for owner, name in block_linears(block):
            base = getattr(owner, name)
            if mode == "lora":
                setattr(owner, name, LoraLinear(base))
            elif mode == "qslaw":
                setattr(owner, name, FakeQuantLinear(base, learn_alpha=block_index > start_layer))
            else:
                raise SystemExit(f"unknown mode '{mode}' (expected full, lora or qslaw)")
    model.projector.requires_grad_(True)
    return model


def synthetic_batch(batch, text_tokens, vocab=2048, image_tokens=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    t = image_tokens + text_tokens
    ids = torch.full((batch, t), 3, dtype=torch.long)
    ids[:, image_tokens:] = torch.randint(4, vocab, (batch, text_tokens), generator=g)
    targets = torch.full((batch, t), -100, dtype=torch.long)
    targets[:, image_tokens:-1] = ids[:, image_tokens + 1:]
    images = torch.randn(batch, 3, 64, 64, generator=g)
    return ids, targets.reshape(-1), images


def blas_library():
    """The BLAS libraries the process loaded, and OpenBLAS's kernel choice."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line or "lapack" in line}
    libs = sorted(lib for lib in libs if lib.endswith(".so") or ".so." in lib)
    core = "?"
    for lib in libs:
        if "openblas" in lib:
            try:
                get = ctypes.CDLL(lib).openblas_get_corename
                get.restype = ctypes.c_char_p
                core = get().decode()
            except (OSError, AttributeError):
                pass
    return libs + [f"OpenBLAS core: {core}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="full", choices=["full", "lora", "qslaw"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128, help="tokens per sample: 64 image + (seq - 64) text")
    ap.add_argument("--dim", type=int, default=256, help="LLM width")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--check", action="store_true", help="train on the fixed batch and require the loss to fall")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.mode, args.dim)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    ids, targets, images = synthetic_batch(args.batch, args.seq - 64)
    losses = []

    def step():
        logits = model(ids, images)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    if args.check:
        for g in opt.param_groups:
            g["lr"] = 1e-3
        for _ in range(args.steps):
            step()
        ok = losses[-1] < 0.97 * losses[0]  # 3%: the frozen modes train few parameters
        print(json.dumps({"impl": "torch", "mode": args.mode, "check": ok, "losses": losses}))
        sys.exit(0 if ok else 1)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    tokens = args.batch * args.seq
    print(json.dumps({
        "impl": "torch", "mode": args.mode, "threads": args.threads, "batch": args.batch, "seq": args.seq,
        "dim": args.dim, "ms_per_step": median * 1e3, "tokens_per_s": tokens / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable": sum(p.numel() for p in trainable), "loss_first": losses[0], "loss_last": losses[-1],
        "torch": torch.__version__, "blas": blas_library()}))


if __name__ == "__main__":
    main()
