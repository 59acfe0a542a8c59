"""LEA coreference of VidSitu role fillers across a clip's events (`evl_fns.py` with the coval fork).

Notes `vidsitu.md` section 2.2. A mention is "{event}_{mapped role}" ("Ev1_Arg0") for every filler whose role
is evaluated, in the order of the event's `Args` object (`EventAnnotation.args`, as evl_fns walks it, not the
Arg_List order of the training target); an entity is the mentions of one exact text, texts in first-seen order.
Mentions are a list, as in `get_coref_dct_for_gt1`: two fillers of one event whose role names map to the same
role (two "ArgM (...)" names that `arg_mapper` both maps to ALoc) are two mentions with the same id, in one
entity or in two. coval assigns such an id to the last entity that holds it, so the `Args` order decides
which filler it stands for.

- key: the fillers of one reference annotation.
- system (`get_coref_dct_for_pred`): one mention per filler of that same reference whose mapped role the
  prediction has, with the prediction's phrase; or, for a prediction in annotation format (its Ev1 carries
  `Args`, as in a human-agreement run), the prediction's own `Args`, whatever roles the reference has.
"""

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from hiermovie.datasets.vidsitu import EVALUATED_ROLES, EVENTS, ClipAnnotation, arg_mapper

Mention = tuple[str, str]  # (mention id "Ev1_Arg0", text)
Entity = list[str]  # mention ids, a repeated id kept


def is_annotation_format(prediction: Mapping) -> bool:
    """evl_fns: a `vb_output` whose Ev1 carries `Args` is read as an annotation (human baselines)."""
    first = prediction.get("Ev1")
    return isinstance(first, Mapping) and "Args" in first


def _mentions(fillers: Iterable[tuple[str, str, str]]) -> list[Mention]:
    """(mention id, text) of the (event, mapped role, text) fillers whose role is evaluated, in order."""
    return [(f"{ev}_{role}", text) for ev, role, text in fillers if role in EVALUATED_ROLES]


def key_mentions(annotation: ClipAnnotation) -> list[Mention]:
    """The mentions of one reference annotation."""
    return _mentions((ev, filler.role, filler.text) for ev in EVENTS for filler in annotation.events[ev].args)


def system_mentions(prediction: Mapping, reference: ClipAnnotation) -> list[Mention]:
    """The mentions of a `vb_output` scored against `reference` (see the module docstring)."""
    if is_annotation_format(prediction):  # every event must then carry Args (evl_fns raises KeyError otherwise)
        fillers = ((ev, arg_mapper(name), text) for ev in EVENTS for name, text in prediction[ev]["Args"].items())
    else:  # a missing event predicts nothing here (evl_fns raises KeyError if the reference has roles there)
        fillers = (
            (ev, filler.role, prediction[ev][filler.role])
            for ev in EVENTS
            for filler in reference.events[ev].args
            if filler.role in prediction.get(ev, {})
        )
    return _mentions(fillers)


def role_clusters(mentions: Iterable[Mention]) -> list[Entity]:
    """Entities: the mention ids of each distinct text, texts in first-seen order."""
    clusters: dict[str, Entity] = {}
    for mention, text in mentions:
        clusters.setdefault(text, []).append(mention)
    return list(clusters.values())


def _lea_side(
    c_in: Sequence[Entity], c_out: Sequence[Entity], weights: Mapping[str, float] | None = None
) -> tuple[float, float]:
    """coval `lea(c_in, c_out, mention_to_gold)`, or `lea_soft` with per-mention `weights`: (num, den)."""
    # coval get_mention_assignments: a mention in several output entities is assigned the last one
    entity_of = {mention: index for index, entity in enumerate(c_out) for mention in entity}
    num = den = 0.0
    for entity in c_in:
        size = len(entity)
        if size == 1:  # a singleton is resolved if it is a singleton on the other side too
            links = 1
            common = int(entity[0] in entity_of and len(c_out[entity_of[entity[0]]]) == 1)
        else:  # pairs i < j, so a repeated id links to itself wherever it is assigned
            links = size * (size - 1) / 2
            common = sum(
                1
                for i, m1 in enumerate(entity)
                for m2 in entity[i + 1 :]
                if m1 in entity_of and entity_of[m1] == entity_of.get(m2)
            )
        if weights is None:
            num += size * common / links
            den += size
        else:  # lea_soft: the resolved share is scaled by the entity's summed weights, over size squared
            num += sum(weights[mention] for mention in entity) * size * common / links
            den += size * size
    return num, den


def lea(
    key: Sequence[Entity], system: Sequence[Entity], system_weights: Mapping[str, float] | None = None
) -> tuple[float, float, float, float]:
    """coval `Evaluator.update` of one document: (P_num, P_den, R_num, R_den).

    Precision resolves the system entities against the key, recall the key against the system; with
    `system_weights` (mention id -> weight) the precision is `lea_soft`'s, the recall stays LEA's.
    """
    p_num, p_den = _lea_side(system, key, system_weights)
    r_num, r_den = _lea_side(key, system)
    return p_num, p_den, r_num, r_den


def lea_f1(p_num: float, p_den: float, r_num: float, r_den: float) -> float:
    """coval `f1`: F1 of corpus-level precision and recall (0 where either is undefined or both are 0)."""
    precision = p_num / p_den if p_den else 0.0
    recall = r_num / r_den if r_den else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def srl_lea(
    predictions: Sequence[Mapping],
    references: Sequence[Sequence[ClipAnnotation]],
    item_ciders: Sequence[Mapping[str, float]],
) -> dict[str, float]:
    """VidSitu's `lea` and `lea_soft`: per reference g the corpus F1 over the clips, then the mean over g.

    Args:
        predictions: per scored clip, its `vb_output` ({"Ev1": {"Arg0": str, ...}, ...} or annotation format).
        references: per scored clip, its reference annotations (the seed-5 choice of `EvalFnCap`).
        item_ciders: per scored clip, mention id -> CIDEr of the scored item with that id (the last one, in
            `Args` order, where an id repeats, as evl_fns' `conv11` dict): `lea_soft` weighs each system
            mention by it; every system mention needs one (KeyError otherwise, as in evl_fns).
    """
    names = ("lea", "lea_soft")
    f1s: dict[str, list[float]] = {name: [] for name in names}
    for g_ix in range(len(references[0])):  # evl_fns: gt_max, the reference count of the first clip
        totals = {name: np.zeros(4) for name in names}
        for prediction, refs, ciders in zip(predictions, references, item_ciders, strict=True):
            if "Ev1" not in prediction:  # evl_fns skips clips whose prediction has no Ev1
                continue
            key = role_clusters(key_mentions(refs[g_ix]))
            mentions = system_mentions(prediction, refs[g_ix])
            system = role_clusters(mentions)
            # a system mention with no scored item (a role the first reference lacks) is a KeyError, as in
            # evl_fns (conv11[mention]); `srl_metrics` refuses such clips with a message first
            weights = {mention: ciders[mention] for mention, _ in mentions}
            totals["lea"] += lea(key, system)
            totals["lea_soft"] += lea(key, system, weights)
        for name in names:
            f1s[name].append(lea_f1(*totals[name]))
    return {name: float(sum(scores) / len(scores)) for name, scores in f1s.items()}  # evl_fns: sum(v) / len(v)
