#!/usr/bin/env python3
"""check_layer_links.py — the link side of the layer rule (docs/ARCHITECTURE.md): no library calls
a function defined in a library it does not link (directly or through the libraries it links).
An include of a higher layer does not compile; this catches the rest: a call to a function that a
lower header declares but a higher library defines. Reads the built static libraries with nm.
Usage: check_layer_links.py NAME=ARCHIVE=LINKED[,LINKED...] ...   (from validation/CMakeLists.txt:
the CMake targets' files and LINK_LIBRARIES). Exit 0 when every call goes downward."""
import subprocess
import sys

libs, links = {}, {}
for arg in sys.argv[1:]:
    name, archive, linked = arg.split("=", 2)
    libs[name] = archive
    links[name] = [x for x in linked.split(",") if x]


def below(name):
    out, todo = {name}, [name]
    while todo:
        for d in links.get(todo.pop(), []):
            if d in libs and d not in out:
                out.add(d)
                todo.append(d)
    return out


defined, undefined = {}, {}
for name, archive in libs.items():
    nm = subprocess.run(["nm", "-g", archive], capture_output=True, text=True, check=True).stdout
    undefined[name] = set()
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBRCV":
            defined[f[2]] = name
        elif len(f) == 2 and f[0] == "U":
            undefined[name].add(f[1])
bad = 0
for name in sorted(libs):
    ok = below(name)
    for sym in sorted(undefined[name]):
        owner = defined.get(sym)
        if owner and owner not in ok:
            print(f"{name} calls {sym} of {owner}, which it does not link")
            bad += 1
print(f"check_layer_links: {len(libs)} libraries, {bad} call(s) outside the link graph")
sys.exit(1 if bad else 0)
