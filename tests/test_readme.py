"""The README is a user's guide: it starts with the two commands, stays short, and every
relative link in it reaches a file of the repository (the pages in docs/ are checked by
`make docs`, strict)."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def test_the_readme_starts_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_readme_is_a_guide_not_a_notebook():
    assert len(README.splitlines()) <= 300


def test_every_relative_link_in_the_readme_reaches_a_file():
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", README) if not re.match(r"[a-z]+:", t)]
    assert links, "no links found: the pattern is wrong"
    missing = [t for t in links if not os.path.exists(os.path.join(ROOT, t.split("#")[0]))]
    assert missing == []
