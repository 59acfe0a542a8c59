"""The three VidSitu tasks on cached event tokens (paper sec. 4), each as: labels from the train split,
a model on an event encoder, a training loss, predictions on valid in VidSitu's own format, the
official metric that picks the best epoch (`selection`, each epoch; VidSitu selects on valid as well)
and all the official metrics (`score`, `vidsitu_eval`).

- `VerbTask` (Table 4): verb logits per event; Acc@1 selects.
- `RoleTask` (Table 1): TxD generates "<Arg0> ... <Arg1> ..." after the given verb; CIDEr selects.
- `RelationTask` (Table 3): relation of each event pair with Ev3; Mean-Acc (Macro_Top_1) selects.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hiermovie.datasets.vidsitu import EVENTS, RELATIONS
from hiermovie.tasks.config import TaskConfig
from hiermovie.tasks.decoding import beam_decode, greedy_decode
from hiermovie.tasks.losses import sequence_cross_entropy
from hiermovie.tasks.models import (
    EventEncoder,
    TxDCache,
    create_relation_classifier,
    create_role_captioner,
    create_verb_classifier,
)
from hiermovie.tasks.text import train_role_tokenizer
from hiermovie.tasks.vidsitu_data import (
    EventFeatures,
    event_roles,
    relation_labels,
    training_verbs,
    verb_vocabulary,
)
from hiermovie.tasks.vidsitu_eval import (
    NUM_REFS,
    relation_metrics,
    srl_cider,
    srl_metrics,
    verb_prediction_metrics,
)

TOP_K = 5  # VidSitu keeps the top-5 verbs per event


class VerbTask:
    """Verb prediction: cross-entropy on each event's training verb over the train-verb vocabulary."""

    name, select = "verb", "acc1"

    def __init__(self, train: EventFeatures, valid: EventFeatures, config: TaskConfig, device: torch.device):
        self.train, self.valid, self.config = train, valid, config
        self.vocabulary = verb_vocabulary(train.clips)
        index = {verb: i for i, verb in enumerate(self.vocabulary)}
        labels = [[index[verb] for verb in training_verbs(clip)] for clip in train.clips]
        self.labels = torch.tensor(labels, device=device)  # (C, 5)
        self.train_features, self.valid_features = train.features.to(device), valid.features.to(device)

    def build(self, encoder: EventEncoder) -> nn.Module:
        return create_verb_classifier(encoder, len(self.vocabulary), self.config)

    def loss(self, model: nn.Module, rows: Tensor) -> Tensor:
        logits = model(self.train_features[rows])  # (B, 5, verbs)
        return F.cross_entropy(logits.flatten(0, 1).float(), self.labels[rows].flatten())

    def predict(self, model: nn.Module) -> list[dict]:
        """VidSitu `vb` entries: per event the top-5 verb ids and their probabilities."""
        probabilities = model(self.valid_features).float().softmax(-1)  # (C, 5, verbs)
        scores, top = probabilities.topk(min(TOP_K, len(self.vocabulary)), dim=-1)  # (C, 5, 5)
        entries = [
            {
                "ann_idx": clip.ann_idx,
                "pred_vbs_ev": [[self.vocabulary[i] for i in event] for event in top[c].tolist()],
                "pred_scores_ev": scores[c].tolist(),
            }
            for c, clip in enumerate(self.valid.clips)
        ]
        return self.valid.scored(entries)

    def score(self, predictions: list[dict]) -> dict[str, float]:
        return verb_prediction_metrics(predictions, self.valid.clips, partial=bool(self.valid.excluded))

    def selection(self, predictions: list[dict]) -> float:
        return self.score(predictions)[self.select]


class RelationTask:
    """Event relations: cross-entropy over {Causes, Reaction To, Enables, NoRel} for the 4 pairs with Ev3."""

    name, select = "relation", "Macro_Top_1"

    def __init__(self, train: EventFeatures, valid: EventFeatures, config: TaskConfig, device: torch.device):
        self.train, self.valid, self.config = train, valid, config
        self.labels = torch.tensor([relation_labels(clip) for clip in train.clips], device=device)  # (C, 4)
        self.train_features, self.valid_features = train.features.to(device), valid.features.to(device)

    def build(self, encoder: EventEncoder) -> nn.Module:
        return create_relation_classifier(encoder, self.config)

    def loss(self, model: nn.Module, rows: Tensor) -> Tensor:
        logits = model(self.train_features[rows])  # (B, 4, 4)
        return F.cross_entropy(logits.flatten(0, 1).float(), self.labels[rows].flatten())

    def predict(self, model: nn.Module) -> list[dict]:
        """VidSitu `evrel` entries: one label per annotation (3 per pair; the video-only model gives the same 3)."""
        probabilities = model(self.valid_features).float().softmax(-1)  # (C, 4, 4)
        best = probabilities.argmax(-1).tolist()  # C x 4
        entries = [
            {
                "ann_idx": clip.ann_idx,
                "pred_evrels_ev": [[RELATIONS[label]] * NUM_REFS for label in best[c]],
                "pred_scores_ev": probabilities[c].tolist(),
            }
            for c, clip in enumerate(self.valid.clips)
        ]
        return self.valid.scored(entries)

    def score(self, predictions: list[dict]) -> dict[str, float]:
        return relation_metrics(predictions, self.valid.clips, partial=bool(self.valid.excluded))

    def selection(self, predictions: list[dict]) -> float:
        return self.score(predictions)[self.select]


class RoleTask:
    """Semantic roles: TxD trained with teacher forcing on "[verb] <Arg0> ... <Arg1> ... [eos]", the verb given.

    One start convention in training and generation: the decoder input is [bos, verb, ...] in both (VidSitu
    trains without bos but generates with one, a mismatch we do not copy). The verb is given, so predicting
    it is not part of the loss; generation starts from [bos, verb].
    """

    name, select = "srl", "cider"

    def __init__(self, train: EventFeatures, valid: EventFeatures, config: TaskConfig, device: torch.device):
        self.train, self.valid, self.config, self.device = train, valid, config, device
        phrases = [
            f.text for clip in train.clips for ann in clip.annotations for e in ann.events.values() for f in e.roles
        ]
        verbs = [event_roles(clip, ev)[0] for clip in train.clips for ev in EVENTS]
        self.tokenizer = train_role_tokenizer(phrases, verbs, config.bpe_vocab)
        inputs, targets, lengths = self._teacher_forcing(train)
        self.inputs, self.targets = inputs.to(device), targets.to(device)  # (C * 5, T)
        self.lengths = lengths  # (C * 5,) tokens before the padding
        self.train_features, self.valid_features = train.features.to(device), valid.features.to(device)
        # generation starts from [bos, verb]; VidSitu forces the verb the roles were collected for (vb_to_use)
        self.valid_verbs = [clip.annotations[0].events[ev].verb_id for clip in valid.clips for ev in EVENTS]
        verb_ids = torch.tensor([self.tokenizer.verb_token(verb) for verb in self.valid_verbs])  # (C * 5,)
        self.prefix = torch.stack([torch.full_like(verb_ids, self.tokenizer.bos_id), verb_ids], 1).to(device)

    def _teacher_forcing(self, split: EventFeatures) -> tuple[Tensor, Tensor, Tensor]:
        """Decoder inputs [bos, verb, t1, ...] and targets [pad, t1, ..., eos], clip-major, padded; the
        length of each before the padding."""
        tok, limit = self.tokenizer, self.config.max_text_len
        inputs, targets = [], []
        for clip in split.clips:
            for ev in EVENTS:
                sequence = tok.encode_event(*event_roles(clip, ev))[:limit]  # [verb, ..., eos]
                sequence[-1] = tok.eos_id  # truncated sequences still end
                inputs.append([tok.bos_id, *sequence[:-1]])
                targets.append([tok.pad_id, *sequence[1:]])  # the given verb is not predicted
        lengths = torch.tensor([len(row) for row in inputs])  # (C * 5,)
        width = int(lengths.max())
        pad = [[tok.pad_id] * (width - len(row)) for row in inputs]
        inputs = torch.tensor([row + fill for row, fill in zip(inputs, pad, strict=True)])  # (C * 5, T)
        targets = torch.tensor([row + fill for row, fill in zip(targets, pad, strict=True)])  # (C * 5, T)
        return inputs, targets, lengths

    def build(self, encoder: EventEncoder | None) -> nn.Module:
        return create_role_captioner(encoder, self.tokenizer.vocab_size, self.tokenizer.pad_id, self.config)

    def loss(self, model: nn.Module, rows: Tensor) -> Tensor:
        sequences = (rows[:, None] * len(EVENTS) + torch.arange(len(EVENTS), device=rows.device)).flatten()  # (B * 5,)
        # the causal decoder's outputs before the padding do not depend on it: drop the batch's padding columns
        width = int(self.lengths[sequences.cpu()].max())
        logits = model(self.train_features[rows], self.inputs[sequences, :width])  # (B * 5, T', vocab)
        return sequence_cross_entropy(logits.float(), self.targets[sequences, :width], self.tokenizer.pad_id)

    def generate(self, model: nn.Module, features: Tensor, prefix: Tensor) -> Tensor:
        """Token ids (B * 5, L) from [bos, verb] prefixes: greedy with TxD's key/value cache, or beam search
        (the plain forward on each hypothesis) when beam_size > 1."""
        memory = model.memory(features)  # (B * 5, 1, H)
        tok, limit = self.tokenizer, self.config.max_text_len + 1  # + bos
        if self.config.beam_size == 1:
            return greedy_decode(TxDCache(model.txd, memory, limit), prefix, limit, tok.eos_id, tok.pad_id)

        def step(tokens: Tensor, rows: Tensor) -> Tensor:
            return model.txd(tokens, memory[rows])[:, -1].float()  # (B', vocab)

        return beam_decode(step, prefix, self.config.beam_size, limit, tok.eos_id, tok.pad_id)

    def predict(self, model: nn.Module) -> list[dict]:
        """VidSitu `vb_arg` entries: per event {"vb_id", "Arg0": phrase, ...} keyed by mapped role names."""
        generated = self.generate(model, self.valid_features, self.prefix).tolist()  # C * 5 rows
        entries = []
        for c, clip in enumerate(self.valid.clips):
            output = {}
            for e, ev in enumerate(EVENTS):
                roles = self.tokenizer.decode_event(generated[c * len(EVENTS) + e][1:])  # drop bos
                output[ev] = {**roles, "vb_id": self.valid_verbs[c * len(EVENTS) + e]}
            entries.append({"ann_idx": clip.ann_idx, "vb_output": output})
        return self.valid.scored(entries)

    def score(self, predictions: list[dict]) -> dict[str, float]:
        return srl_metrics(predictions, self.valid.clips, partial=bool(self.valid.excluded))

    def selection(self, predictions: list[dict]) -> float:
        """CIDEr alone, each epoch; the other metrics are computed once, for the best epoch."""
        return srl_cider(predictions, self.valid.clips, partial=bool(self.valid.excluded))

    def save(self, out: Path) -> None:
        """The tokenizer, so that generated ids can be read back."""
        self.tokenizer.save(Path(out) / "tokenizer.json")


VidSituTask = VerbTask | RoleTask | RelationTask
TASKS = {"verb": VerbTask, "srl": RoleTask, "relation": RelationTask}
