"""Results as pandas DataFrames, for notebooks: what the SDK's `steps`, `trends` and `differences`
return can be turned into a DataFrame with `.to_dataframe()`.

    steps = client.steps(run_id).to_dataframe()            # one row per step, result figures flattened
    diffs = client.differences(run_id, "orders_rows").to_dataframe()   # every difference, paged in
    daily = client.trends("sales", days=30).to_dataframe()  # one row per day, `day` as a date
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DIFFERENCE_COLUMNS = ["kind", "key", "column", "source_value", "target_value", "source_count", "target_count"]


class Records(list[dict[str, Any]]):
    """A list of JSON records (what the API returned) that also turns into a DataFrame."""

    def __init__(self, items: list[dict[str, Any]], *, flatten: tuple[str, ...] = (),
                 dates: tuple[str, ...] = ()) -> None:
        super().__init__(items)
        self._flatten, self._dates = flatten, dates

    def to_dataframe(self) -> pd.DataFrame:
        """One row per record; nested objects named in `flatten` spread into `name.field` columns."""
        import pandas as pd

        frame = pd.json_normalize(list(self), max_level=1) if self._flatten else pd.DataFrame(list(self))
        for column in self._dates:
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=column.endswith("_at"))
        return frame


class Differences:
    """Every difference of a step, read from the gateway a page at a time as it is iterated: nothing
    is held beyond one page until `to_dataframe` gathers them."""

    def __init__(self, fetch_page: Callable[[int, int], dict[str, Any]], page_size: int = 1000) -> None:
        self._fetch_page, self.page_size = fetch_page, page_size
        self.total: int | None = None

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        offset = 0
        while True:
            page = self._fetch_page(offset, self.page_size)
            self.total = int(page.get("total", 0))
            items = page.get("items") or []
            if items:
                yield items
            offset += len(items)
            if not items or offset >= self.total:
                return

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page

    def to_dataframe(self) -> pd.DataFrame:
        """All differences, one row per differing column (kind, key, column, source_value,
        target_value, source_count, target_count), built page by page."""
        import pandas as pd

        frames = [pd.DataFrame(page, columns=DIFFERENCE_COLUMNS) for page in self.pages()]
        if not frames:
            return pd.DataFrame(columns=DIFFERENCE_COLUMNS)
        frame = pd.concat(frames, ignore_index=True)
        for column in ("source_count", "target_count"):
            frame[column] = frame[column].astype("Int64")
        return frame
