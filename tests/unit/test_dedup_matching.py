"""The matcher and its index without a store: text features for Chinese and English, the
bounded index, bad input, a report resembling dozens of cases, and the evaluation set's
generator (deterministic, committed output)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bench.data.dedup_eval import generate
from services.dedup.index import CaseIndex, ReportFacts, demo_neighbours
from services.dedup.matching import Matcher, category_relation
from services.dedup.text import features

T0 = datetime(2026, 5, 11, 19, 0, tzinfo=UTC)
AREA = ("350300", "350302", "350302001", "350302001001", "350302001001001")
FAR_AREA = ("350300", "350303", "350303001", "350303001001", "350303001001001")


def facts(text: str, *, at: datetime = T0, lon: float | None = 119.0071,
          lat: float | None = 25.3960, category: str = "environment.oily_smoke",
          area: tuple[str, ...] = AREA) -> ReportFacts:
    rid = uuid.uuid4()
    return ReportFacts(case_id=rid, report_id=rid, channel="grid_app", category=category,
                       title="", description=text, lon=lon, lat=lat, area_path=area,
                       reported_at=at)


def test_chinese_is_compared_by_character_bigrams_without_segmentation() -> None:
    f = features("", "老王烧烤油烟直排")
    assert {"老王", "王烧", "烧烤", "油烟", "直排"} <= f.grams
    # Full-width digits and the 12345 formula are normalised away.
    g = features("", "市民来电反映：文献路１８号老王烧烤油烟直排。诉求：请相关部门尽快处理")
    assert g.addresses == {"18"} and "市民" not in g.grams


def test_english_survives_typos_through_trigrams() -> None:
    a = features("", "Thick oily smoke from Lao Wang BBQ at No. 18 Wenxian Road")
    b = features("", "thick oily smkoe from lao wang bbq, 18 Wenxian Rd")
    assert a.addresses == b.addresses == {"18"}
    assert len(a.grams & b.grams) / len(a.grams | b.grams) > 0.5


def test_one_character_or_punctuation_is_unusable_text() -> None:
    for text in ("", "好", "！！！？？", "。。 ，"):
        assert not features("", text).usable


def test_categories_compatible_across_channels() -> None:
    assert category_relation("environment.oily_smoke", "environment.oily_smoke") == "same"
    assert category_relation("environment.oily_smoke", "food.restaurant_hygiene") \
        == "compatible"
    assert category_relation("petition.general", "urban.garbage") == "generic"
    assert category_relation("urban.streetlight", "food.expired") is None


def test_the_index_searches_only_neighbouring_grids_and_its_window() -> None:
    index = CaseIndex(open_window=timedelta(days=30), neighbours=demo_neighbours().around)
    here = facts("文献路18号老王烧烤店油烟直排")
    far = facts("文献路18号老王烧烤店油烟直排", lon=119.05, lat=25.45, area=FAR_AREA)
    index.add_case(here)
    index.add_case(far)
    probe = facts("文献路18号老王烧烤店油烟很大", at=T0 + timedelta(days=2))
    assert [e.case_id for e in index.nearby(probe)] == [here.case_id]
    late = facts("文献路18号老王烧烤店油烟很大", at=T0 + timedelta(days=45))
    assert list(index.nearby(late)) == []


def test_the_index_forgets_what_left_the_window_and_stays_bounded() -> None:
    index = CaseIndex(open_window=timedelta(days=30), max_cases=50)
    for i in range(120):
        index.add_case(facts(f"第{i}件事情的描述文字", at=T0 + timedelta(hours=i)))
    assert len(index) <= 50 + 1  # swept whenever it grows past the bound
    index.add_case(facts("很久以后的另一件事情", at=T0 + timedelta(days=90)))
    index.sweep()
    assert len(index) == 1
    assert index.reports == 1 and sum(index.df.values()) == len(
        next(iter(index.entries.values())).reports.popitem()[1].text.grams)


def test_a_report_resembling_dozens_of_cases_goes_to_a_person_deterministically() -> None:
    index = CaseIndex(neighbours=demo_neighbours().around)
    cases = [facts(f"文献路烧烤店油烟直排，熏得住户不敢开窗（{i}）", at=T0 + timedelta(minutes=i),
                   lon=119.0071 + i * 1e-5) for i in range(60)]
    for c in cases:
        index.add_case(c)
    vague = facts("文献路烧烤店油烟直排，熏得住户不敢开窗", at=T0 + timedelta(hours=2))
    first = Matcher(index).decide(vague)
    again = Matcher(index).decide(vague)
    assert first == again
    assert first.outcome == "review" and first.reason == "ambiguous"
    assert len(first.candidates) == Matcher(index).config.max_scored


def test_a_report_without_location_is_compared_within_its_grid() -> None:
    index = CaseIndex(neighbours=demo_neighbours().around)
    case = facts("文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗")
    index.add_case(case)
    blind = facts("文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗", lon=None, lat=None,
                  at=T0 + timedelta(hours=3))
    decision = Matcher(index).decide(blind)
    assert decision.case_id == case.case_id
    assert decision.candidates[0].signals["distance_m"] is None
    assert decision.candidates[0].signals["area"] == "same_grid"


def test_the_evaluation_set_is_generated_deterministically_and_committed() -> None:
    for name in generate.SETS:
        committed = (generate.HERE / f"{name}.jsonl").read_text(encoding="utf-8")
        assert generate.render(generate.generate(name)) == committed
