"""The screening model: every number that shapes a score, named once, with the reason for it.

A name match is scored as nomenklatura's logic_v2 scores one: a base similarity from aligning
the words of the two names, then qualifying features that lower it, each listed below with its
weight and the sentence a reviewer reads in the evidence. Identifiers (phone, licence, handle,
URL) are features of their own; an entry's score joins its best evidence of each kind by
noisy-or, so independent kinds reinforce each other and repeats of one kind do not.

The C kernel (_kernel.c) computes the same name score for speed; scoring.py is its plain-Python
definition and writes the explanations. Both read these constants (the kernel gets them when a
Store is made), so they cannot drift apart."""
from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------- bands

ALERT_THRESHOLD = 0.80  # at or above: a match, routed to the agencies that must act
REVIEW_THRESHOLD = 0.60  # between this and the alert threshold: a possible match, for a reviewer only

# ---------------------------------------------------------------- word similarity

SAME_WORD = 1.0
ONE_EDIT = 0.9  # one letter changed, added, dropped, or two neighbours swapped, in a word of 5+ letters
ONE_EDIT_SHORT = 0.8  # a letter added, dropped or two neighbours swapped, the longer word of 4 letters;
#                      a changed letter in a 4-letter word does not count: Budi/Rudi, Dewi/Dedi are two people
TWO_EDITS_LONG = 0.8  # two letters apart in a word of 8+ letters
TWO_EDITS = 0.7  # two letters apart in a 7-letter word
MIN_FUZZY_LETTERS = 4  # the longer word must have this many letters for a typo to count
MIN_TWO_EDIT_LETTERS = 7  # the longer word must have this many letters for two typos to count
LISTED_NEIGHBOUR = 0.5  # factor: the reported word is itself a listed word (Darmin, next to Sarmin):
#                         more likely that name than a misspelling of this one

# ---------------------------------------------------------------- word weights

GENERIC_FACTOR = 0.3  # words many firm names share (Jaya, Abadi): little evidence either way
PLACE_FACTOR = 0.3  # a town or "cabang" in a name says little about which party it is

# ---------------------------------------------------------------- the name score

LEFT_OUT_WEIGHT = 0.5  # a listed word the report does not write counts half against the match
LEFT_OUT_MIDDLE_WEIGHT = 0.15  # a person's middle name, first and last written: "A C" for "A B C"
ADDED_WEIGHT = 0.4  # a reported word the listed name does not have ("... Indonesia", "Group")
DIFFERING_WORD = 0.4  # factor: a listed word stands where the report writes another
DIFFERING_WEAK_WORD = 0.7  # the same when the differing words are only generic words or places
FORM_DIFFERS = 0.9  # factor: PT on one side, CV on the other
KIND_DIFFERS = 0.9  # factor: a person's name given as an agency's, or the other way round
AMBIGUOUS_PART = 0.75  # factor: several listed names are alike to the reported one, none the same
IN_AD_TEXT = 0.95  # factor: a name read out of ad text rather than given in a name field
MIN_NAME_SCORE = 0.5  # name evidence below this is not kept at all
EXPLANATION_MARGIN = 0.03  # scores this close explain a report value alike

# ---------------------------------------------------------------- identifiers

PHONE = 0.97  # same E.164 number (fields, ad text, wa.me links)
LICENCE = 0.95  # same normalised licence number
HANDLE = 0.90  # same social handle
URL = 0.90  # same host and path
URL_DOMAIN = 0.85  # a page on a listed bare domain


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    weight: float
    explanation: str


FEATURES = (
    Feature("name_words", 1.0, "the listed name's words found in the report's, each as alike as its spelling is: "
            "the found words' weight over all words' weight (a left-out listed word counts "
            f"{LEFT_OUT_WEIGHT}, an added reported word {ADDED_WEIGHT}; rare words weigh more than common ones); "
            "words run together or split apart are read both ways"),
    Feature("dropped_middle_name", LEFT_OUT_MIDDLE_WEIGHT,
            "a person's first and last names are written, a middle name is left out: it counts little"),
    Feature("differing_word", DIFFERING_WORD,
            "a word of the listed name stands where the report writes another: names one distinctive word "
            "apart are different parties"),
    Feature("differing_common_word", DIFFERING_WEAK_WORD,
            "the names differ in a common word or a place only (Sinar Jaya Abadi, Sinar Jaya Makmur): often "
            "different firms"),
    Feature("form_differs", FORM_DIFFERS, "the company forms differ (PT, CV, Yayasan, ...)"),
    Feature("kind_differs", KIND_DIFFERS, "a person's name given for an agency, or an agency's for a person"),
    Feature("ambiguous_part", AMBIGUOUS_PART,
            "several listed names are alike to the reported one, none the same (it writes part of each, or "
            "each and more): it says none of them for sure"),
    Feature("in_ad_text", IN_AD_TEXT, "the name was read out of the ad's text, not given as a name"),
    Feature("phone", PHONE, "the same phone or WhatsApp number"),
    Feature("licence", LICENCE, "the same licence number"),
    Feature("handle", HANDLE, "the same social media handle"),
    Feature("url", URL, "the same web address"),
    Feature("url_domain", URL_DOMAIN, "a page on a listed web domain"),
)
FEATURE = {f.name: f for f in FEATURES}
