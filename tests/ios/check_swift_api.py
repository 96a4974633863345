#!/usr/bin/env python3
"""Checks that the hand-written Swift (TellusKit and the app) calls only what exists in the
Swift bindings uniffi generated from the real library.

There is no Swift compiler here, so this is a small, deliberately strict reader, not a
type checker. From the generated TellusCore.swift it takes every public type with its
methods (and their argument labels and return types), properties (with types), enum
cases (with labels), initialisers and the top-level functions. In the hand-written Swift
(comments and string text removed, string interpolations kept) it checks:

- `GenType.member(...)`: a static method or enum case of that type, with its labels;
- `GenType(...)`: an initialiser of that type with exactly those labels;
- `name.member...` chains where `name` is annotated with a generated type in that file
  (`let app: TellusApp`, `(story: StoryView)`, `var x: ProjectView?`): every step must be
  a member of the type reached so far, calls must use declared labels, and `.case`
  arguments passed where a generated enum is expected must be its cases;
- `switch` over such a chain (or over `self` in an extension of a generated enum), and
  `chain == .case` comparisons: every `.case` must be a case of that enum;
- calls of generated top-level functions use their labels;
- an identifier one or two letters away from a generated type, member or function name
  that is none of them and is not declared in the hand-written code is a misspelling.

What it cannot catch (the Swift compiler on a Mac does): types of arguments, anything
reached through a value whose type is inferred rather than annotated, Apple's own APIs,
overload resolution, and Swift syntax errors in general.

Usage: check_swift_api.py GENERATED.swift HANDWRITTEN.swift... ; exit 1 on any problem.
"""

import re
import sys
from dataclasses import dataclass, field

IDENT = r"`?[A-Za-z_][A-Za-z0-9_]*`?"


def strip_comments_and_strings(text, keep_interpolations=True):
    """Removes comments and the text of string literals (keeping `\\( ... )` interpolations,
    which are code), preserving line breaks so line numbers stay right."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == '"':
            multi = text.startswith('"""', i)
            i += 3 if multi else 1
            out.append('""')
            while i < n:
                if multi and text.startswith('"""', i):
                    i += 3
                    break
                if not multi and text[i] == '"':
                    i += 1
                    break
                if text.startswith("\\(", i):
                    depth, j = 1, i + 2
                    while j < n and depth:
                        depth += {"(": 1, ")": -1}.get(text[j], 0)
                        j += 1
                    inner = text[i + 2 : j - 1]
                    if keep_interpolations:
                        out.append(" (" + strip_comments_and_strings(inner) + ") ")
                    i = j
                    continue
                if text[i] == "\\":
                    i += 2
                    continue
                if text[i] == "\n":
                    out.append("\n")
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(text, start, open_ch, close_ch):
    """Index just past the bracket that closes the one at `start`."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == open_ch:
            depth += 1
        elif text[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def split_top(text, sep=","):
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def param_labels(params):
    """[(label, type)] of a declaration's parameter list; label None for `_`."""
    result = []
    for p in split_top(params):
        p = p.strip()
        if not p or ":" not in p:
            continue
        names, typ = p.split(":", 1)
        names = names.split()
        label = names[0].strip("`") if names else ""
        result.append((None if label == "_" else label, typ.split("=")[0].strip()))
    return result


def base_type(typ):
    """`ProjectView?` → ProjectView; `[X]` and others stay as they are."""
    typ = (typ or "").strip()
    typ = re.sub(r"^(async\s+)?(throws\s+)?", "", typ).strip()
    return typ.rstrip("?!").strip()


@dataclass
class Member:
    kind: str  # func, var, case, init
    labels: tuple = ()
    params: tuple = ()  # ((label, type), ...)
    type: str = ""  # return or property type
    static: bool = False


@dataclass
class TypeDecl:
    name: str
    kind: str
    members: dict = field(default_factory=dict)  # name → [Member]

    def add(self, name, member):
        self.members.setdefault(name.strip("`"), []).append(member)


def declarations_in_body(body):
    """Yields (depth-1 text) of a type body: nested bodies (method bodies) are blanked."""
    out, depth = [], 0
    for ch in body:
        if ch == "{":
            depth += 1
            out.append(ch if depth == 1 else " ")
        elif ch == "}":
            out.append(ch if depth == 1 else " ")
            depth -= 1
        else:
            out.append(ch if depth <= 1 else (" " if ch != "\n" else "\n"))
    return "".join(out)


FUNC_RE = re.compile(
    r"\b(?:(public|open)\s+)?(?:(static|class)\s+)?func\s+(" + IDENT + r")\s*(\()", re.S
)
INIT_RE = re.compile(r"\b(?:public|required public|open)\s+(?:convenience\s+)?init\s*(\()")
VAR_RE = re.compile(r"\bpublic\s+(?:static\s+)?(?:var|let)\s+(" + IDENT + r")\s*:\s*([^\n{=]+)")
CASE_RE = re.compile(r"\bcase\s+(" + IDENT + r")\s*(\()?")


def read_members(decl, body, is_protocol=False):
    level = declarations_in_body(body)
    for m in FUNC_RE.finditer(level):
        if not (m.group(1) or is_protocol):
            continue
        start = m.start(4)
        end = matching(level, start, "(", ")")
        params = param_labels(level[start + 1 : end - 1])
        rest = level[end : end + 200]
        ret = re.match(r"\s*(?:async\s*)?(?:throws\s*)?(?:->\s*([^{\n]+))?", rest)
        decl.add(
            m.group(3),
            Member(
                "func",
                tuple(l for l, _ in params),
                tuple(params),
                (ret.group(1) or "").strip() if ret else "",
                bool(m.group(2)),
            ),
        )
    for m in INIT_RE.finditer(level):
        start = m.start(1)
        end = matching(level, start, "(", ")")
        params = param_labels(level[start + 1 : end - 1])
        decl.add("init", Member("init", tuple(l for l, _ in params), tuple(params), decl.name))
    for m in VAR_RE.finditer(level):
        decl.add(m.group(1), Member("var", type=m.group(2).strip()))
    if decl.kind == "enum":
        for m in CASE_RE.finditer(level):
            params = ()
            if m.group(2):
                start = m.start(2)
                end = matching(level, start, "(", ")")
                params = tuple(param_labels(level[start + 1 : end - 1]))
            decl.add(m.group(1), Member("case", tuple(l for l, _ in params), params, decl.name, True))


TYPE_RE = re.compile(r"\b(public|open)\s+(?:final\s+)?(struct|enum|protocol|class)\s+(" + IDENT + r")")


def parse_generated(text):
    code = strip_comments_and_strings(text)
    types, functions = {}, {}
    spans = []
    for m in TYPE_RE.finditer(code):
        name = m.group(3).strip("`")
        brace = code.find("{", m.end())
        end = matching(code, brace, "{", "}")
        spans.append((m.start(), end))
        decl = types.setdefault(name, TypeDecl(name, m.group(2)))
        read_members(decl, code[brace + 1 : end - 1], m.group(2) == "protocol")
    # Extensions of generated types (e.g. conformances) add nothing public we call; the
    # top-level functions are those outside every type body.
    outside = list(code)
    for s, e in spans:
        for k in range(s, e):
            if outside[k] != "\n":
                outside[k] = " "
    outside = "".join(outside)
    for m in FUNC_RE.finditer(outside):
        if m.group(1) != "public":
            continue
        start = m.start(4)
        end = matching(outside, start, "(", ")")
        params = param_labels(outside[start + 1 : end - 1])
        ret = re.match(r"\s*(?:async\s*)?(?:throws\s*)?(?:->\s*([^{\n]+))?", outside[end : end + 200])
        name = m.group(3).strip("`")
        if name.startswith(("FfiConverter", "uniffi")):
            continue
        functions.setdefault(name, []).append(
            Member("func", tuple(l for l, _ in params), tuple(params), (ret.group(1) or "").strip() if ret else "")
        )
    return types, functions


def call_args(code, open_paren):
    end = matching(code, open_paren, "(", ")")
    args = split_top(code[open_paren + 1 : end - 1])
    labelled = []
    for a in args:
        m = re.match(r"\s*(" + IDENT + r")\s*:(?!:)", a)
        # `label: value`, but not a ternary's `a ? b : c` or a closure's `{ x in ... }`.
        if m and "?" not in a[: m.start(1)] and not a.strip().startswith("{"):
            labelled.append((m.group(1).strip("`"), a[m.end() :]))
        else:
            labelled.append((None, a))
    return labelled, end


class Checker:
    UNIVERSAL = {"self", "hashValue"}

    def __init__(self, types, functions):
        self.types, self.functions = types, functions
        self.problems = []
        self.checked = 0

    def problem(self, path, code, pos, message):
        line = code.count("\n", 0, pos) + 1
        self.problems.append(f"{path}:{line}: {message}")

    def enum_cases(self, typ):
        decl = self.types.get(base_type(typ))
        if decl and decl.kind == "enum":
            return {n for n, ms in decl.members.items() if any(m.kind == "case" for m in ms)}
        return None

    def check_enum_literals(self, path, code, offset, text, typ):
        cases = self.enum_cases(typ)
        if cases is None:
            return
        for m in re.finditer(r"(?<![\w\)\]])\.(" + IDENT + r")", text):
            self.checked += 1
            name = m.group(1).strip("`")
            if name not in cases:
                self.problem(path, code, offset + m.start(), f"{base_type(typ)} has no case .{name}")

    def check_call(self, path, code, pos, open_paren, owner, name, candidates):
        """Labels of a call against the declared signatures `candidates`."""
        args, _ = call_args(code, open_paren)
        labels = tuple(l for l, _ in args)
        self.checked += 1
        # A trailing-closure-free call must match one signature exactly.
        match = [c for c in candidates if tuple(c.labels) == labels]
        if not match:
            shown = " or ".join(f"{name}({''.join((l or '_') + ':' for l in c.labels)})" for c in candidates)
            got = f"{name}({''.join((l or '_') + ':' for l in labels)})"
            self.problem(path, code, pos, f"{owner}{got} does not exist; the generated API has {shown}")
            return
        for (label, value), (plabel, ptype) in zip(args, match[0].params):
            self.check_enum_literals(path, code, open_paren, value, ptype)

    def resolve_chain(self, path, code, start, typ, steps):
        """Walks `.a.b(...)` steps from a value of generated type `typ`."""
        for name, pos, paren in steps:
            if (typ or "").strip().endswith("?") and name in self.OPTIONAL_MEMBERS:
                return None  # Optional's own map/flatMap: the closure is not followed
            typ = base_type(typ)
            decl = self.types.get(typ)
            if decl is None:
                return None
            self.checked += 1
            members = decl.members.get(name)
            if not members:
                if name in self.UNIVERSAL:
                    return None
                self.problem(path, code, pos, f"{typ} has no member '{name}'")
                return None
            if paren is not None and members[0].kind in ("func", "case"):
                self.check_call(path, code, pos, paren, typ + ".", name, members)
            typ = members[0].type
        return typ

    def chain_steps(self, code, pos):
        """The `.name` / `.name(...)` steps following `pos`, skipping `?`/`!`."""
        steps = []
        i = pos
        while True:
            # `x?.y` and `x!.y` are optional chaining; `a ? .b : .c` is a ternary.
            m = re.compile(r"(?:[?!]\.|\s*\.)\s*(" + IDENT + r")").match(code, i)
            if not m:
                break
            name_pos = m.start(1)
            i = m.end()
            paren = None
            p = re.compile(r"\s*\(").match(code, i)
            if p:
                paren = p.end() - 1
                i = matching(code, paren, "(", ")")
            steps.append((m.group(1).strip("`"), name_pos, paren))
            # Subscripts and closures end what this reader can follow.
            if re.compile(r"\s*[\[{]").match(code, i):
                break
        return steps, i

    def typed_names(self, code, handwritten_types, properties_only=False):
        """Names annotated with a generated type in this file (`let app: TellusApp`,
        `(story: StoryView)`, `var form: ConsentFormView?`). A name annotated with
        different types in one file is left out: this reader has no scopes."""
        names, optional = {}, set()
        pattern = r"\b(" + IDENT + r")\s*:\s*(\[?)\s*([A-Z][A-Za-z0-9_]*)\s*\]?\s*([?!]?)(?!\s*[.(])"
        if properties_only:
            pattern = r"\b(?:let|var)\s+" + pattern[2:]
        for m in re.finditer(pattern, code):
            name, typ = m.group(1).strip("`"), m.group(3)
            if m.group(2):
                continue  # arrays: their elements are reached through closures
            names.setdefault(name, set()).add(typ if typ in self.types else None)
            if m.group(4):
                optional.add(name)
        return {
            n: next(iter(t)) + ("?" if n in optional else "")
            for n, t in names.items()
            if len(t) == 1 and None not in t
        }

    OPTIONAL_MEMBERS = {"map", "flatMap"}

    def check_file(self, path, text, handwritten_names, handwritten_types, properties):
        code = strip_comments_and_strings(text)
        typed = self.typed_names(code, handwritten_types)
        ident = re.compile(r"(?<![\w])(" + IDENT + r")")
        for m in ident.finditer(code):
            word = m.group(1).strip("`")
            after = m.end()
            prefix = code[: m.start()].rstrip()
            if prefix.endswith(".") and not re.search(r"[\w?!)\]]$", prefix[:-1]):
                continue  # an implicit member (`.ready`), checked where its type is known
            if prefix.endswith("."):
                # Mid-chain (`row.item.state`): only a property the hand-written code
                # declares (in any file) with a generated type is followed from here.
                before = re.search(r"(" + IDENT + r")\s*[?!]?\s*$", code[: m.start()].rstrip()[:-1])
                owner = before.group(1).strip("`") if before else ""
                # Skipped when what comes before is followed already (a typed name or a
                # generated type): the walk from there checked this step.
                if word in properties and owner not in typed and owner not in self.types:
                    steps, end = self.chain_steps(code, after)
                    typ = self.resolve_chain(path, code, m.start(), properties[word], steps)
                    cmp = re.compile(r"\s*[!=]=\s*(\.\s*" + IDENT + r")").match(code, end)
                    if cmp and typ:
                        self.check_enum_literals(path, code, cmp.start(1), cmp.group(1), typ)
                continue
            if word in self.types:
                nxt = re.compile(r"\s*\(").match(code, after)
                if nxt and self.types[word].kind in ("struct",):
                    inits = self.types[word].members.get("init", [])
                    if inits:
                        self.check_call(path, code, m.start(), nxt.end() - 1, "", word, inits)
                steps, _ = self.chain_steps(code, after)
                if steps:
                    self.resolve_chain(path, code, m.start(), word, steps)
            elif word in typed:
                steps, end = self.chain_steps(code, after)
                typ = self.resolve_chain(path, code, m.start(), typed[word], steps)
                cmp = re.compile(r"\s*[!=]=\s*(\.\s*" + IDENT + r")").match(code, end)
                if cmp and typ:
                    self.check_enum_literals(path, code, cmp.start(1), cmp.group(1), typ)
            elif word in self.functions and not code[:m.start()].rstrip().endswith("func"):
                nxt = re.compile(r"\s*\(").match(code, after)
                if nxt:
                    self.check_call(path, code, m.start(), nxt.end() - 1, "", word, self.functions[word])
            elif word not in handwritten_names and word not in handwritten_types:
                is_call = re.compile(r"\s*\(").match(code, after) is not None
                near = self.misspelling_of(word, is_call)
                if near:
                    self.problem(path, code, m.start(), f"'{word}' is not in the generated API; did you mean '{near}'?")
        self.check_switches(path, code, typed)

    def check_switches(self, path, code, typed):
        extension_of = []
        for m in re.finditer(r"\bextension\s+(" + IDENT + r")[^{]*\{", code):
            end = matching(code, m.end() - 1, "{", "}")
            extension_of.append((m.end(), end, m.group(1).strip("`")))
        for m in re.finditer(r"\bswitch\s+([^{]+)\{", code):
            subject = m.group(1).strip()
            typ = None
            if subject == "self":
                typ = next((t for s, e, t in extension_of if s <= m.start() < e), None)
            else:
                head = re.match(IDENT, subject)
                if head and head.group(0).strip("`") in typed:
                    steps, _ = self.chain_steps(subject, head.end())
                    typ = self.resolve_chain(path, code, m.start(), typed[head.group(0).strip("`")], steps)
            if not typ or self.enum_cases(typ) is None:
                continue
            body_end = matching(code, m.end() - 1, "{", "}")
            body = declarations_in_body(code[m.end() - 1 : body_end])
            for c in re.finditer(r"\bcase\s+([^:]+):", body):
                self.check_enum_literals(path, code, m.end() - 1 + c.start(1), c.group(1), typ)
        # `if case .x = self` in an extension of a generated enum.
        for m in re.finditer(r"\bif\s+case\s+(\.\s*" + IDENT + r")[^=]*=\s*self\b", code):
            typ = next((t for s, e, t in extension_of if s <= m.start() < e), None)
            if typ:
                self.check_enum_literals(path, code, m.start(1), m.group(1), typ)

    def misspelling_of(self, word, is_call):
        """A generated type's name (capitalised words) or top-level function's name (called
        words) misspelt by a letter or two, or in the wrong case."""
        if len(word) < 5:
            return None
        vocabulary = set(self.types) if word[0].isupper() else (set(self.functions) if is_call else set())
        for known in vocabulary:
            if word != known and (word.lower() == known.lower() or (abs(len(known) - len(word)) <= 2 and distance(word, known) <= 2)):
                return known
        return None


def distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def handwritten_declarations(codes, types):
    """Names the hand-written code declares itself (so they are not misspellings), and the
    members it adds to generated types in extensions (so calls to them check)."""
    names, own_types = set(), set()
    for code in codes:
        for m in re.finditer(r"\b(?:func|var|let|case|class|struct|enum|protocol|typealias|actor)\s+(" + IDENT + r")", code):
            names.add(m.group(1).strip("`"))
        for m in re.finditer(r"\b(?:class|struct|enum|protocol|actor)\s+(" + IDENT + r")", code):
            own_types.add(m.group(1).strip("`"))
        for m in re.finditer(r"[({,]\s*(" + IDENT + r")\s*:", code):
            names.add(m.group(1).strip("`"))
        for m in re.finditer(r"\blet\s*\(\s*([^)]*)\)|\b(?:let|var)\s+(" + IDENT + r")", code):
            for n in re.findall(IDENT, m.group(0)):
                names.add(n.strip("`"))
        for m in re.finditer(r"\bextension\s+(" + IDENT + r")[^{]*\{", code):
            decl = types.get(m.group(1).strip("`"))
            if decl is None:
                continue
            end = matching(code, m.end() - 1, "{", "}")
            level = declarations_in_body(code[m.end() - 1 : end])
            for v in re.finditer(r"\b(?:public\s+)?(?:static\s+)?var\s+(" + IDENT + r")\s*:\s*([^\n{=]+)", level):
                decl.add(v.group(1), Member("var", type=v.group(2).strip()))
            for f in re.finditer(r"\bfunc\s+(" + IDENT + r")\s*\(", level):
                start = f.end() - 1
                params = param_labels(level[start + 1 : matching(level, start, "(", ")") - 1])
                decl.add(f.group(1), Member("func", tuple(l for l, _ in params), tuple(params)))
    return names, own_types


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        types, functions = parse_generated(f.read())
    sources = {}
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            sources[path] = f.read()
    names, own_types = handwritten_declarations(
        [strip_comments_and_strings(t) for t in sources.values()], types
    )
    checker = Checker(types, functions)
    everything = "\n".join(strip_comments_and_strings(t) for t in sources.values())
    properties = checker.typed_names(everything, own_types, properties_only=True)
    for path, text in sources.items():
        checker.check_file(path, text, names, own_types, properties)
    for p in checker.problems:
        print(p)
    print(
        f"checked {checker.checked} uses of the generated API ({len(types)} types, "
        f"{len(functions)} functions) in {len(sources)} files: {len(checker.problems)} problems"
    )
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
