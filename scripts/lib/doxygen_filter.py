#!/usr/bin/python3
"""Doxygen input filter (docs/Doxyfile): shows the headers' plain // comments to doxygen as documentation.
Line 1 (the header's one-line purpose) becomes the file's brief; a run of whole-line // comments becomes a ///
block for the declaration below it; `member;  // text` becomes `member;  ///< text`. Comment text is escaped
(&, <, >, \\, @, #, %, ::) outside `code spans` so doxygen prints it as written instead of reading it as markup.
Keeps the line count, so warnings point at the header's own lines."""
import re
import sys

SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "@": "\\@", "#": "\\#", "%": "\\%"}


def escape(text):
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: escape everything
        parts = [text.replace("`", "'")]
    # "a::b" would be an explicit link request to doxygen, an error when b is not documented: shown as text.
    plain = lambda p: "".join(SPECIAL.get(c, c) for c in p).replace("::", "\\::")
    return "`".join(p if i % 2 else plain(p) for i, p in enumerate(parts))


WHOLE = re.compile(r"^(\s*)//(?!/)\s?(.*)$")
# A declaration ending in ; or , (a member, an enumerator) followed by a comment; not inside string literals.
TRAILING = re.compile(r'^([^"/]*[;,])(\s*)//(?!/)\s?(.*)$')


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, file_doc = [], ""
    for n, line in enumerate(lines):
        m = WHOLE.match(line)
        if n == 0 and m:  # the purpose line: moved to a \file block at the end, so line numbers stay
            out.append("")
            file_doc = "/** \\file\n \\brief " + escape(m.group(2)) + " */"
            continue
        if m:
            out.append(m.group(1) + "/// " + escape(m.group(2)))
            continue
        t = TRAILING.match(line)
        if t and t.group(1).strip():
            out.append(t.group(1) + t.group(2) + "///< " + escape(t.group(3)))
            continue
        out.append(line)
    sys.stdout.write("\n".join(out) + "\n" + file_doc + "\n")


if __name__ == "__main__":
    main()
