"""Word error rate as ASR evaluations count it, and as voxgate's benches first did.

``wer`` normalizes both sides with OpenAI's English text normalizer (the ``whisper-normalizer``
package), as published Whisper and Open ASR Leaderboard figures do: "fourteen C" and "14C",
"What's" and "What is", "check-in" and "check in" are the same words. ``plain_wer`` only lowers
case and drops punctuation, so "fourteen" against "14" is an error; benches print both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

_english = EnglishTextNormalizer()


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate of ``hypotheses`` against ``references``, Whisper-normalized."""
    return _rate([_english(t) for t in references], [_english(t) for t in hypotheses])


def plain_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate with case and punctuation aside only."""
    return _rate([_plain(t) for t in references], [_plain(t) for t in hypotheses])


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def _rate(references: list[str], hypotheses: list[str]) -> float:
    pairs = [(r, h or "-") for r, h in zip(references, hypotheses, strict=True) if r]
    if not pairs:
        return float("nan")
    return round(float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])), 4)
