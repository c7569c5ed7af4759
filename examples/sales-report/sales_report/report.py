"""The analysis: pure pandas, no I/O."""

from __future__ import annotations

from typing import Any

import pandas as pd


def summarise(sales: pd.DataFrame) -> dict[str, Any]:
    """Revenue and units per region, and the overall totals."""
    sales = sales.assign(revenue=sales["units"] * sales["unit_price"])
    by_region = sales.groupby("region", sort=True)[["units", "revenue"]].sum()
    return {
        "rows": len(sales),
        "revenue_total": round(float(sales["revenue"].sum()), 2),
        "units_total": int(sales["units"].sum()),
        "regions": {
            region: {"units": int(row["units"]), "revenue": round(float(row["revenue"]), 2)}
            for region, row in by_region.iterrows()
        },
    }


def top_products(sales: pd.DataFrame, count: int = 3) -> pd.DataFrame:
    """The best-selling products by revenue."""
    revenue = (sales["units"] * sales["unit_price"]).groupby(sales["product"]).sum()
    return revenue.sort_values(ascending=False).head(count).rename("revenue").reset_index()
