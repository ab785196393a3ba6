"""The console's languages: gettext catalogues (locales/<lang>/LC_MESSAGES/console.po) read
with Babel and handed to Jinja2's i18n extension, so every label lives in a catalogue.

The message ids are keys (`inbox.title`), not English sentences: the English catalogue is a
translation like the Chinese one, and a test checks that every key a template uses exists in
both. The .po files are compiled in memory at start (Babel's mofile writer), so no compiled
.mo file is committed beside its source.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "console"
DEFAULT = "zh-CN"
# The tag a page names (<html lang>, ?lang=, the cookie) -> the catalogue's directory.
LANGUAGES: dict[str, str] = {"zh-CN": "zh_CN", "en": "en"}
COOKIE = "homeward_console_lang"


@dataclass(frozen=True)
class Language:
    tag: str
    translations: gettext.GNUTranslations

    def gettext(self, key: str) -> str:
        return self.translations.gettext(key)


def catalogue_path(tag: str) -> Path:
    return LOCALES_DIR / LANGUAGES[tag] / "LC_MESSAGES" / f"{DOMAIN}.po"


def keys(tag: str) -> dict[str, str]:
    """Every key of a language's catalogue with its (non-empty) translation."""
    with catalogue_path(tag).open("rb") as f:
        catalog = read_po(f, locale=LANGUAGES[tag])
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@lru_cache(maxsize=len(LANGUAGES))
def language(tag: str) -> Language:
    with catalogue_path(tag).open("rb") as f:
        catalog = read_po(f, locale=LANGUAGES[tag])
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Language(tag, gettext.GNUTranslations(buf))


def choose(query: str | None, cookie: str | None) -> str:
    """?lang= first (a link switches and the cookie remembers), then the cookie, then zh-CN."""
    for wanted in (query, cookie):
        if wanted in LANGUAGES:
            return wanted
    return DEFAULT
