"""No config text becomes code: not ids, strings or field names (see tests/golden/injection),
and not the config's own file name, which every location comment repeats."""

from __future__ import annotations

import ast
import io
import tokenize

from compiler.driver import compile_text
from tests.support.pipeline_factory import config_text

PAYLOAD = "__import__('os').system('echo INJECTED')"
FILE_NAMES = [
    f"bars\n            {PAYLOAD}\n            #.yaml",
    f"a\nb{PAYLOAD}.yaml",
    "q\"\"\"'''\\\r\u2028#.yaml",
]


def test_a_crafted_config_file_name_stays_inside_comments():
    text = config_text(
        {"src": "synthetic", "f": "filter", "m": "map", "out": "jsonl"},
        [["src", "f"], ["f", "m"], ["m", "out"]],
    )
    for name in FILE_NAMES:
        source = compile_text(name, text).source
        ast.parse(source)
        code_tokens = [
            tok.string
            for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE)
        ]
        assert "system" not in code_tokens and "__import__" not in code_tokens, name
