#!/usr/bin/env python3
"""signage.py — the code's signposts say what the code does.

A newcomer reads the comments at the top of each file and the man pages
first; when they name things that are gone, or leave out what is there,
they mislead. Checked here, over common/, daemon/, clients/ and the man
pages (each check prints "ok - ..." or "not ok - ..."; the last line is
"signage: N passed, N failed"):
  1. every dv_*/ctl_*/itest_* name in a comment is a function, macro or
     file (module) of the code;
  2. every field of a struct in daemon/ and common/ headers is read
     somewhere (a field only ever written is dead state);
  3. every command the store actor sends over its pipe is listed in
     daemon/store.h;
  4. every request type the codec accepts is named in divertd(8) and
     divertd.conf(5).
Usage: signage.py REPO_ROOT
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what)


def sources(dirs, exts=(".c", ".h")):
    out = {}
    for d in dirs:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for name in names:
                if name.endswith(exts):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8", errors="replace") as f:
                        out[os.path.relpath(path, root)] = f.read()
    return out


code = sources(["common", "daemon", "clients", "tests/support"])

# 1. names in comments exist
defined = set()
for path, text in code.items():
    defined.add(os.path.splitext(os.path.basename(path))[0])
    defined.update(re.findall(r"^\s*([a-z_][a-z0-9_]*) \(", text, re.M))
    defined.update(re.findall(r"#define\s+([A-Za-z_][A-Za-z0-9_]*)", text))
    defined.update(re.findall(r"([a-z_][a-z0-9_]*)\s*(?:\[[^\]]*\])?\s*[;=]", text))
named = {}
for path, text in code.items():
    comments = " ".join(re.findall(r"/\*.*?\*/", text, re.S) + re.findall(r"//[^\n]*", text))
    for name in set(re.findall(r"\b((?:dv|ctl|itest)_[a-z0-9_]+)\b", comments)):
        if not name.endswith("_t"):
            named.setdefault(name, []).append(path)
for name, paths in sorted(named.items()):
    check(name in defined, "%s, named in %s, exists" % (name, ", ".join(sorted(paths))))

# 2. struct fields are read
flat = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', "\n".join(code.values()))
flat = re.sub(r"//[^\n]*", "", flat)
for path, text in sorted(code.items()):
    if not (path.startswith("daemon/") or path.startswith("common/")) or not path.endswith(".h"):
        continue
    for body in re.findall(r"typedef struct\s*\w*\s*\{(.*?)\}\s*\w+;", text, re.S):
        body = re.sub(r"//[^\n]*", "", body)
        for decl in body.split(";"):
            m = re.search(r"([a-z_][a-z0-9_]*)\s*(\[[^\]]*\])*\s*$", decl.strip())
            if not m:
                continue
            field = m.group(1)
            reads = [x for x in re.finditer(r"(->|\.)" + field + r"\b(?!(\s*\[[^\]]*\])?\s*=[^=])", flat)
                     if not flat[flat.rfind("\n", 0, x.start()) + 1:x.start()].strip().startswith("free (")]
            check(len(reads) > 0, "%s: field %s is read somewhere" % (path, field))

# 3. the store's pipe commands are documented
store_h = code.get("daemon/store.h", "")
for command in sorted(set(re.findall(r'zsock_send \(self->pipe, "[a-z]+", "([A-Z_]+)"', code.get("daemon/store.c", "")))):
    check(re.search(r"\b%s\b" % command, store_h) is not None, "store.h lists the pipe command %s" % command)

# 4. the man pages name every request type
request_c = code.get("common/dv_request.c", "")
types = re.search(r"s_type_names \[\] = \{([^}]*)\}", request_c)
types = re.findall(r'"([a-z_]+)"', types.group(1)) if types else []
check(len(types) >= 5, "the codec's request types were found (%d)" % len(types))
for page in ("deploy/man/divertd.8", "deploy/man/divertd.conf.5"):
    with open(os.path.join(root, page), encoding="utf-8") as f:
        text = re.sub(r"\\f[BIRP]|\\-", "", f.read())
    for name in types:
        check(re.search(r"\b%s\b" % re.escape(name), text) is not None, "%s names the %s request" % (page, name))

print("signage: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
