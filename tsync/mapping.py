"""The product mapping: which Revel product each Tripleseat line item becomes.

The mapping is a CSV file that operators keep next to the ledger:

    kind,key,revel_product_id,note
    menu_item_id,70011,4512,Passed hors d'oeuvres
    name,Mezzanine Rental,4601,
    category,Audio Visual,4700,generic product; the line keeps its Tripleseat name
    fallback,,4999,

A line item is matched by its `menu_item_id`, then by its exact display name,
then by its category name. A `category` row and the `fallback` row stand in a
generic product whose name is overridden with the line's own name. Matching
never guesses: there is no fuzzy or case-insensitive name matching, and an
item that matches nothing makes its event fail.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tsync.errors import InputError

KINDS = ("menu_item_id", "name", "category", "fallback")
HEADER = ("kind", "key", "revel_product_id")


@dataclass(frozen=True)
class ProductMatch:
    product_id: int
    rule: str  # the kind of row that matched
    override_name: bool  # True when a generic product replaces the line's own


@dataclass
class ProductMapping:
    by_menu_item_id: dict[str, int]
    by_name: dict[str, int]
    by_category: dict[str, int]
    fallback: int | None = None
    source: str = ""

    def match(self, line_item: dict) -> ProductMatch | None:
        """Return the Revel product for a Tripleseat line item, or None when no row covers it."""
        menu_item_id = line_item.get("menu_item_id")
        if menu_item_id not in (None, ""):
            product_id = self.by_menu_item_id.get(str(menu_item_id).strip())
            if product_id is not None:
                return ProductMatch(product_id, "menu_item_id", False)

        name = item_name(line_item)
        if name in self.by_name:
            return ProductMatch(self.by_name[name], "name", False)

        category = category_name(line_item)
        if category and category in self.by_category:
            return ProductMatch(self.by_category[category], "category", True)

        if self.fallback is not None:
            return ProductMatch(self.fallback, "fallback", True)
        return None

    @property
    def product_ids(self) -> set[int]:
        ids = {*self.by_menu_item_id.values(), *self.by_name.values(), *self.by_category.values()}
        if self.fallback is not None:
            ids.add(self.fallback)
        return ids


def item_name(line_item: dict) -> str:
    """Return a line item's display name as Tripleseat shows it on the invoice."""
    return str(line_item.get("display_name") or line_item.get("name") or "").strip()


def category_name(line_item: dict) -> str:
    category = line_item.get("category")
    if isinstance(category, dict):
        return str(category.get("name") or "").strip()
    return str(category or "").strip()


def describe_item(line_item: dict) -> str:
    """Name an item for an error message: its display name, menu item id and category."""
    parts = [repr(item_name(line_item) or "(no name)")]
    if line_item.get("menu_item_id") not in (None, ""):
        parts.append(f"menu_item_id {line_item['menu_item_id']}")
    category = category_name(line_item)
    if category:
        parts.append(f"category {category!r}")
    return " ".join(parts[:1]) + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def load_mapping(path: str | Path, *, fallback_product_id: int | None = None) -> ProductMapping:
    """Read the mapping CSV; raise InputError naming the file and line of any bad row."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"mapping file {path} is a folder: set TSYNC_MAPPING to the CSV file's path")
    if not path.is_file():
        raise InputError(
            f"mapping file {path} not found: create it (see docs/mapping.md) or set TSYNC_MAPPING to its path"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"mapping file {path} is not UTF-8 text: save it as UTF-8 (CSV UTF-8 in Excel)") from None
    mapping = parse_mapping(text, source=str(path))
    if fallback_product_id is not None and mapping.fallback is None:
        mapping.fallback = fallback_product_id
    return mapping


def parse_mapping(text: str, *, source: str = "mapping") -> ProductMapping:
    mapping = ProductMapping({}, {}, {}, source=source)
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)]
    rows = [(number, row) for number, row in rows if row and any(cell.strip() for cell in row)]
    rows = [(number, row) for number, row in rows if not row[0].lstrip().startswith("#")]
    if not rows:
        raise InputError(f"{source} is empty: start it with the header kind,key,revel_product_id (see docs/mapping.md)")

    header_number, header = rows[0]
    if tuple(cell.strip().lower() for cell in header[:3]) != HEADER:
        raise InputError(f"{source} line {header_number}: expected the header kind,key,revel_product_id[,note]")

    for number, row in rows[1:]:
        where = f"{source} line {number}"
        if len(row) < 3:
            raise InputError(f"{where}: expected kind,key,revel_product_id, got {len(row)} column(s)")
        kind, key, product_text = (cell.strip() for cell in row[:3])
        kind = kind.lower()
        if kind not in KINDS:
            raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if not product_text.isdigit():
            raise InputError(f"{where}: revel_product_id {product_text!r} is not a whole number")
        product_id = int(product_text)

        if kind == "fallback":
            if mapping.fallback is not None:
                raise InputError(f"{where}: a second fallback row; keep one")
            mapping.fallback = product_id
            continue
        if not key:
            raise InputError(f"{where}: the key is empty; a {kind} row needs one")
        if kind == "menu_item_id" and not key.isdigit():
            raise InputError(f"{where}: menu_item_id {key!r} is not a whole number: use the id from Tripleseat's menu")

        table = {"menu_item_id": mapping.by_menu_item_id, "name": mapping.by_name, "category": mapping.by_category}[kind]
        if key in table and table[key] != product_id:
            raise InputError(f"{where}: {kind} {key!r} is mapped twice, to {table[key]} and {product_id}")
        table[key] = product_id
    return mapping
