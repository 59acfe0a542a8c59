"""TxD greedy decoding, side by side: the plain forward over the whole prefix at every step (what beam search
uses) against the key/value cache (`TxDCache`, what greedy decoding uses), on the same model and memory.

    python bench/bench_txd_decoding.py [--profile tiny|paper] [--sequences 200] [--length 41]

Every sequence runs to `length` tokens (no eos), the worst case of one epoch's predictions on the demo's valid
split (40 clips x 5 events, `max_text_len` 40 + bos). Both must generate the same tokens. Each timing is the
median of a few repeats; the ratio is the number to read (machines are noisy).
"""

import argparse

import torch
from timing import timed

from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.decoding import greedy_decode
from hiermovie.tasks.models import TxDCache, create_txd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(TASK_PROFILES), default="tiny")
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--length", type=int, default=41)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = TASK_PROFILES[args.profile]
    vocab = config.bpe_vocab
    torch.manual_seed(0)
    txd = create_txd(config, vocab, pad_id=0).eval()
    memory = torch.randn(args.sequences, 1, config.decoder_dim)  # (B, 1, H): one event vector per sequence
    prefix = torch.stack([torch.full((args.sequences,), 1), torch.randint(3, vocab, (args.sequences,))], 1)
    never = -1  # no eos: every sequence decodes to the full length

    def plain(tokens, rows):
        return txd(tokens, memory[rows])[:, -1]  # (B', vocab)

    with torch.no_grad():
        plain_s, plain_tokens = timed(lambda: greedy_decode(plain, prefix, args.length, never, 0), args.repeats)
        cached_s, cached_tokens = timed(
            lambda: greedy_decode(TxDCache(txd, memory, args.length), prefix, args.length, never, 0), args.repeats
        )
    same = torch.equal(plain_tokens, cached_tokens)
    print(
        f"TxD greedy decoding ({args.profile}: {config.decoder_layers} layers, width {config.decoder_dim}), "
        f"{args.sequences} sequences x {args.length} tokens, {torch.get_num_threads()} threads"
    )
    print(f"  plain forward per step : {plain_s:.3f} s")
    print(f"  key/value cache        : {cached_s:.3f} s")
    print(f"  plain / cached         : {plain_s / cached_s:.1f}x   (same tokens: {same})")
    if not same:
        raise SystemExit("the cached decoding generated other tokens than the plain forward")


if __name__ == "__main__":
    main()
