#!/usr/bin/env python3
"""PyTorch quality peer of `./shiftformer train`: the same model trained on the same split and tokens for a wall-time
budget, then greedy-decoded on the same held-out pairs, scored by the trainer's own metrics.

    ./shiftformer bench TrainPeer export gettext:/usr/share/locale/de/LC_MESSAGES,200 DIR --split-by catalog \\
        --test-size 1000 --validation-size 200 --vocab 4000 --preset small --test-sentences 1000
    python3 benchmarks/peers/torch_train_quality.py DIR SECONDS [--threads 2] [--batch 64] [--lr 2e-3] \\
        [--warmup 400] [--dropout 0.1] [--init shiftformer|standard] [--eval-every 200]
    ./shiftformer bench TrainPeer score DIR DIR/hyps.ids

A benchmark peer, never a dependency of shiftformer (CI does not install torch). `TrainPeer export` writes the
split and the token ids exactly as the trainer sees them (its BPE, its data specs), so both models learn from the
same tokens and are scored on the same held-out pairs by the same code (`TrainPeer score`).

* model: the preset of DIR/model.txt as `Seq2SeqModel` builds it (pre-LN encoder-decoder, final LayerNorms, ReLU
  FFN, biases on every linear, one embedding table tied between encoder input, decoder input and logits, the
  fixed sinusoid added to the embedding times 2^embed_scale_log2). `--init shiftformer` (the default) is
  `TransformerParams`'s init (embedding N(0, 1/d), Xavier-uniform linears, zero biases) with the preset's
  embed_scale_log2 from model.txt; `--init standard` scales the input embedding by sqrt(d) instead (Vaswani et
  al.; the same as shiftformer's for d 64 and 256, whose presets use 2^3 and 2^4). The query projection is the
  usual one, with 1/sqrt(d_k) outside the parameters; `--fold-q` stores log2(e)/sqrt(d_k) in W_Q and uses
  base-2 scores as SPEC.md does, without the trainer's matching learning rate for the queries (trainer/README.md,
  "Real language", shows what that costs).
* training: batches of `--batch` pairs (shuffled, sorted by length in windows of 50 batches, the windows'
  batches shuffled, as `BatchSampler`), key-padding masks on encoder and cross attention, causal decoder
  self-attention, dropout on the residual branches, label-smoothed (0.1) cross-entropy over the non-pad targets,
  global-norm clipping at 1.0, Adam (0.9, 0.98, eps 1e-9), `LrSchedule.warmupCosine`: linear warm-up over
  `--warmup` steps, then a cosine to 0 that follows the elapsed fraction of the time left after warm-up, so the
  run ends at its budget with lr 0 (with `--max-steps`, the fraction of steps instead, exactly as the trainer).
* scoring: greedy decoding of DIR/test.ids with the trainer's limit min(max_positions - 1, 2 * source + 8) new
  tokens, argmax over all ids but pad and BOS, written to DIR/hyps.ids for `TrainPeer score`.
"""
import argparse
import math
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_ids(path):
    pairs = []
    with open(path) as f:
        for line in f:
            s, t = line.rstrip("\n").split("\t")
            pairs.append(([int(x) for x in s.split()], [int(x) for x in t.split()] if t else []))
    return pairs


def linear(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Attention(nn.Module):
    FOLD_Q = False  # --fold-q: W_Q holds log2(e)/sqrt(d_k) and the scores are base-2 logits, as in TransformerParams

    def __init__(self, d, heads):
        super().__init__()
        self.d, self.heads = d, heads
        self.q, self.k, self.v, self.o = (linear(d, d) for _ in range(4))
        if Attention.FOLD_Q:
            with torch.no_grad():
                self.q.weight.mul_(math.log2(math.e) / math.sqrt(d // heads))

    def forward(self, x, memory, mask, causal):
        b, t, _ = x.shape
        s = memory.shape[1]
        h, dh = self.heads, self.d // self.heads
        q = self.q(x).view(b, t, h, dh).transpose(1, 2)
        k = self.k(memory).view(b, s, h, dh).transpose(1, 2)
        v = self.v(memory).view(b, s, h, dh).transpose(1, 2)
        scale = math.log(2.0) if Attention.FOLD_Q else None  # 2^s = e^(s ln 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None, scale=scale)
        return self.o(y.transpose(1, 2).reshape(b, t, self.d))


class Ffn(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.up, self.down = linear(d, ff), linear(ff, d)

    def forward(self, x):
        return self.down(F.relu(self.up(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.ln1, self.ln2, self.attn, self.ffn = nn.LayerNorm(d), nn.LayerNorm(d), Attention(d, heads), Ffn(d, ff)
        self.dropout = dropout

    def forward(self, h, mask):
        a = self.ln1(h)
        h = h + F.dropout(self.attn(a, a, mask, False), self.dropout, self.training)
        return h + F.dropout(self.ffn(self.ln2(h)), self.dropout, self.training)


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff, dropout):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn, self.cross, self.ffn = Attention(d, heads), Attention(d, heads), Ffn(d, ff)
        self.dropout = dropout

    def forward(self, g, memory, cross_mask):
        a = self.ln1(g)
        g = g + F.dropout(self.self_attn(a, a, None, True), self.dropout, self.training)
        g = g + F.dropout(self.cross(self.ln2(g), memory, cross_mask, False), self.dropout, self.training)
        return g + F.dropout(self.ffn(self.ln3(g)), self.dropout, self.training)


class Seq2Seq(nn.Module):
    def __init__(self, cfg, dropout, init):
        super().__init__()
        d = cfg["d_model"]
        self.cfg = cfg
        self.embed = nn.Parameter(torch.randn(cfg["vocab"], d) / math.sqrt(d))
        self.input_scale = math.sqrt(d) if init == "standard" else 2.0 ** cfg["embed_scale_log2"]
        n = cfg["max_positions"]
        pos = torch.arange(n, dtype=torch.float64)[:, None]
        div = torch.pow(10000.0, torch.arange(0, d, 2, dtype=torch.float64) / d)
        table = torch.zeros(n, d, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos / div), torch.cos(pos / div)
        self.register_buffer("positions", table.float())
        self.encoder = nn.ModuleList(EncoderLayer(d, cfg["heads"], cfg["d_ff"], dropout)
                                     for _ in range(cfg["encoder_layers"]))
        self.decoder = nn.ModuleList(DecoderLayer(d, cfg["heads"], cfg["d_ff"], dropout)
                                     for _ in range(cfg["decoder_layers"]))
        self.enc_final, self.dec_final = nn.LayerNorm(d), nn.LayerNorm(d)

    def embed_tokens(self, ids):
        return self.embed[ids] * self.input_scale + self.positions[: ids.shape[1]]

    def encode(self, src):
        mask = (src != self.cfg["pad"])[:, None, None, :]  # [B, 1, 1, S]: True = attend
        h = self.embed_tokens(src)
        for layer in self.encoder:
            h = layer(h, mask)
        return self.enc_final(h), mask

    def decode(self, memory, mask, dec_in):
        g = self.embed_tokens(dec_in)
        for layer in self.decoder:
            g = layer(g, memory, mask)
        return self.dec_final(g) @ self.embed.t()

    def forward(self, src, dec_in):
        memory, mask = self.encode(src)
        return self.decode(memory, mask, dec_in)


def pad(rows, value):
    n = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (n - len(r)) for r in rows], dtype=torch.long)


def batches(pairs, size, rnd):
    """BatchSampler's order: shuffle, sort windows of 50 batches by length, cut into batches, shuffle them."""
    order = list(range(len(pairs)))
    rnd.shuffle(order)
    out = []
    window = size * 50
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: (len(pairs[i][0]), len(pairs[i][1])))
        out.extend(chunk[i:i + size] for i in range(0, len(chunk), size))
    rnd.shuffle(out)
    return out


def tensors(pairs, idx, cfg):
    src = pad([pairs[i][0] for i in idx], cfg["pad"])
    dec_in = pad([[cfg["bos"]] + pairs[i][1] for i in idx], cfg["pad"])
    labels = pad([pairs[i][1] + [cfg["eos"]] for i in idx], cfg["pad"])
    return src, dec_in, labels


def loss_of(model, src, dec_in, labels, cfg, smoothing):
    logits = model(src, dec_in)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=cfg["pad"],
                           label_smoothing=smoothing)


@torch.no_grad()
def validation_loss(model, pairs, cfg, smoothing):
    model.eval()
    total = count = 0.0
    for i in range(0, len(pairs), 64):
        idx = list(range(i, min(i + 64, len(pairs))))
        src, dec_in, labels = tensors(pairs, idx, cfg)
        n = (labels != cfg["pad"]).sum().item()
        total += loss_of(model, src, dec_in, labels, cfg, smoothing).item() * n
        count += n
    model.train()
    return total / count


@torch.no_grad()
def greedy(model, pairs, cfg):
    model.eval()
    out = [None] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    for b in range(0, len(order), 64):
        idx = order[b:b + 64]
        src = pad([pairs[i][0] for i in idx], cfg["pad"])
        limits = [min(cfg["max_positions"] - 1, 2 * len(pairs[i][0]) + 8) for i in idx]
        memory, mask = model.encode(src)
        ys = torch.full((len(idx), 1), cfg["bos"], dtype=torch.long)
        done = [False] * len(idx)
        hyps = [[] for _ in idx]
        for step in range(max(limits)):
            logits = model.decode(memory, mask, ys)[:, -1, :]
            logits[:, cfg["pad"]] = -math.inf
            logits[:, cfg["bos"]] = -math.inf
            nxt = logits.argmax(-1)
            for j, tok in enumerate(nxt.tolist()):
                if done[j]:
                    continue
                if tok == cfg["eos"]:
                    done[j] = True
                else:
                    hyps[j].append(tok)
                    if len(hyps[j]) >= limits[j]:
                        done[j] = True
            if all(done):
                break
            ys = torch.cat([ys, nxt[:, None]], 1)
        for j, i in enumerate(idx):
            out[i] = hyps[j]
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--init", choices=["shiftformer", "standard"], default="shiftformer")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fold-q", action="store_true", help="W_Q scaled by log2(e)/sqrt(d_k) at init, base-2 scores")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps too (0: the budget only)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    rnd = random.Random(a.seed)
    cfg = {}
    with open(f"{a.dir}/model.txt") as f:
        for line in f:
            k, v = line.split()
            cfg[k] = int(v)
    train = read_ids(f"{a.dir}/train.ids")
    valid = read_ids(f"{a.dir}/valid.ids")
    test = read_ids(f"{a.dir}/test.ids")
    Attention.FOLD_Q = a.fold_q
    model = Seq2Seq(cfg, a.dropout, a.init)
    model.train()
    adam = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-9)
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}: {params:,} parameters, {len(train):,} training pairs, budget {a.seconds:.0f} s, "
          f"{a.threads} threads, batch {a.batch}, lr {a.lr} after {a.warmup} steps, init {a.init}", flush=True)
    start = time.perf_counter()
    step = tokens = 0
    warm_end = None  # seconds at the end of warm-up
    epoch = []
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= a.seconds or (a.max_steps and step >= a.max_steps):
            break
        if not epoch:
            epoch = batches(train, a.batch, rnd)
        idx = epoch.pop()
        # LrSchedule.warmupCosine: linear warm-up over steps 1..warmup, then a cosine from the end of warm-up to
        # the end of the run (the budget's time, or --max-steps) down to 0
        s1 = step + 1
        if s1 <= a.warmup:
            lr = a.lr * s1 / a.warmup
        else:
            if warm_end is None:
                warm_end = elapsed
            if a.max_steps:
                progress = (s1 - a.warmup) / max(1, a.max_steps - a.warmup)
            else:
                progress = (elapsed - warm_end) / max(1e-9, a.seconds - warm_end)
            lr = a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        for group in adam.param_groups:
            group["lr"] = lr
        src, dec_in, labels = tensors(train, idx, cfg)
        adam.zero_grad(set_to_none=True)
        loss = loss_of(model, src, dec_in, labels, cfg, a.smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        adam.step()
        step += 1
        tokens += (labels != cfg["pad"]).sum().item()
        if step % a.eval_every == 0:
            t = time.perf_counter() - start
            v = validation_loss(model, valid, cfg, a.smoothing)
            start += time.perf_counter() - start - t  # validation is not training time
            print(f"step {step}: {t:.0f} s, loss {loss.item():.4f}, lr {lr:.2e}, validation loss {v:.4f}, "
                  f"{tokens / t:.0f} target tokens/s", flush=True)
    wall = time.perf_counter() - start
    print(f"trained {step} steps in {wall:.0f} s ({tokens / wall:.0f} target tokens/s); validation loss "
          f"{validation_loss(model, valid, cfg, a.smoothing):.4f}", flush=True)
    t0 = time.perf_counter()
    hyps = greedy(model, test, cfg)
    with open(f"{a.dir}/hyps.ids", "w") as f:
        for h in hyps:
            f.write(" ".join(map(str, h)) + "\n")
    print(f"greedy decoding of {len(test)} test pairs: {time.perf_counter() - t0:.0f} s -> {a.dir}/hyps.ids")


if __name__ == "__main__":
    main()
