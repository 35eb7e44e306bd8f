"""Run ids (32 hex characters, as MLflow's), memorable run names and experiment ids."""

from __future__ import annotations

# hashlib, random and uuid are imported where used: most commands never make an id, a name
# or an experiment id, and hashlib alone (OpenSSL) is a few ms of every start-up.

DEFAULT_EXPERIMENT = "Default"
DEFAULT_EXPERIMENT_ID = "0"
EXPERIMENT_REF_ROOT = "refs/gittrack/experiments/"  # + experiment id: its state
RUN_REF_PREFIX = "refs/gittrack/runs/"  # + run id: the run's latest commit

_ADJECTIVES = [
    "able",
    "agile",
    "amber",
    "ample",
    "bold",
    "brave",
    "brisk",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "deft",
    "eager",
    "fair",
    "fast",
    "fierce",
    "gentle",
    "glad",
    "grand",
    "honest",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucky",
    "merry",
    "mighty",
    "neat",
    "noble",
    "polite",
    "proud",
    "quick",
    "quiet",
    "rare",
    "shy",
    "silent",
    "smart",
    "snappy",
    "sunny",
    "swift",
    "tidy",
    "vast",
    "warm",
    "wise",
    "witty",
    "zesty",
]
_NOUNS = [
    "ant",
    "bat",
    "bear",
    "bee",
    "bison",
    "carp",
    "cat",
    "crab",
    "crow",
    "deer",
    "dog",
    "dove",
    "duck",
    "eel",
    "elk",
    "finch",
    "fox",
    "frog",
    "gnu",
    "goat",
    "hare",
    "hawk",
    "heron",
    "ibis",
    "jay",
    "koala",
    "lark",
    "lion",
    "lynx",
    "mole",
    "moth",
    "newt",
    "owl",
    "ox",
    "panda",
    "pike",
    "puma",
    "quail",
    "ram",
    "robin",
    "seal",
    "shrew",
    "sloth",
    "snail",
    "swan",
    "tern",
    "toad",
    "trout",
    "vole",
    "wasp",
    "whale",
    "wolf",
    "wren",
    "yak",
    "zebra",
]


HEX_DIGITS = "0123456789abcdef"  # of run ids, commit ids and their prefixes (lowercase)


def is_run_id(text: str) -> bool:
    """Whether ``text`` is a whole run id: 32 lowercase hex characters."""
    return len(text) == 32 and not text.strip(HEX_DIGITS)


def new_run_id() -> str:
    import uuid

    return uuid.uuid4().hex


def new_run_name() -> str:
    import random

    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(1000):03d}"


def experiment_id_for(name: str) -> str:
    """The id of the experiment named ``name``: ``"0"`` for Default, else a decimal number
    made of the first 60 bits of sha256(name), so every clone derives the same id without
    coordination (see docs/format.md)."""
    if name == DEFAULT_EXPERIMENT:
        return DEFAULT_EXPERIMENT_ID
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return str((int.from_bytes(digest[:8], "big") >> 4) or 1)
