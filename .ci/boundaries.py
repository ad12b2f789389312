#!/usr/bin/env python3
"""The workspace's crate boundaries, read from `cargo metadata`; exits 1 when one is crossed.

- pdgate-core reaches no I/O crate (hyper, sqlx, tokio), not even through another dependency;
- each workspace crate depends only on the workspace crates listed for it below, so the
  dependencies point one way: core <- store <- http <- app <- gateway, admin <- pdgate (the
  binary); the gateway edge and the admin API never reach each other.
"""
import json
import subprocess
import sys

NO_IO = {"pdgate-core"}
FORBIDDEN = ("hyper", "sqlx", "tokio")
ALLOWED = {
    "pdgate-core": set(),
    "pdgate-store": {"pdgate-core"},
    "pdgate-http": {"pdgate-core", "pdgate-store"},
    "pdgate-app": {"pdgate-core", "pdgate-store", "pdgate-http"},
    "pdgate-gateway": {"pdgate-core", "pdgate-store", "pdgate-http", "pdgate-app"},
    "pdgate-admin": {"pdgate-core", "pdgate-store", "pdgate-http", "pdgate-app"},
    "pdgate": {"pdgate-core", "pdgate-store", "pdgate-http", "pdgate-app", "pdgate-gateway",
               "pdgate-admin"},
    # Dev-only: the integration tests' kit, on top of everything.
    "pdgate-testkit": {"pdgate", "pdgate-core", "pdgate-store", "pdgate-http"},
}


def main():
    host = next(l.split()[1] for l in subprocess.check_output(
        ["rustc", "-vV"], text=True).splitlines() if l.startswith("host:"))
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host]))
    names = {p["id"]: p["name"] for p in meta["packages"]}
    members = {names[i] for i in meta["workspace_members"]}
    normal = {}
    for node in meta["resolve"]["nodes"]:
        normal[node["id"]] = [
            d["pkg"] for d in node["deps"]
            if any(k["kind"] is None for k in d["dep_kinds"])
        ]
    failures = []
    for member in sorted(members - set(ALLOWED)):
        failures.append(f"{member}: a workspace crate .ci/boundaries.py does not know")
    for node_id, deps in normal.items():
        name = names[node_id]
        if name not in members:
            continue
        inner = {names[d] for d in deps if names[d] in members}
        for extra in sorted(inner - ALLOWED.get(name, set())):
            failures.append(f"{name} depends on {extra}: dependencies must point one way")
        if name in NO_IO:
            reached, todo = set(), list(deps)
            while todo:
                d = todo.pop()
                if d in reached:
                    continue
                reached.add(d)
                todo.extend(normal.get(d, []))
            bad = sorted({names[d] for d in reached if names[d].startswith(FORBIDDEN)})
            if bad:
                failures.append(f"{name} reaches I/O crates: {', '.join(bad)}")
    for f in failures:
        print(f)
    print(f"crate boundaries: {len(members)} workspace crates, {len(failures)} problem(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
