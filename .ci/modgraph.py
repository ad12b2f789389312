#!/usr/bin/env python3
"""Top-level module graph of a crate's `src/`, from `crate::` paths; exits 1 on an import cycle.

Usage: modgraph.py SRC_DIR [--edges]. Test code (files named tests.rs, and `#[cfg(test)]` items to
the end of a file) is left out: a test may reach across modules without making production depend so.
"""
import os
import re
import sys

USE = re.compile(r"\buse\s+crate::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)", re.S)
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)\b")


def top_names(group):
    """First-level names of a `{a::b, c, d::{e, f}}` use group."""
    names, depth, cur = [], 0, ""
    for ch in group[1:-1]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(cur)
            cur = ""
            continue
        cur += ch
    names.append(cur)
    return [n.strip().split("::")[0].strip() for n in names if n.strip()]


def production_text(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cut = text.find("#[cfg(test)]")
    text = text if cut < 0 else text[:cut]
    # Comments (docs included) name modules without depending on them.
    return re.sub(r"//[^\n]*", "", text)


def module_of(src, path):
    rel = os.path.relpath(path, src).split(os.sep)
    return rel[0][:-3] if len(rel) == 1 and rel[0].endswith(".rs") else rel[0]


def graph(src):
    mods = {module_of(src, os.path.join(src, e)) for e in os.listdir(src)
            if e.endswith(".rs") or os.path.isdir(os.path.join(src, e))}
    mods -= {"lib", "main"}
    edges = {m: set() for m in mods}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            path = os.path.join(root, name)
            me = module_of(src, path)
            if me not in edges:
                continue
            text = production_text(path)
            found = set(PATH.findall(text))
            for m in USE.finditer(text):
                g = m.group(1)
                found.update(top_names(g) if g.startswith("{") else [g])
            edges[me].update(n for n in found if n in mods and n != me)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    src = sys.argv[1]
    edges = graph(src)
    if "--edges" in sys.argv:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m]))}")
    found = cycles(edges)
    for comp in found:
        pairs = [f"{a}->{b}" for a in comp for b in sorted(edges[a]) if b in comp]
        print(f"{src}: import cycle among {', '.join(comp)}: {'; '.join(pairs)}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
