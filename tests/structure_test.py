#!/usr/bin/env python3
"""Structure rules of the source tree (ctest `structure`):
1. every #include "folder/..." in src/ is the folder itself or one docs/architecture.md allows;
2. no file under src/ is longer than 500 lines;
3. no function in src/train/ or src/model/ is longer than 90 lines (the aim is about 80).
4. the public headers in include/ include only the standard library and each other.
Prints the longest functions it found, so the number is visible in the log."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
MAX_FILE, MAX_FUNC = 500, 90


def allowed_table():
    rows = {}
    for line in open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8"):
        m = re.match(r"\|\s*`src/(\w+)/`\s*\|[^|]*\|\s*([^|]*)\|", line)
        if m:
            deps = m.group(2).strip()
            rows[m.group(1)] = set() if deps in ("-", "") else {d.strip() for d in deps.split(",")}
    return rows


def source_files():
    for d, _, files in os.walk(SRC):
        for f in files:
            if f.endswith((".hpp", ".cpp")):
                yield os.path.join(d, f)


def functions(path):
    """(name, lines, first line) of every function body defined at namespace or class level. A
    small scanner: comments and literals are blanked, then each '{' is classified by the text
    before it (namespace / class / function = a ')' before the brace at namespace or class level)."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\\n])*"', lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', text)
    text = re.sub(r"'(\\.|[^'\\\n])'", "' '", text)
    out, stack, last = [], [], 0
    for i, ch in enumerate(text):
        if ch in ";{}":
            if ch == "{":
                head = text[last:i]
                outer = stack[-1][0] if stack else "namespace"
                if re.search(r"\bnamespace\b", head):
                    kind = "namespace"
                elif re.search(r"\b(class|struct|union|enum)\b", head) and ")" not in head.split("(")[0]:
                    kind = "class"
                elif outer in ("namespace", "class") and ")" in head and not head.strip().startswith("="):
                    kind = "function"
                else:
                    kind = "block"
                stack.append((kind, i, head))
            elif ch == "}" and stack:
                kind, start, head = stack.pop()
                if kind == "function":
                    first = text.count("\n", 0, start - len(head.lstrip("\n \t"))) + 1
                    n = text.count("\n", 0, i) + 1 - first + 1
                    m = re.search(r"([\w:~<>]+)\s*\(", head)
                    out.append((m.group(1) if m else "?", n, first))
            last = i + 1
    return out


def main():
    table = allowed_table()
    errors = []
    for path in source_files():
        rel = os.path.relpath(path, SRC)
        folder = rel.split(os.sep)[0]
        if folder not in table:
            errors.append(f"src/{rel}: folder src/{folder}/ is not in docs/architecture.md's table")
            continue
        text = open(path, encoding="utf-8").read()
        for inc in re.findall(r'#include "([^"]+)"', text):
            dep = inc.split("/")[0]
            if "/" not in inc or dep not in table or dep == folder:
                continue
            if dep not in table[folder]:
                errors.append(f"src/{rel}: includes {inc}, but src/{folder}/ may include only {sorted(table[folder]) or 'nothing'}")
        n = text.count("\n")
        if n > MAX_FILE:
            errors.append(f"src/{rel}: {n} lines (at most {MAX_FILE})")
    # the public headers stand alone: the standard library and each other only
    inc_dir = os.path.join(os.path.dirname(SRC), "include")
    for d, _, files in os.walk(inc_dir):
        for f in files:
            text = open(os.path.join(d, f), encoding="utf-8").read()
            for inc in re.findall(r'#include "([^"]+)"', text):
                if not inc.startswith("wordlm/"):
                    errors.append(f"include/{os.path.relpath(os.path.join(d, f), inc_dir)}: includes internal header {inc}")
    longest = []
    for sub in ("train", "model"):
        for d, _, files in os.walk(os.path.join(SRC, sub)):
            for f in files:
                if f.endswith(".cpp") or f.endswith(".hpp"):
                    p = os.path.join(d, f)
                    for name, n, line in functions(p):
                        longest.append((n, f"src/{sub}/{f}:{line} {name}"))
    longest.sort(reverse=True)
    for n, where in longest[:5]:
        print(f"longest: {n:4d} lines  {where}")
        if n > MAX_FUNC:
            errors.append(f"{where}: a function of {n} lines (at most {MAX_FUNC} in src/train and src/model)")
    for e in errors:
        print("FAIL:", e)
    print(f"structure: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
