"""Lab-mode state shared by every portal process."""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class LabClockSetting(db.Model):
    """How far the lab clock runs ahead of the real one; a single row, kept in the database so the
    web and ingest processes agree on the date."""

    __tablename__ = "lab_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    offset_seconds: Mapped[int] = mapped_column(default=0)


class LabClockMove(db.Model):
    """One jump of the lab clock: at lab time ``moved_at`` it moved by ``seconds`` (back when negative).

    Retention counts the time records have lived, so it needs to know which stretches were jumped.
    """

    __tablename__ = "lab_clock_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    moved_at: Mapped[datetime]
    seconds: Mapped[int] = mapped_column(BigInteger)
