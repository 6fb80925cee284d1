"""Precounted facets: the article list (the navigation's "Articles") without filters reads its facet
counts from ``article_list_facets``, which enrichment rewrites (kb.enrich.list_facets), instead of
counting the whole view on every request; with any filter or search it is counted live, as
Datasette counts it.

metadata.yaml asks for them by type: ``precounted_array`` for an array facet, ``precounted`` for a
column facet. Results look like Datasette's own (type ``array`` or ``column``, the same links), with
``precounted`` set and, in ``counted_articles``, how many articles the counts cover.
"""

from __future__ import annotations

from typing import Any

from datasette.facets import ArrayFacet, ColumnFacet
from datasette.utils import path_with_added_args, path_with_removed_args

from datasette import hookimpl
from kb.enrich.list_facets import LIST, TABLE

# Table page arguments that leave its rows as they are: sort, page, size, columns shown, format.
UNFILTERED = {"_sort", "_sort_desc", "_next", "_size", "_col", "_nocol", "_labels", "_nolabels", "_shape",
              "_json", "_nl", "_nocount", "_nosuggest", "_nofacet", "_timelimit", "_trace", "_context",
              "_dl", "_stream"}


class Precounted:
    """Mixed into a Datasette facet class: reads the counts of an unfiltered table from TABLE,
    otherwise counts as that class does."""

    shown_type = ""

    def select_link(self, column: str, value: str) -> dict[str, str]:
        raise NotImplementedError

    async def suggest(self) -> list[dict[str, Any]]:
        return []  # Datasette's own classes suggest facets (when suggestions are on)

    def unfiltered(self) -> bool:
        """The counted table with no filter, search or where clause: every argument of the request
        only sorts, pages or shapes it (a later page's facets count the whole list, as its first)."""
        return self.table == LIST and all(arg in UNFILTERED or arg.startswith("_facet")
                                          for arg in self.request.args)

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        if self.unfiltered():
            counted = await self.counted_results()
            if counted is not None:
                return counted, []
        results, timed_out = await super().facet_results()
        for facet in results:
            facet["type"] = self.shown_type
        return results, timed_out

    async def counted_results(self) -> list[dict[str, Any]] | None:
        """The facets from TABLE, or None where enrichment has not written it yet."""
        db = self.ds.get_database(self.database)
        if not await db.table_exists(TABLE):
            return None
        total = (await db.execute(f"select articles from {TABLE} where facet = ''")).rows
        if not total:
            return None
        size = self.get_facet_size()
        out = []
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            rows = (await db.execute(f"select value, articles from {TABLE} where facet = ? "
                                     "order by articles desc, value limit ?", [column, size + 1])).rows
            hide = path_with_removed_args(self.request, {f"_facet_{self.type}": column})
            out.append({
                "name": column, "type": self.shown_type, "toggle_url": self.ds.urls.path(hide),
                "hideable": source_and_config["source"] != "metadata",
                "results": [{"value": value, "label": value, "count": count, "selected": False,
                             "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(
                                 path_with_added_args(self.request, self.select_link(column, value))))}
                            for value, count in rows[:size]],
                "truncated": len(rows) > size, "precounted": True, "counted_articles": total[0][0],
            })
        return out


class PrecountedArrayFacet(Precounted, ArrayFacet):
    type, shown_type = "precounted_array", "array"

    def select_link(self, column: str, value: str) -> dict[str, str]:
        return {f"{column}__arraycontains": value}


class PrecountedColumnFacet(Precounted, ColumnFacet):
    type, shown_type = "precounted", "column"

    def select_link(self, column: str, value: str) -> dict[str, str]:
        return {f"{column}__exact" if column.startswith("_") else column: value}


@hookimpl
def register_facet_classes() -> list[type]:
    return [PrecountedArrayFacet, PrecountedColumnFacet]
