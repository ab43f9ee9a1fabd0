"""What a pruned turn must keep: the rules (no model) that decide, word by word, what the Rust scorer
may drop and over which units it counts the `compression_ratio` budget.

The scorer (`lightmem._core.score_tokens`) ranks words by how much they tell; the rules below say
which words it may not drop (forced words) and cut each turn into the units `prune_tokens` prunes.
They run in Rust (`lightmem._core.PruneRules`, rust/src/prune_rules.rs); `plan_turns` below feeds
them the shipped claim-word list and the stopwords. (tests/prune_oracle.py is a plain Python version
of the same rules that the Rust one is checked against.)
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
   causal connectives: because, therefore; subordinators of time, place and manner and the wh-words
   of embedded questions: when, while, where, what, how, why, which ("remind me what time it
   closes"); comparison and role: like, as; approximators before a quantity (rule 13);
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

8. **Every clause keeps its main verb**: after a subject pronoun (I, you, he, she, we, they, it, who), the
   words through the first word that is not a function word (the verb: "like" and "know" count, though
   they are stopwords), passing only auxiliaries, negations and adverbs (words in -ly, frequency and
   phase adverbs, then, again, discourse markers), and after an auxiliary also determiners, at most
   `VERB_REACH` words: "[I] love", "[you] put", "[we] really enjoy", "[it] was a great". A subject
   contracted with its auxiliary or modal (I'm, you've, she's, we'll, I'd) is kept with it ("I've been
   looking"); a bare subject pronoun is rule 12's. If no such word follows an auxiliary, the
   auxiliaries are kept ("I'm on", "[it] is"). "so" right after an auxiliary is an adverb (an
   intensifier: "[it] was so cool"), not a conjunction. A noun-phrase subject is rule 10's.
9. **Small words between kept words stay** (applied after the ratio): a single preposition,
   conjunction or form of "be" left out between two kept words of its clause is kept ("job with
   them", "set is awesome and full of potential"), so kept words read as phrases, not as a list.
   Articles and pronouns are not put back (they cost 2.5% of the words for little meaning).
10. **Every clause keeps its subject, verb and object heads**, found by closed word classes and simple
   morphology (no verb list, no model). A noun phrase opens at a determiner, possessive or quantifier
   (the, a, my, our, some, ...), a capitalised word, a possessive noun ("Anna's") or, at the start of
   a clause (after punctuation or a conjunction), any content word ("and support groups improved"),
   and runs over the content words after it (not adverbs, negations or prepositions; a claim word ends
   it once it has a noun), at most `NOUN_PHRASE_WORDS` words; its head is its last word. A verb starts
   after it if the next word is an auxiliary or modal, a negation, an adverb (in -ly, frequency,
   phase), a past tense (a word in -ed of five letters or more, or one of 114 irregular past forms:
   bought, took, said, ...), a word in -s before a preposition, "as", "like" or a word in -ing ("works
   at", "works as", "loves driving"), or a word directly before a determiner or object pronoun
   ("bought a", "told me") or before what opens a reported clause, a subject pronoun, "that", "if" or
   "whether" ("thinks I", "says that"). Then the subject's head is kept with its verb group as rule 8
   reads it after a pronoun ("sister bought", "kids really enjoyed", "pressure is fine", "dad
   thinks"); a subject with a prepositional modifier keeps its head and the verb after the modifier
   ("friend [of mine] bought"). After a main verb (of a pronoun or a noun phrase), past particles and
   prepositions, the next noun phrase's head is kept: its object ("bought [a new] car", "took [to the]
   mountains"); an object followed by a verb is the subject of a clause of its own ("said [my blood]
   pressure is fine"). A sentence opening with a content word before a determiner, object pronoun or
   preposition is an imperative verb ("Look [at this] view"). The object test "before a determiner" is
   not used inside an object, which a second object may follow ("painted the room a bright colour").
11. **Brackets stay paired**: a word holding "[" or "]" is kept, so an image caption ("[shares a photo
   of a sunset over the lake]") never loses one of its brackets.
12. **Pronouns keep who and what a claim is about.** A personal subject pronoun (I, you, he, she, we,
   they, it) with a verb group (rule 8) is kept with it, so "My dad thinks I should sell" does not
   read as the dad selling, nor "and I owe him" as the last subject owing; only the sentence's first
   subject "I", before any verb and not after a conjunction or subordinator (and, but, or, so,
   because, that, if, whether, when, while, though, although, unless, until, since, before, after,
   once, as), may go: the stored line names the speaker ("Sam: ..."), so "Sam: think she said" still
   says who thinks. An object pronoun or reflexive (me, him, her, it, us, them, you, myself, ...)
   directly after a kept word of its clause that can take an object (neither a pronoun, a
   determiner, a plain preposition nor a conjunction; an auxiliary can: "did it") is kept: "lost it",
   "owes me", "remind me", "driving it", "hurt myself", "before him".
13. **Quantities keep their approximators and bounds; comparisons their marker.** The `numeral`
   class of `data/claim_words.txt` (about, around, approximately, roughly, circa, over, under, above,
   below, exactly, precisely, up to, close to, upwards of) holds words that make a number an estimate
   or a bound; they are claim words only directly before a quantity (a number, "half", or "a" / "an"
   before a number or a unit of time: "about 8 months", "over an hour", "up to 3 weeks"), being
   ordinary prepositions elsewhere ("talk about the rent", "over the bridge"). "almost", "nearly",
   "at least", "at most", "more / less / fewer than", "only" are claim words everywhere (rule 3), and
   so are "like" and "as", which compare or give a role ("tastes like soap", "as tall as", "works as a
   nurse", "as a kid"); "like" set off by commas is a filler (rule 2). A verb before a clause opened
   by a wh-word (when, where, why, how, what) is told by its position, as before "that" (rule 10): "Anna
   hates when I leave" keeps "Anna hates".
14. **Clauses without a subject of their own, and subjects with a clause of their own**, by closed
   classes and word form as rule 10. A verb with no subject before it is kept, with its object: at a
   sentence's start or a list item's (after a bullet - • * or a label "1)", "(2)", "3.", "a)"), a
   content word before an object or a preposition ("1) call the dentist"; an item that is a noun phrase
   keeps its head, as does a noun phrase that is a whole clause after a comma or colon, with a
   prepositional phrase after it: "eggs, milk, two loaves of bread, and"); after a conjunction or
   "then", a past form or a content word before an object ("and gave it to Caroline", "then called
   me"); after "to", a content word before an object, with "to" (an infinitive: "hope to build a
   shelter", "to quit your job"), and after an auxiliary or a claim word also a content word before a
   preposition ("had to wait for", "want to go to"). After an object's head, a preposition and the head
   of its noun phrase are kept ("took the kids to the museum", "a gift for my sister"), also after an
   object pronoun ("make it to the reunion"); an object's preposition is kept with its head ("works at
   the hospital", "hike to the lake"); a pronoun after a preposition is kept with it ("talk to him",
   "went with her"). A form of "be" without a main verb takes its complement as a verb its object ("I'm
   in awe of your courage", "was in charge of the harbour"). A noun phrase may open with a number ("20
   people came"). A subject's head (a noun phrase opening its clause) is kept with what marks a clause
   about it, and the subject's verb after that clause: a relative pronoun (who, which, that) with the
   relative clause's verb ("The guy who lives next door fixed my bike", also after a comma: "My
   daughter, who just turned seven, wants"), a subject pronoun with a verb after a noun phrase opened
   by a determiner, possessive or number (a relative clause without a pronoun: "the support I got made
   a huge difference"), an appositive set off by commas with the verb after it ("Anna, my roommate,
   hates loud music"), or "and" / "or" before another noun phrase (a coordinate subject: "My journey
   and the support").
15. **A result keeps its "so".** "so" inside a sentence (not its first word, nor right after an
   auxiliary, where it is an intensifier: "was so cool") that opens a clause, after a comma or before a
   subject pronoun, a subject contracted with its auxiliary or a determiner, is a causal connective
   like "therefore" (rule 3, with its head): "It was raining, so we watched a movie" is not "It was
   raining, we watched a movie" (two facts, no cause), nor "I was tired so I went to bed".
16. **Possessives say whose.** A possessive determiner (my, your, his, her, our, their, its) or a noun
   in 's is kept when a word of the noun phrase it opens is kept, as rule 12 keeps pronouns: "My sister
   works as a nurse" does not read as the speaker being one, "[Your] creativity shines" names whose.
   A noun in 's whose phrase is one word that ends its clause is "is" ("Nature's amazing,"): rule 18
   keeps both. "that's", "there's" and "here's" keep their verb group, as a subject pronoun contracted
   with its auxiliary does (rule 8): "here's a painting".
17. **Subjects that open their sentence keep their verb.** A verb in -s before "as" or "like" starts a
   verb group as before a preposition (rule 10: "My sister works as a nurse"), and so does one right
   after a singular noun (a content word not in -s) before a content word, its bare object (a singular
   subject takes a verb in -s: "My wife teaches chemistry", not the noun phrase "wife teaches
   chemistry"), or, in a subject, ends its clause ("Rejection stinks,"). A sentence or list item
   opening with a word in -ing, then only nouns, determiners, object pronouns, "and", "or",
   prepositions and adverbs up to a verb (rule 10's test, within `NOUN_PHRASE_WORDS` words), is a
   gerund subject: the gerund, the last noun of each run of nouns after it, its prepositions and the
   verb group are kept ("Painting landscapes and still life is my favorite", "Relaxing with them is").
18. **Noun phrases keep their head.** A noun phrase opened by a determiner, possessive or number that
   holds two content words or more, or by a quantifier (any, some, every, each, many, several, most,
   both, few: they open noun phrases as determiners do, rule 10) before two or more, keeps its head
   (its last word), whatever keeps its modifiers: "a stained glass window", "the children's hospital",
   "a new job", "any positive vibes" never lose the noun the adjectives describe; a participle that
   ends one keeps the noun before it ("a bicycle leaning"); a phrase that goes on after a comma keeps
   its head ("a safe, inviting place"). A noun phrase's head directly before a participle that starts
   a verb group (rule 10's test: in -ing before an object, or a past form) is kept with it, and before
   one in -ing so is the preposition before the phrase: "a photo of a man playing a guitar" is not "a
   photo playing a guitar", nor "[a window with] a person holding a key" "a window holding a key". A
   word in -ing that opens a noun phrase (no determiner, possessive or number before it) of two words
   or more is a gerund with its object: both are kept ("so cool spending time", "creating a safe
   place"). After "as" or "like" (rule 13) the noun phrase's head and the prepositional phrase after
   it are kept, unless a verb follows the head (then it is a clause's subject): "works as a nurse at
   the hospital".
19. **Objects and complements.** After an object's head (or an object pronoun) without a prepositional
   phrase, a determiner (not "this" or "that") opens a second object, kept like the first: "gave my
   brother a guitar", "lent us their ladder"; a relative pronoun (who, which, that) after an object's
   head is kept with the relative clause's verb group ("remember those moments that bring us
   happiness", "a bakery that sells"); so is a second prepositional phrase after an object's first
   ("saving for a house with a big garden"), and a bare infinitive after the object pronoun of "let",
   "make" or "help" ("helps me fall asleep", "let me know"). "to" directly after a kept predicate (an
   adjective or verb after its subject) is an infinitive with the word after it whatever follows
   ("lucky to have", "happy to help."), and "have", "be" and "do" are verbs after "to" as content
   words are (rule 14); "to" before such an infinitive after an object's head is no preposition ("too
   shy to ask his boss"); a preposition after a predicate adjective keeps its object already (rule 10:
   "proud of her son").
20. **Coordinated verbs.** After a conjunction or "then", a verb in -s (a word of letters in -s, not
   -ss, four or more) is a clause's verb when a kept word in -s comes before it in the sentence (verbs
   joined by "and" agree: "Music brings us together and brings joy"), as are rule 14's past forms and a
   content word before an infinitive ("and ask to go"), and "have" or "do" before an object ("and have
   a great community"); the conjunction ("and", "or", "then") is kept
   with such a verb, and with a coordinate subject (rule 14: "My journey and the support").

Words of other languages: the `negation_other` class of `data/claim_words.txt` lists the negators of
the commonest languages written with spaces (Spanish, Portuguese, Italian, French, German, Dutch,
Swedish, Danish, Norwegian, Russian, Ukrainian, Polish, Czech, Turkish, Indonesian and Malay,
Vietnamese, Korean, Hindi, Arabic, Hebrew), `number_other` the number words 1-10, 100 and 1000 of
Spanish, Portuguese, French, Italian, German, Dutch and Russian, and a French "n'" elision ("n'est")
is a negation. Every word with a digit or a number character of any script (Unicode category N: ٣, ४,
３, Ⅻ) or a CJK numeral (一 二 十 百 千 万 ...) is a number; a word holding a CJK negation character
(不 没 沒 别 別 未 无 無 非 莫 勿) or Japanese ない / ません is a negation. Scripts written without spaces
(Chinese, Japanese, Thai) are pruned by their whitespace-separated runs, so most of their sentences
are kept whole (rule 1). Not supported: other languages' modals, quantifiers, prepositions and
verbs, the other negators of Japanese, Thai and the languages not listed.

Everything else competes on the scorer's information content: rare words and names win, stopwords,
fillers and words repeated in the turn lose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from lightmem import _core

MIN_SENTENCE_WORDS = 4
"""A sentence keeps at least this many of its words (not counting fillers): a shorter one stays whole."""
FILLER_WORDS = frozenset(_core.FILLER_WORDS.split())
"""Words that carry no fact wherever they stand (the pruner drops them first where they are fillers)."""


@lru_cache(maxsize=1)
def claim_words_text() -> str:
    """The shipped claim-word list, `data/claim_words.txt` (its header documents the format and classes)."""
    return resources.files("lightmem").joinpath("data", "claim_words.txt").read_text(encoding="utf-8")


@cache
def claim_class(name: str) -> frozenset[str]:
    """The one-word entries of the class `name` of `claim_words_text` ("negation", "number"...)."""
    entries: set[str] = set()
    reading = found = False
    for line in claim_words_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("@"):
            reading = line.split()[0] == f"@{name}"
            found = found or reading
        elif reading:
            entries.update(entry for entry in line.split() if "_" not in entry)
    if not found:
        raise ValueError(f"claim_words.txt has no class {name!r}")
    return frozenset(entries)


@dataclass(frozen=True)
class PrunePlans:
    """How the kernels see a batch of `m` turns: every word (`n`), and the `k` words they rank
    (fillers left out) with their keys, flags and bridges (rule 9), cut into sentences."""

    words: list[str]
    word_offsets: np.ndarray
    """int64[m + 1]: turn `t` holds `words[word_offsets[t]:word_offsets[t + 1]]`."""
    ranked: np.ndarray
    """uint32[k]: the ranked words, as indexes into `words`."""
    keys: list[str]
    """The key of each ranked word: lower case, without edge punctuation, apostrophes as '."""
    flags: np.ndarray
    """uint8[k]: `_core.FLAG_*` bits of each ranked word."""
    bridges: np.ndarray
    """bool[k]: whether each ranked word is put back between two kept words (rule 9)."""
    sentence_offsets: np.ndarray
    """int64: offsets of each sentence's ranked words."""
    turn_offsets: np.ndarray
    """int64[m + 1]: offsets of each turn's ranked words."""


def plan_turns(rules: _core.PruneRules, texts: Sequence[str]) -> PrunePlans:
    """The rules applied to every turn of `texts` (split on whitespace, as `str.split` does)."""
    return PrunePlans(*rules.plan(list(texts)))
