"""LVU's masked-instance pretraining of the Object Transformer (`hiermovie.tasks.object_transformer`), with our
target (`MaskedInstancePretraining`).

As in LVU, per example every track is masked with p = 0.15, the draw repeated until at least one track is masked
(`track_mask`); every instance of a masked track is masked. Of the masked instances 80% get the learned mask
vector instead of their feature, 10% the feature of a random valid instance of the batch, 10% keep theirs
(`mask_codes`); boxes, seconds, shots and tracks are kept. Deviations from LVU:
  * LVU distils the masked instances to the logits of a frozen AVA action classifier, which we do not have.
    We predict each masked instance's own input feature instead: a Linear(H -> D) head on its output token,
    loss = mean over masked instances of || normalize(pred) - normalize(target) ||^2 = 2 - 2 cos
    (`hiermovie.tasks.losses.masked_instance.masked_instance_loss`).
  * LVU's "same movie" compatibility loss is left out.
  * LVU's masked feature is the constant -10; ours is a learned vector in feature space (D,), the model's
    `mask_token`.
"""

from dataclasses import replace

import torch
from torch import Tensor, nn

from hiermovie.tasks.losses.masked_instance import masked_instance_loss
from hiermovie.tasks.object_transformer import InstanceBatch, ObjectTransformer, bert_init

MASK_PROB = 0.15  # LVU: probability of masking a track
# mask_codes values
KEEP, MASK_TOKEN, RANDOM_FEATURE, UNCHANGED = 0, 1, 2, 3


def track_mask(track: Tensor, valid: Tensor, prob: float, generator: torch.Generator) -> Tensor:
    """Which instances to mask: every instance of each masked track; each example's tracks are masked with
    probability `prob`, the example's draw repeated until at least one is (examples with no valid instance
    get none). Drawn on the CPU from `generator`, so a seed fixes the mask on every device.

    Shape: track (B, M) long, valid (B, M) bool -> (B, M) bool on track's device, never True at padding.
    """
    if not 0.0 < prob <= 1.0:
        raise ValueError(f"prob must be in (0, 1], got {prob}")
    track_cpu, valid_cpu = track.detach().cpu(), valid.detach().cpu()  # (B, M)
    ids = track_cpu.masked_fill(~valid_cpu, 0)  # (B, M)
    count = int(ids.max()) + 1 if ids.numel() else 1  # tracks per example, at most
    present = torch.zeros(len(ids), count, dtype=torch.bool)  # (B, K)
    present[torch.arange(len(ids)).unsqueeze(1).expand_as(ids)[valid_cpu], ids[valid_cpu]] = True
    chosen = torch.zeros_like(present)  # (B, K)
    redraw = present.any(dim=1)  # (B,) examples still without a masked track
    while redraw.any():
        draw = torch.rand(int(redraw.sum()), count, generator=generator) < prob  # (R, K)
        chosen[redraw] = draw & present[redraw]
        redraw = redraw & ~chosen.any(dim=1)
    return (chosen.gather(1, ids) & valid_cpu).to(track.device)  # (B, M)


def mask_codes(mask: Tensor, generator: torch.Generator) -> Tensor:
    """What to do with each instance: KEEP (0) if not masked; among the masked MASK_TOKEN (1, 80%),
    RANDOM_FEATURE (2, 10%) or UNCHANGED (3, 10%). Drawn on the CPU from `generator`.

    Shape: mask (B, M) bool -> (B, M) long on mask's device.
    """
    uniform = torch.rand(mask.shape, generator=generator)  # (B, M)
    codes = torch.full(mask.shape, UNCHANGED, dtype=torch.long)  # (B, M)
    codes[uniform < 0.9] = RANDOM_FEATURE
    codes[uniform < 0.8] = MASK_TOKEN
    return codes.masked_fill(~mask.detach().cpu(), KEEP).to(mask.device)  # (B, M)


class MaskedInstancePretraining(nn.Module):
    """Object Transformer + Linear(H -> D) head predicting each masked instance's own input feature (LVU's masked
    instance pretraining with our target; see the module docstring for the deviations).

    forward(batch, generator) -> (loss, {"masked": number of masked instances}); masks are drawn from `generator`.
    """

    def __init__(self, *, model: ObjectTransformer, head: nn.Linear, mask_prob: float = MASK_PROB):
        super().__init__()
        if model.input_dim is None or model.scene_dim is not None:
            raise ValueError("masked-instance pretraining needs an instance-only Object Transformer")
        if head.in_features != model.hidden_dim or head.out_features != model.input_dim:
            raise ValueError(f"head must map {model.hidden_dim} -> {model.input_dim}, got {head}")
        self.model, self.head, self.mask_prob = model, head, mask_prob

    def corrupt(self, batch: InstanceBatch, generator: torch.Generator) -> tuple[InstanceBatch, Tensor, Tensor]:
        """(batch with the RANDOM_FEATURE instances' features swapped, mask-token positions (B, M), masked (B, M))."""
        mask = track_mask(batch.track, batch.valid, self.mask_prob, generator)  # (B, M)
        codes = mask_codes(mask, generator)  # (B, M)
        swap = codes == RANDOM_FEATURE  # (B, M)
        features = batch.features  # (B, M, D)
        count = int(swap.sum())
        if count:
            pool = features[batch.valid]  # (V, D), every valid instance of the batch
            pick = torch.randint(len(pool), (count,), generator=generator).to(pool.device)  # (count,)
            features = features.clone()
            features[swap] = pool[pick]
        return replace(batch, features=features), codes == MASK_TOKEN, mask

    def forward(self, batch: InstanceBatch, generator: torch.Generator) -> tuple[Tensor, dict[str, int]]:
        corrupted, mask_token_at, mask = self.corrupt(batch, generator)
        _, outputs = self.model(corrupted, masked=mask_token_at)  # (B, M, H)
        predicted = self.head(outputs[mask])  # (N, D)
        loss = masked_instance_loss(predicted, batch.features[mask])  # (), targets: the uncorrupted features
        return loss, {"masked": int(mask.sum())}


def create_masked_instance_pretraining(
    model: ObjectTransformer, mask_prob: float = MASK_PROB
) -> MaskedInstancePretraining:
    """The pretraining wrapper with a fresh Linear(H -> D) prediction head (BERT init)."""
    head = nn.Linear(model.hidden_dim, model.input_dim)
    bert_init(head)
    return MaskedInstancePretraining(model=model, head=head, mask_prob=mask_prob)
