"""YOLO label files parsed for a whole split at once (``parse_labels``): line numbers per file,
blank lines, CRLF, CR and tab separators, missing files, and the first bad value located."""

from __future__ import annotations

import numpy as np
import pytest

from tercet.errors import FormatError
from tercet.tables.importers.yolo_files import parse_labels


def test_objects_keep_their_file_line_and_values() -> None:
    texts = [
        b"0 .1 .2 .3 .4\n1 .5 .5 .1 .1\n",
        None,  # an image without a label file: no objects
        b"\n\n2 .1 .1 .1 .1",  # blank lines first, no newline at the end
        b"3\t.1 .1 .1 .1\r\n\r\n4 .2 .2 .2 .2 .5 .5\r\n",
        b"   \n",
        b"7 1 1 1 1\n\n\n8 2 2 2 2\n",
        b"5 .1 .1 .1 .1\r\r6 .1 .1 .1 .1\r",  # classic Mac line ends
    ]
    o = parse_labels(texts, [f"f{i}.txt" for i in range(len(texts))])
    assert o.counts.tolist() == [2, 0, 1, 2, 0, 2, 2]
    assert o.arity.tolist() == [5, 5, 5, 5, 7, 5, 5, 5, 5]
    assert o.lines.tolist() == [1, 2, 3, 1, 3, 1, 4, 1, 3]
    assert o.starts.tolist() == [0, 5, 10, 15, 20, 27, 32, 37, 42]
    assert o.values[o.starts].tolist() == [0, 1, 2, 3, 4, 7, 8, 5, 6]
    np.testing.assert_allclose(o.values[21:27], [0.2, 0.2, 0.2, 0.2, 0.5, 0.5])


def test_no_labels_at_all() -> None:
    for texts in ([], [None, b""]):
        o = parse_labels(texts, ["a.txt", "b.txt"][: len(texts)])
        assert len(o.arity) == 0 and len(o.values) == 0 and o.counts.tolist() == [0] * len(texts)


def test_first_bad_value_is_named_with_its_file_and_line() -> None:
    texts = [b"0 .1 .2 .3 .4\n", None, b"\n1 2 3 4 5\n 1 2 zz 4 5\n 1 2 yy 4 5\n"]
    with pytest.raises(FormatError, match=r"^c\.txt:3: 'zz' is not a number\.$"):
        parse_labels(texts, ["a.txt", "b.txt", "c.txt"])
