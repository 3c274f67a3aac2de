from tests.pii_patterns import find_personal_data


def test_finds_a_mobile_number_and_a_resident_id_but_not_masks_or_place_codes() -> None:
    text = "来电人 13812345678，身份证 11010519491231002X，已脱敏 138****5678"
    assert find_personal_data(text) == ["13812345678", "11010519491231002X"]
    assert find_personal_data("身份证 110105194912310021（校验位错）") == []
    assert find_personal_data('"event_id":"3bf6704b-8e62-5c6a-9db5-e17504339467"') == []


def test_no_code_of_the_demo_city_is_taken_for_personal_data() -> None:
    from shared.places.demo import load_demo_registry

    codes = " ".join(p.code for p in load_demo_registry().places)
    assert find_personal_data(codes) == []


def test_the_services_own_check_takes_no_uuid_for_a_phone_but_masks_cautiously() -> None:
    from shared.pii import PHONE_RE, find_personal_patterns

    # A UUID from a CI run whose hex tail reads like a mobile number.
    assert find_personal_patterns('"case_id":"1056c669-dfe9-59d3-9fb7-c18053111179"') == []
    assert find_personal_patterns("电话13812345678") == ["phone"]
    assert find_personal_patterns("tel: +86 138-1234-5678") == ["phone"]
    assert PHONE_RE.search("Tel13812345678")  # masking still takes it
