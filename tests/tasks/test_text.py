"""Role tokenizer: VidSitu's verb + (role tag, phrase) sequences through our own byte-level BPE."""

import json

import pytest

from hiermovie.errors import InputFileError
from hiermovie.tasks.text import BOS, EOS, PAD, ROLES, UNK_VERB, RoleTokenizer, role_tag, train_role_tokenizer

PHRASES = [
    "the red circle",
    "a blue box",
    "in a park",
    "the man in a red shirt",
    "the woman",
    "the car",
    "on the street, at night",
    "to the left",
    "a café near the river",
    "the man's hat",
]
VERBS = ["push.01", "talk.01", "run.02", "push.01"]
EVENTS = [
    ("push.01", [("Arg0", "the red circle"), ("Arg1", "a blue box"), ("AScn", "in a park")]),
    ("talk.01", [("Arg0", "the man in a red shirt"), ("Arg2", "the woman"), ("ALoc", "on the street, at night")]),
    ("run.02", [("Arg0", "the man's hat!"), ("ADir", "to the left (quickly)")]),
    ("push.01", [("AMnr", "naïve café — 日本の猫 🐈"), ("Arg1", "x")]),  # characters never seen in training
    ("talk.01", [("Arg3", "<Arg0> [push.01] </s> <pad> looks like tags")]),
    ("run.02", []),
    ("push.01", [("Arg0", "the car"), ("Arg1", ""), ("AGol", "home")]),  # an empty phrase
]


@pytest.fixture(scope="module")
def tok() -> RoleTokenizer:
    return train_role_tokenizer(PHRASES * 3, VERBS, vocab_size=300)


def test_role_tag():
    assert role_tag("Arg0") == "<Arg0>"
    assert role_tag("AScn") == "<AScn>"


def test_id_layout_and_vocab_size(tok):
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.verb_ids == ("push.01", "run.02", "talk.01")  # deduplicated and sorted
    # 16 fixed special tokens + 3 verbs on top of at most 300 byte tokens and merges, and the merges were used
    assert 16 + 3 + 256 < tok.vocab_size <= 16 + 3 + 300
    assert len(tok.encode_event("push.01", [("Arg0", "the red circle")])) < 2 + 1 + len(" the red circle")


@pytest.mark.parametrize("verb, roles", EVENTS)
def test_round_trip(tok, verb, roles):
    ids = tok.encode_event(verb, roles)
    assert ids[0] == tok.verb_token(verb)
    assert ids[-1] == tok.eos_id and ids.count(tok.eos_id) == 1
    assert tok.bos_id not in ids and tok.pad_id not in ids
    assert tok.decode_event(ids) == {"vb_id": verb, **dict(roles)}
    assert tok.decode_event([tok.bos_id, *ids, tok.pad_id, tok.pad_id]) == {"vb_id": verb, **dict(roles)}


def test_layout_of_an_event(tok):
    roles = [("Arg0", "the red circle"), ("Arg1", "a blue box")]
    ids = tok.encode_event("push.01", roles)
    tags = [tok.tag_token("Arg0"), tok.tag_token("Arg1")]
    assert [i for i in ids if i < 16 + 3] == [tok.verb_token("push.01"), tags[0], tags[1], tok.eos_id]
    arg1 = ids.index(tags[1])
    assert ids[1] == tags[0] and arg1 > 2 and arg1 < len(ids) - 2  # each tag is followed by its phrase


def test_special_tokens_are_single_ids_never_produced_by_text(tok):
    specials = {tok.verb_token(v) for v in VERBS} | {tok.tag_token(r) for r in ROLES}
    specials |= {tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_verb_id}
    assert len(specials) == 4 + len(ROLES) + 3 and max(specials) == 4 + len(ROLES) + 2
    for token in [PAD, BOS, EOS, UNK_VERB, "[push.01]", *map(role_tag, ROLES)]:
        ids = tok.encode_event("push.01", [("Arg0", token)])[2:-1]
        assert ids and not set(ids) & specials, token
        assert tok._tokenizer.token_to_id(token) in specials  # the special token itself is one id


def test_unseen_verb(tok):
    ids = tok.encode_event("fly.03", [("Arg0", "a bird")])
    assert tok.verb_token("fly.03") == tok.unk_verb_id == ids[0]
    assert tok.decode_event(ids) == {"vb_id": "", "Arg0": "a bird"}


def test_unknown_role_raises(tok):
    with pytest.raises(ValueError, match="Arg9"):
        tok.encode_event("push.01", [("Arg0", "a"), ("Arg9", "b")])
    with pytest.raises(ValueError, match="Arg0 \\(pusher\\)"):
        tok.encode_event("push.01", [("Arg0 (pusher)", "a")])  # raw role keys must be mapped first
    with pytest.raises(ValueError, match="Scene"):
        tok.tag_token("Scene of the Event")


def test_decode_stops_at_eos_and_ignores_pad_and_bos(tok):
    first = tok.encode_event("push.01", [("Arg0", "the red circle")])
    second = tok.encode_event("talk.01", [("Arg1", "a blue box")])
    pad, bos = tok.pad_id, tok.bos_id
    assert tok.decode_event(first + second) == {"vb_id": "push.01", "Arg0": "the red circle"}
    padded = [bos, pad, first[0], pad, first[1], pad, *first[2:]]
    assert tok.decode_event(padded) == {"vb_id": "push.01", "Arg0": "the red circle"}
    assert tok.decode_event(first[:-1]) == {"vb_id": "push.01", "Arg0": "the red circle"}  # no eos: all of it
    assert tok.decode_event([]) == {"vb_id": ""}
    assert tok.decode_event([tok.eos_id, *first]) == {"vb_id": ""}


def test_decode_of_malformed_sequences(tok):
    red = tok.encode_event("push.01", [("Arg0", "the red circle")])[2:-1]
    box = tok.encode_event("push.01", [("Arg0", "a blue box")])[2:-1]
    arg0, arg1 = tok.tag_token("Arg0"), tok.tag_token("Arg1")
    verb = tok.verb_token("push.01")
    # a repeated tag keeps the first phrase, and the role after it is still read
    assert tok.decode_event([verb, arg0, *red, arg0, *box, arg1, *box]) == {
        "vb_id": "push.01",
        "Arg0": "the red circle",
        "Arg1": "a blue box",
    }
    # text before the first tag is dropped; without a leading verb token the verb is ""
    assert tok.decode_event([*box, arg1, *red]) == {"vb_id": "", "Arg1": "the red circle"}
    assert tok.decode_event([verb, *box, arg1, *red]) == {"vb_id": "push.01", "Arg1": "the red circle"}
    # a verb token inside a phrase is skipped, a tag without text gives ""
    assert tok.decode_event([verb, arg0, arg1, *red[:1], verb, *red[1:]]) == {
        "vb_id": "push.01",
        "Arg0": "",
        "Arg1": "the red circle",
    }


def test_save_load(tok, tmp_path):
    path = tmp_path / "roles.json"
    tok.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["roles.json"]  # the temporary file was renamed
    loaded = RoleTokenizer.load(path)
    assert loaded.vocab_size == tok.vocab_size and loaded.verb_ids == tok.verb_ids
    for verb, roles in EVENTS:
        assert loaded.encode_event(verb, roles) == tok.encode_event(verb, roles)
        assert loaded.decode_event(tok.encode_event(verb, roles)) == {"vb_id": verb, **dict(roles)}
    # text that looks like a tag is still encoded byte by byte after loading
    tags = ("Arg3", "<Arg0> [push.01] </s> <pad> looks like tags")
    assert len(loaded.encode_event("talk.01", [tags])) > 10


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "not found"),
        ("{not json", "cannot read"),
        (json.dumps({"something": "else"}), "not a role tokenizer"),
        ('{"format": "hiermovie.role_tokenizer/1", "verb_ids": [], "tokenizer": {"model": 1}}', "corrupt"),
    ],
)
def test_load_bad_file(tmp_path, content, problem):
    path = tmp_path / "roles.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputFileError, match=problem) as info:
        RoleTokenizer.load(path)
    assert info.value.path == path and str(path) in str(info.value)


def test_load_with_mismatched_verbs(tok, tmp_path):
    path = tmp_path / "roles.json"
    tok.save(path)
    data = json.loads(path.read_text())
    data["verb_ids"] = ["other.01", *data["verb_ids"]]
    path.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match="special tokens"):
        RoleTokenizer.load(path)


def test_training_is_deterministic(tok, tmp_path):
    again = train_role_tokenizer(PHRASES * 3, list(reversed(VERBS)), vocab_size=300)
    tok.save(tmp_path / "first.json")
    again.save(tmp_path / "second.json")
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()
    for verb, roles in EVENTS:
        assert again.encode_event(verb, roles) == tok.encode_event(verb, roles)


def test_vocab_size_must_cover_the_bytes():
    with pytest.raises(ValueError, match="256"):
        train_role_tokenizer(PHRASES, VERBS, vocab_size=100)
