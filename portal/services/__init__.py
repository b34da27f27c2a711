"""Business rules as plain functions over the models, one package per feature; views call these and own the commit.

Layers, lowest first (a package imports only from the ones before it):
shared kernel (`errors`, `clock`, `calendar_dates`) < `outbox` < `accounts` < `licensing` < `fleet` <
`reports` < `partners` < `alerts`. `docs/architecture.md` has the map and where a new rule goes.
"""
