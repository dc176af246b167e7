import pytest

from tsync.errors import InputError
from tsync.mapping import load_mapping, parse_mapping

MAPPING = """kind,key,revel_product_id,note
# comment lines are ignored
menu_item_id,70011,4512,Passed hors d'oeuvres
name,Mezzanine Rental,4601,
category,Audio Visual,4700,
fallback,,4999,
"""


def line(name, menu_item_id=None, category="Food"):
    return {"display_name": name, "menu_item_id": menu_item_id, "category": {"name": category}}


@pytest.mark.parametrize(
    ("item", "product_id", "rule", "override"),
    [
        (line("Anything", 70011), 4512, "menu_item_id", False),
        (line("Mezzanine Rental"), 4601, "name", False),
        (line("Projector & Mic", category="Audio Visual"), 4700, "category", True),
        (line("Brand New Dish", 99999), 4999, "fallback", True),
    ],
)
def test_match_order(item, product_id, rule, override):
    match = parse_mapping(MAPPING).match(item)

    assert (match.product_id, match.rule, match.override_name) == (product_id, rule, override)


def test_menu_item_id_wins_over_name():
    mapping = parse_mapping("kind,key,revel_product_id\nmenu_item_id,1,10\nname,Soup,20\n")

    assert mapping.match(line("Soup", 1)).product_id == 10


def test_no_fuzzy_names():
    mapping = parse_mapping("kind,key,revel_product_id\nname,Mezzanine Rental,4601\n")

    assert mapping.match(line("mezzanine rental")) is None
    assert mapping.match(line("Mezzanine  Rental")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("kind,product\n", "expected the header"),
        ("kind,key,revel_product_id\nsku,1,2\n", "kind 'sku' is not one of"),
        ("kind,key,revel_product_id\nname,Soup,twelve\n", "revel_product_id 'twelve' is not a whole number"),
        ("kind,key,revel_product_id\nname,,12\n", "the key is empty"),
        ("kind,key,revel_product_id\nmenu_item_id,seventy,12\n", "menu_item_id 'seventy' is not a whole number"),
        ("kind,key,revel_product_id\nname,Soup,1\nname,Soup,2\n", "mapped twice"),
        ("kind,key,revel_product_id\nfallback,,1\nfallback,,2\n", "a second fallback row"),
        ("kind,key,revel_product_id\nname\n", "got 1 column"),
    ],
)
def test_bad_rows_named(text, message):
    with pytest.raises(InputError) as raised:
        parse_mapping(text, source="mapping.csv")

    assert message in str(raised.value)
    assert "mapping.csv" in str(raised.value)


def test_error_gives_line_number():
    with pytest.raises(InputError, match="mapping.csv line 4"):
        parse_mapping("kind,key,revel_product_id\n# note\nname,Soup,1\nname,Bread,x\n", source="mapping.csv")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_mapping(tmp_path / "mapping.csv")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        load_mapping(tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "mapping.csv"
    path.write_bytes("kind,key,revel_product_id\nname,Entr\xe9e,1\n".encode("cp1252"))

    with pytest.raises(InputError, match="not UTF-8"):
        load_mapping(path)


def test_excel_bom_accepted(tmp_path):
    path = tmp_path / "mapping.csv"
    path.write_bytes("\ufeffkind,key,revel_product_id\nname,Entrée,1\n".encode("utf-8"))

    assert load_mapping(path).match(line("Entrée")).product_id == 1
