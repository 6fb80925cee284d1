"""Rough US-dollar rates without a date, to compare amounts stated in different currencies where
no date matters (the funding rules' plausibility bounds, the digest's ordering). The funding
ledger's converted amounts use the ECB reference rates of the event's date instead
(kb.enrich.ledger.convert). Amounts are always shown as reported, compactly: '€3.5bn'."""

from __future__ import annotations

USD_PER_UNIT = {
    "USD": 1.0, "EUR": 1.1, "GBP": 1.3, "CHF": 1.15, "JPY": 0.0067, "CNY": 0.14,
    "INR": 0.012, "CAD": 0.73, "KRW": 0.00072, "AED": 0.27, "SEK": 0.095, "HKD": 0.128,
    "TWD": 0.031, "SGD": 0.74, "AUD": 0.65,
}  # fmt: skip


def to_usd(amount: float, currency: str | None) -> float:
    """``amount`` in US dollars (a currency not in the table counts as dollars)."""
    return amount * USD_PER_UNIT.get(currency or "USD", 1.0)


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹"}


def compact(amount: float | None) -> str:
    """3500000000 -> '3.5bn'; 28000000 -> '28m'; None -> '–'."""
    if amount is None:
        return "–"
    value = float(amount)
    for factor, suffix in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"


def money(amount: float | None, currency: str = "") -> str:
    """3500000000, 'EUR' -> '€3.5bn'; 1400000000, 'CAD' -> '1.4bn CAD'."""
    if amount is None:
        return "–"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{compact(amount)}" if symbol else f"{compact(amount)} {currency}".strip()
