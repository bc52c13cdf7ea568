"""HTML pieces: every text that comes from a report is escaped here, once."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Html:
    """Markup that is already safe (built here); plain `str` is always escaped."""

    markup: str


Content = str | Html | Sequence["str | Html"]


def render(content: Content) -> str:
    if isinstance(content, Html):
        return content.markup
    if isinstance(content, str):
        return html.escape(content)
    return "".join(render(part) for part in content)


def element(tag: str, content: Content = "", attributes: Mapping[str, str] | None = None) -> Html:
    """`<tag a="v">content</tag>`; tag names are ours, attribute values are escaped."""
    attrs = "".join(
        f' {name}="{html.escape(value, quote=True)}"' for name, value in (attributes or {}).items()
    )
    return Html(f"<{tag}{attrs}>{render(content)}</{tag}>")


@dataclass(frozen=True)
class Cell:
    text: str
    css_class: str = ""


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], css_class: str = "") -> Html:
    head = element("tr", [element("th", header) for header in headers])
    body = [
        element(
            "tr",
            [
                element("td", cell.text, {"class": cell.css_class} if cell.css_class else None)
                for cell in row
            ],
        )
        for row in rows
    ]
    return element(
        "table",
        [element("thead", head), element("tbody", body)],
        {"class": css_class} if css_class else None,
    )


def bullet_list(items: Sequence[str]) -> Html:
    return element("ul", [element("li", item) for item in items])
