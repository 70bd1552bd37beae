"""NLTK's ``NLTKWordTokenizer.tokenize``, skipping substitutions that provably match nothing.

The tokenizer runs some thirty regular-expression substitutions over every text, most of
which cannot match an ordinary sentence (no quotes, brackets, dashes, ``cannot`` ...).
Here each of NLTK's own patterns, in NLTK's order, runs only if the text *at that step*
contains a substring the pattern cannot match without. A skipped substitution would have
returned the text unchanged, so the tokens are NLTK's. Guards never use the letters i, s
and k, which case-insensitive Unicode matching also finds as U+0130, U+0131, U+017F and
U+212A (Kelvin sign).

Part of the METEOR accelerator (:mod:`.meteor`, pinned to nltk 3.10.4 with it): the steps
mirror that version's ``tokenize``. Should a pattern have no known guard, NLTK's own
tokenizer runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_GUARDS: dict[str, tuple[str, ...]] = {
    # STARTING_QUOTES
    "([«\u201c\u2018„]|[`]+)": ("«", "\u201c", "\u2018", "„", "`"),
    r"^\"": ('"',),
    r"(``)": ("``",),
    r"([ \(\[{<])(\"|\'{2})": ('"', "''"),
    r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)": ("'",),
    # PUNCTUATION
    r'([^\.])(\.)([\]\)}>"\'' "»\u201d\u2019 " r"]*+)\s*$": (".",),
    r"([:,])([^\d])": (":", ","),
    r"([:,])$": (":", ","),
    r"\.{2,}": ("..",),
    r"[;@#$%&]": (";", "@", "#", "$", "%", "&"),
    r"[\u2012-\u2015]": ("\u2012", "\u2013", "\u2014", "\u2015"),
    r'([^\.])(\.)([\]\)}>"\']*)\s*$': (".",),
    r"[?!]": ("?", "!"),
    r"([^'])' ": ("' ",),
    r"[*]": ("*",),
    # PARENS_BRACKETS, DOUBLE_DASHES
    r"[\]\[\(\)\{\}\<\>]": ("]", "[", "(", ")", "{", "}", "<", ">"),
    r"--": ("--",),
    # ENDING_QUOTES (r"\s+" always runs)
    "([»\u201d\u2019])": ("»", "\u201d", "\u2019"),
    r"''": ("''",),
    r'"': ('"',),
    r"([^' ])('[sS]|'[mM]|'[dD]|') ": ("'",),
    r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ": ("'",),
}
# Case-insensitive contractions: guards are checked against the lowercased text.
_LOWERCASE_GUARDS: dict[str, tuple[str, ...]] = {
    r"(?i)\b(can)(?#X)(not)\b": ("cannot",),
    r"(?i)\b(d)(?#X)('ye)\b": ("d'ye",),
    r"(?i)\b(gim)(?#X)(me)\b": ("mme",),
    r"(?i)\b(gon)(?#X)(na)\b": ("gonna",),
    r"(?i)\b(got)(?#X)(ta)\b": ("gotta",),
    r"(?i)\b(lem)(?#X)(me)\b": ("lemme",),
    r"(?i)\b(more)(?#X)('n)\b": ("more'n",),
    r"(?i)\b(wan)(?#X)(na)(?=\s)": ("wanna",),
    r"(?i) ('t)(?#X)(is)\b": (" 't",),
    r"(?i) ('t)(?#X)(was)\b": (" 't",),
}

# (pattern, replacement, guard or None, check the lowercased text)
_Step = tuple[Any, str, tuple[str, ...] | None, bool]


def word_tokenizer() -> Callable[[str], list[str]]:
    """A function equal to ``NLTKWordTokenizer().tokenize`` (default arguments)."""
    from nltk.tokenize import NLTKWordTokenizer

    cls = NLTKWordTokenizer
    before = _steps(
        [*cls.STARTING_QUOTES, *cls.PUNCTUATION, cls.PARENS_BRACKETS, cls.DOUBLE_DASHES]
    )
    after = _steps(
        [
            *cls.ENDING_QUOTES,
            *((regexp, r" \1 \2 ") for regexp in (*cls.CONTRACTIONS2, *cls.CONTRACTIONS3)),
        ]
    )
    if before is None or after is None:
        tokenize: Callable[[str], list[str]] = NLTKWordTokenizer().tokenize
        return tokenize

    def fast_tokenize(text: str) -> list[str]:
        text = _apply(before, text)
        return _apply(after, " " + text + " ").split()

    return fast_tokenize


def _steps(pairs: list[tuple[Any, str]]) -> list[_Step] | None:
    steps: list[_Step] = []
    for regexp, replacement in pairs:
        source = regexp.pattern
        if source in _LOWERCASE_GUARDS:
            steps.append((regexp, replacement, _LOWERCASE_GUARDS[source], True))
        elif source in _GUARDS:
            steps.append((regexp, replacement, _GUARDS[source], False))
        elif source == r"\s+":
            steps.append((regexp, replacement, None, False))
        else:
            return None  # a pattern this module does not know: use NLTK's tokenizer
    return steps


def _apply(steps: list[_Step], text: str) -> str:
    lowered: str | None = None
    for regexp, replacement, guard, lowercase in steps:
        if guard is not None:
            if lowercase:
                if lowered is None:
                    lowered = text.lower()
                haystack = lowered
            else:
                haystack = text
            if not any(map(haystack.__contains__, guard)):
                continue
        text = regexp.sub(replacement, text)
        lowered = None
    return text
