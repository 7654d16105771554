"""Readable run names (``quiet-heron-17``) for runs started without one."""

from __future__ import annotations

import random
import secrets

_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "crisp", "curious", "dapper", "eager", "fancy",
    "gentle", "glad", "golden", "hardy", "humble", "jolly", "keen", "lively", "lucid", "merry",
    "mellow", "nimble", "noble", "plucky", "polite", "proud", "quiet", "rapid", "rosy", "rustic",
    "shy", "silent", "sleek", "snowy", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
)  # fmt: skip
_NOUNS = (
    "badger", "beaver", "bison", "crane", "cricket", "dolphin", "falcon", "ferret", "finch",
    "gecko", "heron", "ibis", "jackal", "koala", "lark", "lemur", "lynx", "magpie", "marmot",
    "mole", "newt", "otter", "owl", "panda", "pelican", "puffin", "quail", "raven", "robin",
    "salmon", "seal", "sparrow", "stork", "swan", "tapir", "toucan", "trout", "walrus", "wombat",
    "wren",
)  # fmt: skip


def generate(rng: random.Random | None = None) -> str:
    """A random ``adjective-noun-NN`` name; 160,000 combinations keep clashes rare."""
    if rng is not None:
        return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(100):02d}"
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(100):02d}"


def candidates(requested: str | None, seed: str | None = None) -> list[str]:
    """Names to try in order: the requested one, then ``name-2``, ``name-3`` …; else generated
    (the same sequence for the same ``seed``: how the ranks of one launch find their run)."""
    if requested is None:
        rng = random.Random(seed) if seed is not None else None
        return [generate(rng) for _ in range(50)]
    return [requested, *(f"{requested}-{i}" for i in range(2, 1000))]
