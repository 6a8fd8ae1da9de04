"""Word lists for fake company names, people, addresses and ticket subjects.

Every e-mail domain ends in `.example`, a top-level domain reserved for documentation
(RFC 2606), and IP addresses come from the documentation ranges of RFC 5737, so no generated
value points at a real company, person or host.
"""

from __future__ import annotations

# fmt: off
COMPANY_WORDS = (
    "Acorn", "Alder", "Amber", "Anchor", "Apex", "Arbor", "Aster", "Atlas", "Aurora", "Basil", "Beacon",
    "Birch", "Bluefin", "Bramble", "Brightwater", "Cedar", "Cinder", "Clover", "Cobalt", "Copper", "Coral",
    "Crescent", "Cypress", "Delta", "Driftwood", "Ember", "Evergreen", "Falcon", "Fern", "Fjord", "Foxglove",
    "Garnet", "Granite", "Harbor", "Hazel", "Heron", "Indigo", "Ironwood", "Juniper", "Kestrel", "Lagoon",
    "Larch", "Linden", "Lumen", "Maple", "Meadow", "Meridian", "Mosaic", "Nimbus", "Northwind", "Oakridge",
    "Onyx", "Orchid", "Osprey", "Pebble", "Pinnacle", "Quartz", "Quill", "Raven", "Redwood", "Ridge",
    "Saffron", "Sable", "Sequoia", "Sierra", "Slate", "Sparrow", "Spruce", "Summit", "Tamarack", "Thistle",
    "Tidal", "Timber", "Topaz", "Tundra", "Umber", "Vale", "Vantage", "Verdant", "Willow", "Wren", "Zephyr",
)
COMPANY_KINDS = (
    "Analytics", "Labs", "Logistics", "Health", "Robotics", "Media", "Capital", "Foods", "Energy", "Systems",
    "Studios", "Retail", "Software", "Partners", "Networks", "Mobility", "Bio", "Security", "Travel",
    "Learning",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "SAS", "BV", "Co.", "AB", "KK", "Group")

INDUSTRIES = (
    "Technology", "Financial Services", "Healthcare", "Retail", "Manufacturing", "Media", "Education",
    "Transportation", "Energy", "Hospitality", "Consulting", "Telecommunications",
)

FIRST_NAMES = (
    "Ada", "Alex", "Amara", "Ana", "Ben", "Bo", "Carla", "Chen", "Dana", "David", "Elif", "Emil", "Eva",
    "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jae", "Jonas", "Julia", "Kai", "Kenji",
    "Lara", "Leo", "Lina", "Luca", "Maya", "Mateo", "Mia", "Nadia", "Noah", "Nora", "Omar", "Oscar", "Priya",
    "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Theo", "Uma", "Vera", "Wei", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abe", "Adeyemi", "Almeida", "Andersson", "Baker", "Bauer", "Chen", "Costa", "Dubois", "Eriksen",
    "Fischer", "Garcia", "Haddad", "Hansen", "Ito", "Jensen", "Kim", "Kowalski", "Larsen", "Lopez", "Martin",
    "Meyer", "Moreau", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi",
    "Sato", "Schmidt", "Silva", "Singh", "Smith", "Tanaka", "Torres", "Varga", "Weber", "Wilson", "Young",
)

# (country code, share) for customers billed in each currency.
COUNTRIES = {
    "usd": (("US", 0.78), ("CA", 0.08), ("GB", 0.07), ("AU", 0.04), ("SG", 0.03)),
    "eur": (("DE", 0.32), ("FR", 0.24), ("NL", 0.14), ("ES", 0.12), ("IE", 0.08), ("IT", 0.10)),
    "jpy": (("JP", 1.0),),
}
FREE_COUNTRIES = (
    ("US", 0.45), ("GB", 0.08), ("DE", 0.08), ("IN", 0.10), ("BR", 0.06), ("FR", 0.05), ("CA", 0.05),
    ("NL", 0.03), ("JP", 0.03), ("AU", 0.03), ("ES", 0.04),
)
CITIES = {
    "US": "Portland", "CA": "Toronto", "GB": "Leeds", "AU": "Brisbane", "SG": "Singapore", "DE": "Leipzig",
    "FR": "Lyon", "NL": "Utrecht", "ES": "Valencia", "IE": "Cork", "IT": "Turin", "JP": "Osaka",
    "IN": "Pune", "BR": "Curitiba",
}

# RFC 5737 documentation networks.
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")

TICKET_SUBJECTS = {
    "question": ("How do I share a dashboard?", "Question about seat billing", "Can we export to Parquet?",
                 "SSO setup question", "How are API limits counted?"),
    "incident": ("Dashboard does not load", "Export stuck at 99%", "Login loop after password reset",
                 "Alerts arrive late"),
    "problem": ("Report numbers differ from the source", "Integration sync fails nightly",
                "Slow queries on large workspaces"),
    "task": ("Please update our billing address", "Add seats before renewal", "Cancel our subscription",
             "Request a VAT invoice"),
}
TICKET_TAGS = ("billing", "bug", "onboarding", "integrations", "performance", "sso", "export", "api")

SITE_PAGES = ("/", "/pricing", "/features", "/blog", "/docs", "/customers", "/security", "/integrations",
              "/signup", "/compare", "/about")
REFERRERS = ("https://www.google.example/", "https://news.example/", "", "https://partner.example/",
             "https://social.example/")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
)
# fmt: on
