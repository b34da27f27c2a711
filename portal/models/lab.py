"""Lab-mode state shared by every portal process."""

from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class LabClockSetting(db.Model):
    """How far the lab clock runs ahead of the real one; a single row, kept in the database so the
    web and ingest processes agree on the date."""

    __tablename__ = "lab_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    offset_seconds: Mapped[int] = mapped_column(default=0)
