"""A labelled evaluation set for screening, generated deterministically from the domain rules
(shared/domain.md), not from the engine: positives in every variation the screening issue names,
and hard negatives built to look alike.

Each case is (report fields, expected entry id or None)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from shared.schemas import WatchlistEntry

DISTINCTIVE = ["Bintang", "Samudra", "Rajawali", "Garuda", "Cendana", "Kencana", "Merapi", "Bengawan", "Segara",
               "Anugerah", "Barokah", "Harapan", "Pelita", "Mustika", "Permata", "Lintas", "Bahari", "Tirta",
               "Wijaya", "Kusuma", "Dirgantara", "Pertiwi", "Andalas", "Delima", "Melati", "Angkasa", "Mahkota",
               "Buana", "Graha", "Insani", "Semesta", "Gemilang", "Cemerlang", "Bahagia", "Amanah", "Hikmah",
               "Karunia", "Rezeki", "Fajar", "Purnama", "Cakrawala", "Kartika", "Nirwana", "Pusaka", "Sejahtera Raya",
               "Citra", "Candra", "Cipta", "Cahaya", "Suryakanta", "Bayu", "Tunas", "Lembayung", "Samudera Biru"]
GENERIC = ["Jaya", "Abadi", "Makmur", "Mandiri", "Sejahtera", "Sentosa", "Karya", "Bersama", "Utama", "Mulia",
           "Sukses", "Perkasa", "Sinar", "Mitra", "Prima", "Lestari"]
FORMS = ["PT", "CV", "Yayasan", "PT", "PT", "LPK"]
FIRST = ["Bambang", "Slamet", "Agus", "Budi", "Joko", "Sri", "Siti", "Dewi", "Wahyu", "Eko", "Rudi", "Hendra",
         "Yanto", "Suparman", "Sutrisno", "Muhammad", "Ahmad", "Abdul", "Nur", "Yusuf", "Wawan", "Dedi", "Teguh"]
LAST = ["Setiawan", "Santoso", "Wibowo", "Susanto", "Prasetyo", "Hidayat", "Saputra", "Gunawan", "Kurniawan",
        "Nugroho", "Purnomo", "Hartono", "Suryadi", "Rahman", "Hakim", "Fauzi", "Maulana", "Firmansyah",
        "Syahputra", "Cahyono", "Junaedi", "Hariyanto", "Mulyadi", "Sunarya"]
EQUIVALENT = {"Muhammad": ["Moh.", "Mohammad", "Muhamad", "M."], "Ahmad": ["Achmad"], "Abdul": ["Abd."],
              "Nur": ["Noor"], "Yusuf": ["Yoesoef"]}
HONORIFICS = ["Pak", "Bapak", "H.", "Drs.", "Ir.", "Mas"]
MOBILE_PREFIXES = ["0812", "0813", "0821", "0852", "0856", "0857", "0878", "0819", "0838", "0896", "0881"]


@dataclass
class Case:
    label: str
    report: dict
    expected: str | None
    kind: str = "positive"
    notes: list[str] = field(default_factory=list)


def old_spelling(name: str) -> str:
    """Modern (EYD) to pre-1972 spelling: j->dj, y->j, c->tj, u->oe (Jaya -> Djaja, Cahaya -> Tjahaja)."""
    out = name.replace("j", "dj").replace("J", "Dj").replace("y", "j").replace("Y", "J")
    out = out.replace("c", "tj").replace("C", "Tj").replace("u", "oe").replace("U", "Oe")
    return out


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    replacement = rng.choice([c for c in "aeiouklmnrst" if c != word[i].lower()])
    return word[:i] + replacement + word[i + 1:]


def phone_forms(local: str) -> list[str]:
    """One mobile number in the forms people write it."""
    rest = local[1:]
    return [f"{local[:4]}-{local[4:8]}-{local[8:]}", f"+62 {rest[:3]} {rest[3:7]} {rest[7:]}", f"62{rest}",
            f"({local[:4]}) {local[4:8]} {local[8:]}", f"wa.me/62{rest}"]


def one_digit_off(local: str, rng: random.Random) -> str:
    i = rng.randrange(5, len(local))
    digit = rng.choice([d for d in "0123456789" if d != local[i]])
    return local[:i] + digit + local[i + 1:]


def build(seed: int = 20261123) -> tuple[list[WatchlistEntry], list[Case]]:
    rng = random.Random(seed)
    entries: list[WatchlistEntry] = []
    cases: list[Case] = []
    used_names: set[str] = set()
    used_phones: set[str] = set()

    def new_phone() -> str:
        while True:
            local = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
            if local not in used_phones:
                used_phones.add(local)
                return local

    # ---- listed agencies: one or two distinctive words and one or two generic ones
    agencies = []
    for i in range(60):
        while True:
            words = rng.sample(DISTINCTIVE, rng.choice([1, 1, 2])) + rng.sample(GENERIC, rng.choice([1, 2]))
            core = " ".join(words)
            if core not in used_names:
                used_names.add(core)
                break
        form = rng.choice(FORMS)
        phone = new_phone()
        entry = WatchlistEntry(
            id=f"ag{i:03d}", kind="agency", name=f"{form} {core}", aliases=[],
            phones=[phone_forms(phone)[0]], license_numbers=[f"SIP3MI/{rng.randint(100, 999)}/{2015 + i % 10}"] if i % 3 == 0 else [],
            social_handles=[f"@loker.{words[0].lower()}{i}"] if i % 4 == 0 else [],
            urls=[f"https://{words[0].lower()}-{i}.loker.example/daftar"] if i % 5 == 0 else [])
        entries.append(entry)
        agencies.append((entry, form, words, phone))

    # ---- listed persons: first + last name, some with a nickname alias
    persons = []
    for i in range(60):
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if f"{first} {last}" not in used_names:
                used_names.add(f"{first} {last}")
                break
        phone = new_phone()
        entry = WatchlistEntry(id=f"pe{i:03d}", kind="person", name=f"{first} {last}",
                               aliases=[f"{last} {first[0]}."] if i % 6 == 0 else [],
                               phones=[phone_forms(phone)[1]])
        entries.append(entry)
        persons.append((entry, first, last, phone))

    # ---- positives: agencies
    for entry, form, words, phone in agencies:
        core = " ".join(words)
        eid = entry.id
        cases += [
            Case("exact", {"agency_names": [entry.name]}, eid),
            Case("lower case", {"agency_names": [entry.name.lower()]}, eid),
            Case("form with dots", {"agency_names": [f"{'P.T.' if form == 'PT' else form + '.'} {core}"]}, eid),
            Case("form after the name", {"agency_names": [f"{core}, {form}"]}, eid),
            Case("no form", {"agency_names": [core]}, eid),
            Case("word order", {"agency_names": [f"{form} {' '.join(reversed(words))}"]}, eid),
            Case("old spelling", {"agency_names": [f"{form} {old_spelling(core)}"]}, eid),
            Case("typo", {"agency_names": [f"{form} {' '.join(typo(w, rng) if w == words[0] else w for w in words)}"]}, eid),
            Case("name in ad text", {"ad_text": f"Dibuka lowongan kerja ke Malaysia oleh {form} {core}. Hubungi kantor kami."}, eid),
            Case("phone, other name", {"agency_names": ["PT Lain Sekali"], "phones": [rng.choice(phone_forms(phone)[1:])]}, eid),
            Case("phone in ad text", {"ad_text": f"Info lengkap WA {rng.choice(phone_forms(phone))} (admin)"}, eid),
        ]
        if entry.license_numbers:
            number = entry.license_numbers[0]
            cases.append(Case("licence in text", {"ad_text": f"Resmi, izin {number.replace('/', ' / ')}"}, eid))
            cases.append(Case("licence field", {"license_numbers": [number.replace("/", "-").lower()]}, eid))
        if entry.social_handles:
            cases.append(Case("handle in text", {"ad_text": f"Follow IG {entry.social_handles[0].upper()} untuk info"}, eid))
        if entry.urls:
            cases.append(Case("url field", {"urls": [entry.urls[0].replace("https://", "http://www.") + "/"]}, eid))

    # ---- positives: persons
    for entry, first, last, phone in persons:
        eid = entry.id
        variants = EQUIVALENT.get(first, [])
        cases += [
            Case("person exact", {"recruiter_names": [entry.name]}, eid),
            Case("person honorific", {"recruiter_names": [f"{rng.choice(HONORIFICS)} {entry.name}"]}, eid),
            Case("person word order", {"recruiter_names": [f"{last} {first}"]}, eid),
            Case("person upper case", {"recruiter_names": [entry.name.upper()]}, eid),
            Case("person typo", {"recruiter_names": [f"{first} {typo(last, rng)}"]}, eid),
            Case("person in text", {"ad_text": f"Pendaftaran lewat Pak {entry.name}, sponsor resmi."}, eid),
            Case("person phone", {"recruiter_names": ["Orang Lain"], "phones": [rng.choice(phone_forms(phone))]}, eid),
        ]
        if variants:
            cases.append(Case("name equivalence", {"recruiter_names": [f"{rng.choice(variants)} {last}"]}, eid))
        if entry.aliases:
            cases.append(Case("alias", {"recruiter_names": [entry.aliases[0]]}, eid))

    # ---- hard negatives
    listed_cores = {" ".join(words) for _, _, words, _ in agencies}
    for entry, form, words, phone in agencies:
        distinctive = [w for w in words if w not in GENERIC]
        generic = [w for w in words if w in GENERIC]
        other_generic = rng.choice([g for g in GENERIC if g not in words])
        swapped_generic = " ".join(distinctive + generic[:-1] + [other_generic])
        if swapped_generic not in listed_cores:
            cases.append(Case("generic word swapped", {"agency_names": [f"{form} {swapped_generic}"]}, None, "negative"))
        other_distinctive = rng.choice([d for d in DISTINCTIVE if d not in words])
        swapped = " ".join([other_distinctive] + distinctive[1:] + generic)
        if swapped not in listed_cores:
            cases.append(Case("distinctive word swapped", {"agency_names": [f"{form} {swapped}"]}, None, "negative"))
        only_generic = " ".join(generic)
        if only_generic not in listed_cores and len(generic) >= 1:
            cases.append(Case("generic words only", {"agency_names": [f"{form} {only_generic}"]}, None, "negative"))
        off = one_digit_off(phone, rng)
        if off not in used_phones:
            cases.append(Case("phone one digit off", {"phones": [rng.choice(phone_forms(off))]}, None, "negative"))
            cases.append(Case("phone one digit off in text", {"ad_text": f"Hubungi {phone_forms(off)[0]} sekarang"}, None, "negative"))
    listed_people = {(first, last) for _, first, last, _ in persons}
    for entry, first, last, phone in persons:
        other_last = rng.choice([name for name in LAST if (first, name) not in listed_people])
        cases.append(Case("same first name", {"recruiter_names": [f"{first} {other_last}"]}, None, "negative"))
        other_first = rng.choice([name for name in FIRST if (name, last) not in listed_people and name not in EQUIVALENT.get(first, [])])
        if other_first != first and not ({first, other_first} <= {"Muhammad", "Ahmad"}):
            cases.append(Case("same last name", {"recruiter_names": [f"{other_first} {last}"]}, None, "negative"))
    for i in range(40):  # ordinary reports naming nobody listed
        cases.append(Case("clean ad", {"ad_text": f"Lowongan operator produksi pabrik {rng.choice(['Cilacap', 'Kroya', 'Majenang'])}, "
                                                   f"hubungi HRD {rng.choice(LAST)} di kantor, gaji UMR."}, None, "negative"))
    return entries, cases
