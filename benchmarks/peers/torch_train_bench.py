#!/usr/bin/env python3
"""PyTorch peer of the trainer's TrainBench: float training steps of the same model on the same shape.

    python3 benchmarks/peers/torch_train_bench.py [THREADS] [STEPS] [WARMUP]   # like TrainBench THREADS STEPS WARMUP

A benchmark peer, never a dependency of shiftformer (CI does not install torch). It mirrors
trainer/src/test/java/org/shiftformer/trainer/train/TrainBench.java step for step:

* model: SPEC.md's `small` preset with vocabulary 1000 (d 256, 4 heads, FFN 1024, 3 + 3 layers): pre-LN
  encoder-decoder, a final LayerNorm after each stack, ReLU FFN, sinusoidal positions added to the
  embedding times 2^4 (embed_scale_log2 of the preset), one embedding table tied between encoder input,
  decoder input and output logits, biases on every linear; init as TransformerParams (embedding
  N(0, 1/d), Xavier-uniform linears, zero biases, LayerNorm eps 1e-5);
* data: one fixed batch of 64 pairs, source 23 random ids in [3, 1000) + EOS (length 24), target 23
  random ids: decoder input BOS + target, labels target + EOS (24 target tokens a pair, 1,536 a step);
* step: forward with dropout 0.1 on each residual branch (none on attention weights, as in
  FloatNumerics.training), cross-entropy with label smoothing 0.1, backward, global-norm clipping at 1.0,
  Adam (betas 0.9 / 0.98, eps 1e-9, no weight decay, lr 1e-4): AdamW.standard;
* timing: WARMUP warm-up steps (default 5, as TrainBench), then STEPS measured ones; wall time and process CPU time (all threads) per step,
  target tokens/s and GFLOP/s with TrainBench's count (6 x the forward multiply-adds).

Attention is torch's fused scaled_dot_product_attention (causal in decoder self-attention; the batch has no
padding, so no key mask). Set threads with the argument (torch.set_num_threads; one inter-op thread).
"""
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D, HEADS, FF, ENC, DEC, VOCAB, EMBED_SCALE_LOG2 = 256, 4, 1024, 3, 3, 1000, 4
BATCH, LENGTH, DROPOUT, SMOOTHING = 64, 24, 0.1, 0.1
PAD, BOS, EOS = 0, 1, 2


def linear(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (linear(D, D) for _ in range(4))

    def forward(self, x, memory, causal):
        b, t, _ = x.shape
        s = memory.shape[1]
        q = self.q(x).view(b, t, HEADS, D // HEADS).transpose(1, 2)
        k = self.k(memory).view(b, s, HEADS, D // HEADS).transpose(1, 2)
        v = self.v(memory).view(b, s, HEADS, D // HEADS).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.o(y.transpose(1, 2).reshape(b, t, D))


class Ffn(nn.Module):
    def __init__(self):
        super().__init__()
        self.up, self.down = linear(D, FF), linear(FF, D)

    def forward(self, x):
        return self.down(F.relu(self.up(x)))


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2, self.attn, self.ffn = nn.LayerNorm(D), nn.LayerNorm(D), Attention(), Ffn()

    def forward(self, h):
        a = self.ln1(h)
        h = h + F.dropout(self.attn(a, a, False), DROPOUT, self.training)
        return h + F.dropout(self.ffn(self.ln2(h)), DROPOUT, self.training)


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.self_attn, self.cross, self.ffn = Attention(), Attention(), Ffn()

    def forward(self, g, memory):
        a = self.ln1(g)
        g = g + F.dropout(self.self_attn(a, a, True), DROPOUT, self.training)
        g = g + F.dropout(self.cross(self.ln2(g), memory, False), DROPOUT, self.training)
        return g + F.dropout(self.ffn(self.ln3(g)), DROPOUT, self.training)


class Seq2Seq(nn.Module):
    def __init__(self, max_positions=256):
        super().__init__()
        self.embed = nn.Parameter(torch.randn(VOCAB, D) / math.sqrt(D))
        pos = torch.arange(max_positions, dtype=torch.float64)[:, None]
        div = torch.pow(10000.0, torch.arange(0, D, 2, dtype=torch.float64) / D)
        table = torch.zeros(max_positions, D, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos / div), torch.cos(pos / div)
        self.register_buffer("positions", table.float())  # not trained, as in TransformerParams
        self.encoder = nn.ModuleList(EncoderLayer() for _ in range(ENC))
        self.decoder = nn.ModuleList(DecoderLayer() for _ in range(DEC))
        self.enc_final, self.dec_final = nn.LayerNorm(D), nn.LayerNorm(D)

    def embed_tokens(self, ids):
        return self.embed[ids] * 2 ** EMBED_SCALE_LOG2 + self.positions[: ids.shape[1]]

    def forward(self, src, dec_in):
        h = self.embed_tokens(src)
        for layer in self.encoder:
            h = layer(h)
        memory = self.enc_final(h)
        g = self.embed_tokens(dec_in)
        for layer in self.decoder:
            g = layer(g, memory)
        return self.dec_final(g) @ self.embed.t()


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(7)
    src = torch.randint(3, VOCAB, (BATCH, LENGTH))
    src[:, -1] = EOS
    tgt = torch.randint(3, VOCAB, (BATCH, LENGTH - 1))
    dec_in = torch.cat([torch.full((BATCH, 1), BOS), tgt], 1)
    labels = torch.cat([tgt, torch.full((BATCH, 1), EOS)], 1)
    model = Seq2Seq()
    model.train()
    adam = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    params = sum(p.numel() for p in model.parameters())
    d, ff, s, t = D, FF, LENGTH, LENGTH
    macs = BATCH * (s * ENC * (4 * d * d + 2 * d * ff + 2 * s * d)
                    + t * DEC * (4 * d * d + 2 * d * d + 2 * d * ff + 2 * t * d + 2 * s * d)
                    + s * DEC * 2 * d * d + t * VOCAB * d)
    flops = 6 * macs
    tokens = BATCH * LENGTH
    print(f"torch {torch.__version__} small preset, vocab {VOCAB}, batch {BATCH}, length {LENGTH}, {threads} threads, "
          f"{params / 1e6:.2f} M params, {flops / 1e9:.1f} GFLOP/step")
    wall_sum = cpu_sum = 0.0
    walls = []
    for i in range(steps + warmup):
        c0, t0 = time.process_time(), time.perf_counter()
        adam.zero_grad(set_to_none=True)
        logits = model(src, dec_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=PAD,
                               label_smoothing=SMOOTHING)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        adam.step()
        t3, cpu = time.perf_counter(), time.process_time() - c0
        sec = t3 - t0
        if i >= warmup:
            wall_sum += sec
            cpu_sum += cpu
            walls.append(sec)
        print(f"float {'warm-up' if i < warmup else 'measured'} step {i}: loss {loss.item():.4f}, {sec * 1e3:.0f} ms "
              f"(forward {(t1 - t0) * 1e3:.0f}, backward {(t2 - t1) * 1e3:.0f}, adam {(t3 - t2) * 1e3:.0f}), "
              f"{tokens / sec:.0f} target tokens/s, {flops / sec / 1e9:.1f} GFLOP/s; {cpu:.2f} CPU s")
    print(f"float: mean of {steps} measured steps: {tokens * steps / wall_sum:.0f} target tokens/s wall, "
          f"{flops * steps / wall_sum / 1e9:.1f} GFLOP/s wall; {tokens * steps / cpu_sum:.0f} target tokens per "
          f"CPU-second, {flops * steps / cpu_sum / 1e9:.1f} GFLOP per CPU-second; "
          f"median step {tokens / statistics.median(walls):.0f} target tokens/s")


if __name__ == "__main__":
    main()
