//! What a pruned turn must keep: the rules (no model) that split turns into words and sentences, find
//! fillers, claim words and the words they apply to, main verbs, particles, question openings, each
//! clause's subject, verb and object heads (also of clauses without a subject of their own, and of
//! subjects with a relative clause or appositive), approximators before quantities, subject and
//! object pronouns and brackets, a result's "so", possessives, gerund subjects, noun-phrase heads,
//! second objects, complements and coordinated verbs (rules 15-20), and flag each word for [`crate::prune::score_tokens`] and [`crate::prune::prune_tokens`].
//!
//! The rules themselves are documented, numbered, in `python/lightmem/prune_rules.py`; the claim-word
//! classes and their file format in `python/lightmem/data/claim_words.txt`, which [`Rules::new`]
//! parses. Words are split on whitespace (Python's `str.isspace`, so `\x1c`..`\x1f` too). A word's
//! key is the word lower-cased, without the non-alphanumeric characters at its edges, with every
//! apostrophe (’ ‘ ´ ʼ) read as '.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{KernelError, KernelResult};
use crate::prune::{DATE, ENTITY, FILLER, FORCE_KEEP, NUMBER, STOPWORD};

/// What a claim word keeps after it: words up to its `content`-th content word, at most `most` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reach {
    pub content: usize,
    pub most: usize,
}

/// Rule 4, `head` claim words: up to the first content word, at most three words.
pub const HEAD: Reach = Reach {
    content: 1,
    most: 3,
};
/// Rule 4, `scope` claim words (negations, conditionals): up to the second content word, at most four.
pub const SCOPE: Reach = Reach {
    content: 2,
    most: 4,
};
/// Rule 7: a question's kept opening is at most this many words.
pub const QUESTION_FRAME_WORDS: usize = 8;
/// Rule 8: how many words past a subject pronoun its main verb is looked for.
pub const VERB_REACH: usize = 4;
/// Rule 10: a noun phrase is at most this many words, its opening word included.
pub const NOUN_PHRASE_WORDS: usize = 6;

// Word classes, as bits of one look-up per word.
const INTERJECTION: u32 = 1;
const DISCOURSE: u32 = 1 << 1;
const COMMA_MARKER: u32 = 1 << 2;
const AUXILIARY: u32 = 1 << 3;
const FUNCTION: u32 = 1 << 4;
const WH: u32 = 1 << 5;
const CONJUNCTION: u32 = 1 << 6;
const SUBJECT: u32 = 1 << 7;
const SUBJECT_AUXILIARY: u32 = 1 << 8;
const VERB_ADVERB: u32 = 1 << 9;
const DETERMINER: u32 = 1 << 10;
const OBJECT_PRONOUN: u32 = 1 << 11;
const BE: u32 = 1 << 12;
const PREPOSITIONAL_PARTICLE: u32 = 1 << 13;
const PREPOSITION: u32 = 1 << 14;
const LINK: u32 = 1 << 15;
const PARTICLE: u32 = 1 << 16;
const STOP: u32 = 1 << 17;
const PAST: u32 = 1 << 18;
const OBJECT_OPENER: u32 = 1 << 19;
const OTHER_PREPOSITION: u32 = 1 << 20;
const OBJECT_CASE: u32 = 1 << 21;
const PERSONAL_SUBJECT: u32 = 1 << 22;
const SUBORDINATOR: u32 = 1 << 23;
const REPORTED: u32 = 1 << 24;
const TIME_UNIT: u32 = 1 << 25;
const RELATIVE: u32 = 1 << 26;
const PRESENTATIVE: u32 = 1 << 27;
const POSSESSIVE: u32 = 1 << 28;
const BASE_AUXILIARY: u32 = 1 << 29;
const ROLE: u32 = 1 << 30;
const QUANTIFIER: u32 = 1 << 31;

macro_rules! interjections {
    () => {
        "um umm uh uhh er erm hmm hm mm oh ooh ah ahh aw aww wow whoa yay haha hahaha hehe lol lmao \
         omg ugh phew oops hey hi hello gosh geez"
    };
}
macro_rules! discourse_markers {
    () => {
        "yeah yep yup ok okay so anyway anyways basically literally actually really just totally btw \
         honestly seriously"
    };
}
macro_rules! comma_markers {
    () => {
        "well like"
    };
}

/// Interjections and discourse markers: words that carry no fact wherever they stand (rule 2).
pub const FILLER_WORDS: &str = concat!(
    interjections!(),
    " ",
    discourse_markers!(),
    " ",
    comma_markers!()
);

/// The closed word classes the rules use (a class listed with others is the union of their bits).
const WORD_CLASSES: &[(u32, &str)] = &[
    (INTERJECTION, interjections!()),
    (DISCOURSE | VERB_ADVERB, discourse_markers!()),
    // "well" and "like" are fillers only when a comma sets them off, and never adverbs before a verb.
    (DISCOURSE | COMMA_MARKER, comma_markers!()),
    // Forms of be, have and do, the modals, and wh-word + is: what opens a yes/no or wh-question.
    (
        AUXILIARY | FUNCTION,
        "do does did can could may might must shall should will would have has had \
         what's who's where's how's when's why's that's it's there's here's",
    ),
    (AUXILIARY | FUNCTION | BE | LINK, "am is are was were be been being"),
    (
        FUNCTION,
        "me him her us them these those there here whom whose which where when why how \
         i'm you're we're they're i've you've we've they've as",
    ),
    (FUNCTION | SUBJECT, "i he she we they who"),
    (FUNCTION | SUBJECT | OBJECT_PRONOUN, "you it"),
    (FUNCTION | OBJECT_PRONOUN, "me him her us them this that"),
    (FUNCTION | DETERMINER, "the a an my your his her its our their this that these those"),
    (FUNCTION | PREPOSITION | LINK, "to of in on at for with about into onto"),
    (PREPOSITION | LINK, "from by"),
    (FUNCTION, "over up out"),
    (WH, "what who whom whose which where when why how"),
    (FUNCTION, "what who whom whose which where when why how"),
    (CONJUNCTION | LINK, "and but or so because while whereas"),
    (
        SUBJECT_AUXILIARY | BE | LINK,
        "i'm you're we're they're he's she's it's who's i've you've we've they've who've",
    ),
    // Subjects contracted with a modal (rule 3 keeps them as modals; rule 8 their verb).
    (
        SUBJECT_AUXILIARY,
        "i'll you'll he'll she'll we'll they'll it'll i'd you'd he'd she'd we'd they'd",
    ),
    (
        VERB_ADVERB,
        "not never also even always still already ever often usually sometimes finally then again \
         all both each",
    ),
    (PREPOSITIONAL_PARTICLE, "on in"),
    // Irregular past tenses and participles of common English verbs (the regular ones end in -ed).
    (
        PAST,
        "went gone took taken made got gotten gave given came saw seen knew known thought told found \
         felt left kept brought bought began begun ran ate eaten drank drunk wrote written spoke \
         spoken broke broken chose chosen drove driven flew flown forgot forgotten grew grown held \
         heard lost met paid sent sold spent stood taught understood won wore worn sang sung swam \
         swum threw thrown caught fell fallen fought hung hid hidden led lent meant rode ridden rose \
         said sat slept stole shook shot built burnt dealt dug drew drawn fed fled forgave froze \
         frozen laid mistook overcame rang shone shown shrank sank sought spun stuck struck swore \
         swept swung tore torn woke woken",
    ),
    // What opens a noun phrase that is an object: a word directly before one is a verb (rule 10).
    (
        OBJECT_OPENER,
        "a an the my your his her its our their these those me him us them",
    ),
    // The prepositions not listed above: neither nouns nor verbs (rule 10).
    (
        OTHER_PREPOSITION,
        "near under behind across along through around between during towards toward inside \
         outside above below beside beyond among despite throughout upon via before after until \
         till since within without against versus except unlike",
    ),
    // Pronouns in the object case and reflexives: a kept word's object (rule 12).
    (
        OBJECT_CASE,
        "me him her it us them you myself yourself himself herself itself ourselves yourselves \
         themselves",
    ),
    // Personal subject pronouns: kept with their verb, but for a sentence's first subject "I" (rule 12).
    (PERSONAL_SUBJECT | REPORTED, "i you he she we they it"),
    // What opens a reported or embedded clause: a word directly before one is a verb (rules 12, 13).
    (REPORTED | SUBORDINATOR, "that if whether"),
    (REPORTED, "when where why how what"),
    // Relative pronouns: after a subject's head they open a clause about it (rule 14).
    (RELATIVE, "who which that"),
    // A demonstrative, "there" or "here" contracted with "is": its verb group is kept (rule 16).
    (PRESENTATIVE, "that's there's here's"),
    // Possessive determiners: kept with the noun they determine (rule 16).
    (POSSESSIVE, "my your his her our their its"),
    // Auxiliaries that are also main verbs after "to" ("lucky to have", rule 19).
    (BASE_AUXILIARY, "have be do"),
    // Role and comparison before a noun phrase (rule 13): a verb in -s before one is a verb (rule
    // 17); the noun phrase keeps its head and prepositional phrase (rule 18).
    (ROLE, "as like"),
    // Quantifiers before a noun phrase: its head is kept with them (rule 18: "any positive vibes").
    (QUANTIFIER, "any some every each many several most both few"),
    // Units of time: "a" / "an" before one is a quantity ("about a week", rule 13).
    (
        TIME_UNIT,
        "second minute hour day week fortnight month year decade century couple few",
    ),
    // Conjunctions and subordinators: a subject pronoun after one opens a clause of its own (rule 12).
    (
        SUBORDINATOR,
        "and but or so because while whereas when though although unless until since before \
         after once as",
    ),
];

/// Characters of CJK numerals: a word holding one is a number.
const CJK_NUMERALS: &str = "〇零一二三四五六七八九十百千万萬億亿两兩";
/// Characters of CJK negation, and Japanese negative endings: a word holding one is a negation.
const CJK_NEGATION_CHARACTERS: &str = "不没沒别別未无無非莫勿";
const CJK_NEGATION_ENDINGS: [&str; 2] = ["ない", "ません"];
/// The apostrophes read as '.
const APOSTROPHES: [char; 4] = ['’', '‘', '´', 'ʼ'];

/// A claim word or phrase of the shipped list: its flags and what it keeps after it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Claim {
    flags: u8,
    reach: Option<Reach>,
    /// A claim word only directly before a quantity (the `numeral` attribute).
    numeral: bool,
}

/// The claim-word list, the stopwords and the closed word classes, ready to plan turns.
#[derive(Clone, Debug)]
pub struct Rules {
    classes: HashMap<String, u32>,
    claims: HashMap<String, Claim>,
    /// Phrases by their first word, the longest first.
    phrases: HashMap<String, Vec<Vec<String>>>,
}

/// How the kernels see a batch of turns (`m` turns, `n` words, `k` ranked words).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchPlan<'a> {
    /// Every word of every turn, in order.
    pub words: Vec<&'a str>,
    /// `m + 1` offsets of each turn's words in `words`.
    pub word_offsets: Vec<i64>,
    /// The words the kernels rank (fillers left out), as indexes into `words`.
    pub ranked: Vec<u32>,
    /// The key of each ranked word.
    pub keys: Vec<String>,
    /// The flags of each ranked word (`FORCE_KEEP`, `ENTITY`, ...).
    pub flags: Vec<u8>,
    /// Whether each ranked word is put back between two kept words of its clause (rule 9).
    pub bridges: Vec<bool>,
    /// Offsets of each sentence's ranked words (sentences without any are left out).
    pub sentence_offsets: Vec<i64>,
    /// `m + 1` offsets of each turn's ranked words.
    pub turn_offsets: Vec<i64>,
}

/// What the rules read from one word.
struct Word<'a> {
    text: &'a str,
    key: String,
    classes: u32,
    claim: Option<Claim>,
}

impl Word<'_> {
    fn has(&self, class: u32) -> bool {
        self.classes & class != 0
    }

    /// Neither a stopword nor a closed-class function word.
    fn is_content(&self) -> bool {
        !self.has(STOP | FUNCTION)
    }

    /// Ends with punctuation that closes a clause.
    fn ends_clause(&self) -> bool {
        matches!(
            self.text.chars().next_back(),
            Some(',' | '.' | '!' | '?' | ';' | ':' | '…' | ')' | ']' | '"' | '”')
        )
    }

    /// The last character before any closing quotes and brackets.
    fn final_mark(&self) -> Option<char> {
        self.text
            .trim_end_matches(['"', '\'', '”', '’', ')', ']'])
            .chars()
            .next_back()
    }

    fn ends_sentence(&self) -> bool {
        matches!(self.final_mark(), Some('.' | '!' | '?' | ';' | '…'))
    }

    fn ends_question(&self) -> bool {
        self.final_mark() == Some('?')
    }
}

/// Whether Python's `str.split()` splits at `c`.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// A word as the claim-word list and the vocabulary know it (see the module docs).
pub fn word_key(word: &str) -> String {
    let core = word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
    let key: String = core
        .to_lowercase()
        .chars()
        .map(|c| if APOSTROPHES.contains(&c) { '\'' } else { c })
        .collect();
    if key.is_empty() {
        word.to_owned() // a word without letters or digits is its own key
    } else {
        key
    }
}

/// Whether `key` ends in n't, with clitics after it (shouldn't've): a negation by its form.
fn is_negated(key: &str) -> bool {
    ends_with_clitic(key, |part, before| part == "t" && before.ends_with('n'))
}

/// Whether `key` has an apostrophe part for which `clitic(part, text before it)` holds, followed only
/// by apostrophe parts of ASCII lower-case letters.
fn ends_with_clitic(key: &str, clitic: impl Fn(&str, &str) -> bool) -> bool {
    let mut end = key.len();
    while let Some(apostrophe) = key[..end].rfind('\'') {
        let (before, part) = (&key[..apostrophe], &key[apostrophe + 1..end]);
        if clitic(part, before) {
            return true;
        }
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_lowercase()) {
            return false;
        }
        end = apostrophe;
    }
    false
}

/// A regular past tense or participle by its form: a word of ASCII letters in -ed, five or more.
fn is_regular_past(key: &str) -> bool {
    key.len() >= 5 && key.ends_with("ed") && key.bytes().all(|b| b.is_ascii_lowercase())
}

/// A verb's third person singular by its form: a word of ASCII letters in -s (not -ss), four or more.
fn is_third_person(key: &str) -> bool {
    key.len() >= 4
        && key.ends_with('s')
        && !key.ends_with("ss")
        && key.bytes().all(|b| b.is_ascii_lowercase())
}

/// A past tense or participle: an irregular one, or a regular one by its form.
fn is_past(word: &Word) -> bool {
    word.has(PAST) || is_regular_past(&word.key)
}

/// A gerund or present participle by its form: a word of ASCII letters in -ing, five or more.
fn is_gerund_form(key: &str) -> bool {
    key.len() >= 5 && key.ends_with("ing") && key.bytes().all(|b| b.is_ascii_lowercase())
}

/// Rule 14: a list item's marker standing as a word: a bullet (- – — • · *) or a label of one or two
/// digits or one letter, in parentheses or followed by ")" or "." ("1)", "(2)", "3.", "a)").
fn is_list_marker(text: &str) -> bool {
    if matches!(text, "-" | "–" | "—" | "•" | "·" | "*") {
        return true;
    }
    let Some(label) = text
        .strip_suffix(')')
        .map(|rest| rest.strip_prefix('(').unwrap_or(rest))
        .or_else(|| {
            text.strip_suffix('.')
                .filter(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
        })
    else {
        return false;
    };
    let digits = (1..=2).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_digit());
    let letter = label.len() == 1 && label.bytes().all(|b| b.is_ascii_alphabetic());
    digits || letter
}

/// A number (rule 3): by its form or a number word.
fn is_number(word: &Word) -> bool {
    word.claim.is_some_and(|c| c.flags & NUMBER != 0)
}

/// Where rule 14 goes on after a subject's relative clause, appositive or coordinate.
struct SubjectClause {
    /// The next word to read.
    resume: usize,
    /// A main verb was just kept: a noun phrase next is its object.
    after_verb: bool,
    /// The subject's own verb is still to come.
    awaiting_verb: bool,
}

/// Claim words found by their form (rule 3): a negation in n't, a modal in 'll or 'd (either with
/// clitics after it), a French negation n' ("n'est"), a number (a character of Unicode category N
/// or a CJK numeral), a CJK negation.
fn pattern_claim(key: &str) -> Option<Claim> {
    let scope = Claim {
        flags: FORCE_KEEP,
        reach: Some(SCOPE),
        numeral: false,
    };
    if is_negated(key) {
        return Some(scope);
    }
    if ends_with_clitic(key, |part, _| part == "ll" || part == "d") {
        return Some(Claim {
            flags: FORCE_KEEP,
            reach: Some(HEAD),
            numeral: false,
        });
    }
    let elided = key
        .strip_prefix("n'")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if elided {
        return Some(scope);
    }
    if key
        .chars()
        .any(|c| c.is_numeric() || CJK_NUMERALS.contains(c))
    {
        return Some(Claim {
            flags: FORCE_KEEP | NUMBER,
            reach: Some(HEAD),
            numeral: false,
        });
    }
    let cjk_negation = !key.is_ascii()
        && (key.chars().any(|c| CJK_NEGATION_CHARACTERS.contains(c))
            || CJK_NEGATION_ENDINGS
                .iter()
                .any(|ending| key.contains(ending)));
    cjk_negation.then_some(scope)
}

impl Rules {
    /// Parses the claim-word list (the text of `claim_words.txt`) and takes the stopword keys.
    ///
    /// Errors: an entry before the first `@class` line, an unknown class attribute.
    pub fn new(claim_words: &str, stopwords: &[String]) -> KernelResult<Self> {
        let mut classes: HashMap<String, u32> = HashMap::new();
        for &(bits, words) in WORD_CLASSES {
            for word in words.split_whitespace() {
                *classes.entry(word.to_owned()).or_default() |= bits;
            }
        }
        for word in stopwords {
            *classes.entry(word.clone()).or_default() |= STOP;
        }
        let mut claims: HashMap<String, Claim> = HashMap::new();
        let mut phrases: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        let mut class: Option<(Claim, bool)> = None; // the current class, and whether it is particles
        for (number, line) in claim_words.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(header) = line.strip_prefix('@') {
                let mut claim = Claim {
                    flags: FORCE_KEEP,
                    reach: None,
                    numeral: false,
                };
                let mut particle = false;
                for attribute in header.split_whitespace().skip(1) {
                    match attribute {
                        "scope" => claim.reach = Some(SCOPE),
                        "head" => claim.reach = claim.reach.or(Some(HEAD)),
                        "date" => claim.flags |= DATE,
                        "number" => claim.flags |= NUMBER,
                        "numeral" => claim.numeral = true,
                        "particle" => particle = true,
                        other => {
                            return Err(KernelError::Value(format!(
                                "claim words line {}: unknown attribute {other:?}",
                                number + 1
                            )))
                        }
                    }
                }
                class = Some((claim, particle));
                continue;
            }
            for entry in line.split_whitespace() {
                let Some((claim, particle)) = class else {
                    return Err(KernelError::Value(format!(
                        "claim words line {}: {entry:?} comes before the first @class line",
                        number + 1
                    )));
                };
                if particle {
                    *classes.entry(entry.to_owned()).or_default() |= PARTICLE;
                    continue;
                }
                let words: Vec<String> = entry.split('_').map(str::to_owned).collect();
                if words.len() > 1 {
                    phrases.entry(words[0].clone()).or_default().push(words);
                }
                let known = claims.entry(entry.to_owned()).or_insert(Claim {
                    flags: 0,
                    reach: claim.reach,
                    numeral: claim.numeral,
                });
                known.flags |= claim.flags;
                known.reach = known.reach.max(claim.reach);
                known.numeral = known.numeral && claim.numeral; // a class without the condition wins
            }
        }
        for starts in phrases.values_mut() {
            starts.sort_by_key(|phrase| std::cmp::Reverse(phrase.len())); // stable: the longest wins
        }
        Ok(Rules {
            classes,
            claims,
            phrases,
        })
    }

    fn word<'a>(&self, text: &'a str) -> Word<'a> {
        let key = word_key(text);
        let classes = self.classes.get(&key).copied().unwrap_or(0);
        let claim = match self.claims.get(&key) {
            Some(claim) if claim.flags != 0 => Some(*claim),
            _ => pattern_claim(&key),
        };
        Word {
            text,
            key,
            classes,
            claim,
        }
    }

    /// The plan of every turn of `texts` (see [`BatchPlan`]).
    pub fn plan<'a>(&self, texts: &[&'a str]) -> BatchPlan<'a> {
        let mut batch = BatchPlan {
            word_offsets: vec![0],
            turn_offsets: vec![0],
            sentence_offsets: vec![0],
            ..BatchPlan::default()
        };
        for text in texts {
            let first = batch.words.len();
            let words: Vec<Word<'a>> = text
                .split(is_space)
                .filter(|w| !w.is_empty())
                .map(|w| self.word(w))
                .collect();
            batch.words.extend(words.iter().map(|w| w.text));
            batch.word_offsets.push(batch.words.len() as i64);
            TurnPlanner::new(self, &words).plan(first, &mut batch);
            batch.turn_offsets.push(batch.ranked.len() as i64);
        }
        batch
    }
}

/// The rules applied to one turn.
struct TurnPlanner<'r, 'w, 'a> {
    rules: &'r Rules,
    words: &'w [Word<'a>],
    force: Vec<bool>,
    flags: Vec<u8>,
}

impl<'r, 'w, 'a> TurnPlanner<'r, 'w, 'a> {
    fn new(rules: &'r Rules, words: &'w [Word<'a>]) -> Self {
        TurnPlanner {
            rules,
            words,
            force: vec![false; words.len()],
            flags: vec![0; words.len()],
        }
    }

    fn sentences(&self) -> Vec<Range<usize>> {
        let words = self.words;
        let mut starts = vec![0];
        starts.extend(
            (1..words.len())
                .filter(|&i| words[i - 1].ends_sentence() || words[i].text.starts_with('[')),
        );
        starts.push(words.len());
        starts
            .windows(2)
            .filter(|w| w[0] < w[1])
            .map(|w| w[0]..w[1])
            .collect()
    }

    fn force(&mut self, range: Range<usize>) {
        self.force[range].fill(true);
    }

    /// Rule 2: interjections anywhere; discourse markers opening a sentence or set off by commas.
    fn is_filler(&self, i: usize, opens: bool) -> bool {
        let word = &self.words[i];
        if word.has(INTERJECTION) {
            return true;
        }
        let set_off = word.ends_clause() && (opens || self.words[i - 1].text.ends_with(','));
        word.has(DISCOURSE) && (set_off || (opens && !word.has(COMMA_MARKER)))
    }

    /// Applies the rules and appends the turn's ranked words to `batch` (its words start at `first`).
    fn plan(mut self, first: usize, batch: &mut BatchPlan<'a>) {
        let words = self.words;
        let n = words.len();
        let sentences = self.sentences();
        let mut filler = vec![false; n];
        for sentence in &sentences {
            let mut opens = true; // only fillers so far in this sentence
            for i in sentence.clone() {
                let word = &words[i];
                filler[i] = self.is_filler(i, opens);
                let leading = opens; // no word but fillers before word i
                opens = opens && filler[i];
                if word.has(DISCOURSE) && !filler[i] {
                    self.flags[i] |= FILLER;
                }
                if word.has(STOP) {
                    self.flags[i] |= STOPWORD;
                }
                let capitalised = word.text.chars().next().is_some_and(char::is_uppercase);
                if capitalised && i != sentence.start && !word.has(STOP) && word.key != "i" {
                    self.flags[i] |= ENTITY | FORCE_KEEP;
                }
                let mut claim = self.claim_at(i, sentence.end);
                if claim.is_none() && !(leading || filler[i]) && self.is_result_so(i, sentence.end)
                {
                    self.force[i] = true;
                    claim = Some((i, HEAD));
                }
                if claim.is_none() {
                    if let Some((from, has_head)) = self.particle_at(i, sentence) {
                        self.force(from..i + 1);
                        claim = has_head.then_some((i, HEAD));
                    }
                }
                if let Some(claim) = claim {
                    self.keep_after(claim, sentence.end);
                }
                self.keep_verb(i, sentence.end);
                if word.text.contains(['[', ']']) {
                    self.force[i] = true; // rule 11
                }
            }
            self.force[sentence.end - 1] = true;
            let opening = sentence
                .clone()
                .find(|&i| !filler[i])
                .unwrap_or(sentence.end);
            if words[sentence.end - 1].ends_question() {
                self.keep_question_frame(opening..sentence.end);
            }
            self.keep_clause_heads(opening..sentence.end);
            self.keep_object_pronouns(opening..sentence.end);
            self.keep_noun_heads(opening..sentence.end);
        }
        if filler.iter().all(|&f| f) {
            filler.fill(false);
            self.force.fill(true);
        }
        for sentence in &sentences {
            let last = sentence.clone().rev().find(|&i| !filler[i]);
            let mut previous: Option<usize> = None; // the sentence's last ranked word so far
            for i in sentence.clone().filter(|&i| !filler[i]) {
                // Rule 9: a link word between two ranked words of its clause.
                let bridge = previous.is_some_and(|p| !words[p].ends_clause())
                    && Some(i) != last
                    && words[i].has(LINK)
                    && !words[i].ends_clause();
                previous = Some(i);
                batch.ranked.push((first + i) as u32);
                batch.keys.push(words[i].key.clone());
                batch
                    .flags
                    .push(self.flags[i] | if self.force[i] { FORCE_KEEP } else { 0 });
                batch.bridges.push(bridge);
            }
            if previous.is_some() {
                batch.sentence_offsets.push(batch.ranked.len() as i64);
            }
        }
    }

    /// Rule 3: marks the claim word or phrase starting at word `i`; returns the index of its last word
    /// and what it keeps after it, if it keeps anything.
    fn claim_at(&mut self, i: usize, stop: usize) -> Option<(usize, Reach)> {
        let (rules, words) = (self.rules, self.words);
        if let Some(phrases) = rules.phrases.get(&words[i].key) {
            for phrase in phrases {
                let end = i + phrase.len();
                if end > stop || words[i..end - 1].iter().any(Word::ends_clause) {
                    continue;
                }
                if words[i..end].iter().zip(phrase).all(|(w, p)| w.key == *p) {
                    let claim = rules.claims[&phrase.join("_")];
                    if claim.numeral && !self.is_quantity(end, stop) {
                        continue;
                    }
                    self.flags[i..end]
                        .iter_mut()
                        .for_each(|f| *f |= claim.flags);
                    self.force(i..end);
                    return claim.reach.map(|reach| (end - 1, reach));
                }
            }
        }
        let claim = words[i].claim?;
        if claim.numeral && !self.is_quantity(i + 1, stop) {
            return None;
        }
        self.flags[i] |= claim.flags;
        self.force[i] = true;
        claim.reach.map(|reach| (i, reach))
    }

    /// Rule 15: "so" inside a sentence (not its first word, nor after an auxiliary: "was so cool")
    /// opening a clause of result: after a comma, or before a subject pronoun, a subject contracted
    /// with its auxiliary or a determiner ("so we left", "so my roommate is moving").
    fn is_result_so(&self, i: usize, stop: usize) -> bool {
        let words = self.words;
        if words[i].key != "so"
            || i + 1 >= stop
            || words[i].ends_clause()
            || words[i - 1].has(AUXILIARY)
        {
            return false;
        }
        words[i - 1].text.ends_with(',')
            || words[i + 1].has(PERSONAL_SUBJECT | SUBJECT_AUXILIARY | DETERMINER)
    }

    /// Rule 13: whether a quantity starts at word `k` (in the clause of word `k - 1`): a number, "half",
    /// or "a" / "an" before a number or a unit of time.
    fn is_quantity(&self, k: usize, stop: usize) -> bool {
        let words = self.words;
        if k >= stop || words[k - 1].ends_clause() {
            return false;
        }
        let word = &words[k];
        if is_number(word) || word.key == "half" {
            return true;
        }
        let article = (word.key == "a" || word.key == "an") && !word.ends_clause();
        article && k + 1 < stop && (is_number(&words[k + 1]) || words[k + 1].has(TIME_UNIT))
    }

    /// Word `i` is the last of its clause: punctuation after it, its sentence's end, a conjunction next.
    fn ends_clause_at(&self, i: usize, stop: usize) -> bool {
        self.words[i].ends_clause() || i + 1 == stop || self.words[i + 1].has(CONJUNCTION)
    }

    /// Rule 6: if word `i` is a phrasal verb's particle, the first word to keep with it (its verb, or
    /// its verb and object pronoun) and whether it keeps its head after it.
    fn particle_at(&self, i: usize, sentence: &Range<usize>) -> Option<(usize, bool)> {
        let words = self.words;
        if !words[i].has(PARTICLE) || i == sentence.start || words[i - 1].ends_clause() {
            return None;
        }
        let previous = i - 1;
        let prepositional = words[i].has(PREPOSITIONAL_PARTICLE);
        if words[previous].is_content() {
            if !prepositional {
                return Some((previous, true));
            }
            if self.ends_clause_at(i, sentence.end) || words[i + 1].has(PREPOSITION) {
                return Some((previous, false));
            }
            return None;
        }
        if words[previous].has(BE) && !prepositional {
            return Some((previous, true));
        }
        if words[previous].has(OBJECT_PRONOUN) && previous > sentence.start {
            let verb = previous - 1;
            if !words[verb].ends_clause() && words[verb].is_content() {
                return Some((verb, false));
            }
        }
        self.ends_clause_at(i, sentence.end).then_some((i, false))
    }

    /// Rule 4: after the claim's last word, the words up to its `reach.content`-th content word, at
    /// most `reach.most` words, within its clause; never ending on a function word.
    fn keep_after(&mut self, (last, reach): (usize, Reach), stop: usize) {
        let words = self.words;
        let mut reached = last;
        let mut content_words = reach.content;
        for j in last + 1..(last + 1 + reach.most).min(stop) {
            if words[j - 1].ends_clause() || words[j].has(CONJUNCTION) {
                break;
            }
            if words[j].is_content() {
                reached = j;
                content_words -= 1;
                if content_words == 0 {
                    break;
                }
            }
        }
        self.force(last + 1..reached + 1);
    }

    /// Rule 8: after a subject pronoun at word `i`, the words through its main verb, past auxiliaries,
    /// negations and adverbs (and after an auxiliary, determiners), at most `VERB_REACH` words; else
    /// through its last auxiliary. A subject contracted with its auxiliary is kept too.
    fn keep_verb(&mut self, i: usize, stop: usize) {
        let words = self.words;
        if !words[i].has(SUBJECT | SUBJECT_AUXILIARY) {
            return;
        }
        let contracted = words[i].has(SUBJECT_AUXILIARY);
        let first = if contracted { i } else { i + 1 };
        if let Some((last, _)) = self.verb_group(i, stop, contracted) {
            self.force(first..last + 1);
        }
    }

    /// Rule 8's verb group after the subject at word `i` (itself an auxiliary if `auxiliary`): the
    /// index of its main verb and true, or of its last auxiliary and false; None if neither follows.
    fn verb_group(&self, i: usize, stop: usize, auxiliary: bool) -> Option<(usize, bool)> {
        let last_auxiliary = auxiliary.then_some(i);
        if self.words[i].ends_clause() {
            return last_auxiliary.map(|j| (j, false));
        }
        self.verb_group_from(i + 1, stop, last_auxiliary)
    }

    /// Rule 8's verb group from word `first` on (within its clause), after the auxiliary
    /// `last_auxiliary` if any: the index of its main verb and true, or of its last auxiliary and false.
    fn verb_group_from(
        &self,
        first: usize,
        stop: usize,
        mut last_auxiliary: Option<usize>,
    ) -> Option<(usize, bool)> {
        let words = self.words;
        for j in first..(first + VERB_REACH).min(stop) {
            let word = &words[j];
            // "so" right after an auxiliary is an intensifier ("was so cool"), not a conjunction.
            let intensifier = word.key == "so" && last_auxiliary.is_some_and(|a| a + 1 == j);
            let conjunction = word.has(CONJUNCTION) && !intensifier;
            if (j > first && words[j - 1].ends_clause()) || conjunction {
                break;
            }
            let adverb = word.has(VERB_ADVERB) || word.key.ends_with("ly");
            if word.has(AUXILIARY) || is_negated(&word.key) {
                last_auxiliary = Some(j);
            } else if !word.has(FUNCTION) && !adverb {
                return Some((j, true));
            } else if !(adverb || (last_auxiliary.is_some() && word.has(DETERMINER))) {
                break;
            }
        }
        last_auxiliary.map(|j| (j, false))
    }

    /// Rules 10 and 14: in each clause of the sentence `words[sentence]` (opening past its fillers),
    /// the head of a noun-phrase subject with its verb group, and the head of the object after a main
    /// verb with a prepositional phrase after it; a clause's verb without a subject of its own.
    fn keep_clause_heads(&mut self, sentence: Range<usize>) {
        let words = self.words;
        let stop = sentence.end;
        let mut after_verb = false; // a main verb was just kept: a noun phrase next is its object
        let mut seen_verb = false; // a verb group was kept before word j (rule 12)
        let mut awaiting_verb = false; // a subject's head was kept before its relative clause (rule 14)
        let mut j = sentence.start;
        while j < stop {
            let word = &words[j];
            // "her" is a pronoun only before a preposition: "went with her to the lake".
            let pronoun = !word.has(DETERMINER)
                || (j + 1 < stop && words[j + 1].has(PREPOSITION | OTHER_PREPOSITION));
            let object_pronoun = after_verb
                && word.has(OBJECT_CASE)
                && pronoun
                && !(word.has(SUBJECT) && self.verb_group(j, stop, false).is_some());
            if object_pronoun {
                // Rule 14: a prepositional phrase after an object pronoun ("make it to the reunion").
                let inner = self.keep_modifier(j, stop);
                if inner.is_none() && self.is_bare_infinitive(j, stop) {
                    self.force[j + 1] = true; // rule 19: "helps me fall asleep"
                    after_verb = true;
                    j += 2;
                    continue;
                }
                // Rule 19: else a second object may follow ("lent us their ladder").
                after_verb = inner.is_none() && self.second_object_follows(j, stop);
                j = inner.map_or(j + 1, |inner| inner + 1);
                continue;
            }
            if word.has(SUBJECT | SUBJECT_AUXILIARY | PRESENTATIVE) {
                let group = self.verb_group(j, stop, word.has(SUBJECT_AUXILIARY | PRESENTATIVE));
                if group.is_some() && word.has(PERSONAL_SUBJECT) {
                    let opens_with_speaker = word.key == "i"
                        && !seen_verb
                        && (j == sentence.start || !words[j - 1].has(SUBORDINATOR));
                    self.force[j] = self.force[j] || !opens_with_speaker;
                }
                if let Some((last, _)) = group.filter(|_| word.has(PRESENTATIVE)) {
                    self.force(j..last + 1); // rule 16
                }
                seen_verb = seen_verb || group.is_some();
                let last = group.map_or(j, |(last, _)| last);
                // After a main verb, or a form of "be" without one, comes an object or complement.
                after_verb = group.is_some_and(|(_, main)| main || words[last].has(BE))
                    && !words[last].ends_clause();
                j = last + 1;
                continue;
            }
            if awaiting_verb && self.verb_starts(j, stop, true) {
                if let Some((last, main)) = self.verb_group_from(j, stop, None) {
                    self.force(j..last + 1);
                    after_verb = (main || words[last].has(BE)) && !words[last].ends_clause();
                    awaiting_verb = false;
                    seen_verb = true;
                    j = last + 1;
                    continue;
                }
            }
            let item = j > sentence.start && is_list_marker(words[j - 1].text);
            let gerund = if j == sentence.start || item {
                self.keep_gerund_subject(j, stop)
            } else {
                None
            };
            if let Some((last, main)) = gerund {
                after_verb = (main || words[last].has(BE)) && !words[last].ends_clause();
                seen_verb = true;
                j = last + 1;
                continue;
            }
            if self.is_clause_verb(j, sentence.start, stop, item) {
                self.force[j] = true;
                if j > sentence.start && !item {
                    self.force[j - 1] = true; // its conjunction or "then" (rule 20)
                }
                after_verb = true;
                seen_verb = true;
                j += 1;
                continue;
            }
            let after_predicate = after_verb && j > sentence.start && self.force[j - 1];
            if self.is_infinitive(j, sentence.start, stop, after_predicate) {
                self.force(j..j + 2);
                after_verb = true;
                j += 2;
                continue;
            }
            if let Some(last) = self.keep_role(j, stop) {
                after_verb = false;
                j = last + 1;
                continue;
            }
            let opens_clause = j == sentence.start
                || item
                || words[j - 1].ends_clause()
                || words[j - 1].has(CONJUNCTION);
            if let Some(head) = self.noun_phrase(j, stop, after_verb || opens_clause, after_verb) {
                if self.verb_starts(head + 1, stop, !after_verb) {
                    if let Some((last, main)) = self.verb_group(head, stop, false) {
                        self.force(head..last + 1);
                        after_verb = (main || words[last].has(BE)) && !words[last].ends_clause();
                        seen_verb = true;
                        j = last + 1;
                        continue;
                    }
                }
                if !after_verb {
                    if let Some(last) = self.verb_after_modifier(head, stop) {
                        self.force[head] = true;
                        after_verb = !words[last].ends_clause();
                        seen_verb = true;
                        j = last + 1;
                        continue;
                    }
                }
                if opens_clause && !after_verb {
                    if let Some(next) = self.keep_subject_clause(j, head, stop) {
                        // Rule 14: a subject's head before its relative clause, appositive or
                        // coordinate, and what comes next.
                        after_verb = next.after_verb;
                        awaiting_verb = next.awaiting_verb;
                        seen_verb = seen_verb || next.after_verb;
                        j = next.resume;
                        continue;
                    }
                }
                let listed = j > sentence.start && self.is_list_item(j, head, stop);
                let object = after_verb || item || listed;
                self.force[head] = self.force[head] || object;
                let preposition = j > sentence.start
                    && words[j - 1].has(PREPOSITION | OTHER_PREPOSITION)
                    && !words[j - 1].ends_clause();
                if after_verb && preposition {
                    self.force[j - 1] = true; // its preposition: "works [at the] hospital"
                }
                let was_object = after_verb;
                after_verb = false;
                j = head + 1;
                if object {
                    if let Some(last) = self.keep_modifier(head, stop) {
                        j = last + 1;
                    } else if let Some((last, main)) = self.keep_object_relative(head, stop) {
                        after_verb = main && !words[last].ends_clause();
                        j = last + 1;
                    } else {
                        // Rule 19: a second object ("gave my brother a guitar").
                        after_verb = was_object && self.second_object_follows(head, stop);
                    }
                }
                continue;
            }
            let preposition = word.has(PREPOSITION | OTHER_PREPOSITION | PARTICLE);
            after_verb = after_verb && preposition && !word.ends_clause();
            j += 1;
        }
    }

    /// Rule 14: a clause's verb without a subject of its own: at a sentence's or a list item's start,
    /// a content word before an object or a preposition (an imperative: "Look at this", "1) call the
    /// dentist"); after a conjunction or "then", a past form or a content word before an object
    /// ("and gave it to", "then called me").
    fn is_clause_verb(&self, j: usize, start: usize, stop: usize, item: bool) -> bool {
        let words = self.words;
        if j == start || item {
            return self.is_imperative(j, stop);
        }
        let coordinated = words[j - 1].has(CONJUNCTION) || words[j - 1].key == "then";
        // Rule 20: "have" and "do" are main verbs here too ("and have a great community").
        let do_have = matches!(
            words[j].key.as_str(),
            "have" | "has" | "had" | "do" | "does" | "did"
        );
        if !coordinated
            || words[j - 1].ends_clause()
            || !(self.is_noun(j) || do_have)
            || words[j].claim.is_some()
        {
            return false;
        }
        let word = &words[j];
        let before_object =
            j + 1 < stop && !word.ends_clause() && words[j + 1].has(OBJECT_OPENER | OBJECT_CASE);
        // Rule 20: a verb in -s coordinated with a kept verb in -s ("brings us together and brings joy").
        let agrees = is_third_person(&word.key)
            && !word.ends_clause()
            && (start..j - 1).any(|k| self.force[k] && is_third_person(&words[k].key));
        // Rule 20: a content word before an infinitive ("and ask to go there").
        let before_infinitive = j + 1 < stop
            && !word.ends_clause()
            && words[j + 1].key == "to"
            && self.is_infinitive(j + 1, start, stop, true);
        is_past(word) || before_object || agrees || before_infinitive
    }

    /// Rule 14: "to" before a content word that an object follows: an infinitive and its verb ("hope
    /// to build a shelter", "to quit your job"); after an auxiliary or a claim word (a modal, an
    /// intention: "had to", "want to") also before a preposition ("had to wait for"). Rule 19:
    /// "have", "be" and "do" are verbs after "to", and "to" directly after a kept predicate
    /// (`after_predicate`: "lucky to have", "happy to help.") is an infinitive whatever follows.
    fn is_infinitive(&self, j: usize, start: usize, stop: usize, after_predicate: bool) -> bool {
        let words = self.words;
        let base = j + 1 < stop && (self.is_noun(j + 1) || words[j + 1].has(BASE_AUXILIARY));
        if words[j].key != "to" || words[j].ends_clause() || !base {
            return false;
        }
        if after_predicate {
            return true;
        }
        if j + 2 >= stop || words[j + 1].ends_clause() {
            return false;
        }
        let marked = j > start && (words[j - 1].has(AUXILIARY) || words[j - 1].claim.is_some());
        words[j + 2].has(OBJECT_OPENER | OBJECT_CASE) || (marked && words[j + 2].has(PREPOSITION))
    }

    /// Rule 17: a clause opening with a word in -ing, then only nouns, determiners, "and", "or",
    /// prepositions and adverbs up to a verb (within `NOUN_PHRASE_WORDS` words), is a gerund subject:
    /// keeps the gerund, the last noun of each run of nouns after it, its prepositions and the verb
    /// group ("Painting landscapes and still life is my favorite"); returns the verb group's end and
    /// whether it ends on a main verb.
    fn keep_gerund_subject(&mut self, j: usize, stop: usize) -> Option<(usize, bool)> {
        let words = self.words;
        let gerund = is_gerund_form(&words[j].key) && self.is_noun(j) && words[j].claim.is_none();
        if !gerund || words[j].ends_clause() {
            return None;
        }
        for k in j + 1..(j + 1 + NOUN_PHRASE_WORDS).min(stop) {
            if words[k - 1].ends_clause() {
                return None;
            }
            let word = &words[k];
            let adverb = word.has(VERB_ADVERB) || word.key.ends_with("ly");
            if !adverb && self.verb_starts(k, stop, true) {
                let (last, main) = self.verb_group_from(k, stop, None)?;
                self.force[j] = true;
                for i in j + 1..k {
                    let noun_ends =
                        words[i].is_content() && !(i + 1 < k && words[i + 1].is_content());
                    if noun_ends || words[i].has(PREPOSITION) {
                        self.force[i] = true;
                    }
                }
                self.force(k..last + 1);
                return Some((last, main));
            }
            let linking = word.has(DETERMINER | PREPOSITION | OBJECT_CASE)
                || matches!(word.key.as_str(), "and" | "or");
            if !(adverb || linking || word.is_content()) {
                return None;
            }
        }
        None
    }

    /// Rule 18: after "as" or "like" (a claim word, rule 13), the head of the noun phrase it
    /// introduces, unless a verb follows it, and the prepositional phrase after that head ("works as
    /// a nurse at the children's hospital"); returns the last word kept.
    fn keep_role(&mut self, j: usize, stop: usize) -> Option<usize> {
        let words = self.words;
        if !words[j].has(ROLE)
            || words[j].claim.is_none()
            || j + 1 >= stop
            || words[j].ends_clause()
        {
            return None;
        }
        let head = self.noun_phrase(j + 1, stop, true, true)?;
        if self.verb_starts(head + 1, stop, true) {
            return None;
        }
        self.force[head] = true;
        Some(self.keep_modifier(head, stop).unwrap_or(head))
    }

    /// Rule 19: a relative pronoun (who, which, that) after an object's head, with the relative
    /// clause's verb group up to its main verb ("remember those moments that bring us happiness").
    fn keep_object_relative(&mut self, head: usize, stop: usize) -> Option<(usize, bool)> {
        let words = self.words;
        let next = head + 1;
        if next >= stop || words[head].ends_clause() || !words[next].has(RELATIVE) {
            return None;
        }
        let (last, main) = self.verb_group(next, stop, false)?;
        if !main {
            return None;
        }
        self.force(next..last + 1);
        Some((last, main))
    }

    /// Rule 19: after an object's head, a determiner (not "this" or "that") opens a second object.
    fn second_object_follows(&self, head: usize, stop: usize) -> bool {
        let words = self.words;
        head + 1 < stop
            && !words[head].ends_clause()
            && words[head + 1].has(DETERMINER)
            && words[head + 1].has(OBJECT_OPENER)
    }

    /// Rule 18: the head of a noun phrase that opens at a determiner, possessive or number and holds
    /// two content words or more ("a stained glass window", "the children's hospital"), and of one
    /// that goes on after a comma ("a safe, inviting place"); a gerund with its object ("spending
    /// time"); a noun phrase's head with the participle after it ("a horse painted on"), and before one
    /// in -ing the preposition before the phrase ("with a person holding a key"). Rule 16: a possessive (my, your, ..., a noun in 's) whose noun phrase
    /// keeps a word is kept ("My sister", "Nature's amazing").
    fn keep_noun_heads(&mut self, sentence: Range<usize>) {
        let words = self.words;
        let stop = sentence.end;
        for j in sentence.clone() {
            let word = &words[j];
            let possessive = word.has(POSSESSIVE) || (word.key.ends_with("'s") && self.is_noun(j));
            let determined = j > sentence.start && {
                let before = &words[j - 1];
                before.has(DETERMINER) || before.key.ends_with("'s") || is_number(before)
            };
            if is_gerund_form(&word.key) && !determined && self.is_noun(j) && word.claim.is_none() {
                if let Some(head) = self.noun_phrase(j, stop, true, false).filter(|&h| h > j) {
                    self.force[j] = true;
                    self.force[head] = true;
                }
                continue;
            }
            if word.has(QUANTIFIER) {
                // A quantifier keeps its first content word (rule 4); the noun it counts is kept too.
                let phrase = (j + 1 < stop && !word.ends_clause())
                    .then(|| self.noun_phrase(j + 1, stop, true, false))
                    .flatten();
                if let Some(head) = phrase.filter(|&h| h > j + 1) {
                    self.force[head] = true;
                }
                continue;
            }
            if !(possessive || word.has(DETERMINER) || is_number(word)) {
                continue;
            }
            let Some(head) = self.noun_phrase(j, stop, false, false) else {
                continue;
            };
            let next = head + 1;
            let participle = next < stop
                && !words[head].ends_clause()
                && (is_gerund_form(&words[next].key) || is_past(&words[next]))
                && self.verb_starts(next, stop, true);
            if participle {
                self.force[head] = true;
                self.force[next] = true;
                // The preposition only before a participle in -ing: one in -ed may be a main verb.
                let preposition = j > sentence.start
                    && is_gerund_form(&words[next].key)
                    && words[j - 1].has(PREPOSITION | OTHER_PREPOSITION)
                    && !words[j - 1].ends_clause();
                if preposition {
                    self.force[j - 1] = true;
                }
            }
            if words[j..head + 1].iter().filter(|w| w.is_content()).count() >= 2 {
                self.force[head] = true;
                if is_gerund_form(&words[head].key) && words[head - 1].is_content() {
                    self.force[head - 1] = true; // a noun before its participle: "a bicycle leaning"
                }
            }
            if words[head].text.ends_with(',') && head + 1 < stop {
                if let Some(after) = self.noun_phrase(head + 1, stop, true, false) {
                    if after > head + 1 {
                        self.force[after] = true;
                    }
                }
            }
            if possessive && self.force[j + 1..head + 1].iter().any(|&f| f) {
                self.force[j] = true;
            }
        }
    }

    /// Rule 14: whether the noun phrase from `opener` (not its sentence's first word) to `head` (with
    /// a prepositional phrase after it) is an item of a list: a whole clause after a comma or colon
    /// ("eggs, milk, two loaves of bread, and cheese").
    fn is_list_item(&self, opener: usize, head: usize, stop: usize) -> bool {
        let words = self.words;
        let after_comma = words[opener - 1].text.ends_with([',', ':']);
        let end = self.modifier_head(head, stop).unwrap_or(head);
        after_comma && self.ends_clause_at(end, stop)
    }

    /// Rule 14: the head of a prepositional phrase directly after the noun at `head`, if one follows.
    fn modifier_head(&self, head: usize, stop: usize) -> Option<usize> {
        let words = self.words;
        let preposition = head + 2 < stop
            && !words[head].ends_clause()
            && words[head + 1].has(PREPOSITION | OTHER_PREPOSITION)
            && !words[head + 1].ends_clause()
            // Rule 19: "to" before a verb and its object is an infinitive ("too shy to ask his boss").
            && !self.is_infinitive(head + 1, head, stop, false);
        if preposition {
            self.noun_phrase(head + 2, stop, true, true)
        } else {
            None
        }
    }

    /// Rule 14: after an object's head, a preposition and the head of its noun phrase ("took the kids
    /// to the museum", "a gift for my sister"), and a second one after that (rule 19: "for a house with
    /// a big garden"); returns the last head's index.
    fn keep_modifier(&mut self, head: usize, stop: usize) -> Option<usize> {
        let inner = self.modifier_head(head, stop)?;
        self.force[head + 1] = true;
        self.force[inner] = true;
        let Some(second) = self.modifier_head(inner, stop) else {
            return Some(inner);
        };
        self.force[inner + 1] = true;
        self.force[second] = true;
        Some(second)
    }

    /// Rule 19: whether the object pronoun at `j` of "let", "make" or "help" is followed by a bare
    /// infinitive, a content word ("let me know", "helps me fall asleep").
    fn is_bare_infinitive(&self, j: usize, stop: usize) -> bool {
        let words = self.words;
        let causative = matches!(
            words[j - 1].key.as_str(),
            "let"
                | "lets"
                | "letting"
                | "make"
                | "makes"
                | "made"
                | "making"
                | "help"
                | "helps"
                | "helped"
                | "helping"
        );
        j + 1 < stop
            && causative
            && !words[j - 1].ends_clause()
            && !words[j].ends_clause()
            && self.is_noun(j + 1)
    }

    /// Rule 14: if the subject's head at `head` (a noun phrase opening its clause at `opener`) is
    /// followed by a relative clause ("The guy who lives next door fixed", "the support I got made":
    /// without a pronoun only after a determiner, possessive or number), an appositive ("Anna, my
    /// roommate, hates") or a coordinate subject ("My journey and the support"), keeps the head with
    /// what marks it, and says where to go on.
    fn keep_subject_clause(
        &mut self,
        opener: usize,
        head: usize,
        stop: usize,
    ) -> Option<SubjectClause> {
        let words = self.words;
        let next = head + 1;
        if next + 1 >= stop {
            return None;
        }
        let relative = words[next].has(RELATIVE) && !words[next].ends_clause();
        if relative && (words[head].text.ends_with(',') || !words[head].ends_clause()) {
            self.force[head] = true;
            self.force[next] = true;
            let group = self.verb_group(next, stop, false);
            if let Some((last, _)) = group {
                self.force(next + 1..last + 1);
            }
            return Some(SubjectClause {
                resume: group.map_or(next + 1, |(last, _)| last + 1),
                after_verb: group.is_some_and(|(last, main)| main && !words[last].ends_clause()),
                awaiting_verb: true,
            });
        }
        if words[head].text.ends_with(',') {
            // An appositive: a noun phrase set off by commas, then the subject's verb.
            let opens = words[next].has(DETERMINER) || words[next].key.ends_with("'s");
            let inner = self
                .noun_phrase(next, stop, true, false)
                .filter(|_| opens)?;
            if !words[inner].text.ends_with(',') || inner + 1 >= stop {
                return None;
            }
            let (last, main) = self.verb_group_from(inner + 1, stop, None)?;
            self.force[head] = true;
            self.force[inner] = true;
            self.force(inner + 1..last + 1);
            return Some(SubjectClause {
                resume: last + 1,
                after_verb: main && !words[last].ends_clause(),
                awaiting_verb: false,
            });
        }
        if words[head].ends_clause() {
            return None;
        }
        let determined = words[opener].has(DETERMINER)
            || is_number(&words[opener])
            || words[opener].key.ends_with("'s");
        if determined
            && words[next].has(PERSONAL_SUBJECT)
            && self.verb_group(next, stop, false).is_some()
        {
            // A relative clause without a pronoun: "the support I got".
            self.force[head] = true;
            self.force[next] = true;
            return Some(SubjectClause {
                resume: next,
                after_verb: false,
                awaiting_verb: true,
            });
        }
        let coordinate = matches!(words[next].key.as_str(), "and" | "or")
            && !words[next].ends_clause()
            && self.noun_phrase(next + 1, stop, false, false).is_some();
        if coordinate {
            self.force[head] = true;
            self.force[next] = true; // with its "and" / "or" (rule 20)
            return Some(SubjectClause {
                resume: next,
                after_verb: false,
                awaiting_verb: false,
            });
        }
        None
    }

    /// Rule 12: an object pronoun or reflexive directly after a kept word of its clause that can take
    /// an object (neither a pronoun, determiner, plain preposition nor conjunction; an auxiliary can:
    /// "did it") is kept: "lost it", "owes me", "remind me", "driving it".
    fn keep_object_pronouns(&mut self, sentence: Range<usize>) {
        let words = self.words;
        for j in sentence.start + 1..sentence.end {
            let before = &words[j - 1];
            let takes_object = !before.has(FUNCTION | CONJUNCTION) || before.has(AUXILIARY);
            if words[j].has(OBJECT_CASE)
                && self.force[j - 1]
                && takes_object
                && !before.ends_clause()
            {
                self.force[j] = true;
            }
            // Rule 14: a pronoun after a preposition inside its clause, with the preposition.
            let after_preposition = j >= sentence.start + 2
                && before.has(PREPOSITION | OTHER_PREPOSITION)
                && !before.ends_clause()
                && !words[j - 2].ends_clause();
            if words[j].has(OBJECT_CASE) && after_preposition {
                self.force(j - 1..j + 1);
            }
        }
    }

    /// Rule 10: if the noun at `head` is followed by a preposition and a noun phrase that a main verb
    /// follows ("a friend of mine bought"), keeps that verb group (not the noun phrase) and returns
    /// the main verb's index.
    fn verb_after_modifier(&mut self, head: usize, stop: usize) -> Option<usize> {
        let words = self.words;
        let modifier =
            head + 2 < stop && !words[head].ends_clause() && words[head + 1].has(PREPOSITION);
        if !modifier || words[head + 1].ends_clause() {
            return None;
        }
        let inner = self.noun_phrase(head + 2, stop, true, false)?;
        if !self.verb_starts(inner + 1, stop, true) {
            return None;
        }
        match self.verb_group(inner, stop, false) {
            Some((last, true)) => {
                self.force(inner + 1..last + 1);
                Some(last)
            }
            _ => None,
        }
    }

    /// A sentence opening with a content word directly before an object or a preposition ("Look at
    /// this", "Take the bus"): an imperative verb.
    fn is_imperative(&self, j: usize, stop: usize) -> bool {
        let words = self.words;
        j + 1 < stop
            && self.is_noun(j)
            && words[j].claim.is_none()
            && !words[j].ends_clause()
            && words[j + 1].has(OBJECT_OPENER | PREPOSITION)
    }

    /// A word that can be part of a noun phrase: a content word that is no adverb, negation or
    /// subject contracted with its auxiliary.
    fn is_noun(&self, k: usize) -> bool {
        let word = &self.words[k];
        word.is_content()
            && !word.has(SUBJECT_AUXILIARY | VERB_ADVERB | OTHER_PREPOSITION)
            && !is_negated(&word.key)
    }

    /// Rule 10: the head (last word) of a noun phrase opening at word `j`, if one does: a determiner,
    /// possessive, quantifier or number, a name (a capitalised word), a possessive noun ("Anna's"), or
    /// if `any_noun` (at a clause's start, after a main verb) any noun; then nouns, up to a verb, a function word, the
    /// end of its clause or, past its first noun, a claim word, at most `NOUN_PHRASE_WORDS` words in
    /// all. An object (`object`) may be followed by a second one.
    fn noun_phrase(&self, j: usize, stop: usize, any_noun: bool, object: bool) -> Option<usize> {
        let words = self.words;
        let opener = &words[j];
        let determiner = opener.has(DETERMINER | QUANTIFIER) || is_number(opener);
        if !determiner {
            let named = opener.text.chars().next().is_some_and(char::is_uppercase);
            let possessive = opener.key.ends_with("'s");
            let opens = any_noun || named || possessive;
            if !(opens && self.is_noun(j) && opener.claim.is_none()) {
                return None;
            }
        }
        let mut head = (!determiner).then_some(j);
        if opener.ends_clause() {
            return head;
        }
        let end = (j + NOUN_PHRASE_WORDS).min(stop);
        for (k, word) in words.iter().enumerate().take(end).skip(j + 1) {
            let verb = self.verb_starts(k, stop, !object);
            let ends = head.is_some() && (word.claim.is_some() || verb);
            if !self.is_noun(k) || ends {
                break;
            }
            head = Some(k);
            if word.ends_clause() {
                break;
            }
        }
        head
    }

    /// Rule 10: whether word `k` can open the verb group after a noun (not past its clause): an
    /// auxiliary, a negation, an adverb, a past tense (irregular, or a word in -ed of at least five
    /// letters), a word in -s before a preposition or an -ing, or, if `before_object` (the noun is
    /// not itself an object, which a second object may follow: "painted the room a bright colour"),
    /// a word directly before an object.
    fn verb_starts(&self, k: usize, stop: usize, before_object: bool) -> bool {
        let words = self.words;
        if k >= stop || words[k - 1].ends_clause() || words[k].has(OTHER_PREPOSITION) {
            return false;
        }
        let word = &words[k];
        let key = word.key.as_str();
        if word.has(AUXILIARY | VERB_ADVERB | PAST) || is_negated(key) || key.ends_with("ly") {
            return true;
        }
        if !word.is_content() {
            return false;
        }
        if is_regular_past(key) {
            return true;
        }
        let singular = self.is_noun(k - 1) && !words[k - 1].key.ends_with('s');
        if k + 1 >= stop || word.ends_clause() {
            // Rule 17: a singular subject's verb in -s that ends its clause ("Rejection stinks,").
            return before_object && singular && is_third_person(key);
        }
        let next = &words[k + 1];
        let introduces = next.has(PREPOSITION | ROLE) || next.key.ends_with("ing");
        // Rule 17: a verb in -s after a singular noun, before a bare object ("My wife teaches chemistry").
        let singular = singular && next.is_content();
        (before_object && next.has(OBJECT_OPENER | REPORTED))
            || (is_third_person(key) && (introduces || singular))
    }

    /// Rule 7: a question's opening through the first content word after its first auxiliary, if that
    /// is within its first `QUESTION_FRAME_WORDS` words; else its wh-word through the next content word.
    fn keep_question_frame(&mut self, sentence: Range<usize>) {
        let words = self.words;
        let window = sentence.start..(sentence.start + QUESTION_FRAME_WORDS).min(sentence.end);
        if window.is_empty() {
            return;
        }
        let mut after_auxiliary = false;
        for j in window.clone() {
            if after_auxiliary && (words[j].has(AUXILIARY) || words[j].is_content()) {
                self.force(sentence.start..j + 1);
                return;
            }
            after_auxiliary =
                after_auxiliary || words[j].has(AUXILIARY) || is_negated(&words[j].key);
        }
        if words[sentence.start].has(WH) {
            if let Some(j) = window.skip(1).find(|&j| words[j].is_content()) {
                self.force(sentence.start..j + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIMS: &str =
        "# comment\n@negation scope\nnot never no_longer\n@modal head\nmight used_to\n\
                          @date date\ntoday\n@particle particle\nup on in\n";

    fn rules() -> Rules {
        Rules::new(CLAIMS, &["the".into(), "a".into(), "to".into(), "i".into()]).unwrap()
    }

    /// The kept (forced) words of each turn, by text.
    fn forced(texts: &[&str]) -> Vec<Vec<String>> {
        forced_by(&rules(), texts)
    }

    /// The words `rules` keep (force) in each turn, by text.
    fn forced_by(rules: &Rules, texts: &[&str]) -> Vec<Vec<String>> {
        let plan = rules.plan(texts);
        plan.turn_offsets
            .windows(2)
            .map(|t| {
                (t[0] as usize..t[1] as usize)
                    .filter(|&k| plan.flags[k] & FORCE_KEEP != 0)
                    .map(|k| plan.words[plan.ranked[k] as usize].to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn keys_strip_edges_lower_case_and_read_apostrophes_alike() {
        assert_eq!(word_key("“Don’t!”"), "don't");
        assert_eq!(word_key("(CAN´T)"), "can't");
        assert_eq!(word_key("..."), "...");
        assert_eq!(word_key("Über,"), "über");
    }

    #[test]
    fn claims_by_form() {
        for negation in ["don't", "shouldn't've", "n't", "n'est"] {
            assert_eq!(
                pattern_claim(negation).unwrap().reach,
                Some(SCOPE),
                "{negation}"
            );
        }
        assert_eq!(pattern_claim("i'd've").unwrap().reach, Some(HEAD));
        for number in ["3", "9am", "٣٤", "३", "３", "ⅻ", "九十"] {
            assert_eq!(
                pattern_claim(number).unwrap().flags,
                FORCE_KEEP | NUMBER,
                "{number}"
            );
        }
        assert!(pattern_claim("不").is_some() && pattern_claim("食べない").is_some());
        for plain in ["dont'", "'t", "donut", "n'", "hello", "tn't'"] {
            assert_eq!(pattern_claim(plain), None, "{plain}");
        }
    }

    #[test]
    fn the_list_is_parsed_with_phrases_and_attributes() {
        let rules = rules();
        assert_eq!(rules.claims["not"].reach, Some(SCOPE));
        assert_eq!(rules.claims["today"].flags, FORCE_KEEP | DATE);
        assert_eq!(rules.phrases["no"], vec![vec!["no", "longer"]]);
        assert!(rules.classes["up"] & PARTICLE != 0 && !rules.claims.contains_key("up"));
        assert!(Rules::new("word\n", &[]).is_err());
        assert!(Rules::new("@x headx\nword\n", &[]).is_err());
    }

    #[test]
    fn negations_keep_their_scope_and_verbs_their_auxiliaries() {
        let kept = forced(&[
            "We might not eat the spicy cake tonight at home.",
            "I've been looking.",
        ]);
        // "We" is kept with its verb (rule 12); "might" reaches "not" (its first content word: "not" is
        // no stopword in this list); the object's head is "tonight", this list not knowing it as a
        // date (rule 10), "at home" the phrase after it (rule 14).
        assert_eq!(
            kept[0],
            ["We", "might", "not", "eat", "the", "spicy", "tonight", "at", "home."]
        );
        assert_eq!(kept[1], ["I've", "been", "looking."]);
    }

    #[test]
    fn particles_after_objects_and_at_clause_ends() {
        let kept = forced(&[
            "Yesterday she gave it up for good.",
            "We put the coat on, then left.",
        ]);
        assert_eq!(kept[0], ["she", "gave", "it", "up", "good."]);
        assert_eq!(kept[1], ["We", "put", "coat", "on,", "then", "left."]);
    }

    #[test]
    fn fillers_are_left_out_unless_they_are_all_there_is() {
        let plan = rules().plan(&["Oh, well, it works.", "um, oh!"]);
        let ranked: Vec<&str> = plan
            .ranked
            .iter()
            .map(|&i| plan.words[i as usize])
            .collect();
        assert_eq!(ranked, ["it", "works.", "um,", "oh!"]);
        assert_eq!(plan.sentence_offsets, [0, 2, 4]);
        assert_eq!(plan.turn_offsets, [0, 2, 4]);
        assert_eq!(plan.word_offsets, [0, 4, 6]);
    }

    #[test]
    fn bridges_are_link_words_inside_a_clause() {
        let plan = rules().plan(&["A job with them, and to the end."]);
        let bridged: Vec<&str> = (0..plan.ranked.len())
            .filter(|&k| plan.bridges[k])
            .map(|k| plan.words[plan.ranked[k] as usize])
            .collect();
        assert_eq!(bridged, ["with", "to"]); // not "and" (after a comma) nor the first or last word
    }

    #[test]
    fn clauses_keep_their_subject_verb_and_object_heads() {
        let kept = forced(&[
            "My old neighbour finally painted the garden fence a dark green.",
            "The new teacher's husband left his keys in the car, so Anna drove him home.",
            "Our kids usually walk to the park.",
        ]);
        assert_eq!(
            kept[0],
            ["My", "neighbour", "finally", "painted", "fence", "green."]
        );
        assert_eq!(
            kept[1],
            [
                "teacher's",
                "husband",
                "left",
                "his",
                "keys",
                "in",
                "car,",
                "so",
                "Anna",
                "drove",
                "him",
                "home."
            ]
        );
        assert_eq!(kept[2], ["Our", "kids", "usually", "walk", "to", "park."]);
    }

    #[test]
    fn pronouns_keep_who_and_what_a_clause_is_about() {
        let kept = forced(&[
            "My dad thinks I should sell it.",
            "I won the race, but I lost it and she owes me.",
            "Yesterday I hurt myself.",
        ]);
        assert_eq!(
            kept[0],
            ["My", "dad", "thinks", "I", "should", "sell", "it."]
        );
        assert_eq!(
            kept[1],
            ["won", "race,", "I", "lost", "it", "she", "owes", "me."]
        );
        assert_eq!(kept[2], ["hurt", "myself."]); // the first subject "I" goes
    }

    #[test]
    fn a_phrase_in_brackets_keeps_both_brackets() {
        let kept = forced(&["[shares a photo of a red barn near the river] Nice barn!"]);
        assert_eq!(
            kept[0],
            ["[shares", "photo", "of", "barn", "near", "river]", "Nice", "barn!"]
        );
    }

    #[test]
    fn approximators_are_claim_words_only_before_a_quantity() {
        let claims = "@approximator head numeral\nabout over up_to\n@number number head\neight\n\
                      @particle particle\nup over\n";
        let rules = Rules::new(claims, &["the".into(), "to".into()]).unwrap();
        let plan = rules.plan(&[
            "We stayed about eight weeks, over an hour, up to 3 days.",
            "A book about the rent fell, we walked over the bridge, been up to nothing.",
        ]);
        let forced: Vec<&str> = (0..plan.ranked.len())
            .filter(|&k| plan.flags[k] & FORCE_KEEP != 0 && plan.keys[k].len() < 6)
            .map(|k| plan.keys[k].as_str())
            .filter(|key| ["about", "over", "up", "to"].contains(key))
            .collect();
        // The second turn: "about the rent" is no quantity (nor an object's preposition: the book
        // fell); "walked over" and "been up" are particles
        // after their verb (rule 6), with the word they apply to, not "over" or "up to" a quantity.
        assert_eq!(forced, ["about", "over", "up", "to", "over", "up", "to"]);
        assert!(rules.claims["up_to"].numeral && !rules.claims["eight"].numeral);
    }

    #[test]
    fn clauses_without_a_subject_of_their_own_keep_their_verb_and_object() {
        let stopwords = "the a an to and i it my who".split(' ').map(str::to_owned);
        let rules = Rules::new(CLAIMS, &stopwords.collect::<Vec<_>>()).unwrap();
        let kept = forced_by(
            &rules,
            &[
                "Mia took the box and gave it to Caroline.",
                "Plan: 1) call the dentist 2) renew my passport.",
                "Mia hopes to build a shelter.",
                "The guy who lives next door fixed my bike.",
                "Anna, my roommate, hates loud music.",
                "Jo and the kids I met loved rice.",
            ],
        );
        assert_eq!(
            kept[0],
            ["Mia", "took", "box", "and", "gave", "it", "to", "Caroline."]
        );
        assert_eq!(
            kept[1],
            ["1)", "call", "dentist", "2)", "renew", "my", "passport."]
        );
        assert_eq!(kept[2], ["Mia", "hopes", "to", "build", "shelter."]);
        assert_eq!(
            kept[3],
            ["guy", "who", "lives", "door", "fixed", "my", "bike."]
        );
        assert_eq!(kept[4], ["Anna,", "my", "roommate,", "hates", "music."]);
        assert_eq!(kept[5], ["Jo", "and", "kids", "I", "met", "loved", "rice."]);
    }

    #[test]
    fn fragments_keep_their_subject_verb_object_and_whose() {
        let claims = format!("{CLAIMS}@comparison head\nlike as\n");
        let stopwords = "the a an to and i it my so".split(' ').map(str::to_owned);
        let rules = Rules::new(&claims, &stopwords.collect::<Vec<_>>()).unwrap();
        let kept = forced_by(
            &rules,
            &[
                "It was raining, so we watched a movie.",
                "My sister works as a nurse at the children's hospital.",
                "I gave my brother a guitar.",
                "Painting landscapes and still life is my favorite!",
                "I'm lucky to have kids. Music brings us together and brings joy.",
                "Now here's a safe, inviting place in a stained glass window.",
            ],
        );
        assert_eq!(
            kept[0],
            ["It", "was", "raining,", "so", "we", "watched", "movie."]
        );
        assert_eq!(
            kept[1],
            [
                "My",
                "sister",
                "works",
                "as",
                "a",
                "nurse",
                "at",
                "children's",
                "hospital."
            ]
        );
        assert_eq!(kept[2], ["gave", "my", "brother", "guitar."]);
        assert_eq!(
            kept[3],
            ["Painting", "landscapes", "life", "is", "my", "favorite!"]
        );
        assert_eq!(
            kept[4],
            [
                "I'm", "lucky", "to", "have", "kids.", "Music", "brings", "us", "and", "brings",
                "joy."
            ]
        );
        assert_eq!(
            kept[5],
            ["Now", "here's", "a", "safe,", "inviting", "place", "in", "window."]
        );
    }

    #[test]
    fn python_whitespace_splits_words() {
        let plan = rules().plan(&["a\x1cb\u{3000}c\n\td  "]);
        assert_eq!(plan.words, ["a", "b", "c", "d"]);
    }
}
