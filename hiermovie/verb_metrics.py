"""VidSitu verb prediction metrics (`vidsitu_code/evl_fns.py::EvlFn_Vb`), pure Python: used by the backbone's
verb finetuning and probe (stage 1) and by the verb task and `hiermovie evaluate` (stage 2).

Per clip and event, `hyp` is the model's top-5 verb ids (best first) and `gt` the verb ids of the (up to)
10 annotators of the event (notes `vidsitu.md` section 2.1):

- Acc@k (`acc1`, `acc5` = `Per_Ev_Top_1/5`): the event is a hit if any of hyp[:k] is any annotator's verb;
  mean over all clip-events.
- Per-video Acc@k (`per_video_acc1/5` = `Per_Vid_Top_1/5`): a clip is a hit if all its events are.
- Rec@5 (`rec5` = `recall_macro_1_th_9`): every verb chosen by >= 2 annotators of an event records whether
  it is in hyp[:5]; per verb the mean of its records, then the mean over the verbs with MORE than
  `recall_threshold` records (`rec5_verbs` of them).

When no verb qualifies, Rec@5 is undefined: `rec5` is NaN and `rec5_verbs` 0. (evl_fns' `get_avg` reports 0
there, which reads as "every verb missed".) `hiermovie evaluate` writes it as null, the tables as "-". This
happens with train-style references (one annotator per event, so no verb is ever chosen twice) and on
small valid subsets (`--partial`); only Acc@k is meaningful then.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

TOP_K = 5  # VidSitu keeps the top-5 predicted verbs
MAX_ANNOTATORS = 10  # and the first 10 annotators' verbs

Events = Mapping[str, Sequence[str]] | Sequence[Sequence[str]]


def _event_list(events: Events, what: str) -> list[Sequence[str]]:
    """A clip's events in order: a list as given, or a mapping read as Ev1, Ev2, ... (VidSitu's keys)."""
    if isinstance(events, Mapping):
        keys = [f"Ev{k}" for k in range(1, len(events) + 1)]
        if set(events) != set(keys):
            raise ValueError(f"{what}: event keys must be Ev1..Ev{len(events)}, got {sorted(events)}")
        return [events[key] for key in keys]
    return list(events)


def verb_metrics(
    predictions: Sequence[Events],
    references: Sequence[Events],
    recall_threshold: int = 9,
) -> dict[str, float]:
    """Acc@1, Acc@5, Rec@5 and per-video accuracy of verb predictions, as VidSitu's evaluation.

    Args:
        predictions: per clip, per event (list or {"Ev1": ..., ...}), the predicted verb ids, best first;
            only the first 5 are used.
        references: per clip, per event, the annotators' verb ids; only the first 10 are used.
        recall_threshold: Rec@5 averages the verbs with more than this many records (paper: 9).

    Returns:
        {"acc1", "acc5", "rec5", "rec5_verbs", "per_video_acc1", "per_video_acc5"}; accuracies in [0, 1],
        `rec5` NaN when no verb qualifies, `rec5_verbs` the number of verbs that did.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted clips but {len(references)} reference clips")
    if not predictions:
        raise ValueError("no clips to evaluate")

    event_hits = {1: [], 5: []}  # k -> hit per clip-event
    video_hits = {1: [], 5: []}  # k -> hit per clip (all events)
    verb_records: dict[str, list[bool]] = defaultdict(list)  # verb -> was it in the top 5, per event
    for clip, (pred_clip, ref_clip) in enumerate(zip(predictions, references, strict=True)):
        pred_events = _event_list(pred_clip, f"prediction {clip}")
        ref_events = _event_list(ref_clip, f"reference {clip}")
        if len(pred_events) != len(ref_events):
            raise ValueError(f"clip {clip}: {len(pred_events)} predicted events but {len(ref_events)} references")
        clip_hits = {1: [], 5: []}
        for pred, ref in zip(pred_events, ref_events, strict=True):
            if isinstance(pred, str) or isinstance(ref, str):
                raise ValueError(f"clip {clip}: each event needs a list of verb ids, not a string")
            hyp, gt = list(pred[:TOP_K]), list(ref[:MAX_ANNOTATORS])
            for k in clip_hits:
                clip_hits[k].append(not set(hyp[:k]).isdisjoint(gt))
            for verb, votes in Counter(gt).items():
                if votes >= 2:
                    verb_records[verb].append(verb in set(hyp))
        for k in clip_hits:
            event_hits[k].extend(clip_hits[k])
            video_hits[k].append(all(clip_hits[k]))

    recalls = [sum(records) / len(records) for records in verb_records.values() if len(records) > recall_threshold]
    return {
        "acc1": _mean(event_hits[1]),
        "acc5": _mean(event_hits[5]),
        "rec5": _mean(recalls),
        "rec5_verbs": float(len(recalls)),
        "per_video_acc1": _mean(video_hits[1]),
        "per_video_acc5": _mean(video_hits[5]),
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
