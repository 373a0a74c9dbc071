"""Price lists: one row per (list, currency, country, route, operator) and validity start."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models.base import Base
from hub.models.ledger import Micros

PUBLIC = "public"
"""Name of the price list every account falls back to; negotiated lists are named by account id."""


class PriceRow(Base):
    """The price of one message part from ``valid_from`` on; older rows stay for history.

    ``country`` is an ISO 3166 alpha-2 code or ``*`` (the default rate); ``operator`` is empty
    for every operator of the country.
    """

    __tablename__ = "prices"
    __table_args__ = (
        UniqueConstraint("price_list", "currency", "country", "route", "operator", "valid_from",
                         name="uq_prices_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    price_list: Mapped[str] = mapped_column(String(40), default=PUBLIC)
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(String(2))
    route: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(64), default="")
    unit_price: Mapped[Decimal] = mapped_column(Micros)
    valid_from: Mapped[datetime]
