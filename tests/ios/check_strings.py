#!/usr/bin/env python3
"""Checks that every word the iOS app shows is in its String Catalog with a Spanish
translation (ios/App/Localizable.xcstrings; Spanish is the second language, as on Android).

Reads the hand-written Swift (ios/App and TellusKit's Wording.swift) for the literals
SwiftUI localizes: the first string argument of Text, Button, Section, Toggle, TextField,
Label, Picker, ContentUnavailableView, .navigationTitle, .accessibilityLabel, .confirmationDialog,
and String(localized:). An interpolation becomes %lld when it is `Int(...)` and %@ otherwise
(the app converts numbers with Int(...) so that the key is known). Every key must be in the
catalog with an "es" string unit whose placeholders match; a catalog key no code uses is
reported too.

Usage: check_strings.py CATALOG SWIFT... ; prints the problems, exit 1 on any.
"""

import json
import re
import sys

CALLS = (
    r"(?:\bText|\bButton|\bSection|\bToggle|\bTextField|\bLabel|\bPicker|\bContentUnavailableView|"
    r"\.navigationTitle|\.accessibilityLabel|\.confirmationDialog)\(\s*"
)
LOCALIZED = r"String\(localized:\s*"


def literals(text):
    """Yields the string literals (with their interpolations) that follow a localizing call."""
    for m in re.finditer(f"(?:{CALLS}|{LOCALIZED})\"", text):
        i, depth, out = m.end(), 0, []
        while i < len(text):
            c = text[i]
            if depth == 0 and c == '"':
                break
            if text.startswith("\\(", i) and depth == 0:
                depth, i = 1, i + 2
                out.append("\\(")
                continue
            if depth:
                depth += {"(": 1, ")": -1}.get(c, 0)
            if c == "\\" and depth == 0 and i + 1 < len(text):
                out.append(text[i : i + 2])
                i += 2
                continue
            out.append(c)
            i += 1
        yield "".join(out), text.count("\n", 0, m.start()) + 1


def key_of(literal):
    """The catalog key Xcode extracts: interpolations become format specifiers."""
    out, i = [], 0
    while i < len(literal):
        if literal.startswith("\\(", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"(": 1, ")": -1}.get(literal[j], 0)
                j += 1
            expr = literal[i + 2 : j - 1].strip()
            out.append("%lld" if expr.startswith("Int(") else "%@")
            i = j
        elif literal.startswith('\\"', i):
            out.append('"')
            i += 2
        else:
            out.append(literal[i].replace("%", "%%") if not literal.startswith("%", i) else "%%")
            i += 1
    return "".join(out)


def placeholders(text):
    return sorted(re.findall(r"%(?:\d+\$)?(?:lld|@)", text))


def main(catalog_path, sources):
    catalog = json.load(open(catalog_path, encoding="utf-8"))
    strings = catalog.get("strings", {})
    problems, used = [], set()
    for path in sources:
        text = open(path, encoding="utf-8").read()
        for literal, line in literals(text):
            key = key_of(literal)
            if not re.search(r"[A-Za-z]", key):
                continue  # punctuation or a bare value: nothing to translate
            used.add(key)
            entry = strings.get(key)
            es = (entry or {}).get("localizations", {}).get("es", {}).get("stringUnit", {})
            if entry is None:
                problems.append(f"{path}:{line}: not in the catalog: {key!r}")
            elif not es.get("value") or es.get("state") != "translated":
                problems.append(f"{path}:{line}: no Spanish for {key!r}")
            elif placeholders(es["value"]) != placeholders(key):
                problems.append(f"{path}:{line}: placeholders differ in Spanish for {key!r}")
    for key in strings:
        if key not in used:
            problems.append(f"{catalog_path}: no code uses {key!r}")
    print("\n".join(problems))
    print(f"{len(used)} keys used, {len(strings)} in the catalog, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
