"""Bulk import: the real LA 311 sample imports fully and again creates nothing; bad rows
are reported with the reason while good rows import; a checkpoint resumes the file."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.application import IntakeApplication
from services.intake.importer import BadRow, Checkpoint, Mapping, RowReader, fingerprint, run_import
from services.intake.placement import combined_registry
from services.intake.settings import IntakeSettings
from shared.places.la311 import district_code, hierarchy_code

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "data" / "la311_2017_sample.csv"
MAPPING = Mapping.load(REPO / "data" / "la311" / "mapping.toml")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[IntakeApplication]:
    registry = combined_registry((str(MAPPING.registry),))
    a = IntakeApplication(IntakeSettings(service_name="intake", data_dir=tmp_path),
                          registry=registry)
    yield a
    a.close()


def imported(app: IntakeApplication, file: Path, tmp: Path, **kw: object) -> object:
    cp = Checkpoint(tmp / "cp.json", fingerprint(file))
    return run_import(file, MAPPING, app, checkpoint=cp, report=tmp / "report.csv", **kw)  # type: ignore[arg-type]


def test_the_la_sample_imports_fully_and_again_creates_nothing(app: IntakeApplication,
                                                               tmp_path: Path) -> None:
    rows = list(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    tally = imported(app, SAMPLE, tmp_path, batch=1000)
    assert tally.rows == len(rows) == 9999  # type: ignore[attr-defined]
    assert tally.created + tally.bad == len(rows)  # type: ignore[attr-defined]
    report = list(csv.reader((tmp_path / "report.csv").open()))
    assert len(report) - 1 == tally.bad  # type: ignore[attr-defined]
    app.index.catch_up()
    assert app.index.count("import") == tally.created  # type: ignore[attr-defined]
    # Owners became departments; every row is somewhere in LA (city level if nothing else).
    row = app.index.find(ids=[_rid(rows[0])])[0]
    assert row["department"] == "la_bos" and row["area_path"].startswith("990100/")
    unplaced = app.index.find(placed=False)
    assert len(unplaced) == tally.unplaced  # type: ignore[attr-defined]
    assert all(not (r["APC"] or r["Latitude"]) for r in rows
               if _rid(r) in {u["report_id"] for u in unplaced})
    # Rolled up by district, the reports count what the file's own APC column counts,
    # also for rows whose point our approximate district outlines put next door.
    placed = app.index.find(limit=len(rows))
    model = Counter(r["area_path"].split("/")[1] if "/" in r["area_path"] else "990100"
                    for r in placed)
    ids = {r["report_id"] for r in placed}
    assert model == Counter(district_code(r["APC"]) or "990100" for r in rows if _rid(r) in ids)

    before = app.recorder.max_notification_id()
    (tmp_path / "cp.json").unlink()  # no checkpoint: the ids alone keep it idempotent
    again = imported(app, SAMPLE, tmp_path, batch=1000)
    assert again.created == 0 and again.existing == tally.created  # type: ignore[attr-defined]
    assert app.recorder.max_notification_id() == before


def _rid(row: dict[str, str]) -> str:
    from services.intake.domain import report_id

    return str(report_id("import", "la311:" + row["SRNumber"]))


def test_bad_rows_are_listed_while_good_rows_import_and_the_checkpoint_resumes(
        app: IntakeApplication, tmp_path: Path) -> None:
    header = SAMPLE.open(encoding="utf-8").readline().strip().split(",")
    good = next(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    bad = [dict(good, SRNumber=""), dict(good, SRNumber="x-1", CreatedDate="31/31/2017"),
           dict(good, SRNumber="x-2", RequestType="Pothole"),
           dict(good, SRNumber="x-3", Latitude="north"), dict(good, SRNumber="x-4", Owner="FBI")]
    goods = [dict(good, SRNumber=f"g-{i}") for i in range(6)]
    file = tmp_path / "mixed.csv"
    with file.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows([goods[0], *bad, *goods[1:]])
    first = imported(app, file, tmp_path, batch=2, limit=4)
    assert first.rows == 4 and first.created == 1 and first.bad == 3  # type: ignore[attr-defined]
    rest = imported(app, file, tmp_path, batch=2)
    assert rest.rows == 11 and rest.created == 6 and rest.bad == 5  # type: ignore[attr-defined]
    report = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["column"] for r in report] == ["SRNumber", "CreatedDate", "RequestType",
                                             "Latitude/Longitude", "Owner"]
    assert [r["line"] for r in report] == ["3", "4", "5", "6", "7"]


@given(st.fixed_dictionaries({"APC": st.sampled_from(["Central APC", "Harbor APC", "", "x"]),
                              "CD": st.sampled_from(["1", "15", "", "0", "abc"]),
                              "NC": st.sampled_from(["44", "124", "", "1000"])}))
def test_hierarchy_codes_follow_the_scheme(h: dict[str, str]) -> None:
    code = hierarchy_code(h["APC"], h["CD"], h["NC"])
    assert code is None or (code.startswith("9901") and len(code) in (6, 9, 12))


def test_row_reader_names_the_column_of_a_bad_row() -> None:
    reader = RowReader(MAPPING, combined_registry((str(MAPPING.registry),)))
    good = next(csv.DictReader(SAMPLE.open(encoding="utf-8")))
    with pytest.raises(BadRow) as caught:
        reader.draft(dict(good, RequestType="Pothole"))
    assert caught.value.column == "RequestType"
    draft = reader.draft(dict(good, Latitude="", Longitude=""))
    assert draft.unit_code is not None and draft.unit_code.startswith("990102013")
