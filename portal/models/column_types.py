"""Column types shared by several tables."""

from sqlalchemy import BigInteger, Integer

# Row ids of the tables that grow with every message or call. 10,000 devices at one message per 10 s use
# 2**31 ids in 25 days, so PostgreSQL needs BIGINT; SQLite's INTEGER PRIMARY KEY is already 64-bit and must
# stay INTEGER to remain the rowid (a BIGINT primary key there would not count up by itself).
GrowingId = BigInteger().with_variant(Integer(), "sqlite")
