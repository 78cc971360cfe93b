"""The byte scanner: escapes, boundaries of chunks, huge inputs in bounded memory."""

from __future__ import annotations

import io

import pytest
from leakfixtures import KEYS, json_escape

from phantomkeys.core import keys
from phantomkeys.leaks.patterns import Encoding, find_candidates, unescape
from phantomkeys.leaks.scanner import OVERLAP, Scanner, is_binary


def _tokens(hits: list) -> list[str]:
    return [h.key.token_sha256 for h in hits]


def _token(name: str) -> str:
    return keys.decode(KEYS[name].key).token_sha256


@pytest.mark.parametrize("name", sorted(KEYS))
@pytest.mark.parametrize(
    "wrap",
    [
        "{k}",
        "'{k}'",
        '"{k}",',
        "KEY={k}\n",
        'export AWS_BEARER_TOKEN_BEDROCK="{k}"',
        "Authorization: Bearer {k}\r\n",
        '{{"token":"{e}"}}',
        '"line one\\n{e}\\n"',
        "curl 'https://x/?t={u}&v=1'",
        "<td>{k}</td>",
    ],
)
def test_every_format_in_every_wrapping(name: str, wrap: str) -> None:
    key = KEYS[name].key
    url = key.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    text = wrap.format(k=key, e=json_escape(key), u=url)
    hits, rejected = Scanner().scan_buffer(text.encode())
    assert _tokens(hits) == [_token(name)]
    assert rejected == 0


def test_unescape_reports_the_encoding() -> None:
    assert unescape(b"ABSK\\/x\\u002By\\u003d") == ("ABSK/x+y=", Encoding.JSON_ESCAPED)
    assert unescape(b"ABSK%2Fx%2by%3D") == ("ABSK/x+y=", Encoding.URL_ENCODED)
    assert unescape(b"ABSKabc") == ("ABSKabc", Encoding.PLAIN)


def test_prefix_inside_another_base64_blob_is_not_a_candidate() -> None:
    key = KEYS["lt_bedrock"].key
    assert find_candidates(("QUJD" + key).encode(), 0, len(key) + 4) == []
    assert find_candidates(("= " + key).encode(), 0, len(key) + 2) != []


def test_truncated_examples_are_not_candidates() -> None:
    key = KEYS["lt_claude"].key
    for mark in ("...", "\u2026", "[...]"):
        data = f"example: {key[:70]}{mark} more".encode()
        assert find_candidates(data, 0, len(data)) == []


def test_run_longer_than_any_key_is_not_a_candidate() -> None:
    data = b"ABSK" + b"A" * 5000
    assert find_candidates(data, 0, len(data)) == []


def test_binary_sniff() -> None:
    assert is_binary(b"abc\x00def")
    assert not is_binary("näive text ABSK".encode())
    assert not is_binary(b"a" * 9000 + b"\x00")  # only the first 8000 bytes count


def _stream(data: bytes, chunk_size: int) -> list:
    scanner = Scanner(chunk_size=chunk_size)
    res = scanner.scan_stream(io.BytesIO(data).readinto)
    assert res.size == len(data)
    return list(res.hits)


def test_keys_straddling_chunk_boundaries_are_found_once_with_right_lines() -> None:
    key = KEYS["st_claude"].key.encode()  # the longest key: ~1.7 KB
    chunk = OVERLAP  # the smallest legal chunk
    # The first window scans starts in [0, chunk): put the key across that boundary
    # (and around the tail it carries over) at many offsets.
    for shift in [*range(-len(key) - 3, 4, 97), -2, -1, 0, 1, 2]:
        pad = chunk - 52 + shift
        data = b"x" * 50 + b"\n" + b"y" * pad + b"\n" + key + b"\n" + b"z" * 1000
        whole, _ = Scanner().scan_buffer(data)
        streamed = _stream(data, chunk)
        assert (
            [(h.line, h.column, h.offset) for h in streamed]
            == [(h.line, h.column, h.offset) for h in whole]
            == [(3, 1, 52 + pad)]
        )


def test_many_keys_across_many_chunks() -> None:
    names = sorted(KEYS)
    lines = []
    for n in range(300):
        name = names[n % len(names)]
        lines.append(f'line {n} value = "{KEYS[name].key}" trailing text {"p" * (n * 37 % 900)}')
    data = "\n".join(lines).encode()
    streamed = _stream(data, OVERLAP + 4096)
    assert [h.line for h in streamed] == list(range(1, 301))
    whole, _ = Scanner().scan_buffer(data)
    assert [(h.line, h.column) for h in streamed] == [(h.line, h.column) for h in whole]


def test_minified_line_spanning_chunks_has_byte_columns() -> None:
    key = KEYS["lt_bedrock"].key.encode()
    data = b"a=1;" * 60_000 + key + b";"
    (hit,) = _stream(data, OVERLAP + 1000)
    assert (hit.line, hit.column) == (1, 240_001)


def test_streaming_memory_is_bounded() -> None:
    """32 MB through a 1 MB window: the buffer never grows."""
    key = KEYS["lt_claude"].key.encode()

    class Source:
        def __init__(self) -> None:
            self.sent = 0
            self.block = (b"lorem ipsum dolor sit amet " * 40 + b"\n") * 97

        def readinto(self, view: memoryview) -> int:
            if self.sent >= 32 << 20:
                return 0
            data = (self.block + key + b"\n")[: len(view)]
            view[: len(data)] = data
            self.sent += len(data)
            return len(data)

    scanner = Scanner(chunk_size=1 << 20)
    src = Source()
    res = scanner.scan_stream(src.readinto)
    assert scanner._buffer is not None
    assert len(scanner._buffer) == (1 << 20) + OVERLAP
    assert res.size == src.sent
    assert len(res.hits) > 100
    assert len({h.key.token_sha256 for h in res.hits}) == 1


def test_non_ascii_column_is_in_code_points() -> None:
    key = KEYS["lt_bedrock"].key
    (hit,), _ = Scanner().scan_buffer(f"clé = «{key}»".encode())
    assert hit.column == len("clé = «") + 1
