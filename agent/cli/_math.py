"""LaTeX maths in an answer, as a terminal can show it: ``\\( \\frac{a}{b} \\times 3 \\)`` ->
``a/b × 3``.

Small models (Qwen2.5-Coder) write their working in LaTeX, and the REPL printed it raw:
``\\[ P = \\frac{R}{2} \\]``. Only what stands between maths delimiters (``\\( \\)``,
``\\[ \\]``, ``$$ $$``) is rewritten, never code, and only for the screen: the answer itself
(``RunResult.answer``, ``--json``) keeps the model's text.
"""

from __future__ import annotations

import re

# \( ... \), \[ ... \] and $$ ... $$, outside code (``` blocks and `spans` are matched first,
# and kept as they are).
_SPANS = re.compile(
    r"(?P<code>```.*?```|`[^`\n]*`)"
    r"|\\\((?P<inline>.+?)\\\)"
    r"|\\\[(?P<display>.+?)\\\]"
    r"|\$\$(?P<dollars>.+?)\$\$",
    re.DOTALL,
)
_SYMBOLS = {
    "times": "×",
    "cdot": "·",
    "div": "÷",
    "pm": "±",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "ne": "≠",
    "approx": "≈",
    "infty": "∞",
    "ldots": "…",
    "cdots": "…",
    "dots": "…",
    "rightarrow": "→",
    "to": "→",
    "implies": "⇒",
    "pi": "π",
    "circ": "°",
    "quad": "  ",
    "qquad": "    ",
}
_SPACED = {"times", "cdot", "div", "pm", "leq", "le", "geq", "ge", "neq", "ne", "approx"}
_SPACED |= {"rightarrow", "to", "implies"}
_UNWRAP = ("text", "textbf", "mathrm", "mathbf", "boxed", "operatorname", "mbox")
_COMMAND = re.compile(r"\\([A-Za-z]+)\s*")
_SIMPLE = re.compile(r"[\w.,]+")  # a numerator or denominator that needs no parentheses


def _group(text: str, start: int) -> tuple[str, int] | None:
    """The ``{...}`` group at ``start`` (spaces before it skipped): its inside and the index
    after it; ``None`` when there is no balanced group there."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j], j + 1
    return None


def _operand(text: str) -> str:
    return text if _SIMPLE.fullmatch(text) else f"({text})"


def _math(tex: str) -> str:
    """One maths span as plain text."""
    out: list[str] = []
    i = 0
    while i < len(tex):
        found = _COMMAND.match(tex, i) if tex[i] == "\\" else None
        if found is None:
            if tex.startswith(("\\,", "\\;", "\\!", "\\ "), i):
                out.append(" " if tex[i + 1] != "!" else "")
                i += 2
            elif tex.startswith(("\\%", "\\$", "\\{", "\\}", "\\_", "\\#"), i):
                out.append(tex[i + 1])
                i += 2
            else:
                out.append(tex[i])
                i += 1
            continue
        name, end = found.group(1), found.end()
        if name in ("frac", "dfrac", "tfrac"):
            top = _group(tex, end)
            bottom = _group(tex, top[1]) if top else None
            if top and bottom:
                out.append(f"{_operand(_math(top[0]))}/{_operand(_math(bottom[0]))}")
                i = bottom[1]
                continue
        elif name == "sqrt" and (inner := _group(tex, end)):
            out.append(f"√{_operand(_math(inner[0]))}")
            i = inner[1]
            continue
        elif name in _UNWRAP and (inner := _group(tex, end)):
            out.append(_math(inner[0]))
            i = inner[1]
            continue
        elif name in ("left", "right", "displaystyle"):
            i = found.end()
            continue
        elif name in _SYMBOLS:
            symbol = _SYMBOLS[name]
            out.append(f" {symbol} " if name in _SPACED else symbol)
            i = found.end()
            continue
        out.append(tex[i:end])  # a command we do not know: as written
        i = end
    text = "".join(out).replace("^{\\circ}", "°").replace("^°", "°")
    return re.sub(r" {2,}(?=\S)", " ", text).strip()


def plain_math(text: str) -> str:
    """``text`` with its LaTeX maths spans as plain text; code and the rest as written."""
    if "\\" not in text and "$$" not in text:
        return text

    def one(found: re.Match[str]) -> str:
        if found.group("code") is not None:
            return found.group(0)
        if found.group("inline") is not None:
            return _math(found.group("inline"))
        return _math(found.group("display") or found.group("dollars"))

    return _SPANS.sub(one, text)
