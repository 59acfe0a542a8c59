"""What decides a relation in the benchmark's VidSitu clips: the verb pair, or the cast link too?

From the stories (rebuilt from the benchmark's `synth.json`, true relations, no annotator noise), over the
pairs (Ev1, Ev2, Ev4, Ev5 with Ev3) of the scored valid clips:
- verb pair lookup: the majority relation of each (earlier verb, later verb) on train, NoRel for a pair
  train never saw; its Mean-Acc (macro over the 4 classes) and Top-1 on valid;
- cast link: of the valid pairs whose verbs match a grammar rule, how many the link turns into NoRel.
With `--caches OUT`, also writes the full oracle cache and one per `ORACLE_PARTS` entry under OUT, for

    hiermovie task relation --cache OUT/<part> --data BENCHMARK --rows features,scratch --profile tiny ...

    python bench/bench_relation_parts.py --benchmark runs/eval/data [--caches runs/eval/oracle_parts]
"""

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from hiermovie.datasets.synth.lvu_part import make_movies, youtube_ids
from hiermovie.datasets.synth.oracle import ORACLE_PARTS, benchmark_stories, write_oracle_cache
from hiermovie.datasets.synth.story import Event, relation_between
from hiermovie.datasets.synth.vidsitu_part import make_clips
from hiermovie.datasets.synth.world import RELATION_RULES
from hiermovie.datasets.vidsitu import RELATIONS

PAIRS = ((0, 2), (1, 2), (2, 3), (2, 4))  # (earlier, later) events of Ev1, Ev2, Ev4, Ev5 with Ev3


def split_pairs(clips) -> list[tuple[Event, Event, str]]:
    """(earlier event, later event, true relation) of every clip's 4 pairs."""
    return [
        (c.story.events[a], c.story.events[b], relation_between(c.story.events[a], c.story.events[b]))
        for c in clips
        for a, b in PAIRS
    ]


def accuracies(predicted: list[str], gold: list[str]) -> tuple[float, float]:
    """(Mean-Acc over the classes present, Top-1), in %."""
    hits = np.array(predicted) == np.array(gold)
    per_class = [hits[np.array(gold) == c].mean() for c in RELATIONS if c in gold]
    return 100 * float(np.mean(per_class)), 100 * float(hits.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--caches", type=Path, help="write the oracle part caches here")
    args = parser.parse_args()
    config, _ = benchmark_stories(args.benchmark)
    movies = make_movies(config.seed, config.lvu_movies, config.fps, config.lvu_seconds, config.hard_prob)
    clips = make_clips(config, youtube_ids(movies))
    train = split_pairs(clips["train"])
    valid = split_pairs(clips["valid"][config.lvu_overlap_clips :])  # the tasks score valid without LVU's clips
    votes: dict[tuple[str, str], Counter] = {}
    for earlier, later, relation in train:
        votes.setdefault((earlier.verb_id, later.verb_id), Counter())[relation] += 1
    lookup = {pair: counts.most_common(1)[0][0] for pair, counts in votes.items()}
    gold = [relation for *_, relation in valid]
    predicted = [lookup.get((a.verb_id, b.verb_id), "NoRel") for a, b, _ in valid]
    ruled = {(rule.earlier, rule.later) for rule in RELATION_RULES}
    matched = [relation for a, b, relation in valid if (a.verb_id, b.verb_id) in ruled]
    print(f"{config.size} benchmark, seed {config.seed}: {len(train)} train, {len(valid)} valid pairs {Counter(gold)}")
    mean_acc, top1 = accuracies(predicted, gold)
    print(f"verb pair lookup fit on train, on valid: Mean-Acc {mean_acc:.1f}, Top-1 {top1:.1f}")
    broken = matched.count("NoRel")
    print(f"verbs match a rule: {len(matched)} valid pairs; the cast link makes {broken} of them NoRel")
    print(f"({100 * broken / len(matched):.1f}% of them, {100 * broken / len(valid):.1f}% of all valid pairs)")
    if args.caches:
        write_oracle_cache(args.benchmark, args.caches / "full")
        for name, parts in ORACLE_PARTS.items():
            write_oracle_cache(args.benchmark, args.caches / name.replace(" ", "_"), parts=parts)
        print(f"oracle caches in {args.caches}: full, " + ", ".join(n.replace(" ", "_") for n in ORACLE_PARTS))


if __name__ == "__main__":
    main()
