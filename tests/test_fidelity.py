"""What `SensoryMemory.compress` keeps: never a changed claim (negations, modals, quantities, numbers,
times, with the words they apply to) and never a fragment (short sentences whole, fillers first,
questions still questions), at every `compression_ratio`."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from fakes import HashEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem import Memory, _core
from lightmem.config import LightMemConfig
from lightmem.prune_rules import claim_words_text, plan_turns
from lightmem.sensory import SensoryMemory, _prune_rules
from lightmem.types import Message
from prune_oracle import claim_words

RATIOS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def compress(texts: Sequence[str], ratio: float) -> list[str]:
    """The pruned texts, all compressed in one batch by a fresh sensory memory."""
    sensory = SensoryMemory(LightMemConfig(compression_ratio=ratio))
    messages = [Message(id=str(i), role="user", content=text) for i, text in enumerate(texts)]
    return [turn.text for turn in sensory.compress(messages)]


def is_subsequence(part: Sequence[str], whole: Sequence[str]) -> bool:
    remaining = iter(whole)
    return all(any(word == other for other in remaining) for word in part)


def assert_marked_words_survive(template: str, ratio: float) -> None:
    """The words of `template` marked with a leading "*" survive pruning at `ratio`, in order."""
    marked = template.split()
    words = [w.lstrip("*") for w in marked]
    must_keep = [w for w, m in zip(words, marked) if m.startswith("*")]
    pruned = compress([" ".join(words)], ratio)[0]
    assert is_subsequence(must_keep, pruned.split()), pruned


# --- generated sentences --------------------------------------------------------------------------
# In a template a "*" marks a word that must survive: the claim word and the word it applies to.

SUBJECTS = ["I", "My sister", "We", "Tom", "Our neighbours", "You"]
OPERATORS = [
    "*don't *eat",
    "*never *eat",
    "*can't *eat",
    "*won't *eat",
    "*didn't *eat",
    "*shouldn't *eat",
    "*cannot *eat",
    "*might *eat",
    "*should *eat",
    "*would *eat",
    "*could *eat",
    "*must *eat",
    "*may *eat",
    "*will *eat",
    "*used *to *eat",
    "*have *to *eat",
    "*no *longer *eat",
    "*hardly *ever *eat",
    "*almost *never *eat",
    "*rarely *eat",
    "*always *eat",
    "*sometimes *eat",
    "*want *to *eat",
    "*forgot *to *eat",
    "do *not *eat",
    "did *not *yet *eat",
]
OBJECTS = [
    "shellfish",
    "*three *cups of coffee",
    "*all of the *cookies",
    "*some *pizza",
    "*a *few *apples",
    "*12 *eggs",
    "*most of the *cake",
    "*no *sugar",
    "*every *sandwich",
    "*more *bread *than *Tom",
    "*less *rice",
    "*both *pies",
    "*none of the *soup",
    "*several *oranges",
    "*twice as *much *pasta",
]
TIMES = [
    "*before *9am",
    "*after *3pm",
    "*until *Friday",
    "*since *2019",
    "*by *next *week",
    "*within *two *hours",
    "on *Sundays",
    "*every *morning",
    "*at *least *once a *week",
    "in *March",
    "at the party *last *night",
    "",
]
CONDITIONS = [
    "*if *it *rains",
    "*unless *Tom *calls",
    "*except on *Mondays",
    "*only on *weekends",
    "*without *sugar",
    "*instead *of *tea",
    "*rather *than *rice",
    "*even *if *it *snows",
    "*whether *or not *it *rains",
]
QUESTIONS = [
    "*Why *didn't *you *eat",
    "*Would *you *ever *eat",
    "*Did *you *eat",
    "*Can't *you *eat",
    "*How *many *cookies *did *you *eat",
    "*Have *you *never *eaten",
    "*Should *we *eat",
]


def _sentence(*parts: str, end: str = ".") -> tuple[str, list[str]]:
    """(the sentence, the words it must keep, in order) from template parts."""
    marked = " ".join(part for part in parts if part).split()
    words = [w.lstrip("*") for w in marked]
    words[-1] += end
    keep = [word for word, mark in zip(words, marked) if mark.startswith("*")]
    return " ".join(words), keep


def generated_sentences() -> list[tuple[str, list[str]]]:
    """About 300 template sentences over subjects, negations, modals, quantities, times, conditions
    and questions (a fixed sample of the templates' product)."""
    rng = random.Random(11)
    statements = list(itertools.product(SUBJECTS, OPERATORS, OBJECTS, TIMES))
    conditionals = list(itertools.product(SUBJECTS, OPERATORS, OBJECTS, CONDITIONS))
    questions = list(itertools.product(QUESTIONS, OBJECTS, TIMES))
    return (
        [_sentence(*parts) for parts in rng.sample(statements, 160)]
        + [_sentence(*parts) for parts in rng.sample(conditionals, 80)]
        + [_sentence(*parts, end="?") for parts in rng.sample(questions, 60)]
    )


SENTENCES = generated_sentences()


def test_generated_sentences_cover_the_templates() -> None:
    assert len(SENTENCES) >= 200
    assert len({text for text, _ in SENTENCES}) == len(SENTENCES)
    words = {word.lower() for _, keep in SENTENCES for word in keep}
    assert {"don't", "never", "might", "used", "three", "12", "before", "unless", "only", "why"} <= words


@pytest.mark.parametrize("ratio", RATIOS)
def test_claim_words_and_their_heads_survive_every_ratio(ratio: float) -> None:
    texts = [text for text, _ in SENTENCES]
    for (text, must_keep), pruned in zip(SENTENCES, compress(texts, ratio)):
        kept = pruned.split()
        assert is_subsequence(kept, text.split()), (text, pruned)
        assert is_subsequence(must_keep, kept), (text, pruned)
        missing = Counter(must_keep) - Counter(kept)
        assert not missing, (text, pruned, missing)


def test_every_shipped_claim_word_survives() -> None:
    claims = claim_words()
    entries = sorted(claims.flags)
    frame = "Apparently the old {} thing happened at the crowded market near the station yesterday."
    texts = [frame.format(entry.replace("_", " ")) for entry in entries]
    for entry, pruned in zip(entries, compress(texts, 0.2)):
        words = [word.lower() for word in pruned.split()]
        assert is_subsequence(entry.split("_"), words), (entry, pruned)


# --- random word sequences ------------------------------------------------------------------------

PROTECTED = (
    "not no never none nobody nothing nowhere neither nor cannot without hardly barely only unless "
    "except if might may should would could must can will all some every few most more less than "
    "before after until since by within from one two three twelve 3 2019 9am 1,000 can't don't won't "
    "isn't didn't doesn't wasn't aren't haven't couldn't wouldn't"
).split()
"""Words that must survive any pruning: the issue's polarity, modal, scope, quantity, time and number
words, written here independently of the shipped list."""
OTHER_WORDS = (
    "the a to of and I you it was is my me we they this that go went coffee museum painting dinner "
    "friends beach happy big really just so like well um oh yeah wow haha lol anyway Boston Maria"
).split()
DECORATIONS = ["", "", "", ",", ".", "!", "?", "..."]


def _key(word: str) -> str:
    return re.sub(r"^\W+|\W+$", "", word).lower().replace("’", "'")


words_strategy = st.lists(
    st.tuples(st.sampled_from(PROTECTED + OTHER_WORDS), st.sampled_from(DECORATIONS), st.booleans()).map(
        lambda t: (t[0].capitalize() if t[2] else t[0]) + t[1]
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(words=words_strategy, ratio=st.floats(0.05, 1.0))
def test_random_turns_keep_protected_words_in_order(words: list[str], ratio: float) -> None:
    text = " ".join(words)
    pruned = compress([text], ratio)[0].split()
    assert pruned, text
    assert is_subsequence(pruned, words)
    protected = [word for word in words if _key(word) in PROTECTED]
    assert not Counter(protected) - Counter(pruned), (text, pruned)
    if ratio == 1.0:
        assert pruned == words


@settings(max_examples=50, deadline=None)
@given(turns=st.lists(words_strategy.map(" ".join), min_size=1, max_size=6), ratio=st.floats(0.05, 0.95))
def test_batches_keep_protected_words_of_every_turn(turns: list[str], ratio: float) -> None:
    for text, pruned in zip(turns, compress(turns, ratio)):
        words = text.split()
        assert is_subsequence(pruned.split(), words)
        protected = [word for word in words if _key(word) in PROTECTED]
        assert not Counter(protected) - Counter(pruned.split()), (text, pruned)


# --- what a reader sees ---------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.2, 0.4])
@pytest.mark.parametrize(
    ("said", "kept_parts"),
    [
        (
            "I am not allergic to peanuts, but I can't eat shellfish.",
            ["not allergic to peanuts", "can't eat shellfish"],
        ),
        ("I never drink coffee after 3pm.", ["never drink coffee after 3pm."]),
        ("I no longer live in Boston; I moved to Austin.", ["no longer live", "Boston;", "Austin."]),
        ("Don't call me before 9am.", ["Don't call", "before 9am."]),
        ("Please don’t book a thing for me until the twelfth of May.", ["don’t book", "until the twelfth"]),
        ("No, no pets right now. But I do love animals.", ["No, no pets right now."]),
        ("Cool! What did it look like?", ["Cool! What did it look like?"]),
        ("I used to play the violin in a community orchestra when I was a teenager.", ["used to play"]),
        ("Only two of my friends came to the wedding reception in the vineyard.", ["Only two of my friends"]),
    ],
)
def test_the_examples_of_issue_11_keep_their_claims(said: str, kept_parts: list[str], ratio: float) -> None:
    pruned = compress([said], ratio)[0]
    for part in kept_parts:
        assert part in pruned, pruned


def test_short_sentences_stay_whole_and_long_ones_keep_at_least_four_words() -> None:
    long_sentence = "The enormous purple elephant painted seventeen landscapes during the exhibition."
    pruned = compress([f"Glad you like it. {long_sentence}"], 0.05)[0]
    assert pruned.startswith("Glad you like it. ")
    assert len(pruned.split()) - 4 >= 4


def test_a_turn_without_words_stays_empty() -> None:
    assert compress(["", "   ", "ok"], 0.4) == ["", "", "ok"]


def test_fillers_go_first_unless_they_are_all_there_is() -> None:
    pruned = compress(
        ["Wow, that photo is great!", "Haha, yeah!", "Well done!", "Oh well, it was, like, fine."], 0.4
    )
    assert pruned[:3] == ["that photo is great!", "Haha, yeah!", "Well done!"]
    assert pruned[3] == "it was, fine."


def test_questions_keep_their_opening_and_question_mark() -> None:
    pruned = compress(
        [
            "How long have you had such a great support system at the community centre?",
            "What gave you the idea to paint the sunset over the lake last summer?",
            "So, what kind of paintings do you usually make on those long quiet weekends?",
        ],
        0.2,
    )
    assert pruned[0].startswith("How long have you had ") and pruned[0].endswith("centre?")
    assert pruned[1].startswith("What gave ") and pruned[1].endswith("summer?")
    assert pruned[2].startswith("what kind of paintings do you usually make ")


def test_a_negation_is_not_extended_past_its_clause() -> None:
    said = "It was comforting to know I'm not alone and have a great community around me."
    plan = plan_turns(_prune_rules(), [said])
    forced = {plan.words[i] for i, f in zip(plan.ranked, plan.flags) if f & _core.FLAG_FORCE_KEEP}
    # The scope stops at "and" (it would reach "great"); "and have" is kept as a verb of its own (rule 20).
    assert {"not", "alone", "and", "have", "community"} <= forced and "great" not in forced


# --- phrasal verbs, "or", exceptive "but", contractions -------------------------------------------

PHRASAL_VERBS = [
    "*gave *up",
    "*called *off",
    "*turned *down",
    "*broke *up with",
    "*ran *out of",
    "*put *off",
    "*threw *away",
    "*took *back",
    "*wrote *down",
    "*set *up",
    "*looked *over",
    "*handed *out",
]
PHRASAL_OBJECTS = ["the *wedding", "her *boyfriend", "the *job offer", "*coffee beans", "*smoking"]
PHRASAL_TAILS = ["*last *month", "*after the *long meeting at the office", "at the lake house *yesterday"]


def phrasal_sentences() -> list[tuple[str, list[str]]]:
    """Subject x phrasal verb x object x tail: the verb, its particle and the object's noun must survive."""
    parts = itertools.product(SUBJECTS, PHRASAL_VERBS, PHRASAL_OBJECTS, PHRASAL_TAILS)
    return [_sentence(*words) for words in parts]


@pytest.mark.parametrize("ratio", RATIOS)
def test_phrasal_verbs_keep_their_verb_particle_and_object(ratio: float) -> None:
    sentences = phrasal_sentences()
    for (text, must_keep), pruned in zip(sentences, compress([text for text, _ in sentences], ratio)):
        assert is_subsequence(must_keep, pruned.split()), (text, pruned)


@pytest.mark.parametrize("ratio", [0.2, 0.3, 0.5])
@pytest.mark.parametrize(
    ("said", "kept_parts"),
    [
        ("I gave up smoking three years ago after my doctor warned me.", ["gave up smoking"]),
        ("We called off the wedding last month.", ["called off the wedding"]),
        ("I turned down the job offer from the bank.", ["turned down the job"]),
        ("She broke up with her boyfriend.", ["broke up with her boyfriend."]),
        ("We ran out of coffee beans.", ["ran out of coffee"]),
        (
            "Everyone came to the birthday party at the lake house last weekend but Mike.",
            ["Everyone", "but Mike."],
        ),
        ("Everybody in my family ate the chocolate cake at dinner but the children.", ["but the children."]),
        ("We might move to Denver or Austin next year.", ["Denver or Austin"]),
        ("I usually drink green tea or black coffee before work.", ["or black"]),
        ("I don´t like the spicy food at that restaurant downtown.", ["don´t like"]),
        ("I donʼt like the spicy food at that restaurant downtown.", ["donʼt like"]),
    ],
)
def test_particles_alternatives_exceptions_and_contractions_keep_their_claims(
    said: str, kept_parts: list[str], ratio: float
) -> None:
    pruned = compress([said], ratio)[0]
    for part in kept_parts:
        assert part in pruned, pruned


@pytest.mark.parametrize(
    "negation", ["shouldn't've", "wouldn’t’ve", "mustn't've", "don´t", "donʼt", "don‘t", "Isn't", "CAN’T"]
)
def test_every_spelling_of_a_negation_keeps_its_scope(negation: str) -> None:
    words = ["We", negation, "trusted", "the", "car", "dealer", "at", "the", "old", "market", "yesterday."]
    plan = plan_turns(_core.PruneRules(claim_words_text(), []), [" ".join(words)])
    forced = [plan.words[i] for i, flags in zip(plan.ranked, plan.flags) if flags & _core.FLAG_FORCE_KEEP]
    at = forced.index(negation)
    assert forced[at : at + 4] == [negation, "trusted", "the", "car"], forced


def test_memory_add_and_flush_store_the_claims_whole(tmp_path: Path, hash_embedder: HashEmbedder) -> None:
    said = {
        "I gave up smoking three years ago after my doctor warned me.": "gave up smoking",
        "We called off the wedding last month.": "called off the wedding",
        "Everyone came to the birthday party at the lake house last weekend but Mike.": "but Mike.",
        "We might move to Denver or Austin next year.": "Denver or Austin",
        "I don´t like the spicy food at that restaurant downtown.": "don´t like",
    }
    with Memory(tmp_path / "mem", embedder=hash_embedder) as memory:
        memory.add([{"role": "user", "content": text} for text in said], user_id="u")
        memory.flush(user_id="u")
        stored = " | ".join(item.text for item in memory.get_all(user_id="u"))
    for part in said.values():
        assert part in stored, stored


# --- main verbs, readable long turns, particles after objects, other languages --------------------

VERB_SUBJECTS = ["I", "You", "We", "They", "She", "He"]
VERB_PHRASES = [
    "*love my new job",
    "*like the house",
    "*enjoy the long walks",
    "*made a cake",
    "*took the kids",
    "*found a spot",
    "*keep the photos",
    "*have a dog",
    "*know the owner",
    "*got a puppy",
    "*'ve *been *looking into counseling",
    "*really *love the painting",
    "*are *going to the museum",
]
VERB_TAILS = ["at the accounting firm", "in the old town centre", "with my friends from school", "yesterday"]


def verb_sentences() -> list[tuple[str, list[str]]]:
    """Pronoun subject x verb phrase x tail: the verb (with its auxiliaries) must survive, and a
    subject contracted with its auxiliary. "*'ve" joins the subject: "I've", "You've"."""
    sentences = []
    for subject, phrase, tail in itertools.product(VERB_SUBJECTS, VERB_PHRASES, VERB_TAILS):
        if phrase.startswith("*'") and subject in ("She", "He"):
            continue
        if phrase.startswith("*'"):
            first, rest = phrase.split(" ", 1)
            text, keep = _sentence(f"*{subject}{first[1:]}", rest, tail)
        else:
            text, keep = _sentence(subject, phrase, tail)
        sentences.append((text, keep))
    return sentences


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.3, 0.5])
def test_every_clause_keeps_its_main_verb(ratio: float) -> None:
    sentences = verb_sentences()
    for (text, must_keep), pruned in zip(sentences, compress([text for text, _ in sentences], ratio)):
        assert is_subsequence(must_keep, pruned.split()), (text, pruned)


@pytest.mark.parametrize(
    ("said", "kept_parts"),
    [
        ("I love my new job at the accounting firm.", ["love", "job"]),
        ("Yesterday I took the kids to the museum and it was so cool.", ["took kids"]),
        ("It reminds me why I love being a mom.", ["reminds", "love"]),
        ("They love learning about animals and the bones were so cool.", ["love"]),
    ],
)
def test_frequent_main_verbs_are_kept(said: str, kept_parts: list[str]) -> None:
    pruned = compress([said], 0.2)[0]
    for part in kept_parts:
        assert part in pruned, pruned


def test_a_small_word_between_two_kept_words_is_kept() -> None:
    said = (
        "You're doing a great job with them. Way to go! This is what I've been up to. Every day on set "
        "is awesome and full of potential, and the crew works hard on the scenes."
    )
    pruned = compress([said], 0.2)[0]
    for part in ["job with them.", "been up to."]:
        assert part in pruned, pruned


SMALL_WORDS = "to of and was is".split()
FILLERS = "um oh yeah wow haha lol anyway really just so like well".split()
plain_words = st.lists(
    st.tuples(
        st.sampled_from([w for w in PROTECTED + OTHER_WORDS if _key(w) not in FILLERS]),
        st.sampled_from(DECORATIONS),
    ).map("".join),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(words=plain_words, ratio=st.floats(0.05, 0.95))
def test_no_small_word_is_dropped_between_two_kept_words(words: list[str], ratio: float) -> None:
    """Rule 9, on turns without fillers (which go before any rule sees the turn)."""
    pruned = compress([" ".join(words)], ratio)[0].split()
    kept, remaining = [], iter(pruned)
    following = next(remaining, None)
    for word in words:
        kept.append(word == following)
        if word == following:
            following = next(remaining, None)
    sentence_end = re.compile(r"[.!?]$")
    dropped = [
        words[i]
        for i in range(1, len(words) - 1)
        if kept[i - 1]
        and kept[i + 1]
        and not kept[i]
        and _key(words[i]) in SMALL_WORDS
        and not re.search(r"\W$", words[i - 1])
        and not re.search(r"\W$", words[i])
        and not sentence_end.search(words[i - 1])
    ]
    assert not dropped, (words, pruned)


PARTICLE_SENTENCES = [
    "I *gave *it *up *last *year.",
    "She *turned *it *on when she *came home *late.",
    "We *put *them *away in the big wooden cupboard.",
    "I *put the *coat *on before the long walk.",
    "They *checked *in at the hotel near the beach.",
    "He *showed *up *late to the *meeting again.",
    "I *turned *him *down after the long interview.",
    "The *game *is *over and everyone went home happy.",
    "This is what *I've *been *up *to lately.",
    "We *moved *in *last *month with all our old furniture.",
]


@pytest.mark.parametrize("ratio", [0.1, 0.3])
@pytest.mark.parametrize("template", PARTICLE_SENTENCES)
def test_particles_after_objects_and_at_clause_ends_are_kept(template: str, ratio: float) -> None:
    assert_marked_words_survive(template, ratio)


OTHER_LANGUAGES = [
    ("Yo no como carne los domingos en la casa vieja de mi madre.", ["no", "como"]),
    ("Nunca bebo café después de las tres en la oficina.", ["Nunca", "bebo"]),
    ("Je ne mange jamais de viande le dimanche chez ma grand-mère.", ["ne", "mange", "jamais"]),
    ("Il n'est pas venu à la fête hier soir avec ses amis.", ["n'est", "pas"]),
    ("Ich esse keine Schokolade nach dem Abendessen mit meiner Familie.", ["keine", "Schokolade"]),
    ("Er kommt heute nicht mit ins Kino in der kleinen Stadt.", ["nicht"]),
    ("Non mangio mai la carne durante la settimana di lavoro.", ["Non", "mangio", "mai"]),
    ("Eu não gosto de peixe frito no almoço de domingo com a família.", ["não", "gosto"]),
    ("Ik drink nooit koffie na de lunch op het kantoor.", ["nooit", "koffie"]),
    ("Я не пью кофе после обеда в офисе на работе.", ["не", "пью"]),
    ("Jag dricker aldrig kaffe efter lunch på kontoret hemma.", ["aldrig"]),
    ("Tengo tres hermanos y dos hermanas en la ciudad grande.", ["tres", "dos"]),
    ("Ich habe drei Katzen und zwei Hunde in meinem alten Haus.", ["drei", "zwei"]),
    ("J'ai trois chats et deux chiens dans la maison de campagne.", ["trois", "deux"]),
    ("У меня три кошки и две собаки в нашем старом доме.", ["три", "две"]),
    ("The meeting room number is ٣٤ on the left side of the long corridor.", ["٣٤"]),
    ("We paid ४५० rupees for the small green bag at the old market.", ["४५०"]),
    ("The price was ３０００ yen for the ticket at the old station.", ["３０００"]),
    ("My grandmother turned 九十 last spring at her house by the sea.", ["九十"]),
    ("I booked room Ⅻ on the top floor of the small old hotel.", ["Ⅻ"]),
    ("मैं आज स्कूल नहीं जाऊँगा क्योंकि बाहर बहुत बारिश है और सड़कें गीली हैं ।", ["नहीं", "जाऊँगा"]),
    ("لا أشرب القهوة بعد الظهر في المكتب مع زملائي كل يوم", ["لا", "أشرب"]),
    ("我 今天 不 想 去 学校 因为 外面 下 大雨 了 。", ["不"]),
    ("私 は 肉 を 食べ ない と 決め た 去年 の 夏 から 。", ["ない"]),
]


@pytest.mark.parametrize(("said", "kept"), OTHER_LANGUAGES)
def test_other_languages_keep_their_negations_and_numbers(said: str, kept: list[str]) -> None:
    pruned = compress([said], 0.1)[0].split()
    assert is_subsequence(kept, pruned), pruned


# --- every clause keeps its subject, verb and object (rule 10), brackets their pair (rule 11) ------
# A "*" marks a word that must survive: the subject's head noun, the verb group, the object's head.

CLAUSE_SENTENCES = [
    "My *brother *sold his old *bike to a neighbour last spring.",
    "The *children *really *loved the puppet *show at the library.",
    "Jonas and his *wife *repainted the small *kitchen a pale blue *last *month.",
    "Our landlord's *cat *scratched the new *sofa, so *nobody *could *sit there.",
    "The *dentist *told me my *teeth *are *healthy *but I *should *floss more.",
    "A *friend of mine *bought the *house *next *door.",
    "Tom's *daughter *works at the *bakery on the corner.",
    "*Take a *look at this *path!",
    "Her *grandparents *finally *visited the old *harbour in the north.",
    "The *storm *knocked *down two *trees in our street.",
    "It rained all night, and wet *leaves *covered the whole *path.",
]


@pytest.mark.parametrize("ratio", [0.01, 0.1, 0.3])
@pytest.mark.parametrize("template", CLAUSE_SENTENCES)
def test_every_clause_keeps_its_subject_verb_and_object(template: str, ratio: float) -> None:
    assert_marked_words_survive(template, ratio)


def test_a_long_turn_keeps_every_clause_s_nouns() -> None:
    sentences = [template.replace("*", "") for template in CLAUSE_SENTENCES]
    heads = "brother bike children show wife kitchen cat sofa, dentist teeth friend house daughter leaves"
    pruned = compress([" ".join(sentences)], 0.01)[0].split()
    assert not set(heads.split()) - set(pruned), pruned


@settings(max_examples=100, deadline=None)
@given(words=plain_words, caption=plain_words, ratio=st.floats(0.01, 0.95))
def test_a_caption_keeps_both_brackets(words: list[str], caption: list[str], ratio: float) -> None:
    said = " ".join(["[shares", *caption, "]", *words]).replace(" ]", "]")
    pruned = compress([said], ratio)[0]
    assert pruned.count("[") == pruned.count("]") == 1, (said, pruned)
    assert pruned.startswith("[shares"), pruned


# --- who and what a clause is about: subject and object pronouns, reporting verbs (rule 12) --------
# A "*" marks a word that must survive. A sentence's first subject "I" may go (the stored line names
# the speaker); every other subject pronoun with a verb, and an object pronoun after its verb, stays.

PRONOUN_SENTENCES = [
    "My *dad *thinks *I *should *sell the *house.",
    "My boss *Carl *said *I *should *not *take *more *than *12 *days *off this year.",
    "My sister *Anna *says that her *husband *never *cooks.",
    "*Mark *owes *me *20 dollars and *I *owe *him *50.",
    "I *won the *race last year, *but *I *lost *it *this *year.",
    "My *sister *bought a new *car and *she *loves *driving *it to *work.",
    "*Please *remind *me to *email *Priya, *not *Raj.",
    "My *aunt *believes *she *can *win the *lottery.",
    "Our *coach *said *they *would *lose the *final.",
    "*Ben *lent *us his *van and *we *returned *it on *Sunday.",
    "The *teacher *gave *me a *warning because *I *forgot my *homework.",
    "I *hurt *myself while *I *was *skiing.",
    "Her *parents *think *we *should *move *closer.",
    "*Jenna *hopes *they *invite *her to the *wedding.",
]


@pytest.mark.parametrize("ratio", [0.01, 0.05, 0.3])
@pytest.mark.parametrize("template", PRONOUN_SENTENCES)
def test_pronouns_keep_who_and_what_a_claim_is_about(template: str, ratio: float) -> None:
    assert_marked_words_survive(template, ratio)


def test_a_sentence_s_first_subject_i_may_go_but_no_other_pronoun() -> None:
    said = (
        "I think that my sister said they left it behind the old shed. Yesterday, I sold it for a good price."
    )
    pruned = compress([said], 0.05)[0]
    assert pruned.startswith("think my sister said they left it"), pruned  # "my": rule 16
    assert "Yesterday, sold it" in pruned, pruned  # the speaker's own claims: "I" goes


# --- quantities, comparisons and clauses without a subject of their own (rules 13, 14) -------------
# Sentences of our own (issue 11's third probe): a "*" marks a word that must survive. All but two
# lost a marked word before rules 13 and 14 at some ratio ("up to 3 weeks" and "roughly two hundred"
# survived, their words being rare enough; they stay as checks).

QUANTITY_SENTENCES = [
    "I have been learning Spanish at the language school downtown for *about *8 *months.",
    "The new cough medicine the doctor gave me *tastes *like *soap.",
    "You can keep the library books from the children's section for *up *to *3 *weeks.",
    "We waited at the crowded train station in the rain for *over *an *hour.",
    "The old farmhouse we rented last summer costs *around *40 dollars a night.",
    "My little brother now *looks *like our *father when he was young.",
    "She worked *as a *nurse at the children's hospital in the city centre.",
    "*Under *20 people came to the opening of the small gallery on Main Street.",
    "The drive to the coast took just *under *an *hour on the new highway.",
    "The repair of the old car at the garage will cost *roughly *two *hundred dollars.",
]
CLAUSE_PROBE_SENTENCES = [
    "*Anna *hates *when *I *leave dishes in the sink.",
    "She took the box from the shelf *and *gave *it *to *Caroline.",
    "I really need *to *talk *to *him about the rent before Friday.",
    "Last summer I *went *with *her *to the lake *house in the north.",
    "My plan for the week: 1) *call the *dentist Monday 2) *renew my *passport 3) *buy a *gift for Mom.",
    "I *hope *to *build a *shelter for stray cats next year.",
    "We *took the *kids *to the *museum on Saturday.",
    "The *guy *who *lives next door *fixed my *bike last week.",
    "*Anna, my *roommate, *hates loud *music after midnight.",
    "My own *journey and the *support *I *got *made a huge *difference.",
    "*At *least *20 *people *came to the opening of the gallery.",
    "My sister *bought a *gift *for *him at the market downtown.",
]


# From the second probe of 40 fresh sentences through `Memory` (each lost a marked word before).
SECOND_PROBE_SENTENCES = [
    "Can you remind me *what *time the pharmacy closes on Sundays?",
    "Groceries for the weekend: *eggs, *milk, two *loaves *of *bread, and no more cheese.",
    "I barely slept last night *because the neighbours' party went on until 4am.",
    "Why did you decide *to *quit your *job *at the *bank after only six months?",
    "My *daughter, *who just *turned seven, *wants a *hamster rather than a dog.",
    "I'm not sure I'll *make *it *to the *reunion, since my flight lands at 11pm.",
    "If the weather holds, we'll *hike *to the *lake on Saturday morning.",
    "My friend who *works *at the *hospital says the new wing opens in spring.",
    "The bus was so crowded that I had to *wait *for the next *one, about twenty minutes later.",
    # A form of "be" without a main verb takes a complement, as a verb its object.
    "I'm *in *awe *of your *courage as a trans person.",
    "My grandfather was *in *charge *of the *harbour as a young man.",
    # "so" after an auxiliary is an intensifier: the predicate after it is kept.
    "Yesterday we went to the zoo and it was *so *cool *spending *time *with *them there.",
]


@pytest.mark.parametrize("ratio", [0.05, 0.1, 0.3, 0.6, 1.0])
@pytest.mark.parametrize("template", QUANTITY_SENTENCES + CLAUSE_PROBE_SENTENCES + SECOND_PROBE_SENTENCES)
def test_quantities_comparisons_and_clauses_keep_their_claims(template: str, ratio: float) -> None:
    assert_marked_words_survive(template, ratio)


@pytest.mark.parametrize(
    ("said", "word"),
    [
        ("The long book about the war sat on the shelf near the window for years.", "about"),
        ("A small cat under the old car was sleeping there all afternoon.", "under"),
        ("The wooden fence around the garden fell down in the big storm.", "around"),
    ],
)
def test_approximators_are_ordinary_words_away_from_a_number(said: str, word: str) -> None:
    plan = plan_turns(_prune_rules(), [said])
    forced = [plan.words[i] for i, f in zip(plan.ranked, plan.flags) if f & _core.FLAG_FORCE_KEEP]
    assert word not in forced, forced
