"""The project's own labelled evaluation set for screening, one group of cases per variation
class of the screening issue (a name as written in a report, in a name field or inside ad text,
against the name as listed), and hard negatives of each kind.

Written from the domain rules (shared/domain.md) with word pools and ad sentences of its own,
not from the engine and not from the development set's generator: a case is what a reporter or
an ad would write. Negatives are checked against the whole watchlist: no listed name, none held
by it or holding it, and more than two typos from every listed name of as many words.

build(seed) -> (entries, cases); a Case is (variation class, report fields, expected entry id or None)."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from shared.schemas import WatchlistEntry

# Distinctive words of firm names (Sanskrit, Javanese and Malay words firms take their names from)
FIRM = ("Adiwangsa Amerta Andalas Angkasa Anjani Arjuna Aruna Bahtera Balaraja Bayangkara Bhinneka Buana Cakrawala "
        "Candramawa Citra Dahayu Darmaga Dewangga Dirgantara Ekadanta Gandawangi Garba Gemilang Hanacaraka Harsa "
        "Indraloka Jatayu Kalingga Kartika Kawirya Kinanti Laksmana Lingga Mahameru Manggala Maharani Nagara Nayaka "
        "Pancaroba Paramitha Pelangi Permata Purnama Pusaka Rajawali Ratnasari Sakanti Samudraya Sanggala Saraswati "
        "Sekar Semesta Sinta Sumbaga Surya Tanjung Tirta Trisula Wahana Waluya Wangsa Widuri Wisesa Yasodhara "
        "Zaitun Bahari Dwipa Gemala Kencanawati Lintang Mustika Nirmala Pertiwi Sagara Tunggal Wiyata").split()
GENERIC = "Jaya Abadi Makmur Mandiri Sejahtera Sentosa Karya Bersama Utama Mulia Sukses Perkasa Lestari Prima".split()
ADDED = ("Indonesia", "Group", "Nusantara", "Internasional", "Global", "Raya")
FORMS = {"PT": ("P.T.", "PT."), "CV": ("C.V.", "CV."), "Yayasan": ("Yys.", "Yay."), "UD": ("U.D.", "UD."),
         "Koperasi": ("Kop.", "Kop")}
GIVEN = ("Bambang Slamet Agus Budiono Joko Sri Wahyuni Endang Suparmi Tukiran Samsul Hendro Yuliana Ratna Ngatimin "
         "Sugeng Paijo Mardi Kasno Tuminah Rubiyem Sarwono Gatot Heru Tri Dwi Eko Rahmawati Fitriani Sulastri "
         "Margono Sumarni Karjo Wasiman Ponirah Surip Mugiyono Tarmuji Suwito Jumiati Siswoyo Darmaji").split()
FAMILY = ("Setiabudi Wirodikromo Hadisuwarno Pranoto Kartasasmita Sastrowardoyo Suryaningrat Notonegoro Wiryawan "
          "Atmojo Cokrodiharjo Purbaya Hardiyanto Sudibyo Permadi Hadiprayitno Surotani Mangunsong Rahardian "
          "Prawirodirjo Sasmita Wibisono Suryatmaja Kusumawardani Tjokroaminoto Soedirman Budiarto Saputro").split()
MUHAMMAD = ("Muhammad", "Mohammad", "Muhamad", "Moh.", "M.", "Mochamad")
HONORIFIC = ("Pak", "Bu", "Bapak", "Ibu", "H.", "Hj.", "Drs.", "Sdr.", "Mas", "Mbak")
TOWNS = ("Kroya", "Majenang", "Sidareja", "Adipala", "Maos", "Cipari", "Binangun", "Wanareja")
DESTINATIONS = ("Malaysia", "Taiwan", "Hong Kong", "Arab Saudi", "Korea Selatan", "Jepang", "Kamboja", "Brunei")
JOBS = ("operator pabrik", "asisten rumah tangga", "perawat lansia", "ABK kapal", "pekerja kebun", "admin online")
# Ad sentences of this set's own; {n} the name, {p} a phone, {d} a destination, {j} a job, {t} a town
ADS = (
    "Kesempatan emas! Kerja {j} di {d}, semua dokumen diurus {n}. Hubungi {p}",
    "{n} membuka pendaftaran {j} untuk {d}, berangkat bulan depan. Kontak: {p}",
    "Mau gaji dolar? Jadi {j} di {d} bersama {n}, WA {p}",
    "Perekrut resmi: {n} ({t}). Lowongan {j} {d}, hub {p}",
    "BUTUH {j} KE {d} SEGERA, MODAL KTP SAJA. HUBUNGI {n} DI {p}",
    "Dari grup WA alumni: katanya {n} di {t} bisa memberangkatkan {j} ke {d}. Nomor {p}",
    "Daftar sekarang lewat \"{n}\", tanpa tes, langsung kerja {j} di {d}. Telp {p}",
    "Sudah banyak warga {t} berangkat ke {d} lewat {n}; info {j} di {p}",
)
PLAIN_ADS = ("Lowongan {j} ke {d}, kuota terbatas, hubungi {p}",
             "Info kerja {j} di {d}, gaji besar, daftar lewat kantor di {t}. Telp {p}")
OLD = (("u", "oe"), ("j", "dj"), ("c", "tj"), ("y", "j"), ("kh", "ch"), ("sy", "sj"))
LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5"}
ACCENTS = {"a": "à", "e": "è", "i": "ì", "o": "ò", "u": "ù"}

POSITIVE = ("exact", "case_space", "typo_sub", "typo_ins", "typo_del", "transposition", "two_typos", "old_spelling",
            "legal_dotted", "legal_abbrev", "legal_trailing", "legal_missing", "joined", "split", "added_word",
            "digits", "accents", "dropped_middle", "honorific", "muhammad", "reordered", "alias")
IN_TEXT = ("exact", "typo_sub", "transposition", "two_typos", "old_spelling", "legal_dotted", "legal_trailing",
           "joined", "added_word", "digits", "honorific", "dropped_middle", "reordered")
IDENTIFIERS = ("phone_format", "phone_in_text", "licence")
NEGATIVE = ("neg_generic_firm", "neg_one_word_field", "neg_one_word_text", "neg_first_name", "neg_surname",
            "neg_phone_off", "neg_licence_off", "neg_legal_similar", "neg_no_party")


@dataclass
class Case:
    label: str  # the variation class
    report: dict
    expected: str | None


def _key(name: str) -> list[str]:
    return sorted(w.lower().strip(".,") for w in name.split() if w not in FORMS and w.rstrip(".") not in FORMS)


def _edits(a: list[str], b: list[str]) -> int:
    """The least total OSA distance pairing the words of two names of as many words."""
    if len(a) != len(b):
        return 99
    best = 99
    for order in _orders(b):
        best = min(best, sum(OSA.distance(x, y) for x, y in zip(a, order)))
    return best


def _orders(words: list[str]):
    if len(words) <= 1:
        yield list(words)
        return
    for i, word in enumerate(words):
        for rest in _orders(words[:i] + words[i + 1:]):
            yield [word, *rest]


class _Builder:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.entries: list[dict] = []
        self.keys: list[list[str]] = []
        self.by_word: dict[str, list[list[str]]] = {}  # a word -> the listed keys holding it
        self.short: list[list[str]] = []  # listed keys of one or two words
        self.phones: set[str] = set()
        self.licences: set[str] = set()

    def _listed(self, key: list[str]) -> None:
        self.keys.append(key)
        for word in set(key):
            self.by_word.setdefault(word, []).append(key)
        if len(key) <= 2:
            self.short.append(key)

    def phone(self) -> str:
        while True:
            p = "08" + self.r.choice("123579") + "".join(self.r.choice("0123456789") for _ in range(self.r.choice([8, 9])))
            if p not in self.phones:
                self.phones.add(p)
                return p

    def licence(self) -> str:
        r = self.r
        while True:
            number = r.choice(["SIP3MI.{n}/{y}", "KEP-{n}/P3MI/{y}", "{n}/LPK/{y}/{m}"]).format(
                n=r.randint(100, 99999), y=r.randint(2014, 2025), m=r.choice("I II III IV V VI X XI XII".split()))
            if number not in self.licences:
                self.licences.add(number)
                return number

    def clear(self, name: str) -> bool:
        """No listed name, none held by it or holding it, and over two typos from every listed
        name of as many words."""
        key = _key(name)
        near = [listed for word in set(key) for listed in self.by_word.get(word, ())]
        if len(key) <= 2:  # two typos may change every word of a short name
            near += self.short
        for listed in near:
            if set(listed) <= set(key) or set(key) <= set(listed) or _edits(key, listed) <= 2:
                return False
        return True

    def watchlist(self, n: int) -> None:
        r = self.r
        while len(self.entries) < n:
            if r.random() < 0.55:
                words = r.sample(FIRM, r.choice([1, 2, 2, 3])) + r.sample(GENERIC, r.choice([0, 1, 1, 2]))
                form = r.choice(["PT", "PT", "CV", "CV", "Yayasan", "UD", "Koperasi", ""])
                name, kind = " ".join(([form] if form else []) + words), "agency"
            else:
                parts = ([r.choice(["Muhammad", "Ahmad"])] if r.random() < 0.12 else []) + [r.choice(GIVEN)]
                parts += r.sample(FAMILY, r.choice([1, 1, 2]))
                name, kind = " ".join(parts), "person"
            if not self.clear(name):
                continue
            entry = {"id": f"ev{len(self.entries):04d}", "kind": kind, "name": name, "aliases": [],
                     "phones": [self.phone() for _ in range(r.choice([0, 1, 1, 2]))],
                     "license_numbers": [self.licence()] if kind == "agency" and r.random() < 0.35 else []}
            if r.random() < 0.15:
                words = [w for w in name.split() if w not in FORMS]
                alias = (r.choice(("Gendon", "Kancil", "Bagong", "Pethuk", "Semar", "Gareng", "Cempluk", "Bejo")) + " "
                         + r.choice(TOWNS) if kind == "person" else "".join(w[0] for w in words).upper() + " "
                         + r.choice(TOWNS))
                if self.clear(alias) and _key(alias) != _key(name):
                    entry["aliases"].append(alias)
            self.entries.append(entry)
            for listed in [name, *entry["aliases"]]:
                self._listed(_key(listed))

    # -- variations of a listed name ---------------------------------------------------------
    def distinctive(self, words: list[str], min_len: int) -> list[int]:
        found = [i for i, w in enumerate(words) if w not in FORMS and w not in GENERIC and len(w) >= min_len
                 and w not in ("Muhammad", "Ahmad")]
        return found

    def vary(self, entry: dict, cls: str) -> str | None:
        r, name = self.r, entry["name"]
        words = name.split()
        person = entry["kind"] == "person"
        letters = "abdegikmnoprstuy"
        if cls == "exact":
            return name
        if cls == "case_space":
            return r.choice([name.upper(), name.lower(), "   ".join(words)])
        if cls in ("typo_sub", "typo_ins", "typo_del", "transposition", "two_typos"):
            idx = self.distinctive(words, 8 if cls == "two_typos" else 5)
            if not idx:
                return None
            i = r.choice(idx)
            w = words[i]
            j = r.randrange(1, len(w) - 1)
            if cls == "typo_sub":
                w = w[:j] + r.choice([c for c in letters if c != w[j]]) + w[j + 1:]
            elif cls == "typo_ins":
                w = w[:j] + r.choice(letters) + w[j:]
            elif cls == "typo_del":
                w = w[:j] + w[j + 1:]
            elif cls == "transposition":
                if w[j] == w[j + 1]:
                    return None
                w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            else:  # two letters changed, far apart
                k = r.randrange(j + 2, len(w)) if j + 2 < len(w) else None
                if k is None:
                    return None
                w = w[:j] + r.choice([c for c in letters if c != w[j]]) + w[j + 1:k] + w[k + 1:]
            words[i] = w
            return " ".join(words)
        if cls == "old_spelling":
            out = name
            for modern, old in OLD:
                out = out[0] + out[1:].replace(modern, old)
            return out if out != name else None
        if cls in ("legal_dotted", "legal_abbrev", "legal_trailing", "legal_missing"):
            if words[0] not in FORMS or len(words) < 2:
                return None
            form, rest = words[0], words[1:]
            if cls == "legal_dotted":
                return " ".join([FORMS[form][0] if "." in FORMS[form][0][:-1] else FORMS[form][1]] + rest)
            if cls == "legal_abbrev":
                return " ".join([FORMS[form][1]] + rest)
            if cls == "legal_trailing":
                return " ".join(rest) + ", " + form
            return " ".join(rest) if len(rest) >= 2 else None
        if cls == "joined":
            idx = [i for i in range(len(words) - 1) if words[i] not in FORMS]
            if not idx:
                return None
            i = r.choice(idx)
            return " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2:])
        if cls == "split":
            idx = self.distinctive(words, 7)
            if not idx:
                return None
            i = r.choice(idx)
            j = r.randrange(3, len(words[i]) - 2)
            return " ".join(words[:i] + [words[i][:j], words[i][j:]] + words[i + 1:])
        if cls == "added_word":
            return None if person else name + " " + r.choice(ADDED)
        if cls in ("digits", "accents"):
            idx = self.distinctive(words, 5)
            if not idx:
                return None
            i = r.choice(idx)
            table = LEET if cls == "digits" else ACCENTS
            spots = [j for j, c in enumerate(words[i]) if c in table and j > 0]
            if not spots:
                return None
            j = r.choice(spots)
            words[i] = words[i][:j] + table[words[i][j]] + words[i][j + 1:]
            return " ".join(words)
        if not person:
            return None
        if cls == "dropped_middle":
            return f"{words[0]} {words[-1]}" if len(words) >= 3 else None
        if cls == "honorific":
            return r.choice(HONORIFIC) + " " + name
        if cls == "muhammad":
            return " ".join([r.choice(MUHAMMAD)] + words[1:]) if words[0] == "Muhammad" else None
        if cls == "reordered":
            return " ".join(words[1:] + words[:1]) if len(words) == 2 else words[-1] + ", " + " ".join(words[:-1])
        return None

    def written_phone(self, phone: str) -> str:
        rest = phone[1:]
        return self.r.choice([f"+62 {rest[:3]}-{rest[3:7]}-{rest[7:]}", f"62{rest}", f"({phone[:4]}) {phone[4:8]} {phone[8:]}",
                              f"{phone[:4]}.{phone[4:8]}.{phone[8:]}", f"wa.me/62{rest}", phone])

    def ad(self, name: str, phone: str, plain: bool = False) -> str:
        r = self.r
        text = r.choice(PLAIN_ADS if plain else ADS).format(n=name, p=phone, d=r.choice(DESTINATIONS), j=r.choice(JOBS),
                                                             t=r.choice(TOWNS))
        return text.upper() if r.random() < 0.1 else text

    def unlisted_phone(self) -> str:
        while True:
            p = "08" + self.r.choice("123579") + "".join(self.r.choice("0123456789") for _ in range(9))
            if p not in self.phones:
                return p

    # -- negatives ---------------------------------------------------------------------------
    def negative_name(self, cls: str) -> tuple[str, bool] | None:
        r = self.r
        for _ in range(60):
            entry = r.choice(self.entries)
            words = entry["name"].split()
            person = entry["kind"] == "person"
            if cls in ("neg_first_name", "neg_surname"):
                if not person or len(words) < 2:
                    continue
                if cls == "neg_first_name":
                    words[-1] = r.choice([w for w in FAMILY if OSA.distance(w, words[-1]) >= 3])
                else:
                    words[0] = r.choice([w for w in GIVEN if OSA.distance(w, words[0]) >= 3])
            elif cls == "neg_generic_firm":
                if person:
                    continue
                kept = [w for w in words if w in FORMS or w in GENERIC]
                words = (kept or ["PT"]) + [r.choice(FIRM)] + r.sample(GENERIC, 1)
            elif cls == "neg_legal_similar":
                words = [r.choice(["PT", "CV"])] + r.sample(GENERIC, 2) + [r.choice(TOWNS)]
            else:  # one distinctive word another
                if person:
                    continue
                idx = self.distinctive(words, 4)
                if not idx:
                    continue
                i = r.choice(idx)
                words[i] = r.choice([w for w in FIRM if OSA.distance(w, words[i]) >= 3])
                if cls == "neg_one_word_text" and r.random() < 0.5:
                    body = [w for w in words if w not in FORMS]
                    r.shuffle(body)
                    words = [w for w in words if w in FORMS] + body
            name = " ".join(words)
            if self.clear(name):
                return name, person
        return None

    def case(self, cls: str) -> Case | None:
        r = self.r
        if cls == "neg_phone_off":
            source = r.choice([e for e in self.entries if e["phones"]])["phones"][0]
            i = r.randrange(5, len(source))
            off = source[:i] + r.choice([d for d in "0123456789" if d != source[i]]) + source[i + 1:]
            return None if off in self.phones else Case(cls, {"phones": [self.written_phone(off)]}, None)
        if cls == "neg_licence_off":
            source = r.choice([e for e in self.entries if e["license_numbers"]])["license_numbers"][0]
            digits = [m.start() for m in re.finditer(r"\d", source)]
            i = r.choice(digits)
            off = source[:i] + str((int(source[i]) + r.randint(1, 9)) % 10) + source[i + 1:]
            return None if off in self.licences else Case(cls, {"ad_text": f"Katanya punya izin resmi no {off}, benarkah?"}, None)
        if cls == "neg_no_party":
            return Case(cls, {"ad_text": self.ad("", self.written_phone(self.unlisted_phone()), plain=True)}, None)
        if cls.startswith("neg_"):
            found = self.negative_name(cls)
            if found is None:
                return None
            name, person = found
            if cls == "neg_one_word_text" or r.random() < 0.3:
                return Case(cls, {"ad_text": self.ad(name, self.written_phone(self.unlisted_phone()))}, None)
            return Case(cls, {"recruiter_names" if person else "agency_names": [name]}, None)
        entry = r.choice(self.entries)
        if cls == "phone_format":
            return Case(cls, {"phones": [self.written_phone(r.choice(entry["phones"]))]}, entry["id"]) if entry["phones"] else None
        if cls == "phone_in_text":
            if not entry["phones"]:
                return None
            return Case(cls, {"ad_text": self.ad(r.choice(["admin", "kantor kami", "koordinator"]),
                                                  self.written_phone(entry["phones"][0]))}, entry["id"])
        if cls == "licence":
            if not entry["license_numbers"]:
                return None
            number = entry["license_numbers"][0]
            number = r.choice([number.lower(), number.replace("/", " / "), number.replace(".", " "), number])
            return Case(cls, {"ad_text": f"Terdaftar resmi dengan izin {number}, silakan cek"}, entry["id"])
        if cls == "alias":
            if not entry["aliases"]:
                return None
            return Case(cls, {"recruiter_names" if entry["kind"] == "person" else "agency_names": [entry["aliases"][0]]},
                        entry["id"])
        base, in_text = cls.removesuffix("@text"), cls.endswith("@text")
        written = self.vary(entry, base)
        if not written:
            return None
        if in_text:
            return Case(cls, {"ad_text": self.ad(written, self.written_phone(self.unlisted_phone()))}, entry["id"])
        return Case(cls, {"recruiter_names" if entry["kind"] == "person" else "agency_names": [written]}, entry["id"])


def classes() -> list[str]:
    return [*POSITIVE, *(f"{c}@text" for c in IN_TEXT), *IDENTIFIERS, *NEGATIVE]


def build(seed: int = 20261204, entries: int = 900, per_class: int = 30) -> tuple[list[WatchlistEntry], list[Case]]:
    builder = _Builder(seed)
    builder.watchlist(entries)
    cases = []
    for cls in classes():
        made, tries = 0, 0
        wanted = per_class * (3 if cls.startswith("neg_") else 1)
        while made < wanted and tries < 40 * wanted:
            tries += 1
            case = builder.case(cls)
            if case is not None:
                cases.append(case)
                made += 1
    return [WatchlistEntry(**e) for e in builder.entries], cases
