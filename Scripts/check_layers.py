#!/usr/bin/env python3
"""Checks that each part of Sources/KeypointKit uses only what docs/ARCHITECTURE.md allows.

A part is a folder of Sources/KeypointKit ("(root)" for the files directly in it). The table
under "## What each part may use" lists, per part, the other parts and C modules it may use;
every part may use the root. A use is a name declared at the top level of another part (type,
function, extension-free declaration) appearing in a file's code (comments and string literals
removed), or an `import` of a C module. Prints each violation; exits 1 if there is any.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIBRARY = os.path.join(ROOT, "Sources", "KeypointKit")
C_MODULES = {"CImageShims", "CVideoShims", "CConvKernels", "CBundledModels"}


def allowed_uses():
    text = open(os.path.join(ROOT, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    section = text.split("## What each part may use", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("Part", "") or set(cells[0]) <= {"-"}:
            continue
        table[cells[0]] = {name.strip() for name in cells[1].split(",") if name.strip()}
    return table


def code_only(source):
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r'"""(.*?)"""', '""', source, flags=re.S)
    source = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', source)
    return re.sub(r"//[^\n]*", "", source)


def part_files():
    for folder, _, files in os.walk(LIBRARY):
        part = os.path.relpath(folder, LIBRARY)
        part = "(root)" if part == "." else part
        for name in sorted(files):
            if name.endswith(".swift"):
                yield part, os.path.join(folder, name)


def main():
    table = allowed_uses()
    declared = {}
    sources = []
    for part, path in part_files():
        code = code_only(open(path, encoding="utf-8").read())
        sources.append((part, path, code))
        pattern = r"^(?:@\w+(?:\([^)]*\))? )*(?:public |internal |final |open )*(?:struct|enum|class|protocol|func|typealias|let|var) (\w+)"
        for match in re.finditer(pattern, code, re.M):
            declared.setdefault(match.group(1), part)
    problems = []
    for part, path, code in sources:
        if part not in table:
            problems.append(f"{path}: part '{part}' is not in docs/ARCHITECTURE.md's table")
            continue
        allowed = table[part] | {part, "(root)"}
        for module in re.findall(r"^import (\w+)", code, re.M):
            if module in C_MODULES and module not in allowed:
                problems.append(f"{os.path.relpath(path, ROOT)}: imports {module}")
        for name, owner in declared.items():
            if owner not in allowed and re.search(r"\b" + re.escape(name) + r"\b", code):
                problems.append(f"{os.path.relpath(path, ROOT)}: uses {name} of {owner}")
    for problem in problems:
        print(problem)
    print(f"check_layers: {len(sources)} files, {len(problems)} uses outside docs/ARCHITECTURE.md's table")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
