"""A table of rows keyed by an id, with a row cursor: the base of the console's lists."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


class KeyedTable(DataTable[Any]):
    """Row cursor, zebra stripes, and the key of the row under the cursor."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    @property
    def cursor_key(self) -> str | None:
        """The key of the highlighted row; None for an empty table."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def keep_cursor(self, keys: list[str], key: str | None) -> None:
        """After the rows were replaced: the cursor back on `key` when it is still listed."""
        if key in keys:
            self.move_cursor(row=keys.index(key))
