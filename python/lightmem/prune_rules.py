"""What a pruned turn must keep: the rules (no model) that decide, word by word, what the Rust scorer
may drop and over which units it counts the `compression_ratio` budget.

The scorer (`lightmem._core.score_tokens`) ranks words by how much they tell; `prune_turn` below says
which words it may not drop (forced words) and cuts the turn into the units `prune_tokens` prunes.
Forced words are kept on top of the ratio: each sentence keeps all its forced words and `ceil(ratio *
n)` of its `n` other words. The rules:

1. **Sentences are the units.** A turn is split into sentences (after a word ending in . ! ? ; or …,
   and before a "[" that opens an image caption). Each keeps at least `MIN_SENTENCE_WORDS` words, so a
   short sentence stays whole and no sentence shrinks to a fragment because a long neighbour took the
   turn's budget.
2. **Fillers go first and do not count.** Interjections (um, oh, wow, haha, ...) anywhere, and
   discourse markers (yeah, so, anyway, actually, ...) that open a sentence or stand between commas
   ("well" and "like" only when a comma sets them off), are removed before anything else and are not
   counted in the sentence's length. A turn that is nothing but fillers stays as it is. The same
   markers inside a clause ("so cool", "just got back") are flagged FILLER: scored low, not removed.
3. **Claim words are never removed**: the classes of `data/claim_words.txt`, whose header documents
   each (negations; negative-implicative verbs: forget, quit, fail; approximatives: almost, hardly;
   frequency adverbs; phase particles: still, yet, anymore; modals and semi-modals: can, would, used
   to, going to, maybe; intensional verbs: want, hope, plan, try, wish; conditionals and exceptions:
   if, unless, except, instead; exclusive focus: only; quantifiers: all, some, few, a few, every;
   comparatives: more, less, than, too, better; prepositions of temporal order, duration and source:
   before, after, until, since, by, within, from, against; alternatives and exceptions: or, but;
   dates and deictic time words; number words), every word ending in n't (negations) or in 'll or
   'd (modals), also with more clitics after them (shouldn't've, I'd've), every word with a digit,
   and names (capitalised words that do not open a sentence). Apostrophes are read alike: ' ’ ‘ ´ ʼ.
4. **A claim word keeps what it applies to**: the words after it up to and including its first
   content word (neither a stopword nor a closed-class function word), within its clause (not past a
   comma, a sentence end or a conjunction such as "and", "but", "because"), at most three words.
   Negations and conditionals keep up to their second content word, at most four: the predicate and
   its complement. So no negation, preposition or number is split from its head: "not allergic to
   peanuts", "before 9am", "can't eat shellfish", "if the job works", "three times".
5. **A sentence keeps its last word**, which carries its end punctuation and, English putting new
   information last (end focus), is most often its object or complement.
6. **A phrasal verb keeps its particle**: a particle (up, down, off, out, away, back, over) directly
   after a content word or a form of "be", in the same clause, is kept with that word (its verb) and
   with its head after it, as a `head` claim word: "gave up smoking", "called off the wedding", "ran
   out of coffee", "it is over", "been up to". Dropping the particle changes or reverses the verb's
   meaning ("turned down the offer" is not "turned the offer"). A particle after an object pronoun
   ("gave it up", "turned it on", "calms you down") is kept with the pronoun and the verb before it,
   and a particle that ends its clause ("put the coat on", "checked in", "showed up late" is not one)
   is kept, with the content word before it; "on" and "in" count as particles only in these two
   places, being far more often prepositions ("on Sundays", "in March").
7. **Questions keep their form**: a question keeps its opening through the first content word after
   its first auxiliary or modal ("What did it look", "Have you made", "How long have you had"), if
   that is within its first `QUESTION_FRAME_WORDS` words; else its wh-word through the next content
   word ("What gave").

8. **Every clause keeps its main verb**: after a subject pronoun (I, you, he, she, we, they, it,
   who), the words through the first word that is not a function word (the verb: "like" and "know"
   count, though they are stopwords), passing only auxiliaries, negations and adverbs (words in -ly,
   frequency and phase adverbs, discourse markers), and after an auxiliary also determiners, at most
   `VERB_REACH` words: "[I] love", "[you] put", "[we] really enjoy", "[it] was a great". A subject
   contracted with its auxiliary (I'm, you've, she's) is kept with it ("I've been looking"); a bare
   subject pronoun is not (the speaker's name before each unit says who "I" is, and keeping every
   pronoun cost 3% of the words). If no such word follows an auxiliary, the auxiliaries are kept
   ("I'm on", "[it] is"). A clause whose subject is a noun phrase ("my imagination soars") is not
   caught: no list of English verbs is shipped, and without one (or a model) a noun and a verb
   cannot be told apart.
9. **Small words between kept words stay** (applied after the ratio): a single preposition,
   conjunction or form of "be" left out between two kept words of its clause is kept ("job with
   them", "set is awesome and full of potential"), so kept words read as phrases, not as a list.
   Articles and pronouns are not put back (they cost 3% of the words for little meaning).

Words of other languages: the `negation_other` and `number_other` classes of `data/claim_words.txt`
list the negators and small number words of the commonest languages written with spaces (Spanish,
Portuguese, Italian, French, German, Dutch, Scandinavian, Russian, Ukrainian, Polish, Czech, Turkish,
Indonesian, Vietnamese, Korean, Hindi, Arabic, Hebrew), and a French "n'" elision ("n'est") is a
negation. Every word with a digit or a number character of any script (Unicode category N: ٣, ४,
３, Ⅻ) or a CJK numeral (一 二 十 百 千 万 ...) is a number; a word holding a CJK negation character
(不 没 沒 别 別 未 无 無 非 莫 勿) or Japanese ない / ません is a negation. Scripts written without spaces
(Chinese, Japanese, Thai) are pruned by their whitespace-separated runs, so most of their sentences
are kept whole (rule 1). Not supported: other languages' modals, quantifiers, prepositions and
verbs, the other negators of Japanese, Thai and the languages not listed.

Everything else competes on the scorer's information content: rare words and names win, stopwords,
fillers and words repeated in the turn lose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lightmem import _core

MIN_SENTENCE_WORDS = 4
"""A sentence keeps at least this many of its words (not counting fillers): a shorter one stays whole."""
HEAD = (1, 3)
"""What a claim word of a `head` class keeps after it (rule 4): words up to its first content word
(non-stopword), at most three words."""
SCOPE = (2, 4)
"""What a negation or conditional (a `scope` class) keeps after it (rule 4): up to its second content
word (the predicate and its complement: "not allergic to peanuts"), at most four words."""
QUESTION_FRAME_WORDS = 8
"""A question's opening kept by rule 7 is at most this many words."""
VERB_REACH = 4
"""Rule 8 looks this many words past a subject pronoun for its main verb."""

_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
_SENTENCE_END = re.compile(r"[.!?;…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[,.!?;:…)\]\"”]$")
_CAPTION_START = "["
_QUESTION_END = re.compile(r"\?[\"'”’)\]]*$")
_PATTERN_CLAIM = re.compile(r"(n't)(?:'[a-z]+)*$|('ll|'d)(?:'[a-z]+)*$|^(n')\w|(\d)")
_NEGATED = re.compile(r"n't(?:'[a-z]+)*$")
"""A negation by its form: n't, also with clitics after it (shouldn't've, wouldn't've)."""
_CJK_NEGATION = re.compile("[不没沒别別未无無非莫勿]|ない|ません")
"""Negation in scripts written without spaces: Chinese characters, Japanese endings."""
_CJK_NUMERALS = frozenset("〇零一二三四五六七八九十百千万萬億亿两兩")
_APOSTROPHES = str.maketrans(dict.fromkeys("’‘´ʼ", "'"))

_INTERJECTIONS = frozenset(
    "um umm uh uhh er erm hmm hm mm oh ooh ah ahh aw aww wow whoa yay haha hahaha hehe lol lmao omg "
    "ugh phew oops hey hi hello gosh geez".split()
)
_DISCOURSE_MARKERS = frozenset(
    "yeah yep yup ok okay so anyway anyways basically literally actually really just totally btw "
    "honestly seriously well like".split()
)
FILLER_WORDS = _INTERJECTIONS | _DISCOURSE_MARKERS
"""Words that carry no fact wherever they stand (the pruner drops them first where they are fillers)."""
_COMMA_MARKERS = frozenset("well like".split())
"""Discourse markers that are fillers only when a comma sets them off ("Well, ..." but "Well done")."""
_AUXILIARIES = frozenset(
    "am is are was were be been being have has had do does did can could may might must shall should "
    "will would what's who's where's how's when's why's that's it's there's".split()
)
"""Forms of be, have and do, the modals, and wh-word + is: what opens a yes/no or wh-question."""
_FUNCTION_WORDS = _AUXILIARIES | frozenset(
    "i me you he him she her it we us they them this that these those there here the a an my your his "
    "its our their what who whom whose which where when why how i'm you're we're they're i've you've "
    "we've they've to of in on at for with about into onto over up out as".split()
)
"""Closed-class words (pronouns, determiners, auxiliaries, prepositions) that a head reaches past,
besides the stopwords."""
_WH_WORDS = frozenset("what who whom whose which where when why how".split())
_CONJUNCTIONS = frozenset("and but or so because while whereas".split())
"""Words that start a new clause: a head or scope stops before them."""
_SUBJECTS = frozenset("i you he she we they it who".split())
_SUBJECT_AUXILIARIES = frozenset(
    "i'm you're we're they're he's she's it's who's i've you've we've they've who've".split()
)
"""A subject pronoun contracted with its auxiliary (with 'll and 'd they are modals, rule 3)."""
_VERB_ADVERBS = (_DISCOURSE_MARKERS - _COMMA_MARKERS) | frozenset(
    "not never also even always still already ever often usually sometimes finally all both each".split()
)
"""Adverbs that stand between a subject and its verb (besides the words in -ly)."""
_DETERMINERS = frozenset("a an the my your his her its our their this that these those".split())
_OBJECT_PRONOUNS = frozenset("it them him her me us you this that".split())
_BE_FORMS = frozenset("am is are was were be been being".split()) | _SUBJECT_AUXILIARIES
_PREPOSITIONAL_PARTICLES = frozenset("on in".split())
"""Particles that are far more often prepositions: particles only after an object pronoun, before
another preposition or at the end of their clause (rule 6)."""
_PREPOSITIONS = frozenset("at to with for from on in by of about into onto".split())
_LINK_WORDS = _PREPOSITIONS | _CONJUNCTIONS | _BE_FORMS
"""What rule 9 puts back between two kept words: prepositions, conjunctions and forms of "be"."""


@dataclass(frozen=True)
class ClaimWords:
    """The shipped claim-word classes: flags per key (a phrase's key joins its words with "_"),
    phrases by first word, and what each key keeps after it (`HEAD` or `SCOPE`), if anything."""

    flags: dict[str, int]
    phrases: dict[str, list[tuple[str, ...]]]
    reach: dict[str, tuple[int, int]]
    particles: frozenset[str]
    """Phrasal-verb particles: claim words only directly after a content word (rule 6)."""


@lru_cache(maxsize=1)
def claim_words() -> ClaimWords:
    """Reads `data/claim_words.txt` (its header documents the format and every class)."""
    flags: dict[str, int] = {}
    phrases: dict[str, list[tuple[str, ...]]] = {}
    reach: dict[str, tuple[int, int]] = {}
    particles: set[str] = set()
    class_flags, class_reach, class_particle = 0, None, False
    text = resources.files("lightmem").joinpath("data", "claim_words.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("@"):
            attributes = line.split()[1:]
            class_reach = SCOPE if "scope" in attributes else HEAD if "head" in attributes else None
            class_particle = "particle" in attributes
            class_flags = _core.FLAG_FORCE_KEEP
            class_flags |= _core.FLAG_DATE if "date" in attributes else 0
            class_flags |= _core.FLAG_NUMBER if "number" in attributes else 0
            continue
        for entry in line.split():
            if class_particle:
                particles.add(entry)
                continue
            words = tuple(entry.split("_"))
            if len(words) > 1:
                phrases.setdefault(words[0], []).append(words)
                key = entry
            else:
                key = words[0]
            flags[key] = flags.get(key, 0) | class_flags
            if class_reach is not None:
                reach[key] = max(reach.get(key, class_reach), class_reach)
    for starts in phrases.values():
        starts.sort(key=len, reverse=True)  # the longest phrase wins
    return ClaimWords(flags, phrases, reach, frozenset(particles))


def word_key(word: str) -> str:
    """A word as the vocabulary and the claim-word list know it: lower case, without the punctuation
    at its edges, with every apostrophe (’ ‘ ´ ʼ) read as '."""
    return _EDGE_PUNCTUATION.sub("", word).lower().translate(_APOSTROPHES) or word


@dataclass(frozen=True)
class PrunePlan:
    """How the kernels see one turn: the words they rank (indexes into the turn, in order; fillers
    left out), the flags of each, how many of them each sentence holds, and which may bridge."""

    words: list[int]
    flags: list[int]
    sentence_lengths: list[int]
    bridges: list[bool]
    """Whether each word may bridge two kept words (rule 9): a small word inside its clause."""


def _pattern_claim(key: str) -> tuple[int, tuple[int, int] | None] | None:
    """Claim words found by their form rather than listed: a negation in n't (with its scope), a modal
    in 'll or 'd (with its head), either also with clitics after it (shouldn't've, I'd've), a French
    negation n' ("n'est"), a number written with a digit or number character of any script (with its
    head: "3 kids", "2019", "٣٤", "九十"), a CJK negation ("不", "ない")."""
    match = _PATTERN_CLAIM.search(key)
    if match is not None and (match[1] or match[3]):
        return _core.FLAG_FORCE_KEEP, SCOPE
    if match is not None and match[2]:
        return _core.FLAG_FORCE_KEEP, HEAD
    if match is not None or (not key.isascii() and _has_number_character(key)):
        return _core.FLAG_FORCE_KEEP | _core.FLAG_NUMBER, HEAD
    if not key.isascii() and _CJK_NEGATION.search(key):
        return _core.FLAG_FORCE_KEEP, SCOPE
    return None


def _has_number_character(key: str) -> bool:
    """A character of Unicode category N (digits of every script, Ⅻ, ½) or a CJK numeral."""
    return any(unicodedata.category(c)[0] == "N" or c in _CJK_NUMERALS for c in key)


def _sentences(words: Sequence[str]) -> list[range]:
    if not words:
        return []
    starts = [0]
    for i in range(1, len(words)):
        if _SENTENCE_END.search(words[i - 1]) or words[i].startswith(_CAPTION_START):
            starts.append(i)
    return [range(a, b) for a, b in zip(starts, [*starts[1:], len(words)])]


def _is_filler(words: Sequence[str], keys: Sequence[str], i: int, opens: bool) -> bool:
    """Interjections anywhere; discourse markers opening a sentence or set off by commas."""
    if keys[i] in _INTERJECTIONS:
        return True
    comma_after = _CLAUSE_END.search(words[i]) is not None
    set_off = comma_after and (opens or words[i - 1].endswith(","))
    return keys[i] in _DISCOURSE_MARKERS and (set_off or (opens and keys[i] not in _COMMA_MARKERS))


def prune_turn(words: Sequence[str], keys: Sequence[str], stopword: Sequence[bool]) -> PrunePlan:
    """The plan for one turn: `words` as split on whitespace, `keys` their `word_key`s, `stopword`
    whether each is a stopword (see the module docstring for the rules)."""
    claims = claim_words()
    n = len(words)
    force = [False] * n
    flags = [0] * n
    filler = [False] * n
    sentences = _sentences(words)
    for sentence in sentences:
        opens = True  # only fillers so far in this sentence
        for i in sentence:
            key = keys[i]
            filler[i] = _is_filler(words, keys, i, opens)
            opens = opens and filler[i]
            if key in _DISCOURSE_MARKERS and not filler[i]:
                flags[i] |= _core.FLAG_FILLER
            if stopword[i]:
                flags[i] |= _core.FLAG_STOPWORD
            if words[i][:1].isupper() and i != sentence.start and not stopword[i] and key != "i":
                flags[i] |= _core.FLAG_ENTITY | _core.FLAG_FORCE_KEEP
            claim = _claim_at(words, keys, i, sentence.stop, claims, flags, force)
            if claim is None:
                particle = _particle_at(words, keys, stopword, i, sentence, claims)
                if particle is not None:
                    first, has_head = particle
                    force[first : i + 1] = [True] * (i + 1 - first)
                    claim = (i, HEAD) if has_head else None
            if claim is not None:
                _keep_after(words, keys, stopword, claim, sentence.stop, force)
            _keep_verb(words, keys, stopword, i, sentence.stop, force)
        force[sentence.stop - 1] = True
        if _QUESTION_END.search(words[sentence.stop - 1]):
            opening = next((i for i in sentence if not filler[i]), sentence.stop)
            _keep_question_frame(keys, stopword, range(opening, sentence.stop), force)
    if all(filler):
        filler, force = [False] * n, [True] * n
    kept = [i for i in range(n) if not filler[i]]
    for i in kept:
        if force[i]:
            flags[i] |= _core.FLAG_FORCE_KEEP
    lengths = [sum(not filler[i] for i in sentence) for sentence in sentences]
    bridges = [False] * len(kept)
    for sentence in sentences:
        inside = [p for p, i in enumerate(kept) if i in sentence]
        for p in inside[1:-1]:
            i = kept[p]
            clause_end = _CLAUSE_END.search(words[kept[p - 1]]) or _CLAUSE_END.search(words[i])
            bridges[p] = keys[i] in _LINK_WORDS and not clause_end
    return PrunePlan(kept, [flags[i] for i in kept], [length for length in lengths if length], bridges)


def _claim_at(
    words: Sequence[str],
    keys: Sequence[str],
    i: int,
    stop: int,
    claims: ClaimWords,
    flags: list[int],
    force: list[bool],
) -> tuple[int, tuple[int, int]] | None:
    """Marks the claim word or phrase starting at word `i` (rule 3); returns the index of its last word
    and what it keeps after it, if it keeps anything."""
    key = keys[i]
    for phrase in claims.phrases.get(key, ()):
        end = i + len(phrase)
        inside = end <= stop and not any(_CLAUSE_END.search(words[j]) for j in range(i, end - 1))
        if inside and tuple(keys[i:end]) == phrase:
            entry = "_".join(phrase)
            for j in range(i, end):
                flags[j] |= claims.flags[entry]
                force[j] = True
            reach = claims.reach.get(entry)
            return None if reach is None else (end - 1, reach)
    word_flags, reach = claims.flags.get(key, 0), claims.reach.get(key)
    if not word_flags:
        pattern = _pattern_claim(key)
        if pattern is None:
            return None
        word_flags, reach = pattern
    flags[i] |= word_flags
    force[i] = True
    return None if reach is None else (i, reach)


def _ends_clause(words: Sequence[str], keys: Sequence[str], i: int, stop: int) -> bool:
    """Word `i` is the last of its clause: punctuation after it, its sentence's end, a conjunction next."""
    return bool(_CLAUSE_END.search(words[i])) or i + 1 == stop or keys[i + 1] in _CONJUNCTIONS


def _particle_at(
    words: Sequence[str],
    keys: Sequence[str],
    stopword: Sequence[bool],
    i: int,
    sentence: range,
    claims: ClaimWords,
) -> tuple[int, bool] | None:
    """Rule 6: if word `i` is a phrasal verb's particle, the first word to keep with it (its verb, or
    its verb and object pronoun) and whether it keeps its head after it."""
    key = keys[i]
    if key not in claims.particles or i == sentence.start or _CLAUSE_END.search(words[i - 1]):
        return None
    previous = i - 1
    prepositional = key in _PREPOSITIONAL_PARTICLES
    if _is_content(keys[previous], stopword[previous]):
        if not prepositional:
            return previous, True
        if _ends_clause(words, keys, i, sentence.stop) or keys[i + 1] in _PREPOSITIONS:
            return previous, False
        return None
    if keys[previous] in _BE_FORMS and not prepositional:
        return previous, True
    verb = previous - 1
    if (
        keys[previous] in _OBJECT_PRONOUNS
        and verb >= sentence.start
        and not _CLAUSE_END.search(words[verb])
        and _is_content(keys[verb], stopword[verb])
    ):
        return verb, False
    if _ends_clause(words, keys, i, sentence.stop):
        return i, False
    return None


def _keep_verb(
    words: Sequence[str], keys: Sequence[str], stopword: Sequence[bool], i: int, stop: int, force: list[bool]
) -> None:
    """Rule 8: after a subject pronoun at word `i`, the words through its main verb (the first word
    that is not a function word: "like" and "know" are verbs though they are stopwords), past
    auxiliaries, negations and adverbs, and after an auxiliary past determiners, at most VERB_REACH
    words; or through its last auxiliary if no such word follows. A subject contracted with its
    auxiliary (I'm, you've) is kept too; a bare subject pronoun is not."""
    if keys[i] not in _SUBJECTS and keys[i] not in _SUBJECT_AUXILIARIES:
        return
    contracted = keys[i] in _SUBJECT_AUXILIARIES
    first, last_auxiliary = (i, i) if contracted else (i + 1, None)
    for j in range(i + 1, min(i + 1 + VERB_REACH, stop)):
        key = keys[j]
        if _CLAUSE_END.search(words[j - 1]) or key in _CONJUNCTIONS:
            break
        adverb = key in _VERB_ADVERBS or key.endswith("ly")
        if key in _AUXILIARIES or _NEGATED.search(key):
            last_auxiliary = j
        elif key not in _FUNCTION_WORDS and not adverb:
            force[first : j + 1] = [True] * (j + 1 - first)
            return
        elif not (adverb or (last_auxiliary is not None and key in _DETERMINERS)):
            break
    if last_auxiliary is not None:
        force[first : last_auxiliary + 1] = [True] * (last_auxiliary + 1 - first)


def _keep_after(
    words: Sequence[str],
    keys: Sequence[str],
    stopword: Sequence[bool],
    claim: tuple[int, tuple[int, int]],
    stop: int,
    force: list[bool],
) -> None:
    """Rule 4: after the claim's last word, the words up to its `reach[0]`-th content word, at most
    `reach[1]` words, within its clause; never ending on a function word."""
    last, (content_words, most) = claim
    reached = last
    for j in range(last + 1, min(last + 1 + most, stop)):
        if _CLAUSE_END.search(words[j - 1]) or keys[j] in _CONJUNCTIONS:
            break
        if _is_content(keys[j], stopword[j]):
            reached, content_words = j, content_words - 1
            if content_words == 0:
                break
    for j in range(last + 1, reached + 1):
        force[j] = True


def _keep_question_frame(
    keys: Sequence[str], stopword: Sequence[bool], sentence: range, force: list[bool]
) -> None:
    """Rule 7: a question's opening through the first content word after its first auxiliary ("How
    long have you had", "Do you like"), if that is within its first QUESTION_FRAME_WORDS words; else
    its wh-word through the next content word ("What gave")."""
    window = range(sentence.start, min(sentence.start + QUESTION_FRAME_WORDS, sentence.stop))
    if not window:
        return
    after_auxiliary = False
    for j in window:
        key = keys[j]
        if after_auxiliary and (key in _AUXILIARIES or _is_content(key, stopword[j])):
            force[sentence.start : j + 1] = [True] * (j + 1 - sentence.start)
            return
        after_auxiliary = after_auxiliary or key in _AUXILIARIES or _NEGATED.search(key) is not None
    if keys[sentence.start] in _WH_WORDS:
        for j in window[1:]:
            if _is_content(keys[j], stopword[j]):
                force[sentence.start : j + 1] = [True] * (j + 1 - sentence.start)
                return


def _is_content(key: str, stopword: bool) -> bool:
    """Neither a stopword nor a closed-class function word: what a head or a question frame reaches for."""
    return not (stopword or key in _FUNCTION_WORDS)
