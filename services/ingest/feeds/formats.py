"""The formats feeds come in, read into FeedAdIn fields (shared/schemas.py).

- schema.org JobPosting, one JSON object a line, as job boards publish it for search engines
  (https://schema.org/JobPosting): title, description (often HTML), datePosted, url,
  hiringOrganization (an Organization or a name), applicationContact (a ContactPoint),
  telephone, jobLocation (a Place with a PostalAddress), identifier.
- CSV as common job scrapers write it (JobSpy and its kind): title, company, location, job_url,
  description, site, date_posted; emails and company_url when present. Other columns are ignored.

Reading is lenient about shape (a field that is a list or a string where an object was meant)
and strict about values: what cannot be a phone number stays in the ad's text, where the
matcher still reads it, instead of failing the ad.
"""
from __future__ import annotations

import html
import re
from typing import Any

from shared.phones import phone_key

CSV_COLUMNS = ("title", "company", "location", "job_url", "description", "site", "date_posted")
# Any one of these makes a CSV a feed of ads; without all of them there is nothing to screen
CSV_NEEDS_ONE_OF = ("title", "description", "job_url")

_BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(value: str) -> str:
    """Ad descriptions arrive as HTML fragments: their text, one line a block."""
    if "<" not in value and "&" not in value:
        return value.strip()
    text = _ANY_TAG.sub(" ", _BLOCK_TAG.sub("\n", value))
    text = _SPACES.sub(" ", html.unescape(text))
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def is_jobposting(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    kind = obj.get("@type")
    return kind == "JobPosting" or (isinstance(kind, list) and "JobPosting" in kind)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _text(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("value") or value.get("@value")
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _place(location: Any) -> tuple[str | None, str | None]:
    """(locality and region as written, country) of a jobLocation."""
    place = _first(location)
    if not isinstance(place, dict):
        return _text(place), None
    address = place.get("address", place)
    if not isinstance(address, dict):
        return _text(address), None
    parts = [_text(address.get(k)) for k in ("addressLocality", "addressRegion")]
    return ", ".join(p for p in parts if p) or None, _text(address.get("addressCountry"))


def _contacts(obj: dict) -> tuple[list[str], list[str], list[str]]:
    """(phones, emails, what could not be read as either) from the posting's contact points."""
    phones, emails, other = [], [], []
    points = _as_list(obj.get("applicationContact")) + _as_list(obj.get("hiringOrganization"))
    written = [obj.get("telephone"), *(p.get("telephone") for p in points if isinstance(p, dict))]
    for value in written:
        for number in _as_list(value):
            number = _text(number)
            if number:
                (phones if phone_key(number) else other).append(number)
    for point in [obj, *points]:
        if isinstance(point, dict):
            for address in _as_list(point.get("email")):
                address = (_text(address) or "").removeprefix("mailto:")
                if address:
                    emails.append(address)
    return phones, emails, other


def from_jobposting(obj: dict) -> dict:
    """A JobPosting object as FeedAdIn fields."""
    organization = obj.get("hiringOrganization")
    location, country = _place(obj.get("jobLocation"))
    phones, emails, other = _contacts(obj)
    description = html_to_text(_text(obj.get("description")) or "")
    if other:  # a contact that is no valid number still belongs to the ad; the matcher reads text
        description = (description + "\n\n" + " ".join(other)).strip()
    organization_url = _text(organization.get("sameAs") or organization.get("url")) if isinstance(organization, dict) else None
    ad = {
        "url": _text(obj.get("url")),
        "title": _text(obj.get("title")),
        "description": description,
        "company": _text(organization),
        "location": location,
        "country": country,
        "posted_at": _text(obj.get("datePosted")),
        "external_id": _text(obj.get("identifier")),
        "phones": phones,
        "emails": emails,
        "urls": [organization_url] if organization_url else [],
    }
    return {k: v for k, v in ad.items() if v not in (None, "", [])}


def from_csv_row(row: dict[str, str | None]) -> dict:
    """A scraper's CSV row as FeedAdIn fields."""
    def cell(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    ad = {
        "url": cell("job_url") or cell("job_url_direct"),
        "title": cell("title"),
        "description": html_to_text(cell("description") or ""),
        "company": cell("company"),
        "location": cell("location"),
        "site": cell("site"),
        "posted_at": cell("date_posted"),
        "external_id": cell("id"),
        "emails": [e.strip() for e in (cell("emails") or "").split(",") if e.strip()],
        "urls": [u for u in (cell("company_url"),) if u],
    }
    return {k: v for k, v in ad.items() if v not in (None, "", [])}
