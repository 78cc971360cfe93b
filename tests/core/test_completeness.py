"""Coverage: an incomplete run is never clean, and its summary says why."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from phantomkeys.core.completeness import Coverage, Skipped, coverage_of


def test_nothing_read_where_something_was_asked_for_is_incomplete() -> None:
    cov = coverage_of({"files": 0, "records": 0}, asked_for="AWSLogs/")
    assert not cov.complete
    assert cov.reasons == ["nothing was read from AWSLogs/"]
    assert cov.to_json()["complete"] is False
    assert "INCOMPLETE: nothing was read from AWSLogs/" in cov.summary_line()


def test_skipped_by_choice_is_shown_but_stays_complete() -> None:
    cov = coverage_of(
        {"files": 1, "records": 1},
        [Skipped("file", ".git/config", "VCS internals", incomplete=False)],
        asked_for=".",
    )
    assert cov.complete
    assert cov.summary_line() == "read 1 file, 1 record; skipped 1 file"
    assert cov.to_json()["skipped_items"] == [
        {"kind": "file", "name": ".git/config", "reason": "VCS internals", "by_choice": True}
    ]


def test_reasons_count_like_things_together() -> None:
    cov = Coverage(
        read={"files": 3},
        skipped=(
            Skipped("file", "a.gz", "over the decompression cap"),
            Skipped("file", "b.gz", "over the decompression cap"),
            Skipped("directory", "x", "unreadable"),
        ),
    )
    assert cov.reasons == [
        "2 files not read: over the decompression cap",
        "1 directory not read: unreadable",
    ]


@given(
    read=st.dictionaries(st.sampled_from(["files", "records", "accounts"]), st.integers(0, 9)),
    skipped=st.lists(
        st.builds(
            Skipped,
            st.sampled_from(["file", "record"]),
            st.text(max_size=5),
            st.text(min_size=1, max_size=5),
            st.integers(1, 3),
            st.booleans(),
        )
    ),
)
def test_complete_exactly_when_nothing_counts_against_it(
    read: dict[str, int], skipped: list[Skipped]
) -> None:
    cov = coverage_of(read, skipped, asked_for="input")
    expected = any(read.values()) and not any(s.incomplete for s in skipped)
    assert cov.complete is expected
    assert (cov.reasons == []) is expected
    assert ("INCOMPLETE" in cov.summary_line()) is (not expected)
    merged = cov.merged(Coverage())
    assert merged.complete is cov.complete
