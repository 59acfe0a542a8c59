"""Token sequences for VidSitu semantic-role generation.

VidSitu (Sadhu et al., CVPR 2021; `vidsitu_code/dat_loader.py::get_vb_arg_data`) generates one sequence per
event: the verb id, then for each role of the annotation, in the annotation's order, a role start tag followed
by the role's text, then eos. There are start tags only (no end tags), and every role of the event is
included, not only the evaluated ones:

    [push.01] <Arg0> the red circle <Arg1> a blue box <AScn> in a park </s>

No pretrained tokenizer can be downloaded here, so the role text is split by our own byte-level BPE, trained
with `tokenizers` on the training split's role phrases. Each phrase is encoded on its own with a leading space
(GPT-2 style), so a tag never merges with text. Verb ids and role tags are special tokens: one id each, never
produced by encoding text (a phrase that contains "<Arg0>" is encoded byte by byte).

Id layout: <pad> 0, <s> 1, </s> 2, <unk_verb> 3, the role tags 4-15 (in `ROLES` order), one token per
training verb id (sorted), then the 256 byte tokens and the BPE merges.
"""

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from hiermovie.errors import InputFileError

ROLES = ("Arg0", "Arg1", "Arg2", "Arg3", "Arg4", "Arg5", "ALoc", "AScn", "ADir", "APrp", "AMnr", "AGol")
PAD, BOS, EOS, UNK_VERB = "<pad>", "<s>", "</s>", "<unk_verb>"
_FORMAT = "hiermovie.role_tokenizer/1"


def role_tag(role: str) -> str:
    """The start tag of a role: "Arg0" -> "<Arg0>"."""
    return f"<{role}>"


def _verb_token(verb_id: str) -> str:
    return f"[{verb_id}]"


def _special_tokens(verb_ids: Sequence[str]) -> list[str]:
    return [PAD, BOS, EOS, UNK_VERB, *map(role_tag, ROLES), *map(_verb_token, verb_ids)]


class RoleTokenizer:
    """Byte-level BPE for role phrases plus one added token per verb id and per role tag."""

    def __init__(self, tokenizer: Tokenizer, verb_ids: Sequence[str]):
        """Wrap a trained `tokenizers.Tokenizer` whose special tokens are `_special_tokens(verb_ids)`."""
        ids = [tokenizer.token_to_id(token) for token in _special_tokens(verb_ids)]
        if ids != list(range(len(ids))):
            raise ValueError("the tokenizer's special tokens do not match the verb ids")
        self._tokenizer = tokenizer
        self._tokenizer.encode_special_tokens = True  # text never yields a tag or verb id (not serialized)
        self.verb_ids = tuple(verb_ids)
        self.pad_id, self.bos_id, self.eos_id, self.unk_verb_id = 0, 1, 2, 3
        self.vocab_size = tokenizer.get_vocab_size()
        self._tag_token_ids = {role: 4 + k for k, role in enumerate(ROLES)}
        self._id_roles = {i: role for role, i in self._tag_token_ids.items()}
        first_verb = 4 + len(ROLES)
        self._verb_token_ids = {verb: first_verb + k for k, verb in enumerate(self.verb_ids)}
        self._id_verbs = {i: verb for verb, i in self._verb_token_ids.items()}

    def verb_token(self, verb_id: str) -> int:
        """The id of the verb's token; the <unk_verb> id for a verb not seen in training."""
        return self._verb_token_ids.get(verb_id, self.unk_verb_id)

    def tag_token(self, role: str) -> int:
        """The id of a role's start tag; ValueError for a name not in `ROLES`."""
        if role not in self._tag_token_ids:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return self._tag_token_ids[role]

    def encode_event(self, verb_id: str, roles: Sequence[tuple[str, str]]) -> list[int]:
        """[verb, <role>, phrase..., <role>, phrase..., eos] for (role name from `ROLES`, phrase) pairs; no bos."""
        ids = [self.verb_token(verb_id)]
        for role, phrase in roles:
            ids.append(self.tag_token(role))
            ids.extend(self._tokenizer.encode(phrase, add_special_tokens=False).ids)  # the pre-tokenizer adds " "
        ids.append(self.eos_id)
        return ids

    def decode_event(self, ids: Sequence[int]) -> dict[str, str]:
        """{"vb_id": verb id or "", role: phrase, ...} from token ids, up to the first eos.

        Pad and bos are ignored; "vb_id" is "" unless the first token is a known verb's; tokens before the
        first role tag other than that verb are ignored; a repeated role keeps its first phrase.
        """
        ids = [int(i) for i in ids if int(i) not in (self.pad_id, self.bos_id)]
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        decoded = {"vb_id": self._id_verbs.get(ids[0], "") if ids else ""}
        segments: dict[str, list[int]] = {}
        segment: list[int] = []  # collects tokens before the first tag and after a repeated tag, then dropped
        for i in ids:
            if i in self._id_roles:
                role = self._id_roles[i]
                segment = [] if role in segments else segments.setdefault(role, [])
            else:
                segment.append(i)
        for role, role_ids in segments.items():
            decoded[role] = self._tokenizer.decode(role_ids, skip_special_tokens=True).strip()
        return decoded

    def save(self, path: Path) -> None:
        """Write the tokenizer as one JSON file (atomically: a temporary file, then a rename)."""
        path = Path(path)
        data = {"format": _FORMAT, "verb_ids": list(self.verb_ids), "tokenizer": json.loads(self._tokenizer.to_str())}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "RoleTokenizer":
        """Read a file written by `save`; InputFileError if it is missing or not such a file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputFileError(path, "role tokenizer file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputFileError(path, f"cannot read the role tokenizer: {err}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise InputFileError(path, f"not a role tokenizer file (expected format {_FORMAT!r})")
        try:
            return cls(Tokenizer.from_str(json.dumps(data["tokenizer"])), data["verb_ids"])
        except Exception as err:  # `tokenizers` raises a bare Exception for a malformed tokenizer
            raise InputFileError(path, f"corrupt role tokenizer: {err}") from None


def train_role_tokenizer(phrases: Iterable[str], verb_ids: Iterable[str], vocab_size: int) -> RoleTokenizer:
    """Train the BPE on the phrases (training split only); verb ids and role tags become added special tokens.

    `vocab_size` is the size of the BPE part (256 byte tokens plus at most `vocab_size - 256` merges); the
    special tokens come on top. The same input always gives the same ids (verb ids are sorted).
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the byte alphabet), got {vocab_size}")
    verbs = sorted(set(verb_ids))
    specials = _special_tokens(verbs)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size + len(specials),
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(phrases, trainer)
    return RoleTokenizer(tokenizer, verbs)
