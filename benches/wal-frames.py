#!/usr/bin/env python3
"""What an intake commit writes: the pages of each commit in a copy of a SQLite WAL, by table.

    python3 benches/wal-frames.py DB WAL_COPY [COMMITS]

DB is the live database (read for its page map through SQLite's dbstat), WAL_COPY a copy of its
-wal file taken while pdgate ran (`load.sh` does both with WAL_FRAMES=1). Prints the frames per
commit of the last COMMITS commits (default 200) and the mean frames per commit for each table
or index and page type. Frames are whole 4 KiB pages: what a commit writes, and the checkpoint
writes again.
"""
import collections
import sqlite3
import struct
import sys


def commits(wal):
    """The page numbers of each commit still valid in the WAL (its current salt)."""
    page_size = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    out, cur, off = [], [], 32
    while off + 24 + page_size <= len(wal):
        header = wal[off:off + 24]
        if header[8:16] != salt:
            break
        page, commit = struct.unpack(">II", header[:8])
        cur.append(page)
        off += 24 + page_size
        if commit:
            out.append(cur)
            cur = []
    return out


def main():
    db, wal_copy = sys.argv[1], sys.argv[2]
    last = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    names = {p: (n, t) for p, n, t in con.execute("SELECT pageno, name, pagetype FROM dbstat")}
    con.close()
    with open(wal_copy, "rb") as f:
        found = commits(f.read())[-last:]
    if not found:
        print("no complete commit in the WAL copy")
        return
    sizes = sorted(len(c) for c in found)
    print(f"{len(found)} commits: frames per commit mean {sum(sizes) / len(sizes):.1f}, "
          f"median {sizes[len(sizes) // 2]}, max {sizes[-1]}")
    count = collections.Counter(names.get(p, ("(freed or new)", "")) for c in found for p in c)
    print("| table or index | page type | frames per commit |")
    print("|---|---|---|")
    for (name, kind), n in count.most_common(14):
        print(f"| {name} | {kind} | {n / len(found):.1f} |")


if __name__ == "__main__":
    main()
