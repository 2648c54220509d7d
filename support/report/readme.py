"""README.md's generated blocks: the question index in English and Chinese and the tables of claims with their
verdicts, each between its markers, generated from the registry.

    python -m support.report.readme --write README.md   # regenerate README's blocks
    python -m support.report.readme --check README.md   # exit 1, naming the blocks, when they are out of date

A self-test (tests/test_readme.py) fails when README's blocks differ from what the registry generates.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from support.claims.schema import ClaimRegistry, Part, Verdict, module_file
from support.errors import SpecInputError
from support.report.questions import module_path, question_index
from support.report.text import part_heading

WRITE_COMMAND = "python -m support.report.readme --write README.md"
# where the claims report of each language lives, relative to the README
REPORT = {"en": "docs/report/README.md", "zh": "docs/report-zh/README.md"}


def question_rows(registry: ClaimRegistry, lang: str) -> list[str]:
    """The index as README.md shows it: claims linked into the claims report of that language, tests into spec/."""
    return question_index(
        registry.values(), lang, claim_href=lambda claim_id: f"{REPORT[lang]}#{claim_id}", test_href=module_path
    )


def claim_tables(registry: ClaimRegistry) -> list[str]:
    """The claims by part with their verdicts and test modules, after a line of counts."""
    claims = list(registry.values())
    verdicts = ", ".join(f"{sum(c.verdict is v for c in claims)} {v.value}" for v in Verdict)
    counts = [f"{len(registry.by_part(p))} from part {p.number}" for p in Part if p.in_source]
    counts[0] += " of the source"
    beyond = len(registry.by_part(Part.BEYOND))
    line = f"{len(claims)} claims: {verdicts}; {', '.join(counts)}, and {beyond} beyond the source."
    out = textwrap.wrap(line, width=118) + [""]
    for part in Part:
        members = registry.by_part(part)
        if not members:
            continue
        out += [f"**{part_heading(part, 'en')}**", "", "| claim | verdict | test module |", "|---|---|---|"]
        out += [
            f"| [`{c.id}`]({REPORT['en']}#{c.id}) | {c.verdict.value} | [`{module_file(c.id)}`]({module_path(c)}) |"
            for c in members
        ]
        out.append("")
    return out


def readme_blocks(registry: ClaimRegistry) -> dict[str, str]:
    """README.md's generated blocks by name: the question index in English and Chinese, and the claims tables."""
    return {
        "questions": "\n".join(question_rows(registry, "en")).rstrip(),
        "questions-zh": "\n".join(question_rows(registry, "zh")).rstrip(),
        "claims": "\n".join(claim_tables(registry)).rstrip(),
    }


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- BEGIN {name}: generated from support/claims by `{WRITE_COMMAND}` -->", f"<!-- END {name} -->")


def update_readme(text: str, registry: ClaimRegistry) -> str:
    """``text`` with every generated block replaced by what the registry generates now. Each block must be present,
    once, between its markers."""
    for name, body in readme_blocks(registry).items():
        begin, end = _markers(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), flags=re.S)
        found = pattern.findall(text)
        if len(found) != 1:
            raise SpecInputError(
                f"README needs the block {name!r} once, between the lines {begin!r} and {end!r}; "
                f"found it {len(found)} times"
            )
        block = f"{begin}\n\n{body}\n\n{end}"
        text = pattern.sub(lambda _, block=block: block, text)
    return text


def stale_blocks(text: str, registry: ClaimRegistry) -> list[str]:
    """The names of README's generated blocks that differ from what the registry generates."""
    fresh = update_readme(text, registry)
    stale = []
    for name in readme_blocks(registry):
        begin, end = _markers(name)
        get = re.compile(re.escape(begin) + r"\n(.*?)" + re.escape(end), flags=re.S)
        if get.search(text).group(1) != get.search(fresh).group(1):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    from support.claims import REGISTRY

    parser = argparse.ArgumentParser(prog="python -m support.report.readme", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="README", type=Path, help="regenerate the blocks of this README in place")
    action.add_argument("--check", metavar="README", type=Path, help="exit 1 when its blocks are out of date")
    args = parser.parse_args(argv)
    path = args.write or args.check
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:  # exit 1 means "out of date": a file that cannot be read is a usage error (2)
        print(f"{path}: cannot be read ({exc.strerror or exc})", file=sys.stderr)
        return 2
    try:
        if args.write:
            path.write_text(update_readme(text, REGISTRY), encoding="utf-8")
            return 0
        stale = stale_blocks(text, REGISTRY)
    except SpecInputError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"{path}: out of date with the registry: {', '.join(stale)}; run `{WRITE_COMMAND}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
