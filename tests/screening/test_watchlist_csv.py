from __future__ import annotations

import io

import pytest

from shared.watchlist_csv import WatchlistCsvError, parse, write

CSV = ("id,kind,name,aliases,phones,license_numbers,notes,social_handles,urls,source\n"
       "w1,agency,=HYPERLINK(\"x\"),@alias;-minus;+plus,+6281234567890;0812-1111-2222,SIP/1,\"a, b\",@h,x.example,'=src\n"
       "w2,person,Budi,,,,,,,\n")


def test_round_trip_is_exact_and_formulas_are_neutralised():
    entries = parse(io.StringIO(CSV))
    assert entries[0].name == '=HYPERLINK("x")' and entries[0].aliases == ["@alias", "-minus", "+plus"]
    out = io.StringIO()
    write(entries, out)
    text = out.getvalue()
    assert "'=HYPERLINK" in text and "'@alias" in text and "'-minus" in text and "+6281234567890" in text
    assert "'+6281234567890" not in text
    again = parse(io.StringIO(text))
    assert [e.model_dump() for e in again] == [e.model_dump() for e in entries]
    out2 = io.StringIO()
    write(again, out2)
    assert out2.getvalue() == text


def test_every_bad_line_is_reported():
    with pytest.raises(WatchlistCsvError) as caught:
        parse(io.StringIO("id,kind,name,aliases,phones,license_numbers,notes\n"
                          "a,agency,PT A,,,,\n"
                          "a,agency,PT B,,,,\n"
                          "b,robot,PT C,,,,\n"
                          "c,agency,PT D,,,,,extra\n"))
    lines = [(p.line, p.column) for p in caught.value.problems]
    assert lines == [(3, "id"), (4, "kind"), (5, None)]
