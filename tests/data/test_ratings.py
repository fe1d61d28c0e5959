"""arerec.data.ratings: reading a ratings file, and what its errors say."""

import pytest
from conftest import write_ratings

from arerec.data import ratings
from arerec.errors import DataError


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        ("userId,itemId,rating,timestamp\n", "has a header but no rows"),
        ("userId\titemId\trating\ttimestamp\n1\t2\t3\t4\n", "expected 4 comma-separated columns"),
        ("userId,itemId,rating,timestamp\n1,2,x,4\n", "row 2: rating must be a number, found 'x'"),
        ("userId,itemId,rating,timestamp\n1,2,3,4\n1,3,4,\n", "row 3: timestamp must be a number"),
    ],
)
def test_malformed_ratings_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=None) as err:
        ratings.read_ratings_csv(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_duplicates_keep_the_latest(tmp_path, caplog):
    path = write_ratings(tmp_path, "dup", [(1, 2, 3, 10), (1, 2, 5, 20), (1, 3, 4, 5)])
    df = ratings.read_ratings_csv(path)
    assert sorted(df.itertuples(index=False, name=None)) == [(1, 2, 5, 20), (1, 3, 4, 5)]
    assert "duplicate (user, item) rows" in caplog.text
