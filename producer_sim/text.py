# Look-alike letters, 4-byte characters and dashes are the point.
# ruff: noqa: RUF001
"""Names, places and texts the simulated people write: accents, scripts and emoji included."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from producer_sim.randomness import maybe, pick

FIRST_NAMES = (
    "Ana",
    "Ravi",
    "Kwame",
    "Li",
    "Zoë",
    "José",
    "Søren",
    "Chloé",
    "Łukasz",
    "Mei",
    "Olúwaseun",
    "Björn",
    "Nadia",
    "Siobhán",
    "Hiroshi",
    "Fatima",
    "Mateo",
    "Ingrid",
    "Amara",
    "Dmitri",
    "Élodie",
    "Priya",
    "Tomás",
    "Ayşe",
)

LAST_NAMES = (
    "Smith",
    "Chen",
    "Levi",
    "Rossi",
    "Patel",
    "Tanaka",
    "Mensah",
    "Müller",
    "García",
    "Nguyễn",
    "Kowalski",
    "O'Brien",
    "Dubois",
    "Søndergaard",
    "Ivanova",
    "Okafor",
    "Yılmaz",
    "Haddad",
)

# Display names people pick for themselves beyond "First Last".
FANCY_NAMES = (
    "𝓙𝓸𝓷 the potter",
    "Mei 🌸",
    "山田 太郎",
    "Crème & Co ☕",
    "🦊 Fox Studio",
    "Ñandú Design",
)

BIOS = (
    "Potter, dog person 🐕 and weekend baker 🥐",
    "Collector of vintage things ✨",
    "Ceramics • Textiles • Café crème ☕",
    "Living in São Paulo 🇧🇷, shipping worldwide",
    "Zażółć gęślą jaźń 🦊",
    "Making things by hand since 2009 🧶",
    "数量限定 ✂️ handmade only",
)

POST_TEXTS = (
    "Unboxing day 📦 — 𝓯𝓪𝓷𝓬𝔂 text",
    "Quote: \"it's 'fine'\"; DROP TABLE posts;--",
    "Fresh batch of mugs ☕🔥 out of the kiln",
    "Café crème at the market, très bon 🥐",
    "New drop this Friday 🎉🎉",
    "Hand-thrown bowls 🏺 — glaze test #3",
    "Back in stock! 🙌🏽 Thank you all",
    "Behind the scenes 🎬 of our workshop in Kraków",
    "数量限定セール 🛍️ this weekend only",
    "Line one\nline two, with a tab\tand a backslash \\ 😀",
    "Who else loves naïve art? 🎨",
)

PRODUCT_NOUNS = (
    "Scarf",
    "Mug",
    "Lamp",
    "Bowl",
    "Vase",
    "Candle",
    "Tote",
    "Journal",
    "Necklace",
    "Blanket",
    "Teapot",
    "Planter",
)

PRODUCT_ADJECTIVES = (
    "Handmade",
    "Handmade",
    "Artisanal",
    "Hand-dyed",
    "Organic",
    "Vintage-style",
    "Crème Brûlée",
    "Nordic Ørsted",
)

DESCRIPTIONS = (
    "Beautiful and handcrafted",
    "Small batch, made to order ✨",
    "Glazed by hand — each piece is unique 🏺",
    "Fair-trade cotton, naturally dyed 🌿",
    "Perfect gift 🎁 for the café lover",
    "Limited edition: 数量限定",
)

BRANDS = ("Atelier Zoë", "Nordlys", "Casa Bonita", "Kōgei", "Maison Élan")

CATEGORIES = (
    "fashion",
    "automotive",
    "books_media",
    "home_garden",
    "electronics",
    "beauty",
    "sports",
    "toys",
    "food_beverage",
    "arts_crafts",
)

UNIT_TYPES = ("piece", "set", "pack", "box", "pair", "bundle", "kg")

SIZES = ("small", "medium", "large", "xl", "one-size")
COLORS = ("red", "blue", "green", "black", "natural", "white", "crème", "bordeaux")

TOPIC_DESCRIPTIONS = (
    ("Care", "Hand wash only"),
    ("Materials", "Stoneware, lead-free glaze"),
    ("Shipping", "Ships in 3–5 days 📦"),
    ("Origin", "Made in Kraków, Poland"),
)

CARRIERS = ("UPS", "FedEx", "DHL", "USPS", "La Poste", "Correos")

LINK_SITES = (
    ("https://example.com/workshop", "Amazing Ceramic Workshop", "Example.com"),
    ("https://blog.example.org/naturfärgning", "Naturfärgning för nybörjare", "Example Blog"),
    ("https://news.example.net/makers-2025", "Makers to watch in 2025 🚀", "Example News"),
)

SUPPLIER_TITLES = ("Sales Manager", "Owner", "Head of Partnerships", "Gérante", "Founder")
COMPANY_FORMS = ("Crafts LLC", "& Fils SARL", "Handwerk GmbH", "Studio Ltd", "Artesanías SA")
TIMEZONES_FALLBACK = "UTC"


@dataclass(frozen=True, slots=True)
class Address:
    street_address_1: str
    street_address_2: str | None
    city: str
    state: str
    zip_code: str
    country: str
    timezone: str

    def document(self) -> dict[str, str | None]:
        return {
            "street_address_1": self.street_address_1,
            "street_address_2": self.street_address_2,
            "city": self.city,
            "state": self.state,
            "zip_code": self.zip_code,
            "country": self.country,
        }


ADDRESSES = (
    Address("123 Main St", None, "Austin", "TX", "73301", "US", "America/Chicago"),
    Address("456 Oak Ave", "Apt 7B", "Austin", "TX", "73301", "US", "America/Chicago"),
    Address(
        "88 Market St", "Suite 400", "San Francisco", "CA", "94105", "US", "America/Los_Angeles"
    ),
    Address("12 Rothschild Blvd", None, "Tel Aviv", "TA", "6100000", "IL", "Asia/Jerusalem"),
    Address(
        "Rua Augusta 1500", "Conj. 12", "São Paulo", "SP", "01304-001", "BR", "America/Sao_Paulo"
    ),
    Address("Marienplatz 8", None, "München", "BY", "80331", "DE", "Europe/Berlin"),
    Address("ul. Floriańska 3", "m. 5", "Kraków", "MA", "31-019", "PL", "Europe/Warsaw"),
    Address("1-1 Chiyoda", None, "Tokyo", "13", "100-0001", "JP", "Asia/Tokyo"),
    Address(
        "1200 Rue Sainte-Catherine", None, "Montréal", "QC", "H3B 1K9", "CA", "America/Toronto"
    ),
    Address("Strøget 22", None, "København", "84", "1160", "DK", "Europe/Copenhagen"),
)


def person_name(rng: random.Random) -> tuple[str, str]:
    return pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)


def display_name(rng: random.Random) -> str:
    if maybe(rng, 0.1):
        return pick(rng, FANCY_NAMES)
    first, last = person_name(rng)
    return f"{first} {last}"


# Letters that Unicode does not decompose into an ASCII base letter.
_NOT_DECOMPOSABLE = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "đ": "d", "ı": "i"}
)


def slug(text: str) -> str:
    """ASCII, lowercase, dash-separated: "Zoë O'Brien" -> "zoe-obrien"."""
    spelled = text.translate(_NOT_DECOMPOSABLE)
    ascii_text = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower().replace("'", ""))
    return "-".join(words) or "user"


def phone(rng: random.Random) -> str:
    return f"+1-555-{rng.randrange(10_000):04d}"


def password_hash(rng: random.Random) -> str:
    alphabet = "./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "$2b$12$" + "".join(pick(rng, alphabet) for _ in range(53))


def post_text(rng: random.Random) -> str:
    return pick(rng, POST_TEXTS)
