"""Domain packs: the entity types of the seeded world, their attributes and how to phrase them.

Each :class:`EntityType` lists :class:`Attribute` s. An attribute is a scalar (``int``, ``float``,
``date``, ``enum``) or a relation to another entity type (``entity``), and carries several
phrasings: questions (``"Who directed {x}?"``) and noun phrases (``"the director of {x}"``), where
``{x}`` is the subject, a name or a nested noun phrase. Relations chain (film.director -> person,
person.birth_city -> city, city.country -> country, ...), which is what multi-hop questions walk.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attribute", "EntityType", "DOMAINS", "DOMAIN_NAMES", "NUMERIC_KINDS", "attribute"]

NUMERIC_KINDS: tuple[str, ...] = ("int", "float")
"""Attribute kinds whose values a calculator can combine."""


@dataclass(frozen=True)
class Attribute:
    """One attribute of an entity type, with its value range and phrasings."""

    name: str
    """Field name in records and tool names (``director``, ``release_year``)."""
    kind: str
    """``int``, ``float``, ``date``, ``enum`` or ``entity``."""
    questions: tuple[str, ...]
    """Question templates about subject ``{x}``; never start with ``{x}``."""
    nouns: tuple[str, ...]
    """Noun-phrase templates naming the value, e.g. ``"the director of {x}"``."""
    doc: str
    """What the tool returns, for tool descriptions."""
    target: str | None = None
    """Entity type of the value, for relations."""
    low: float = 0
    high: float = 0
    """Value range of numbers (dates: years)."""
    choices: tuple[str, ...] = ()
    """Values of enums."""
    inverse: str | None = None
    """Attribute of the target set to point back (a capital's ``country`` is the country)."""

    @property
    def numeric(self) -> bool:
        """True when the value is a number."""
        return self.kind in NUMERIC_KINDS


@dataclass(frozen=True)
class EntityType:
    """A kind of entity (``film``), its key parameter and its attributes."""

    name: str
    key_param: str
    """Argument name of the lookup key (``title``, ``name``, ``city``)."""
    key_doc: str
    """Description of the key argument."""
    quoted: bool
    """True when names are titles, written in quotes in questions."""
    attributes: tuple[Attribute, ...]

    def attr(self, name: str) -> Attribute:
        """Returns the attribute called ``name``."""
        for candidate in self.attributes:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


def _rel(name: str, target: str, questions: tuple[str, ...], nouns: tuple[str, ...], doc: str,
         inverse: str | None = None) -> Attribute:
    return Attribute(name, "entity", questions, nouns, doc, target=target, inverse=inverse)


def _num(name: str, kind: str, low: float, high: float, questions: tuple[str, ...],
         nouns: tuple[str, ...], doc: str) -> Attribute:
    return Attribute(name, kind, questions, nouns, doc, low=low, high=high)


def _enum(name: str, choices: tuple[str, ...], questions: tuple[str, ...], nouns: tuple[str, ...],
          doc: str) -> Attribute:
    return Attribute(name, "enum", questions, nouns, doc, choices=choices)


def _founded(low: int, what: str) -> Attribute:
    return _num("founded_year", "int", low, 2015,
                ("In which year was {x} founded?", "When was {x} founded? Give the year.",
                 "What is the founding year of {x}?"),
                ("the founding year of {x}", "the year {x} was founded"),
                f"the year the {what} was founded")


PERSON = EntityType("person", "name", "Full name of the person.", False, (
    _num("birth_year", "int", 1935, 2000,
         ("In which year was {x} born?", "What is the birth year of {x}?", "When was {x} born? Give the year."),
         ("the birth year of {x}", "the year {x} was born"), "the year the person was born"),
    _rel("birth_city", "city", ("In which city was {x} born?", "Where was {x} born?", "What is the birth city of {x}?"),
         ("the birth city of {x}", "the city where {x} was born"), "the city where the person was born"),
    _enum("occupation", ("architect", "surgeon", "economist", "novelist", "engineer", "journalist",
                         "chemist", "lawyer", "pilot", "historian"),
          ("What is the occupation of {x}?", "What does {x} do for a living?"),
          ("the occupation of {x}", "the profession of {x}"), "the person's occupation"),
    _num("height_cm", "int", 150, 201, ("How tall is {x} in centimeters?", "What is the height of {x} in cm?"),
         ("the height in centimeters of {x}",), "the person's height in centimeters"),
    _rel("employer", "company", ("Which company employs {x}?", "Which company does {x} work for?", "Who is the employer of {x}?"),
         ("the employer of {x}", "the company {x} works for"), "the company the person works for"),
))

CITY = EntityType("city", "city", "Name of the city.", False, (
    _num("population", "int", 20_000, 9_000_000, ("What is the population of {x}?", "How many people live in {x}?"),
         ("the population of {x}", "the number of inhabitants of {x}"), "the number of inhabitants"),
    _rel("country", "country", ("In which country is {x}?", "Which country is {x} located in?", "What country is {x} in?"),
         ("the country of {x}", "the country where {x} lies"), "the country the city lies in"),
    _rel("mayor", "person", ("Who is the mayor of {x}?", "Which person is mayor of {x}?"),
         ("the mayor of {x}",), "the current mayor of the city"),
    _founded(1100, "city"),
    _num("area_km2", "float", 30, 2500, ("What is the area of {x} in square kilometers?", "How large is {x} in km2?"),
         ("the area in square kilometers of {x}",), "the city's area in square kilometers"),
    _num("elevation_m", "int", 2, 2400, ("At what elevation in meters does {x} lie?", "What is the elevation of {x} in meters?"),
         ("the elevation in meters of {x}",), "the city's elevation above sea level in meters"),
))

COUNTRY = EntityType("country", "country", "Name of the country.", False, (
    _rel("capital", "city", ("What is the capital of {x}?", "Which city is the capital of {x}?"),
         ("the capital of {x}", "the capital city of {x}"), "the capital city of the country",
         inverse="country"),
    _num("population", "int", 1_000_000, 200_000_000, ("What is the population of {x}?", "How many people live in {x}?"),
         ("the population of {x}",), "the number of inhabitants"),
    _enum("currency", ("crown", "mark", "dinar", "peso", "florin", "rupee", "lira", "shilling"),
          ("What is the currency of {x}?", "Which currency is used in {x}?"),
          ("the currency of {x}",), "the country's currency"),
    _enum("official_language", ("Portuguese", "Finnish", "Tagalog", "Swahili", "Dutch", "Polish", "Korean", "Greek"),
          ("What is the official language of {x}?", "Which language is official in {x}?"),
          ("the official language of {x}",), "the country's official language"),
    _num("independence_year", "int", 1800, 1995, ("In which year did {x} become independent?", "When did {x} gain independence? Give the year."),
         ("the year {x} became independent",), "the year of independence"),
    _num("area_km2", "int", 10_000, 3_000_000, ("What is the area of {x} in square kilometers?", "How large is {x} in km2?"),
         ("the area in square kilometers of {x}",), "the country's area in square kilometers"),
))

COMPANY = EntityType("company", "company", "Name of the company.", False, (
    _rel("ceo", "person", ("Who is the CEO of {x}?", "Who runs {x} as chief executive?", "Which person leads {x}?"),
         ("the CEO of {x}", "the chief executive of {x}"), "the company's chief executive officer",
         inverse="employer"),
    _rel("headquarters", "city", ("Where is {x} headquartered?", "In which city is {x} based?", "Which city hosts the headquarters of {x}?"),
         ("the headquarters city of {x}", "the city where {x} is based"), "the city of the company's headquarters"),
    _founded(1850, "company"),
    _enum("industry", ("software", "shipping", "pharmaceuticals", "aerospace", "retail", "textiles",
                       "energy", "telecommunications", "mining", "banking"),
          ("In which industry does {x} operate?", "What industry is {x} in?"),
          ("the industry of {x}",), "the company's industry"),
    _num("employees", "int", 50, 250_000, ("How many employees does {x} have?", "How many people work at {x}?"),
         ("the number of employees of {x}", "the headcount of {x}"), "the number of employees"),
    _num("revenue_musd", "float", 1, 90_000, ("What is the annual revenue of {x} in million USD?", "How much revenue does {x} make per year, in million USD?"),
         ("the annual revenue in million USD of {x}",), "the annual revenue in million USD"),
))

PRODUCT = EntityType("product", "product", "Name of the product.", False, (
    _rel("manufacturer", "company", ("Which company makes {x}?", "Who manufactures {x}?", "What is the manufacturer of {x}?"),
         ("the manufacturer of {x}", "the company that makes {x}"), "the company that makes the product"),
    _num("price_usd", "float", 5, 3000, ("How much does {x} cost in USD?", "What is the price of {x} in US dollars?"),
         ("the price in USD of {x}",), "the list price in US dollars"),
    _num("release_year", "int", 1990, 2024, ("In which year was {x} released?", "When did {x} come out? Give the year."),
         ("the release year of {x}",), "the year the product was released"),
    _enum("category", ("headphones", "blender", "camera", "tablet", "smartwatch", "drone", "kettle",
                       "backpack", "router", "lamp"),
          ("What kind of product is {x}?", "Which product category does {x} belong to?"),
          ("the category of {x}",), "the product category"),
    _num("weight_g", "int", 50, 9000, ("How much does {x} weigh in grams?", "What is the weight of {x} in grams?"),
         ("the weight in grams of {x}",), "the product's weight in grams"),
))

FILM = EntityType("film", "title", "Title of the film.", True, (
    _rel("director", "person", ("Who directed {x}?", "Which person directed {x}?", "Who is the director of {x}?"),
         ("the director of {x}", "the person who directed {x}"), "the person who directed the film"),
    _rel("lead_actor", "person", ("Who plays the lead role in {x}?", "Who is the lead actor of {x}?"),
         ("the lead actor of {x}", "the star of {x}"), "the actor in the leading role"),
    _num("release_year", "int", 1950, 2024, ("In which year was {x} released?", "When was {x} released? Give the year."),
         ("the release year of {x}", "the year {x} came out"), "the year the film was released"),
    _enum("genre", ("thriller", "comedy", "documentary", "western", "musical", "animation", "romance",
                    "horror", "mystery", "drama"),
          ("What is the genre of {x}?", "Which genre does {x} belong to?"),
          ("the genre of {x}",), "the film's genre"),
    _num("runtime_min", "int", 75, 210, ("How long is {x} in minutes?", "What is the runtime of {x} in minutes?"),
         ("the runtime in minutes of {x}",), "the running time in minutes"),
    _num("box_office_musd", "float", 0.5, 2500, ("How much did {x} gross in million USD?", "What was the box office of {x} in million USD?"),
         ("the box office in million USD of {x}",), "the worldwide gross in million USD"),
    _rel("filming_city", "city", ("In which city was {x} filmed?", "Where was {x} shot?"),
         ("the city where {x} was filmed", "the filming location of {x}"), "the main filming city"),
))

BOOK = EntityType("book", "title", "Title of the book.", True, (
    _rel("author", "person", ("Who wrote {x}?", "Who is the author of {x}?", "Which person wrote {x}?"),
         ("the author of {x}", "the writer of {x}"), "the person who wrote the book"),
    _rel("publisher", "company", ("Which company published {x}?", "Who is the publisher of {x}?"),
         ("the publisher of {x}",), "the company that published the book"),
    _num("publication_year", "int", 1850, 2024, ("In which year was {x} published?", "When was {x} first published? Give the year."),
         ("the publication year of {x}", "the year {x} was published"), "the year of first publication"),
    _num("pages", "int", 90, 1400, ("How many pages does {x} have?", "What is the page count of {x}?"),
         ("the number of pages of {x}", "the page count of {x}"), "the number of pages"),
    _enum("genre", ("biography", "fantasy", "poetry", "memoir", "crime", "travel", "philosophy", "satire"),
          ("What is the genre of {x}?", "Which genre is {x}?"),
          ("the genre of {x}",), "the book's genre"),
))

TEAM = EntityType("team", "team", "Name of the sports team.", False, (
    _rel("home_city", "city", ("Which city is {x} based in?", "What is the home city of {x}?", "Where does {x} play its home games?"),
         ("the home city of {x}", "the city where {x} plays"), "the team's home city"),
    _rel("coach", "person", ("Who coaches {x}?", "Who is the head coach of {x}?"),
         ("the coach of {x}", "the head coach of {x}"), "the team's head coach"),
    _founded(1870, "team"),
    _enum("sport", ("football", "basketball", "hockey", "baseball", "rugby", "volleyball", "handball", "cricket"),
          ("Which sport does {x} play?", "What sport is {x} a team in?"),
          ("the sport of {x}",), "the sport the team plays"),
    _num("championships", "int", 1, 40, ("How many championships has {x} won?", "How many titles has {x} won?"),
         ("the number of championships won by {x}",), "the number of championships won"),
    _num("stadium_capacity", "int", 5000, 95_000, ("How many spectators fit in the stadium of {x}?", "What is the stadium capacity of {x}?"),
         ("the stadium capacity of {x}",), "the capacity of the home stadium"),
))

EVENT = EntityType("event", "event", "Name of the festival or event.", False, (
    _rel("host_city", "city", ("Which city hosts {x}?", "Where does {x} take place?", "What is the host city of {x}?"),
         ("the host city of {x}", "the city that hosts {x}"), "the city that hosts the event"),
    _rel("organizer", "company", ("Which company organizes {x}?", "Who is the organizer of {x}?"),
         ("the organizer of {x}",), "the company that organizes the event"),
    _num("first_year", "int", 1900, 2020, ("In which year was {x} first held?", "When did {x} take place for the first time? Give the year."),
         ("the year {x} was first held",), "the year the event was first held"),
    _num("attendance", "int", 1000, 900_000, ("How many people attend {x}?", "What is the attendance of {x}?"),
         ("the attendance of {x}", "the number of visitors of {x}"), "the yearly number of visitors"),
    _enum("theme", ("jazz", "cinema", "literature", "science", "food", "design", "dance"),
          ("What is the theme of {x}?", "What is {x} about?"),
          ("the theme of {x}",), "the event's theme"),
))

DOMAINS: dict[str, EntityType] = {
    t.name: t for t in (PERSON, CITY, COUNTRY, COMPANY, PRODUCT, FILM, BOOK, TEAM, EVENT)
}
"""Entity type name -> definition, in a fixed order."""

DOMAIN_NAMES: tuple[str, ...] = tuple(DOMAINS)
"""Names of every domain, for knob validation."""


def attribute(entity: str, name: str) -> Attribute:
    """Returns attribute ``name`` of entity type ``entity``."""
    return DOMAINS[entity].attr(name)
