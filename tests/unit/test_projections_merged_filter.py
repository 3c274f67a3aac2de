"""The case list filtered to cases with reports merged into them (the review page's
"merged reports" list, where a dispatcher may split one back out)."""

from __future__ import annotations

from pathlib import Path

from services.projections.queries import CaseFilter
from services.projections.readmodel import CaseReadModel
from shared.runtime.settings import ServiceSettings
from tests.unit.test_projections_readmodel import CITY, TOWN_A, city_story


def test_the_list_filters_cases_with_merged_reports(tmp_path: Path) -> None:
    model = CaseReadModel(ServiceSettings(service_name="projections", data_dir=tmp_path))
    log, ids = city_story()
    log.feed(model)

    def listed(f: CaseFilter) -> set[str]:
        return {r["case_id"] for r in model.list_cases(f, limit=50)[1]}

    assert listed(CaseFilter(area=CITY, merged=True)) == {str(ids["a1"]), str(ids["b1"])}
    assert listed(CaseFilter(area=CITY, merged=False)) == {str(ids["a2"])}
    assert listed(CaseFilter(area=TOWN_A, merged=True, open=True)) == set()  # a1 is closed
