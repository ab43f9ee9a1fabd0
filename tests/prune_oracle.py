"""A plain Python version of the pruner's rules (`lightmem.prune_rules`, rust/src/prune_rules.rs),
written word by word as the rules read, with its own word lists: the oracle that tests/test_prune_rules.py
checks `lightmem._core.PruneRules` against. Same results on text whose characters Python and Rust
class alike (Python's `\\w` and Rust's `is_alphanumeric` differ on some combining marks)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from lightmem import _core
from lightmem.prune_rules import claim_words_text

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
NOUN_PHRASE_WORDS = 6
"""Rule 10: a noun phrase is at most this many words, its opening word included."""

_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
_SENTENCE_END = re.compile(r"[.!?;…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[,.!?;:…)\]\"”]$")
_CAPTION_START = "["
_QUESTION_END = re.compile(r"\?[\"'”’)\]]*$")
_MODAL = re.compile(r"(?:'ll|'d)(?:'[a-z]+)*$")
_ELIDED = re.compile(r"^n'\w")
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
    "will would what's who's where's how's when's why's that's it's there's here's".split()
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
    "i'm you're we're they're he's she's it's who's i've you've we've they've who've i'll you'll he'll "
    "she'll we'll they'll it'll i'd you'd he'd she'd we'd they'd".split()
)
"""A subject pronoun contracted with its auxiliary or modal (with 'll and 'd also modals, rule 3)."""
_VERB_ADVERBS = (_DISCOURSE_MARKERS - _COMMA_MARKERS) | frozenset(
    "not never also even always still already ever often usually sometimes finally then again all both "
    "each".split()
)
"""Adverbs that stand between a subject and its verb (besides the words in -ly)."""
_DETERMINERS = frozenset("a an the my your his her its our their this that these those".split())
_OBJECT_PRONOUNS = frozenset("it them him her me us you this that".split())
_BE_FORMS = frozenset(
    "am is are was were be been being i'm you're we're they're he's she's it's who's i've you've we've "
    "they've who've".split()
)
_PREPOSITIONAL_PARTICLES = frozenset("on in".split())
"""Particles that are far more often prepositions: particles only after an object pronoun, before
another preposition or at the end of their clause (rule 6)."""
_PREPOSITIONS = frozenset("at to with for from on in by of about into onto".split())
_LINK_WORDS = _PREPOSITIONS | _CONJUNCTIONS | _BE_FORMS
"""What rule 9 puts back between two kept words: prepositions, conjunctions and forms of "be"."""
_PAST_TENSES = frozenset(
    "went gone took taken made got gotten gave given came saw seen knew known thought told found felt "
    "left kept brought bought began begun ran ate eaten drank drunk wrote written spoke spoken broke "
    "broken chose chosen drove driven flew flown forgot forgotten grew grown held heard lost met paid "
    "sent sold spent stood taught understood won wore worn sang sung swam swum threw thrown caught fell "
    "fallen fought hung hid hidden led lent meant rode ridden rose said sat slept stole shook shot built "
    "burnt dealt dug drew drawn fed fled forgave froze frozen laid mistook overcame rang shone shown "
    "shrank sank sought spun stuck struck swore swept swung tore torn woke woken".split()
)
"""Irregular past tenses and participles of common English verbs (the regular ones end in -ed)."""
_OBJECT_OPENERS = frozenset("a an the my your his her its our their these those me him us them".split())
"""What opens a noun phrase that is an object: a word directly before one is a verb (rule 10)."""
_OTHER_PREPOSITIONS = frozenset(
    "near under behind across along through around between during towards toward inside outside above "
    "below beside beyond among despite throughout upon via before after until till since within without "
    "against versus except unlike".split()
)
"""The prepositions not in `_PREPOSITIONS`: neither nouns nor verbs (rule 10)."""
_OBJECT_CASE = frozenset(
    "me him her it us them you myself yourself himself herself itself ourselves yourselves themselves".split()
)
"""Pronouns in the object case and reflexives: a kept word's object (rule 12)."""
_PERSONAL_SUBJECTS = frozenset("i you he she we they it".split())
"""Subject pronouns kept with their verb, but for a sentence's first subject "I" (rule 12)."""
_SUBORDINATORS = frozenset(
    "that if whether and but or so because while whereas when though although unless until since before "
    "after once as".split()
)
"""Conjunctions and subordinators: a subject pronoun after one opens a clause of its own (rule 12)."""
_REPORTED = _PERSONAL_SUBJECTS | frozenset("that if whether when where why how what".split())
"""What opens a reported or embedded clause: a word directly before one is a verb (rules 12, 13)."""
_RELATIVES = frozenset("who which that".split())
"""Relative pronouns: after a subject's head they open a clause about it (rule 14)."""
_PRESENTATIVES = frozenset("that's there's here's".split())
"""A demonstrative or "there" / "here" contracted with "is": its verb group is kept, as a subject
pronoun's with its auxiliary (rule 16: "here's a painting")."""
_POSSESSIVES = frozenset("my your his her our their its".split())
"""Possessive determiners: kept with the noun they determine (rule 16)."""
_CAUSATIVES = frozenset("let lets letting make makes made making help helps helped helping".split())
"""Verbs whose object a bare infinitive follows (rule 19: "let me know", "helps me fall asleep")."""
_DO_HAVE = frozenset("have has had do does did".split())
"""Auxiliaries that are main verbs before an object, after a conjunction (rule 20)."""
_QUANTIFIERS = frozenset("any some every each many several most both few".split())
"""Quantifiers before a noun phrase: its head is kept with them (rule 18: "any positive vibes")."""
_BASE_AUXILIARIES = frozenset("have be do".split())
"""Auxiliaries that are also main verbs after "to" ("lucky to have", rule 19)."""
_ROLES = frozenset("as like".split())
"""Words of role and comparison before a noun phrase (rule 13): a verb in -s before one is a verb
(rule 17), and the noun phrase keeps its head and prepositional phrase (rule 18)."""
_TIME_UNITS = frozenset("second minute hour day week fortnight month year decade century couple few".split())
"""Units of time: "a" / "an" before one is a quantity ("about a week", rule 13)."""
_LIST_MARKER = re.compile(r"[-–—•·*]|\(?(?:[0-9]{1,2}|[A-Za-z])\)|[0-9]{1,2}\.")
"""A list item's marker standing as a word (rule 14): a bullet, or "1)", "(2)", "3.", "a)"."""
_BRACKETS = re.compile(r"[\[\]]")


@dataclass(frozen=True)
class ClaimWords:
    """The shipped claim-word classes: flags per key (a phrase's key joins its words with "_"),
    phrases by first word, and what each key keeps after it (`HEAD` or `SCOPE`), if anything."""

    flags: dict[str, int]
    phrases: dict[str, list[tuple[str, ...]]]
    reach: dict[str, tuple[int, int]]
    particles: frozenset[str]
    """Phrasal-verb particles: claim words only directly after a content word (rule 6)."""
    numeral: frozenset[str]
    """Keys that are claim words only directly before a quantity (the `numeral` attribute, rule 13)."""


@lru_cache(maxsize=1)
def claim_words() -> ClaimWords:
    """Reads `data/claim_words.txt` (its header documents the format and every class)."""
    flags: dict[str, int] = {}
    phrases: dict[str, list[tuple[str, ...]]] = {}
    reach: dict[str, tuple[int, int]] = {}
    particles: set[str] = set()
    numeral: set[str] = set()
    unconditional: set[str] = set()
    class_flags, class_reach, class_particle, class_numeral = 0, None, False, False
    text = claim_words_text()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("@"):
            attributes = line.split()[1:]
            class_reach = SCOPE if "scope" in attributes else HEAD if "head" in attributes else None
            class_particle = "particle" in attributes
            class_numeral = "numeral" in attributes
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
            (numeral if class_numeral else unconditional).add(key)
            if class_reach is not None:
                reach[key] = max(reach.get(key, class_reach), class_reach)
    for starts in phrases.values():
        starts.sort(key=len, reverse=True)  # the longest phrase wins
    return ClaimWords(flags, phrases, reach, frozenset(particles), frozenset(numeral - unconditional))


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
    if _NEGATED.search(key):
        return _core.FLAG_FORCE_KEEP, SCOPE
    if _MODAL.search(key):
        return _core.FLAG_FORCE_KEEP, HEAD
    if _ELIDED.search(key):
        return _core.FLAG_FORCE_KEEP, SCOPE
    if _has_number_character(key):
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
            leading = opens  # no word but fillers before word i
            opens = opens and filler[i]
            if key in _DISCOURSE_MARKERS and not filler[i]:
                flags[i] |= _core.FLAG_FILLER
            if stopword[i]:
                flags[i] |= _core.FLAG_STOPWORD
            if words[i][:1].isupper() and i != sentence.start and not stopword[i] and key != "i":
                flags[i] |= _core.FLAG_ENTITY | _core.FLAG_FORCE_KEEP
            claim = _claim_at(words, keys, i, sentence.stop, claims, flags, force)
            if claim is None and not (leading or filler[i]) and _is_result_so(words, keys, i, sentence.stop):
                force[i] = True
                claim = (i, HEAD)
            if claim is None:
                particle = _particle_at(words, keys, stopword, i, sentence, claims)
                if particle is not None:
                    first, has_head = particle
                    force[first : i + 1] = [True] * (i + 1 - first)
                    claim = (i, HEAD) if has_head else None
            if claim is not None:
                _keep_after(words, keys, stopword, claim, sentence.stop, force)
            _keep_verb(words, keys, stopword, i, sentence.stop, force)
            if _BRACKETS.search(words[i]):
                force[i] = True  # rule 11
        force[sentence.stop - 1] = True
        opening = next((i for i in sentence if not filler[i]), sentence.stop)
        if _QUESTION_END.search(words[sentence.stop - 1]):
            _keep_question_frame(keys, stopword, range(opening, sentence.stop), force)
        _Clause(words, keys, stopword, claims, force).keep_heads(range(opening, sentence.stop))
        _keep_object_pronouns(words, keys, range(opening, sentence.stop), force)
        _Clause(words, keys, stopword, claims, force).keep_noun_heads(range(opening, sentence.stop))
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
            if entry in claims.numeral and not _is_quantity(words, keys, end, stop, claims):
                continue
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
    elif key in claims.numeral and not _is_quantity(words, keys, i + 1, stop, claims):
        return None
    flags[i] |= word_flags
    force[i] = True
    return None if reach is None else (i, reach)


def _is_result_so(words: Sequence[str], keys: Sequence[str], i: int, stop: int) -> bool:
    """Rule 15: "so" inside a sentence (not its first word, nor after an auxiliary: "was so cool")
    opening a clause of result: after a comma, or before a subject pronoun, a subject contracted with
    its auxiliary or a determiner ("so we left", "so my roommate is moving")."""
    if keys[i] != "so" or i + 1 >= stop or _CLAUSE_END.search(words[i]) or keys[i - 1] in _AUXILIARIES:
        return False
    following = keys[i + 1]
    subject = following in _PERSONAL_SUBJECTS or following in _SUBJECT_AUXILIARIES
    return words[i - 1].endswith(",") or subject or following in _DETERMINERS


def _is_third_person(key: str) -> bool:
    """A verb's third person singular by its form: a word of ASCII letters in -s (not -ss), four or more."""
    letters = re.fullmatch("[a-z]+", key) is not None
    return letters and len(key) >= 4 and key.endswith("s") and not key.endswith("ss")


def _is_past(key: str) -> bool:
    """A past tense or participle: an irregular one, or a regular one by its form."""
    return key in _PAST_TENSES or _is_regular_past(key)


def _is_gerund_form(key: str) -> bool:
    """A gerund or present participle by its form: a word of ASCII letters in -ing, five or more."""
    return len(key) >= 5 and key.endswith("ing") and re.fullmatch("[a-z]+", key) is not None


def _is_number(key: str, claims: ClaimWords) -> bool:
    """A number (rule 3): a number word, or by its form."""
    if claims.flags.get(key):
        return bool(claims.flags[key] & _core.FLAG_NUMBER)
    pattern = _pattern_claim(key)
    return pattern is not None and bool(pattern[0] & _core.FLAG_NUMBER)


def _is_quantity(words: Sequence[str], keys: Sequence[str], k: int, stop: int, claims: ClaimWords) -> bool:
    """Rule 13: whether a quantity starts at word `k` (in the clause of word `k - 1`): a number, "half",
    or "a" / "an" before a number or a unit of time."""
    if k >= stop or _CLAUSE_END.search(words[k - 1]):
        return False
    if _is_number(keys[k], claims) or keys[k] == "half":
        return True
    article = keys[k] in ("a", "an") and not _CLAUSE_END.search(words[k])
    return article and k + 1 < stop and (_is_number(keys[k + 1], claims) or keys[k + 1] in _TIME_UNITS)


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
    group = _verb_group(words, keys, i, stop, contracted)
    if group is not None:
        first = i if contracted else i + 1
        force[first : group[0] + 1] = [True] * (group[0] + 1 - first)


def _verb_group(
    words: Sequence[str], keys: Sequence[str], i: int, stop: int, auxiliary: bool
) -> tuple[int, bool] | None:
    """The verb group after the subject at word `i` (itself an auxiliary if `auxiliary`): the index of
    its main verb and True, or of its last auxiliary and False; None if neither follows."""
    last_auxiliary = i if auxiliary else None
    if _CLAUSE_END.search(words[i]):
        return None if last_auxiliary is None else (last_auxiliary, False)
    return _verb_group_from(words, keys, i + 1, stop, last_auxiliary)


def _verb_group_from(
    words: Sequence[str], keys: Sequence[str], first: int, stop: int, last_auxiliary: int | None
) -> tuple[int, bool] | None:
    """The verb group from word `first` on (within its clause), after the auxiliary `last_auxiliary`
    if any: the index of its main verb and True, or of its last auxiliary and False."""
    for j in range(first, min(first + VERB_REACH, stop)):
        key = keys[j]
        # "so" right after an auxiliary is an intensifier ("was so cool"), not a conjunction.
        intensifier = key == "so" and last_auxiliary == j - 1
        if (j > first and _CLAUSE_END.search(words[j - 1])) or (key in _CONJUNCTIONS and not intensifier):
            break
        adverb = key in _VERB_ADVERBS or key.endswith("ly")
        if key in _AUXILIARIES or _NEGATED.search(key):
            last_auxiliary = j
        elif key not in _FUNCTION_WORDS and not adverb:
            return j, True
        elif not (adverb or (last_auxiliary is not None and key in _DETERMINERS)):
            break
    return None if last_auxiliary is None else (last_auxiliary, False)


@dataclass
class _Clause:
    """Rule 10 over one sentence's words: subject heads with their verbs, object heads."""

    words: Sequence[str]
    keys: Sequence[str]
    stopword: Sequence[bool]
    claims: ClaimWords
    force: list[bool]

    def keep_heads(self, sentence: range) -> None:
        """In each clause of `sentence` (opening past its fillers): the head of a noun-phrase subject
        with its verb group (as rule 8 reads it after a pronoun), and the head of the noun phrase
        after a main verb (its object; past particles and prepositions) with a prepositional phrase
        after it, an imperative verb, and rule 14's clauses."""
        words, keys, force = self.words, self.keys, self.force
        stop = sentence.stop
        after_verb = False  # a main verb was just kept: a noun phrase next is its object
        seen_verb = False  # a verb group was kept before word j (rule 12)
        awaiting_verb = False  # a subject's head was kept before its relative clause (rule 14)
        j = sentence.start
        while j < stop:
            key = keys[j]
            # "her" is a pronoun only before a preposition: "went with her to the lake".
            pronoun = key not in _DETERMINERS or (
                j + 1 < stop and (keys[j + 1] in _PREPOSITIONS or keys[j + 1] in _OTHER_PREPOSITIONS)
            )
            object_pronoun = (
                after_verb
                and key in _OBJECT_CASE
                and pronoun
                and not (key in _SUBJECTS and _verb_group(words, keys, j, stop, False) is not None)
            )
            if object_pronoun:
                # Rule 14: a prepositional phrase after an object pronoun ("make it to the reunion").
                inner = self._keep_modifier(j, stop)
                if inner is None and self._is_bare_infinitive(j, stop):
                    force[j + 1] = after_verb = True  # rule 19: "helps me fall asleep"
                    j += 2
                    continue
                # Rule 19: else a second object may follow ("lent us their ladder").
                after_verb = inner is None and self._second_object_follows(j, stop)
                j = j + 1 if inner is None else inner + 1
                continue
            if key in _SUBJECTS or key in _SUBJECT_AUXILIARIES or key in _PRESENTATIVES:
                contracted = key in _SUBJECT_AUXILIARIES or key in _PRESENTATIVES
                group = _verb_group(words, keys, j, stop, contracted)
                if group is not None and key in _PERSONAL_SUBJECTS:
                    # Rule 12: the speaker "I" may go only as the sentence's first subject.
                    after_subordinator = j > sentence.start and keys[j - 1] in _SUBORDINATORS
                    if key != "i" or seen_verb or after_subordinator:
                        force[j] = True
                if group is not None and key in _PRESENTATIVES:
                    force[j : group[0] + 1] = [True] * (group[0] + 1 - j)  # rule 16
                seen_verb = seen_verb or group is not None
                last = j if group is None else group[0]
                # After a main verb, or a form of "be" without one, comes an object or complement.
                opens_object = group is not None and (group[1] or keys[last] in _BE_FORMS)
                after_verb = opens_object and not _CLAUSE_END.search(words[last])
                j = last + 1
                continue
            if awaiting_verb and self._verb_starts(j, stop, True):
                group = _verb_group_from(words, keys, j, stop, None)
                if group is not None:
                    last, main = group
                    force[j : last + 1] = [True] * (last + 1 - j)
                    after_verb = (main or keys[last] in _BE_FORMS) and not _CLAUSE_END.search(words[last])
                    awaiting_verb, seen_verb = False, True
                    j = last + 1
                    continue
            item = j > sentence.start and _LIST_MARKER.fullmatch(words[j - 1]) is not None
            gerund = self._keep_gerund_subject(j, stop) if j == sentence.start or item else None
            if gerund is not None:
                last, main = gerund
                after_verb = (main or keys[last] in _BE_FORMS) and not _CLAUSE_END.search(words[last])
                seen_verb = True
                j = last + 1
                continue
            if self._is_clause_verb(j, sentence.start, stop, item):
                force[j] = after_verb = seen_verb = True
                if j > sentence.start and not item:
                    force[j - 1] = True  # its conjunction or "then" (rule 20)
                j += 1
                continue
            after_predicate = after_verb and j > sentence.start and force[j - 1]
            if self._is_infinitive(j, sentence.start, stop, after_predicate):
                force[j] = force[j + 1] = after_verb = True
                j += 2
                continue
            role = self._keep_role(j, stop)
            if role is not None:
                after_verb = False
                j = role + 1
                continue
            opens_clause = (
                j == sentence.start
                or item
                or bool(_CLAUSE_END.search(words[j - 1]))
                or keys[j - 1] in _CONJUNCTIONS
            )
            head = self._noun_phrase(j, stop, after_verb or opens_clause, after_verb)
            if head is not None:
                verb = self._verb_starts(head + 1, stop, not after_verb)
                group = _verb_group(words, keys, head, stop, False) if verb else None
                if group is not None:
                    last, main = group
                    force[head : last + 1] = [True] * (last + 1 - head)
                    after_verb = (main or keys[last] in _BE_FORMS) and not _CLAUSE_END.search(words[last])
                    seen_verb = True
                    j = last + 1
                    continue
                last = None if after_verb else self._verb_after_modifier(head, stop)
                if last is not None:
                    force[head] = seen_verb = True
                    after_verb = not _CLAUSE_END.search(words[last])
                    j = last + 1
                    continue
                subject = None
                if opens_clause and not after_verb:
                    subject = self._keep_subject_clause(j, head, stop)
                if subject is not None:
                    j, after_verb, awaiting_verb = subject
                    seen_verb = seen_verb or after_verb
                    continue
                listed = j > sentence.start and self._is_list_item(j, head, stop)
                is_object = after_verb or item or listed
                force[head] = force[head] or is_object
                preposition = (
                    j > sentence.start
                    and (keys[j - 1] in _PREPOSITIONS or keys[j - 1] in _OTHER_PREPOSITIONS)
                    and not _CLAUSE_END.search(words[j - 1])
                )
                if after_verb and preposition:
                    force[j - 1] = True  # its preposition: "works [at the] hospital"
                was_object, after_verb = after_verb, False
                j = head + 1
                if is_object:
                    inner = self._keep_modifier(head, stop)
                    relative = None if inner is not None else self._keep_object_relative(head, stop)
                    if inner is not None:
                        j = inner + 1
                    elif relative is not None:
                        last, main = relative
                        after_verb = main and not _CLAUSE_END.search(words[last])
                        j = last + 1
                    else:
                        # Rule 19: a second object ("gave my brother a guitar").
                        after_verb = was_object and self._second_object_follows(head, stop)
                continue
            preposition = key in _PREPOSITIONS or key in _OTHER_PREPOSITIONS or key in self.claims.particles
            after_verb = after_verb and preposition and not _CLAUSE_END.search(words[j])
            j += 1

    def _is_clause_verb(self, j: int, start: int, stop: int, item: bool) -> bool:
        """Rule 14: a clause's verb without a subject of its own: at a sentence's or list item's start
        an imperative; after a conjunction or "then", a past form or a content word before an object."""
        if j == start or item:
            return self._is_imperative(j, stop)
        words, keys = self.words, self.keys
        coordinated = keys[j - 1] in _CONJUNCTIONS or keys[j - 1] == "then"
        # Rule 20: "have" and "do" are main verbs here too ("and have a great community").
        verb = self._is_noun(j) or keys[j] in _DO_HAVE
        if not coordinated or _CLAUSE_END.search(words[j - 1]) or not verb or self._is_claim(j):
            return False
        before_object = (
            j + 1 < stop
            and not _CLAUSE_END.search(words[j])
            and (keys[j + 1] in _OBJECT_OPENERS or keys[j + 1] in _OBJECT_CASE)
        )
        # Rule 20: a verb in -s coordinated with a kept verb in -s ("brings us together and brings joy").
        agrees = (
            _is_third_person(keys[j])
            and not _CLAUSE_END.search(words[j])
            and any(self.force[k] and _is_third_person(keys[k]) for k in range(start, j - 1))
        )
        # Rule 20: a content word before an infinitive ("and ask to go there").
        before_infinitive = (
            j + 1 < stop
            and not _CLAUSE_END.search(words[j])
            and keys[j + 1] == "to"
            and self._is_infinitive(j + 1, start, stop, True)
        )
        return _is_past(keys[j]) or before_object or agrees or before_infinitive

    def _is_infinitive(self, j: int, start: int, stop: int, after_predicate: bool) -> bool:
        """Rule 14: "to" before a content word that an object follows ("hope to build a shelter", "to quit
        your job"); after an auxiliary or a claim word also before a preposition ("had to wait for").
        Rule 19: "have", "be" and "do" are verbs after "to", and "to" directly after a kept predicate
        (`after_predicate`: "lucky to have", "happy to help.") is an infinitive whatever follows."""
        words, keys = self.words, self.keys
        base = j + 1 < stop and (self._is_noun(j + 1) or keys[j + 1] in _BASE_AUXILIARIES)
        if keys[j] != "to" or _CLAUSE_END.search(words[j]) or not base:
            return False
        if after_predicate:
            return True
        if j + 2 >= stop or _CLAUSE_END.search(words[j + 1]):
            return False
        marked = j > start and (keys[j - 1] in _AUXILIARIES or self._is_claim(j - 1))
        return (
            keys[j + 2] in _OBJECT_OPENERS
            or keys[j + 2] in _OBJECT_CASE
            or (marked and keys[j + 2] in _PREPOSITIONS)
        )

    def _keep_gerund_subject(self, j: int, stop: int) -> tuple[int, bool] | None:
        """Rule 17: a clause opening with a word in -ing, then only nouns, determiners, "and", "or",
        prepositions and adverbs up to a verb (within NOUN_PHRASE_WORDS words), is a gerund subject:
        keeps the gerund, the last noun of each run of nouns after it and the verb group ("Painting
        landscapes and still life is my favorite"); returns the verb group's end and whether it ends
        on a main verb."""
        words, keys = self.words, self.keys
        gerund = _is_gerund_form(keys[j]) and self._is_noun(j) and not self._is_claim(j)
        if not gerund or _CLAUSE_END.search(words[j]):
            return None
        for k in range(j + 1, min(j + 1 + NOUN_PHRASE_WORDS, stop)):
            if _CLAUSE_END.search(words[k - 1]):
                return None
            adverb = keys[k] in _VERB_ADVERBS or keys[k].endswith("ly")
            if not adverb and self._verb_starts(k, stop, True):
                group = _verb_group_from(words, keys, k, stop, None)
                if group is None:
                    return None
                nouns = [i for i in range(j + 1, k) if _is_content(keys[i], self.stopword[i])]
                ends = [i for i in nouns if i + 1 not in nouns]  # the last noun of each run
                prepositions = [i for i in range(j + 1, k) if keys[i] in _PREPOSITIONS]
                for i in [j, *ends, *prepositions, *range(k, group[0] + 1)]:
                    self.force[i] = True
                return group
            linking = keys[k] in _DETERMINERS or keys[k] in ("and", "or") or keys[k] in _PREPOSITIONS
            linking = linking or keys[k] in _OBJECT_CASE
            if not (adverb or linking or _is_content(keys[k], self.stopword[k])):
                return None
        return None

    def _keep_role(self, j: int, stop: int) -> int | None:
        """Rule 18: after "as" or "like" (a claim word, rule 13), the head of the noun phrase it
        introduces, unless a verb follows it, and the prepositional phrase after that head ("works as a
        nurse at the children's hospital"); returns the last word kept."""
        words, keys = self.words, self.keys
        if keys[j] not in _ROLES or not self._is_claim(j) or j + 1 >= stop or _CLAUSE_END.search(words[j]):
            return None
        head = self._noun_phrase(j + 1, stop, True, True)
        if head is None or self._verb_starts(head + 1, stop, True):
            return None
        self.force[head] = True
        inner = self._keep_modifier(head, stop)
        return head if inner is None else inner

    def _keep_object_relative(self, head: int, stop: int) -> tuple[int, bool] | None:
        """Rule 19: a relative pronoun (who, which, that) after an object's head, with the relative
        clause's verb group up to its main verb ("remember those moments that bring us happiness")."""
        words, keys = self.words, self.keys
        following = head + 1
        if following >= stop or _CLAUSE_END.search(words[head]) or keys[following] not in _RELATIVES:
            return None
        group = _verb_group(words, keys, following, stop, False)
        if group is None or not group[1]:
            return None
        self.force[following : group[0] + 1] = [True] * (group[0] + 1 - following)
        return group

    def _second_object_follows(self, head: int, stop: int) -> bool:
        """Rule 19: after an object's head, a determiner (not "this" or "that") opens a second object."""
        following = head + 1
        return (
            following < stop
            and not _CLAUSE_END.search(self.words[head])
            and self.keys[following] in _DETERMINERS
            and self.keys[following] in _OBJECT_OPENERS
        )

    def keep_noun_heads(self, sentence: range) -> None:
        """Rule 18: the head of a noun phrase that opens at a determiner, possessive or number and
        holds two content words or more ("a stained glass window", "the children's hospital"), and of
        one that goes on after a comma ("a safe, inviting place"); a gerund with its object ("spending
        time"); a noun phrase's head with the participle after it ("a horse painted on"), and before one
        in -ing the preposition before the phrase ("with a person holding a key"). Rule 16: a possessive
        (my, your, ..., a noun in 's) whose noun phrase keeps a word is kept ("My sister", "Nature's
        amazing")."""
        words, keys, force = self.words, self.keys, self.force
        stop = sentence.stop
        for j in sentence:
            key = keys[j]
            possessive = key in _POSSESSIVES or (key.endswith("'s") and self._is_noun(j))
            determined = j > sentence.start and (
                keys[j - 1] in _DETERMINERS
                or keys[j - 1].endswith("'s")
                or _is_number(keys[j - 1], self.claims)
            )
            if _is_gerund_form(key) and not determined and self._is_noun(j) and not self._is_claim(j):
                head = self._noun_phrase(j, stop, True, False)
                if head is not None and head > j:
                    force[j] = force[head] = True
                continue
            if key in _QUANTIFIERS:
                # A quantifier keeps its first content word (rule 4); the noun it counts is kept too.
                head = self._noun_phrase(j + 1, stop, True, False) if j + 1 < stop else None
                if head is not None and head > j + 1 and not _CLAUSE_END.search(words[j]):
                    force[head] = True
                continue
            if not (possessive or key in _DETERMINERS or _is_number(key, self.claims)):
                continue
            head = self._noun_phrase(j, stop, False, False)
            if head is None:
                continue
            following = head + 1
            participle = (
                following < stop
                and not _CLAUSE_END.search(words[head])
                and (_is_gerund_form(keys[following]) or _is_past(keys[following]))
                and self._verb_starts(following, stop, True)
            )
            if participle:
                force[head] = force[following] = True
                # The preposition only before a participle in -ing: one in -ed may be a main verb.
                before = j - 1
                preposition = keys[before] in _PREPOSITIONS or keys[before] in _OTHER_PREPOSITIONS
                preposition = preposition and _is_gerund_form(keys[following])
                if j > sentence.start and preposition and not _CLAUSE_END.search(words[before]):
                    force[before] = True
            if sum(_is_content(keys[k], self.stopword[k]) for k in range(j, head + 1)) >= 2:
                force[head] = True
                if _is_gerund_form(keys[head]) and _is_content(keys[head - 1], self.stopword[head - 1]):
                    force[head - 1] = True  # a noun before its participle: "a bicycle leaning"
            if words[head].endswith(",") and head + 1 < stop:
                after = self._noun_phrase(head + 1, stop, True, False)
                if after is not None and after > head + 1:
                    force[after] = True
            if possessive and any(force[j + 1 : head + 1]):
                force[j] = True

    def _is_list_item(self, opener: int, head: int, stop: int) -> bool:
        """Rule 14: the noun phrase from `opener` (not its sentence's first word) to `head` (with a
        prepositional phrase after it) is a whole clause after a comma or colon: a list's item."""
        after_comma = self.words[opener - 1].endswith((",", ":"))
        inner = self._modifier_head(head, stop)
        end = head if inner is None else inner
        return after_comma and _ends_clause(self.words, self.keys, end, stop)

    def _modifier_head(self, head: int, stop: int) -> int | None:
        """Rule 14: the head of a prepositional phrase directly after the noun at `head`, if any."""
        words, keys = self.words, self.keys
        preposition = (
            head + 2 < stop
            and not _CLAUSE_END.search(words[head])
            and (keys[head + 1] in _PREPOSITIONS or keys[head + 1] in _OTHER_PREPOSITIONS)
            and not _CLAUSE_END.search(words[head + 1])
            # Rule 19: "to" before a verb and its object is an infinitive ("too shy to ask his boss").
            and not self._is_infinitive(head + 1, head, stop, False)
        )
        return self._noun_phrase(head + 2, stop, True, True) if preposition else None

    def _keep_modifier(self, head: int, stop: int) -> int | None:
        """Rule 14: after an object's head, a preposition and the head of its noun phrase ("took the
        kids to the museum"), and a second one after that (rule 19: "for a house with a big garden");
        returns the last head's index."""
        inner = self._modifier_head(head, stop)
        if inner is None:
            return None
        self.force[head + 1] = self.force[inner] = True
        second = self._modifier_head(inner, stop)
        if second is None:
            return inner
        self.force[inner + 1] = self.force[second] = True
        return second

    def _is_bare_infinitive(self, j: int, stop: int) -> bool:
        """Rule 19: the object pronoun at `j` of "let", "make" or "help" is followed by a bare
        infinitive, a content word ("let me know", "helps me fall asleep")."""
        words, keys = self.words, self.keys
        return (
            j + 1 < stop
            and keys[j - 1] in _CAUSATIVES
            and not _CLAUSE_END.search(words[j - 1])
            and not _CLAUSE_END.search(words[j])
            and self._is_noun(j + 1)
        )

    def _keep_subject_clause(self, opener: int, head: int, stop: int) -> tuple[int, bool, bool] | None:
        """Rule 14: if the subject's head at `head` (of a noun phrase opening at `opener`) is followed by
        a relative clause (without a pronoun only after a determiner, possessive or number), an
        appositive or a coordinate subject, keeps the head with what marks it; returns (the next word
        to read, whether a main verb was just kept, whether the subject's verb is still to come)."""
        words, keys, force = self.words, self.keys, self.force
        following = head + 1
        if following + 1 >= stop:
            return None
        relative = keys[following] in _RELATIVES and not _CLAUSE_END.search(words[following])
        if relative and (words[head].endswith(",") or not _CLAUSE_END.search(words[head])):
            force[head] = force[following] = True
            group = _verb_group(words, keys, following, stop, False)
            if group is None:
                return following + 1, False, True
            last, main = group
            force[following + 1 : last + 1] = [True] * (last - following)
            return last + 1, main and not _CLAUSE_END.search(words[last]), True
        if words[head].endswith(","):
            opens = keys[following] in _DETERMINERS or keys[following].endswith("'s")
            inner = self._noun_phrase(following, stop, True, False) if opens else None
            if inner is None or not words[inner].endswith(",") or inner + 1 >= stop:
                return None
            group = _verb_group_from(words, keys, inner + 1, stop, None)
            if group is None:
                return None
            last, main = group
            force[head] = force[inner] = True
            force[inner + 1 : last + 1] = [True] * (last - inner)
            return last + 1, main and not _CLAUSE_END.search(words[last]), False
        if _CLAUSE_END.search(words[head]):
            return None
        opener_key = keys[opener]
        determined = opener_key in _DETERMINERS or opener_key.endswith("'s")
        determined = determined or _is_number(opener_key, self.claims)
        contact = keys[following] in _PERSONAL_SUBJECTS and _verb_group(words, keys, following, stop, False)
        if determined and contact:
            force[head] = force[following] = True  # a relative clause without a pronoun
            return following, False, True
        coordinate = (
            keys[following] in ("and", "or")
            and not _CLAUSE_END.search(words[following])
            and self._noun_phrase(following + 1, stop, False, False) is not None
        )
        if coordinate:
            force[head] = force[following] = True  # with its "and" / "or" (rule 20)
            return following, False, False
        return None

    def _verb_after_modifier(self, head: int, stop: int) -> int | None:
        """If the noun at `head` is followed by a preposition and a noun phrase that a main verb
        follows ("a friend of mine bought"), keeps that verb group (not the noun phrase) and returns the
        main verb's index."""
        words, keys = self.words, self.keys
        if head + 2 >= stop or _CLAUSE_END.search(words[head]) or keys[head + 1] not in _PREPOSITIONS:
            return None
        if _CLAUSE_END.search(words[head + 1]):
            return None
        inner = self._noun_phrase(head + 2, stop, True, False)
        if inner is None or not self._verb_starts(inner + 1, stop, True):
            return None
        group = _verb_group(words, keys, inner, stop, False)
        if group is None or not group[1]:
            return None
        self.force[inner + 1 : group[0] + 1] = [True] * (group[0] - inner)
        return group[0]

    def _is_claim(self, k: int) -> bool:
        return bool(self.claims.flags.get(self.keys[k])) or _pattern_claim(self.keys[k]) is not None

    def _is_noun(self, k: int) -> bool:
        """A content word that is no adverb, negation or subject contracted with its auxiliary."""
        key = self.keys[k]
        return (
            _is_content(key, self.stopword[k])
            and key not in _SUBJECT_AUXILIARIES
            and key not in _VERB_ADVERBS
            and key not in _OTHER_PREPOSITIONS
            and not _NEGATED.search(key)
        )

    def _is_imperative(self, j: int, stop: int) -> bool:
        """A sentence opening with a content word directly before an object or a preposition."""
        return (
            j + 1 < stop
            and self._is_noun(j)
            and not self._is_claim(j)
            and not _CLAUSE_END.search(self.words[j])
            and (self.keys[j + 1] in _OBJECT_OPENERS or self.keys[j + 1] in _PREPOSITIONS)
        )

    def _noun_phrase(self, j: int, stop: int, any_noun: bool, is_object: bool) -> int | None:
        """The head (last word) of a noun phrase opening at word `j`, if one does: a determiner, a
        quantifier, a name, a possessive noun, or if `any_noun` (at a clause's start, after a main
        verb) any noun; then nouns, up to a verb, a function word, the end of its clause or, past its
        first noun, a claim word; NOUN_PHRASE_WORDS at most. An object (`is_object`) may be followed
        by another."""
        words, keys = self.words, self.keys
        determiner = keys[j] in _DETERMINERS or keys[j] in _QUANTIFIERS or _is_number(keys[j], self.claims)
        if not determiner:
            opens = any_noun or words[j][:1].isupper() or keys[j].endswith("'s")
            if not (opens and self._is_noun(j) and not self._is_claim(j)):
                return None
        head = None if determiner else j
        if _CLAUSE_END.search(words[j]):
            return head
        for k in range(j + 1, min(j + NOUN_PHRASE_WORDS, stop)):
            ends = head is not None and (self._is_claim(k) or self._verb_starts(k, stop, not is_object))
            if not self._is_noun(k) or ends:
                break
            head = k
            if _CLAUSE_END.search(words[k]):
                break
        return head

    def _verb_starts(self, k: int, stop: int, before_object: bool) -> bool:
        """Whether word `k` can open the verb group after a noun (not past its clause): an auxiliary, a
        negation, an adverb, a past tense (irregular, or in -ed with five letters or more), a word in
        -s before a preposition or a word in -ing, or if `before_object` (the noun is no object, which
        a second object may follow) a word directly before an object."""
        words, keys = self.words, self.keys
        if k >= stop or _CLAUSE_END.search(words[k - 1]) or keys[k] in _OTHER_PREPOSITIONS:
            return False
        key = keys[k]
        if key in _AUXILIARIES or key in _VERB_ADVERBS or key in _PAST_TENSES:
            return True
        if _NEGATED.search(key) or key.endswith("ly"):
            return True
        if not _is_content(key, self.stopword[k]):
            return False
        if _is_regular_past(key):
            return True
        singular = self._is_noun(k - 1) and not keys[k - 1].endswith("s")
        if k + 1 >= stop or _CLAUSE_END.search(words[k]):
            # Rule 17: a singular subject's verb in -s that ends its clause ("Rejection stinks,").
            return before_object and singular and _is_third_person(key)
        following = keys[k + 1]
        before_object = before_object and (following in _OBJECT_OPENERS or following in _REPORTED)
        introduces = following in _PREPOSITIONS or following in _ROLES or following.endswith("ing")
        # Rule 17: a verb in -s after a singular noun, before a bare object ("My wife teaches chemistry").
        singular = singular and _is_content(following, self.stopword[k + 1])
        return before_object or (_is_third_person(key) and (introduces or singular))


def _keep_object_pronouns(
    words: Sequence[str], keys: Sequence[str], sentence: range, force: list[bool]
) -> None:
    """Rule 12: an object pronoun or reflexive directly after a kept word of its clause that can take an
    object (no pronoun, determiner, plain preposition or conjunction; an auxiliary can: "did it")."""
    for j in sentence[1:]:
        before = keys[j - 1]
        takes_object = (
            before not in _FUNCTION_WORDS and before not in _CONJUNCTIONS
        ) or before in _AUXILIARIES
        if keys[j] in _OBJECT_CASE and force[j - 1] and takes_object and not _CLAUSE_END.search(words[j - 1]):
            force[j] = True
        # Rule 14: a pronoun after a preposition inside its clause, with the preposition.
        after_preposition = (
            j >= sentence.start + 2
            and (before in _PREPOSITIONS or before in _OTHER_PREPOSITIONS)
            and not _CLAUSE_END.search(words[j - 1])
            and not _CLAUSE_END.search(words[j - 2])
        )
        if keys[j] in _OBJECT_CASE and after_preposition:
            force[j - 1] = force[j] = True


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


def _is_regular_past(key: str) -> bool:
    """A regular past tense or participle by its form: a word of ASCII letters in -ed, five or more."""
    return len(key) >= 5 and key.endswith("ed") and re.fullmatch("[a-z]+", key) is not None


def _is_content(key: str, stopword: bool) -> bool:
    """Neither a stopword nor a closed-class function word: what a head or a question frame reaches for."""
    return not (stopword or key in _FUNCTION_WORDS)


def plan_batch(
    texts: Sequence[str], stopwords: set[str]
) -> tuple[list[str], list[int], list[int], list[str], list[int], list[bool], list[int], list[int]]:
    """What `PruneRules(claim_words_text(), stopwords).plan(texts)` returns, as lists."""
    words_all: list[str] = []
    word_offsets, ranked, keys, flags, bridges = [0], [], [], [], []
    sentence_offsets, turn_offsets = [0], [0]
    for text in texts:
        words = text.split()
        turn_keys = [word_key(word) for word in words]
        plan = prune_turn(words, turn_keys, [key in stopwords for key in turn_keys])
        first = len(words_all)
        words_all += words
        word_offsets.append(len(words_all))
        ranked += [first + i for i in plan.words]
        keys += [turn_keys[i] for i in plan.words]
        flags += plan.flags
        bridges += plan.bridges
        for length in plan.sentence_lengths:
            sentence_offsets.append(sentence_offsets[-1] + length)
        turn_offsets.append(len(ranked))
    return words_all, word_offsets, ranked, keys, flags, bridges, sentence_offsets, turn_offsets
