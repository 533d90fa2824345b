"""A seeded generator of varied synthetic corpora, shaped like the article, for scale benchmarks.

Each document is a ``.txt`` file written like the article: a title line, an
intro paragraph, then numbered sections (``N. Title`` on its own line) of two
to six sentences.  Sentences are drawn from many templates and a vocabulary of
several hundred words, so no two sections read alike and their embeddings
spread out as real text does.  Section titles are unique across the corpus.
One document in ten writes every lowercase "e" as CYRILLIC SMALL LETTER
IE and its apostrophes as U+2019, as the real article does, so the look-alike
normalization runs on its slow path too.

The same ``seed`` and sizes always give byte-identical files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

ACTORS = (
    "Pyongyang", "Moscow", "Beijing", "Seoul", "Tokyo", "Washington", "Ulaanbaatar", "Vladivostok", "Hanoi",
    "Jakarta", "New Delhi", "Canberra", "Ottawa", "Brasilia", "Nairobi", "Cairo", "Ankara", "Tehran", "Astana",
    "Tashkent", "Manila", "Bangkok", "Wellington", "Santiago", "Oslo", "Helsinki", "Warsaw", "Lisbon", "Dakar",
    "Lima", "Bogota", "Accra", "Hanover", "Busan", "Harbin", "Khabarovsk", "Irkutsk", "Novosibirsk", "Dalian",
)
ADJECTIVES = (
    "Economic", "Strategic", "Maritime", "Agricultural", "Financial", "Digital", "Military", "Industrial", "Scientific",
    "Cultural", "Educational", "Medical", "Environmental", "Nuclear", "Energy", "Railway", "Aviation", "Fisheries",
    "Mining", "Banking", "Labour", "Tourism", "Legal", "Customs", "Border", "Arctic", "Space", "Cyber", "Water",
    "Forestry", "Textile", "Chemical", "Pharmaceutical", "Shipbuilding", "Telecom", "Satellite", "Grain", "Fertilizer",
    "Automotive", "Semiconductor", "Housing", "Pension", "Judicial", "Parliamentary", "Municipal", "Coastal",
    "Humanitarian", "Veterinary", "Meteorological", "Archival", "Linguistic", "Athletic", "Musical", "Culinary",
    "Postal", "Statistical", "Geological", "Hydrographic", "Electoral", "Monetary",
)
NOUNS = (
    "Cooperation", "Exchanges", "Corridors", "Reserves", "Partnerships", "Standards", "Agreements", "Subsidies",
    "Investments", "Sanctions", "Quotas", "Tariffs", "Pipelines", "Ports", "Grids", "Networks", "Academies",
    "Treaties", "Consortia", "Missions", "Licences", "Permits", "Loans", "Patents", "Markets", "Depots", "Terminals",
    "Fleets", "Hubs", "Zones", "Councils", "Funds", "Surveys", "Inspections", "Drills", "Summits", "Dialogues",
    "Charters", "Registries", "Observatories", "Laboratories", "Festivals", "Scholarships", "Archives", "Channels",
    "Reforms", "Audits", "Guarantees", "Protocols", "Frameworks", "Taskforces", "Clinics", "Warehouses", "Bridges",
    "Tunnels", "Dams", "Refineries", "Mills", "Foundries", "Shipyards",
)
PLACES = (
    "the Far East", "the Korean Peninsula", "Central Asia", "the Arctic", "the Pacific Rim", "Siberia", "the Baltic",
    "the Black Sea", "the Caspian Basin", "Southeast Asia", "the Sea of Japan", "the Amur Valley", "Manchuria",
    "the Kuril Islands", "Sakhalin", "the Tumen River", "the Yellow Sea", "the Gobi", "Kamchatka", "the Urals",
    "the Caucasus", "the Horn of Africa", "the Andes", "the Mekong Delta", "the Indian Ocean", "the Sahel",
    "the Balkans", "the Nordic States", "the Persian Gulf", "the Bering Strait", "the Altai", "the Ferghana Valley",
    "the Taiwan Strait", "the Malacca Strait", "the Sunda Shelf", "the Laptev Sea", "the Okhotsk Coast",
    "the Yalu Border", "the Rason Zone", "the Khasan Crossing",
)
VERBS = (
    "expand", "restrict", "finance", "monitor", "renegotiate", "subsidize", "modernize", "audit", "protect",
    "coordinate", "relocate", "digitize", "insure", "certify", "export", "import", "stockpile", "license", "survey",
    "train", "recruit", "lease", "upgrade", "dismantle", "extend", "streamline", "inspect", "deploy", "share",
    "harmonize",
)
GOALS = (
    "hard currency", "food security", "diplomatic cover", "technical know-how", "regional leverage",
    "a reliable energy supply", "access to warm-water ports", "relief from sanctions", "military hardware",
    "skilled labour", "new export markets", "political legitimacy", "cheaper freight", "satellite data",
    "fresh capital", "a counterweight to rival powers", "spare parts", "grain and fertilizer", "rare earth metals",
    "tourist revenue", "fishing rights", "medical supplies", "border stability", "student visas",
)
OFFICIALS = (
    "the trade ministry", "a deputy premier", "the central bank", "port authorities", "the defence council",
    "regional governors", "the foreign office", "customs officials", "a state shipping firm", "university rectors",
    "the energy regulator", "provincial planners", "a joint commission", "railway managers", "the space agency",
    "the health ministry", "a parliamentary committee", "mining cooperatives", "the fisheries board",
)
MEASURES = ("tonnes", "barrels", "megawatts", "containers", "students", "flights", "wagons", "licences", "vessels")
CONNECTORS = ("However", "Meanwhile", "In addition", "By contrast", "As a result", "Even so", "Since then", "In practice")

_TEMPLATES = (
    "{A} and {B} agreed in {year} to {verb} {adj_l} {noun_l} across {place}.",
    "{Conn}, {official} plans to {verb} the {adj_l} {noun_l} near {place} by {year2}.",
    "{A} wants {goal}, while {B} is looking for {goal2}.",
    "Trade in {adj_l} goods between {A} and {B} reached {num} {measure} last year, up {pct} percent.",
    "Analysts in {A} say the {adj_l} {noun_l} could give {B} {goal} within {small} years.",
    "{Conn}, critics warn that {adj_l} {noun_l} in {place} may draw new sanctions from {C}.",
    "A {small}-year pact lets {A} {verb} {num} {measure} through {place} each season.",
    "{official_c} reported that {adj_l} {noun_l} now employ about {num} people in {place}.",
    "The {adj} {noun} Initiative, launched in {year}, was meant to {verb} links between {A} and {B}.",
    "Why does {A} care? Because {adj_l} {noun_l} promise {goal} at a time when {C} offers little.",
    "Officials from {A} visited {place} {small} times in {year} to {verb} {adj_l} {noun_l}.",
    "{Conn}, the {adj_l} plan depends on whether {B} can {verb} its {noun_l} before {year2}.",
    "Both sides see {goal} as the main prize, though {C} remains wary of {adj_l} {noun_l}.",
    "In {year}, {official} signed {small} memoranda to {verb} {adj_l} {noun_l} with {B}.",
    "{A} has offered {goal} in return for help to {verb} {noun_l} along {place}.",
    "Satellite images from {year2} suggest that {adj_l} {noun_l} in {place} have grown by {pct} percent.",
)


@dataclass(frozen=True)
class SyntheticCorpus:
    """What :func:`write_corpus` wrote: the folder, its files and section count, and sample questions."""

    folder: Path
    files: tuple[Path, ...]
    sections: int
    questions: tuple[str, ...]


def _title(serial: int) -> str:
    """A section title unique for each ``serial`` below 60 * 60 * 40 = 144,000."""
    mixed = (serial * 7919) % (len(ADJECTIVES) * len(NOUNS) * len(PLACES))
    a, rest = divmod(mixed, len(NOUNS) * len(PLACES))
    n, p = divmod(rest, len(PLACES))
    return f"{ADJECTIVES[a]} {NOUNS[n]} in {PLACES[p][0].upper()}{PLACES[p][1:]}"


def _sentence(rng: random.Random) -> str:
    a, b, c = rng.sample(ACTORS, 3)
    fill: dict[str, str | int] = {
        "A": a, "B": b, "C": c,
        "adj": rng.choice(ADJECTIVES), "noun": rng.choice(NOUNS)[:-1] if rng.random() < 0.3 else rng.choice(NOUNS),
        "adj_l": rng.choice(ADJECTIVES).lower(), "noun_l": rng.choice(NOUNS).lower(),
        "verb": rng.choice(VERBS), "place": rng.choice(PLACES), "goal": rng.choice(GOALS), "goal2": rng.choice(GOALS),
        "official": rng.choice(OFFICIALS), "Conn": rng.choice(CONNECTORS), "measure": rng.choice(MEASURES),
        "year": rng.randint(1991, 2024), "year2": rng.randint(2025, 2040), "num": f"{rng.randint(2, 950) * 100:,}",
        "pct": rng.randint(2, 80), "small": rng.randint(2, 12),
    }
    official = str(fill["official"])
    fill["official_c"] = official[0].upper() + official[1:]
    return rng.choice(_TEMPLATES).format(**fill)


def _section_text(rng: random.Random) -> str:
    sentences = [_sentence(rng) for _ in range(rng.choice((2, 2, 3, 3, 3, 4, 5, 6)))]
    if len(sentences) > 3 and rng.random() < 0.4:  # sometimes two paragraphs
        cut = rng.randint(1, len(sentences) - 1)
        return " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
    return " ".join(sentences)


def _lookalike(text: str) -> str:
    return text.replace("e", "\u0435").replace("'", "\u2019")


def question_for(rng: random.Random) -> str:
    """One varied question in the corpus' vocabulary (for query-latency runs)."""
    forms = (
        "What does {A} want from {B}?",
        "Which {adj_l} {noun_l} matter in {place}?",
        "How could {A} get {goal}?",
        "Who plans to {verb} {adj_l} {noun_l}?",
        "{adj} {noun_l} {place}",
        "Is there any agreement about {noun_l} near {place}?",
        "What happened in {year} between {A} and {B}?",
        "why would {C} worry about {adj_l} {noun_l}",
    )
    a, b, c = rng.sample(ACTORS, 3)
    return rng.choice(forms).format(
        A=a, B=b, C=c, adj=rng.choice(ADJECTIVES), adj_l=rng.choice(ADJECTIVES).lower(),
        noun_l=rng.choice(NOUNS).lower(), place=rng.choice(PLACES), goal=rng.choice(GOALS), verb=rng.choice(VERBS),
        year=rng.randint(1991, 2024),
    )


def questions(count: int, seed: int = 7) -> list[str]:
    """``count`` varied questions in the synthetic corpus' vocabulary, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [question_for(rng) for _ in range(count)]


def write_corpus(folder: Path, sections: int, *, per_file: int = 100, seed: int = 1) -> SyntheticCorpus:
    """Write about ``sections`` sections (intros included) as ``.txt`` files of ``per_file`` sections into ``folder``.

    Each file is an intro plus up to ``per_file - 1`` numbered sections, so the
    total is exactly ``sections``.  Titles are unique; raises ``ValueError``
    beyond 144,000 sections.
    """
    if sections < 1 or sections > 144_000:
        raise ValueError(f"sections must be between 1 and 144,000, not {sections}")
    if not 2 <= per_file <= 999:
        raise ValueError(f"per_file must be between 2 and 999 (numbered items go up to 999), not {per_file}")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    serial = 0
    doc = 0
    while serial < sections:
        in_file = min(per_file, sections - serial)
        a, b = rng.sample(ACTORS, 2)
        lines = [f"Report {doc + 1}: What {a} and {b} Want from Each Other", "", _section_text(rng), ""]
        serial += 1
        for number in range(1, in_file):
            lines += [f"{number}. {_title(serial)}", "", _section_text(rng), ""]
            serial += 1
        text = "\n".join(lines)
        if doc % 10 == 3:  # one document in ten, as pasted from the article
            text = _lookalike(text)
        path = folder / f"report-{doc + 1:05d}.txt"
        path.write_text(text, encoding="utf-8")
        files.append(path)
        doc += 1
    return SyntheticCorpus(folder, tuple(files), serial, tuple(questions(20, seed)))


def edit_one_section(corpus: SyntheticCorpus, *, seed: int = 99) -> str:
    """Append one new sentence to the first numbered section of the middle file; return the new sentence."""
    rng = random.Random(seed)
    path = corpus.files[len(corpus.files) // 2]
    text = path.read_text(encoding="utf-8")
    added = f"In {rng.randint(2041, 2060)}, an edit marker {rng.randint(10**6, 10**7)} was added to this section."
    head, sep, rest = text.partition("\n1. ")
    if not sep:  # a one-section file: edit its intro
        path.write_text(text.rstrip("\n") + " " + added + "\n", encoding="utf-8")
        return added
    title, _, body = rest.partition("\n\n")
    first, _, tail = body.partition("\n\n")
    path.write_text(f"{head}\n1. {title}\n\n{first} {added}\n\n{tail}", encoding="utf-8")
    return added
