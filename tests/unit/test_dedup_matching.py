"""The matcher and its index without a store: text features for Chinese and English, the
bounded index, bad input, a report resembling dozens of cases, and the evaluation set's
generator (deterministic, committed output)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.data.dedup_eval import generate
from services.dedup.index import CaseIndex, ReportFacts, demo_neighbours
from services.dedup.matching import Matcher, category_relation
from services.dedup.text import features

T0 = datetime(2026, 5, 11, 19, 0, tzinfo=UTC)
AREA = ("350300", "350302", "350302001", "350302001001", "350302001001001")
FAR_AREA = ("350300", "350303", "350303001", "350303001001", "350303001001001")


def facts(text: str, *, at: datetime = T0, lon: float | None = 119.0071,
          lat: float | None = 25.3960, category: str = "environment.oily_smoke",
          area: tuple[str, ...] = AREA, channel: str = "grid_app") -> ReportFacts:
    rid = uuid.uuid4()
    return ReportFacts(case_id=rid, report_id=rid, channel=channel, category=category,
                       title="", description=text, lon=lon, lat=lat, area_path=area,
                       reported_at=at)


def test_chinese_is_compared_by_character_bigrams_without_segmentation() -> None:
    f = features("", "老王烧烤油烟直排")
    assert {"老王", "王烧", "烧烤", "油烟", "直排"} <= f.grams
    # Full-width digits are normalised; the place named after the address is the subject.
    g = features("", "市民来电反映：文献路１８号老王烧烤油烟直排。诉求：请相关部门尽快处理")
    assert g.addresses == {"18"} and g.subject == {"老王", "王烧", "烧烤"}


def test_channel_formulae_are_learnt_from_the_reports_not_listed() -> None:
    """No list of 12345 or petition wording: grams most of one channel's reports carry
    weigh (almost) nothing for that channel, and still count for the others."""
    index = CaseIndex()
    shops = ["老王烧烤", "阿强火锅", "林家面馆", "福满小炒", "陈记卤味", "金龙米粉"]
    for i in range(60):
        shop = shops[i % len(shops)]
        index.add_case(facts(f"来电人表示：{shop}第{i}次油烟扰民，请职能部门核实后处置并回复",
                             at=T0 + timedelta(minutes=i), channel="hotline_12345"))
        index.add_case(facts(f"{shop}门口第{i}次堆放杂物", at=T0 + timedelta(minutes=i)))
    formula = index.weight("职能", "hotline_12345", "environment.oily_smoke")
    name = index.weight("老王", "hotline_12345", "environment.oily_smoke")
    assert formula < 0.15 * name
    assert index.weight("职能", "grid_app", "environment.oily_smoke") > 3 * formula


def test_english_survives_typos_through_trigrams() -> None:
    a = features("", "Thick oily smoke from Lao Wang BBQ at No. 18 Wenxian Road")
    b = features("", "thick oily smkoe from lao wang bbq, 18 Wenxian Rd")
    assert a.addresses == b.addresses == {"18"}
    assert len(a.grams & b.grams) / len(a.grams | b.grams) > 0.5


def test_a_run_of_letters_and_digits_is_one_gram() -> None:
    """A plate, a code or an ordinal: compared whole. Split, its single letters and digits
    were rare grams that any two codes share."""
    f = features("", "僵尸车闽B12345停在5th Street，编号a3f9c2")
    assert {"c:b12345", "c:5th", "c:a3f9c2"} <= f.grams
    assert not {"w:b", "w:a", "w:f", "#12345", "#3", "#5"} & f.grams
    assert features("", "A3栋楼道堆满杂物").addresses == {"3"}  # still a building number


@pytest.mark.parametrize(("first", "second"), [("垃圾没人清运 a3f9c2", "灭火器过期 a3f1c9"),
                                               ("垃圾没人清运 9f8e7d6c", "楼道堆放杂物 1a2b3c4d")])
def test_unrelated_reports_with_codes_are_not_merged(first: str, second: str) -> None:
    """Same spot, same category, minutes apart, nothing in common but that each carries a
    code: a person may look (review), the matcher must not merge (it did, at 0.81 and 0.70)."""
    index = CaseIndex(neighbours=demo_neighbours().around)
    index.add_case(facts(first, category="urban.garbage", area=FAR_AREA))
    decision = Matcher(index).decide(facts(second, category="urban.garbage", area=FAR_AREA,
                                           at=T0 + timedelta(minutes=3)))
    assert decision.outcome != "merge"


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
    text = next(iter(index.entries.values())).reports.popitem()[1].text
    assert index.reports == 1
    assert sum(index.df.values()) == len(text.grams | text.pinyin | text.chars)


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


def test_a_chinese_and_an_english_report_meet_through_pinyin() -> None:
    zh = features("", "文献路18号老王烧烤油烟直排，熏得楼上住户不敢开窗。")
    en = features("", "Thick oily smoke from Lao Wang BBQ near No. 18 Wenxian Road.")
    assert en.latin and not zh.latin
    assert {"p:lao|wang", "p:wen|xian"} <= zh.pinyin & en.pinyin
    assert features("", "Road closed for the festival").pinyin == frozenset()


def test_the_subject_is_the_place_named_after_the_address() -> None:
    assert features("", "信访人反映：本人住在龙桥街一带，阿强健身房每晚放音乐扰民").subject == {
        "阿强", "强健", "健身"}
    en = features("Noise", "Loud music from Aqiang Gym until 2 am near 24 Gongchen Road.")
    typo = features("Noise", "Loud music from Aqaing Gym near Gongchen Road.")
    assert "t:aqi" in en.subject and not any("gon" in g for g in en.subject)
    assert len(en.subject & typo.subject) >= len(en.subject) / 3  # a typo leaves most


def test_a_report_without_coordinates_is_measured_to_its_grids_outline() -> None:
    places = demo_neighbours()
    index = CaseIndex(neighbours=places.around, shapes=places.shape)
    case = facts("文献路18号老王烧烤店油烟直排，熏得楼上住户不敢开窗")
    index.add_case(case)
    blind = facts("市民来电反映：文献路老王烧烤店油烟很大", lon=None, lat=None,
                  at=T0 + timedelta(hours=3), channel="hotline_12345")
    best = Matcher(index).decide(blind).candidates[0]
    assert best.case_id == case.case_id
    assert best.signals["distance_m"] is None and best.signals["place_m"] == 0.0
    assert best.signals["subject"] == 1.0


def test_a_decided_report_is_weighed_once_and_indexed_with_that_signature(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Weighing a report's grams is most of a decision: indexing the report just decided
    keeps the decision's signature instead of weighing it again; any other report
    indexed is weighed as before."""
    index = CaseIndex(neighbours=demo_neighbours().around)
    for i in range(20):
        index.add_case(facts(f"第{i}家饭店油烟直排扰民", at=T0 + timedelta(minutes=i)))
    weighed: list[uuid.UUID] = []
    gram_weights = CaseIndex._gram_weights

    def counted(self: CaseIndex, f: ReportFacts) -> Any:
        weighed.append(f.case_id)
        return gram_weights(self, f)

    monkeypatch.setattr(CaseIndex, "_gram_weights", counted)
    report = facts("老王烧烤油烟直排", at=T0 + timedelta(hours=1))
    Matcher(index).decide(report)
    index.add_case(report)
    assert weighed.count(report.case_id) == 1
    other = facts("阿强火锅门口堆放杂物", at=T0 + timedelta(hours=2))
    index.add_case(other)
    assert weighed.count(other.case_id) == 1
    assert index.weights(report).names == index._signatures[report.case_id].names
